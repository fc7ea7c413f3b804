//! Webhook secrets: the only credential a trigger webhook accepts.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

const SECRET_BYTES: usize = 32;
/// 32 bytes in unpadded base64.
pub const SECRET_LEN: usize = 43;

/// 32 bytes from the OS CSPRNG, URL-safe base64 without padding.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct WebhookSecret {
    value: String,
    /// Digested once, so that a webhook call digests only what it was given.
    digest: [u8; 32],
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

impl From<String> for WebhookSecret {
    fn from(value: String) -> Self {
        Self { digest: digest(value.as_bytes()), value }
    }
}

impl From<WebhookSecret> for String {
    fn from(secret: WebhookSecret) -> Self {
        secret.value
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for WebhookSecret {}

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Constant-time in the length of the stored secret, whatever the candidate holds.
    pub fn matches(&self, candidate: &str) -> bool {
        // Comparing equal-length digests keeps the timing independent of where the inputs differ
        // and of the candidate's length.
        self.digest.ct_eq(&digest(candidate.as_bytes())).into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_43_url_safe_chars_and_distinct() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        assert_eq!(a.expose().len(), SECRET_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn matches_only_the_exact_secret() {
        let s = WebhookSecret::generate();
        assert!(s.matches(s.expose()));
        assert!(!s.matches(""));
        assert!(!s.matches(&s.expose()[1..]));
        assert!(!s.matches(&format!("{}x", s.expose())));
        assert!(!format!("{s:?}").contains(s.expose()));
        let stored: WebhookSecret = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), serde_json::json!(s.expose()), "stored as the string");
        assert!(stored.matches(s.expose()) && !stored.matches(&s.expose()[1..]), "the digest is rebuilt on load");
    }
}
