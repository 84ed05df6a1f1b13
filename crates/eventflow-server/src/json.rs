//! A JSON body extractor whose every failure is an [`ApiError`]: bodies over
//! the limit are 413, malformed JSON and unknown fields are 400 naming the
//! field (through `serde_path_to_error`). Handlers never see a panic or a 500
//! from bad input.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body on the JSON API.
pub const BODY_LIMIT: usize = 256 * 1024;

pub struct ApiJson<T>(pub T);

/// Reads the body as bytes, mapping the length-limit rejection to 413.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    if !ct.is_some_and(is_json) {
        // Also without a Content-Type: a web page can send a body without
        // one (or as text/plain) to another origin without a CORS
        // preflight; application/json needs one.
        return Err(ApiError::UnsupportedMediaType(match ct {
            Some(ct) => format!("expected Content-Type application/json, got {ct:?}"),
            None => "expected Content-Type application/json, got none".into(),
        }));
    }
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::bad_request(format!("could not read body: {rej}"), None)
        }
    })
}

/// `application/json`, with parameters (`; charset=utf-8`) or not.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Deserializes with the failing field's path in the error.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(to_api_error)
}

pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(to_api_error)
}

fn to_api_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let parent = (path != "." && path != "?" && !path.is_empty()).then_some(path);
    let field = match (unknown_field(&message), parent) {
        (Some(f), Some(p)) if !p.ends_with(&f) => Some(format!("{p}.{f}")),
        (Some(f), None) => Some(f),
        (_, p) => p,
    };
    ApiError::bad_request(format!("invalid JSON body: {message}"), field)
}

/// serde reports unknown fields as "unknown field `x`, expected …".
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next().map(str::to_string)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        Ok(ApiJson(from_slice(&bytes)?))
    }
}

/// [`ApiJson`] for bodies that carry secret values: an error names the
/// failing field but never quotes the input (serde's messages can, e.g.
/// "invalid type: string \"…\", expected a map").
pub struct QuietJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for QuietJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(QuietJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let field = unknown_field(&message)
                    .or_else(|| (path != "." && path != "?" && !path.is_empty()).then_some(path));
                ApiError::bad_request(
                    "invalid JSON body: expected {\"data\": {\"KEY\": \"VALUE\", …}} with string values",
                    field,
                )
            })
    }
}

/// A JSON object body, before it is split into typed parts.
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        match from_slice::<serde_json::Value>(&bytes)? {
            serde_json::Value::Object(map) => Ok(JsonObject(map)),
            _ => Err(ApiError::bad_request(
                "the body must be a JSON object",
                None,
            )),
        }
    }
}

/// `axum::extract::Path` whose rejection (e.g. a percent-encoded segment
/// that is not UTF-8) is a JSON 400 like every other input error.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text()), None))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_application_json_is_json() {
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
        ] {
            assert!(super::is_json(ct), "{ct}");
        }
        for ct in [
            "",
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            assert!(!super::is_json(ct), "{ct}");
        }
    }
}
