//! Modules and the references (`Display_2`) that name them inside a system.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{ModuleId, SystemId, ValidationError};

/// A stored module: one instance of a driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub id: ModuleId,
    pub driver: String,
    pub custom_name: Option<ModuleName>,
    pub control_system_id: Option<SystemId>,
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A name modules are referred to by: a letter, then letters, digits or `_`, and not ending in
/// `_<digits>` (that suffix is the index in a [`ModuleRef`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleName(String);

fn name_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The pattern is a literal checked by the unit tests below.
    RE.get_or_init(|| Regex::new(r"^[A-Za-z][A-Za-z0-9_]{0,63}$").expect("valid regex"))
}

fn ref_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([A-Za-z][A-Za-z0-9_]{0,63}?)(?:_([0-9]{1,6}))?$").expect("valid regex"))
}

/// A letter, then letters, digits and `_`; the part after the last `_` (if any) holds a letter.
const NAME_SCHEMA_PATTERN: &str = "[A-Za-z](?:[A-Za-z0-9]*|[A-Za-z0-9_]*_[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*)";

impl utoipa::PartialSchema for ModuleName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let pattern = format!("^{NAME_SCHEMA_PATTERN}$");
        utoipa::openapi::RefOr::T(super::schema::string(&pattern, 64, "Display").into())
    }
}

impl utoipa::ToSchema for ModuleName {}

/// A module name, then maybe `_<index>` (1 to 999999).
impl utoipa::PartialSchema for ModuleRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let pattern = format!("^{NAME_SCHEMA_PATTERN}(?:_[0-9]{{0,5}}[1-9])?$");
        utoipa::openapi::RefOr::T(super::schema::string(&pattern, 71, "Display_2").into())
    }
}

impl utoipa::ToSchema for ModuleRef {}

impl ModuleName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ends_with_index =
            raw.rsplit_once('_').is_some_and(|(_, tail)| !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()));
        if !name_pattern().is_match(raw) || ends_with_index || raw.ends_with('_') {
            return Err(ValidationError::new(
                "",
                "must start with a letter, hold only letters, digits and '_' (at most 64), and not end in '_' or _<number>",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ModuleName {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ModuleName> for String {
    fn from(n: ModuleName) -> Self {
        n.0
    }
}

/// `Display_2`: the second module, in system order, whose resolved name is `Display`.
/// A bare `Display` means index 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleRef {
    name: String,
    index: u32,
}

impl ModuleRef {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("", "must be a module name with an optional _<index>, e.g. Display_2");
        let caps = ref_pattern().captures(raw).ok_or_else(invalid)?;
        let name = caps.get(1).map(|m| m.as_str()).ok_or_else(invalid)?;
        ModuleName::parse(name).map_err(|_| invalid())?;
        let index = match caps.get(2) {
            Some(i) => i.as_str().parse::<u32>().map_err(|_| invalid())?,
            None => 1,
        };
        if index == 0 {
            return Err(ValidationError::new("", "module index starts at 1"));
        }
        Ok(Self { name: name.to_owned(), index })
    }

    pub fn new(name: &str, index: u32) -> Result<Self, ValidationError> {
        let name = ModuleName::parse(name)?;
        if index == 0 {
            return Err(ValidationError::new("", "module index starts at 1"));
        }
        // What `parse` reads (six digits), so that the reference's text form parses back.
        if index > 999_999 {
            return Err(ValidationError::new("", "module index must be at most 999999"));
        }
        Ok(Self { name: name.0, index })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> u32 {
        self.index
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.name, self.index)
    }
}

impl TryFrom<String> for ModuleRef {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ModuleRef> for String {
    fn from(r: ModuleRef) -> Self {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_refs_split_name_and_index() {
        for (raw, name, index) in [
            ("Display", "Display", 1),
            ("Display_2", "Display", 2),
            ("Meraki_Scanner_10", "Meraki_Scanner", 10),
            ("Meraki_Scanner", "Meraki_Scanner", 1),
        ] {
            let r = ModuleRef::parse(raw).unwrap();
            assert_eq!((r.name(), r.index()), (name, index), "{raw}");
        }
    }

    #[test]
    fn bad_module_refs_are_rejected() {
        for raw in ["", "_x", "2Display", "Display_0", "Dis play", "Display-1", "Display_"] {
            assert!(ModuleRef::parse(raw).is_err(), "{raw:?}");
        }
    }

    /// Caught by the `webhook_url` fuzz target (input in fuzz/regressions/webhook_url/):
    /// `/notify/{secret}/Display/577777777/request` made a reference whose text form, `Display_577777777`,
    /// does not parse.
    #[test]
    fn a_reference_made_from_parts_parses_back_from_its_text() {
        for index in [1, 2, 999_999] {
            let made = ModuleRef::new("Display", index).unwrap();
            assert_eq!(ModuleRef::parse(&made.to_string()).unwrap(), made);
        }
        assert!(ModuleRef::new("Display", 577_777_777).is_err());
        assert!(ModuleRef::new("Display", 1_000_000).is_err());
    }

    #[test]
    fn module_names_cannot_end_in_an_index() {
        assert!(ModuleName::parse("Display").is_ok());
        assert!(ModuleName::parse("Lobby_Display").is_ok());
        assert!(ModuleName::parse("Display_2").is_err());
        assert!(ModuleName::parse("").is_err());
        assert!(ModuleName::parse(&"a".repeat(65)).is_err());
    }
}
