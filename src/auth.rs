//! Who may connect to the gateway: users and the hashes of their passwords (never the
//! passwords), loaded from the users file by [`crate::config`] and checked by the protocol.

use std::collections::HashMap;

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
