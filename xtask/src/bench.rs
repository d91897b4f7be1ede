//! `cargo xtask bench`: what the collector sustains on this machine, measured in one run against
//! a ceiling measured with the same load generator.
//!
//! It installs wrk when missing, builds the collector and `server/examples/ceiling.rs` in release
//! mode once, and measures:
//! - the ceiling: a bare actix-web endpoint that does no work;
//! - single-event `POST /v1/collect` on SQLite and on PostgreSQL (a fresh database, dropped
//!   afterwards): acknowledged (2xx) events per second at saturation and their share of the
//!   ceiling, p50 and p99 latency at saturation and below it, and the collector's memory;
//! - the NPS trend (365 daily points with intervals) over ten million stored answers on both
//!   backends, seeded once with `touchstone demo seed --answers-only` and kept for later runs.
//!
//! Then it prints targets against figures, also written to `target/bench/results.md`. The
//! machines are shared and noisy: compare figures within one run, not across runs.

use crate::process::{cargo, output, run, step, workspace_root};
use crate::tools::{apt_get, target_dir};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const USAGE: &str = "usage: cargo xtask bench [--seconds N] [--reseed]";

/// Connections that saturate the collector (and the ceiling) on two cores: group commit keeps
/// turning more concurrency into larger commits up to about this many.
const SATURATING_CONNECTIONS: u32 = 256;
/// Seconds of load before each server is measured: the SQLite WAL file reaches its working
/// size (later commits overwrite it in place instead of growing it) and caches fill.
const WARM_UP_SECONDS: u32 = 5;
/// Below saturation: this many connections, each pausing [`PACE_MILLIS`] between requests.
const PACED_CONNECTIONS: u32 = 8;
const PACE_MILLIS: u32 = 10;

/// The trend benchmark's data: this many answers over this many days, and the points asked for.
const TREND_ANSWERS: u64 = 10_000_000;
const TREND_DAYS: u32 = 365;
/// The PostgreSQL database that keeps the seeded answers between runs (seeding takes minutes).
const TREND_DATABASE: &str = "touchstone_bench_trend";
/// The PostgreSQL database for the collect benchmark, dropped afterwards.
const COLLECT_DATABASE: &str = "touchstone_bench_collect";
/// The benchmark's site.
const SITE: &str = "bench";

/// What the collector should reach on the project's two-core machines.
struct Targets {
    /// Acknowledged events per second on SQLite, at least,
    sqlite_events: f64,
    /// and at least this share of the ceiling.
    sqlite_share: f64,
    /// Acknowledged events per second on PostgreSQL, at least.
    postgres_events: f64,
    /// p99 latency below saturation, at most.
    p99_millis: f64,
    /// The collector's peak resident memory, at most.
    memory_mb: f64,
    /// The trend's p99 over ten million answers, at most.
    trend_millis: f64,
}

const TARGETS: Targets = Targets {
    sqlite_events: 20_000.0,
    sqlite_share: 0.5,
    postgres_events: 10_000.0,
    p99_millis: 10.0,
    memory_mb: 100.0,
    trend_millis: 50.0,
};

