//! Admin writes, validated against the folded topology and turned into events. Pure.
//!
//! Each write names the one aggregate subject it appends to; validation may only rely on
//! that aggregate being current (the writer guarantees it), so checks that must not race
//! (shard overlap, "keyspace has shards") live on the keyspace aggregate.

use std::collections::BTreeSet;

use crate::protocol::admin::{AdminRequest, ShardRef};
use crate::protocol::names;
use crate::protocol::subjects;
use crate::protocol::topology::{CellInfo, TabletType, TopoEvent};
use crate::topo::state::{Keyspace, Topology};
use crate::topo::TopoError;
use crate::vindex::keyrange::{shard_order, KeyRange};
use crate::vschema::{parse_and_validate, SequenceResolver};

/// Durability policies a keyspace may have (Vitess's names).
pub const DURABILITY_POLICIES: &[&str] = &["none", "semi_sync", "cross_cell"];

/// The aggregate subject a write appends to, or `None` for reads and multi-aggregate writes.
pub fn aggregate_subject(req: &AdminRequest) -> Option<String> {
    match req {
        AdminRequest::AddCellInfo { .. } => Some(subjects::topo_cells()),
        AdminRequest::CreateKeyspace { name, .. } => Some(subjects::topo_keyspace(name)),
        AdminRequest::DeleteKeyspace { keyspace, .. }
        | AdminRequest::CreateShard { keyspace, .. }
        | AdminRequest::SetShardIsPrimaryServing { keyspace, .. }
        | AdminRequest::ApplyVSchema { keyspace, .. }
        | AdminRequest::SetKeyspaceDurabilityPolicy { keyspace, .. }
        | AdminRequest::SetFailover { keyspace, .. } => Some(subjects::topo_keyspace(keyspace)),
        AdminRequest::DeleteShards { shards, .. } => {
            let first = shards.first()?;
            shards.iter().all(|s| s.keyspace == first.keyspace).then(|| subjects::topo_keyspace(&first.keyspace))
        }
        AdminRequest::SetShardTabletControl { keyspace, shard, .. } => Some(subjects::topo_shard(keyspace, shard)),
        AdminRequest::ApplyRoutingRules { .. } | AdminRequest::ApplyKeyspaceRoutingRules { .. } => {
            Some(subjects::topo_routing())
        }
        _ => None,
    }
}

