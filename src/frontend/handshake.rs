//! Connection phase: the server greeting, the client's answer, and password checks.

use std::io;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::codec::Reader;

pub const CLIENT_LONG_PASSWORD: u32 = 0x1;
pub const CLIENT_FOUND_ROWS: u32 = 0x2;
pub const CLIENT_LONG_FLAG: u32 = 0x4;
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
pub const CLIENT_PROTOCOL_41: u32 = 0x200;
pub const CLIENT_SSL: u32 = 0x800;
pub const CLIENT_TRANSACTIONS: u32 = 0x2000;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
pub const CLIENT_MULTI_STATEMENTS: u32 = 0x1_0000;
pub const CLIENT_MULTI_RESULTS: u32 = 0x2_0000;
pub const CLIENT_PS_MULTI_RESULTS: u32 = 0x4_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
pub const CLIENT_CONNECT_ATTRS: u32 = 0x10_0000;
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
pub const CLIENT_DEPRECATE_EOF: u32 = 0x100_0000;

/// What the gateway offers.
pub const SERVER_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC
    | CLIENT_DEPRECATE_EOF;

pub use crate::auth::{native_hash, parse_native_hash, sha2_hash, CACHING_SHA2, NATIVE_PASSWORD};
/// utf8mb4_general_ci.
pub const DEFAULT_CHARSET: u8 = 45;

/// A fresh 20-byte salt of printable-safe bytes (never NUL), different for every connection.
pub fn new_salt() -> [u8; 20] {
    let mut salt = [0u8; 20];
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    for (i, byte) in a.as_bytes().iter().chain(b.as_bytes()).take(20).enumerate() {
        salt[i] = (byte % 94) + 33;
    }
    salt
}

/// The initial handshake packet (protocol version 10), offering `plugin`.
pub fn greeting(conn_id: u32, salt: &[u8; 20], server_version: &str, capabilities: u32, plugin: &str) -> Vec<u8> {
    let mut b = vec![10u8];
    b.extend_from_slice(server_version.as_bytes());
    b.push(0);
    b.extend_from_slice(&conn_id.to_le_bytes());
    b.extend_from_slice(&salt[..8]);
    b.push(0);
    b.extend_from_slice(&(capabilities as u16).to_le_bytes());
    b.push(DEFAULT_CHARSET);
    b.extend_from_slice(&super::codec::STATUS_AUTOCOMMIT.to_le_bytes());
    b.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    b.push(21);
    b.extend_from_slice(&[0u8; 10]);
    b.extend_from_slice(&salt[8..]);
    b.push(0);
    b.extend_from_slice(plugin.as_bytes());
    b.push(0);
    b
}

/// The client's handshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: String,
    pub auth: Vec<u8>,
    pub database: Option<String>,
    pub plugin: String,
}

/// True when the packet is an SSLRequest (the short form sent before a TLS upgrade).
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32 && u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) & CLIENT_SSL != 0
}

/// Parses HandshakeResponse41. Anything malformed is an error, never a panic.
pub fn parse_response(payload: &[u8]) -> io::Result<Response> {
    let mut r = Reader::new(payload);
    let capabilities = r.u32()?;
    if capabilities & CLIENT_PROTOCOL_41 == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "client does not speak protocol 4.1"));
    }
    let max_packet = r.u32()?;
    let charset = r.u8()?;
    r.take(23)?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "name is not UTF-8"))
    };
    let user = text(r.null_str()?)?;
    let auth = if capabilities & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        r.lenenc_bytes()?.to_vec()
    } else if capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let n = r.u8()? as usize;
        r.take(n)?.to_vec()
    } else {
        r.null_str()?.to_vec()
    };
    let database = if capabilities & CLIENT_CONNECT_WITH_DB != 0 && !r.is_empty() {
        Some(text(r.null_str()?)?).filter(|d| !d.is_empty())
    } else {
        None
    };
    let plugin = if capabilities & CLIENT_PLUGIN_AUTH != 0 && !r.is_empty() {
        text(r.null_str()?)?
    } else {
        NATIVE_PASSWORD.to_string()
    };
    Ok(Response { capabilities, max_packet, charset, user, auth, database, plugin })
}

