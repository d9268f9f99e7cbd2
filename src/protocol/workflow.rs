//! Workflows (Reshard, MoveTables) as the topology records them, their streams, routing rules,
//! and the progress and VDiff reports that travel to `tessera ctl` and `tessera events`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::topology::TabletType;
use crate::vindex::keyrange::KeyRange;
use crate::vschema::VindexDef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowKind {
    Reshard,
    MoveTables,
}

/// What a stream does with DDL it reads in the source's binlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnDdl {
    /// Skip it (the operator applies schema changes to both sides).
    Ignore,
    /// Stop the stream with an error naming the statement (Vitess's default).
    #[default]
    Stop,
    /// Run it on the target too.
    Exec,
}

impl OnDdl {
    pub fn parse(s: &str) -> Result<OnDdl, String> {
        match s.to_ascii_lowercase().as_str() {
            "ignore" => Ok(OnDdl::Ignore),
            "stop" => Ok(OnDdl::Stop),
            "exec" => Ok(OnDdl::Exec),
            _ => Err(format!("--on-ddl `{s}` is not one of ignore, stop, exec")),
        }
    }
}

/// Copy and replay settings of a workflow's streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub on_ddl: OnDdl,
    /// Rows per copy chunk (one target transaction each).
    pub chunk_rows: u64,
    /// Tables copied at the same time (each from the same consistent snapshot).
    pub readers: u32,
    /// Chunks being inserted on the target at the same time.
    pub writers: u32,
    /// Copy throttle in rows per second per stream; 0: unlimited.
    pub max_rows_per_sec: u64,
    /// Back off copying while a target replica lags more than this (seconds); 0: never.
    pub max_replica_lag_secs: u64,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            on_ddl: OnDdl::Stop,
            chunk_rows: 5000,
            readers: 2,
            writers: 2,
            max_rows_per_sec: 0,
            max_replica_lag_secs: 30,
        }
    }
}

/// A table a workflow moves, with the vindex that places its rows on target shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    /// The primary vindex column and definition in the target keyspace; `None` when the target
    /// is unsharded (every row goes to its one shard).
    #[serde(default)]
    pub vindex: Option<(String, VindexDef)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowState {
    /// Streams copy and replicate.
    Running,
    /// Streams are stopped (operator's request or an error); they keep their position.
    Stopped,
    /// Writes were switched: the streams of this workflow no longer run.
    Frozen,
}

/// One workflow as the topology holds it (on its target keyspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub name: String,
    pub kind: WorkflowKind,
    pub source_keyspace: String,
    pub target_keyspace: String,
    pub source_shards: Vec<String>,
    pub target_shards: Vec<String>,
    pub tables: Vec<TableSpec>,
    pub options: StreamOptions,
    pub state: WorkflowState,
    /// Tablet types whose reads go to the targets.
    #[serde(default)]
    pub reads_switched: Vec<TabletType>,
    #[serde(default)]
    pub writes_switched: bool,
    /// For a reverse workflow (created by SwitchTraffic): the workflow it reverses.
    #[serde(default)]
    pub reverse_of: Option<String>,
    pub created_ms: u64,
    #[serde(default)]
    pub message: String,
}

/// One stream of a workflow: a target shard pulling from one source shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamKey {
    pub keyspace: String,
    pub workflow: String,
    pub target_shard: String,
    pub source_shard: String,
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{} {}/{} <- {}",
            self.keyspace, self.workflow, self.keyspace, self.target_shard, self.source_shard
        )
    }
}

impl WorkflowRecord {
    /// `<keyspace>.<workflow>`.
    pub fn id(&self) -> String {
        format!("{}.{}", self.target_keyspace, self.name)
    }

    /// Every (target shard, source shard) pair whose key ranges overlap.
    pub fn streams(&self) -> Vec<StreamKey> {
        let range = |s: &str| KeyRange::parse_shard_name(s).unwrap_or_else(|_| KeyRange::full());
        let mut out = Vec::new();
        for t in &self.target_shards {
            for s in &self.source_shards {
                if range(t).intersects(&range(s)) {
                    out.push(StreamKey {
                        keyspace: self.target_keyspace.clone(),
                        workflow: self.name.clone(),
                        target_shard: t.clone(),
                        source_shard: s.clone(),
                    });
                }
            }
        }
        out
    }

    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name.clone()).collect()
    }
}

/// Where the gateway sends every table of a keyspace, for one tablet type (Vitess's keyspace
/// routing rules: `from_keyspace` may name a keyspace that no longer exists).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyspaceRoutingRule {
    pub from_keyspace: String,
    pub tablet_type: TabletType,
    pub to_keyspace: String,
}

/// Where the gateway sends a table: `from` is `table` or `keyspace.table`, for one tablet type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoutingRule {
    pub from: String,
    pub tablet_type: TabletType,
    pub to_keyspace: String,
}

/// A stream's state as it reports it (also stored in the target's `_tessera.vreplication`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StreamStatus {
    pub keyspace: String,
    pub workflow: String,
    pub target_shard: String,
    pub source_shard: String,
    /// `Copying`, `Running`, `Stopped` or `Error`.
    pub state: String,
    pub position: String,
    pub rows_copied: u64,
    /// Source rows read by the copy (every row of the table, whether or not it belongs to the
    /// target's key range) and the source tables' row count when the copy began.
    pub rows_scanned: u64,
    pub rows_total: u64,
    /// Copy rate over the last report interval.
    pub rows_per_sec: f64,
    pub lag_secs: f64,
    pub message: String,
    pub updated_ms: u64,
}

