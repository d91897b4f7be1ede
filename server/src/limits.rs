//! Rate limits for the collect endpoint: a token bucket per site, so one flooded site is turned
//! away at the door instead of filling the write queue the other sites share, and one per site
//! and client address, so one noisy client cannot use up its site's allowance.
//!
//! Client addresses are held only in memory, only as bucket keys, and forgotten once idle; they
//! are never stored or logged. Behind a reverse proxy, `X-Forwarded-For` names the client, but
//! only when the connection comes from a configured trusted proxy: anyone can write that header.

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Requests per second and burst sizes.
#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    /// Collect requests per second one site may send, across all its visitors.
    pub site_per_second: NonZeroU32,
    /// Collect requests per second one client address may send to one site.
    pub client_per_second: NonZeroU32,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            site_per_second: NonZeroU32::new(2_000).unwrap(),
            client_per_second: NonZeroU32::new(20).unwrap(),
        }
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// The buckets.
#[derive(Debug)]
pub struct RateLimits {
    sites: Keyed<i64>,
    clients: Keyed<(i64, IpAddr)>,
    clock: DefaultClock,
}

impl RateLimits {
    /// Buckets that refill at the given rates and hold a burst of two seconds' worth.
    pub fn new(settings: RateSettings) -> Self {
        let quota = |per_second: NonZeroU32| {
            Quota::per_second(per_second)
                .allow_burst(per_second.saturating_mul(NonZeroU32::new(2).unwrap()))
        };
        RateLimits {
            sites: RateLimiter::keyed(quota(settings.site_per_second)),
            clients: RateLimiter::keyed(quota(settings.client_per_second)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from the client's and the site's buckets, or says how long to wait.
    pub fn check(&self, site_id: i64, client: Option<IpAddr>) -> Result<(), Duration> {
        if let Some(client) = client {
            self.clients
                .check_key(&(site_id, client))
                .map_err(|refused| refused.wait_time_from(self.clock.now()))?;
        }
        self.sites
            .check_key(&site_id)
            .map_err(|refused| refused.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of clients and sites that have been quiet long enough to be full again.
    pub fn forget_idle(&self) {
        self.clients.retain_recent();
        self.clients.shrink_to_fit();
        self.sites.retain_recent();
    }
}

/// The reverse proxies whose `X-Forwarded-For` header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies at these addresses or networks (e.g. `10.0.0.0/8`, `127.0.0.1/32`).
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address: the peer itself, unless the peer is a trusted proxy; then the last
    /// address in `X-Forwarded-For` that is not a trusted proxy (addresses further left were
    /// written by the client and prove nothing).
    pub fn client_address(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<IpAddr> {
        let mut client = peer?;
        if !self.trusts(client) {
            return Some(client);
        }
        for hop in forwarded_for
            .into_iter()
            .flat_map(|header| header.rsplit(','))
        {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_gets_a_burst_then_must_wait() {
        let limits = RateLimits::new(RateSettings {
            site_per_second: NonZeroU32::new(1000).unwrap(),
            client_per_second: NonZeroU32::new(5).unwrap(),
        });
        let client = Some(ip("203.0.113.7"));
        for _ in 0..10 {
            assert!(limits.check(1, client).is_ok());
        }
        let wait = limits.check(1, client).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another client of the same site, and the same client on another site, are unaffected.
        assert!(limits.check(1, Some(ip("203.0.113.8"))).is_ok());
        assert!(limits.check(2, client).is_ok());
    }

    #[test]
    fn a_flooded_site_does_not_touch_another_sites_allowance() {
        let limits = RateLimits::new(RateSettings {
            site_per_second: NonZeroU32::new(3).unwrap(),
            client_per_second: NonZeroU32::new(1000).unwrap(),
        });
        for n in 0..6 {
            assert!(limits.check(1, Some(IpAddr::from([10, 0, 0, n]))).is_ok());
        }
        assert!(limits.check(1, Some(ip("10.0.1.1"))).is_err());
        assert!(limits.check(2, Some(ip("10.0.1.1"))).is_ok());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let header = Some("198.51.100.1, 203.0.113.9, 10.0.0.2");
        // From a proxy: the last hop that is not a proxy.
        assert_eq!(
            proxies.client_address(Some(ip("10.0.0.1")), header),
            Some(ip("203.0.113.9"))
        );
        // From anyone else: the header is ignored.
        assert_eq!(
            proxies.client_address(Some(ip("203.0.113.50")), header),
            Some(ip("203.0.113.50"))
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            proxies.client_address(Some(ip("10.0.0.1")), Some("nonsense")),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(TrustedProxies::default().client_address(None, header), None);
    }
}