/// Validates a write against `topo` and returns the events it appends (empty: nothing to do).
pub fn plan(req: &AdminRequest, topo: &Topology) -> Result<Vec<TopoEvent>, TopoError> {
    match req {
        AdminRequest::AddCellInfo { name, server_address, root } => {
            names::validate("cell", name).map_err(TopoError::Invalid)?;
            if topo.cells.contains_key(name) {
                return Err(TopoError::AlreadyExists(format!("cell `{name}` already exists")));
            }
            Ok(vec![TopoEvent::CellAdded {
                cell: CellInfo { name: name.clone(), server_address: server_address.clone(), root: root.clone() },
            }])
        }
        AdminRequest::CreateKeyspace { name, durability_policy } => {
            names::validate("keyspace", name).map_err(TopoError::Invalid)?;
            names::validate_keyspace_database(name).map_err(TopoError::Invalid)?;
            let policy = if durability_policy.is_empty() { "none" } else { durability_policy.as_str() };
            if !DURABILITY_POLICIES.contains(&policy) {
                return Err(TopoError::Invalid(format!(
                    "durability policy `{policy}` is not one of {}",
                    DURABILITY_POLICIES.join(", ")
                )));
            }
            if topo.keyspaces.contains_key(name) {
                return Err(TopoError::AlreadyExists(format!("keyspace `{name}` already exists")));
            }
            Ok(vec![TopoEvent::KeyspaceCreated { keyspace: name.clone(), durability_policy: policy.into() }])
        }
        AdminRequest::SetKeyspaceDurabilityPolicy { keyspace, durability_policy } => {
            let ks = keyspace_of(topo, keyspace)?;
            if !DURABILITY_POLICIES.contains(&durability_policy.as_str()) {
                return Err(TopoError::Invalid(format!(
                    "durability policy `{durability_policy}` is not one of {}",
                    DURABILITY_POLICIES.join(", ")
                )));
            }
            if &ks.durability_policy == durability_policy {
                return Ok(Vec::new());
            }
            Ok(vec![TopoEvent::KeyspaceDurabilityChanged {
                keyspace: keyspace.clone(),
                durability_policy: durability_policy.clone(),
            }])
        }
        AdminRequest::SetFailover { keyspace, shard, enabled } => {
            let ks = keyspace_of(topo, keyspace)?;
            if let Some(name) = shard {
                if !ks.shards.contains_key(name) {
                    return Err(TopoError::NotFound(format!("shard `{keyspace}/{name}` does not exist")));
                }
            }
            Ok(vec![TopoEvent::FailoverSwitched {
                keyspace: keyspace.clone(),
                shard: shard.clone(),
                enabled: *enabled,
            }])
        }
        AdminRequest::DeleteKeyspace { keyspace, recursive } => {
            let ks = keyspace_of(topo, keyspace)?;
            if !ks.shards.is_empty() && !recursive {
                return Err(TopoError::FailedPrecondition(format!(
                    "keyspace `{keyspace}` has shards {}; delete them first or pass --recursive",
                    ks.shard_names().join(", ")
                )));
            }
            Ok(vec![TopoEvent::KeyspaceDeleted { keyspace: keyspace.clone() }])
        }
        AdminRequest::CreateShard { keyspace, shard, force, allow_overlap } => {
            let ks = keyspace_of(topo, keyspace)?;
            let range = KeyRange::parse_shard_name(shard).map_err(|e| TopoError::Invalid(e.to_string()))?;
            if ks.shards.contains_key(shard) {
                if *force {
                    return Ok(Vec::new());
                }
                return Err(TopoError::AlreadyExists(format!("shard `{keyspace}/{shard}` already exists")));
            }
            let mut overlapping: Vec<&str> =
                ks.shards.values().filter(|s| s.key_range.intersects(&range)).map(|s| s.name.as_str()).collect();
            overlapping.sort_by(|a, b| shard_order(a, b));
            if !overlapping.is_empty() && !allow_overlap {
                return Err(TopoError::FailedPrecondition(format!(
                    "shard `{keyspace}/{shard}` overlaps existing shard(s) {} of keyspace `{keyspace}`; \
                     shard ranges must not overlap (to create resharding targets pass --allow-overlap: they start not serving)",
                    overlapping.join(", ")
                )));
            }
            let serving = overlapping.is_empty();
            let mut events = vec![TopoEvent::ShardCreated {
                keyspace: keyspace.clone(),
                shard: shard.clone(),
                is_primary_serving: serving,
            }];
            if serving {
                for tt in TabletType::SERVING {
                    let mut shards = ks.serving.get(&tt).cloned().unwrap_or_default();
                    shards.push(shard.clone());
                    shards.sort_by(|a, b| shard_order(a, b));
                    events.push(TopoEvent::ServingPartitionsChanged {
                        keyspace: keyspace.clone(),
                        tablet_type: tt,
                        shards,
                    });
                }
            }
            Ok(events)
        }
        AdminRequest::DeleteShards { shards, recursive, even_if_serving } => {
            plan_delete_shards(topo, shards, *recursive, *even_if_serving)
        }
        AdminRequest::SetShardIsPrimaryServing { keyspace, shard, serving } => {
            let ks = keyspace_of(topo, keyspace)?;
            let s = ks.shards.get(shard).ok_or_else(|| shard_not_found(keyspace, shard))?;
            if s.is_primary_serving == *serving {
                return Ok(Vec::new());
            }
            let mut shards: Vec<String> = ks
                .serving
                .get(&TabletType::Primary)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n != shard)
                .collect();
            if *serving {
                shards.push(shard.clone());
                shards.sort_by(|a, b| shard_order(a, b));
            }
            Ok(vec![
                TopoEvent::ShardServingChanged {
                    keyspace: keyspace.clone(),
                    shard: shard.clone(),
                    is_primary_serving: *serving,
                },
                TopoEvent::ServingPartitionsChanged {
                    keyspace: keyspace.clone(),
                    tablet_type: TabletType::Primary,
                    shards,
                },
            ])
        }
        AdminRequest::SetShardTabletControl { keyspace, shard, tablet_type, denied_tables, remove } => {
            let ks = keyspace_of(topo, keyspace)?;
            let s = ks.shards.get(shard).ok_or_else(|| shard_not_found(keyspace, shard))?;
            if denied_tables.is_empty() {
                return Err(TopoError::Invalid("give at least one table with --denied-tables".into()));
            }
            let current: BTreeSet<String> =
                s.denied_tables.get(tablet_type).cloned().unwrap_or_default().into_iter().collect();
            let mut next = current.clone();
            for t in denied_tables {
                if *remove {
                    next.remove(t);
                } else {
                    next.insert(t.clone());
                }
            }
            if next == current {
                return Ok(Vec::new());
            }
            Ok(vec![TopoEvent::ShardTabletControlChanged {
                keyspace: keyspace.clone(),
                shard: shard.clone(),
                tablet_type: *tablet_type,
                denied_tables: next.into_iter().collect(),
            }])
        }
        AdminRequest::ApplyVSchema { keyspace, vschema, .. } => {
            keyspace_of(topo, keyspace)?;
            let vs = parse_and_validate(vschema, &Resolver { topo, applying: keyspace })
                .map_err(|e| TopoError::Invalid(format!("VSchema for keyspace `{keyspace}`: {e}")))?;
            if topo.keyspaces.get(keyspace).and_then(|k| k.vschema.as_ref()) == Some(&vs) {
                return Ok(Vec::new());
            }
            Ok(vec![TopoEvent::VSchemaApplied { keyspace: keyspace.clone(), vschema: vs }])
        }
        AdminRequest::ApplyRoutingRules { rules } => {
            let rules = crate::topo::routing_rules::parse_table_rules(rules, topo)?;
            if rules == topo.routing_rules {
                return Ok(Vec::new());
            }
            Ok(vec![TopoEvent::RoutingRulesChanged { rules }])
        }
        AdminRequest::ApplyKeyspaceRoutingRules { rules } => {
            let rules = crate::topo::routing_rules::parse_keyspace_rules(rules, topo)?;
            if rules == topo.keyspace_routing_rules {
                return Ok(Vec::new());
            }
            Ok(vec![TopoEvent::KeyspaceRoutingRulesChanged { rules }])
        }
        other => Err(TopoError::Invalid(format!("{} is not a topology write", other.name()))),
    }
}

