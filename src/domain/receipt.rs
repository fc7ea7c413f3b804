//! Receipts: what a trigger webhook call brought and what it was answered, for the inspector and replay.
//! Credentials never reach a receipt: the URL secret, `Authorization`, `Cookie`, `Proxy-Authorization`
//! and a token scheme's header are stored as [`REDACTED`].

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{InstanceId, ReceiptId, SystemId};

/// What replaces a credential wherever a call is shown.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are credentials whatever the trigger.
pub const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    Utf8,
    Base64,
}

/// How the call's signature fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationOutcome {
    /// The trigger has no `webhook_verification`.
    NotConfigured,
    Verified,
    Failed,
    /// A replay: an admin vouched for the call.
    Skipped,
    /// The call was refused before its signature was checked.
    NotChecked,
}

/// The module a call asked to run, as it asked, and how that went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecRecord {
    /// `mod` as given (`Display` or `Display_2`).
    pub module: String,
    /// `index` as given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub method: String,
    /// The driver's status, when it ran.
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// `rcpt-…`
    pub id: ReceiptId,
    pub trigger_instance: InstanceId,
    pub system_id: SystemId,
    /// Epoch milliseconds.
    pub received_at: u64,
    pub method: String,
    /// The path with a secret segment replaced.
    pub path: String,
    /// The query with secret values replaced.
    pub query: String,
    /// Lowercase names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub remote_addr: Option<String>,
    /// The first `receipts.max_body_bytes` of the body.
    pub body: String,
    pub body_encoding: BodyEncoding,
    pub body_truncated: bool,
    /// The whole body's length.
    pub body_size: usize,
    pub verification: VerificationOutcome,
    /// Why verification failed (never the expected value).
    pub verification_error: Option<String>,
    pub delivery_id: Option<String>,
    pub duplicate: bool,
    pub filtered: bool,
    /// The status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error: Option<String>,
    pub fired: bool,
    pub exec: Option<ExecRecord>,
    pub request_id: String,
    pub replay_of: Option<ReceiptId>,
}

impl Receipt {
    /// The stored body as bytes again, for a replay.
    pub fn body_bytes(&self) -> Vec<u8> {
        match self.body_encoding {
            BodyEncoding::Utf8 => self.body.clone().into_bytes(),
            BodyEncoding::Base64 => STANDARD.decode(&self.body).unwrap_or_default(),
        }
    }
}

/// The first `limit` bytes of a body in the form a receipt keeps: text when it is UTF-8 (cut at a
/// character boundary), base64 otherwise.
pub fn keep_body(body: &[u8], limit: usize) -> (String, BodyEncoding, bool) {
    let truncated = body.len() > limit;
    let kept = &body[..body.len().min(limit)];
    match std::str::from_utf8(kept) {
        Ok(text) => (text.to_owned(), BodyEncoding::Utf8, truncated),
        // A cut through a multi-byte character: keep the text before it.
        Err(e) if e.error_len().is_none() && truncated => {
            let text = String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned();
            (text, BodyEncoding::Utf8, true)
        }
        Err(_) => (STANDARD.encode(kept), BodyEncoding::Base64, truncated),
    }
}

/// Which receipts a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFilter {
    pub status: Option<u16>,
    pub fired: Option<bool>,
    /// Received at or after, epoch milliseconds.
    pub since: Option<u64>,
}

impl ReceiptFilter {
    pub fn admits(&self, r: &Receipt) -> bool {
        self.status.is_none_or(|s| s == r.status)
            && self.fired.is_none_or(|f| f == r.fired)
            && self.since.is_none_or(|t| r.received_at >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kept_as_text_or_base64_and_cut_at_the_limit() {
        assert_eq!(keep_body(b"{\"a\":1}", 100), ("{\"a\":1}".into(), BodyEncoding::Utf8, false));
        assert_eq!(keep_body(b"abcdef", 3), ("abc".into(), BodyEncoding::Utf8, true));
        // "é" is two bytes: a cut through it keeps the text before it.
        assert_eq!(keep_body("aé".as_bytes(), 2), ("a".into(), BodyEncoding::Utf8, true));
        let (text, encoding, truncated) = keep_body(&[0xff, 0x00, 0x01], 100);
        assert_eq!((encoding, truncated), (BodyEncoding::Base64, false));
        assert_eq!(STANDARD.decode(text).unwrap(), vec![0xff, 0x00, 0x01]);
    }
}