/// Runs the benchmark.
pub fn bench(args: &[String]) -> Result<()> {
    let (seconds, reseed) = parse_args(args)?;
    let wrk = ensure_wrk()?;
    step("building the collector and the ceiling in release mode");
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "touchstone-server",
        "--bin",
        "touchstone",
        "--example",
        "ceiling",
    ]))?;
    let release = target_dir().join("release");
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let script = dir.join("bench.lua");
    std::fs::write(&script, include_str!("bench.lua"))
        .with_context(|| format!("writing {}", script.display()))?;
    let bench = Bench {
        touchstone: release.join("touchstone"),
        dir,
        load: Load {
            wrk,
            script,
            seconds,
        },
        postgres: std::env::var("TOUCHSTONE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
    };
    psql(&bench.postgres, "SELECT 1").context(
        "PostgreSQL must be reachable at TOUCHSTONE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)",
    )?;

    step("measuring the ceiling: a bare actix-web endpoint");
    let ceiling = {
        let server = Server::start(&mut Command::new(release.join("examples/ceiling")))?;
        bench
            .load
            .collect(&server.address, SATURATING_CONNECTIONS, 0)?
    };
    println!("ceiling: {ceiling}");

    step("measuring POST /v1/collect on SQLite");
    let sqlite_dir = bench.dir.join("collect-sqlite");
    if sqlite_dir.exists() {
        std::fs::remove_dir_all(&sqlite_dir)
            .with_context(|| format!("clearing {}", sqlite_dir.display()))?;
    }
    std::fs::create_dir_all(&sqlite_dir)?;
    let sqlite = bench.collect(&sqlite_url(&sqlite_dir.join("touchstone.db")))?;

    step("measuring POST /v1/collect on PostgreSQL");
    let postgres = {
        let database = Database::create(&bench.postgres, COLLECT_DATABASE)?;
        bench.collect(&database.url)?
    };

    step("measuring the NPS trend over ten million answers on SQLite");
    let sqlite_file = bench.dir.join("trend-sqlite.db");
    let trend_sqlite = bench.trend(&sqlite_url(&sqlite_file), reseed, || {
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", sqlite_file.display()));
            if file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("removing {}", file.display()))?;
            }
        }
        Ok(())
    })?;
    step("measuring the NPS trend over ten million answers on PostgreSQL");
    let trend_postgres = bench.trend(
        &database_url(&bench.postgres, TREND_DATABASE),
        reseed,
        || {
            psql(
                &bench.postgres,
                &format!("DROP DATABASE IF EXISTS {TREND_DATABASE} WITH (FORCE)"),
            )?;
            psql(
                &bench.postgres,
                &format!("CREATE DATABASE {TREND_DATABASE}"),
            )?;
            Ok(())
        },
    )?;

    let table = results_table(&Figures {
        ceiling,
        sqlite,
        postgres,
        trend_sqlite,
        trend_postgres,
    });
    let machine = machine();
    let report = format!(
        "{machine}\nCommand: `cargo xtask bench --seconds {seconds}` ({WARM_UP_SECONDS} s of unmeasured load before each server's runs)\n\n{table}"
    );
    let results = bench.dir.join("results.md");
    std::fs::write(&results, &report).with_context(|| format!("writing {}", results.display()))?;
    println!("\n{report}");
    println!("(also written to {})", results.display());
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(u32, bool)> {
    let mut seconds = 10;
    let mut reseed = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .filter(|seconds| *seconds > 0)
                    .context(USAGE)?;
            }
            "--reseed" => reseed = true,
            _ => bail!("{USAGE}"),
        }
    }
    Ok((seconds, reseed))
}

/// `wrk`, installed from Debian's packages when missing.
fn ensure_wrk() -> Result<PathBuf> {
    let wrk = PathBuf::from("wrk");
    if Command::new(&wrk).arg("-v").output().is_err() {
        step("installing wrk from Debian packages");
        apt_get(&["update"])?;
        apt_get(&["install", "-y", "wrk"])?;
    }
    Ok(wrk)
}

/// What every measurement needs.
struct Bench {
    /// The release `touchstone` binary.
    touchstone: PathBuf,
    /// `target/bench`: scripts, databases, results.
    dir: PathBuf,
    load: Load,
    /// A PostgreSQL URL to create and drop databases through.
    postgres: String,
}

impl Bench {
    /// Runs `touchstone` with `args` on the database `url`; returns what it printed.
    fn touchstone(&self, url: &str, args: &[&str]) -> Result<String> {
        output(
            Command::new(&self.touchstone)
                .args(args)
                .env("TOUCHSTONE_DATABASE_URL", url)
                .env("TOUCHSTONE_LOG", "warn"),
        )
    }

    /// Creates the benchmark site on `url`; returns its read API key.
    fn create_site(&self, url: &str) -> Result<String> {
        let created: Value = serde_json::from_str(&self.touchstone(
            url,
            &[
                "site",
                "create",
                "--key",
                SITE,
                "--name",
                "Benchmark",
                "--origin",
                "http://127.0.0.1",
                "--json",
            ],
        )?)
        .context("reading touchstone's JSON output")?;
        created["api_key"]
            .as_str()
            .map(str::to_owned)
            .context("touchstone printed no api_key")
    }

