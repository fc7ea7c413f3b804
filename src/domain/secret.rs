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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time in the length of the stored secret, whatever the candidate holds.
    pub fn matches(&self, candidate: &str) -> bool {
        // Comparing equal-length digests keeps the timing independent of where the inputs differ
        // and of the candidate's length.
        use sha2::{Digest, Sha256};
        let expected = Sha256::digest(self.0.as_bytes());
        let given = Sha256::digest(candidate.as_bytes());
        expected.ct_eq(&given).into()
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
    }
}
