//! `Reshard create` and `MoveTables create`: check the cluster, copy the tables' schema to the
//! target primaries, and record the workflow; the nodes hosting the target primaries start
//! its streams.

use mysql_async::prelude::Queryable;

use super::{err, precondition, WorkflowService};
use crate::protocol::admin::{AdminReply, ErrorCode, RemoteError, WorkflowArgs};
use crate::protocol::names;
use crate::protocol::subjects;
use crate::protocol::topology::{TabletType, TopoEvent};
use crate::protocol::workflow::{RoutingRule, TableSpec, WorkflowKind, WorkflowRecord, WorkflowState};
use crate::sql::quote_ident;
use crate::topo::state::Topology;
use crate::topo::TopoError;
use crate::vindex::keyrange::{shard_order, KeyRange};
use crate::vrepl::MysqlAddr;

fn mysql_err(what: &str, e: impl std::fmt::Display) -> RemoteError {
    err(ErrorCode::Unavailable, format!("{what}: {e}"))
}

async fn connect(addr: &MysqlAddr, what: &str) -> Result<mysql_async::Conn, RemoteError> {
    addr.connect().await.map_err(|e| mysql_err(what, e))
}

/// Base tables of the keyspace's database on `addr`.
pub async fn list_tables(addr: &MysqlAddr) -> Result<Vec<String>, RemoteError> {
    let mut c = connect(addr, "listing the source's tables").await?;
    let rows: Vec<(String, String)> =
        c.query("SHOW FULL TABLES").await.map_err(|e| mysql_err("SHOW FULL TABLES on the source", e))?;
    Ok(rows.into_iter().filter(|(_, kind)| kind == "BASE TABLE").map(|(t, _)| t).collect())
}

/// Creates `tables` on every target primary from the source's definitions; a table that is
/// already there must be empty.
async fn copy_schema(
    source: &MysqlAddr,
    targets: &[(String, MysqlAddr)],
    tables: &[String],
    steps: &mut Vec<String>,
) -> Result<(), RemoteError> {
    let mut src = connect(source, "reading the source schema").await?;
    for t in tables {
        let pk: Option<String> = src
            .exec_first(
                "SELECT constraint_name FROM information_schema.table_constraints \
                 WHERE table_schema = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                (source.db.clone(), t.clone()),
            )
            .await
            .map_err(|e| mysql_err("reading the source's primary keys", e))?;
        if pk.is_none() {
            return Err(precondition(format!(
                "table {t} has no primary key: VReplication copies and replays rows by primary key; add one first"
            )));
        }
    }
    for (alias, target) in targets {
        let mut c = connect(target, &format!("connecting to target primary {alias}")).await?;
        for t in tables {
            let exists: Option<String> = c
                .exec_first(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                    (target.db.clone(), t.clone()),
                )
                .await
                .map_err(|e| mysql_err("reading the target schema", e))?;
            if exists.is_some() {
                let any: Option<u8> = c
                    .query_first(format!("SELECT 1 FROM {} LIMIT 1", quote_ident(t)))
                    .await
                    .map_err(|e| mysql_err("checking the target table is empty", e))?;
                if any.is_some() {
                    return Err(precondition(format!(
                        "table {t} on target primary {alias} already has rows; targets must be empty (drop the table or Cancel the earlier workflow)"
                    )));
                }
                steps.push(format!("{alias}: table {t} exists and is empty"));
                continue;
            }
            let ddl =
                crate::vrepl::table::show_create(&mut src, t).await.map_err(|e| mysql_err("SHOW CREATE TABLE", e))?;
            c.query_drop(ddl).await.map_err(|e| mysql_err(&format!("creating {t} on {alias}"), e))?;
            steps.push(format!("{alias}: created table {t}"));
        }
    }
    Ok(())
}

fn validate_name(args: &WorkflowArgs) -> Result<(), RemoteError> {
    names::validate("workflow", &args.workflow).map_err(|m| err(ErrorCode::InvalidArgument, m))
}

fn sorted(mut shards: Vec<String>) -> Vec<String> {
    shards.sort_by(|a, b| shard_order(a, b));
    shards.dedup();
    shards
}

