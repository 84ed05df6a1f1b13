//! The `eventflow` command-line client: `login`, `fn …`, `registry …`,
//! `admin …` and `completions`.
//!
//! The binary embeds [`LoginArgs`], [`FnArgs`] and [`CompletionsArgs`] in its
//! clap tree and calls the matching `run_*`, which prints `error: …` to stderr
//! on failure and returns the process exit code (see [`error`] and
//! docs/CLI.md). Input is checked with the server's own types
//! (`eventflow_core`) before anything is sent.

mod admin;
mod client;
pub mod config;
pub mod error;
mod invocations;
mod invoke_keys;
mod output;
mod registry;
mod revisions;
mod secret;
mod stats;

use std::io::Write;

use chrono::Utc;
use eventflow_core::{EnvVar, FunctionName, FunctionSpec, RawFunctionSpec, SpecLimits, TenantId};
use futures::StreamExt;
use reqwest::{
    header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE},
    Method, StatusCode,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

pub use admin::AdminArgs;
use client::Api;
pub use config::StoredConfig;
pub use error::CliError;
pub use output::Format;
pub use registry::RegistryArgs;
pub use secret::SecretArgs;

/// `eventflow login`
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Server URL, e.g. http://127.0.0.1:8080 (default: the stored one).
    #[arg(long, env = "EVENTFLOW_URL")]
    pub url: Option<String>,
    /// Dev mode: sign in as this user id (it becomes your tenant).
    #[arg(long, value_name = "ID", conflicts_with = "api_key")]
    pub user: Option<String>,
    /// An API key issued by an admin (or set EVENTFLOW_API_KEY). Stored, so
    /// that an expired token is renewed transparently.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

/// `eventflow fn …`
#[derive(clap::Args, Debug)]
pub struct FnArgs {
    #[command(subcommand)]
    command: FnCommand,
}

#[derive(clap::Args, Debug)]
struct OutputArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    format: Format,
}

