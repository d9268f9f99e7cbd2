//! Window functions across shards. A window partitioned by the table's sharding column has
//! each partition on one shard, so the shards compute it and the gateway merges their rows as
//! for any query. Any other window over one table needs every row: the rows the WHERE keeps
//! are read from the shards first (up to `max_rows`), then the query runs on one shard over
//! them as a derived table of literal rows, so MariaDB itself evaluates the windows (frames,
//! collations and all). Windows over joins are refused by name (never computed per shard and
//! concatenated: that would be a wrong answer). The same reading-back serves any other
//! one-table query the gateway cannot evaluate itself (STD(), VARIANCE(), BIT_OR(),
//! JSON_ARRAYAGG(), `*` with GROUP BY, ...): `over_rows`.

use std::ops::ControlFlow;

use std::collections::HashMap;
use std::sync::Arc;

use sqlparser::ast::{
    visit_expressions, Expr, Query, Select, SelectItem, SetExpr, TableAlias, TableFactor, WindowType,
};

use super::tables::{is_vindex_col, Tab};
use crate::plan::{GatewayError, Plan, PulloutFill, PulloutPlan};
use crate::protocol::tablet::QueryResult;

/// The window specifications of the select list and ORDER BY.
pub(super) fn windows(q: &Query, sel: &Select) -> Vec<WindowType> {
    let mut out = Vec::new();
    let mut collect = |e: &Expr| {
        let _ = visit_expressions(e, |x: &Expr| {
            if let Expr::Function(f) = x {
                if let Some(w) = &f.over {
                    out.push(w.clone());
                }
            }
            ControlFlow::<()>::Continue(())
        });
    };
    for i in &sel.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = i {
            collect(e);
        }
    }
    if let Some(ob) = &q.order_by {
        if let sqlparser::ast::OrderByKind::Expressions(list) = &ob.kind {
            for o in list {
                collect(&o.expr);
            }
        }
    }
    out
}

/// Whether a query over `tables` on several shards may let the shards compute its windows:
/// every window is partitioned by the sharding column of the (one) table.
pub(super) fn check(q: &Query, sel: &Select, tables: &[Tab]) -> Result<(), GatewayError> {
    for w in windows(q, sel) {
        let WindowType::WindowSpec(spec) = &w else {
            return Err(GatewayError::Unsupported(format!(
                "named window `{w}` across shards; write the window in OVER (...)"
            )));
        };
        let local = match tables {
            [t] => spec.partition_by.iter().any(|e| is_vindex_col(e, t, true)),
            _ => false,
        };
        if !local {
            return Err(GatewayError::Unsupported(format!(
                "window function OVER ({spec}) across shards; partition it by the sharding column so each shard computes it, or route the query to one shard"
            )));
        }
    }
    Ok(())
}

/// A one-table query (no subquery anywhere, no locking clause) evaluated by MariaDB on one
/// shard over the table's rows, read first; `None` for any other query.
pub(super) fn over_rows(q: &Query) -> Option<Plan> {
    let SetExpr::Select(sel) = q.body.as_ref() else { return None };
    let mut sub = false;
    let _ = sqlparser::ast::visit_expressions(q, |x: &Expr| {
        sub |= matches!(x, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. });
        ControlFlow::<()>::Continue(())
    });
    if sub || !q.locks.is_empty() || q.with.is_some() || sel.into.is_some() {
        return None;
    }
    materialize(q, sel)
}

/// The plan that evaluates the windows of a one-table query over its rows on one shard;
/// `None` when the query is not over exactly one plain table or its WHERE has subqueries.
pub(super) fn materialize(q: &Query, sel: &Select) -> Option<Plan> {
    let [twj] = sel.from.as_slice() else { return None };
    let TableFactor::Table { name, alias, .. } = &twj.relation else { return None };
    if !twj.joins.is_empty() || sel.selection.as_ref().is_some_and(has_subquery) {
        return None;
    }
    let alias = alias
        .as_ref()
        .map(|a| a.name.value.clone())
        .unwrap_or_else(|| name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default());
    let mut rows = format!("select * from {}", twj.relation);
    if let Some(w) = &sel.selection {
        rows.push_str(&format!(" where {w}"));
    }
    Some(Plan::Pullout(Box::new(PulloutPlan {
        subqueries: vec![rows.clone()],
        keyed: Vec::new(),
        fill: Arc::new(OverRows { query: q.clone(), rows, alias }),
    })))
}

#[derive(Debug)]
struct OverRows {
    query: Query,
    /// The SELECT reading the rows (its text keys the result).
    rows: String,
    alias: String,
}

impl PulloutFill for OverRows {
    fn fill(&self, results: &HashMap<String, QueryResult>, _keyed: &[QueryResult]) -> Result<String, GatewayError> {
        let r = results.get(&self.rows).ok_or_else(|| GatewayError::Other(format!("`{}` gave no rows", self.rows)))?;
        let literal = super::derived_join::rows_as_query(r)?;
        let mut q = self.query.clone();
        let SetExpr::Select(sel) = q.body.as_mut() else {
            return Err(GatewayError::Other("window query without a SELECT".into()));
        };
        let Some(twj) = sel.from.first_mut() else {
            return Err(GatewayError::Other("window query without a FROM".into()));
        };
        twj.relation = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(literal),
            alias: Some(TableAlias {
                explicit: true,
                name: sqlparser::ast::Ident::with_quote('`', self.alias.clone()),
                columns: Vec::new(),
                at: None,
            }),
            sample: None,
        };
        // The rows already passed the WHERE.
        sel.selection = None;
        Ok(q.to_string())
    }

    fn describe(&self) -> String {
        format!("{} (evaluated on one shard over the rows of `{}`)", self.query, self.rows)
    }
}

/// Whether the shards compute the windows of a one-table query themselves: every window
/// partitioned by the sharding column, over plain rows (no grouping, DISTINCT or aggregate).
pub(super) fn shards_compute(q: &Query, sel: &Select, tab: &Tab) -> bool {
    let plain_rows = super::scatter::group_exprs(sel).is_ok_and(|g| g.is_empty())
        && sel.distinct.is_none()
        && sel.having.is_none()
        && !sel.projection.iter().any(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => super::has_aggregate(e),
            _ => false,
        });
    plain_rows && check(q, sel, std::slice::from_ref(tab)).is_ok()
}

fn has_subquery(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x: &Expr| {
        found |= matches!(x, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. });
        ControlFlow::<()>::Continue(())
    });
    found
}