impl StreamStatus {
    /// Percent of source rows the copy has read (100 once replicating).
    pub fn percent(&self) -> f64 {
        match self.state.as_str() {
            "Copying" if self.rows_total > 0 => (self.rows_scanned as f64 * 100.0 / self.rows_total as f64).min(99.9),
            "Running" | "Stopped" | "Frozen" => 100.0,
            _ => 0.0,
        }
    }

    /// Seconds until the copy ends at the current rate.
    pub fn eta_secs(&self) -> Option<f64> {
        if self.state != "Copying" || self.rows_per_sec <= 0.0 || self.rows_total == 0 {
            return None;
        }
        Some(self.rows_total.saturating_sub(self.rows_scanned) as f64 / self.rows_per_sec)
    }
}

/// The result of one table's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TableDiff {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub matching: u64,
    /// In the source but not in the target.
    pub missing: u64,
    /// In the target but not in the source.
    pub extra: u64,
    pub different: u64,
    /// Primary keys of the first mismatches, with what is wrong.
    pub samples: Vec<String>,
}

/// A VDiff's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VDiffReport {
    pub id: String,
    pub keyspace: String,
    pub workflow: String,
    /// `started`, `completed` or `error`.
    pub state: String,
    pub started_ms: u64,
    pub completed_ms: u64,
    pub tables: Vec<TableDiff>,
    pub message: String,
}

impl VDiffReport {
    pub fn has_differences(&self) -> bool {
        self.tables.iter().any(|t| t.missing + t.extra + t.different > 0)
    }
}

/// What a workflow command does (vtctldclient's sub-commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowAction {
    Create,
    Show,
    Start,
    Stop,
    SwitchTraffic,
    ReverseTraffic,
    Complete,
    Cancel,
}

impl WorkflowAction {
    pub fn parse(s: &str) -> Result<WorkflowAction, String> {
        Ok(match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "create" => WorkflowAction::Create,
            "show" | "status" | "progress" => WorkflowAction::Show,
            "start" => WorkflowAction::Start,
            "stop" => WorkflowAction::Stop,
            "switchtraffic" => WorkflowAction::SwitchTraffic,
            "reversetraffic" => WorkflowAction::ReverseTraffic,
            "complete" => WorkflowAction::Complete,
            "cancel" => WorkflowAction::Cancel,
            _ => {
                return Err(format!(
                    "`{s}` is not a workflow action: create, show, start, stop, switchtraffic, reversetraffic, complete, cancel"
                ))
            }
        })
    }
}

/// A request to one stream's actor on `tessera.vrepl.<ks>.<workflow>.<target>.<source>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum StreamControl {
    Status,
    /// Stop and stay stopped until `Start`.
    Stop,
    /// Run; with `stop_pos`, stop once the source position is reached (and stay stopped).
    /// `None` clears a recorded stop position.
    Start {
        #[serde(default)]
        stop_pos: Option<String>,
    },
}

/// A stream's answer: its status after the request, or what went wrong.
pub type StreamReply = Result<StreamStatus, String>;

/// Per-keyspace map of workflow name to record (kept in the topology's keyspace).
pub type Workflows = BTreeMap<String, WorkflowRecord>;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record() -> WorkflowRecord {
        wf(&["0"], &["-80", "80-"])
    }

    fn wf(sources: &[&str], targets: &[&str]) -> WorkflowRecord {
        WorkflowRecord {
            name: "w".into(),
            kind: WorkflowKind::Reshard,
            source_keyspace: "c".into(),
            target_keyspace: "c".into(),
            source_shards: sources.iter().map(|s| s.to_string()).collect(),
            target_shards: targets.iter().map(|s| s.to_string()).collect(),
            tables: vec![],
            options: StreamOptions::default(),
            state: WorkflowState::Running,
            reads_switched: vec![],
            writes_switched: false,
            reverse_of: None,
            created_ms: 0,
            message: String::new(),
        }
    }

    #[test]
    fn streams_pair_overlapping_shards() {
        let split = wf(&["0"], &["-80", "80-"]).streams();
        assert_eq!(split.len(), 2);
        assert!(split.iter().all(|s| s.source_shard == "0"));
        let merge = wf(&["-40", "40-80", "80-"], &["-80", "80-"]).streams();
        let pairs: Vec<(String, String)> = merge.into_iter().map(|s| (s.target_shard, s.source_shard)).collect();
        assert_eq!(
            pairs,
            vec![("-80".into(), "-40".into()), ("-80".into(), "40-80".into()), ("80-".into(), "80-".into())]
        );
    }

    #[test]
    fn progress() {
        let mut s = StreamStatus { state: "Copying".into(), rows_total: 200, rows_scanned: 50, ..Default::default() };
        s.rows_per_sec = 10.0;
        assert_eq!(s.percent(), 25.0);
        assert_eq!(s.eta_secs(), Some(15.0));
        s.state = "Running".into();
        assert_eq!(s.percent(), 100.0);
        s.state = "Unknown".into();
        assert_eq!(s.percent(), 0.0);
        assert_eq!(s.eta_secs(), None);
    }
}
