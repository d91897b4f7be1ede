//! Sites: the websites a collector serves, each with a public key and the browser origins that
//! may post to it.

use std::fmt;
use touchstone_shared::SiteKey;

/// A registered website.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The database id, used only inside the collector.
    pub id: i64,
    /// The public key from the script tag.
    pub key: SiteKey,
    /// A human name, for listings.
    pub name: String,
    /// The browser origins whose pages may post answers for this site.
    pub origins: Vec<Origin>,
}

impl Site {
    /// Whether a browser request from `origin` (the `Origin` header's value) may post for this
    /// site.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed.as_str() == origin)
    }
}

/// A web origin, `scheme://host[:port]`, normalised the way browsers send it in the `Origin`
/// header: lower case, no trailing slash, no default port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

/// Why a text is not an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an origin: expected http(s)://host[:port], without a path")]
pub struct OriginError(pub String);

impl Origin {
    /// Parses and normalises `text`, e.g. `https://Shop.Example:443/` becomes
    /// `https://shop.example`.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let error = || OriginError(text.to_owned());
        let lower = text.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, authority) = lower.split_once("://").ok_or_else(error)?;
        let default_port = match scheme {
            "http" => ":80",
            "https" => ":443",
            _ => return Err(error()),
        };
        let host_ok = |host: &str| {
            !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
                })
        };
        if !host_ok(authority) || authority.len() > 253 {
            return Err(error());
        }
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        Ok(Origin(format!("{scheme}://{authority}")))
    }

    /// The normalised origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_like_browsers_send_them() {
        assert_eq!(
            Origin::parse("https://Shop.Example/").unwrap().as_str(),
            "https://shop.example"
        );
        assert_eq!(
            Origin::parse("https://shop.example:443").unwrap().as_str(),
            "https://shop.example"
        );
        assert_eq!(
            Origin::parse("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            Origin::parse("http://[::1]:3000").unwrap().as_str(),
            "http://[::1]:3000"
        );
    }

    #[test]
    fn things_that_are_not_origins_are_refused() {
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example/path",
            "https://a b",
            "null",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_site_allows_only_its_own_origins() {
        let site = Site {
            id: 1,
            key: SiteKey::parse("demo").unwrap(),
            name: "Demo".into(),
            origins: vec![Origin::parse("https://shop.example").unwrap()],
        };
        assert!(site.allows_origin("https://shop.example"));
        assert!(!site.allows_origin("https://evil.example"));
        assert!(!site.allows_origin("null"));
    }
}
