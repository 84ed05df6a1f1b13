//! Authentication and the tenant guard.
//!
//! Tokens are HS256 JWTs (algorithm pinned; `exp`, `nbf`, `iss`, `aud`
//! required and checked, small leeway). [`TenantAuth`] is the single place
//! where a request's tenant is decided: handlers take it as an argument and
//! reach the catalog only through `TenantAuth::functions`.
//!
//! A token minted for an API key carries the key's id (`kid`); every request
//! with such a token checks that the key is still active ([`KeyCheck`]), so
//! revoking a key (or deleting its tenant) ends its tokens too, not only new
//! exchanges.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use eventflow_core::TenantId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::{distributions::Alphanumeric, Rng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    error::ApiError,
    store::{Actor, Role, Store, TenantStore},
    AppState,
};

pub const ISSUER: &str = "eventflow";
pub const AUDIENCE: &str = "eventflow-api";
/// Clock skew tolerated on `exp`/`nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
pub const MIN_SECRET_BYTES: usize = 32;
pub const API_KEY_PREFIX: &str = "efk_";
/// Invoke keys start with this: they may invoke one function, nothing else.
pub const INVOKE_KEY_PREFIX: &str = "efi_";

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone can mint a token for any user id. Local development only.
    Dev,
    /// Tokens only in exchange for an API key an admin issued.
    Production,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: Role,
    /// The API key this token was exchanged for (absent for dev logins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes (got {0})")]
    TooShort(usize),
}

/// How many verified tokens [`JwtKeys::verify`] remembers (a full cache is
/// emptied, then fills again).
pub const VERIFIED_CACHE_SIZE: usize = 4096;

/// Signing and verification keys with the pinned validation rules.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: i64,
    /// Tokens whose signature and claims were verified, with their claims:
    /// a client sends the same token on every call, and checking its
    /// signature again (base64, JSON, HMAC-SHA256) was the largest cost of
    /// an invocation after the sockets. Expiry and not-before are checked
    /// again on every hit.
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Result<Self, SecretError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds,
            verified: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn mint(
        &self,
        sub: &str,
        tenant: Option<&TenantId>,
        email: Option<&str>,
        role: Role,
        kid: Option<&str>,
    ) -> (String, Claims) {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            tenant: tenant.map(|t| t.to_string()),
            ns: tenant.map(TenantId::namespace),
            email: email.map(str::to_string),
            role,
            kid: kid.map(str::to_string),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a valid key cannot fail");
        (token, claims)
    }

    /// The token's claims if its signature, algorithm, issuer, audience,
    /// required claims and times are valid. A token verified before is
    /// looked up instead of decoded again, and only its times are checked
    /// (nothing else about it can change: the key is the process's).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.verified.lock().expect("token cache").get(token) {
            return check_times(claims, now).map(|()| claims.clone());
        }
        let claims = self.decode(token)?;
        let mut cache = self.verified.lock().expect("token cache");
        if cache.len() >= VERIFIED_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let why = match e.kind() {
                    K::ExpiredSignature => "token expired",
                    K::ImmatureSignature => "token not yet valid",
                    K::InvalidAudience => "token has the wrong audience",
                    K::InvalidIssuer => "token has the wrong issuer",
                    K::InvalidAlgorithm => "token algorithm not accepted",
                    K::InvalidSignature => "token signature invalid",
                    K::MissingRequiredClaim(_) => "token is missing a required claim",
                    _ => "token invalid",
                };
                ApiError::unauthorized(why)
            })
    }
}

/// `exp` and `nbf` of already verified claims against `now`, with the same
/// leeway and messages as the first verification.
fn check_times(claims: &Claims, now: i64) -> Result<(), ApiError> {
    let leeway = LEEWAY_SECONDS as i64;
    if claims.exp < now - leeway {
        return Err(ApiError::unauthorized("token expired"));
    }
    if claims.nbf > now + leeway {
        return Err(ApiError::unauthorized("token not yet valid"));
    }
    Ok(())
}

/// How long a replica trusts what it last read about a key. A revocation on
/// this replica takes effect at once; on other replicas within this time.
pub const KEY_CHECK_TTL: Duration = Duration::from_secs(5);

