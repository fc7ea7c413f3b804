//! JSON Schemas for the API document of values whose rules live in a `parse` function rather than in
//! their Rust type: the document must accept what the parser accepts and refuse what it refuses.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

/// Gives a type checked on construction the schema of the raw form it is parsed from (`Raw` derives it).
macro_rules! schema_of_raw {
    ($ty:ty => $raw:ty) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$raw as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                <$raw as utoipa::ToSchema>::name()
            }

            fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                <$raw as utoipa::ToSchema>::schemas(out);
            }
        }
    };
}
pub(crate) use schema_of_raw;

/// A string of `chars` code points at most matching `pattern` (ECMA-262, anchored by the caller).
pub fn string(pattern: &str, max_chars: usize, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(Some(max_chars))
        .examples([example])
}

/// What [`super::parse_name`] accepts: 1 to 256 characters after trimming, at least one of them not
/// white space, and no control characters.
pub fn name() -> Schema {
    string(
        r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        256,
        "Lobby",
    )
    .into()
}

/// Free text on one or more lines: no control characters but tab, line feed and carriage return.
const MULTI_LINE_PATTERN: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";

/// What [`super::parse_description`] accepts.
pub fn description() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(MULTI_LINE_PATTERN)).max_length(Some(10_000)).into()
}

/// As [`description`], or `null` to clear it.
pub fn nullable_description() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(MULTI_LINE_PATTERN))
        .max_length(Some(10_000))
        .into()
}

/// Free text on one or more lines ([`super::check_multi_line`]), without a bound of its own.
pub fn multi_line() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(MULTI_LINE_PATTERN)).into()
}

/// One line of text: no control characters ([`super::check_single_line`]). Callers add the bounds.
pub fn single_line() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f]*$"))
}

/// As [`name`], or `null`.
pub fn nullable(schema: Schema) -> Schema {
    OneOfBuilder::new().item(schema).item(ObjectBuilder::new().schema_type(Type::Null)).into()
}

/// Any JSON object.
pub fn object() -> Schema {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

/// A JSON scalar: number, string, boolean or null.
pub fn scalar() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null]))
        .into()
}

/// Any JSON value.
pub fn any() -> Schema {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue).into()
}

/// An array of `item`, with at least `min` items.
pub fn array_of(item: impl Into<RefOr<Schema>>, min: usize) -> Schema {
    let item: RefOr<Schema> = item.into();
    ArrayBuilder::new().items(item).min_items(Some(min)).into()
}

/// As [`name`], or `null` (which a PATCH reads as "leave it").
pub fn nullable_name() -> Schema {
    nullable(name())
}

const HTTP_URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+";

/// What [`super::parse_http_url`] accepts: an absolute `http` or `https` URL with a host.
pub fn http_url() -> Schema {
    string(HTTP_URL_PATTERN, super::MAX_URL_LEN, "https://receiver.example.com/hook")
        .format(Some(utoipa::openapi::schema::SchemaFormat::Custom("uri".into())))
        .into()
}

/// An `http` or `https` URL that may hold `{{…}}` templates, filled in when a run executes.
pub fn templated_http_url() -> Schema {
    string(HTTP_URL_PATTERN, super::MAX_URL_LEN, "https://receiver.example.com/doors/{{payload./door}}").into()
}

/// An HTTP header name (an RFC 9110 token).
pub fn header_name(max_chars: usize) -> ObjectBuilder {
    string("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", max_chars, "X-Api-Key")
}

/// A whole number from 0 to `max`, without a `format` (whose implied bounds would differ from `max`).
pub fn uint(max: u64) -> Schema {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0usize)).maximum(Some(max)).into()
}

/// A page's size: at most 10000.
pub fn page_limit() -> Schema {
    uint(10_000)
}

/// Items to skip before a page.
pub fn page_offset() -> Schema {
    uint(u64::from(u32::MAX))
}

/// Epoch milliseconds.
pub fn epoch_ms() -> Schema {
    uint(u64::MAX)
}

/// An HTTP status code as a filter (any `u16`).
pub fn status_code() -> Schema {
    uint(u64::from(u16::MAX))
}
