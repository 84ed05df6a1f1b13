//! Revisions: every spec change numbered, listed, compared, rolled back.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::helpers::{assert_error, TestApp};

both_databases! {
    a_revision_keeps_the_first_image_digest_the_node_reported => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("dana").await;
        app.create(&t, json!({"name": "f", "image": "echo:1"})).await;
        app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"image": "echo:2"}))).await;
        let tenant = eventflow_core::TenantId::parse("dana").unwrap();
        let f = eventflow_core::FunctionName::parse("f").unwrap();
        let d1 = format!("sha256:{}", "1".repeat(64));
        let store = &app.state.store;
        assert!(store.record_image_digest(&tenant, &f, 1, &d1).await.unwrap());
        assert!(!store.record_image_digest(&tenant, &f, 1, "sha256:other").await.unwrap(), "recorded once");
        assert!(!store.record_image_digest(&tenant, &f, 9, &d1).await.unwrap(), "no such revision");
        let (_, l) = app.call(Method::GET, "/v1/functions/f/revisions", Some(&t), None).await;
        assert_eq!(l["items"][0]["revision"], 2);
        assert_eq!(l["items"][0]["imageDigest"], Value::Null, "revision 2 has not run yet: {l}");
        assert_eq!(l["items"][1]["imageDigest"], json!(d1), "{l}");
        let (_, r) = app.call(Method::GET, "/v1/functions/f/revisions/1", Some(&t), None).await;
        assert_eq!(r["imageDigest"], json!(d1), "{r}");
    };

    every_change_is_a_revision_that_can_be_compared_and_rolled_back => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let (s, f) = app.create(&t, json!({"name": "f", "image": "echo:1"})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"image": "echo:2"}))).await;
        app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"env": [{"name": "MODE", "value": "fast"}]}))).await;
        // A change to nothing is no revision.
        app.call(Method::PATCH, "/v1/functions/f", Some(&t), Some(json!({"image": "echo:2"}))).await;
        let (s, l) = app.call(Method::GET, "/v1/functions/f/revisions", Some(&t), None).await;
        assert_eq!(s, StatusCode::OK, "{l}");
        let revs: Vec<(i64, bool, String)> = l["items"].as_array().unwrap().iter()
            .map(|r| (r["revision"].as_i64().unwrap(), r["current"].as_bool().unwrap(), r["spec"]["image"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(revs, [(3, true, "echo:2".into()), (2, false, "echo:2".into()), (1, false, "echo:1".into())]);
        assert_eq!(l["items"][0]["actor"], "alice", "the token's subject");
        // Paging.
        let (_, p1) = app.call(Method::GET, "/v1/functions/f/revisions?limit=2", Some(&t), None).await;
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        let c = p1["nextCursor"].as_str().unwrap();
        let (_, p2) = app.call(Method::GET, &format!("/v1/functions/f/revisions?limit=2&cursor={c}"), Some(&t), None).await;
        assert_eq!(p2["items"][0]["revision"], 1);
        assert!(p2["nextCursor"].is_null());
        // One, and the differences.
        let (s, r1) = app.call(Method::GET, "/v1/functions/f/revisions/1", Some(&t), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(r1["spec"]["image"], "echo:1");
        let (_, d) = app.call(Method::GET, "/v1/functions/f/revisions/3/diff", Some(&t), None).await;
        assert_eq!(d["from"], 2);
        assert_eq!(d["changes"], json!([{"path": "env", "from": [], "to": [{"name": "MODE", "value": "fast"}]}]));
        let (_, d) = app.call(Method::GET, "/v1/functions/f/revisions/3/diff?against=1", Some(&t), None).await;
        let paths: Vec<&str> = d["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["env", "image"]);
        let r = app.call(Method::GET, "/v1/functions/f/revisions/1/diff", Some(&t), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let r = app.call(Method::GET, "/v1/functions/f/revisions/3/diff?against=x", Some(&t), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("against"));
        // Roll back to 1: a new revision 4 equal to 1.
        let (s, f) = app.call(Method::POST, "/v1/functions/f/rollback", Some(&t), Some(json!({"revision": 1}))).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(f["generation"], 4);
        assert_eq!(f["spec"]["image"], "echo:1");
        assert_eq!(f["spec"]["env"], json!([]));
        let (_, r4) = app.call(Method::GET, "/v1/functions/f/revisions/4", Some(&t), None).await;
        assert_eq!((r4["rollbackOf"].clone(), r4["current"].clone()), (json!(1), json!(true)));
        assert_eq!(r4["spec"], r1["spec"]);
        // Rolling back to the current spec changes nothing.
        let (s, f) = app.call(Method::POST, "/v1/functions/f/rollback", Some(&t), Some(json!({"revision": 1}))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(f["generation"], 4);
        let r = app.call(Method::POST, "/v1/functions/f/rollback", Some(&t), Some(json!({"revision": 99}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let r = app.call(Method::POST, "/v1/functions/f/rollback", Some(&t), Some(json!({"revision": "1"}))).await;
        assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
        // Another tenant sees none of it.
        let bob = app.token("bob").await;
        for path in ["/v1/functions/f/revisions", "/v1/functions/f/revisions/1", "/v1/functions/f/revisions/2/diff"] {
            let r = app.call(Method::GET, path, Some(&bob), None).await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        }
        let r = app.call(Method::POST, "/v1/functions/f/rollback", Some(&bob), Some(json!({"revision": 1}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        // The rollback is audited as one.
        let admin = app.admin_token().await;
        let (_, audit) = app.call(Method::GET, "/v1/admin/audit", Some(&admin), None).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.contains(&"function.rollback"), "{audit}");
        // Deleting the function deletes its history.
        app.call(Method::DELETE, "/v1/functions/f", Some(&t), None).await;
        app.create(&t, json!({"name": "f", "image": "echo:9"})).await;
        let (_, l) = app.call(Method::GET, "/v1/functions/f/revisions", Some(&t), None).await;
        let items: &Vec<Value> = l["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["spec"]["image"], "echo:9");
    };
}
