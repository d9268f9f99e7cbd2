//! VDiff: compares a workflow's sources and targets row by row at one consistent position.
//!
//! Per target shard: stop its streams; open a consistent snapshot on each source primary and
//! note its binlog position; run each stream exactly to that position (it stops there); open
//! a snapshot on the target; restart the streams; then read every table in primary-key order
//! on both sides (sources filtered by the target's key range) and count matching, missing,
//! extra and different rows. The run is a background job; its report is kept in the topology.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::{err, precondition, WorkflowService};
use crate::protocol::admin::{AdminReply, AdminResponse, ErrorCode, RemoteError, WorkflowArgs};
use crate::protocol::subjects;
use crate::protocol::topology::TopoEvent;
use crate::protocol::workflow::{StreamControl, TableDiff, VDiffReport, WorkflowRecord, WorkflowState};
use crate::vindex::keyrange::KeyRange;
use crate::vrepl::gtid::GtidPos;
use crate::vrepl::table::{literal, row_values, TableInfo};

const MAX_SAMPLES: usize = 10;

async fn record(svc: &WorkflowService, report: &VDiffReport) -> Result<(), RemoteError> {
    let r = report.clone();
    svc.write("VDiff", &subjects::topo_keyspace(&report.keyspace), |_| {
        Ok(vec![TopoEvent::VDiffRecorded { report: r.clone() }])
    })
    .await
    .map(|_| ())
}

