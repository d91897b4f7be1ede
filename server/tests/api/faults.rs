//! Faults the collector must survive without a false `2xx`: the process killed with SIGKILL in
//! the middle of sustained writes, a PostgreSQL server that goes away and comes back, and a
//! SQLite file that suddenly refuses writes. Each test prints one line saying what it measured.

use crate::audit::{Ledger, StoredRows};
use crate::helpers::*;
use crate::process::Collector;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Tasks posting at once during the kill test.
const SENDERS: u64 = 8;
/// How long they post before the kill.
const BEFORE_THE_KILL: Duration = Duration::from_millis(1500);

/// Posts varied batches from [`SENDERS`] tasks for [`BEFORE_THE_KILL`], then stops the collector
/// with `stop` while they are still posting; returns what the senders were told and how many
/// requests were in flight when `stop` began.
async fn sustained_load_then(
    collector: &mut Collector,
    stop: impl FnOnce(&mut Collector),
) -> (Ledger, u64) {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let client = crate::helpers::http_client();
    let mut senders = JoinSet::new();
    for sender in 0..SENDERS {
        let (ledger, in_flight, client) = (ledger.clone(), in_flight.clone(), client.clone());
        let address = collector.address.clone();
        // Each sender posts until the collector stops answering.
        senders.spawn(async move {
            for n in (sender..).step_by(SENDERS as usize) {
                let request = varied_batch(n);
                in_flight.fetch_add(1, Ordering::SeqCst);
                let answer = collect_at(&client, &address, &request).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if !Ledger::record(&ledger, &request, answer).await {
                    return;
                }
            }
        });
    }
    tokio::time::sleep(BEFORE_THE_KILL).await;
    let in_flight_at_the_stop = in_flight.load(Ordering::SeqCst);
    // The senders run on this runtime's other threads while `stop` blocks this one.
    stop(collector);
    senders.join_all().await;
    let ledger = Arc::into_inner(ledger).unwrap().into_inner().unwrap();
    assert!(
        ledger.answers() >= 20,
        "too little load to mean anything: {ledger:?}"
    );
    (ledger, in_flight_at_the_stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_requests_in_flight_and_loses_nothing_acknowledged() {
    let database = TestDatabase::sqlite();
    let mut collector = Collector::start(&database.url, &no_widget_dir());
    collector.create_site("demo", SHOP_ORIGIN);
    let mut exit = None;
    let (ledger, in_flight) = sustained_load_then(&mut collector, |collector| {
        exit = Some(collector.terminate());
    })
    .await;
    let exit = exit.unwrap();
    assert!(exit.success(), "a clean exit after SIGTERM, not {exit}");
    // Requests the collector had accepted were answered, and answered 200; later ones found
    // the listener closed.
    ledger.assert_all_ok("while stopping");

    let stored = StoredRows::open(&database.url).await;
    let rows = stored.assert_stored_once(&ledger.acknowledged).await;
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "SIGTERM on SQLite after {BEFORE_THE_KILL:?} of {SENDERS} senders: {} batches, {} events acknowledged, \
         all found once; {in_flight} requests in flight; {} unanswered; exit {exit}; {} rows in all",
        ledger.answers(),
        ledger.acknowledged.len(),
        ledger.unanswered,
        rows.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_kill_9_during_sustained_ingestion() {
    let database = TestDatabase::sqlite();
    let mut collector = Collector::start(&database.url, &no_widget_dir());
    collector.create_site("demo", SHOP_ORIGIN);
    let (ledger, in_flight_at_the_kill) =
        sustained_load_then(&mut collector, Collector::kill).await;
    ledger.assert_all_ok("before the kill");
    let client = crate::helpers::http_client();

    // Restarted on the same file, the collector recovers the WAL and takes more.
    let restarted = Collector::start(&database.url, &no_widget_dir());
    let after = varied_batch(1);
    let answer = collect_at(&client, &restarted.address, &after)
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "the restarted collector takes batches"
    );

    let stored = StoredRows::open(&database.url).await;
    assert_eq!(stored.integrity_check().await, "ok");
    let mut acknowledged = ledger.acknowledged.clone();
    acknowledged.extend(event_ids(&after));
    let rows = stored.assert_stored_once(&acknowledged).await;
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "kill -9 on SQLite after {BEFORE_THE_KILL:?} of {SENDERS} senders: {} batches, {} events acknowledged, \
         all found once; {} more stored from answers the kill cut off; {in_flight_at_the_kill} requests in flight; \
         integrity ok; rollups equal the raw rows",
        ledger.answers(),
        ledger.acknowledged.len(),
        rows.len() - acknowledged.len(),
    );
}

#[tokio::test]
async fn an_unreachable_postgresql_gives_503_stores_nothing_and_recovers_without_a_restart() {
    let Some(mut database) = TestDatabase::postgres().await else {
        return;
    };
    let direct_url = database.url.clone();
    let (server, through) = server_of(&database.url);
    let mut forwarder = Forwarder::start(SocketAddr::from(([127, 0, 0, 1], 0)), &server).await;
    database.url = through(forwarder.address);
    let app = TestApp::spawn(database).await;
    // A second site the collector has not looked up yet: its batches need the database to
    // find the site, not only to store the events.
    app.create_site("other").await;
    let before = batch(vec![response(9, noon())]);
    assert_eq!(app.collect(&before).await.status(), 200);

    // The cut comes while a commit is under way: the collector's insert waits for a lock held
    // here, on a connection that does not go through the forwarder.
    let mut lock = EventsLock::take(&direct_url).await;
    let cut_mid_commit = batch(vec![response(8, noon()), touchpoint("cart", noon())]);
    let (answer, ()) = tokio::join!(app.collect(&cut_mid_commit), async {
        lock.wait_for_a_waiting_insert().await;
        forwarder.stop().await;
    });
    assert_storage_unavailable(answer, "a batch whose commit lost its connection").await;
    lock.release().await;

    let refused = batch(vec![
        response(0, noon()),
        touchpoint("checkout", noon()),
        response(10, noon()),
    ]);
    let mut refused_elsewhere = batch(vec![response(5, noon())]);
    refused_elsewhere["site"] = "other".into();
    let outage = Instant::now();
    let (answer, answer_elsewhere, (ready, ready_within)) = tokio::join!(
        app.collect(&refused),
        app.collect(&refused_elsewhere),
        async {
            let ready = app.get_as("/readyz", None).await;
            (ready, outage.elapsed())
        },
    );
    let answered_within = outage.elapsed();
    // Health checks of load balancers time out after a few seconds: readiness must say 503
    // well before the pool gives up on a connection (5 s).
    assert!(
        ready_within < Duration::from_secs(3),
        "/readyz took {ready_within:?} to answer"
    );
    assert_storage_unavailable(answer, "a batch for a known site").await;
    assert_storage_unavailable(answer_elsewhere, "a batch for a site not yet looked up").await;
    assert_eq!(
        error_code(ready, 503).await,
        "storage_unavailable",
        "/readyz"
    );

    let _forwarder = Forwarder::start(forwarder.address, &server).await;
    let (after, attempts) = collect_until_stored(&app).await;
    let stored = StoredRows::open(&app.database.url).await;
    let mut acknowledged = event_ids(&before);
    acknowledged.extend(event_ids(&after));
    let rows = stored.assert_stored_once(&acknowledged).await;
    let refused_ids = [
        event_ids(&cut_mid_commit),
        event_ids(&refused),
        event_ids(&refused_elsewhere),
    ]
    .concat();
    assert!(
        refused_ids.iter().all(|id| !rows.contains_key(id)),
        "a batch answered 503 was stored"
    );
    assert_eq!(rows.len(), acknowledged.len());
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "PostgreSQL unreachable: a commit cut mid-way, then 2 collect requests and /readyz answered 503 storage_unavailable \
         (the last in {answered_within:?}), none of their 6 events stored; back to 200 on attempt {attempts} after the database returned; \
         {} events stored once, rollups equal the raw rows",
        rows.len()
    );
}