    /// Starts a collector on `url`: loopback only, warnings only, rate limits out of the way.
    fn serve(&self, url: &str) -> Result<Server> {
        Server::start(
            Command::new(&self.touchstone)
                .args([
                    "serve",
                    "--bind",
                    "127.0.0.1:0",
                    "--site-rate",
                    "100000000",
                    "--client-rate",
                    "100000000",
                ])
                .env("TOUCHSTONE_DATABASE_URL", url)
                // Warnings only; the benchmark serves no widget, so not that one.
                .env(
                    "TOUCHSTONE_LOG",
                    "warn,touchstone_server::routes::assets=error",
                )
                .env("TOUCHSTONE_WWW_DIR", workspace_root().join("www"))
                .env("TOUCHSTONE_WIDGET_DIR", self.dir.join("no-widget")),
        )
    }

    /// Saturates, then paces, the collect endpoint of a collector on a new database at `url`.
    fn collect(&self, url: &str) -> Result<CollectFigures> {
        self.create_site(url)?;
        let server = self.serve(url)?;
        self.load.warm_up(&server.address)?;
        let stored_before = stored_events(&server.address)?;
        let saturated = self
            .load
            .collect(&server.address, SATURATING_CONNECTIONS, 0)?;
        println!("saturated: {saturated}");
        let paced = self
            .load
            .collect(&server.address, PACED_CONNECTIONS, PACE_MILLIS)?;
        println!("below saturation: {paced}");
        let (peak_kb, resident_kb) = memory_kb(server.child.id())?;
        Ok(CollectFigures {
            saturated,
            paced,
            peak_mb: peak_kb as f64 / 1024.0,
            resident_mb: resident_kb as f64 / 1024.0,
            stored: stored_events(&server.address)? - stored_before,
        })
    }

    /// Times the 365-day trend over the answers seeded in `url`, seeding them first (after
    /// `reset`, which makes the database empty) unless an earlier run left them there.
    fn trend(
        &self,
        url: &str,
        reseed: bool,
        reset: impl FnOnce() -> Result<()>,
    ) -> Result<TrendFigures> {
        let marker = self.dir.join(format!(
            "trend-{}.json",
            url.split(':').next().unwrap_or("db")
        ));
        let seeded: Option<Value> = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .filter(|seeded: &Value| seeded["url"] == url && !reseed);
        let seeded = match seeded {
            Some(seeded) => {
                println!("reusing the answers seeded on {}", seeded["seeded_on"]);
                seeded
            }
            None => {
                let _ = std::fs::remove_file(&marker);
                reset()?;
                let api_key = self.create_site(url)?;
                step(&format!(
                    "seeding {TREND_ANSWERS} answers over {TREND_DAYS} days (once; later runs reuse them)"
                ));
                let printed = self.touchstone(
                    url,
                    &[
                        "demo",
                        "seed",
                        "--site",
                        SITE,
                        "--visitors",
                        &TREND_ANSWERS.to_string(),
                        "--days",
                        &TREND_DAYS.to_string(),
                        "--answers-only",
                    ],
                )?;
                print!("{printed}");
                let seeded = json!({
                    "url": url,
                    "api_key": api_key,
                    "seeded_on": jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string(),
                });
                std::fs::write(&marker, seeded.to_string())
                    .with_context(|| format!("writing {}", marker.display()))?;
                seeded
            }
        };
        let key = seeded["api_key"]
            .as_str()
            .context("the marker has no key")?;
        let last: jiff::civil::Date = seeded["seeded_on"]
            .as_str()
            .context("the marker has no date")?
            .parse()?;
        let first = last.checked_sub(jiff::Span::new().days(i64::from(TREND_DAYS) - 1))?;
        let server = self.serve(url)?;
        let mut times = Vec::new();
        for zone in ["UTC", "Asia/Kolkata"] {
            let path = format!("/v1/sites/{SITE}/nps/trend?from={first}&to={last}&tz={zone}");
            // One checked answer first: 365 points holding the seeded answers.
            let report: Value = serde_json::from_str(&http_get(&server.address, &path, Some(key))?)
                .context("reading the trend")?;
            let points = report["points"]
                .as_array()
                .context("the trend has no points")?;
            let answers: u64 = points
                .iter()
                .filter_map(|point| point["responses"].as_u64())
                .sum();
            if points.len() != TREND_DAYS as usize || answers < TREND_ANSWERS * 9 / 10 {
                bail!(
                    "the {zone} trend has {} points and {answers} answers; expected {TREND_DAYS} points and about {TREND_ANSWERS} (try --reseed)",
                    points.len()
                );
            }
            let timed = self.load.get(&server.address, &path, key)?;
            println!("trend in {zone} ({answers} answers): {timed}");
            times.push(timed);
        }
        let kolkata = times.pop().context("two zones were timed")?;
        let utc = times.pop().context("two zones were timed")?;
        Ok(TrendFigures { utc, kolkata })
    }
}

