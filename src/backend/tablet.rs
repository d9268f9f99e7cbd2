//! Calling tablets over NATS: management by alias, query-service requests by alias or by
//! target (the queue group of a keyspace/shard/type), batched under load, large payloads in
//! chunks; and the engine's [`Shards`] over it.

use std::time::Duration;

use async_nats::Client;
use futures::future::BoxFuture;

use crate::engine::shards::Shards;
use crate::protocol::subjects;
use crate::protocol::tablet::{QueryReply, QueryRequest, TabletError};
use crate::protocol::topology::TabletType;
use crate::rpc::exchanges::{Manage, Query};
use crate::rpc::{RpcClient, RpcError};

/// Calls tablets: management by alias, queries by alias or by target.
#[derive(Clone)]
pub struct TabletClient {
    rpc: RpcClient,
    /// Statements to a busy target leave together ([`super::batch`]); `TESSERA_BATCH=0` turns
    /// it off.
    batchers: Option<super::batch::Batchers>,
    /// The transaction log two-phase commits record their decisions in, and this node's id.
    txlog: Option<(std::sync::Arc<dyn crate::twopc::TxLog>, String)>,
}

impl TabletClient {
    pub fn new(client: Client, sender: impl Into<String>, timeout: Duration) -> Self {
        let batching = std::env::var("TESSERA_BATCH").map(|v| v != "0").unwrap_or(true);
        TabletClient {
            rpc: RpcClient::new(client, sender, timeout),
            batchers: batching.then(Default::default),
            txlog: None,
        }
    }

    /// Sends requests larger than one message through `bulk`.
    pub fn with_bulk(mut self, bulk: crate::bulk::Bulk) -> Self {
        self.rpc = self.rpc.with_bulk(bulk);
        self
    }

    /// Two-phase commits through this client record their decisions in `log`, coordinated
    /// by node `node`.
    pub fn with_txlog(mut self, log: std::sync::Arc<dyn crate::twopc::TxLog>, node: &str) -> Self {
        self.txlog = Some((log, node.to_string()));
        self
    }

    /// How long a request waits for its answer.
    pub fn timeout(&self) -> Duration {
        self.rpc.timeout()
    }

    /// One management operation on one tablet.
    pub async fn manage(
        &self,
        alias: &str,
        req: &crate::protocol::tablet::ManageRequest,
    ) -> crate::protocol::tablet::ManageReply {
        self.rpc
            .call::<Manage>(subjects::tablet(alias, "manage"), req)
            .await
            .unwrap_or_else(|e| Err(tablet_error(e, alias)))
    }

    /// One management operation that may take long (a backup), waiting up to `timeout`.
    pub async fn manage_within(
        &self,
        alias: &str,
        req: &crate::protocol::tablet::ManageRequest,
        timeout: Duration,
    ) -> crate::protocol::tablet::ManageReply {
        self.rpc
            .call_within::<Manage>(subjects::tablet(alias, "manage"), req, timeout)
            .await
            .unwrap_or_else(|e| Err(tablet_error(e, alias)))
    }

    /// One query-service request to a tablet by alias.
    pub async fn query(
        &self,
        alias: &str,
        req: &crate::protocol::tablet::QueryRequest,
    ) -> crate::protocol::tablet::QueryReply {
        self.query_subject(subjects::tablet(alias, "query"), req, alias).await
    }

    /// Stops the statements `query_ids` on every tablet of `keyspace/shard` that runs them (or
    /// before they start there). Fire and forget: a lost kill leaves a statement to finish.
    pub async fn kill(&self, keyspace: &str, shard: &str, query_ids: Vec<u64>) {
        let req = crate::protocol::tablet::KillRequest { query_ids };
        if let Ok(bytes) = rmp_serde::to_vec_named(&req) {
            let _ = self.rpc.nats().publish(subjects::kill(keyspace, shard), bytes.into()).await;
        }
    }

    /// One query-service request to whichever tablet of `keyspace/shard` has `tablet_type`.
    pub async fn query_target(
        &self,
        keyspace: &str,
        shard: &str,
        tablet_type: crate::protocol::topology::TabletType,
        req: &crate::protocol::tablet::QueryRequest,
    ) -> crate::protocol::tablet::QueryReply {
        use super::batch::Route;
        use crate::protocol::tablet::{QueryRequest, TabletError};
        let what = format!("{keyspace}/{shard}@{tablet_type}");
        let subject = subjects::target(keyspace, shard, tablet_type.as_str());
        if let (Some(b), QueryRequest::Execute { sql, binds, transaction_id: None, options }) = (&self.batchers, req) {
            if binds.is_empty() {
                let make_send = || {
                    let me = self.clone();
                    let send: super::batch::SendFn = std::sync::Arc::new(move |subject, req, what| {
                        let me = me.clone();
                        Box::pin(async move { me.query_subject(subject, &req, &what).await })
                    });
                    send
                };
                let reply = match b.route(&subject, &what, sql, *options, make_send) {
                    Route::Direct(slot) => {
                        let r = self.query_subject(subject.clone(), req, &what).await;
                        drop(slot);
                        r
                    }
                    Route::Queued(rx) => rx
                        .await
                        .unwrap_or_else(|_| Err(TabletError::Internal(format!("the batch to {what} was dropped")))),
                };
                return match reply {
                    // A large streamed read cannot answer inside a batch: on its own, then.
                    Err(TabletError::TooLargeForBatch) => self.query_subject(subject, req, &what).await,
                    other => other,
                };
            }
        }
        self.query_subject(subject, req, &what).await
    }

