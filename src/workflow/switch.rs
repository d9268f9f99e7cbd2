//! SwitchTraffic and ReverseTraffic.
//!
//! Reads move by tablet type: a Reshard changes the keyspace's serving partitions, MoveTables
//! its routing rules. Writes: hold writes on the serving side's primaries (they refuse writes
//! to the moving tables with a retryable error the gateways hold and retry, and drain open
//! transactions), read those primaries' final binlog positions, run every stream exactly up to
//! them, start reverse replication from the new side's current positions, flip the routing,
//! and release the holds on the new side. If the streams do not catch up within the timeout,
//! the holds are released and the streams resume: nothing moved.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use super::create::rule_names;
use super::{err, precondition, WorkflowService};
use crate::protocol::admin::{AdminReply, ErrorCode, RemoteError, WorkflowArgs};
use crate::protocol::subjects;
use crate::protocol::tablet::ManageRequest;
use crate::protocol::topology::{TabletType, TopoEvent};
use crate::protocol::workflow::{RoutingRule, StreamControl, TableSpec, WorkflowKind, WorkflowRecord, WorkflowState};
use crate::sql::quote_bytes;
use crate::topo::state::Topology;
use crate::vrepl::gtid::GtidPos;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn types_of(args: &WorkflowArgs) -> Vec<TabletType> {
    if args.tablet_types.is_empty() {
        vec![TabletType::Rdonly, TabletType::Replica, TabletType::Primary]
    } else {
        args.tablet_types.clone()
    }
}

/// Events that send `tablet_type` traffic of the workflow's tables to its targets (or back).
fn route_events(
    topo: &Topology,
    wf: &WorkflowRecord,
    tt: TabletType,
    to_target: bool,
) -> Vec<(String, Vec<TopoEvent>)> {
    let (from, to) =
        if to_target { (&wf.source_shards, &wf.target_shards) } else { (&wf.target_shards, &wf.source_shards) };
    match wf.kind {
        WorkflowKind::Reshard => {
            let Some(ks) = topo.keyspaces.get(&wf.target_keyspace) else { return vec![] };
            let mut shards: Vec<String> = ks
                .serving
                .get(&tt)
                .or_else(|| ks.serving.get(&TabletType::Primary))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !from.contains(s) && !to.contains(s))
                .collect();
            shards.extend(to.iter().cloned());
            let mut events = vec![TopoEvent::ServingPartitionsChanged {
                keyspace: wf.target_keyspace.clone(),
                tablet_type: tt,
                shards,
            }];
            if tt == TabletType::Primary {
                for s in from {
                    events.push(TopoEvent::ShardServingChanged {
                        keyspace: wf.target_keyspace.clone(),
                        shard: s.clone(),
                        is_primary_serving: false,
                    });
                }
                for s in to {
                    events.push(TopoEvent::ShardServingChanged {
                        keyspace: wf.target_keyspace.clone(),
                        shard: s.clone(),
                        is_primary_serving: true,
                    });
                }
            }
            vec![(subjects::topo_keyspace(&wf.target_keyspace), events)]
        }
        WorkflowKind::MoveTables => {
            let dest = if to_target { &wf.target_keyspace } else { &wf.source_keyspace };
            let mut rules: Vec<RoutingRule> = topo
                .routing_rules
                .iter()
                .filter(|r| !(r.tablet_type == tt && wf.tables.iter().any(|t| rule_names(r, &t.name))))
                .cloned()
                .collect();
            for t in &wf.tables {
                for from in [
                    t.name.clone(),
                    format!("{}.{}", wf.source_keyspace, t.name),
                    format!("{}.{}", wf.target_keyspace, t.name),
                ] {
                    rules.push(RoutingRule { from, tablet_type: tt, to_keyspace: dest.clone() });
                }
            }
            rules.sort();
            vec![(subjects::topo_routing(), vec![TopoEvent::RoutingRulesChanged { rules }])]
        }
    }
}

pub(super) async fn apply_routes(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    tt: TabletType,
    to_target: bool,
) -> Result<(), RemoteError> {
    let topo = svc.topo().await?;
    for (subject, _) in route_events(&topo, wf, tt, to_target) {
        svc.write("SwitchTraffic", &subject, |t| {
            Ok(route_events(t, wf, tt, to_target)
                .into_iter()
                .filter(|(s, _)| s == &subject)
                .flat_map(|(_, e)| e)
                .collect())
        })
        .await?;
    }
    Ok(())
}

