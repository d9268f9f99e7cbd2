//! The simple router's check that a SELECT sent whole to several shards needs no merging in
//! the gateway (else the cross-shard planner takes it).

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, Expr, GroupByExpr, SetExpr};

use crate::plan::GatewayError;

/// A SELECT that goes to several shards must not need the gateway to merge anything.
pub(super) fn check_scatter_select(q: &sqlparser::ast::Query) -> Result<(), GatewayError> {
    let unsupported = |what: &str| {
        Err(GatewayError::Unsupported(format!("{what} across shards; it arrives with the cross-shard planner (route by the primary vindex to use one shard)")))
    };
    if q.order_by.is_some() {
        return unsupported("ORDER BY");
    }
    if q.limit_clause.is_some() {
        return unsupported("LIMIT");
    }
    let SetExpr::Select(s) = q.body.as_ref() else { return unsupported("UNION") };
    let plain = |f: &sqlparser::ast::TableFactor| matches!(f, sqlparser::ast::TableFactor::Table { .. });
    if !s.from.iter().all(|t| plain(&t.relation) && t.joins.iter().all(|j| plain(&j.relation))) {
        return unsupported("a derived table");
    }
    if s.distinct.is_some() {
        return unsupported("DISTINCT");
    }
    if !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty()) {
        return unsupported("GROUP BY");
    }
    if s.having.is_some() {
        return unsupported("HAVING");
    }
    let mut found = None;
    let _ = visit_expressions(&s.projection, |e: &Expr| {
        match e {
            Expr::Function(f) if f.over.is_some() => {
                found = Some("a window function".to_string());
                return ControlFlow::Break(());
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                if [
                    "count",
                    "sum",
                    "min",
                    "max",
                    "avg",
                    "group_concat",
                    "std",
                    "stddev",
                    "variance",
                    "bit_and",
                    "bit_or",
                    "bit_xor",
                ]
                .contains(&name.as_str())
                {
                    found = Some(format!("aggregate {}()", name.to_ascii_uppercase()));
                    return ControlFlow::Break(());
                }
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                found = Some("a subquery".to_string());
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    if let Some(what) = found {
        return unsupported(&what);
    }
    if let Some(sel) = &s.selection {
        let mut sub = false;
        let _ = visit_expressions(sel, |e: &Expr| {
            if matches!(e, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }) {
                sub = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if sub {
            return unsupported("a subquery");
        }
    }
    Ok(())
}
