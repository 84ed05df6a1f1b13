//! The one error type of the HTTP API. Every failure becomes
//! `{"error":{"code","message","field"?}}` with a fitting status; 5xx bodies
//! are generic and the detail goes to the log.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use eventflow_core::ValidationError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error("{0}")]
    NoReadyReplicas(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("the function did not respond within {0} s")]
    GatewayTimeout(u64),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>, field: Option<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field,
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::NoReadyReplicas(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::QuotaExceeded(_) => "quota_exceeded",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NoReadyReplicas(_) => "no_ready_replicas",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::GatewayTimeout(_) => "gateway_timeout",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<crate::promql::PromError> for ApiError {
    fn from(e: crate::promql::PromError) -> Self {
        tracing::warn!(error = %e, "the metrics backend did not answer");
        ApiError::Unavailable("the metrics backend (Prometheus) did not answer; try again".into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TenantGone(_) => ApiError::unauthorized(format!("{e}; sign in again")),
            StoreError::Invalid(v) => ApiError::Validation(v),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The error envelope every failing response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`.
    pub code: String,
    pub message: String,
    /// The request field the error is about, e.g. `name` or `env[1].name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            ApiError::NoReadyReplicas(_) => Some(5),
            ApiError::Unavailable(_) => Some(1),
            _ => None,
        };
        let (message, field) = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                ("internal server error".to_string(), None)
            }
            ApiError::Validation(v) => {
                (format!("{}: {}", v.field, v.message), Some(v.field.clone()))
            }
            ApiError::BadRequest { message, field } => (message.clone(), field.clone()),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
                field,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        // Marks the platform's own errors, so a client can tell them from a
        // function's response passed through the invoke gateway.
        resp.headers_mut()
            .insert(ERROR_HEADER, HeaderValue::from_static(self.code()));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The header on every error response of the platform's own, carrying the
/// error code; the invoke gateway strips it from functions' responses.
pub const ERROR_HEADER: &str = "x-eventflow-error";
