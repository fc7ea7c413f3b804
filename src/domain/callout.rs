//! Callouts: outside services asked, before an exec or a run of actions goes ahead, whether it may.
//! What a callout is (validated on construction), which calls it applies to, and how its answer reads.
//! Sending the question and recording the answer are the engine's; this module only decides.

use serde::{Deserialize, Serialize};

use super::ids::CalloutId;
use super::signing_secret::{RetiredSecret, SigningSecret};
use super::{SystemId, TriggerId, ValidationError};

/// The longest and shortest time a callout may be waited for, and the default.
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;

/// The most items each `match` list may hold, and the longest method name.
const MAX_MATCH_ITEMS: usize = 100;
const MAX_METHOD_CHARS: usize = 128;

/// The moments a callout is asked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalloutOn {
    /// Before a webhook `exec` or an admin module call reaches a module.
    Exec,
    /// Before a fired trigger's actions run.
    Actions,
}

/// What a callout that cannot be asked (timeout, refused connection, an answer that is neither an
/// allow nor a deny) means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    #[default]
    Deny,
    Allow,
}

/// A module reference pattern: letters, digits and `_`, where `*` stands for any run of them
/// (`Display_*`, `*_2`, `Display_1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModulePattern(String);

const MAX_PATTERN_CHARS: usize = 71;

impl ModulePattern {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_PATTERN_CHARS
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'*');
        if !valid {
            return Err(ValidationError::new(
                "",
                format!("must be 1 to {MAX_PATTERN_CHARS} letters, digits, '_' or '*' (any run), e.g. Display_*"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Whether `reference` (`Display_2`) fits the pattern.
    pub fn matches(&self, reference: &str) -> bool {
        glob(self.0.as_bytes(), reference.as_bytes())
    }
}

/// `*` matches any run of bytes; everything else itself. Iterative, so no input can make it recurse.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                retry = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                // Let the last `*` take one more byte and try again from there.
                Some((star, taken)) => {
                    p = star + 1;
                    t = taken + 1;
                    retry = Some((star, taken + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl utoipa::PartialSchema for ModulePattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::string(r"^[A-Za-z0-9_*]+$", MAX_PATTERN_CHARS, "Display_*").min_length(Some(1)).into()
    }
}

impl utoipa::ToSchema for ModulePattern {}

impl TryFrom<String> for ModulePattern {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ModulePattern> for String {
    fn from(p: ModulePattern) -> Self {
        p.0
    }
}

/// Which calls a callout applies to; an empty list does not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalloutMatch {
    /// Module references, `*` standing for any run of characters: `Display_*`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub modules: Vec<ModulePattern>,
    /// Function names, e.g. `power`.
    #[serde(default)]
    #[schema(schema_with = method_names)]
    pub methods: Vec<String>,
    /// Triggers (`trigger-…`) whose instances' exec calls and runs it is asked about.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub triggers: Vec<TriggerId>,
}

fn method_names() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::ArrayBuilder;
    let name = super::schema::single_line().min_length(Some(1)).max_length(Some(MAX_METHOD_CHARS));
    ArrayBuilder::new().items(name).max_items(Some(MAX_MATCH_ITEMS)).into()
}

/// The call about to happen, as a callout's scope and match see it.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub on: CalloutOn,
    pub system: &'a SystemId,
    /// The module reference (`Display_1`) an exec addresses.
    pub module: Option<&'a str>,
    pub method: Option<&'a str>,
    /// The trigger whose instance fired (actions) or was called (a webhook exec).
    pub trigger: Option<&'a TriggerId>,
}

/// Everything an admin sets on a callout but its secret, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CalloutSpec {
    #[schema(schema_with = super::schema::name)]
    pub name: String,
    #[schema(schema_with = super::schema::http_url)]
    pub url: String,
    /// Non-empty, without repeats, sorted.
    pub on: Vec<CalloutOn>,
    /// Only this system's calls (`sys-…`); every system's when `null`.
    pub system_id: Option<SystemId>,
    #[serde(rename = "match")]
    pub matching: CalloutMatch,
    pub timeout_ms: u64,
    pub failure_policy: FailurePolicy,
    pub enabled: bool,
}

impl CalloutSpec {
    /// Checks every field; `on` comes back sorted and without repeats.
    pub fn validated(mut self) -> Result<Self, ValidationError> {
        self.name = super::parse_name("name", &self.name)?;
        super::parse_http_url(&self.url).map_err(|m| ValidationError::new("url", m))?;
        self.on.sort();
        self.on.dedup();
        if self.on.is_empty() {
            return Err(ValidationError::new("on", "must list exec, actions or both"));
        }
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            let message = format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} milliseconds");
            return Err(ValidationError::new("timeout_ms", message));
        }
        let m = &self.matching;
        for (field, len) in [("modules", m.modules.len()), ("methods", m.methods.len()), ("triggers", m.triggers.len())]
        {
            if len > MAX_MATCH_ITEMS {
                return Err(ValidationError::new(format!("match.{field}"), format!("at most {MAX_MATCH_ITEMS} items")));
            }
        }
        if let Some(i) = m.methods.iter().position(|x| x.is_empty() || x.chars().count() > MAX_METHOD_CHARS) {
            let message = format!("must be 1 to {MAX_METHOD_CHARS} characters");
            return Err(ValidationError::new(format!("match.methods[{i}]"), message));
        }
        for (i, method) in m.methods.iter().enumerate() {
            super::check_single_line(&format!("match.methods[{i}]"), method)?;
        }
        Ok(self)
    }

    /// Whether this callout is asked before `gate`.
    pub fn applies(&self, gate: &Gate<'_>) -> bool {
        let listed = |narrows: bool, hit: bool| !narrows || hit;
        let m = &self.matching;
        self.enabled
            && self.on.contains(&gate.on)
            && self.system_id.as_ref().is_none_or(|s| s == gate.system)
            && listed(!m.modules.is_empty(), gate.module.is_some_and(|r| m.modules.iter().any(|p| p.matches(r))))
            && listed(!m.methods.is_empty(), gate.method.is_some_and(|x| m.methods.iter().any(|y| y == x)))
            && listed(!m.triggers.is_empty(), gate.trigger.is_some_and(|t| m.triggers.contains(t)))
    }
}

