//! Key ranges and shard names, following Vitess exactly.
//!
//! A shard of a sharded keyspace covers the half-open range `[start, end)` of keyspace ids,
//! compared as raw bytes. Its name is `<start>-<end>` in lowercase hex, either side empty for
//! "unbounded": `-80`, `80-`, `40-80`. The whole range is named `-` or `0` (the name Vitess uses
//! for an unsharded keyspace's only shard).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a shard name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRangeError {
    #[error("invalid shard name `{name}`: {reason}")]
    InvalidName { name: String, reason: String },
}

/// The half-open range `[start, end)` of keyspace ids; an empty bound is unbounded.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct KeyRange {
    #[serde(with = "hex_bytes")]
    pub start: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub end: Vec<u8>,
}

impl KeyRange {
    /// The range covering every keyspace id.
    pub fn full() -> Self {
        KeyRange::default()
    }

    /// Parses a shard name (`-80`, `80-`, `40-80`, `-`, `0`) into its key range.
    pub fn parse_shard_name(name: &str) -> Result<Self, KeyRangeError> {
        let invalid = |reason: &str| KeyRangeError::InvalidName { name: name.to_string(), reason: reason.to_string() };
        if name == "0" || name == "-" {
            return Ok(KeyRange::full());
        }
        if name.is_empty() {
            return Err(invalid("a shard name cannot be empty; use `0` or `-` for the whole range"));
        }
        let Some((start, end)) = name.split_once('-') else {
            return Err(invalid(
                "expected `<start>-<end>` in hex (like `-80`, `80-`, `40-80`) or `0` for the whole range",
            ));
        };
        if end.contains('-') {
            return Err(invalid("a shard name has exactly one `-`"));
        }
        let start = decode_bound(start).map_err(|r| invalid(&format!("start bound: {r}")))?;
        let end = decode_bound(end).map_err(|r| invalid(&format!("end bound: {r}")))?;
        if !end.is_empty() && start >= end {
            return Err(invalid("the start bound must be below the end bound"));
        }
        Ok(KeyRange { start, end })
    }

    /// The keyspace ids that start with `prefix`: `[prefix, prefix + 1)` (unbounded above
    /// when the prefix is all `ff`; the full range for an empty prefix), as Vitess's
    /// `NewKeyRangeFromPrefix`.
    pub fn from_prefix(prefix: &[u8]) -> Self {
        if prefix.is_empty() {
            return KeyRange::full();
        }
        // Big-endian increment with carry; all `ff` overflows to "unbounded".
        let mut end = prefix.to_vec();
        let mut carried = true;
        for b in end.iter_mut().rev() {
            let (next, overflow) = b.overflowing_add(1);
            *b = next;
            if !overflow {
                carried = false;
                break;
            }
        }
        if carried {
            end.clear();
        }
        KeyRange { start: prefix.to_vec(), end }
    }

    /// The canonical shard name of this range (`-` for the full range).
    pub fn shard_name(&self) -> String {
        format!("{}-{}", hex::encode(&self.start), hex::encode(&self.end))
    }

    /// True when the range covers every keyspace id.
    pub fn is_full(&self) -> bool {
        self.start.is_empty() && self.end.is_empty()
    }

    /// True when `keyspace_id` falls in `[start, end)`.
    pub fn contains(&self, keyspace_id: &[u8]) -> bool {
        self.start.as_slice() <= keyspace_id && (self.end.is_empty() || keyspace_id < self.end.as_slice())
    }

    /// True when the two ranges share at least one keyspace id.
    pub fn intersects(&self, other: &KeyRange) -> bool {
        (self.end.is_empty() || other.start < self.end) && (other.end.is_empty() || self.start < other.end)
    }

    /// Orders ranges by start bound (the order shards are listed in).
    pub fn cmp_start(&self, other: &KeyRange) -> Ordering {
        self.start.cmp(&other.start)
    }
}

/// True when `ranges` tile the whole keyspace id space exactly: no gap, no overlap.
pub fn covers_full_range(ranges: &[KeyRange]) -> bool {
    let mut sorted: Vec<&KeyRange> = ranges.iter().collect();
    sorted.sort_by(|a, b| a.cmp_start(b));
    let mut next: &[u8] = &[];
    for (i, r) in sorted.iter().enumerate() {
        if r.start.as_slice() != next {
            return false;
        }
        if r.end.is_empty() {
            return i == sorted.len() - 1;
        }
        next = &r.end;
    }
    false
}

