//! `fn keys create|list|revoke`: a function's invoke keys. `create` prints
//! the key alone on stdout, once (the notice goes to stderr).

use std::io::Write;

use chrono::{DateTime, Utc};
use eventflow_core::FunctionName;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{output, parse_duration_secs, session, CliError, Format};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Make a key that may only invoke this function; printed once.
    Create {
        name: String,
        /// What the key is for, e.g. github-webhook.
        #[arg(long = "key-name", value_name = "TEXT")]
        key_name: String,
        /// Lifetime (seconds, or 30m / 12h / 30d); default: until revoked.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
        expires: Option<u64>,
    },
    /// List the function's keys (never the keys).
    #[command(alias = "ls")]
    List {
        name: String,
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        format: Format,
    },
    /// Revoke a key: it stops working at once.
    #[command(alias = "rm")]
    Revoke { name: String, id: String },
}

pub(crate) async fn command(command: KeysCommand) -> Result<(), CliError> {
    let api = session().await?;
    match command {
        KeysCommand::Create {
            name,
            key_name,
            expires,
        } => {
            let name = FunctionName::parse(&name)?;
            let mut body = json!({ "name": key_name });
            if let Some(s) = expires {
                body["expiresInSeconds"] = json!(s);
            }
            let k = api
                .json(
                    Method::POST,
                    &format!("/v1/functions/{name}/invoke-keys"),
                    &[],
                    Some(&body),
                )
                .await?;
            eprintln!(
                "invoke key {} for function {name} (shown only now; send it as `Authorization: Bearer <key>` to /v1/functions/{name}/invoke)",
                k["id"].as_str().unwrap_or_default()
            );
            writeln!(
                std::io::stdout().lock(),
                "{}",
                k["key"].as_str().unwrap_or_default()
            )
            .map_err(output::write_error)
        }
        KeysCommand::List { name, format } => {
            let name = FunctionName::parse(&name)?;
            let v = api
                .json::<()>(
                    Method::GET,
                    &format!("/v1/functions/{name}/invoke-keys"),
                    &[],
                    None,
                )
                .await?;
            output::render_with(&mut std::io::stdout().lock(), format, &v["items"], table)
        }
        KeysCommand::Revoke { name, id } => {
            let name = FunctionName::parse(&name)?;
            crate::invocations::check_id(&id, "a key id")?;
            api.json::<()>(
                Method::DELETE,
                &format!("/v1/functions/{name}/invoke-keys/{id}"),
                &[],
                None,
            )
            .await?;
            writeln!(std::io::stdout().lock(), "invoke key {id} revoked")
                .map_err(output::write_error)
        }
    }
}

fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|k| {
            let state = if k["revokedAt"].is_string() {
                "revoked"
            } else if k["active"] == true {
                "active"
            } else {
                "expired"
            };
            vec![
                output::or_dash(output::text(k, &["id"])),
                output::or_dash(output::text(k, &["name"])),
                output::or_dash(output::text(k, &["prefix"])),
                state.to_string(),
                k["expiresAt"]
                    .as_str()
                    .map_or_else(|| "never".to_string(), str::to_string),
                output::age(k["createdAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(&["ID", "NAME", "PREFIX", "STATE", "EXPIRES", "AGE"], rows)
}
