//! The source's binlog as whole transactions.
//!
//! MariaDB needs `@mariadb_slave_capability=4` to send its GTID events, `@slave_connect_state`
//! to start after a GTID position (the dump request then names no file, position 4), and
//! mysql_common does not decode MariaDB's GTID event (type 162): `seq u64 LE | domain u32 LE |
//! flags u8` after the header, the server id from the header. A transaction is a GTID event,
//! then table maps and row events, then an XID (or a `COMMIT` query); a GTID event flagged
//! standalone carries one statement (DDL) and no commit.

use std::collections::HashSet;

use futures::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Value};

use super::gtid::{Gtid, GtidPos};
use super::{MysqlAddr, VReplError};

const QUERY_EVENT: u8 = 2;
const XID_EVENT: u8 = 16;
const HEARTBEAT_EVENT: u8 = 27;
const MARIADB_GTID_EVENT: u8 = 162;

/// One row change: before and after images (full rows, column order of the table).
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub table: String,
    pub before: Option<Vec<Value>>,
    pub after: Option<Vec<Value>>,
}

/// What the reader hands on.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// A committed transaction: its GTID, commit time (seconds) and the changes to the tables
    /// the stream follows (possibly none).
    Txn { gtid: Gtid, timestamp: u32, changes: Vec<RowChange> },
    /// A statement (DDL) on the stream's database.
    Ddl { gtid: Gtid, timestamp: u32, sql: String },
    /// Nothing happened for a while (the server's heartbeat).
    Heartbeat,
}

/// A binlog connection following one database's tables.
pub struct BinlogReader {
    stream: BinlogStream,
    db: String,
    tables: HashSet<String>,
    current: Option<(Gtid, u32, Vec<RowChange>)>,
}

impl BinlogReader {
    /// Connects to `source` and asks for the binlog after `pos`.
    pub async fn open(
        source: &MysqlAddr,
        pos: &GtidPos,
        server_id: u32,
        tables: HashSet<String>,
    ) -> Result<BinlogReader, VReplError> {
        let mut conn = source.connect().await?;
        let setup = format!(
            "SET @mariadb_slave_capability = 4; SET @slave_connect_state = '{pos}'; \
             SET @slave_gtid_strict_mode = 1; SET @master_heartbeat_period = 1000000000"
        );
        conn.query_drop(setup).await.map_err(|e| VReplError::mysql("preparing the binlog connection", e))?;
        let stream = conn
            .get_binlog_stream(BinlogStreamRequest::new(server_id).with_filename(b"").with_pos(4u64))
            .await
            .map_err(|e| VReplError::mysql(format!("requesting the binlog after {pos}"), e))?;
        Ok(BinlogReader { stream, db: source.db.clone(), tables, current: None })
    }

    /// The next transaction, DDL or heartbeat.
    pub async fn next(&mut self) -> Result<SourceEvent, VReplError> {
        loop {
            let event = match self.stream.next().await {
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(VReplError::mysql("reading the binlog", e)),
                None => return Err(VReplError::Binlog("the source closed the binlog connection".into())),
            };
            if let Some(out) = self.handle(&event)? {
                return Ok(out);
            }
        }
    }

    fn handle(&mut self, event: &Event) -> Result<Option<SourceEvent>, VReplError> {
        let header = event.header();
        let bad = |what: &str, e: std::io::Error| VReplError::Binlog(format!("undecodable {what} event: {e}"));
        match header.event_type_raw() {
            MARIADB_GTID_EVENT => {
                let d = event.data();
                if d.len() < 13 {
                    return Err(VReplError::Binlog(format!("short MariaDB GTID event ({} bytes)", d.len())));
                }
                let seq = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
                let domain = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
                let gtid = Gtid { domain, server: header.server_id(), seq };
                // The flags byte (d[12]) marks a standalone GTID (DDL); its query event finishes
                // it, as a commit finishes the others, so it needs no separate handling.
                self.current = Some((gtid, header.timestamp(), Vec::new()));
                Ok(None)
            }
            XID_EVENT => Ok(self.finish()),
            HEARTBEAT_EVENT => Ok(Some(SourceEvent::Heartbeat)),
            QUERY_EVENT => {
                let Some(EventData::QueryEvent(q)) = event.read_data().map_err(|e| bad("query", e))? else {
                    return Ok(None);
                };
                let sql = q.query().trim().to_string();
                let upper = sql.to_ascii_uppercase();
                if upper == "BEGIN" {
                    return Ok(None);
                }
                if upper == "COMMIT" {
                    return Ok(self.finish());
                }
                // Any other statement in a ROW-format binlog is DDL (or a non-transactional
                // statement such as CREATE DATABASE): standalone.
                let Some((gtid, ts, _)) = self.current.take() else { return Ok(None) };
                if q.schema() != self.db.as_str() {
                    return Ok(Some(SourceEvent::Txn { gtid, timestamp: ts, changes: Vec::new() }));
                }
                Ok(Some(SourceEvent::Ddl { gtid, timestamp: ts, sql }))
            }
            _ => {
                let Some(EventData::RowsEvent(rows)) = event.read_data().map_err(|e| bad("rows", e))? else {
                    return Ok(None);
                };
                self.rows(&rows)
            }
        }
    }

