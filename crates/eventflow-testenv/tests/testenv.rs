//! Needs a running testenv (`testenv/up`); fails, never skips, without one.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::api::{ListParams, PostParams};
use kube::Api;

#[tokio::test]
async fn a_node_is_ready() {
    let client = eventflow_testenv::client().await;
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let ready: Vec<_> = nodes
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert!(
        !ready.is_empty(),
        "no Ready node among {} nodes",
        nodes.items.len()
    );
}

#[tokio::test]
async fn fresh_namespaces_are_unique_usable_and_cleaned_up() {
    let client = eventflow_testenv::client().await;
    let a = eventflow_testenv::fresh_namespace(&client, "testenv-selftest").await;
    let b = eventflow_testenv::fresh_namespace(&client, "testenv-selftest").await;
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("testenv-selftest-"));

    let cms = Api::<ConfigMap>::namespaced(client.clone(), a.name());
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("probe".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create a configmap in the fresh namespace");

    let namespaces = Api::<Namespace>::all(client.clone());
    let (a_name, b_name) = (a.name().to_owned(), b.name().to_owned());
    a.cleanup().await; // explicit
    drop(b); // on drop
    for name in [a_name, b_name] {
        let ns = namespaces.get_opt(&name).await.expect("get namespace");
        // Either gone already or terminating: deletion was requested.
        let terminating = match &ns {
            None => true,
            Some(ns) => ns.metadata.deletion_timestamp.is_some(),
        };
        assert!(terminating, "namespace {name} was not deleted");
    }
}
