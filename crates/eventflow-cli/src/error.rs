//! Errors of the client and the exit codes they map to.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | anything else: server error (5xx), rate limit, gateway failure, local I/O |
//! | 2 | usage: bad flags or arguments (clap's own code too) |
//! | 3 | not logged in, session expired, 401/403 from the server |
//! | 4 | not found (404) |
//! | 5 | rejected input: client-side validation, 400/409/413/415/422, quota exceeded |
//! | 6 | server unreachable: connection refused, DNS failure, timeout |

use std::fmt;

use eventflow_core::ValidationError;

pub const EXIT_OK: i32 = 0;
pub const EXIT_GENERIC: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_AUTH: i32 = 3;
pub const EXIT_NOT_FOUND: i32 = 4;
pub const EXIT_INVALID: i32 = 5;
pub const EXIT_UNREACHABLE: i32 = 6;

/// Everything a client command can fail with. `Display` is the message shown
/// after `error: `; [`CliError::exit_code`] is what the process exits with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotLoggedIn(String),
    /// 401 or 403 from the server.
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{0}")]
    NotFound(String),
    /// The input was rejected, by us or by the server; `field` names it.
    #[error("{}", field_message(.field.as_deref(), .message))]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// 409: the name is taken.
    #[error("{0}")]
    Conflict(String),
    #[error("cannot reach the EventFlow server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Any other failing HTTP status.
    #[error("{message} (HTTP {status})")]
    Server { status: u16, message: String },
    #[error("{0}")]
    Other(String),
    /// Whoever read our stdout went away (`| head`): not a failure.
    #[error("output closed")]
    OutputClosed,
}

fn field_message(field: Option<&str>, message: &str) -> String {
    match field {
        Some(f) if !f.is_empty() && !message.starts_with(&format!("{f}:")) => {
            format!("{f}: {message}")
        }
        _ => message.to_string(),
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotLoggedIn(_) | CliError::Unauthorized { .. } => EXIT_AUTH,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Invalid { .. } | CliError::Conflict(_) => EXIT_INVALID,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::Server { .. } | CliError::Other(_) => EXIT_GENERIC,
            CliError::OutputClosed => EXIT_OK,
        }
    }

    pub fn other(message: impl fmt::Display) -> Self {
        CliError::Other(message.to_string())
    }

    /// Maps an HTTP error status and the server's error envelope.
    pub fn from_status(status: u16, code: &str, message: String, field: Option<String>) -> Self {
        match (status, code) {
            (401, _) => CliError::Unauthorized {
                message: format!("unauthorized: {message} (run `eventflow login`)"),
            },
            (403, "quota_exceeded") => CliError::Invalid { field, message },
            (403, _) => CliError::Unauthorized {
                message: format!("forbidden: {message}"),
            },
            (404, _) => CliError::NotFound(message),
            (409, _) => CliError::Conflict(message),
            (400 | 413 | 415 | 422, _) => CliError::Invalid { field, message },
            _ => CliError::Server { status, message },
        }
    }
}

impl From<ValidationError> for CliError {
    fn from(e: ValidationError) -> Self {
        CliError::Invalid {
            field: Some(e.field),
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        let code = |s: u16, c: &str| CliError::from_status(s, c, "m".into(), None).exit_code();
        assert_eq!(code(401, "unauthorized"), EXIT_AUTH);
        assert_eq!(code(403, "forbidden"), EXIT_AUTH);
        assert_eq!(code(403, "quota_exceeded"), EXIT_INVALID);
        assert_eq!(code(404, "not_found"), EXIT_NOT_FOUND);
        for s in [400, 409, 413, 415, 422] {
            assert_eq!(code(s, "x"), EXIT_INVALID);
        }
        for s in [429, 500, 502, 503, 504] {
            assert_eq!(code(s, "x"), EXIT_GENERIC);
        }
    }

    #[test]
    fn field_is_shown_once() {
        let e = CliError::from(ValidationError::new("name", "must not be empty"));
        assert_eq!(e.to_string(), "name: must not be empty");
        let e = CliError::Invalid {
            field: Some("env[1].name".into()),
            message: "env[1].name: duplicate variable \"A\"".into(),
        };
        assert_eq!(e.to_string(), "env[1].name: duplicate variable \"A\"");
    }
}