    async fn query_subject(
        &self,
        subject: String,
        req: &crate::protocol::tablet::QueryRequest,
        what: &str,
    ) -> crate::protocol::tablet::QueryReply {
        let started = std::time::Instant::now();
        let reply = self.rpc.call::<Query>(subject, req).await.unwrap_or_else(|e| Err(tablet_error(e, what)));
        let m = crate::metrics::metrics();
        let labels = crate::metrics::RequestLabels { request: req.kind() };
        m.requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        if let (QueryRequest::ExecuteBatch { statements, .. }, _) = (req, &reply) {
            m.batched_statements.observe(statements.len() as f64);
        }
        if matches!(reply, Err(crate::protocol::tablet::TabletError::Timeout { .. })) {
            m.request_timeouts.inc();
        }
        reply
    }

    /// Runs a read on a tablet by alias, streamed: every part's rows, the fields, and how many
    /// parts came.
    pub async fn stream_execute(
        &self,
        alias: &str,
        sql: &str,
    ) -> Result<
        (Vec<crate::protocol::tablet::Field>, Vec<crate::protocol::tablet::Row>, usize),
        crate::protocol::tablet::TabletError,
    > {
        use crate::protocol::tablet::{ExecOptions, QueryRequest, QueryResponse, TabletError};
        let req = QueryRequest::Execute {
            sql: sql.to_string(),
            binds: Default::default(),
            transaction_id: None,
            options: ExecOptions { query_id: 0, stream: true, ..Default::default() },
        };
        let (fields, mut rows, mut cursor) = match self.query(alias, &req).await? {
            QueryResponse::Result { result, cursor, .. } => (result.fields, result.rows, cursor),
            other => return Err(TabletError::Internal(format!("unexpected answer {other:?}"))),
        };
        let mut parts = 1;
        while let Some(c) = cursor {
            match self.query(alias, &QueryRequest::Fetch { cursor: c }).await? {
                QueryResponse::Rows { rows: more, cursor: next } => {
                    rows.append(more);
                    cursor = next;
                    parts += 1;
                }
                other => return Err(TabletError::Internal(format!("unexpected answer {other:?}"))),
            }
        }
        Ok((fields, rows.into_vec(), parts))
    }
}

/// A call to `what` that got no reply, as the tablet error a statement ends with: a timeout
/// leaves the outcome unknown; nobody answering means nothing ran (retryable).
fn tablet_error(e: RpcError, what: &str) -> TabletError {
    match e {
        RpcError::TimedOut { after_ms, .. } => TabletError::Timeout { alias: what.into(), after_ms },
        RpcError::NoResponders { .. } => {
            TabletError::NotServing { alias: what.into(), reason: "no tablet answers (is its node running?)".into() }
        }
        RpcError::Undecodable { .. } | RpcError::Failed { .. } => TabletError::Internal(format!("{what}: {e}")),
    }
}

impl Shards for TabletClient {
    fn target<'a>(
        &'a self,
        keyspace: &'a str,
        shard: &'a str,
        tablet_type: TabletType,
        req: QueryRequest,
    ) -> BoxFuture<'a, QueryReply> {
        Box::pin(async move { self.query_target(keyspace, shard, tablet_type, &req).await })
    }

    fn tablet<'a>(&'a self, alias: &'a str, req: QueryRequest) -> BoxFuture<'a, QueryReply> {
        Box::pin(async move { self.query(alias, &req).await })
    }

    fn txlog(&self) -> Option<std::sync::Arc<dyn crate::twopc::TxLog>> {
        self.txlog.as_ref().map(|(l, _)| l.clone())
    }

    fn coordinator(&self) -> &str {
        self.txlog.as_ref().map(|(_, n)| n.as_str()).unwrap_or("gateway")
    }

    fn kill<'a>(&'a self, keyspace: &'a str, shard: &'a str, query_ids: Vec<u64>) -> BoxFuture<'a, ()> {
        Box::pin(TabletClient::kill(self, keyspace, shard, query_ids))
    }
}
