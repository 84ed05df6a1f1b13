//! TestApp: an in-process server (the real router, `oneshot`) over a real
//! database. Every test gets its own database: a fresh SQLite file, or a
//! fresh PostgreSQL database created on the server that
//! `EVENTFLOW_TEST_DATABASE_URL` points at.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    Router,
};
use eventflow_server::{
    auth::{AuthMode, JwtKeys},
    gateway::GatewayConfig,
    store::Store,
    sync::{KubeSource, SyncConfig},
    AppState, Config,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const PG_ENV: &str = "EVENTFLOW_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Keeps the database alive for the test's duration.
pub enum DbGuard {
    Sqlite(#[expect(dead_code, reason = "held for its Drop")] tempfile::TempDir),
    Postgres,
}

pub struct TestApp {
    pub state: Arc<AppState>,
    pub router: Router,
    pub url: String,
    _guard: Arc<DbGuard>,
}

pub fn pg_admin_url() -> String {
    std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!(
            "{PG_ENV} is not set: the PostgreSQL half of the API tests needs a server, e.g. \
             `make pg-up` then {PG_ENV}=postgres://postgres@127.0.0.1:55432/postgres (see docs/DEVELOPMENT.md)"
        )
    })
}

/// A new, empty database URL for `db`.
pub async fn fresh_database(db: Db) -> (String, DbGuard) {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!(
                "sqlite:{}?mode=rwc",
                dir.path().join("eventflow.db").display()
            );
            (url, DbGuard::Sqlite(dir))
        }
        Db::Postgres => {
            let admin = pg_admin_url();
            sqlx::any::install_default_drivers();
            let name = format!("ef_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {PG_ENV}: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (base, _) = admin.rsplit_once('/').expect("URL has a database path");
            (format!("{base}/{name}"), DbGuard::Postgres)
        }
    }
}

pub fn config(mode: AuthMode, source: KubeSource) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        auth_mode: mode,
        web_dir: None,
        sync: SyncConfig {
            source,
            install_crds: true,
            resync_interval: Duration::from_secs(1),
        },
        shutdown_delay: Duration::ZERO,
        gateway: GatewayConfig::default(),
        samples: Vec::new(),
        allowed_hosts: Vec::new(),
        audit_retention: None,
        api_rate: 1000,
        logs: Default::default(),
        scaling: Default::default(),
        invocations: Default::default(),
        prometheus_url: None,
    }
}

impl TestApp {
    pub async fn new(db: Db) -> Self {
        Self::with(db, AuthMode::Dev, KubeSource::Disabled).await
    }

    pub async fn with(db: Db, mode: AuthMode, source: KubeSource) -> Self {
        let (url, guard) = fresh_database(db).await;
        Self::on(url, Arc::new(guard), mode, source).await
    }

    /// A server over an existing database (to simulate a restart).
    pub async fn on(url: String, guard: Arc<DbGuard>, mode: AuthMode, source: KubeSource) -> Self {
        Self::on_with(url, guard, config(mode, source)).await
    }

    /// A dev-mode app on SQLite with this gateway configuration.
    pub async fn with_gateway(gateway: GatewayConfig) -> Self {
        let (url, guard) = fresh_database(Db::Sqlite).await;
        let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
        cfg.gateway = gateway;
        Self::on_with(url, Arc::new(guard), cfg).await
    }

    pub async fn on_with(url: String, guard: Arc<DbGuard>, cfg: Config) -> Self {
        let store = Store::connect(&url)
            .await
            .expect("connect store")
            .with_keyring(test_keyring());
        let jwt = JwtKeys::new(SECRET, 3600).unwrap();
        let state = AppState::new(cfg, store, jwt);
        let router = eventflow_server::app(state.clone());
        Self {
            state,
            router,
            url,
            _guard: guard,
        }
    }

    pub async fn restart(self) -> Self {
        let mode = self.state.config.auth_mode;
        let source = self.state.config.sync.source.clone();
        self.restart_with(config(mode, source)).await
    }

    /// A restart over the same database with another configuration.
    pub async fn restart_with(self, cfg: Config) -> Self {
        self.state.store.close().await;
        Self::on_with(self.url, self._guard, cfg).await
    }

    /// `GET /metrics` on the metrics listener's application.
    pub async fn metrics(&self) -> String {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        let resp = eventflow_server::metrics_app(self.state.clone())
            .oneshot(req)
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let (status, _, bytes) = self.raw(req).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// An admin token, from the bootstrap admin key the server registers
    /// (as `--admin-key` does).
    pub async fn admin_token(&self) -> String {
        let key = "efk_bootstrap_admin_key_for_tests_0123456789";
        eventflow_server::auth::ensure_admin_key(&self.state.store, key)
            .await
            .unwrap();
        let (_, v) = self
            .call(
                Method::POST,
                "/auth/token",
                None,
                Some(json!({"api_key": key})),
            )
            .await;
        v["token"].as_str().expect("an admin token").to_string()
    }

    /// A dev-mode token for `user`.
    pub async fn token(&self, user: &str) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                "/auth/token",
                None,
                Some(serde_json::json!({"user_id": user, "username": user, "email": format!("{user}@company.com")})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "token for {user}: {v}");
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn create(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/functions", Some(token), Some(body))
            .await
    }
}

/// Asserts an error envelope with this status, code and (optionally) field.
#[track_caller]
pub fn assert_error(
    got: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    let (s, v) = got;
    assert_eq!(*s, status, "body: {v}");
    assert_eq!(v["error"]["code"], code, "body: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {v}"
    );
    if let Some(f) = field {
        assert_eq!(v["error"]["field"], f, "body: {v}");
    }
}

/// Runs a test body against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident => $body:expr;)*) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test]
                async fn sqlite() { ($body)($crate::helpers::Db::Sqlite).await }
                #[tokio::test]
                async fn postgres() { ($body)($crate::helpers::Db::Postgres).await }
            }
        )*
    };
}

/// The tests' secrets key: one per test process, so that two apps on one
/// database (two server replicas) open each other's values.
pub fn test_keyring() -> eventflow_server::keyring::Keyring {
    eventflow_server::keyring::Keyring::new(&test_key(), &[]).expect("a generated key is valid")
}

/// The tests' secrets key as text.
pub fn test_key() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(eventflow_server::keyring::Keyring::generate_key)
        .clone()
}