/// Tables held on the serving side during a write switch (all, for a Reshard).
fn held_tables(wf: &WorkflowRecord) -> Vec<String> {
    match wf.kind {
        WorkflowKind::Reshard => Vec::new(),
        WorkflowKind::MoveTables => wf.tables.iter().map(|t| t.name.clone()).collect(),
    }
}

async fn hold(
    svc: &WorkflowService,
    aliases: &[String],
    held: bool,
    tables: &[String],
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    for alias in aliases {
        let req = ManageRequest::SetWritesHeld { held, tables: tables.to_vec(), drain_ms: 3000 };
        match svc.tablets.manage(alias, &req).await {
            Ok(crate::protocol::tablet::ManageResponse::Done { message }) => steps.push(message),
            Ok(other) => steps.push(format!("{alias}: {other:?}")),
            Err(e) => {
                return Err(err(
                    ErrorCode::Unavailable,
                    format!("{alias}: cannot {} writes: {e}", if held { "hold" } else { "release" }),
                ))
            }
        }
    }
    Ok(())
}

/// Primaries (alias, position) of `shards` of `keyspace`.
async fn positions(
    svc: &WorkflowService,
    topo: &Topology,
    keyspace: &str,
    shards: &[String],
) -> Result<Vec<(String, String, GtidPos)>, RemoteError> {
    let mut out = Vec::new();
    for s in shards {
        let (alias, addr) = svc.primary(topo, keyspace, s)?;
        let mut c = addr.connect().await.map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        let pos = crate::vrepl::binlog::current_pos(&mut c)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        out.push((s.clone(), alias, pos));
    }
    Ok(out)
}

/// Runs every stream of `wf` up to its source's position in `stop`; true when all got there.
async fn catch_up(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    stop: &[(String, String, GtidPos)],
    timeout: Duration,
) -> Result<(), String> {
    let keys = wf.streams();
    for k in &keys {
        let Some((_, _, p)) = stop.iter().find(|(s, _, _)| s == &k.source_shard) else { continue };
        svc.control(k, StreamControl::Start { stop_pos: Some(p.to_string()) }, Duration::from_secs(10)).await?;
    }
    svc.wait_streams(&keys, timeout, |s| {
        let Some((_, _, p)) = stop.iter().find(|(sh, _, _)| sh == &s.source_shard) else { return false };
        s.state == "Stopped" && GtidPos::parse(&s.position).is_ok_and(|at| at.contains(p))
    })
    .await
    .map(|_| ())
}

/// Points the streams' rows of `wf` (on its target primaries) at the sources' current
/// positions, running, with no copy left: used for reverse streams and to restart forward
/// streams after ReverseTraffic.
async fn reset_streams(
    svc: &WorkflowService,
    topo: &Topology,
    wf: &WorkflowRecord,
    sources: &[(String, String, GtidPos)],
) -> Result<(), RemoteError> {
    for k in wf.streams() {
        let Some((_, _, pos)) = sources.iter().find(|(s, _, _)| s == &k.source_shard) else { continue };
        let (alias, addr) = svc.primary(topo, &wf.target_keyspace, &k.target_shard)?;
        let mut c = addr.connect().await.map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        crate::vrepl::state::ensure_schema(&mut c)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: {e}")))?;
        let (w, s, p) = (
            quote_bytes(wf.name.as_bytes()),
            quote_bytes(k.source_shard.as_bytes()),
            quote_bytes(pos.to_string().as_bytes()),
        );
        let sql = format!(
            "BEGIN; DELETE FROM _tessera.copy_state WHERE workflow = {w} AND source_shard = {s}; \
             INSERT INTO _tessera.vreplication (workflow, source_shard, state, pos, time_updated) VALUES ({w}, {s}, 'Running', {p}, {now}) \
             ON DUPLICATE KEY UPDATE state = 'Running', pos = {p}, stop_pos = '', message = '', time_updated = {now}; COMMIT",
            now = crate::protocol::envelope::now_ms()
        );
        c.query_drop(sql)
            .await
            .map_err(|e| err(ErrorCode::Unavailable, format!("{alias}: writing the stream position: {e}")))?;
    }
    Ok(())
}

