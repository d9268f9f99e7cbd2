//! Topology events: the only way the cluster's shape changes.
//!
//! One message in the `TESSERA_TOPO` stream is a [`TopoCommit`]: the events one admin command
//! produced on one aggregate subject, applied together. Events are past tense and carry
//! everything the fold needs; the fold is [`crate::topo::project`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::protocol::workflow::{KeyspaceRoutingRule, RoutingRule, VDiffReport, WorkflowRecord};
use crate::vschema::KeyspaceVSchema;

/// The role of a tablet in its shard (Vitess's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TabletType {
    Primary,
    Replica,
    Rdonly,
    Backup,
    Restore,
    Drained,
    Spare,
}

impl TabletType {
    pub const ALL: [TabletType; 7] = [
        TabletType::Primary,
        TabletType::Replica,
        TabletType::Rdonly,
        TabletType::Backup,
        TabletType::Restore,
        TabletType::Drained,
        TabletType::Spare,
    ];

    /// The types that serve queries and so have serving partitions.
    pub const SERVING: [TabletType; 3] = [TabletType::Primary, TabletType::Replica, TabletType::Rdonly];

    pub fn as_str(self) -> &'static str {
        match self {
            TabletType::Primary => "primary",
            TabletType::Replica => "replica",
            TabletType::Rdonly => "rdonly",
            TabletType::Backup => "backup",
            TabletType::Restore => "restore",
            TabletType::Drained => "drained",
            TabletType::Spare => "spare",
        }
    }
}

impl fmt::Display for TabletType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TabletType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let lower = if lower == "master" { "primary".to_string() } else { lower };
        TabletType::ALL.into_iter().find(|t| t.as_str() == lower).ok_or_else(|| {
            format!(
                "unknown tablet type `{s}`; expected one of primary, replica, rdonly, backup, restore, drained, spare"
            )
        })
    }
}

/// A tablet as recorded in the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletRecord {
    /// `<cell>-<uid>`, uid zero-padded to 10 digits.
    pub alias: String,
    pub cell: String,
    pub keyspace: String,
    pub shard: String,
    pub tablet_type: TabletType,
    /// The node hosting the tablet actor.
    pub node_id: String,
    pub hostname: String,
    pub mysql_host: String,
    pub mysql_port: u16,
    /// Whether tessera runs this MySQL (its users are then the cluster's).
    #[serde(default)]
    pub managed: bool,
}

/// Settings of a cell.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CellInfo {
    pub name: String,
    /// The NATS URL nodes of this cell use, if it differs from the cluster's.
    #[serde(default)]
    pub server_address: String,
    #[serde(default)]
    pub root: String,
}

/// One topology change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TopoEvent {
    CellAdded {
        cell: CellInfo,
    },
    CellDeleted {
        cell: String,
    },
    KeyspaceCreated {
        keyspace: String,
        durability_policy: String,
    },
    /// Removes the keyspace with its shards, VSchema and tablet records.
    KeyspaceDeleted {
        keyspace: String,
    },
    ShardCreated {
        keyspace: String,
        shard: String,
        is_primary_serving: bool,
    },
    /// Removes the shard and the records of its tablets.
    ShardDeleted {
        keyspace: String,
        shard: String,
    },
    TabletRegistered {
        tablet: TabletRecord,
    },
    TabletTypeChanged {
        alias: String,
        tablet_type: TabletType,
    },
    TabletUnregistered {
        alias: String,
    },
    /// A new primary (or none) for the shard; `term` increases with every change.
    ShardPrimaryChanged {
        keyspace: String,
        shard: String,
        primary: Option<String>,
        term: u64,
    },
    ShardServingChanged {
        keyspace: String,
        shard: String,
        is_primary_serving: bool,
    },
    /// The full list of tables denied to one tablet type of the shard (a deny list, as Vitess's).
    ShardTabletControlChanged {
        keyspace: String,
        shard: String,
        tablet_type: TabletType,
        denied_tables: Vec<String>,
    },
    VSchemaApplied {
        keyspace: String,
        vschema: KeyspaceVSchema,
    },
    /// The shards serving one tablet type of the keyspace (Vitess's SrvKeyspace partitions).
    ServingPartitionsChanged {
        keyspace: String,
        tablet_type: TabletType,
        shards: Vec<String>,
    },
    /// A Reshard or MoveTables workflow was created on its target keyspace.
    WorkflowCreated {
        workflow: WorkflowRecord,
    },
    /// A workflow's state changed (the full record after the change).
    WorkflowUpdated {
        workflow: WorkflowRecord,
    },
    WorkflowDeleted {
        keyspace: String,
        workflow: String,
    },
    /// The full list of routing rules (which keyspace serves a table, per tablet type).
    RoutingRulesChanged {
        rules: Vec<RoutingRule>,
    },
    /// A VDiff started or finished on a workflow.
    VDiffRecorded {
        report: VDiffReport,
    },
    /// The full list of keyspace routing rules (which keyspace serves a keyspace's tables).
    KeyspaceRoutingRulesChanged {
        rules: Vec<KeyspaceRoutingRule>,
    },
    /// The keyspace's durability policy (`none`, `semi_sync`, `cross_cell`) changed.
    KeyspaceDurabilityChanged {
        keyspace: String,
        durability_policy: String,
    },
    /// A reparent of the shard took (`Some`) or released (`None`) the shard's reparent lock:
    /// one reparent of a shard at a time.
    ShardReparentLocked {
        keyspace: String,
        shard: String,
        lock: Option<ReparentLock>,
    },
    /// Automatic failover switched on or off for a keyspace (`shard` none) or one shard.
    FailoverSwitched {
        keyspace: String,
        shard: Option<String>,
        enabled: bool,
    },
}

