//! Request-based scaling through the API and in the catalog, on both
//! databases: the spec's rules, `status.scaling`, and the load each server
//! replica publishes, summed for the scaler.

use axum::http::{Method, StatusCode};
use eventflow_core::{FunctionName, TenantId};
use eventflow_server::store::{now_ms, LoadRow};
use serde_json::json;

use crate::both_databases;
use crate::helpers::{assert_error, TestApp};

both_databases! {
    scale_to_zero_specs_are_request_based_and_checked => |db| async move {
        let app = TestApp::new(db).await;
        let t = app.token("zed").await;
        let (s, f) = app.create(&t, json!({"name": "lazy", "image": "nginx",
            "autoscaling": {"minReplicas": 0, "maxReplicas": 5, "idleSeconds": 30}})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        assert_eq!(f["spec"]["autoscaling"], json!({"minReplicas": 0, "maxReplicas": 5,
            "targetCpuPercent": 80, "targetConcurrency": 10, "idleSeconds": 30}));
        // Request-based: the status has a scaling part (nothing decided yet).
        assert_eq!(f["status"]["scaling"], json!({"desiredReplicas": null, "lastScaleTime": null,
            "lastScaleReason": null, "lastColdStartTime": null, "lastColdStartMs": null}));
        // CPU-based: none.
        let (s, f) = app.create(&t, json!({"name": "cpu", "image": "nginx",
            "autoscaling": {"maxReplicas": 5}})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        assert!(f["status"]["scaling"].is_null(), "{f}");
        for (autoscaling, field) in [
            (json!({"minReplicas": 0, "maxReplicas": 5, "targetCpuPercent": 50}), "autoscaling.minReplicas"),
            (json!({"maxReplicas": 5, "targetCpuPercent": 50, "targetConcurrency": 4}), "autoscaling.targetCpuPercent"),
            (json!({"minReplicas": 1, "maxReplicas": 5, "idleSeconds": 30}), "autoscaling.idleSeconds"),
            (json!({"minReplicas": 0, "maxReplicas": 5, "targetConcurrency": 0}), "autoscaling.targetConcurrency"),
        ] {
            let r = app.create(&t, json!({"name": "bad", "image": "nginx", "autoscaling": autoscaling})).await;
            assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some(field));
        }
        // A patch keeps the request-based settings.
        let (s, f) = app.call(Method::PATCH, "/v1/functions/lazy", Some(&t), Some(json!({"image": "nginx:2"}))).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(f["spec"]["autoscaling"]["idleSeconds"], 30);
    };

    load_is_summed_over_the_replicas_that_report => |db| async move {
        let app = TestApp::new(db).await;
        let store = &app.state.store;
        let t = TenantId::parse("acme").unwrap();
        let (f, g) = (FunctionName::parse("f").unwrap(), FunctionName::parse("g").unwrap());
        let row = |name: &FunctionName, in_flight, last_request_at| LoadRow {
            tenant: t.clone(), name: name.clone(), in_flight, last_request_at,
        };
        store.publish_load("r1", &[row(&f, 3, 1_000), row(&g, 1, 500)]).await.unwrap();
        store.publish_load("r2", &[row(&f, 4, 2_000)]).await.unwrap();
        let totals = store.load_totals(0).await.unwrap();
        assert_eq!((totals[&(t.clone(), f.clone())].in_flight, totals[&(t.clone(), f.clone())].last_request_at), (7, 2_000));
        assert_eq!(totals[&(t.clone(), g.clone())].in_flight, 1);
        // A replica's newer row replaces its older one.
        store.publish_load("r1", &[row(&f, 1, 3_000)]).await.unwrap();
        let totals = store.load_totals(0).await.unwrap();
        assert_eq!((totals[&(t.clone(), f.clone())].in_flight, totals[&(t.clone(), f.clone())].last_request_at), (5, 3_000));
        // Rows not written since `fresh_since` count no requests in flight
        // (their replica stopped reporting), but keep the last request.
        let totals = store.load_totals(now_ms() + 60_000).await.unwrap();
        assert_eq!((totals[&(t.clone(), f.clone())].in_flight, totals[&(t.clone(), f.clone())].last_request_at), (0, 3_000));
        assert_eq!(store.prune_load(now_ms() + 1).await.unwrap(), 3);
        assert!(store.load_totals(0).await.unwrap().is_empty());
    };
}
