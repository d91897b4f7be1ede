//! The command line: every flag has a `TOUCHSTONE_…` environment twin, and the defaults work
//! with no flags at all (a SQLite file in the working directory, `127.0.0.1:8080`).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use serde_json::json;
use std::io::Read;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use touchstone_server::api_key::{ApiKey, KeyScope};
use touchstone_server::demo::{self, DemoSettings};
use touchstone_server::import::responses::{self as answers, AnswerImport, ColumnMap};
use touchstone_server::import::{self, DateRules, ImportError};
use touchstone_server::limits::{RateSettings, TrustedProxies};
use touchstone_server::privacy;
use touchstone_server::routes::webhooks::{CreatedWebhook, WebhookView};
use touchstone_server::site::{Origin, Site};
use touchstone_server::startup::{Application, ServeSettings};
use touchstone_server::store::{self, KeyToRevoke, NewApiKey, NewSite, Store, Subject};
use touchstone_server::survey;
use touchstone_server::webhooks::dispatcher::{self, DispatchSettings, Watch};
use touchstone_server::webhooks::schedule::RetryPolicy;
use touchstone_server::webhooks::{
    self, Filters, Format, ReceiverUrl, TraitMatch, WebhookSecret, WebhookSettings, WebhookState,
};
use touchstone_shared::eligibility::Trigger;
use touchstone_shared::survey::SiteSurveys;
use touchstone_shared::wire::VisitorId;
use touchstone_shared::{Category, CustomerId, Score, SiteKey, SurveyId, TouchpointName};

/// Touchstone: Net Promoter Score surveys and customer journeys, self-hosted.
#[derive(Debug, Parser)]
#[command(name = "touchstone", version)]
pub struct Cli {
    /// The database: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "TOUCHSTONE_DATABASE_URL",
        default_value = "sqlite://touchstone.db",
        global = true
    )]
    database_url: String,

    /// How logs are written to standard error.
    #[arg(long, env = "TOUCHSTONE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector: the collect endpoint, the query API, the loader and the widget.
    Serve(ServeArgs),
    /// Set up and list sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Choose which surveys a site runs, when, in which words and looks.
    #[command(subcommand)]
    Survey(SurveyCommand),
    /// Export or erase everything held about a visitor or a customer.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Import past answers from another NPS tool, or revenue per customer.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Deliver answers to other systems as they arrive: subscriptions and their logs.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Make up demo data.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on. Port 0 picks a free one.
    #[arg(long, env = "TOUCHSTONE_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The folder with `loader.js` and the static pages served at `/`.
    #[arg(long, env = "TOUCHSTONE_WWW_DIR", default_value = "www")]
    www_dir: PathBuf,
    /// The folder with the built widget (`cargo xtask build-widget` writes it).
    #[arg(long, env = "TOUCHSTONE_WIDGET_DIR", default_value = "target/widget")]
    widget_dir: PathBuf,
    /// Collect requests per second one site may send (bursts of twice that pass).
    #[arg(long, env = "TOUCHSTONE_SITE_RATE", default_value = "2000")]
    site_rate: NonZeroU32,
    /// Collect requests per second one client address may send to one site.
    #[arg(long, env = "TOUCHSTONE_CLIENT_RATE", default_value = "20")]
    client_rate: NonZeroU32,
    /// Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For header
    /// names the client. Without one, the connection's own address is the client's.
    #[arg(
        long = "trusted-proxy",
        env = "TOUCHSTONE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = address_or_network
    )]
    trusted_proxies: Vec<IpNet>,
    #[command(flatten)]
    webhooks: WebhookArgs,
}

/// How `serve` sends webhook deliveries: the retry schedule, for one, is configurable so tests
/// (and impatient operators) need not wait minutes.
#[derive(Debug, Args)]
struct WebhookArgs {
    /// How often the dispatcher looks for answers to route and deliveries to send, in ms.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_POLL_MS", default_value = "1000", value_parser = clap::value_parser!(u64).range(10..))]
    webhook_poll_ms: u64,
    /// The wait after a delivery's first failed attempt, in ms; each later wait is four times
    /// longer, with ±20% jitter.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_RETRY_BASE_MS", default_value = "30000", value_parser = clap::value_parser!(u64).range(1..))]
    webhook_retry_base_ms: u64,
    /// The longest wait between two attempts, in ms.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_RETRY_MAX_MS", default_value = "21600000", value_parser = clap::value_parser!(u64).range(1..))]
    webhook_retry_max_ms: u64,
    /// Attempts before a delivery is given up.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_MAX_ATTEMPTS", default_value = "20", value_parser = clap::value_parser!(u32).range(1..=1000))]
    webhook_max_attempts: u32,
    /// Hours after an answer its delivery may still be attempted.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_MAX_AGE_HOURS", default_value = "72", value_parser = clap::value_parser!(u64).range(1..=8760))]
    webhook_max_age_hours: u64,
    /// Deliveries sent at once.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_CONCURRENCY", default_value = "8", value_parser = clap::value_parser!(u32).range(1..=256))]
    webhook_concurrency: u32,
    /// How long a collector holds a delivery it is sending before another may send it, in s.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_LEASE_SECONDS", default_value = "60", value_parser = clap::value_parser!(u64).range(15..))]
    webhook_lease_seconds: u64,
    /// Days finished deliveries and their log are kept.
    #[arg(long, env = "TOUCHSTONE_WEBHOOK_RETENTION_DAYS", default_value = "30", value_parser = clap::value_parser!(u64).range(1..=3650))]
    webhook_retention_days: u64,
}

