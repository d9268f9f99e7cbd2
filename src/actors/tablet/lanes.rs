//! Tablet lanes (`tablet_lanes = N` in the node config, or `TESSERA_TABLET_LANES=N`): the
//! query service served from N [lanes](crate::lanes) instead of the node's shared runtime.
//!
//! Every lane joins each serving tablet's queue groups (its target subject and its alias
//! query subject) with its own NATS connection, and takes MySQL connections from a pool of its
//! own, used only by that lane (so its connections are opened and driven there): a request is
//! decoded, run on MySQL, encoded and answered on the thread that received it. NATS spreads a
//! subject's requests over the lanes. A transaction's connection stays in the lane that began
//! it; a later statement of it that NATS hands to another lane still runs on that connection
//! (correct, one cross-thread wake-up more). A lane that cannot subscribe retries until it can.

use std::sync::{Arc, OnceLock};

use tracing::warn;

use super::query::QueryService;
use crate::lanes::LaneRuntime;

static LANES: OnceLock<Vec<LaneRuntime>> = OnceLock::new();

/// How many lanes to run: `TESSERA_TABLET_LANES` if set, else the node config's.
pub fn configured(from_config: usize) -> usize {
    crate::lanes::count("TESSERA_TABLET_LANES", from_config)
}

/// Makes `lanes` the node's tablet lanes (once, before tablets start).
pub fn install(lanes: Vec<LaneRuntime>) {
    let _ = LANES.set(lanes);
}

/// The node's tablet lanes; empty when the query service runs on the shared runtime.
pub fn lanes() -> &'static [LaneRuntime] {
    LANES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Each lane's share of a tablet's query pool (at least 4 connections).
pub fn pool_share(pool_size: usize) -> usize {
    pool_size.div_ceil(lanes().len().max(1)).max(4)
}

/// How many query connections a tablet may have open at once: its pool, or every lane's
/// share together when that is more.
pub fn query_connections(pool_size: usize) -> usize {
    pool_size.max(lanes().len() * pool_share(pool_size))
}

/// Joins `subject`'s queue group `queue` on every lane and serves the query service's
/// requests from it there; the tasks end when aborted.
pub(super) fn serve(
    service: &Arc<QueryService>,
    bulk: &crate::bulk::Bulk,
    subject: &str,
    queue: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    lanes()
        .iter()
        .map(|lane| {
            let (service, bulk, nats) = (service.clone(), bulk.clone(), lane.nats.clone());
            let (subject, queue, index) = (subject.to_string(), queue.to_string(), lane.index);
            lane.runtime.spawn(async move {
                // Retried until it succeeds (or the task is aborted): a lane that gave up would
                // leave the tablet looking subscribed while this lane serves nothing.
                let mut delay = std::time::Duration::from_millis(100);
                loop {
                    match nats.queue_subscribe(subject.clone(), queue.clone()).await {
                        Ok(sub) => return super::serve::query_loop(service, nats, bulk, sub).await,
                        Err(e) => {
                            warn!(subject, lane = index, error = %e, retry_in = ?delay, "a tablet lane could not subscribe; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(std::time::Duration::from_secs(5));
                        }
                    }
                }
            })
        })
        .collect()
}
