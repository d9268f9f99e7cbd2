//! `REPLACE INTO` a sharded table that owns lookup vindexes. MariaDB's REPLACE deletes the row
//! a new one collides with, and the shard would do so without the gateway seeing it, leaving
//! the old row's lookup rows behind. So the gateway finds those rows first (by primary key,
//! on every shard: a key is unique per shard only), deletes them as any DELETE (their lookup
//! rows with them), then inserts the new rows as any INSERT (mapping their lookups), in one
//! transaction. A collision on another unique key then fails with 1062 instead of deleting
//! silently. Affected rows are MariaDB's: one per deleted row plus one per inserted row.

use std::sync::Arc;

use super::dml_input::{layout, where_rows, Changed};
use crate::plan::{DmlInput, DmlInputPlan, DmlStep, GatewayError, KeyProbe, Plan};
use crate::protocol::tablet::QueryResult;
use crate::sql::quote_ident;

#[derive(Debug)]
struct Replace {
    table: Changed,
    /// The statement's column list, and each row's values as SQL text.
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The statement as an INSERT.
    insert: String,
}

/// The plan of a REPLACE into `table` (of keyspace `keyspace`, vindex columns `vindex`).
pub(super) fn plan(
    keyspace: &str,
    shard: String,
    table: &str,
    vindex: Vec<String>,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    insert: String,
) -> Plan {
    let table = Changed { keyspace: keyspace.to_string(), table: table.to_string(), name: table.to_string(), vindex };
    let keys = vec![KeyProbe { keyspace: keyspace.to_string(), shard, table: table.table.clone() }];
    Plan::DmlInput(Box::new(DmlInputPlan { keys, action: Arc::new(Replace { table, columns, rows, insert }) }))
}

impl Replace {
    /// Each row's primary key values, for the rows that give every key column.
    fn keyed_rows(&self, key: &[String]) -> Vec<Vec<&str>> {
        let at: Vec<Option<usize>> =
            key.iter().map(|k| self.columns.iter().position(|c| c.eq_ignore_ascii_case(k))).collect();
        self.rows
            .iter()
            .filter_map(|r| at.iter().map(|i| i.and_then(|i| r.get(i)).map(String::as_str)).collect::<Option<Vec<_>>>())
            .collect()
    }
}

impl DmlInput for Replace {
    fn input(&self, keys: &[Vec<String>]) -> Result<String, GatewayError> {
        let key = keys.first().filter(|k| !k.is_empty()).ok_or_else(|| {
            GatewayError::Other(format!(
                "table `{}.{}` has no primary key; REPLACE into a table with lookup vindexes finds the rows it replaces by it",
                self.table.keyspace, self.table.table
            ))
        })?;
        let id = layout(&self.table, key);
        let cols: Vec<String> = id.cols.iter().map(|c| quote_ident(c)).collect();
        let keyed = self.keyed_rows(key);
        let wanted = if keyed.is_empty() {
            "1 = 0".to_string()
        } else if key.len() == 1 {
            format!("{} in ({})", quote_ident(&key[0]), keyed.iter().map(|r| r[0]).collect::<Vec<_>>().join(", "))
        } else {
            let tuples: Vec<String> = keyed.iter().map(|r| format!("({})", r.join(", "))).collect();
            let kc: Vec<String> = key.iter().map(|k| quote_ident(k)).collect();
            format!("({}) in ({})", kc.join(", "), tuples.join(", "))
        };
        Ok(format!("select {} from {} where {wanted} for update", cols.join(", "), self.table.qualified()))
    }

    fn steps(&self, keys: &[Vec<String>], rows: &QueryResult) -> Result<Vec<DmlStep>, GatewayError> {
        let key = keys.first().ok_or_else(|| GatewayError::Other("REPLACE without its key".into()))?;
        let id = layout(&self.table, key);
        let mut doomed: Vec<Vec<String>> = Vec::with_capacity(rows.rows.len());
        for row in &rows.rows {
            if row.len() != id.cols.len() || rows.fields.len() != id.cols.len() {
                return Err(GatewayError::Other("the rows REPLACE collides with came back malformed".into()));
            }
            doomed
                .push(rows.fields.iter().zip(row).map(|(f, c)| super::values::cell_or_null(f, c.as_deref())).collect());
        }
        let mut steps = Vec::new();
        for chunk in doomed.chunks(500) {
            let sql = format!("delete from {} where {}", self.table.qualified(), where_rows(&id, chunk));
            steps.push(DmlStep { sql, counted: true });
        }
        steps.push(DmlStep { sql: self.insert.clone(), counted: true });
        Ok(steps)
    }

    fn describe(&self) -> String {
        format!(
            "REPLACE into `{}`: delete the rows with the same primary key (their lookup rows too), then `{}`",
            self.table.table, self.insert
        )
    }
}
