//! Results the gateway builds itself.

use std::collections::HashMap;

use crate::protocol::tablet::{Field, QueryResult, TabletHealth};
use crate::topo::state::Topology;

const VAR_STRING: u8 = 253;
const LONGLONG: u8 = 8;
const UTF8MB4: u16 = 45;
const BINARY: u16 = 63;

/// A column of a value the gateway answers: an integer or text.
pub fn value_field(name: &str, integer: bool) -> Field {
    if integer {
        int_field(name)
    } else {
        text_field(name)
    }
}

fn text_field(name: &str) -> Field {
    Field {
        name: name.into(),
        org_name: name.into(),
        column_type: VAR_STRING,
        charset: UTF8MB4,
        column_length: 1024,
        ..Default::default()
    }
}

fn int_field(name: &str) -> Field {
    // NOT_NULL | BINARY | NUM
    Field {
        name: name.into(),
        org_name: name.into(),
        column_type: LONGLONG,
        charset: BINARY,
        column_length: 20,
        flags: 1 | 128 | 32768,
        ..Default::default()
    }
}

/// A result of text columns.
pub fn text_result(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> QueryResult {
    QueryResult {
        fields: columns.iter().map(|c| text_field(c)).collect(),
        rows: rows.into_iter().map(|r| r.into_iter().map(|v| v.map(String::into_bytes)).collect()).collect(),
        ..Default::default()
    }
}

/// One row of columns and values.
pub fn row_of(cells: Vec<(Field, Option<Vec<u8>>)>) -> QueryResult {
    let (fields, row) = cells.into_iter().unzip();
    QueryResult { fields, rows: vec![row].into(), ..Default::default() }
}

/// One row of mixed values: `(name, value, is_integer)`.
pub fn single_row(items: Vec<(String, Option<String>, bool)>) -> QueryResult {
    QueryResult {
        fields: items.iter().map(|(n, _, int)| if *int { int_field(n) } else { text_field(n) }).collect(),
        rows: vec![items.into_iter().map(|(_, v, _)| v.map(String::into_bytes)).collect()].into(),
        ..Default::default()
    }
}

/// Sorts rows by result columns (position or name; descending?): numbers by value, other
/// values by their bytes without case (schema and table names compare so), NULLs first.
pub fn sort_rows(r: &mut QueryResult, order: &[(crate::plan::SortKey, bool)]) -> Result<(), crate::plan::GatewayError> {
    use crate::plan::SortKey;
    let mut keys = Vec::with_capacity(order.len());
    for (key, desc) in order {
        let i = match key {
            SortKey::Position(p) => p.checked_sub(1).filter(|i| *i < r.fields.len()),
            SortKey::Name(n) => r.fields.iter().position(|f| f.name.eq_ignore_ascii_case(n)).or_else(|| {
                // A schema or table name the statement does not show under that name: the key
                // columns the planner added for TABLES.
                let [schema, table] = crate::planner::infoschema::KEY_COLUMNS;
                let key = match n.to_ascii_lowercase().as_str() {
                    "table_schema" => schema,
                    "table_name" => table,
                    _ => return None,
                };
                r.fields.iter().position(|f| f.name == key)
            }),
        };
        let i =
            i.ok_or_else(|| crate::plan::GatewayError::Other(format!("ORDER BY {key:?}: no such result column")))?;
        keys.push((i, *desc));
    }
    if keys.is_empty() {
        return Ok(());
    }
    let cmp = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| -> std::cmp::Ordering {
        let num = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|t| t.parse::<f64>().ok());
        match (a, b) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, _) => std::cmp::Ordering::Less,
            (_, None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => match (num(x), num(y)) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            },
        }
    };
    r.rows.sort_by(|a, b| {
        for (i, desc) in &keys {
            let o = cmp(&a[*i], &b[*i]);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

pub fn databases(topo: &Topology) -> QueryResult {
    text_result(&["Database"], topo.keyspaces.keys().map(|k| vec![Some(k.clone())]).collect())
}

pub fn vitess_shards(topo: &Topology) -> QueryResult {
    let rows = topo
        .keyspaces
        .values()
        .flat_map(|k| k.shard_names().into_iter().map(move |s| vec![Some(format!("{}/{s}", k.name))]))
        .collect();
    text_result(&["Shards"], rows)
}

/// Vitess's columns: Cell, Keyspace, Shard, TabletType, State, Alias, Hostname, PrimaryTermStartTime.
pub fn vitess_tablets(topo: &Topology, health: &HashMap<String, TabletHealth>) -> QueryResult {
    let rows = topo
        .tablets
        .values()
        .map(|t| {
            let state = match health.get(&t.alias) {
                Some(h) if h.serving => "SERVING",
                Some(_) => "NOT_SERVING",
                None => "UNKNOWN",
            };
            vec![
                Some(t.cell.clone()),
                Some(t.keyspace.clone()),
                Some(t.shard.clone()),
                Some(t.tablet_type.as_str().to_ascii_uppercase()),
                Some(state.into()),
                Some(t.alias.clone()),
                Some(format!("{}:{}", t.mysql_host, t.mysql_port)),
                Some(String::new()),
            ]
        })
        .collect();
    text_result(
        &["Cell", "Keyspace", "Shard", "TabletType", "State", "Alias", "Hostname", "PrimaryTermStartTime"],
        rows,
    )
}

/// SHOW PROCESSLIST's columns, as MariaDB names and types them.
pub fn processlist(list: &[super::sessions::Process]) -> QueryResult {
    let columns: [(&str, bool); 9] = [
        ("Id", true),
        ("User", false),
        ("Host", false),
        ("db", false),
        ("Command", false),
        ("Time", true),
        ("State", false),
        ("Info", false),
        ("Progress", false),
    ];
    let rows = list
        .iter()
        .map(|p| {
            let state = if p.command == "Query" { "executing" } else { "" };
            [
                Some(p.id.to_string()),
                Some(p.user.clone()),
                Some(p.host.clone()),
                p.db.clone(),
                Some(p.command.to_string()),
                Some(p.seconds.to_string()),
                Some(state.to_string()),
                p.info.clone(),
                Some("0.000".to_string()),
            ]
            .into_iter()
            .map(|v| v.map(String::into_bytes))
            .collect()
        })
        .collect();
    QueryResult { fields: columns.iter().map(|(n, int)| value_field(n, *int)).collect(), rows, ..Default::default() }
}

/// The sessions as a derived table with `information_schema.PROCESSLIST`'s columns.
pub fn processlist_table(list: &[super::sessions::Process]) -> String {
    let q = |v: &str| crate::sql::quote_bytes(v.as_bytes());
    let opt = |v: &Option<String>| v.as_deref().map_or("NULL".to_string(), q);
    let mut parts = Vec::with_capacity(list.len());
    for p in list {
        let state = if p.command == "Query" { "executing" } else { "" };
        parts.push(format!(
            "SELECT {} AS ID, {} AS USER, {} AS HOST, {} AS DB, {} AS COMMAND, {} AS TIME, {} AS STATE, \
             {} AS INFO, {} AS TIME_MS, 0 AS STAGE, 0 AS MAX_STAGE, 0.000 AS PROGRESS, 0 AS MEMORY_USED, \
             0 AS MAX_MEMORY_USED, 0 AS EXAMINED_ROWS, 0 AS QUERY_ID, {} AS INFO_BINARY, 0 AS TID",
            p.id,
            q(&p.user),
            q(&p.host),
            opt(&p.db),
            q(p.command),
            p.seconds,
            q(state),
            opt(&p.info),
            p.seconds * 1000,
            opt(&p.info),
        ));
    }
    if parts.is_empty() {
        // The same columns, no row.
        let none = super::sessions::Process {
            id: 0,
            user: String::new(),
            host: String::new(),
            db: None,
            command: "Sleep",
            seconds: 0,
            info: None,
        };
        return format!("({} FROM DUAL WHERE 0)", processlist_table(&[none]).trim_matches(['(', ')']));
    }
    format!("({})", parts.join(" UNION ALL "))
}

/// Rows of several tablets' answers together, a row repeated by several once.
pub fn distinct_rows(parts: Vec<(String, QueryResult)>) -> QueryResult {
    let mut out: Option<QueryResult> = None;
    let mut seen = std::collections::HashSet::new();
    for (_, r) in parts {
        let all = out.get_or_insert_with(|| QueryResult { fields: r.fields.clone(), ..Default::default() });
        for row in r.rows {
            if seen.insert(row.clone()) {
                all.rows.push(row);
            }
        }
    }
    out.unwrap_or_default()
}

fn has_keys(fields: &[Field]) -> bool {
    let [schema, table] = crate::planner::infoschema::KEY_COLUMNS;
    fields.len() >= 2 && fields[fields.len() - 2].name == schema && fields[fields.len() - 1].name == table
}

/// Drops the key columns [`sum_tables`] kept.
pub fn strip_keys(r: &mut QueryResult) {
    if has_keys(&r.fields) {
        let n = r.fields.len() - 2;
        r.fields.truncate(n);
        for row in &mut r.rows {
            row.truncate(n);
        }
    }
}

/// `information_schema.TABLES` / `SHOW TABLE STATUS` answered by every shard of a keyspace: a
/// table's rows from its shards (same keyspace and table name) become its first shard's row
/// with the row and byte counts summed and the average row length recomputed. Without a table
/// name column the rows cannot be matched: the first shard's answer of each keyspace stands.
/// The key columns the planner added stay at the end (for sorting): [`strip_keys`] drops them.
pub fn sum_tables(parts: Vec<(String, QueryResult)>) -> QueryResult {
    const SUMMED: [&str; 5] = ["table_rows", "rows", "data_length", "index_length", "data_free"];
    let Some(fields) = parts.first().map(|(_, r)| r.fields.clone()) else { return QueryResult::default() };
    // The schema and name columns the planner added.
    let added = has_keys(&fields);
    let col = |names: &[&str]| fields.iter().position(|f| names.iter().any(|n| f.name.eq_ignore_ascii_case(n)));
    let name = if added { Some(fields.len() - 1) } else { col(&["table_name", "name"]) };
    let Some(name) = name else {
        let mut first = std::collections::HashSet::new();
        return distinct_rows(parts.into_iter().filter(|(ks, _)| first.insert(ks.clone())).collect());
    };
    let summed: Vec<usize> =
        (0..fields.len()).filter(|&i| SUMMED.iter().any(|n| fields[i].name.eq_ignore_ascii_case(n))).collect();
    let (rows_col, data_col, avg_col) = (col(&["table_rows", "rows"]), col(&["data_length"]), col(&["avg_row_length"]));
    let number = |c: &Option<Vec<u8>>| c.as_deref().and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok());
    let mut out = QueryResult { fields: fields.clone(), ..Default::default() };
    let mut at: HashMap<(String, Option<Vec<u8>>), usize> = HashMap::new();
    for (ks, r) in parts {
        for row in r.rows {
            let key = if added {
                let schema = row.get(fields.len() - 2).cloned().flatten();
                let table = row.get(fields.len() - 1).cloned().flatten();
                (String::from_utf8_lossy(schema.as_deref().unwrap_or_default()).into_owned(), table)
            } else {
                (ks.clone(), row.get(name).cloned().flatten())
            };
            match at.get(&key) {
                None => {
                    at.insert(key, out.rows.len());
                    out.rows.push(row);
                }
                Some(&i) => {
                    let kept = &mut out.rows[i];
                    for &c in &summed {
                        if let (Some(a), Some(b)) = (number(&kept[c]), number(&row[c])) {
                            kept[c] = Some((a + b).to_string().into_bytes());
                        }
                    }
                }
            }
        }
    }
    if let (Some(rc), Some(dc), Some(ac)) = (rows_col, data_col, avg_col) {
        for row in &mut out.rows {
            if let (Some(n), Some(d)) = (number(&row[rc]), number(&row[dc])) {
                row[ac] = Some(d.checked_div(n).unwrap_or(0).to_string().into_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(ks: &str, rows: &[(&str, Option<u64>, u64)]) -> (String, QueryResult) {
        let mut r = text_result(&["TABLE_NAME", "TABLE_ROWS", "DATA_LENGTH", "AVG_ROW_LENGTH"], Vec::new());
        r.rows = rows
            .iter()
            .map(|(n, rows, data)| {
                vec![
                    Some(n.as_bytes().to_vec()),
                    rows.map(|v| v.to_string().into_bytes()),
                    Some(data.to_string().into_bytes()),
                    Some(b"1".to_vec()),
                ]
            })
            .collect();
        (ks.to_string(), r)
    }

    #[test]
    fn a_tables_shards_are_one_row_with_counts_summed() {
        let r = sum_tables(vec![
            part("customer", &[("corder", Some(10), 1600), ("customer", Some(3), 300)]),
            part("customer", &[("corder", Some(6), 800), ("customer", Some(1), 100)]),
            part("commerce", &[("customer", Some(7), 70), ("v", None, 0)]),
        ]);
        let text: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|row| {
                row.iter().map(|c| c.as_deref().map_or("NULL".into(), |b| String::from_utf8_lossy(b).into())).collect()
            })
            .collect();
        assert_eq!(
            text,
            vec![
                vec!["corder", "16", "2400", "150"],
                vec!["customer", "4", "400", "100"],
                vec!["customer", "7", "70", "10"],
                vec!["v", "NULL", "0", "1"],
            ]
        );
    }
}