#[derive(clap::Subcommand, Debug)]
enum FnCommand {
    /// Create a function, or replace its spec if it exists (omitted flags take their defaults).
    Deploy(DeployArgs),
    /// List your functions.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one function.
    Get {
        name: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Set the number of replicas.
    Scale {
        name: String,
        replicas: u32,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Delete a function (no confirmation).
    #[command(alias = "rm")]
    Delete { name: String },
    /// Call a function through the gateway; the response body goes to stdout
    /// (with --async: the invocation's id, or with --wait its result).
    Invoke(InvokeArgs),
    /// Print (and with -f follow) the logs of a function's pods.
    Logs(LogsArgs),
    /// List a function's asynchronous invocations, newest first.
    Invocations {
        name: String,
        /// Only this status: queued, running, succeeded, failed or dead.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one asynchronous invocation with its attempts.
    Invocation {
        id: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Queue a dead or failed asynchronous invocation again.
    Redrive {
        id: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Calls by outcome, rate, latency percentiles and cold starts over the
    /// last range (default 15 minutes).
    Stats {
        name: String,
        /// How far back: 15m to 24h (to 7d when the server asks Prometheus).
        #[arg(long, default_value = "15m")]
        range: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// A function's revisions, newest first (or with --diff what one changed).
    Revisions {
        name: String,
        /// Show what this revision changed (from the one before, or --against).
        #[arg(long, value_name = "REVISION")]
        diff: Option<i64>,
        /// With --diff: the older revision to compare with.
        #[arg(long, value_name = "REVISION", requires = "diff")]
        against: Option<i64>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// A function's invoke keys (for webhooks): create, list, revoke.
    Keys {
        #[command(subcommand)]
        command: invoke_keys::KeysCommand,
    },
    /// Make an earlier revision's spec the function's spec again (a new revision).
    Rollback {
        name: String,
        revision: i64,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(clap::Args, Debug)]
struct DeployArgs {
    name: String,
    /// Container image, e.g. nginx:alpine.
    #[arg(long)]
    image: String,
    /// Replicas (0 stops the function) [default: 1].
    #[arg(long)]
    replicas: Option<i64>,
    /// Environment variable, repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_env_var)]
    env: Vec<EnvVar>,
    /// Port the container listens on [default: 8080].
    #[arg(long)]
    port: Option<i64>,
    /// Invocation timeout in seconds [default: 30].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<i64>,
    #[command(flatten)]
    scaling: ScalingArgs,
    /// Attempts an asynchronous invocation gets before it is dead, 1–20
    /// [default: the server's, 5].
    #[arg(long, value_name = "N")]
    max_attempts: Option<i64>,
    /// A cron trigger, repeatable: NAME=CRON, optionally followed by
    /// `;tz=ZONE` and `;body=TEXT`, e.g. 'nightly=0 3 * * *;tz=Europe/Paris'.
    #[arg(long = "schedule", value_name = "NAME=CRON[;tz=ZONE][;body=TEXT]", value_parser = parse_schedule)]
    schedules: Vec<eventflow_core::RawSchedule>,
    /// An environment variable from a key of one of the tenant's secrets,
    /// repeatable: VAR=SECRET:KEY.
    #[arg(long = "secret-env", value_name = "VAR=SECRET:KEY", value_parser = parse_secret_env)]
    secret_env: Vec<eventflow_core::SecretEnvVar>,
    /// Mount a secret read-only at /var/eventflow/secrets/SECRET/KEY,
    /// repeatable.
    #[arg(long = "secret-file", value_name = "SECRET")]
    secret_files: Vec<String>,
    #[command(flatten)]
    out: OutputArg,
}

/// Autoscaling flags of `fn deploy`; `--max-replicas` turns it on.
#[derive(clap::Args, Debug, Default)]
struct ScalingArgs {
    /// Autoscale up to this many replicas.
    #[arg(long, value_name = "N")]
    max_replicas: Option<i64>,
    /// Autoscale down to this many (0: scale to zero when idle) [default: 1].
    #[arg(long, value_name = "N", requires = "max_replicas")]
    min_replicas: Option<i64>,
    /// Scale on requests: in-flight invocations per replica to aim at
    /// [default with --min-replicas 0: 10].
    #[arg(
        long,
        value_name = "N",
        requires = "max_replicas",
        conflicts_with = "target_cpu"
    )]
    target_concurrency: Option<i64>,
    /// Scale on CPU: average utilization to aim at, percent [default: 80].
    #[arg(long, value_name = "PERCENT", requires = "max_replicas")]
    target_cpu: Option<i64>,
    /// With --min-replicas 0: seconds without requests before going to zero
    /// [default: the server's, 300].
    #[arg(long, value_name = "SECONDS", requires = "max_replicas")]
    idle_seconds: Option<i64>,
}

impl ScalingArgs {
    fn raw(&self) -> Option<eventflow_core::RawAutoscaling> {
        self.max_replicas.map(|max| eventflow_core::RawAutoscaling {
            min_replicas: self.min_replicas,
            max_replicas: Some(max),
            target_cpu_percent: self.target_cpu,
            target_concurrency: self.target_concurrency,
            idle_seconds: self.idle_seconds,
        })
    }
}

#[derive(clap::Args, Debug)]
struct InvokeArgs {
    name: String,
    /// Request body: a string, @FILE, or - (or @-) for stdin; streamed.
    #[arg(short = 'd', long, value_name = "STRING|@FILE|-")]
    data: Option<String>,
    /// HTTP method [default: POST with --data, else GET].
    #[arg(short = 'X', long)]
    method: Option<String>,
    /// Path (and query) after /invoke, e.g. /users?id=1.
    #[arg(long)]
    path: Option<String>,
    /// Request header, repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Print the response status and headers to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Invoke asynchronously (`Prefer: respond-async`): the server stores
    /// the request, retries it, and this prints the invocation's id.
    #[arg(long = "async")]
    asynchronous: bool,
    /// With --async: wait until the invocation ends and print its response
    /// body (exit code as for a synchronous call).
    #[arg(long, requires = "asynchronous")]
    wait: bool,
    /// With --async: a URL that receives the result when it ends.
    #[arg(long, value_name = "URL", requires = "asynchronous")]
    callback: Option<String>,
}

#[derive(clap::Args, Debug)]
struct LogsArgs {
    name: String,
    /// Keep streaming new lines until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// Lines to show from the end of each pod's log.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// Only lines newer than this: seconds, or 30s / 5m / 2h / 1d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
    since: Option<u64>,
}

/// `eventflow completions`
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

fn parse_env_var(s: &str) -> Result<EnvVar, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(EnvVar {
            name: k.to_string(),
            value: v.to_string(),
        }),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn parse_secret_env(s: &str) -> Result<eventflow_core::SecretEnvVar, String> {
    let parsed = s
        .split_once('=')
        .and_then(|(var, rest)| Some((var, rest.split_once(':')?)));
    match parsed {
        Some((var, (secret, key))) if !var.is_empty() && !secret.is_empty() && !key.is_empty() => {
            Ok(eventflow_core::SecretEnvVar {
                name: var.to_string(),
                secret: secret.to_string(),
                key: key.to_string(),
            })
        }
        _ => Err(format!("expected VAR=SECRET:KEY, got {s:?}")),
    }
}

fn parse_schedule(s: &str) -> Result<eventflow_core::RawSchedule, String> {
    let (name, rest) = s
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("expected NAME=CRON, got {s:?}"))?;
    let mut parts = rest.split(';');
    let cron = parts.next().unwrap_or_default().trim().to_string();
    let mut schedule = eventflow_core::RawSchedule {
        name: Some(name.trim().to_string()),
        cron: Some(cron),
        ..Default::default()
    };
    for part in parts {
        match part.split_once('=') {
            Some(("tz", z)) => schedule.time_zone = Some(z.trim().to_string()),
            Some(("body", b)) => schedule.body = Some(b.to_string()),
            _ => {
                return Err(format!(
                    "unknown schedule option {part:?} (use tz=ZONE or body=TEXT)"
                ))
            }
        }
    }
    Ok(schedule)
}

pub(crate) fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a duration like 30, 30s, 5m, 2h or 1d, got {s:?}"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("unknown duration unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

/// Runs a command and turns its outcome into an exit code, printing
/// `error: …` on failure. A closed stdout (`| head`) is not a failure.
fn finish(result: Result<(), CliError>) -> i32 {
    match result {
        Ok(()) | Err(CliError::OutputClosed) => error::EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// `eventflow login`; returns the exit code.
pub async fn run_login(args: LoginArgs) -> i32 {
    finish(login(args).await)
}

/// `eventflow fn …`; returns the exit code.
pub async fn run_fn(args: FnArgs) -> i32 {
    finish(function_command(args.command).await)
}

/// `eventflow admin …`; returns the exit code.
pub async fn run_admin(args: AdminArgs) -> i32 {
    finish(admin::command(args).await)
}

/// `eventflow secret …`; returns the exit code.
pub async fn run_secret(args: SecretArgs) -> i32 {
    finish(secret::command(args).await)
}

/// `eventflow registry …`; returns the exit code.
pub async fn run_registry(args: RegistryArgs) -> i32 {
    finish(registry::command(args).await)
}

/// `eventflow completions SHELL`: writes the script for the binary's command
/// tree `cmd` to stdout; returns the exit code.
pub fn run_completions(args: CompletionsArgs, mut cmd: clap::Command) -> i32 {
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut buf);
    let mut out = std::io::stdout().lock();
    match out.write_all(&buf).and_then(|()| out.flush()) {
        Ok(()) => error::EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => error::EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            error::EXIT_GENERIC
        }
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn login(args: LoginArgs) -> Result<(), CliError> {
    let stored = config::load().ok().flatten();
    let url = match args.url.or_else(|| stored.as_ref().map(|s| s.url.clone())) {
        Some(u) => client::normalize_url(&u)?,
        None => {
            return Err(CliError::Usage(
                "--url is required (or set EVENTFLOW_URL), e.g. --url http://127.0.0.1:8080".into(),
            ))
        }
    };
    let (body, api_key) = if let Some(user) = args.user {
        TenantId::parse(&user)
            .map_err(|e| eventflow_core::ValidationError::new("user", e.message))?;
        (json!({"user_id": user, "username": user}), None)
    } else if let Some(key) = args.api_key.or_else(|| non_empty_env("EVENTFLOW_API_KEY")) {
        (json!({"api_key": key}), Some(key))
    } else {
        return Err(CliError::Usage(
            "give --user ID (dev mode) or --api-key KEY (or set EVENTFLOW_API_KEY)".into(),
        ));
    };
    let t = client::request_token(&url, &body).await?;
    let saved = StoredConfig {
        url: url.clone(),
        token: t.token,
        tenant: t.tenant.clone(),
        role: t.role.clone(),
        expires_at: t.expires_at,
        api_key,
    };
    let path = config::save(&saved)?;
    let who = match (&t.tenant, t.role.as_deref()) {
        (Some(tenant), _) => format!("tenant {tenant}"),
        (None, Some(role)) => role.to_string(),
        (None, None) => "unknown".into(),
    };
    let until = t
        .expires_at
        .map(|e| format!(", token valid until {}", e.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Logged in to {url} as {who}{until}. Saved to {}",
        path.display()
    )
    .map_err(output::write_error)
}

/// The API with credentials from EVENTFLOW_URL/EVENTFLOW_TOKEN or the
/// config file, renewing an expired token with a stored API key.
async fn session() -> Result<Api, CliError> {
    let env_url = non_empty_env("EVENTFLOW_URL");
    let env_token = non_empty_env("EVENTFLOW_TOKEN");
    if let (Some(url), Some(token)) = (&env_url, &env_token) {
        return Api::new(url, Some(token.clone()));
    }
    let not_logged_in = || {
        CliError::NotLoggedIn(
            "not logged in: run `eventflow login --url URL --user ID` (dev) or `--api-key KEY`, \
             or set EVENTFLOW_URL and EVENTFLOW_TOKEN"
                .into(),
        )
    };
    let stored = config::load()?;
    let url = match (env_url, &stored) {
        (Some(u), _) => client::normalize_url(&u)?,
        (None, Some(s)) => s.url.clone(),
        (None, None) => return Err(not_logged_in()),
    };
    if let Some(token) = env_token {
        return Api::new(&url, Some(token));
    }
    let Some(mut stored) = stored else {
        return Err(not_logged_in());
    };
    if client::normalize_url(&stored.url).ok().as_deref() != Some(url.as_str()) {
        return Err(CliError::NotLoggedIn(format!(
            "not logged in to {url} (the stored login is for {}): run `eventflow login --url {url}`",
            stored.url
        )));
    }
    let expired = stored
        .expires_at
        .is_some_and(|e| e <= Utc::now() + chrono::Duration::seconds(10));
    if expired {
        client::renew(&mut stored).await?;
    }
    Api::from_stored(stored)
}

fn function_path(name: &FunctionName) -> String {
    format!("/v1/functions/{}", name.as_str())
}

fn print_value(format: Format, value: &Value) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    output::render(&mut out, format, value)
}

#[derive(Serialize)]
struct CreateBody<'a> {
    name: &'a str,
    #[serde(flatten)]
    spec: &'a RawFunctionSpec,
}

async fn function_command(command: FnCommand) -> Result<(), CliError> {
    match command {
        FnCommand::Deploy(args) => deploy(args).await,
        FnCommand::List { out } => {
            let api = session().await?;
            let items = api.all_items("/v1/functions", &[], usize::MAX).await?;
            print_value(out.format, &Value::Array(items))
        }
        FnCommand::Get { name, out } => {
            let name = FunctionName::parse(&name)?;
            let api = session().await?;
            let f = api
                .json::<()>(Method::GET, &function_path(&name), &[], None)
                .await?;
            print_value(out.format, &f)
        }
        FnCommand::Scale {
            name,
            replicas,
            out,
        } => {
            let name = FunctionName::parse(&name)?;
            let api = session().await?;
            let f = api
                .json(
                    Method::PATCH,
                    &function_path(&name),
                    &[],
                    Some(&json!({ "replicas": replicas })),
                )
                .await?;
            print_value(out.format, &f)
        }
        FnCommand::Delete { name } => {
            let name = FunctionName::parse(&name)?;
            let api = session().await?;
            api.json::<()>(Method::DELETE, &function_path(&name), &[], None)
                .await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "function {name} deleted").map_err(output::write_error)
        }
        FnCommand::Invoke(args) => invoke(args).await,
        FnCommand::Logs(args) => logs(args).await,
        FnCommand::Invocations {
            name,
            status,
            limit,
            out,
        } => invocations::list(&name, status.as_deref(), limit, out.format).await,
        FnCommand::Invocation { id, out } => invocations::show(&id, out.format).await,
        FnCommand::Redrive { id, out } => invocations::redrive(&id, out.format).await,
        FnCommand::Revisions {
            name,
            diff,
            against,
            out,
        } => revisions::list(&name, diff, against, out.format).await,
        FnCommand::Keys { command } => invoke_keys::command(command).await,
        FnCommand::Stats { name, range, out } => stats::show(&name, &range, out.format).await,
        FnCommand::Rollback {
            name,
            revision,
            out,
        } => revisions::rollback(&name, revision, out.format).await,
    }
}

async fn deploy(args: DeployArgs) -> Result<(), CliError> {
    let name = FunctionName::parse(&args.name)?;
    let raw = RawFunctionSpec {
        image: Some(args.image),
        replicas: args.replicas,
        env: (!args.env.is_empty()).then_some(args.env),
        port: args.port,
        timeout_seconds: args.timeout,
        autoscaling: args.scaling.raw(),
        retry: args.max_attempts.map(|n| eventflow_core::RawRetry {
            max_attempts: Some(n),
        }),
        schedules: (!args.schedules.is_empty()).then_some(args.schedules),
        secret_env: (!args.secret_env.is_empty()).then_some(args.secret_env),
        secret_files: (!args.secret_files.is_empty()).then_some(args.secret_files),
        ..RawFunctionSpec::default()
    };
    // The server checks replicas against the tenant's own maximum.
    FunctionSpec::parse(
        raw.clone(),
        SpecLimits {
            max_replicas: u32::MAX,
            min_schedule_interval_seconds: 0,
        },
    )?;
    let api = session().await?;
    let body = CreateBody {
        name: name.as_str(),
        spec: &raw,
    };
    let (f, verb) = match api
        .json(Method::POST, "/v1/functions", &[], Some(&body))
        .await
    {
        Ok(f) => (f, "created"),
        Err(CliError::Conflict(_)) => {
            let f = api
                .json(Method::PUT, &function_path(&name), &[], Some(&raw))
                .await?;
            (f, "updated")
        }
        Err(e) => return Err(e),
    };
    eprintln!("function {name} {verb}");
    print_value(args.out.format, &f)
}

/// The request body of `fn invoke --data`.
async fn invoke_body(data: &str) -> Result<(reqwest::Body, Option<u64>), CliError> {
    if data == "-" || data == "@-" {
        let stream = tokio_util::io::ReaderStream::new(tokio::io::stdin());
        return Ok((reqwest::Body::wrap_stream(stream), None));
    }
    if let Some(path) = data.strip_prefix('@') {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| CliError::Usage(format!("cannot read --data file {path:?}: {e}")))?;
        let len = file.metadata().await.ok().map(|m| m.len());
        let stream = tokio_util::io::ReaderStream::new(file);
        return Ok((reqwest::Body::wrap_stream(stream), len));
    }
    Ok((
        reqwest::Body::from(data.to_string()),
        Some(data.len() as u64),
    ))
}

async fn invoke(args: InvokeArgs) -> Result<(), CliError> {
    let name = FunctionName::parse(&args.name)?;
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| CliError::Usage(format!("invalid HTTP method {m:?}")))?,
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| CliError::Usage(format!("header {h:?} is not NAME:VALUE")))?;
        let k = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| CliError::Usage(format!("invalid header name in {h:?}")))?;
        let v = HeaderValue::from_str(v.trim())
            .map_err(|_| CliError::Usage(format!("invalid header value in {h:?}")))?;
        headers.push((k, v));
    }
    let mut path = format!("{}/invoke", function_path(&name));
    if let Some(p) = args.path.as_deref().filter(|p| !p.is_empty()) {
        if !p.starts_with('/') && !p.starts_with('?') {
            path.push('/');
        }
        path.push_str(p);
    }
    let body = match &args.data {
        Some(d) => Some(invoke_body(d).await?),
        None => None,
    };
    let api = session().await?;
    let mut rb = api.request(method, &path);
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    if args.asynchronous {
        rb = rb.header("prefer", "respond-async");
        if let Some(url) = &args.callback {
            rb = rb.header("eventflow-callback", url.as_str());
        }
    }
    if let Some((body, len)) = body {
        if let Some(len) = len {
            rb = rb.header(CONTENT_LENGTH, len);
        }
        rb = rb.body(body);
    }
    let resp = api.send(rb).await?;
    let status = resp.status();
    if args.verbose {
        eprintln!(
            "< {:?} {} {}",
            resp.version(),
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        for (k, v) in resp.headers() {
            eprintln!("< {k}: {}", String::from_utf8_lossy(v.as_bytes()));
        }
    }
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if args.asynchronous && status == StatusCode::ACCEPTED {
        let accepted: Value = resp.json().await.map_err(|e| api.transport_error(e))?;
        return invocations::accepted(accepted, args.wait).await;
    }
    let mut stream = resp.bytes_stream();
    let mut head = Vec::new();
    if !status.is_success() && is_json {
        // The platform's own errors (404, 429, 502, 503, 504 …) carry the
        // error envelope; a function's own error response is passed through.
        let mut ended = false;
        while head.len() < client::ERROR_BODY_LIMIT {
            match stream.next().await {
                Some(chunk) => head.extend_from_slice(&chunk.map_err(|e| api.transport_error(e))?),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            if let Some(e) = client::parse_envelope(status, &head) {
                return Err(e);
            }
        }
    }
    let mut out = tokio::io::stdout();
    out.write_all(&head).await.map_err(output::write_error)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| api.transport_error(e))?;
        out.write_all(&chunk).await.map_err(output::write_error)?;
        out.flush().await.map_err(output::write_error)?;
    }
    out.flush().await.map_err(output::write_error)?;
    if status.is_client_error() || status.is_server_error() {
        return Err(function_error(status));
    }
    Ok(())
}

