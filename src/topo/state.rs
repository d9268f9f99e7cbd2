//! The topology as a pure fold of its events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::topology::{CellInfo, TabletRecord, TabletType, TopoCommit, TopoEvent};
use crate::protocol::workflow::{KeyspaceRoutingRule, RoutingRule, VDiffReport, Workflows};
use crate::vindex::keyrange::{shard_order, KeyRange};
use crate::vschema::KeyspaceVSchema;

/// The cluster's shape after applying every event up to `seq`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Topology {
    /// The stream sequence of the last commit folded in (0: empty).
    pub seq: u64,
    pub cells: BTreeMap<String, CellInfo>,
    pub keyspaces: BTreeMap<String, Keyspace>,
    pub tablets: BTreeMap<String, TabletRecord>,
    /// Where tables are served while workflows move them (Vitess's routing rules).
    #[serde(default)]
    pub routing_rules: Vec<RoutingRule>,
    /// Where a keyspace's tables are served instead (Vitess's keyspace routing rules).
    #[serde(default)]
    pub keyspace_routing_rules: Vec<KeyspaceRoutingRule>,
}

/// A keyspace: settings, shards, VSchema and serving partitions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Keyspace {
    pub name: String,
    pub durability_policy: String,
    pub shards: BTreeMap<String, Shard>,
    pub vschema: Option<KeyspaceVSchema>,
    /// Serving shards per tablet type (Vitess's SrvKeyspace partitions).
    pub serving: BTreeMap<TabletType, Vec<String>>,
    /// Workflows whose target is this keyspace.
    #[serde(default)]
    pub workflows: Workflows,
    /// Recent VDiff reports of those workflows.
    #[serde(default)]
    pub vdiffs: Vec<VDiffReport>,
    /// Automatic failover switched off for every shard of the keyspace.
    #[serde(default)]
    pub failover_disabled: bool,
}

/// A shard record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub name: String,
    pub key_range: KeyRange,
    pub primary: Option<String>,
    /// Increases with every primary change; 0 before the first.
    pub primary_term: u64,
    pub is_primary_serving: bool,
    /// Tables denied per tablet type (used while moving tables).
    pub denied_tables: BTreeMap<TabletType, Vec<String>>,
    /// The reparent running on the shard, if any.
    #[serde(default)]
    pub reparent: Option<crate::protocol::topology::ReparentLock>,
    /// Automatic failover switched off for this shard.
    #[serde(default)]
    pub failover_disabled: bool,
}

impl Keyspace {
    /// Shard names ordered by key range.
    pub fn shard_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shards.keys().cloned().collect();
        names.sort_by(|a, b| shard_order(a, b));
        names
    }

    /// True when the keyspace has more than one shard or a VSchema saying it is sharded.
    pub fn is_sharded(&self) -> bool {
        self.vschema.as_ref().is_some_and(|v| v.sharded) || self.shards.values().any(|s| !s.key_range.is_full())
    }
}

impl Topology {
    /// Tablets of one shard.
    pub fn shard_tablets<'a>(&'a self, keyspace: &str, shard: &str) -> impl Iterator<Item = &'a TabletRecord> + 'a {
        let (keyspace, shard) = (keyspace.to_string(), shard.to_string());
        self.tablets.values().filter(move |t| t.keyspace == keyspace && t.shard == shard)
    }

    pub fn shard(&self, keyspace: &str, shard: &str) -> Option<&Shard> {
        self.keyspaces.get(keyspace)?.shards.get(shard)
    }
}

/// Applies one commit, found at stream sequence `seq`.
pub fn project_commit(state: &mut Topology, seq: u64, commit: &TopoCommit) {
    for event in &commit.events {
        project(state, event);
    }
    state.seq = seq;
}

