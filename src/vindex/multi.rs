//! Multi-column functional vindexes, byte-identical to Vitess's: `multicol` (a subsharding
//! vindex: each column's hash contributes some bytes of the keyspace id), `region_experimental`
//! (a region number, then the hash of the id) and `region_json` (the hash of the id prefixed
//! by the region a JSON file maps the second column to).
//!
//! A prefix of the columns (the first ones known, the rest not) names a key range: the rows
//! are on the shards that range meets.

use std::collections::HashMap;

use super::functional::{hash_u64, Binary, BinaryMd5, Hash, Numeric, ReverseBits, XxHash};
use super::{Value, Vindex, VindexError};

/// Where the values of a multi-column vindex put a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// Every column known: one keyspace id.
    KeyspaceId(Vec<u8>),
    /// The first columns known: the keyspace ids starting with these bytes.
    Prefix(Vec<u8>),
}

/// A vindex over several columns, in the order the VSchema lists them.
pub trait MultiVindex: Send + Sync + std::fmt::Debug {
    fn type_name(&self) -> &'static str;
    /// How many columns it reads.
    fn column_count(&self) -> usize;
    /// The destination of the first `values.len()` columns' values (at least one).
    fn map(&self, values: &[Value]) -> Result<Dest, VindexError>;
}

fn bad(name: &str, message: impl Into<String>) -> VindexError {
    VindexError::Config { name: name.to_string(), message: message.into() }
}

/// `multicol`: params `column_count` (1-8), `column_bytes` (bytes of each column's hash, the
/// rest shared out), `column_vindex` (each column's hashing vindex, `hash` by default).
#[derive(Debug)]
pub struct MultiCol {
    subs: Vec<Box<dyn Vindex>>,
    bytes: Vec<usize>,
}

impl MultiCol {
    pub fn new(name: &str, params: &std::collections::BTreeMap<String, String>) -> Result<Self, VindexError> {
        let count: usize = params
            .get("column_count")
            .ok_or_else(|| bad(name, "number of columns not provided in the parameter 'column_count'"))?
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=8).contains(n))
            .ok_or_else(|| bad(name, "number of columns should be between 1 and 8 in the parameter 'column_count'"))?;
        let listed = |p: &str| -> Vec<String> {
            params.get(p).map(|v| v.split(',').map(str::to_string).collect()).unwrap_or_default()
        };
        let given = listed("column_bytes");
        if given.len() > count {
            return Err(bad(name, "more column bytes than columns in the parameter 'column_bytes'"));
        }
        let mut bytes: Vec<Option<usize>> = vec![None; count];
        let mut used = 0;
        for (i, b) in given.iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            let n: usize = b.parse().map_err(|_| bad(name, format!("column bytes `{b}` is not a number")))?;
            bytes[i] = Some(n);
            used += n;
        }
        let mut pending = bytes.iter().filter(|b| b.is_none()).count();
        let mut remaining = 8usize.checked_sub(used).ok_or_else(|| {
            bad(
                name,
                "column bytes count exceeds the keyspace id length (at most 8 bytes) in the parameter 'column_bytes'",
            )
        })?;
        if pending > remaining {
            return Err(bad(
                name,
                "column bytes count exceeds the keyspace id length (at most 8 bytes) in the parameter 'column_bytes'",
            ));
        }
        for b in bytes.iter_mut().filter(|b| b.is_none()) {
            let share = remaining.div_ceil(pending);
            *b = Some(share);
            remaining -= share;
            pending -= 1;
        }
        let vindexes = listed("column_vindex");
        if vindexes.len() > count {
            return Err(bad(name, "more vindexes than columns in the parameter 'column_vindex'"));
        }
        let mut subs: Vec<Box<dyn Vindex>> = Vec::with_capacity(count);
        for i in 0..count {
            let t = vindexes.get(i).map(|v| v.trim()).filter(|v| !v.is_empty()).unwrap_or("hash");
            subs.push(match t {
                "hash" => Box::new(Hash),
                "xxhash" => Box::new(XxHash),
                "numeric" => Box::new(Numeric),
                "binary" => Box::new(Binary),
                "binary_md5" => Box::new(BinaryMd5),
                "reverse_bits" => Box::new(ReverseBits),
                "unicode_loose_md5" => Box::new(super::unicode::UnicodeLooseMd5),
                "unicode_loose_xxhash" => Box::new(super::unicode::UnicodeLooseXxHash),
                other => {
                    return Err(bad(
                        name,
                        format!("multicol takes unique functional hashing vindexes (hash, xxhash, numeric, binary, binary_md5, reverse_bits, unicode_loose_md5, unicode_loose_xxhash); `{other}` is not one"),
                    ))
                }
            });
        }
        Ok(MultiCol { subs, bytes: bytes.into_iter().map(|b| b.unwrap_or(0)).collect() })
    }
}

