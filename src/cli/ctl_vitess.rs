//! `tessera ctl` commands named after vtctldclient's inspection and tablet-check commands, and
//! the legacy resharding walkthrough's (CopySchemaShard, SplitClone, SplitDiff,
//! MigrateServedTypes) over the Reshard workflow.

use clap::Subcommand;

use crate::protocol::admin::{AdminRequest, ShardRef};
use crate::protocol::topology::TabletType;

#[derive(Debug, Subcommand)]
pub enum VitessCommand {
    /// Copy the tables (--include-views: and views) a shard's primary lacks from a shard's primary
    /// or a tablet: `CopySchemaShard customer/0 customer/-80`.
    #[command(name = "CopySchemaShard")]
    CopySchemaShard {
        /// `<keyspace>/<shard>` (its primary) or a tablet alias.
        source: String,
        #[arg(value_parser = ShardRef::parse)]
        destination: ShardRef,
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        exclude_tables: Vec<String>,
        #[arg(long)]
        include_views: bool,
    },
    /// Start copying a serving shard into the not-yet-serving shards inside its key range (the
    /// Reshard workflow `split_<shard>`); waits for the copy unless --no-wait.
    #[command(name = "SplitClone")]
    SplitClone {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[arg(long)]
        no_wait: bool,
    },
    /// Compare a new shard with its source (a VDiff of the workflow filling it); waits for the
    /// result unless --no-wait. Exit code 2 when rows differ.
    #[command(name = "SplitDiff")]
    SplitDiff {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[arg(long)]
        no_wait: bool,
    },
    /// Move one tablet type's traffic from a source shard to the new shards (rdonly, replica,
    /// then master); --reverse moves it back.
    #[command(name = "MigrateServedTypes")]
    MigrateServedTypes {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        /// rdonly, replica or master (primary).
        served_type: TabletType,
        #[arg(long)]
        reverse: bool,
    },
    /// A keyspace's serving shards per tablet type, per cell (JSON).
    #[command(name = "GetSrvKeyspaces")]
    GetSrvKeyspaces { keyspace: String, cells: Vec<String> },
    /// Every keyspace's VSchema and the routing rules the gateways serve (JSON).
    #[command(name = "GetSrvVSchema")]
    GetSrvVSchema {
        #[arg(default_value = "")]
        cell: String,
    },
    /// Check that a tablet answers queries.
    #[command(name = "PingTablet")]
    PingTablet { alias: String },
    /// Have a tablet report its state and check it against the topology.
    #[command(name = "RefreshState")]
    RefreshState { alias: String },
    /// RefreshState on every tablet of a shard.
    #[command(name = "RefreshStateByShard")]
    RefreshStateByShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
    },
    /// Read a tablet's schema now.
    #[command(name = "ReloadSchema")]
    ReloadSchema { alias: String },
    /// ReloadSchema on every tablet of a shard.
    #[command(name = "ReloadSchemaShard")]
    ReloadSchemaShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
    },
    /// ReloadSchema on every tablet of a keyspace.
    #[command(name = "ReloadSchemaKeyspace")]
    ReloadSchemaKeyspace { keyspace: String },
    /// Check the whole cluster: primaries, tablet types, replication, serving partitions.
    #[command(name = "Validate")]
    Validate {
        #[arg(long)]
        ping_tablets: bool,
    },
    /// Validate one keyspace.
    #[command(name = "ValidateKeyspace")]
    ValidateKeyspace {
        keyspace: String,
        #[arg(long)]
        ping_tablets: bool,
    },
    /// Validate one shard.
    #[command(name = "ValidateShard")]
    ValidateShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[arg(long)]
        ping_tablets: bool,
    },
    /// Compare every tablet's schema in a shard with its primary's.
    #[command(name = "ValidateSchemaShard")]
    ValidateSchemaShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
    },
    /// Compare every tablet's MySQL version in a keyspace.
    #[command(name = "ValidateVersionKeyspace")]
    ValidateVersionKeyspace { keyspace: String },
    /// The MySQL users and privileges of a tablet's server.
    #[command(name = "GetPermissions")]
    GetPermissions { alias: String },
    /// Run a statement on a tablet as the application user (through its query service).
    #[command(name = "ExecuteFetchAsApp")]
    ExecuteFetchAsApp {
        alias: String,
        sql: String,
        #[arg(long)]
        max_rows: Option<u64>,
    },
    /// A keyspace's workflows with their streams (JSON).
    #[command(name = "GetWorkflows")]
    GetWorkflows { keyspace: String },
    /// A tablet's record and full status: replication, serving, version (JSON).
    #[command(name = "GetFullStatus")]
    GetFullStatus { alias: String },
    /// Have a tablet check its health now; fails when it is not healthy.
    #[command(name = "RunHealthCheck")]
    RunHealthCheck { alias: String },
    /// Hold a tablet's action lock for DURATION (`30s`, `500ms`): role, replication and schema
    /// changes wait behind it, queries do not. For testing.
    #[command(name = "SleepTablet")]
    SleepTablet {
        alias: String,
        #[arg(value_parser = crate::reparent::parse_duration)]
        duration: std::time::Duration,
    },
}