fn reverse_record(topo: &Topology, wf: &WorkflowRecord) -> Result<WorkflowRecord, RemoteError> {
    let names: Vec<String> = wf.tables.iter().map(|t| t.name.clone()).collect();
    let tables: Vec<TableSpec> = match wf.kind {
        WorkflowKind::Reshard => wf.tables.clone(),
        WorkflowKind::MoveTables => super::create::table_specs(topo, &wf.source_keyspace, &names)?,
    };
    Ok(WorkflowRecord {
        name: format!("{}_reverse", wf.name),
        kind: wf.kind,
        source_keyspace: wf.target_keyspace.clone(),
        target_keyspace: wf.source_keyspace.clone(),
        source_shards: wf.target_shards.clone(),
        target_shards: wf.source_shards.clone(),
        tables,
        options: wf.options.clone(),
        state: WorkflowState::Running,
        reads_switched: Vec::new(),
        writes_switched: false,
        reverse_of: Some(wf.name.clone()),
        created_ms: crate::protocol::envelope::now_ms(),
        message: String::new(),
    })
}

fn aliases(list: &[(String, String, GtidPos)]) -> Vec<String> {
    list.iter().map(|(_, a, _)| a.clone()).collect()
}

/// Moves writes from `wf`'s sources to its targets; `reverse` (a ReverseTraffic) instead
/// moves them back: the reverse workflow's streams catch up and the forward ones restart.
async fn switch_writes(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    timeout: Duration,
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    let topo = svc.topo().await?;
    let held = held_tables(wf);
    let source_primaries: Vec<String> = wf
        .source_shards
        .iter()
        .map(|s| svc.primary(&topo, &wf.source_keyspace, s).map(|(a, _)| a))
        .collect::<Result<_, _>>()?;
    let statuses =
        svc.wait_streams(&wf.streams(), Duration::from_secs(5), |s| s.state == "Running").await.map_err(|e| {
            precondition(format!("every stream must be replicating (copy finished) before writes switch: {e}"))
        })?;
    let lag = statuses.iter().map(|s| s.lag_secs).fold(0.0, f64::max);
    steps.push(format!("streams replicating, max lag {lag:.0}s"));
    let started = Instant::now();
    hold(svc, &source_primaries, true, &held, steps).await?;
    let stop = positions(svc, &topo, &wf.source_keyspace, &wf.source_shards).await;
    let stop = match stop {
        Ok(s) => s,
        Err(e) => {
            let _ = hold(svc, &source_primaries, false, &held, steps).await;
            return Err(e);
        }
    };
    steps.push(format!(
        "source positions: {}",
        stop.iter().map(|(s, _, p)| format!("{s}@{p}")).collect::<Vec<_>>().join(" ")
    ));
    if let Err(e) = catch_up(svc, wf, &stop, timeout).await {
        for k in wf.streams() {
            let _ = svc.control(&k, StreamControl::Start { stop_pos: None }, Duration::from_secs(10)).await;
        }
        let _ = hold(svc, &source_primaries, false, &held, steps).await;
        return Err(err(
            ErrorCode::FailedPrecondition,
            format!("streams did not catch up; writes allowed on the sources again, nothing switched: {e}"),
        ));
    }
    steps.push(format!("streams caught up in {} ms", started.elapsed().as_millis()));
    // Reverse replication from the new side's current positions.
    let new_side = positions(svc, &topo, &wf.target_keyspace, &wf.target_shards).await?;
    match &wf.reverse_of {
        None => {
            let rev = reverse_record(&topo, wf)?;
            reset_streams(svc, &topo, &rev, &new_side).await?;
            let created = rev.clone();
            svc.write("SwitchTraffic", &subjects::topo_keyspace(&rev.target_keyspace), |t| {
                let exists =
                    t.keyspaces.get(&created.target_keyspace).is_some_and(|k| k.workflows.contains_key(&created.name));
                Ok(vec![if exists {
                    TopoEvent::WorkflowUpdated { workflow: created.clone() }
                } else {
                    TopoEvent::WorkflowCreated { workflow: created.clone() }
                }])
            })
            .await?;
            steps.push(format!(
                "reverse workflow {} replicates {} -> {}",
                rev.id(),
                rev.source_shards.join(","),
                rev.target_shards.join(",")
            ));
        }
        Some(forward) => {
            // ReverseTraffic: the forward workflow replicates again from here.
            let fwd = svc.workflow(&wf.source_keyspace, forward).await?;
            reset_streams(svc, &topo, &fwd, &new_side).await?;
            svc.update(&fwd.target_keyspace, &fwd.name, |w| {
                w.state = WorkflowState::Running;
                w.writes_switched = false;
            })
            .await?;
            steps.push(format!("workflow {} replicates again", fwd.id()));
        }
    }
    apply_routes(svc, wf, TabletType::Primary, true).await?;
    if wf.kind == WorkflowKind::MoveTables {
        deny(svc, &wf.source_keyspace, &wf.source_shards, &held, true).await?;
        deny(svc, &wf.target_keyspace, &wf.target_shards, &held, false).await?;
    }
    let target_primaries = aliases(&new_side);
    hold(svc, &target_primaries, false, &held, steps).await?;
    steps.push(format!(
        "writes switched to {}/{}; writes were held {} ms",
        wf.target_keyspace,
        wf.target_shards.join(","),
        started.elapsed().as_millis()
    ));
    svc.update(&wf.target_keyspace, &wf.name, |w| {
        w.state = WorkflowState::Frozen;
        w.writes_switched = true;
    })
    .await?;
    Ok(())
}