    fn rows(&mut self, rows: &RowsEventData<'_>) -> Result<Option<SourceEvent>, VReplError> {
        let Some(tme) = self.stream.get_tme(rows.table_id()) else {
            return Err(VReplError::Binlog(format!("row event for unknown table id {}", rows.table_id())));
        };
        if tme.database_name() != self.db.as_str() || !self.tables.contains(tme.table_name().as_ref()) {
            return Ok(None);
        }
        let table = tme.table_name().into_owned();
        let Some((_, _, changes)) = self.current.as_mut() else {
            return Err(VReplError::Binlog(format!("row event for {table} outside a transaction")));
        };
        for r in rows.rows(tme) {
            let (before, after) = r.map_err(|e| VReplError::Binlog(format!("undecodable row of {table}: {e}")))?;
            let convert = |row: Option<mysql_async::binlog::row::BinlogRow>| -> Result<Option<Vec<Value>>, VReplError> {
                let Some(mut row) = row else { return Ok(None) };
                let mut out = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    let v = match row.take(i) {
                        Some(v) => {
                            Value::try_from(v).map_err(|e| VReplError::Binlog(format!("column {i} of {table}: {e}")))?
                        }
                        None => {
                            return Err(VReplError::Binlog(format!(
                                "row image of {table} lacks column {i}: the source needs binlog_row_image=FULL"
                            )))
                        }
                    };
                    out.push(v);
                }
                Ok(Some(out))
            };
            changes.push(RowChange { table: table.clone(), before: convert(before)?, after: convert(after)? });
        }
        Ok(None)
    }

    fn finish(&mut self) -> Option<SourceEvent> {
        let (gtid, timestamp, changes) = self.current.take()?;
        Some(SourceEvent::Txn { gtid, timestamp, changes })
    }
}

/// The source's current binlog position (`@@gtid_binlog_pos`).
pub async fn current_pos(conn: &mut mysql_async::Conn) -> Result<GtidPos, VReplError> {
    let pos: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .map_err(|e| VReplError::mysql("reading @@gtid_binlog_pos", e))?;
    GtidPos::parse(&pos.unwrap_or_default()).map_err(VReplError::Binlog)
}

/// Starts a consistent-snapshot transaction on `conn` and returns the binlog position it
/// corresponds to.
pub async fn snapshot(conn: &mut mysql_async::Conn) -> Result<GtidPos, VReplError> {
    conn.query_drop(
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT",
    )
    .await
    .map_err(|e| VReplError::mysql("starting a consistent snapshot", e))?;
    let rows: Vec<(String, String)> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(|e| VReplError::mysql("reading the snapshot's binlog position", e))?;
    let get = |name: &str| rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let (Some(file), Some(pos)) = (get("Binlog_snapshot_file"), get("Binlog_snapshot_position")) else {
        return Err(VReplError::Binlog("the source reports no binlog snapshot position (is log_bin on?)".into()));
    };
    let gtid: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.clone(), pos.parse::<u64>().unwrap_or(4)))
        .await
        .map_err(|e| VReplError::mysql("BINLOG_GTID_POS", e))?;
    let gtid = gtid.flatten().unwrap_or_default();
    GtidPos::parse(&gtid).map_err(VReplError::Binlog)
}
