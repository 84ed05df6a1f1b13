//! The client's stored login: `${XDG_CONFIG_HOME:-~/.config}/eventflow/config.json`,
//! mode 0600 in a 0700 directory, replaced atomically.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::CliError;

/// What `eventflow login` stores. Never printed: it holds the token (and
/// the API key when one was used, for transparent re-login).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoredConfig {
    pub url: String,
    pub token: String,
    /// Absent for admin tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, alias = "api_key", skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl std::fmt::Debug for StoredConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredConfig")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `$XDG_CONFIG_HOME/eventflow/config.json`, else `$HOME/.config/eventflow/config.json`.
pub fn path() -> Result<PathBuf, CliError> {
    let base = non_empty_env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| non_empty_env("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| {
            CliError::other("cannot find a config directory: set XDG_CONFIG_HOME or HOME")
        })?;
    Ok(base.join("eventflow").join("config.json"))
}

/// The stored login, if any.
pub fn load() -> Result<Option<StoredConfig>, CliError> {
    load_from(&path()?)
}

pub fn load_from(path: &Path) -> Result<Option<StoredConfig>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::other(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        CliError::NotLoggedIn(format!(
            "{} is not a valid EventFlow config ({e}); run `eventflow login` again",
            path.display()
        ))
    })
}

pub fn save(config: &StoredConfig) -> Result<PathBuf, CliError> {
    let path = path()?;
    save_to(&path, config)?;
    Ok(path)
}

pub fn save_to(path: &Path, config: &StoredConfig) -> Result<(), CliError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        CliError::other(format!("cannot {what} {}: {e}", p.display()))
    };
    let dir = path
        .parent()
        .ok_or_else(|| CliError::other("config path has no directory"))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io("create", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restrict", dir, e))?;
    }

    let tmp = dir.join(".config.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(&tmp).map_err(|e| io("create", &tmp, e))?;
    let mut text = serde_json::to_string_pretty(config).map_err(CliError::other)?;
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("replace", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eventflow").join("config.json");
        let c = StoredConfig {
            url: "http://127.0.0.1:8080".into(),
            token: "secret-token".into(),
            tenant: Some("alice".into()),
            role: Some("tenant".into()),
            expires_at: Some(Utc::now()),
            api_key: None,
        };
        save_to(&path, &c).unwrap();
        save_to(&path, &c).unwrap();
        assert_eq!(load_from(&path).unwrap(), Some(c.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn missing_is_none_and_garbage_is_not_logged_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert!(load_from(&path).unwrap().is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load_from(&path).unwrap_err().exit_code(), 3);
    }
}
