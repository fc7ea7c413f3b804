//! Domain types. Every value here is valid once constructed: raw input becomes one of these through
//! `parse`/`TryFrom`, and the rest of the engine never re-checks it.

pub mod actor;
pub mod api_key;
pub mod callout;
pub mod callout_input;
pub mod callout_log;
pub mod headers;
pub mod ids;
pub mod instance;
pub mod methods;
pub mod module;
pub mod placeholder;
pub mod receipt;
pub mod run;
mod run_schema;
pub mod schema;
pub mod secret;
pub mod signing_secret;
pub mod system;
pub mod trigger;
pub mod verification;
pub mod webhook_filter;

pub use ids::{ApiKeyId, IdMap, InstanceId, ModuleId, ReceiptId, RunId, SharedIdMap, SystemId, TriggerId};

/// A field of client input that does not hold a valid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Places this error under a parent field, e.g. `args` inside `actions.functions[0]`.
    pub fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        Self { field, message: self.message }
    }
}

/// Reads client JSON into `T`; an error names the field at fault (`all[2].value`, `algorithm`), also
/// a missing one, which serde reports at its parent.
pub fn from_json<'de, T: serde::Deserialize<'de>>(value: &'de serde_json::Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ValidationError::new(field_of(&path, &message), message)
    })
}

fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`')).map(|(name, _)| name);
    match missing {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent.to_owned(),
    }
}

/// Seconds since the Unix epoch, the unit of every stored timestamp.
pub fn now_epoch_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch, for records that need finer times (receipts, delivery ids).
pub fn now_epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A bounded, trimmed, non-empty display name, on one line.
pub fn parse_name(field: &str, raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 256 {
        return Err(ValidationError::new(field, "must be 1 to 256 characters"));
    }
    check_single_line(field, name)?;
    Ok(name.to_owned())
}

/// Refuses every control character (C0 including NUL, DEL, C1) in a name, label or identifier an
/// admin enters on one line. Why: they have no meaning there, and PostgreSQL cannot store NUL at all.
pub fn check_single_line(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// As [`check_single_line`] for free text that may span lines: tab, line feed and carriage return
/// are allowed, every other control character (NUL included) is refused.
pub fn check_multi_line(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters other than tab, line feed and carriage return",
        ));
    }
    Ok(())
}

/// The longest JSON Pointer accepted (filters, placeholders).
pub const MAX_POINTER_CHARS: usize = 1024;

/// Checks an RFC 6901 JSON Pointer (serde_json's `Value::pointer` resolves it): empty (the whole
/// document) or `/`-separated tokens.
pub fn check_json_pointer(raw: &str) -> Result<(), String> {
    if !(raw.is_empty() || raw.starts_with('/')) {
        return Err("must be a JSON Pointer: empty (the whole body) or starting with `/`".into());
    }
    if raw.chars().count() > MAX_POINTER_CHARS {
        return Err(format!("must be at most {MAX_POINTER_CHARS} characters"));
    }
    // RFC 6901 defines only `~0` and `~1`; serde_json reads any other `~` literally, so a typo such as
    // `~2` would silently point nowhere instead of being reported.
    if raw.split('~').skip(1).any(|after| !after.starts_with(['0', '1'])) {
        return Err("`~` must be followed by `0` (for `~`) or `1` (for `/`)".into());
    }
    Ok(())
}

/// The longest URL accepted anywhere (subscriptions, request actions).
pub const MAX_URL_LEN: usize = 2048;

/// An absolute `http` or `https` URL with a host, normalised. Whether its addresses may be reached is
/// decided when it is used (they can change), not here.
pub fn parse_http_url(raw: &str) -> Result<url::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("is not a valid URL: {e}"))?;
    // Normalising percent-encodes (a space becomes `%20`): the URL as kept must fit as well, or a
    // stored one could not be read back.
    if url.as_str().len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters once percent-encoded"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    Ok(url)
}

/// Free text that may span lines ([`check_multi_line`]), with a generous bound so a record cannot
/// grow without limit.
pub fn parse_description(field: &str, raw: Option<String>) -> Result<String, ValidationError> {
    let text = raw.unwrap_or_default();
    if text.chars().count() > 10_000 {
        return Err(ValidationError::new(field, "must be at most 10000 characters"));
    }
    check_multi_line(field, &text)?;
    Ok(text)
}

/// Present-but-null becomes `Some(None)`; absence stays `None` through `#[serde(default)]`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_every_control_character() {
        let cases: [(&str, &str); 7] = [
            ("NUL", "a\u{0}b"),
            ("bell", "a\u{7}b"),
            ("line feed inside", "a\nb"),
            ("tab inside", "a\tb"),
            ("escape", "\u{1b}[31mred"),
            ("DEL", "a\u{7f}b"),
            ("C1 next line", "a\u{85}b"),
        ];
        for (case, raw) in cases {
            let err = parse_name("name", raw).expect_err(case);
            assert_eq!(err, ValidationError::new("name", "must not contain control characters"), "{case}");
        }
        assert_eq!(parse_name("name", "  Lobby Display\n").unwrap(), "Lobby Display", "trimmed first");
        assert_eq!(parse_name("name", "Écran d'accueil ☕").unwrap(), "Écran d'accueil ☕");
    }

    #[test]
    fn descriptions_keep_line_breaks_and_tabs_only() {
        for (case, raw) in [
            ("NUL", "a\u{0}b"),
            ("bell", "a\u{7}b"),
            ("vertical tab", "a\u{b}b"),
            ("form feed", "a\u{c}b"),
            ("unit separator", "a\u{1f}b"),
            ("DEL", "a\u{7f}b"),
        ] {
            let err = parse_description("description", Some(raw.to_owned())).expect_err(case);
            assert_eq!(err.field, "description", "{case}");
        }
        let text = "first line\r\nsecond\tline\n";
        assert_eq!(parse_description("description", Some(text.to_owned())).unwrap(), text, "kept as sent");
        assert_eq!(parse_description("description", None).unwrap(), "");
    }

    #[test]
    fn the_checks_name_the_field_they_are_given() {
        assert_eq!(check_single_line("match.methods[2]", "po\u{0}wer").unwrap_err().field, "match.methods[2]");
        assert_eq!(
            check_multi_line("actions.mailers[0].content", "x\u{0}").unwrap_err().field,
            "actions.mailers[0].content"
        );
        assert!(check_single_line("f", "").is_ok());
        assert!(check_multi_line("f", "a\n\tb\r").is_ok());
    }
}
