//! `tessera ctl <Command>`: one admin command over NATS, named as in vtctldclient.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::backup::pitr::PitrTarget;
use crate::client::AdminClient;
use crate::protocol::admin::{AdminRequest, AdminResponse, ShardRef};
use crate::protocol::topology::TabletType;

#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// NATS server URL.
    #[arg(long, env = "TESSERA_NATS", default_value = "nats://127.0.0.1:4222", global = true)]
    pub nats: String,
    #[command(flatten)]
    pub nats_auth: super::NatsAuthArgs,
    /// Print the reply as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 15, global = true)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Admin commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Register a cell (failure domain).
    #[command(name = "AddCellInfo")]
    AddCellInfo {
        name: String,
        /// NATS URL for this cell, if it differs from the cluster's.
        #[arg(long, default_value = "")]
        server_address: String,
        #[arg(long, default_value = "")]
        root: String,
    },
    /// List the cells.
    #[command(name = "GetCellInfoNames")]
    GetCellInfoNames,
    /// Create a keyspace.
    #[command(name = "CreateKeyspace")]
    CreateKeyspace {
        name: String,
        /// none, semi_sync or cross_cell.
        #[arg(long, default_value = "none")]
        durability_policy: String,
    },
    /// Show one keyspace.
    #[command(name = "GetKeyspace")]
    GetKeyspace { keyspace: String },
    /// List all keyspaces.
    #[command(name = "GetKeyspaces")]
    GetKeyspaces,
    /// Delete a keyspace (refused while it has shards, unless --recursive).
    #[command(name = "DeleteKeyspace")]
    DeleteKeyspace {
        keyspace: String,
        /// Also delete its shards and tablet records.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Create a shard: `<keyspace>/<shard>` like `customer/-80`.
    #[command(name = "CreateShard")]
    CreateShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        /// Succeed without change if the shard exists.
        #[arg(long)]
        force: bool,
        /// Allow a range that overlaps existing shards (resharding targets; created not serving).
        #[arg(long)]
        allow_overlap: bool,
    },
    /// Show one shard.
    #[command(name = "GetShard")]
    GetShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
    },
    /// List the shards of a keyspace.
    #[command(name = "FindAllShardsInKeyspace")]
    FindAllShardsInKeyspace { keyspace: String },
    /// Delete shards.
    #[command(name = "DeleteShards")]
    DeleteShards {
        #[arg(value_parser = ShardRef::parse, required = true)]
        shards: Vec<ShardRef>,
        /// Also delete the records of their tablets.
        #[arg(short, long)]
        recursive: bool,
        /// Delete even if the shard serves traffic.
        #[arg(long)]
        even_if_serving: bool,
    },
    /// Set whether a shard's primary serves (and is in the primary serving partition).
    #[command(name = "SetShardIsPrimaryServing")]
    SetShardIsPrimaryServing {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[arg(action = clap::ArgAction::Set)]
        serving: bool,
    },
    /// Add tables to (or with --remove take them from) a shard's deny list for a tablet type.
    #[command(name = "SetShardTabletControl")]
    SetShardTabletControl {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        tablet_type: TabletType,
        #[arg(long, value_delimiter = ',', required = true)]
        denied_tables: Vec<String>,
        #[arg(long)]
        remove: bool,
    },
    /// One tablet's record and health (zone1-100 or zone1-0000000100).
    #[command(name = "GetTablet")]
    GetTablet { alias: String },
    /// The shard names of N equal shards (as Vitess names them), without asking the cluster.
    #[command(name = "GenerateShardRanges")]
    GenerateShardRanges { shards: usize },
    /// List tablets, optionally filtered.
    #[command(name = "GetTablets")]
    GetTablets {
        #[arg(long)]
        keyspace: Option<String>,
        /// A shard name; `-80` is a name, not a flag.
        #[arg(long, allow_hyphen_values = true)]
        shard: Option<String>,
        #[arg(long)]
        cell: Option<String>,
    },
    /// Show the topology, now or as it was right after stream sequence --at.
    #[command(name = "GetTopology")]
    GetTopology {
        #[arg(long)]
        at: Option<u64>,
    },
    /// Apply a VSchema (Vitess JSON) to a keyspace.
    #[command(name = "ApplyVSchema")]
    ApplyVSchema {
        keyspace: String,
        /// The VSchema JSON text.
        #[arg(long, conflicts_with = "vschema_file", required_unless_present = "vschema_file")]
        vschema: Option<String>,
        /// A file holding the VSchema JSON.
        #[arg(long)]
        vschema_file: Option<PathBuf>,
        /// Validate only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a keyspace's VSchema.
    #[command(name = "GetVSchema")]
    GetVSchema { keyspace: String },
    /// Replace every table routing rule (Vitess JSON: {"rules": [{"from_table": "t[@replica]",
    /// "to_tables": ["ks.t"]}]}), including those a workflow set.
    #[command(name = "ApplyRoutingRules")]
    ApplyRoutingRules {
        /// The rules JSON text.
        #[arg(long, conflicts_with = "rules_file", required_unless_present = "rules_file")]
        rules: Option<String>,
        /// A file holding the rules JSON.
        #[arg(long)]
        rules_file: Option<PathBuf>,
    },
    /// Replace every keyspace routing rule (Vitess JSON: {"rules": [{"from_keyspace":
    /// "ks[@replica]", "to_keyspace": "ks2"}]}).
    #[command(name = "ApplyKeyspaceRoutingRules")]
    ApplyKeyspaceRoutingRules {
        /// The rules JSON text.
        #[arg(long, conflicts_with = "rules_file", required_unless_present = "rules_file")]
        rules: Option<String>,
        /// A file holding the rules JSON.
        #[arg(long)]
        rules_file: Option<PathBuf>,
    },
    /// Print the table and keyspace routing rules.
    #[command(name = "GetRoutingRules")]
    GetRoutingRules,
    /// List the nodes in the cluster.
    #[command(name = "GetNodes")]
    GetNodes,
    /// Make a tablet the shard's primary; every other tablet replicates from it.
    #[command(name = "InitShardPrimary")]
    InitShardPrimary {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        /// The tablet alias to make primary.
        primary: String,
        /// Allowed when the shard already has a primary.
        #[arg(long)]
        force: bool,
    },
    /// Move the shard's primary to a replica while both are up (writes pause, no errors).
    #[command(name = "PlannedReparentShard")]
    PlannedReparentShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        /// The replica to promote (default: the most caught-up replica).
        #[arg(long)]
        new_primary: Option<String>,
        /// Reparent only if this tablet is the primary, to any other replica.
        #[arg(long)]
        avoid_primary: Option<String>,
        /// How long the new primary may take to catch up (e.g. 30s).
        #[arg(long, default_value = "30s", value_parser = crate::reparent::parse_duration)]
        wait_replicas_timeout: std::time::Duration,
    },
    /// Replace a primary that is gone by the most advanced replica.
    #[command(name = "EmergencyReparentShard")]
    EmergencyReparentShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        /// The replica to promote (refused if another tablet is ahead of it).
        #[arg(long)]
        new_primary: Option<String>,
        /// How long replicas may take to apply their relay logs (e.g. 30s).
        #[arg(long, default_value = "30s", value_parser = crate::reparent::parse_duration)]
        wait_replicas_timeout: std::time::Duration,
    },
    /// Point a replica or rdonly tablet at its shard's current primary.
    #[command(name = "ReparentTablet")]
    ReparentTablet { alias: String },
    /// Record that a tablet became primary by a failover run outside tessera.
    #[command(name = "TabletExternallyReparented")]
    TabletExternallyReparented { alias: String },
    /// Set a tablet's server read-only (`false`) or writable (`true`, primary only).
    #[command(name = "SetWritable")]
    SetWritable {
        alias: String,
        #[arg(action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        writable: bool,
    },
    /// Set a keyspace's durability policy: none, semi_sync or cross_cell.
    #[command(name = "SetKeyspaceDurabilityPolicy")]
    SetKeyspaceDurabilityPolicy {
        keyspace: String,
        #[arg(long)]
        durability_policy: String,
    },
    /// Switch automatic failover on or off for a keyspace or one shard (`ks` or `ks/shard`).
    #[command(name = "SetFailover")]
    SetFailover {
        target: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Move a tablet between replica, rdonly, spare and drained.
    #[command(name = "ChangeTabletType")]
    ChangeTabletType { alias: String, tablet_type: TabletType },
    /// Start replication on a tablet.
    #[command(name = "StartReplication")]
    StartReplication { alias: String },
    /// Stop replication on a tablet.
    #[command(name = "StopReplication")]
    StopReplication { alias: String },
    /// GTID positions and lag of every tablet of a shard.
    #[command(name = "ShardReplicationPositions")]
    ShardReplicationPositions {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
    },
    /// Check DDL on every shard, then run it on each shard's primary.
    #[command(name = "ApplySchema")]
    ApplySchema {
        keyspace: String,
        #[arg(long, conflicts_with = "sql_file", required_unless_present = "sql_file")]
        sql: Option<String>,
        #[arg(long)]
        sql_file: Option<PathBuf>,
        /// Run an ALTER on a table above --large-table-rows rows.
        #[arg(long)]
        allow_large: bool,
        #[arg(long, default_value_t = crate::protocol::admin::default_large_table_rows())]
        large_table_rows: u64,
    },
    /// Print a tablet's tables and views.
    #[command(name = "GetSchema")]
    GetSchema { alias: String },
    /// Compare the schema of every tablet of a keyspace and list the differences.
    #[command(name = "ValidateSchemaKeyspace")]
    ValidateSchemaKeyspace { keyspace: String },
    /// Run one statement on a tablet as the DBA user.
    #[command(name = "ExecuteFetchAsDba")]
    ExecuteFetchAsDba {
        alias: String,
        sql: String,
        #[arg(long)]
        max_rows: Option<u64>,
    },
    /// Back up one tablet into the node's backup storage.
    #[command(name = "Backup")]
    Backup {
        alias: String,
        #[command(flatten)]
        opts: BackupOpts,
    },
    /// Back up a shard from a serving replica or rdonly tablet (never the primary unless allowed).
    #[command(name = "BackupShard")]
    BackupShard {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[command(flatten)]
        opts: BackupOpts,
    },
    /// Distributed transactions (transaction_mode twopc): `list [keyspace]` those in flight or
    /// in doubt, `show <dtid>`, `conclude <dtid>` (to its recorded decision, else rolled back).
    #[command(name = "DistributedTransaction")]
    DistributedTransaction {
        /// list, show (or read), conclude
        action: String,
        /// The transaction id (show, conclude), or a keyspace to list only its transactions.
        arg: Option<String>,
    },
    /// A shard's backups, newest first (complete or partial).
    #[command(name = "GetBackups")]
    GetBackups {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Delete one backup of a shard (complete or partial).
    #[command(name = "RemoveBackup")]
    RemoveBackup {
        #[arg(value_parser = ShardRef::parse)]
        shard: ShardRef,
        name: String,
    },
    /// Replace a replica's or rdonly's data with a backup of its shard, then catch up; or restore
    /// the shard as it was at a moment or GTID position (point-in-time recovery), left drained.
    #[command(name = "RestoreFromBackup")]
    RestoreFromBackup {
        alias: String,
        /// The backup (default: the newest complete one).
        #[arg(long, conflicts_with_all = ["restore_to_time", "restore_to_pos"])]
        backup_name: Option<String>,
        /// Restore to this moment (UTC, `2026-12-01T10:00:00Z`): the newest full backup before it,
        /// then the binlogs saved by `Backup --incremental` up to it.
        #[arg(long, value_parser = PitrTarget::time, conflicts_with = "restore_to_pos")]
        restore_to_time: Option<PitrTarget>,
        /// Restore through this GTID position (`0-200-42`).
        #[arg(long, value_parser = PitrTarget::position)]
        restore_to_pos: Option<PitrTarget>,
        /// Draw a progress bar while the restore runs.
        #[arg(long)]
        wait: bool,
    },
    /// Remove tablet records from the topology.
    #[command(name = "DeleteTablets")]
    DeleteTablets {
        #[arg(required = true)]
        aliases: Vec<String>,
        #[arg(long)]
        allow_primary: bool,
    },
    /// Split or merge shards: `Reshard --workflow w --target-keyspace customer create
    /// --source-shards 0 --target-shards -80,80-`; then show, switchtraffic, reversetraffic,
    /// complete, cancel.
    #[command(name = "Reshard")]
    Reshard(super::ctl_workflow::ReshardArgs),
    /// Move tables between keyspaces: `MoveTables --workflow w --target-keyspace customer
    /// create --source-keyspace commerce --tables customer,corder`; then as Reshard.
    #[command(name = "MoveTables")]
    MoveTables(super::ctl_workflow::MoveTablesArgs),
    /// `Workflow <keyspace>.<workflow> show|start|stop`.
    #[command(name = "Workflow")]
    Workflow(super::ctl_workflow::WorkflowCmdArgs),
    /// Compare a workflow's sources and targets: `VDiff --workflow w --target-keyspace ks
    /// create [--wait]`, `VDiff ... show [id]`.
    #[command(name = "VDiff")]
    VDiff(super::ctl_workflow::VDiffArgs),
    #[command(flatten)]
    Vitess(super::ctl_vitess::VitessCommand),
}

/// How a backup is taken (`Backup`, `BackupShard`).
#[derive(Debug, clap::Args)]
pub struct BackupOpts {
    /// Parallel copy and compression workers.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// `mariabackup` (online, the default) or `builtin` (stops the tablet's mysqld for a cold
    /// copy; the tablet stops serving meanwhile and catches up afterwards).
    #[arg(long, default_value = "mariabackup")]
    engine: String,
    /// Save the tablet's closed binary logs instead (for point-in-time recovery; BackupShard
    /// takes them from the primary).
    #[arg(long, conflicts_with = "engine")]
    incremental: bool,
    /// Allow backing up a primary.
    #[arg(long)]
    allow_primary: bool,
    /// Draw a progress bar (bytes, files, rate, ETA) while the backup runs.
    #[arg(long)]
    wait: bool,
}

impl CtlCommand {
    /// The request, and whether to follow it (`--wait`).
    /// Whose progress `--wait` draws, if it was given.
    fn progress_scope(&self) -> anyhow::Result<Option<super::ctl_progress::Scope>> {
        use super::ctl_progress::Scope;
        let tablet = |alias: &str| {
            crate::protocol::names::normalize_tablet_alias(alias).map(Scope::Tablet).map_err(anyhow::Error::msg)
        };
        Ok(match self {
            CtlCommand::Backup { alias, opts } if opts.wait => Some(tablet(alias)?),
            CtlCommand::RestoreFromBackup { alias, wait: true, .. } => Some(tablet(alias)?),
            CtlCommand::BackupShard { shard, opts } if opts.wait => {
                Some(Scope::Shard(shard.keyspace.clone(), shard.shard.clone()))
            }
            _ => None,
        })
    }

    fn into_request(self) -> anyhow::Result<(AdminRequest, bool)> {
        use super::ctl_workflow as w;
        Ok(match self {
            CtlCommand::Reshard(a) => w::reshard(a),
            CtlCommand::MoveTables(a) => w::move_tables(a),
            CtlCommand::Workflow(a) => w::workflow(a)?,
            CtlCommand::VDiff(a) => w::vdiff(a),
            CtlCommand::Vitess(v) => v.into_request(),
            other => (other.into_plain()?, false),
        })
    }

    fn into_plain(self) -> anyhow::Result<AdminRequest> {
        Ok(match self {
            CtlCommand::AddCellInfo { name, server_address, root } => {
                AdminRequest::AddCellInfo { name, server_address, root }
            }
            CtlCommand::GetCellInfoNames => AdminRequest::GetCellInfoNames,
            CtlCommand::CreateKeyspace { name, durability_policy } => {
                AdminRequest::CreateKeyspace { name, durability_policy }
            }
            CtlCommand::GetKeyspace { keyspace } => AdminRequest::GetKeyspace { keyspace },
            CtlCommand::GetKeyspaces => AdminRequest::GetKeyspaces,
            CtlCommand::DeleteKeyspace { keyspace, recursive } => AdminRequest::DeleteKeyspace { keyspace, recursive },
            CtlCommand::CreateShard { shard, force, allow_overlap } => {
                AdminRequest::CreateShard { keyspace: shard.keyspace, shard: shard.shard, force, allow_overlap }
            }
            CtlCommand::GetShard { shard } => AdminRequest::GetShard { keyspace: shard.keyspace, shard: shard.shard },
            CtlCommand::FindAllShardsInKeyspace { keyspace } => AdminRequest::FindAllShardsInKeyspace { keyspace },
            CtlCommand::DeleteShards { shards, recursive, even_if_serving } => {
                AdminRequest::DeleteShards { shards, recursive, even_if_serving }
            }
            CtlCommand::SetShardIsPrimaryServing { shard, serving } => {
                AdminRequest::SetShardIsPrimaryServing { keyspace: shard.keyspace, shard: shard.shard, serving }
            }
            CtlCommand::SetShardTabletControl { shard, tablet_type, denied_tables, remove } => {
                AdminRequest::SetShardTabletControl {
                    keyspace: shard.keyspace,
                    shard: shard.shard,
                    tablet_type,
                    denied_tables,
                    remove,
                }
            }
            CtlCommand::GetTablets { keyspace, shard, cell } => AdminRequest::GetTablets { keyspace, shard, cell },
            CtlCommand::GetTablet { .. } => AdminRequest::GetTablets { keyspace: None, shard: None, cell: None },
            CtlCommand::GenerateShardRanges { .. } => {
                anyhow::bail!("GenerateShardRanges is answered without the cluster")
            }
            CtlCommand::GetTopology { at } => AdminRequest::GetTopology { at },
            CtlCommand::ApplyVSchema { keyspace, vschema, vschema_file, dry_run } => {
                let vschema = text_or_file(vschema, vschema_file, "--vschema")?;
                AdminRequest::ApplyVSchema { keyspace, vschema, dry_run }
            }
            CtlCommand::GetVSchema { keyspace } => AdminRequest::GetVSchema { keyspace },
            CtlCommand::ApplyRoutingRules { rules, rules_file } => {
                AdminRequest::ApplyRoutingRules { rules: text_or_file(rules, rules_file, "--rules")? }
            }
            CtlCommand::ApplyKeyspaceRoutingRules { rules, rules_file } => {
                AdminRequest::ApplyKeyspaceRoutingRules { rules: text_or_file(rules, rules_file, "--rules")? }
            }
            CtlCommand::GetRoutingRules => AdminRequest::GetRoutingRules,
            CtlCommand::GetNodes => AdminRequest::GetNodes,
            CtlCommand::InitShardPrimary { shard, primary, force } => {
                AdminRequest::InitShardPrimary { keyspace: shard.keyspace, shard: shard.shard, primary, force }
            }
            CtlCommand::PlannedReparentShard { shard, new_primary, avoid_primary, wait_replicas_timeout } => {
                AdminRequest::PlannedReparentShard {
                    keyspace: shard.keyspace,
                    shard: shard.shard,
                    new_primary,
                    avoid_primary,
                    wait_replicas_timeout_ms: wait_replicas_timeout.as_millis() as u64,
                }
            }
            CtlCommand::EmergencyReparentShard { shard, new_primary, wait_replicas_timeout } => {
                AdminRequest::EmergencyReparentShard {
                    keyspace: shard.keyspace,
                    shard: shard.shard,
                    new_primary,
                    wait_replicas_timeout_ms: wait_replicas_timeout.as_millis() as u64,
                    expected_term: None,
                }
            }
            CtlCommand::ReparentTablet { alias } => AdminRequest::ReparentTablet { alias },
            CtlCommand::TabletExternallyReparented { alias } => AdminRequest::TabletExternallyReparented { alias },
            CtlCommand::SetWritable { alias, writable } => AdminRequest::SetWritable { alias, writable },
            CtlCommand::SetKeyspaceDurabilityPolicy { keyspace, durability_policy } => {
                AdminRequest::SetKeyspaceDurabilityPolicy { keyspace, durability_policy }
            }
            CtlCommand::SetFailover { target, state } => {
                let (keyspace, shard) = match target.split_once('/') {
                    Some((k, s)) => (k.to_string(), Some(s.to_string())),
                    None => (target, None),
                };
                AdminRequest::SetFailover { keyspace, shard, enabled: state == "on" }
            }
            CtlCommand::ChangeTabletType { alias, tablet_type } => {
                AdminRequest::ChangeTabletType { alias, tablet_type }
            }
            CtlCommand::StartReplication { alias } => AdminRequest::StartReplication { alias },
            CtlCommand::StopReplication { alias } => AdminRequest::StopReplication { alias },
            CtlCommand::ShardReplicationPositions { shard } => {
                AdminRequest::ShardReplicationPositions { keyspace: shard.keyspace, shard: shard.shard }
            }
            CtlCommand::ApplySchema { keyspace, sql, sql_file, allow_large, large_table_rows } => {
                let sql = match (sql, sql_file) {
                    (Some(text), _) => text,
                    (None, Some(path)) => std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read --sql-file {}: {e}", path.display()))?,
                    (None, None) => anyhow::bail!("give the DDL with --sql or --sql-file"),
                };
                AdminRequest::ApplySchema { keyspace, sql, allow_large, large_table_rows }
            }
            CtlCommand::GetSchema { alias } => AdminRequest::GetSchema { alias },
            CtlCommand::ValidateSchemaKeyspace { keyspace } => AdminRequest::ValidateSchemaKeyspace { keyspace },
            CtlCommand::ExecuteFetchAsDba { alias, sql, max_rows } => {
                AdminRequest::ExecuteFetchAsDba { alias, sql, max_rows }
            }
            CtlCommand::DeleteTablets { aliases, allow_primary } => {
                AdminRequest::DeleteTablets { aliases, allow_primary }
            }
            CtlCommand::Backup { alias, opts: BackupOpts { concurrency, engine, allow_primary, incremental, .. } } => {
                let engine = if incremental { crate::backup::pitr::BINLOG_ENGINE.to_string() } else { engine };
                AdminRequest::Backup { alias, engine, concurrency, allow_primary }
            }
            CtlCommand::BackupShard {
                shard,
                opts: BackupOpts { concurrency, engine, allow_primary, incremental, .. },
            } => AdminRequest::BackupShard {
                keyspace: shard.keyspace,
                shard: shard.shard,
                engine: if incremental { crate::backup::pitr::BINLOG_ENGINE.to_string() } else { engine },
                concurrency,
                allow_primary,
            },
            CtlCommand::DistributedTransaction { action, arg } => {
                let (dtid, keyspace) = if action == "list" { (None, arg) } else { (arg, None) };
                AdminRequest::DistributedTransaction { action, dtid, keyspace }
            }
            CtlCommand::GetBackups { shard, limit } => {
                AdminRequest::GetBackups { keyspace: shard.keyspace, shard: shard.shard, limit }
            }
            CtlCommand::RestoreFromBackup { alias, backup_name, restore_to_time, restore_to_pos, .. } => {
                AdminRequest::RestoreFromBackup { alias, backup_name, restore_to: restore_to_time.or(restore_to_pos) }
            }
            CtlCommand::RemoveBackup { shard, name } => {
                AdminRequest::RemoveBackup { keyspace: shard.keyspace, shard: shard.shard, name }
            }
            CtlCommand::Reshard(_)
            | CtlCommand::MoveTables(_)
            | CtlCommand::Workflow(_)
            | CtlCommand::VDiff(_)
            | CtlCommand::Vitess(_) => {
                anyhow::bail!("workflow commands are built by into_request")
            }
        })
    }
}

/// Sends the command, prints the reply, and returns the exit code (0 on success).
pub async fn run(args: CtlArgs) -> anyhow::Result<i32> {
    if let CtlCommand::GenerateShardRanges { shards } = &args.command {
        let ranges = crate::vindex::keyrange::generate_shard_ranges(*shards).map_err(anyhow::Error::msg)?;
        println!("{}", if args.json { serde_json::to_string(&ranges)? } else { ranges.join("\n") });
        return Ok(0);
    }
    let one_tablet = match &args.command {
        CtlCommand::GetTablet { alias } => {
            Some(crate::protocol::names::normalize_tablet_alias(alias).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let progress = args.command.progress_scope()?;
    let (req, wait) = args.command.into_request()?;
    let auth = args.nats_auth.resolve(crate::nats_roles::Role::Admin)?;
    let client = crate::nats::connect_once(&args.nats, "tessera-ctl", &auth, crate::nats_roles::Role::Admin).await?;
    // A backup runs as long as its copy: wait for it (up to six hours) past the usual timeout.
    let timeout = match &req {
        AdminRequest::Backup { .. } | AdminRequest::BackupShard { .. } | AdminRequest::RestoreFromBackup { .. } => {
            args.timeout.max(6 * 3600)
        }
        // A reparent waits up to its replicas' timeout, and a little more for each step.
        AdminRequest::PlannedReparentShard { wait_replicas_timeout_ms: t, .. }
        | AdminRequest::EmergencyReparentShard { wait_replicas_timeout_ms: t, .. } => args.timeout.max(t / 1000 + 60),
        AdminRequest::SleepTablet { duration_ms: t, .. } => args.timeout.max(t / 1000 + 30),
        _ => args.timeout,
    };
    let admin = AdminClient::new(client.clone(), Duration::from_secs(timeout));
    let reply = match progress {
        Some(scope) => super::ctl_progress::drawing(client, scope, admin.request(&req)).await,
        None => admin.request(&req).await,
    };
    // GetTablet is GetTablets narrowed to one.
    let reply = match (reply, &one_tablet) {
        (Ok(AdminResponse::Tablets { mut tablets }), Some(alias)) => {
            tablets.retain(|t| &t.tablet.alias == alias);
            if tablets.is_empty() {
                eprintln!("error: GetTablet failed: tablet `{alias}` is not in the topology (GetTablets lists them)");
                return Ok(1);
            }
            Ok(AdminResponse::Tablets { tablets })
        }
        (other, _) => other,
    };
    match reply {
        Ok(resp) => {
            match (&resp, args.json) {
                // A document already in JSON is printed as it is.
                (AdminResponse::Json { json }, _) => println!("{json}"),
                (_, true) if !wait => println!("{}", serde_json::to_string_pretty(&resp)?),
                (_, true) => {}
                (_, false) => print!("{}", super::output::render(&resp)),
            }
            if wait {
                return super::ctl_workflow::follow(&admin, &req, &resp, args.json).await;
            }
            // A check that found problems fails.
            Ok(match &resp {
                AdminResponse::Validation { problems, .. } if !problems.is_empty() => 1,
                _ => 0,
            })
        }
        Err(e) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "error": e }))?);
            }
            eprintln!("error: {} failed: {e}", req.name());
            if let Some(refused) = crate::nats::last_server_error() {
                // A request the server refused only times out; say why.
                eprintln!("the NATS server refused this client: {refused} (are these the credentials of a role allowed to run admin commands? see `tessera nats-roles`)");
            }
            Ok(1)
        }
    }
}

/// An argument given as text (`--x`) or as a file (`--x-file`).
fn text_or_file(text: Option<String>, file: Option<PathBuf>, flag: &str) -> anyhow::Result<String> {
    match (text, file) {
        (Some(text), _) => Ok(text),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {flag}-file {}: {e}", path.display())),
        (None, None) => anyhow::bail!("give {flag} or {flag}-file"),
    }
}
