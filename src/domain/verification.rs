//! Verifying signed inbound webhooks.
//!
//! A trigger's `webhook_verification` settings name the sender's scheme; each trigger instance holds
//! its own signing secrets (the current one and, during a rotation, the previous one). A request is
//! checked in a fixed order, so the failure reported is the first thing wrong: the headers are present,
//! then well-formed, then the timestamp is within tolerance (past or future), then a signature matches.
//! Failures name the header or the step, never an expected value or a secret.
//!
//! GitHub, Slack and Shopify are fixed instances of the configurable `hmac` scheme: one signature
//! header, an optional prefix, a digest encoding, and a template of what was signed.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng as _, RngCore as _};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq;

pub use super::headers::HeaderSource;
use super::ValidationError;

/// Header values longer than this are refused before any parsing or hashing.
const MAX_HEADER_LEN: usize = 4096;
/// Signatures listed beyond this many are ignored, bounding the MACs one request can cost.
const MAX_SIGNATURES: usize = 16;
const DEFAULT_TOLERANCE_S: i64 = 300;
/// One week: a sender's clock may be off, but a replay window longer than that protects nothing.
const MAX_TOLERANCE_S: u32 = 604_800;
const MAX_PREFIX_LEN: usize = 64;
const MAX_TEMPLATE_LEN: usize = 256;
const MAX_HEADER_NAME_LEN: usize = 128;
const MAX_SECRET_LEN: usize = 512;
/// Delivery ids become deduplication keys; a longer one is ignored rather than stored.
const MAX_ID_LEN: usize = 256;
/// The Standard Webhooks specification bounds symmetric keys to 24..=64 bytes.
const STANDARD_KEY_LEN: std::ops::RangeInclusive<usize> = 24..=64;
const WHSEC: &str = "whsec_";
const AUTHORIZATION: &str = "Authorization";

/// Senders pad base64 inconsistently, and the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The senders whose signatures a trigger can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    StandardWebhooks,
    Github,
    Stripe,
    Slack,
    Shopify,
    Token,
    Hmac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Sha1 => "HMAC-SHA1",
            Self::Sha256 => "HMAC-SHA256",
            Self::Sha512 => "HMAC-SHA512",
        }
    }

    fn mac(self, key: &[u8], message: &[&[u8]]) -> Option<Vec<u8>> {
        match self {
            Self::Sha1 => mac::<Hmac<Sha1>>(key, message),
            Self::Sha256 => mac::<Hmac<Sha256>>(key, message),
            Self::Sha512 => mac::<Hmac<Sha512>>(key, message),
        }
    }
}

/// `None` only if the key were refused, which HMAC never does (it takes keys of every length).
fn mac<M: Mac + KeyInit>(key: &[u8], message: &[&[u8]]) -> Option<Vec<u8>> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    for part in message {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().to_vec())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    /// A signature of the wrong length is malformed, so an empty one can never compare equal.
    fn decode(self, header: &str, text: &str, algorithm: Algorithm) -> Result<Vec<u8>, VerifyFailure> {
        let (bytes, name) = match self {
            Self::Hex => (hex::decode(text).ok(), "hex"),
            Self::Base64 => (BASE64.decode(text).ok(), "base64"),
        };
        bytes
            .filter(|b| b.len() == algorithm.output_len())
            .ok_or_else(|| malformed(header, format!("not a {name} {} signature", algorithm.label())))
    }
}

/// Why a request was refused. The message names the header or the step; it never holds an expected
/// signature or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("malformed {0}")]
    Malformed(String),
    #[error("timestamp outside the {tolerance_s} s tolerance")]
    StaleTimestamp { tolerance_s: u32 },
    #[error("no signature matches")]
    Mismatch,
}

fn malformed(header: &str, why: impl fmt::Display) -> VerifyFailure {
    VerifyFailure::Malformed(format!("{header} header: {why}"))
}

/// The generic `Idempotency-Key` header, for schemes whose sender names no delivery id.
pub fn idempotency_key(headers: &dyn HeaderSource) -> Option<String> {
    headers.header("Idempotency-Key").map(str::trim).filter(|key| usable_id(key)).map(str::to_owned)
}

fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

/// An HTTP header name (RFC 9110 token characters), kept as spelled so messages echo it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderName(String);

impl HeaderName {
    fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if (1..=MAX_HEADER_NAME_LEN).contains(&raw.len()) && raw.bytes().all(is_token) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(field, "must be an HTTP header name of at most 128 characters"))
        }
    }

    fn known(name: &str) -> Self {
        Self(name.to_owned())
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Body,
    Timestamp,
}

/// What the sender signs, e.g. `{timestamp}.{body}`, kept both as written and as pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    fn body_only() -> Self {
        Self { source: "{body}".to_owned(), pieces: vec![Piece::Body] }
    }

    fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |message: String| ValidationError::new("signed_payload", message);
        if raw.chars().count() > MAX_TEMPLATE_LEN {
            return Err(invalid(format!("must be at most {MAX_TEMPLATE_LEN} characters")));
        }
        let mut pieces = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            push_text(&mut pieces, &rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| invalid("has a { without a closing }".to_owned()))?;
            pieces.push(match &after[..close] {
                "body" => Piece::Body,
                "timestamp" => Piece::Timestamp,
                other => {
                    return Err(invalid(format!("unknown placeholder {{{other}}}; use {{body}} and {{timestamp}}")))
                }
            });
            rest = &after[close + 1..];
        }
        push_text(&mut pieces, rest);
        // One body keeps the work per request to one pass over it.
        if pieces.iter().filter(|piece| **piece == Piece::Body).count() != 1 {
            return Err(invalid("must contain {body} exactly once".to_owned()));
        }
        Ok(Self { source: raw.to_owned(), pieces })
    }

    fn uses_timestamp(&self) -> bool {
        self.pieces.contains(&Piece::Timestamp)
    }

    fn render<'a>(&'a self, timestamp: &'a str, body: &'a [u8]) -> Vec<&'a [u8]> {
        let piece = |piece: &'a Piece| match piece {
            Piece::Text(text) => text.as_bytes(),
            Piece::Body => body,
            Piece::Timestamp => timestamp.as_bytes(),
        };
        self.pieces.iter().map(piece).collect()
    }
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_owned()));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TimestampHeader {
    header: HeaderName,
    tolerance_s: u32,
}

/// One signature in one header, over a template of the body and optionally a timestamp header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HmacSpec {
    header: HeaderName,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: Option<String>,
    timestamp: Option<TimestampHeader>,
    payload: Template,
}

impl HmacSpec {
    fn github() -> Self {
        Self {
            header: HeaderName::known("X-Hub-Signature-256"),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: Some("sha256=".to_owned()),
            timestamp: None,
            payload: Template::body_only(),
        }
    }

    fn shopify() -> Self {
        Self {
            header: HeaderName::known("X-Shopify-Hmac-Sha256"),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Base64,
            prefix: None,
            timestamp: None,
            payload: Template::body_only(),
        }
    }

    fn slack(tolerance_s: u32) -> Self {
        let pieces = vec![Piece::Text("v0:".to_owned()), Piece::Timestamp, Piece::Text(":".to_owned()), Piece::Body];
        Self {
            header: HeaderName::known("X-Slack-Signature"),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: Some("v0=".to_owned()),
            timestamp: Some(TimestampHeader { header: HeaderName::known("X-Slack-Request-Timestamp"), tolerance_s }),
            payload: Template { source: "v0:{timestamp}:{body}".to_owned(), pieces },
        }
    }

