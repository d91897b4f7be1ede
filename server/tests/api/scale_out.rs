//! Scale-out: two `touchstone serve` processes on one PostgreSQL database, as a team behind a
//! load balancer runs them. Under concurrent load — batches sent to both collectors at once,
//! and batches replayed to the other one — every acknowledged event is stored once, nothing
//! fails, and the rollups stay equal to the raw rows.

use crate::audit::{Ledger, StoredRows};
use crate::helpers::*;
use crate::process::Collector;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Tasks posting at once.
const SENDERS: u64 = 12;
/// How long they post.
const LOAD: Duration = Duration::from_secs(2);

#[tokio::test]
async fn two_collectors_on_one_postgresql_store_every_acknowledged_event_once() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    // Both start at once, so their migrations race too.
    let collectors = std::thread::scope(|scope| {
        let start = || scope.spawn(|| Collector::start(&database.url, &no_widget_dir()));
        [start(), start()].map(|started| started.join().unwrap())
    });
    collectors[0].create_site("demo", SHOP_ORIGIN);
    let addresses = Arc::new(
        collectors
            .each_ref()
            .map(|collector| collector.address.clone()),
    );

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let client = crate::helpers::http_client();
    let deadline = Instant::now() + LOAD;
    let mut senders = JoinSet::new();
    for sender in 0..SENDERS {
        let (ledger, client, addresses) = (ledger.clone(), client.clone(), addresses.clone());
        senders.spawn(async move {
            let post = |to: usize, request: Value| {
                let (ledger, client, addresses) = (&ledger, &client, &addresses);
                async move {
                    let answer = collect_at(client, &addresses[to], &request).await;
                    assert!(Ledger::record(ledger, &request, answer).await, "no answer");
                }
            };
            let mut previous = varied_batch(sender);
            for step in 0.. {
                if Instant::now() >= deadline {
                    break;
                }
                let here = ((sender + step) % 2) as usize;
                let request = varied_batch(sender * 1_000_000 + step);
                match step % 4 {
                    // The last batch again, to the other collector: a retry after a lost answer.
                    1 => post(1 - here, previous.clone()).await,
                    // The same batch to both collectors at once: both commits race for its rows.
                    2 => {
                        tokio::join!(post(0, request.clone()), post(1, request.clone()));
                    }
                    _ => post(here, request.clone()).await,
                }
                previous = request;
            }
        });
    }
    senders.join_all().await;
    let ledger = Arc::into_inner(ledger).unwrap().into_inner().unwrap();
    ledger.assert_all_ok("two collectors under load");

    let stored = StoredRows::open(&database.url).await;
    let rows = stored.assert_stored_once(&ledger.acknowledged).await;
    let acknowledged: HashSet<_> = ledger.acknowledged.iter().copied().collect();
    assert_eq!(
        rows.len(),
        acknowledged.len(),
        "every stored event was acknowledged"
    );
    assert_eq!(
        ledger.new,
        rows.len() as u64,
        "across both collectors, exactly one answer called each event new"
    );
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "scale-out, 2 collectors on one PostgreSQL, {SENDERS} senders for {LOAD:?}: {} answers, all 200; \
         {} event deliveries acknowledged, {} distinct events, each stored once and called new once; \
         rollups equal the raw rows",
        ledger.answers(),
        ledger.acknowledged.len(),
        rows.len(),
    );
}