/// Who is reparenting a shard, until when at most (a reparent whose runner died releases the
/// shard when `until_ms` passes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReparentLock {
    pub id: String,
    pub command: String,
    pub by: String,
    pub until_ms: u64,
}

impl TopoEvent {
    /// The event's type name (`KeyspaceCreated`, ...), also the last token of its event subject.
    pub fn name(&self) -> &'static str {
        match self {
            TopoEvent::CellAdded { .. } => "CellAdded",
            TopoEvent::CellDeleted { .. } => "CellDeleted",
            TopoEvent::KeyspaceCreated { .. } => "KeyspaceCreated",
            TopoEvent::KeyspaceDeleted { .. } => "KeyspaceDeleted",
            TopoEvent::ShardCreated { .. } => "ShardCreated",
            TopoEvent::ShardDeleted { .. } => "ShardDeleted",
            TopoEvent::TabletRegistered { .. } => "TabletRegistered",
            TopoEvent::TabletTypeChanged { .. } => "TabletTypeChanged",
            TopoEvent::TabletUnregistered { .. } => "TabletUnregistered",
            TopoEvent::ShardPrimaryChanged { .. } => "ShardPrimaryChanged",
            TopoEvent::ShardServingChanged { .. } => "ShardServingChanged",
            TopoEvent::ShardTabletControlChanged { .. } => "ShardTabletControlChanged",
            TopoEvent::VSchemaApplied { .. } => "VSchemaApplied",
            TopoEvent::ServingPartitionsChanged { .. } => "ServingPartitionsChanged",
            TopoEvent::WorkflowCreated { .. } => "WorkflowCreated",
            TopoEvent::WorkflowUpdated { .. } => "WorkflowUpdated",
            TopoEvent::WorkflowDeleted { .. } => "WorkflowDeleted",
            TopoEvent::RoutingRulesChanged { .. } => "RoutingRulesChanged",
            TopoEvent::VDiffRecorded { .. } => "VDiffRecorded",
            TopoEvent::KeyspaceRoutingRulesChanged { .. } => "KeyspaceRoutingRulesChanged",
            TopoEvent::KeyspaceDurabilityChanged { .. } => "KeyspaceDurabilityChanged",
            TopoEvent::ShardReparentLocked { .. } => "ShardReparentLocked",
            TopoEvent::FailoverSwitched { .. } => "FailoverSwitched",
        }
    }

    /// Every topology event name, for `tessera events --filter`.
    pub const NAMES: &'static [&'static str] = &[
        "CellAdded",
        "CellDeleted",
        "KeyspaceCreated",
        "KeyspaceDeleted",
        "ShardCreated",
        "ShardDeleted",
        "TabletRegistered",
        "TabletTypeChanged",
        "TabletUnregistered",
        "ShardPrimaryChanged",
        "ShardServingChanged",
        "ShardTabletControlChanged",
        "VSchemaApplied",
        "ServingPartitionsChanged",
        "WorkflowCreated",
        "WorkflowUpdated",
        "WorkflowDeleted",
        "RoutingRulesChanged",
        "VDiffRecorded",
        "KeyspaceRoutingRulesChanged",
        "KeyspaceDurabilityChanged",
        "ShardReparentLocked",
        "FailoverSwitched",
    ];
}

