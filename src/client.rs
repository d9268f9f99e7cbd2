//! A client for admin commands and cluster events, used by `tessera ctl`, `tessera events`
//! and tests.

use std::time::Duration;

use async_nats::Client;
use futures::{Stream, StreamExt};

use crate::protocol::admin::{AdminReply, AdminRequest, ErrorCode, RemoteError};
use crate::protocol::envelope::Envelope;
use crate::protocol::events::ClusterEvent;
use crate::protocol::subjects;

/// Sends admin commands over NATS.
#[derive(Clone)]
pub struct AdminClient {
    client: Client,
    sender: String,
    timeout: Duration,
}

impl AdminClient {
    pub fn new(client: Client, timeout: Duration) -> Self {
        let sender = format!("ctl@{}", crate::config::hostname());
        AdminClient { client, sender, timeout }
    }

    /// Sends one command and waits for its reply.
    pub async fn request(&self, req: &AdminRequest) -> AdminReply {
        let payload = Envelope::new(self.sender.clone(), req)
            .encode()
            .map_err(|e| RemoteError::new(ErrorCode::BadRequest, e.to_string()))?;
        self.request_raw(&subjects::admin(req.name()), payload).await
    }

    /// Sends raw bytes to an admin subject (tests use it to send garbage).
    pub async fn request_raw(&self, subject: &str, payload: Vec<u8>) -> AdminReply {
        let send = self.client.request(subject.to_string(), payload.into());
        let msg = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => {
                return Err(RemoteError::new(
                    ErrorCode::Unavailable,
                    format!("no reply to {subject} within {:?}: are the nodes overloaded or partitioned?", self.timeout),
                ))
            }
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(RemoteError::new(
                    ErrorCode::Unavailable,
                    "no tessera node is serving admin commands on this NATS (start one with `tessera up` or `tessera node`)",
                ))
            }
            Ok(Err(e)) => return Err(RemoteError::new(ErrorCode::Unavailable, format!("request to {subject} failed: {e}"))),
            Ok(Ok(msg)) => msg,
        };
        match Envelope::<AdminReply>::decode(&msg.payload) {
            Ok(env) => env.body,
            Err(e) => Err(RemoteError::new(ErrorCode::Internal, format!("the reply does not decode: {e}"))),
        }
    }
}

/// Where a subscription to cluster events starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFrom {
    /// Only events published from now on.
    Now,
    /// Everything still kept in `TESSERA_EVENTS`.
    Start,
}

/// A cluster event with its stream metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceivedEvent {
    pub seq: u64,
    pub subject: String,
    pub sender: String,
    pub time_ms: u64,
    #[serde(flatten)]
    pub event: ClusterEvent,
}

/// Subscribes to cluster events from the `TESSERA_EVENTS` stream, filtered by subject.
/// Messages that do not decode are reported as errors and the stream goes on.
pub async fn subscribe_events(
    client: Client,
    from: EventsFrom,
    filter_subject: String,
) -> anyhow::Result<impl Stream<Item = Result<ReceivedEvent, String>>> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    // Opening the store creates the streams on a NATS no node has used yet, so a subscriber
    // started first still sees the first events.
    let store = crate::topo::store::TopoStore::open(client, "events").await?;
    let stream = store
        .jetstream()
        .get_stream(subjects::EVENTS_STREAM)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open stream {}: {e}", subjects::EVENTS_STREAM))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject,
            deliver_policy: match from {
                EventsFrom::Now => DeliverPolicy::New,
                EventsFrom::Start => DeliverPolicy::All,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to events: {e}"))?;
    let messages = consumer.messages().await.map_err(|e| anyhow::anyhow!("cannot read events: {e}"))?;
    Ok(messages.map(|item| {
        let msg = item.map_err(|e| format!("event stream error: {e}"))?;
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
        let env = Envelope::<ClusterEvent>::decode(&msg.payload)
            .map_err(|e| format!("event on {} does not decode: {e}", msg.subject))?;
        Ok(ReceivedEvent {
            seq,
            subject: msg.subject.to_string(),
            sender: env.sender,
            time_ms: env.time_ms,
            event: env.body,
        })
    }))
}

/// Calls tablets: management by alias, queries by alias or by target.
#[derive(Clone)]
pub struct TabletClient {
    client: Client,
    sender: String,
    timeout: Duration,
    /// Statements to a busy target leave together ([`crate::batch`]); `TESSERA_BATCH=0` turns
    /// it off.
    batchers: Option<crate::batch::Batchers>,
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
        use crate::batch::Route;
        use crate::protocol::tablet::{QueryRequest, TabletError};
        let what = format!("{keyspace}/{shard}@{tablet_type}");
        let subject = subjects::target(keyspace, shard, tablet_type.as_str());
        if let (Some(b), QueryRequest::Execute { sql, binds, transaction_id: None, options }) = (&self.batchers, req) {
            if binds.is_empty() {
                let make_send = || {
                    let me = self.clone();
                    let send: crate::batch::SendFn = std::sync::Arc::new(move |subject, req, what| {
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
