//! `eventflow`: one binary, several roles.

use std::io::Write;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod server;

/// Parses one role's flags as clap would (tests of the flag conversions).
#[cfg(test)]
fn parse_flags<A: clap::Args>(flags: &[&str]) -> Result<A, clap::Error> {
    #[derive(Parser)]
    struct Flags<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    Flags::<A>::try_parse_from(std::iter::once("eventflow").chain(flags.iter().copied()))
        .map(|f| f.args)
}

#[derive(Parser)]
#[command(
    name = "eventflow",
    version,
    about = "Multi-tenant Functions-as-a-Service on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (and the dashboard, with --web-dir).
    Server(Box<server::ServerArgs>),
    /// Run the Kubernetes operator (Tenant and Function controllers).
    Operator(Box<eventflow_operator::cli::OperatorArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// Print the OpenAPI document of the API as JSON.
    Openapi,
    /// Sign in to an EventFlow server; the token is kept in ~/.config/eventflow.
    Login(eventflow_cli::LoginArgs),
    /// Deploy, list, scale, invoke and delete functions; read their logs.
    Fn(eventflow_cli::FnArgs),
    /// Logins to private container registries that the tenant's functions pull with.
    Registry(eventflow_cli::RegistryArgs),
    /// Secrets the tenant's functions read as env variables or files.
    Secret(eventflow_cli::SecretArgs),
    /// Manage tenants and API keys (needs a login with the admin role).
    Admin(eventflow_cli::AdminArgs),
    /// Print a shell completion script.
    Completions(eventflow_cli::CompletionsArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server::run(*args).await,
        Command::Operator(args) => Ok(eventflow_operator::cli::run(*args).await?),
        Command::Crds => {
            std::io::stdout().write_all(eventflow_crd::crds_yaml().as_bytes())?;
            Ok(())
        }
        Command::Openapi => {
            std::io::stdout().write_all(eventflow_server::openapi::json().as_bytes())?;
            Ok(())
        }
        Command::Login(args) => std::process::exit(eventflow_cli::run_login(args).await),
        Command::Fn(args) => std::process::exit(eventflow_cli::run_fn(args).await),
        Command::Registry(args) => std::process::exit(eventflow_cli::run_registry(args).await),
        Command::Secret(args) => std::process::exit(eventflow_cli::run_secret(args).await),
        Command::Admin(args) => std::process::exit(eventflow_cli::run_admin(args).await),
        Command::Completions(args) => std::process::exit(eventflow_cli::run_completions(
            args,
            <Cli as clap::CommandFactory>::command(),
        )),
    }
}
