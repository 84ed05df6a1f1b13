//! API tests: one binary, every test against SQLite and PostgreSQL.

mod cluster;
mod gateway;
mod helpers;
mod invocations;
mod invoke_keys;
mod metrics;
mod registries;
mod revisions;
mod samples;
mod scaling;
mod secrets;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use eventflow_server::{auth::AuthMode, sync::KubeSource};
use helpers::{assert_error, Db, TestApp, SECRET};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "alice", "tenant": "alice", "ns": "tenant-alice", "role": "tenant",
        "iat": now, "nbf": now, "exp": now + 600, "iss": "eventflow", "aud": "eventflow-api"
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

both_databases! {
    seed_quick_start_flow => |db| async move {
        let app = TestApp::new(db).await;
        let alice = app.token("alice").await;
        let bob = app.token("bob").await;
        let (s, v) = app.create(&alice, json!({"name":"alice-app","image":"nginx:alpine","replicas":1})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["namespace"], "tenant-alice");
        assert_eq!(v["spec"]["resources"]["limits"]["memory"], "512Mi");
        assert_eq!(v["status"]["phase"], "Pending");
        let (s, _) = app.create(&bob, json!({"name":"bob-app","image":"nginx:alpine","replicas":1})).await;
        assert_eq!(s, StatusCode::CREATED);
        let names = |v: &Value| v["items"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let (_, la) = app.call(Method::GET, "/v1/functions", Some(&alice), None).await;
        let (_, lb) = app.call(Method::GET, "/v1/functions", Some(&bob), None).await;
        assert_eq!(names(&la), ["alice-app"]);
        assert_eq!(names(&lb), ["bob-app"]);
        // The catalog survives a restart; the old token still works.
        let app = app.restart().await;
        let (s, la) = app.call(Method::GET, "/v1/functions", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(names(&la), ["alice-app"]);
    };

    crud_and_generations => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("carol").await;
        let (s, v) = app.create(&t, json!({"name":"f","image":"nginx","env":[{"name":"A","value":"1"}]})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["generation"], 1);
        let (s, v) = app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"replicas": 3}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["spec"]["replicas"], 3);
        assert_eq!(v["spec"]["env"][0]["name"], "A", "PATCH keeps other fields");
        assert_eq!(v["generation"], 2);
        // A no-op patch does not bump the generation.
        let (_, v) = app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"replicas": 3}))).await;
        assert_eq!(v["generation"], 2);
        let (s, v) = app.call(Method::PUT, "/v1/functions/f", Some(&t), Some(json!({"image":"busybox:1.36"}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["spec"]["replicas"], 1, "PUT replaces: omitted fields take defaults");
        assert_eq!(v["spec"]["env"], json!([]));
        assert_eq!(v["generation"], 3);
        let dup = app.create(&t, json!({"name":"f","image":"nginx"})).await;
        assert_error(&dup, StatusCode::CONFLICT, "conflict", None);
        let (s, _) = app.call(Method::DELETE, "/v1/functions/f", Some(&t), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let gone = app.call(Method::GET, "/v1/functions/f", Some(&t), None).await;
        assert_error(&gone, StatusCode::NOT_FOUND, "not_found", None);
        let again = app.call(Method::DELETE, "/v1/functions/f", Some(&t), None).await;
        assert_error(&again, StatusCode::NOT_FOUND, "not_found", None);
    };

    pagination => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("pager").await;
        for i in 0..5 {
            let (s, _) = app.create(&t, json!({"name": format!("f{i}"), "image":"nginx"})).await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let mut seen = vec![];
        let mut path = "/v1/functions?limit=2".to_string();
        loop {
            let (s, v) = app.call(Method::GET, &path, Some(&t), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let items = v["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|f| f["name"].as_str().unwrap().to_string()));
            match v["nextCursor"].as_str() {
                Some(c) => path = format!("/v1/functions?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ["f0", "f1", "f2", "f3", "f4"]);
        for bad in ["limit=0", "limit=201", "limit=x", "cursor=%%%", "cursor=!!"] {
            let r = app.call(Method::GET, &format!("/v1/functions?{bad}"), Some(&t), None).await;
            assert_eq!(r.0, StatusCode::BAD_REQUEST, "{bad}: {}", r.1);
        }
    };

    forged_tokens_are_refused => |db| async move {
        let app = TestApp::new(db).await;
        app.token("alice").await;
        let good = sign(Algorithm::HS256, SECRET, &claims(json!({})));
        let (s, _) = app.call(Method::GET, "/v1/functions", Some(&good), None).await;
        assert_eq!(s, StatusCode::OK, "a correctly signed token is accepted");
        let now = chrono::Utc::now().timestamp();
        let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        let forged = [
            ("alg none", format!("{header_none}.{body}.")),
            ("wrong key", sign(Algorithm::HS256, b"another-secret-another-secret-123", &claims(json!({})))),
            ("HS512 with the right key", sign(Algorithm::HS512, SECRET, &claims(json!({})))),
            ("expired", sign(Algorithm::HS256, SECRET, &claims(json!({"exp": now - 120, "iat": now - 700, "nbf": now - 700})))),
            ("not yet valid", sign(Algorithm::HS256, SECRET, &claims(json!({"nbf": now + 600})))),
            ("wrong audience", sign(Algorithm::HS256, SECRET, &claims(json!({"aud": "someone-else"})))),
            ("wrong issuer", sign(Algorithm::HS256, SECRET, &claims(json!({"iss": "evil"})))),
            ("no exp", sign(Algorithm::HS256, SECRET, &claims(json!({"exp": null})))),
            ("garbage", "not.a.jwt".to_string()),
            ("empty", String::new()),
        ];
        for (what, token) in forged {
            let r = app.call(Method::GET, "/v1/functions", Some(&token), None).await;
            assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
            let _ = what;
        }
        let r = app.call(Method::GET, "/v1/functions", None, None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        let req = Request::builder().uri("/v1/functions").header("authorization", "Basic YTpi").body(Body::empty()).unwrap();
        let (s, h, _) = app.raw(req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(h["www-authenticate"], "Bearer");
    };

    cross_tenant_access_is_404 => |db| async move {
        let app = TestApp::new(db).await;
        let alice = app.token("alice").await;
        let bob = app.token("bob").await;
        let (s, _) = app.create(&alice, json!({"name":"secret","image":"nginx"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let path = "/v1/functions/secret";
        for (m, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({"image":"evil"}))),
            (Method::PATCH, Some(json!({"replicas":0}))),
            (Method::DELETE, None),
        ] {
            let r = app.call(m.clone(), path, Some(&bob), body).await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        }
        // Bob creating the same name gets his own function, not a conflict.
        let (s, v) = app.create(&bob, json!({"name":"secret","image":"busybox"})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (_, v) = app.call(Method::GET, path, Some(&alice), None).await;
        assert_eq!(v["spec"]["image"], "nginx", "alice's function is untouched");
        assert_eq!(v["spec"]["replicas"], 1);
    };

    admin_endpoints_need_admin => |db| async move {
        let app = TestApp::new(db).await;
        let alice = app.token("alice").await;
        for (m, p, b) in [
            (Method::GET, "/v1/admin/tenants", None),
            (Method::POST, "/v1/admin/tenants", Some(json!({"id":"x"}))),
            (Method::DELETE, "/v1/admin/tenants/alice", None),
            (Method::PUT, "/v1/admin/tenants/alice", Some(json!({"quota":{"pods":500}}))),
            (Method::GET, "/v1/admin/api-keys", None),
            (Method::POST, "/v1/admin/api-keys", Some(json!({"role":"admin","name":"mine"}))),
            (Method::DELETE, "/v1/admin/api-keys/whatever", None),
        ] {
            let r = app.call(m, p, Some(&alice), b).await;
            assert_error(&r, StatusCode::FORBIDDEN, "forbidden", None);
        }
    };

    admin_replaces_tenant_overrides => |db| async move {
        let app = TestApp::with(db, AuthMode::Production, KubeSource::Disabled).await;
        let admin = app.admin_token().await;
        let (s, _) = app.call(Method::POST, "/v1/admin/tenants", Some(&admin),
            Some(json!({"id":"acme","quota":{"functions":1},"maxReplicas":2}))).await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, v) = app.call(Method::POST, "/v1/admin/api-keys", Some(&admin),
            Some(json!({"tenant":"acme","role":"tenant","name":"ci"}))).await;
        let (_, v) = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": v["key"]}))).await;
        let acme = v["token"].as_str().unwrap().to_string();
        let (s, _) = app.create(&acme, json!({"name":"one","image":"nginx"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let r = app.create(&acme, json!({"name":"two","image":"nginx"})).await;
        assert_error(&r, StatusCode::FORBIDDEN, "quota_exceeded", None);
        // Raise the function quota and max replicas, set a pod quota.
        let (s, v) = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin),
            Some(json!({"quota":{"functions":3,"pods":7},"maxReplicas":5}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["maxReplicas"], 5);
        assert_eq!(v["spec"]["quota"]["pods"], 7);
        let (s, _) = app.create(&acme, json!({"name":"two","image":"nginx","replicas":5})).await;
        assert_eq!(s, StatusCode::CREATED, "the new limits apply at once");
        let (_, me) = app.call(Method::GET, "/v1/me", Some(&acme), None).await;
        assert_eq!(me["quota"]["pods"]["hard"], "7", "{me}");
        assert_eq!(me["quota"]["functions"]["hard"], "3", "{me}");
        assert_eq!(me["limits"]["maxReplicas"], 5, "{me}");
        // PUT replaces: what is left out goes back to the defaults.
        let (s, v) = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin), Some(json!({}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["maxReplicas"].is_null(), "{v}");
        let (_, me) = app.call(Method::GET, "/v1/me", Some(&acme), None).await;
        assert_eq!(me["quota"]["pods"]["hard"], "50", "{me}");
        assert_eq!(me["limits"]["maxReplicas"], 20, "{me}");
        // Errors.
        let r = app.call(Method::PUT, "/v1/admin/tenants/nobody", Some(&admin), Some(json!({}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let r = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin),
            Some(json!({"quota":{"requestsCpu":"lots"}}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("quota.requestsCpu"));
        // A misspelt override key is an error, not silently dropped.
        let r = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin),
            Some(json!({"quota":{"podz":5}}))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("quota.podz"));
        let r = app.call(Method::POST, "/v1/admin/tenants", Some(&admin),
            Some(json!({"id":"typo","limits":{"defaultCpu":"1"}}))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("limits.defaultCpu"));
        assert!(r.1.to_string().contains("defaultLimitCpu"), "names the known keys: {}", r.1);
        let r = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin),
            Some(json!({"quota":{"pods":"many"}}))).await;
        assert!(r.0 == StatusCode::BAD_REQUEST || r.0 == StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r);
        let r = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin), Some(json!({"maxReplicas":0}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("maxReplicas"));
        let r = app.call(Method::PUT, "/v1/admin/tenants/acme", Some(&admin), Some(json!({"id":"other"}))).await;
        assert!(r.0.is_client_error(), "unknown fields are refused: {:?}", r);
        let r = app.call(Method::PUT, "/v1/admin/tenants/Bad_Id", Some(&admin), Some(json!({}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("id"));
    };

    production_mode_api_keys => |db| async move {
        let app = TestApp::with(db, AuthMode::Production, KubeSource::Disabled).await;
        let admin_key = "efk_bootstrap_admin_key_for_tests_0123456789";
        eventflow_server::auth::ensure_admin_key(&app.state.store, admin_key).await.unwrap();
        // Dev login is refused in production mode.
        let r = app.call(Method::POST, "/auth/token", None, Some(json!({"user_id":"alice"}))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("api_key"));
        let r = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key":"efk_nope"}))).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        // A correctly signed token that no API key stands behind (as a
        // dev-mode server with the same secret would mint) is refused.
        let no_kid = sign(Algorithm::HS256, SECRET, &claims(json!({})));
        let r = app.call(Method::GET, "/v1/functions", Some(&no_kid), None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        assert!(r.1.to_string().contains("not issued for an API key"), "{}", r.1);
        let (s, v) = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": admin_key}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["role"], "admin");
        let admin = v["token"].as_str().unwrap().to_string();
        // An admin token is not a tenant token.
        let r = app.call(Method::GET, "/v1/functions", Some(&admin), None).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden", None);
        let (s, v) = app.call(Method::POST, "/v1/admin/tenants", Some(&admin),
            Some(json!({"id":"acme","quota":{"pods":5,"functions":1},"maxReplicas":3}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["namespace"], "tenant-acme");
        let r = app.call(Method::POST, "/v1/admin/tenants", Some(&admin), Some(json!({"id":"acme"}))).await;
        assert_error(&r, StatusCode::CONFLICT, "conflict", None);
        let r = app.call(Method::POST, "/v1/admin/tenants", Some(&admin), Some(json!({"id":"Bad_Id"}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("id"));
        let r = app.call(Method::POST, "/v1/admin/tenants", Some(&admin), Some(json!({"id":"q","quota":{"requestsCpu":"lots"}}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("quota.requestsCpu"));
        let (s, v) = app.call(Method::POST, "/v1/admin/api-keys", Some(&admin),
            Some(json!({"tenant":"acme","role":"tenant","name":"ci"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let key = v["key"].as_str().unwrap().to_string();
        let key_id = v["id"].as_str().unwrap().to_string();
        let (_, list) = app.call(Method::GET, "/v1/admin/api-keys", Some(&admin), None).await;
        assert!(!list.to_string().contains(&key), "listing never shows a key");
        let (s, v) = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": key}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["tenant"], "acme");
        let acme = v["token"].as_str().unwrap().to_string();
        // Tenant overrides apply: max replicas and function count.
        let r = app.create(&acme, json!({"name":"big","image":"nginx","replicas":4})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("replicas"));
        let (s, _) = app.create(&acme, json!({"name":"one","image":"nginx"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let r = app.create(&acme, json!({"name":"two","image":"nginx"})).await;
        assert_error(&r, StatusCode::FORBIDDEN, "quota_exceeded", None);
        let (_, me) = app.call(Method::GET, "/v1/me", Some(&acme), None).await;
        assert_eq!(me["quota"]["pods"]["hard"], "5");
        assert_eq!(me["quota"]["functions"]["used"], "1");
        // A second key of the same tenant, to outlive the first.
        let (_, v) = app.call(Method::POST, "/v1/admin/api-keys", Some(&admin),
            Some(json!({"tenant":"acme","role":"tenant","name":"other"}))).await;
        let (_, v) = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": v["key"]}))).await;
        let acme2 = v["token"].as_str().unwrap().to_string();
        // Revoked keys mint no more tokens, and the tokens they minted stop
        // working at once (this replica); the tenant's other key still works.
        let (s, _) = app.call(Method::GET, "/v1/functions", Some(&acme), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call(Method::DELETE, &format!("/v1/admin/api-keys/{key_id}"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let r = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": key}))).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        for (method, path) in [(Method::GET, "/v1/functions"), (Method::GET, "/v1/me"),
                               (Method::DELETE, "/v1/functions/one"), (Method::POST, "/v1/functions/one/invoke")] {
            let r = app.call(method, path, Some(&acme), None).await;
            assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
            assert!(r.1.to_string().contains("revoked"), "{path}: {}", r.1);
        }
        let (s, list) = app.call(Method::GET, "/v1/functions", Some(&acme2), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["items"][0]["name"], "one", "revoked token deleted nothing");
        // Deleting the tenant removes its functions, and its keys' tokens stop working.
        let (s, _) = app.call(Method::DELETE, "/v1/admin/tenants/acme", Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let r = app.call(Method::GET, "/v1/functions", Some(&acme2), None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        // The admin token is untouched by all of this.
        let (_, list) = app.call(Method::GET, "/v1/admin/tenants", Some(&admin), None).await;
        assert_eq!(list, json!([]));
    };

    nul_bytes_and_deleted_tenants_are_4xx => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        app.create(&t, json!({"name":"f","image":"nginx"})).await;
        // A cursor decoding to a NUL byte, or to anything but a function name.
        for cursor in ["AA", "Zi8uLg", "_w"] {
            let r = app.call(Method::GET, &format!("/v1/functions?cursor={cursor}"), Some(&t), None).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("cursor"));
        }
        // NUL and other control characters in a dev login.
        for (field, body) in [
            ("email", json!({"user_id":"nul","email":"a\u{0}@example.com"})),
            ("email", json!({"user_id":"nul","email":"a@example.com\n"})),
            ("username", json!({"user_id":"nul","username":"a\u{0}b"})),
        ] {
            let r = app.call(Method::POST, "/auth/token", None, Some(body)).await;
            assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some(field));
        }
        // A dev token whose tenant was deleted since: 401, asking to sign in again.
        let gone = app.token("gone").await;
        let tenant = eventflow_core::TenantId::parse("gone").unwrap();
        let actor = eventflow_server::store::Actor("test".into());
        assert!(app.state.store.delete_tenant(&tenant, &actor).await.unwrap());
        let r = app.create(&gone, json!({"name":"f","image":"nginx"})).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        assert!(r.1.to_string().contains("no longer exists"), "{}", r.1);
    };

    functions_beyond_the_tenant_quota_are_refused => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let huge = "300000000000000000000000000000";
        let r = app.create(&t, json!({"name":"big","image":"nginx","replicas":3,
            "resources":{"requests":{"cpu":huge},"limits":{"cpu":huge}}})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("resources.requests.cpu"));
        let r = app.create(&t, json!({"name":"big","image":"nginx","replicas":2,
            "resources":{"limits":{"memory":"30Gi"}}})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("resources.limits.memory"));
        // maxReplicas is the tenant's (20 by default), the pod quota 50: raise one, hit the other.
        let (s, _) = app.create(&t, json!({"name":"ok","image":"nginx","replicas":2})).await;
        assert_eq!(s, StatusCode::CREATED);
        let r = app.call(Method::PUT, "/v1/functions/ok", Some(&t),
            Some(json!({"image":"nginx","replicas":2,"resources":{"requests":{"cpu":"6"},"limits":{"cpu":"6"}}}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("resources.requests.cpu"));
        // Scaling up is checked too: 4 CPUs × 2 fit in 10, × 3 do not.
        let (s, _) = app.create(&t, json!({"name":"cpu4","image":"nginx","replicas":2,
            "resources":{"requests":{"cpu":"4"},"limits":{"cpu":"4"}}})).await;
        assert_eq!(s, StatusCode::CREATED);
        let r = app.call(Method::PATCH, "/v1/functions/cpu4", Some(&t), Some(json!({"replicas":3}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("resources.requests.cpu"));
        let (s, _) = app.call(Method::DELETE, "/v1/functions/cpu4", Some(&t), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // Nothing refused was stored; usage is what the stored function asks for.
        let (_, me) = app.call(Method::GET, "/v1/me", Some(&t), None).await;
        assert_eq!(me["quota"]["requestsCpu"]["used"], "200m", "{me}");
        assert_eq!(me["quota"]["functions"]["used"], "1", "{me}");
    };

    dev_mode_answers_loopback_hosts_and_json_bodies_only => |db| async move {
        let app = TestApp::new(db).await;
        let login = |host: &str, ct: Option<&str>| {
            let mut req = Request::post("/auth/token").header("host", host);
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            req.body(Body::from(r#"{"user_id":"alice"}"#)).unwrap()
        };
        // DNS rebinding: a page's own name, resolved to 127.0.0.1.
        for host in ["evil.example", "evil.example:8080", "localhost.evil.example", "10.0.0.1:8080"] {
            let (s, h, b) = app.raw(login(host, Some("application/json"))).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{host}: {}", String::from_utf8_lossy(&b));
            assert_eq!(h["x-eventflow-error"], "forbidden");
            let (s, _, _) = app.raw(Request::get("/readyz").header("host", host).body(Body::empty()).unwrap()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{host}: every route");
        }
        for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "app.localhost"] {
            let (s, _, b) = app.raw(login(host, Some("application/json"))).await;
            assert_eq!(s, StatusCode::OK, "{host}: {}", String::from_utf8_lossy(&b));
        }
        // A body a page can send cross-origin without a preflight is not JSON.
        for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let (s, h, _) = app.raw(login("localhost", ct)).await;
            assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
            assert_eq!(h["x-eventflow-error"], "unsupported_media_type");
        }
        // --allowed-host adds names; production mode does not look at Host.
        let mut config = helpers::config(AuthMode::Dev, KubeSource::Disabled);
        config.allowed_hosts = vec!["devbox.lan".into()];
        let app = app.restart_with(config).await;
        let (s, _, _) = app.raw(login("devbox.lan:8080", Some("application/json"))).await;
        assert_eq!(s, StatusCode::OK);
        let prod = TestApp::with(db, AuthMode::Production, KubeSource::Disabled).await;
        let (s, _, _) = prod.raw(Request::get("/readyz").header("host", "api.example.com").body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
    };

    parallel_creates_cannot_exceed_the_function_quota => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("racer").await;
        let tenant = eventflow_core::TenantId::parse("racer").unwrap();
        let mut spec = app.state.store.get_tenant(&tenant).await.unwrap().unwrap().spec;
        spec.quota = Some(serde_json::from_value(json!({"functions": 3})).unwrap());
        let actor = eventflow_server::store::Actor("test".into());
        assert!(app.state.store.update_tenant(&tenant, &spec, None, &actor).await.unwrap());
        assert_eq!(app.state.tenant_quota(&tenant).await.unwrap().functions, 3);
        let creates = (0..16).map(|i| {
            let router = app.router.clone();
            let t = t.clone();
            tokio::spawn(async move {
                let req = Request::post("/v1/functions")
                    .header("authorization", format!("Bearer {t}"))
                    .header("content-type", "application/json")
                    .body(Body::from(json!({"name": format!("f{i}"), "image": "nginx"}).to_string()))
                    .unwrap();
                tower::ServiceExt::oneshot(router, req).await.unwrap().status()
            })
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(creates).await.into_iter().map(Result::unwrap).collect();
        let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
        assert_eq!((created, refused), (3, 13), "{statuses:?}");
        let (_, list) = app.call(Method::GET, "/v1/functions", Some(&t), None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 3);
        // A taken name is still a conflict, not a quota refusal.
        let first = list["items"][0]["name"].as_str().unwrap().to_string();
        let r = app.create(&t, json!({"name": first, "image": "nginx"})).await;
        assert_error(&r, StatusCode::CONFLICT, "conflict", None);
    };

    audit_log_redacts_env_values_is_admin_only_and_is_pruned => |db| async move {
        let app = TestApp::with(db, AuthMode::Production, KubeSource::Disabled).await;
        let admin = app.admin_token().await;
        for id in ["acme", "other"] {
            let (s, _) = app.call(Method::POST, "/v1/admin/tenants", Some(&admin), Some(json!({"id": id}))).await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let (_, k) = app.call(Method::POST, "/v1/admin/api-keys", Some(&admin), Some(json!({"tenant":"acme","role":"tenant","name":"ci"}))).await;
        let (_, v) = app.call(Method::POST, "/auth/token", None, Some(json!({"api_key": k["key"]}))).await;
        let acme = v["token"].as_str().unwrap().to_string();
        let (s, _) = app.create(&acme, json!({"name":"db","image":"nginx","env":[{"name":"DB_PASSWORD","value":"hunter2"}]})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = app.call(Method::PUT, "/v1/functions/db", Some(&acme),
            Some(json!({"image":"nginx","env":[{"name":"DB_PASSWORD","value":"hunter3"}]}))).await;
        assert_eq!(s, StatusCode::OK);
        // Admin only.
        let r = app.call(Method::GET, "/v1/admin/audit", Some(&acme), None).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden", None);
        // Newest first, the tenant filter, no env value anywhere.
        let (s, page) = app.call(Method::GET, "/v1/admin/audit?tenant=acme", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let actions: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions[..2], ["function.update", "function.create"], "{page}");
        assert!(page["items"].as_array().unwrap().iter().all(|e| e["tenant"] == "acme"), "{page}");
        assert_eq!(page["items"][0]["detail"]["env"][0], json!({"name":"DB_PASSWORD","value":"(redacted)"}));
        let (_, all) = app.call(Method::GET, "/v1/admin/audit?limit=500", Some(&admin), None).await;
        assert!(!all.to_string().contains("hunter"), "{all}");
        // Pages follow the cursor without overlap.
        let (_, p1) = app.call(Method::GET, "/v1/admin/audit?limit=2", Some(&admin), None).await;
        let cursor = p1["nextCursor"].as_str().unwrap().to_string();
        let (_, p2) = app.call(Method::GET, &format!("/v1/admin/audit?limit=2&cursor={cursor}"), Some(&admin), None).await;
        assert!(p2["items"][0]["id"].as_i64().unwrap() < p1["items"][1]["id"].as_i64().unwrap());
        let r = app.call(Method::GET, "/v1/admin/audit?limit=0", Some(&admin), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("limit"));
        // Retention: entries older than the cut-off go.
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(app.state.store.prune_audit(now - 3_600_000).await.unwrap(), 0, "nothing is an hour old");
        assert!(app.state.store.prune_audit(now + 1).await.unwrap() >= 5);
        let (_, page) = app.call(Method::GET, "/v1/admin/audit", Some(&admin), None).await;
        assert!(page["items"].as_array().unwrap().iter().all(|e| e["action"] != "function.create"), "{page}");
    };

    old_audit_entries_are_redacted_once_at_start => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        app.create(&t, json!({"name":"f","image":"nginx"})).await;
        // An entry as written before redaction existed.
        let old = json!({"image":"nginx","env":[{"name":"TOKEN","value":"s3cret"}]}).to_string();
        let store_url = app.url.clone();
        {
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let mut c = sqlx::AnyConnection::connect(&store_url).await.unwrap();
            sqlx::query("DELETE FROM meta WHERE key = 'audit_env_redacted'").execute(&mut c).await.unwrap();
            sqlx::query("INSERT INTO audit_log (at, actor, tenant_id, action, target, detail) VALUES (1, 'dev:alice', 'alice', 'function.update', 'f', $1)")
                .bind(&old).execute(&mut c).await.unwrap();
        }
        let app = app.restart().await;
        let entries = app.state.store.audit_entries(None, None, 100).await.unwrap();
        let e = entries.iter().find(|e| e.at.starts_with("1970")).expect("the old entry");
        assert_eq!(e.detail["env"][0]["value"], "(redacted)");
    };

    every_authenticated_route_is_rate_limited_per_tenant => |db| async move {
        let (url, guard) = helpers::fresh_database(db).await;
        let mut config = helpers::config(AuthMode::Dev, KubeSource::Disabled);
        config.api_rate = 5; // bursts of 10
        config.gateway.rate_per_tenant = 3; // bursts of 6
        let app = TestApp::on_with(url, std::sync::Arc::new(guard), config).await;
        let alice = app.token("alice").await;
        let bob = app.token("bob").await;
        let mut statuses = Vec::new();
        for _ in 0..11 {
            statuses.push(app.call(Method::GET, "/v1/me", Some(&alice), None).await.0);
        }
        assert!(statuses[..10].iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        let req = Request::get("/v1/functions").header("authorization", format!("Bearer {alice}")).body(Body::empty()).unwrap();
        let (s, h, _) = app.raw(req).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h["x-eventflow-error"], "too_many_requests");
        assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        let (s, _) = app.call(Method::GET, "/v1/me", Some(&bob), None).await;
        assert_eq!(s, StatusCode::OK, "bob has his own budget");
        // Invoke has its own rate, which unknown names count against too.
        let mut invokes = Vec::new();
        for i in 0..7 {
            invokes.push(app.call(Method::POST, &format!("/v1/functions/ghost{i}/invoke"), Some(&alice), None).await.0);
        }
        assert_eq!(&invokes[..6], &[StatusCode::NOT_FOUND; 6], "not limited by the spent API budget");
        assert_eq!(invokes[6], StatusCode::TOO_MANY_REQUESTS, "{invokes:?}");
    };

    a_name_cached_as_missing_is_found_once_created => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let r = app.call(Method::POST, "/v1/functions/late/invoke", Some(&t), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let (s, _) = app.create(&t, json!({"name":"late","image":"nginx"})).await;
        assert_eq!(s, StatusCode::CREATED);
        // Not 404 from the cache: the function exists, and has no ready replica yet.
        let r = app.call(Method::POST, "/v1/functions/late/invoke", Some(&t), None).await;
        assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "no_ready_replicas", None);
    };

    sync_lease_has_one_holder_at_a_time => |db| async move {
        let app = TestApp::new(db).await;
        let store = &app.state.store;
        let ttl = std::time::Duration::from_secs(15);
        assert!(store.try_sync_lease("a", ttl).await.unwrap(), "a free lease is taken");
        assert!(!store.try_sync_lease("b", ttl).await.unwrap(), "a held lease is not");
        assert!(store.try_sync_lease("a", ttl).await.unwrap(), "the holder renews it");
        // Release hands it over at once.
        store.release_sync_lease("b").await.unwrap();
        assert!(!store.try_sync_lease("b", ttl).await.unwrap(), "only the holder releases");
        store.release_sync_lease("a").await.unwrap();
        assert!(store.try_sync_lease("b", ttl).await.unwrap());
        // An expired lease is taken over.
        assert!(store.try_sync_lease("b", std::time::Duration::ZERO).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(store.try_sync_lease("a", ttl).await.unwrap(), "expired: a takes it");
        assert!(!store.try_sync_lease("b", ttl).await.unwrap());
    };

    invalid_names_name_the_field => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let long = "a".repeat(61);
        for name in ["Upper", long.as_str(), "../x", "", "héllo", "a_b", "-a", "a.b", "ünïcødé", "a/b"] {
            let r = app.create(&t, json!({"name": name, "image":"nginx"})).await;
            assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
        }
        let r = app.create(&t, json!({"image":"nginx"})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
        let r = app.create(&t, json!({"name": 5, "image":"nginx"})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
        for path in ["/v1/functions/UPPER", "/v1/functions/..%2Fx", "/v1/functions/%C3%A9"] {
            let r = app.call(Method::GET, path, Some(&t), None).await;
            assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
        }
        let r = app.call(Method::POST, "/auth/token", None, Some(json!({"user_id":"Not Valid"}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("user_id"));
    };

    invalid_specs_name_the_field => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (json!({"name":"f"}), StatusCode::UNPROCESSABLE_ENTITY, "image"),
            (json!({"name":"f","image":"UPPER/case"}), StatusCode::UNPROCESSABLE_ENTITY, "image"),
            (json!({"name":"f","image":"nginx","replicas":-1}), StatusCode::UNPROCESSABLE_ENTITY, "replicas"),
            (json!({"name":"f","image":"nginx","replicas":1000}), StatusCode::UNPROCESSABLE_ENTITY, "replicas"),
            (json!({"name":"f","image":"nginx","replicas":"two"}), StatusCode::BAD_REQUEST, "replicas"),
            (json!({"name":"f","image":"nginx","port":70000}), StatusCode::UNPROCESSABLE_ENTITY, "port"),
            (json!({"name":"f","image":"nginx","timeoutSeconds":0}), StatusCode::UNPROCESSABLE_ENTITY, "timeoutSeconds"),
            (json!({"name":"f","image":"nginx","env":[{"name":"OK","value":"1"},{"name":"1BAD","value":"x"}]}), StatusCode::UNPROCESSABLE_ENTITY, "env[1].name"),
            (json!({"name":"f","image":"nginx","env":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}), StatusCode::UNPROCESSABLE_ENTITY, "env[1].name"),
            (json!({"name":"f","image":"nginx","env":[{"name":"A","value":"1","extra":true}]}), StatusCode::BAD_REQUEST, "env[0].extra"),
            (json!({"name":"f","image":"nginx","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}), StatusCode::UNPROCESSABLE_ENTITY, "resources.limits.cpu"),
            (json!({"name":"f","image":"nginx","resources":{"requests":{"memory":"lots"}}}), StatusCode::UNPROCESSABLE_ENTITY, "resources.requests.memory"),
            (json!({"name":"f","image":"nginx","autoscaling":{"minReplicas":5,"maxReplicas":2}}), StatusCode::UNPROCESSABLE_ENTITY, "autoscaling.maxReplicas"),
            (json!({"name":"f","image":"nginx","namespace":"kube-system"}), StatusCode::BAD_REQUEST, "namespace"),
            (json!({"name":"f","image":"nginx","tenant":"bob"}), StatusCode::BAD_REQUEST, "tenant"),
            (json!({"name":"f","image":"nginx","status":{"phase":"Running"}}), StatusCode::BAD_REQUEST, "status"),
            (json!({"name":"f","image":"nginx","securityContext":{"privileged":true}}), StatusCode::BAD_REQUEST, "securityContext"),
        ];
        for (body, status, field) in cases {
            let r = app.create(&t, body.clone()).await;
            let code = if status == StatusCode::BAD_REQUEST { "bad_request" } else { "validation_failed" };
            assert_error(&r, status, code, Some(field));
        }
        let (_, list) = app.call(Method::GET, "/v1/functions", Some(&t), None).await;
        assert_eq!(list["items"], json!([]), "nothing invalid was stored");
        // The same rules guard PATCH and PUT.
        app.create(&t, json!({"name":"g","image":"nginx"})).await;
        let r = app.call(Method::PATCH, "/v1/functions/g", Some(&t), Some(json!({"replicas":-5}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("replicas"));
        let r = app.call(Method::PATCH, "/v1/functions/g", Some(&t), Some(json!({"port":1}))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("port"));
        let r = app.call(Method::PUT, "/v1/functions/g", Some(&t), Some(json!({"name":"other","image":"nginx"}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name"));
    };

    oversized_body_is_413 => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let big = "x".repeat(eventflow_server::json::BODY_LIMIT + 1);
        let body = json!({"name":"f","image":"nginx","env":[{"name":"BIG","value": big}]}).to_string();
        let req = Request::builder().method(Method::POST).uri("/v1/functions")
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "application/json")
            .body(Body::from(body)).unwrap();
        let (s, _, b) = app.raw(req).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
    };

    malformed_input_never_5xx => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        app.create(&t, json!({"name":"f","image":"nginx"})).await;
        let bodies: Vec<&[u8]> = vec![
            b"", b"{", b"}", b"null", b"[]", b"[1,2]", b"\"str\"", b"42", b"{\"name\":", b"\xff\xfe\x00",
            b"{\"name\":\"f2\",\"image\":null}", b"{\"name\":\"f2\",\"image\":[1]}", b"{\"name\":\"f2\",\"image\":\"nginx\",\"env\":{}}",
            b"{\"name\":\"f2\",\"image\":\"nginx\",\"env\":[null]}", b"{\"name\":\"f2\",\"image\":\"nginx\",\"replicas\":1e400}",
            b"{\"name\":\"f2\",\"image\":\"nginx\",\"replicas\":9223372036854775808}", b"{\"name\":\"f2\",\"image\":\"nginx\",\"resources\":null}",
            b"{\"name\":\"f2\",\"image\":\"nginx\",\"resources\":{\"limits\":{\"cpu\":\"99999999999999999999999999999Ei\"}}}",
            b"{\"name\":\"f2\",\"image\":\"nginx\",\"autoscaling\":{}}", b"{\"name\":\"f2\",\"image\":\"\\u0000\"}",
            b"{\"api_key\":5}", b"{\"user_id\":null}",
        ];
        let targets = [
            (Method::POST, "/v1/functions"), (Method::PUT, "/v1/functions/f"), (Method::PATCH, "/v1/functions/f"),
            (Method::POST, "/auth/token"), (Method::POST, "/v1/admin/tenants"),
        ];
        for (m, p) in targets {
            for b in &bodies {
                for ct in ["application/json", "text/plain", ""] {
                    let mut req = Request::builder().method(m.clone()).uri(p).header("authorization", format!("Bearer {t}"));
                    if !ct.is_empty() { req = req.header("content-type", ct); }
                    let (s, h, body) = app.raw(req.body(Body::from(b.to_vec())).unwrap()).await;
                    assert!(s.is_client_error() || s.is_success(), "{m} {p} {:?} ({ct}) -> {s}", String::from_utf8_lossy(b));
                    if s.is_client_error() {
                        assert_eq!(h["content-type"], "application/json", "{m} {p}");
                        let v: Value = serde_json::from_slice(&body).unwrap();
                        assert!(v["error"]["code"].is_string());
                    }
                }
            }
        }
        for p in ["/v1/functions/%FF", "/v1/functions/f/invoke/%FF%FE", "/v1/functions/%FF/logs"] {
            let r = app.call(Method::GET, p, Some(&t), None).await;
            assert_eq!(r.0, StatusCode::BAD_REQUEST, "{p}: {}", r.1);
            assert_eq!(r.1["error"]["code"], "bad_request", "{p}: a JSON error, not axum's text");
        }
        for p in ["/v1/functions/%00", "/v1/functions/a%2F..%2F..", "/v1/functions/", "/v1/functions?limit=-1", "/v1/nothing", "/v1/functions/f/../../x"] {
            let r = app.call(Method::GET, p, Some(&t), None).await;
            assert!(r.0.is_client_error() || r.0.is_redirection(), "{p} -> {}", r.0);
        }
    };

    health_metrics_and_openapi => |db| async move {
        let app = TestApp::new(db).await;
        let (s, v) = app.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["checks"]["database"]["status"], "ok");
        assert_eq!(v["checks"]["kubernetes"]["status"], "disabled");
        let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(s, StatusCode::OK);
        app.state.begin_shutdown();
        let (s, v) = app.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "readiness fails first on shutdown: {v}");
        // The platform's own responses carry the security headers.
        for path in ["/readyz", "/openapi.json", "/v1/nothing"] {
            let (_, h, _) = app.raw(Request::get(path).body(Body::empty()).unwrap()).await;
            assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        }
        let m = app.metrics().await;
        assert!(m.contains(r#"eventflow_http_requests_total{method="GET",route="/readyz",status="200"} 1"#), "{m}");
        // Not on the API listener: metrics name every tenant and function.
        let t = app.token("alice").await;
        for token in [None, Some(t.as_str())] {
            let r = app.call(Method::GET, "/metrics", token, None).await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        }
        assert!(m.contains("eventflow_http_request_duration_seconds_bucket"), "{m}");
        let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["paths"]["/v1/functions/{name}"]["patch"].is_object());
        // Clients get the phases as an enum, not a bare string.
        assert_eq!(doc["components"]["schemas"]["Phase"]["enum"],
            json!(["Pending", "Deploying", "Running", "Failed", "Idle"]));
        assert_eq!(doc["components"]["schemas"]["FunctionStatusDto"]["properties"]["phase"]["$ref"],
            "#/components/schemas/Phase");
    };
}

#[test]
fn committed_openapi_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).expect("docs/openapi.json");
    assert!(
        committed == eventflow_server::openapi::json(),
        "docs/openapi.json is stale: run `cargo run -p eventflow -- openapi > docs/openapi.json`"
    );
}

#[tokio::test]
async fn sqlite_is_created_in_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("new.db").display());
    let store = eventflow_server::store::Store::connect(&url).await.unwrap();
    store.ping().await.unwrap();
    assert!(dir.path().join("new.db").exists());
    let _ = Db::Sqlite;
}

/// Migration 0004 splits the old `Reason: message` strings into their
/// columns; text that does not start with a known reason becomes the message
/// of a `ClusterUnavailable` failure, as the API used to read it. Run on a
/// temporary table (PostgreSQL: it shadows nothing else).
async fn migration_splits_the_old_sync_error(url: &str, temp: &str, migration: &str) {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE {temp} TABLE functions (name TEXT PRIMARY KEY, sync_error TEXT);
         INSERT INTO functions VALUES
           ('a', 'QuotaPending: status unknown for quota: q'),
           ('b', 'connection refused: tcp'),
           ('c', NULL);"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::raw_sql(migration).execute(&mut db).await.unwrap();
    let rows = sqlx::query("SELECT name, sync_reason, sync_message FROM functions ORDER BY name")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let got: Vec<(String, Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        got,
        [
            (
                "a".into(),
                some("QuotaPending"),
                some("status unknown for quota: q")
            ),
            (
                "b".into(),
                some("ClusterUnavailable"),
                some("connection refused: tcp")
            ),
            ("c".into(), None, None),
        ]
    );
}

#[tokio::test]
async fn sync_failure_migration_sqlite() {
    migration_splits_the_old_sync_error(
        "sqlite::memory:",
        "",
        include_str!("../../migrations/sqlite/0004_sync_failure.sql"),
    )
    .await;
}

#[tokio::test]
async fn sync_failure_migration_postgres() {
    migration_splits_the_old_sync_error(
        &helpers::pg_admin_url(),
        "TEMP",
        include_str!("../../migrations/postgres/0004_sync_failure.sql"),
    )
    .await;
}