impl VitessCommand {
    /// The request, and whether to follow it (a copy or a VDiff) until it ends.
    pub fn into_request(self) -> (AdminRequest, bool) {
        use VitessCommand as V;
        let shard_of = |s: ShardRef| (s.keyspace, s.shard);
        let req = match self {
            V::CopySchemaShard { source, destination, tables, exclude_tables, include_views } => {
                AdminRequest::CopySchemaShard { source, destination, tables, exclude_tables, include_views }
            }
            V::SplitClone { shard, no_wait } => {
                let (keyspace, shard) = shard_of(shard);
                return (AdminRequest::SplitClone { keyspace, shard }, !no_wait);
            }
            V::SplitDiff { shard, no_wait } => {
                let (keyspace, shard) = shard_of(shard);
                return (AdminRequest::SplitDiff { keyspace, shard }, !no_wait);
            }
            V::MigrateServedTypes { shard, served_type, reverse } => {
                let (keyspace, shard) = shard_of(shard);
                AdminRequest::MigrateServedTypes { keyspace, shard, served_type, reverse }
            }
            V::GetSrvKeyspaces { keyspace, cells } => AdminRequest::GetSrvKeyspaces { keyspace, cells },
            V::GetSrvVSchema { cell } => AdminRequest::GetSrvVSchema { cell },
            V::PingTablet { alias } => AdminRequest::PingTablet { alias },
            V::RefreshState { alias } => AdminRequest::RefreshState { alias },
            V::RefreshStateByShard { shard } => {
                let (keyspace, shard) = shard_of(shard);
                AdminRequest::RefreshStateByShard { keyspace, shard }
            }
            V::ReloadSchema { alias } => AdminRequest::ReloadSchema { alias },
            V::ReloadSchemaShard { shard } => {
                let (keyspace, shard) = shard_of(shard);
                AdminRequest::ReloadSchemaShard { keyspace, shard }
            }
            V::ReloadSchemaKeyspace { keyspace } => AdminRequest::ReloadSchemaKeyspace { keyspace },
            V::Validate { ping_tablets } => AdminRequest::Validate { keyspace: None, shard: None, ping_tablets },
            V::ValidateKeyspace { keyspace, ping_tablets } => {
                AdminRequest::Validate { keyspace: Some(keyspace), shard: None, ping_tablets }
            }
            V::ValidateShard { shard, ping_tablets } => {
                AdminRequest::Validate { keyspace: Some(shard.keyspace), shard: Some(shard.shard), ping_tablets }
            }
            V::ValidateSchemaShard { shard } => {
                let (keyspace, shard) = shard_of(shard);
                AdminRequest::ValidateSchemaShard { keyspace, shard }
            }
            V::ValidateVersionKeyspace { keyspace } => AdminRequest::ValidateVersionKeyspace { keyspace },
            V::GetPermissions { alias } => AdminRequest::GetPermissions { alias },
            V::ExecuteFetchAsApp { alias, sql, max_rows } => AdminRequest::ExecuteFetchAsApp { alias, sql, max_rows },
            V::GetWorkflows { keyspace } => AdminRequest::GetWorkflows { keyspace },
            V::GetFullStatus { alias } => AdminRequest::GetFullStatus { alias },
            V::RunHealthCheck { alias } => AdminRequest::RunHealthCheck { alias },
            V::SleepTablet { alias, duration } => AdminRequest::SleepTablet {
                alias,
                duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            },
        };
        (req, false)
    }
}