#[tokio::test]
async fn a_commit_the_database_cancels_or_terminates_gives_503_and_stores_nothing() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::spawn(database).await;
    let mut refused = Vec::new();
    // pg_cancel_backend is what statement_timeout does too (57014); pg_terminate_backend is an
    // operator or a shutdown ending the session (57P01).
    for stop in ["pg_cancel_backend", "pg_terminate_backend"] {
        let mut lock = EventsLock::take(&app.database.url).await;
        let request = batch(vec![response(6, noon()), touchpoint("cart", noon())]);
        let (answer, ()) = tokio::join!(app.collect(&request), async {
            let pid = lock.wait_for_a_waiting_insert().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {stop}($1)")))
                .bind(pid)
                .execute(&mut lock.0)
                .await
                .unwrap();
        });
        assert_storage_unavailable(answer, stop).await;
        lock.release().await;
        refused.extend(event_ids(&request));
    }
    let (after, attempts) = collect_until_stored(&app).await;
    let stored = StoredRows::open(&app.database.url).await;
    let rows = stored.assert_stored_once(&event_ids(&after)).await;
    assert!(
        refused.iter().all(|id| !rows.contains_key(id)),
        "a batch answered 503 was stored"
    );
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "PostgreSQL cancelling and terminating a commit: both answered 503 storage_unavailable, their 4 events not stored; \
         the next batch stored on attempt {attempts}"
    );
}

