//! Workflow commands (vtctldclient's `Reshard`, `MoveTables`, `Workflow`, `VDiff`): each
//! checks the cluster, does its work on the tablets' MySQL servers and streams, and records
//! every state change in the topology stream, so any node can continue or report it.
//!
//! - [`create`]: Reshard/MoveTables `create` (schema copied to the targets, routing rules).
//! - [`switch`]: SwitchTraffic/ReverseTraffic (reads, then writes with held writes).
//! - [`finish`]: Complete and Cancel.
//! - [`vdiff`]: VDiff at a consistent position on both sides.
//! - [`legacy`]: CopySchemaShard, SplitClone, SplitDiff, MigrateServedTypes over Reshard.

pub mod create;
pub mod finish;
pub mod legacy;
pub mod switch;
pub mod vdiff;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::TabletClient;
use crate::config::VReplicationConfig;
use crate::protocol::admin::{AdminReply, AdminRequest, AdminResponse, ErrorCode, RemoteError, WorkflowArgs};
use crate::protocol::subjects;
use crate::protocol::topology::TopoEvent;
use crate::protocol::workflow::{
    StreamControl, StreamKey, StreamStatus, WorkflowAction, WorkflowRecord, WorkflowState,
};
use crate::topo::state::Topology;
use crate::topo::writer::TopoWriter;
use crate::topo::TopoError;
use crate::vrepl::MysqlAddr;

/// How long after its creation a workflow's unanswered stream is "Starting", not "Unknown".
const STARTING_MS: u64 = 15_000;

/// What workflow commands use.
#[derive(Clone)]
pub struct WorkflowService {
    pub writer: TopoWriter,
    pub tablets: TabletClient,
    pub client: async_nats::Client,
    pub creds: VReplicationConfig,
}

pub fn err(code: ErrorCode, message: impl Into<String>) -> RemoteError {
    RemoteError::new(code, message)
}

pub fn precondition(message: impl Into<String>) -> RemoteError {
    RemoteError::new(ErrorCode::FailedPrecondition, message)
}

impl WorkflowService {
    pub async fn handle(&self, req: AdminRequest) -> AdminReply {
        match req {
            AdminRequest::Reshard { args, source_shards, target_shards } => match args.action {
                WorkflowAction::Create => create::reshard(self, &args, source_shards, target_shards).await,
                _ => self.common(&args).await,
            },
            AdminRequest::MoveTables { args, source_keyspace, tables } => match args.action {
                WorkflowAction::Create => create::move_tables(self, &args, source_keyspace, tables).await,
                _ => self.common(&args).await,
            },
            AdminRequest::Workflow { args } => match args.action {
                WorkflowAction::Show | WorkflowAction::Start | WorkflowAction::Stop => self.common(&args).await,
                other => Err(err(
                    ErrorCode::InvalidArgument,
                    format!("Workflow takes show, start or stop; {other:?} is a Reshard/MoveTables action"),
                )),
            },
            AdminRequest::VDiff { args, id } => match args.action {
                WorkflowAction::Create => vdiff::create(self, &args).await,
                WorkflowAction::Show => vdiff::show(self, &args, id).await,
                other => Err(err(ErrorCode::InvalidArgument, format!("VDiff takes create or show, not {other:?}"))),
            },
            AdminRequest::CopySchemaShard { source, destination, tables, exclude_tables, include_views } => {
                self.copy_schema_shard(&source, &destination, &tables, &exclude_tables, include_views).await
            }
            AdminRequest::SplitClone { keyspace, shard } => self.split_clone(&keyspace, &shard).await,
            AdminRequest::SplitDiff { keyspace, shard } => self.split_diff(&keyspace, &shard).await,
            AdminRequest::MigrateServedTypes { keyspace, shard, served_type, reverse } => {
                self.migrate_served_types(&keyspace, &shard, served_type, reverse).await
            }
            other => Err(err(ErrorCode::Internal, format!("{} is not a workflow command", other.name()))),
        }
    }

