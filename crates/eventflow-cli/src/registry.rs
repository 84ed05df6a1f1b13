//! `eventflow registry …`: the tenant's logins to private container
//! registries. The password is read from stdin (`--password-stdin`) or
//! `EVENTFLOW_REGISTRY_PASSWORD`, never from an argument (which `ps` and
//! shell history would show), and the server never sends it back.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use eventflow_core::{RegistryHost, RegistryLogin};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{non_empty_env, output, session, CliError, Format};

/// `eventflow registry …`
#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(clap::Subcommand, Debug)]
enum RegistryCommand {
    /// Store (or replace) the login for a registry; the tenant's functions
    /// pull with it from then on.
    Login {
        /// Registry host as in image names, e.g. ghcr.io or registry.example.com:5000.
        registry: String,
        #[arg(short, long)]
        username: String,
        /// Read the password (or token) from stdin, up to the first newline.
        /// Without it, EVENTFLOW_REGISTRY_PASSWORD is used.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the stored logins (registry and user; never the password).
    #[command(alias = "ls")]
    List {
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        format: Format,
    },
    /// Forget the login for a registry.
    #[command(alias = "rm")]
    Logout { registry: String },
}

fn host(registry: &str) -> Result<RegistryHost, CliError> {
    Ok(RegistryHost::parse(registry)?)
}

/// The password from stdin (first line, without its line end) or the
/// environment.
fn password(from_stdin: bool) -> Result<String, CliError> {
    if from_stdin {
        let mut input = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut input)
            .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
        return Ok(input.lines().next().unwrap_or_default().to_string());
    }
    non_empty_env("EVENTFLOW_REGISTRY_PASSWORD").ok_or_else(|| {
        CliError::Usage(
            "give the password on stdin with --password-stdin, or set EVENTFLOW_REGISTRY_PASSWORD"
                .into(),
        )
    })
}

fn say(line: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(output::write_error)
}

/// Runs `eventflow registry …`.
pub(crate) async fn command(args: RegistryArgs) -> Result<(), CliError> {
    match args.command {
        RegistryCommand::Login {
            registry,
            username,
            password_stdin,
        } => {
            let registry = host(&registry)?;
            // Checked here with the server's rules before anything is sent.
            let login = RegistryLogin::parse(username, password(password_stdin)?)?;
            let api = session().await?;
            let body = json!({"username": login.username, "password": login.password});
            api.json(
                Method::PUT,
                &format!("/v1/registry-credentials/{registry}"),
                &[],
                Some(&body),
            )
            .await?;
            say(&format!(
                "login for {registry} stored (user {}); functions pull with it from now on",
                login.username
            ))
        }
        RegistryCommand::List { format } => {
            let api = session().await?;
            let v = api
                .json::<()>(Method::GET, "/v1/registry-credentials", &[], None)
                .await?;
            // The items, as `fn list` prints its functions.
            output::render_with(&mut std::io::stdout().lock(), format, &v["items"], table)
        }
        RegistryCommand::Logout { registry } => {
            let registry = host(&registry)?;
            let api = session().await?;
            api.json::<()>(
                Method::DELETE,
                &format!("/v1/registry-credentials/{registry}"),
                &[],
                None,
            )
            .await?;
            say(&format!("login for {registry} removed"))
        }
    }
}

fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|c| {
            vec![
                output::or_dash(output::text(c, &["registry"])),
                output::or_dash(output::text(c, &["username"])),
                output::age(c["updatedAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(&["REGISTRY", "USERNAME", "UPDATED"], rows)
}
