//! Serving admin commands: decode, dispatch to a read or a validated topology write, reply.
//!
//! Any node serves any command (they share a NATS queue group). Reads first catch this node's
//! view up with the stream, so a read after a write sees it whichever node answers.

use std::time::Duration;

mod backups;
mod emergency;
mod reparent;
mod reparent_tablet;
mod tablets;
mod transactions;
mod validate;
mod vitess;

use actix::Recipient;

use crate::actors::health::{GetHealth, STALE_AFTER_MS};
use crate::actors::node::GetPeers;
use crate::backend::TabletClient;
use crate::protocol::admin::TabletInfo;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError};
use crate::protocol::subjects;
use crate::topo::commands::{aggregate_subject, plan};
use crate::topo::state::Topology;
use crate::topo::writer::TopoWriter;
use crate::topo::TopoError;
use crate::vindex::keyrange::shard_order;

const READ_SYNC_WAIT: Duration = Duration::from_secs(5);

/// Everything needed to answer admin commands.
#[derive(Clone)]
pub struct AdminService {
    writer: TopoWriter,
    peers: Option<Recipient<GetPeers>>,
    tablets: Option<TabletClient>,
    health: Option<Recipient<GetHealth>>,
    workflows: Option<crate::workflow::WorkflowService>,
    /// This node's backup storage, or why it has none.
    backups: Option<Result<crate::backup::SharedStorage, String>>,
    /// The log of distributed transactions' decisions.
    txlog: Option<std::sync::Arc<dyn crate::twopc::TxLog>>,
}

/// How long an admin command waits for one tablet to answer.
const TABLET_TIMEOUT: Duration = Duration::from_secs(30);

impl AdminService {
    pub fn new(writer: TopoWriter, peers: Option<Recipient<GetPeers>>) -> Self {
        AdminService { writer, peers, tablets: None, health: None, workflows: None, backups: None, txlog: None }
    }

    /// Enables the backup commands, with this node's storage (or the reason it has none).
    pub fn with_backups(mut self, storage: Result<crate::backup::SharedStorage, String>) -> Self {
        self.backups = Some(storage);
        self
    }

    /// Enables `DistributedTransaction`, over the cluster's transaction log.
    pub fn with_txlog(mut self, log: std::sync::Arc<dyn crate::twopc::TxLog>) -> Self {
        self.txlog = Some(log);
        self
    }

    /// Enables the commands that talk to tablets.
    pub fn with_tablets(mut self, client: async_nats::Client, sender: String, health: Recipient<GetHealth>) -> Self {
        self.tablets = Some(TabletClient::new(client, format!("admin@{sender}"), TABLET_TIMEOUT));
        self.health = Some(health);
        self
    }

    /// Enables the workflow commands (Reshard, MoveTables, Workflow, VDiff).
    pub fn with_workflows(mut self, client: async_nats::Client, creds: crate::config::VReplicationConfig) -> Self {
        if let Some(tablets) = self.tablets.clone() {
            self.workflows =
                Some(crate::workflow::WorkflowService { writer: self.writer.clone(), tablets, client, creds });
        }
        self
    }

    fn tablet_client(&self) -> Result<TabletClient, RemoteError> {
        self.tablets
            .clone()
            .ok_or_else(|| RemoteError::new(ErrorCode::Unavailable, "this process cannot reach tablets"))
    }

    /// Checks that a decoded request came on its own command's subject.
    pub fn check_subject(subject: &str, req: &AdminRequest) -> Result<(), RemoteError> {
        let Some(command) = subjects::admin_command_of(subject) else {
            return Err(RemoteError::new(ErrorCode::UnknownCommand, format!("`{subject}` is not an admin subject")));
        };
        if !AdminRequest::NAMES.contains(&command) {
            return Err(RemoteError::new(
                ErrorCode::UnknownCommand,
                format!("unknown admin command `{command}`; `tessera ctl --help` lists the commands"),
            ));
        }
        if req.name() != command {
            return Err(RemoteError::new(
                ErrorCode::BadRequest,
                format!("the body is a {} request but was sent to the subject of {command}", req.name()),
            ));
        }
        Ok(())
    }

