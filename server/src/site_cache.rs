//! A short-lived memory of sites by key, so the collect endpoint does not ask the database about
//! the same site on every request. Unknown keys are remembered too, so a flood of made-up keys
//! costs one query per key per interval, not one per request.
//!
//! Entries live for [`SiteCache::TTL`]: a new origin registered with the CLI, possibly through
//! another collector, is honoured within that time.

use crate::site::Site;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use touchstone_shared::SiteKey;

/// Sites by public key, each remembered for a few seconds.
#[derive(Debug, Default)]
pub struct SiteCache {
    entries: Mutex<HashMap<SiteKey, Entry>>,
}

/// What the store said about a key, and when.
#[derive(Debug)]
struct Entry {
    fetched: Instant,
    /// `None`: no site has this key.
    site: Option<Arc<Site>>,
}

impl SiteCache {
    /// How long an answer is trusted.
    pub const TTL: Duration = Duration::from_secs(10);
    /// Entries kept at most; beyond that the cache starts afresh rather than grow.
    const CAPACITY: usize = 10_000;

    /// The site with `key`, from memory when fresh, else from the store.
    pub async fn site(
        &self,
        store: &dyn Store,
        key: &SiteKey,
    ) -> Result<Option<Arc<Site>>, StoreError> {
        if let Some(entry) = self.entries.lock().expect("site cache lock").get(key)
            && entry.fetched.elapsed() < Self::TTL
        {
            return Ok(entry.site.clone());
        }
        let site = store.site(key).await?.map(Arc::new);
        let mut entries = self.entries.lock().expect("site cache lock");
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(
            key.clone(),
            Entry {
                fetched: Instant::now(),
                site: site.clone(),
            },
        );
        Ok(site)
    }
}
