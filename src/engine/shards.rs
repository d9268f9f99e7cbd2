//! How the engine reaches the tablets: one query-service request at a time. The backend
//! (`src/backend/`) implements it over NATS; the engine's tests implement it in memory.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::protocol::tablet::{QueryReply, QueryRequest};
use crate::protocol::topology::TabletType;

/// The tablets, as the engine sees them.
pub trait Shards: Send + Sync {
    /// A request to whichever tablet of `keyspace/shard` has `tablet_type`.
    fn target<'a>(
        &'a self,
        keyspace: &'a str,
        shard: &'a str,
        tablet_type: TabletType,
        req: QueryRequest,
    ) -> BoxFuture<'a, QueryReply>;
    /// A request to one tablet.
    fn tablet<'a>(&'a self, alias: &'a str, req: QueryRequest) -> BoxFuture<'a, QueryReply>;
    /// Stops these statements wherever they run on the shard's tablets (fire and forget).
    fn kill<'a>(&'a self, keyspace: &'a str, shard: &'a str, query_ids: Vec<u64>) -> BoxFuture<'a, ()>;
    /// The log of distributed transactions' decisions (two-phase commit), if this side has one.
    fn txlog(&self) -> Option<Arc<dyn crate::twopc::TxLog>> {
        None
    }
    /// Who coordinates the two-phase commits sent through this (a node id).
    fn coordinator(&self) -> &str {
        "gateway"
    }
}

/// A shared handle (cursors and kills outlive the call that made them).
pub type ShardsRef = Arc<dyn Shards>;
