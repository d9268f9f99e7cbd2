//! Vindexes map column values to keyspace ids; key ranges say which shard holds an id.
//!
//! The functional vindexes here are byte-identical to Vitess's (its test vectors are in the
//! tests): `hash`, `xxhash`, `numeric`, `binary`, `binary_md5`, `reverse_bits`, `null`,
//! `unicode_loose_md5`, `unicode_loose_xxhash` ([`unicode`]), and over
//! several columns `multicol`, `region_experimental`, `region_json` ([`multi`]).
//! Lookup vindexes (`lookup`, `lookup_unique`, `lookup_hash`, `lookup_hash_unique`,
//! `consistent_lookup`, `consistent_lookup_unique`) keep their mapping in a table; [`build`]
//! checks their parameters, and the gateway reads and writes the table.

pub mod functional;
pub mod keyrange;
pub mod multi;
pub mod unicode;

use std::collections::BTreeMap;

pub use functional::{Binary, BinaryMd5, Hash, Null, Numeric, ReverseBits, XxHash};

/// A column value as a vindex sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    /// A string or binary value, or a number written as text.
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as a SQL literal for a tablet connection.
    pub fn to_sql(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Bytes(b) => crate::sql::quote_bytes(b),
        }
    }

    /// The value as Vitess converts it to uint64 (negative integers wrap; text must be a
    /// decimal number).
    pub fn to_u64(&self) -> Result<u64, VindexError> {
        match self {
            Value::Int(i) => Ok(*i as u64),
            Value::UInt(u) => Ok(*u),
            Value::Bytes(b) => {
                let s = std::str::from_utf8(b).map_err(|_| VindexError::NotANumber(hex::encode(b)))?;
                let s = s.trim();
                s.parse::<u64>()
                    .or_else(|_| s.parse::<i64>().map(|i| i as u64))
                    .map_err(|_| VindexError::NotANumber(s.to_string()))
            }
            Value::Null => Err(VindexError::Null),
        }
    }

    /// The value's bytes as Vitess passes them to byte-oriented vindexes: integers as
    /// decimal text.
    pub fn to_bytes(&self) -> Result<Vec<u8>, VindexError> {
        match self {
            Value::Int(i) => Ok(i.to_string().into_bytes()),
            Value::UInt(u) => Ok(u.to_string().into_bytes()),
            Value::Bytes(b) => Ok(b.clone()),
            Value::Null => Err(VindexError::Null),
        }
    }
}

/// Why a value has no keyspace id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VindexError {
    #[error("a NULL value has no keyspace id")]
    Null,
    #[error("`{0}` is not a number, and this vindex takes numbers")]
    NotANumber(String),
    #[error("vindex `{name}`: {message}")]
    Config { name: String, message: String },
}

/// A vindex that computes the keyspace id from the value alone.
pub trait Vindex: Send + Sync + std::fmt::Debug {
    /// The Vitess type name (`hash`, ...).
    fn type_name(&self) -> &'static str;
    /// The keyspace id of `value`.
    fn map(&self, value: &Value) -> Result<Vec<u8>, VindexError>;
}

/// A vindex as configured in a VSchema.
#[derive(Debug)]
pub enum Configured {
    Functional(Box<dyn Vindex>),
    /// A functional vindex over several columns (`multicol`, `region_*`).
    Multi(Box<dyn multi::MultiVindex>),
    /// A lookup vindex: `table` maps `from` column values to `to` (the keyspace id).
    Lookup {
        unique: bool,
        table: String,
        from: Vec<String>,
        to: String,
        owner: String,
        /// `lookup_hash*`: `to` holds the uint64 whose `hash` is the keyspace id.
        hashed: bool,
        /// `write_only` (a lookup being backfilled): kept current, never used to route.
        write_only: bool,
    },
}

