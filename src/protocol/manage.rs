//! Management operations on one tablet (`tessera.tablet.<alias>.manage`): roles,
//! replication, schema, DBA statements, backups, restores, the action lock; re-exported from
//! [`super::tablet`].

use serde::{Deserialize, Serialize};

use super::tablet::{QueryResult, ReplicationStatus, TabletError, TabletHealth, TabletSchema};
use crate::protocol::topology::TabletType;

/// Management operations on one tablet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum ManageRequest {
    Status,
    /// Change among replica, rdonly, spare, drained (never to or from primary).
    SetType {
        tablet_type: TabletType,
    },
    /// Stop replicating and accept writes; the tablet becomes `primary`. With `semi_sync`, a
    /// commit is acknowledged only once a replica has it (`AFTER_SYNC`).
    MakePrimary {
        #[serde(default)]
        semi_sync: bool,
        /// The term the reparent will record for it: until the topology shows that term, the
        /// tablet does not take the previous primary's entry as a sign it was replaced.
        #[serde(default)]
        term: u64,
    },
    /// Replicate from the given primary with MariaDB GTID, read-only; the tablet keeps
    /// `tablet_type` (replica or rdonly). With `semi_sync`, it acknowledges the primary's
    /// commits (never as rdonly). A tablet that was primary continues from its own position.
    ReplicateFrom {
        host: String,
        port: u16,
        tablet_type: TabletType,
        #[serde(default)]
        semi_sync: bool,
    },
    /// The first step of a planned reparent, on the primary: holds every write (waiting up to
    /// `drain_ms` for open transactions, rolling back the rest), turns the server read-only
    /// and answers its position. The tablet stays primary, refusing writes, until it is
    /// pointed at the new primary (`ReplicateFrom`) or `UndoDemotePrimary` undoes this.
    DemotePrimary {
        drain_ms: u64,
    },
    /// Undoes `DemotePrimary` after a reparent that failed: writable again, writes released.
    UndoDemotePrimary,
    /// Waits until the server has applied `position` (a GTID set), up to `timeout_ms`.
    WaitForPosition {
        position: String,
        timeout_ms: u64,
    },
    /// The first step of an emergency reparent, on every reachable replica: stops fetching
    /// from the primary, applies what the relay log holds (up to `wait_ms`), stops
    /// replication and answers the position.
    StopReplicationAndGetStatus {
        wait_ms: u64,
    },
    StartReplication,
    StopReplication,
    GetSchema,
    /// Runs any statement as the DBA user, in the keyspace's database.
    ExecuteFetchAsDba {
        sql: String,
        #[serde(default)]
        max_rows: Option<u64>,
    },
    /// Runs one DDL statement in the keyspace's database.
    ApplyDdl {
        sql: String,
    },
    /// Refuses (or allows again) writes to `tables` (all tables when empty) while traffic is
    /// switched; refusing waits up to `drain_ms` for open transactions to end, then rolls the
    /// rest back.
    SetWritesHeld {
        held: bool,
        #[serde(default)]
        tables: Vec<String>,
        #[serde(default)]
        drain_ms: u64,
    },
    /// Takes a backup of the tablet's MariaDB into the node's backup storage.
    Backup {
        engine: String,
        concurrency: usize,
        allow_primary: bool,
    },
    /// Replaces the tablet's data with a backup of its shard (the newest complete one, or the
    /// one named) and replicates from the backup's position; with `to`, restores the newest
    /// full backup before that point, replays the saved binlogs up to it, and stays drained.
    Restore {
        name: Option<String>,
        #[serde(default)]
        to: Option<crate::backup::pitr::PitrTarget>,
    },
    /// Holds the tablet's action lock for this long (Vitess's SleepTablet, for tests).
    Sleep {
        duration_ms: u64,
    },
}

impl ManageRequest {
    pub fn name(&self) -> &'static str {
        match self {
            ManageRequest::Status => "Status",
            ManageRequest::SetType { .. } => "SetType",
            ManageRequest::MakePrimary { .. } => "MakePrimary",
            ManageRequest::DemotePrimary { .. } => "DemotePrimary",
            ManageRequest::UndoDemotePrimary => "UndoDemotePrimary",
            ManageRequest::WaitForPosition { .. } => "WaitForPosition",
            ManageRequest::StopReplicationAndGetStatus { .. } => "StopReplicationAndGetStatus",
            ManageRequest::ReplicateFrom { .. } => "ReplicateFrom",
            ManageRequest::StartReplication => "StartReplication",
            ManageRequest::StopReplication => "StopReplication",
            ManageRequest::GetSchema => "GetSchema",
            ManageRequest::ExecuteFetchAsDba { .. } => "ExecuteFetchAsDba",
            ManageRequest::Backup { .. } => "Backup",
            ManageRequest::Restore { .. } => "Restore",
            ManageRequest::ApplyDdl { .. } => "ApplyDdl",
            ManageRequest::SetWritesHeld { .. } => "SetWritesHeld",
            ManageRequest::Sleep { .. } => "Sleep",
        }
    }
}

/// Answers to management operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ManageResponse {
    Status {
        health: Box<TabletHealth>,
    },
    Done {
        message: String,
    },
    Schema {
        schema: TabletSchema,
    },
    Result {
        #[serde(serialize_with = "crate::protocol::tablet::values_form")]
        result: QueryResult,
    },
    Backup {
        manifest: Box<crate::backup::Manifest>,
    },
    /// The tablet's replication state after the operation (reparent steps).
    Position {
        status: ReplicationStatus,
    },
}

pub type ManageReply = Result<ManageResponse, TabletError>;