#[tokio::test]
async fn a_sqlite_file_that_refuses_writes_gives_503_and_stores_nothing() {
    let app = TestApp::spawn(TestDatabase::sqlite()).await;
    let file = PathBuf::from(app.database.url.strip_prefix("sqlite://").unwrap());
    let before = batch(vec![response(9, noon()), touchpoint("page_view", noon())]);
    assert_eq!(app.collect(&before).await.status(), 200);

    // Not the `-shm` file: SQLite maps it into memory, and a write to an immutable mapping is
    // a SIGBUS that would end the whole test process.
    let frozen = Immutable::set(&[file.clone(), suffixed(&file, "-wal")]);
    let refused = batch(vec![response(3, noon()), touchpoint("checkout", noon())]);
    assert_storage_unavailable(app.collect(&refused).await, "a batch for a frozen file").await;
    drop(frozen);

    let (after, attempts) = collect_until_stored(&app).await;
    let stored = StoredRows::open(&app.database.url).await;
    assert_eq!(stored.integrity_check().await, "ok");
    let mut acknowledged = event_ids(&before);
    acknowledged.extend(event_ids(&after));
    let rows = stored.assert_stored_once(&acknowledged).await;
    assert!(
        event_ids(&refused).iter().all(|id| !rows.contains_key(id)),
        "a batch answered 503 was stored"
    );
    assert_eq!(rows.len(), acknowledged.len());
    stored.assert_rollups_equal_raw_rows().await;
    eprintln!(
        "SQLite refusing writes (chattr +i): a batch answered 503 storage_unavailable and not stored; \
         back to 200 on attempt {attempts} once writable; {} events stored once, integrity ok, rollups equal the raw rows",
        rows.len()
    );
}

/// Posts fresh batches, the way a widget retries after a `503`, until one is stored; returns
/// it and how many attempts it took. Fails after ten seconds.
async fn collect_until_stored(app: &TestApp) -> (serde_json::Value, u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 1.. {
        let request = batch(vec![response(7, noon()), touchpoint("page_view", noon())]);
        let answer = app.collect(&request).await;
        if answer.status() == 200 {
            return (request, attempt);
        }
        assert_storage_unavailable(answer, "while the database comes back").await;
        assert!(
            Instant::now() < deadline,
            "the collector did not recover within ten seconds"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unreachable!()
}

/// `path` with `suffix` appended to its file name (`touchstone.db-wal`).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Files made immutable with `chattr +i`: on ext4 even root's writes through descriptors opened
/// before then fail with `EPERM`, which `chmod` cannot do for root. `chattr -i` again on drop,
/// so the temporary folder can be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[PathBuf]) -> Self {
        let mut frozen = Immutable(Vec::new());
        for file in files.iter().filter(|file| file.exists()) {
            chattr("+i", file);
            frozen.0.push(file.clone());
        }
        frozen
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for file in &self.0 {
            chattr("-i", file);
        }
    }
}