/// Builds a vindex from its VSchema definition.
pub fn build(name: &str, def: &crate::vschema::VindexDef) -> Result<Configured, VindexError> {
    let config = |message: &str| VindexError::Config { name: name.to_string(), message: message.to_string() };
    Ok(match def.vindex_type.as_str() {
        "hash" => Configured::Functional(Box::new(Hash)),
        "xxhash" => Configured::Functional(Box::new(XxHash)),
        "numeric" => Configured::Functional(Box::new(Numeric)),
        "binary" => Configured::Functional(Box::new(Binary)),
        "binary_md5" => Configured::Functional(Box::new(BinaryMd5)),
        "reverse_bits" => Configured::Functional(Box::new(ReverseBits)),
        "null" => Configured::Functional(Box::new(Null)),
        "unicode_loose_md5" => Configured::Functional(Box::new(unicode::UnicodeLooseMd5)),
        "unicode_loose_xxhash" => Configured::Functional(Box::new(unicode::UnicodeLooseXxHash)),
        "multicol" => Configured::Multi(Box::new(multi::MultiCol::new(name, &def.params)?)),
        "region_experimental" => Configured::Multi(Box::new(multi::RegionExperimental::new(name, &def.params)?)),
        "region_json" => Configured::Multi(Box::new(multi::RegionJson::new(name, &def.params)?)),
        t @ ("lookup"
        | "lookup_unique"
        | "lookup_hash"
        | "lookup_hash_unique"
        | "consistent_lookup"
        | "consistent_lookup_unique") => {
            let param = |p: &str| {
                def.params
                    .get(p)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .ok_or_else(|| config(&format!("needs param `{p}`")))
            };
            let flag = |p: &str| def.params.get(p).is_some_and(|v| v.eq_ignore_ascii_case("true"));
            Configured::Lookup {
                unique: t.ends_with("_unique"),
                table: param("table")?,
                from: param("from")?.split(',').map(|c| c.trim().to_string()).collect(),
                to: param("to")?,
                owner: def.owner.clone(),
                hashed: t.starts_with("lookup_hash"),
                write_only: flag("write_only"),
            }
        }
        other => return Err(config(&format!("type `{other}` is not supported"))),
    })
}

/// Builds every vindex of a keyspace VSchema.
pub fn build_all(vs: &crate::vschema::KeyspaceVSchema) -> Result<BTreeMap<String, Configured>, VindexError> {
    vs.vindexes.iter().map(|(name, def)| Ok((name.clone(), build(name, def)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_like_vitess() {
        assert_eq!(Value::Int(-1).to_u64().unwrap(), u64::MAX);
        assert_eq!(Value::Bytes(b"42".to_vec()).to_u64().unwrap(), 42);
        assert_eq!(Value::Bytes(b"-2".to_vec()).to_u64().unwrap(), u64::MAX - 1);
        assert!(Value::Bytes(b"abc".to_vec()).to_u64().is_err());
        assert_eq!(Value::Null.to_u64().unwrap_err(), VindexError::Null);
        assert_eq!(Value::Int(12).to_bytes().unwrap(), b"12");
    }

    #[test]
    fn builds_from_vschema() {
        let vs: crate::vschema::KeyspaceVSchema = serde_json::from_str(
            r#"{"sharded": true, "vindexes": {
                "h": {"type": "hash"},
                "l": {"type": "lookup_unique", "params": {"table": "ks.lt", "from": "a, b", "to": "keyspace_id"}, "owner": "t"}
            }}"#,
        )
        .unwrap();
        let all = build_all(&vs).unwrap();
        assert!(matches!(&all["h"], Configured::Functional(v) if v.type_name() == "hash"));
        match &all["l"] {
            Configured::Lookup { unique, from, table, .. } => {
                assert!(*unique);
                assert_eq!(from, &vec!["a".to_string(), "b".to_string()]);
                assert_eq!(table, "ks.lt");
            }
            other => panic!("{other:?}"),
        }
    }
}
