//! `/auth/config` and `/auth/token`.

use std::sync::Arc;

use axum::{extract::State, Json};
use eventflow_core::TenantId;
use eventflow_crd::TenantSpec;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::functions::rfc3339,
    auth::{hash_api_key, AuthMode},
    error::{ApiError, ApiResult, ErrorBody},
    json::{from_value, JsonObject},
    store::{Actor, Role},
    AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    /// `dev` (pick any user id) or `production` (API keys only).
    pub mode: AuthMode,
    /// Demo users offered by the dev-mode sign-in page.
    pub demo_users: Vec<String>,
}

/// Dev-mode login body, exactly as the seed's quick start sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    /// Becomes the tenant id: a DNS-1123 label of at most 56 characters.
    pub user_id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Production login body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLogin {
    pub api_key: String,
}

/// Body of `POST /auth/token`: an API key (both modes) or, in dev mode, a
/// user id. Documentation type; the handler parses the JSON itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TokenRequest {
    Key(KeyLogin),
    Dev(DevLogin),
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    /// The tenant the token acts for; absent for admin tokens.
    pub tenant: Option<String>,
    pub role: Role,
    pub expires_at: String,
}

/// How to sign in to this server.
#[utoipa::path(get, path = "/auth/config", tag = "auth", responses((status = 200, body = AuthConfig)))]
pub async fn config(State(state): State<Arc<AppState>>) -> Json<AuthConfig> {
    let demo_users = match state.config.auth_mode {
        AuthMode::Dev => ["alice", "bob", "charlie", "demo"]
            .map(String::from)
            .to_vec(),
        AuthMode::Production => vec![],
    };
    Json(AuthConfig {
        mode: state.config.auth_mode,
        demo_users,
    })
}

/// Exchange credentials for a JWT. Production mode takes `{"api_key"}`;
/// dev mode also takes `{"user_id","username","email"}` and mints a token
/// for that user (creating the tenant on first use).
#[utoipa::path(post, path = "/auth/token", tag = "auth",
    request_body(content = TokenRequest, description = "`{\"api_key\"}`, or in dev mode `{\"user_id\",\"username\",\"email\"}`"),
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn token(
    State(state): State<Arc<AppState>>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<TokenResponse>> {
    let jwt = &state.jwt;
    let respond = |token: String, claims: crate::auth::Claims| {
        Json(TokenResponse {
            token,
            tenant: claims.tenant,
            role: claims.role,
            expires_at: rfc3339(claims.exp * 1000),
        })
    };
    if body.contains_key("api_key") {
        let KeyLogin { api_key } = from_value(serde_json::Value::Object(body))?;
        let key = state
            .store
            .find_active_api_key(&hash_api_key(&api_key))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
        let (token, claims) = match key.role {
            Role::Admin => jwt.mint(
                &format!("key:{}", key.prefix),
                None,
                None,
                Role::Admin,
                Some(&key.id),
            ),
            Role::Tenant => {
                let tenant = key
                    .tenant
                    .ok_or_else(|| ApiError::Internal("tenant key without tenant".into()))?;
                jwt.mint(
                    &format!("key:{}", key.prefix),
                    Some(&tenant),
                    None,
                    Role::Tenant,
                    Some(&key.id),
                )
            }
        };
        tracing::info!(key = %key.prefix, role = ?key.role, "token issued for API key");
        return Ok(respond(token, claims));
    }
    if state.config.auth_mode != AuthMode::Dev {
        return Err(ApiError::bad_request(
            "this server is in production mode: exchange an API key with {\"api_key\": \"…\"}",
            Some("api_key".into()),
        ));
    }
    let login: DevLogin = from_value(serde_json::Value::Object(body))?;
    let tenant = TenantId::parse(&login.user_id)
        .map_err(|e| eventflow_core::ValidationError::new("user_id", e.message))?;
    if let Some(email) = &login.email {
        if email.len() > 254 || !email.contains('@') || email.chars().any(char::is_control) {
            return Err(
                eventflow_core::ValidationError::new("email", "is not an email address").into(),
            );
        }
    }
    if let Some(name) = &login.username {
        if name.len() > 254 || name.chars().any(char::is_control) {
            return Err(eventflow_core::ValidationError::new(
                "username",
                "must be at most 254 bytes without control characters",
            )
            .into());
        }
    }
    state
        .store
        .ensure_tenant(
            &tenant,
            login.email.as_deref(),
            &TenantSpec::default(),
            None,
            &Actor(format!("dev:{tenant}")),
        )
        .await?;
    state.sync.notify();
    let (token, claims) = jwt.mint(
        tenant.as_str(),
        Some(&tenant),
        login.email.as_deref(),
        Role::Tenant,
        None,
    );
    tracing::info!(tenant = %tenant, "dev-mode token issued");
    Ok(respond(token, claims))
}
