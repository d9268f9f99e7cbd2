//! A stream's rows in the target's sidecar database: `_tessera.vreplication` (state, position,
//! counters) and `_tessera.copy_state` (the last copied primary key per table).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::VReplError;
use crate::sql::quote_bytes;

const SCHEMA: &[&str] = &[
    "CREATE DATABASE IF NOT EXISTS _tessera",
    "CREATE TABLE IF NOT EXISTS _tessera.vreplication (
      workflow VARBINARY(255) NOT NULL,
      source_shard VARBINARY(64) NOT NULL,
      state VARBINARY(32) NOT NULL,
      pos VARBINARY(4096) NOT NULL DEFAULT '',
      stop_pos VARBINARY(4096) NOT NULL DEFAULT '',
      rows_copied BIGINT NOT NULL DEFAULT 0,
      rows_scanned BIGINT NOT NULL DEFAULT 0,
      rows_total BIGINT NOT NULL DEFAULT 0,
      message VARBINARY(4096) NOT NULL DEFAULT '',
      time_updated BIGINT NOT NULL DEFAULT 0,
      transaction_timestamp BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (workflow, source_shard)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS _tessera.copy_state (
      workflow VARBINARY(255) NOT NULL,
      source_shard VARBINARY(64) NOT NULL,
      table_name VARBINARY(255) NOT NULL,
      lastpk BLOB NULL,
      done TINYINT NOT NULL DEFAULT 0,
      PRIMARY KEY (workflow, source_shard, table_name)
    ) ENGINE=InnoDB",
];

/// A stream's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamRow {
    pub state: String,
    pub pos: String,
    pub stop_pos: String,
    pub rows_copied: u64,
    pub rows_scanned: u64,
    pub rows_total: u64,
    pub message: String,
    pub time_updated: u64,
    pub transaction_timestamp: u64,
}

/// One table's copy progress.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyState {
    pub table: String,
    /// The last copied primary key as SQL literals; `None` before the first chunk.
    pub lastpk: Option<Vec<String>>,
    pub done: bool,
}

/// Identifies a stream's rows: `WHERE workflow = .. AND source_shard = ..`.
#[derive(Debug, Clone)]
pub struct RowKey {
    pub workflow: String,
    pub source_shard: String,
}

impl RowKey {
    pub fn cond(&self) -> String {
        format!(
            "workflow = {} AND source_shard = {}",
            quote_bytes(self.workflow.as_bytes()),
            quote_bytes(self.source_shard.as_bytes())
        )
    }

    /// `UPDATE _tessera.vreplication SET <set> WHERE <this stream>`.
    pub fn update(&self, set: &str) -> String {
        format!("UPDATE _tessera.vreplication SET {set} WHERE {}", self.cond())
    }

    /// Records the copy position of `table`.
    pub fn copy_progress(&self, table: &str, lastpk: &[String], done: bool) -> String {
        let json = serde_json::to_string(lastpk).unwrap_or_else(|_| "[]".into());
        format!(
            "UPDATE _tessera.copy_state SET lastpk = {}, done = {} WHERE {} AND table_name = {}",
            quote_bytes(json.as_bytes()),
            u8::from(done),
            self.cond(),
            quote_bytes(table.as_bytes())
        )
    }

    pub fn copy_done(&self, table: &str) -> String {
        format!(
            "UPDATE _tessera.copy_state SET done = 1 WHERE {} AND table_name = {}",
            self.cond(),
            quote_bytes(table.as_bytes())
        )
    }
}

/// Creates the sidecar tables if missing.
pub async fn ensure_schema(conn: &mut Conn) -> Result<(), VReplError> {
    for sql in SCHEMA {
        conn.query_drop(*sql).await.map_err(|e| VReplError::mysql("creating _tessera.vreplication", e))?;
    }
    Ok(())
}

/// Reads the stream's row.
pub async fn load(conn: &mut Conn, key: &RowKey) -> Result<Option<StreamRow>, VReplError> {
    let sql = format!(
        "SELECT state, pos, stop_pos, rows_copied, rows_scanned, rows_total, message, time_updated, \
         transaction_timestamp FROM _tessera.vreplication WHERE {}",
        key.cond()
    );
    let row: Option<mysql_async::Row> =
        conn.query_first(sql).await.map_err(|e| VReplError::mysql("reading _tessera.vreplication", e))?;
    Ok(row.map(|r| {
        let text = |i: usize| r.get_opt::<String, usize>(i).and_then(|v| v.ok()).unwrap_or_default();
        let num = |i: usize| r.get_opt::<u64, usize>(i).and_then(|v| v.ok()).unwrap_or_default();
        StreamRow {
            state: text(0),
            pos: text(1),
            stop_pos: text(2),
            rows_copied: num(3),
            rows_scanned: num(4),
            rows_total: num(5),
            message: text(6),
            time_updated: num(7),
            transaction_timestamp: num(8),
        }
    }))
}

/// Creates the stream's rows: state `Copying`, one copy_state row per table.
pub async fn init(conn: &mut Conn, key: &RowKey, tables: &[String]) -> Result<(), VReplError> {
    let mut sql = format!(
        "BEGIN; INSERT INTO _tessera.vreplication (workflow, source_shard, state, time_updated) VALUES ({}, {}, 'Copying', {});",
        quote_bytes(key.workflow.as_bytes()),
        quote_bytes(key.source_shard.as_bytes()),
        crate::protocol::envelope::now_ms()
    );
    for t in tables {
        sql.push_str(&format!(
            " INSERT INTO _tessera.copy_state (workflow, source_shard, table_name) VALUES ({}, {}, {});",
            quote_bytes(key.workflow.as_bytes()),
            quote_bytes(key.source_shard.as_bytes()),
            quote_bytes(t.as_bytes())
        ));
    }
    sql.push_str(" COMMIT");
    run_tx(conn, &sql, "creating the stream's rows").await
}

/// Runs a `BEGIN; ...; COMMIT` batch, rolling back if any statement fails.
pub async fn run_tx(conn: &mut Conn, sql: &str, what: &str) -> Result<(), VReplError> {
    if let Err(e) = conn.query_drop(sql).await {
        let _ = conn.query_drop("ROLLBACK").await;
        return Err(VReplError::mysql(what.to_string(), e));
    }
    Ok(())
}

/// The copy progress of every table of the stream.
pub async fn copy_states(conn: &mut Conn, key: &RowKey) -> Result<Vec<CopyState>, VReplError> {
    let sql = format!("SELECT table_name, lastpk, done FROM _tessera.copy_state WHERE {}", key.cond());
    let rows: Vec<(String, Option<Vec<u8>>, u8)> =
        conn.query(sql).await.map_err(|e| VReplError::mysql("reading _tessera.copy_state", e))?;
    Ok(rows
        .into_iter()
        .map(|(table, lastpk, done)| CopyState {
            table,
            lastpk: lastpk.and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok()).filter(|v| !v.is_empty()),
            done: done != 0,
        })
        .collect())
}

/// Removes the stream's rows (workflow deleted).
pub async fn delete(conn: &mut Conn, key: &RowKey) -> Result<(), VReplError> {
    let sql = format!(
        "BEGIN; DELETE FROM _tessera.vreplication WHERE {c}; DELETE FROM _tessera.copy_state WHERE {c}; COMMIT",
        c = key.cond()
    );
    run_tx(conn, &sql, "deleting the stream's rows").await
}
