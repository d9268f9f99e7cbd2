//! Calling tablets over NATS: management by alias, query-service requests by alias or by
//! target (the queue group of a keyspace/shard/type), batched under load, large payloads in
//! chunks; and the engine's [`Shards`] over it.

use std::time::Duration;

use async_nats::Client;
use futures::future::BoxFuture;

use crate::engine::shards::Shards;
use crate::protocol::envelope::Envelope;
use crate::protocol::subjects;
use crate::protocol::tablet::{QueryReply, QueryRequest};
use crate::protocol::topology::TabletType;

/// Calls tablets: management by alias, queries by alias or by target.
#[derive(Clone)]
pub struct TabletClient {
    client: Client,
    sender: String,
    timeout: Duration,
    /// Statements to a busy target leave together ([`super::batch`]); `TESSERA_BATCH=0` turns
    /// it off.
    batchers: Option<super::batch::Batchers>,
    /// Requests larger than one NATS message go as references to pull ([`crate::bulk`]).
    bulk: Option<crate::bulk::Bulk>,
}

impl TabletClient {
    pub fn new(client: Client, sender: impl Into<String>, timeout: Duration) -> Self {
        let batching = std::env::var("TESSERA_BATCH").map(|v| v != "0").unwrap_or(true);
        TabletClient { client, sender: sender.into(), timeout, batchers: batching.then(Default::default), bulk: None }
    }

    /// Sends requests larger than one message through `bulk`.
    pub fn with_bulk(mut self, bulk: crate::bulk::Bulk) -> Self {
        self.bulk = Some(bulk);
        self
    }

    /// How long a request waits for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One management operation on one tablet.
    pub async fn manage(
        &self,
        alias: &str,
        req: &crate::protocol::tablet::ManageRequest,
    ) -> crate::protocol::tablet::ManageReply {
        use crate::protocol::tablet::TabletError;
        let payload =
            Envelope::new(self.sender.clone(), req).encode().map_err(|e| TabletError::BadRequest(e.to_string()))?;
        let msg = self.send(subjects::tablet(alias, "manage"), payload, alias).await?;
        Envelope::<crate::protocol::tablet::ManageReply>::decode(&msg.payload)
            .map_err(|e| TabletError::Internal(format!("reply from {alias} does not decode: {e}")))?
            .body
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
            let _ = self.client.publish(subjects::kill(keyspace, shard), bytes.into()).await;
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
        use crate::protocol::tablet::TabletError;
        let mut payload = crate::protocol::tablet::encode_query_request(req)?;
        if let Some(bulk) = &self.bulk {
            payload = bulk.wrap(payload);
        }
        let msg = self.send(subject, payload, what).await?;
        let bytes = crate::bulk::unwrap(&self.client, msg.payload, self.timeout)
            .await
            .map_err(|e| TabletError::Internal(format!("reply from {what}: {e}")))?;
        crate::protocol::tablet::decode_query_reply(&bytes)?
    }

    async fn send(
        &self,
        subject: String,
        payload: Vec<u8>,
        what: &str,
    ) -> Result<async_nats::Message, crate::protocol::tablet::TabletError> {
        use crate::protocol::tablet::TabletError;
        // The request's own deadline is ours (async-nats's default is 10 s, shorter than a lock wait
        // a statement may legitimately sit in: that ends as MySQL's 1205 from the tablet).
        let request = async_nats::Request::new().payload(payload.into()).timeout(Some(self.timeout));
        let timed_out = || TabletError::Timeout { alias: what.into(), after_ms: self.timeout.as_millis() as u64 };
        match tokio::time::timeout(self.timeout, self.client.send_request(subject, request)).await {
            Err(_) => Err(timed_out()),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::TimedOut => Err(timed_out()),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Err(TabletError::NotServing {
                alias: what.into(),
                reason: "no tablet answers (is its node running?)".into(),
            }),
            // Not a serving problem (a closed client): say so.
            Ok(Err(e)) => Err(TabletError::Internal(format!("request to {what} failed: {e}"))),
            Ok(Ok(msg)) => Ok(msg),
        }
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
            options: ExecOptions { query_id: 0, stream: true },
        };
        let (fields, mut rows, mut cursor) = match self.query(alias, &req).await? {
            QueryResponse::Result { result, cursor, .. } => (result.fields, result.rows, cursor),
            other => return Err(TabletError::Internal(format!("unexpected answer {other:?}"))),
        };
        let mut parts = 1;
        while let Some(c) = cursor {
            match self.query(alias, &QueryRequest::Fetch { cursor: c }).await? {
                QueryResponse::Rows { rows: more, cursor: next } => {
                    rows.extend(more);
                    cursor = next;
                    parts += 1;
                }
                other => return Err(TabletError::Internal(format!("unexpected answer {other:?}"))),
            }
        }
        Ok((fields, rows, parts))
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

    fn kill<'a>(&'a self, keyspace: &'a str, shard: &'a str, query_ids: Vec<u64>) -> BoxFuture<'a, ()> {
        Box::pin(TabletClient::kill(self, keyspace, shard, query_ids))
    }
}