impl WebhookArgs {
    fn settings(&self) -> DispatchSettings {
        use std::time::Duration;
        DispatchSettings {
            poll: Duration::from_millis(self.webhook_poll_ms),
            retry: RetryPolicy {
                base: Duration::from_millis(self.webhook_retry_base_ms),
                max_delay: Duration::from_millis(self.webhook_retry_max_ms),
                max_attempts: self.webhook_max_attempts,
                max_age: Duration::from_secs(self.webhook_max_age_hours * 3600),
            },
            concurrency: self.webhook_concurrency as usize,
            lease: Duration::from_secs(self.webhook_lease_seconds),
            retention: Duration::from_secs(self.webhook_retention_days * 24 * 3600),
        }
    }
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Register a website; prints its public site key and a secret read API key.
    Create {
        /// A name for people, e.g. "Acme shop".
        #[arg(long)]
        name: String,
        /// A browser origin whose pages may send answers, e.g. https://shop.example. Repeat for
        /// several.
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// Choose the public site key instead of a random one (letters, digits, `_`, `-`).
        #[arg(long)]
        key: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the registered sites.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Make another API key for a site; prints it once.
    Create {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// What the key is for, e.g. "Grafana" (shown by `key list`).
        #[arg(long)]
        label: Option<String>,
        /// `read` reads reports; `admin` may also export and erase respondents' data.
        #[arg(long, value_enum, default_value_t = Scope::Read)]
        scope: Scope,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a site's API keys (their ids and first characters, never the keys).
    List {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key at once: by the id `key list` shows, or by the full key.
    Revoke {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// The key's id, or the key itself (`tsk_…`).
        key: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scope {
    /// Read reports.
    Read,
    /// Also export and erase respondents' data.
    Admin,
}

impl From<Scope> for KeyScope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Read => KeyScope::Read,
            Scope::Admin => KeyScope::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
enum SurveyCommand {
    /// Replace a site's survey configuration with a TOML file (see the README); every collector
    /// serves it from the next request on, and browsers pick it up within five minutes.
    Set {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// The TOML file; `-` reads standard input.
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the configuration a site runs (its own, or the defaults), as TOML.
    Show {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// Print JSON, as the widget reads it, instead.
        #[arg(long)]
        json: bool,
    },
    /// Check a TOML file without storing it, and say what it asks for.
    Check {
        /// The TOML file; `-` reads standard input.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PrivacyCommand {
    /// Print, as JSON, everything held about a visitor or a customer.
    Export(SubjectArgs),
    /// Delete everything held about a visitor or a customer, and take it out of the reports.
    Erase(SubjectArgs),
}

#[derive(Debug, Args)]
struct SubjectArgs {
    /// The site's public key.
    #[arg(long)]
    site: String,
    #[command(flatten)]
    who: Who,
}

/// Exactly one of a visitor or a customer.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Who {
    /// A visitor's id (a UUID, from the browser's localStorage or an export).
    #[arg(long)]
    visitor: Option<uuid::Uuid>,
    /// A customer id, as the site gave it with `identify`.
    #[arg(long)]
    customer: Option<String>,
}

impl SubjectArgs {
    fn subject(&self) -> Result<Subject> {
        match (&self.who.visitor, &self.who.customer) {
            (Some(visitor), _) => Ok(Subject::Visitor(VisitorId(*visitor))),
            (None, Some(customer)) => Ok(Subject::Customer(CustomerId::parse(customer)?)),
            (None, None) => anyhow::bail!("name a --visitor or a --customer"),
        }
    }
}

/// The largest file the import commands read: ten times what the HTTP API takes, since an
/// operator's shell has no proxy or request timeout in the way.
const MAX_CLI_IMPORT_BYTES: u64 = 10 * import::MAX_IMPORT_BYTES as u64;

/// One-off commands, whose flags have no environment twins, like the other one-off commands.
#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import past answers from a CSV file another NPS tool exported (Delighted, SurveyMonkey,
    /// Typeform, Qualtrics…): a customer id or e-mail, a score, a date and perhaps a comment per
    /// row. All or nothing; importing the same file again stores nothing.
    Responses {
        /// The CSV file; `-` reads standard input.
        file: PathBuf,
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// The survey the answers belong to.
        #[arg(long, default_value = SurveyId::DEFAULT)]
        survey: String,
        /// Which column holds what, when its header is not recognised: `score=COLUMN`,
        /// `date=COLUMN`, `customer=COLUMN` or `comment=COLUMN`. Repeat for several.
        #[arg(long = "map", value_name = "FIELD=COLUMN")]
        map: Vec<String>,
        /// The IANA time zone of dates written without an offset, e.g. Europe/Paris (UTC
        /// unless given).
        #[arg(long)]
        tz: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Import revenue per customer: a CSV file with customer, amount, currency and date columns
    /// (and optionally id), or a JSON array of such rows for a `.json` file. All or nothing;
    /// importing the same rows again stores nothing.
    Revenue {
        /// The CSV or JSON file; `-` reads CSV from standard input.
        file: PathBuf,
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// The IANA time zone of dates written without an offset (UTC unless given).
        #[arg(long)]
        tz: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Webhook subscriptions, as the HTTP API manages them. One-off commands: the site and the
/// subscription are named on the command line, without environment twins.
#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Subscribe a URL to a site's answers; prints the signing secret once.
    Create(WebhookCreateArgs),
    /// List a site's subscriptions (never their secrets).
    List {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a subscription, with its pending deliveries and its log.
    Delete(WebhookId),
    /// Stop delivering until resumed; pending deliveries wait.
    Pause(WebhookId),
    /// Deliver again (also after a receiver's 410 Gone disabled the subscription).
    Resume(WebhookId),
    /// Make a new signing secret; the old one signs beside it for a day. Prints it once.
    RotateSecret(WebhookId),
    /// Queue a test delivery, which the running collector sends.
    Test(WebhookId),
    /// Show a subscription's latest deliveries and every attempt at them.
    Deliveries {
        #[command(flatten)]
        which: WebhookId,
        /// Only `pending`, `delivered` or `failed` ones.
        #[arg(long)]
        status: Option<String>,
        /// How many, newest first.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct WebhookId {
    /// The site's public key.
    #[arg(long)]
    site: String,
    /// The subscription's id (from `webhook list`).
    id: i64,
}

#[derive(Debug, Args)]
struct WebhookCreateArgs {
    /// The site's public key.
    #[arg(long)]
    site: String,
    /// Where to deliver: an http(s) URL (private addresses are allowed).
    #[arg(long)]
    url: String,
    /// `standard` ({"type", "timestamp", "data"}) or `slack` (a message for an incoming webhook).
    #[arg(long, value_enum, default_value_t = FormatArg::Standard)]
    format: FormatArg,
    /// A note for people.
    #[arg(long)]
    description: Option<String>,
    /// Only answers in this category.
    #[arg(long, value_enum)]
    category: Option<CategoryArg>,
    /// Only answers with at most this score.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=10))]
    max_score: Option<u8>,
    /// Only answers whose respondent reached this touchpoint within --window-days before.
    #[arg(long)]
    touchpoint: Option<String>,
    /// Only answers whose respondent was identified with this trait, as NAME=VALUE.
    #[arg(long = "trait")]
    customer_trait: Option<String>,
    /// How far before an answer the touchpoint filter and the payload's journey look (1–365).
    #[arg(long)]
    window_days: Option<u16>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Standard Webhooks JSON.
    Standard,
    /// A Slack message.
    Slack,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CategoryArg {
    /// 9–10.
    Promoter,
    /// 7–8.
    Passive,
    /// 0–6.
    Detractor,
}

impl WebhookCreateArgs {
    /// The settings, checked by the same rules as the HTTP API's.
    fn settings(&self) -> Result<WebhookSettings> {
        let category = self.category.map(|category| match category {
            CategoryArg::Promoter => Category::Promoter,
            CategoryArg::Passive => Category::Passive,
            CategoryArg::Detractor => Category::Detractor,
        });
        let max_score = self.max_score.map(Score::try_from).transpose()?;
        let touchpoint = self
            .touchpoint
            .as_deref()
            .map(TouchpointName::parse)
            .transpose()?;
        let customer_trait = self
            .customer_trait
            .as_deref()
            .map(TraitMatch::parse_pair)
            .transpose()?;
        Ok(WebhookSettings {
            url: ReceiverUrl::parse(&self.url)?,
            format: match self.format {
                FormatArg::Standard => Format::Standard,
                FormatArg::Slack => Format::Slack,
            },
            description: webhooks::description(self.description.as_deref())?,
            filters: Filters::new(
                category,
                max_score,
                touchpoint,
                customer_trait,
                self.window_days,
            )?,
        })
    }
}

/// One-off commands: their arguments have no environment twins on purpose, so a variable left
/// in a shell cannot make the next run seed something else.
#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Store made-up visitors of the demo shop (journeys and NPS answers) for a site. The same
    /// seed makes the same events, so running it twice stores nothing new.
    Seed {
        /// The site's public key.
        #[arg(long)]
        site: String,
        /// How many visitors to make up.
        #[arg(long, default_value_t = 3_000)]
        visitors: u64,
        /// Over how many days, ending now.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3_650))]
        days: u32,
        /// The random generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Store only answers, one from every visitor (many answers fast, for benchmarks).
        #[arg(long)]
        answers_only: bool,
    },
}

impl Cli {
    /// Sends `tracing` output (and `log` output from libraries) to standard error, filtered by
    /// `TOUCHSTONE_LOG` (default `info`).
    pub fn init_logging(&self) {
        let filter = tracing_subscriber::EnvFilter::try_from_env("TOUCHSTONE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Human => builder.init(),
            LogFormat::Json => builder.json().init(),
        }
    }

    /// Runs the chosen command.
    pub async fn run(self) -> Result<()> {
        match self.command {
            Command::Serve(args) => serve(&self.database_url, args).await,
            Command::Site(command) => {
                let store = open(&self.database_url).await?;
                match command {
                    SiteCommand::Create {
                        name,
                        origins,
                        key,
                        json,
                    } => create_site(store.as_ref(), name, &origins, key.as_deref(), json).await,
                    SiteCommand::List { json } => list_sites(store.as_ref(), json).await,
                }
            }
            Command::Key(command) => {
                let store = open(&self.database_url).await?;
                match command {
                    KeyCommand::Create {
                        site,
                        label,
                        scope,
                        json,
                    } => create_key(store.as_ref(), &site, label.as_deref(), scope, json).await,
                    KeyCommand::List { site, json } => list_keys(store.as_ref(), &site, json).await,
                    KeyCommand::Revoke { site, key } => {
                        revoke_key(store.as_ref(), &site, &key).await
                    }
                }
            }
            Command::Survey(command) => match command {
                SurveyCommand::Check { file } => {
                    let surveys = read_surveys(&file)?;
                    print!("{}", describe_surveys(&surveys));
                    Ok(())
                }
                SurveyCommand::Set { site, file } => {
                    let surveys = read_surveys(&file)?;
                    let store = open(&self.database_url).await?;
                    let site = existing_site(store.as_ref(), &site).await?;
                    store.set_site_surveys(&site, &surveys).await?;
                    print!("{}", describe_surveys(&surveys));
                    println!(
                        "Stored for {}. Collectors serve it now; browsers pick it up within five minutes.",
                        site.key
                    );
                    Ok(())
                }
                SurveyCommand::Show { site, json } => {
                    let store = open(&self.database_url).await?;
                    let site = existing_site(store.as_ref(), &site).await?;
                    if store.site_surveys(&site).await?.is_none() {
                        eprintln!(
                            "{} has no configuration of its own; it runs the defaults:",
                            site.key
                        );
                    }
                    let surveys = survey::surveys_of(store.as_ref(), &site).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&surveys)?);
                    } else {
                        print!("{}", toml::to_string_pretty(&surveys)?);
                    }
                    Ok(())
                }
            },
            Command::Privacy(command) => {
                let store = open(&self.database_url).await?;
                match command {
                    PrivacyCommand::Export(args) => {
                        let site = existing_site(store.as_ref(), &args.site).await?;
                        let export =
                            privacy::export(store.as_ref(), &site, &args.subject()?).await?;
                        println!("{}", serde_json::to_string_pretty(&export)?);
                        Ok(())
                    }
                    PrivacyCommand::Erase(args) => {
                        let site = existing_site(store.as_ref(), &args.site).await?;
                        let erased =
                            privacy::erase(store.as_ref(), &site, &args.subject()?).await?;
                        let revenue = match erased.revenue {
                            0 => String::new(),
                            rows => format!(" and {rows} revenue rows"),
                        };
                        println!(
                            "Erased {} events ({} answers) of {} visitors{revenue} from {}.",
                            erased.events, erased.responses, erased.visitors, site.key
                        );
                        Ok(())
                    }
                }
            }
            Command::Import(command) => {
                let store = open(&self.database_url).await?;
                match command {
                    ImportCommand::Responses {
                        file,
                        site,
                        survey,
                        map,
                        tz,
                        json,
                    } => {
                        let site = existing_site(store.as_ref(), &site).await?;
                        let mut columns = ColumnMap::default();
                        for mapping in &map {
                            columns.set(mapping).map_err(anyhow::Error::msg)?;
                        }
                        let settings = AnswerImport {
                            survey: SurveyId::parse(&survey)?,
                            columns,
                            dates: DateRules::in_zone(tz.as_deref()).map_err(anyhow::Error::msg)?,
                        };
                        let body = read_import(&file)?;
                        let receipt = answers::import(store.as_ref(), &site, &body, &settings)
                            .await
                            .map_err(|error| import_failure(&file, error))?;
                        if json {
                            println!("{}", serde_json::to_string(&receipt)?);
                        } else {
                            println!(
                                "Imported {} answers of {} customers into {} ({}), {} already there; dated {} to {}.",
                                receipt.imported,
                                receipt.customers,
                                receipt.site,
                                receipt.survey,
                                receipt.already_present,
                                receipt.from,
                                receipt.to
                            );
                        }
                        Ok(())
                    }
                    ImportCommand::Revenue {
                        file,
                        site,
                        tz,
                        json,
                    } => {
                        let site = existing_site(store.as_ref(), &site).await?;
                        let dates =
                            DateRules::in_zone(tz.as_deref()).map_err(anyhow::Error::msg)?;
                        let body = read_import(&file)?;
                        let is_json = file
                            .extension()
                            .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
                        let entries = if is_json {
                            import::revenue::from_json(&site, &body, &dates)
                        } else {
                            import::revenue::from_csv(&site, &body, &dates)
                                .map_err(ImportError::Invalid)
                        }
                        .map_err(|error| import_failure(&file, error))?;
                        let receipt = import::revenue::import(store.as_ref(), &site, &entries)
                            .await
                            .map_err(|error| import_failure(&file, error))?;
                        if json {
                            println!("{}", serde_json::to_string(&receipt)?);
                        } else {
                            println!(
                                "Imported {} revenue rows of {} customers ({}) into {}, {} already there; dated {} to {}.",
                                receipt.imported,
                                receipt.customers,
                                receipt.currencies.join(", "),
                                receipt.site,
                                receipt.already_present,
                                receipt.from,
                                receipt.to
                            );
                        }
                        Ok(())
                    }
                }
            }
            Command::Webhook(command) => {
                let store = open(&self.database_url).await?;
                webhook_command(store.as_ref(), command).await
            }
            Command::Demo(DemoCommand::Seed {
                site,
                visitors,
                days,
                seed,
                answers_only,
            }) => {
                let store = open(&self.database_url).await?;
                let settings = DemoSettings {
                    visitors,
                    days,
                    seed,
                    until: jiff::Timestamp::now(),
                    answers_only,
                };
                seed_demo(store.as_ref(), &site, &settings).await
            }
        }
    }
}

async fn open(database_url: &str) -> Result<std::sync::Arc<dyn Store>> {
    store::connect(database_url)
        .await
        .context("opening the database")
}

async fn serve(database_url: &str, args: ServeArgs) -> Result<()> {
    let settings = ServeSettings {
        bind: args.bind,
        database_url: database_url.to_owned(),
        www_dir: args.www_dir,
        widget_dir: args.widget_dir,
        rate: RateSettings {
            site_per_second: args.site_rate,
            client_per_second: args.client_rate,
        },
        trusted_proxies: TrustedProxies::new(args.trusted_proxies),
        webhooks: args.webhooks.settings(),
    };
    let application = Application::build(&settings).await?;
    // On standard output, one stable line that scripts and tests can wait for.
    println!("touchstone: listening on http://{}", application.address());
    tracing::info!(address = %application.address(), "collector started");
    application.run_until_stopped().await.context("serving")?;
    tracing::info!("collector stopped");
    Ok(())
}

async fn webhook_command(store: &dyn Store, command: WebhookCommand) -> Result<()> {
    match command {
        WebhookCommand::Create(args) => {
            let settings = args.settings()?;
            let site = existing_site(store, &args.site).await?;
            if store.webhooks(&site).await?.len() >= webhooks::MAX_PER_SITE {
                anyhow::bail!(
                    "{} already has {} webhooks, the most a site may have: delete one first",
                    site.key,
                    webhooks::MAX_PER_SITE
                );
            }
            let secret = WebhookSecret::generate().context("drawing a random secret")?;
            let webhook = store.create_webhook(&site, &settings, &secret).await?;
            if args.json {
                let created = CreatedWebhook::new(&site, webhook, &secret);
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "Webhook {} delivers {} answers of {} to {}.",
                    webhook.id,
                    describe_filters(&settings.filters),
                    site.key,
                    settings.url.as_str()
                );
                println!("  signing secret (shown only now): {}", secret.reveal());
                println!(
                    "Running collectors see it within about a second; answers they store before then are not delivered."
                );
            }
            Ok(())
        }
        WebhookCommand::List { site, json } => {
            let site = existing_site(store, &site).await?;
            let webhooks = store.webhooks(&site).await?;
            if json {
                let shown: Vec<_> = webhooks
                    .into_iter()
                    .map(|webhook| WebhookView::of(&site, webhook))
                    .collect();
                println!("{}", serde_json::to_string(&shown)?);
                return Ok(());
            }
            if webhooks.is_empty() {
                println!(
                    "{} has no webhooks: add one with `touchstone webhook create`.",
                    site.key
                );
            }
            println!("ID\tSTATE\tFORMAT\tANSWERS\tURL");
            for webhook in &webhooks {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    webhook.id,
                    webhook.state.as_str(),
                    webhook.settings.format.as_str(),
                    describe_filters(&webhook.settings.filters),
                    webhook.settings.url.as_str()
                );
            }
            Ok(())
        }
        WebhookCommand::Delete(which) => {
            let site = existing_site(store, &which.site).await?;
            if !store.delete_webhook(&site, which.id).await? {
                anyhow::bail!("{} has no webhook {}", site.key, which.id);
            }
            println!(
                "Deleted webhook {} with its pending deliveries and log.",
                which.id
            );
            Ok(())
        }
        WebhookCommand::Pause(which) => {
            set_webhook_state(store, &which, WebhookState::Paused).await
        }
        WebhookCommand::Resume(which) => {
            set_webhook_state(store, &which, WebhookState::Active).await
        }
        WebhookCommand::RotateSecret(which) => {
            let (site, webhook) = existing_webhook(store, &which).await?;
            let secret = WebhookSecret::generate().context("drawing a random secret")?;
            let until = store::now_millis() + webhooks::ROTATION_OVERLAP_MILLIS;
            store
                .rotate_webhook_secret(&site, webhook.id, &secret, until)
                .await?;
            println!(
                "New signing secret for webhook {} (shown only now): {}",
                webhook.id,
                secret.reveal()
            );
            println!(
                "Until {} deliveries are signed with the previous secret too.",
                date_time(until)
            );
            Ok(())
        }
        WebhookCommand::Test(which) => {
            let (site, webhook) = existing_webhook(store, &which).await?;
            let delivery =
                dispatcher::queue_test(store, &Watch::default(), site.key.as_str(), &webhook)
                    .await?;
            println!(
                "Queued test delivery {delivery}; a running collector sends it within a second \
                 (see `touchstone webhook deliveries --site {} {}`).",
                site.key, webhook.id
            );
            Ok(())
        }
        WebhookCommand::Deliveries {
            which,
            status,
            limit,
            json,
        } => {
            let (site, webhook) = existing_webhook(store, &which).await?;
            if let Some(status) = status.as_deref()
                && !matches!(status, "pending" | "delivered" | "failed")
            {
                anyhow::bail!("--status is pending, delivered or failed, not {status:?}");
            }
            let deliveries = store
                .webhook_deliveries(&site, webhook.id, status.as_deref(), None, limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&deliveries)?);
                return Ok(());
            }
            println!("DELIVERY\tCREATED\tSTATUS\tATTEMPTS\tRESPONSE\tLAST ATTEMPT");
            for delivery in &deliveries {
                let last = delivery.log.last().map_or_else(String::new, |attempt| {
                    let result = match (attempt.status_code, &attempt.error) {
                        (Some(code), _) => format!("HTTP {code}"),
                        (None, Some(error)) => error.clone(),
                        (None, None) => "no answer".to_owned(),
                    };
                    format!(
                        "{} {result} in {} ms",
                        date_time(attempt.at),
                        attempt.duration_ms
                    )
                });
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{last}",
                    delivery.id,
                    date_time(delivery.created_at),
                    delivery.status,
                    delivery.attempts,
                    delivery.event_id
                );
            }
            Ok(())
        }
    }
}

/// Pauses or resumes a subscription.
async fn set_webhook_state(
    store: &dyn Store,
    which: &WebhookId,
    state: WebhookState,
) -> Result<()> {
    let (site, webhook) = existing_webhook(store, which).await?;
    store
        .update_webhook(&site, webhook.id, &webhook.settings, state)
        .await?;
    match state {
        WebhookState::Paused => println!("Paused webhook {}; pending deliveries wait.", webhook.id),
        _ => println!("Webhook {} delivers again.", webhook.id),
    }
    Ok(())
}

async fn existing_webhook(store: &dyn Store, which: &WebhookId) -> Result<(Site, store::Webhook)> {
    let site = existing_site(store, &which.site).await?;
    let webhook = store
        .webhook(&site, which.id)
        .await?
        .with_context(|| format!("{} has no webhook {}", site.key, which.id))?;
    Ok((site, webhook))
}

/// The filters in words: "detractor, score ≤ 4, after support_contact (30 days), plan=pro".
fn describe_filters(filters: &Filters) -> String {
    let mut parts = Vec::new();
    if let Some(category) = filters.category() {
        parts.push(category.as_str().to_owned());
    }
    if let Some(max) = filters.max_score() {
        parts.push(format!("score <= {}", max.value()));
    }
    if let Some(touchpoint) = filters.touchpoint() {
        parts.push(format!(
            "after {touchpoint} ({} days)",
            filters.window().days()
        ));
    }
    if let Some(wanted) = filters.customer_trait() {
        parts.push(format!("{}={}", wanted.name, wanted.value));
    }
    if parts.is_empty() {
        "all".to_owned()
    } else {
        parts.join(", ")
    }
}

async fn create_site(
    store: &dyn Store,
    name: String,
    origins: &[String],
    key: Option<&str>,
    json: bool,
) -> Result<()> {
    let key = match key {
        Some(key) => SiteKey::parse(key)?,
        None => random_site_key()?,
    };
    let origins = origins
        .iter()
        .map(|origin| Origin::parse(origin))
        .collect::<Result<Vec<_>, _>>()?;
    let api_key = ApiKey::generate().context("drawing a random API key")?;
    let site = store
        .create_site(
            &NewSite::new(key, name, origins),
            &api_key.hash(),
            api_key.prefix(),
        )
        .await?;
    if json {
        println!(
            "{}",
            json!({ "site": site_json(&site), "api_key": api_key.reveal() })
        );
    } else {
        println!("Created site {:?}.", site.name);
        println!("  site key (public, for the script tag): {}", site.key);
        println!(
            "  read API key (secret, shown only now):  {}",
            api_key.reveal()
        );
        println!(
            "  origins allowed to send answers:        {}",
            join_origins(&site)
        );
        println!();
        println!("Paste this into every page of the site:");
        println!(
            r#"  <script async src="https://YOUR-COLLECTOR/touchstone.js" data-site="{}"></script>"#,
            site.key
        );
    }
    Ok(())
}

async fn list_sites(store: &dyn Store, json: bool) -> Result<()> {
    let sites = store.sites().await?;
    if json {
        println!(
            "{}",
            serde_json::Value::Array(sites.iter().map(site_json).collect())
        );
    } else if sites.is_empty() {
        println!(
            "No sites yet: create one with `touchstone site create --name NAME --origin URL`."
        );
    } else {
        for site in &sites {
            println!("{}\t{}\t{}", site.key, site.name, join_origins(site));
        }
    }
    Ok(())
}

async fn create_key(
    store: &dyn Store,
    site: &str,
    label: Option<&str>,
    scope: Scope,
    json: bool,
) -> Result<()> {
    let site = SiteKey::parse(site)?;
    let api_key = ApiKey::generate().context("drawing a random API key")?;
    let scope = KeyScope::from(scope);
    let id = store
        .add_api_key(
            &site,
            NewApiKey {
                hash: &api_key.hash(),
                prefix: api_key.prefix(),
                label,
                scope,
            },
        )
        .await?;
    if json {
        println!(
            "{}",
            json!({ "site": site.as_str(), "id": id, "scope": scope.as_str(), "api_key": api_key.reveal() })
        );
    } else {
        println!(
            "New {} API key {id} for {site} (secret, shown only now): {}",
            scope.as_str(),
            api_key.reveal()
        );
    }
    Ok(())
}

async fn list_keys(store: &dyn Store, site: &str, json: bool) -> Result<()> {
    let keys = store.api_keys(&SiteKey::parse(site)?).await?;
    if json {
        println!("{}", serde_json::to_string(&keys)?);
        return Ok(());
    }
    println!("ID\tPREFIX\tSCOPE\tCREATED\tSTATUS\tLABEL");
    for key in keys {
        let status = match key.revoked_at {
            Some(at) => format!("revoked {}", date_time(at)),
            None => "active".to_owned(),
        };
        println!(
            "{}\t{}…\t{}\t{}\t{status}\t{}",
            key.id,
            key.prefix,
            key.scope,
            date_time(key.created_at),
            key.label.unwrap_or_default()
        );
    }
    Ok(())
}

async fn revoke_key(store: &dyn Store, site: &str, key: &str) -> Result<()> {
    let site = SiteKey::parse(site)?;
    let which = match key.parse::<i64>() {
        Ok(id) => KeyToRevoke::Id(id),
        Err(_) => KeyToRevoke::Hash(ApiKey::presented(key.trim()).hash()),
    };
    if store.revoke_api_key(&site, &which).await? {
        println!("Revoked. Requests with that key are refused from now on.");
    } else {
        println!("That key was already revoked.");
    }
    Ok(())
}

/// A survey configuration from a TOML file, or standard input for `-`.
fn read_surveys(file: &std::path::Path) -> Result<SiteSurveys> {
    let text = if file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin().take(survey::MAX_CONFIG_BYTES as u64 + 1))?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    survey::from_toml(&text).map_err(|problem| anyhow::anyhow!("{}: {problem}", file.display()))
}

