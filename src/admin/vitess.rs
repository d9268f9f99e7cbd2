//! vtctldclient's inspection and tablet-check commands: GetSrvKeyspaces, GetSrvVSchema,
//! PingTablet, RefreshState(ByShard), ReloadSchema(Shard|Keyspace), Validate(Keyspace|Shard),
//! ValidateSchemaShard, ValidateVersionKeyspace, GetPermissions, ExecuteFetchAsApp,
//! GetWorkflows, GetFullStatus, RunHealthCheck.

use std::time::Instant;

use serde_json::json;

use super::tablets::{alias_arg, record};
use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError};
use crate::protocol::tablet::{ExecOptions, ManageRequest, ManageResponse, QueryRequest, QueryResponse, TabletHealth};
use crate::protocol::topology::TabletType;
use crate::topo::state::Topology;
use crate::vindex::keyrange::KeyRange;

fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

fn json_reply(v: serde_json::Value) -> AdminReply {
    serde_json::to_string_pretty(&v)
        .map(|json| AdminResponse::Json { json })
        .map_err(|e| err(ErrorCode::Internal, format!("encoding the answer: {e}")))
}

/// `{"start": "", "end": "80"}` as Vitess prints key ranges (hex).
fn key_range_json(r: &KeyRange) -> serde_json::Value {
    json!({ "start": hex(&r.start), "end": hex(&r.end) })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Vitess's SrvKeyspace of one keyspace: its serving shards per tablet type.
pub fn srv_keyspace(topo: &Topology, keyspace: &str) -> Option<serde_json::Value> {
    let ks = topo.keyspaces.get(keyspace)?;
    let partitions: Vec<serde_json::Value> = [TabletType::Primary, TabletType::Replica, TabletType::Rdonly]
        .iter()
        .map(|t| {
            let shards = ks.serving.get(t).cloned().unwrap_or_else(|| ks.shard_names());
            let refs: Vec<serde_json::Value> = shards
                .iter()
                .filter_map(|s| ks.shards.get(s))
                .map(|s| json!({ "name": s.name, "key_range": key_range_json(&s.key_range) }))
                .collect();
            json!({ "served_type": t.as_str().to_ascii_uppercase(), "shard_references": refs })
        })
        .collect();
    Some(json!({ "partitions": partitions }))
}

impl AdminService {
    /// Answers the commands of this module.
    pub(super) async fn vitess_command(&self, req: AdminRequest) -> AdminReply {
        let topo = self.synced().await?;
        match req {
            AdminRequest::GetSrvKeyspaces { keyspace, cells } => {
                let srv = srv_keyspace(&topo, &keyspace).ok_or_else(|| {
                    err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist (GetKeyspaces lists them)"))
                })?;
                let known = known_cells(&topo);
                let cells: Vec<String> = if cells.is_empty() { known.iter().cloned().collect() } else { cells };
                let mut out = serde_json::Map::new();
                for c in cells {
                    if !known.contains(&c) {
                        return Err(err(ErrorCode::NotFound, format!("cell `{c}` does not exist (GetCellInfoNames)")));
                    }
                    out.insert(c, srv.clone());
                }
                json_reply(serde_json::Value::Object(out))
            }
            AdminRequest::GetSrvVSchema { cell } => {
                if !cell.is_empty() && !known_cells(&topo).contains(&cell) {
                    return Err(err(ErrorCode::NotFound, format!("cell `{cell}` does not exist (GetCellInfoNames)")));
                }
                let keyspaces: serde_json::Map<String, serde_json::Value> = topo
                    .keyspaces
                    .values()
                    .map(|k| {
                        let v = k
                            .vschema
                            .as_ref()
                            .map_or_else(|| json!({}), |v| serde_json::to_value(v).unwrap_or_default());
                        (k.name.clone(), v)
                    })
                    .collect();
                json_reply(json!({
                    "keyspaces": keyspaces,
                    "routing_rules": crate::topo::routing_rules::table_rules_json(&topo.routing_rules),
                    "keyspace_routing_rules": crate::topo::routing_rules::keyspace_rules_json(&topo.keyspace_routing_rules),
                }))
            }
            AdminRequest::PingTablet { alias } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                // The tablet itself, not its query service (a spare or drained tablet answers too).
                let started = Instant::now();
                self.fresh_health(&alias).await?;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                Ok(AdminResponse::Done { message: format!("tablet {alias} answered in {ms:.1} ms"), seq: topo.seq })
            }
            AdminRequest::RefreshState { alias } => {
                let alias = alias_arg(&alias)?;
                let line = self.refresh(&topo, &alias).await?;
                Ok(AdminResponse::Done { message: line, seq: topo.seq })
            }
            AdminRequest::RefreshStateByShard { keyspace, shard } => {
                let aliases = shard_aliases(&topo, &keyspace, &shard)?;
                let mut lines = Vec::new();
                for a in aliases {
                    lines.push(self.refresh(&topo, &a).await.unwrap_or_else(|e| format!("{a}: {}", e.message)));
                }
                Ok(AdminResponse::Done { message: lines.join("\n"), seq: topo.seq })
            }
            AdminRequest::ReloadSchema { alias } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                let line = self.reload(&alias).await?;
                Ok(AdminResponse::Done { message: line, seq: topo.seq })
            }
            AdminRequest::ReloadSchemaShard { keyspace, shard } => {
                let aliases = shard_aliases(&topo, &keyspace, &shard)?;
                self.reload_all(&topo, aliases).await
            }
            AdminRequest::ReloadSchemaKeyspace { keyspace } => {
                let ks = topo
                    .keyspaces
                    .get(&keyspace)
                    .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
                let aliases: Vec<String> = ks
                    .shard_names()
                    .iter()
                    .flat_map(|s| topo.shard_tablets(&keyspace, s).map(|t| t.alias.clone()))
                    .collect();
                self.reload_all(&topo, aliases).await
            }
            AdminRequest::Validate { keyspace, shard, ping_tablets } => {
                self.validate(&topo, keyspace.as_deref(), shard.as_deref(), ping_tablets).await
            }
            AdminRequest::ValidateSchemaShard { keyspace, shard } => {
                let aliases = shard_aliases(&topo, &keyspace, &shard)?;
                self.validate_schema_of(&format!("{keyspace}/{shard}"), aliases).await
            }
            AdminRequest::ValidateVersionKeyspace { keyspace } => self.validate_versions(&topo, &keyspace).await,
            AdminRequest::GetPermissions { alias } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                let sql = "SELECT Host, User, Password, plugin, Select_priv, Insert_priv, Update_priv, Delete_priv, \
                           Create_priv, Drop_priv, Grant_priv, Super_priv, Repl_slave_priv FROM mysql.user ORDER BY User, Host";
                let req = ManageRequest::ExecuteFetchAsDba { sql: sql.into(), max_rows: Some(10_000) };
                match self.tablet_client()?.manage(&alias, &req).await {
                    Ok(ManageResponse::Result { result }) => Ok(AdminResponse::QueryResult { alias, result }),
                    Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
                    Err(e) => Err(err(ErrorCode::Unavailable, format!("tablet {alias}: {e}"))),
                }
            }
            AdminRequest::ExecuteFetchAsApp { alias, sql, max_rows } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                let result = self.app_fetch(&alias, &sql, max_rows).await?;
                Ok(AdminResponse::QueryResult { alias, result })
            }
            AdminRequest::GetWorkflows { keyspace } => {
                let ks = topo
                    .keyspaces
                    .get(&keyspace)
                    .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
                let Some(w) = &self.workflows else {
                    return Err(err(ErrorCode::Unavailable, "this process cannot read workflows"));
                };
                let mut out = Vec::new();
                for wf in ks.workflows.values() {
                    let streams = match w.shown(wf.clone(), Vec::new()).await {
                        Ok(AdminResponse::Workflow { streams, .. }) => streams,
                        _ => Vec::new(),
                    };
                    out.push(json!({ "workflow": wf, "streams": streams }));
                }
                json_reply(json!({ "keyspace": keyspace, "workflows": out }))
            }
            AdminRequest::GetFullStatus { alias } => {
                let alias = alias_arg(&alias)?;
                let rec = record(&topo, &alias)?.clone();
                let health = self.fresh_health(&alias).await?;
                let shard = topo.shard(&rec.keyspace, &rec.shard);
                json_reply(json!({
                    "tablet": rec,
                    "is_shard_primary": shard.and_then(|s| s.primary.as_deref()) == Some(alias.as_str()),
                    "primary_term": shard.map(|s| s.primary_term),
                    "status": health,
                }))
            }
            AdminRequest::RunHealthCheck { alias } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                let h = self.fresh_health(&alias).await?;
                if !h.mysqld_up || !h.serving {
                    return Err(err(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "tablet {alias} is not healthy: mysqld {}, {}{}",
                            if h.mysqld_up { "up" } else { "down" },
                            if h.serving { "serving" } else { "not serving" },
                            h.last_error.map(|e| format!(": {e}")).unwrap_or_default()
                        ),
                    ));
                }
                let lag = h
                    .replication
                    .as_ref()
                    .and_then(|r| r.lag_secs)
                    .map(|l| format!(", {l}s behind"))
                    .unwrap_or_default();
                Ok(AdminResponse::Done {
                    message: format!("tablet {alias} is healthy: {} serving{lag}", h.tablet_type),
                    seq: topo.seq,
                })
            }
            AdminRequest::SleepTablet { alias, duration_ms } => {
                let alias = alias_arg(&alias)?;
                record(&topo, &alias)?;
                let req = ManageRequest::Sleep { duration_ms };
                let within = std::time::Duration::from_millis(duration_ms.saturating_add(30_000));
                match self.tablet_client()?.manage_within(&alias, &req, within).await {
                    Ok(ManageResponse::Done { message }) => Ok(AdminResponse::Done { message, seq: topo.seq }),
                    Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
                    Err(e) => Err(err(ErrorCode::Unavailable, format!("tablet {alias}: {e}"))),
                }
            }
            other => Err(err(ErrorCode::Internal, format!("{} is not an inspection command", other.name()))),
        }
    }

    /// Runs `sql` on a tablet's query service, outside transactions.
    pub(super) async fn app_fetch(
        &self,
        alias: &str,
        sql: &str,
        max_rows: Option<u64>,
    ) -> Result<crate::protocol::tablet::QueryResult, RemoteError> {
        let req = QueryRequest::Execute {
            sql: sql.to_string(),
            binds: Default::default(),
            transaction_id: None,
            options: ExecOptions::default(),
        };
        match self.tablet_client()?.query(alias, &req).await {
            Ok(QueryResponse::Result { result, .. }) => {
                let max = max_rows.unwrap_or(10_000);
                if result.rows.len() as u64 > max {
                    return Err(err(
                        ErrorCode::FailedPrecondition,
                        format!("the result has {} rows, more than --max-rows {max}", result.rows.len()),
                    ));
                }
                Ok(result)
            }
            Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
            Err(e) => Err(err(ErrorCode::Unavailable, format!("tablet {alias}: {e}"))),
        }
    }

    /// The tablet's health computed now.
    pub(super) async fn fresh_health(&self, alias: &str) -> Result<TabletHealth, RemoteError> {
        match self.tablet_client()?.manage(alias, &ManageRequest::Status).await {
            Ok(ManageResponse::Status { health }) => Ok(*health),
            Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
            Err(e) => Err(err(ErrorCode::Unavailable, format!("tablet {alias}: {e}"))),
        }
    }

    async fn refresh(&self, topo: &Topology, alias: &str) -> Result<String, RemoteError> {
        let rec = record(topo, alias)?;
        let h = self.fresh_health(alias).await?;
        if h.tablet_type != rec.tablet_type {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!("tablet {alias} runs as {} but the topology records {}", h.tablet_type, rec.tablet_type),
            ));
        }
        Ok(format!(
            "{alias}: {} {}, topology sequence {} (tablets follow the topology stream; nothing to re-read)",
            h.tablet_type,
            if h.serving { "serving" } else { "not serving" },
            topo.seq
        ))
    }

    async fn reload(&self, alias: &str) -> Result<String, RemoteError> {
        match self.tablet_client()?.manage(alias, &ManageRequest::GetSchema).await {
            Ok(ManageResponse::Schema { schema }) => {
                Ok(format!("{alias}: {} tables and views in {}", schema.tables.len(), schema.database))
            }
            Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
            Err(e) => Err(err(ErrorCode::Unavailable, format!("tablet {alias}: {e}"))),
        }
    }

    async fn reload_all(&self, topo: &Topology, aliases: Vec<String>) -> AdminReply {
        let mut lines = Vec::new();
        let mut failed = Vec::new();
        let reloads = aliases.iter().map(|a| self.reload(a));
        for r in futures::future::join_all(reloads).await {
            match r {
                Ok(l) => lines.push(l),
                Err(e) => failed.push(e.message),
            }
        }
        if !failed.is_empty() {
            return Err(err(ErrorCode::Unavailable, format!("{}\n{}", failed.join("\n"), lines.join("\n"))));
        }
        Ok(AdminResponse::Done { message: lines.join("\n"), seq: topo.seq })
    }

    async fn validate_versions(&self, topo: &Topology, keyspace: &str) -> AdminReply {
        let ks = topo
            .keyspaces
            .get(keyspace)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
        let mut reference: Option<(String, String)> = None;
        let mut checked = Vec::new();
        let mut problems = Vec::new();
        for shard in ks.shard_names() {
            let primary = ks.shards.get(&shard).and_then(|s| s.primary.clone());
            let mut aliases: Vec<String> = topo.shard_tablets(keyspace, &shard).map(|t| t.alias.clone()).collect();
            aliases.sort_by_key(|a| (Some(a) != primary.as_ref(), a.clone()));
            for a in aliases {
                match self.fresh_health(&a).await {
                    Ok(h) => {
                        let v = format!("{} ({})", h.server_version, h.version_comment);
                        checked.push(format!("{a}: {v}"));
                        match &reference {
                            None => reference = Some((a.clone(), v)),
                            Some((r, rv)) if *rv != v => problems.push(format!("{a} runs {v} but {r} runs {rv}")),
                            _ => {}
                        }
                    }
                    Err(e) => problems.push(e.message),
                }
            }
        }
        Ok(AdminResponse::Validation { scope: format!("versions of keyspace {keyspace}"), checked, problems })
    }

    async fn validate_schema_of(&self, scope: &str, aliases: Vec<String>) -> AdminReply {
        let Some(reference) = aliases.first().cloned() else {
            return Err(err(ErrorCode::FailedPrecondition, format!("{scope} has no tablets")));
        };
        let ref_schema = self.schema_of(&reference).await?;
        let mut problems = Vec::new();
        let mut checked = vec![reference.clone()];
        for a in aliases.iter().skip(1) {
            checked.push(a.clone());
            match self.schema_of(a).await {
                Ok(s) => problems.extend(super::tablets::diff_schemas(&reference, &ref_schema, a, &s)),
                Err(e) => problems.push(format!("{a}: cannot read schema: {}", e.message)),
            }
        }
        Ok(AdminResponse::Validation { scope: format!("schema of {scope} against {reference}"), checked, problems })
    }

    async fn validate(&self, topo: &Topology, keyspace: Option<&str>, shard: Option<&str>, ping: bool) -> AdminReply {
        let keyspaces: Vec<&crate::topo::state::Keyspace> = match keyspace {
            Some(k) => vec![topo
                .keyspaces
                .get(k)
                .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{k}` does not exist")))?],
            None => topo.keyspaces.values().collect(),
        };
        let mut checked = Vec::new();
        let mut problems = Vec::new();
        for ks in keyspaces {
            let shards = match shard {
                Some(s) if ks.shards.contains_key(s) => vec![s.to_string()],
                Some(s) => return Err(err(ErrorCode::NotFound, format!("shard `{}/{s}` does not exist", ks.name))),
                None => ks.shard_names(),
            };
            if shard.is_none() {
                problems.extend(super::validate::serving_gaps(ks));
            }
            for s in shards {
                checked.push(format!("{}/{s}", ks.name));
                let found = self.validate_shard(topo, &ks.name, &s, ping).await;
                problems.extend(found);
            }
        }
        let scope = match (keyspace, shard) {
            (Some(k), Some(s)) => format!("shard {k}/{s}"),
            (Some(k), None) => format!("keyspace {k}"),
            _ => "the cluster".to_string(),
        };
        Ok(AdminResponse::Validation { scope, checked, problems })
    }
}

/// Cells registered with AddCellInfo and cells tablets run in.
fn known_cells(topo: &Topology) -> std::collections::BTreeSet<String> {
    topo.cells.keys().cloned().chain(topo.tablets.values().map(|t| t.cell.clone())).collect()
}

fn shard_aliases(topo: &Topology, keyspace: &str, shard: &str) -> Result<Vec<String>, RemoteError> {
    let s = topo
        .shard(keyspace, shard)
        .ok_or_else(|| err(ErrorCode::NotFound, format!("shard `{keyspace}/{shard}` does not exist")))?;
    let mut aliases: Vec<String> = topo.shard_tablets(keyspace, shard).map(|t| t.alias.clone()).collect();
    aliases.sort_by_key(|a| (Some(a) != s.primary.as_ref(), a.clone()));
    Ok(aliases)
}
