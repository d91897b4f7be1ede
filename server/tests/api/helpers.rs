//! What the API tests share: a running collector ([`TestApp`]) on a fresh database
//! ([`TestDatabase`]), and the macro that runs one test body on every backend.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use touchstone_server::api_key::{ApiKey, KeyScope};
use touchstone_server::limits::{RateSettings, TrustedProxies};
use touchstone_server::site::Origin;
use touchstone_server::startup::{Application, ServeSettings};
use touchstone_server::store::{self, NewApiKey, NewSite};
use touchstone_server::webhooks::dispatcher::DispatchSettings;
use touchstone_shared::SiteKey;

/// Runs each named `async fn(TestApp)` as two tests, `sqlite::name` and `postgres::name`.
/// `spawn = path;` first starts the apps with another `async fn(TestDatabase) -> TestApp`.
#[macro_export]
macro_rules! on_every_backend {
    (spawn = $spawn:path; $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let database = $crate::helpers::TestDatabase::sqlite();
                    super::$test($spawn(database).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(database) = $crate::helpers::TestDatabase::postgres().await {
                        super::$test($spawn(database).await).await;
                    }
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        $crate::on_every_backend!(spawn = $crate::helpers::TestApp::spawn; $($test),*);
    };
}

/// The folder at the top of the workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A widget folder that does not exist: the API tests need no widget.
pub fn no_widget_dir() -> PathBuf {
    workspace_root().join("target/no-widget-in-api-tests")
}

/// A database made for one test, removed when the test ends (even when it fails).
pub struct TestDatabase {
    /// The URL the collector connects to.
    pub url: String,
    /// The backend's name, for messages.
    pub backend: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temporary folder holding the SQLite file; removed on drop.
    Folder(tempfile::TempDir),
    /// A PostgreSQL database to drop, and the server URL to drop it through.
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A SQLite file in a fresh temporary folder.
    pub fn sqlite() -> Self {
        let folder = tempfile::tempdir().expect("making a temporary folder");
        let url = format!("sqlite://{}", folder.path().join("touchstone.db").display());
        TestDatabase {
            url,
            backend: "sqlite",
            cleanup: Cleanup::Folder(folder),
        }
    }

    /// A fresh PostgreSQL database on the server `TOUCHSTONE_TEST_POSTGRES_URL` names, or
    /// `None` (with the reason printed) when it is unset outside CI. In CI it must be set.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TOUCHSTONE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must test PostgreSQL: set TOUCHSTONE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            eprintln!("skipped on PostgreSQL: set TOUCHSTONE_TEST_POSTGRES_URL to run it");
            return None;
        };
        let name = format!(
            "touchstone_test_{}",
            uuid::Uuid::from_u128(random_u128()).simple()
        );
        let mut admin = connect_admin(&admin_url).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            url,
            backend: "postgres",
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }
}

impl TestDatabase {
    /// Brings this fresh database to the schema of an earlier collector (every migration whose
    /// file name sorts before `first_left_out`, e.g. `"0004"`) and runs `statements` on it: the
    /// data an older version left behind, for the current migrations to carry forward.
    pub async fn migrate_before(&self, first_left_out: &str, statements: &[String]) {
        let migrations = tempfile::tempdir().unwrap();
        let source = workspace_root()
            .join("server/migrations")
            .join(self.backend);
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.as_str() < first_left_out {
                std::fs::copy(&path, migrations.path().join(name)).unwrap();
            }
        }
        let migrator = sqlx::migrate::Migrator::new(migrations.path())
            .await
            .unwrap();
        if self.backend == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", self.url))
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }

    /// `n` as a UUID literal of this backend's SQL.
    pub fn uuid_literal(&self, n: u128) -> String {
        let id = uuid::Uuid::from_u128(n);
        if self.backend == "sqlite" {
            format!("X'{}'", id.simple())
        } else {
            format!("'{id}'")
        }
    }

    /// The temporary folder of a SQLite database, for files a test wants removed with it.
    pub fn folder(&self) -> &std::path::Path {
        match &self.cleanup {
            Cleanup::Folder(folder) => folder.path(),
            Cleanup::Postgres { .. } => panic!("a PostgreSQL test database has no folder"),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut admin = connect_admin(&admin_url).await;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .execute(&mut admin)
                    .await
                })
            });
            if let Ok(Err(error)) = dropped.join() {
                eprintln!("could not drop test database {}: {error}", self.url);
            }
        }
    }
}

