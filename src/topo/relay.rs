//! Publishing topology commits as cluster events, in topology order.
//!
//! Every node relays the commits its follower receives, one at a time and in sequence order,
//! with the JetStream message id `topo-<seq>-<i>`. The events stream keeps the first copy of
//! each id and drops the rest, so `TESSERA_EVENTS` holds every topology event exactly once and
//! in topology order, even when the writer of a commit died right after appending it. Commits
//! older than the de-duplication window (replayed at start) are not relayed again.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::warn;

use crate::protocol::envelope::now_ms;
use crate::protocol::events::ClusterEvent;
use crate::topo::store::{StoredCommit, TopoStore};

/// Commits older than this are history, not news: they were relayed when they happened.
const RELAY_MAX_AGE: Duration = Duration::from_secs(60);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts the relay task; feed it commits in sequence order.
pub fn spawn_event_relay(store: TopoStore) -> mpsc::Sender<StoredCommit> {
    let (tx, mut rx) = mpsc::channel::<StoredCommit>(4096);
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            if now_ms().saturating_sub(c.time_ms) > RELAY_MAX_AGE.as_millis() as u64 {
                continue;
            }
            for (i, event) in c.commit.events.iter().enumerate() {
                let ev = ClusterEvent::from_topo(c.seq, event);
                let id = format!("topo-{}-{i}", c.seq);
                let publish = store.publish_event(&ev, &id);
                match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
                    Ok(Ok(())) => {
                        crate::metrics::metrics().events_relayed.inc();
                    }
                    Ok(Err(e)) => {
                        warn!(seq = c.seq, event = event.name(), error = %e, "could not publish cluster event")
                    }
                    Err(_) => warn!(seq = c.seq, event = event.name(), "timed out publishing cluster event"),
                }
            }
        }
    });
    tx
}
