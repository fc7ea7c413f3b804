//! Payload filters for trigger webhooks: a call counts only when the trigger's filter matches it.
//!
//! A filter is `{"all": [rule, …]}` or `{"any": [rule, …]}`; a rule reads one source and tests it:
//! `{"pointer": "/pull_request/merged", "operator": "equal", "value": true}`. Sources are a JSON
//! Pointer (RFC 6901) into the body, a `header` (case-insensitive) or a `query` parameter.
//!
//! What a filter author needs to know:
//! - The comparison operators (`equal` … `exclusive_or`) behave exactly like trigger comparisons;
//!   [`compare_values`] is the one implementation of both.
//! - Headers and query parameters are strings, so `equal`, `not_equal`, the orderings, `contains` and
//!   `in` on them take string values (anything else could never match, or always would, and is
//!   rejected when the filter is saved). Orderings compare strings: `"10"` is less than `"9"`.
//! - A source that is missing makes every operator false except `not_exists`.
//! - A body that is not JSON makes every pointer rule false, `not_exists` included: an unreadable
//!   payload says nothing about what it lacks, and a filter should not let it through by accident.
//! - A header whose value is not UTF-8 is absent; a query parameter counts with its first value.
//! - `matches` searches anywhere in a string (anchor with `^…$`); it is false for non-string sources.
//!
//! The filter is compiled (pointers checked, regexes built) once, when it is deserialized; a call only
//! evaluates it, parsing the body at most once and only when a pointer rule is reached.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use actix_web::http::header::HeaderName;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::headers::HeaderSource;
use super::trigger::Operator;
use super::ValidationError;

/// Rules in one filter: enough for any real event selector, few enough to keep a call cheap.
pub const MAX_RULES: usize = 64;
/// The largest `value` of a rule, serialized as JSON.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The longest `matches` pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;
/// The compiled size a `matches` pattern may reach (program and lazy DFA each); bounds the memory and
/// time one rule can cost per call, since `regex` runs in time linear in this size and the input.
pub const MAX_REGEX_BYTES: usize = 1024 * 1024;
const MAX_NAME_CHARS: usize = 256;

/// A compiled webhook filter; see the module docs for its semantics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFilter", into = "RawFilter")]
pub struct WebhookFilter {
    mode: Mode,
    rules: Vec<Rule>,
}

super::schema::schema_of_raw!(WebhookFilter => RawFilter);

/// One webhook call, as a filter sees it.
pub struct FilterInput<'a> {
    /// The raw body; parsed as JSON only if a pointer rule is evaluated.
    pub body: &'a [u8],
    pub headers: &'a dyn HeaderSource,
    /// Percent-decoded query pairs in request order (`form_urlencoded::parse(query_string)`).
    pub query: &'a [(String, String)],
}

/// Reads a filter from client JSON; errors name the field relative to the filter (`all[2].value`),
/// so a caller places them with [`ValidationError::within`].
pub fn parse(value: &Value) -> Result<WebhookFilter, ValidationError> {
    WebhookFilter::try_from(super::from_json::<RawFilter>(value)?)
}

impl WebhookFilter {
    pub fn matches(&self, input: &FilterInput<'_>) -> bool {
        let body = LazyJson { raw: input.body, parsed: OnceCell::new() };
        let holds = |rule: &Rule| rule.holds(input, &body);
        match self.mode {
            Mode::All => self.rules.iter().all(holds),
            Mode::Any => self.rules.iter().any(holds),
        }
    }
}

