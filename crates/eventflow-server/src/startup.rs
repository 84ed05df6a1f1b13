//! Start-up: [`Server::build`] turns [`Settings`] (what the binary makes of
//! its flags) into a running configuration (data dir, secrets, database,
//! bootstrap admin key, dashboard directory, bound listener);
//! [`Server::run_until_stopped`] serves until SIGTERM/SIGINT.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

use crate::{
    api::samples::SampleImage,
    auth::{ensure_admin_key, AuthMode, JwtKeys, MIN_SECRET_BYTES},
    gateway::GatewayConfig,
    keyring::Keyring,
    store::{redact_url, Store, StoreError},
    sync::SyncConfig,
    AppState, Config,
};

/// A secret given on the command line / environment, or in a file.
#[derive(Debug, Clone)]
pub enum Secret {
    Value(SecretString),
    File(PathBuf),
}

/// Where the dashboard is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebDir {
    /// `web/dist` when it has an `index.html`, else no dashboard.
    Auto,
    /// This directory; it must have an `index.html`.
    Dir(PathBuf),
}

/// Everything the server starts from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where `/metrics` is served (apart from the API: it names every
    /// tenant and function).
    pub metrics_listen: SocketAddr,
    /// Threads serving HTTP connections, each a single-threaded runtime;
    /// 0: one per CPU core (see [`crate::serve`]).
    pub http_workers: usize,
    pub auth_mode: AuthMode,
    /// Embedded state: the SQLite database and the dev JWT secret.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite:…`; `None`: SQLite in the data dir.
    pub database_url: Option<SecretString>,
    /// `None`: generated once into the data dir in dev mode, an error in
    /// production.
    pub jwt_secret: Option<Secret>,
    pub token_ttl_seconds: i64,
    /// The key that seals secrets and registry passwords in the catalog
    /// (base64 of 32 bytes). `None`: generated once into the data dir in
    /// dev mode, an error in production.
    pub secrets_key: Option<Secret>,
    /// Files of earlier keys, still opened while everything is re-sealed
    /// under `secrets_key` at start-up (key rotation).
    pub secrets_old_keys: Vec<PathBuf>,
    /// The bootstrap admin API key, registered (hashed) at start-up.
    pub admin_key: Option<Secret>,
    pub web_dir: WebDir,
    pub sync: SyncConfig,
    pub gateway: GatewayConfig,
    pub shutdown_delay: Duration,
    pub samples: Vec<SampleImage>,
    /// Host names dev mode answers besides the loopback ones.
    pub allowed_hosts: Vec<String>,
    /// How long audit entries are kept (`None`: for ever).
    pub audit_retention: Option<Duration>,
    /// Requests per second per tenant on the API (not invoke).
    pub api_rate: u32,
    /// Limits on followed log streams.
    pub logs: crate::api::logs::LogLimits,
    /// Request-based scaling and waking functions at zero.
    pub scaling: crate::scaler::ScalerConfig,
    /// Asynchronous invocations.
    pub invocations: crate::invocations::AsyncConfig,
    /// The Prometheus the metrics API asks; `None`: the embedded store.
    pub prometheus_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot read {what} file {}: {source}", .path.display())]
    ReadSecret {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("production mode needs a JWT secret of at least {MIN_SECRET_BYTES} bytes: set EVENTFLOW_JWT_SECRET or --jwt-secret-file (or run with --dev)")]
    NoJwtSecret,
    #[error("production mode needs a secrets key: set --secrets-key-file or EVENTFLOW_SECRETS_KEY to base64 of 32 random bytes (`head -c 32 /dev/urandom | base64`), or run with --dev")]
    NoSecretsKey,
    #[error("invalid secrets key: {0}")]
    SecretsKey(#[from] crate::keyring::KeyringError),
    #[error("cannot re-seal the catalog's secrets under the current key: {0}")]
    Reseal(StoreError),
    #[error("invalid JWT secret: {0}")]
    JwtSecret(#[from] crate::auth::SecretError),
    #[error("cannot open database {url}: {source}")]
    Database { url: String, source: StoreError },
    #[error("the admin key must be at least 32 characters")]
    AdminKeyTooShort,
    #[error("cannot register the admin key: {0}")]
    AdminKey(StoreError),
    #[error("--web-dir {} has no index.html (build the dashboard with `make web`)", .0.display())]
    NoDashboard(PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn read_secret_file(path: &Path, what: &'static str) -> Result<String, StartupError> {
    let s = std::fs::read_to_string(path).map_err(|source| StartupError::ReadSecret {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

fn reveal(secret: Secret, what: &'static str) -> Result<String, StartupError> {
    match secret {
        Secret::Value(s) => Ok(s.expose_secret().to_string()),
        Secret::File(p) => read_secret_file(&p, what),
    }
}

/// Dev mode without a configured secret: one is generated once and kept in
/// the data dir (mode 0600) so tokens survive restarts.
fn dev_secret(data_dir: &Path) -> Result<String, StartupError> {
    use rand::Rng;
    dev_file(data_dir, "jwt-secret", "JWT secret", || {
        rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(48)
            .map(char::from)
            .collect()
    })
}

/// The file `name` in the data dir, written once (mode 0600) by `make`.
fn dev_file(
    data_dir: &Path,
    name: &str,
    what: &'static str,
    make: impl FnOnce() -> String,
) -> Result<String, StartupError> {
    let path = data_dir.join(name);
    if path.exists() {
        return read_secret_file(&path, what);
    }
    let secret = make();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let create = |source| StartupError::Create {
        path: path.clone(),
        source,
    };
    opts.open(&path)
        .map_err(create)?
        .write_all(secret.as_bytes())
        .map_err(create)?;
    Ok(secret)
}

fn jwt_keys(s: &Settings) -> Result<JwtKeys, StartupError> {
    let secret = match (s.jwt_secret.clone(), s.auth_mode) {
        (Some(secret), _) => reveal(secret, "JWT secret")?,
        (None, AuthMode::Dev) => dev_secret(&s.data_dir)?,
        (None, AuthMode::Production) => return Err(StartupError::NoJwtSecret),
    };
    Ok(JwtKeys::new(secret.as_bytes(), s.token_ttl_seconds)?)
}

/// The catalog's keyring: the current key (given, or in dev mode made once
/// into the data dir as `secrets-key`) and the old ones.
fn keyring(s: &Settings) -> Result<Keyring, StartupError> {
    let current = match (s.secrets_key.clone(), s.auth_mode) {
        (Some(key), _) => reveal(key, "secrets key")?,
        (None, AuthMode::Dev) => dev_file(
            &s.data_dir,
            "secrets-key",
            "secrets key",
            Keyring::generate_key,
        )?,
        (None, AuthMode::Production) => return Err(StartupError::NoSecretsKey),
    };
    let old = s
        .secrets_old_keys
        .iter()
        .map(|p| read_secret_file(p, "old secrets key"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Keyring::new(&current, &old)?)
}

async fn open_store(s: &Settings) -> Result<Store, StartupError> {
    let url = match &s.database_url {
        Some(u) => u.expose_secret().to_string(),
        None => format!(
            "sqlite:{}?mode=rwc",
            s.data_dir.join("eventflow.db").display()
        ),
    };
    let store = Store::connect(&url)
        .await
        .map_err(|source| StartupError::Database {
            url: redact_url(&url),
            source,
        })?;
    tracing::info!(database = %redact_url(&url), "catalog ready");
    Ok(store)
}

async fn register_admin_key(store: &Store, key: Option<Secret>) -> Result<(), StartupError> {
    let Some(key) = key else {
        return Ok(());
    };
    let key = reveal(key, "admin key")?;
    if key.len() < 32 {
        return Err(StartupError::AdminKeyTooShort);
    }
    ensure_admin_key(store, &key)
        .await
        .map_err(StartupError::AdminKey)?;
    tracing::info!("bootstrap admin key registered");
    Ok(())
}

fn web_dir(dir: &WebDir) -> Result<Option<PathBuf>, StartupError> {
    let dir = match dir {
        WebDir::Auto => {
            let d = PathBuf::from("web/dist");
            if !d.join("index.html").exists() {
                return Ok(None);
            }
            d
        }
        WebDir::Dir(d) if !d.join("index.html").exists() => {
            return Err(StartupError::NoDashboard(d.clone()))
        }
        WebDir::Dir(d) => d.clone(),
    };
    tracing::info!(dir = %dir.display(), "serving the dashboard");
    Ok(Some(dir))
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartupError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })
}

/// A server ready to serve: state built, listeners bound.
pub struct Server {
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    metrics_listener: tokio::net::TcpListener,
    http_workers: usize,
}

impl Server {
    /// Creates the data dir, loads the secrets, opens (and migrates) the
    /// database, registers the admin key and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let s = settings;
        if s.auth_mode == AuthMode::Dev {
            tracing::warn!(
                "DEV MODE: anyone who can reach {} can mint a token for any user id. Never expose this server.",
                s.listen
            );
        }
        std::fs::create_dir_all(&s.data_dir).map_err(|source| StartupError::Create {
            path: s.data_dir.clone(),
            source,
        })?;
        let jwt = jwt_keys(&s)?;
        let keyring = keyring(&s)?;
        let key_id = keyring.current_id().unwrap_or_default().to_string();
        let store = open_store(&s).await?.with_keyring(keyring);
        let resealed = store.reseal().await.map_err(StartupError::Reseal)?;
        tracing::info!(key = %key_id, resealed, "secrets key ready");
        register_admin_key(&store, s.admin_key.clone()).await?;
        for sample in &s.samples {
            tracing::info!(name = %sample.name, image = %sample.image, "offering sample image");
        }
        let config = Config {
            listen: s.listen,
            auth_mode: s.auth_mode,
            web_dir: web_dir(&s.web_dir)?,
            sync: s.sync,
            gateway: s.gateway,
            shutdown_delay: s.shutdown_delay,
            samples: s.samples,
            allowed_hosts: s.allowed_hosts,
            audit_retention: s.audit_retention,
            api_rate: s.api_rate,
            logs: s.logs,
            scaling: s.scaling,
            invocations: s.invocations,
            prometheus_url: s.prometheus_url,
        };
        let listener = bind(s.listen).await?;
        let metrics_listener = bind(s.metrics_listen).await?;
        Ok(Self {
            state: AppState::new(config, store, jwt),
            listener,
            metrics_listener,
            http_workers: match s.http_workers {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM/SIGINT (see [`crate::serve`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr()?, mode = ?self.state.config.auth_mode, "EventFlow API listening");
        tracing::info!(addr = %self.metrics_listener.local_addr()?, "metrics listening (/metrics)");
        tracing::info!(threads = self.http_workers, "HTTP workers");
        crate::serve(
            self.state,
            self.listener,
            self.metrics_listener,
            self.http_workers,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_secret_is_generated_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = dev_secret(dir.path()).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(
            dev_secret(dir.path()).unwrap(),
            first,
            "kept across restarts"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn secret_files_lose_their_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, " key with spaces \r\n").unwrap();
        assert_eq!(
            reveal(Secret::File(p), "admin key").unwrap(),
            " key with spaces "
        );
        let missing = reveal(Secret::File(dir.path().join("nope")), "admin key").unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read admin key file"),
            "{missing}"
        );
    }

    #[test]
    fn an_explicit_web_dir_needs_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let e = web_dir(&WebDir::Dir(dir.path().into())).unwrap_err();
        assert!(e.to_string().contains("has no index.html"), "{e}");
        std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
        assert_eq!(
            web_dir(&WebDir::Dir(dir.path().into())).unwrap(),
            Some(dir.path().to_path_buf())
        );
    }
}
