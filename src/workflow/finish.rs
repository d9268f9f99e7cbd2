//! Complete (after writes switched: stop the streams, drop the source copies and routing) and
//! Cancel (before: stop the streams, drop the target copies, undo routing).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::create::rule_names;
use super::{err, precondition, WorkflowService};
use crate::protocol::admin::{AdminReply, AdminResponse, ErrorCode, RemoteError, WorkflowArgs};
use crate::protocol::subjects;
use crate::protocol::topology::{TabletType, TopoEvent};
use crate::protocol::workflow::{WorkflowKind, WorkflowRecord};
use crate::sql::quote_ident;

/// Removes the workflow from the topology and its stream rows from its target primaries.
async fn delete_workflow(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    let (ks, name) = (wf.target_keyspace.clone(), wf.name.clone());
    svc.write("Workflow", &subjects::topo_keyspace(&ks), |t| {
        let exists = t.keyspaces.get(&ks).is_some_and(|k| k.workflows.contains_key(&name));
        Ok(if exists {
            vec![TopoEvent::WorkflowDeleted { keyspace: ks.clone(), workflow: name.clone() }]
        } else {
            vec![]
        })
    })
    .await?;
    // The nodes stop the streams when they see the deletion.
    let keys = wf.streams();
    for _ in 0..100 {
        let mut alive = 0;
        for k in &keys {
            if svc
                .control(k, crate::protocol::workflow::StreamControl::Status, Duration::from_millis(300))
                .await
                .is_ok()
            {
                alive += 1;
            }
        }
        if alive == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let topo = svc.topo().await?;
    for k in &keys {
        let (alias, addr) = svc.primary(&topo, &wf.target_keyspace, &k.target_shard)?;
        let mut c = addr.connect().await.map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        let key = crate::vrepl::state::RowKey { workflow: wf.name.clone(), source_shard: k.source_shard.clone() };
        crate::vrepl::state::ensure_schema(&mut c)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        crate::vrepl::state::delete(&mut c, &key)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
    }
    steps.push(format!("workflow {} deleted, its streams stopped", wf.id()));
    Ok(())
}

/// Drops the workflow's tables on the primaries of `shards` of `keyspace`.
async fn drop_tables(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    keyspace: &str,
    shards: &[String],
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    let topo = svc.topo().await?;
    for s in shards {
        let (alias, addr) = svc.primary(&topo, keyspace, s)?;
        let mut c = addr.connect().await.map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        for t in &wf.tables {
            c.query_drop(format!("DROP TABLE IF EXISTS {}", quote_ident(&t.name)))
                .await
                .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: dropping {}: {e}", t.name)))?;
        }
        steps.push(format!("{alias} ({keyspace}/{s}): dropped {}", wf.table_names().join(", ")));
    }
    Ok(())
}

/// Removes the workflow's tables from the routing rules and from `keyspace`'s deny lists.
async fn unroute(svc: &WorkflowService, wf: &WorkflowRecord, steps: &mut Vec<String>) -> Result<(), RemoteError> {
    let names = wf.table_names();
    svc.write("Workflow", &subjects::topo_routing(), |t| {
        let rules: Vec<_> =
            t.routing_rules.iter().filter(|r| !names.iter().any(|n| rule_names(r, n))).cloned().collect();
        Ok(if rules.len() == t.routing_rules.len() { vec![] } else { vec![TopoEvent::RoutingRulesChanged { rules }] })
    })
    .await?;
    for (ks, shards) in [(&wf.source_keyspace, &wf.source_shards), (&wf.target_keyspace, &wf.target_shards)] {
        for s in shards {
            svc.write("Workflow", &subjects::topo_shard(ks, s), |t| {
                let Some(shard) = t.shard(ks, s) else { return Ok(vec![]) };
                let list: Vec<String> = shard.denied_tables.get(&TabletType::Primary).cloned().unwrap_or_default();
                let kept: Vec<String> = list.iter().filter(|x| !names.contains(x)).cloned().collect();
                Ok(if kept.len() == list.len() {
                    vec![]
                } else {
                    vec![TopoEvent::ShardTabletControlChanged {
                        keyspace: ks.clone(),
                        shard: s.clone(),
                        tablet_type: TabletType::Primary,
                        denied_tables: kept,
                    }]
                })
            })
            .await?;
        }
    }
    steps.push(format!("routing rules and deny lists of {} removed", names.join(", ")));
    Ok(())
}

/// Removes `tables` from `keyspace`'s VSchema.
async fn drop_from_vschema(
    svc: &WorkflowService,
    keyspace: &str,
    tables: &[String],
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    svc.write("Workflow", &subjects::topo_keyspace(keyspace), |t| {
        let Some(mut vs) = t.keyspaces.get(keyspace).and_then(|k| k.vschema.clone()) else { return Ok(vec![]) };
        let before = vs.tables.len();
        vs.tables.retain(|n, _| !tables.contains(n));
        Ok(if vs.tables.len() == before {
            vec![]
        } else {
            vec![TopoEvent::VSchemaApplied { keyspace: keyspace.to_string(), vschema: vs }]
        })
    })
    .await?;
    steps.push(format!("{} removed from the VSchema of {keyspace}", tables.join(", ")));
    Ok(())
}

pub async fn complete(svc: &WorkflowService, args: &WorkflowArgs) -> AdminReply {
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    if wf.reverse_of.is_some() {
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("{} is a reverse workflow; Complete the workflow it reverses", wf.id()),
        ));
    }
    if !wf.writes_switched {
        return Err(precondition(format!(
            "workflow {} has not switched writes: SwitchTraffic first, or Cancel it",
            wf.id()
        )));
    }
    let mut steps = Vec::new();
    if let Ok(rev) = svc.workflow(&wf.source_keyspace, &format!("{}_reverse", wf.name)).await {
        delete_workflow(svc, &rev, &mut steps).await?;
    }
    delete_workflow(svc, &wf, &mut steps).await?;
    drop_tables(svc, &wf, &wf.source_keyspace, &wf.source_shards, &mut steps).await?;
    if wf.kind == WorkflowKind::MoveTables {
        // VSchema first: while the rules still name the target, the table is never ambiguous.
        drop_from_vschema(svc, &wf.source_keyspace, &wf.table_names(), &mut steps).await?;
        unroute(svc, &wf, &mut steps).await?;
    } else {
        steps.push(format!(
            "source shards {} stay in the topology, not serving and without tables; DeleteShards removes them",
            wf.source_shards.join(",")
        ));
    }
    Ok(AdminResponse::Workflow { workflow: wf, streams: Vec::new(), steps })
}

