//! Optimistic, validated appends to the topology.
//!
//! For a write on aggregate subject S: read S's last sequence, wait until this node's view has
//! folded the stream up to its current end (so S and every aggregate the validation reads are
//! current as of now), validate and plan against the view, and append with
//! "expected last subject sequence = what we read". If another writer got there first the
//! append is refused and the loop starts over, so no update is ever lost; the same check makes
//! the subject its own lock.

use std::time::Duration;

use tracing::{debug, info, warn};

use crate::protocol::topology::{TabletType, TopoCommit, TopoEvent};
use crate::topo::state::Topology;
use crate::topo::store::{AppendError, TopoStore};
use crate::topo::view::TopoView;
use crate::topo::TopoError;

/// How often a write is retried when other writers keep winning.
const MAX_ATTEMPTS: u32 = 50;
/// How long to wait for this node's view to catch up with the stream before planning.
const VIEW_WAIT: Duration = Duration::from_secs(10);
/// How long a reply waits for this node's view to fold its own commit (reads catch up anyway).
const OWN_COMMIT_WAIT: Duration = Duration::from_secs(2);

/// What an applied write produced.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Topology sequence after the write (unchanged if there was nothing to do).
    pub seq: u64,
    pub events: Vec<TopoEvent>,
    pub attempts: u32,
}

/// Appends validated commits.
#[derive(Clone)]
pub struct TopoWriter {
    store: TopoStore,
    view: TopoView,
}

impl TopoWriter {
    pub fn new(store: TopoStore, view: TopoView) -> Self {
        TopoWriter { store, view }
    }

    pub fn view(&self) -> &TopoView {
        &self.view
    }

    pub fn store(&self) -> &TopoStore {
        &self.store
    }

    /// Records a tablet's type (nothing to do when it has it already); the sequence after.
    pub async fn record_tablet_type(&self, alias: &str, tablet_type: TabletType) -> Result<u64, TopoError> {
        let subject = crate::protocol::subjects::topo_tablet(alias);
        let applied = self
            .write("ChangeTabletType", &subject, |topo| match topo.tablets.get(alias) {
                Some(t) if t.tablet_type == tablet_type => Ok(Vec::new()),
                Some(_) => Ok(vec![TopoEvent::TabletTypeChanged { alias: alias.to_string(), tablet_type }]),
                None => Err(TopoError::NotFound(format!("tablet `{alias}` does not exist"))),
            })
            .await?;
        Ok(applied.seq)
    }

    /// Runs `plan` against the current aggregate and appends its events to `subject`.
    pub async fn write<F>(&self, command: &str, subject: &str, plan: F) -> Result<Applied, TopoError>
    where
        F: Fn(&Topology) -> Result<Vec<TopoEvent>, TopoError>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let expected = self.store.last_seq_of(subject).await?;
            // Catch up with the whole stream, not just this aggregate: validation reads other
            // aggregates too (a shard write needs the keyspace's ShardCreated).
            let last = self.store.last_seq().await?;
            self.view.wait_for(last.max(expected), VIEW_WAIT).await?;
            let snapshot = self.view.snapshot();
            let events = plan(&snapshot)?;
            if events.is_empty() {
                return Ok(Applied { seq: snapshot.seq, events, attempts: attempt });
            }
            let commit = TopoCommit { command: command.to_string(), events };
            match self.store.append(subject, expected, snapshot.seq, &commit).await {
                Ok(seq) => {
                    info!(command, subject, seq, attempt, "topology commit appended");
                    if let Err(e) = self.view.wait_for(seq, OWN_COMMIT_WAIT).await {
                        warn!(error = %e, "appended, but this node's view has not caught up yet");
                    }
                    return Ok(Applied { seq, events: commit.events, attempts: attempt });
                }
                Err(AppendError::Conflict) => {
                    debug!(command, subject, attempt, "aggregate changed under us; retrying");
                    // Spread competing writers out a little so they do not collide in lockstep.
                    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
                    tokio::time::sleep(Duration::from_millis(attempt.min(10) as u64 + jitter)).await;
                }
                Err(AppendError::Other(e)) => return Err(e),
            }
        }
        Err(TopoError::Conflict { subject: subject.to_string(), attempts: MAX_ATTEMPTS })
    }
}