fn plan_delete_shards(
    topo: &Topology,
    shards: &[ShardRef],
    recursive: bool,
    even_if_serving: bool,
) -> Result<Vec<TopoEvent>, TopoError> {
    let Some(first) = shards.first() else {
        return Err(TopoError::Invalid("name at least one shard to delete".into()));
    };
    let ks = keyspace_of(topo, &first.keyspace)?;
    let mut events = Vec::new();
    let mut removed = BTreeSet::new();
    for r in shards {
        if r.keyspace != first.keyspace {
            return Err(TopoError::Invalid("DeleteShards takes shards of one keyspace per call".into()));
        }
        let shard = ks.shards.get(&r.shard).ok_or_else(|| shard_not_found(&r.keyspace, &r.shard))?;
        let tablets: Vec<&str> = topo.shard_tablets(&r.keyspace, &r.shard).map(|t| t.alias.as_str()).collect();
        if !tablets.is_empty() && !recursive {
            return Err(TopoError::FailedPrecondition(format!(
                "shard `{r}` has tablets {}; pass --recursive to delete their records too",
                tablets.join(", ")
            )));
        }
        let serving = shard.is_primary_serving || ks.serving.values().any(|v| v.contains(&r.shard));
        if serving && !even_if_serving {
            return Err(TopoError::FailedPrecondition(format!(
                "shard `{r}` is serving; pass --even-if-serving to delete it anyway"
            )));
        }
        if removed.insert(r.shard.clone()) {
            events.push(TopoEvent::ShardDeleted { keyspace: r.keyspace.clone(), shard: r.shard.clone() });
        }
    }
    for (tt, list) in &ks.serving {
        if list.iter().any(|s| removed.contains(s)) {
            events.push(TopoEvent::ServingPartitionsChanged {
                keyspace: first.keyspace.clone(),
                tablet_type: *tt,
                shards: list.iter().filter(|s| !removed.contains(*s)).cloned().collect(),
            });
        }
    }
    Ok(events)
}