/// Applies a comparison operator with the semantics of trigger comparisons: `equal`/`not_equal` compare
/// any two values (numbers by value, so `1 == 1.0`); orderings compare numbers with numbers and strings
/// with strings; `and`, `or` and `exclusive_or` work on truthiness (all but `false` and `null` is truthy).
/// `None` when the two sides cannot be compared with this operator, which the engine counts as an error.
pub fn compare_values(left: &Value, op: Operator, right: &Value) -> Option<bool> {
    use Operator::*;
    match op {
        Equal => Some(equal(left, right)),
        NotEqual => Some(!equal(left, right)),
        And => Some(truthy(left) && truthy(right)),
        Or => Some(truthy(left) || truthy(right)),
        ExclusiveOr => Some(truthy(left) != truthy(right)),
        GreaterThan => order(left, right).map(Ordering::is_gt),
        GreaterThanOrEqual => order(left, right).map(Ordering::is_ge),
        LessThan => order(left, right).map(Ordering::is_lt),
        LessThanOrEqual => order(left, right).map(Ordering::is_le),
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

// ---- The compiled form ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    source: Source,
    test: Test,
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    Pointer(String),
    /// `name` as the client wrote it (serialized back unchanged), `lowercase` for lookups.
    Header {
        name: String,
        lowercase: String,
    },
    Query(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Exists,
    NotExists,
    Compare(Operator, Value),
    Contains(Value),
    In(Vec<Value>),
    Matches(Pattern),
}

/// A compiled regex that compares by its source, the form a filter is stored and edited in.
#[derive(Debug, Clone)]
struct Pattern(Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

// ---- Evaluation ----

/// The body, parsed on first use: `all`/`any` may decide before any pointer rule is reached.
struct LazyJson<'a> {
    raw: &'a [u8],
    parsed: OnceCell<Option<Value>>,
}

impl LazyJson<'_> {
    fn get(&self) -> Option<&Value> {
        self.parsed.get_or_init(|| serde_json::from_slice(self.raw).ok()).as_ref()
    }
}

enum Resolved<'a> {
    /// A pointer rule on a body that is not JSON.
    Unreadable,
    Missing,
    Found(Subject<'a>),
}

#[derive(Clone, Copy)]
enum Subject<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl Rule {
    fn holds(&self, input: &FilterInput<'_>, body: &LazyJson<'_>) -> bool {
        match self.source.resolve(input, body) {
            Resolved::Unreadable => false,
            Resolved::Missing => self.test == Test::NotExists,
            Resolved::Found(subject) => self.test.holds(subject),
        }
    }
}

impl Source {
    fn resolve<'s>(&'s self, input: &'s FilterInput<'_>, body: &'s LazyJson<'_>) -> Resolved<'s> {
        let found = match self {
            Source::Pointer(pointer) => match body.get() {
                None => return Resolved::Unreadable,
                Some(json) => json.pointer(pointer).map(Subject::Json),
            },
            Source::Header { lowercase, .. } => input.headers.header(lowercase).map(Subject::Text),
            Source::Query(name) => input.query.iter().find(|(k, _)| k == name).map(|(_, v)| Subject::Text(v)),
        };
        found.map_or(Resolved::Missing, Resolved::Found)
    }
}

impl<'a> Subject<'a> {
    fn as_str(self) -> Option<&'a str> {
        match self {
            Subject::Json(v) => v.as_str(),
            Subject::Text(s) => Some(s),
        }
    }

    /// Headers and query values become JSON strings so comparisons share one implementation.
    fn to_value(self) -> Cow<'a, Value> {
        match self {
            Subject::Json(v) => Cow::Borrowed(v),
            Subject::Text(s) => Cow::Owned(Value::String(s.to_owned())),
        }
    }

    fn contains(self, needle: &Value) -> bool {
        if let Subject::Json(Value::Array(items)) = self {
            return items.iter().any(|item| equal(item, needle));
        }
        matches!((self.as_str(), needle.as_str()), (Some(hay), Some(needle)) if hay.contains(needle))
    }
}

impl Test {
    fn holds(&self, subject: Subject<'_>) -> bool {
        match self {
            Test::Exists => true,
            Test::NotExists => false,
            Test::Compare(op, value) => compare_values(&subject.to_value(), *op, value).unwrap_or(false),
            Test::Contains(needle) => subject.contains(needle),
            Test::In(members) => {
                let subject = subject.to_value();
                members.iter().any(|m| equal(&subject, m))
            }
            Test::Matches(pattern) => subject.as_str().is_some_and(|s| pattern.0.is_match(s)),
        }
    }
}

// ---- The stored and client form, and compiling it ----

/// Which webhook calls count: every rule of `all` holds, or any rule of `any` (give one of the two).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, expecting = "a filter: an object with `all` or `any`")]
#[schema(as = WebhookFilter)]
struct RawFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<Vec<RawRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any: Option<Vec<RawRule>>,
}

/// One test of the call: exactly one of `pointer` (into the JSON body), `header` or `query` names the
/// value; `value` is what `operator` compares it with (none for `exists` and `not_exists`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, expecting = "a rule: an object with a source, `operator` and `value`")]
#[schema(as = WebhookFilterRule)]
struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256)]
    header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// One line: no control characters.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    query: Option<String>,
    #[schema(inline)]
    operator: FilterOperator,
    /// `Some(Null)` for `"value": null`, which `equal` needs; `None` only when the key is absent.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, schema_with = super::schema::any)]
    value: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum FilterOperator {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    And,
    Or,
    ExclusiveOr,
    Exists,
    NotExists,
    Contains,
    In,
    Matches,
}

impl FilterOperator {
    fn comparison(self) -> Option<Operator> {
        Some(match self {
            Self::Equal => Operator::Equal,
            Self::NotEqual => Operator::NotEqual,
            Self::GreaterThan => Operator::GreaterThan,
            Self::GreaterThanOrEqual => Operator::GreaterThanOrEqual,
            Self::LessThan => Operator::LessThan,
            Self::LessThanOrEqual => Operator::LessThanOrEqual,
            Self::And => Operator::And,
            Self::Or => Operator::Or,
            Self::ExclusiveOr => Operator::ExclusiveOr,
            Self::Exists | Self::NotExists | Self::Contains | Self::In | Self::Matches => return None,
        })
    }
}

