//! Admin replies: [`AdminResponse`] on success, [`RemoteError`] (with an [`ErrorCode`]) on failure.

use serde::{Deserialize, Serialize};

use crate::protocol::node::NodeStatus;
use crate::protocol::tablet::{QueryResult, TabletHealth, TabletSchema};
use crate::protocol::topology::{TabletRecord, TabletType};
use crate::protocol::workflow::{StreamStatus, VDiffReport, WorkflowRecord};
use crate::topo::state::{Keyspace, Shard, Topology};
use crate::vschema::KeyspaceVSchema;

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
        #[serde(serialize_with = "crate::protocol::tablet::values_form")]
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
    /// A document in Vitess's JSON shape (GetSrvKeyspaces, GetSrvVSchema, GetWorkflows,
    /// GetFullStatus).
    Json {
        json: String,
    },
    /// What a Validate* command checked and every problem found (none: all is well).
    Validation {
        scope: String,
        checked: Vec<String>,
        problems: Vec<String>,
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
