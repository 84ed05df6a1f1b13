//! `-o table|json|yaml` rendering of functions.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns: NAME IMAGE READY PHASE REASON AGE.
    Table,
    /// The API's JSON (an array for `fn list`).
    Json,
    /// The same as YAML.
    Yaml,
}

/// Writes one function or a list of them (`value` is an array then).
pub fn render(out: &mut dyn Write, format: Format, value: &Value) -> Result<(), CliError> {
    render_with(out, format, value, table)
}

/// [`render`] with another `table` for `-o table` (tenants, API keys).
pub fn render_with(
    out: &mut dyn Write,
    format: Format,
    value: &Value,
    table: fn(&[&Value], DateTime<Utc>) -> String,
) -> Result<(), CliError> {
    let text = match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value).map_err(CliError::other)?;
            s.push('\n');
            s
        }
        Format::Yaml => serde_yaml::to_string(value).map_err(CliError::other)?,
        Format::Table => {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                v => vec![v],
            };
            table(&items, Utc::now())
        }
    };
    out.write_all(text.as_bytes()).map_err(write_error)?;
    out.flush().map_err(write_error)
}

pub fn write_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return CliError::OutputClosed;
    }
    CliError::other(format!("cannot write output: {e}"))
}

pub fn text(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    match cur {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// kubectl-style age: `45s`, `12m`, `3h`, `5d`.
pub fn age(created: &str, now: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(created) else {
        return "-".into();
    };
    let secs = (now - t.with_timezone(&Utc)).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

pub fn table(items: &[&Value], now: DateTime<Utc>) -> String {
    let mut rows = Vec::new();
    for f in items {
        let ready = text(f, &["status", "readyReplicas"]);
        let ready = if ready.is_empty() { "0".into() } else { ready };
        let want = or_dash(text(f, &["spec", "replicas"]));
        let reason = if text(f, &["status", "phase"]) == "Running" {
            String::new()
        } else {
            text(f, &["status", "reason"])
        };
        rows.push(vec![
            or_dash(text(f, &["name"])),
            or_dash(text(f, &["spec", "image"])),
            format!("{ready}/{want}"),
            or_dash(text(f, &["status", "phase"])),
            or_dash(reason),
            age(&text(f, &["createdAt"]), now),
        ]);
    }
    columns(&["NAME", "IMAGE", "READY", "PHASE", "REASON", "AGE"], rows)
}

/// `header` and `rows` as aligned columns, three spaces apart, the last
/// column unpadded.
pub fn columns(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_documented_columns() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T21:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let f = serde_json::json!({
            "name": "alice-app", "spec": {"image": "nginx:alpine", "replicas": 2},
            "status": {"phase": "Pending", "reason": "ClusterUnavailable", "readyReplicas": 0},
            "createdAt": "2026-11-25T20:55:00.000Z"
        });
        let t = table(&[&f], now);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["NAME", "IMAGE", "READY", "PHASE", "REASON", "AGE"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "alice-app",
                "nginx:alpine",
                "0/2",
                "Pending",
                "ClusterUnavailable",
                "5m"
            ]
        );
        assert_eq!(lines[0].find("IMAGE"), lines[1].find("nginx"));
    }

    #[test]
    fn ages() {
        let now = Utc::now();
        let ago = |s: i64| (now - chrono::Duration::seconds(s)).to_rfc3339();
        assert_eq!(age(&ago(5), now), "5s");
        assert_eq!(age(&ago(150), now), "2m");
        assert_eq!(age(&ago(7300), now), "2h");
        assert_eq!(age(&ago(200_000), now), "2d");
        assert_eq!(age("garbage", now), "-");
    }
}