async fn connect_admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|error| {
            panic!("PostgreSQL at TOUCHSTONE_TEST_POSTGRES_URL is unreachable: {error}")
        })
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let (server, _) = base.rsplit_once('/').expect("a database URL has a path");
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

fn random_u128() -> u128 {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    u128::from_le_bytes(bytes)
}

/// An HTTP client for the tests. reqwest is built with rustls but without cryptography of its
/// own (the collector brings `ring` for its webhook deliveries), so the provider is installed
/// first; a client built without one panics.
pub fn http_client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}

/// Installs the process's rustls provider, which every reqwest client needs before it is built.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The origin the test site allows.
pub const SHOP_ORIGIN: &str = "https://shop.example";

/// A collector running on a free port, with one site (`demo`, allowing [`SHOP_ORIGIN`]) and
/// its read API key.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The site's public key.
    pub site: SiteKey,
    /// The site's read API key.
    pub api_key: String,
    /// The database, dropped with the app.
    pub database: TestDatabase,
    /// An HTTP client.
    pub client: reqwest::Client,
}

impl TestApp {
    /// Starts the real application on `database`, in this test's runtime, with rate limits
    /// high enough that only the rate-limit tests meet them.
    pub async fn spawn(database: TestDatabase) -> Self {
        Self::spawn_configured(database, |_| {}).await
    }

    /// Starts the real application with the given rate limits and trusted proxies.
    pub async fn spawn_with(
        database: TestDatabase,
        rate: RateSettings,
        trusted_proxies: TrustedProxies,
    ) -> Self {
        Self::spawn_configured(database, |settings| {
            settings.rate = rate;
            settings.trusted_proxies = trusted_proxies;
        })
        .await
    }

    /// Starts the real application with a stand-in for the built widget (four small files), so
    /// `/touchstone.js` and the widget's files answer `200`.
    pub async fn spawn_with_widget(database: TestDatabase) -> Self {
        let widget = tempfile::tempdir().expect("making a temporary folder");
        for file in [
            "touchstone_widget.js",
            "touchstone_widget_bg.wasm",
            "touchstone_survey.js",
            "touchstone_survey_bg.wasm",
        ] {
            std::fs::write(widget.path().join(file), "stand-in").expect("writing a widget file");
            // As `cargo xtask build-widget` writes them beside each file.
            let mut brotli = Vec::new();
            brotli::BrotliCompress(&mut &b"stand-in"[..], &mut brotli, &Default::default())
                .expect("compressing a widget file");
            std::fs::write(widget.path().join(format!("{file}.br")), brotli)
                .expect("writing a compressed widget file");
        }
        // The collector reads the widget at start-up, so the folder may go afterwards.
        Self::spawn_configured(database, |settings| {
            settings.widget_dir = widget.path().to_path_buf();
        })
        .await
    }

    /// Starts the real application with these webhook dispatch settings.
    pub async fn spawn_with_webhooks(database: TestDatabase, webhooks: DispatchSettings) -> Self {
        Self::spawn_configured(database, |settings| settings.webhooks = webhooks).await
    }

