//! One stream's run: create its rows on first start, copy what is not copied yet, then replay
//! the binlog, until told to stop or until its stop position (VDiff, SwitchTraffic).

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use tokio::sync::watch;

use super::gtid::GtidPos;
use super::replay::{replay, update, Shared};
use super::state::{self, RowKey};
use super::table::TableInfo;
use super::{copy, StreamSpec, VReplError};
use crate::sql::quote_bytes;

/// How a run ended without error.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Asked to stop.
    Stopped,
    /// Reached the stop position recorded for it (and is now `Stopped` there).
    ReachedStopPos(String),
}

pub fn row_key(spec: &StreamSpec) -> RowKey {
    RowKey { workflow: spec.key.workflow.clone(), source_shard: spec.key.source_shard.clone() }
}

/// Runs the stream from wherever its rows say it is.
pub async fn run(spec: &StreamSpec, shared: &Shared, stop: &mut watch::Receiver<bool>) -> Result<Outcome, VReplError> {
    let mut target = spec.target.connect().await?;
    state::ensure_schema(&mut target).await?;
    let key = row_key(spec);
    let row = match state::load(&mut target, &key).await? {
        Some(r) => r,
        None => {
            let names: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
            state::init(&mut target, &key, &names).await?;
            state::load(&mut target, &key)
                .await?
                .ok_or_else(|| VReplError::Schema("the stream's row vanished after it was created".into()))?
        }
    };
    let mut tables = HashMap::new();
    for t in &spec.tables {
        tables.insert(t.name.clone(), TableInfo::load(&mut target, &spec.target.db, &t.name, t.vindex.as_ref()).await?);
    }
    update(shared, |s| {
        s.state = row.state.clone();
        s.position = row.pos.clone();
        s.rows_copied = row.rows_copied;
        s.rows_scanned = row.rows_scanned;
        s.rows_total = row.rows_total;
        s.message.clear();
    });
    let mut pos = GtidPos::parse(&row.pos).map_err(VReplError::Binlog)?;
    // The copy state decides the phase (the state column also records stops and errors).
    let copying = state::copy_states(&mut target, &key).await?.iter().any(|c| !c.done);
    if copying {
        match copy::copy(spec, &tables, &mut target, &key, pos, shared, stop).await {
            Ok(p) => pos = p,
            Err(_) if *stop.borrow() => return Ok(Outcome::Stopped),
            Err(e) => return Err(e),
        }
        set_state(&mut target, &key, "Running", "").await?;
    }
    let stop_pos =
        if row.stop_pos.is_empty() { None } else { Some(GtidPos::parse(&row.stop_pos).map_err(VReplError::Binlog)?) };
    if let Some(sp) = &stop_pos {
        if pos.contains(sp) {
            return reached(&mut target, &key, shared, &pos).await;
        }
    }
    set_state(&mut target, &key, "Running", "").await?;
    update(shared, |s| s.state = "Running".into());
    let pos = replay(spec, &tables, &mut target, &key, pos, stop_pos.as_ref(), None, shared, stop).await?;
    if *stop.borrow() {
        return Ok(Outcome::Stopped);
    }
    reached(&mut target, &key, shared, &pos).await
}

async fn reached(
    target: &mut mysql_async::Conn,
    key: &RowKey,
    shared: &Shared,
    pos: &GtidPos,
) -> Result<Outcome, VReplError> {
    let message = format!("reached its stop position {pos}");
    set_state(target, key, "Stopped", &message).await?;
    update(shared, |s| {
        s.state = "Stopped".into();
        s.message = message;
    });
    Ok(Outcome::ReachedStopPos(pos.to_string()))
}

/// Writes the stream's state and message.
pub async fn set_state(
    target: &mut mysql_async::Conn,
    key: &RowKey,
    state: &str,
    message: &str,
) -> Result<(), VReplError> {
    let sql = key.update(&format!(
        "state = {}, message = {}, time_updated = {}",
        quote_bytes(state.as_bytes()),
        quote_bytes(message.as_bytes()),
        crate::protocol::envelope::now_ms()
    ));
    target.query_drop(sql).await.map_err(|e| VReplError::mysql("writing the stream state", e))
}

/// Records (or clears, with `None`) the position the stream stops at.
pub async fn set_stop_pos(target: &mut mysql_async::Conn, key: &RowKey, pos: Option<&str>) -> Result<(), VReplError> {
    let sql = key.update(&format!("stop_pos = {}", quote_bytes(pos.unwrap_or("").as_bytes())));
    target.query_drop(sql).await.map_err(|e| VReplError::mysql("writing the stop position", e))
}
