//! `/v1/registry-credentials`: write-only passwords, tenant scope, the
//! per-tenant limit (atomic), validation naming the field, the audit log,
//! and what the sync gets to build the pull Secret.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use eventflow_core::{TenantId, MAX_REGISTRY_CREDENTIALS};
use eventflow_server::store::OutboxKind;
use serde_json::{json, Value};

use crate::both_databases;
use crate::helpers::{assert_error, TestApp};

const PASSWORD: &str = "pw-Zq8vX-never-shown";

fn path(registry: &str) -> String {
    format!("/v1/registry-credentials/{registry}")
}

async fn put(app: &TestApp, token: &str, registry: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &path(registry), Some(token), Some(body))
        .await
}

both_databases! {
    registry_passwords_are_write_only_and_credentials_are_the_tenants_own => |db| async move {
        let app = TestApp::new(db).await;
        let alice = app.token("alice").await;
        let bob = app.token("bob").await;

        let (s, created) = put(&app, &alice, "ghcr.io", json!({"username": "robot", "password": PASSWORD})).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["registry"], "ghcr.io");
        assert_eq!(created["username"], "robot");
        assert!(created.get("password").is_none(), "{created}");
        let (s, replaced) = put(&app, &alice, "ghcr.io", json!({"username": "robot2", "password": format!("{PASSWORD}-2")})).await;
        assert_eq!(s, StatusCode::OK, "{replaced}");
        assert_eq!(replaced["createdAt"], created["createdAt"]);
        assert_eq!(replaced["username"], "robot2");
        let (s, list) = app.call(Method::GET, "/v1/registry-credentials", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["items"][0]["registry"], "ghcr.io");

        // Another tenant sees none of it and cannot delete it.
        let (_, other) = app.call(Method::GET, "/v1/registry-credentials", Some(&bob), None).await;
        assert_eq!(other, json!({"items": []}));
        let r = app.call(Method::DELETE, &path("ghcr.io"), Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);

        // Invalid input: 422 naming the field, and the password never echoed.
        let r = put(&app, &alice, "GHCR.io", json!({"username": "u", "password": PASSWORD})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("registry"));
        let r = put(&app, &alice, "ghcr.io", json!({"username": "a:b", "password": PASSWORD})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("username"));
        let r = put(&app, &alice, "ghcr.io", json!({"username": "u", "password": format!("{PASSWORD}\u{1}")})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("password"));
        assert!(!r.1.to_string().contains(PASSWORD), "{}", r.1);
        let r = put(&app, &alice, "ghcr.io", json!({"username": "u", "password": PASSWORD, "email": "x"})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", None);
        assert!(!r.1.to_string().contains(PASSWORD), "{}", r.1);

        // The sync gets the password (for the pull Secret), and a Secret
        // write is queued for each change.
        let tenant = TenantId::parse("alice").unwrap();
        let auths = app.state.store.registry_auths(&tenant).await.unwrap();
        assert_eq!(auths.len(), 1);
        assert_eq!((auths[0].username.as_str(), auths[0].password.as_str()), ("robot2", format!("{PASSWORD}-2").as_str()));
        assert!(!format!("{auths:?}").contains(PASSWORD), "Debug shows no password");
        let queued = app.state.store.due_outbox(1000).await.unwrap();
        let registry_entries = queued.iter().filter(|e| e.kind == OutboxKind::Registry && e.tenant == tenant).count();
        assert!(registry_entries >= 3, "tenant creation, create, replace: {queued:?}");

        // The audit log names the registry and user, never the password.
        let admin = app.admin_token().await;
        let (_, audit) = app.call(Method::GET, "/v1/admin/audit?tenant=alice&limit=500", Some(&admin), None).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions[..2], ["registry_credential.replace", "registry_credential.create"], "{audit}");
        assert_eq!(audit["items"][0]["target"], "ghcr.io");
        assert!(!audit.to_string().contains("pw-Zq8vX"), "{audit}");

        let (s, _) = app.call(Method::DELETE, &path("ghcr.io"), Some(&alice), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let r = app.call(Method::DELETE, &path("ghcr.io"), Some(&alice), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        assert!(app.state.store.registry_auths(&tenant).await.unwrap().is_empty());

        // A deleted tenant's credentials go with it.
        put(&app, &alice, "ghcr.io", json!({"username": "u", "password": PASSWORD})).await;
        let (s, _) = app.call(Method::DELETE, "/v1/admin/tenants/alice", Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert!(app.state.store.registry_auths(&tenant).await.unwrap().is_empty());
    };

    parallel_registry_puts_cannot_exceed_the_limit => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("racer").await;
        let n = MAX_REGISTRY_CREDENTIALS as usize + 8;
        let puts = (0..n).map(|i| {
            let router = app.router.clone();
            let t = t.clone();
            tokio::spawn(async move {
                let req = Request::put(path(&format!("r{i}.example")))
                    .header("authorization", format!("Bearer {t}"))
                    .header("content-type", "application/json")
                    .body(Body::from(json!({"username": "u", "password": "p"}).to_string()))
                    .unwrap();
                tower::ServiceExt::oneshot(router, req).await.unwrap().status()
            })
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(puts).await.into_iter().map(Result::unwrap).collect();
        let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
        assert_eq!((created, refused), (MAX_REGISTRY_CREDENTIALS as usize, 8), "{statuses:?}");
        // At the limit, replacing one still works; a new one is refused.
        let (_, list) = app.call(Method::GET, "/v1/registry-credentials", Some(&t), None).await;
        let first = list["items"][0]["registry"].as_str().unwrap().to_string();
        let (s, _) = put(&app, &t, &first, json!({"username": "u2", "password": "p2"})).await;
        assert_eq!(s, StatusCode::OK);
        let r = put(&app, &t, "one-more.example", json!({"username": "u", "password": "p"})).await;
        assert_error(&r, StatusCode::FORBIDDEN, "quota_exceeded", None);
    };
}