impl From<Operator> for FilterOperator {
    fn from(op: Operator) -> Self {
        match op {
            Operator::Equal => Self::Equal,
            Operator::NotEqual => Self::NotEqual,
            Operator::GreaterThan => Self::GreaterThan,
            Operator::GreaterThanOrEqual => Self::GreaterThanOrEqual,
            Operator::LessThan => Self::LessThan,
            Operator::LessThanOrEqual => Self::LessThanOrEqual,
            Operator::And => Self::And,
            Operator::Or => Self::Or,
            Operator::ExclusiveOr => Self::ExclusiveOr,
        }
    }
}

/// Errors name the field relative to the filter; an error about the filter as a whole has field `""`.
impl TryFrom<RawFilter> for WebhookFilter {
    type Error = ValidationError;

    fn try_from(raw: RawFilter) -> Result<Self, ValidationError> {
        let (mode, key, raw_rules) = match (raw.all, raw.any) {
            (Some(rules), None) => (Mode::All, "all", rules),
            (None, Some(rules)) => (Mode::Any, "any", rules),
            _ => return Err(ValidationError::new("", "must have exactly one of `all` or `any`")),
        };
        if raw_rules.is_empty() || raw_rules.len() > MAX_RULES {
            return Err(ValidationError::new(key, format!("must list 1 to {MAX_RULES} rules")));
        }
        let rules = raw_rules
            .into_iter()
            .enumerate()
            .map(|(i, raw)| Rule::try_from(raw).map_err(|e| e.within(&format!("{key}[{i}]"))))
            .collect::<Result<_, _>>()?;
        Ok(Self { mode, rules })
    }
}

impl TryFrom<RawRule> for Rule {
    type Error = ValidationError;

    fn try_from(raw: RawRule) -> Result<Self, ValidationError> {
        let source = Source::parse(raw.pointer, raw.header, raw.query)?;
        let text = !matches!(source, Source::Pointer(_));
        let test = Test::parse(raw.operator, raw.value, text)?;
        Ok(Self { source, test })
    }
}

impl Source {
    fn parse(pointer: Option<String>, header: Option<String>, query: Option<String>) -> Result<Self, ValidationError> {
        match (pointer, header, query) {
            (Some(pointer), None, None) => parse_pointer(pointer).map(Source::Pointer),
            (None, Some(name), None) => parse_header(name),
            (None, None, Some(name)) => parse_query(name).map(Source::Query),
            _ => Err(ValidationError::new("", "must have exactly one source: `pointer`, `header` or `query`")),
        }
    }
}

fn parse_pointer(raw: String) -> Result<String, ValidationError> {
    super::check_json_pointer(&raw).map_err(|message| ValidationError::new("pointer", message))?;
    Ok(raw)
}

fn parse_header(name: String) -> Result<Source, ValidationError> {
    // Header names are ASCII, so bytes are characters here.
    if name.len() > MAX_NAME_CHARS {
        return Err(ValidationError::new("header", format!("must be at most {MAX_NAME_CHARS} characters")));
    }
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(parsed) => Ok(Source::Header { lowercase: parsed.as_str().to_owned(), name }),
        Err(_) => Err(ValidationError::new("header", "must be a valid HTTP header name")),
    }
}

fn parse_query(name: String) -> Result<String, ValidationError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::new("query", format!("must be 1 to {MAX_NAME_CHARS} characters")));
    }
    super::check_single_line("query", &name)?;
    Ok(name)
}

impl Test {
    /// `text`: the source is a header or query parameter, whose values are always strings.
    fn parse(op: FilterOperator, value: Option<Value>, text: bool) -> Result<Self, ValidationError> {
        if let Some(cmp) = op.comparison() {
            let value = required(value)?;
            // Truthiness works on any value; the other comparisons of a string with a non-string are constant.
            let truthiness = matches!(cmp, Operator::And | Operator::Or | Operator::ExclusiveOr);
            if !truthiness {
                string_for_text(&value, text, "value")?;
            }
            return Ok(Test::Compare(cmp, value));
        }
        match op {
            FilterOperator::Exists => absent(value).map(|()| Test::Exists),
            FilterOperator::NotExists => absent(value).map(|()| Test::NotExists),
            FilterOperator::Contains => {
                let value = required(value)?;
                string_for_text(&value, text, "value")?;
                Ok(Test::Contains(value))
            }
            FilterOperator::In => parse_members(required(value)?, text).map(Test::In),
            _ => compile_pattern(required(value)?).map(|p| Test::Matches(Pattern(p))),
        }
    }
}