/// An import file, or standard input for `-`, at most [`MAX_CLI_IMPORT_BYTES`].
fn read_import(file: &std::path::Path) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let limit = MAX_CLI_IMPORT_BYTES + 1;
    if file == std::path::Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut body)?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("reading {}", file.display()))?
            .take(limit)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    if body.len() as u64 > MAX_CLI_IMPORT_BYTES {
        anyhow::bail!(
            "{} is larger than {MAX_CLI_IMPORT_BYTES} bytes: split it into several files",
            file.display()
        );
    }
    Ok(body)
}

/// An import that stored nothing, as an error that lists every problem shown.
fn import_failure(file: &std::path::Path, error: ImportError) -> anyhow::Error {
    match error {
        ImportError::Invalid(problems) => {
            let mut text = format!("{}: {problems}", file.display());
            for problem in problems.listed() {
                text.push_str(&format!("\n  {problem}"));
            }
            if problems.count() > problems.listed().len() {
                text.push_str(&format!(
                    "\n  … and {} more",
                    problems.count() - problems.listed().len()
                ));
            }
            anyhow::Error::msg(text)
        }
        ImportError::MalformedJson(message) => {
            anyhow::anyhow!("{}: not valid JSON: {message}", file.display())
        }
        ImportError::Store(error) => anyhow::Error::new(error).context("storing the import"),
    }
}

