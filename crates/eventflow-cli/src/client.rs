//! HTTP access to the EventFlow API: one `reqwest` client, bearer auth, and
//! the mapping of transport failures and error envelopes to [`CliError`].

use std::{sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{config, CliError, StoredConfig};

/// Upper bound on what is read of an error response.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Per-request timeout for plain JSON calls (not for invoke and logs).
const JSON_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api {
    base: String,
    token: Mutex<Option<String>>,
    http: reqwest::Client,
    /// A stored login with an API key: on a 401 the key is exchanged for a
    /// new token once, the config file updated, and the call repeated.
    renewable: Mutex<Option<StoredConfig>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /auth/token` with `body` (dev login or `{"api_key"}`).
pub async fn request_token(url: &str, body: &Value) -> Result<TokenResponse, CliError> {
    let api = Api::new(url, None)?;
    let rb = api
        .request(Method::POST, "/auth/token")
        .timeout(JSON_TIMEOUT)
        .json(body);
    let resp = api.send(rb).await?;
    let answer = api.read_json(resp).await?;
    serde_json::from_value(answer)
        .map_err(|e| CliError::other(format!("unexpected answer from /auth/token: {e}")))
}

/// Exchanges the stored API key for a new token and saves it.
pub async fn renew(stored: &mut StoredConfig) -> Result<(), CliError> {
    let Some(key) = stored.api_key.clone() else {
        return Err(CliError::NotLoggedIn(format!(
            "your session on {} has expired: run `eventflow login` again",
            stored.url
        )));
    };
    let t = request_token(&stored.url, &serde_json::json!({ "api_key": key })).await?;
    stored.token = t.token;
    stored.tenant = t.tenant;
    stored.role = t.role;
    stored.expires_at = t.expires_at;
    config::save(stored)?;
    Ok(())
}

#[derive(Deserialize)]
struct Envelope {
    error: Detail,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// Checks and normalises a server URL (`http(s)://host[:port][/prefix]`, no trailing slash).
pub fn normalize_url(url: &str) -> Result<String, CliError> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        CliError::Usage(format!(
            "invalid server URL {url:?}: {e} (expected e.g. http://127.0.0.1:8080)"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(CliError::Usage(format!(
            "invalid server URL {url:?}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(CliError::Usage(format!(
            "invalid server URL {url:?}: no query or fragment allowed"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

impl Api {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = normalize_url(base)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("eventflow-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            base,
            token: Mutex::new(token),
            http,
            renewable: Mutex::new(None),
        })
    }

    /// An API authenticated by a stored login; with an API key in it, a
    /// rejected token is renewed once (see [`Api::json`]).
    pub fn from_stored(stored: StoredConfig) -> Result<Self, CliError> {
        let api = Self::new(&stored.url, Some(stored.token.clone()))?;
        if stored.api_key.is_some() {
            *lock(&api.renewable) = Some(stored);
        }
        Ok(api)
    }

    /// A request to `path` (starting with `/`) with the bearer token, if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match lock(&self.token).as_deref() {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// After a 401: renews the token from the stored API key, once.
    /// Returns whether the call should be repeated.
    async fn renew_after_401(&self) -> Result<bool, CliError> {
        let Some(mut stored) = lock(&self.renewable).take() else {
            return Ok(false);
        };
        renew(&mut stored).await?;
        *lock(&self.token) = Some(stored.token);
        Ok(true)
    }

    /// Sends, mapping transport failures; any status comes back as is.
    pub async fn send(&self, rb: RequestBuilder) -> Result<Response, CliError> {
        rb.send().await.map_err(|e| self.transport_error(e))
    }

    /// A JSON call: `query` appended, `body` serialised when given; the
    /// JSON answer, or `Value::Null` for an empty one (204). A 401 with a
    /// renewable login renews the token and repeats the call once.
    pub async fn json<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Value, CliError> {
        loop {
            let mut rb = self
                .request(method.clone(), path)
                .timeout(JSON_TIMEOUT)
                .query(query);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let resp = self.send(rb).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && self.renew_after_401().await? {
                continue;
            }
            return self.read_json(resp).await;
        }
    }

    /// The `items` of a paged list (`{"items": […], "nextCursor"}`), page
    /// after page (200 at most each), up to `limit` of them; `query` is
    /// sent with every page.
    pub async fn all_items(
        &self,
        path: &str,
        query: &[(&str, &str)],
        limit: usize,
    ) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < limit {
            let page_size = (limit - items.len()).min(200).to_string();
            let mut q = query.to_vec();
            q.push(("limit", &page_size));
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let page = self.json::<()>(Method::GET, path, &q, None).await?;
            if let Some(Value::Array(page_items)) = page.get("items") {
                items.extend(page_items.iter().cloned());
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() && Some(c) != cursor.as_deref() => {
                    cursor = Some(c.to_string())
                }
                _ => break,
            }
        }
        Ok(items)
    }

    /// Sends a request without a body (e.g. a stream to read), renewing a
    /// rejected token once like [`Api::json`]; fails on an error status.
    pub async fn open(
        &self,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, CliError> {
        loop {
            let resp = self.send(build(self.request(Method::GET, path))).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && self.renew_after_401().await? {
                continue;
            }
            if resp.status().is_success() {
                return Ok(resp);
            }
            return Err(error_from_response(resp).await);
        }
    }

    /// The JSON of a response (`Value::Null` when empty), or its error.
    pub async fn read_json(&self, resp: Response) -> Result<Value, CliError> {
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::other(format!("the server sent invalid JSON: {e}")))
    }

    pub fn transport_error(&self, e: reqwest::Error) -> CliError {
        if e.is_connect() || e.is_timeout() {
            let reason = if e.is_timeout() {
                "timed out".to_string()
            } else {
                root_cause(&e)
            };
            CliError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        } else if e.is_builder() {
            CliError::Usage(format!("invalid request: {}", root_cause(&e)))
        } else {
            CliError::other(format!(
                "request to {} failed: {}",
                self.base,
                root_cause(&e)
            ))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string().trim().to_string()
}

/// Reads at most `limit` bytes of a body.
pub async fn read_capped(resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// The platform's error envelope, if `body` is one.
pub fn parse_envelope(status: StatusCode, body: &[u8]) -> Option<CliError> {
    let env: Envelope = serde_json::from_slice(body).ok()?;
    Some(CliError::from_status(
        status.as_u16(),
        &env.error.code,
        env.error.message,
        env.error.field,
    ))
}

/// Turns a failing response into an error, using the envelope when present.
pub async fn error_from_response(resp: Response) -> CliError {
    let status = resp.status();
    let body = read_capped(resp, ERROR_BODY_LIMIT).await;
    parse_envelope(status, &body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let mut message = format!(
            "the server answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if !text.is_empty() {
            let snippet: String = text.chars().take(200).collect();
            message.push_str(": ");
            message.push_str(&snippet);
        }
        CliError::from_status(status.as_u16(), "", message, None)
    })
}