/// The load generator and its script.
#[derive(Debug, Clone)]
struct Load {
    wrk: PathBuf,
    script: PathBuf,
    /// How long each run lasts.
    seconds: u32,
}

impl Load {
    /// Saturates the collect endpoint at `address` for [`WARM_UP_SECONDS`], unmeasured.
    fn warm_up(&self, address: &str) -> Result<()> {
        let warm_up = Load {
            seconds: WARM_UP_SECONDS,
            ..self.clone()
        };
        warm_up.collect(address, SATURATING_CONNECTIONS, 0)?;
        Ok(())
    }

    /// Posts single-answer batches to `address` from `connections` connections, each pausing
    /// `pause_millis` between requests (0: as fast as the server answers).
    fn collect(&self, address: &str, connections: u32, pause_millis: u32) -> Result<WrkResult> {
        self.wrk(
            Command::new(&self.wrk)
                .env("TOUCHSTONE_BENCH_MODE", "collect")
                .env("TOUCHSTONE_BENCH_SITE", SITE)
                .env("TOUCHSTONE_BENCH_DELAY_MS", pause_millis.to_string()),
            connections,
            &format!("http://{address}/v1/collect"),
        )
    }

    /// Sends `GET path` with the read API key `key` to `address`, one request at a time.
    fn get(&self, address: &str, path: &str, key: &str) -> Result<WrkResult> {
        let result = self.wrk(
            Command::new(&self.wrk)
                .env("TOUCHSTONE_BENCH_MODE", "get")
                .env("TOUCHSTONE_BENCH_AUTHORIZATION", format!("Bearer {key}")),
            1,
            &format!("http://{address}{path}"),
        )?;
        if result.non_2xx > 0 || result.socket_errors > 0 {
            bail!("{path} failed during the load: {result}");
        }
        Ok(result)
    }

    fn wrk(&self, command: &mut Command, connections: u32, url: &str) -> Result<WrkResult> {
        let printed = output(
            command
                .arg("--threads")
                .arg(connections.min(2).to_string())
                .arg("--connections")
                .arg(connections.to_string())
                .arg("--duration")
                .arg(format!("{}s", self.seconds))
                .arg("--timeout")
                .arg("5s")
                .arg("--script")
                .arg(&self.script)
                .arg(url),
        )?;
        let line = printed
            .lines()
            .find_map(|line| line.strip_prefix("WRK_RESULT "))
            .with_context(|| format!("wrk printed no result:\n{printed}"))?;
        let result: Value = serde_json::from_str(line).context("reading wrk's result")?;
        let field = |name: &str| {
            result[name]
                .as_u64()
                .with_context(|| format!("wrk's result has no {name}: {line}"))
        };
        Ok(WrkResult {
            requests: field("requests")?,
            duration_us: field("duration_us")?,
            non_2xx: field("non_2xx")?,
            socket_errors: field("socket_errors")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
            connections,
        })
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    non_2xx: u64,
    socket_errors: u64,
    p50_us: u64,
    p99_us: u64,
    connections: u32,
}

impl WrkResult {
    /// Requests answered with a 2xx, per second.
    fn acknowledged_per_second(&self) -> f64 {
        (self.requests - self.non_2xx) as f64 / (self.duration_us as f64 / 1e6)
    }