    fn parse(raw: &RawSettings, tolerance_s: u32) -> Result<Self, ValidationError> {
        let header =
            raw.header.as_deref().ok_or_else(|| ValidationError::new("header", "is required for the hmac scheme"))?;
        let header = HeaderName::parse("header", header)?;
        let payload = raw.signed_payload.as_deref().map_or_else(|| Ok(Template::body_only()), Template::parse)?;
        let timestamp = parse_timestamp_header(raw, &header, &payload, tolerance_s)?;
        Ok(Self {
            header,
            algorithm: raw.algorithm.unwrap_or(Algorithm::Sha256),
            encoding: raw.encoding.unwrap_or(Encoding::Hex),
            prefix: parse_prefix(raw.prefix.as_deref())?,
            timestamp,
            payload,
        })
    }

    fn claim<'a>(&'a self, headers: &'a dyn HeaderSource, body: &'a [u8]) -> Result<Claim<'a>, VerifyFailure> {
        let (value, raw_timestamp) = self.read_headers(headers)?;
        let signature = self.decode_signature(value)?;
        let timestamp = match (&self.timestamp, raw_timestamp) {
            (Some(spec), Some(raw)) => Some(Freshness::parse(spec.header.as_str(), raw, spec.tolerance_s)?),
            _ => None,
        };
        let message = self.payload.render(raw_timestamp.unwrap_or_default(), body);
        Ok(Claim { algorithm: self.algorithm, message, timestamp, signatures: vec![signature] })
    }

    fn read_headers<'h>(&self, headers: &'h dyn HeaderSource) -> Result<(&'h str, Option<&'h str>), VerifyFailure> {
        match &self.timestamp {
            Some(spec) => {
                let [value, timestamp] = required(headers, [self.header.as_str(), spec.header.as_str()])?;
                Ok((value, Some(timestamp)))
            }
            None => required(headers, [self.header.as_str()]).map(|[value]| (value, None)),
        }
    }

    fn decode_signature(&self, value: &str) -> Result<Vec<u8>, VerifyFailure> {
        let name = self.header.as_str();
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| malformed(name, format!("expected the prefix {prefix}")))?,
            None => value,
        };
        self.encoding.decode(name, encoded, self.algorithm)
    }
}

/// A timestamp header and a `{timestamp}` placeholder only make sense together.
fn parse_timestamp_header(
    raw: &RawSettings,
    header: &HeaderName,
    payload: &Template,
    tolerance_s: u32,
) -> Result<Option<TimestampHeader>, ValidationError> {
    const FIELD: &str = "timestamp_header";
    let Some(name) = raw.timestamp_header.as_deref() else {
        if payload.uses_timestamp() {
            return Err(ValidationError::new(FIELD, "is required when signed_payload contains {timestamp}"));
        }
        return Ok(None);
    };
    let name = HeaderName::parse(FIELD, name)?;
    if name.as_str().eq_ignore_ascii_case(header.as_str()) {
        return Err(ValidationError::new(FIELD, "must differ from header"));
    }
    if !payload.uses_timestamp() {
        return Err(ValidationError::new("signed_payload", "must contain {timestamp} when timestamp_header is set"));
    }
    Ok(Some(TimestampHeader { header: name, tolerance_s }))
}

