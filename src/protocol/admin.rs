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
    /// Moves the shard's primary to a replica while both are up: writes are held, the old
    /// primary turns read-only, the new one catches up and is promoted (a new term), the
    /// rest replicate from it. `new_primary` none: the most caught-up replica (not
    /// `avoid_primary`).
    PlannedReparentShard {
        keyspace: String,
        shard: String,
        #[serde(default)]
        new_primary: Option<String>,
        #[serde(default)]
        avoid_primary: Option<String>,
        wait_replicas_timeout_ms: u64,
    },
    /// Replaces a primary that is gone: replication stopped on every reachable tablet, relay
    /// logs applied, the most advanced replica promoted (a new term), the rest repointed.
    EmergencyReparentShard {
        keyspace: String,
        shard: String,
        #[serde(default)]
        new_primary: Option<String>,
        wait_replicas_timeout_ms: u64,
        /// Refused unless the shard is still at this primary term (the failover singleton
        /// sets it, so a request that arrives late never replaces a newer primary).
        #[serde(default)]
        expected_term: Option<u64>,
    },
    /// Points a replica or rdonly tablet at its shard's current primary (repairs a tablet
    /// that follows the wrong primary or stopped replicating).
    ReparentTablet {
        alias: String,
    },
    /// Records that `alias` became its shard's primary by a failover tessera did not run (an
    /// external MySQL's own tooling): a new term, the tablet opened for writes.
    TabletExternallyReparented {
        alias: String,
    },
    /// Sets a tablet's server read-only or writable (`read_only`); writable only on the primary.
    SetWritable {
        alias: String,
        writable: bool,
    },
    /// Sets the keyspace's durability policy (`none`, `semi_sync`, `cross_cell`); tablets
    /// reconfigure their servers as the change reaches them.
    SetKeyspaceDurabilityPolicy {
        keyspace: String,
        durability_policy: String,
    },
    /// Switches automatic failover on or off for a keyspace, or one of its shards.
    SetFailover {
        keyspace: String,
        #[serde(default)]
        shard: Option<String>,
        enabled: bool,
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
    /// Distributed transactions (two-phase commit): `list` those in flight or in doubt
    /// (optionally of one keyspace), `show` one, `conclude` one now (to its recorded decision,
    /// or rolled back when none was recorded).
    DistributedTransaction {
        action: String,
        #[serde(default)]
        dtid: Option<String>,
        #[serde(default)]
        keyspace: Option<String>,
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
        /// Point-in-time recovery: the moment or GTID position to restore to (the tablet is
        /// left drained).
        #[serde(default)]
        restore_to: Option<crate::backup::pitr::PitrTarget>,
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
    /// Commands that run as long as a copy (backups, restores): answered with keep-alives.
    pub fn is_long(&self) -> bool {
        matches!(
            self,
            AdminRequest::Backup { .. } | AdminRequest::BackupShard { .. } | AdminRequest::RestoreFromBackup { .. }
        )
    }

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
            AdminRequest::PlannedReparentShard { .. } => "PlannedReparentShard",
            AdminRequest::EmergencyReparentShard { .. } => "EmergencyReparentShard",
            AdminRequest::SetKeyspaceDurabilityPolicy { .. } => "SetKeyspaceDurabilityPolicy",
            AdminRequest::SetFailover { .. } => "SetFailover",
            AdminRequest::ReparentTablet { .. } => "ReparentTablet",
            AdminRequest::TabletExternallyReparented { .. } => "TabletExternallyReparented",
            AdminRequest::SetWritable { .. } => "SetWritable",
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
            AdminRequest::DistributedTransaction { .. } => "DistributedTransaction",
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
        "PlannedReparentShard",
        "EmergencyReparentShard",
        "SetKeyspaceDurabilityPolicy",
        "SetFailover",
        "ReparentTablet",
        "TabletExternallyReparented",
        "SetWritable",
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
        "DistributedTransaction",
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
    /// Distributed transactions with their records and where a branch is prepared; shards
    /// whose primary did not answer; what `conclude` did.
    Transactions {
        transactions: Vec<crate::twopc::resolver::InDoubt>,
        unreachable: Vec<String>,
        #[serde(default)]
        steps: Vec<String>,
    },
}

/// A tablet record with its latest health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletInfo {
    pub tablet: TabletRecord,
    pub health: Option<TabletHealth>,
    /// True when the last health report is older than a few heartbeats.
    pub stale: bool,
    /// The shard's primary term, when this tablet is the shard's primary.
    #[serde(default)]
    pub primary_term: Option<u64>,
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
#[path = "admin_tests.rs"]
mod tests;