fn function_error(status: StatusCode) -> CliError {
    CliError::Server {
        status: status.as_u16(),
        message: format!(
            "the function answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    }
}

async fn logs(args: LogsArgs) -> Result<(), CliError> {
    let name = FunctionName::parse(&args.name)?;
    let api = session().await?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if args.follow {
        query.push(("follow", "true".into()));
    }
    if let Some(n) = args.tail {
        query.push(("tailLines", n.to_string()));
    }
    if let Some(s) = args.since {
        query.push(("sinceSeconds", s.to_string()));
    }
    let resp = api
        .open(&format!("{}/logs", function_path(&name)), |rb| {
            rb.header(reqwest::header::ACCEPT, "text/plain")
                .query(&query)
        })
        .await?;
    let mut stream = resp.bytes_stream();
    let mut out = tokio::io::stdout();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| api.transport_error(e))?;
        out.write_all(&chunk).await.map_err(output::write_error)?;
        out.flush().await.map_err(output::write_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("30"), Ok(30));
        assert_eq!(parse_duration_secs("30s"), Ok(30));
        assert_eq!(parse_duration_secs("5m"), Ok(300));
        assert_eq!(parse_duration_secs("2h"), Ok(7200));
        assert_eq!(parse_duration_secs("1d"), Ok(86400));
        assert!(parse_duration_secs("5x").is_err());
        assert!(parse_duration_secs("").is_err());
        assert!(parse_duration_secs("-3").is_err());
        assert!(parse_duration_secs("99999999999999999999d").is_err());
    }

    #[test]
    fn secret_env_flags() {
        let v = parse_secret_env("DB_PASSWORD=db:password").unwrap();
        assert_eq!(
            (v.name.as_str(), v.secret.as_str(), v.key.as_str()),
            ("DB_PASSWORD", "db", "password")
        );
        for bad in ["DB", "DB=db", "=db:k", "DB=:k", "DB=db:"] {
            assert!(parse_secret_env(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules() {
        let s = parse_schedule("nightly=0 3 * * *;tz=Europe/Paris;body={\"a\":1}").unwrap();
        assert_eq!(s.name.as_deref(), Some("nightly"));
        assert_eq!(s.cron.as_deref(), Some("0 3 * * *"));
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(s.body.as_deref(), Some("{\"a\":1}"));
        let plain = parse_schedule("tick=*/10 * * * * *").unwrap();
        assert_eq!(plain.time_zone, None);
        assert!(parse_schedule("=0 3 * * *").is_err());
        assert!(parse_schedule("nightly").is_err());
        assert!(parse_schedule("n=0 3 * * *;color=red").is_err());
    }

    #[test]
    fn env_vars() {
        assert_eq!(
            parse_env_var("A=b=c"),
            Ok(EnvVar {
                name: "A".into(),
                value: "b=c".into()
            })
        );
        assert_eq!(parse_env_var("A=").unwrap().value, "");
        assert!(parse_env_var("A").is_err());
        assert!(parse_env_var("=x").is_err());
    }
}
