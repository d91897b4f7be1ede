//! The dispatcher: one background task per collector that turns stored answers into deliveries
//! and sends them.
//!
//! Each cycle (every `poll`, or at once when this collector has just stored answers of a watched
//! site):
//! 1. **Watch**: reads which sites have active subscriptions, so the collect path can tell, from
//!    memory, whether a batch's answers go to the webhook inbox.
//! 2. **Route**: reads the inbox, matches each answer against its site's active subscriptions
//!    (the filters in Rust, with the answer's journey and traits read from the events), and in
//!    one transaction takes the answers out of the inbox and puts a delivery per match in the
//!    outbox, payload and `webhook-id` included.
//! 3. **Send**: leases due deliveries (at most as many as it has free senders), signs and posts
//!    each one in its own task, and records the attempt: delivered, retried later, or given up.
//!
//! Nothing lives only in memory: a collector that stops or dies leaves its work in the tables,
//! where it (or another collector on the same PostgreSQL) finds it, the leases of deliveries it
//! was sending running out after `lease`. Deliveries are therefore *at least once*: a collector
//! killed after the receiver answered but before it recorded the answer sends again. Receivers
//! drop repeats by `webhook-id`, which every attempt of a delivery shares.

use super::payload::{self, ANSWER_EVENT, TEST_EVENT};
use super::schedule::{self, RetryPolicy, millis};
use super::signature::signature_header;
use crate::error::cause_chain;
use crate::metrics::metrics;
use crate::store::{
    AfterAttempt, Attempt, LeasedDelivery, NewDelivery, Store, StoreError, Webhook, now_millis,
};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// What deliveries say they come from.
pub const USER_AGENT: &str = concat!("Touchstone-Webhooks/", env!("CARGO_PKG_VERSION"));

/// How long a receiver has to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole attempt may take, the receiver's answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a receiver's answer kept in the log.
const EXCERPT_BYTES: usize = 256;
/// Answers routed per transaction.
const ROUTE_CHUNK: i64 = 100;
/// How often finished deliveries past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How the dispatcher works; `touchstone serve` takes each as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchSettings {
    /// How often it looks for work when nothing wakes it.
    pub poll: Duration,
    /// When failed deliveries are tried again, and when given up.
    pub retry: RetryPolicy,
    /// Deliveries sent at once.
    pub concurrency: usize,
    /// How long a collector holds a delivery it is sending; another may send it after that.
    pub lease: Duration,
    /// How long finished deliveries (and their log) are kept.
    pub retention: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            poll: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            concurrency: 8,
            lease: Duration::from_secs(60),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Which sites have active subscriptions, known from memory on the collect path, and the bell
/// that wakes the dispatcher when answers of theirs were stored.
#[derive(Debug, Default)]
pub struct Watch {
    sites: RwLock<Watched>,
    bell: Notify,
}

#[derive(Debug, Default)]
struct Watched {
    /// The sites whose answers go to the inbox.
    sites: HashSet<i64>,
    /// Sites this collector started watching itself, and when: kept through refreshes for a
    /// while, since a refresh that read the database just before the subscription was committed
    /// would otherwise drop them.
    recent: HashMap<i64, Instant>,
}

/// How long a site watched through this collector stays watched whatever refreshes say.
const RECENT: Duration = Duration::from_secs(10);

impl Watch {
    /// Whether the site has an active subscription (as of the dispatcher's last look, or a
    /// subscription made through this collector since).
    pub fn is_watched(&self, site_id: i64) -> bool {
        self.sites
            .read()
            .expect("watch lock")
            .sites
            .contains(&site_id)
    }

    /// Starts watching a site at once: a subscription was made or resumed through this
    /// collector. (Through another, or the CLI, it takes until the next cycle.)
    pub fn watch(&self, site_id: i64) {
        let mut watched = self.sites.write().expect("watch lock");
        watched.sites.insert(site_id);
        watched.recent.insert(site_id, Instant::now());
    }

