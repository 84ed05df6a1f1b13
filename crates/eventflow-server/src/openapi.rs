//! The OpenAPI document, generated from the handlers and types (utoipa).
//! `eventflow openapi` prints it; `docs/openapi.json` is a committed copy
//! that a test keeps in step and the dashboard's client is generated from.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::api::{
    admin, auth, function_metrics, functions, health, invocations, invoke_keys, logs, me,
    registries, revisions, samples, secrets,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EventFlow API", description = "Multi-tenant Functions-as-a-Service on Kubernetes."),
    paths(
        auth::config, auth::token,
        me::me,
        samples::list,
        functions::list, functions::create, functions::get, functions::replace, functions::patch, functions::delete, logs::logs,
        registries::list, registries::put, registries::delete,
        secrets::list, secrets::get, secrets::put, secrets::delete,
        function_metrics::get, function_metrics::tenant,
        invocations::get, invocations::list, invocations::redrive,
        revisions::list, revisions::get, revisions::diff_revisions, revisions::rollback,
        invoke_keys::create, invoke_keys::list, invoke_keys::revoke,
        admin::create_tenant, admin::list_tenants, admin::update_tenant, admin::delete_tenant,
        admin::create_api_key, admin::list_api_keys, admin::revoke_api_key, admin::audit_log, admin::usage,
        crate::gateway::invoke_root, crate::gateway::invoke_path,
        crate::gateway::public_root, crate::gateway::public_path,
        health::healthz, health::readyz,
    ),
    components(schemas(auth::DevLogin, auth::KeyLogin)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in"),
        (name = "functions", description = "The caller's functions"),
        (name = "invoke", description = "Calling functions through the gateway (any HTTP method)"),
        (name = "invocations", description = "Asynchronous invocations (`Prefer: respond-async` on invoke): records, history, re-drive"),
        (name = "tenant", description = "The caller's tenant"),
        (name = "samples", description = "Sample function images the platform offers"),
        (name = "registry-credentials", description = "The tenant's logins to private container registries (passwords are write-only)"),
        (name = "metrics", description = "A function's calls, errors, latency and cold starts over time, for its tenant"),
        (name = "secrets", description = "The tenant's secrets, read by functions as env variables or files (values are write-only)"),
        (name = "admin", description = "Tenants and API keys (admin role)"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline.
pub fn json() -> String {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("OpenAPI serializes");
    let mut s =
        serde_json::to_string_pretty(&flatten_function_request(doc)).expect("OpenAPI serializes");
    s.push('\n');
    s
}

/// `FunctionRequest` is `name` plus a flattened `RawFunctionSpec`, which
/// refuses unknown fields. utoipa writes that as `allOf` of the two, which
/// no body can satisfy (the spec part's `additionalProperties: false`
/// forbids `name`); written out as one object, it says what the server
/// accepts, and schema-driven clients and fuzzers can generate bodies.
fn flatten_function_request(mut doc: serde_json::Value) -> serde_json::Value {
    let schemas = &mut doc["components"]["schemas"];
    let mut request = schemas["RawFunctionSpec"].clone();
    if let Some(props) = request["properties"].as_object_mut() {
        props.insert(
            "name".into(),
            serde_json::json!({"type": "string", "description": "DNS-1123 label, 1–60 characters.", "example": "alice-app"}),
        );
    }
    request["required"] = serde_json::json!(["name"]);
    request["description"] =
        serde_json::json!("Body of `POST /v1/functions` (and `PUT`, where `name` is optional).");
    schemas["FunctionRequest"] = request;
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_function_request_is_one_object_that_allows_name() {
        let doc: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        let r = &doc["components"]["schemas"]["FunctionRequest"];
        assert!(r.get("allOf").is_none(), "{r}");
        assert_eq!(r["additionalProperties"], false);
        assert_eq!(r["required"], serde_json::json!(["name"]));
        for field in ["name", "image", "replicas", "env", "resources"] {
            assert!(r["properties"][field].is_object(), "{field}: {r}");
        }
    }
}
