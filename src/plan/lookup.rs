//! Lookup vindexes in a plan: where a lookup keeps its mapping, and statements routed by one.

use crate::protocol::topology::TabletType;
use crate::vindex::Value;

/// Where a lookup vindex keeps its mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupDef {
    pub name: String,
    pub keyspace: String,
    pub shard: String,
    pub table: String,
    pub from: String,
    pub to: String,
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
