//! Admin commands that talk to tablets: reparenting at shard init, tablet types, replication,
//! schema changes and checks, DBA queries.

use std::collections::BTreeMap;

use super::AdminService;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError, TabletPosition};
use crate::protocol::names::normalize_tablet_alias;
use crate::protocol::subjects;
use crate::protocol::tablet::{ManageRequest, ManageResponse, TabletError, TabletSchema};
use crate::protocol::topology::{TabletRecord, TabletType, TopoEvent};
use crate::schema::{self, TableInfo};
use crate::topo::state::Topology;
use crate::topo::TopoError;

fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

fn tablet_err(alias: &str, e: TabletError) -> RemoteError {
    let code = if e.retryable() { ErrorCode::Unavailable } else { ErrorCode::FailedPrecondition };
    err(code, format!("tablet {alias}: {e}"))
}

pub(super) fn record<'a>(topo: &'a Topology, alias: &str) -> Result<&'a TabletRecord, RemoteError> {
    topo.tablets.get(alias).ok_or_else(|| {
        err(ErrorCode::NotFound, format!("tablet `{alias}` is not in the topology (GetTablets lists them)"))
    })
}

pub(super) fn alias_arg(alias: &str) -> Result<String, RemoteError> {
    normalize_tablet_alias(alias).map_err(|e| err(ErrorCode::InvalidArgument, e))
}

fn done_message(resp: ManageResponse) -> String {
    match resp {
        ManageResponse::Done { message } => message,
        other => format!("{other:?}"),
    }
}