    /// Answers one decoded request.
    pub async fn handle(&self, req: AdminRequest) -> AdminReply {
        match &req {
            AdminRequest::AddCellInfo { .. }
            | AdminRequest::CreateKeyspace { .. }
            | AdminRequest::DeleteKeyspace { .. }
            | AdminRequest::CreateShard { .. }
            | AdminRequest::SetShardIsPrimaryServing { .. }
            | AdminRequest::SetKeyspaceDurabilityPolicy { .. }
            | AdminRequest::SetFailover { .. }
            | AdminRequest::SetShardTabletControl { .. } => self.write(&req).await,
            AdminRequest::PlannedReparentShard { .. }
            | AdminRequest::EmergencyReparentShard { .. }
            | AdminRequest::ReparentTablet { .. }
            | AdminRequest::TabletExternallyReparented { .. }
            | AdminRequest::SetWritable { .. } => self.reparent_command(req).await,
            AdminRequest::ApplyVSchema { dry_run: true, keyspace, .. } => {
                let topo = self.synced().await?;
                plan(&req, &topo).map_err(RemoteError::from)?;
                Ok(AdminResponse::Done {
                    message: format!("VSchema for {keyspace} is valid (dry run: not applied)"),
                    seq: topo.seq,
                })
            }
            AdminRequest::ApplyVSchema { .. }
            | AdminRequest::ApplyRoutingRules { .. }
            | AdminRequest::ApplyKeyspaceRoutingRules { .. } => self.write(&req).await,
            AdminRequest::InitShardPrimary { .. }
            | AdminRequest::ChangeTabletType { .. }
            | AdminRequest::StartReplication { .. }
            | AdminRequest::StopReplication { .. }
            | AdminRequest::ShardReplicationPositions { .. }
            | AdminRequest::ApplySchema { .. }
            | AdminRequest::GetSchema { .. }
            | AdminRequest::ValidateSchemaKeyspace { .. }
            | AdminRequest::ExecuteFetchAsDba { .. }
            | AdminRequest::DeleteTablets { .. } => self.tablet_command(req).await,
            AdminRequest::Backup { .. }
            | AdminRequest::BackupShard { .. }
            | AdminRequest::GetBackups { .. }
            | AdminRequest::RemoveBackup { .. }
            | AdminRequest::RestoreFromBackup { .. } => self.backup_command(req).await,
            AdminRequest::DistributedTransaction { .. } => self.transaction_command(req).await,
            AdminRequest::GetSrvKeyspaces { .. }
            | AdminRequest::GetSrvVSchema { .. }
            | AdminRequest::PingTablet { .. }
            | AdminRequest::RefreshState { .. }
            | AdminRequest::RefreshStateByShard { .. }
            | AdminRequest::ReloadSchema { .. }
            | AdminRequest::ReloadSchemaShard { .. }
            | AdminRequest::ReloadSchemaKeyspace { .. }
            | AdminRequest::Validate { .. }
            | AdminRequest::ValidateSchemaShard { .. }
            | AdminRequest::ValidateVersionKeyspace { .. }
            | AdminRequest::GetPermissions { .. }
            | AdminRequest::ExecuteFetchAsApp { .. }
            | AdminRequest::GetWorkflows { .. }
            | AdminRequest::GetFullStatus { .. }
            | AdminRequest::RunHealthCheck { .. }
            | AdminRequest::SleepTablet { .. } => self.vitess_command(req).await,
            AdminRequest::Reshard { .. }
            | AdminRequest::MoveTables { .. }
            | AdminRequest::Workflow { .. }
            | AdminRequest::VDiff { .. }
            | AdminRequest::CopySchemaShard { .. }
            | AdminRequest::SplitClone { .. }
            | AdminRequest::SplitDiff { .. }
            | AdminRequest::MigrateServedTypes { .. } => match &self.workflows {
                Some(w) => w.handle(req).await,
                None => Err(RemoteError::new(ErrorCode::Unavailable, "this process cannot run workflows")),
            },
            AdminRequest::DeleteShards { shards, recursive, even_if_serving } => {
                if aggregate_subject(&req).is_some() {
                    return self.write(&req).await;
                }
                // Shards of several keyspaces: one write per keyspace aggregate.
                let mut keyspaces: Vec<&str> = shards.iter().map(|s| s.keyspace.as_str()).collect();
                keyspaces.dedup();
                let mut messages = Vec::new();
                let mut seq = 0;
                for ks in keyspaces {
                    let part = AdminRequest::DeleteShards {
                        shards: shards.iter().filter(|s| s.keyspace == ks).cloned().collect(),
                        recursive: *recursive,
                        even_if_serving: *even_if_serving,
                    };
                    if let AdminResponse::Done { message, seq: s } = self.write(&part).await? {
                        messages.push(message);
                        seq = s;
                    }
                }
                Ok(AdminResponse::Done { message: messages.join("\n"), seq })
            }
            _ => self.read(req).await,
        }
    }

    async fn write(&self, req: &AdminRequest) -> AdminReply {
        let subject = aggregate_subject(req).ok_or_else(|| {
            RemoteError::new(ErrorCode::InvalidArgument, format!("{} names no aggregate", req.name()))
        })?;
        let applied =
            self.writer.write(req.name(), &subject, |topo| plan(req, topo)).await.map_err(RemoteError::from)?;
        let message = if applied.events.is_empty() {
            "nothing to change: already in effect".to_string()
        } else {
            applied.events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
        };
        Ok(AdminResponse::Done { message, seq: applied.seq })
    }