    /// Wakes the dispatcher: answers of a watched site were stored, or a delivery was queued.
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    /// Reads which sites have active subscriptions. The collector does this before it serves,
    /// so no answer of a watched site stored after a restart misses the inbox.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let sites = store.watched_sites().await?;
        self.replace(sites.into_iter().collect());
        Ok(())
    }

    fn replace(&self, mut sites: HashSet<i64>) {
        let mut watched = self.sites.write().expect("watch lock");
        watched.recent.retain(|_, since| since.elapsed() < RECENT);
        sites.extend(watched.recent.keys().copied());
        watched.sites = sites;
    }
}

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("building the webhook HTTP client")]
pub struct ClientError(#[from] reqwest::Error);

/// The running dispatcher. [`Dispatcher::finish`] stops it.
#[derive(Debug)]
pub struct Dispatcher {
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl Dispatcher {
    /// Starts the dispatcher on the current Tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        watch: Arc<Watch>,
        settings: DispatchSettings,
    ) -> Result<Self, ClientError> {
        let client = http_client()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(store, watch, settings, client, stopped));
        Ok(Dispatcher { task, stop })
    }

    /// Takes no more work, lets the deliveries being sent finish (each within the 10-second
    /// request limit) and records them, then returns.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the webhook dispatcher failed");
        }
    }
}

/// The client every delivery goes through: 5 s to connect, 10 s in all, redirects not followed
/// (a receiver that moved must be updated, not followed blindly), HTTPS through rustls.
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // rustls takes its cryptography from a process-wide provider; this build carries `ring`.
    // Installing fails harmlessly when it is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
}

async fn run(
    store: Arc<dyn Store>,
    watch: Arc<Watch>,
    settings: DispatchSettings,
    client: reqwest::Client,
    mut stopped: oneshot::Receiver<()>,
) {
    let senders = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut sending = JoinSet::new();
    let mut next_prune = Instant::now();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = tokio::time::sleep(settings.poll) => {}
            () = watch.bell.notified() => {}
        }
        while let Some(sent) = sending.try_join_next() {
            if let Err(error) = sent {
                tracing::error!(%error, "a webhook delivery task failed");
            }
        }
        let work = Cycle {
            store: &store,
            watch: &watch,
            settings: &settings,
            client: &client,
        };
        if let Err(error) = work.run(&senders, &mut sending).await {
            tracing::warn!(error = %cause_chain(&error), "webhook dispatch failed; trying again next cycle");
        }
        if next_prune <= Instant::now() {
            next_prune = Instant::now() + PRUNE_EVERY;
            let before = now_millis() - millis(settings.retention);
            match store.prune_deliveries(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(
                    pruned,
                    "deleted finished webhook deliveries past their retention"
                ),
                Err(error) => {
                    tracing::warn!(error = %cause_chain(&error), "pruning webhook deliveries failed")
                }
            }
        }
    }
    // What is being sent finishes and is recorded; what is not leased yet stays for the next
    // collector to start.
    while sending.join_next().await.is_some() {}
}

/// One pass over the work.
struct Cycle<'a> {
    store: &'a Arc<dyn Store>,
    watch: &'a Watch,
    settings: &'a DispatchSettings,
    client: &'a reqwest::Client,
}

