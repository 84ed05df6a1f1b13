//! What the benchmarks share: a loopback server, and a platform with one
//! tenant (`bench`) whose function `echo` is served by a static upstream,
//! made the way the API makes them.

use std::{sync::Arc, time::Duration};

use axum::Router;
use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::{FunctionStatus, Phase};
use eventflow_server::{
    auth::{AuthMode, JwtKeys},
    gateway::{GatewayConfig, Resolver},
    invocations::AsyncConfig,
    store::Store,
    sync::{KubeSource, SyncConfig},
    AppState, Config,
};

/// Serves `app` on a free loopback port; its base URL.
pub async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

/// The platform on `store`, with `bench/echo` at `upstream`, served: the
/// state, the server's base URL and a token of tenant `bench`.
pub async fn platform(
    store: &Store,
    upstream: &str,
    invocations: AsyncConfig,
) -> (Arc<AppState>, String, String) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        auth_mode: AuthMode::Dev,
        web_dir: None,
        sync: SyncConfig {
            source: KubeSource::Disabled,
            install_crds: false,
            resync_interval: Duration::from_secs(3600),
        },
        gateway: GatewayConfig {
            resolver: Resolver::Static([("bench/echo".to_string(), upstream.to_string())].into()),
            concurrency_per_tenant: 1024,
            rate_per_tenant: 1_000_000,
        },
        shutdown_delay: Duration::ZERO,
        samples: Vec::new(),
        allowed_hosts: Vec::new(),
        audit_retention: None,
        api_rate: 1000,
        logs: Default::default(),
        scaling: Default::default(),
        invocations,
        prometheus_url: None,
    };
    let jwt = JwtKeys::new(&[7u8; 32], 3600).unwrap();
    let state = AppState::new(config, store.clone(), jwt);
    let server = serve(eventflow_server::app(Arc::clone(&state))).await;
    // A tenant, a function and a token, the way the API makes them.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token: serde_json::Value = client
        .post(format!("{server}/auth/token"))
        .json(&serde_json::json!({"user_id": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let created = client
        .post(format!("{server}/v1/functions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "echo", "image": "nginx"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let status = FunctionStatus {
        phase: Some(Phase::Running),
        replicas: 1,
        ready_replicas: 1,
        ..Default::default()
    };
    store
        .record_status(
            &TenantId::parse("bench").unwrap(),
            &FunctionName::parse("echo").unwrap(),
            &status,
        )
        .await
        .unwrap();
    (state, server, token)
}
