//! Names of distributed transactions and their XA branches, and the lock waits tablets report
//! (the query service's two-phase-commit and deadlock-detection vocabulary).

use serde::{Deserialize, Serialize};

/// The XA id (gtrid, bqual) of a shard's branch of distributed transaction `dtid`: the
/// transaction's id, and the shard, so two shards' branches never clash on one server.
pub fn xa_id(dtid: u64, keyspace: &str, shard: &str) -> String {
    format!("'{}','{}/{}'", dtid_name(dtid), keyspace.replace('\'', "''"), shard.replace('\'', "''"))
}

/// How a distributed transaction id is written (XA gtrid, logs, `DistributedTransaction`).
pub fn dtid_name(dtid: u64) -> String {
    format!("tsr{dtid:016x}")
}

/// A distributed transaction id back from its name.
pub fn parse_dtid(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("tsr")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

/// One lock wait inside a tablet: the statement `waiting_query` (the gateway's query id; 0
/// when untracked) waits for transaction `blocking` (the tablet's transaction id; 0 for a
/// connection outside the tablet's transactions), which holds the lock or is queued for it
/// ahead; `blocking_query` is the statement that transaction runs now (0: idle), which names
/// it before the gateway has learned its id (its first statement still running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockWait {
    pub waiting_query: u64,
    pub blocking: u64,
    #[serde(default)]
    pub blocking_query: u64,
}
