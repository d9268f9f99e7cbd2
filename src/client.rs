//! A client for admin commands and cluster events, used by `tessera ctl`, `tessera events`
//! and tests. (Tablets are called through [`crate::backend::TabletClient`].)

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