/// A callout as stored, its signing secrets included. Responses are built from it by the HTTP layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Callout {
    pub id: CalloutId,
    #[serde(flatten)]
    pub spec: CalloutSpec,
    pub secret: SigningSecret,
    /// The secret before the last rotation, still signing for a while.
    #[serde(default)]
    pub previous_secret: Option<RetiredSecret>,
    /// Epoch seconds.
    pub created_at: u64,
    pub updated_at: u64,
}

impl Callout {
    /// The secrets that sign a request at `now` (epoch seconds).
    pub fn signing_secrets(&self, now: u64) -> Vec<&SigningSecret> {
        super::signing_secret::signing_now(&self.secret, self.previous_secret.as_ref(), now)
    }
}

/// A callout's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny { reason: String },
}

/// Why a callout's answer is neither an allow nor a deny; its `failure_policy` decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unanswered(pub String);

#[derive(Deserialize)]
struct Answer {
    allow: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// The longest reason kept from an answer.
const MAX_REASON_CHARS: usize = 500;

fn reason_of(answer: Option<Answer>) -> String {
    let reason = answer.and_then(|a| a.reason).filter(|r| !r.trim().is_empty());
    reason.map_or_else(|| "denied by a callout".to_owned(), |r| r.chars().take(MAX_REASON_CHARS).collect())
}

/// Reads an answer: a `2xx` with no body or `{"allow": true}` allows; `{"allow": false, "reason"}` or a
/// `403` denies; anything else is [`Unanswered`].
pub fn decide(status: u16, body: &[u8]) -> Result<Verdict, Unanswered> {
    let empty = body.iter().all(u8::is_ascii_whitespace);
    let answer = || serde_json::from_slice::<Answer>(body);
    match status {
        200..=299 if empty => Ok(Verdict::Allow),
        200..=299 => match answer() {
            Ok(Answer { allow: true, .. }) => Ok(Verdict::Allow),
            Ok(denied) => Ok(Verdict::Deny { reason: reason_of(Some(denied)) }),
            Err(e) => Err(Unanswered(format!("the answer is not {{\"allow\": …}}: {e}"))),
        },
        403 => Ok(Verdict::Deny { reason: reason_of(answer().ok()) }),
        other => Err(Unanswered(format!("the callout answered {other}"))),
    }
}

/// The verdict once the failure policy has read an unanswered callout.
pub fn with_policy(answer: Result<Verdict, Unanswered>, policy: FailurePolicy) -> Verdict {
    match (answer, policy) {
        (Ok(verdict), _) => verdict,
        (Err(_), FailurePolicy::Allow) => Verdict::Allow,
        (Err(why), FailurePolicy::Deny) => Verdict::Deny { reason: format!("callout unavailable: {why}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CalloutSpec {
        CalloutSpec {
            name: "Bookings".into(),
            url: "https://bookings.example.com/may".into(),
            on: vec![CalloutOn::Exec],
            system_id: None,
            matching: CalloutMatch::default(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            failure_policy: FailurePolicy::Deny,
            enabled: true,
        }
    }

    #[test]
    fn patterns_match_references_with_any_run_for_a_star() {
        let cases = [
            ("Display_*", "Display_2", true),
            ("Display_*", "Display_", true),
            ("Display_*", "Displays_1", false),
            ("*_2", "Camera_2", true),
            ("*_2", "Camera_12", false),
            ("*_2", "Camera_21", false),
            ("Display_1", "Display_1", true),
            ("Display_1", "Display_10", false),
            ("*", "Anything_9", true),
            ("D*y*_*", "Display_3", true),
            ("**a", "aaaa", true),
        ];
        for (pattern, reference, expected) in cases {
            let p = ModulePattern::parse(pattern).unwrap();
            assert_eq!(p.matches(reference), expected, "{pattern} ~ {reference}");
        }
        for bad in ["", "Display-1", "Dis play", &"x".repeat(72)] {
            assert!(ModulePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A case of a bad spec: its name, how it breaks a good one, the field the error names.
    type BadSpec = (&'static str, fn(&mut CalloutSpec), &'static str);

    #[test]
    fn specs_are_checked_field_by_field() {
        let cases: [BadSpec; 8] = [
            ("blank name", |s| s.name = " ".into(), "name"),
            ("NUL in the name", |s| s.name = "a\0b".into(), "name"),
            ("bell in the name", |s| s.name = "a\u{7}b".into(), "name"),
            ("NUL in a method", |s| s.matching.methods = vec!["power".into(), "po\0wer".into()], "match.methods[1]"),
            ("ftp url", |s| s.url = "ftp://example.com/x".into(), "url"),
            ("no moment", |s| s.on.clear(), "on"),
            ("timeout too short", |s| s.timeout_ms = 99, "timeout_ms"),
            ("empty method", |s| s.matching.methods = vec!["power".into(), String::new()], "match.methods[1]"),
        ];
        for (case, change, field) in cases {
            let mut s = spec();
            change(&mut s);
            assert_eq!(s.validated().unwrap_err().field, field, "{case}");
        }
        let mut repeated = spec();
        repeated.on = vec![CalloutOn::Actions, CalloutOn::Exec, CalloutOn::Actions];
        assert_eq!(repeated.validated().unwrap().on, vec![CalloutOn::Exec, CalloutOn::Actions]);
    }

    #[test]
    fn a_callout_applies_within_its_scope_and_match() {
        let (sys, other) = (SystemId::generate(), SystemId::generate());
        let trigger = TriggerId::generate();
        let exec =
            Gate { on: CalloutOn::Exec, system: &sys, module: Some("Display_2"), method: Some("power"), trigger: None };
        let mut s = spec();
        assert!(s.applies(&exec), "no scope, no match: every exec");
        assert!(!s.applies(&Gate { on: CalloutOn::Actions, ..exec }), "not asked before actions");
        s.system_id = Some(other.clone());
        assert!(!s.applies(&exec), "another system's");
        s.system_id = Some(sys.clone());
        s.matching.modules = vec![ModulePattern::parse("Display_*").unwrap()];
        s.matching.methods = vec!["power".into()];
        assert!(s.applies(&exec));
        assert!(!s.applies(&Gate { module: Some("Camera_1"), ..exec }), "another module");
        assert!(!s.applies(&Gate { method: Some("volume"), ..exec }), "another method");
        s.matching.triggers = vec![trigger.clone()];
        assert!(!s.applies(&exec), "no trigger given, one listed");
        assert!(s.applies(&Gate { trigger: Some(&trigger), ..exec }));
        s.enabled = false;
        assert!(!s.applies(&Gate { trigger: Some(&trigger), ..exec }), "disabled");
    }

    #[test]
    fn answers_read_as_allow_deny_or_unanswered() {
        let deny = |reason: &str| Ok(Verdict::Deny { reason: reason.into() });
        let cases: [(&str, u16, &str, Result<Verdict, ()>); 9] = [
            ("204", 204, "", Ok(Verdict::Allow)),
            ("200 blank", 200, " \n", Ok(Verdict::Allow)),
            ("allow true", 200, r#"{"allow": true}"#, Ok(Verdict::Allow)),
            ("allow false", 200, r#"{"allow": false, "reason": "no booking"}"#, deny("no booking")),
            ("allow false, no reason", 200, r#"{"allow": false}"#, deny("denied by a callout")),
            ("403", 403, "", deny("denied by a callout")),
            ("403 with a reason", 403, r#"{"allow": false, "reason": "closed"}"#, deny("closed")),
            ("500", 500, "", Err(())),
            ("malformed", 200, "yes please", Err(())),
        ];
        for (case, status, body, expected) in cases {
            let got = decide(status, body.as_bytes()).map_err(|_| ());
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn the_failure_policy_reads_an_unanswered_callout() {
        let unanswered = || Err(Unanswered("timed out".into()));
        assert_eq!(with_policy(unanswered(), FailurePolicy::Allow), Verdict::Allow);
        let denied = with_policy(unanswered(), FailurePolicy::Deny);
        assert_eq!(denied, Verdict::Deny { reason: "callout unavailable: timed out".into() });
        assert_eq!(with_policy(Ok(Verdict::Allow), FailurePolicy::Deny), Verdict::Allow);
    }
}
