//! Invoke keys: one function, nothing else; shown once; revoked at once on
//! every replica; expiry.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    routing::any,
    Router,
};
use eventflow_server::{
    auth::AuthMode,
    gateway::{GatewayConfig, Resolver},
    sync::KubeSource,
};
use serde_json::{json, Value};

use crate::both_databases;
use crate::helpers::{assert_error, config, fresh_database, TestApp};

async fn upstream() -> SocketAddr {
    let app = Router::new().fallback(any(|| async { "pong" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

async fn with_bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {bearer}"));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let (s, _, b) = app.raw(req.body(Body::from("hi")).unwrap()).await;
    let v = serde_json::from_slice(&b)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into()));
    (s, v)
}

both_databases! {
    an_invoke_key_invokes_its_function_and_nothing_else => |db| async move {
        let up = upstream().await;
        let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
        cfg.gateway = GatewayConfig {
            resolver: Resolver::Static([("alice/hook".to_string(), format!("http://{up}")), ("alice/other".to_string(), format!("http://{up}"))].into()),
            ..GatewayConfig::default()
        };
        let (url, guard) = fresh_database(db).await;
        let guard = Arc::new(guard);
        let a = TestApp::on_with(url.clone(), guard.clone(), cfg.clone()).await;
        let b = TestApp::on_with(url, guard, cfg).await;
        let t = a.token("alice").await;
        a.create(&t, json!({"name": "hook", "image": "nginx"})).await;
        a.create(&t, json!({"name": "other", "image": "nginx"})).await;
        let (s, k) = a.call(Method::POST, "/v1/functions/hook/invoke-keys", Some(&t), Some(json!({"name": "github"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        let key = k["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("efi_") && key.len() == 44, "{key}");
        assert_eq!(k["prefix"], json!(&key[..12]));
        assert_eq!(k["active"], true);
        // Shown once: the list never has it.
        let (_, l) = a.call(Method::GET, "/v1/functions/hook/invoke-keys", Some(&t), None).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1);
        assert!(!l.to_string().contains(&key), "{l}");
        // It invokes its function, on any replica, also asynchronously.
        let (s, v) = with_bearer(&a, Method::POST, "/v1/functions/hook/invoke", &key, &[]).await;
        assert_eq!((s, v), (StatusCode::OK, json!("pong")));
        let (s, v) = with_bearer(&b, Method::POST, "/v1/functions/hook/invoke/deep/path?x=1", &key, &[]).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = with_bearer(&b, Method::POST, "/v1/functions/hook/invoke", &key, &[("prefer", "respond-async")]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let inv = v["id"].as_str().unwrap().to_string();
        // Nothing else: another function, or any other route.
        let (s, v) = with_bearer(&a, Method::POST, "/v1/functions/other/invoke", &key, &[]).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        for (m, p) in [
            (Method::GET, "/v1/functions".to_string()),
            (Method::GET, "/v1/functions/hook".to_string()),
            (Method::GET, "/v1/functions/hook/logs".to_string()),
            (Method::GET, "/v1/functions/hook/invoke-keys".to_string()),
            (Method::POST, "/v1/functions/hook/invoke-keys".to_string()),
            (Method::GET, format!("/v1/invocations/{inv}")),
            (Method::GET, "/v1/functions/hook/invocations".to_string()),
            (Method::GET, "/v1/me".to_string()),
            (Method::GET, "/v1/admin/tenants".to_string()),
            (Method::DELETE, "/v1/functions/hook".to_string()),
        ] {
            let (s, v) = with_bearer(&a, m.clone(), &p, &key, &[]).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {p}: {v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("invoke key"), "{m} {p}: {v}");
        }
        // Another tenant cannot see or revoke it.
        let bob = a.token("bob").await;
        let r = a.call(Method::GET, "/v1/functions/hook/invoke-keys", Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let id = k["id"].as_str().unwrap();
        let r = a.call(Method::DELETE, &format!("/v1/functions/hook/invoke-keys/{id}"), Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        // Revoked on a: refused at once on b.
        let (s, _) = a.call(Method::DELETE, &format!("/v1/functions/hook/invoke-keys/{id}"), Some(&t), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = with_bearer(&b, Method::POST, "/v1/functions/hook/invoke", &key, &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        let (_, l) = a.call(Method::GET, "/v1/functions/hook/invoke-keys", Some(&t), None).await;
        assert_eq!(l["items"][0]["active"], false);
        assert!(l["items"][0]["revokedAt"].is_string());
        // Expiry: a key past its time is refused.
        let (_, k2) = a.call(Method::POST, "/v1/functions/hook/invoke-keys", Some(&t), Some(json!({"name": "short", "expiresInSeconds": 60}))).await;
        let key2 = k2["key"].as_str().unwrap().to_string();
        let (s, _) = with_bearer(&a, Method::POST, "/v1/functions/hook/invoke", &key2, &[]).await;
        assert_eq!(s, StatusCode::OK);
        {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&a.url).await.unwrap();
            sqlx::query("UPDATE invoke_keys SET expires_at = 1 WHERE id = $1")
                .bind(k2["id"].as_str().unwrap())
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let (s, v) = with_bearer(&b, Method::POST, "/v1/functions/hook/invoke", &key2, &[]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        // Validation names the field; the key is in no audit entry.
        let r = a.call(Method::POST, "/v1/functions/hook/invoke-keys", Some(&t), Some(json!({"name": ""}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
        let r = a.call(Method::POST, "/v1/functions/hook/invoke-keys", Some(&t), Some(json!({"name": "x", "expiresInSeconds": 5}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("expiresInSeconds"));
        let r = a.call(Method::POST, "/v1/functions/nope/invoke-keys", Some(&t), Some(json!({"name": "x"}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let admin = a.admin_token().await;
        let (_, audit) = a.call(Method::GET, "/v1/admin/audit?limit=200", Some(&admin), None).await;
        let text = audit.to_string();
        assert!(text.contains("invoke_key.create") && text.contains("invoke_key.revoke"), "{audit}");
        assert!(!text.contains(&key) && !text.contains(&key2), "no key in the audit log");
    };
}

both_databases! {
    only_functions_that_opt_in_take_public_invocations => |db| async move {
        let up = upstream().await;
        let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
        cfg.gateway = GatewayConfig {
            resolver: Resolver::Static([("alice/open".to_string(), format!("http://{up}")), ("alice/closed".to_string(), format!("http://{up}"))].into()),
            rate_per_tenant: 5,
            ..GatewayConfig::default()
        };
        let (url, guard) = fresh_database(db).await;
        let app = TestApp::on_with(url, Arc::new(guard), cfg).await;
        let t = app.token("alice").await;
        let (s, f) = app.create(&t, json!({"name": "open", "image": "nginx", "publicInvoke": true})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        assert_eq!(f["spec"]["publicInvoke"], true);
        app.create(&t, json!({"name": "closed", "image": "nginx"})).await;
        let anon = |method: Method, path: &str| {
            let req = Request::builder().method(method).uri(path).body(Body::from("hi")).unwrap();
            app.raw(req)
        };
        let (s, _, b) = anon(Method::POST, "/v1/public/alice/open/invoke/hook?x=1").await;
        assert_eq!((s, b.as_slice()), (StatusCode::OK, &b"pong"[..]));
        // Not opted in, unknown, another tenant's: the same 404.
        for p in ["/v1/public/alice/closed/invoke", "/v1/public/alice/nope/invoke", "/v1/public/bob/open/invoke", "/v1/public/NOT%20A%20TENANT/open/invoke"] {
            let (s, _, b) = anon(Method::POST, p).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{p}: {}", String::from_utf8_lossy(&b));
        }
        let (s, _, _) = anon(Method::POST, "/v1/public/alice/open/invoke/../x").await;
        assert!(s.is_client_error(), "{s}");
        // Under the tenant's invocation rate (5/s, burst 10), counted once
        // per call (one call was made above).
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let mut limited = false;
        let mut served = 0;
        for _ in 0..30 {
            let (s, _, _) = anon(Method::POST, "/v1/public/alice/open/invoke").await;
            if s == StatusCode::TOO_MANY_REQUESTS {
                limited = true;
                break;
            }
            served += 1;
        }
        assert!(limited, "the tenant's rate limit applies to public invocations");
        assert!(served >= 10, "the burst of 10 is counted once per call: {served} served");
        // Opting out holds at once on this replica (others within 10 s).
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (s, f) = app.call(Method::PUT, "/v1/functions/open", Some(&t), Some(json!({"image": "nginx"}))).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        let (s, _, _) = anon(Method::POST, "/v1/public/alice/open/invoke").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    };
}