/// An empty prefix means no prefix.
fn parse_prefix(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(prefix) = raw.filter(|prefix| !prefix.is_empty()) else { return Ok(None) };
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(ValidationError::new("prefix", format!("must be at most {MAX_PREFIX_LEN} characters")));
    }
    // Header values are visible ASCII; any other prefix could never match.
    if !prefix.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ValidationError::new("prefix", "must be printable ASCII"));
    }
    Ok(Some(prefix.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    StandardWebhooks {
        tolerance_s: u32,
    },
    Stripe {
        tolerance_s: u32,
    },
    Token {
        header: HeaderName,
    },
    /// `github`, `slack` and `shopify` as fixed specs, `hmac` as configured.
    Hmac {
        scheme: Scheme,
        spec: HmacSpec,
    },
}

/// How a trigger checks that an inbound webhook comes from its sender. Valid once constructed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSettings", into = "RawSettings")]
pub struct VerificationSettings {
    check: Check,
    require_url_secret: bool,
}

/// The settings as JSON carries them, before the rules between fields are checked.
///
/// `header` applies to the `token` (default `Authorization`) and `hmac` (required) schemes only;
/// `algorithm`, `encoding`, `prefix`, `timestamp_header` and `signed_payload` to `hmac` only.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookVerification)]
struct RawSettings {
    #[schema(inline)]
    scheme: Scheme,
    /// Seconds a signed timestamp may be off (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 604_800)]
    tolerance_s: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    algorithm: Option<Algorithm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    encoding: Option<Encoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    timestamp_header: Option<String>,
    /// What is signed: `{body}`, `{timestamp}` and header values in a template (default `{body}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    signed_payload: Option<String>,
    #[serde(default = "yes")]
    require_url_secret: bool,
}

super::schema::schema_of_raw!(VerificationSettings => RawSettings);

fn yes() -> bool {
    true
}

impl RawSettings {
    fn tolerance_s(&self) -> Result<u32, ValidationError> {
        let value = self.tolerance_s.unwrap_or(DEFAULT_TOLERANCE_S);
        u32::try_from(value).ok().filter(|value| (1..=MAX_TOLERANCE_S).contains(value)).ok_or_else(|| {
            ValidationError::new("tolerance_s", format!("must be between 1 and {MAX_TOLERANCE_S} seconds"))
        })
    }

    fn reject_inapplicable(&self) -> Result<(), ValidationError> {
        let hmac_only = [
            ("algorithm", self.algorithm.is_some()),
            ("encoding", self.encoding.is_some()),
            ("prefix", self.prefix.is_some()),
            ("timestamp_header", self.timestamp_header.is_some()),
            ("signed_payload", self.signed_payload.is_some()),
        ];
        if self.scheme != Scheme::Hmac {
            if let Some((field, _)) = hmac_only.iter().find(|(_, given)| *given) {
                return Err(ValidationError::new(*field, "only applies to the hmac scheme"));
            }
        }
        if self.header.is_some() && !matches!(self.scheme, Scheme::Token | Scheme::Hmac) {
            return Err(ValidationError::new("header", "only applies to the token and hmac schemes"));
        }
        Ok(())
    }

    fn check(&self, tolerance_s: u32) -> Result<Check, ValidationError> {
        let preset = |spec| Ok(Check::Hmac { scheme: self.scheme, spec });
        match self.scheme {
            Scheme::StandardWebhooks => Ok(Check::StandardWebhooks { tolerance_s }),
            Scheme::Stripe => Ok(Check::Stripe { tolerance_s }),
            Scheme::Github => preset(HmacSpec::github()),
            Scheme::Slack => preset(HmacSpec::slack(tolerance_s)),
            Scheme::Shopify => preset(HmacSpec::shopify()),
            Scheme::Hmac => preset(HmacSpec::parse(self, tolerance_s)?),
            Scheme::Token => {
                let header = HeaderName::parse("header", self.header.as_deref().unwrap_or(AUTHORIZATION))?;
                Ok(Check::Token { header })
            }
        }
    }
}

impl TryFrom<RawSettings> for VerificationSettings {
    type Error = ValidationError;

    fn try_from(raw: RawSettings) -> Result<Self, ValidationError> {
        let tolerance_s = raw.tolerance_s()?;
        raw.reject_inapplicable()?;
        Ok(Self { check: raw.check(tolerance_s)?, require_url_secret: raw.require_url_secret })
    }
}

impl From<VerificationSettings> for RawSettings {
    fn from(settings: VerificationSettings) -> Self {
        let mut raw = RawSettings {
            scheme: settings.scheme(),
            tolerance_s: settings.tolerance_s().map(i64::from),
            header: None,
            algorithm: None,
            encoding: None,
            prefix: None,
            timestamp_header: None,
            signed_payload: None,
            require_url_secret: settings.require_url_secret,
        };
        match settings.check {
            Check::Token { header } => raw.header = Some(header.0),
            Check::Hmac { scheme: Scheme::Hmac, spec } => {
                raw.header = Some(spec.header.0);
                raw.algorithm = Some(spec.algorithm);
                raw.encoding = Some(spec.encoding);
                raw.prefix = spec.prefix;
                raw.timestamp_header = spec.timestamp.map(|timestamp| timestamp.header.0);
                raw.signed_payload = Some(spec.payload.source);
            }
            _ => {}
        }
        raw
    }
}

impl VerificationSettings {
    /// Like deserializing, but the error names the field for type errors and rule violations alike
    /// (serde's `try_from` error only carries the message).
    pub fn parse(value: &serde_json::Value) -> Result<Self, ValidationError> {
        Self::try_from(super::from_json::<RawSettings>(value)?)
    }

    pub fn scheme(&self) -> Scheme {
        match &self.check {
            Check::StandardWebhooks { .. } => Scheme::StandardWebhooks,
            Check::Stripe { .. } => Scheme::Stripe,
            Check::Token { .. } => Scheme::Token,
            Check::Hmac { scheme, .. } => *scheme,
        }
    }

    pub fn require_url_secret(&self) -> bool {
        self.require_url_secret
    }

    /// The header that carries the secret itself (the token scheme): never shown or stored.
    pub fn secret_header(&self) -> Option<&str> {
        match &self.check {
            Check::Token { header } => Some(header.as_str()),
            _ => None,
        }
    }

    /// `None` when the scheme signs no timestamp.
    fn tolerance_s(&self) -> Option<u32> {
        match &self.check {
            Check::StandardWebhooks { tolerance_s } | Check::Stripe { tolerance_s } => Some(*tolerance_s),
            Check::Hmac { spec, .. } => spec.timestamp.as_ref().map(|timestamp| timestamp.tolerance_s),
            Check::Token { .. } => None,
        }
    }

    /// Accepts the request when any of `secrets` (current and, during a rotation, previous) produced
    /// any signature it lists.
    pub fn verify(
        &self,
        secrets: &[&SigningSecret],
        headers: &dyn HeaderSource,
        body: &[u8],
        now_epoch_s: i64,
    ) -> Result<(), VerifyFailure> {
        let claim = match &self.check {
            Check::Token { header } => return verify_token(header, secrets, headers),
            Check::StandardWebhooks { tolerance_s } => standard_webhooks_claim(headers, body, *tolerance_s)?,
            Check::Stripe { tolerance_s } => stripe_claim(headers, body, *tolerance_s)?,
            Check::Hmac { spec, .. } => spec.claim(headers, body)?,
        };
        if let Some(timestamp) = &claim.timestamp {
            timestamp.check(now_epoch_s)?;
        }
        if secrets.iter().filter_map(|secret| self.key(secret)).any(|key| claim.is_signed_with(&key)) {
            Ok(())
        } else {
            Err(VerifyFailure::Mismatch)
        }
    }

    /// The MAC key a secret stands for; `None` for a secret that cannot be one under this scheme.
    fn key<'s>(&self, secret: &'s SigningSecret) -> Option<Cow<'s, [u8]>> {
        match self.check {
            Check::StandardWebhooks { .. } => standard_webhooks_key(secret.expose()).map(Cow::Owned),
            _ => Some(Cow::Borrowed(secret.expose().as_bytes())),
        }
    }

    /// The sender's own id for this delivery, for deduplication; `None` when the scheme has none.
    pub fn delivery_id(&self, headers: &dyn HeaderSource, body: &[u8]) -> Option<String> {
        let owned = |name: &str| headers.header(name).map(str::to_owned);
        let id = match self.scheme() {
            Scheme::StandardWebhooks => owned("webhook-id").or_else(|| owned("svix-id")),
            Scheme::Github => owned("X-GitHub-Delivery"),
            Scheme::Shopify => owned("X-Shopify-Webhook-Id"),
            Scheme::Stripe => serde_json::from_slice::<StripeEvent>(body).ok().and_then(|event| event.id),
            Scheme::Slack => slack_delivery_id(headers, body),
            Scheme::Token | Scheme::Hmac => None,
        };
        id.filter(|id| usable_id(id))
    }

    /// A new secret in the form the sender's own dashboards use.
    pub fn generate_secret(&self) -> SigningSecret {
        let value = match self.scheme() {
            Scheme::StandardWebhooks => format!("{WHSEC}{}", STANDARD.encode(random_bytes::<24>())),
            Scheme::Stripe => {
                let tail: String = OsRng.sample_iter(&Alphanumeric).take(32).map(char::from).collect();
                format!("{WHSEC}{tail}")
            }
            Scheme::Token => URL_SAFE_NO_PAD.encode(random_bytes::<32>()),
            Scheme::Github | Scheme::Slack | Scheme::Shopify | Scheme::Hmac => hex::encode(random_bytes::<32>()),
        };
        SigningSecret { value }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[derive(Deserialize)]
struct StripeEvent {
    id: Option<String>,
}

#[derive(Deserialize)]
struct SlackEnvelope {
    event_id: Option<String>,
}

/// Events API envelopes carry an `event_id`. Slash commands and interactions do not; for them the
/// timestamp alone would merge two requests sent in the same second, while timestamp and signature
/// together are equal only for the same bytes resent, which is what a retry is.
fn slack_delivery_id(headers: &dyn HeaderSource, body: &[u8]) -> Option<String> {
    if let Some(id) = serde_json::from_slice::<SlackEnvelope>(body).ok().and_then(|envelope| envelope.event_id) {
        return Some(id);
    }
    let timestamp = headers.header("X-Slack-Request-Timestamp")?;
    let signature = headers.header("X-Slack-Signature")?;
    Some(format!("{timestamp}:{signature}"))
}

/// What a request asserts: the bytes it says were signed, when, and the signatures over them.
struct Claim<'a> {
    algorithm: Algorithm,
    message: Vec<&'a [u8]>,
    timestamp: Option<Freshness>,
    signatures: Vec<Vec<u8>>,
}

impl Claim<'_> {
    fn is_signed_with(&self, key: &[u8]) -> bool {
        let Some(expected) = self.algorithm.mac(key, &self.message) else { return false };
        self.signatures.iter().any(|signature| bool::from(expected.as_slice().ct_eq(signature)))
    }
}

struct Freshness {
    at: i64,
    tolerance_s: u32,
}

impl Freshness {
    /// Digits only: a sign or a space would let two spellings of one time carry different signatures.
    fn parse(header: &str, raw: &str, tolerance_s: u32) -> Result<Self, VerifyFailure> {
        let digits = (1..=18).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
        let at = raw.parse().ok().filter(|_| digits);
        at.map(|at| Self { at, tolerance_s }).ok_or_else(|| malformed(header, "timestamp is not Unix seconds"))
    }

    fn check(&self, now_epoch_s: i64) -> Result<(), VerifyFailure> {
        if now_epoch_s.abs_diff(self.at) > u64::from(self.tolerance_s) {
            return Err(VerifyFailure::StaleTimestamp { tolerance_s: self.tolerance_s });
        }
        Ok(())
    }
}