pub async fn cancel(svc: &WorkflowService, args: &WorkflowArgs) -> AdminReply {
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    if wf.reverse_of.is_some() {
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("{} is a reverse workflow; it goes with the workflow it reverses", wf.id()),
        ));
    }
    if wf.writes_switched {
        return Err(precondition(format!(
            "workflow {} has switched writes: ReverseTraffic first, or Complete it",
            wf.id()
        )));
    }
    let mut steps = Vec::new();
    for tt in wf.reads_switched.clone() {
        super::switch::apply_routes(svc, &wf, tt, false).await?;
        steps.push(format!("{tt} reads switched back"));
    }
    delete_workflow(svc, &wf, &mut steps).await?;
    drop_tables(svc, &wf, &wf.target_keyspace, &wf.target_shards, &mut steps).await?;
    if wf.kind == WorkflowKind::MoveTables {
        let topo = svc.topo().await?;
        if !topo.keyspaces.get(&wf.target_keyspace).and_then(|k| k.vschema.as_ref()).is_some_and(|v| v.sharded) {
            drop_from_vschema(svc, &wf.target_keyspace, &wf.table_names(), &mut steps).await?;
        }
        unroute(svc, &wf, &mut steps).await?;
    }
    Ok(AdminResponse::Workflow { workflow: wf, streams: Vec::new(), steps })
}
