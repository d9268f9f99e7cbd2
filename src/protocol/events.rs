//! Cluster events: what `tessera events` prints, kept in the `TESSERA_EVENTS` stream.

use serde::{Deserialize, Serialize};

use crate::protocol::node::NodeEvent;
use crate::protocol::tablet::TabletHealth;
use crate::protocol::topology::TopoEvent;
use crate::protocol::workflow::StreamStatus;

/// Event kinds: the second token of `tessera.events.<kind>.<name>`.
pub const KIND_TOPO: &str = "topo";
pub const KIND_NODE: &str = "node";
pub const KIND_TABLET: &str = "tablet";
pub const KIND_VREPLICATION: &str = "vreplication";
pub const KIND_BACKUP: &str = "backup";
pub const KIND_RECOVERY: &str = "recovery";
pub const KIND_TRANSACTION: &str = "transaction";
pub const KINDS: &[&str] =
    &[KIND_TOPO, KIND_NODE, KIND_TABLET, KIND_VREPLICATION, KIND_BACKUP, KIND_RECOVERY, KIND_TRANSACTION];
/// Distributed-transaction events: the resolver (or `DistributedTransaction conclude`) found
/// a transaction in doubt, committed or rolled back its prepared branches, or failed to.
pub const TRANSACTION_EVENT_NAMES: &[&str] =
    &["TransactionInDoubt", "TransactionCommitted", "TransactionRolledBack", "TransactionResolveFailed"];
/// Recovery events: reparents (planned or emergency) and what the failover singleton
/// detects and repairs; a replaced primary fencing itself and rejoining (or left drained).
pub const RECOVERY_EVENT_NAMES: &[&str] = &[
    "ReparentStarted",
    "ReparentCompleted",
    "ReparentFailed",
    "PrimaryDown",
    "FailoverCompleted",
    "FailoverFailed",
    "ReplicaRepaired",
    "PrimaryFenced",
    "PrimaryRejoined",
    "PrimaryDiverged",
];
/// Backup events: a backup of a tablet started, completed (with its manifest), or failed.
pub const BACKUP_EVENT_NAMES: &[&str] = &[
    "BackupStarted",
    "BackupCompleted",
    "BackupFailed",
    "BackupProgress",
    "RestoreStarted",
    "RestoreProgress",
    "RestoreCompleted",
    "RestoreFailed",
    "BackupRemoved",
];
/// VReplication event names: a stream's state changed; its progress (every few seconds).
pub const STREAM_EVENT_NAMES: &[&str] = &["StreamStateChanged", "StreamProgress"];
/// Tablet event names: health transitions.
pub const TABLET_EVENT_NAMES: &[&str] = &["TabletServingChanged", "MysqldDied", "MysqldRestarted"];

/// One cluster event. `summary` is the human sentence; the typed payload is in one of the
/// optional fields, so new kinds can be added without breaking older subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEvent {
    pub kind: String,
    pub name: String,
    pub summary: String,
    /// For topology events: the topology stream sequence of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topo_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topo: Option<TopoEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeEvent>,
    /// For tablet events: the tablet's health at the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablet: Option<TabletHealth>,
    /// For VReplication events: the stream's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStatus>,
    /// For BackupProgress and RestoreProgress: how far the copy is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::backup::Progress>,
}

impl ClusterEvent {
    pub fn from_topo(seq: u64, event: &TopoEvent) -> Self {
        ClusterEvent {
            kind: KIND_TOPO.into(),
            name: event.name().into(),
            summary: event.to_string(),
            topo_seq: Some(seq),
            topo: Some(event.clone()),
            node: None,
            tablet: None,
            stream: None,
            progress: None,
        }
    }

    /// How far a backup or a restore is (`BackupProgress`, `RestoreProgress`).
    pub fn backup_progress(name: &str, p: &crate::backup::Progress) -> Self {
        ClusterEvent { progress: Some(p.clone()), ..Self::plain(KIND_BACKUP, name, p.summary()) }
    }

    /// A backup's or a restore's progress (`BackupStarted`, `RestoreCompleted`, ...), and
    /// retention's removals (`BackupRemoved`).
    pub fn backup(name: &str, summary: String) -> Self {
        Self::plain(KIND_BACKUP, name, summary)
    }

    /// A reparent or a repair (`ReparentStarted`, `PrimaryDown`, `PrimaryFenced`, ...).
    pub fn recovery(name: &str, summary: String) -> Self {
        Self::plain(KIND_RECOVERY, name, summary)
    }