fn required(value: Option<Value>) -> Result<Value, ValidationError> {
    let value = value.ok_or_else(|| ValidationError::new("value", "is required by this operator"))?;
    // Serializing cannot fail for a `Value` (its map keys are strings); an impossible failure counts as too big.
    let size = serde_json::to_vec(&value).map_or(usize::MAX, |json| json.len());
    if size > MAX_VALUE_BYTES {
        return Err(ValidationError::new("value", "must be at most 64 KiB as JSON"));
    }
    Ok(value)
}

fn absent(value: Option<Value>) -> Result<(), ValidationError> {
    match value {
        None => Ok(()),
        Some(_) => Err(ValidationError::new("value", "must not be given with `exists` or `not_exists`")),
    }
}

fn string_for_text(value: &Value, text: bool, field: &str) -> Result<(), ValidationError> {
    if text && !value.is_string() {
        return Err(ValidationError::new(field, "must be a string: headers and query parameters are strings"));
    }
    Ok(())
}

fn parse_members(value: Value, text: bool) -> Result<Vec<Value>, ValidationError> {
    let Value::Array(members) = value else {
        return Err(ValidationError::new("value", "must be an array of the accepted values"));
    };
    if members.is_empty() {
        return Err(ValidationError::new("value", "must list at least one value"));
    }
    for (i, member) in members.iter().enumerate() {
        string_for_text(member, text, &format!("value[{i}]"))?;
    }
    Ok(members)
}

fn compile_pattern(value: Value) -> Result<Regex, ValidationError> {
    let error = |message: String| ValidationError::new("value", message);
    let Value::String(pattern) = value else {
        return Err(error("must be a regular expression, as a string".into()));
    };
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(error(format!("must be at most {MAX_PATTERN_CHARS} characters")));
    }
    RegexBuilder::new(&pattern).size_limit(MAX_REGEX_BYTES).dfa_size_limit(MAX_REGEX_BYTES).build().map_err(|e| {
        error(match e {
            regex::Error::CompiledTooBig(_) => "is too large once compiled (over 1 MiB); simplify it".into(),
            other => format!("is not a valid regular expression: {other}"),
        })
    })
}

// ---- Back to the stored form ----

impl From<WebhookFilter> for RawFilter {
    fn from(filter: WebhookFilter) -> Self {
        let rules = Some(filter.rules.into_iter().map(RawRule::from).collect());
        match filter.mode {
            Mode::All => RawFilter { all: rules, any: None },
            Mode::Any => RawFilter { all: None, any: rules },
        }
    }
}

impl From<Rule> for RawRule {
    fn from(rule: Rule) -> Self {
        let (pointer, header, query) = match rule.source {
            Source::Pointer(pointer) => (Some(pointer), None, None),
            Source::Header { name, .. } => (None, Some(name), None),
            Source::Query(name) => (None, None, Some(name)),
        };
        let (operator, value) = match rule.test {
            Test::Exists => (FilterOperator::Exists, None),
            Test::NotExists => (FilterOperator::NotExists, None),
            Test::Compare(op, value) => (op.into(), Some(value)),
            Test::Contains(value) => (FilterOperator::Contains, Some(value)),
            Test::In(members) => (FilterOperator::In, Some(Value::Array(members))),
            Test::Matches(pattern) => (FilterOperator::Matches, Some(Value::String(pattern.0.as_str().to_owned()))),
        };
        RawRule { pointer, header, query, operator, value }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;

    struct Call {
        body: Vec<u8>,
        headers: HeaderMap,
        query: Vec<(String, String)>,
    }

    impl Call {
        fn new(body: &str, headers: &[(&str, &str)], query: &[(&str, &str)]) -> Self {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
            }
            let query = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Self { body: body.as_bytes().to_vec(), headers: map, query }
        }

        /// The call most tests read: every JSON type in the body, two headers, a repeated parameter.
        fn sample() -> Self {
            let body = json!({
                "n": 5, "s": "hello world", "t": true, "f": false, "nul": null,
                "arr": [1, "two", {"k": 3}], "nested": {"deep": {"x": "y"}},
                "a/b": "slash", "m~n": "tilde"
            });
            Self::new(
                &body.to_string(),
                &[("X-Event", "push"), ("X-Num", "5")],
                &[("ref", "main"), ("tag", "v1"), ("tag", "v2")],
            )
        }

        fn check(&self, filter: &WebhookFilter) -> bool {
            filter.matches(&FilterInput { body: &self.body, headers: &self.headers, query: &self.query })
        }
    }

