//! `eventflow admin …`: tenants and API keys, for a login with the admin role.

use std::io::Write;

use chrono::{DateTime, Utc};
use eventflow_core::TenantId;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::{output, session, CliError, Format};

/// `eventflow admin …`
#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AdminCommand {
    /// Tenants: list, create, update (replace overrides), delete.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// API keys: list, issue, revoke.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(clap::Args, Debug)]
struct Out {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    format: Format,
}

#[derive(clap::Args, Debug)]
struct Overrides {
    /// ResourceQuota override KEY=VALUE, repeatable; keys: requestsCpu,
    /// requestsMemory, limitsCpu, limitsMemory, pods, persistentVolumeClaims,
    /// services, configMaps, secrets, functions.
    #[arg(long = "quota", value_name = "KEY=VALUE")]
    quota: Vec<String>,
    /// LimitRange override KEY=VALUE, repeatable; keys: defaultRequestCpu,
    /// defaultRequestMemory, defaultLimitCpu, defaultLimitMemory.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    limits: Vec<String>,
    /// Highest replicas one function may ask for (1–1000; default 20).
    #[arg(long)]
    max_replicas: Option<i64>,
}

#[derive(clap::Subcommand, Debug)]
enum TenantCommand {
    /// List tenants.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        out: Out,
    },
    /// Create a tenant (the operator makes its namespace `tenant-ID`).
    Create {
        id: String,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        overrides: Overrides,
        #[command(flatten)]
        out: Out,
    },
    /// Replace a tenant's overrides; what is not given goes back to the defaults.
    Update {
        id: String,
        #[command(flatten)]
        overrides: Overrides,
        #[command(flatten)]
        out: Out,
    },
    /// Delete a tenant with its functions and keys (no confirmation).
    #[command(alias = "rm")]
    Delete { id: String },
}

#[derive(clap::Subcommand, Debug)]
enum KeyCommand {
    /// List API keys (never the keys themselves).
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        out: Out,
    },
    /// Issue a key; it is printed once, on stdout, and never again.
    Issue {
        /// A label to recognise the key by.
        #[arg(long)]
        name: String,
        /// The tenant the key signs in as (a tenant key).
        #[arg(long, conflicts_with = "admin", required_unless_present = "admin")]
        tenant: Option<String>,
        /// An admin key instead.
        #[arg(long)]
        admin: bool,
    },
    /// Revoke a key by id: it mints no tokens, and its tokens stop working.
    Revoke { id: String },
}

const QUOTA_STRINGS: &[&str] = &["requestsCpu", "requestsMemory", "limitsCpu", "limitsMemory"];
const QUOTA_COUNTS: &[&str] = &[
    "pods",
    "persistentVolumeClaims",
    "services",
    "configMaps",
    "secrets",
    "functions",
];
const LIMIT_KEYS: &[&str] = &[
    "defaultRequestCpu",
    "defaultRequestMemory",
    "defaultLimitCpu",
    "defaultLimitMemory",
];

/// `KEY=VALUE` pairs as a JSON object. Keys must be known (the server would
/// ignore a misspelt one); `counts` take whole numbers.
fn pairs(
    flag: &str,
    items: &[String],
    strings: &[&str],
    counts: &[&str],
) -> Result<Option<Value>, CliError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut map = Map::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            return Err(CliError::Usage(format!(
                "--{flag} expects KEY=VALUE, got {item:?}"
            )));
        };
        let value = if strings.contains(&k) {
            Value::from(v)
        } else if counts.contains(&k) {
            let n: i64 = v.parse().map_err(|_| {
                CliError::Usage(format!("--{flag} {k} must be a whole number, got {v:?}"))
            })?;
            Value::from(n)
        } else {
            let known: Vec<&str> = strings.iter().chain(counts).copied().collect();
            return Err(CliError::Usage(format!(
                "--{flag}: unknown key {k:?} (known: {})",
                known.join(", ")
            )));
        };
        map.insert(k.to_string(), value);
    }
    Ok(Some(Value::Object(map)))
}

fn overrides_body(o: &Overrides) -> Result<Map<String, Value>, CliError> {
    let mut body = Map::new();
    if let Some(q) = pairs("quota", &o.quota, QUOTA_STRINGS, QUOTA_COUNTS)? {
        body.insert("quota".into(), q);
    }
    if let Some(l) = pairs("limit", &o.limits, LIMIT_KEYS, &[])? {
        body.insert("limits".into(), l);
    }
    if let Some(n) = o.max_replicas {
        body.insert("maxReplicas".into(), n.into());
    }
    Ok(body)
}

fn tenant_id(id: &str) -> Result<TenantId, CliError> {
    TenantId::parse(id).map_err(|e| eventflow_core::ValidationError::new("id", e.message).into())
}

fn print(
    format: Format,
    value: &Value,
    table: fn(&[&Value], DateTime<Utc>) -> String,
) -> Result<(), CliError> {
    output::render_with(&mut std::io::stdout().lock(), format, value, table)
}

fn say(line: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(output::write_error)
}

