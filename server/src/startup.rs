//! Start-up as a value: [`Application::build`] opens the database, reads the web assets and binds
//! the listener; [`Application::run_until_stopped`] serves until SIGINT or SIGTERM, then finishes
//! the requests in flight.

use crate::error;
use crate::ingest::{Ingest, IngestSettings, Writer};
use crate::limits::{RateLimits, RateSettings, TrustedProxies};
use crate::routes::collect::CollectGate;
use crate::routes::{self, assets::AssetError, assets::Assets};
use crate::site_cache::SiteCache;
use crate::store::{self, StoreError};
use crate::webhooks::dispatcher::{ClientError, DispatchSettings, Dispatcher, Watch};
use actix_web::dev::Server;
use actix_web::middleware::{Condition, Logger};
use actix_web::{App, HttpServer, web};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything `touchstone serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The folder with `loader.js` and the static pages.
    pub www_dir: PathBuf,
    /// The folder with the built widget (`touchstone_widget.js`, `touchstone_widget_bg.wasm`,
    /// `touchstone_survey.js`, `touchstone_survey_bg.wasm`).
    pub widget_dir: PathBuf,
    /// How many collect requests sites and clients may send.
    pub rate: RateSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// How webhook deliveries are sent and retried.
    pub webhooks: DispatchSettings,
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("opening the database")]
    Store(#[from] StoreError),
    /// The web assets could not be read.
    #[error("loading the web assets")]
    Assets(#[from] AssetError),
    /// The webhook client could not be made.
    #[error("starting the webhook dispatcher")]
    Webhooks(#[from] ClientError),
    /// The address could not be bound.
    #[error("listening on {address}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A collector, bound and ready to run.
pub struct Application {
    address: SocketAddr,
    server: Server,
    writer: Writer,
    dispatcher: Dispatcher,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens the database (running migrations), loads the assets and binds the listener.
    pub async fn build(settings: &ServeSettings) -> Result<Self, StartupError> {
        let store = store::connect(&settings.database_url).await?;
        let assets = Assets::load(&settings.www_dir, &settings.widget_dir)?;
        let bind_error = |source| StartupError::Bind {
            address: settings.bind,
            source,
        };
        let listener = TcpListener::bind(settings.bind).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let watch = Arc::new(Watch::default());
        watch.refresh(store.as_ref()).await?;
        let (ingest, writer) =
            Ingest::start(store.clone(), IngestSettings::default(), watch.clone());
        let dispatcher = Dispatcher::start(store.clone(), watch.clone(), settings.webhooks)?;
        let ingest = web::Data::new(ingest);
        let gate = web::Data::new(CollectGate {
            sites: SiteCache::default(),
            limits: RateLimits::new(settings.rate),
            proxies: settings.trusted_proxies.clone(),
            watch: watch.clone(),
        });
        let watch = web::Data::from(watch);
        let sweeper = tokio::spawn(forget_idle_clients(gate.clone()));
        let store = web::Data::from(store);
        // actix's request log renders each request's line (a few allocations) before it knows
        // whether the line will be written, so it is only mounted when its lines are wanted.
        let request_log = tracing::enabled!(
            target: "actix_web::middleware::logger",
            tracing::Level::INFO
        );
        let server = HttpServer::new(move || {
            App::new()
                // Method, path, status, size and time only: no addresses, no user agents.
                .wrap(error::json_error_bodies())
                .wrap(Condition::new(request_log, Logger::new("%r %s %b %Dms")))
                .app_data(store.clone())
                .app_data(ingest.clone())
                .app_data(gate.clone())
                .app_data(watch.clone())
                .configure(|cfg| routes::configure(cfg, &assets))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(Application {
            address,
            server,
            writer,
            dispatcher,
            sweeper,
        })
    }

    /// The port the collector listens on (useful after binding port 0).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address the collector listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the process is asked to stop (SIGINT or SIGTERM): then it stops accepting
    /// connections, lets the requests in flight finish (they wait for their commits), and
    /// commits whatever is still queued before returning. Nothing acknowledged is lost. Webhook
    /// deliveries being sent finish and are recorded; the rest wait in the outbox.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.writer.finish().await;
        self.dispatcher.finish().await;
        self.sweeper.abort();
        served
    }
}

/// Once a minute, drops the rate-limit buckets of clients that have gone quiet, so addresses
/// are not kept in memory longer than they matter.
async fn forget_idle_clients(gate: web::Data<CollectGate>) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        gate.limits.forget_idle();
    }
}