    async fn common(&self, args: &WorkflowArgs) -> AdminReply {
        match args.action {
            WorkflowAction::Show => {
                let wf = self.workflow(&args.keyspace, &args.workflow).await?;
                self.shown(wf, Vec::new()).await
            }
            WorkflowAction::Start | WorkflowAction::Stop => {
                let state =
                    if args.action == WorkflowAction::Start { WorkflowState::Running } else { WorkflowState::Stopped };
                let wf = self.workflow(&args.keyspace, &args.workflow).await?;
                if wf.state == WorkflowState::Frozen {
                    return Err(precondition(format!(
                        "workflow {} has switched writes; its streams stay stopped (ReverseTraffic runs them again)",
                        wf.id()
                    )));
                }
                let mut steps = Vec::new();
                if state == WorkflowState::Running {
                    // Clear stop positions and errors left by an earlier stop.
                    for key in wf.streams() {
                        let _ =
                            self.control(&key, StreamControl::Start { stop_pos: None }, Duration::from_secs(10)).await;
                    }
                }
                let wf = self.update(&wf.target_keyspace, &wf.name, |w| w.state = state).await?;
                steps.push(format!("workflow {} is {:?}", wf.id(), wf.state));
                self.shown(wf, steps).await
            }
            WorkflowAction::SwitchTraffic => switch::switch_traffic(self, args).await,
            WorkflowAction::ReverseTraffic => switch::reverse_traffic(self, args).await,
            WorkflowAction::Complete => finish::complete(self, args).await,
            WorkflowAction::Cancel => finish::cancel(self, args).await,
            WorkflowAction::Create => Err(err(ErrorCode::Internal, "create is handled by its command")),
        }
    }

    /// The topology as of the stream's end.
    pub async fn topo(&self) -> Result<Arc<Topology>, RemoteError> {
        let last = self.writer.store().last_seq().await.map_err(RemoteError::from)?;
        self.writer.view().wait_for(last, Duration::from_secs(5)).await.map_err(RemoteError::from)?;
        Ok(self.writer.view().snapshot())
    }

