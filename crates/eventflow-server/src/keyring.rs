//! The catalog's encryption at rest: secret values and registry passwords
//! are sealed with AES-256-GCM under a key given to the server
//! (`--secrets-key-file`), never stored in the clear.
//!
//! A sealed value is `v1.{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}`.
//! The key id (the first 8 hex digits of the key's SHA-256) says which key
//! sealed it, so a server may hold old keys besides the current one while
//! it re-seals everything under the current key ([`Keyring::is_current`],
//! `Store::reseal`). The associated data binds each value to where it is
//! stored (`secret/{tenant}/{name}`, `registry/{tenant}/{host}`): a value
//! copied into another tenant's row does not open.

use base64::{engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no secrets key is configured (--secrets-key-file)")]
    NoKey,
    #[error(
        "a value was sealed with key {0}, which this server does not hold (--secrets-old-key-file)"
    )]
    UnknownKey(String),
    #[error("a sealed value is damaged or was moved from another row")]
    Corrupt,
    #[error("a secrets key must be 32 bytes in standard base64 (44 characters; `head -c 32 /dev/urandom | base64`)")]
    BadKey,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"));
        Self { id, key }
    }
}

/// The current key (seals and opens) and old ones (open only).
pub struct Keyring {
    current: Option<Key>,
    old: Vec<Key>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.as_ref().map(|k| &k.id))
            .field("old", &self.old.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// No key: sealing and opening fail with [`KeyringError::NoKey`].
    pub fn none() -> Self {
        Self {
            current: None,
            old: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    /// From key texts (standard base64 of 32 bytes each).
    pub fn new(current: &str, old: &[String]) -> Result<Self, KeyringError> {
        Ok(Self {
            current: Some(Key::new(&parse_key(current)?)),
            old: old
                .iter()
                .map(|k| parse_key(k).map(|b| Key::new(&b)))
                .collect::<Result<_, _>>()?,
            rng: SystemRandom::new(),
        })
    }

    /// A new random key as text, for `--secrets-key-file`.
    pub fn generate_key() -> String {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        STANDARD.encode(bytes)
    }

    /// The current key's id, if there is one.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// Seals `plain` for the row `context` names, under the current key.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, KeyringError> {
        let key = self.current.as_ref().ok_or(KeyringError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| KeyringError::Corrupt)?;
        let mut buf = plain.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyringError::Corrupt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}.{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a value sealed for `context` by the current or an old key.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, KeyringError> {
        let (id, body) = split(sealed).ok_or(KeyringError::Corrupt)?;
        let key = self
            .current
            .iter()
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                if self.current.is_none() {
                    KeyringError::NoKey
                } else {
                    KeyringError::UnknownKey(id.to_string())
                }
            })?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| KeyringError::Corrupt)?;
        if raw.len() < NONCE_LEN {
            return Err(KeyringError::Corrupt);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyringError::Corrupt)?;
        let mut buf = rest.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| KeyringError::Corrupt)?;
        Ok(plain.to_vec())
    }

    /// Whether `stored` is sealed under the current key (false for a value
    /// sealed by an old key, and for one stored before sealing existed).
    pub fn is_current(&self, stored: &str) -> bool {
        match (split(stored), &self.current) {
            (Some((id, _)), Some(k)) => id == k.id,
            _ => false,
        }
    }

    /// Whether `stored` is sealed at all (registry passwords written before
    /// this existed are plain text until the server re-seals them).
    pub fn is_sealed(stored: &str) -> bool {
        split(stored).is_some()
    }
}

fn split(stored: &str) -> Option<(&str, &str)> {
    let rest = stored.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (id, body) = rest.split_once('.')?;
    (id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, body))
}

fn parse_key(text: &str) -> Result<[u8; 32], KeyringError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(KeyringError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_with_their_context_and_a_held_key() {
        let (k1, k2) = (Keyring::generate_key(), Keyring::generate_key());
        let ring = Keyring::new(&k1, &[]).unwrap();
        let sealed = ring.seal("secret/alice/db", b"hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert!(Keyring::is_sealed(&sealed) && ring.is_current(&sealed));
        assert_eq!(ring.open("secret/alice/db", &sealed).unwrap(), b"hunter2");
        // Two seals of one value differ (random nonces).
        assert_ne!(sealed, ring.seal("secret/alice/db", b"hunter2").unwrap());
        // Moved to another row: refused.
        assert!(matches!(
            ring.open("secret/bob/db", &sealed),
            Err(KeyringError::Corrupt)
        ));
        // Tampered: refused.
        let mut bad = sealed.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(ring.open("secret/alice/db", &bad).is_err());
        // Rotation: the new key opens nothing until the old key is held.
        let rotated = Keyring::new(&k2, &[]).unwrap();
        assert!(matches!(
            rotated.open("secret/alice/db", &sealed),
            Err(KeyringError::UnknownKey(_))
        ));
        let both = Keyring::new(&k2, &[k1]).unwrap();
        assert_eq!(both.open("secret/alice/db", &sealed).unwrap(), b"hunter2");
        assert!(!both.is_current(&sealed));
        // Without a key nothing seals; plain text is not sealed.
        assert!(matches!(
            Keyring::none().seal("x", b"y"),
            Err(KeyringError::NoKey)
        ));
        assert!(!Keyring::is_sealed("plain-password"));
        for bad in ["", "c2hvcnQ=", "not base64!"] {
            assert!(matches!(Keyring::new(bad, &[]), Err(KeyringError::BadKey)));
        }
        assert!(!format!("{both:?}").contains(&k2));
    }
}
