//! The `unicode_loose_md5` and `unicode_loose_xxhash` vindexes, byte-identical to Vitess's.
//!
//! Vitess normalizes a value with golang.org/x/text/collate
//! (`collate.New(language.English, collate.Loose)`, x/text tables for
//! Unicode 6.2.0 / CLDR 23) before hashing it. With the Loose option only the
//! primary level survives, so the key is the concatenation of the primary
//! weights of the string's collation elements:
//!
//! * input must be valid UTF-8;
//! * trailing ASCII spaces (0x20) are removed;
//! * every element with primary weight `p > 0` contributes
//!   `[p >> 8, p & 0xFF]` if `p <= 0x7FFF`, else
//!   `[(p >> 16) | 0x80, (p >> 8) & 0xFF, p & 0xFF]`.
//!
//! The MD5 vindex hashes the key with MD5; the xxhash vindex with XXH64
//! (seed 0), written little-endian.
//!
//! The collation tables (`uloose.bin`, written by `gen/gen_tables.py` from x/text 0.7.0's
//! `collate/tables.go` and its normalization tables; BSD-3, see `LICENSE-xtext`) are read with
//! every access bounds-checked: a corrupt table is an error, never a panic.

mod colltab;
mod tables;

use md5::{Digest, Md5};

use super::{Value, Vindex, VindexError};

/// The collation key Vitess hashes for the unicode_loose_* vindexes.
pub fn loose_key(input: &[u8]) -> Result<Vec<u8>, String> {
    if std::str::from_utf8(input).is_err() {
        return Err(format!("cannot normalize string containing invalid UTF-8: {}", go_quote(input)));
    }
    let trimmed_len = input.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let text = &input[..trimmed_len];

    let t = tables::Tables::get()?;
    let mut iter = colltab::Iter::new(t, text);
    while iter.next()? {}

    let mut key = Vec::with_capacity(iter.elems.len() * 2);
    for &ce in &iter.elems {
        let p = colltab::primary(ce);
        if p == 0 {
            continue;
        }
        if p <= 0x7FFF {
            key.extend_from_slice(&[(p >> 8) as u8, p as u8]);
        } else {
            key.extend_from_slice(&[((p >> 16) as u8) | 0x80, (p >> 8) as u8, p as u8]);
        }
    }
    Ok(key)
}

/// Keyspace id of the `unicode_loose_md5` vindex: MD5 of the loose key.
pub fn unicode_loose_md5(input: &[u8]) -> Result<[u8; 16], String> {
    let key = loose_key(input)?;
    Ok(Md5::digest(&key).into())
}

/// Keyspace id of the `unicode_loose_xxhash` vindex: XXH64 (seed 0) of the
/// loose key, little-endian.
pub fn unicode_loose_xxhash(input: &[u8]) -> Result<[u8; 8], String> {
    let key = loose_key(input)?;
    Ok(xxhash_rust::xxh64::xxh64(&key, 0).to_le_bytes())
}

/// Quote bytes roughly like Go's `%q` verb, for error messages. Invalid
/// UTF-8 bytes become `\xNN`; ASCII control characters and non-ASCII control
/// or unassigned-looking characters are escaped. (Go decides printability
/// with its own Unicode tables; this approximation only affects the text of
/// error messages.)
fn go_quote(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len() + 2);
    out.push('"');
    let mut rest = input;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => {
                let n = e.valid_up_to();
                let v = std::str::from_utf8(&rest[..n]).unwrap_or("");
                (v, e.error_len().unwrap_or(rest.len() - n))
            }
        };
        for ch in valid.chars() {
            match ch {
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0C' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0B' => out.push_str("\\v"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if (c as u32) < 0x20 || c == '\x7F' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() || ('\u{FFF0}'..='\u{FFFF}').contains(&c) => {
                    if (c as u32) <= 0xFFFF {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        let skip = valid.len();
        for &b in rest.iter().skip(skip).take(bad) {
            out.push_str(&format!("\\x{:02x}", b));
        }
        rest = &rest[skip + bad..];
    }
    out.push('"');
    out
}

fn map_err(e: String) -> VindexError {
    VindexError::Config { name: "unicode_loose".into(), message: e }
}

/// `unicode_loose_md5`: MD5 of the value's loose collation key (case-, accent- and
/// width-insensitive, trailing spaces ignored).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnicodeLooseMd5;

impl Vindex for UnicodeLooseMd5 {
    fn type_name(&self) -> &'static str {
        "unicode_loose_md5"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        unicode_loose_md5(&value.to_bytes()?).map(|k| k.to_vec()).map_err(map_err)
    }
}

/// `unicode_loose_xxhash`: xxHash64 (little-endian) of the value's loose collation key.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnicodeLooseXxHash;

impl Vindex for UnicodeLooseXxHash {
    fn type_name(&self) -> &'static str {
        "unicode_loose_xxhash"
    }

    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError> {
        unicode_loose_xxhash(&value.to_bytes()?).map(|k| k.to_vec()).map_err(map_err)
    }
}

#[cfg(test)]
mod tests;