    fn p50_millis(&self) -> f64 {
        self.p50_us as f64 / 1000.0
    }

    fn p99_millis(&self) -> f64 {
        self.p99_us as f64 / 1000.0
    }
}

impl std::fmt::Display for WrkResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests from {} connections, {:.0} 2xx/s, {} non-2xx, {} socket errors, p50 {:.2} ms, p99 {:.2} ms",
            self.requests,
            self.connections,
            self.acknowledged_per_second(),
            self.non_2xx,
            self.socket_errors,
            self.p50_millis(),
            self.p99_millis()
        )
    }
}

/// A collect benchmark's figures on one backend.
struct CollectFigures {
    saturated: WrkResult,
    paced: WrkResult,
    /// VmHWM: the most memory the collector held.
    peak_mb: f64,
    /// VmRSS after the load.
    resident_mb: f64,
    /// Events the collector counted as stored during the measured runs.
    stored: u64,
}

/// The trend's timings in a whole-hour zone and in a half-hour one.
struct TrendFigures {
    utc: WrkResult,
    kolkata: WrkResult,
}

struct Figures {
    ceiling: WrkResult,
    sqlite: CollectFigures,
    postgres: CollectFigures,
    trend_sqlite: TrendFigures,
    trend_postgres: TrendFigures,
}

/// The Markdown table of targets and figures.
fn results_table(figures: &Figures) -> String {
    let ceiling = figures.ceiling.acknowledged_per_second();
    let mut rows: Vec<[String; 4]> = vec![[
        format!("Ceiling: bare actix-web POST, {SATURATING_CONNECTIONS} connections"),
        "—".into(),
        format!("{} req/s", thousands(ceiling)),
        String::new(),
    ]];
    for (name, collect, minimum, share) in [
        (
            "SQLite",
            &figures.sqlite,
            TARGETS.sqlite_events,
            Some(TARGETS.sqlite_share),
        ),
        (
            "PostgreSQL",
            &figures.postgres,
            TARGETS.postgres_events,
            None,
        ),
    ] {
        let events = collect.saturated.acknowledged_per_second();
        let ratio = events / ceiling;
        let target = match share {
            Some(share) => format!(
                "≥ {} /s and ≥ {:.0}% of ceiling",
                thousands(minimum),
                share * 100.0
            ),
            None => format!("≥ {} /s", thousands(minimum)),
        };
        rows.push([
            format!("{name}: acknowledged events/s, {SATURATING_CONNECTIONS} connections"),
            target,
            format!(
                "{} /s ({:.0}% of ceiling)",
                thousands(events),
                ratio * 100.0
            ),
            met(events >= minimum && share.is_none_or(|share| ratio >= share)),
        ]);
        let acknowledged = collect.saturated.requests - collect.saturated.non_2xx
            + collect.paced.requests
            - collect.paced.non_2xx;
        // wrk stops counting with requests still in flight, which the collector stores all
        // the same: at most one per connection.
        let in_flight = u64::from(SATURATING_CONNECTIONS + PACED_CONNECTIONS);
        rows.push([
            format!("{name}: non-2xx, socket errors; events stored"),
            format!("0, 0; acknowledged (+ ≤ {in_flight} in flight at the end)"),
            format!(
                "{}, {}; {} for {} acknowledged",
                collect.saturated.non_2xx + collect.paced.non_2xx,
                collect.saturated.socket_errors + collect.paced.socket_errors,
                collect.stored,
                acknowledged
            ),
            met(collect.saturated.non_2xx + collect.paced.non_2xx == 0
                && collect.saturated.socket_errors + collect.paced.socket_errors == 0
                && (acknowledged..=acknowledged + in_flight).contains(&collect.stored)),
        ]);
        rows.push([
            format!("{name}: p50 / p99 at saturation"),
            "—".into(),
            latency(&collect.saturated),
            String::new(),
        ]);
        rows.push([
            format!(
                "{name}: p50 / p99 below saturation ({PACED_CONNECTIONS} connections, {PACE_MILLIS} ms pauses, {} req/s)",
                thousands(collect.paced.acknowledged_per_second())
            ),
            format!("p99 ≤ {} ms", TARGETS.p99_millis),
            latency(&collect.paced),
            met(collect.paced.p99_millis() <= TARGETS.p99_millis),
        ]);
        rows.push([
            format!("{name}: collector memory, peak (VmHWM) / after (VmRSS)"),
            format!("≤ {} MB", TARGETS.memory_mb),
            format!("{:.0} MB / {:.0} MB", collect.peak_mb, collect.resident_mb),
            met(collect.peak_mb <= TARGETS.memory_mb),
        ]);
    }
    for (name, trend) in [
        ("SQLite", &figures.trend_sqlite),
        ("PostgreSQL", &figures.trend_postgres),
    ] {
        rows.push([
            format!(
                "{name}: NPS trend, {TREND_DAYS} days in UTC over {} answers, median / p99",
                thousands(TREND_ANSWERS as f64)
            ),
            format!("≤ {} ms", TARGETS.trend_millis),
            latency(&trend.utc),
            met(trend.utc.p99_millis() <= TARGETS.trend_millis),
        ]);
        rows.push([
            format!("{name}: the same in Asia/Kolkata (+05:30)"),
            format!("≤ {} ms", TARGETS.trend_millis),
            latency(&trend.kolkata),
            met(trend.kolkata.p99_millis() <= TARGETS.trend_millis),
        ]);
    }
    let mut table = String::from("| Measure | Target | Measured | Met |\n|---|---|---|---|\n");
    for [measure, target, measured, met] in rows {
        let _ = writeln!(table, "| {measure} | {target} | {measured} | {met} |");
    }
    table
}

