//! `GET /v1/samples`: the sample images configured with `--sample-image`.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use eventflow_server::{api::samples::SampleImage, auth::AuthMode, sync::KubeSource};
use serde_json::json;

use crate::both_databases;
use crate::helpers::{assert_error, config, fresh_database, Db, TestApp};

async fn app_with_samples(db: Db, samples: &[&str]) -> TestApp {
    let (url, guard) = fresh_database(db).await;
    let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
    cfg.samples = samples
        .iter()
        .map(|s| s.parse::<SampleImage>().unwrap())
        .collect();
    TestApp::on_with(url, Arc::new(guard), cfg).await
}

both_databases! {
    samples_are_listed_when_configured => |db| async move {
        let app = app_with_samples(db, &[
            "echo=127.0.0.1:26450/samples/echo:v1",
            "hello-rust=127.0.0.1:26450/samples/hello-rust:v1",
            "mine=ghcr.io/acme/mine:2",
        ]).await;
        let alice = app.token("alice").await;
        let (s, v) = app.call(Method::GET, "/v1/samples", Some(&alice), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v, json!({"items": [
            {"name": "echo", "image": "127.0.0.1:26450/samples/echo:v1",
             "description": "Answers the request body back; prints one log line per request"},
            {"name": "hello-rust", "image": "127.0.0.1:26450/samples/hello-rust:v1",
             "description": "Says hello from a static Rust binary"},
            {"name": "mine", "image": "ghcr.io/acme/mine:2", "description": null},
        ]}));

        // An admin token may read them too (unlike the tenant's functions).
        let admin = app.admin_token().await;
        let (s, w) = app.call(Method::GET, "/v1/samples", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{w}");
        assert_eq!(w, v);

        // A sample's name and image make a valid function as they are.
        let (s, f) = app.create(&alice, json!({"name": "echo", "image": v["items"][0]["image"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
    };

    samples_are_empty_when_not_configured => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("alice").await;
        let (s, v) = app.call(Method::GET, "/v1/samples", Some(&t), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v, json!({"items": []}));
    };

    samples_need_a_token => |db| async move {
        let app = app_with_samples(db, &["echo=nginx"]).await;
        let r = app.call(Method::GET, "/v1/samples", None, None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        let r = app.call(Method::GET, "/v1/samples", Some("not-a-token"), None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    };
}

#[tokio::test]
async fn samples_are_in_the_openapi_document() {
    let app = TestApp::new(Db::Sqlite).await;
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let get = &doc["paths"]["/v1/samples"]["get"];
    assert_eq!(
        get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SampleList"
    );
    assert_eq!(get["security"], json!([{"bearer": []}]));
    let sample = &doc["components"]["schemas"]["Sample"];
    assert_eq!(sample["required"], json!(["name", "image"]));
    // Generated clients key operations by id: ids must be unique.
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    assert!(ids.contains(&"list_samples"), "{ids:?}");
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate operationId in {ids:?}");
}
