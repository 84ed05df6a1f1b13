//! `eventflow secret …`: the tenant's secrets. Values come from files,
//! environment variables or stdin, never from an argument (which `ps` and
//! shell history would show), and the server never sends them back.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use eventflow_core::{SecretData, SecretName};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{output, session, CliError, Format};

/// `eventflow secret …`
#[derive(clap::Args, Debug)]
pub struct SecretArgs {
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SecretCommand {
    /// Create or replace a secret with the keys given (a replacement drops
    /// keys it does not name). Functions that read it roll onto the new
    /// values.
    Set {
        name: String,
        /// KEY=PATH: the key's value is the file's content, repeatable.
        #[arg(long = "from-file", value_name = "KEY=PATH", value_parser = key_and)]
        from_file: Vec<(String, String)>,
        /// KEY=VAR: the key's value is environment variable VAR, repeatable.
        #[arg(long = "from-env", value_name = "KEY=VAR", value_parser = key_and)]
        from_env: Vec<(String, String)>,
        /// KEY: the key's value is read from stdin (one trailing newline
        /// dropped).
        #[arg(long = "from-stdin", value_name = "KEY")]
        from_stdin: Option<String>,
    },
    /// List the secrets (names, keys and sizes; never values).
    #[command(alias = "ls")]
    List {
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        format: Format,
    },
    /// Show one secret's keys and the functions that read it.
    Get {
        name: String,
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        format: Format,
    },
    /// Delete a secret (refused while functions read it).
    #[command(alias = "rm")]
    Delete { name: String },
}

fn key_and(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// The keys and values the flags name, read and checked with the
/// server's rules.
fn data(
    from_file: Vec<(String, String)>,
    from_env: Vec<(String, String)>,
    from_stdin: Option<String>,
) -> Result<SecretData, CliError> {
    let mut map = BTreeMap::new();
    let mut put = |k: String, v: String| {
        if map.insert(k.clone(), v).is_some() {
            return Err(CliError::Usage(format!("key {k:?} is given twice")));
        }
        Ok(())
    };
    for (k, path) in from_file {
        let v = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Usage(format!("cannot read {path} for key {k:?}: {e}")))?;
        put(k, v)?;
    }
    for (k, var) in from_env {
        let v = std::env::var(&var).map_err(|_| {
            CliError::Usage(format!(
                "environment variable {var} (for key {k:?}) is not set"
            ))
        })?;
        put(k, v)?;
    }
    if let Some(k) = from_stdin {
        let mut v = String::new();
        std::io::stdin()
            .take(1024 * 1024)
            .read_to_string(&mut v)
            .map_err(|e| CliError::Usage(format!("cannot read key {k:?} from stdin: {e}")))?;
        if v.ends_with('\n') {
            v.pop();
            if v.ends_with('\r') {
                v.pop();
            }
        }
        put(k, v)?;
    }
    if map.is_empty() {
        return Err(CliError::Usage(
            "give at least one key: --from-file KEY=PATH, --from-env KEY=VAR or --from-stdin KEY"
                .into(),
        ));
    }
    Ok(SecretData::parse(map)?)
}

fn say(line: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(output::write_error)
}

/// Runs `eventflow secret …`.
pub(crate) async fn command(args: SecretArgs) -> Result<(), CliError> {
    match args.command {
        SecretCommand::Set {
            name,
            from_file,
            from_env,
            from_stdin,
        } => {
            let name = SecretName::parse(&name)?;
            let data = data(from_file, from_env, from_stdin)?;
            let body = json!({ "data": data.into_inner() });
            let api = session().await?;
            let v = api
                .json(
                    Method::PUT,
                    &format!("/v1/secrets/{name}"),
                    &[],
                    Some(&body),
                )
                .await?;
            say(&format!(
                "secret {name} stored (version {}, keys {}); functions that read it roll onto it",
                v["version"],
                keys(&v)
            ))
        }
        SecretCommand::List { format } => {
            let api = session().await?;
            let v = api
                .json::<()>(Method::GET, "/v1/secrets", &[], None)
                .await?;
            output::render_with(&mut std::io::stdout().lock(), format, &v["items"], table)
        }
        SecretCommand::Get { name, format } => {
            let name = SecretName::parse(&name)?;
            let api = session().await?;
            let v = api
                .json::<()>(Method::GET, &format!("/v1/secrets/{name}"), &[], None)
                .await?;
            output::render_with(&mut std::io::stdout().lock(), format, &v, detail)
        }
        SecretCommand::Delete { name } => {
            let name = SecretName::parse(&name)?;
            let api = session().await?;
            api.json::<()>(Method::DELETE, &format!("/v1/secrets/{name}"), &[], None)
                .await?;
            say(&format!("secret {name} deleted"))
        }
    }
}

fn keys(v: &Value) -> String {
    v["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// One secret: its row, then the functions that read it.
fn detail(items: &[&Value], now: DateTime<Utc>) -> String {
    let users: Vec<&str> = items
        .first()
        .and_then(|v| v["usedBy"].as_array())
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let users = if users.is_empty() {
        "-".to_string()
    } else {
        users.join(", ")
    };
    format!("{}\nUSED BY: {users}\n", table(items, now).trim_end())
}

fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|s| {
            vec![
                output::or_dash(output::text(s, &["name"])),
                keys(s),
                s["sizeBytes"].to_string(),
                s["version"].to_string(),
                output::age(s["updatedAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(&["NAME", "KEYS", "BYTES", "VERSION", "UPDATED"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_files_and_the_environment_and_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        std::env::set_var("EF_TEST_SECRET_VALUE", "from-env");
        let d = data(
            vec![("pw".into(), file.display().to_string())],
            vec![("token".into(), "EF_TEST_SECRET_VALUE".into())],
            None,
        )
        .unwrap();
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            [("pw", "from-file\n"), ("token", "from-env")]
        );
        assert!(matches!(
            data(vec![], vec![], None),
            Err(CliError::Usage(_))
        ));
        assert!(data(vec![], vec![("k".into(), "EF_TEST_UNSET_VAR".into())], None).is_err());
        let dup = data(
            vec![("k".into(), file.display().to_string())],
            vec![("k".into(), "EF_TEST_SECRET_VALUE".into())],
            None,
        );
        assert!(matches!(dup, Err(CliError::Usage(m)) if m.contains("twice")));
        assert!(data(
            vec![],
            vec![("a/b".into(), "EF_TEST_SECRET_VALUE".into())],
            None
        )
        .is_err());
        assert!(key_and("k=").is_err() && key_and("=v").is_err() && key_and("k").is_err());
    }
}
