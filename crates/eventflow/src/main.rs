//! `eventflow`: one binary, several roles.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use eventflow_server::{
    api::samples::{check_unique, SampleImage},
    auth::{ensure_admin_key, AuthMode, JwtKeys, MIN_SECRET_BYTES},
    gateway::{GatewayConfig, Resolver},
    store::{redact_url, Store},
    sync::{KubeSource, SyncConfig},
    AppState, Config,
};
use secrecy::{ExposeSecret, SecretString};

mod operator;

#[derive(Parser)]
#[command(
    name = "eventflow",
    version,
    about = "Multi-tenant Functions-as-a-Service on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (and the dashboard, with --web-dir).
    Server(Box<ServerArgs>),
    /// Run the Kubernetes operator (Tenant and Function controllers).
    Operator(Box<operator::OperatorArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// Print the OpenAPI document of the API as JSON.
    Openapi,
    /// Sign in to an EventFlow server; the token is kept in ~/.config/eventflow.
    Login(eventflow_cli::LoginArgs),
    /// Deploy, list, scale, invoke and delete functions; read their logs.
    Fn(eventflow_cli::FnArgs),
    /// Manage tenants and API keys (needs a login with the admin role).
    Admin(eventflow_cli::AdminArgs),
    /// Print a shell completion script.
    Completions(eventflow_cli::CompletionsArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum KubernetesMode {
    /// Use --kubeconfig, else KUBECONFIG / ~/.kube/config / in-cluster; retry while unreachable.
    Auto,
    /// No cluster: functions are stored and stay Pending.
    Off,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum InvokeResolver {
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
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum AuthModeArg {
    Dev,
    Production,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "EVENTFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
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
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("EVENTFLOW_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,sqlx=warn,kube=warn,tower_http=info")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Dev mode without a configured secret: one is generated once and kept in
/// the data dir (mode 0600) so tokens survive restarts.
fn dev_secret(data_dir: &Path) -> Result<Vec<u8>> {
    use rand::Rng;
    let path = data_dir.join("jwt-secret");
    if path.exists() {
        return Ok(read_secret_file(&path, "JWT secret")?.into_bytes());
    }
    let secret: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(secret.into_bytes())
}

async fn run_server(args: ServerArgs) -> Result<()> {
    let ServerArgs {
        listen,
        data_dir,
        database_url,
        dev,
        auth_mode,
        jwt_secret,
        jwt_secret_file,
        token_ttl_seconds,
        admin_key,
        admin_key_file,
        kubernetes,
        kubeconfig,
        install_crds,
        resync_seconds,
        web_dir,
        shutdown_delay_seconds,
        invoke_resolver,
        invoke_static,
        cluster_domain,
        invoke_concurrency,
        invoke_rate,
        log_format,
        sample_images,
    } = args;
    let mode = match (dev, auth_mode) {
        (true, Some(AuthModeArg::Production)) => bail!("--dev contradicts --auth-mode production"),
        (true, _) | (false, Some(AuthModeArg::Dev)) => AuthMode::Dev,
        (false, _) => AuthMode::Production,
    };
    check_unique(&sample_images).map_err(|e| anyhow::anyhow!("--sample-image: {e}"))?;
    init_logging(log_format.unwrap_or(if mode == AuthMode::Dev {
        LogFormat::Text
    } else {
        LogFormat::Json
    }));
    if mode == AuthMode::Dev {
        tracing::warn!(
            "DEV MODE: anyone who can reach {listen} can mint a token for any user id. Never expose this server."
        );
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;

    let secret: Vec<u8> = match (jwt_secret, jwt_secret_file) {
        (Some(s), _) => s.expose_secret().as_bytes().to_vec(),
        (None, Some(path)) => read_secret_file(&path, "JWT secret")?.into_bytes(),
        (None, None) if mode == AuthMode::Dev => dev_secret(&data_dir)?,
        (None, None) => bail!(
            "production mode needs a JWT secret of at least {MIN_SECRET_BYTES} bytes: set EVENTFLOW_JWT_SECRET or --jwt-secret-file (or run with --dev)"
        ),
    };
    let jwt = JwtKeys::new(&secret, token_ttl_seconds).context("invalid JWT secret")?;

    let url = match database_url {
        Some(u) => u.expose_secret().to_string(),
        None => format!(
            "sqlite:{}?mode=rwc",
            data_dir.join("eventflow.db").display()
        ),
    };
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot open database {}", redact_url(&url)))?;
    tracing::info!(database = %redact_url(&url), "catalog ready");

    let admin_key = match (admin_key, admin_key_file) {
        (Some(k), _) => Some(k.expose_secret().to_string()),
        (None, Some(p)) => Some(read_secret_file(&p, "admin key")?),
        (None, None) => None,
    };
    if let Some(key) = admin_key {
        if key.len() < 32 {
            bail!("the admin key must be at least 32 characters");
        }
        ensure_admin_key(&store, &key)
            .await
            .context("cannot register the admin key")?;
        tracing::info!("bootstrap admin key registered");
    }

    let source = match (kubernetes, kubeconfig) {
        (KubernetesMode::Off, _) => KubeSource::Disabled,
        (KubernetesMode::Auto, Some(p)) => KubeSource::File(p),
        (KubernetesMode::Auto, None) => KubeSource::Infer,
    };
    let web_dir = web_dir.or_else(|| {
        let d = PathBuf::from("web/dist");
        d.join("index.html").exists().then_some(d)
    });
    if let Some(d) = &web_dir {
        if !d.join("index.html").exists() {
            bail!(
                "--web-dir {} has no index.html (build the dashboard with `make web`)",
                d.display()
            );
        }
        tracing::info!(dir = %d.display(), "serving the dashboard");
    }
    let resolver = if !invoke_static.is_empty() || invoke_resolver == InvokeResolver::Static {
        let mut map = std::collections::HashMap::new();
        for entry in &invoke_static {
            let (key, url) = entry.split_once('=').with_context(|| {
                format!("--invoke-static entry {entry:?} is not tenant/name=url")
            })?;
            map.insert(key.trim().to_string(), url.trim().to_string());
        }
        Resolver::Static(map)
    } else {
        match invoke_resolver {
            InvokeResolver::Dns => Resolver::ServiceDns { cluster_domain },
            InvokeResolver::KubeProxy => Resolver::KubeProxy,
            InvokeResolver::Auto if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                Resolver::ServiceDns { cluster_domain }
            }
            InvokeResolver::Auto | InvokeResolver::Static => Resolver::KubeProxy,
        }
    };
    for s in &sample_images {
        tracing::info!(name = %s.name, image = %s.image, "offering sample image");
    }
    let config = Config {
        gateway: GatewayConfig {
            resolver,
            concurrency_per_tenant: invoke_concurrency.max(1),
            rate_per_tenant: invoke_rate.max(1),
        },
        listen,
        auth_mode: mode,
        web_dir,
        sync: SyncConfig {
            source,
            install_crds,
            resync_interval: Duration::from_secs(resync_seconds.max(1)),
        },
        shutdown_delay: Duration::from_secs(shutdown_delay_seconds),
        samples: sample_images,
    };
    let state = AppState::new(config, store, jwt);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, mode = ?mode, "EventFlow API listening");
    eventflow_server::serve(state, listener).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => run_server(*args).await,
        Command::Operator(args) => operator::run(*args).await,
        Command::Crds => {
            std::io::stdout().write_all(eventflow_crd::crds_yaml().as_bytes())?;
            Ok(())
        }
        Command::Openapi => {
            std::io::stdout().write_all(eventflow_server::openapi::json().as_bytes())?;
            Ok(())
        }
        Command::Login(args) => std::process::exit(eventflow_cli::run_login(args).await),
        Command::Fn(args) => std::process::exit(eventflow_cli::run_fn(args).await),
        Command::Admin(args) => std::process::exit(eventflow_cli::run_admin(args).await),
        Command::Completions(args) => std::process::exit(eventflow_cli::run_completions(
            args,
            <Cli as clap::CommandFactory>::command(),
        )),
    }
}
