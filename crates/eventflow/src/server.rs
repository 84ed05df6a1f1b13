//! `eventflow server`: its flags, and their conversion into the server's
//! start-up [`Settings`] (a pure function, unit-tested here); start-up
//! itself is `eventflow_server::startup`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use eventflow_server::{
    api::samples::{check_unique, SampleImage},
    auth::AuthMode,
    gateway::{GatewayConfig, Resolver},
    startup::{Secret, Server, Settings, WebDir},
    sync::{KubeSource, SyncConfig},
};
use secrecy::SecretString;

use eventflow_kube::logging::LogFormat;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum KubernetesMode {
    /// Use --kubeconfig, else KUBECONFIG / ~/.kube/config / in-cluster; retry while unreachable.
    Auto,
    /// No cluster: functions are stored and stay Pending.
    Off,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum InvokeResolver {
    /// kube-proxy outside a cluster, dns inside (KUBERNETES_SERVICE_HOST set).
    Auto,
    /// In-cluster Service DNS: fn-{name}.tenant-{id}.svc.{cluster-domain}.
    Dns,
    /// Through the Kubernetes API server's service proxy.
    KubeProxy,
    /// Only the endpoints given with --invoke-static.
    Static,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum AuthModeArg {
    Dev,
    Production,
}

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "EVENTFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the /metrics listener. Metrics name every tenant and
    /// function: keep it off the public network (in Kubernetes, expose it
    /// only to Prometheus).
    #[arg(
        long,
        env = "EVENTFLOW_METRICS_LISTEN",
        default_value = "127.0.0.1:9091"
    )]
    metrics_listen: SocketAddr,
    /// Threads that serve HTTP connections, each with its own event loop
    /// (as nginx's worker processes); 0: one per CPU core.
    #[arg(
        long,
        env = "EVENTFLOW_HTTP_WORKERS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u16).range(0..=256)
    )]
    http_workers: u16,
    /// Directory for embedded state (SQLite database, dev JWT secret).
    #[arg(long, env = "EVENTFLOW_DATA_DIR", default_value = ".eventflow-data")]
    data_dir: PathBuf,
    /// postgres://… or sqlite:…; default: SQLite in the data dir.
    #[arg(long, env = "EVENTFLOW_DATABASE_URL", hide_env_values = true)]
    database_url: Option<SecretString>,
    /// Dev mode: anyone may mint a token for any user id. Same as --auth-mode dev.
    #[arg(long, env = "EVENTFLOW_DEV")]
    dev: bool,
    /// `dev` or `production` (default).
    #[arg(long, env = "EVENTFLOW_AUTH_MODE", value_enum)]
    auth_mode: Option<AuthModeArg>,
    /// HS256 secret for tokens, at least 32 bytes.
    #[arg(
        long,
        env = "EVENTFLOW_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_secret_file"
    )]
    jwt_secret: Option<SecretString>,
    /// File holding the HS256 secret.
    #[arg(long, env = "EVENTFLOW_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// Key sealing secrets and registry passwords in the catalog: base64
    /// of 32 random bytes. Required in production; dev mode makes one in
    /// the data dir.
    #[arg(
        long,
        env = "EVENTFLOW_SECRETS_KEY",
        hide_env_values = true,
        conflicts_with = "secrets_key_file"
    )]
    secrets_key: Option<SecretString>,
    /// File holding the secrets key.
    #[arg(long, env = "EVENTFLOW_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// File holding an earlier secrets key (repeatable): values it sealed
    /// are re-sealed under the current key at start-up (key rotation).
    #[arg(
        long = "secrets-old-key-file",
        env = "EVENTFLOW_SECRETS_OLD_KEY_FILES",
        value_delimiter = ','
    )]
    secrets_old_key_files: Vec<PathBuf>,
    /// Token lifetime in seconds.
    #[arg(long, env = "EVENTFLOW_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    token_ttl_seconds: i64,
    /// Bootstrap admin API key (registered, hashed, at start-up).
    #[arg(
        long,
        env = "EVENTFLOW_ADMIN_KEY",
        hide_env_values = true,
        conflicts_with = "admin_key_file"
    )]
    admin_key: Option<SecretString>,
    /// File holding the bootstrap admin API key.
    #[arg(long, env = "EVENTFLOW_ADMIN_KEY_FILE")]
    admin_key_file: Option<PathBuf>,
    /// Whether to talk to Kubernetes.
    #[arg(long, env = "EVENTFLOW_KUBERNETES", value_enum, default_value = "auto")]
    kubernetes: KubernetesMode,
    /// Kubeconfig file to use instead of the inferred configuration.
    #[arg(long, env = "EVENTFLOW_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Apply the EventFlow CRDs when connecting (needs permission to).
    #[arg(long, env = "EVENTFLOW_INSTALL_CRDS")]
    install_crds: bool,
    /// Seconds between full catalog/cluster comparisons.
    #[arg(long, env = "EVENTFLOW_RESYNC_SECONDS", default_value_t = 30)]
    resync_seconds: u64,
    /// Serve the dashboard from this directory (default: web/dist if present).
    #[arg(long, env = "EVENTFLOW_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// Seconds readiness fails before the listener closes on SIGTERM.
    #[arg(long, env = "EVENTFLOW_SHUTDOWN_DELAY_SECONDS", default_value_t = 0)]
    shutdown_delay_seconds: u64,
    /// How the invoke gateway finds a function.
    #[arg(
        long,
        env = "EVENTFLOW_INVOKE_RESOLVER",
        value_enum,
        default_value = "auto"
    )]
    invoke_resolver: InvokeResolver,
    /// Static endpoints `tenant/name=http://host:port`, comma-separated (implies --invoke-resolver static).
    #[arg(long, env = "EVENTFLOW_INVOKE_STATIC", value_delimiter = ',')]
    invoke_static: Vec<String>,
    /// Cluster DNS domain for the dns resolver.
    #[arg(
        long,
        env = "EVENTFLOW_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,
    /// In-flight invocations allowed per tenant.
    #[arg(long, env = "EVENTFLOW_INVOKE_CONCURRENCY", default_value_t = 64)]
    invoke_concurrency: u32,
    /// Requests per second allowed per tenant (and per admin) on every
    /// authenticated route but invoke (bursts of twice that); 429 beyond.
    #[arg(long, env = "EVENTFLOW_API_RATE", default_value_t = 100)]
    api_rate: u32,
    /// Followed log streams (`logs?follow=true`) one tenant may have open
    /// at once; 429 beyond.
    #[arg(long, env = "EVENTFLOW_LOG_FOLLOW_LIMIT", default_value_t = 8)]
    log_follow_limit: usize,
    /// Seconds a followed log stream lasts before the server ends it
    /// (clients reconnect, e.g. with sinceSeconds).
    #[arg(long, env = "EVENTFLOW_LOG_FOLLOW_MAX_SECONDS", default_value_t = 3600)]
    log_follow_max_seconds: u64,
    /// Invocations per second allowed per tenant (bursts of twice that).
    #[arg(long, env = "EVENTFLOW_INVOKE_RATE", default_value_t = 200)]
    invoke_rate: u32,
    /// Log format; default: text in dev mode, JSON otherwise.
    #[arg(long, env = "EVENTFLOW_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// A sample function image offered to users (`GET /v1/samples`, the
    /// dashboard's "Start from a sample"), as NAME=IMAGE; repeatable, or
    /// comma-separated in the environment variable.
    #[arg(
        long = "sample-image",
        env = "EVENTFLOW_SAMPLE_IMAGES",
        value_name = "NAME=IMAGE",
        value_delimiter = ','
    )]
    sample_images: Vec<SampleImage>,
    /// A host name dev mode answers besides localhost, *.localhost,
    /// 127.0.0.0/8 and [::1] (it refuses others against DNS rebinding).
    /// Repeatable, or comma-separated in the variable.
    #[arg(
        long = "allowed-host",
        env = "EVENTFLOW_ALLOWED_HOSTS",
        value_name = "HOST",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Days audit entries are kept (read them with GET /v1/admin/audit);
    /// 0 keeps them for ever.
    #[arg(long, env = "EVENTFLOW_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    audit_retention_days: u64,
    /// Seconds without requests before a `minReplicas: 0` function goes to
    /// zero, unless its spec sets `autoscaling.idleSeconds`.
    #[arg(
        long,
        env = "EVENTFLOW_SCALE_TO_ZERO_AFTER_SECONDS",
        default_value_t = 300
    )]
    scale_to_zero_after_seconds: u64,
    /// Request-based scaling lowers a function's replicas only to the
    /// highest count it wanted during this many seconds.
    #[arg(
        long,
        env = "EVENTFLOW_SCALE_DOWN_WINDOW_SECONDS",
        default_value_t = 30
    )]
    scale_down_window_seconds: u64,
    /// Invocations one server replica holds per function while it wakes
    /// from zero; 429 beyond.
    #[arg(long, env = "EVENTFLOW_WAKE_QUEUE_LIMIT", default_value_t = 100)]
    wake_queue_limit: u32,
    /// Attempts of asynchronous invocations one server replica runs at once.
    #[arg(long, env = "EVENTFLOW_ASYNC_WORKERS", default_value_t = 32)]
    async_workers: u32,
    /// Attempts an asynchronous invocation gets when its function's spec
    /// does not set `retry.maxAttempts` (1–20).
    #[arg(long, env = "EVENTFLOW_ASYNC_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    async_max_attempts: u32,
    /// Milliseconds before the first retry; doubled for each further one
    /// (with jitter), up to --async-retry-max-ms.
    #[arg(long, env = "EVENTFLOW_ASYNC_RETRY_BASE_MS", default_value_t = 1000)]
    async_retry_base_ms: u64,
    #[arg(long, env = "EVENTFLOW_ASYNC_RETRY_MAX_MS", default_value_t = 300_000)]
    async_retry_max_ms: u64,
    /// Seconds a replica holds an invocation it works on without renewing;
    /// after a crash, another replica takes it over once this has passed.
    #[arg(long, env = "EVENTFLOW_ASYNC_LEASE_SECONDS", default_value_t = 30)]
    async_lease_seconds: u64,
    /// Queued and running asynchronous invocations per tenant; 429 beyond.
    #[arg(long, env = "EVENTFLOW_ASYNC_QUEUE_LIMIT", default_value_t = 10_000)]
    async_queue_limit: u32,
    /// Largest request body of an asynchronous invocation, in bytes; 413
    /// beyond.
    #[arg(long, env = "EVENTFLOW_ASYNC_BODY_LIMIT", default_value_t = 1024 * 1024)]
    async_body_limit: usize,
    /// Longest response body kept per invocation, in bytes (cut beyond,
    /// `truncated` set).
    #[arg(long, env = "EVENTFLOW_ASYNC_RESPONSE_LIMIT", default_value_t = 256 * 1024)]
    async_response_limit: usize,
    /// Hours finished invocations are kept.
    #[arg(
        long,
        env = "EVENTFLOW_INVOCATION_RETENTION_HOURS",
        default_value_t = 168
    )]
    invocation_retention_hours: u64,
    /// Finished invocations kept per tenant (the newest).
    #[arg(long, env = "EVENTFLOW_INVOCATION_RETENTION_COUNT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    invocation_retention_count: u32,
    /// Allow completion callbacks over plain http (default: https only).
    #[arg(long, env = "EVENTFLOW_CALLBACK_ALLOW_HTTP")]
    callback_allow_http: bool,
    /// An address range completion callbacks may reach although it is not
    /// public (loopback, private, link-local … are refused otherwise), e.g.
    /// 127.0.0.0/8; repeatable, or comma-separated in the variable.
    #[arg(
        long = "callback-allow-cidr",
        env = "EVENTFLOW_CALLBACK_ALLOW_CIDRS",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    callback_allow_cidrs: Vec<ipnet::IpNet>,
    /// The Prometheus the tenant-facing metrics API asks (e.g.
    /// http://prometheus:9090), scraping every server replica's metrics
    /// listener and, for CPU and memory, the kubelets. Unset: the
    /// embedded store (this replica's gateway, the last 24 h).
    #[arg(long, env = "EVENTFLOW_METRICS_PROMETHEUS_URL", value_name = "URL",
          value_parser = eventflow_server::promql::check_url)]
    metrics_prometheus_url: Option<String>,
    /// The shortest time allowed between two runs of a function's schedule,
    /// in seconds (schedules that fire more often are refused, 422).
    #[arg(long, env = "EVENTFLOW_SCHEDULE_MIN_INTERVAL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    schedule_min_interval_seconds: u32,
}

