//! Admin commands: typed request/reply on `tessera.admin.<Command>`.
//!
//! Names and arguments follow vtctldclient. The body of a request is an [`AdminRequest`] whose
//! `command` tag must equal the subject's last token; the reply is an [`AdminReply`].

use serde::{Deserialize, Serialize};

use crate::protocol::node::NodeStatus;
use crate::protocol::tablet::{QueryResult, TabletHealth, TabletSchema};
use crate::protocol::topology::{TabletRecord, TabletType};
use crate::protocol::workflow::{StreamOptions, StreamStatus, VDiffReport, WorkflowAction, WorkflowRecord};
use crate::topo::state::{Keyspace, Shard, Topology};
use crate::vschema::KeyspaceVSchema;

/// A `keyspace/shard` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    pub keyspace: String,
    pub shard: String,
}

impl ShardRef {
    /// Parses `keyspace/shard`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((ks, shard)) if !ks.is_empty() && !shard.is_empty() => {
                Ok(ShardRef { keyspace: ks.to_string(), shard: shard.to_string() })
            }
            _ => Err(format!("`{s}` is not `<keyspace>/<shard>` (like `customer/-80`)")),
        }
    }
}

impl std::fmt::Display for ShardRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.keyspace, self.shard)
    }
}

/// One admin command and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum AdminRequest {
    AddCellInfo {
        name: String,
        #[serde(default)]
        server_address: String,
        #[serde(default)]
        root: String,
    },
    GetCellInfoNames,
    CreateKeyspace {
        name: String,
        /// `none` (default) or `semi_sync`.
        #[serde(default)]
        durability_policy: String,
    },
    GetKeyspace {
        keyspace: String,
    },
    GetKeyspaces,
    DeleteKeyspace {
        keyspace: String,
        #[serde(default)]
        recursive: bool,
    },
    CreateShard {
        keyspace: String,
        shard: String,
        /// Succeed without change when the shard exists.
        #[serde(default)]
        force: bool,
        /// Allow a range overlapping existing shards (resharding targets); such a shard is
        /// created not serving.
        #[serde(default)]
        allow_overlap: bool,
    },
    GetShard {
        keyspace: String,
        shard: String,
    },
    FindAllShardsInKeyspace {
        keyspace: String,
    },
    DeleteShards {
        shards: Vec<ShardRef>,
        #[serde(default)]
        recursive: bool,
        #[serde(default)]
        even_if_serving: bool,
    },
    SetShardIsPrimaryServing {
        keyspace: String,
        shard: String,
        serving: bool,
    },
    SetShardTabletControl {
        keyspace: String,
        shard: String,
        tablet_type: TabletType,
        denied_tables: Vec<String>,
        #[serde(default)]
        remove: bool,
    },
    GetTablets {
        #[serde(default)]
        keyspace: Option<String>,
        #[serde(default)]
        shard: Option<String>,
        #[serde(default)]
        cell: Option<String>,
    },
    GetTopology {
        /// Show the topology as it was right after this stream sequence.
        #[serde(default)]
        at: Option<u64>,
    },
    ApplyVSchema {
        keyspace: String,
        /// The VSchema in Vitess's JSON format.
        vschema: String,
        #[serde(default)]
        dry_run: bool,
    },
    GetVSchema {
        keyspace: String,
    },
    /// Replaces every table routing rule (Vitess's JSON: `{"rules": [{"from_table": ..,
    /// "to_tables": [..]}]}`), including those workflows set.
    ApplyRoutingRules {
        rules: String,
    },
    /// Replaces every keyspace routing rule (`{"rules": [{"from_keyspace": ..,
    /// "to_keyspace": ..}]}`).
    ApplyKeyspaceRoutingRules {
        rules: String,
    },
    GetRoutingRules,
    GetNodes,
    /// Makes `primary` the shard's primary and every other tablet replicate from it.
    InitShardPrimary {
        keyspace: String,
        shard: String,
        primary: String,
        /// Allowed when the shard already has a primary.
        #[serde(default)]
        force: bool,
    },
    /// Moves a non-primary tablet between replica, rdonly, spare and drained.
    ChangeTabletType {
        alias: String,
        tablet_type: TabletType,
    },
    StartReplication {
        alias: String,
    },
    StopReplication {
        alias: String,
    },
    ShardReplicationPositions {
        keyspace: String,
        shard: String,
    },
    /// Checks DDL against every shard, then runs it on each shard's primary.
    ApplySchema {
        keyspace: String,
        sql: String,
        #[serde(default)]
        allow_large: bool,
        /// An ALTER of a table with more rows than this needs `allow_large`.
        #[serde(default = "default_large_table_rows")]
        large_table_rows: u64,
    },
    GetSchema {
        alias: String,
    },
    ValidateSchemaKeyspace {
        keyspace: String,
    },
    ExecuteFetchAsDba {
        alias: String,
        sql: String,
        #[serde(default)]
        max_rows: Option<u64>,
    },
    /// Backs up one tablet (a primary only with `allow_primary`).
    Backup {
        alias: String,
        engine: String,
        concurrency: usize,
        #[serde(default)]
        allow_primary: bool,
    },
    /// Backs up a shard from a healthy replica or rdonly (its primary only if allowed and
    /// nothing else serves).
    BackupShard {
        keyspace: String,
        shard: String,
        engine: String,
        concurrency: usize,
        #[serde(default)]
        allow_primary: bool,
    },
    /// A shard's backups, newest first.
    GetBackups {
        keyspace: String,
        shard: String,
        #[serde(default)]
        limit: Option<usize>,
    },
    RemoveBackup {
        keyspace: String,
        shard: String,
        name: String,
    },
    /// Restores a replica or rdonly tablet from a backup of its shard and has it catch up.
    RestoreFromBackup {
        alias: String,
        #[serde(default)]
        backup_name: Option<String>,
    },
    /// Removes tablet records from the topology (refuses a primary unless `allow_primary`).
    DeleteTablets {
        aliases: Vec<String>,
        #[serde(default)]
        allow_primary: bool,
    },
    /// `Reshard --workflow w --target-keyspace ks <action>`: split or merge shards.
    Reshard {
        #[serde(flatten)]
        args: WorkflowArgs,
        #[serde(default)]
        source_shards: Vec<String>,
        #[serde(default)]
        target_shards: Vec<String>,
    },
    /// `MoveTables --workflow w --target-keyspace ks <action>`: move tables between keyspaces.
    MoveTables {
        #[serde(flatten)]
        args: WorkflowArgs,
        #[serde(default)]
        source_keyspace: String,
        #[serde(default)]
        tables: Vec<String>,
    },
    /// `Workflow <ks.workflow> show|start|stop`.
    Workflow {
        #[serde(flatten)]
        args: WorkflowArgs,
    },
    /// `VDiff --workflow w --target-keyspace ks create|show [id]`.
    VDiff {
        #[serde(flatten)]
        args: WorkflowArgs,
        #[serde(default)]
        id: Option<String>,
    },
}