impl Cycle<'_> {
    async fn run(
        &self,
        senders: &Arc<Semaphore>,
        sending: &mut JoinSet<()>,
    ) -> Result<(), StoreError> {
        self.watch.refresh(self.store.as_ref()).await?;
        while self.route().await? == ROUTE_CHUNK as usize {}
        self.send(senders, sending).await
    }

    /// Routes one chunk of the inbox; returns how many answers it took.
    async fn route(&self) -> Result<usize, StoreError> {
        let store = self.store.as_ref();
        let claimed = store.inbox(ROUTE_CHUNK).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = now_millis();
        let mut subscriptions: HashMap<i64, Vec<Webhook>> = HashMap::new();
        let mut deliveries = Vec::new();
        for &(site_id, event_id) in &claimed {
            let webhooks = match subscriptions.entry(site_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(store.active_webhooks(site_id).await?),
            };
            let Some(window) = webhooks
                .iter()
                .map(|webhook| webhook.settings.filters.window().millis())
                .max()
            else {
                continue;
            };
            // Gone (erased) answers leave the inbox with nothing to deliver.
            let Some(answer) = store.answer_context(site_id, event_id, window).await? else {
                continue;
            };
            for webhook in webhooks {
                let settings = &webhook.settings;
                if !settings.filters.matches(&answer) {
                    continue;
                }
                deliveries.push(NewDelivery {
                    subscription_id: webhook.id,
                    site_id,
                    event_id,
                    event_type: ANSWER_EVENT,
                    message_id: message_id(event_id, webhook.id),
                    payload: payload::answer(
                        settings.format,
                        &answer,
                        settings.filters.window().millis(),
                        now,
                    ),
                    created_at: now,
                });
            }
        }
        let made = store.enqueue_deliveries(&claimed, &deliveries).await?;
        metrics().webhook_queued.inc_by(made);
        if made > 0 {
            tracing::debug!(
                answers = claimed.len(),
                deliveries = made,
                "routed answers to webhooks"
            );
        }
        Ok(claimed.len())
    }

    /// Leases as many due deliveries as there are free senders and sends each in its own task.
    async fn send(
        &self,
        senders: &Arc<Semaphore>,
        sending: &mut JoinSet<()>,
    ) -> Result<(), StoreError> {
        let free = senders.available_permits();
        let now = now_millis();
        if free == 0 || !self.store.has_due_deliveries(now).await? {
            return Ok(());
        }
        let token = random_u64() as i64;
        let leased = self
            .store
            .lease_deliveries(now, now + millis(self.settings.lease), token, free as i64)
            .await?;
        for delivery in leased {
            let Ok(sender) = senders.clone().try_acquire_owned() else {
                // Cannot happen (no more were leased than there were free senders); the lease
                // runs out and the delivery is sent later.
                break;
            };
            let (store, client, retry) =
                (self.store.clone(), self.client.clone(), self.settings.retry);
            sending.spawn(async move {
                deliver(store.as_ref(), &client, retry, delivery, token).await;
                drop(sender);
            });
        }
        Ok(())
    }
}

/// The `webhook-id` of the delivery of `event_id` to subscription `subscription_id`: the same
/// for every attempt, different for every subscription.
pub fn message_id(event_id: uuid::Uuid, subscription_id: i64) -> String {
    format!("msg_{}_{subscription_id}", event_id.simple())
}

/// Makes a test delivery for `webhook` of the site `site_key`, due at once; returns its id.
pub async fn queue_test(
    store: &dyn Store,
    watch: &Watch,
    site_key: &str,
    webhook: &Webhook,
) -> Result<i64, StoreError> {
    let now = now_millis();
    let event_id = uuid::Uuid::from_u128(u128::from(random_u64()) << 64 | u128::from(random_u64()));
    let id = store
        .add_delivery(&NewDelivery {
            subscription_id: webhook.id,
            site_id: webhook.site_id,
            event_id,
            event_type: TEST_EVENT,
            message_id: message_id(event_id, webhook.id),
            payload: payload::test(webhook.settings.format, site_key, webhook.id, now),
            created_at: now,
        })
        .await?;
    metrics().webhook_queued.inc();
    watch.ring();
    Ok(id)
}

