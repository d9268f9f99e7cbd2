//! A client for admin commands and cluster events, used by `tessera ctl`, `tessera events`
//! and tests. (Tablets are called through [`crate::backend::TabletClient`].)

use std::time::Duration;

use async_nats::Client;
use futures::{Stream, StreamExt};

use crate::protocol::admin::{AdminReply, AdminRequest, ErrorCode, RemoteError};
use crate::protocol::envelope::Envelope;
use crate::protocol::events::ClusterEvent;
use crate::protocol::subjects;
use crate::rpc::exchanges::Admin;
use crate::rpc::{RpcClient, RpcError};

/// Sends admin commands over NATS.
#[derive(Clone)]
pub struct AdminClient {
    rpc: RpcClient,
}

impl AdminClient {
    pub fn new(client: Client, timeout: Duration) -> Self {
        AdminClient { rpc: RpcClient::new(client, format!("ctl@{}", crate::config::hostname()), timeout) }
    }

    /// Sends one command and waits for its reply.
    pub async fn request(&self, req: &AdminRequest) -> AdminReply {
        let subject = subjects::admin(req.name());
        let reply = if req.is_long() {
            // Up to the client's timeout, as long as the serving node keeps saying it works.
            let idle = crate::rpc::KEEPALIVE_EVERY * 4;
            self.rpc.call_long::<Admin>(subject, req, self.rpc.timeout(), idle).await
        } else {
            self.rpc.call::<Admin>(subject, req).await
        };
        reply.unwrap_or_else(|e| Err(remote(e)))
    }

    /// Sends raw bytes to an admin subject (tests use it to send garbage).
    pub async fn request_raw(&self, subject: &str, payload: Vec<u8>) -> AdminReply {
        let r = self.rpc.call_bytes::<Admin>(subject.to_string(), payload, self.rpc.timeout()).await;
        r.unwrap_or_else(|e| Err(remote(e)))
    }
}

/// A call that got no reply, as the error an admin command ends with.
fn remote(e: RpcError) -> RemoteError {
    match e {
        RpcError::NoResponders { .. } => RemoteError::new(
            ErrorCode::Unavailable,
            "no tessera node is serving admin commands on this NATS (start one with `tessera up` or `tessera node`)",
        ),
        RpcError::TimedOut { subject, after_ms, .. } => RemoteError::new(
            ErrorCode::Unavailable,
            format!("no reply to {subject} within {after_ms} ms: are the nodes overloaded or partitioned?"),
        ),
        RpcError::Undecodable { .. } => RemoteError::new(ErrorCode::Internal, e.to_string()),
        RpcError::Failed { .. } => RemoteError::new(ErrorCode::Unavailable, e.to_string()),
    }
}

/// Where a subscription to cluster events starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFrom {
    /// Only events published from now on.
    Now,
    /// Everything still kept in `TESSERA_EVENTS`.
    Start,
    /// From the last this-many events of the stream (of any subject) on.
    Recent(u64),
    /// The events after this stream sequence (a follower resuming where it stopped).
    After(u64),
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
                EventsFrom::After(seq) => DeliverPolicy::ByStartSequence { start_sequence: seq.saturating_add(1) },
                EventsFrom::Recent(n) => {
                    let mut stream = stream.clone();
                    let last = stream
                        .info()
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", subjects::EVENTS_STREAM))?
                        .state
                        .last_sequence;
                    match last.saturating_sub(n.saturating_sub(1)) {
                        0 | 1 => DeliverPolicy::All,
                        start_sequence => DeliverPolicy::ByStartSequence { start_sequence },
                    }
                }
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