    /// Starts the real application with the test settings as `configure` leaves them.
    async fn spawn_configured(
        database: TestDatabase,
        configure: impl FnOnce(&mut ServeSettings),
    ) -> Self {
        let mut settings = ServeSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database.url.clone(),
            www_dir: workspace_root().join("www"),
            widget_dir: no_widget_dir(),
            rate: RateSettings {
                site_per_second: NonZeroU32::new(1_000_000).unwrap(),
                client_per_second: NonZeroU32::new(1_000_000).unwrap(),
            },
            trusted_proxies: TrustedProxies::default(),
            webhooks: DispatchSettings::default(),
        };
        configure(&mut settings);
        let application = Application::build(&settings)
            .await
            .expect("starting the collector");
        let address = format!("http://{}", application.address());
        tokio::spawn(application.run_until_stopped());
        let (site, api_key) = create_site(&database.url, "demo").await;
        TestApp {
            address,
            site,
            api_key,
            database,
            client: http_client(),
        }
    }

    /// Registers another site on the same database; returns its key and API key.
    pub async fn create_site(&self, key: &str) -> (SiteKey, String) {
        create_site(&self.database.url, key).await
    }

    /// Makes another API key of `scope` for this app's site; returns it.
    pub async fn create_key(&self, scope: KeyScope) -> String {
        self.create_key_for(self.site.as_str(), scope).await
    }

    /// Makes an API key of `scope` for the site `site`; returns it.
    pub async fn create_key_for(&self, site: &str, scope: KeyScope) -> String {
        create_key(&self.database.url, site, scope).await
    }

    /// Posts `body` to the collect endpoint as `content_type`, from a page on [`SHOP_ORIGIN`].
    pub async fn post_collect(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        post_collect_to(&self.client, &self.address, body, content_type)
            .await
            .expect("posting to the collector")
    }

    /// Posts a JSON collect request as `text/plain`, the way the widget does.
    pub async fn collect(&self, request: &Value) -> reqwest::Response {
        collect_at(&self.client, &self.address, request)
            .await
            .expect("posting to the collector")
    }

    /// `GET {path}` with this site's API key.
    pub async fn get_with_key(&self, path: &str) -> reqwest::Response {
        self.get_as(path, Some(&self.api_key)).await
    }

    /// `GET {path}`, with `key` as the bearer token if given.
    pub async fn get_as(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("querying the collector")
    }

    /// Stores `events` (made with [`response`] and [`touchpoint`]) for this site straight through
    /// the store, as one visitor's batch: unlike the collect endpoint, this keeps times of any
    /// age, for reports on fixed dates long past.
    pub async fn store_directly(&self, events: Vec<Value>) {
        self.store_visits(vec![events]).await;
    }

    /// Like [`TestApp::store_directly`], for many visitors at once: each list is one visitor's.
    pub async fn store_visits(&self, visits: Vec<Vec<Value>>) {
        let store = store::connect(&self.database.url)
            .await
            .expect("opening the test database");
        let site = store
            .site(&self.site)
            .await
            .unwrap()
            .expect("the test site exists");
        let batches: Vec<store::IncomingBatch> = visits
            .into_iter()
            .map(|events| store::IncomingBatch {
                site_id: site.id,
                visitor: serde_json::from_value(json!(event_id())).unwrap(),
                events: events
                    .into_iter()
                    .map(|event| serde_json::from_value(event).expect("a valid event"))
                    .collect(),
                received_at: 0,
                watched: false,
            })
            .collect();
        store.store_batches(&batches).await.expect("storing events");
    }

    /// The touchpoint counts of all time, asserting a `200`: `[{"name", "count"}]`.
    pub async fn touchpoints(&self) -> Value {
        let response = self
            .get_with_key(&format!("/v1/sites/{}/touchpoints", self.site))
            .await;
        assert_eq!(
            response.status(),
            200,
            "the touchpoint report should be readable"
        );
        response.json::<Value>().await.unwrap()["touchpoints"].clone()
    }

    /// The NPS report for `query` (e.g. `?from=2026-11-01`), asserting a `200`.
    pub async fn nps(&self, query: &str) -> Value {
        let response = self
            .get_with_key(&format!("/v1/sites/{}/nps{query}", self.site))
            .await;
        assert_eq!(response.status(), 200, "the NPS report should be readable");
        response.json().await.unwrap()
    }
}

/// Posts `body` as `content_type` to the collect endpoint of the collector at `address`, from a
/// page on [`SHOP_ORIGIN`]; an error when no answer came.
pub async fn post_collect_to(
    client: &reqwest::Client,
    address: &str,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{address}/v1/collect"))
        .header(CONTENT_TYPE, content_type)
        .header("Origin", SHOP_ORIGIN)
        .body(body)
        .send()
        .await
}

/// Posts a JSON collect request to the collector at `address` the way the widget does.
pub async fn collect_at(
    client: &reqwest::Client,
    address: &str,
    request: &Value,
) -> reqwest::Result<reqwest::Response> {
    post_collect_to(
        client,
        address,
        request.to_string(),
        "text/plain;charset=UTF-8",
    )
    .await
}

/// Makes an API key of `scope` for the site `site` in the database at `database_url`; returns
/// it.
pub async fn create_key(database_url: &str, site: &str, scope: KeyScope) -> String {
    let store = store::connect(database_url)
        .await
        .expect("opening the test database");
    let api_key = ApiKey::generate().unwrap();
    store
        .add_api_key(
            &SiteKey::parse(site).unwrap(),
            NewApiKey {
                hash: &api_key.hash(),
                prefix: api_key.prefix(),
                label: Some("test"),
                scope,
            },
        )
        .await
        .expect("adding an API key");
    api_key.reveal().to_owned()
}

