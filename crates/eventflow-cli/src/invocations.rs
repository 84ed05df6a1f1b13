//! Asynchronous invocations from the command line: `fn invoke --async`
//! (optionally `--wait`), `fn invocations NAME`, `fn invocation ID` and
//! `fn redrive ID`.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use eventflow_core::FunctionName;
use reqwest::Method;
use serde_json::Value;

use crate::{output, session, CliError, Format};

/// Statuses an invocation ends in.
const FINAL: [&str; 3] = ["succeeded", "failed", "dead"];

/// Ids are the server's UUIDs: anything else cannot be one and must not
/// become part of a path.
pub(crate) fn check_id(id: &str, what: &str) -> Result<(), CliError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(CliError::Usage(format!("{id:?} is not {what}")));
    }
    Ok(())
}

fn path(id: &str) -> Result<String, CliError> {
    check_id(id, "an invocation id")?;
    Ok(format!("/v1/invocations/{id}"))
}

/// After a `202`: prints the id, or with `wait` polls until the invocation
/// ends and writes the function's response body to stdout (an error when it
/// did not succeed).
pub(crate) async fn accepted(accepted: Value, wait: bool) -> Result<(), CliError> {
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    if !wait {
        eprintln!("queued; see it with `eventflow fn invocation {id}`");
        return writeln!(std::io::stdout().lock(), "{id}").map_err(output::write_error);
    }
    let api = session().await?;
    let path = path(&id)?;
    let mut last_attempts = 0;
    let v = loop {
        let v = api.json::<()>(Method::GET, &path, &[], None).await?;
        let status = v["status"].as_str().unwrap_or_default();
        let attempts = v["attempts"].as_u64().unwrap_or(0);
        if attempts > last_attempts && attempts > 1 {
            eprintln!(
                "attempt {attempts} of {} ({})",
                v["maxAttempts"],
                v["lastError"].as_str().unwrap_or("retrying")
            );
        }
        last_attempts = attempts;
        if FINAL.contains(&status) {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let response = &v["response"];
    let body = match (response["body"].as_str(), response["bodyBase64"].as_str()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(CliError::other)?,
        _ => Vec::new(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&body).map_err(output::write_error)?;
    out.flush().map_err(output::write_error)?;
    if v["status"] == "succeeded" {
        return Ok(());
    }
    Err(CliError::Server {
        status: u16::try_from(response["status"].as_u64().unwrap_or(0)).unwrap_or(0),
        message: format!(
            "invocation {id} ended {} after {} attempt(s): {}",
            v["status"].as_str().unwrap_or_default(),
            v["attempts"],
            v["lastError"].as_str().unwrap_or("no error recorded")
        ),
    })
}

/// `fn invocations NAME`: newest first, every page up to `limit`.
pub(crate) async fn list(
    name: &str,
    status: Option<&str>,
    limit: usize,
    format: Format,
) -> Result<(), CliError> {
    let name = FunctionName::parse(name)?;
    let api = session().await?;
    let query: Vec<(&str, &str)> = status.iter().map(|s| ("status", *s)).collect();
    let items = api
        .all_items(&format!("/v1/functions/{name}/invocations"), &query, limit)
        .await?;
    output::render_with(
        &mut std::io::stdout().lock(),
        format,
        &Value::Array(items),
        table,
    )
}

/// `fn invocation ID`: the record with every attempt.
pub(crate) async fn show(id: &str, format: Format) -> Result<(), CliError> {
    let api = session().await?;
    let v = api.json::<()>(Method::GET, &path(id)?, &[], None).await?;
    output::render_with(&mut std::io::stdout().lock(), format, &v, detail)
}

/// `fn redrive ID`.
pub(crate) async fn redrive(id: &str, format: Format) -> Result<(), CliError> {
    let api = session().await?;
    let v = api
        .json::<()>(Method::POST, &format!("{}/redrive", path(id)?), &[], None)
        .await?;
    output::render_with(&mut std::io::stdout().lock(), format, &v, table)
}

fn row(v: &Value, now: DateTime<Utc>) -> Vec<String> {
    vec![
        output::or_dash(output::text(v, &["id"])),
        output::or_dash(output::text(v, &["status"])),
        format!("{}/{}", v["attempts"], v["maxAttempts"]),
        output::or_dash(output::text(v, &["response", "status"])),
        output::or_dash(output::text(v, &["source"])),
        output::age(v["createdAt"].as_str().unwrap_or_default(), now),
    ]
}

const HEADER: [&str; 6] = ["ID", "STATUS", "ATTEMPTS", "CODE", "SOURCE", "AGE"];

fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    output::columns(&HEADER, items.iter().map(|v| row(v, now)).collect())
}

/// One invocation: its row, then its attempts and last error.
fn detail(items: &[&Value], now: DateTime<Utc>) -> String {
    let mut out = table(items, now);
    for v in items {
        let attempts: Vec<Vec<String>> = v["attemptLog"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|a| {
                vec![
                    a["n"].to_string(),
                    output::or_dash(output::text(a, &["outcome"])),
                    output::or_dash(output::text(a, &["status"])),
                    output::age(a["startedAt"].as_str().unwrap_or_default(), now),
                    output::or_dash(output::text(a, &["error"])),
                ]
            })
            .collect();
        if !attempts.is_empty() {
            out.push('\n');
            out.push_str(&output::columns(
                &["ATTEMPT", "OUTCOME", "CODE", "STARTED", "ERROR"],
                attempts,
            ));
        }
        if let Some(cb) = v["callbackStatus"].as_str() {
            out.push_str(&format!("\ncallback: {cb}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuid_like_ids_become_paths() {
        assert_eq!(
            path("0b9c1a3e-1f2d-4c5b-8a7e-123456789abc").unwrap(),
            "/v1/invocations/0b9c1a3e-1f2d-4c5b-8a7e-123456789abc"
        );
        for bad in ["", "../admin", "a/b", "x?y", "%2e"] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_shows_status_attempts_and_the_code() {
        let now = Utc::now();
        let v = serde_json::json!({"id": "abc", "status": "dead", "attempts": 3, "maxAttempts": 3,
            "response": {"status": 500}, "source": "api", "createdAt": now.to_rfc3339()});
        let t = table(&[&v], now);
        assert!(t.starts_with("ID"), "{t}");
        let line = t.lines().nth(1).unwrap();
        for part in ["abc", "dead", "3/3", "500", "api", "0s"] {
            assert!(line.contains(part), "{part} in {line}");
        }
    }
}
