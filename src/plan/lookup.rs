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
    /// The lookup table's value columns (several for a multi-column lookup).
    pub from: Vec<String>,
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
    /// The value columns, quoted, as a column list.
    pub fn from_list(&self) -> String {
        self.from.iter().map(|c| crate::sql::quote_ident(c)).collect::<Vec<_>>().join(", ")
    }

    /// `a in (..)` / `(a, b) in ((..), ..)`: the rows of the lookup table for these tuples of
    /// values (as SQL literals), one value per column.
    pub fn where_in(&self, tuples: &[Vec<String>]) -> String {
        match self.from.len() {
            1 => format!(
                "{} in ({})",
                self.from_list(),
                tuples.iter().map(|t| t.join(", ")).collect::<Vec<_>>().join(", ")
            ),
            _ => format!(
                "({}) in ({})",
                self.from_list(),
                tuples.iter().map(|t| format!("({})", t.join(", "))).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// `a = x and b = y`: the rows of the lookup table for one tuple of SQL literals.
    pub fn where_eq(&self, values: &[String]) -> String {
        self.from
            .iter()
            .zip(values)
            .map(|(c, v)| format!("{} = {v}", crate::sql::quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" and ")
    }

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

/// A lookup and the tuples of values (one per lookup column) a WHERE pins it to.
pub type LookupFilter = (LookupDef, Vec<Vec<Value>>);

/// A statement routed by a lookup vindex, or a delete that must unmap owned lookups first.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub keyspace: String,
    pub sql: String,
    pub tablet_type: TabletType,
    /// Route by this lookup and these tuples of values, one per lookup column (else: `shards`).
    pub filter: Option<LookupFilter>,
    pub shards: Vec<String>,
    /// For deletes: a select of (primary vindex column, lookup columns...) and the lookups.
    pub cleanup: Option<(String, String, Vec<LookupDef>)>,
}