/// What every workflow command names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowArgs {
    pub keyspace: String,
    pub workflow: String,
    pub action: WorkflowAction,
    /// Copy and replay settings (create only).
    #[serde(default)]
    pub options: Option<StreamOptions>,
    /// SwitchTraffic/ReverseTraffic: `rdonly`, `replica`, `primary` (all three when empty).
    #[serde(default)]
    pub tablet_types: Vec<TabletType>,
    /// SwitchTraffic: how long to wait for the streams to catch up before giving up and
    /// allowing writes on the sources again.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Default row count above which `ApplySchema` refuses an ALTER without `allow_large`.
pub fn default_large_table_rows() -> u64 {
    100_000
}

impl AdminRequest {
    /// The command's name: the subject token and the `command` tag.
    pub fn name(&self) -> &'static str {
        match self {
            AdminRequest::AddCellInfo { .. } => "AddCellInfo",
            AdminRequest::GetCellInfoNames => "GetCellInfoNames",
            AdminRequest::CreateKeyspace { .. } => "CreateKeyspace",
            AdminRequest::GetKeyspace { .. } => "GetKeyspace",
            AdminRequest::GetKeyspaces => "GetKeyspaces",
            AdminRequest::DeleteKeyspace { .. } => "DeleteKeyspace",
            AdminRequest::CreateShard { .. } => "CreateShard",
            AdminRequest::GetShard { .. } => "GetShard",
            AdminRequest::FindAllShardsInKeyspace { .. } => "FindAllShardsInKeyspace",
            AdminRequest::DeleteShards { .. } => "DeleteShards",
            AdminRequest::SetShardIsPrimaryServing { .. } => "SetShardIsPrimaryServing",
            AdminRequest::SetShardTabletControl { .. } => "SetShardTabletControl",
            AdminRequest::GetTablets { .. } => "GetTablets",
            AdminRequest::GetTopology { .. } => "GetTopology",
            AdminRequest::ApplyVSchema { .. } => "ApplyVSchema",
            AdminRequest::GetVSchema { .. } => "GetVSchema",
            AdminRequest::ApplyRoutingRules { .. } => "ApplyRoutingRules",
            AdminRequest::ApplyKeyspaceRoutingRules { .. } => "ApplyKeyspaceRoutingRules",
            AdminRequest::GetRoutingRules => "GetRoutingRules",
            AdminRequest::GetNodes => "GetNodes",
            AdminRequest::InitShardPrimary { .. } => "InitShardPrimary",
            AdminRequest::ChangeTabletType { .. } => "ChangeTabletType",
            AdminRequest::StartReplication { .. } => "StartReplication",
            AdminRequest::StopReplication { .. } => "StopReplication",
            AdminRequest::ShardReplicationPositions { .. } => "ShardReplicationPositions",
            AdminRequest::ApplySchema { .. } => "ApplySchema",
            AdminRequest::GetSchema { .. } => "GetSchema",
            AdminRequest::ValidateSchemaKeyspace { .. } => "ValidateSchemaKeyspace",
            AdminRequest::ExecuteFetchAsDba { .. } => "ExecuteFetchAsDba",
            AdminRequest::Backup { .. } => "Backup",
            AdminRequest::BackupShard { .. } => "BackupShard",
            AdminRequest::GetBackups { .. } => "GetBackups",
            AdminRequest::RemoveBackup { .. } => "RemoveBackup",
            AdminRequest::RestoreFromBackup { .. } => "RestoreFromBackup",
            AdminRequest::DeleteTablets { .. } => "DeleteTablets",
            AdminRequest::Reshard { .. } => "Reshard",
            AdminRequest::MoveTables { .. } => "MoveTables",
            AdminRequest::Workflow { .. } => "Workflow",
            AdminRequest::VDiff { .. } => "VDiff",
        }
    }

    /// Every command name, so a node can tell "unknown command" from "bad arguments".
    pub const NAMES: &'static [&'static str] = &[
        "AddCellInfo",
        "GetCellInfoNames",
        "CreateKeyspace",
        "GetKeyspace",
        "GetKeyspaces",
        "DeleteKeyspace",
        "CreateShard",
        "GetShard",
        "FindAllShardsInKeyspace",
        "DeleteShards",
        "SetShardIsPrimaryServing",
        "SetShardTabletControl",
        "GetTablets",
        "GetTopology",
        "ApplyVSchema",
        "GetVSchema",
        "ApplyRoutingRules",
        "ApplyKeyspaceRoutingRules",
        "GetRoutingRules",
        "GetNodes",
        "InitShardPrimary",
        "ChangeTabletType",
        "StartReplication",
        "StopReplication",
        "ShardReplicationPositions",
        "ApplySchema",
        "GetSchema",
        "ValidateSchemaKeyspace",
        "ExecuteFetchAsDba",
        "Backup",
        "BackupShard",
        "GetBackups",
        "RemoveBackup",
        "RestoreFromBackup",
        "DeleteTablets",
        "Reshard",
        "MoveTables",
        "Workflow",
        "VDiff",
    ];
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AdminResponse {
    /// A write was applied (or was already in effect); `seq` is the topology sequence after it.
    Done {
        message: String,
        seq: u64,
    },
    CellNames {
        names: Vec<String>,
    },
    Keyspace {
        keyspace: Keyspace,
    },
    Keyspaces {
        keyspaces: Vec<Keyspace>,
    },
    Shard {
        keyspace: String,
        shard: Shard,
    },
    Shards {
        keyspace: String,
        shards: Vec<Shard>,
    },
    Tablets {
        tablets: Vec<TabletInfo>,
    },
    Topology {
        topology: Topology,
    },
    VSchema {
        keyspace: String,
        vschema: Option<KeyspaceVSchema>,
    },
    /// Table and keyspace routing rules, each in Vitess's JSON.
    RoutingRules {
        rules: String,
        keyspace_rules: String,
    },
    Nodes {
        nodes: Vec<NodeStatus>,
    },
    Positions {
        keyspace: String,
        shard: String,
        tablets: Vec<TabletPosition>,
    },
    Schema {
        alias: String,
        schema: TabletSchema,
    },
    /// `differences` is empty when every tablet matches the reference.
    SchemaValidation {
        keyspace: String,
        reference: String,
        compared: Vec<String>,
        differences: Vec<String>,
    },
    QueryResult {
        alias: String,
        result: QueryResult,
    },
    /// A backup taken.
    Backup {
        manifest: Box<crate::backup::Manifest>,
    },
    /// A shard's backups, newest first.
    Backups {
        keyspace: String,
        shard: String,
        backups: Vec<crate::backup::BackupInfo>,
    },
    /// A workflow and the live status of its streams.
    Workflow {
        workflow: WorkflowRecord,
        streams: Vec<StreamStatus>,
        /// Set by commands that did something (create, switch...): what was done, step by step.
        #[serde(default)]
        steps: Vec<String>,
    },
    VDiff {
        report: VDiffReport,
    },
}

