//! Signing deliveries the Standard Webhooks way (<https://www.standardwebhooks.com/>): the
//! headers `webhook-id`, `webhook-timestamp` (whole seconds since the epoch) and
//! `webhook-signature`, which holds `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`,
//! keyed with the secret's base64-decoded bytes. Receivers verify with any of the
//! specification's libraries, or with the few lines the README shows.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// What every signing secret starts with, as Standard Webhooks prescribes.
const PREFIX: &str = "whsec_";

/// Random bytes in a new secret: the specification asks for 24 to 64.
const SECRET_BYTES: usize = 32;

/// A subscription's signing secret, `whsec_` and the base64 of 32 random bytes. Shown once at
/// creation (and at each rotation), never logged: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

/// Why a stored secret cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is `whsec_` and the base64 of 24 to 64 bytes")]
pub struct InvalidSecret;

impl WebhookSecret {
    /// Draws a new secret from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(WebhookSecret {
            text: format!("{PREFIX}{}", BASE64.encode(bytes)),
            key: bytes.to_vec(),
        })
    }

    /// Reads a secret back (from the database, or a test vector).
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let key = BASE64.decode(encoded).map_err(|_| InvalidSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(InvalidSecret);
        }
        Ok(WebhookSecret {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as the subscriber stores it, to show them once.
    pub fn reveal(&self) -> &str {
        &self.text
    }

    /// `v1,` and the base64 HMAC-SHA256 of `{message_id}.{timestamp}.{body}`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

/// The `webhook-signature` header: one signature per secret, separated by spaces, so that during
/// a rotation receivers holding either secret can verify.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example the Standard Webhooks specification publishes (and its reference libraries
    /// test against). Recomputed independently with Python:
    /// `base64.b64encode(hmac.new(base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    /// b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', hashlib.sha256).digest())`
    /// gives `g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`.
    #[test]
    fn signs_the_specifications_example_as_published() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn any_change_to_the_id_time_or_body_changes_the_signature() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let reference = secret.sign("msg_1", 1, b"{}");
        assert_ne!(secret.sign("msg_2", 1, b"{}"), reference);
        assert_ne!(secret.sign("msg_1", 2, b"{}"), reference);
        assert_ne!(secret.sign("msg_1", 1, b"{ }"), reference);
    }

    #[test]
    fn new_secrets_are_distinct_well_formed_and_read_back() {
        let (a, b) = (
            WebhookSecret::generate().unwrap(),
            WebhookSecret::generate().unwrap(),
        );
        assert_ne!(a, b);
        assert!(a.reveal().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(a.reveal()).unwrap(), a);
        assert_eq!(a.key.len(), 32);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for text in [
            "",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
        ] {
            assert_eq!(WebhookSecret::parse(text), Err(InvalidSecret), "{text}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = WebhookSecret::generate().unwrap();
        let debug = format!("{secret:?}");
        assert!(!debug.contains(&secret.reveal()[6..]), "{debug}");
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let old = WebhookSecret::generate().unwrap();
        let new = WebhookSecret::generate().unwrap();
        let header = signature_header(&[&new, &old], "msg_1", 7, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [new.sign("msg_1", 7, b"{}"), old.sign("msg_1", 7, b"{}")]
        );
    }
}
