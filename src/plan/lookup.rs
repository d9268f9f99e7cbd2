//! Lookup vindexes in a plan: where a lookup keeps its mapping, and statements routed by one.

use crate::protocol::topology::TabletType;
use crate::vindex::Value;

/// Where a lookup vindex keeps its mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupDef {
    pub name: String,
    pub keyspace: String,
    /// Which shard of `keyspace` holds a value's mappings.
    pub place: LookupPlace,
    pub table: String,
    pub from: String,
    pub to: String,
    /// `lookup_hash*`: `to` holds the uint64 whose `hash` is the keyspace id.
    pub hashed: bool,
}

/// Where a lookup table's rows are: the one shard of an unsharded keyspace, or spread over a
/// sharded keyspace by the table's own primary vindex (on the lookup's `from` column).
#[derive(Debug, Clone, PartialEq)]
pub enum LookupPlace {
    Shard(String),
    Vindex(String),
}

impl LookupDef {
    /// The `to` value stored for keyspace id `ksid`, as SQL.
    pub fn to_literal(&self, ksid: &[u8]) -> String {
        match self.hashed {
            true => crate::vindex::functional::unhash_u64(ksid).map_or_else(|| "NULL".into(), |v| v.to_string()),
            false => format!("X'{}'", hex::encode(ksid)),
        }
    }

    /// The keyspace id a stored `to` value (as MySQL returned it) names.
    pub fn keyspace_id(&self, stored: &[u8]) -> Option<Vec<u8>> {
        match self.hashed {
            true => {
                let n: u64 = std::str::from_utf8(stored).ok()?.trim().parse().ok()?;
                Some(crate::vindex::functional::hash_u64(n).to_vec())
            }
            false => Some(stored.to_vec()),
        }
    }
}

/// A statement routed by a lookup vindex, or a delete that must unmap owned lookups first.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub keyspace: String,
    pub sql: String,
    pub tablet_type: TabletType,
    /// Route by this lookup and these values (else: `shards`).
    pub filter: Option<(LookupDef, Vec<Value>)>,
    pub shards: Vec<String>,
    /// Set when the statement cannot run on several shards at once.
    pub scatter_error: Option<String>,
    /// For deletes: a select of (primary vindex column, lookup columns...) and the lookups.
    pub cleanup: Option<(String, String, Vec<LookupDef>)>,
}
