//! What a stream knows about one table: columns, primary key, the vindex that places rows on
//! shards; and the SQL that copies and replays its rows.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::sql::{quote_bytes, quote_ident};
use crate::vindex::keyrange::KeyRange;
use crate::vindex::{Configured, Vindex};

use super::VReplError;

/// One table of a stream.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<String>,
    /// Indexes into `columns` of the primary key, in key order.
    pub pk: Vec<usize>,
    /// The primary vindex: column index and function (`None`: every row belongs).
    pub vindex: Option<(usize, std::sync::Arc<dyn Vindex>)>,
}

impl TableInfo {
    /// Reads columns and primary key from `information_schema` on `conn` (database `db`).
    pub async fn load(
        conn: &mut Conn,
        db: &str,
        name: &str,
        vindex: Option<&(String, crate::vschema::VindexDef)>,
    ) -> Result<TableInfo, VReplError> {
        let cols: Vec<(String, String)> = conn
            .exec(
                "SELECT column_name, column_key FROM information_schema.columns \
                 WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                (db, name),
            )
            .await
            .map_err(|e| VReplError::mysql(format!("reading the columns of {db}.{name}"), e))?;
        if cols.is_empty() {
            return Err(VReplError::Schema(format!("table {db}.{name} does not exist")));
        }
        let pk_names: Vec<String> = conn
            .exec(
                "SELECT column_name FROM information_schema.key_column_usage \
                 WHERE table_schema = ? AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
                (db, name),
            )
            .await
            .map_err(|e| VReplError::mysql(format!("reading the primary key of {db}.{name}"), e))?;
        let columns: Vec<String> = cols.into_iter().map(|(c, _)| c).collect();
        if pk_names.is_empty() {
            return Err(VReplError::Schema(format!(
                "table {db}.{name} has no primary key: VReplication copies and replays rows by primary key"
            )));
        }
        let index = |c: &str| columns.iter().position(|x| x.eq_ignore_ascii_case(c));
        let pk = pk_names.iter().filter_map(|c| index(c)).collect();
        let vindex = match vindex {
            None => None,
            Some((col, def)) => {
                let i = index(col).ok_or_else(|| {
                    VReplError::Schema(format!("table {name}: vindex column `{col}` is not a column of the table"))
                })?;
                match crate::vindex::build(col, def) {
                    Ok(Configured::Functional(f)) => Some((i, std::sync::Arc::from(f))),
                    Ok(Configured::Multi(_)) => {
                        return Err(VReplError::Schema(format!(
                            "table {name}: its primary vindex reads several columns; resharding needs a single-column functional one"
                        )))
                    }
                    Ok(Configured::Lookup { .. }) => {
                        return Err(VReplError::Schema(format!(
                            "table {name}: its primary vindex is a lookup vindex; resharding needs a functional one"
                        )))
                    }
                    Err(e) => return Err(VReplError::Schema(format!("table {name}: {e}"))),
                }
            }
        };
        Ok(TableInfo { name: name.to_string(), columns, pk, vindex })
    }

    /// True when `row` belongs to `range` (always, without a vindex or for the full range).
    pub fn in_range(&self, range: &KeyRange, row: &[Value]) -> Result<bool, VReplError> {
        let Some((i, f)) = &self.vindex else { return Ok(true) };
        if range.is_full() {
            return Ok(true);
        }
        let v = match row.get(*i) {
            Some(Value::Int(n)) => crate::vindex::Value::Int(*n),
            Some(Value::UInt(n)) => crate::vindex::Value::UInt(*n),
            Some(Value::Bytes(b)) => crate::vindex::Value::Bytes(b.clone()),
            Some(Value::NULL) | None => crate::vindex::Value::Null,
            Some(other) => crate::vindex::Value::Bytes(literal(other).trim_matches('\'').as_bytes().to_vec()),
        };
        let ksid =
            f.map(&v).map_err(|e| VReplError::Schema(format!("table {}: row has no keyspace id: {e}", self.name)))?;
        Ok(range.contains(&ksid))
    }

