//! `deploy/crds/eventflow.io.yaml` must be exactly what the Rust types
//! generate. Regenerate with `cargo run -p eventflow -- crds > deploy/crds/eventflow.io.yaml`.

#[test]
fn committed_crds_match_the_types() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/eventflow.io.yaml"
    );
    let committed = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}; generate it with `eventflow crds`"));
    let generated = eventflow_crd::crds_yaml();
    assert!(
        committed == generated,
        "deploy/crds/eventflow.io.yaml is out of date: run `cargo run -p eventflow -- crds > deploy/crds/eventflow.io.yaml`"
    );
}
