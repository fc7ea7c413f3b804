//! The HTTP methods a trigger webhook may be called with.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum WebhookMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

impl WebhookMethod {
    pub const ALL: [WebhookMethod; 5] = [Self::Get, Self::Post, Self::Put, Self::Patch, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

impl fmt::Display for WebhookMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty, duplicate-free, sorted set of webhook methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct SupportedMethods(Vec<WebhookMethod>);

/// At least one method; duplicates are dropped and the set is kept sorted.
impl utoipa::PartialSchema for SupportedMethods {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::array_of(utoipa::openapi::schema::Ref::from_schema_name("WebhookMethod"), 1).into()
    }
}

impl utoipa::ToSchema for SupportedMethods {
    fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        out.push(("WebhookMethod".into(), <WebhookMethod as utoipa::PartialSchema>::schema()));
    }
}

impl SupportedMethods {
    pub fn parse(raw: &[String]) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new("", "must list at least one method"));
        }
        let mut methods = Vec::with_capacity(raw.len());
        for (i, name) in raw.iter().enumerate() {
            let method = WebhookMethod::parse(&name.to_ascii_uppercase()).ok_or_else(|| {
                ValidationError::new(format!("[{i}]"), "must be one of GET, POST, PUT, PATCH, DELETE")
            })?;
            methods.push(method);
        }
        methods.sort();
        methods.dedup();
        Ok(Self(methods))
    }

    pub fn contains(&self, method: WebhookMethod) -> bool {
        self.0.contains(&method)
    }

    pub fn iter(&self) -> impl Iterator<Item = WebhookMethod> + '_ {
        self.0.iter().copied()
    }
}

impl Default for SupportedMethods {
    fn default() -> Self {
        Self(vec![WebhookMethod::Post])
    }
}

impl TryFrom<Vec<String>> for SupportedMethods {
    type Error = ValidationError;
    fn try_from(raw: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<SupportedMethods> for Vec<String> {
    fn from(m: SupportedMethods) -> Self {
        m.0.iter().map(|m| m.as_str().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_sorts_and_dedups() {
        let m = SupportedMethods::parse(&strings(&["post", "GET", "POST"])).unwrap();
        assert_eq!(Vec::<String>::from(m), strings(&["GET", "POST"]));
    }

    #[test]
    fn rejects_empty_and_unknown_methods() {
        assert!(SupportedMethods::parse(&[]).is_err());
        let err = SupportedMethods::parse(&strings(&["GET", "HEAD"])).unwrap_err();
        assert_eq!(err.field, "[1]");
    }
}