/// A tablet record with its latest health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletInfo {
    pub tablet: TabletRecord,
    pub health: Option<TabletHealth>,
    /// True when the last health report is older than a few heartbeats.
    pub stale: bool,
}

/// One tablet's replication position (for `ShardReplicationPositions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletPosition {
    pub alias: String,
    pub tablet_type: TabletType,
    pub position: String,
    pub source: Option<String>,
    pub replicating: bool,
    pub lag_secs: Option<u64>,
    pub error: Option<String>,
}

/// What every admin reply carries: an answer or a typed error.
pub type AdminReply = Result<AdminResponse, RemoteError>;

/// An error that crossed NATS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RemoteError {
    pub code: ErrorCode,
    pub message: String,
    /// True when the same request may succeed if sent again later.
    pub retryable: bool,
}

impl RemoteError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(code, ErrorCode::Conflict | ErrorCode::Unavailable);
        RemoteError { code, message: message.into(), retryable }
    }
}

/// The kinds of remote errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request did not decode.
    BadRequest,
    /// The subject names no known command.
    UnknownCommand,
    /// The envelope version is not spoken by the receiver.
    UnsupportedVersion,
    NotFound,
    AlreadyExists,
    InvalidArgument,
    /// The request is valid but the cluster is not in a state that allows it.
    FailedPrecondition,
    /// Concurrent writers kept winning; retry.
    Conflict,
    /// A dependency (NATS, JetStream) is not reachable right now.
    Unavailable,
    Internal,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ErrorCode::BadRequest => "bad request",
            ErrorCode::UnknownCommand => "unknown command",
            ErrorCode::UnsupportedVersion => "unsupported version",
            ErrorCode::NotFound => "not found",
            ErrorCode::AlreadyExists => "already exists",
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::FailedPrecondition => "failed precondition",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal error",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::envelope::Envelope;

    #[test]
    fn requests_round_trip_and_tags_match_names() {
        let reqs = vec![
            AdminRequest::AddCellInfo { name: "zone1".into(), server_address: String::new(), root: String::new() },
            AdminRequest::GetCellInfoNames,
            AdminRequest::CreateKeyspace { name: "ks".into(), durability_policy: "none".into() },
            AdminRequest::GetKeyspace { keyspace: "ks".into() },
            AdminRequest::GetKeyspaces,
            AdminRequest::DeleteKeyspace { keyspace: "ks".into(), recursive: true },
            AdminRequest::CreateShard {
                keyspace: "ks".into(),
                shard: "-80".into(),
                force: false,
                allow_overlap: false,
            },
            AdminRequest::GetShard { keyspace: "ks".into(), shard: "-80".into() },
            AdminRequest::FindAllShardsInKeyspace { keyspace: "ks".into() },
            AdminRequest::DeleteShards {
                shards: vec![ShardRef::parse("ks/-80").unwrap()],
                recursive: false,
                even_if_serving: true,
            },
            AdminRequest::SetShardIsPrimaryServing { keyspace: "ks".into(), shard: "0".into(), serving: false },
            AdminRequest::SetShardTabletControl {
                keyspace: "ks".into(),
                shard: "0".into(),
                tablet_type: TabletType::Replica,
                denied_tables: vec!["t".into()],
                remove: false,
            },
            AdminRequest::GetTablets { keyspace: Some("ks".into()), shard: None, cell: None },
            AdminRequest::GetTopology { at: Some(3) },
            AdminRequest::ApplyVSchema { keyspace: "ks".into(), vschema: "{}".into(), dry_run: false },
            AdminRequest::GetVSchema { keyspace: "ks".into() },
            AdminRequest::ApplyRoutingRules { rules: "{}".into() },
            AdminRequest::ApplyKeyspaceRoutingRules { rules: "{}".into() },
            AdminRequest::GetRoutingRules,
            AdminRequest::GetNodes,
            AdminRequest::InitShardPrimary {
                keyspace: "ks".into(),
                shard: "0".into(),
                primary: "zone1-0000000100".into(),
                force: false,
            },
            AdminRequest::ChangeTabletType { alias: "a".into(), tablet_type: TabletType::Rdonly },
            AdminRequest::StartReplication { alias: "a".into() },
            AdminRequest::StopReplication { alias: "a".into() },
            AdminRequest::ShardReplicationPositions { keyspace: "ks".into(), shard: "0".into() },
            AdminRequest::ApplySchema {
                keyspace: "ks".into(),
                sql: "create table t (a int)".into(),
                allow_large: false,
                large_table_rows: 5,
            },
            AdminRequest::GetSchema { alias: "a".into() },
            AdminRequest::ValidateSchemaKeyspace { keyspace: "ks".into() },
            AdminRequest::ExecuteFetchAsDba { alias: "a".into(), sql: "select 1".into(), max_rows: Some(3) },
            AdminRequest::Backup {
                alias: "a".into(),
                engine: "mariabackup".into(),
                concurrency: 2,
                allow_primary: false,
            },
            AdminRequest::BackupShard {
                keyspace: "ks".into(),
                shard: "-80".into(),
                engine: "mariabackup".into(),
                concurrency: 2,
                allow_primary: true,
            },
            AdminRequest::GetBackups { keyspace: "ks".into(), shard: "-80".into(), limit: Some(3) },
            AdminRequest::RemoveBackup { keyspace: "ks".into(), shard: "-80".into(), name: "n".into() },
            AdminRequest::RestoreFromBackup { alias: "a".into(), backup_name: None },
            AdminRequest::DeleteTablets { aliases: vec!["a".into()], allow_primary: false },
            AdminRequest::Reshard {
                args: WorkflowArgs {
                    keyspace: "ks".into(),
                    workflow: "w".into(),
                    action: WorkflowAction::Create,
                    options: Some(StreamOptions::default()),
                    tablet_types: vec![],
                    timeout_ms: None,
                },
                source_shards: vec!["0".into()],
                target_shards: vec!["-80".into(), "80-".into()],
            },
            AdminRequest::MoveTables {
                args: WorkflowArgs {
                    keyspace: "ks".into(),
                    workflow: "w".into(),
                    action: WorkflowAction::SwitchTraffic,
                    options: None,
                    tablet_types: vec![TabletType::Replica],
                    timeout_ms: Some(5),
                },
                source_keyspace: "c".into(),
                tables: vec!["t".into()],
            },
            AdminRequest::Workflow {
                args: WorkflowArgs {
                    keyspace: "ks".into(),
                    workflow: "w".into(),
                    action: WorkflowAction::Show,
                    options: None,
                    tablet_types: vec![],
                    timeout_ms: None,
                },
            },
            AdminRequest::VDiff {
                args: WorkflowArgs {
                    keyspace: "ks".into(),
                    workflow: "w".into(),
                    action: WorkflowAction::Create,
                    options: None,
                    tablet_types: vec![],
                    timeout_ms: None,
                },
                id: None,
            },
        ];
        assert_eq!(reqs.len(), AdminRequest::NAMES.len());
        for (req, name) in reqs.into_iter().zip(AdminRequest::NAMES) {
            assert_eq!(req.name(), *name);
            let bytes = Envelope::new("t", req.clone()).encode().unwrap();
            let back: Envelope<AdminRequest> = Envelope::decode(&bytes).unwrap();
            assert_eq!(back.body, req);
        }
    }

    #[test]
    fn replies_round_trip() {
        let ok: AdminReply = Ok(AdminResponse::Done { message: "done".into(), seq: 4 });
        let err: AdminReply = Err(RemoteError::new(ErrorCode::Conflict, "busy"));
        for reply in [ok, err] {
            let bytes = Envelope::new("n", reply.clone()).encode().unwrap();
            let back: Envelope<AdminReply> = Envelope::decode(&bytes).unwrap();
            assert_eq!(back.body, reply);
        }
        assert!(RemoteError::new(ErrorCode::Unavailable, "x").retryable);
        assert!(!RemoteError::new(ErrorCode::NotFound, "x").retryable);
    }

    #[test]
    fn shard_refs() {
        assert_eq!(ShardRef::parse("customer/-80").unwrap().to_string(), "customer/-80");
        for bad in ["customer", "/-80", "customer/", ""] {
            assert!(ShardRef::parse(bad).is_err());
        }
    }
}