pub async fn create(svc: &WorkflowService, args: &WorkflowArgs) -> AdminReply {
    let wf = svc.workflow(&args.keyspace, &args.workflow).await?;
    if wf.state != WorkflowState::Running {
        return Err(precondition(format!(
            "VDiff compares a running workflow before SwitchTraffic; {} is {:?}",
            wf.id(),
            wf.state
        )));
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let report = VDiffReport {
        id,
        keyspace: wf.target_keyspace.clone(),
        workflow: wf.name.clone(),
        state: "started".into(),
        started_ms: crate::protocol::envelope::now_ms(),
        ..Default::default()
    };
    record(svc, &report).await?;
    let (svc2, mut done) = (svc.clone(), report.clone());
    tokio::spawn(async move {
        match run(&svc2, &wf).await {
            Ok(tables) => {
                done.state = "completed".into();
                done.tables = tables;
            }
            Err(e) => {
                done.state = "error".into();
                done.message = e;
            }
        }
        done.completed_ms = crate::protocol::envelope::now_ms();
        if let Err(e) = record(&svc2, &done).await {
            tracing::warn!(error = %e, "could not record the VDiff report");
        }
    });
    Ok(AdminResponse::VDiff { report })
}

pub async fn show(svc: &WorkflowService, args: &WorkflowArgs, id: Option<String>) -> AdminReply {
    let topo = svc.topo().await?;
    let ks = topo
        .keyspaces
        .get(&args.keyspace)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{}` does not exist", args.keyspace)))?;
    let report = ks
        .vdiffs
        .iter()
        .rev()
        .find(|r| r.workflow == args.workflow && id.as_ref().is_none_or(|i| i == &r.id || i == "last"))
        .cloned()
        .ok_or_else(|| {
            err(
                ErrorCode::NotFound,
                format!("no VDiff of {}.{} (VDiff create starts one)", args.keyspace, args.workflow),
            )
        })?;
    Ok(AdminResponse::VDiff { report })
}

async fn run(svc: &WorkflowService, wf: &WorkflowRecord) -> Result<Vec<TableDiff>, String> {
    let mut diffs: BTreeMap<String, TableDiff> = BTreeMap::new();
    for target_shard in &wf.target_shards {
        diff_shard(svc, wf, target_shard, &mut diffs).await?;
    }
    Ok(diffs.into_values().collect())
}

async fn diff_shard(
    svc: &WorkflowService,
    wf: &WorkflowRecord,
    target_shard: &str,
    diffs: &mut BTreeMap<String, TableDiff>,
) -> Result<(), String> {
    let topo = svc.topo().await.map_err(|e| e.message)?;
    let keys: Vec<_> = wf.streams().into_iter().filter(|k| k.target_shard == target_shard).collect();
    for k in &keys {
        svc.control(k, StreamControl::Stop, Duration::from_secs(30)).await?;
    }
    let result = async {
        let mut sources = Vec::new();
        for k in &keys {
            let (alias, addr) = svc.primary(&topo, &wf.source_keyspace, &k.source_shard).map_err(|e| e.message)?;
            let mut c = addr.connect().await.map_err(|e| format!("{alias}: {e}"))?;
            let pos = crate::vrepl::binlog::snapshot(&mut c).await.map_err(|e| format!("{alias}: {e}"))?;
            sources.push((k.clone(), c, pos));
        }
        for (k, _, pos) in &sources {
            svc.control(k, StreamControl::Start { stop_pos: Some(pos.to_string()) }, Duration::from_secs(10)).await?;
        }
        let stops: Vec<(String, GtidPos)> =
            sources.iter().map(|(k, _, p)| (k.source_shard.clone(), p.clone())).collect();
        svc.wait_streams(&keys, Duration::from_secs(120), |s| {
            s.state == "Stopped"
                && stops
                    .iter()
                    .any(|(sh, p)| sh == &s.source_shard && GtidPos::parse(&s.position).is_ok_and(|at| at.contains(p)))
        })
        .await?;
        let (alias, taddr) = svc.primary(&topo, &wf.target_keyspace, target_shard).map_err(|e| e.message)?;
        let mut target = taddr.connect().await.map_err(|e| format!("{alias}: {e}"))?;
        target
            .query_drop(
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT",
            )
            .await
            .map_err(|e| format!("{alias}: {e}"))?;
        Ok::<_, String>((sources, target, taddr.db.clone()))
    }
    .await;
    // Whatever happened, the streams run again.
    for k in &keys {
        let _ = svc.control(k, StreamControl::Start { stop_pos: None }, Duration::from_secs(10)).await;
    }
    let (mut sources, mut target, db) = result?;
    let range = KeyRange::parse_shard_name(target_shard).map_err(|e| e.to_string())?;
    for spec in &wf.tables {
        let info =
            TableInfo::load(&mut target, &db, &spec.name, spec.vindex.as_ref()).await.map_err(|e| e.to_string())?;
        let d = diffs
            .entry(spec.name.clone())
            .or_insert_with(|| TableDiff { table: spec.name.clone(), ..Default::default() });
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            info.column_list(),
            crate::sql::quote_ident(&info.name),
            info.pk_list()
        );
        let mut rows: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        {
            let mut s = target.query_iter(sql.as_str()).await.map_err(|e| e.to_string())?;
            let mut stream = s.stream::<mysql_async::Row>().await.map_err(|e| e.to_string())?.ok_or("no result")?;
            while let Some(r) = stream.next().await {
                let row: Vec<Value> = row_values(r.map_err(|e| e.to_string())?);
                d.target_rows += 1;
                rows.insert(info.pk_literals(&row), row.iter().map(literal).collect());
            }
        }
        for (_, conn, _) in sources.iter_mut() {
            let mut s = conn.query_iter(sql.as_str()).await.map_err(|e| e.to_string())?;
            let mut stream = s.stream::<mysql_async::Row>().await.map_err(|e| e.to_string())?.ok_or("no result")?;
            while let Some(r) = stream.next().await {
                let row: Vec<Value> = row_values(r.map_err(|e| e.to_string())?);
                if !info.in_range(&range, &row).map_err(|e| e.to_string())? {
                    continue;
                }
                d.source_rows += 1;
                let pk = info.pk_literals(&row);
                match rows.remove(&pk) {
                    None => {
                        d.missing += 1;
                        if d.samples.len() < MAX_SAMPLES {
                            d.samples.push(format!("missing on {target_shard}: ({})", pk.join(", ")));
                        }
                    }
                    Some(t) if t != row.iter().map(literal).collect::<Vec<_>>() => {
                        d.different += 1;
                        if d.samples.len() < MAX_SAMPLES {
                            d.samples.push(format!("different on {target_shard}: ({})", pk.join(", ")));
                        }
                    }
                    Some(_) => d.matching += 1,
                }
            }
        }
        for pk in rows.keys() {
            d.extra += 1;
            if d.samples.len() < MAX_SAMPLES {
                d.samples.push(format!("extra on {target_shard}: ({})", pk.join(", ")));
            }
        }
    }
    let _ = target.query_drop("COMMIT").await;
    for (_, c, _) in sources.iter_mut() {
        let _ = c.query_drop("COMMIT").await;
    }
    Ok(())
}