impl MultiVindex for MultiCol {
    fn type_name(&self) -> &'static str {
        "multicol"
    }

    fn column_count(&self) -> usize {
        self.subs.len()
    }

    fn map(&self, values: &[Value]) -> Result<Dest, VindexError> {
        if values.is_empty() || values.len() > self.subs.len() {
            return Err(bad("multicol", format!("{} values for {} columns", values.len(), self.subs.len())));
        }
        let mut ksid = Vec::with_capacity(8);
        let mut offset = 0;
        for ((v, sub), n) in values.iter().zip(&self.subs).zip(&self.bytes) {
            let h = sub.map(v)?;
            // A short hash leaves a gap that the next column's bytes start after.
            ksid.resize(ksid.len().max(offset), 0);
            ksid.extend_from_slice(&h[..h.len().min(*n)]);
            offset += n;
        }
        Ok(if values.len() < self.subs.len() { Dest::Prefix(ksid) } else { Dest::KeyspaceId(ksid) })
    }
}

/// A region number as 1 or 2 big-endian bytes (Vitess truncates it to 16 bits first).
fn region_bytes(region: u64, width: usize) -> Vec<u8> {
    let r = (region as u16).to_be_bytes();
    r[2 - width..].to_vec()
}

/// A value as a uint64 the way Vitess's `ToUint64` reads it: negative numbers are refused.
fn unsigned(v: &Value) -> Result<u64, VindexError> {
    match v {
        Value::Int(i) if *i < 0 => Err(VindexError::NotANumber(i.to_string())),
        Value::Bytes(b) if b.first() == Some(&b'-') => Err(VindexError::NotANumber(String::from_utf8_lossy(b).into())),
        other => other.to_u64(),
    }
}

fn width(name: &str, params: &std::collections::BTreeMap<String, String>) -> Result<usize, VindexError> {
    match params.get("region_bytes").map(|s| s.trim()) {
        Some("1") => Ok(1),
        Some("2") => Ok(2),
        Some(other) => Err(bad(name, format!("region_bytes must be 1 or 2: {other}"))),
        None => Err(bad(name, "needs param `region_bytes` (1 or 2)")),
    }
}

/// `region_experimental`: columns (region, id); the keyspace id is the region in
/// `region_bytes` bytes, then `hash(id)`.
#[derive(Debug)]
pub struct RegionExperimental {
    width: usize,
}

impl RegionExperimental {
    pub fn new(name: &str, params: &std::collections::BTreeMap<String, String>) -> Result<Self, VindexError> {
        Ok(RegionExperimental { width: width(name, params)? })
    }
}

impl MultiVindex for RegionExperimental {
    fn type_name(&self) -> &'static str {
        "region_experimental"
    }

    fn column_count(&self) -> usize {
        2
    }

    fn map(&self, values: &[Value]) -> Result<Dest, VindexError> {
        let (region, id) = match values {
            [r] => (r, None),
            [r, id] => (r, Some(id)),
            _ => return Err(bad("region_experimental", "takes (region, id)")),
        };
        let mut ksid = region_bytes(unsigned(region)?, self.width);
        match id {
            None => Ok(Dest::Prefix(ksid)),
            Some(id) => {
                ksid.extend_from_slice(&hash_u64(unsigned(id)?));
                Ok(Dest::KeyspaceId(ksid))
            }
        }
    }
}

/// `region_json`: columns (id, region key); the keyspace id is the region number the JSON
/// file `region_map` gives the key, in `region_bytes` bytes, then `hash(id)`.
#[derive(Debug)]
pub struct RegionJson {
    width: usize,
    regions: HashMap<String, u64>,
}

impl RegionJson {
    pub fn new(name: &str, params: &std::collections::BTreeMap<String, String>) -> Result<Self, VindexError> {
        let width = width(name, params)?;
        let path = params.get("region_map").ok_or_else(|| bad(name, "needs param `region_map` (a JSON file)"))?;
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(name, format!("cannot read region_map `{path}`: {e}")))?;
        let regions = serde_json::from_str(&text)
            .map_err(|e| bad(name, format!("region_map `{path}` is not a JSON object of numbers: {e}")))?;
        Ok(RegionJson { width, regions })
    }
}

