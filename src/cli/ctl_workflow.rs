//! `tessera ctl` workflow commands: Reshard, MoveTables, Workflow, VDiff (vtctldclient's
//! names and flags), with `--wait` following a workflow's copy with progress bars.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::client::AdminClient;
use crate::protocol::admin::{AdminRequest, AdminResponse, WorkflowArgs};
use crate::protocol::topology::TabletType;
use crate::protocol::workflow::{OnDdl, StreamOptions, StreamStatus, WorkflowAction};

/// Copy and replay settings of `create`.
#[derive(Debug, clap::Args)]
pub struct OptionArgs {
    /// What streams do with DDL on the source: ignore, stop, exec.
    #[arg(long, default_value = "stop", value_parser = OnDdl::parse)]
    pub on_ddl: OnDdl,
    /// Rows per copy chunk.
    #[arg(long, default_value_t = StreamOptions::default().chunk_rows)]
    pub chunk_rows: u64,
    /// Tables copied at once (from one consistent snapshot).
    #[arg(long, default_value_t = StreamOptions::default().readers)]
    pub readers: u32,
    /// Chunks written at once.
    #[arg(long, default_value_t = StreamOptions::default().writers)]
    pub writers: u32,
    /// Copy throttle per stream (0: none).
    #[arg(long, default_value_t = 0)]
    pub max_rows_per_sec: u64,
    /// Pause the copy while a target replica lags more than this many seconds (0: never).
    #[arg(long, default_value_t = StreamOptions::default().max_replica_lag_secs)]
    pub max_replica_lag: u64,
}

impl OptionArgs {
    fn options(&self) -> StreamOptions {
        StreamOptions {
            on_ddl: self.on_ddl,
            chunk_rows: self.chunk_rows,
            readers: self.readers,
            writers: self.writers,
            max_rows_per_sec: self.max_rows_per_sec,
            max_replica_lag_secs: self.max_replica_lag,
        }
    }
}

/// Flags every Reshard/MoveTables action takes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// create, show, start, stop, switchtraffic, reversetraffic, complete, cancel.
    #[arg(value_parser = WorkflowAction::parse)]
    pub action: WorkflowAction,
    #[arg(long)]
    pub workflow: String,
    #[arg(long)]
    pub target_keyspace: String,
    /// SwitchTraffic/ReverseTraffic: rdonly, replica, primary (default all).
    #[arg(long, value_delimiter = ',')]
    pub tablet_types: Vec<TabletType>,
    /// SwitchTraffic: give up (and allow writes again) if the streams do not catch up in time.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Follow the workflow until every stream replicates (copy done), with progress bars.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub options: OptionArgs,
}