/// Every header is looked for before any is judged, so a missing one is reported as missing.
fn required<'h, const N: usize>(
    headers: &'h dyn HeaderSource,
    names: [&str; N],
) -> Result<[&'h str; N], VerifyFailure> {
    let mut values = [""; N];
    for (value, name) in values.iter_mut().zip(names) {
        *value = headers.header(name).ok_or_else(|| VerifyFailure::MissingHeader(name.to_owned()))?;
    }
    match names.iter().zip(values).find(|(_, value)| value.len() > MAX_HEADER_LEN) {
        Some((name, _)) => Err(malformed(name, "longer than 4 KiB")),
        None => Ok(values),
    }
}

struct StandardHeaders {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const WEBHOOK_HEADERS: StandardHeaders =
    StandardHeaders { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" };
const SVIX_HEADERS: StandardHeaders =
    StandardHeaders { id: "svix-id", timestamp: "svix-timestamp", signature: "svix-signature" };

impl StandardHeaders {
    /// Svix sends the same scheme under its own names; a request with neither is told the standard ones.
    fn used_by(headers: &dyn HeaderSource) -> &'static Self {
        let any =
            |names: &Self| [names.id, names.timestamp, names.signature].iter().any(|n| headers.header(n).is_some());
        if !any(&WEBHOOK_HEADERS) && any(&SVIX_HEADERS) {
            &SVIX_HEADERS
        } else {
            &WEBHOOK_HEADERS
        }
    }
}

fn standard_webhooks_claim<'a>(
    headers: &'a dyn HeaderSource,
    body: &'a [u8],
    tolerance_s: u32,
) -> Result<Claim<'a>, VerifyFailure> {
    let names = StandardHeaders::used_by(headers);
    let [id, timestamp, signature] = required(headers, [names.id, names.timestamp, names.signature])?;
    let freshness = Freshness::parse(names.timestamp, timestamp, tolerance_s)?;
    // Other versions (`v1a` is asymmetric) are skipped; the list is space-separated.
    let decoded = signature
        .split(' ')
        .filter(|entry| !entry.is_empty())
        .take(MAX_SIGNATURES)
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .map(|encoded| Encoding::Base64.decode(names.signature, encoded, Algorithm::Sha256));
    let signatures = usable_signatures(names.signature, decoded)?;
    let message = vec![id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    Ok(Claim { algorithm: Algorithm::Sha256, message, timestamp: Some(freshness), signatures })
}

/// The key behind `whsec_<base64>` (or bare base64); `None` for anything else.
fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(WHSEC).unwrap_or(secret);
    BASE64.decode(encoded).ok().filter(|key| STANDARD_KEY_LEN.contains(&key.len()))
}

const STRIPE_HEADER: &str = "Stripe-Signature";

fn stripe_claim<'a>(
    headers: &'a dyn HeaderSource,
    body: &'a [u8],
    tolerance_s: u32,
) -> Result<Claim<'a>, VerifyFailure> {
    let [value] = required(headers, [STRIPE_HEADER])?;
    let (timestamp, signatures) = parse_stripe_header(value)?;
    let freshness = Freshness::parse(STRIPE_HEADER, timestamp, tolerance_s)?;
    let message = vec![timestamp.as_bytes(), b".", body];
    Ok(Claim { algorithm: Algorithm::Sha256, message, timestamp: Some(freshness), signatures })
}

/// `t=<ts>,v1=<hex>[,v1=<hex>…]`; other schemes (Stripe's test-mode `v0`) are skipped.
fn parse_stripe_header(value: &str) -> Result<(&str, Vec<Vec<u8>>), VerifyFailure> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (key, item) in value.split(',').filter_map(|item| item.trim().split_once('=')) {
        match key {
            "t" if timestamp.is_some() => return Err(malformed(STRIPE_HEADER, "more than one t=")),
            "t" => timestamp = Some(item),
            "v1" if signatures.len() < MAX_SIGNATURES => {
                signatures.push(Encoding::Hex.decode(STRIPE_HEADER, item, Algorithm::Sha256));
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed(STRIPE_HEADER, "no t= timestamp"))?;
    Ok((timestamp, usable_signatures(STRIPE_HEADER, signatures.into_iter())?))
}

/// The signatures of a list that decode. One that does not is skipped, as senders' own libraries do when
/// they compare: a list is malformed only when none of its entries is usable.
fn usable_signatures(
    header: &str,
    decoded: impl Iterator<Item = Result<Vec<u8>, VerifyFailure>>,
) -> Result<Vec<Vec<u8>>, VerifyFailure> {
    let mut usable = Vec::new();
    let mut first_error = None;
    for signature in decoded {
        match signature {
            Ok(signature) => usable.push(signature),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (usable.is_empty(), first_error) {
        (false, _) => Ok(usable),
        (true, Some(e)) => Err(e),
        (true, None) => Err(malformed(header, "no v1 signature")),
    }
}

/// A shared token sent as is, or as `Bearer <token>` in `Authorization`.
fn verify_token(
    header: &HeaderName,
    secrets: &[&SigningSecret],
    headers: &dyn HeaderSource,
) -> Result<(), VerifyFailure> {
    let [value] = required(headers, [header.as_str()])?;
    let token = if header.as_str().eq_ignore_ascii_case(AUTHORIZATION) { strip_bearer(value) } else { value };
    // Comparing digests keeps the time independent of the token's length and of where it differs.
    let candidate = Sha256::digest(token.as_bytes());
    let matches = |secret: &&SigningSecret| bool::from(Sha256::digest(secret.expose().as_bytes()).ct_eq(&candidate));
    if secrets.iter().any(matches) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch)
    }
}

fn strip_bearer(value: &str) -> &str {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim_start(),
        _ => value,
    }
}

/// A secret a sender signs with; stored as the plain string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SigningSecret {
    value: String,
}

