//! An in-memory [`Shards`] for the engine's tests: each request is answered by a function of
//! (where, SQL), every request is logged, and transactions get ids. Where a request goes is
//! `keyspace/shard` (by target) or the alias the first reply named (the same string here).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::shards::{Shards, ShardsRef};
use crate::protocol::tablet::{Field, QueryReply, QueryRequest, QueryResponse, QueryResult, TabletError};
use crate::protocol::topology::TabletType;

type Answer = dyn Fn(&str, &str) -> Result<QueryResult, TabletError> + Send + Sync;

pub struct MemoryShards {
    answer: Box<Answer>,
    /// (where, what): `customer/-80 select ...`, `customer/-80 commit 3`.
    pub log: Mutex<Vec<(String, String)>>,
    next_tx: AtomicU64,
    /// The decisions of two-phase commits through these shards.
    pub txlog: Arc<crate::twopc::log::MemoryTxLog>,
}

impl MemoryShards {
    pub fn new(answer: impl Fn(&str, &str) -> Result<QueryResult, TabletError> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(MemoryShards {
            answer: Box::new(answer),
            log: Mutex::default(),
            next_tx: AtomicU64::new(1),
            txlog: Default::default(),
        })
    }

    pub fn as_ref(self: &Arc<Self>) -> ShardsRef {
        self.clone()
    }

    /// The requests so far, as `where: what` lines.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(w, s)| format!("{w}: {s}")).collect()
    }

    fn run(&self, at: &str, sql: &str) -> Result<QueryResult, TabletError> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push((at.to_string(), sql.to_string()));
        (self.answer)(at, sql)
    }

    fn reply(&self, at: &str, req: QueryRequest) -> QueryReply {
        let tablet = at.to_string();
        match req {
            QueryRequest::Execute { sql, .. } => {
                Ok(QueryResponse::Result { result: self.run(at, &sql)?, tablet, cursor: None })
            }
            QueryRequest::BeginExecute { sql, options, .. } => {
                let transaction_id = self.next_tx.fetch_add(1, Ordering::Relaxed);
                let xa = if options.begin.xa.is_some() { " xa" } else { "" };
                self.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((at.to_string(), format!("begin {transaction_id}{xa}")));
                let result = self.run(at, &sql)?;
                Ok(QueryResponse::BeganResult { transaction_id, tablet, result, cursor: None })
            }
            QueryRequest::Commit { transaction_id } => {
                self.run(at, &format!("commit {transaction_id}"))?;
                Ok(QueryResponse::Done)
            }
            QueryRequest::Rollback { transaction_id } => {
                self.run(at, &format!("rollback {transaction_id}"))?;
                Ok(QueryResponse::Done)
            }
            QueryRequest::Prepare { transaction_id } => {
                self.run(at, &format!("prepare {transaction_id}"))?;
                Ok(QueryResponse::Done)
            }
            QueryRequest::CommitPrepared { transaction_id, .. } => {
                self.run(at, &format!("commit prepared {}", transaction_id.unwrap_or(0)))?;
                Ok(QueryResponse::Done)
            }
            QueryRequest::RollbackPrepared { transaction_id, .. } => {
                self.run(at, &format!("rollback prepared {}", transaction_id.unwrap_or(0)))?;
                Ok(QueryResponse::Done)
            }
            QueryRequest::ExecuteBatch { statements, .. } => Ok(QueryResponse::Batch {
                replies: statements
                    .iter()
                    .map(|s| {
                        self.run(at, s).map(|result| QueryResponse::Result {
                            result,
                            tablet: tablet.clone(),
                            cursor: None,
                        })
                    })
                    .collect(),
            }),
            other => Err(TabletError::Internal(format!("the memory shards do not answer {other:?}"))),
        }
    }
}

impl Shards for MemoryShards {
    fn target<'a>(
        &'a self,
        keyspace: &'a str,
        shard: &'a str,
        _: TabletType,
        req: QueryRequest,
    ) -> BoxFuture<'a, QueryReply> {
        Box::pin(async move { self.reply(&format!("{keyspace}/{shard}"), req) })
    }

    fn tablet<'a>(&'a self, alias: &'a str, req: QueryRequest) -> BoxFuture<'a, QueryReply> {
        Box::pin(async move { self.reply(alias, req) })
    }

    fn txlog(&self) -> Option<Arc<dyn crate::twopc::TxLog>> {
        Some(self.txlog.clone())
    }

    fn kill<'a>(&'a self, keyspace: &'a str, shard: &'a str, query_ids: Vec<u64>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((format!("{keyspace}/{shard}"), format!("kill {query_ids:?}")));
        })
    }
}

/// A result of columns (name, MySQL type code) and text rows (`None` for NULL), the rows
/// packed as a tablet sends them.
pub fn result(cols: &[(&str, u8)], rows: &[&[Option<&str>]]) -> QueryResult {
    let mut packed = crate::protocol::tablet::Rows::new();
    for r in rows {
        packed.push_values(r.iter().copied());
    }
    QueryResult {
        fields: cols
            .iter()
            .map(|(n, t)| Field {
                name: n.to_string(),
                column_type: *t,
                charset: if matches!(t, 253 | 254 | 15) { 45 } else { 63 },
                ..Default::default()
            })
            .collect(),
        rows: packed,
        ..Default::default()
    }
}

/// A write's answer: `affected` rows.
pub fn affected(n: u64) -> QueryResult {
    QueryResult { rows_affected: n, ..Default::default() }
}