    fn filter(value: Value) -> WebhookFilter {
        parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    fn one(rule: Value) -> WebhookFilter {
        filter(json!({"all": [rule]}))
    }

    #[test]
    fn every_operator_matches_and_misses_on_every_source() {
        let call = Call::sample();
        let cases: Vec<(Value, bool)> = vec![
            (json!({"pointer": "/n", "operator": "equal", "value": 5.0}), true),
            (json!({"pointer": "/n", "operator": "equal", "value": "5"}), false),
            (json!({"header": "x-event", "operator": "equal", "value": "push"}), true),
            (json!({"header": "x-event", "operator": "equal", "value": "pull"}), false),
            (json!({"query": "ref", "operator": "equal", "value": "main"}), true),
            (json!({"query": "ref", "operator": "equal", "value": "dev"}), false),
            (json!({"pointer": "/s", "operator": "not_equal", "value": "bye"}), true),
            (json!({"pointer": "/s", "operator": "not_equal", "value": "hello world"}), false),
            (json!({"header": "x-event", "operator": "not_equal", "value": "pull"}), true),
            (json!({"header": "x-event", "operator": "not_equal", "value": "push"}), false),
            (json!({"query": "ref", "operator": "not_equal", "value": "dev"}), true),
            (json!({"query": "ref", "operator": "not_equal", "value": "main"}), false),
            (json!({"pointer": "/n", "operator": "greater_than", "value": 4}), true),
            (json!({"pointer": "/n", "operator": "greater_than", "value": "4"}), false),
            (json!({"header": "x-num", "operator": "greater_than", "value": "4"}), true),
            (json!({"header": "x-num", "operator": "greater_than", "value": "5"}), false),
            (json!({"query": "ref", "operator": "greater_than", "value": "dev"}), true),
            (json!({"query": "ref", "operator": "greater_than", "value": "zzz"}), false),
            (json!({"pointer": "/n", "operator": "greater_than_or_equal", "value": 5}), true),
            (json!({"pointer": "/n", "operator": "greater_than_or_equal", "value": 6}), false),
            (json!({"header": "x-num", "operator": "greater_than_or_equal", "value": "5"}), true),
            (json!({"header": "x-num", "operator": "greater_than_or_equal", "value": "6"}), false),
            (json!({"query": "ref", "operator": "greater_than_or_equal", "value": "main"}), true),
            (json!({"query": "ref", "operator": "greater_than_or_equal", "value": "maio"}), false),
            (json!({"pointer": "/n", "operator": "less_than", "value": 6}), true),
            (json!({"pointer": "/n", "operator": "less_than", "value": 5}), false),
            (json!({"header": "x-num", "operator": "less_than", "value": "6"}), true),
            (json!({"header": "x-num", "operator": "less_than", "value": "10"}), false),
            (json!({"query": "ref", "operator": "less_than", "value": "zzz"}), true),
            (json!({"query": "ref", "operator": "less_than", "value": "main"}), false),
            (json!({"pointer": "/n", "operator": "less_than_or_equal", "value": 5}), true),
            (json!({"pointer": "/n", "operator": "less_than_or_equal", "value": 4}), false),
            (json!({"header": "x-num", "operator": "less_than_or_equal", "value": "5"}), true),
            (json!({"header": "x-num", "operator": "less_than_or_equal", "value": "4"}), false),
            (json!({"query": "ref", "operator": "less_than_or_equal", "value": "main"}), true),
            (json!({"query": "ref", "operator": "less_than_or_equal", "value": "dev"}), false),
            (json!({"pointer": "/t", "operator": "and", "value": 1}), true),
            (json!({"pointer": "/f", "operator": "and", "value": true}), false),
            (json!({"header": "x-event", "operator": "and", "value": true}), true),
            (json!({"header": "x-event", "operator": "and", "value": null}), false),
            (json!({"query": "ref", "operator": "and", "value": "yes"}), true),
            (json!({"query": "ref", "operator": "and", "value": false}), false),
            (json!({"pointer": "/nul", "operator": "or", "value": true}), true),
            (json!({"pointer": "/nul", "operator": "or", "value": false}), false),
            (json!({"header": "x-event", "operator": "or", "value": false}), true),
            (json!({"header": "x-absent", "operator": "or", "value": true}), false),
            (json!({"query": "ref", "operator": "or", "value": null}), true),
            (json!({"query": "absent", "operator": "or", "value": true}), false),
            (json!({"pointer": "/t", "operator": "exclusive_or", "value": false}), true),
            (json!({"pointer": "/t", "operator": "exclusive_or", "value": 0}), false),
            (json!({"header": "x-event", "operator": "exclusive_or", "value": null}), true),
            (json!({"header": "x-event", "operator": "exclusive_or", "value": "x"}), false),
            (json!({"query": "ref", "operator": "exclusive_or", "value": false}), true),
            (json!({"query": "ref", "operator": "exclusive_or", "value": true}), false),
            (json!({"pointer": "/nul", "operator": "exists"}), true),
            (json!({"pointer": "/nope", "operator": "exists"}), false),
            (json!({"header": "X-EVENT", "operator": "exists"}), true),
            (json!({"header": "x-nope", "operator": "exists"}), false),
            (json!({"query": "tag", "operator": "exists"}), true),
            (json!({"query": "nope", "operator": "exists"}), false),
            (json!({"pointer": "/nope", "operator": "not_exists"}), true),
            (json!({"pointer": "/nul", "operator": "not_exists"}), false),
            (json!({"header": "x-nope", "operator": "not_exists"}), true),
            (json!({"header": "x-num", "operator": "not_exists"}), false),
            (json!({"query": "nope", "operator": "not_exists"}), true),
            (json!({"query": "ref", "operator": "not_exists"}), false),
            (json!({"pointer": "/s", "operator": "contains", "value": "lo wo"}), true),
            (json!({"pointer": "/s", "operator": "contains", "value": "bye"}), false),
            (json!({"pointer": "/arr", "operator": "contains", "value": 1.0}), true),
            (json!({"pointer": "/arr", "operator": "contains", "value": {"k": 3}}), true),
            (json!({"pointer": "/arr", "operator": "contains", "value": "tw"}), false),
            (json!({"pointer": "/n", "operator": "contains", "value": 5}), false),
            (json!({"header": "x-event", "operator": "contains", "value": "us"}), true),
            (json!({"header": "x-event", "operator": "contains", "value": "pull"}), false),
            (json!({"query": "ref", "operator": "contains", "value": "ai"}), true),
            (json!({"query": "ref", "operator": "contains", "value": "dev"}), false),
            (json!({"pointer": "/n", "operator": "in", "value": [1, 5.0]}), true),
            (json!({"pointer": "/n", "operator": "in", "value": ["5", 6]}), false),
            (json!({"header": "x-event", "operator": "in", "value": ["push", "release"]}), true),
            (json!({"header": "x-event", "operator": "in", "value": ["pull_request"]}), false),
            (json!({"query": "ref", "operator": "in", "value": ["main", "master"]}), true),
            (json!({"query": "ref", "operator": "in", "value": ["dev"]}), false),
            (json!({"pointer": "/s", "operator": "matches", "value": "^hel+o\\s"}), true),
            (json!({"pointer": "/s", "operator": "matches", "value": "^world"}), false),
            (json!({"pointer": "/n", "operator": "matches", "value": "5"}), false),
            (json!({"header": "x-event", "operator": "matches", "value": "^(push|release)$"}), true),
            (json!({"header": "x-event", "operator": "matches", "value": "^pus$"}), false),
            (json!({"query": "ref", "operator": "matches", "value": "(?i)^MAIN$"}), true),
            (json!({"query": "ref", "operator": "matches", "value": "^release/"}), false),
        ];
        for (rule, expected) in cases {
            assert_eq!(call.check(&one(rule.clone())), expected, "{rule}");
        }
    }

    #[test]
    fn all_needs_every_rule_and_any_needs_one() {
        let call = Call::sample();
        let hit = json!({"header": "x-event", "operator": "equal", "value": "push"});
        let miss = json!({"query": "ref", "operator": "equal", "value": "dev"});
        assert!(call.check(&filter(json!({"all": [hit, hit]}))));
        assert!(!call.check(&filter(json!({"all": [hit, miss]}))), "all with one miss");
        assert!(call.check(&filter(json!({"any": [miss, hit]}))));
        assert!(!call.check(&filter(json!({"any": [miss, miss]}))), "any with no hit");
    }

    #[test]
    fn a_body_that_is_not_json_fails_every_pointer_rule_even_not_exists() {
        for body in ["", "not json", "{\"truncated\": "] {
            let call = Call::new(body, &[("x-event", "push")], &[]);
            for op in ["exists", "not_exists"] {
                assert!(!call.check(&one(json!({"pointer": "/a", "operator": op}))), "{op} on {body:?}");
            }
            assert!(!call.check(&one(json!({"pointer": "", "operator": "exists"}))), "whole body of {body:?}");
            let header_or_pointer = filter(json!({"any": [
                {"pointer": "/a", "operator": "not_exists"},
                {"header": "x-event", "operator": "equal", "value": "push"}
            ]}));
            assert!(call.check(&header_or_pointer), "header rules still read {body:?}");
        }
    }

    #[test]
    fn a_missing_source_fails_every_operator_but_not_exists() {
        let call = Call::sample();
        let operators = [
            ("equal", json!("x")),
            ("not_equal", json!("x")),
            ("greater_than", json!("a")),
            ("greater_than_or_equal", json!("a")),
            ("less_than", json!("z")),
            ("less_than_or_equal", json!("z")),
            ("and", json!(true)),
            ("or", json!(true)),
            ("exclusive_or", json!(true)),
            ("contains", json!("a")),
            ("in", json!(["a"])),
            ("matches", json!(".*")),
        ];
        for source in
            [json!({"pointer": "/missing/deeper"}), json!({"header": "x-missing"}), json!({"query": "missing"})]
        {
            for (op, value) in &operators {
                let mut rule = source.clone();
                rule["operator"] = json!(op);
                rule["value"] = value.clone();
                assert!(!call.check(&one(rule.clone())), "{rule}");
            }
            let mut rule = source.clone();
            rule["operator"] = json!("not_exists");
            assert!(call.check(&one(rule.clone())), "{rule}");
        }
    }

    #[test]
    fn pointers_reach_into_arrays_nested_objects_and_escaped_keys() {
        let call = Call::sample();
        let cases = [
            ("/arr/1", json!("two")),
            ("/arr/2/k", json!(3)),
            ("/nested/deep/x", json!("y")),
            ("/nested/deep", json!({"x": "y"})),
            ("/a~1b", json!("slash")),
            ("/m~0n", json!("tilde")),
        ];
        for (pointer, value) in cases {
            assert!(call.check(&one(json!({"pointer": pointer, "operator": "equal", "value": value}))), "{pointer}");
        }
        for pointer in ["/arr/3", "/arr/-", "/arr/01", "/nested/x", "/a/b", "/s/0"] {
            assert!(call.check(&one(json!({"pointer": pointer, "operator": "not_exists"}))), "{pointer}");
        }
        let whole = Call::new("[1, 2]", &[], &[]);
        assert!(whole.check(&one(json!({"pointer": "", "operator": "contains", "value": 2}))), "the whole body");
    }

    #[test]
    fn the_first_query_value_counts() {
        let call = Call::sample();
        assert!(call.check(&one(json!({"query": "tag", "operator": "equal", "value": "v1"}))));
        assert!(!call.check(&one(json!({"query": "tag", "operator": "equal", "value": "v2"}))));
    }

    #[test]
    fn a_header_that_is_not_utf8_is_absent_but_utf8_beyond_ascii_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-latin1"), HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.insert(HeaderName::from_static("x-utf8"), HeaderValue::from_bytes("café".as_bytes()).unwrap());
        let call = Call { body: Vec::new(), headers, query: Vec::new() };
        assert!(call.check(&one(json!({"header": "x-latin1", "operator": "not_exists"}))));
        assert!(call.check(&one(json!({"header": "X-Utf8", "operator": "equal", "value": "café"}))));
    }