/// One line per survey: what it asks for, in words.
fn describe_surveys(surveys: &SiteSurveys) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for survey in surveys.surveys() {
        let targeting = &survey.targeting;
        let trigger = match &targeting.trigger {
            Trigger::PageViews { count } => format!("from page view {count} of a session"),
            Trigger::Touchpoint { name } => format!("once a visitor reaches {name}"),
            Trigger::TimeOnPage { seconds } => format!("after {seconds} s on a page"),
            Trigger::Manual => "only when the page calls touchstone('show')".to_owned(),
        };
        let pages = if targeting.pages.is_empty() {
            "any page".to_owned()
        } else {
            format!("{} page patterns", targeting.pages.len())
        };
        let _ = writeln!(
            text,
            "{}: {}% of visitors, {trigger}, on {pages}; again after {} days (answered) or {} days (dismissed)",
            survey.id,
            targeting.sample.value(),
            targeting.recontact_days_after_answer,
            targeting.recontact_days_after_dismissal,
        );
    }
    text
}

async fn existing_site(store: &dyn Store, site: &str) -> Result<Site> {
    Ok(store.existing_site(&SiteKey::parse(site)?).await?)
}

/// Milliseconds since the epoch as a UTC time to the second.
fn date_time(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| millis.to_string())
}