/// What `eventflow server` starts from, and how it logs. `in_cluster`:
/// whether it runs in a Kubernetes pod (`KUBERNETES_SERVICE_HOST` is set),
/// which picks the automatic invoke resolver.
pub fn settings(args: ServerArgs, in_cluster: bool) -> Result<(Settings, LogFormat)> {
    let auth_mode = match (args.dev, args.auth_mode) {
        (true, Some(AuthModeArg::Production)) => bail!("--dev contradicts --auth-mode production"),
        (true, _) | (false, Some(AuthModeArg::Dev)) => AuthMode::Dev,
        (false, _) => AuthMode::Production,
    };
    check_unique(&args.sample_images).map_err(|e| anyhow::anyhow!("--sample-image: {e}"))?;
    let log_format = args.log_format.unwrap_or(match auth_mode {
        AuthMode::Dev => LogFormat::Text,
        AuthMode::Production => LogFormat::Json,
    });
    let resolver = resolver(
        args.invoke_resolver,
        &args.invoke_static,
        args.cluster_domain,
        in_cluster,
    )?;
    let secret = |value: Option<SecretString>, file: Option<PathBuf>| {
        value.map(Secret::Value).or(file.map(Secret::File))
    };
    let settings = Settings {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        http_workers: args.http_workers.into(),
        auth_mode,
        data_dir: args.data_dir,
        database_url: args.database_url,
        jwt_secret: secret(args.jwt_secret, args.jwt_secret_file),
        token_ttl_seconds: args.token_ttl_seconds,
        secrets_key: secret(args.secrets_key, args.secrets_key_file),
        secrets_old_keys: args.secrets_old_key_files,
        admin_key: secret(args.admin_key, args.admin_key_file),
        web_dir: args.web_dir.map_or(WebDir::Auto, WebDir::Dir),
        sync: SyncConfig {
            source: match (args.kubernetes, args.kubeconfig) {
                (KubernetesMode::Off, _) => KubeSource::Disabled,
                (KubernetesMode::Auto, Some(p)) => KubeSource::File(p),
                (KubernetesMode::Auto, None) => KubeSource::Infer,
            },
            install_crds: args.install_crds,
            resync_interval: Duration::from_secs(args.resync_seconds.max(1)),
        },
        gateway: GatewayConfig {
            resolver,
            concurrency_per_tenant: args.invoke_concurrency.max(1),
            rate_per_tenant: args.invoke_rate.max(1),
        },
        shutdown_delay: Duration::from_secs(args.shutdown_delay_seconds),
        samples: args.sample_images,
        allowed_hosts: args.allowed_hosts,
        api_rate: args.api_rate.max(1),
        logs: eventflow_server::api::logs::LogLimits {
            follows_per_tenant: args.log_follow_limit.max(1),
            max_follow: Duration::from_secs(args.log_follow_max_seconds.max(1)),
        },
        audit_retention: (args.audit_retention_days > 0)
            .then(|| Duration::from_secs(args.audit_retention_days.saturating_mul(86_400))),
        scaling: eventflow_server::scaler::ScalerConfig {
            idle_default: Duration::from_secs(args.scale_to_zero_after_seconds.max(1)),
            scale_down_window: Duration::from_secs(args.scale_down_window_seconds),
            queue_limit: args.wake_queue_limit.max(1),
            ..Default::default()
        },
        invocations: eventflow_server::invocations::AsyncConfig {
            workers: args.async_workers.max(1),
            lease: Duration::from_secs(args.async_lease_seconds.max(1)),
            retry_base: Duration::from_millis(args.async_retry_base_ms.max(1)),
            retry_cap: Duration::from_millis(args.async_retry_max_ms.max(args.async_retry_base_ms)),
            default_max_attempts: args.async_max_attempts,
            queue_per_tenant: args.async_queue_limit.max(1),
            body_limit: args.async_body_limit,
            response_limit: args.async_response_limit,
            retention: Duration::from_secs(args.invocation_retention_hours.saturating_mul(3600)),
            retention_count: args.invocation_retention_count,
            callbacks: eventflow_server::invocations::callback::CallbackPolicy {
                allow_http: args.callback_allow_http,
                allowed_nets: args.callback_allow_cidrs,
            },
            min_schedule_interval_seconds: args.schedule_min_interval_seconds,
            ..Default::default()
        },
        prometheus_url: args.metrics_prometheus_url,
    };
    Ok((settings, log_format))
}