    #[test]
    fn a_closed_but_unmerged_pull_request_does_not_match_a_merged_filter() {
        let merged_prs = filter(json!({"all": [
            {"header": "X-GitHub-Event", "operator": "equal", "value": "pull_request"},
            {"pointer": "/action", "operator": "equal", "value": "closed"},
            {"pointer": "/pull_request/merged", "operator": "equal", "value": true}
        ]}));
        let event = |merged: bool| {
            let body = json!({
                "action": "closed",
                "number": 42,
                "pull_request": {"number": 42, "state": "closed", "merged": merged, "base": {"ref": "main"}},
                "repository": {"full_name": "acme/switchboard"}
            });
            Call::new(&body.to_string(), &[("X-GitHub-Event", "pull_request"), ("X-GitHub-Delivery", "d-1")], &[])
        };
        assert!(!event(false).check(&merged_prs), "closed without merging");
        assert!(event(true).check(&merged_prs), "merged");
    }

    #[test]
    fn invalid_filters_name_the_field() {
        let rule = json!({"pointer": "/a", "operator": "exists"});
        let too_many: Vec<Value> = vec![rule.clone(); MAX_RULES + 1];
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"all": [{"pointer": "a", "operator": "exists"}]}),
                "all[0].pointer",
                "pointer without a leading slash",
            ),
            (json!({"all": [{"pointer": "/a~2", "operator": "exists"}]}), "all[0].pointer", "an unknown ~ escape"),
            (json!({"all": [{"pointer": "/a~", "operator": "exists"}]}), "all[0].pointer", "a trailing ~"),
            (
                json!({"all": [{"pointer": 5, "operator": "exists"}]}),
                "all[0].pointer",
                "a pointer that is not a string",
            ),
            (json!({"all": [rule, {"pointer": "/a", "header": "x-a", "operator": "exists"}]}), "all[1]", "two sources"),
            (json!({"any": [{"operator": "exists"}]}), "any[0]", "no source"),
            (
                json!({"all": [{"header": "bad header", "operator": "exists"}]}),
                "all[0].header",
                "a space in a header name",
            ),
            (json!({"all": [{"query": "", "operator": "exists"}]}), "all[0].query", "an empty parameter name"),
            (json!({"all": [{"query": "a\u{0}b", "operator": "exists"}]}), "all[0].query", "NUL in a parameter name"),
            (
                json!({"all": [{"pointer": "/a", "operator": "like", "value": 1}]}),
                "all[0].operator",
                "an unknown operator",
            ),
            (json!({"all": [{"pointer": "/a"}]}), "all[0].operator", "no operator"),
            (
                json!({"all": [{"pointer": "/a", "operator": "exists", "value": 1}]}),
                "all[0].value",
                "exists with a value",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "not_exists", "value": null}]}),
                "all[0].value",
                "not_exists with null",
            ),
            (json!({"all": [{"pointer": "/a", "operator": "equal"}]}), "all[0].value", "equal without a value"),
            (
                json!({"all": [{"pointer": "/a", "operator": "in", "value": "a"}]}),
                "all[0].value",
                "in without an array",
            ),
            (json!({"all": [{"pointer": "/a", "operator": "in", "value": []}]}), "all[0].value", "in with no members"),
            (
                json!({"all": [{"query": "a", "operator": "in", "value": ["1", 2]}]}),
                "all[0].value[1]",
                "in with a number for a query",
            ),
            (
                json!({"all": [{"header": "x-a", "operator": "equal", "value": 5}]}),
                "all[0].value",
                "a number for a header",
            ),
            (
                json!({"all": [{"query": "a", "operator": "contains", "value": true}]}),
                "all[0].value",
                "contains a bool in a query",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "matches", "value": "(unclosed"}]}),
                "all[0].value",
                "an invalid regex",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "matches", "value": "\\w{1000}"}]}),
                "all[0].value",
                "a regex too large compiled",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "matches", "value": "a".repeat(MAX_PATTERN_CHARS + 1)}]}),
                "all[0].value",
                "a regex too long",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "matches", "value": 1}]}),
                "all[0].value",
                "a regex that is not a string",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "equal", "value": "x".repeat(MAX_VALUE_BYTES)}]}),
                "all[0].value",
                "a value over 64 KiB",
            ),
            (
                json!({"all": [{"pointer": "/a", "operator": "exists", "extra": 1}]}),
                "all[0].extra",
                "an unknown rule field",
            ),
            (json!({"all": []}), "all", "an empty rule list"),
            (json!({"any": too_many}), "any", "too many rules"),
            (json!({"all": {"pointer": "/a"}}), "all", "rules that are not a list"),
            (json!({"all": [rule], "any": [rule]}), "", "both all and any"),
            (json!({}), "", "neither all nor any"),
            (json!({"one": [rule]}), "one", "an unknown key"),
            (json!("all"), "", "not an object"),
        ];
        for (input, field, case) in cases {
            match parse(&input) {
                Ok(parsed) => panic!("{case}: accepted as {parsed:?}"),
                Err(e) => {
                    assert_eq!(e.field, field, "{case}: {e}");
                    assert!(!e.message.contains("Raw"), "{case}: private type names stay private: {e}");
                }
            }
        }
    }

    #[test]
    fn a_filter_serializes_back_to_its_input() {
        let input = json!({"any": [
            {"pointer": "/pull_request/merged", "operator": "equal", "value": true},
            {"pointer": "/a~1b", "operator": "equal", "value": null},
            {"header": "X-GitHub-Event", "operator": "in", "value": ["push", "release"]},
            {"query": "ref", "operator": "matches", "value": "^release/\\d+$"},
            {"pointer": "/labels", "operator": "contains", "value": {"name": "deploy"}},
            {"pointer": "", "operator": "exists"},
            {"header": "x-skip", "operator": "not_exists"},
            {"pointer": "/n", "operator": "greater_than_or_equal", "value": 2.5}
        ]});
        let parsed = filter(input.clone());
        let output = serde_json::to_value(&parsed).unwrap();
        assert_eq!(output, input);
        let reloaded: WebhookFilter = serde_json::from_value(output).unwrap();
        assert_eq!(reloaded, parsed);
        assert_ne!(reloaded, filter(json!({"any": [{"query": "ref", "operator": "matches", "value": "^release/"}]})));
    }

    #[test]
    fn plain_deserialization_rejects_what_parse_rejects() {
        let bad = json!({"all": [{"pointer": "/a", "operator": "matches", "value": "("}]});
        let error = serde_json::from_value::<WebhookFilter>(bad).unwrap_err().to_string();
        assert!(error.starts_with("all[0].value: is not a valid regular expression"), "{error}");
    }
}
