//! Touchstone's build, run, test and benchmark automation, run as `cargo xtask <command>`.
//!
//! This is the only place that spawns processes for building and tooling. Every command installs
//! what it needs when it is missing (the wasm32 target, wasm-bindgen-cli, wasm-opt, Chromium) and
//! says what it is doing, so the README's two commands work on a fresh machine.

mod bench;
mod process;
mod run;
mod test;
mod tools;
mod widget;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

commands:
  run            build the widget, start the collector on SQLite with a demo site, print its URLs
  test           everything CI runs: fmt, clippy, unit, property, API, browser and end-to-end tests
  build-widget   build the widget's core and survey modules (release, wasm-opt, terser) into
                 target/widget and print the first visit's size against the 45 KB target
  bench          measure the collector (release) against a bare actix-web ceiling with wrk, and
                 the NPS trend over ten million answers, on SQLite and PostgreSQL
                 [--seconds N per load run, default 10] [--reseed the cached trend databases]
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run::run(&args[1..]),
        Some("test") => test::test(&args[1..]),
        Some("build-widget") => widget::build().and_then(|build| build.print_sizes().map(drop)),
        Some("bench") => bench::bench(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
