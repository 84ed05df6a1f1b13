//! `fn stats NAME [--range R]`: a function's calls, errors, latency and
//! cold starts over the last range (default 15 min), from
//! `GET /v1/functions/{name}/metrics`.

use chrono::{DateTime, Utc};
use eventflow_core::FunctionName;
use reqwest::Method;
use serde_json::Value;

use crate::{output, session, CliError, Format};

pub(crate) async fn show(name: &str, range: &str, format: Format) -> Result<(), CliError> {
    let name = FunctionName::parse(name)?;
    let api = session().await?;
    let m = api
        .json::<()>(
            Method::GET,
            &format!("/v1/functions/{name}/metrics"),
            &[("range", range)],
            None,
        )
        .await?;
    // `-o json|yaml`: the summary with the function, range and replicas
    // (the points are the API's; `fn stats` is about now).
    let mut summary = m["summary"].clone();
    if let Value::Object(o) = &mut summary {
        for k in [
            "function",
            "backend",
            "rangeSeconds",
            "replicas",
            "readyReplicas",
        ] {
            o.insert(k.to_string(), m[k].clone());
        }
    }
    output::render_with(&mut std::io::stdout().lock(), format, &summary, table)
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map(|x| {
            if x < 10.0 {
                format!("{x:.2}ms")
            } else {
                format!("{x:.0}ms")
            }
        })
        .unwrap_or_else(|| "-".into())
}

fn table(items: &[&Value], _now: DateTime<Utc>) -> String {
    let rows = items
        .iter()
        .map(|s| {
            let c = &s["calls"];
            let n = |k: &str| c[k].as_u64().unwrap_or(0).to_string();
            let range = s["rangeSeconds"].as_i64().unwrap_or(0);
            vec![
                output::or_dash(output::text(s, &["function"])),
                if range >= 86400 && range % 86400 == 0 {
                    format!("{}d", range / 86400)
                } else if range % 3600 == 0 {
                    format!("{}h", range / 3600)
                } else {
                    format!("{}m", range / 60)
                },
                format!("{:.3}", s["callsPerSecond"].as_f64().unwrap_or(0.0)),
                n("2xx"),
                n("4xx"),
                n("429"),
                n("5xx"),
                n("503"),
                n("504"),
                ms(&s["latencyMs"]["p50"]),
                ms(&s["latencyMs"]["p95"]),
                ms(&s["latencyMs"]["p99"]),
                s["coldStarts"].to_string(),
                format!("{}/{}", s["readyReplicas"], s["replicas"]),
            ]
        })
        .collect();
    output::columns(
        &[
            "FUNCTION", "RANGE", "CALLS/S", "2XX", "4XX", "429", "5XX", "503", "504", "P50", "P95",
            "P99", "COLD", "READY",
        ],
        rows,
    )
}