    pub fn column_list(&self) -> String {
        self.columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
    }

    pub fn pk_list(&self) -> String {
        self.pk.iter().map(|&i| quote_ident(&self.columns[i])).collect::<Vec<_>>().join(", ")
    }

    /// `SELECT cols FROM t [WHERE pk > lastpk] ORDER BY pk LIMIT n`.
    pub fn chunk_select(&self, lastpk: Option<&[String]>, limit: u64) -> String {
        let mut sql = format!("SELECT {} FROM {}", self.column_list(), quote_ident(&self.name));
        if let Some(last) = lastpk {
            sql.push_str(" WHERE ");
            sql.push_str(&self.after_pk(last));
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", self.pk_list()));
        sql
    }

    /// `(a > x) OR (a = x AND b > y) ...`: rows after `last` in primary-key order.
    fn after_pk(&self, last: &[String]) -> String {
        let mut ors = Vec::new();
        for k in 0..self.pk.len() {
            let mut ands: Vec<String> =
                (0..k).map(|j| format!("{} = {}", quote_ident(&self.columns[self.pk[j]]), last[j])).collect();
            ands.push(format!("{} > {}", quote_ident(&self.columns[self.pk[k]]), last[k]));
            ors.push(format!("({})", ands.join(" AND ")));
        }
        ors.join(" OR ")
    }

    /// The primary key of `row` as SQL literals.
    pub fn pk_literals(&self, row: &[Value]) -> Vec<String> {
        self.pk.iter().map(|&i| row.get(i).map(literal).unwrap_or_else(|| "NULL".into())).collect()
    }

    /// `INSERT INTO t (cols) VALUES (...), (...)`.
    pub fn insert(&self, rows: &[Vec<Value>]) -> String {
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", quote_ident(&self.name), self.column_list());
        for (n, row) in rows.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&literal(v));
            }
            sql.push(')');
        }
        sql
    }

    /// Inserts `row` only if its primary key is at or before `last` (catch-up of a table whose
    /// copy is in progress: the target's collation decides the order, as the copy's did).
    pub fn insert_if_copied(&self, row: &[Value], last: &[String]) -> String {
        let vals: Vec<String> = row.iter().map(literal).collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM DUAL WHERE NOT ({})",
            quote_ident(&self.name),
            self.column_list(),
            vals.join(", "),
            self.after_pk_of(row, last)
        )
    }

    fn after_pk_of(&self, row: &[Value], last: &[String]) -> String {
        let lits = self.pk_literals(row);
        let mut ors = Vec::new();
        for k in 0..self.pk.len() {
            let mut ands: Vec<String> = (0..k).map(|j| format!("{} = {}", lits[j], last[j])).collect();
            ands.push(format!("{} > {}", lits[k], last[k]));
            ors.push(format!("({})", ands.join(" AND ")));
        }
        ors.join(" OR ")
    }

    fn where_pk(&self, row: &[Value]) -> String {
        self.pk
            .iter()
            .map(|&i| {
                let v = row.get(i).map(literal).unwrap_or_else(|| "NULL".into());
                format!("{} = {v}", quote_ident(&self.columns[i]))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    pub fn delete(&self, before: &[Value]) -> String {
        format!("DELETE FROM {} WHERE {}", quote_ident(&self.name), self.where_pk(before))
    }

    pub fn update(&self, before: &[Value], after: &[Value]) -> String {
        let set: Vec<String> =
            self.columns.iter().zip(after).map(|(c, v)| format!("{} = {}", quote_ident(c), literal(v))).collect();
        format!("UPDATE {} SET {} WHERE {}", quote_ident(&self.name), set.join(", "), self.where_pk(before))
    }
}

/// A value as a MySQL literal.
pub fn literal(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => quote_bytes(b),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format_float(f64::from(*f), f.to_string()),
        Value::Double(d) => format_float(*d, d.to_string()),
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            format!("'{}{hours:02}:{mi:02}:{s:02}.{us:06}'", if *neg { "-" } else { "" })
        }
    }
}