impl CommonArgs {
    fn args(&self) -> WorkflowArgs {
        WorkflowArgs {
            keyspace: self.target_keyspace.clone(),
            workflow: self.workflow.clone(),
            action: self.action,
            options: (self.action == WorkflowAction::Create).then(|| self.options.options()),
            tablet_types: self.tablet_types.clone(),
            timeout_ms: self.timeout_ms,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ReshardArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Shards to split or merge (`0`, or `-80`...).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub source_shards: Vec<String>,
    /// The new shards (`-80,80-`).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub target_shards: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct MoveTablesArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, default_value = "")]
    pub source_keyspace: String,
    /// Tables to move (all of the source keyspace's when omitted).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct WorkflowCmdArgs {
    /// `<keyspace>.<workflow>`.
    pub name: String,
    /// show, start or stop.
    #[arg(value_parser = WorkflowAction::parse)]
    pub action: WorkflowAction,
    /// With show: follow until every stream replicates.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, clap::Args)]
pub struct VDiffArgs {
    /// create or show.
    #[arg(value_parser = WorkflowAction::parse)]
    pub action: WorkflowAction,
    /// show: the report id (default: the last one).
    pub id: Option<String>,
    #[arg(long)]
    pub workflow: String,
    #[arg(long)]
    pub target_keyspace: String,
    /// Wait until the diff finishes; exit 2 when it found differences.
    #[arg(long)]
    pub wait: bool,
}

fn plain(keyspace: &str, workflow: &str, action: WorkflowAction) -> WorkflowArgs {
    WorkflowArgs {
        keyspace: keyspace.into(),
        workflow: workflow.into(),
        action,
        options: None,
        tablet_types: vec![],
        timeout_ms: None,
    }
}

pub fn reshard(a: ReshardArgs) -> (AdminRequest, bool) {
    let wait = a.common.wait;
    (
        AdminRequest::Reshard { args: a.common.args(), source_shards: a.source_shards, target_shards: a.target_shards },
        wait,
    )
}

pub fn move_tables(a: MoveTablesArgs) -> (AdminRequest, bool) {
    let wait = a.common.wait;
    (AdminRequest::MoveTables { args: a.common.args(), source_keyspace: a.source_keyspace, tables: a.tables }, wait)
}

pub fn workflow(a: WorkflowCmdArgs) -> anyhow::Result<(AdminRequest, bool)> {
    let (ks, wf) = a
        .name
        .split_once('.')
        .ok_or_else(|| anyhow::anyhow!("`{}` is not <keyspace>.<workflow> (like customer.reshard)", a.name))?;
    Ok((AdminRequest::Workflow { args: plain(ks, wf, a.action) }, a.wait))
}

pub fn vdiff(a: VDiffArgs) -> (AdminRequest, bool) {
    (AdminRequest::VDiff { args: plain(&a.target_keyspace, &a.workflow, a.action), id: a.id }, a.wait)
}

/// One line per stream: a bar, percent, rows, rate, ETA, lag and state.
pub fn progress_line(s: &StreamStatus) -> String {
    const WIDTH: usize = 24;
    let pct = s.percent();
    let filled = ((pct / 100.0) * WIDTH as f64).round() as usize;
    let eta = s.eta_secs().map(|e| format!(" ETA {e:.0}s")).unwrap_or_default();
    format!(
        "{}/{} <- {:<6} [{}{}] {:5.1}%  {} rows copied  {:.0} rows/s{eta}  lag {:.0}s  {}{}",
        s.keyspace,
        s.target_shard,
        s.source_shard,
        "#".repeat(filled.min(WIDTH)),
        "-".repeat(WIDTH - filled.min(WIDTH)),
        pct,
        s.rows_copied,
        s.rows_per_sec,
        s.lag_secs,
        s.state,
        if s.message.is_empty() { String::new() } else { format!(": {}", s.message) }
    )
}

/// Follows a workflow (until every stream replicates) or a VDiff (until it ends). Returns the
/// exit code.
pub async fn follow(admin: &AdminClient, req: &AdminRequest, first: &AdminResponse, json: bool) -> anyhow::Result<i32> {
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    match (req, first) {
        (_, AdminResponse::VDiff { report }) => {
            let show = AdminRequest::VDiff {
                args: plain(&report.keyspace, &report.workflow, WorkflowAction::Show),
                id: Some(report.id.clone()),
            };
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let resp = admin.request(&show).await.map_err(|e| anyhow::anyhow!("VDiff show: {e}"))?;
                if let AdminResponse::VDiff { report } = &resp {
                    if report.state != "started" {
                        if json {
                            println!("{}", serde_json::to_string_pretty(&resp)?);
                        } else {
                            print!("{}", super::output::render(&resp));
                        }
                        return Ok(match report.state.as_str() {
                            "completed" if report.has_differences() => 2,
                            "completed" => 0,
                            _ => 1,
                        });
                    }
                    if !json {
                        eprintln!("vdiff {} running ({:.0}s)", report.id, started.elapsed().as_secs_f64());
                    }
                }
            }
        }
        (_, AdminResponse::Workflow { workflow, .. }) => {
            let show =
                AdminRequest::Workflow { args: plain(&workflow.target_keyspace, &workflow.name, WorkflowAction::Show) };
            let mut printed = 0;
            loop {
                let resp = admin.request(&show).await.map_err(|e| anyhow::anyhow!("Workflow show: {e}"))?;
                let AdminResponse::Workflow { streams, .. } = &resp else {
                    anyhow::bail!("unexpected reply to Workflow show")
                };
                if !json {
                    if tty && printed > 0 {
                        print!("\x1b[{printed}A");
                    }
                    for s in streams {
                        println!("{}\x1b[K", progress_line(s));
                    }
                    printed = streams.len();
                }
                if streams.iter().any(|s| s.state == "Error") && started.elapsed() > Duration::from_secs(60) {
                    eprintln!("a stream keeps failing; see the messages above");
                    return Ok(1);
                }
                if !streams.is_empty() && streams.iter().all(|s| s.state == "Running") {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&resp)?);
                    }
                    return Ok(0);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        _ => Ok(0),
    }
}
