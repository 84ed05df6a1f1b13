//! Registry credentials: a tenant's login to one container registry, which
//! the node uses to pull that tenant's images. Validated here; stored by
//! the server, written to the tenant's namespace as a pull Secret, never
//! shown again.

use std::fmt;

use serde::Serialize;

use crate::ValidationError;

/// Registry credentials a tenant may keep.
pub const MAX_REGISTRY_CREDENTIALS: u32 = 20;
/// Longest user name.
pub const USERNAME_MAX: usize = 256;
/// Longest password or token.
pub const PASSWORD_MAX: usize = 4096;

/// A registry host as it starts an image reference: `ghcr.io`,
/// `registry.example.com:5000`, `docker.io` (Docker Hub). Lowercase DNS
/// names (or IPv4 addresses) with an optional port; no scheme, no path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RegistryHost(String);

impl RegistryHost {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let err = |m: &str| Err(ValidationError::new("registry", m));
        if value.contains("://") || value.contains('/') {
            return err("must be a host name without scheme or path, e.g. ghcr.io");
        }
        let (host, port) = match value.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        if let Some(p) = port {
            let plain =
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0');
            if !plain || p.parse::<u16>().is_err() {
                return err("the port must be a number from 1 to 65535");
            }
        }
        if host.is_empty() || host.len() > 253 {
            return err("the host must be 1 to 253 characters");
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return err("the host must be a lowercase DNS name or IPv4 address (letters, digits, '-' and '.'), optionally with :PORT");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user name and password (or token) for one registry. `Debug` does not
/// show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("username", &self.username)
            .field("password", &"(redacted)")
            .finish()
    }
}

impl RegistryLogin {
    /// Checks both: not empty, not too long, no control characters, and no
    /// `:` in the user name (the registry's basic auth joins them with one).
    pub fn parse(username: String, password: String) -> Result<Self, ValidationError> {
        check_text("username", &username, USERNAME_MAX)?;
        if username.contains(':') {
            return Err(ValidationError::new("username", "must not contain ':'"));
        }
        check_text("password", &password, PASSWORD_MAX)?;
        Ok(Self { username, password })
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_names_with_an_optional_port() {
        for ok in [
            "ghcr.io",
            "docker.io",
            "registry.example.com:5000",
            "127.0.0.1:26450",
            "localhost",
        ] {
            assert_eq!(RegistryHost::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "https://ghcr.io",
            "ghcr.io/org",
            "GHCR.io",
            "ghcr.io:",
            "ghcr.io:0",
            "ghcr.io:65536",
            "ghcr.io:08",
            "-a.io",
            "a..io",
            "a_b.io",
            "a.io:x",
            "[::1]:5000",
        ] {
            let e = RegistryHost::parse(bad).unwrap_err();
            assert_eq!(e.field, "registry", "{bad:?}");
        }
    }

    #[test]
    fn logins_refuse_empty_long_control_and_colon_user_names() {
        let login = RegistryLogin::parse("robot$ci".into(), "s3cr3t: token".into()).unwrap();
        assert!(!format!("{login:?}").contains("s3cr3t"));
        for (user, pass, field) in [
            ("", "p", "username"),
            ("a:b", "p", "username"),
            ("a\u{0}", "p", "username"),
            ("a", "", "password"),
            ("a", "p\nq", "password"),
        ] {
            let e = RegistryLogin::parse(user.into(), pass.into()).unwrap_err();
            assert_eq!(e.field, field, "{user:?} {pass:?}");
        }
        let long = "x".repeat(PASSWORD_MAX + 1);
        assert_eq!(
            RegistryLogin::parse("a".into(), long).unwrap_err().field,
            "password"
        );
    }
}