impl AdminService {
    /// Answers the tablet commands.
    pub(super) async fn tablet_command(&self, req: AdminRequest) -> AdminReply {
        let tc = self.tablet_client()?;
        match req {
            AdminRequest::InitShardPrimary { keyspace, shard, primary, force } => {
                self.init_shard_primary(&keyspace, &shard, &alias_arg(&primary)?, force).await
            }
            AdminRequest::ChangeTabletType { alias, tablet_type } => {
                let alias = alias_arg(&alias)?;
                let topo = self.synced().await?;
                let current = record(&topo, &alias)?.tablet_type;
                if current == TabletType::Primary || tablet_type == TabletType::Primary {
                    return Err(err(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "{alias} is {current}: ChangeTabletType never changes to or from primary; that is reparenting"
                        ),
                    ));
                }
                let resp = tc
                    .manage(&alias, &ManageRequest::SetType { tablet_type })
                    .await
                    .map_err(|e| tablet_err(&alias, e))?;
                let seq = self.record_type(&alias, tablet_type).await?;
                Ok(AdminResponse::Done { message: done_message(resp), seq })
            }
            AdminRequest::StartReplication { alias } => self.simple(&alias, ManageRequest::StartReplication).await,
            AdminRequest::StopReplication { alias } => self.simple(&alias, ManageRequest::StopReplication).await,
            AdminRequest::ShardReplicationPositions { keyspace, shard } => {
                let topo = self.synced().await?;
                topo.shard(&keyspace, &shard)
                    .ok_or_else(|| err(ErrorCode::NotFound, format!("shard `{keyspace}/{shard}` does not exist")))?;
                let mut tablets = Vec::new();
                for t in topo.shard_tablets(&keyspace, &shard) {
                    let pos = match tc.manage(&t.alias, &ManageRequest::Status).await {
                        Ok(ManageResponse::Status { health }) => {
                            let r = health.replication.unwrap_or_default();
                            TabletPosition {
                                alias: t.alias.clone(),
                                tablet_type: health.tablet_type,
                                position: r.position,
                                source: r.source,
                                replicating: r.io_running && r.sql_running,
                                lag_secs: r.lag_secs,
                                error: r.last_error.or(health.last_error),
                            }
                        }
                        Ok(other) => return Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
                        Err(e) => TabletPosition {
                            alias: t.alias.clone(),
                            tablet_type: t.tablet_type,
                            position: String::new(),
                            source: None,
                            replicating: false,
                            lag_secs: None,
                            error: Some(e.to_string()),
                        },
                    };
                    tablets.push(pos);
                }
                Ok(AdminResponse::Positions { keyspace, shard, tablets })
            }
            AdminRequest::ApplySchema { keyspace, sql, allow_large, large_table_rows } => {
                self.apply_schema(&keyspace, &sql, allow_large, large_table_rows).await
            }
            AdminRequest::GetSchema { alias } => {
                let alias = alias_arg(&alias)?;
                let schema = self.schema_of(&alias).await?;
                Ok(AdminResponse::Schema { alias, schema })
            }
            AdminRequest::ValidateSchemaKeyspace { keyspace } => self.validate_schema(&keyspace).await,
            AdminRequest::ExecuteFetchAsDba { alias, sql, max_rows } => {
                let alias = alias_arg(&alias)?;
                match tc.manage(&alias, &ManageRequest::ExecuteFetchAsDba { sql, max_rows }).await {
                    Ok(ManageResponse::Result { result }) => Ok(AdminResponse::QueryResult { alias, result }),
                    Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
                    Err(e) => Err(tablet_err(&alias, e)),
                }
            }
            AdminRequest::DeleteTablets { aliases, allow_primary } => {
                let mut lines = Vec::new();
                let mut seq = 0;
                for alias in aliases {
                    let alias = alias_arg(&alias)?;
                    let applied = self
                        .writer
                        .write("DeleteTablets", &subjects::topo_tablet(&alias), |topo| {
                            let t = topo.tablets.get(&alias).ok_or_else(|| TopoError::NotFound(format!("tablet `{alias}` does not exist")))?;
                            let is_primary = topo.shard(&t.keyspace, &t.shard).and_then(|s| s.primary.as_deref()) == Some(alias.as_str());
                            if is_primary && !allow_primary {
                                return Err(TopoError::FailedPrecondition(format!(
                                    "tablet `{alias}` is the primary of {}/{}; pass --allow-primary to delete it anyway",
                                    t.keyspace, t.shard
                                )));
                            }
                            Ok(vec![TopoEvent::TabletUnregistered { alias: alias.clone() }])
                        })
                        .await
                        .map_err(RemoteError::from)?;
                    seq = applied.seq;
                    lines.push(format!("tablet {alias} unregistered"));
                }
                Ok(AdminResponse::Done { message: lines.join("\n"), seq })
            }
            other => Err(err(ErrorCode::Internal, format!("{} is not a tablet command", other.name()))),
        }
    }

    async fn simple(&self, alias: &str, op: ManageRequest) -> AdminReply {
        let alias = alias_arg(alias)?;
        let topo = self.synced().await?;
        record(&topo, &alias)?;
        let resp = self.tablet_client()?.manage(&alias, &op).await.map_err(|e| tablet_err(&alias, e))?;
        Ok(AdminResponse::Done { message: done_message(resp), seq: topo.seq })
    }

    pub(super) async fn record_type(&self, alias: &str, tablet_type: TabletType) -> Result<u64, RemoteError> {
        self.writer.record_tablet_type(alias, tablet_type).await.map_err(RemoteError::from)
    }

    async fn init_shard_primary(&self, keyspace: &str, shard: &str, primary: &str, force: bool) -> AdminReply {
        let tc = self.tablet_client()?;
        let topo = self.synced().await?;
        let s = topo
            .shard(keyspace, shard)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("shard `{keyspace}/{shard}` does not exist")))?;
        let tablets: Vec<TabletRecord> = topo.shard_tablets(keyspace, shard).cloned().collect();
        let p = tablets.iter().find(|t| t.alias == primary).cloned().ok_or_else(|| {
            err(ErrorCode::FailedPrecondition, format!("tablet `{primary}` is not a tablet of {keyspace}/{shard}"))
        })?;
        if let Some(current) = &s.primary {
            if current != primary && !force {
                return Err(err(
                    ErrorCode::FailedPrecondition,
                    format!("{keyspace}/{shard} already has primary {current}; pass --force to make {primary} primary anyway"),
                ));
            }
        }
        let mut lines = Vec::new();
        let policy = topo.keyspaces.get(keyspace).map(|k| k.durability_policy.clone()).unwrap_or_default();
        let promote =
            ManageRequest::MakePrimary { semi_sync: crate::reparent::primary_waits(&policy), term: s.primary_term + 1 };
        let resp = tc.manage(primary, &promote).await.map_err(|e| tablet_err(primary, e))?;
        lines.push(done_message(resp));
        let mut failures = Vec::new();
        let mut new_types = vec![(primary.to_string(), TabletType::Primary)];
        for t in tablets.iter().filter(|t| t.alias != primary) {
            let tablet_type = if t.tablet_type == TabletType::Primary { TabletType::Replica } else { t.tablet_type };
            let req = ManageRequest::ReplicateFrom {
                host: p.mysql_host.clone(),
                port: p.mysql_port,
                tablet_type,
                semi_sync: crate::reparent::acknowledges(&policy, tablet_type, &t.cell, &p.cell),
            };
            match tc.manage(&t.alias, &req).await {
                Ok(resp) => {
                    lines.push(done_message(resp));
                    new_types.push((t.alias.clone(), tablet_type));
                }
                Err(e) => failures.push(format!("{}: {e}", t.alias)),
            }
        }
        let applied = self
            .writer
            .write("InitShardPrimary", &subjects::topo_shard(keyspace, shard), |topo| {
                let s = topo
                    .shard(keyspace, shard)
                    .ok_or_else(|| TopoError::NotFound(format!("shard `{keyspace}/{shard}` vanished")))?;
                Ok(vec![TopoEvent::ShardPrimaryChanged {
                    keyspace: keyspace.to_string(),
                    shard: shard.to_string(),
                    primary: Some(primary.to_string()),
                    term: s.primary_term + 1,
                }])
            })
            .await
            .map_err(RemoteError::from)?;
        let mut seq = applied.seq;
        for (alias, t) in new_types {
            seq = seq.max(self.record_type(&alias, t).await?);
        }
        if !failures.is_empty() {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!(
                    "{primary} is now primary of {keyspace}/{shard}, but these tablets could not be pointed at it: {}; fix them and run StartReplication or InitShardPrimary --force again",
                    failures.join("; ")
                ),
            ));
        }
        lines.push(format!("{keyspace}/{shard} primary is {primary}"));
        Ok(AdminResponse::Done { message: lines.join("\n"), seq })
    }

    pub(super) async fn schema_of(&self, alias: &str) -> Result<TabletSchema, RemoteError> {
        match self.tablet_client()?.manage(alias, &ManageRequest::GetSchema).await {
            Ok(ManageResponse::Schema { schema }) => Ok(schema),
            Ok(other) => Err(err(ErrorCode::Internal, format!("unexpected answer {other:?}"))),
            Err(e) => Err(tablet_err(alias, e)),
        }
    }

    async fn apply_schema(&self, keyspace: &str, sql: &str, allow_large: bool, large: u64) -> AdminReply {
        let ddls = schema::parse(sql, keyspace)
            .map_err(|e| err(ErrorCode::InvalidArgument, format!("{e}; nothing was applied")))?;
        let topo = self.synced().await?;
        let ks = topo.keyspaces.get(keyspace).ok_or_else(|| {
            err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist; nothing was applied"))
        })?;
        let shards = ks.shard_names();
        if shards.is_empty() {
            return Err(err(
                ErrorCode::FailedPrecondition,
                format!("keyspace `{keyspace}` has no shards; nothing was applied"),
            ));
        }
        let mut primaries = Vec::new();
        for name in &shards {
            let primary = ks.shards.get(name).and_then(|s| s.primary.clone()).ok_or_else(|| {
                err(
                    ErrorCode::FailedPrecondition,
                    format!("shard {keyspace}/{name} has no primary (run InitShardPrimary); nothing was applied"),
                )
            })?;
            primaries.push((name.clone(), primary));
        }
        let mut problems = Vec::new();
        for (shard, primary) in &primaries {
            let tables: BTreeMap<String, TableInfo> = self
                .schema_of(primary)
                .await?
                .tables
                .into_iter()
                .map(|t| (t.name, TableInfo { is_view: t.kind == "VIEW", rows: t.rows }))
                .collect();
            for p in schema::check(&ddls, &tables, large, allow_large) {
                problems.push(format!("shard {shard}: {p}"));
            }
        }
        if !problems.is_empty() {
            return Err(err(ErrorCode::FailedPrecondition, format!("{}; nothing was applied", problems.join("; "))));
        }
        let tc = self.tablet_client()?;
        let mut applied = Vec::new();
        for (i, ddl) in ddls.iter().enumerate() {
            for (shard, primary) in &primaries {
                if let Err(e) = tc.manage(primary, &ManageRequest::ApplyDdl { sql: ddl.sql.clone() }).await {
                    return Err(err(
                        ErrorCode::FailedPrecondition,
                        format!(
                            "statement {} failed on shard {shard} ({primary}): {e}; applied before it: [{}]",
                            i + 1,
                            applied.join(", ")
                        ),
                    ));
                }
                applied.push(format!("statement {} on {shard}", i + 1));
            }
        }
        Ok(AdminResponse::Done {
            message: format!("applied {} statement(s) to {keyspace} shards {}", ddls.len(), shards.join(", ")),
            seq: topo.seq,
        })
    }

    async fn validate_schema(&self, keyspace: &str) -> AdminReply {
        let topo = self.synced().await?;
        let ks = topo
            .keyspaces
            .get(keyspace)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
        let mut tablets: Vec<&TabletRecord> = Vec::new();
        for shard in ks.shard_names() {
            let primary = ks.shards.get(&shard).and_then(|s| s.primary.clone());
            let mut in_shard: Vec<&TabletRecord> = topo.shard_tablets(keyspace, &shard).collect();
            in_shard.sort_by_key(|t| (Some(&t.alias) != primary.as_ref(), t.alias.clone()));
            tablets.extend(in_shard);
        }
        let Some(reference) = tablets.first().map(|t| t.alias.clone()) else {
            return Err(err(ErrorCode::FailedPrecondition, format!("keyspace `{keyspace}` has no tablets")));
        };
        let ref_schema = self.schema_of(&reference).await?;
        let mut differences = Vec::new();
        let mut compared = Vec::new();
        for t in tablets.iter().skip(1) {
            compared.push(t.alias.clone());
            match self.schema_of(&t.alias).await {
                Ok(s) => differences.extend(diff_schemas(&reference, &ref_schema, &t.alias, &s)),
                Err(e) => differences.push(format!("{}: cannot read schema: {}", t.alias, e.message)),
            }
        }
        Ok(AdminResponse::SchemaValidation { keyspace: keyspace.to_string(), reference, compared, differences })
    }
}

/// Every difference between two tablets' schemas, one line each.
pub fn diff_schemas(a_name: &str, a: &TabletSchema, b_name: &str, b: &TabletSchema) -> Vec<String> {
    let a_tables: BTreeMap<&str, &str> = a.tables.iter().map(|t| (t.name.as_str(), t.create.as_str())).collect();
    let b_tables: BTreeMap<&str, &str> = b.tables.iter().map(|t| (t.name.as_str(), t.create.as_str())).collect();
    let mut out = Vec::new();
    for (name, def) in &a_tables {
        match b_tables.get(name) {
            None => out.push(format!("{b_name} lacks table `{name}` that {a_name} has")),
            Some(other) if other != def => {
                out.push(format!("table `{name}` differs: {a_name} has:\n{def}\n{b_name} has:\n{other}"))
            }
            _ => {}
        }
    }
    for name in b_tables.keys().filter(|n| !a_tables.contains_key(*n)) {
        out.push(format!("{b_name} has extra table `{name}` that {a_name} lacks"));
    }
    out
}
