//! A node's live copy of the topology: replayed at start, then followed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::topo::state::{project_commit, Topology};
use crate::topo::store::{StoredCommit, TopoStore};
use crate::topo::TopoError;

/// Shared, cheaply cloned view of the folded topology.
#[derive(Clone)]
pub struct TopoView {
    current: Arc<RwLock<Arc<Topology>>>,
    seq: Arc<watch::Sender<u64>>,
}

impl Default for TopoView {
    fn default() -> Self {
        TopoView { current: Arc::new(RwLock::new(Arc::new(Topology::default()))), seq: Arc::new(watch::channel(0).0) }
    }
}

impl TopoView {
    /// A view that stays at `topo` (tests, tools that plan offline).
    pub fn fixed(topo: Topology) -> TopoView {
        let seq = topo.seq;
        TopoView { current: Arc::new(RwLock::new(Arc::new(topo))), seq: Arc::new(watch::channel(seq).0) }
    }

    /// The topology as of now. Readers keep the snapshot as long as they like.
    pub fn snapshot(&self) -> Arc<Topology> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last stream sequence folded in.
    pub fn seq(&self) -> u64 {
        *self.seq.borrow()
    }

    /// A receiver that changes whenever a commit is folded in.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.seq.subscribe()
    }

    /// Waits until the view has folded sequence `seq`.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Result<(), TopoError> {
        let mut rx = self.seq.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(TopoError::Unavailable(format!(
                "this node's topology view is at sequence {} and did not reach {seq} within {timeout:?}",
                self.seq()
            ))),
        }
    }

    /// Folds `c` if it is newer than what the view holds; whether it did. The check is made
    /// under the write lock: the consumer and the catch-up reader may both offer a commit.
    fn apply(&self, c: &StoredCommit) -> bool {
        {
            let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
            if c.seq <= guard.seq {
                return false;
            }
            let topo = Arc::make_mut(&mut guard);
            project_commit(topo, c.seq, &c.commit);
        }
        self.seq.send_replace(c.seq);
        true
    }

    /// Folds a commit the follower received, if new, and hands it to the relay.
    fn take(&self, c: StoredCommit, relay: Option<&mpsc::Sender<StoredCommit>>) {
        debug!(seq = c.seq, command = %c.commit.command, "topology commit");
        if self.apply(&c) {
            if let Some(relay) = relay {
                // A full relay queue only costs an event, never the topology.
                let _ = relay.try_send(c);
            }
        }
    }

    /// Follows the stream into this view until the task is dropped, re-creating the consumer
    /// from the next sequence whenever it fails (network errors) or, when `reconnects` is
    /// given, whenever the NATS client reconnects (a restarted server forgets the consumer).
    /// Each new commit is also handed to `relay`, if given (see [`crate::topo::relay`]).
    pub async fn follow(
        self,
        store: TopoStore,
        mut reconnects: Option<watch::Receiver<u64>>,
        relay: Option<mpsc::Sender<StoredCommit>>,
    ) {
        tokio::spawn(self.clone().catch_up(store.clone(), relay.clone()));
        let mut backoff = Duration::from_millis(100);
        loop {
            let next = self.seq() + 1;
            if let Some(rx) = reconnects.as_mut() {
                rx.borrow_and_update();
            }
            match store.follow(next).await {
                Ok(commits) => {
                    futures::pin_mut!(commits);
                    // A consumer on a server that died (the stream's leader moved) delivers
                    // nothing, and the client notices only after its 15 s heartbeat window:
                    // each second, a view behind the stream's end that made no progress since
                    // the last check reads the missing commits straight from the stream, and
                    // after two such checks in a row re-creates its consumer.
                    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + STALL_CHECK, STALL_CHECK);
                    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut seen = self.seq();
                    let mut stalled_checks = 0;
                    loop {
                        let item = tokio::select! {
                            item = commits.next() => item,
                            () = reconnected(&mut reconnects) => {
                                info!(from = self.seq() + 1, "NATS reconnected; re-creating the topology consumer");
                                break;
                            }
                            _ = check.tick() => {
                                let at = self.seq();
                                let end = if at == seen { store.last_seq().await.unwrap_or(at) } else { at };
                                seen = at;
                                if end <= at {
                                    stalled_checks = 0;
                                    continue;
                                }
                                stalled_checks += 1;
                                if stalled_checks >= 2 {
                                    warn!(at = seen, "re-creating the topology consumer");
                                    break;
                                }
                                continue;
                            }
                        };
                        match item {
                            Some(Ok(c)) => {
                                self.take(c, relay.as_ref());
                                backoff = Duration::from_millis(100);
                            }
                            Some(Err(e)) => {
                                warn!(error = %e, "topology follower lost its consumer; re-creating it");
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Err(e) => warn!(error = %e, from = next, "cannot follow the topology stream yet"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

impl TopoView {
    /// Runs beside the consumer, whatever state it is in (being re-created after a reconnect,
    /// waiting for a new stream leader): each second, a view that made no progress while the
    /// stream is ahead reads the missing commits straight from the stream's leader. Runs as
    /// long as the process.
    async fn catch_up(self, store: TopoStore, relay: Option<mpsc::Sender<StoredCommit>>) {
        let mut seen = self.seq();
        loop {
            tokio::time::sleep(STALL_CHECK).await;
            let at = self.seq();
            if at != seen {
                seen = at;
                continue;
            }
            let end = match tokio::time::timeout(Duration::from_secs(2), store.last_seq()).await {
                Ok(Ok(end)) => end,
                _ => continue,
            };
            if end <= at {
                continue;
            }
            warn!(at, end, "topology view behind the stream with no progress; reading the stream directly");
            let read = store.read_range(at + 1, end.min(at + DIRECT_READ_MAX));
            match tokio::time::timeout(Duration::from_secs(5), read).await {
                Ok(Ok(missing)) => missing.into_iter().for_each(|c| self.take(c, relay.as_ref())),
                Ok(Err(e)) => warn!(error = %e, "cannot read the topology stream directly"),
                Err(_) => warn!("timed out reading the topology stream directly"),
            }
            seen = self.seq();
        }
    }
}

/// Most commits a stalled follower reads directly per check (the consumer brings the rest).
const DIRECT_READ_MAX: u64 = 256;

/// How often a follower checks that its consumer still delivers.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// Resolves when the connection counter changes; never, without a counter.
async fn reconnected(reconnects: &mut Option<watch::Receiver<u64>>) {
    match reconnects {
        Some(rx) => {
            if rx.changed().await.is_err() {
                futures::future::pending::<()>().await;
            }
        }
        None => futures::future::pending::<()>().await,
    }
}