    pub fn transaction(name: &str, summary: String) -> Self {
        Self::plain(KIND_TRANSACTION, name, summary)
    }

    /// An event of `kind` that carries only its summary.
    fn plain(kind: &str, name: &str, summary: String) -> Self {
        ClusterEvent {
            kind: kind.into(),
            name: name.into(),
            summary,
            topo_seq: None,
            topo: None,
            node: None,
            tablet: None,
            stream: None,
            progress: None,
        }
    }

    pub fn from_node(event: &NodeEvent) -> Self {
        ClusterEvent { node: Some(event.clone()), ..Self::plain(KIND_NODE, event.name(), event.to_string()) }
    }

    /// A tablet health transition (`TabletServingChanged`, `MysqldDied`, `MysqldRestarted`).
    pub fn tablet(name: &str, summary: String, health: &TabletHealth) -> Self {
        ClusterEvent { tablet: Some(health.clone()), ..Self::plain(KIND_TABLET, name, summary) }
    }

    /// A stream's state change or progress report.
    pub fn stream(name: &str, status: &StreamStatus) -> Self {
        let summary = format!(
            "stream {}.{} {}/{} <- {} {}: {:.1}% copied ({} rows), lag {:.0}s{}",
            status.keyspace,
            status.workflow,
            status.keyspace,
            status.target_shard,
            status.source_shard,
            status.state,
            status.percent(),
            status.rows_copied,
            status.lag_secs,
            if status.message.is_empty() { String::new() } else { format!(": {}", status.message) }
        );
        ClusterEvent { stream: Some(status.clone()), ..Self::plain(KIND_VREPLICATION, name, summary) }
    }
}

/// Resolves a `--filter` word (a kind like `node`, or an event name like `ShardCreated`,
/// case-insensitive) to (kind, name).
pub fn resolve_filter(word: &str) -> Result<(&'static str, Option<&'static str>), String> {
    if let Some(kind) = KINDS.iter().find(|k| k.eq_ignore_ascii_case(word)) {
        return Ok((kind, None));
    }
    if let Some(name) = TopoEvent::NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_TOPO, Some(name)));
    }
    if let Some(name) = NodeEvent::NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_NODE, Some(name)));
    }
    if let Some(name) = TABLET_EVENT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_TABLET, Some(name)));
    }
    if let Some(name) = STREAM_EVENT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_VREPLICATION, Some(name)));
    }
    if let Some(name) = BACKUP_EVENT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_BACKUP, Some(name)));
    }
    if let Some(name) = RECOVERY_EVENT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_RECOVERY, Some(name)));
    }
    if let Some(name) = TRANSACTION_EVENT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(word)) {
        return Ok((KIND_TRANSACTION, Some(name)));
    }
    Err(format!(
        "unknown event kind `{word}`; use a kind ({}) or an event name ({}, {}, {}, {}, {}, {}, {})",
        KINDS.join(", "),
        TopoEvent::NAMES.join(", "),
        NodeEvent::NAMES.join(", "),
        TABLET_EVENT_NAMES.join(", "),
        STREAM_EVENT_NAMES.join(", "),
        BACKUP_EVENT_NAMES.join(", "),
        RECOVERY_EVENT_NAMES.join(", "),
        TRANSACTION_EVENT_NAMES.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::envelope::Envelope;

    #[test]
    fn filters() {
        assert_eq!(resolve_filter("node").unwrap(), ("node", None));
        assert_eq!(resolve_filter("shardcreated").unwrap(), ("topo", Some("ShardCreated")));
        assert_eq!(resolve_filter("NodeLost").unwrap(), ("node", Some("NodeLost")));
        assert_eq!(resolve_filter("recovery").unwrap(), ("recovery", None));
        assert_eq!(resolve_filter("primaryfenced").unwrap(), ("recovery", Some("PrimaryFenced")));
        assert!(resolve_filter("bogus").unwrap_err().contains("unknown event kind"));
    }

    #[test]
    fn round_trip() {
        let ev = ClusterEvent::from_topo(3, &TopoEvent::KeyspaceDeleted { keyspace: "k".into() });
        let back: Envelope<ClusterEvent> = Envelope::decode(&Envelope::new("n", ev.clone()).encode().unwrap()).unwrap();
        assert_eq!(back.body, ev);
        assert_eq!(ev.summary, "keyspace k deleted");
    }
}
