//! Atomic distributed transactions: the transaction modes, the records of commit decisions,
//! the coordinator's two-phase commit, the resolver of in-doubt transactions, and the
//! cross-shard deadlock detector.
//!
//! A session in `transaction_mode = twopc` begins each shard's part of a transaction as an XA
//! branch. At COMMIT, one shard commits in one phase; several are prepared (`XA PREPARE`),
//! then the gateway records the decision in the transaction log (a JetStream key-value
//! bucket, replicated with the control plane) **before** any branch commits, then commits
//! every branch. Whoever finds a prepared branch later (the resolver, after a crash or a
//! reparent) drives it to the recorded decision, or records a rollback when there is none:
//! the first decision recorded for a transaction is the only one.

pub mod commit;
pub mod deadlock;
pub mod log;
pub mod resolver;

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// How a session's transactions span shards (Vitess's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxMode {
    /// A transaction that would touch a second shard is refused.
    Single,
    /// Each shard commits in turn; a failure part way leaves the others committed (named in
    /// the error).
    #[default]
    Multi,
    /// Two-phase commit: all shards commit or none does.
    Twopc,
}

impl TxMode {
    pub fn parse(s: &str) -> Option<TxMode> {
        match s.trim().trim_matches(['\'', '"']).to_ascii_lowercase().as_str() {
            "single" => Some(TxMode::Single),
            "multi" => Some(TxMode::Multi),
            "twopc" => Some(TxMode::Twopc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxMode::Single => "single",
            TxMode::Multi => "multi",
            TxMode::Twopc => "twopc",
        }
    }
}

/// What was decided for a distributed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Commit,
    Rollback,
}

/// One shard of a distributed transaction, and the tablet that held its branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub keyspace: String,
    pub shard: String,
    pub tablet: String,
}

/// A distributed transaction's record in the transaction log: written once, with the
/// decision, before any branch is committed; removed once every branch has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    pub dtid: u64,
    pub decision: Decision,
    /// The shards it spans (empty when the resolver rolled back a branch it found alone).
    pub participants: Vec<Participant>,
    /// Who decided: a gateway node (`gateway <node>`) or the resolver (`resolver <node>`).
    pub decided_by: String,
    pub time_ms: u64,
}

/// How long a rollback decision is kept after its branches ended: a coordinator that comes
/// back to record its commit decision within this time finds the rollback and obeys it.
pub const ROLLBACK_KEPT: std::time::Duration = std::time::Duration::from_secs(3600);
/// A coordinator that took longer than this between starting to prepare and recording its
/// decision rolls back instead (well inside [`ROLLBACK_KEPT`]).
pub const MAX_UNDECIDED: std::time::Duration = std::time::Duration::from_secs(600);

/// The transaction log could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("transaction log: {0}")]
pub struct TxLogError(pub String);

/// The durable record of decisions.
pub trait TxLog: Send + Sync {
    /// Records `record` unless its transaction has one already; returns the record that
    /// stands (this one, or the one recorded first).
    fn decide(&self, record: TxRecord) -> BoxFuture<'_, Result<TxRecord, TxLogError>>;
    fn get(&self, dtid: u64) -> BoxFuture<'_, Result<Option<TxRecord>, TxLogError>>;
    /// Forgets a transaction whose branches have all ended.
    fn remove(&self, dtid: u64) -> BoxFuture<'_, Result<(), TxLogError>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<TxRecord>, TxLogError>>;
}

/// A new distributed transaction id: a process never makes one twice (a bijection of its
/// counter), and another process's ids are as good as random against it (the counter starts
/// from a random salt), so two live transactions share one with odds of about n^2 / 2^65.
pub fn new_dtid() -> u64 {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // std's hasher keys are random per process.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u64(crate::protocol::envelope::now_ms());
        h.finish()
    });
    // splitmix64: a bijection of u64, so distinct counters give distinct ids.
    let mut z = salt.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_vitess_names_them() {
        assert_eq!(TxMode::parse("'TWOPC'"), Some(TxMode::Twopc));
        assert_eq!(TxMode::parse("single"), Some(TxMode::Single));
        assert_eq!(TxMode::parse("multi"), Some(TxMode::Multi));
        assert_eq!(TxMode::parse("xa"), None);
        assert_eq!(TxMode::default().as_str(), "multi");
    }

    #[test]
    fn dtids_do_not_repeat() {
        let ids: std::collections::HashSet<u64> = (0..4000).map(|_| new_dtid()).collect();
        assert_eq!(ids.len(), 4000);
    }
}

#[cfg(test)]
mod commit_tests;
