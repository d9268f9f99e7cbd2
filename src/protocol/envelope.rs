//! The versioned envelope every control message and event travels in.
//!
//! Bodies are MessagePack with field names (`rmp_serde::to_vec_named`), so a newer sender may
//! add fields and an older receiver still decodes the message. Decoding never panics: garbage,
//! a wrong version and a body of the wrong shape are each a distinct [`CodecError`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The envelope version this build writes and accepts.
pub const PROTOCOL_VERSION: u16 = 1;

/// A message with its routing metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Envelope version; a receiver refuses versions it does not know.
    pub v: u16,
    /// Unique id of this message (also used for JetStream de-duplication).
    pub id: String,
    /// Who sent it: a node id, `ctl@host`, ...
    pub sender: String,
    /// Unix time in milliseconds when it was sent.
    pub time_ms: u64,
    pub body: T,
}

/// The envelope without its body, decoded first to check the version.
#[derive(Deserialize)]
struct Header {
    v: u16,
}

/// Why bytes could not be turned into a message.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not a tessera envelope (expected MessagePack): {0}")]
    Garbage(String),
    #[error("envelope version {got} is not supported (this build speaks version {expected})")]
    Version { got: u16, expected: u16 },
    #[error("message body does not decode: {0}")]
    Body(String),
    #[error("could not encode message: {0}")]
    Encode(String),
}

impl<T> Envelope<T> {
    /// Wraps `body` in a fresh envelope from `sender`.
    pub fn new(sender: impl Into<String>, body: T) -> Self {
        Envelope {
            v: PROTOCOL_VERSION,
            id: uuid::Uuid::new_v4().simple().to_string(),
            sender: sender.into(),
            time_ms: now_ms(),
            body,
        }
    }
}

impl<T: Serialize> Envelope<T> {
    /// Encodes as named MessagePack.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        rmp_serde::to_vec_named(self).map_err(|e| CodecError::Encode(e.to_string()))
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Decodes and checks the version.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let header: Header = rmp_serde::from_slice(bytes).map_err(|e| CodecError::Garbage(e.to_string()))?;
        if header.v != PROTOCOL_VERSION {
            return Err(CodecError::Version { got: header.v, expected: PROTOCOL_VERSION });
        }
        rmp_serde::from_slice(bytes).map_err(|e| CodecError::Body(e.to_string()))
    }
}

/// Encodes `body` in a fresh envelope from `sender`.
pub fn encode<T: Serialize>(sender: &str, body: T) -> Result<Vec<u8>, CodecError> {
    Envelope::new(sender, body).encode()
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from Unix milliseconds (UTC).
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z", ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V1 {
        a: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        a: u32,
        #[serde(default)]
        b: Option<String>,
    }

    #[test]
    fn round_trip() {
        let env = Envelope::new("node-1", V1 { a: 7 });
        let back: Envelope<V1> = Envelope::decode(&env.encode().unwrap()).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn fields_can_be_added_both_ways() {
        let new = Envelope::new("n", V2 { a: 1, b: Some("x".into()) }).encode().unwrap();
        let old: Envelope<V1> = Envelope::decode(&new).unwrap();
        assert_eq!(old.body, V1 { a: 1 });
        let old_bytes = Envelope::new("n", V1 { a: 2 }).encode().unwrap();
        let newer: Envelope<V2> = Envelope::decode(&old_bytes).unwrap();
        assert_eq!(newer.body, V2 { a: 2, b: None });
    }

    #[test]
    fn garbage_and_versions_are_typed_errors() {
        assert!(matches!(Envelope::<V1>::decode(b"\xff\x00garbage"), Err(CodecError::Garbage(_))));
        assert!(matches!(Envelope::<V1>::decode(b""), Err(CodecError::Garbage(_))));
        let mut env = Envelope::new("n", V1 { a: 1 });
        env.v = 99;
        let err = Envelope::<V1>::decode(&env.encode().unwrap()).unwrap_err();
        assert!(matches!(err, CodecError::Version { got: 99, expected: 1 }), "{err}");
        let wrong_body = Envelope::new("n", "a string").encode().unwrap();
        assert!(matches!(Envelope::<V1>::decode(&wrong_body), Err(CodecError::Body(_))));
    }
}
