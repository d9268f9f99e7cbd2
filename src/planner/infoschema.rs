//! `information_schema` queries. A keyspace is one database of the same name on each of its
//! tablets, and the tablets' query user sees only that database (and `information_schema`),
//! so a query about keyspace `ks` runs on one tablet of `ks` (any shard: shards share their
//! schema) and answers with `ks` as the schema name. Which keyspaces a query is about comes
//! from its comparisons of schema columns (`table_schema = 'ks'`, `schema_name IN (...)`,
//! `= DATABASE()`); with none, the session's keyspace, or every keyspace.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_relations, BinaryOperator, Expr, ObjectName, Statement, Value};

use crate::plan::{GatewayError, Local, Plan, SortKey, Target};
use crate::routing::RoutingView;

/// True when `name` is `information_schema.<table>` (any case).
fn is_info_table(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_ascii_lowercase()).collect();
    matches!(parts.as_slice(), [db, _] if db == "information_schema")
}

/// How the statement's tables divide: (information_schema tables, other tables).
pub(super) fn tables(stmt: &Statement) -> (usize, usize) {
    let (mut info, mut other) = (0, 0);
    let _ = visit_relations(stmt, |name: &ObjectName| {
        if is_info_table(name) {
            info += 1;
        } else {
            other += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    (info, other)
}

/// A column that names a schema (`TABLE_SCHEMA`, `SCHEMA_NAME`, `ROUTINE_SCHEMA`, ...).
fn schema_column(e: &Expr) -> bool {
    let name = match e {
        Expr::Identifier(i) => i.value.to_ascii_lowercase(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default(),
        _ => return false,
    };
    name.ends_with("schema") || name == "schema_name" || name == "db"
}

enum Named {
    Keyspace(String),
    Session,
}

fn named(e: &Expr) -> Option<Named> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(Named::Keyspace(s.clone())),
            _ => None,
        },
        Expr::Function(f) => {
            let n = f.name.to_string().to_ascii_lowercase();
            (n == "database" || n == "schema").then_some(Named::Session)
        }
        Expr::Nested(inner) => named(inner),
        _ => None,
    }
}

/// The schemas a statement compares schema columns with (`None` in the set: the session's).
fn schemas(stmt: &Statement) -> Vec<Named> {
    let mut out = Vec::new();
    let _ = visit_expressions(stmt, |e: &Expr| {
        match e {
            Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
                if schema_column(left) {
                    out.extend(named(right));
                } else if schema_column(right) {
                    out.extend(named(left));
                }
            }
            Expr::InList { expr, list, negated: false } if schema_column(expr) => {
                out.extend(list.iter().filter_map(named))
            }
            Expr::Like { expr, pattern, negated: false, .. } if schema_column(expr) => out.extend(named(pattern)),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Plans a statement over `information_schema` tables only; `source` is its text, sent as it is.
pub(super) fn plan(stmt: &Statement, source: &str, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    if let Some(p) = super::processlist::plan(stmt, target, view)? {
        return Ok(p);
    }
    let mut keyspaces = BTreeSet::new();
    let mut named_any = false;
    for n in schemas(stmt) {
        named_any = true;
        match n {
            Named::Keyspace(k) => {
                // A LIKE pattern or a name that is no keyspace (`mysql`) matches nothing the
                // tablets' query user can see: any keyspace answers that correctly.
                if let Some(ks) = view.keyspace(&k) {
                    keyspaces.insert(ks.name.clone());
                } else if k.contains(['%', '_']) {
                    keyspaces
                        .extend(view.topo.keyspaces.keys().filter(|name| like(&k, name)).cloned().collect::<Vec<_>>());
                }
            }
            Named::Session => keyspaces.extend(target.keyspace.clone()),
        }
    }
    if keyspaces.is_empty() {
        if named_any {
            // Named schemas that are no keyspace: one keyspace answers (with nothing).
            keyspaces.extend(target.keyspace.clone().or_else(|| view.topo.keyspaces.keys().next().cloned()));
        } else {
            // No schema named: every database, as MariaDB answers.
            keyspaces.extend(view.topo.keyspaces.keys().cloned());
        }
    }
    let mut tablets: Vec<(String, String)> = Vec::new();
    for ks in &keyspaces {
        let k = view.keyspace(ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.clone()))?;
        match view.serving_shards(k, target.tablet_type).into_iter().next() {
            Some(shard) => tablets.push((ks.clone(), shard)),
            // A keyspace without serving shards has no tables to show.
            None if keyspaces.len() > 1 => {}
            None => return Err(super::route::no_shards(ks)),
        }
    }
    let one_each = tablets.clone();
    // TABLES counts rows and bytes per shard: a sharded keyspace's are summed over its shards,
    // a table's rows matched by its schema and name (asked for as two more columns).
    let sum_tables = reads_tables(stmt) && sharded_shards(&mut tablets, target, view);
    let keyed;
    let source = match sum_tables.then(|| with_table_key(stmt)).flatten() {
        Some(k) => {
            keyed = k;
            keyed.as_str()
        }
        None => source,
    };
    match tablets.as_slice() {
        [] => Err(GatewayError::Other("no keyspace has a serving shard to answer information_schema".into())),
        [(keyspace, shard)] => Ok(Plan::Route {
            keyspace: keyspace.clone(),
            shards: vec![shard.clone()],
            sql: source.to_string(),
            tablet_type: target.tablet_type,
        }),
        _ => match order_and_limit(stmt) {
            Ok((order, limit)) => {
                Ok(Plan::Local(Local::EachKeyspace { tablets, sql: source.to_string(), order, limit, sum_tables }))
            }
            // One keyspace's TABLES with an ORDER BY the gateway cannot apply: its first
            // shard answers (counts of that shard, as before summing).
            Err(_) if one_each.len() == 1 => Ok(Plan::Route {
                keyspace: one_each[0].0.clone(),
                shards: vec![one_each[0].1.clone()],
                sql: source.to_string(),
                tablet_type: target.tablet_type,
            }),
            Err(e) => Err(e),
        },
    }
}

/// The two columns [`with_table_key`] adds.
pub const KEY_COLUMNS: [&str; 2] = ["__tessera_schema", "__tessera_table"];

/// A plain projection over `information_schema.TABLES` alone (no grouping, aggregate or
/// DISTINCT) with `TABLE_SCHEMA` and `TABLE_NAME` added as [`KEY_COLUMNS`], so the rows of one
/// table from several shards can be matched whatever the query selects.
fn with_table_key(stmt: &Statement) -> Option<String> {
    use sqlparser::ast::{GroupByExpr, Ident, SelectItem, SetExpr, TableFactor};
    let Statement::Query(q) = stmt else { return None };
    let SetExpr::Select(sel) = q.body.as_ref() else { return None };
    let [from] = sel.from.as_slice() else { return None };
    let plain = from.joins.is_empty()
        && matches!(&from.relation, TableFactor::Table { .. })
        && sel.distinct.is_none()
        && sel.having.is_none()
        && matches!(&sel.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
    if !plain {
        return None;
    }
    let mut aggregate = false;
    let _ = visit_expressions(&sel.projection, |e: &Expr| {
        if let Expr::Function(f) = e {
            let n = f.name.to_string().to_ascii_lowercase();
            aggregate |= matches!(
                n.as_str(),
                "count"
                    | "sum"
                    | "avg"
                    | "min"
                    | "max"
                    | "group_concat"
                    | "std"
                    | "stddev"
                    | "variance"
                    | "bit_and"
                    | "bit_or"
            );
        }
        ControlFlow::<()>::Continue(())
    });
    if aggregate {
        return None;
    }
    let mut q = q.clone();
    let SetExpr::Select(sel) = q.body.as_mut() else { return None };
    for (column, alias) in ["TABLE_SCHEMA", "TABLE_NAME"].into_iter().zip(KEY_COLUMNS) {
        sel.projection
            .push(SelectItem::ExprWithAlias { expr: Expr::Identifier(Ident::new(column)), alias: Ident::new(alias) });
    }
    Some(q.to_string())
}

/// Whether the statement reads `information_schema.TABLES`.
fn reads_tables(stmt: &Statement) -> bool {
    let mut found = false;
    let _ = visit_relations(stmt, |name: &ObjectName| {
        let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_ascii_lowercase()).collect();
        found |= matches!(parts.as_slice(), [db, t] if db == "information_schema" && t == "tables");
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Replaces each sharded keyspace's one tablet by all its serving shards; true if any was.
pub(super) fn sharded_shards(tablets: &mut Vec<(String, String)>, target: &Target, view: &RoutingView) -> bool {
    let mut any = false;
    let mut out = Vec::with_capacity(tablets.len());
    for (ks, shard) in tablets.drain(..) {
        let shards = view
            .keyspace(&ks)
            .filter(|k| k.vschema.as_ref().is_some_and(|v| v.sharded))
            .map(|k| view.serving_shards(k, target.tablet_type))
            .filter(|s| s.len() > 1);
        match shards {
            Some(all) => {
                any = true;
                out.extend(all.into_iter().map(|s| (ks.clone(), s)));
            }
            None => out.push((ks, shard)),
        }
    }
    *tablets = out;
    any
}

/// The gateway's ORDER BY (key, descending) and LIMIT of a statement answered from every keyspace.
type OrderLimit = (Vec<(SortKey, bool)>, Option<u64>);

/// The ORDER BY (result column by position or name, descending?) and LIMIT of a query the
/// gateway answers from several keyspaces: each returns its rows ordered and limited, the
/// gateway orders and limits them together.
fn order_and_limit(stmt: &Statement) -> Result<OrderLimit, GatewayError> {
    use sqlparser::ast::{LimitClause, OrderByKind, OrderBySort};
    let Statement::Query(q) = stmt else { return Ok((Vec::new(), None)) };
    let unsupported = |what: String| {
        GatewayError::Unsupported(format!(
            "{what} in information_schema over several keyspaces; name one schema (`table_schema = '<keyspace>'`)"
        ))
    };
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(items) = &ob.kind else { return Err(unsupported("ORDER BY ALL".into())) };
        for o in items {
            let key = match &o.expr {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => {
                        SortKey::Position(n.parse::<usize>().map_err(|_| unsupported(format!("ORDER BY {n}")))?)
                    }
                    other => return Err(unsupported(format!("ORDER BY {other}"))),
                },
                Expr::Identifier(i) => SortKey::Name(i.value.clone()),
                Expr::CompoundIdentifier(parts) => {
                    SortKey::Name(parts.last().map(|i| i.value.clone()).unwrap_or_default())
                }
                other => return Err(unsupported(format!("ORDER BY {other}"))),
            };
            order.push((key, matches!(o.options.sort, Some(OrderBySort::Desc))));
        }
    }
    let limit = match &q.limit_clause {
        None => None,
        Some(LimitClause::LimitOffset { limit, offset: None, .. }) => match limit {
            Some(Expr::Value(v)) => match &v.value {
                Value::Number(n, _) => Some(n.parse::<u64>().map_err(|_| unsupported(format!("LIMIT {n}")))?),
                other => return Err(unsupported(format!("LIMIT {other}"))),
            },
            None => None,
            Some(other) => return Err(unsupported(format!("LIMIT {other}"))),
        },
        Some(other) => return Err(unsupported(format!("{other}"))),
    };
    Ok((order, limit))
}

/// SQL LIKE with `%` and `_` (no escapes), case-insensitive, as schema names compare.
fn like(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'%', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'_', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likes() {
        assert!(like("cust%", "customer"));
        assert!(like("c_stomer", "Customer"));
        assert!(!like("cust", "customer"));
    }
}