fn keyspace_of<'a>(topo: &'a Topology, keyspace: &str) -> Result<&'a Keyspace, TopoError> {
    topo.keyspaces.get(keyspace).ok_or_else(|| {
        TopoError::NotFound(format!("keyspace `{keyspace}` does not exist; create it with CreateKeyspace"))
    })
}

fn shard_not_found(keyspace: &str, shard: &str) -> TopoError {
    TopoError::NotFound(format!(
        "shard `{keyspace}/{shard}` does not exist (FindAllShardsInKeyspace {keyspace} lists its shards)"
    ))
}

/// Resolves sequences against the VSchemas of the other keyspaces.
struct Resolver<'a> {
    topo: &'a Topology,
    applying: &'a str,
}

impl SequenceResolver for Resolver<'_> {
    fn find_sequence(&self, keyspace: Option<&str>, table: &str) -> Option<String> {
        self.topo
            .keyspaces
            .values()
            .filter(|ks| ks.name != self.applying && keyspace.is_none_or(|k| k == ks.name))
            .find(|ks| {
                ks.vschema.as_ref().and_then(|v| v.tables.get(table)).is_some_and(|t| t.table_type == "sequence")
            })
            .map(|ks| ks.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topology::TopoCommit;
    use crate::topo::state::project_commit;

    /// Plans and applies a request, like the writer does.
    fn apply(topo: &mut Topology, req: AdminRequest) -> Result<Vec<TopoEvent>, TopoError> {
        let events = plan(&req, topo)?;
        let seq = topo.seq + 1;
        project_commit(topo, seq, &TopoCommit { command: req.name().into(), events: events.clone() });
        Ok(events)
    }

    fn create_ks(topo: &mut Topology, name: &str) {
        apply(topo, AdminRequest::CreateKeyspace { name: name.into(), durability_policy: String::new() }).unwrap();
    }

    fn create_shard(topo: &mut Topology, ks: &str, shard: &str) -> Result<Vec<TopoEvent>, TopoError> {
        apply(
            topo,
            AdminRequest::CreateShard { keyspace: ks.into(), shard: shard.into(), force: false, allow_overlap: false },
        )
    }

    #[test]
    fn durability_and_failover_switches() {
        let mut t = Topology::default();
        create_ks(&mut t, "ks");
        create_shard(&mut t, "ks", "-80").unwrap();
        create_shard(&mut t, "ks", "80-").unwrap();
        let set =
            |p: &str| AdminRequest::SetKeyspaceDurabilityPolicy { keyspace: "ks".into(), durability_policy: p.into() };
        apply(&mut t, set("cross_cell")).unwrap();
        assert_eq!(t.keyspaces["ks"].durability_policy, "cross_cell");
        assert!(apply(&mut t, set("cross_cell")).unwrap().is_empty(), "already in effect");
        assert!(matches!(apply(&mut t, set("paxos")), Err(TopoError::Invalid(_))));
        let switch = |shard: Option<&str>, enabled| AdminRequest::SetFailover {
            keyspace: "ks".into(),
            shard: shard.map(String::from),
            enabled,
        };
        apply(&mut t, switch(None, false)).unwrap();
        assert!(t.keyspaces["ks"].shards.values().all(|s| s.failover_disabled));
        apply(&mut t, switch(Some("80-"), true)).unwrap();
        assert!(
            t.keyspaces["ks"].shards["-80"].failover_disabled && !t.keyspaces["ks"].shards["80-"].failover_disabled
        );
        // A shard created later follows its keyspace's switch.
        create_ks(&mut t, "other");
        apply(&mut t, AdminRequest::SetFailover { keyspace: "other".into(), shard: None, enabled: false }).unwrap();
        create_shard(&mut t, "other", "0").unwrap();
        assert!(t.keyspaces["other"].shards["0"].failover_disabled);
        assert!(matches!(apply(&mut t, switch(Some("40-"), true)), Err(TopoError::NotFound(_))));
    }

    #[test]
    fn keyspace_lifecycle() {
        let mut t = Topology::default();
        create_ks(&mut t, "customer");
        assert_eq!(t.keyspaces["customer"].durability_policy, "none");
        let dup =
            apply(&mut t, AdminRequest::CreateKeyspace { name: "customer".into(), durability_policy: String::new() });
        assert!(matches!(dup, Err(TopoError::AlreadyExists(_))));
        let bad = apply(&mut t, AdminRequest::CreateKeyspace { name: "a.b".into(), durability_policy: String::new() });
        assert!(matches!(bad, Err(TopoError::Invalid(_))));
        let policy =
            apply(&mut t, AdminRequest::CreateKeyspace { name: "x".into(), durability_policy: "paxos".into() });
        assert!(matches!(policy, Err(TopoError::Invalid(_))));
        create_shard(&mut t, "customer", "-80").unwrap();
        let refused = apply(&mut t, AdminRequest::DeleteKeyspace { keyspace: "customer".into(), recursive: false });
        assert!(matches!(refused, Err(TopoError::FailedPrecondition(ref m)) if m.contains("-80")));
        apply(&mut t, AdminRequest::DeleteKeyspace { keyspace: "customer".into(), recursive: true }).unwrap();
        assert!(t.keyspaces.is_empty());
        let missing = apply(&mut t, AdminRequest::DeleteKeyspace { keyspace: "customer".into(), recursive: true });
        assert!(matches!(missing, Err(TopoError::NotFound(_))));
    }

    #[test]
    fn shards_may_not_overlap_and_become_serving() {
        let mut t = Topology::default();
        let no_ks = create_shard(&mut t, "customer", "-80");
        assert!(matches!(no_ks, Err(TopoError::NotFound(_))));
        create_ks(&mut t, "customer");
        create_shard(&mut t, "customer", "-80").unwrap();
        create_shard(&mut t, "customer", "80-").unwrap();
        let over = create_shard(&mut t, "customer", "40-c0").unwrap_err();
        assert!(over.to_string().contains("overlaps existing shard(s) -80, 80-"), "{over}");
        assert!(matches!(create_shard(&mut t, "customer", "0"), Err(TopoError::FailedPrecondition(_))));
        assert!(matches!(create_shard(&mut t, "customer", "-80"), Err(TopoError::AlreadyExists(_))));
        assert!(matches!(create_shard(&mut t, "customer", "x-80"), Err(TopoError::Invalid(_))));
        let forced = apply(
            &mut t,
            AdminRequest::CreateShard {
                keyspace: "customer".into(),
                shard: "-80".into(),
                force: true,
                allow_overlap: false,
            },
        );
        assert!(forced.unwrap().is_empty());
        let ks = &t.keyspaces["customer"];
        for tt in TabletType::SERVING {
            assert_eq!(ks.serving[&tt], vec!["-80", "80-"]);
        }
        apply(
            &mut t,
            AdminRequest::CreateShard {
                keyspace: "customer".into(),
                shard: "-40".into(),
                force: false,
                allow_overlap: true,
            },
        )
        .unwrap();
        let ks = &t.keyspaces["customer"];
        assert!(!ks.shards["-40"].is_primary_serving);
        assert_eq!(ks.serving[&TabletType::Primary], vec!["-80", "80-"]);
    }

    #[test]
    fn delete_shards_checks_serving_and_updates_partitions() {
        let mut t = Topology::default();
        create_ks(&mut t, "c");
        create_shard(&mut t, "c", "-80").unwrap();
        create_shard(&mut t, "c", "80-").unwrap();
        let del = |even| AdminRequest::DeleteShards {
            shards: vec![ShardRef::parse("c/-80").unwrap()],
            recursive: false,
            even_if_serving: even,
        };
        assert!(matches!(apply(&mut t, del(false)), Err(TopoError::FailedPrecondition(_))));
        apply(&mut t, del(true)).unwrap();
        assert_eq!(t.keyspaces["c"].serving[&TabletType::Replica], vec!["80-"]);
        assert!(matches!(apply(&mut t, del(true)), Err(TopoError::NotFound(_))));
    }

    #[test]
    fn tablet_control_carries_the_whole_list() {
        let mut t = Topology::default();
        create_ks(&mut t, "c");
        create_shard(&mut t, "c", "0").unwrap();
        let set = |tables: &[&str], remove| AdminRequest::SetShardTabletControl {
            keyspace: "c".into(),
            shard: "0".into(),
            tablet_type: TabletType::Rdonly,
            denied_tables: tables.iter().map(|s| s.to_string()).collect(),
            remove,
        };
        apply(&mut t, set(&["b", "a"], false)).unwrap();
        let ev = apply(&mut t, set(&["c"], false)).unwrap();
        assert!(
            matches!(&ev[0], TopoEvent::ShardTabletControlChanged { denied_tables, .. } if denied_tables == &["a", "b", "c"])
        );
        assert!(apply(&mut t, set(&["c"], false)).unwrap().is_empty());
        apply(&mut t, set(&["a", "b", "c"], true)).unwrap();
        assert!(t.keyspaces["c"].shards["0"].denied_tables.is_empty());
    }

    #[test]
    fn vschema_resolves_sequences_in_other_keyspaces() {
        let mut t = Topology::default();
        create_ks(&mut t, "commerce");
        create_ks(&mut t, "customer");
        let customer = r#"{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
            "tables": {"customer": {"column_vindexes": [{"column": "customer_id", "name": "hash"}],
                                    "auto_increment": {"column": "customer_id", "sequence": "customer_seq"}}}}"#;
        let apply_vs = |t: &mut Topology, ks: &str, json: &str| {
            apply(t, AdminRequest::ApplyVSchema { keyspace: ks.into(), vschema: json.into(), dry_run: false })
        };
        let early = apply_vs(&mut t, "customer", customer).unwrap_err();
        assert!(early.to_string().contains("customer_seq"), "{early}");
        apply_vs(&mut t, "commerce", r#"{"tables": {"customer_seq": {"type": "sequence"}}}"#).unwrap();
        apply_vs(&mut t, "customer", customer).unwrap();
        assert!(t.keyspaces["customer"].vschema.as_ref().unwrap().sharded);
        assert!(matches!(apply_vs(&mut t, "nope", "{}"), Err(TopoError::NotFound(_))));
    }

    #[test]
    fn aggregates() {
        let one = AdminRequest::DeleteShards {
            shards: vec![ShardRef::parse("a/0").unwrap()],
            recursive: false,
            even_if_serving: false,
        };
        assert_eq!(aggregate_subject(&one).unwrap(), "tessera.topo.keyspace.a");
        let two = AdminRequest::DeleteShards {
            shards: vec![ShardRef::parse("a/0").unwrap(), ShardRef::parse("b/0").unwrap()],
            recursive: false,
            even_if_serving: false,
        };
        assert!(aggregate_subject(&two).is_none());
        assert!(aggregate_subject(&AdminRequest::GetKeyspaces).is_none());
    }
}