impl From<String> for SigningSecret {
    fn from(value: String) -> Self {
        Self { value }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A secret as a client supplied it, checked for the trigger's scheme. The error's field is empty:
    /// the caller places it under its own field.
    pub fn parse_for(settings: &VerificationSettings, raw: &str) -> Result<Self, ValidationError> {
        let invalid = |message: &str| ValidationError::new("", message);
        if raw.is_empty() || raw.chars().count() > MAX_SECRET_LEN {
            return Err(invalid("must be 1 to 512 characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        match settings.scheme() {
            Scheme::StandardWebhooks if standard_webhooks_key(raw).is_none() => {
                Err(invalid("must be whsec_ followed by the base64 of a 24 to 64 byte key"))
            }
            // A token travels in a header: only visible ASCII survives, and outer spaces are trimmed.
            Scheme::Token if !raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ') || raw.trim() != raw => {
                Err(invalid("must be printable ASCII without leading or trailing spaces"))
            }
            _ => Ok(Self { value: raw.to_owned() }),
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","event_id":"Ev1","n":1}"#;

    /// An HMAC computed with the crates directly, independently of the code under test.
    fn hmac_of<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
        hmac_of::<Hmac<Sha256>>(key, message)
    }

    fn settings(value: Value) -> VerificationSettings {
        VerificationSettings::parse(&value).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn with(mut headers: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value.to_owned()));
        headers
    }

    fn without(mut headers: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
        headers.retain(|(k, _)| k != name);
        headers
    }

    /// One configuration per sender, signing the way the sender documents it.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Sender {
        Standard,
        Github,
        Stripe,
        Slack,
        Shopify,
        Bearer,
        GitlabToken,
        HmacSha1,
        HmacSha512Timestamped,
    }
    use Sender::*;

    const ALL: [Sender; 9] =
        [Standard, Github, Stripe, Slack, Shopify, Bearer, GitlabToken, HmacSha1, HmacSha512Timestamped];

    impl Sender {
        fn settings(self) -> VerificationSettings {
            settings(match self {
                Standard => json!({"scheme": "standard_webhooks"}),
                Github => json!({"scheme": "github"}),
                Stripe => json!({"scheme": "stripe"}),
                Slack => json!({"scheme": "slack"}),
                Shopify => json!({"scheme": "shopify"}),
                Bearer => json!({"scheme": "token"}),
                GitlabToken => json!({"scheme": "token", "header": "X-Gitlab-Token"}),
                HmacSha1 => json!({"scheme": "hmac", "header": "X-Signature", "algorithm": "sha1", "prefix": "sha1="}),
                HmacSha512Timestamped => json!({
                    "scheme": "hmac", "header": "X-Signature", "algorithm": "sha512", "encoding": "base64",
                    "timestamp_header": "X-Timestamp", "signed_payload": "{timestamp}.{body}"
                }),
            })
        }

        fn secret(self) -> &'static str {
            match self {
                Standard => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                Github => "It's a Secret to Everybody",
                Stripe => "whsec_stripe_test_secret",
                Slack => "8f742231b10e8888abcd99yyyzzz85a5",
                _ => "a-shared-secret",
            }
        }

        fn sign(self, secret: &str, body: &[u8], at: i64) -> Vec<(String, String)> {
            let ts = at.to_string();
            let key = secret.as_bytes();
            let signed = |parts: &[&[u8]]| parts.concat();
            match self {
                Standard => {
                    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
                    let mac = sha256(&key, &signed(&[b"msg_1.", ts.as_bytes(), b".", body]));
                    let signature = format!("v1,{}", STANDARD.encode(mac));
                    headers(&[("webhook-id", "msg_1"), ("webhook-timestamp", &ts), ("webhook-signature", &signature)])
                }
                Github => headers(&[("X-Hub-Signature-256", &format!("sha256={}", hex::encode(sha256(key, body))))]),
                Stripe => {
                    let mac = sha256(key, &signed(&[ts.as_bytes(), b".", body]));
                    headers(&[("Stripe-Signature", &format!("t={ts},v1={}", hex::encode(mac)))])
                }
                Slack => {
                    let mac = sha256(key, &signed(&[b"v0:", ts.as_bytes(), b":", body]));
                    headers(&[
                        ("X-Slack-Request-Timestamp", &ts),
                        ("X-Slack-Signature", &format!("v0={}", hex::encode(mac))),
                    ])
                }
                Shopify => headers(&[("X-Shopify-Hmac-Sha256", &STANDARD.encode(sha256(key, body)))]),
                Bearer => headers(&[("Authorization", &format!("Bearer {secret}"))]),
                GitlabToken => headers(&[("X-Gitlab-Token", secret)]),
                HmacSha1 => {
                    let mac = hmac_of::<Hmac<Sha1>>(key, body);
                    headers(&[("X-Signature", &format!("sha1={}", hex::encode(mac)))])
                }
                HmacSha512Timestamped => {
                    let mac = hmac_of::<Hmac<Sha512>>(key, &signed(&[ts.as_bytes(), b".", body]));
                    headers(&[("X-Timestamp", &ts), ("X-Signature", &STANDARD.encode(mac))])
                }
            }
        }

        fn signed(self) -> Vec<(String, String)> {
            self.sign(self.secret(), BODY, NOW)
        }

        fn verify(
            self,
            secrets: &[&str],
            headers: &Vec<(String, String)>,
            body: &[u8],
            now: i64,
        ) -> Result<(), VerifyFailure> {
            let secrets: Vec<SigningSecret> = secrets.iter().map(|s| SigningSecret::from(s.to_string())).collect();
            let refs: Vec<&SigningSecret> = secrets.iter().collect();
            self.settings().verify(&refs, headers, body, now)
        }

        fn verify_signed(self, headers: &Vec<(String, String)>) -> Result<(), VerifyFailure> {
            self.verify(&[self.secret()], headers, BODY, NOW)
        }

        fn signs_body(self) -> bool {
            !matches!(self, Bearer | GitlabToken)
        }

        fn has_timestamp(self) -> bool {
            matches!(self, Standard | Stripe | Slack | HmacSha512Timestamped)
        }
    }

    #[test]
    fn every_sender_accepts_its_own_signature() {
        for sender in ALL {
            assert_eq!(sender.verify_signed(&sender.signed()), Ok(()), "{sender:?}");
        }
    }

