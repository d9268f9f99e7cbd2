//! The tablet's connections to its MySQL server: running statements, and turning results and
//! errors into wire types.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::protocol::tablet::{Field, QueryResult, Rows, TabletError};

/// Maps a mysql_async error, keeping MySQL's error number and SQLSTATE.
pub fn map_err(e: mysql_async::Error) -> TabletError {
    match e {
        mysql_async::Error::Server(s) => TabletError::Mysql { code: s.code, state: s.state, message: s.message },
        other => TabletError::Internal(format!("MySQL connection: {other}")),
    }
}

/// Converts a column definition.
pub fn field(c: &mysql_async::Column) -> Field {
    Field {
        name: c.name_str().into_owned(),
        org_name: c.org_name_str().into_owned(),
        table: c.table_str().into_owned(),
        org_table: c.org_table_str().into_owned(),
        schema: c.schema_str().into_owned(),
        column_type: c.column_type() as u8,
        flags: c.flags().bits(),
        charset: c.character_set(),
        column_length: c.column_length(),
        decimals: c.decimals(),
    }
}

/// A text-protocol value in MySQL's text form.
pub fn text_value(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b),
        // The text protocol only yields bytes; other variants are rendered as MySQL would.
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::UInt(u) => Some(u.to_string().into_bytes()),
        Value::Float(f) => Some(f.to_string().into_bytes()),
        Value::Double(d) => Some(d.to_string().into_bytes()),
        other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
    }
}

/// Runs `sql` (text protocol) and collects the first result set, failing past `max_rows`.
pub async fn run(conn: &mut Conn, sql: &str, max_rows: u64) -> Result<QueryResult, TabletError> {
    let mut result = conn.query_iter(sql).await.map_err(map_err)?;
    let fields: Vec<Field> = result.columns_ref().iter().map(field).collect();
    let mut rows = Rows::new();
    let mut over = false;
    while let Some(row) = result.next().await.map_err(map_err)? {
        if rows.len() as u64 >= max_rows {
            over = true;
            continue; // drain so the connection stays usable
        }
        rows.push_values(row.unwrap_raw().into_iter().map(|v| text_value(v.unwrap_or(Value::NULL))));
    }
    let out = QueryResult {
        fields,
        rows,
        rows_affected: result.affected_rows(),
        last_insert_id: result.last_insert_id().unwrap_or(0),
        warnings: result.warnings(),
        info: result.info().into_owned(),
    };
    result.drop_result().await.map_err(map_err)?;
    if over {
        return Err(TabletError::RowLimit { limit: max_rows });
    }
    Ok(out)
}

/// Runs a statement that returns no rows.
pub async fn exec(conn: &mut Conn, sql: &str) -> Result<(), TabletError> {
    conn.query_drop(sql).await.map_err(map_err)
}

/// Reads a single row as text values keyed by column name.
pub async fn first_row(conn: &mut Conn, sql: &str) -> Result<Option<Vec<(String, Option<String>)>>, TabletError> {
    let res = run(conn, sql, 1000).await?;
    Ok(res.rows.into_iter().next().map(|row| {
        res.fields
            .iter()
            .zip(row)
            .map(|(f, v)| (f.name.clone(), v.map(|b| String::from_utf8_lossy(&b).into_owned())))
            .collect()
    }))
}

/// Moves the tables of the database earlier versions used (`vt_<keyspace>`) into the
/// keyspace's database, if the old one still has tables and the new one has none, without
/// logging it (every tablet of the shard does the same on its own server). Views and other
/// objects that cannot move stay, with a warning.
pub async fn move_legacy_database(conn: &mut Conn, keyspace: &str) {
    use crate::protocol::names::{keyspace_database, legacy_keyspace_database};
    let (old, new) = (legacy_keyspace_database(keyspace), keyspace_database(keyspace));
    let count = |db: &str| {
        format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {} AND table_type = 'BASE TABLE'",
            crate::sql::quote_bytes(db.as_bytes())
        )
    };
    let (Ok(old_tables), Ok(new_tables)) = (run(conn, &count(&old), 100_000).await, run(conn, &count(&new), 1).await)
    else {
        return;
    };
    if old_tables.rows.is_empty() || !new_tables.rows.is_empty() {
        return;
    }
    let names: Vec<String> = old_tables
        .rows
        .iter()
        .filter_map(|r| r.first().cloned().flatten())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let renames: Vec<String> = names
        .iter()
        .map(|t| {
            format!(
                "{}.{} TO {}.{}",
                crate::sql::quote_ident(&old),
                crate::sql::quote_ident(t),
                crate::sql::quote_ident(&new),
                crate::sql::quote_ident(t)
            )
        })
        .collect();
    match exec(conn, &format!("RENAME TABLE {}", renames.join(", "))).await {
        Ok(()) => {
            tracing::info!(keyspace, from = %old, to = %new, tables = names.len(), "moved the keyspace's tables into its database");
            // Nothing else left in it (no views, routines): the old name goes.
            let left = format!(
                "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {0}) +                  (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = {0}) AS n",
                crate::sql::quote_bytes(old.as_bytes())
            );
            if let Ok(Some(row)) = first_row(conn, &left).await {
                if row.first().and_then(|(_, v)| v.as_deref()) == Some("0") {
                    let _ = exec(conn, &format!("DROP DATABASE {}", crate::sql::quote_ident(&old))).await;
                }
            }
        }
        Err(e) => {
            tracing::warn!(keyspace, from = %old, to = %new, error = %e, "could not move the keyspace's tables from the old database name")
        }
    }
}