/// The names of `shards` equal shards of the keyspace id space, as Vitess's
/// `GenerateShardRanges` makes them: one-byte bounds up to 256 shards, two-byte up to 65,536,
/// each shard `space / shards` wide and the last one taking what is left.
pub fn generate_shard_ranges(shards: usize) -> Result<Vec<String>, String> {
    let (width, space) = match shards {
        1..=256 => (2, 256usize),
        257..=65_536 => (4, 65_536usize),
        _ => return Err(format!("{shards} shards: give 1 to 65536")),
    };
    let bound = |v: usize| if v == 0 || v == space { String::new() } else { format!("{v:0width$x}") };
    let size = space / shards;
    let mut out = Vec::with_capacity(shards);
    let mut start = 0;
    for i in 1..shards {
        out.push(format!("{}-{}", bound(start), bound(i * size)));
        start = i * size;
    }
    out.push(format!("{}-{}", bound(start), bound(space)));
    Ok(out)
}

/// Sort key for shard names: by key range when both parse, else by name.
pub fn shard_order(a: &str, b: &str) -> Ordering {
    match (KeyRange::parse_shard_name(a), KeyRange::parse_shard_name(b)) {
        (Ok(x), Ok(y)) => x.cmp_start(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

fn decode_bound(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() % 2 != 0 {
        return Err(format!("`{s}` has an odd number of hex digits"));
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("`{s}` must be lowercase hex"));
    }
    hex::decode(s).map_err(|_| format!("`{s}` is not hex"))
}

impl fmt::Debug for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRange({})", self.shard_name())
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shard_name())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(name: &str) -> KeyRange {
        KeyRange::parse_shard_name(name).expect(name)
    }

    #[test]
    fn parses_vitess_names() {
        assert!(kr("0").is_full());
        assert!(kr("-").is_full());
        assert_eq!(kr("-80"), KeyRange { start: vec![], end: vec![0x80] });
        assert_eq!(kr("80-"), KeyRange { start: vec![0x80], end: vec![] });
        assert_eq!(kr("40-80"), KeyRange { start: vec![0x40], end: vec![0x80] });
        assert_eq!(kr("-4000").end, vec![0x40, 0x00]);
        assert_eq!(kr("40-80").shard_name(), "40-80");
        assert_eq!(kr("0").shard_name(), "-");
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in ["11", "-1", "1-2", "x-80", "80-40", "40-40", "", "-80-", "8G-", "-8A", "a-b-c"] {
            let err = KeyRange::parse_shard_name(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn contains_is_half_open() {
        let r = kr("40-80");
        assert!(r.contains(&[0x40]));
        assert!(r.contains(&[0x7f, 0xff]));
        assert!(!r.contains(&[0x80]));
        assert!(!r.contains(&[0x3f, 0xff]));
        assert!(kr("80-").contains(&[0xff; 8]));
        assert!(kr("-80").contains(&[]));
        assert!(kr("0").contains(&[0x12, 0x34]));
    }

    #[test]
    fn intersection() {
        assert!(!kr("-80").intersects(&kr("80-")));
        assert!(kr("-80").intersects(&kr("40-c0")));
        assert!(kr("0").intersects(&kr("40-80")));
        assert!(!kr("40-80").intersects(&kr("80-c0")));
        assert!(kr("40-80").intersects(&kr("7f-")));
        assert!(!kr("-40").intersects(&kr("40-80")));
    }

    #[test]
    fn full_coverage() {
        assert!(covers_full_range(&[kr("80-"), kr("-80")]));
        assert!(covers_full_range(&[kr("0")]));
        assert!(covers_full_range(&[kr("-40"), kr("40-80"), kr("80-")]));
        assert!(!covers_full_range(&[kr("-40"), kr("80-")]));
        assert!(!covers_full_range(&[kr("-80")]));
        assert!(!covers_full_range(&[]));
        assert!(!covers_full_range(&[kr("-80"), kr("40-")]));
    }

    #[test]
    fn ordering_of_names() {
        let mut names = vec!["80-", "40-80", "-40"];
        names.sort_by(|a, b| shard_order(a, b));
        assert_eq!(names, vec!["-40", "40-80", "80-"]);
    }

    #[test]
    fn shard_ranges_are_generated_as_vitess_does() {
        assert_eq!(generate_shard_ranges(1).unwrap(), vec!["-"]);
        assert_eq!(generate_shard_ranges(2).unwrap(), vec!["-80", "80-"]);
        assert_eq!(generate_shard_ranges(3).unwrap(), vec!["-55", "55-aa", "aa-"]);
        assert_eq!(generate_shard_ranges(4).unwrap(), vec!["-40", "40-80", "80-c0", "c0-"]);
        let many = generate_shard_ranges(512).unwrap();
        assert_eq!((many[0].as_str(), many[1].as_str(), many.len()), ("-0080", "0080-0100", 512));
        assert!(generate_shard_ranges(0).is_err() && generate_shard_ranges(70_000).is_err());
    }
}