impl fmt::Display for TopoEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopoEvent::CellAdded { cell } => write!(f, "cell {} added", cell.name),
            TopoEvent::CellDeleted { cell } => write!(f, "cell {cell} deleted"),
            TopoEvent::KeyspaceCreated { keyspace, durability_policy } => {
                write!(f, "keyspace {keyspace} created (durability {durability_policy})")
            }
            TopoEvent::KeyspaceDeleted { keyspace } => write!(f, "keyspace {keyspace} deleted"),
            TopoEvent::ShardCreated { keyspace, shard, is_primary_serving } => write!(
                f,
                "shard {keyspace}/{shard} created ({})",
                if *is_primary_serving { "serving" } else { "not serving" }
            ),
            TopoEvent::ShardDeleted { keyspace, shard } => write!(f, "shard {keyspace}/{shard} deleted"),
            TopoEvent::TabletRegistered { tablet } => write!(
                f,
                "tablet {} registered in {}/{} as {} on node {}",
                tablet.alias, tablet.keyspace, tablet.shard, tablet.tablet_type, tablet.node_id
            ),
            TopoEvent::TabletTypeChanged { alias, tablet_type } => {
                write!(f, "tablet {alias} is now {tablet_type}")
            }
            TopoEvent::TabletUnregistered { alias } => write!(f, "tablet {alias} unregistered"),
            TopoEvent::ShardPrimaryChanged { keyspace, shard, primary, term } => {
                write!(f, "shard {keyspace}/{shard} primary is {} (term {term})", primary.as_deref().unwrap_or("none"))
            }
            TopoEvent::ShardServingChanged { keyspace, shard, is_primary_serving } => {
                write!(f, "shard {keyspace}/{shard} is {}", if *is_primary_serving { "serving" } else { "not serving" })
            }
            TopoEvent::ShardTabletControlChanged { keyspace, shard, tablet_type, denied_tables } => {
                write!(f, "shard {keyspace}/{shard} {tablet_type} denied tables: [{}]", denied_tables.join(", "))
            }
            TopoEvent::VSchemaApplied { keyspace, vschema } => write!(
                f,
                "vschema of {keyspace} applied ({}, {} tables, {} vindexes)",
                if vschema.sharded { "sharded" } else { "unsharded" },
                vschema.tables.len(),
                vschema.vindexes.len()
            ),
            TopoEvent::ServingPartitionsChanged { keyspace, tablet_type, shards } => {
                write!(f, "{keyspace} {tablet_type} serving shards: [{}]", shards.join(", "))
            }
            TopoEvent::WorkflowCreated { workflow: w } => write!(
                f,
                "workflow {} created: {:?} {}/{} -> {}/{} tables [{}]",
                w.id(),
                w.kind,
                w.source_keyspace,
                w.source_shards.join(","),
                w.target_keyspace,
                w.target_shards.join(","),
                w.table_names().join(", ")
            ),
            TopoEvent::WorkflowUpdated { workflow: w } => write!(
                f,
                "workflow {} is {:?} (reads switched: [{}], writes switched: {}){}",
                w.id(),
                w.state,
                w.reads_switched.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","),
                w.writes_switched,
                if w.message.is_empty() { String::new() } else { format!(": {}", w.message) }
            ),
            TopoEvent::WorkflowDeleted { keyspace, workflow } => write!(f, "workflow {keyspace}.{workflow} deleted"),
            TopoEvent::RoutingRulesChanged { rules } => write!(f, "{} routing rules", rules.len()),
            TopoEvent::KeyspaceRoutingRulesChanged { rules } => write!(f, "{} keyspace routing rules", rules.len()),
            TopoEvent::KeyspaceDurabilityChanged { keyspace, durability_policy } => {
                write!(f, "keyspace {keyspace} durability policy is {durability_policy}")
            }
            TopoEvent::ShardReparentLocked { keyspace, shard, lock: Some(l) } => {
                write!(f, "shard {keyspace}/{shard} locked by {} {} ({})", l.command, l.id, l.by)
            }
            TopoEvent::ShardReparentLocked { keyspace, shard, lock: None } => {
                write!(f, "shard {keyspace}/{shard} reparent lock released")
            }
            TopoEvent::FailoverSwitched { keyspace, shard, enabled } => write!(
                f,
                "automatic failover {} for {keyspace}{}",
                if *enabled { "on" } else { "off" },
                shard.as_ref().map(|s| format!("/{s}")).unwrap_or_default()
            ),
            TopoEvent::VDiffRecorded { report } => write!(
                f,
                "vdiff {} of {}.{} {}{}",
                report.id,
                report.keyspace,
                report.workflow,
                report.state,
                if report.state == "completed" {
                    if report.has_differences() {
                        " with differences"
                    } else {
                        ": no differences"
                    }
                } else {
                    ""
                }
            ),
        }
    }
}

