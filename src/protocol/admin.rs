//! Admin commands: typed request/reply on `tessera.admin.<Command>`.
//!
//! Names and arguments follow vtctldclient. The body of a request is an [`AdminRequest`] whose
//! `command` tag must equal the subject's last token; the reply is an [`AdminReply`].

use serde::{Deserialize, Serialize};

use crate::protocol::topology::TabletType;
use crate::protocol::workflow::{StreamOptions, WorkflowAction};

pub use super::admin_reply::*;

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
    /// Copies the tables (and with `include_views` the views) of `source` (`ks/shard`: its
    /// primary; or a tablet alias) that `destination`'s primary lacks; a table present on both
    /// must have the same definition.
    CopySchemaShard {
        source: String,
        destination: ShardRef,
        #[serde(default)]
        tables: Vec<String>,
        #[serde(default)]
        exclude_tables: Vec<String>,
        #[serde(default)]
        include_views: bool,
    },
    /// The legacy resharding walkthrough over the Reshard workflow `split_<shard>`:
    /// `SplitClone ks/shard` creates it (source: that shard, targets: the shards inside its range
    /// that do not serve yet) and the copy starts.
    SplitClone {
        keyspace: String,
        shard: String,
    },
    /// `SplitDiff ks/target_shard`: a VDiff of the workflow filling that shard.
    SplitDiff {
        keyspace: String,
        shard: String,
    },
    /// `MigrateServedTypes ks/source_shard rdonly|replica|primary [--reverse]`: SwitchTraffic (or
    /// ReverseTraffic) of one tablet type of the workflow reading from that shard; primary only
    /// after rdonly and replica.
    MigrateServedTypes {
        keyspace: String,
        shard: String,
        served_type: TabletType,
        #[serde(default)]
        reverse: bool,
    },
    /// Serving partitions of a keyspace per cell, as Vitess's SrvKeyspace (JSON).
    GetSrvKeyspaces {
        keyspace: String,
        #[serde(default)]
        cells: Vec<String>,
    },
    /// Every keyspace's VSchema and the routing rules, as Vitess's SrvVSchema (JSON).
    GetSrvVSchema {
        #[serde(default)]
        cell: String,
    },
    /// Checks a tablet answers (its query service and MySQL).
    PingTablet {
        alias: String,
    },
    /// Has a tablet (or every tablet of a shard) report its state and checks it matches the
    /// topology.
    RefreshState {
        alias: String,
    },
    RefreshStateByShard {
        keyspace: String,
        shard: String,
    },
    /// Reads a tablet's schema now (tessera caches no schema: each reader reads it when needed).
    ReloadSchema {
        alias: String,
    },
    ReloadSchemaShard {
        keyspace: String,
        shard: String,
    },
    ReloadSchemaKeyspace {
        keyspace: String,
    },
    /// Checks the topology against the tablets: every shard has a primary that says so, every
    /// tablet answers with its recorded type, replicas follow their primary, serving shards
    /// cover the key space. `keyspace`/`shard` narrow it (ValidateKeyspace, ValidateShard).
    Validate {
        #[serde(default)]
        keyspace: Option<String>,
        #[serde(default)]
        shard: Option<String>,
        #[serde(default)]
        ping_tablets: bool,
    },
    /// Compares the schema of every tablet of one shard with its primary's.
    ValidateSchemaShard {
        keyspace: String,
        shard: String,
    },
    /// Compares the MySQL version of every tablet of a keyspace with the first primary's.
    ValidateVersionKeyspace {
        keyspace: String,
    },
    /// The MySQL users and their privileges on a tablet's server.
    GetPermissions {
        alias: String,
    },
    /// Runs a statement on a tablet through its query service, as the application user.
    ExecuteFetchAsApp {
        alias: String,
        sql: String,
        #[serde(default)]
        max_rows: Option<u64>,
    },
    /// A keyspace's workflows with their streams (JSON).
    GetWorkflows {
        keyspace: String,
    },
    /// A tablet's record and full health: replication, serving, MySQL version (JSON).
    GetFullStatus {
        alias: String,
    },
    /// Has a tablet compute its health now; an error when it is not healthy.
    RunHealthCheck {
        alias: String,
    },
    /// Holds a tablet's action lock for `duration_ms` (role, replication and schema changes
    /// wait; queries do not): Vitess's SleepTablet, for tests.
    SleepTablet {
        alias: String,
        duration_ms: u64,
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
            AdminRequest::CopySchemaShard { .. } => "CopySchemaShard",
            AdminRequest::SplitClone { .. } => "SplitClone",
            AdminRequest::SplitDiff { .. } => "SplitDiff",
            AdminRequest::MigrateServedTypes { .. } => "MigrateServedTypes",
            AdminRequest::GetSrvKeyspaces { .. } => "GetSrvKeyspaces",
            AdminRequest::GetSrvVSchema { .. } => "GetSrvVSchema",
            AdminRequest::PingTablet { .. } => "PingTablet",
            AdminRequest::RefreshState { .. } => "RefreshState",
            AdminRequest::RefreshStateByShard { .. } => "RefreshStateByShard",
            AdminRequest::ReloadSchema { .. } => "ReloadSchema",
            AdminRequest::ReloadSchemaShard { .. } => "ReloadSchemaShard",
            AdminRequest::ReloadSchemaKeyspace { .. } => "ReloadSchemaKeyspace",
            AdminRequest::Validate { .. } => "Validate",
            AdminRequest::ValidateSchemaShard { .. } => "ValidateSchemaShard",
            AdminRequest::ValidateVersionKeyspace { .. } => "ValidateVersionKeyspace",
            AdminRequest::GetPermissions { .. } => "GetPermissions",
            AdminRequest::ExecuteFetchAsApp { .. } => "ExecuteFetchAsApp",
            AdminRequest::GetWorkflows { .. } => "GetWorkflows",
            AdminRequest::GetFullStatus { .. } => "GetFullStatus",
            AdminRequest::RunHealthCheck { .. } => "RunHealthCheck",
            AdminRequest::SleepTablet { .. } => "SleepTablet",
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
        "CopySchemaShard",
        "SplitClone",
        "SplitDiff",
        "MigrateServedTypes",
        "GetSrvKeyspaces",
        "GetSrvVSchema",
        "PingTablet",
        "RefreshState",
        "RefreshStateByShard",
        "ReloadSchema",
        "ReloadSchemaShard",
        "ReloadSchemaKeyspace",
        "Validate",
        "ValidateSchemaShard",
        "ValidateVersionKeyspace",
        "GetPermissions",
        "ExecuteFetchAsApp",
        "GetWorkflows",
        "GetFullStatus",
        "RunHealthCheck",
        "SleepTablet",
    ];
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
