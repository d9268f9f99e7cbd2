//! Window functions across shards. A window partitioned by the table's sharding column has
//! each partition on one shard, so the shards compute it and the gateway merges their rows as
//! for any query; any other window would need every row in the gateway, and is refused by name
//! (never computed per shard and concatenated: that would be a wrong answer).

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, Expr, Query, Select, SelectItem, WindowType};

use super::tables::{is_vindex_col, Tab};
use crate::plan::GatewayError;

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