/// The events one command appended to one aggregate subject, applied atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopoCommit {
    /// The admin command that produced it (for history).
    pub command: String,
    pub events: Vec<TopoEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::envelope::Envelope;

    #[test]
    fn tablet_types_parse() {
        assert_eq!("REPLICA".parse::<TabletType>().unwrap(), TabletType::Replica);
        assert_eq!("master".parse::<TabletType>().unwrap(), TabletType::Primary);
        assert!("leader".parse::<TabletType>().is_err());
    }

    #[test]
    fn every_event_round_trips_and_is_named() {
        let tablet = TabletRecord {
            alias: "zone1-0000000100".into(),
            cell: "zone1".into(),
            keyspace: "ks".into(),
            shard: "0".into(),
            tablet_type: TabletType::Replica,
            node_id: "n1".into(),
            hostname: "h".into(),
            mysql_host: "127.0.0.1".into(),
            mysql_port: 3306,
            managed: false,
        };
        let events = vec![
            TopoEvent::CellAdded { cell: CellInfo { name: "zone1".into(), ..Default::default() } },
            TopoEvent::CellDeleted { cell: "zone1".into() },
            TopoEvent::KeyspaceCreated { keyspace: "ks".into(), durability_policy: "none".into() },
            TopoEvent::KeyspaceDeleted { keyspace: "ks".into() },
            TopoEvent::ShardCreated { keyspace: "ks".into(), shard: "-80".into(), is_primary_serving: true },
            TopoEvent::ShardDeleted { keyspace: "ks".into(), shard: "-80".into() },
            TopoEvent::TabletRegistered { tablet },
            TopoEvent::TabletTypeChanged { alias: "a".into(), tablet_type: TabletType::Rdonly },
            TopoEvent::TabletUnregistered { alias: "a".into() },
            TopoEvent::ShardPrimaryChanged {
                keyspace: "ks".into(),
                shard: "0".into(),
                primary: Some("a".into()),
                term: 3,
            },
            TopoEvent::ShardServingChanged { keyspace: "ks".into(), shard: "0".into(), is_primary_serving: false },
            TopoEvent::ShardTabletControlChanged {
                keyspace: "ks".into(),
                shard: "0".into(),
                tablet_type: TabletType::Replica,
                denied_tables: vec!["t".into()],
            },
            TopoEvent::VSchemaApplied { keyspace: "ks".into(), vschema: KeyspaceVSchema::default() },
            TopoEvent::ServingPartitionsChanged {
                keyspace: "ks".into(),
                tablet_type: TabletType::Primary,
                shards: vec!["0".into()],
            },
            TopoEvent::WorkflowCreated { workflow: crate::protocol::workflow::tests::record() },
            TopoEvent::WorkflowUpdated { workflow: crate::protocol::workflow::tests::record() },
            TopoEvent::WorkflowDeleted { keyspace: "ks".into(), workflow: "w".into() },
            TopoEvent::RoutingRulesChanged {
                rules: vec![RoutingRule {
                    from: "t".into(),
                    tablet_type: TabletType::Primary,
                    to_keyspace: "ks".into(),
                }],
            },
            TopoEvent::VDiffRecorded { report: Default::default() },
            TopoEvent::KeyspaceRoutingRulesChanged {
                rules: vec![KeyspaceRoutingRule {
                    from_keyspace: "old".into(),
                    tablet_type: TabletType::Primary,
                    to_keyspace: "ks".into(),
                }],
            },
            TopoEvent::KeyspaceDurabilityChanged { keyspace: "ks".into(), durability_policy: "semi_sync".into() },
            TopoEvent::ShardReparentLocked {
                keyspace: "ks".into(),
                shard: "0".into(),
                lock: Some(ReparentLock { id: "r1".into(), command: "PRS".into(), by: "n1".into(), until_ms: 5 }),
            },
            TopoEvent::FailoverSwitched { keyspace: "ks".into(), shard: None, enabled: false },
        ];
        assert_eq!(events.len(), TopoEvent::NAMES.len());
        for (ev, name) in events.iter().zip(TopoEvent::NAMES) {
            assert_eq!(ev.name(), *name);
            assert!(!ev.to_string().is_empty());
        }
        let commit = TopoCommit { command: "Test".into(), events };
        let bytes = Envelope::new("t", commit.clone()).encode().unwrap();
        let back: Envelope<TopoCommit> = Envelope::decode(&bytes).unwrap();
        assert_eq!(back.body, commit);
    }
}
