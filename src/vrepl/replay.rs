//! Applying the source's transactions to the target: filtered by the target's key range, one
//! target transaction per source transaction, the position written in the same transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::binlog::{BinlogReader, RowChange, SourceEvent};
use super::gtid::GtidPos;
use super::state::{run_tx, RowKey};
use super::table::TableInfo;
use super::{StreamSpec, VReplError};
use crate::protocol::envelope::now_ms;
use crate::protocol::workflow::{OnDdl, StreamStatus};
use crate::sql::quote_bytes;

/// How far the copy of a table has come, while catching up during a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Copied {
    NotStarted,
    /// Rows up to this primary key (SQL literals) are on the target.
    UpTo(Vec<String>),
    Done,
}

/// The statements that apply `changes` to the target. With `copy` (catch-up during a copy),
/// changes to tables not copied yet are skipped and changes to the table being copied only
/// touch rows up to its last copied key.
pub fn statements(
    changes: &[RowChange],
    tables: &HashMap<String, TableInfo>,
    spec: &StreamSpec,
    copy: Option<&HashMap<String, Copied>>,
) -> Result<Vec<String>, VReplError> {
    let mut out = Vec::new();
    for c in changes {
        let Some(t) = tables.get(&c.table) else { continue };
        let progress = copy.map(|m| m.get(&c.table).cloned().unwrap_or(Copied::NotStarted));
        for row in [&c.before, &c.after].into_iter().flatten() {
            if row.len() != t.columns.len() {
                return Err(VReplError::Schema(format!(
                    "a row of {} has {} columns, the target table {}: the schemas differ (DDL on one side?)",
                    t.name,
                    row.len(),
                    t.columns.len()
                )));
            }
        }
        let before_in = match &c.before {
            Some(r) => t.in_range(&spec.target_range, r)?,
            None => false,
        };
        let after_in = match &c.after {
            Some(r) => t.in_range(&spec.target_range, r)?,
            None => false,
        };
        match (progress, &c.before, &c.after) {
            (Some(Copied::NotStarted), _, _) => {}
            (Some(Copied::UpTo(last)), before, after) => {
                if let (Some(b), true) = (before, before_in) {
                    out.push(t.delete(b));
                }
                if let (Some(a), true) = (after, after_in) {
                    out.push(t.insert_if_copied(a, &last));
                }
            }
            (_, None, Some(a)) if after_in => out.push(t.insert(std::slice::from_ref(a))),
            (_, Some(b), None) if before_in => out.push(t.delete(b)),
            (_, Some(b), Some(a)) => match (before_in, after_in) {
                (true, true) => out.push(t.update(b, a)),
                (true, false) => out.push(t.delete(b)),
                (false, true) => out.push(t.insert(std::slice::from_ref(a))),
                (false, false) => {}
            },
            _ => {}
        }
    }
    Ok(out)
}

/// Live figures shared with the actor.
pub type Shared = Arc<Mutex<StreamStatus>>;

pub fn update(shared: &Shared, f: impl FnOnce(&mut StreamStatus)) {
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut s);
    s.updated_ms = now_ms();
}

/// Replays the source's binlog from `pos` into the target until `until` is reached (forever
/// without it) or `stop` fires. Returns the position reached.
#[allow(clippy::too_many_arguments)]
pub async fn replay(
    spec: &StreamSpec,
    tables: &HashMap<String, TableInfo>,
    target: &mut Conn,
    key: &RowKey,
    mut pos: GtidPos,
    until: Option<&GtidPos>,
    copy: Option<&HashMap<String, Copied>>,
    shared: &Shared,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<GtidPos, VReplError> {
    if until.is_some_and(|u| pos.contains(u)) {
        return Ok(pos);
    }
    let names = tables.keys().cloned().collect();
    let mut reader = BinlogReader::open(&spec.source, &pos, spec.server_id(), names).await?;
    // Transactions without changes for this stream move the position in memory; it is written
    // at the next applied transaction, heartbeat, or at most once a second.
    let mut dirty = false;
    let mut last_flush = Instant::now();
    loop {
        let event = tokio::select! {
            e = reader.next() => e?,
            _ = stop.changed() => {
                if dirty {
                    flush(target, key, &pos, None).await?;
                }
                return Ok(pos);
            }
        };
        match event {
            SourceEvent::Txn { gtid, timestamp, changes } => {
                if pos.includes(&gtid) {
                    continue;
                }
                let stmts = statements(&changes, tables, spec, copy)?;
                pos.advance(gtid);
                if stmts.is_empty() {
                    dirty = true;
                } else {
                    let mut sql = String::from("BEGIN; ");
                    for s in &stmts {
                        sql.push_str(s);
                        sql.push_str("; ");
                    }
                    sql.push_str(&key.update(&position_set(&pos, Some(timestamp))));
                    sql.push_str("; COMMIT");
                    run_tx(target, &sql, &format!("applying transaction {gtid} to the target")).await?;
                    dirty = false;
                    last_flush = Instant::now();
                }
                let lag = (now_ms() / 1000).saturating_sub(u64::from(timestamp)) as f64;
                update(shared, |s| {
                    s.position = pos.to_string();
                    s.lag_secs = lag;
                });
            }
            SourceEvent::Ddl { gtid, timestamp, sql } => {
                if pos.includes(&gtid) {
                    continue;
                }
                match spec.options.on_ddl {
                    OnDdl::Stop => {
                        if dirty {
                            flush(target, key, &pos, None).await?;
                        }
                        return Err(VReplError::Ddl(sql));
                    }
                    OnDdl::Ignore => {}
                    OnDdl::Exec => {
                        target
                            .query_drop(sql.as_str())
                            .await
                            .map_err(|e| VReplError::mysql(format!("applying DDL `{sql}` on the target"), e))?;
                    }
                }
                pos.advance(gtid);
                flush(target, key, &pos, Some(timestamp)).await?;
                dirty = false;
            }
            SourceEvent::Heartbeat => {
                update(shared, |s| s.lag_secs = 0.0);
                if dirty || last_flush.elapsed() > Duration::from_secs(1) {
                    flush(target, key, &pos, None).await?;
                    dirty = false;
                    last_flush = Instant::now();
                }
            }
        }
        if dirty && last_flush.elapsed() > Duration::from_secs(1) {
            flush(target, key, &pos, None).await?;
            dirty = false;
            last_flush = Instant::now();
        }
        if until.is_some_and(|u| pos.contains(u)) {
            if dirty {
                flush(target, key, &pos, None).await?;
            }
            return Ok(pos);
        }
    }
}

fn position_set(pos: &GtidPos, timestamp: Option<u32>) -> String {
    let mut set =
        format!("pos = {}, time_updated = {}, message = ''", quote_bytes(pos.to_string().as_bytes()), now_ms());
    if let Some(ts) = timestamp {
        set.push_str(&format!(", transaction_timestamp = {ts}"));
    }
    set
}

async fn flush(target: &mut Conn, key: &RowKey, pos: &GtidPos, timestamp: Option<u32>) -> Result<(), VReplError> {
    target
        .query_drop(key.update(&position_set(pos, timestamp)))
        .await
        .map_err(|e| VReplError::mysql("writing the stream position", e))
}
