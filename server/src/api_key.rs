//! API keys: random secrets handed to marketers once, stored only as SHA-256 hashes, each with a
//! scope ([`KeyScope`]) that says what it may do on its one site.
//!
//! The keys carry 160 random bits, so a fast hash is enough: there is nothing to brute-force that
//! a slow password hash would protect.

use sha2::{Digest, Sha256};
use std::fmt;

/// What every key starts with, so leaked keys are easy to recognise and scan for.
const PREFIX: &str = "tsk_";

/// A secret API key in clear text. Shown once, never logged: its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// The SHA-256 of an API key, hex-encoded: the only form the database holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl ApiKey {
    /// Makes a new random key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 20];
        getrandom::fill(&mut bytes)?;
        Ok(ApiKey(format!("{PREFIX}{}", hex::encode(bytes))))
    }

    /// Takes a key a client presented. Anything is accepted; a wrong key simply matches no hash.
    pub fn presented(text: &str) -> Self {
        ApiKey(text.to_owned())
    }

    /// The key in clear text, to show the operator once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The first characters, enough to tell keys apart in a listing without revealing them.
    pub fn prefix(&self) -> &str {
        self.0.get(..PREFIX.len() + 6).unwrap_or(&self.0)
    }

    /// The hash stored in, and looked up from, the database.
    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

/// What a key lets its holder do on its one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// Read reports.
    Read,
    /// Everything `Read` may, and export and erase what is held about a respondent.
    Admin,
}

impl KeyScope {
    /// The name stored and shown: `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Admin => "admin",
        }
    }

    /// The scope named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(KeyScope::Read),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }

    /// Whether this scope allows what `needed` allows.
    pub fn covers(self, needed: KeyScope) -> bool {
        self == KeyScope::Admin || needed == KeyScope::Read
    }
}

impl KeyHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_recognisable() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.reveal().starts_with("tsk_"));
        assert_eq!(a.reveal().len(), 4 + 40);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = ApiKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains(key.reveal()), "{debug}");
        assert!(debug.contains(key.prefix()));
    }

    #[test]
    fn admin_covers_read_but_not_the_other_way_round() {
        assert!(KeyScope::Admin.covers(KeyScope::Read));
        assert!(KeyScope::Admin.covers(KeyScope::Admin));
        assert!(KeyScope::Read.covers(KeyScope::Read));
        assert!(!KeyScope::Read.covers(KeyScope::Admin));
        for scope in [KeyScope::Read, KeyScope::Admin] {
            assert_eq!(KeyScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(KeyScope::parse("root"), None);
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_key() {
        // sha256("tsk_test") computed independently with `printf tsk_test | sha256sum`.
        let key = ApiKey::presented("tsk_test");
        assert_eq!(
            key.hash().as_str(),
            "dff5172bbcc8f2561a0ca6868731919ee79043cc43ca7db36e9a2d3744096803"
        );
    }
}
