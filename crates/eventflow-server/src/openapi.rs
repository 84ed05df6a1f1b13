//! The OpenAPI document, generated from the handlers and types (utoipa).
//! `eventflow openapi` prints it; `docs/openapi.json` is a committed copy
//! that a test keeps in step and the dashboard's client is generated from.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::api::{admin, auth, functions, health, logs, me, samples};

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
        admin::create_tenant, admin::list_tenants, admin::update_tenant, admin::delete_tenant,
        admin::create_api_key, admin::list_api_keys, admin::revoke_api_key, admin::audit_log,
        crate::gateway::invoke_root, crate::gateway::invoke_path,
        health::healthz, health::readyz,
    ),
    components(schemas(auth::DevLogin, auth::KeyLogin)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in"),
        (name = "functions", description = "The caller's functions"),
        (name = "invoke", description = "Calling functions through the gateway (any HTTP method)"),
        (name = "tenant", description = "The caller's tenant"),
        (name = "samples", description = "Sample function images the platform offers"),
        (name = "admin", description = "Tenants and API keys (admin role)"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline.
pub fn json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("OpenAPI serializes");
    s.push('\n');
    s
}