fn chattr(flag: &str, file: &Path) {
    const NEEDS: &str = "this test makes the database file immutable: it needs e2fsprogs' chattr \
        (`apt-get install e2fsprogs`), root, and a temporary folder on ext4 or another file \
        system with the immutable attribute (set TMPDIR to one)";
    let output = Command::new("chattr")
        .arg(flag)
        .arg(file)
        .output()
        .unwrap_or_else(|error| panic!("running chattr failed ({error}): {NEEDS}"));
    assert!(
        output.status.success(),
        "chattr {flag} {} failed ({}): {NEEDS}",
        file.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// The `host:port` a PostgreSQL URL connects to, and a function that makes the same URL with
/// another address in its place.
fn server_of(url: &str) -> (String, impl Fn(SocketAddr) -> String + use<>) {
    let (scheme, rest) = url.split_once("://").expect("a URL has a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let server = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    };
    let (scheme, path) = (scheme.to_owned(), path.to_owned());
    (server, move |address| {
        format!("{scheme}://{user}{address}{path}")
    })
}

/// A transaction holding a lock on `events` that makes every insert wait.
struct EventsLock(sqlx::PgConnection);

impl EventsLock {
    async fn take(url: &str) -> Self {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(url)
            .await
            .expect("connecting to PostgreSQL directly");
        for statement in ["BEGIN", "LOCK TABLE events IN SHARE MODE"] {
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .expect("locking the events table");
        }
        EventsLock(connection)
    }

    /// Returns once some insert is waiting for the lock, with its backend's process id.
    async fn wait_for_a_waiting_insert(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: Option<(i32,)> = sqlx::query_as(
                "SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'events'::regclass LIMIT 1",
            )
            .fetch_optional(&mut self.0)
            .await
            .unwrap();
            if let Some((pid,)) = waiting {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no insert ever waited for the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("releasing the lock");
    }
}

/// A TCP forwarder to a PostgreSQL server that the test can pull out and plug back in.
struct Forwarder {
    address: SocketAddr,
    accepting: Option<JoinHandle<()>>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl Forwarder {
    /// Listens on `address` (port 0 for any) and forwards every connection to `server`.
    async fn start(address: SocketAddr, server: &str) -> Self {
        // The port was only just given up: binding it again may take a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(address).await {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("binding {address} again: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("binding the forwarder to {address}: {error}"),
            }
        };
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accepting = tokio::spawn(forward(listener, server.to_owned(), connections.clone()));
        Forwarder {
            address,
            accepting: Some(accepting),
            connections,
        }
    }

    /// Stops listening and cuts every connection, as if the database's machine went away.
    async fn stop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.abort();
            let _ = accepting.await;
        }
        let mut connections = std::mem::take(&mut *self.connections.lock().unwrap());
        // Aborted tasks drop their sockets: every live connection is cut.
        connections.shutdown().await;
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(accepting) = &self.accepting {
            accepting.abort();
        }
        self.connections.lock().unwrap().abort_all();
    }
}

async fn forward(listener: TcpListener, server: String, connections: Arc<Mutex<JoinSet<()>>>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let server = server.clone();
        connections.lock().unwrap().spawn(async move {
            if let Ok(mut database) = TcpStream::connect(&server).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut database).await;
            }
        });
    }
}

#[test]
fn a_database_url_is_rewritten_to_another_address() {
    let (server, through) = server_of("postgres://postgres@127.0.0.1:5432/test?sslmode=disable");
    assert_eq!(server, "127.0.0.1:5432");
    let address = SocketAddr::from(([127, 0, 0, 1], 6000));
    assert_eq!(
        through(address),
        "postgres://postgres@127.0.0.1:6000/test?sslmode=disable"
    );
    let (server, through) = server_of("postgresql://db.internal/touchstone");
    assert_eq!(server, "db.internal:5432");
    assert_eq!(through(address), "postgresql://127.0.0.1:6000/touchstone");
}