fn format_float(v: f64, text: String) -> String {
    if v.is_finite() {
        text
    } else {
        "NULL".into()
    }
}

/// Reads the SHOW CREATE TABLE of `table` (a row read as `Row`: a view answers with more
/// columns, which a tuple conversion would panic on).
pub async fn show_create(conn: &mut Conn, table: &str) -> Result<String, VReplError> {
    let row: Option<mysql_async::Row> = conn
        .query_first(format!("SHOW CREATE TABLE {}", quote_ident(table)))
        .await
        .map_err(|e| VReplError::mysql(format!("SHOW CREATE TABLE {table}"), e))?;
    row.and_then(|r| r.get_opt::<String, usize>(1).and_then(|v| v.ok()))
        .ok_or_else(|| VReplError::Schema(format!("table {table} does not exist on the source")))
}

/// A result row's values (NULL for a column already taken; none is, but never panic).
pub fn row_values(row: mysql_async::Row) -> Vec<Value> {
    row.unwrap_raw().into_iter().map(|v| v.unwrap_or(Value::NULL)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TableInfo {
        TableInfo { name: "t".into(), columns: vec!["a".into(), "b".into(), "c".into()], pk: vec![0, 1], vindex: None }
    }

    #[test]
    fn builds_statements() {
        let t = info();
        assert_eq!(
            t.chunk_select(Some(&["1".into(), "'x'".into()]), 10),
            "SELECT `a`, `b`, `c` FROM `t` WHERE (`a` > 1) OR (`a` = 1 AND `b` > 'x') ORDER BY `a`, `b` LIMIT 10"
        );
        assert_eq!(t.chunk_select(None, 5), "SELECT `a`, `b`, `c` FROM `t` ORDER BY `a`, `b` LIMIT 5");
        let row = vec![Value::Int(1), Value::Bytes(b"it's".to_vec()), Value::NULL];
        assert_eq!(t.insert(std::slice::from_ref(&row)), "INSERT INTO `t` (`a`, `b`, `c`) VALUES (1, 'it\\'s', NULL)");
        assert_eq!(t.delete(&row), "DELETE FROM `t` WHERE `a` = 1 AND `b` = 'it\\'s'");
        assert_eq!(
            t.update(&row, &row),
            "UPDATE `t` SET `a` = 1, `b` = 'it\\'s', `c` = NULL WHERE `a` = 1 AND `b` = 'it\\'s'"
        );
        assert_eq!(
            t.insert_if_copied(&row, &["1".into(), "'z'".into()]),
            "INSERT INTO `t` (`a`, `b`, `c`) SELECT 1, 'it\\'s', NULL FROM DUAL WHERE NOT ((1 > 1) OR (1 = 1 AND 'it\\'s' > 'z'))"
        );
    }

    #[test]
    fn literals() {
        assert_eq!(literal(&Value::Date(2024, 2, 3, 4, 5, 6, 7)), "'2024-02-03 04:05:06.000007'");
        assert_eq!(literal(&Value::Time(true, 1, 2, 3, 4, 0)), "'-26:03:04.000000'");
        assert_eq!(literal(&Value::Double(0.1)), "0.1");
        assert_eq!(literal(&Value::UInt(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn filters_by_key_range() {
        let mut t = info();
        t.vindex = Some((0, std::sync::Arc::new(crate::vindex::Hash)));
        let low = KeyRange::parse_shard_name("-80").unwrap();
        let high = KeyRange::parse_shard_name("80-").unwrap();
        for id in 1..50i64 {
            let row = vec![Value::Int(id), Value::NULL, Value::NULL];
            let text = vec![Value::Bytes(id.to_string().into_bytes()), Value::NULL, Value::NULL];
            let a = t.in_range(&low, &row).unwrap();
            assert_ne!(a, t.in_range(&high, &row).unwrap(), "each row belongs to exactly one half");
            assert_eq!(a, t.in_range(&low, &text).unwrap(), "text and binary values agree");
        }
    }
}