async fn create_site(database_url: &str, key: &str) -> (SiteKey, String) {
    let store = store::connect(database_url)
        .await
        .expect("opening the test database");
    let api_key = ApiKey::generate().unwrap();
    let site = NewSite::new(
        SiteKey::parse(key).unwrap(),
        format!("Test site {key}"),
        vec![Origin::parse(SHOP_ORIGIN).unwrap()],
    );
    let site = store
        .create_site(&site, &api_key.hash(), api_key.prefix())
        .await
        .expect("creating a site");
    (site.key, api_key.reveal().to_owned())
}

/// A fresh random event id.
pub fn event_id() -> String {
    uuid::Uuid::from_u128(random_u128()).to_string()
}

/// A collect request for the site `demo` from one new visitor.
pub fn batch(events: Vec<Value>) -> Value {
    json!({ "site": "demo", "visitor": event_id(), "events": events })
}

/// A survey answer given at `at` (milliseconds since the epoch).
pub fn response(score: u8, at: i64) -> Value {
    json!({ "type": "response", "id": event_id(), "at": at, "score": score })
}

/// The page identifying the visitor as `customer` at `at`, with two traits.
pub fn identify(customer: &str, at: i64) -> Value {
    json!({ "type": "identify", "id": event_id(), "at": at, "customer": customer,
            "traits": { "plan": "pro", "account": "acme" } })
}

/// A touchpoint reached at `at`.
pub fn touchpoint(name: &str, at: i64) -> Value {
    json!({ "type": "touchpoint", "id": event_id(), "at": at, "name": name, "url": "https://shop.example/pricing" })
}

/// The `n`-th of an endless variety of collect requests for `demo`, for load tests: every
/// other one a single event, the rest 2 to 20, answers of every score and a few touchpoints,
/// spread over several hours of the last days so that many rollup rows are touched.
pub fn varied_batch(n: u64) -> Value {
    let size = if n.is_multiple_of(2) { 1 } else { 2 + n % 19 };
    let events = (n..n + size)
        .map(|k| {
            let at = noon_days_ago(1 + (k % 3) as i64) + (k % 5) as i64 * HOUR;
            match k % 3 {
                0 => touchpoint(
                    ["page_view", "pricing_viewed", "checkout"][(k % 9 / 3) as usize],
                    at,
                ),
                _ => response((k % 11) as u8, at),
            }
        })
        .collect();
    batch(events)
}

/// The event ids of a collect request.
pub fn event_ids(request: &Value) -> Vec<uuid::Uuid> {
    request["events"]
        .as_array()
        .expect("a collect request has events")
        .iter()
        .map(|event| event["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// One hour in milliseconds.
pub const HOUR: i64 = 3_600_000;

/// One day in milliseconds.
pub const DAY: i64 = 86_400_000;

/// Noon (UTC) `days` days ago, in milliseconds: recent enough for the collector to trust the
/// time, and on a known date for tests that care about periods.
pub fn noon_days_ago(days: i64) -> i64 {
    let today = jiff::Timestamp::now().as_millisecond().div_euclid(DAY) * DAY;
    today - days * DAY + DAY / 2
}

/// Noon two days ago: a typical recent moment.
pub fn noon() -> i64 {
    noon_days_ago(2)
}

/// The UTC date of `millis`, as `2026-11-21`.
pub fn date_of(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// The `code` of a JSON error response, after checking its status.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "unexpected status");
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "errors are JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "errors carry a message: {body}"
    );
    body["code"]
        .as_str()
        .expect("errors carry a code")
        .to_owned()
}

/// Asserts that `response` is the answer to a write the database could not take: `503
/// storage_unavailable` with a `Retry-After`, so the client keeps the events and tries again.
pub async fn assert_storage_unavailable(response: reqwest::Response, what: &str) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        status, 503,
        "{what}: expected 503 storage_unavailable, got {body}"
    );
    let body: Value = serde_json::from_str(&body).expect("errors are JSON");
    assert_eq!(body["code"], "storage_unavailable", "{what}: {body}");
    assert!(
        retry_after.is_some_and(|seconds| seconds.parse::<u32>().is_ok_and(|s| s >= 1)),
        "{what}: a 503 says when to come back with Retry-After"
    );
}
