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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::workflow::{StreamKey, StreamOptions};
    use crate::vindex::keyrange::KeyRange;
    use crate::vrepl::MysqlAddr;
    use mysql_async::Value;

    fn spec(shard: &str) -> StreamSpec {
        let addr = MysqlAddr { host: "h".into(), port: 1, user: "u".into(), password: String::new(), db: "d".into() };
        StreamSpec {
            key: StreamKey {
                keyspace: "k".into(),
                workflow: "w".into(),
                target_shard: shard.into(),
                source_shard: "0".into(),
            },
            tables: vec![],
            options: StreamOptions::default(),
            target_range: KeyRange::parse_shard_name(shard).unwrap(),
            source: addr.clone(),
            target: addr,
            target_replicas: vec![],
        }
    }

    fn tables() -> HashMap<String, TableInfo> {
        let t = TableInfo {
            name: "t".into(),
            columns: vec!["id".into(), "v".into()],
            pk: vec![0],
            vindex: Some((0, std::sync::Arc::new(crate::vindex::Hash))),
        };
        HashMap::from([("t".to_string(), t)])
    }

    fn row(id: i64, v: &str) -> Option<Vec<Value>> {
        Some(vec![Value::Int(id), Value::Bytes(v.as_bytes().to_vec())])
    }

    /// An id whose keyspace id falls in `-80` and one in `80-`.
    fn ids() -> (i64, i64) {
        let low = (1..100).find(|i| crate::vindex::functional::hash_u64(*i as u64)[0] < 0x80).unwrap();
        let high = (1..100).find(|i| crate::vindex::functional::hash_u64(*i as u64)[0] >= 0x80).unwrap();
        (low, high)
    }

    #[test]
    fn filters_by_key_range_and_moves_rows_between_shards() {
        let (low, high) = ids();
        let change = |before, after| RowChange { table: "t".into(), before, after };
        let s = spec("-80");
        let t = tables();
        let ins = statements(&[change(None, row(low, "a")), change(None, row(high, "b"))], &t, &s, None).unwrap();
        assert_eq!(ins, vec![format!("INSERT INTO `t` (`id`, `v`) VALUES ({low}, 'a')")]);
        // A row whose vindex column moves it out of the range is deleted here, and one moving in is inserted.
        let out = statements(&[change(row(low, "a"), row(high, "a"))], &t, &s, None).unwrap();
        assert_eq!(out, vec![format!("DELETE FROM `t` WHERE `id` = {low}")]);
        let into = statements(&[change(row(high, "a"), row(low, "a"))], &t, &s, None).unwrap();
        assert_eq!(into, vec![format!("INSERT INTO `t` (`id`, `v`) VALUES ({low}, 'a')")]);
        assert!(statements(&[change(row(high, "a"), None)], &t, &s, None).unwrap().is_empty());
        let bad = statements(&[change(None, Some(vec![Value::Int(low)]))], &t, &s, None).unwrap_err();
        assert!(bad.to_string().contains("schemas differ"), "{bad}");
    }

    #[test]
    fn catch_up_touches_only_copied_rows() {
        let (low, _) = ids();
        let s = spec("-80");
        let t = tables();
        let upd = [RowChange { table: "t".into(), before: row(low, "a"), after: row(low, "b") }];
        let not_started = HashMap::from([("t".to_string(), Copied::NotStarted)]);
        assert!(statements(&upd, &t, &s, Some(&not_started)).unwrap().is_empty());
        let partly = HashMap::from([("t".to_string(), Copied::UpTo(vec!["'50'".into()]))]);
        let st = statements(&upd, &t, &s, Some(&partly)).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0], format!("DELETE FROM `t` WHERE `id` = {low}"));
        assert!(st[1].contains("WHERE NOT") && st[1].contains("'50'"), "{}", st[1]);
        let done = HashMap::from([("t".to_string(), Copied::Done)]);
        assert_eq!(
            statements(&upd, &t, &s, Some(&done)).unwrap(),
            vec![format!("UPDATE `t` SET `id` = {low}, `v` = 'b' WHERE `id` = {low}")]
        );
    }
}
