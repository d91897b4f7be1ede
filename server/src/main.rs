//! `touchstone`: the collector (`touchstone serve`) and the commands that set up its sites and
//! keys. See `touchstone --help`.

mod cli;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    cli.init_logging();
    cli.run().await
}