    pub async fn workflow(&self, keyspace: &str, name: &str) -> Result<WorkflowRecord, RemoteError> {
        let topo = self.topo().await?;
        let ks = topo
            .keyspaces
            .get(keyspace)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("keyspace `{keyspace}` does not exist")))?;
        ks.workflows.get(name).cloned().ok_or_else(|| {
            err(
                ErrorCode::NotFound,
                format!(
                    "workflow `{keyspace}.{name}` does not exist (workflows of {keyspace}: {})",
                    if ks.workflows.is_empty() {
                        "none".to_string()
                    } else {
                        ks.workflows.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            )
        })
    }

    /// Appends `events` to `subject`, computed against the current topology.
    pub async fn write<F>(&self, command: &str, subject: &str, plan: F) -> Result<u64, RemoteError>
    where
        F: Fn(&Topology) -> Result<Vec<TopoEvent>, TopoError>,
    {
        self.writer.write(command, subject, plan).await.map(|a| a.seq).map_err(RemoteError::from)
    }

    /// Changes a workflow record and appends it as `WorkflowUpdated`.
    pub async fn update<F>(&self, keyspace: &str, name: &str, change: F) -> Result<WorkflowRecord, RemoteError>
    where
        F: Fn(&mut WorkflowRecord),
    {
        let out = std::sync::Mutex::new(None);
        self.write("Workflow", &subjects::topo_keyspace(keyspace), |topo| {
            let mut wf = topo
                .keyspaces
                .get(keyspace)
                .and_then(|k| k.workflows.get(name))
                .cloned()
                .ok_or_else(|| TopoError::NotFound(format!("workflow `{keyspace}.{name}` does not exist")))?;
            change(&mut wf);
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(wf.clone());
            Ok(vec![TopoEvent::WorkflowUpdated { workflow: wf }])
        })
        .await?;
        let wf = out.lock().unwrap_or_else(|e| e.into_inner()).take();
        wf.ok_or_else(|| err(ErrorCode::Internal, "workflow update lost its record"))
    }

    /// The MySQL server of a shard's primary.
    pub fn primary(&self, topo: &Topology, keyspace: &str, shard: &str) -> Result<(String, MysqlAddr), RemoteError> {
        let alias = topo.shard(keyspace, shard).and_then(|s| s.primary.clone()).ok_or_else(|| {
            precondition(format!(
                "shard {keyspace}/{shard} has no primary (InitShardPrimary {keyspace}/{shard} <alias>)"
            ))
        })?;
        let t = topo
            .tablets
            .get(&alias)
            .ok_or_else(|| precondition(format!("the primary {alias} of {keyspace}/{shard} is not registered")))?;
        Ok((alias.clone(), self.mysql_of(t)))
    }

    /// A tablet's MySQL server, logged into its keyspace's database as VReplication.
    pub fn mysql_of(&self, t: &crate::protocol::topology::TabletRecord) -> MysqlAddr {
        let (user, password) = self.creds.login_for(t);
        MysqlAddr {
            host: if t.mysql_host.is_empty() { "127.0.0.1".into() } else { t.mysql_host.clone() },
            port: t.mysql_port,
            user,
            password,
            db: crate::protocol::names::keyspace_database(&t.keyspace),
        }
    }

    /// One request to a stream's actor.
    pub async fn control(
        &self,
        key: &StreamKey,
        req: StreamControl,
        timeout: Duration,
    ) -> Result<StreamStatus, String> {
        let rpc = crate::rpc::RpcClient::new(self.client.clone(), "workflow", timeout);
        match rpc.call::<crate::rpc::exchanges::Stream>(subjects::vrepl(key), &req).await {
            Ok(reply) => reply,
            Err(crate::rpc::RpcError::TimedOut { .. }) => {
                Err(format!("stream {key} did not answer within {} s", timeout.as_secs()))
            }
            Err(e) => Err(format!("stream {key} is not reachable: {e} (is the node hosting its target primary up?)")),
        }
    }

    /// Waits until every stream answers with a status `done` accepts.
    pub async fn wait_streams<F>(
        &self,
        keys: &[StreamKey],
        timeout: Duration,
        done: F,
    ) -> Result<Vec<StreamStatus>, String>
    where
        F: Fn(&StreamStatus) -> bool,
    {
        let start = Instant::now();
        loop {
            let mut all = Vec::new();
            let mut last_problem = String::new();
            for k in keys {
                match self.control(k, StreamControl::Status, Duration::from_secs(5)).await {
                    Ok(s) if done(&s) => all.push(s),
                    Ok(s) => {
                        last_problem = format!(
                            "stream {k} is {} at {}{}",
                            s.state,
                            s.position,
                            if s.message.is_empty() { String::new() } else { format!(": {}", s.message) }
                        );
                    }
                    Err(e) => last_problem = e,
                }
            }
            if all.len() == keys.len() {
                return Ok(all);
            }
            if start.elapsed() > timeout {
                return Err(format!("gave up after {} s: {last_problem}", timeout.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The workflow with its streams' live status.
    pub async fn shown(&self, workflow: WorkflowRecord, steps: Vec<String>) -> AdminReply {
        let mut streams = Vec::new();
        for key in workflow.streams() {
            let status = match self.control(&key, StreamControl::Status, Duration::from_secs(3)).await {
                Ok(s) => s,
                Err(e) => {
                    // A stream's actor starts once its node has seen the workflow's creation:
                    // until then nobody answers, which is not a failure.
                    let young = crate::protocol::envelope::now_ms().saturating_sub(workflow.created_ms) < STARTING_MS;
                    let (state, message) = match workflow.state {
                        WorkflowState::Frozen => ("Frozen", String::new()),
                        _ if young => ("Starting", "starting on the node of the target primary".to_string()),
                        _ => ("Unknown", e),
                    };
                    StreamStatus {
                        keyspace: key.keyspace.clone(),
                        workflow: key.workflow.clone(),
                        target_shard: key.target_shard.clone(),
                        source_shard: key.source_shard.clone(),
                        state: state.into(),
                        message,
                        ..Default::default()
                    }
                }
            };
            streams.push(status);
        }
        Ok(AdminResponse::Workflow { workflow, streams, steps })
    }
}