/// Whether API keys behind tokens are still active, cached for
/// [`KEY_CHECK_TTL`] so that the invoke path does not query the database on
/// every request. Entries exist only for key ids taken from tokens this
/// server signed, so the map is bounded by the number of keys.
#[derive(Debug, Default)]
pub struct KeyCheck {
    cache: Mutex<HashMap<String, (bool, Instant)>>,
    /// Bumped by [`KeyCheck::clear`]; a lookup that started before a clear
    /// does not cache its (possibly stale) answer.
    generation: std::sync::atomic::AtomicU64,
}

impl KeyCheck {
    pub async fn is_active(&self, store: &Store, id: &str) -> Result<bool, ApiError> {
        if let Some((active, at)) = self.cache.lock().expect("key cache").get(id) {
            if at.elapsed() < KEY_CHECK_TTL {
                return Ok(*active);
            }
        }
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::SeqCst);
        let active = store.api_key_active(id).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot check an API key");
            ApiError::Unavailable("cannot check the API key right now; try again".into())
        })?;
        let mut cache = self.cache.lock().expect("key cache");
        if self.generation.load(Ordering::SeqCst) == generation {
            cache.insert(id.to_string(), (active, Instant::now()));
        }
        Ok(active)
    }

    /// Forgets everything: called after a revocation or tenant deletion on
    /// this replica so that it applies to the next request.
    pub fn clear(&self) {
        let mut cache = self.cache.lock().expect("key cache");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cache.clear();
    }
}

/// A freshly generated API key: `efk_` and 40 random alphanumerics.
pub fn generate_api_key() -> String {
    generate_key(API_KEY_PREFIX)
}

/// A freshly generated invoke key: `efi_` and 40 random alphanumerics.
pub fn generate_invoke_key() -> String {
    generate_key(INVOKE_KEY_PREFIX)
}

fn generate_key(prefix: &str) -> String {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{prefix}{body}")
}

/// Keys are high-entropy random strings, so a plain SHA-256 is the right
/// storage hash (a slow KDF protects guessable passwords, not these).
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn key_prefix(key: &str) -> String {
    key.chars().take(12).collect()
}

/// Registers the bootstrap admin key (idempotent).
pub async fn ensure_admin_key(store: &Store, key: &str) -> Result<(), crate::store::StoreError> {
    store
        .insert_api_key(
            &hash_api_key(key),
            &key_prefix(key),
            None,
            Role::Admin,
            "bootstrap admin key",
            &Actor("system".into()),
        )
        .await
        .map(|_| ())
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        ));
    }
    Ok(token.trim())
}

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub claims: Claims,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor(self.claims.sub.clone())
    }
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if token.starts_with(INVOKE_KEY_PREFIX) {
            return Err(ApiError::unauthorized(
                "an invoke key may only invoke its own function (POST /v1/functions/{name}/invoke); sign in for anything else",
            ));
        }
        let claims = state.jwt.verify(token)?;
        // Before anything that costs a query.
        if parts.extensions.get::<OwnRateLimit>().is_none() {
            let key = match &claims.tenant {
                Some(t) => t.clone(),
                None => format!("admin {}", claims.sub),
            };
            state.api_rate.check(&key)?;
        }
        let revoked = match &claims.kid {
            Some(kid) => !state.key_check.is_active(&state.store, kid).await?,
            None => false,
        };
        if revoked {
            return Err(ApiError::unauthorized(
                "the API key this token was issued for has been revoked",
            ));
        }
        // Production servers issue tokens only for API keys; a token without
        // one was not minted here (or by a dev-mode server sharing the
        // secret) and cannot be revoked.
        if claims.kid.is_none() && state.config.auth_mode == AuthMode::Production {
            return Err(ApiError::unauthorized(
                "token was not issued for an API key",
            ));
        }
        Ok(Principal { claims })
    }
}

/// Marks routes that limit their own rate (the invoke gateway): the API's
/// per-tenant rate does not count them.
#[derive(Debug, Clone, Copy)]
pub struct OwnRateLimit;

/// A caller acting as a tenant: the one guard for tenant scoping.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub tenant: TenantId,
    pub principal: Principal,
}

impl TenantAuth {
    /// The catalog, restricted to this tenant.
    pub fn functions<'a>(&self, store: &'a Store) -> TenantStore<'a> {
        store.tenant(&self.tenant)
    }

    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }
}

