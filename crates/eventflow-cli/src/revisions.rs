//! `fn revisions NAME [--diff N [--against M]]` and `fn rollback NAME N`.

use std::io::Write;

use chrono::{DateTime, Utc};
use eventflow_core::FunctionName;
use reqwest::Method;
use serde_json::Value;

use crate::{output, session, CliError, Format};

/// `fn revisions`: the list, or with `diff` what revision `diff` changed.
pub(crate) async fn list(
    name: &str,
    diff: Option<i64>,
    against: Option<i64>,
    format: Format,
) -> Result<(), CliError> {
    let name = FunctionName::parse(name)?;
    let api = session().await?;
    if let Some(n) = diff {
        let against = against.map(|a| a.to_string());
        let query: Vec<(&str, &str)> = against.iter().map(|a| ("against", a.as_str())).collect();
        let d = api
            .json::<()>(
                Method::GET,
                &format!("/v1/functions/{name}/revisions/{n}/diff"),
                &query,
                None,
            )
            .await?;
        return output::render_with(&mut std::io::stdout().lock(), format, &d, changes);
    }
    let items = api
        .all_items(&format!("/v1/functions/{name}/revisions"), &[], usize::MAX)
        .await?;
    output::render_with(
        &mut std::io::stdout().lock(),
        format,
        &Value::Array(items),
        table,
    )
}

/// `fn rollback NAME N`.
pub(crate) async fn rollback(name: &str, revision: i64, format: Format) -> Result<(), CliError> {
    let name = FunctionName::parse(name)?;
    let api = session().await?;
    let f = api
        .json(
            Method::POST,
            &format!("/v1/functions/{name}/rollback"),
            &[],
            Some(&serde_json::json!({ "revision": revision })),
        )
        .await?;
    if format == Format::Table {
        return writeln!(
            std::io::stdout().lock(),
            "function {name} is at revision {revision}'s spec again (now revision {}, image {})",
            f["generation"],
            output::text(&f, &["spec", "image"])
        )
        .map_err(output::write_error);
    }
    output::render(&mut std::io::stdout().lock(), format, &f)
}

fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|r| {
            vec![
                r["revision"].to_string(),
                if r["current"] == true {
                    "*".into()
                } else {
                    String::new()
                },
                output::or_dash(output::text(r, &["spec", "image"])),
                // sha256: and 12 hex digits, as `docker images` shows them.
                output::or_dash(output::text(r, &["imageDigest"]).chars().take(19).collect()),
                output::or_dash(output::text(r, &["actor"])),
                output::or_dash(output::text(r, &["rollbackOf"])),
                output::age(r["createdAt"].as_str().unwrap_or_default(), now),
            ]
        })
        .collect();
    output::columns(
        &[
            "REVISION",
            "CURRENT",
            "IMAGE",
            "DIGEST",
            "BY",
            "ROLLBACK-OF",
            "AGE",
        ],
        rows,
    )
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn changes(items: &[&Value], _now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for d in items {
        out.push_str(&format!("revision {} → {}\n", d["from"], d["to"]));
        let rows = d["changes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| vec![short(&c["path"]), short(&c["from"]), short(&c["to"])])
            .collect();
        out.push_str(&output::columns(&["FIELD", "FROM", "TO"], rows));
    }
    out
}