/// `--invoke-static` entries imply the static resolver; `auto` is Service
/// DNS inside a cluster and the API server's proxy outside.
fn resolver(
    mode: InvokeResolver,
    static_entries: &[String],
    cluster_domain: String,
    in_cluster: bool,
) -> Result<Resolver> {
    if !static_entries.is_empty() || mode == InvokeResolver::Static {
        let mut map = std::collections::HashMap::new();
        for entry in static_entries {
            let (key, url) = entry.split_once('=').with_context(|| {
                format!("--invoke-static entry {entry:?} is not tenant/name=url")
            })?;
            map.insert(key.trim().to_string(), url.trim().to_string());
        }
        return Ok(Resolver::Static(map));
    }
    Ok(match mode {
        InvokeResolver::Dns => Resolver::ServiceDns { cluster_domain },
        InvokeResolver::Auto if in_cluster => Resolver::ServiceDns { cluster_domain },
        InvokeResolver::KubeProxy | InvokeResolver::Auto | InvokeResolver::Static => {
            Resolver::KubeProxy
        }
    })
}

/// `eventflow server`: flags to settings, logging, start-up, serve.
pub async fn run(args: ServerArgs) -> Result<()> {
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let (settings, log_format) = settings(args, in_cluster)?;
    eventflow_kube::logging::init(log_format);
    Server::build(settings).await?.run_until_stopped().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(flags: &[&str], in_cluster: bool) -> Result<(Settings, LogFormat)> {
        settings(crate::parse_flags(flags)?, in_cluster)
    }

    #[test]
    fn defaults_are_production_with_json_logs_and_the_inferred_cluster() {
        let (s, log) = convert(&[], false).unwrap();
        assert_eq!(s.auth_mode, AuthMode::Production);
        assert_eq!(log, LogFormat::Json);
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            s.metrics_listen,
            "127.0.0.1:9091".parse().unwrap(),
            "loopback"
        );
        assert_eq!(s.http_workers, 0, "one per core");
        assert!(
            convert(&["--http-workers", "257"], false).is_err(),
            "at most 256"
        );
        assert_eq!(s.data_dir, PathBuf::from(".eventflow-data"));
        assert!(s.database_url.is_none() && s.jwt_secret.is_none() && s.admin_key.is_none());
        assert_eq!(s.web_dir, WebDir::Auto);
        assert_eq!(s.sync.source, KubeSource::Infer);
        assert_eq!(s.sync.resync_interval, Duration::from_secs(30));
        assert!(!s.sync.install_crds);
        assert!(matches!(s.gateway.resolver, Resolver::KubeProxy));
        assert_eq!(s.gateway.concurrency_per_tenant, 64);
        assert_eq!(s.shutdown_delay, Duration::ZERO);
        assert_eq!(s.audit_retention, Some(Duration::from_secs(90 * 86_400)));
        let (s, _) = convert(&["--audit-retention-days", "0"], false).unwrap();
        assert_eq!(s.audit_retention, None, "0 keeps entries for ever");
    }

    #[test]
    fn dev_mode_logs_text_and_contradictions_are_refused() {
        let (s, log) = convert(&["--dev"], false).unwrap();
        assert_eq!((s.auth_mode, log), (AuthMode::Dev, LogFormat::Text));
        let (s, log) = convert(&["--auth-mode", "dev", "--log-format", "json"], false).unwrap();
        assert_eq!((s.auth_mode, log), (AuthMode::Dev, LogFormat::Json));
        let e = convert(&["--dev", "--auth-mode", "production"], false).unwrap_err();
        assert!(e.to_string().contains("contradicts"), "{e}");
    }

    #[test]
    fn the_invoke_resolver_follows_the_flags_and_where_it_runs() {
        let dns = |s: &Settings| match &s.gateway.resolver {
            Resolver::ServiceDns { cluster_domain } => Some(cluster_domain.clone()),
            _ => None,
        };
        let (s, _) = convert(&[], true).unwrap();
        assert_eq!(
            dns(&s).as_deref(),
            Some("cluster.local"),
            "auto in a cluster"
        );
        let (s, _) = convert(
            &["--invoke-resolver", "dns", "--cluster-domain", "k.internal"],
            false,
        )
        .unwrap();
        assert_eq!(dns(&s).as_deref(), Some("k.internal"));
        let (s, _) = convert(&["--invoke-resolver", "kube-proxy"], true).unwrap();
        assert!(matches!(s.gateway.resolver, Resolver::KubeProxy));
        let (s, _) = convert(
            &["--invoke-static", "a/f=http://127.0.0.1:9, a/g = http://h"],
            true,
        )
        .unwrap();
        let Resolver::Static(map) = &s.gateway.resolver else {
            panic!("static entries imply the static resolver");
        };
        assert_eq!(
            map.get("a/f").map(String::as_str),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(map.get("a/g").map(String::as_str), Some("http://h"));
        let e = convert(&["--invoke-static", "a/f"], false).unwrap_err();
        assert!(e.to_string().contains("is not tenant/name=url"), "{e}");
    }

    #[test]
    fn cluster_secrets_and_limits_are_carried_over() {
        let (s, _) = convert(
            &[
                "--kubeconfig",
                "/k",
                "--install-crds",
                "--resync-seconds",
                "0",
                "--invoke-concurrency",
                "0",
                "--invoke-rate",
                "0",
                "--jwt-secret-file",
                "/s",
                "--admin-key",
                "k".repeat(40).as_str(),
                "--web-dir",
                "/w",
                "--shutdown-delay-seconds",
                "5",
            ],
            false,
        )
        .unwrap();
        assert_eq!(s.sync.source, KubeSource::File("/k".into()));
        assert!(s.sync.install_crds);
        assert_eq!(
            s.sync.resync_interval,
            Duration::from_secs(1),
            "at least 1 s"
        );
        assert_eq!(
            (s.gateway.concurrency_per_tenant, s.gateway.rate_per_tenant),
            (1, 1),
            "at least 1"
        );
        assert!(
            matches!(s.jwt_secret, Some(Secret::File(p)) if p.as_path() == std::path::Path::new("/s"))
        );
        assert!(matches!(s.admin_key, Some(Secret::Value(_))));
        assert_eq!(s.web_dir, WebDir::Dir("/w".into()));
        assert_eq!(s.shutdown_delay, Duration::from_secs(5));
        let (s, _) = convert(&["--kubernetes", "off", "--kubeconfig", "/k"], false).unwrap();
        assert_eq!(s.sync.source, KubeSource::Disabled);
    }

    #[test]
    fn a_sample_named_twice_is_refused() {
        let e = convert(
            &["--sample-image", "echo=a:1", "--sample-image", "echo=b:1"],
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("--sample-image"), "{e}");
        let (s, _) = convert(&["--sample-image", "echo=a:1"], false).unwrap();
        assert_eq!(s.samples.len(), 1);
        let (s, _) = convert(
            &["--allowed-host", "a.lan,b.lan", "--allowed-host", "c"],
            false,
        )
        .unwrap();
        assert_eq!(s.allowed_hosts, ["a.lan", "b.lan", "c"]);
    }
}
