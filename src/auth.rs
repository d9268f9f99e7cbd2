//! Who may connect to the gateway: users and the hashes of their passwords (never the
//! passwords), loaded from the users file by [`crate::config`] and checked by the protocol.

use std::collections::HashMap;

use serde::Deserialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2: &str = "caching_sha2_password";

/// A password as the gateway keeps it: hashes only.
#[derive(Debug, Clone, Default)]
pub struct Credential {
    /// SHA1(SHA1(password)) for mysql_native_password; `None` when not known.
    pub native: Option<[u8; 20]>,
    /// SHA256(SHA256(password)) for caching_sha2_password; `None` when not known.
    pub sha2: Option<[u8; 32]>,
    /// The empty password (both plugins accept an empty answer).
    pub empty: bool,
}

/// Who may connect.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone, any password (local development only).
    None,
    Users(HashMap<String, Credential>),
}

/// SHA1(SHA1(password)): what mysql_native_password stores.
pub fn native_hash(password: &str) -> [u8; 20] {
    let once = Sha1::digest(password.as_bytes());
    Sha1::digest(once).into()
}

/// SHA256(SHA256(password)): what caching_sha2_password's fast path needs.
pub fn sha2_hash(password: &str) -> [u8; 32] {
    let once = Sha256::digest(password.as_bytes());
    Sha256::digest(once).into()
}

/// Parses MySQL's `*HEX` form of a native password hash.
pub fn parse_native_hash(s: &str) -> Option<[u8; 20]> {
    let hexs = s.strip_prefix('*').unwrap_or(s);
    let bytes = hex::decode(hexs).ok()?;
    bytes.try_into().ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_sha1: Option<String>,
    #[serde(default)]
    password_sha2: Option<String>,
}

/// Reads a users file (`[[user]]` with `name` and `password`, or `password_sha1` (`*HEX`)
/// and/or `password_sha2`); keeps hashes only.
pub fn parse_users(text: &str) -> Result<Auth, String> {
    let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut users = HashMap::new();
    for u in file.user {
        let bad = |m: &str| format!("user {}: {m}", u.name);
        let cred = match (&u.password, &u.password_sha1, &u.password_sha2) {
            (Some(p), None, None) => Credential {
                native: (!p.is_empty()).then(|| native_hash(p)),
                sha2: (!p.is_empty()).then(|| sha2_hash(p)),
                empty: p.is_empty(),
            },
            (None, sha1, sha2) if sha1.is_some() || sha2.is_some() => Credential {
                native: match sha1 {
                    Some(h) => {
                        Some(parse_native_hash(h).ok_or_else(|| bad("password_sha1 is not `*` and 40 hex digits"))?)
                    }
                    None => None,
                },
                sha2: match sha2 {
                    Some(h) => Some(
                        hex::decode(h)
                            .ok()
                            .and_then(|b| <[u8; 32]>::try_from(b).ok())
                            .ok_or_else(|| bad("password_sha2 is not 64 hex digits of SHA256(SHA256(password))"))?,
                    ),
                    None => None,
                },
                empty: false,
            },
            _ => return Err(bad("give `password`, or `password_sha1` and/or `password_sha2`")),
        };
        users.insert(u.name, cred);
    }
    Ok(Auth::Users(users))
}