async fn seed_demo(store: &dyn Store, site: &str, settings: &DemoSettings) -> Result<()> {
    let site = existing_site(store, site).await?;
    let started = std::time::Instant::now();
    let seeded = demo::seed(store, &site, settings)
        .await
        .context("storing the demo events")?;
    println!(
        "Seeded {}: {} visitors over {} days, {} events stored ({} answers), {} already there; {} customers, {} invoices stored; in {:.1?}.",
        site.key,
        seeded.visitors,
        settings.days,
        seeded.stored,
        seeded.answers,
        seeded.already_stored,
        seeded.customers,
        seeded.revenue_rows,
        started.elapsed()
    );
    Ok(())
}

fn site_json(site: &Site) -> serde_json::Value {
    json!({
        "key": site.key.as_str(),
        "name": site.name,
        "origins": site.origins.iter().map(Origin::as_str).collect::<Vec<_>>(),
    })
}

fn join_origins(site: &Site) -> String {
    site.origins
        .iter()
        .map(Origin::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A network (`10.0.0.0/8`) or a single address (`10.0.0.5`, read as `10.0.0.5/32`).
fn address_or_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a network like 10.0.0.0/8"))
}

/// 64 random bits as 16 hex digits: public, but not guessable in bulk.
fn random_site_key() -> Result<SiteKey> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).context("drawing a random site key")?;
    Ok(SiteKey::parse(&hex::encode(bytes))?)
}