/// Sends one leased delivery and records what happened.
async fn deliver(
    store: &dyn Store,
    client: &reqwest::Client,
    retry: RetryPolicy,
    delivery: LeasedDelivery,
    token: i64,
) {
    let number = delivery.attempts + 1;
    let at = now_millis();
    let started = Instant::now();
    // Whole seconds, as Standard Webhooks has it; receivers refuse stale timestamps, so the
    // signature is made for this attempt, not stored.
    let timestamp = at.div_euclid(1000);
    let secrets: Vec<_> = delivery.secrets.iter().collect();
    let signature = signature_header(
        &secrets,
        &delivery.message_id,
        timestamp,
        delivery.payload.as_bytes(),
    );
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let retry_later = |retry_after| {
        retry
            .next_attempt(
                number,
                delivery.created_at,
                now_millis(),
                retry_after,
                random_u64(),
            )
            .map_or(AfterAttempt::GiveUp, AfterAttempt::RetryAt)
    };
    let (status_code, error, excerpt, after) = match sent {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| schedule::retry_after(value, now_millis()));
            let excerpt = excerpt(response).await;
            let after = if status.is_success() {
                AfterAttempt::Delivered
            } else if status == reqwest::StatusCode::GONE {
                // Standard Webhooks: 410 says the receiver is gone for good.
                AfterAttempt::Gone
            } else {
                retry_later(retry_after)
            };
            (Some(status.as_u16()), None, excerpt, after)
        }
        // The URL is left out: some receivers' URLs are secrets.
        Err(error) => (None, Some(describe(error)), None, retry_later(None)),
    };
    let attempt = Attempt {
        attempt: number,
        at,
        status_code,
        error,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        response_excerpt: excerpt,
    };
    let counters = metrics();
    match after {
        AfterAttempt::Delivered => counters.webhook_delivered.inc(),
        AfterAttempt::RetryAt(_) => counters.webhook_retried.inc(),
        AfterAttempt::GiveUp | AfterAttempt::Gone => counters.webhook_failed.inc(),
    };
    // Ids, numbers and statuses only: never the URL, the payload or the receiver's answer.
    tracing::info!(
        webhook = delivery.subscription_id,
        delivery = delivery.id,
        attempt = number,
        status = status_code,
        outcome = ?after,
        "webhook attempt"
    );
    match store
        .finish_attempt(delivery.id, token, &attempt, after)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = delivery.id,
            "a webhook delivery's lease ran out while it was being sent; another collector took it over"
        ),
        Err(error) => tracing::warn!(
            delivery = delivery.id,
            error = %cause_chain(&error),
            "recording a webhook attempt failed; the delivery is sent again once its lease runs out"
        ),
    }
}

/// What went wrong with a request that got no answer, without its URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    truncate(&format!("{what}: {}", cause_chain(&error)), 500)
}

/// The start of a receiver's answer, at most [`EXCERPT_BYTES`], as text; the rest is never read.
async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&bytes).replace('\0', "");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `text` cut to at most `max` characters.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A random number for lease tokens, jitter and test ids; the clock if the operating system
/// has no randomness to give.
fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_differ_by_subscription_and_answer() {
        let answer = uuid::Uuid::from_u128(1);
        assert_eq!(
            message_id(answer, 7),
            "msg_00000000000000000000000000000001_7"
        );
        assert_ne!(message_id(answer, 7), message_id(answer, 8));
        assert_ne!(
            message_id(answer, 7),
            message_id(uuid::Uuid::from_u128(2), 7)
        );
    }

    #[test]
    fn the_watch_follows_refreshes_but_keeps_what_it_just_started_watching() {
        let watch = Watch::default();
        assert!(!watch.is_watched(1));
        watch.replace(HashSet::from([1]));
        assert!(watch.is_watched(1));
        watch.replace(HashSet::from([2]));
        assert!(!watch.is_watched(1), "a subscription removed elsewhere");
        watch.watch(3);
        // A refresh that read the database before site 3's subscription was committed.
        watch.replace(HashSet::from([2]));
        assert!(watch.is_watched(3));
        assert!(watch.is_watched(2));
    }

    #[tokio::test]
    async fn the_client_builds_with_its_tls_provider() {
        http_client().unwrap();
        // Twice in one process: the provider is installed once.
        http_client().unwrap();
    }
}
