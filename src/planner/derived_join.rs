//! Derived tables joined with other tables across shards: each derived table runs first
//! (planned like any query, bounded by `max_rows`), and its rows come back into the statement
//! as a derived table of literal rows (`(SELECT 1 AS a, 'x' AS b UNION ALL ...) AS d`). A table
//! of literal rows needs no shard of its own: like a reference table, it joins on whichever
//! shards the other tables are (`tables::Tab::reference`).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{visit_relations, Query, Select, TableAlias, TableFactor, VisitMut, VisitorMut};

use super::values::cell_or_null;
use crate::plan::{GatewayError, Plan, PulloutFill, PulloutPlan};
use crate::protocol::tablet::QueryResult;
use crate::sql::quote_ident;

/// Whether a query reads no table (its rows are literals).
pub(super) fn literal(q: &Query) -> bool {
    let mut tables = false;
    let _ = visit_relations(q, |_| {
        tables = true;
        ControlFlow::<()>::Break(())
    });
    !tables
}

/// The derived tables (reading tables) of a FROM with joins; empty when there is none.
fn derived_tables(sel: &Select) -> Vec<String> {
    let mut out = Vec::new();
    if sel.from.len() < 2 && sel.from.iter().all(|t| t.joins.is_empty()) {
        return out;
    }
    for twj in &sel.from {
        for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Derived { subquery, lateral: false, .. } = f {
                if !literal(subquery) {
                    out.push(subquery.to_string());
                }
            }
        }
    }
    out
}

/// A plan that runs the joined derived tables first; `None` when there are none.
pub(super) fn plan(q: &Query, sel: &Select) -> Option<Plan> {
    let subqueries = derived_tables(sel);
    if subqueries.is_empty() {
        return None;
    }
    Some(Plan::Pullout(Box::new(PulloutPlan {
        subqueries,
        keyed: Vec::new(),
        fill: Arc::new(Fill { query: q.clone() }),
    })))
}

#[derive(Debug)]
struct Fill {
    query: Query,
}

impl PulloutFill for Fill {
    fn fill(&self, results: &HashMap<String, QueryResult>, _keyed: &[QueryResult]) -> Result<String, GatewayError> {
        // Each derived table whose rows were read becomes those rows, under its alias.
        with_rows(&self.query, results, |tf| match tf {
            TableFactor::Derived { subquery, alias, .. } => Some((subquery.to_string(), alias.clone())),
            _ => None,
        })
    }

    fn describe(&self) -> String {
        format!("{} (each derived table as its rows)", self.query)
    }
}

/// `q` as SQL, with each table factor `pick` names rows for (their key in `results`, and the
/// alias to give them) replaced by a derived table of those rows ([`rows_as_query`]).
pub(super) fn with_rows(
    q: &Query,
    results: &HashMap<String, QueryResult>,
    pick: impl FnMut(&TableFactor) -> Option<(String, Option<TableAlias>)>,
) -> Result<String, GatewayError> {
    let mut q = q.clone();
    let mut swap = Swap { results, pick, error: None };
    let _ = q.visit(&mut swap);
    match swap.error {
        Some(e) => Err(e),
        None => Ok(q.to_string()),
    }
}

struct Swap<'a, F> {
    results: &'a HashMap<String, QueryResult>,
    pick: F,
    error: Option<GatewayError>,
}

