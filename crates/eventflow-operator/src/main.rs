//! `eventflow-operator`: the operator on its own. The manifests run this
//! binary rather than `eventflow operator`: it links none of the server's
//! crates and is built for size (the `release-operator` profile), so less
//! of the operator's memory is its own code (docs/PERFORMANCE.md).

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "eventflow-operator",
    version,
    about = "EventFlow's Kubernetes operator (Tenant and Function controllers)"
)]
struct Cli {
    #[command(flatten)]
    args: eventflow_operator::cli::OperatorArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eventflow_operator::cli::run(Cli::parse().args).await?;
    Ok(())
}
