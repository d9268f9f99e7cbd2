//! Payloads larger than one NATS message (a 10 MiB blob in an INSERT, a result row holding it).
//!
//! The sender keeps the payload and sends a small reference instead: the magic byte `L`, then
//! MessagePack `{subject, len}`. The receiver pulls the payload in chunks by request/reply from
//! `subject` (the sender's node serves them), so the pulls go to exactly the process that holds
//! the payload whichever queue-group member took the reference, and the receiver's pace is the
//! flow control. A payload is forgotten once its last chunk is served, or after [`KEEP`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::protocol::subjects;

/// How long an unclaimed payload is kept.
pub const KEEP: Duration = Duration::from_secs(120);

const MAGIC: u8 = b'L';

/// Room left in a message for headers and framing.
const HEADROOM: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Reference {
    subject: String,
    len: u64,
}

/// One process's outgoing large payloads.
#[derive(Clone)]
pub struct Bulk {
    client: async_nats::Client,
    node: String,
    held: Arc<Mutex<HashMap<u64, (Bytes, Instant)>>>,
    next: Arc<AtomicU64>,
}

impl Bulk {
    /// Serves this node's large payloads on `tessera.bulk.<node>.*`.
    pub async fn start(client: async_nats::Client, node: &str) -> Result<Bulk, async_nats::SubscribeError> {
        let mut sub = client.subscribe(subjects::bulk_all(node)).await?;
        let bulk = Bulk {
            client: client.clone(),
            node: node.to_string(),
            held: Default::default(),
            next: Arc::new(AtomicU64::new(1)),
        };
        let me = bulk.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some(reply) = msg.reply.clone() else { continue };
                let chunk = me.chunk(&msg.subject, &msg.payload);
                if let Err(e) = me.client.publish(reply, chunk).await {
                    warn!(error = %e, "could not send a bulk chunk");
                }
            }
        });
        Ok(bulk)
    }

    /// The largest payload sent as it is.
    fn limit(&self) -> usize {
        (self.client.server_info().max_payload).saturating_sub(HEADROOM).max(HEADROOM)
    }

    /// `payload` itself when it fits in one message, else a reference to it.
    pub fn wrap(&self, payload: Vec<u8>) -> Vec<u8> {
        if payload.len() <= self.limit() {
            return payload;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let len = payload.len() as u64;
        {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.retain(|_, (_, at)| at.elapsed() < KEEP);
            held.insert(id, (Bytes::from(payload), Instant::now()));
        }
        let reference = Reference { subject: subjects::bulk(&self.node, id), len };
        let mut out = vec![MAGIC];
        // A two-field struct always encodes.
        let _ = rmp_serde::encode::write_named(&mut out, &reference);
        out
    }

    /// The chunk a pull asks for: the payload's bytes from the offset (8 bytes, little endian)
    /// in the request, as many as fit in a message; empty for an unknown payload.
    fn chunk(&self, subject: &str, request: &[u8]) -> Bytes {
        let id = subject.rsplit('.').next().and_then(|i| i.parse::<u64>().ok());
        let offset = request.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
        let (Some(id), Some(offset)) = (id, offset) else { return Bytes::new() };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let Some((payload, _)) = held.get(&id) else { return Bytes::new() };
        let start = (offset as usize).min(payload.len());
        let end = (start + self.limit()).min(payload.len());
        let chunk = payload.slice(start..end);
        if end == payload.len() {
            held.remove(&id);
        }
        chunk
    }
}

/// The payload a message stands for: the message itself, or the large payload it refers to,
/// pulled from its sender.
pub async fn unwrap(client: &async_nats::Client, payload: Bytes, timeout: Duration) -> Result<Bytes, String> {
    if payload.first() != Some(&MAGIC) {
        return Ok(payload);
    }
    let r: Reference =
        rmp_serde::from_slice(&payload[1..]).map_err(|e| format!("a large-payload reference does not decode: {e}"))?;
    let len = usize::try_from(r.len).map_err(|_| "a large payload does not fit in memory".to_string())?;
    let mut out = Vec::with_capacity(len.min(64 << 20));
    while out.len() < len {
        let offset = (out.len() as u64).to_le_bytes();
        let pull = client.request(r.subject.clone(), Bytes::copy_from_slice(&offset));
        let msg = tokio::time::timeout(timeout, pull)
            .await
            .map_err(|_| format!("the sender of a large payload ({}) did not answer in time", r.subject))?
            .map_err(|e| format!("pulling a large payload from {}: {e}", r.subject))?;
        if msg.payload.is_empty() {
            return Err(format!("the large payload at {} is gone (its sender restarted or gave up)", r.subject));
        }
        out.extend_from_slice(&msg.payload);
    }
    if out.len() != len {
        return Err(format!("the large payload at {} has {} bytes, not {len}", r.subject, out.len()));
    }
    Ok(Bytes::from(out))
}