/// Sets (or clears) the primary deny list of `tables` on `shards`.
async fn deny(
    svc: &WorkflowService,
    keyspace: &str,
    shards: &[String],
    tables: &[String],
    on: bool,
) -> Result<(), RemoteError> {
    for s in shards {
        svc.write("SwitchTraffic", &subjects::topo_shard(keyspace, s), |t| {
            let Some(shard) = t.shard(keyspace, s) else { return Ok(vec![]) };
            let mut list: Vec<String> = shard.denied_tables.get(&TabletType::Primary).cloned().unwrap_or_default();
            list.retain(|x| !tables.contains(x));
            if on {
                list.extend(tables.iter().cloned());
            }
            list.sort();
            Ok(vec![TopoEvent::ShardTabletControlChanged {
                keyspace: keyspace.to_string(),
                shard: s.clone(),
                tablet_type: TabletType::Primary,
                denied_tables: list,
            }])
        })
        .await?;
    }
    Ok(())
}

pub async fn switch_traffic(svc: &WorkflowService, args: &WorkflowArgs) -> AdminReply {
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    if wf.writes_switched || wf.state == WorkflowState::Frozen {
        return Err(precondition(format!(
            "workflow {} has already switched writes (ReverseTraffic moves them back)",
            wf.id()
        )));
    }
    let mut steps = Vec::new();
    for tt in types_of(args) {
        if tt == TabletType::Primary || wf.reads_switched.contains(&tt) {
            continue;
        }
        if !matches!(tt, TabletType::Replica | TabletType::Rdonly) {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("--tablet-types takes rdonly, replica, primary; not {tt}"),
            ));
        }
        apply_routes(svc, &wf, tt, true).await?;
        svc.update(&wf.target_keyspace, &wf.name, |w| w.reads_switched.push(tt)).await?;
        steps.push(format!("{tt} reads switched to {}", wf.target_keyspace));
    }
    if types_of(args).contains(&TabletType::Primary) {
        let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
        let timeout = args.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT);
        switch_writes(svc, &wf, timeout, &mut steps)
            .await
            .map_err(|e| RemoteError { message: format!("{}\n(steps: {})", e.message, steps.join("; ")), ..e })?;
    }
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    svc.shown(wf, steps).await
}

pub async fn reverse_traffic(svc: &WorkflowService, args: &WorkflowArgs) -> AdminReply {
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    if wf.reverse_of.is_some() {
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("{} is a reverse workflow; run ReverseTraffic on the workflow it reverses", wf.id()),
        ));
    }
    let mut steps = Vec::new();
    let types = types_of(args);
    if types.contains(&TabletType::Primary) && wf.writes_switched {
        let rev = svc.workflow(&wf.source_keyspace, &format!("{}_reverse", wf.name)).await?;
        let timeout = args.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT);
        switch_writes(svc, &rev, timeout, &mut steps)
            .await
            .map_err(|e| RemoteError { message: format!("{}\n(steps: {})", e.message, steps.join("; ")), ..e })?;
        // The reverse workflow's routes point at its targets (our sources) now; so do ours.
    }
    for tt in types {
        if tt == TabletType::Primary || !wf.reads_switched.contains(&tt) {
            continue;
        }
        apply_routes(svc, &wf, tt, false).await?;
        svc.update(&wf.target_keyspace, &wf.name, |w| w.reads_switched.retain(|x| *x != tt)).await?;
        steps.push(format!("{tt} reads switched back to {}", wf.source_keyspace));
    }
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    svc.shown(wf, steps).await
}