fn latency(result: &WrkResult) -> String {
    format!(
        "{:.2} ms / {:.2} ms",
        result.p50_millis(),
        result.p99_millis()
    )
}

fn met(yes: bool) -> String {
    if yes { "yes" } else { "**no**" }.into()
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// The machine, for the record: cores and memory.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| kb_field(&info, "MemTotal:"))
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("Machine: {cores} cores (nproc), {memory} memory.")
}

/// A server process (the collector or the ceiling), stopped when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl Server {
    /// Starts `command` and waits for its `…: listening on http://ADDRESS` line.
    fn start(command: &mut Command) -> Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let Some((_, address)) = line.trim().split_once("listening on http://") else {
            let _ = child.kill();
            bail!("{:?} did not start: {line:?}", command.get_program());
        };
        Ok(Server {
            address: address.to_owned(),
            child,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL database made for this run, dropped when this value is.
struct Database {
    admin: String,
    name: &'static str,
    url: String,
}

impl Database {
    fn create(admin: &str, name: &'static str) -> Result<Self> {
        psql(
            admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            admin: admin.to_owned(),
            name,
            url: database_url(admin, name),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let dropped = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Err(error) = dropped {
            eprintln!("could not drop the database {}: {error:#}", self.name);
        }
    }
}

/// Runs one SQL statement with psql on the database `url`.
fn psql(url: &str, sql: &str) -> Result<String> {
    output(Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]))
}

/// The PostgreSQL URL `url` with another database name.
fn database_url(url: &str, name: &str) -> String {
    let server = url.rsplit_once('/').map_or(url, |(server, _)| server);
    format!("{server}/{name}")
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// The peak (VmHWM) and current (VmRSS) resident memory of process `pid`, in KiB.
fn memory_kb(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name| kb_field(&status, name).with_context(|| format!("no {name} in {path}"));
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// The number of a `Name:   1234 kB` line.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// The events the collector at `address` has stored since it started, from its `/metrics`,
/// once the requests a finished load run left in flight have been committed.
fn stored_events(address: &str) -> Result<u64> {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let metrics = http_get(address, "/metrics", None)?;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("touchstone_events_stored_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|stored| stored as u64)
        .context("reading touchstone_events_stored_total from /metrics")
}

/// A plain HTTP/1.0 `GET`, for the few checks made besides the load itself; returns the body
/// of a `200`.
fn http_get(address: &str, path: &str, key: Option<&str>) -> Result<String> {
    let mut stream =
        TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let authorization = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\n{authorization}\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path}: no complete answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET {path} answered {status}: {body}");
    }
    Ok(body.to_owned())
}
