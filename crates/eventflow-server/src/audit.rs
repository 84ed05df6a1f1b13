//! The audit log: who changed what. Env values are never stored (they are
//! often secrets): a function's spec is recorded with each env value
//! replaced by [`REDACTED`]. Entries older than the retention are deleted;
//! admins read the log through `GET /v1/admin/audit`.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What an env value is recorded as.
pub const REDACTED: &str = "(redacted)";

/// `spec` (a function spec as JSON) with every `env[].value` replaced by
/// [`REDACTED`]; anything else as it is.
pub fn redact_spec(mut spec: Value) -> Value {
    if let Some(env) = spec.get_mut("env").and_then(Value::as_array_mut) {
        for var in env {
            if let Some(v) = var.get_mut("value") {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    spec
}

/// One audit entry as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// `dev:alice`, `key:efk_ab12…`, `admin`, …
    pub actor: String,
    pub tenant: Option<String>,
    /// `function.create`, `tenant.update`, `api_key.revoke`, …
    pub action: String,
    pub target: String,
    /// The new spec (env values redacted) or other detail.
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn env_values_are_redacted_and_nothing_else_changes() {
        let spec = json!({"image":"nginx","env":[{"name":"DB_PASSWORD","value":"hunter2"},{"name":"EMPTY","value":""}],"replicas":2});
        assert_eq!(
            super::redact_spec(spec),
            json!({"image":"nginx","env":[{"name":"DB_PASSWORD","value":"(redacted)"},{"name":"EMPTY","value":"(redacted)"}],"replicas":2})
        );
        assert_eq!(
            super::redact_spec(json!({"quota":{"pods":3}})),
            json!({"quota":{"pods":3}})
        );
    }
}