impl FromRequestParts<Arc<AppState>> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let tenant = match (&principal.claims.role, &principal.claims.tenant) {
            (Role::Tenant, Some(t)) => {
                TenantId::parse(t).map_err(|_| ApiError::unauthorized("token invalid"))?
            }
            (Role::Admin, _) => {
                return Err(ApiError::forbidden(
                    "admin tokens manage tenants and keys; use a tenant's token for functions",
                ))
            }
            (Role::Tenant, None) => return Err(ApiError::unauthorized("token has no tenant")),
        };
        Ok(TenantAuth { tenant, principal })
    }
}

/// A caller with the admin role; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    pub principal: Principal,
}

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if principal.claims.role != Role::Admin {
            return Err(ApiError::forbidden("this endpoint requires the admin role"));
        }
        Ok(AdminAuth { principal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKeys::new(b"short", 60).is_err());
        assert!(JwtKeys::new(&[7u8; 32], 60).is_ok());
    }

    #[test]
    fn round_trip_and_tamper() {
        let keys = JwtKeys::new(&[1u8; 32], 60).unwrap();
        let t = TenantId::parse("alice").unwrap();
        let (token, claims) = keys.mint("alice", Some(&t), None, Role::Tenant, None);
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(claims.ns.as_deref(), Some("tenant-alice"));
        let other = JwtKeys::new(&[2u8; 32], 60).unwrap();
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn verified_tokens_are_remembered_but_their_times_still_checked() {
        let keys = JwtKeys::new(&[1u8; 32], 60).unwrap();
        let t = TenantId::parse("alice").unwrap();
        let (token, claims) = keys.mint("alice", Some(&t), None, Role::Tenant, None);
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(keys.verified.lock().unwrap().len(), 1);
        // The second call is a cache hit with the same answer.
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(keys.verified.lock().unwrap().len(), 1);
        // Only the exact token hits: one changed character is verified
        // afresh, and refused.
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&forged).is_err());
        // A remembered token past its expiry (or before nbf) is refused.
        let leeway = LEEWAY_SECONDS as i64;
        let now = claims.iat;
        let late = Claims {
            exp: now - leeway - 1,
            ..claims.clone()
        };
        let early = Claims {
            nbf: now + leeway + 60,
            ..claims.clone()
        };
        for (remembered, refusal) in [(late, "token expired"), (early, "not yet valid")] {
            keys.verified
                .lock()
                .unwrap()
                .insert(token.clone(), remembered);
            let e = keys.verify(&token).unwrap_err();
            assert!(e.to_string().contains(refusal), "{e}");
        }
        assert!(check_times(&claims, now).is_ok());
        // A full cache starts over.
        let mut cache = keys.verified.lock().unwrap();
        cache.clear();
        for i in 0..VERIFIED_CACHE_SIZE {
            cache.insert(format!("t{i}"), claims.clone());
        }
        drop(cache);
        let (fresh, _) = keys.mint("bob", Some(&t), None, Role::Tenant, None);
        keys.verify(&fresh).unwrap();
        assert_eq!(keys.verified.lock().unwrap().len(), 1);
    }

    #[test]
    fn api_keys_hash_stably() {
        let k = generate_api_key();
        assert!(k.starts_with(API_KEY_PREFIX) && k.len() == 44);
        assert_eq!(hash_api_key(&k), hash_api_key(&k));
        assert_ne!(hash_api_key(&k), hash_api_key(&generate_api_key()));
    }
}

/// Who calls the invoke route: a tenant's token, or an invoke key (which
/// names the one function it may invoke).
#[derive(Debug, Clone)]
pub enum InvokeCaller {
    Tenant(TenantAuth),
    Key(crate::store::InvokeKeyGrant),
}

impl InvokeCaller {
    pub fn tenant(&self) -> &TenantId {
        match self {
            InvokeCaller::Tenant(t) => &t.tenant,
            InvokeCaller::Key(k) => &k.tenant,
        }
    }
}

impl FromRequestParts<Arc<AppState>> for InvokeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if !token.starts_with(INVOKE_KEY_PREFIX) {
            return TenantAuth::from_request_parts(parts, state)
                .await
                .map(InvokeCaller::Tenant);
        }
        // Looked up on every call: a revoked key stops at once, on every
        // replica.
        match state.store.invoke_key_grant(&hash_api_key(token)).await? {
            Some(grant) => Ok(InvokeCaller::Key(grant)),
            None => Err(ApiError::unauthorized(
                "invoke key unknown, revoked or expired",
            )),
        }
    }
}