/// Applies one event. Total: an event about something that no longer exists changes nothing,
/// because events on different aggregates may interleave (a tablet registered while its shard
/// is deleted).
pub fn project(state: &mut Topology, event: &TopoEvent) {
    match event {
        TopoEvent::CellAdded { cell } => {
            state.cells.insert(cell.name.clone(), cell.clone());
        }
        TopoEvent::CellDeleted { cell } => {
            state.cells.remove(cell);
        }
        TopoEvent::KeyspaceCreated { keyspace, durability_policy } => {
            state.keyspaces.entry(keyspace.clone()).or_insert_with(|| Keyspace {
                name: keyspace.clone(),
                durability_policy: durability_policy.clone(),
                ..Default::default()
            });
        }
        TopoEvent::KeyspaceDeleted { keyspace } => {
            state.keyspaces.remove(keyspace);
            state.tablets.retain(|_, t| &t.keyspace != keyspace);
        }
        TopoEvent::ShardCreated { keyspace, shard, is_primary_serving } => {
            let Some(ks) = state.keyspaces.get_mut(keyspace) else { return };
            let Ok(key_range) = KeyRange::parse_shard_name(shard) else { return };
            ks.shards.entry(shard.clone()).or_insert_with(|| Shard {
                name: shard.clone(),
                key_range,
                primary: None,
                primary_term: 0,
                is_primary_serving: *is_primary_serving,
                denied_tables: BTreeMap::new(),
                reparent: None,
                failover_disabled: ks.failover_disabled,
            });
        }
        TopoEvent::ShardDeleted { keyspace, shard } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                ks.shards.remove(shard);
                for shards in ks.serving.values_mut() {
                    shards.retain(|s| s != shard);
                }
            }
            state.tablets.retain(|_, t| !(&t.keyspace == keyspace && &t.shard == shard));
        }
        TopoEvent::TabletRegistered { tablet } => {
            state.tablets.insert(tablet.alias.clone(), tablet.clone());
        }
        TopoEvent::TabletTypeChanged { alias, tablet_type } => {
            if let Some(t) = state.tablets.get_mut(alias) {
                t.tablet_type = *tablet_type;
            }
        }
        TopoEvent::TabletUnregistered { alias } => {
            state.tablets.remove(alias);
        }
        TopoEvent::ShardPrimaryChanged { keyspace, shard, primary, term } => {
            if let Some(s) = shard_mut(state, keyspace, shard) {
                s.primary = primary.clone();
                s.primary_term = *term;
                s.reparent = None;
            }
        }
        TopoEvent::KeyspaceDurabilityChanged { keyspace, durability_policy } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                ks.durability_policy = durability_policy.clone();
            }
        }
        TopoEvent::ShardReparentLocked { keyspace, shard, lock } => {
            if let Some(s) = shard_mut(state, keyspace, shard) {
                s.reparent = lock.clone();
            }
        }
        TopoEvent::FailoverSwitched { keyspace, shard: None, enabled } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                ks.failover_disabled = !enabled;
                for s in ks.shards.values_mut() {
                    s.failover_disabled = !enabled;
                }
            }
        }
        TopoEvent::FailoverSwitched { keyspace, shard: Some(shard), enabled } => {
            if let Some(s) = shard_mut(state, keyspace, shard) {
                s.failover_disabled = !enabled;
            }
        }
        TopoEvent::ShardServingChanged { keyspace, shard, is_primary_serving } => {
            if let Some(s) = shard_mut(state, keyspace, shard) {
                s.is_primary_serving = *is_primary_serving;
            }
        }
        TopoEvent::ShardTabletControlChanged { keyspace, shard, tablet_type, denied_tables } => {
            if let Some(s) = shard_mut(state, keyspace, shard) {
                if denied_tables.is_empty() {
                    s.denied_tables.remove(tablet_type);
                } else {
                    s.denied_tables.insert(*tablet_type, denied_tables.clone());
                }
            }
        }
        TopoEvent::VSchemaApplied { keyspace, vschema } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                ks.vschema = Some(vschema.clone());
            }
        }
        TopoEvent::ServingPartitionsChanged { keyspace, tablet_type, shards } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                let mut shards = shards.clone();
                shards.sort_by(|a, b| shard_order(a, b));
                ks.serving.insert(*tablet_type, shards);
            }
        }
        TopoEvent::WorkflowCreated { workflow } | TopoEvent::WorkflowUpdated { workflow } => {
            if let Some(ks) = state.keyspaces.get_mut(&workflow.target_keyspace) {
                ks.workflows.insert(workflow.name.clone(), workflow.clone());
            }
        }
        TopoEvent::WorkflowDeleted { keyspace, workflow } => {
            if let Some(ks) = state.keyspaces.get_mut(keyspace) {
                ks.workflows.remove(workflow);
                ks.vdiffs.retain(|r| &r.workflow != workflow);
            }
        }
        TopoEvent::RoutingRulesChanged { rules } => state.routing_rules = rules.clone(),
        TopoEvent::KeyspaceRoutingRulesChanged { rules } => state.keyspace_routing_rules = rules.clone(),
        TopoEvent::VDiffRecorded { report } => {
            if let Some(ks) = state.keyspaces.get_mut(&report.keyspace) {
                ks.vdiffs.retain(|r| r.id != report.id);
                ks.vdiffs.push(report.clone());
                // Keep the last few per keyspace.
                let excess = ks.vdiffs.len().saturating_sub(MAX_VDIFFS);
                ks.vdiffs.drain(..excess);
            }
        }
    }
}

/// VDiff reports kept per keyspace.
const MAX_VDIFFS: usize = 20;