/// An AuthSwitchRequest asking the client to answer with `plugin`.
pub fn auth_switch(plugin: &str, salt: &[u8; 20]) -> Vec<u8> {
    let mut b = vec![0xfe];
    b.extend_from_slice(plugin.as_bytes());
    b.push(0);
    b.extend_from_slice(salt);
    b.push(0);
    b
}

/// Checks a caching_sha2_password scramble: the client sent
/// `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)`; `stored` is `SHA256(SHA256(pw))`.
pub fn check_sha2(nonce: &[u8; 20], response: &[u8], stored: Option<&[u8; 32]>) -> bool {
    let Some(stored) = stored else { return response.is_empty() || response == [0] };
    if response.len() != 32 {
        return false;
    }
    let mut h = Sha256::new();
    h.update(stored);
    h.update(nonce);
    let mask = h.finalize();
    let candidate: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
    let check: [u8; 32] = Sha256::digest(&candidate).into();
    check.iter().zip(stored.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Checks a mysql_native_password scramble: the client sent
/// `SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))`; `stored` is `SHA1(SHA1(pw))` (None: empty password).
pub fn check_native(salt: &[u8; 20], response: &[u8], stored: Option<&[u8; 20]>) -> bool {
    let Some(stored) = stored else { return response.is_empty() };
    if response.len() != 20 {
        return false;
    }
    let mut h = Sha1::new();
    h.update(salt);
    h.update(stored);
    let mask = h.finalize();
    let candidate: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
    let check: [u8; 20] = Sha1::digest(&candidate).into();
    // Constant-time comparison.
    check.iter().zip(stored.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scramble(salt: &[u8; 20], password: &str) -> Vec<u8> {
        let h1 = Sha1::digest(password.as_bytes());
        let h2 = Sha1::digest(h1);
        let mut h = Sha1::new();
        h.update(salt);
        h.update(h2);
        let mask = h.finalize();
        h1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn native_password() {
        let salt = new_salt();
        assert!(salt.iter().all(|b| *b != 0));
        assert_ne!(salt, new_salt(), "a fresh salt per connection");
        let stored = native_hash("secret");
        assert!(check_native(&salt, &scramble(&salt, "secret"), Some(&stored)));
        assert!(!check_native(&salt, &scramble(&salt, "wrong"), Some(&stored)));
        assert!(!check_native(&salt, b"short", Some(&stored)));
        assert!(check_native(&salt, b"", None));
        assert!(!check_native(&salt, &scramble(&salt, "x"), None));
        // MySQL's PASSWORD('secret').
        assert_eq!(parse_native_hash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"), Some(native_hash("secret")));
    }

    #[test]
    fn caching_sha2_fast_path() {
        let nonce = new_salt();
        let stored = sha2_hash("secret");
        let h1 = Sha256::digest(b"secret");
        let mut h = Sha256::new();
        h.update(Sha256::digest(h1));
        h.update(nonce);
        let mask = h.finalize();
        let scramble: Vec<u8> = h1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
        assert!(check_sha2(&nonce, &scramble, Some(&stored)));
        assert!(!check_sha2(&nonce, &scramble, Some(&sha2_hash("other"))));
        assert!(check_sha2(&nonce, b"", None));
        assert!(!check_sha2(&nonce, &scramble, None));
    }

    #[test]
    fn parses_a_response_and_refuses_garbage() {
        let mut p = Vec::new();
        p.extend_from_slice(
            &(CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH)
                .to_le_bytes(),
        );
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0");
        p.push(3);
        p.extend_from_slice(b"abc");
        p.extend_from_slice(b"customer\0mysql_native_password\0");
        let r = parse_response(&p).unwrap();
        assert_eq!(
            (r.user.as_str(), r.auth.as_slice(), r.database.as_deref()),
            ("root", &b"abc"[..], Some("customer"))
        );
        for cut in 0..p.len() - 30 {
            let _ = parse_response(&p[..cut]);
        }
        assert!(parse_response(b"\xff\xff").is_err());
        assert!(parse_response(&[0u8; 40]).is_err(), "no protocol 4.1");
    }
}