    #[test]
    fn a_wrong_secret_matches_nothing_and_the_message_reveals_no_secret() {
        for sender in ALL {
            let wrong = if sender == Standard { "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } else { "another-secret" };
            let failure = sender.verify(&[wrong], &sender.signed(), BODY, NOW).unwrap_err();
            assert_eq!(failure, VerifyFailure::Mismatch, "{sender:?}");
            let message = failure.to_string();
            assert_eq!(message, "no signature matches");
            assert!(!message.contains(sender.secret()) && !message.contains(wrong), "{sender:?}");
        }
    }

    #[test]
    fn a_tampered_body_matches_nothing_where_the_body_is_signed() {
        for sender in ALL {
            let result = sender.verify(&[sender.secret()], &sender.signed(), br#"{"id":"evt_1","n":2}"#, NOW);
            let expected = if sender.signs_body() { Err(VerifyFailure::Mismatch) } else { Ok(()) };
            assert_eq!(result, expected, "{sender:?}: a token does not cover the body");
        }
    }

    #[test]
    fn each_missing_header_is_named() {
        for sender in ALL {
            for (name, _) in sender.signed() {
                let result = sender.verify_signed(&without(sender.signed(), &name));
                assert_eq!(result, Err(VerifyFailure::MissingHeader(name.clone())), "{sender:?}");
                assert_eq!(result.unwrap_err().to_string(), format!("missing header {name}"));
            }
        }
    }

    #[test]
    fn timestamps_beyond_the_tolerance_are_stale_in_the_past_and_the_future() {
        for sender in ALL.into_iter().filter(|s| s.has_timestamp()) {
            for at in [NOW - 301, NOW + 301] {
                let result = sender.verify_signed(&sender.sign(sender.secret(), BODY, at));
                assert_eq!(result, Err(VerifyFailure::StaleTimestamp { tolerance_s: 300 }), "{sender:?} at {at}");
                assert_eq!(result.unwrap_err().to_string(), "timestamp outside the 300 s tolerance");
            }
            for at in [NOW - 300, NOW + 300] {
                assert_eq!(sender.verify_signed(&sender.sign(sender.secret(), BODY, at)), Ok(()), "{sender:?} at {at}");
            }
        }
    }

    #[test]
    fn the_configured_tolerance_applies() {
        let strict = settings(json!({"scheme": "stripe", "tolerance_s": 10}));
        let secret = SigningSecret::from(Stripe.secret().to_owned());
        let late = Stripe.sign(Stripe.secret(), BODY, NOW - 11);
        assert_eq!(strict.verify(&[&secret], &late, BODY, NOW), Err(VerifyFailure::StaleTimestamp { tolerance_s: 10 }));
        assert_eq!(strict.verify(&[&secret], &late, BODY, NOW - 1), Ok(()));
    }

    #[test]
    fn header_values_over_4_kib_are_malformed() {
        for sender in ALL {
            for (name, _) in sender.signed() {
                let result = sender.verify_signed(&with(sender.signed(), &name, &"a".repeat(4097)));
                assert_eq!(
                    result,
                    Err(VerifyFailure::Malformed(format!("{name} header: longer than 4 KiB"))),
                    "{sender:?}"
                );
            }
        }
    }

    #[test]
    fn malformed_headers_name_the_header() {
        let good_hex = "0".repeat(64);
        let cases: &[(Sender, &str, &str, &str)] = &[
            (Standard, "webhook-signature", "v1a,AAAA", "no v1 signature"),
            (Standard, "webhook-signature", "v1,not base64!", "not a base64 HMAC-SHA256 signature"),
            (Standard, "webhook-signature", "v1,AAAA", "not a base64 HMAC-SHA256 signature"),
            (Standard, "webhook-timestamp", "soon", "timestamp is not Unix seconds"),
            (Standard, "webhook-timestamp", "+1700000000", "timestamp is not Unix seconds"),
            (Standard, "webhook-timestamp", "-1", "timestamp is not Unix seconds"),
            (Github, "X-Hub-Signature-256", "sha1=abcd", "expected the prefix sha256="),
            (Github, "X-Hub-Signature-256", "sha256=zz", "not a hex HMAC-SHA256 signature"),
            (Github, "X-Hub-Signature-256", "sha256=abcd", "not a hex HMAC-SHA256 signature"),
            (Stripe, "Stripe-Signature", &format!("v1={good_hex}"), "no t= timestamp"),
            (Stripe, "Stripe-Signature", "t=1700000000", "no v1 signature"),
            (Stripe, "Stripe-Signature", &format!("t=1,t=2,v1={good_hex}"), "more than one t="),
            (Stripe, "Stripe-Signature", &format!("t=now,v1={good_hex}"), "timestamp is not Unix seconds"),
            (Stripe, "Stripe-Signature", "t=1700000000,v1=xyz", "not a hex HMAC-SHA256 signature"),
            (Slack, "X-Slack-Signature", &format!("v1={good_hex}"), "expected the prefix v0="),
            (Slack, "X-Slack-Request-Timestamp", "12.5", "timestamp is not Unix seconds"),
            (Shopify, "X-Shopify-Hmac-Sha256", "not base64!", "not a base64 HMAC-SHA256 signature"),
            (Shopify, "X-Shopify-Hmac-Sha256", "", "not a base64 HMAC-SHA256 signature"),
            (HmacSha1, "X-Signature", "abcd", "expected the prefix sha1="),
            (HmacSha1, "X-Signature", &format!("sha1={good_hex}"), "not a hex HMAC-SHA1 signature"),
            (HmacSha512Timestamped, "X-Signature", &good_hex, "not a base64 HMAC-SHA512 signature"),
            (HmacSha512Timestamped, "X-Timestamp", "", "timestamp is not Unix seconds"),
        ];
        for (sender, name, value, why) in cases {
            let result = sender.verify_signed(&with(sender.signed(), name, value));
            let expected = VerifyFailure::Malformed(format!("{name} header: {why}"));
            assert_eq!(result, Err(expected), "{sender:?} {name}: {value}");
        }
    }

    #[test]
    fn checks_run_in_order_missing_then_malformed_then_stale_then_signature() {
        let stale = Slack.sign("wrong", BODY, NOW - 1000);
        assert_eq!(Slack.verify_signed(&stale), Err(VerifyFailure::StaleTimestamp { tolerance_s: 300 }));
        let stale_and_malformed = with(stale.clone(), "X-Slack-Signature", "garbage");
        assert!(matches!(Slack.verify_signed(&stale_and_malformed), Err(VerifyFailure::Malformed(_))));
        let missing_and_malformed = without(stale_and_malformed, "X-Slack-Request-Timestamp");
        assert_eq!(
            Slack.verify_signed(&missing_and_malformed),
            Err(VerifyFailure::MissingHeader("X-Slack-Request-Timestamp".to_owned()))
        );
        let oversized_and_missing =
            without(with(Standard.signed(), "webhook-id", &"a".repeat(5000)), "webhook-signature");
        assert_eq!(
            Standard.verify_signed(&oversized_and_missing),
            Err(VerifyFailure::MissingHeader("webhook-signature".to_owned()))
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        for sender in ALL {
            let old = if sender == Standard { "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } else { "the-old-secret" };
            let signed = sender.signed();
            assert_eq!(sender.verify(&[old, sender.secret()], &signed, BODY, NOW), Ok(()), "{sender:?}");
            assert_eq!(sender.verify(&[sender.secret(), old], &signed, BODY, NOW), Ok(()), "{sender:?}");
            assert_eq!(sender.verify(&[old], &signed, BODY, NOW), Err(VerifyFailure::Mismatch), "{sender:?}");
            assert_eq!(sender.verify(&[], &signed, BODY, NOW), Err(VerifyFailure::Mismatch), "{sender:?}");
        }
    }

    #[test]
    fn any_listed_signature_may_match() {
        let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let value = |s: &[(String, String)], name: &str| s.iter().find(|(k, _)| k == name).unwrap().1.clone();
        let standard = format!(
            "{} v1a,ignored {}",
            value(&Standard.sign(other, BODY, NOW), "webhook-signature"),
            value(&Standard.signed(), "webhook-signature")
        );
        assert_eq!(Standard.verify_signed(&with(Standard.signed(), "webhook-signature", &standard)), Ok(()));

        let real = value(&Stripe.signed(), "Stripe-Signature");
        let v1 = real.split_once(",v1=").unwrap().1;
        let stripe = format!("t={NOW},v1={},v0={},v1={v1}", "1".repeat(64), "2".repeat(64));
        assert_eq!(Stripe.verify_signed(&with(Stripe.signed(), "Stripe-Signature", &stripe)), Ok(()));
    }

    #[test]
    fn signatures_past_the_sixteenth_are_ignored() {
        let real = Standard.signed().into_iter().find(|(k, _)| k == "webhook-signature").unwrap().1;
        let decoy = format!("v1,{}", STANDARD.encode([0u8; 32]));
        let listed = |decoys: usize| format!("{} {real}", vec![decoy.as_str(); decoys].join(" "));
        assert_eq!(Standard.verify_signed(&with(Standard.signed(), "webhook-signature", &listed(15))), Ok(()));
        assert_eq!(
            Standard.verify_signed(&with(Standard.signed(), "webhook-signature", &listed(16))),
            Err(VerifyFailure::Mismatch)
        );

        let real = Stripe.signed().into_iter().find(|(k, _)| k == "Stripe-Signature").unwrap().1;
        let (t, v1) = real.split_once(',').unwrap();
        let stripe = |decoys: usize| format!("{t},{}{v1}", format!("v1={},", "0".repeat(64)).repeat(decoys));
        assert_eq!(Stripe.verify_signed(&with(Stripe.signed(), "Stripe-Signature", &stripe(15))), Ok(()));
        assert_eq!(
            Stripe.verify_signed(&with(Stripe.signed(), "Stripe-Signature", &stripe(16))),
            Err(VerifyFailure::Mismatch)
        );
    }

    /// The example published with the Standard Webhooks specification.
    #[test]
    fn the_published_standard_webhooks_example_verifies() {
        let secret = SigningSecret::parse_for(&Standard.settings(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sent = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        let settings = Standard.settings();
        assert_eq!(settings.verify(&[&secret], &sent, body, 1_614_265_330), Ok(()));
        assert_eq!(
            settings.verify(&[&secret], &sent, br#"{"test": 2432232315}"#, 1_614_265_330),
            Err(VerifyFailure::Mismatch)
        );
        let svix = [
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("svix-timestamp", "1614265330"),
            ("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        assert_eq!(settings.verify(&[&secret], &svix, body, 1_614_265_330), Ok(()), "Svix's header names");
        let bare = SigningSecret::parse_for(&settings, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(settings.verify(&[&bare], &sent, body, 1_614_265_330), Ok(()), "a bare base64 key");
    }

    /// A sender listing a signature this server cannot decode next to a good one is still verified.
    #[test]
    fn an_undecodable_entry_beside_a_good_signature_is_skipped() {
        let secret = SigningSecret::parse_for(&Standard.settings(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sent = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,c2hvcnQ= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        assert_eq!(Standard.settings().verify(&[&secret], &sent, body, 1_614_265_330), Ok(()));
        let only_bad = [sent[0], sent[1], ("webhook-signature", "v1,c2hvcnQ=")];
        let refused = Standard.settings().verify(&[&secret], &only_bad, body, 1_614_265_330);
        assert!(matches!(refused, Err(VerifyFailure::Malformed(_))), "{refused:?}");
    }

    /// The example in GitHub's "Validating webhook deliveries".
    #[test]
    fn the_published_github_example_verifies() {
        let secret = SigningSecret::from("It's a Secret to Everybody".to_owned());
        let sent = [("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")];
        assert_eq!(Github.settings().verify(&[&secret], &sent, b"Hello, World!", NOW), Ok(()));
        assert_eq!(Github.settings().verify(&[&secret], &sent, b"Hello, World?", NOW), Err(VerifyFailure::Mismatch));
    }

    /// The example in Slack's "Verifying requests from Slack" (a slash command).
    #[test]
    fn the_published_slack_example_verifies() {
        let secret = SigningSecret::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&\
                    channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&\
                    response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&\
                    trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sent = [
            ("X-Slack-Request-Timestamp", "1531420618"),
            ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
        ];
        let slack = Slack.settings();
        assert_eq!(slack.verify(&[&secret], &sent, body.as_bytes(), 1_531_420_618), Ok(()));
        assert_eq!(
            slack.verify(&[&secret], &sent, body.as_bytes(), 1_531_420_618 + 301),
            Err(VerifyFailure::StaleTimestamp { tolerance_s: 300 })
        );
    }

    #[test]
    fn an_authorization_token_may_be_bare_or_bearer() {
        let secret = SigningSecret::from("a-shared-secret".to_owned());
        let token = Bearer.settings();
        for value in ["Bearer a-shared-secret", "bearer  a-shared-secret", "a-shared-secret"] {
            assert_eq!(token.verify(&[&secret], &[("authorization", value)], b"", NOW), Ok(()), "{value}");
        }
        for value in ["Basic a-shared-secret", "Bearer a-shared-secre", "Bearer ", ""] {
            assert_eq!(
                token.verify(&[&secret], &[("Authorization", value)], b"", NOW),
                Err(VerifyFailure::Mismatch),
                "{value}"
            );
        }
        let gitlab = GitlabToken.settings();
        let bearer = [("X-Gitlab-Token", "Bearer a-shared-secret")];
        assert_eq!(
            gitlab.verify(&[&secret], &bearer, b"", NOW),
            Err(VerifyFailure::Mismatch),
            "Bearer only in Authorization"
        );
    }

    #[test]
    fn bad_settings_name_the_field() {
        let cases = [
            (json!("github"), "", "settings must be an object"),
            (json!({}), "scheme", "scheme is required"),
            (json!({"scheme": "gitlab"}), "scheme", "unknown scheme"),
            (json!({"scheme": "github", "secret": "x"}), "secret", "unknown field"),
            (json!({"scheme": "stripe", "tolerance_s": 0}), "tolerance_s", "tolerance below 1"),
            (json!({"scheme": "stripe", "tolerance_s": 604_801}), "tolerance_s", "tolerance above a week"),
            (json!({"scheme": "stripe", "tolerance_s": -5}), "tolerance_s", "negative tolerance"),
            (json!({"scheme": "stripe", "tolerance_s": "300"}), "tolerance_s", "tolerance as a string"),
            (json!({"scheme": "github", "require_url_secret": "yes"}), "require_url_secret", "not a boolean"),
            (json!({"scheme": "github", "header": "X-Hub"}), "header", "header on a fixed scheme"),
            (json!({"scheme": "standard_webhooks", "header": "X-Sig"}), "header", "header on standard webhooks"),
            (json!({"scheme": "stripe", "algorithm": "sha1"}), "algorithm", "algorithm outside hmac"),
            (json!({"scheme": "slack", "encoding": "hex"}), "encoding", "encoding outside hmac"),
            (json!({"scheme": "token", "prefix": "x"}), "prefix", "prefix outside hmac"),
            (
                json!({"scheme": "shopify", "timestamp_header": "X-T"}),
                "timestamp_header",
                "timestamp header outside hmac",
            ),
            (json!({"scheme": "github", "signed_payload": "{body}"}), "signed_payload", "template outside hmac"),
            (json!({"scheme": "token", "header": ""}), "header", "empty header name"),
            (json!({"scheme": "token", "header": "X Token"}), "header", "space in header name"),
            (json!({"scheme": "token", "header": "X-Token:"}), "header", "colon in header name"),
            (json!({"scheme": "hmac"}), "header", "hmac without header"),
            (json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "md5"}), "algorithm", "unknown algorithm"),
            (json!({"scheme": "hmac", "header": "X-Sig", "encoding": "base32"}), "encoding", "unknown encoding"),
            (json!({"scheme": "hmac", "header": "X-Sig", "prefix": "p".repeat(65)}), "prefix", "prefix too long"),
            (json!({"scheme": "hmac", "header": "X-Sig", "prefix": "sha=\n"}), "prefix", "control char in prefix"),
            (json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "payload"}), "signed_payload", "no {body}"),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "{body}.{body}"}),
                "signed_payload",
                "two {body}",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "{ts}.{body}"}),
                "signed_payload",
                "unknown placeholder",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "{body"}),
                "signed_payload",
                "unclosed brace",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "x".repeat(257) + "{body}"}),
                "signed_payload",
                "too long",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "signed_payload": "{timestamp}.{body}"}),
                "timestamp_header",
                "{timestamp} without a timestamp header",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "timestamp_header": "X-Ts"}),
                "signed_payload",
                "a timestamp header the template does not use",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "timestamp_header": "x-sig", "signed_payload": "{timestamp}{body}"}),
                "timestamp_header",
                "timestamp in the signature header",
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "timestamp_header": "X/Ts", "signed_payload": "{timestamp}{body}"}),
                "timestamp_header",
                "invalid timestamp header name",
            ),
        ];
        for (input, field, why) in cases {
            let error = VerificationSettings::parse(&input).unwrap_err();
            assert_eq!(error.field, field, "{why}: {input} gave {error}");
            assert!(
                serde_json::from_value::<VerificationSettings>(input.clone()).is_err(),
                "{why}: serde accepts {input}"
            );
        }
    }

    #[test]
    fn settings_serialize_to_the_same_shape_and_back() {
        let cases = [
            (json!({"scheme": "github"}), json!({"scheme": "github", "require_url_secret": true})),
            (json!({"scheme": "shopify", "tolerance_s": 60}), json!({"scheme": "shopify", "require_url_secret": true})),
            (
                json!({"scheme": "standard_webhooks", "require_url_secret": false}),
                json!({"scheme": "standard_webhooks", "tolerance_s": 300, "require_url_secret": false}),
            ),
            (
                json!({"scheme": "slack", "tolerance_s": 60}),
                json!({"scheme": "slack", "tolerance_s": 60, "require_url_secret": true}),
            ),
            (json!({"scheme": "stripe"}), json!({"scheme": "stripe", "tolerance_s": 300, "require_url_secret": true})),
            (
                json!({"scheme": "token"}),
                json!({"scheme": "token", "header": "Authorization", "require_url_secret": true}),
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "prefix": ""}),
                json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "sha256", "encoding": "hex",
                       "signed_payload": "{body}", "require_url_secret": true}),
            ),
            (
                json!({"scheme": "hmac", "header": "X-Sig", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=",
                       "timestamp_header": "X-Ts", "signed_payload": "{timestamp}:{body}", "tolerance_s": 90}),
                json!({"scheme": "hmac", "tolerance_s": 90, "header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
                       "prefix": "v1=", "timestamp_header": "X-Ts", "signed_payload": "{timestamp}:{body}",
                       "require_url_secret": true}),
            ),
        ];
        for (input, expected) in cases {
            let parsed = VerificationSettings::parse(&input).unwrap();
            let serialized = serde_json::to_value(&parsed).unwrap();
            assert_eq!(serialized, expected, "{input}");
            assert_eq!(VerificationSettings::parse(&serialized).unwrap(), parsed, "{input}");
            assert_eq!(serde_json::from_value::<VerificationSettings>(input.clone()).unwrap(), parsed, "{input}");
        }
    }

    #[test]
    fn accessors_report_the_settings() {
        let settings = settings(json!({"scheme": "slack", "require_url_secret": false}));
        assert_eq!(settings.scheme(), Scheme::Slack);
        assert!(!settings.require_url_secret());
        assert!(Github.settings().require_url_secret());
        let schemes = ALL.map(|sender| sender.settings().scheme());
        assert_eq!(
            schemes,
            [
                Scheme::StandardWebhooks,
                Scheme::Github,
                Scheme::Stripe,
                Scheme::Slack,
                Scheme::Shopify,
                Scheme::Token,
                Scheme::Token,
                Scheme::Hmac,
                Scheme::Hmac
            ]
        );
    }

    #[test]
    fn delivery_ids_come_from_where_each_sender_puts_them() {
        let json = br#"{"id":"evt_1","event_id":"Ev1"}"#;
        let form = b"token=x&command=%2Fdeploy";
        let slack_headers = [("X-Slack-Request-Timestamp", "1531420618"), ("X-Slack-Signature", "v0=abc")];
        /// Sender, headers, body, expected id.
        type Case<'a> = (Sender, &'a [(&'a str, &'a str)], &'a [u8], Option<&'a str>);
        let cases: &[Case] = &[
            (Standard, &[("webhook-id", "msg_1")], b"", Some("msg_1")),
            (Standard, &[("svix-id", "msg_2")], b"", Some("msg_2")),
            (Standard, &[], b"", None),
            (
                Github,
                &[("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")],
                b"",
                Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ),
            (
                Shopify,
                &[("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")],
                b"",
                Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
            ),
            (Stripe, &[], json, Some("evt_1")),
            (Stripe, &[], br#"{"id":42}"#, None),
            (Stripe, &[], b"not json", None),
            (Slack, &slack_headers, json, Some("Ev1")),
            (Slack, &slack_headers, form, Some("1531420618:v0=abc")),
            (Slack, &slack_headers[..1], form, None),
            (Bearer, &[("Idempotency-Key", "k1")], json, None),
            (HmacSha1, &[("webhook-id", "msg_1")], json, None),
            (Github, &[("X-GitHub-Delivery", "")], b"", None),
            (Github, &[("X-GitHub-Delivery", &"d".repeat(257))], b"", None),
        ];
        for (sender, headers, body, expected) in cases {
            let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let id = sender.settings().delivery_id(&headers, body);
            assert_eq!(id.as_deref(), *expected, "{sender:?} {headers:?}");
        }
    }

    #[test]
    fn the_idempotency_key_header_is_a_fallback_id() {
        assert_eq!(idempotency_key(&[("idempotency-key", " order-7 ")]).as_deref(), Some("order-7"));
        assert_eq!(idempotency_key(&[("Idempotency-Key", "")]), None);
        assert_eq!(idempotency_key(&[("Idempotency-Key", "a\u{7}b")]), None);
        assert_eq!(idempotency_key(&[("X-Other", "x")]), None);
    }

    #[test]
    fn generated_secrets_suit_the_scheme_and_verify_their_own_signatures() {
        for sender in ALL {
            let settings = sender.settings();
            let secret = settings.generate_secret();
            let value = secret.expose();
            assert_eq!(SigningSecret::parse_for(&settings, value), Ok(secret.clone()), "{sender:?}");
            assert_ne!(settings.generate_secret(), secret, "{sender:?}");
            let form_ok = match settings.scheme() {
                Scheme::StandardWebhooks => {
                    STANDARD.decode(&value[6..]).is_ok_and(|key| key.len() == 24) && value.starts_with("whsec_")
                }
                Scheme::Stripe => {
                    value.len() == 38
                        && value[6..].bytes().all(|b| b.is_ascii_alphanumeric())
                        && value.starts_with("whsec_")
                }
                Scheme::Token => URL_SAFE_NO_PAD.decode(value).is_ok_and(|bytes| bytes.len() == 32),
                _ => hex::decode(value).is_ok_and(|bytes| bytes.len() == 32),
            };
            assert!(form_ok, "{sender:?}: {value}");
            let signed = sender.sign(value, BODY, NOW);
            assert_eq!(settings.verify(&[&secret], &signed, BODY, NOW), Ok(()), "{sender:?}");
        }
    }

    #[test]
    fn signing_secrets_are_checked_for_the_scheme() {
        let long = "s".repeat(513);
        let cases: &[(Sender, &str, bool)] = &[
            (Github, "It's a Secret to Everybody", true),
            (Github, "", false),
            (Github, &long, false),
            (Github, "line\nbreak", false),
            (Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true),
            (Standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true),
            (Standard, "whsec_not base64", false),
            (Standard, "whsec_AAAA", false),
            (Stripe, "whsec_anything_goes", true),
            (Bearer, "token-1", true),
            (Bearer, " token-1", false),
            (Bearer, "tökén", false),
        ];
        for (sender, raw, ok) in cases {
            let parsed = SigningSecret::parse_for(&sender.settings(), raw);
            assert_eq!(parsed.is_ok(), *ok, "{sender:?} {raw:?}: {parsed:?}");
            if let Err(error) = parsed {
                assert_eq!(error.field, "", "the caller names the field");
                assert!(raw.is_empty() || !error.message.contains(raw), "the message does not echo the secret");
            }
        }
    }

    #[test]
    fn signing_secrets_are_redacted_and_stored_as_strings() {
        let secret = SigningSecret::from("It's a Secret to Everybody".to_owned());
        assert_eq!(format!("{secret:?}"), "SigningSecret(<redacted>)");
        assert_eq!(serde_json::to_value(&secret).unwrap(), json!("It's a Secret to Everybody"));
        let stored: SigningSecret = serde_json::from_value(json!("It's a Secret to Everybody")).unwrap();
        assert_eq!(stored, secret);
        assert_eq!(stored.expose(), "It's a Secret to Everybody");
    }
}