/// Runs `eventflow admin …`.
pub(crate) async fn command(args: AdminArgs) -> Result<(), CliError> {
    let api = session().await?;
    match args.command {
        AdminCommand::Tenant(TenantCommand::List { out }) => {
            let v = api
                .json::<()>(Method::GET, "/v1/admin/tenants", &[], None)
                .await?;
            print(out.format, &v, tenant_table)
        }
        AdminCommand::Tenant(TenantCommand::Create {
            id,
            email,
            overrides,
            out,
        }) => {
            let id = tenant_id(&id)?;
            let mut body = overrides_body(&overrides)?;
            body.insert("id".into(), id.as_str().into());
            if let Some(e) = email {
                body.insert("email".into(), e.into());
            }
            let v = api
                .json(Method::POST, "/v1/admin/tenants", &[], Some(&body))
                .await?;
            eprintln!("tenant {id} created");
            print(out.format, &v, tenant_table)
        }
        AdminCommand::Tenant(TenantCommand::Update { id, overrides, out }) => {
            let id = tenant_id(&id)?;
            let body = overrides_body(&overrides)?;
            let v = api
                .json(
                    Method::PUT,
                    &format!("/v1/admin/tenants/{id}"),
                    &[],
                    Some(&body),
                )
                .await?;
            eprintln!("tenant {id} updated");
            print(out.format, &v, tenant_table)
        }
        AdminCommand::Tenant(TenantCommand::Delete { id }) => {
            let id = tenant_id(&id)?;
            api.json::<()>(
                Method::DELETE,
                &format!("/v1/admin/tenants/{id}"),
                &[],
                None,
            )
            .await?;
            say(&format!("tenant {id} deleted"))
        }
        AdminCommand::Key(KeyCommand::List { out }) => {
            let v = api
                .json::<()>(Method::GET, "/v1/admin/api-keys", &[], None)
                .await?;
            print(out.format, &v, key_table)
        }
        AdminCommand::Key(KeyCommand::Issue {
            name,
            tenant,
            admin,
        }) => {
            let body = match (tenant, admin) {
                (Some(t), false) => {
                    json!({"tenant": tenant_id(&t)?.as_str(), "role": "tenant", "name": name})
                }
                _ => json!({"role": "admin", "name": name}),
            };
            let v = api
                .json(Method::POST, "/v1/admin/api-keys", &[], Some(&body))
                .await?;
            let key = v["key"]
                .as_str()
                .ok_or_else(|| CliError::other("the server sent no key"))?;
            eprintln!(
                "API key {} issued; it is shown only now:",
                v["id"].as_str().unwrap_or("?")
            );
            say(key)
        }
        AdminCommand::Key(KeyCommand::Revoke { id }) => {
            api.json::<()>(
                Method::DELETE,
                &format!("/v1/admin/api-keys/{}", urlencode(&id)),
                &[],
                None,
            )
            .await?;
            say(&format!("API key {id} revoked"))
        }
    }
}

/// Key ids are UUIDs; anything else is escaped so it stays one path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A top-level field, `-` when absent or empty.
fn field(v: &Value, key: &str) -> String {
    output::or_dash(output::text(v, &[key]))
}

fn tenant_table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|t| {
            let quota = t["spec"]["quota"]
                .as_object()
                .map(|q| {
                    q.iter()
                        .map(|(k, v)| {
                            format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string))
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "-".into());
            vec![
                field(t, "id"),
                field(t, "namespace"),
                field(t, "maxReplicas"),
                quota,
                output::age(t["createdAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(&["ID", "NAMESPACE", "MAX-REPLICAS", "QUOTA", "AGE"], rows)
}

fn key_table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|k| {
            let state = if k["revokedAt"].is_string() {
                "revoked".to_string()
            } else {
                "active".to_string()
            };
            vec![
                field(k, "id"),
                field(k, "prefix"),
                field(k, "role"),
                field(k, "tenant"),
                field(k, "name"),
                state,
                output::age(k["createdAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(
        &["ID", "PREFIX", "ROLE", "TENANT", "NAME", "STATE", "AGE"],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_checked_and_typed() {
        let o = Overrides {
            quota: vec!["pods=7".into(), "requestsCpu=4".into()],
            limits: vec!["defaultLimitMemory=1Gi".into()],
            max_replicas: Some(5),
        };
        assert_eq!(
            Value::Object(overrides_body(&o).unwrap()),
            json!({"quota": {"pods": 7, "requestsCpu": "4"},
                   "limits": {"defaultLimitMemory": "1Gi"}, "maxReplicas": 5})
        );
        for bad in ["podz=5", "pods=five", "pods"] {
            let o = Overrides {
                quota: vec![bad.into()],
                limits: vec![],
                max_replicas: None,
            };
            assert!(
                matches!(overrides_body(&o), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn tables() {
        let now = Utc::now();
        let t = json!({"id": "acme", "namespace": "tenant-acme", "maxReplicas": 5,
            "spec": {"quota": {"pods": 7}}, "createdAt": now.to_rfc3339()});
        let out = tenant_table(&[&t], now);
        assert!(out.starts_with("ID "), "{out}");
        assert!(
            out.contains("tenant-acme") && out.contains("pods=7"),
            "{out}"
        );
        let k = json!({"id": "k1", "prefix": "efk_abc", "role": "tenant", "tenant": "acme",
            "name": "ci", "revokedAt": "2026-01-01T00:00:00Z", "createdAt": now.to_rfc3339()});
        let out = key_table(&[&k], now);
        assert!(out.contains("revoked") && out.contains("efk_abc"), "{out}");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }
}
