//! How every EventFlow process logs: `tracing` on stderr, filtered by
//! `EVENTFLOW_LOG`, as JSON lines (production) or text.

/// The log format (`--log-format`).
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

/// Filter when `EVENTFLOW_LOG` is unset: our own info, the chattier
/// libraries' warnings.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,kube=warn,tower_http=info";

/// Installs the process's subscriber (once, at start-up).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVENTFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