    /// This node's view, caught up with the stream's current end.
    async fn synced(&self) -> Result<std::sync::Arc<Topology>, RemoteError> {
        let last = self.writer.store().last_seq().await.map_err(RemoteError::from)?;
        self.writer.view().wait_for(last, READ_SYNC_WAIT).await.map_err(RemoteError::from)?;
        Ok(self.writer.view().snapshot())
    }

    async fn read(&self, req: AdminRequest) -> AdminReply {
        if let AdminRequest::GetNodes = req {
            return self.nodes().await;
        }
        if let AdminRequest::GetTopology { at: Some(at) } = req {
            let last = self.writer.store().last_seq().await.map_err(RemoteError::from)?;
            if at > last {
                return Err(RemoteError::new(
                    ErrorCode::InvalidArgument,
                    format!("--at {at} is past the end of the topology stream (last sequence is {last})"),
                ));
            }
            let topology = self.writer.store().load(Some(at)).await.map_err(RemoteError::from)?;
            return Ok(AdminResponse::Topology { topology });
        }
        let topo = self.synced().await?;
        let not_found = |m: String| RemoteError::from(TopoError::NotFound(m));
        let keyspace = |name: &str| {
            topo.keyspaces
                .get(name)
                .cloned()
                .ok_or_else(|| not_found(format!("keyspace `{name}` does not exist (GetKeyspaces lists them)")))
        };
        match req {
            AdminRequest::GetCellInfoNames => {
                Ok(AdminResponse::CellNames { names: topo.cells.keys().cloned().collect() })
            }
            AdminRequest::GetKeyspace { keyspace: name } => Ok(AdminResponse::Keyspace { keyspace: keyspace(&name)? }),
            AdminRequest::GetKeyspaces => {
                Ok(AdminResponse::Keyspaces { keyspaces: topo.keyspaces.values().cloned().collect() })
            }
            AdminRequest::GetShard { keyspace: ks, shard } => {
                let k = keyspace(&ks)?;
                let s = k
                    .shards
                    .get(&shard)
                    .cloned()
                    .ok_or_else(|| not_found(format!("shard `{ks}/{shard}` does not exist")))?;
                Ok(AdminResponse::Shard { keyspace: ks, shard: s })
            }
            AdminRequest::FindAllShardsInKeyspace { keyspace: ks } => {
                let k = keyspace(&ks)?;
                let mut shards: Vec<_> = k.shards.values().cloned().collect();
                shards.sort_by(|a, b| shard_order(&a.name, &b.name));
                Ok(AdminResponse::Shards { keyspace: ks, shards })
            }
            AdminRequest::GetTablets { keyspace: ks, shard, cell } => {
                let health = match &self.health {
                    Some(h) => h.send(GetHealth).await.unwrap_or_default(),
                    None => Default::default(),
                };
                let now = crate::protocol::envelope::now_ms();
                let tablets = topo
                    .tablets
                    .values()
                    .filter(|t| ks.as_ref().is_none_or(|k| &t.keyspace == k))
                    .filter(|t| shard.as_ref().is_none_or(|s| &t.shard == s))
                    .filter(|t| cell.as_ref().is_none_or(|c| &t.cell == c))
                    .map(|t| {
                        let h = health.get(&t.alias).cloned();
                        let stale = h.as_ref().is_none_or(|h| now.saturating_sub(h.time_ms) > STALE_AFTER_MS);
                        let shard = topo.shard(&t.keyspace, &t.shard);
                        let primary_term =
                            shard.filter(|s| s.primary.as_deref() == Some(t.alias.as_str())).map(|s| s.primary_term);
                        TabletInfo { tablet: t.clone(), health: h, stale, primary_term }
                    })
                    .collect();
                Ok(AdminResponse::Tablets { tablets })
            }
            AdminRequest::GetTopology { .. } => Ok(AdminResponse::Topology { topology: (*topo).clone() }),
            AdminRequest::GetVSchema { keyspace: ks } => {
                let k = keyspace(&ks)?;
                Ok(AdminResponse::VSchema { keyspace: ks, vschema: k.vschema })
            }
            AdminRequest::GetRoutingRules => Ok(AdminResponse::RoutingRules {
                rules: crate::topo::routing_rules::table_rules_json(&topo.routing_rules).to_string(),
                keyspace_rules: crate::topo::routing_rules::keyspace_rules_json(&topo.keyspace_routing_rules)
                    .to_string(),
            }),
            other => Err(RemoteError::new(ErrorCode::Internal, format!("{} is not a read", other.name()))),
        }
    }

    async fn nodes(&self) -> AdminReply {
        let Some(peers) = &self.peers else {
            return Err(RemoteError::new(ErrorCode::Unavailable, "this process does not track nodes"));
        };
        match peers.send(GetPeers).await {
            Ok(mut nodes) => {
                nodes.sort_by(|a, b| a.node.id.cmp(&b.node.id));
                Ok(AdminResponse::Nodes { nodes })
            }
            Err(e) => Err(RemoteError::new(ErrorCode::Unavailable, format!("node actor unavailable: {e}"))),
        }
    }
}
