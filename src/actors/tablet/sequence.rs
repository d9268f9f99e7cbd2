//! Sequences: ids handed out from a block cached in the primary tablet, as Vitess does.
//!
//! A sequence table has one row `(id = 0, next_id, cache)`. A refill takes `next_id` and moves
//! it forward by `max(cache, wanted)` in one `SELECT ... FOR UPDATE` + `UPDATE` transaction;
//! ids are then served from memory until the block runs out. Ids are unique and increasing;
//! the rest of a block is skipped when the tablet restarts or stops being primary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::dbconn::{exec, first_row};
use super::query::QueryService;
use crate::protocol::tablet::{Field, QueryResult, TabletError};
use crate::sql::quote_ident;

#[derive(Default)]
struct Block {
    next: i64,
    end: i64,
}

/// The cached blocks of this tablet's sequence tables.
#[derive(Default)]
pub struct Sequences {
    blocks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Block>>>>,
}

impl Sequences {
    /// Forgets every cached block (on a role change).
    pub fn clear(&self) {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Hands out `count` ids from `table`; the result has one row, column `nextval`, holding
    /// the first of them.
    pub async fn next_values(&self, qs: &QueryService, table: &str, count: u64) -> Result<QueryResult, TabletError> {
        let count = i64::try_from(count).map_err(|_| TabletError::BadRequest("too many values requested".into()))?;
        let block = {
            let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
            blocks.entry(table.to_string()).or_default().clone()
        };
        let mut b = block.lock().await;
        if b.next + count > b.end {
            let (start, end) = refill(qs, table, count).await?;
            b.next = start;
            b.end = end;
        }
        let first = b.next;
        b.next += count;
        Ok(QueryResult {
            fields: vec![Field {
                name: "nextval".into(),
                org_name: "nextval".into(),
                column_type: 8, // MYSQL_TYPE_LONGLONG
                flags: 1 | 128, // NOT_NULL | BINARY
                charset: 63,
                column_length: 20,
                ..Default::default()
            }],
            rows: vec![vec![Some(first.to_string().into_bytes())]].into(),
            ..Default::default()
        })
    }
}

async fn refill(qs: &QueryService, table: &str, count: i64) -> Result<(i64, i64), TabletError> {
    let mut conn = qs.conn().await?;
    exec(&mut conn, "BEGIN").await?;
    let result = async {
        let t = quote_ident(table);
        let row = first_row(&mut conn, &format!("SELECT next_id, cache FROM {t} WHERE id = 0 FOR UPDATE"))
            .await?
            .ok_or_else(|| {
                TabletError::BadRequest(format!(
                    "sequence table `{table}` has no row with id = 0; insert (0, <first id>, <cache>)"
                ))
            })?;
        let num = |i: usize, what: &str| -> Result<i64, TabletError> {
            row.get(i)
                .and_then(|(_, v)| v.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| TabletError::BadRequest(format!("sequence table `{table}`: `{what}` is not a number")))
        };
        let next_id = num(0, "next_id")?;
        let cache = num(1, "cache")?;
        if cache < 1 {
            return Err(TabletError::BadRequest(format!("sequence table `{table}`: cache must be at least 1")));
        }
        let end = next_id + cache.max(count);
        exec(&mut conn, &format!("UPDATE {t} SET next_id = {end} WHERE id = 0")).await?;
        Ok((next_id, end))
    }
    .await;
    match result {
        Ok(r) => {
            exec(&mut conn, "COMMIT").await?;
            Ok(r)
        }
        Err(e) => {
            let _ = exec(&mut conn, "ROLLBACK").await;
            Err(e)
        }
    }
}