impl<F: FnMut(&TableFactor) -> Option<(String, Option<TableAlias>)>> VisitorMut for Swap<'_, F> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let Some((key, alias)) = (self.pick)(tf) else { return ControlFlow::Continue(()) };
        let Some(r) = self.results.get(&key) else { return ControlFlow::Continue(()) };
        match rows_as_query(r) {
            Ok(rows) => {
                *tf = TableFactor::Derived { lateral: false, subquery: Box::new(rows), alias, sample: None };
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// `SELECT <row 1> UNION ALL VALUES (<row 2>), ...`, the first naming the columns; with no
/// rows, a row of NULLs cut by `LIMIT 0`.
pub(super) fn rows_as_query(r: &QueryResult) -> Result<Query, GatewayError> {
    let names: Vec<String> = r.fields.iter().map(|f| quote_ident(&f.name)).collect();
    let row_sql = |cells: Vec<String>, named: bool| {
        let items: Vec<String> =
            cells.into_iter().zip(&names).map(|(c, n)| if named { format!("{c} AS {n}") } else { c }).collect();
        format!("SELECT {}", items.join(", "))
    };
    let sql = if r.rows.is_empty() {
        format!("{} LIMIT 0", row_sql(vec!["NULL".to_string(); names.len()], true))
    } else {
        // The first row names the columns; the rest follow as one VALUES list (MariaDB's
        // table value constructor), so the statement stays flat however many rows there are.
        let mut rows = Vec::with_capacity(r.rows.len());
        for row in &r.rows {
            let cells =
                r.fields.iter().zip(row).map(|(f, c)| typed_literal(f, c.as_deref())).collect::<Result<Vec<_>, _>>()?;
            rows.push(cells);
        }
        let mut rest = rows.split_off(1);
        let first = row_sql(rows.pop().unwrap_or_default(), true);
        if rest.is_empty() {
            first
        } else {
            let values: Vec<String> = rest.iter_mut().map(|c| format!("({})", c.join(", "))).collect();
            format!("{first} UNION ALL VALUES {}", values.join(", "))
        }
    };
    let mut stmts = crate::sql::parse::parse(&sql)?;
    match stmts.pop() {
        Some(sqlparser::ast::Statement::Query(q)) => Ok(*q),
        _ => Err(GatewayError::Other("a derived table's rows did not make a query".into())),
    }
}

/// A cell as a literal that compares as the column does: dates and times keep their type
/// (`DATE '..'`, `TIMESTAMP '..'`, `TIME '..'`), strings their collation (`'..' COLLATE x`,
/// whatever the connection's). A column whose order a literal cannot keep (ENUM, SET, a
/// collation of another character set) is refused rather than answered differently.
fn typed_literal(f: &crate::protocol::tablet::Field, cell: Option<&[u8]>) -> Result<String, GatewayError> {
    const ENUM_FLAG: u16 = 256;
    const SET_FLAG: u16 = 2048;
    if f.flags & (ENUM_FLAG | SET_FLAG) != 0 {
        return Err(GatewayError::Unsupported(format!(
            "reading the ENUM/SET column `{}` back as literal rows (its order is not its text's)",
            f.name
        )));
    }
    let text = cell_or_null(f, cell);
    let Some(b) = cell else { return Ok(text) };
    Ok(match f.column_type {
        10 | 14 if b.len() == 10 => format!("DATE {text}"),
        7 | 12 if b.len() >= 19 => format!("TIMESTAMP {text}"),
        11 => format!("TIME {text}"),
        // Strings of a character set (binary ones are hex literals already).
        15 | 249..=254 if f.charset != 63 => {
            let collation = utf8mb4_collation(f.charset).ok_or_else(|| {
                GatewayError::Unsupported(format!(
                    "reading column `{}` (collation id {}) back as literal rows; only utf8mb4 collations are",
                    f.name, f.charset
                ))
            })?;
            format!("{text} COLLATE {collation}")
        }
        _ => text,
    })
}

/// The name of a utf8mb4 collation by its id (MariaDB 10.11's).
fn utf8mb4_collation(id: u16) -> Option<&'static str> {
    Some(match id {
        45 => "utf8mb4_general_ci",
        46 => "utf8mb4_bin",
        224 => "utf8mb4_unicode_ci",
        246 => "utf8mb4_unicode_520_ci",
        247 => "utf8mb4_vietnamese_ci",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tablet::{Field, Rows};

    fn field(column_type: u8, charset: u16, flags: u16) -> Field {
        Field { name: "c".into(), column_type, charset, flags, ..Field::default() }
    }

    #[test]
    fn literals_keep_type_and_collation_or_refuse() {
        let lit = |f: Field, v: &str| typed_literal(&f, Some(v.as_bytes()));
        assert_eq!(lit(field(253, 46, 0), "B").unwrap(), "'B' COLLATE utf8mb4_bin");
        assert_eq!(lit(field(253, 45, 0), "b").unwrap(), "'b' COLLATE utf8mb4_general_ci");
        assert_eq!(lit(field(12, 63, 0), "2026-01-02 03:04:05").unwrap(), "TIMESTAMP '2026-01-02 03:04:05'");
        assert_eq!(lit(field(10, 63, 0), "2026-01-02").unwrap(), "DATE '2026-01-02'");
        assert_eq!(lit(field(8, 63, 0), "42").unwrap(), "42");
        assert_eq!(lit(field(252, 63, 0), "\u{1}").unwrap(), "X'01'");
        assert_eq!(typed_literal(&field(253, 46, 0), None).unwrap(), "NULL");
        assert!(matches!(lit(field(254, 45, 256), "small"), Err(GatewayError::Unsupported(_))), "ENUM");
        assert!(matches!(lit(field(253, 8, 0), "x"), Err(GatewayError::Unsupported(_))), "latin1");
    }

    #[test]
    fn rows_become_a_query_of_literal_rows() {
        let r = QueryResult {
            fields: vec![Field { name: "id".into(), column_type: 8, ..Field::default() }, field(253, 45, 0)],
            rows: vec![vec![Some(b"1".to_vec()), Some(b"a".to_vec())], vec![Some(b"2".to_vec()), None]].into(),
            ..QueryResult::default()
        };
        assert_eq!(
            rows_as_query(&r).unwrap().to_string(),
            "SELECT 1 AS `id`, 'a' COLLATE utf8mb4_general_ci AS `c` UNION ALL VALUES (2, NULL)"
        );
        // Many rows stay one flat VALUES list (no nesting per row).
        let many = QueryResult {
            rows: (0..20_000).map(|i| vec![Some(i.to_string().into_bytes()), Some(b"x".to_vec())]).collect(),
            ..r.clone()
        };
        let text = rows_as_query(&many).unwrap().to_string();
        assert!(text.ends_with("(19999, 'x' COLLATE utf8mb4_general_ci)"), "{}", &text[text.len() - 60..]);
        let empty = QueryResult { rows: Rows::new(), ..r };
        assert_eq!(rows_as_query(&empty).unwrap().to_string(), "SELECT NULL AS `id`, NULL AS `c` LIMIT 0");
    }
}