/// True when the shards' ranges are contiguous, without gaps or overlaps; returns the
/// covered range's bounds.
fn span(shards: &[String]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let ranges: Vec<KeyRange> =
        shards.iter().map(|s| KeyRange::parse_shard_name(s).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    for w in ranges.windows(2) {
        if w[0].end != w[1].start {
            return Err(format!("shards {} are not contiguous", shards.join(",")));
        }
    }
    match (ranges.first(), ranges.last()) {
        (Some(a), Some(b)) => Ok((a.start.clone(), b.end.clone())),
        _ => Err("no shards named".into()),
    }
}

fn new_record(
    args: &WorkflowArgs,
    kind: WorkflowKind,
    source_keyspace: &str,
    source_shards: Vec<String>,
    target_shards: Vec<String>,
    tables: Vec<TableSpec>,
) -> WorkflowRecord {
    WorkflowRecord {
        name: args.workflow.clone(),
        kind,
        source_keyspace: source_keyspace.to_string(),
        target_keyspace: args.keyspace.clone(),
        source_shards,
        target_shards,
        tables,
        options: args.options.clone().unwrap_or_default(),
        state: WorkflowState::Running,
        reads_switched: Vec::new(),
        writes_switched: false,
        reverse_of: None,
        created_ms: crate::protocol::envelope::now_ms(),
        message: String::new(),
    }
}

/// The vindex specs of `tables` in keyspace `ks`'s VSchema (`None` each when unsharded).
pub(super) fn table_specs(topo: &Topology, ks: &str, tables: &[String]) -> Result<Vec<TableSpec>, RemoteError> {
    let vs = topo.keyspaces.get(ks).and_then(|k| k.vschema.clone());
    let sharded = vs.as_ref().is_some_and(|v| v.sharded);
    let mut out = Vec::new();
    for t in tables {
        let vindex = if sharded {
            let vs = vs.as_ref().ok_or_else(|| precondition(format!("keyspace {ks} has no VSchema")))?;
            let def = vs.tables.get(t).ok_or_else(|| {
                precondition(format!("table {t} is not in the VSchema of sharded keyspace {ks}; ApplyVSchema with its primary vindex first"))
            })?;
            let cv = def
                .column_vindexes
                .first()
                .ok_or_else(|| precondition(format!("table {t} has no primary vindex in the VSchema of {ks}")))?;
            let col = cv.column_list().first().map(|c| c.to_string()).unwrap_or_default();
            let vdef = vs.vindexes.get(&cv.name).cloned().ok_or_else(|| {
                precondition(format!("table {t}: vindex {} is not defined in the VSchema of {ks}", cv.name))
            })?;
            Some((col, vdef))
        } else {
            None
        };
        out.push(TableSpec { name: t.clone(), vindex });
    }
    Ok(out)
}

fn check_new(topo: &Topology, args: &WorkflowArgs) -> Result<(), RemoteError> {
    let ks = topo.keyspaces.get(&args.keyspace).ok_or_else(|| {
        err(ErrorCode::NotFound, format!("target keyspace `{}` does not exist (CreateKeyspace first)", args.keyspace))
    })?;
    if ks.workflows.contains_key(&args.workflow) {
        return Err(err(
            ErrorCode::AlreadyExists,
            format!("workflow {}.{} already exists", args.keyspace, args.workflow),
        ));
    }
    Ok(())
}

pub async fn reshard(
    svc: &WorkflowService,
    args: &WorkflowArgs,
    source_shards: Vec<String>,
    target_shards: Vec<String>,
) -> AdminReply {
    validate_name(args)?;
    let topo = svc.topo().await?;
    check_new(&topo, args)?;
    let ks = &topo.keyspaces[&args.keyspace];
    let (sources, targets) = (sorted(source_shards), sorted(target_shards));
    if sources.is_empty() || targets.is_empty() {
        return Err(err(ErrorCode::InvalidArgument, "Reshard create needs --source-shards and --target-shards"));
    }
    for s in sources.iter().chain(&targets) {
        if !ks.shards.contains_key(s) {
            return Err(precondition(format!(
                "shard {}/{s} does not exist (CreateShard --allow-overlap for targets)",
                args.keyspace
            )));
        }
    }
    if let Some(t) = targets.iter().find(|t| sources.contains(t)) {
        return Err(err(ErrorCode::InvalidArgument, format!("shard {t} is both a source and a target")));
    }
    let (a, b) = (span(&sources).map_err(precondition)?, span(&targets).map_err(precondition)?);
    if a != b {
        return Err(precondition(format!(
            "source shards {} and target shards {} do not cover the same key range",
            sources.join(","),
            targets.join(",")
        )));
    }
    let serving = ks.serving.get(&TabletType::Primary).cloned().unwrap_or_else(|| ks.shard_names());
    if let Some(t) = targets.iter().find(|t| serving.contains(t)) {
        return Err(precondition(format!("target shard {t} already serves; targets must be new, not serving shards")));
    }
    let (_, first_source) = svc.primary(&topo, &args.keyspace, &sources[0])?;
    for s in &sources[1..] {
        svc.primary(&topo, &args.keyspace, s)?;
    }
    let mut target_primaries = Vec::new();
    for t in &targets {
        target_primaries.push(svc.primary(&topo, &args.keyspace, t)?);
    }
    let tables = list_tables(&first_source).await?;
    if tables.is_empty() {
        return Err(precondition(format!("shard {}/{} has no tables to copy", args.keyspace, sources[0])));
    }
    let specs = table_specs(&topo, &args.keyspace, &tables)?;
    if specs.iter().any(|t| t.vindex.is_none()) {
        return Err(precondition(format!(
            "keyspace {} has no sharded VSchema: apply one with a primary vindex for every table before resharding",
            args.keyspace
        )));
    }
    let mut steps = Vec::new();
    copy_schema(&first_source, &target_primaries, &tables, &mut steps).await?;
    let record = new_record(args, WorkflowKind::Reshard, &args.keyspace, sources, targets, specs);
    record_created(svc, "Reshard", record, steps).await
}

/// Appends `WorkflowCreated` (refused if the name was taken meanwhile) and shows the workflow.
async fn record_created(
    svc: &WorkflowService,
    command: &str,
    record: WorkflowRecord,
    mut steps: Vec<String>,
) -> AdminReply {
    let ks = record.target_keyspace.clone();
    svc.write(command, &subjects::topo_keyspace(&ks), |t| {
        if t.keyspaces.get(&ks).is_some_and(|k| k.workflows.contains_key(&record.name)) {
            return Err(TopoError::AlreadyExists(format!("workflow {} already exists", record.id())));
        }
        Ok(vec![TopoEvent::WorkflowCreated { workflow: record.clone() }])
    })
    .await?;
    steps.push(format!("workflow {} created with {} streams; copying", record.id(), record.streams().len()));
    svc.shown(record, steps).await
}

pub async fn move_tables(
    svc: &WorkflowService,
    args: &WorkflowArgs,
    source_keyspace: String,
    tables: Vec<String>,
) -> AdminReply {
    validate_name(args)?;
    let topo = svc.topo().await?;
    check_new(&topo, args)?;
    if source_keyspace == args.keyspace {
        return Err(err(ErrorCode::InvalidArgument, "MoveTables needs a different --source-keyspace"));
    }
    let src = topo
        .keyspaces
        .get(&source_keyspace)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("source keyspace `{source_keyspace}` does not exist")))?;
    let dst = &topo.keyspaces[&args.keyspace];
    let sources = src.serving.get(&TabletType::Primary).cloned().unwrap_or_else(|| src.shard_names());
    let targets = dst.serving.get(&TabletType::Primary).cloned().unwrap_or_else(|| dst.shard_names());
    if sources.is_empty() || targets.is_empty() {
        return Err(precondition("both keyspaces need serving shards"));
    }
    let (_, first_source) = svc.primary(&topo, &source_keyspace, &sources[0])?;
    let present = list_tables(&first_source).await?;
    let tables: Vec<String> = if tables.is_empty() { present.clone() } else { tables };
    if let Some(t) = tables.iter().find(|t| !present.contains(t)) {
        return Err(precondition(format!("table {t} does not exist in keyspace {source_keyspace}")));
    }
    let mut target_primaries = Vec::new();
    for t in &targets {
        target_primaries.push(svc.primary(&topo, &args.keyspace, t)?);
    }
    let specs = table_specs(&topo, &args.keyspace, &tables)?;
    let target_sharded = dst.vschema.as_ref().is_some_and(|v| v.sharded);
    let mut steps = Vec::new();
    copy_schema(&first_source, &target_primaries, &tables, &mut steps).await?;

    // Route the tables to the source until traffic is switched, under every name.
    let rules: Vec<RoutingRule> = tables
        .iter()
        .flat_map(|t| {
            [t.clone(), format!("{source_keyspace}.{t}"), format!("{}.{t}", args.keyspace)].into_iter().map(|from| {
                RoutingRule { from, tablet_type: TabletType::Primary, to_keyspace: source_keyspace.clone() }
            })
        })
        .collect();
    let names = tables.clone();
    svc.write("MoveTables", &subjects::topo_routing(), |t| {
        let mut all: Vec<RoutingRule> =
            t.routing_rules.iter().filter(|r| !names.iter().any(|n| rule_names(r, n))).cloned().collect();
        all.extend(rules.iter().cloned());
        all.sort();
        Ok(vec![TopoEvent::RoutingRulesChanged { rules: all }])
    })
    .await?;
    steps.push(format!("routing rules send {} to {source_keyspace} until SwitchTraffic", tables.join(", ")));
    if !target_sharded {
        // An unsharded target learns the tables in its VSchema (as Vitess does).
        let ks_name = args.keyspace.clone();
        let names = tables.clone();
        svc.write("MoveTables", &subjects::topo_keyspace(&args.keyspace), |t| {
            let mut vs = t.keyspaces.get(&ks_name).and_then(|k| k.vschema.clone()).unwrap_or_default();
            let mut changed = false;
            for n in &names {
                if !vs.tables.contains_key(n) {
                    vs.tables.insert(n.clone(), Default::default());
                    changed = true;
                }
            }
            Ok(if changed {
                vec![TopoEvent::VSchemaApplied { keyspace: ks_name.clone(), vschema: vs }]
            } else {
                vec![]
            })
        })
        .await?;
        steps.push(format!("added {} to the VSchema of {}", tables.join(", "), args.keyspace));
    }
    let record = new_record(args, WorkflowKind::MoveTables, &source_keyspace, sources, targets, specs);
    record_created(svc, "MoveTables", record, steps).await
}

/// True when rule `r` routes table `table` (under any of its names).
pub fn rule_names(r: &RoutingRule, table: &str) -> bool {
    r.from == table || r.from.rsplit_once('.').is_some_and(|(_, t)| t == table)
}