fn shard_mut<'a>(state: &'a mut Topology, keyspace: &str, shard: &str) -> Option<&'a mut Shard> {
    state.keyspaces.get_mut(keyspace)?.shards.get_mut(shard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(events: Vec<TopoEvent>) -> Topology {
        let mut t = Topology::default();
        for (i, e) in events.into_iter().enumerate() {
            project_commit(&mut t, i as u64 + 1, &TopoCommit { command: "t".into(), events: vec![e] });
        }
        t
    }

    fn ks(name: &str) -> TopoEvent {
        TopoEvent::KeyspaceCreated { keyspace: name.into(), durability_policy: "none".into() }
    }

    fn shard(ks: &str, name: &str) -> TopoEvent {
        TopoEvent::ShardCreated { keyspace: ks.into(), shard: name.into(), is_primary_serving: true }
    }

    fn tablet(alias: &str, ks: &str, shard: &str) -> TopoEvent {
        TopoEvent::TabletRegistered {
            tablet: TabletRecord {
                alias: alias.into(),
                cell: "zone1".into(),
                keyspace: ks.into(),
                shard: shard.into(),
                tablet_type: TabletType::Replica,
                node_id: "n".into(),
                hostname: "h".into(),
                mysql_host: "127.0.0.1".into(),
                mysql_port: 1,
                managed: false,
            },
        }
    }

    #[test]
    fn keyspaces_shards_and_tablets() {
        let t = fold(vec![
            ks("customer"),
            shard("customer", "80-"),
            shard("customer", "-80"),
            tablet("zone1-0000000100", "customer", "-80"),
            TopoEvent::TabletTypeChanged { alias: "zone1-0000000100".into(), tablet_type: TabletType::Rdonly },
            TopoEvent::ShardPrimaryChanged {
                keyspace: "customer".into(),
                shard: "-80".into(),
                primary: Some("zone1-0000000100".into()),
                term: 1,
            },
        ]);
        assert_eq!(t.seq, 6);
        let customer = &t.keyspaces["customer"];
        assert_eq!(customer.shard_names(), vec!["-80", "80-"]);
        assert!(customer.is_sharded());
        assert_eq!(t.tablets["zone1-0000000100"].tablet_type, TabletType::Rdonly);
        assert_eq!(customer.shards["-80"].primary.as_deref(), Some("zone1-0000000100"));
        assert_eq!(customer.shards["-80"].primary_term, 1);
    }

    #[test]
    fn deletes_cascade() {
        let t = fold(vec![
            ks("a"),
            shard("a", "0"),
            tablet("zone1-0000000001", "a", "0"),
            ks("b"),
            shard("b", "0"),
            tablet("zone1-0000000002", "b", "0"),
            TopoEvent::ServingPartitionsChanged {
                keyspace: "b".into(),
                tablet_type: TabletType::Primary,
                shards: vec!["0".into()],
            },
            TopoEvent::KeyspaceDeleted { keyspace: "a".into() },
            TopoEvent::ShardDeleted { keyspace: "b".into(), shard: "0".into() },
        ]);
        assert!(!t.keyspaces.contains_key("a"));
        assert!(t.keyspaces["b"].shards.is_empty());
        assert_eq!(t.keyspaces["b"].serving[&TabletType::Primary], Vec::<String>::new());
        assert!(t.tablets.is_empty());
    }

    #[test]
    fn events_on_missing_aggregates_change_nothing() {
        let before = fold(vec![ks("a")]);
        let mut after = before.clone();
        for e in [
            shard("zzz", "0"),
            TopoEvent::ShardServingChanged { keyspace: "a".into(), shard: "-80".into(), is_primary_serving: false },
            TopoEvent::TabletTypeChanged { alias: "nope".into(), tablet_type: TabletType::Spare },
            TopoEvent::VSchemaApplied { keyspace: "zzz".into(), vschema: Default::default() },
            shard("a", "not-a-shard"),
        ] {
            project(&mut after, &e);
        }
        assert_eq!(before, after);
    }

    #[test]
    fn replay_is_deterministic_and_history_is_a_prefix() {
        let events =
            vec![ks("a"), shard("a", "-80"), shard("a", "80-"), TopoEvent::KeyspaceDeleted { keyspace: "a".into() }];
        assert_eq!(fold(events.clone()), fold(events.clone()));
        let at2 = fold(events[..2].to_vec());
        assert_eq!(at2.keyspaces["a"].shard_names(), vec!["-80"]);
        assert!(fold(events).keyspaces.is_empty());
    }

    #[test]
    fn tablet_controls_and_serving() {
        let t = fold(vec![
            ks("a"),
            shard("a", "0"),
            TopoEvent::ShardTabletControlChanged {
                keyspace: "a".into(),
                shard: "0".into(),
                tablet_type: TabletType::Replica,
                denied_tables: vec!["x".into(), "y".into()],
            },
            TopoEvent::ServingPartitionsChanged {
                keyspace: "a".into(),
                tablet_type: TabletType::Replica,
                shards: vec!["80-".into(), "-80".into()],
            },
        ]);
        let a = &t.keyspaces["a"];
        assert_eq!(a.shards["0"].denied_tables[&TabletType::Replica], vec!["x", "y"]);
        assert_eq!(a.serving[&TabletType::Replica], vec!["-80", "80-"]);
    }
}
