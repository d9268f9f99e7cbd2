//! Derived tables joined with other tables across shards: each derived table runs first
//! (planned like any query, bounded by `max_rows`), and its rows come back into the statement
//! as a derived table of literal rows (`(SELECT 1 AS a, 'x' AS b UNION ALL ...) AS d`). A table
//! of literal rows needs no shard of its own: like a reference table, it joins on whichever
//! shards the other tables are (`tables::Tab::reference`).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{visit_relations, Query, Select, TableFactor, VisitMut, VisitorMut};

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
        let mut q = self.query.clone();
        let mut swap = Swap { results, error: None };
        let _ = q.visit(&mut swap);
        if let Some(e) = swap.error {
            return Err(e);
        }
        Ok(q.to_string())
    }

    fn describe(&self) -> String {
        format!("{} (each derived table as its rows)", self.query)
    }
}

struct Swap<'a> {
    results: &'a HashMap<String, QueryResult>,
    error: Option<GatewayError>,
}

impl VisitorMut for Swap<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Derived { subquery, .. } = tf else { return ControlFlow::Continue(()) };
        let Some(r) = self.results.get(&subquery.to_string()) else { return ControlFlow::Continue(()) };
        match rows_as_query(r) {
            Ok(lit) => **subquery = lit,
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT <row 1> UNION ALL SELECT <row 2> ...`, the first naming the columns; with no rows,
/// a row of NULLs cut by `LIMIT 0`.
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
        let parts: Vec<String> = r
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let cells = r.fields.iter().zip(row).map(|(f, c)| typed_literal(f, c.as_deref())).collect();
                row_sql(cells, i == 0)
            })
            .collect();
        parts.join(" UNION ALL ")
    };
    let mut stmts = crate::sql::parse::parse(&sql)?;
    match stmts.pop() {
        Some(sqlparser::ast::Statement::Query(q)) => Ok(*q),
        _ => Err(GatewayError::Other("a derived table's rows did not make a query".into())),
    }
}

/// A cell as a literal of its column's type: dates and times keep theirs (`DATE '..'`,
/// `TIMESTAMP '..'`, `TIME '..'`), so functions and comparisons over them act as on the column.
fn typed_literal(f: &crate::protocol::tablet::Field, cell: Option<&[u8]>) -> String {
    let text = cell_or_null(f, cell);
    match (cell, f.column_type) {
        (Some(b), 10 | 14) if b.len() == 10 => format!("DATE {text}"),
        (Some(b), 7 | 12) if b.len() >= 19 => format!("TIMESTAMP {text}"),
        (Some(_), 11) => format!("TIME {text}"),
        _ => text,
    }
}