impl MultiVindex for RegionJson {
    fn type_name(&self) -> &'static str {
        "region_json"
    }

    fn column_count(&self) -> usize {
        2
    }

    fn map(&self, values: &[Value]) -> Result<Dest, VindexError> {
        let [id, key] = values else {
            return Err(bad("region_json", "takes (id, region key), both known"));
        };
        let key = match key {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Null => return Err(VindexError::Null),
        };
        let region =
            *self.regions.get(&key).ok_or_else(|| bad("region_json", format!("`{key}` is not in the region map")))?;
        let mut ksid = region_bytes(region, self.width);
        ksid.extend_from_slice(&hash_u64(unsigned(id)?));
        Ok(Dest::KeyspaceId(ksid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn params(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn hex_of(d: Result<Dest, VindexError>) -> String {
        match d {
            Ok(Dest::KeyspaceId(k)) => hex::encode(k),
            Ok(Dest::Prefix(p)) => format!("prefix {}", hex::encode(p)),
            Err(_) => "none".into(),
        }
    }

    #[test]
    fn multicol_known_answers() {
        let m = MultiCol::new("m", &params(&[("column_count", "3")])).unwrap();
        assert_eq!(m.bytes, vec![3, 3, 2]);
        let i = |n: i64| Value::Int(n);
        assert_eq!(hex_of(m.map(&[i(1), i(1), i(1)])), "166b40166b40166b");
        assert_eq!(hex_of(m.map(&[i(255), i(1), i(1)])), "254e88166b40166b");
        assert_eq!(hex_of(m.map(&[i(256), i(1), i(1)])), "dd7c0b166b40166b");
        assert_eq!(hex_of(m.map(&[i(1)])), "prefix 166b40");
        assert_eq!(hex_of(m.map(&[i(1), i(1)])), "prefix 166b40166b40");
        let abcd = Value::Bytes(b"abcd".to_vec());
        assert_eq!(hex_of(m.map(&[abcd.clone(), i(256), i(256)])), "none");
        assert_eq!(hex_of(m.map(&[i(256), i(256), abcd])), "none");
        // Bytes shared out as Vitess does; explicit sizes kept.
        let five = MultiCol::new("m", &params(&[("column_count", "5"), ("column_bytes", "1,,3")])).unwrap();
        assert_eq!(five.bytes, vec![1, 2, 3, 1, 1]);
        assert_eq!(MultiCol::new("m", &params(&[("column_count", "1")])).unwrap().bytes, vec![8]);
        assert!(MultiCol::new("m", &params(&[("column_count", "9")])).is_err());
        assert!(MultiCol::new("m", &params(&[("column_count", "2"), ("column_bytes", "7,7")])).is_err());
        assert!(MultiCol::new("m", &params(&[("column_count", "2"), ("column_vindex", "hash,lookup")])).is_err());
    }

    #[test]
    fn region_known_answers() {
        let r1 = RegionExperimental::new("r", &params(&[("region_bytes", "1")])).unwrap();
        let i = |n: i64| Value::Int(n);
        assert_eq!(hex_of(r1.map(&[i(1), i(1)])), "01166b40b44aba4bd6");
        assert_eq!(hex_of(r1.map(&[i(255), i(1)])), "ff166b40b44aba4bd6");
        assert_eq!(hex_of(r1.map(&[i(256), i(1)])), "00166b40b44aba4bd6");
        assert_eq!(hex_of(r1.map(&[Value::Bytes(b"abcd".to_vec()), i(256)])), "none");
        assert_eq!(hex_of(r1.map(&[i(1), Value::Bytes(b"abcd".to_vec())])), "none");
        assert_eq!(hex_of(r1.map(&[i(1)])), "prefix 01");
        let r2 = RegionExperimental::new("r", &params(&[("region_bytes", "2")])).unwrap();
        assert_eq!(hex_of(r2.map(&[i(1), i(1)])), "0001166b40b44aba4bd6");
        assert_eq!(hex_of(r2.map(&[i(255), i(1)])), "00ff166b40b44aba4bd6");
        assert_eq!(hex_of(r2.map(&[i(256), i(1)])), "0100166b40b44aba4bd6");
        assert_eq!(hex_of(r2.map(&[i(0x10000), i(1)])), "0000166b40b44aba4bd6");
        assert!(RegionExperimental::new("r", &params(&[("region_bytes", "3")])).is_err());

        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("countries.json");
        std::fs::write(&map, r#"{"United States": 1, "Canada": 2, "France": 64}"#).unwrap();
        let path = map.display().to_string();
        let j1 = RegionJson::new("j", &params(&[("region_bytes", "1"), ("region_map", &path)])).unwrap();
        let s = |t: &str| Value::Bytes(t.as_bytes().to_vec());
        assert_eq!(hex_of(j1.map(&[i(1), s("United States")])), "01166b40b44aba4bd6");
        assert_eq!(hex_of(j1.map(&[i(1), s("France")])), "40166b40b44aba4bd6");
        assert_eq!(hex_of(j1.map(&[i(1), s("Atlantis")])), "none");
        let j2 = RegionJson::new("j", &params(&[("region_bytes", "2"), ("region_map", &path)])).unwrap();
        assert_eq!(hex_of(j2.map(&[i(1), s("Canada")])), "0002166b40b44aba4bd6");
    }
}
