//! The cross-shard planner: SELECTs the simple router cannot send whole to one place.
//!
//! Everything the shards can do is pushed down; the rest becomes an engine
//! [`Pipeline`](crate::plan::pipeline::Pipeline):
//! - one route over several shards ([`scatter`]): merge-sorted ORDER BY, LIMIT n+m pushed down,
//!   partial aggregates merged in the gateway;
//! - several routes ([`multi`]): nested-loop joins with batched binds, derived tables, UNION;
//! - uncorrelated subqueries are pulled out: run first, their values substituted, and the
//!   statement planned again ([`Plan::Pullout`](crate::plan::Plan)).
//!
//! What cannot be planned is an `unsupported: ...` error naming the construct.

pub mod cache;
pub mod compile;
mod cte;
mod ddl;
mod derived_join;
mod dml_input;
mod dml_subquery;
pub mod explain;
mod found_rows;
#[cfg(test)]
mod golden;
pub mod infoschema;
pub mod insert;
mod join_routes;
pub mod lookup;
mod multi;
mod over_rows;
pub mod processlist;
mod reference;
mod replace;
mod right_join;
pub mod route;
mod scatter;
mod scatter_check;
pub mod shape;
mod show;
mod stages;
mod subquery;
pub mod system;
mod tables;
#[cfg(test)]
mod tests;
mod transaction;
pub mod values;
mod window;

pub use route::plan;

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, Expr, Function, FunctionArguments, LimitClause, Query};

use crate::plan::{GatewayError, Plan, Target};
use crate::routing::RoutingView;
use crate::vindex::Value;
use subquery::{keyed_case, substitute, Keyed};
pub use tables::{resolve as resolve_table, Tab, Tables};

/// Plans a query the simple router refused.
pub fn plan_query(q: &Query, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    match cte::inline(q) {
        Ok(Some(inlined)) => return crate::planner::route::plan_query_stmt(&inlined, target, view),
        Ok(None) => {}
        // WITH RECURSIVE over sharded tables, ...: MariaDB runs it over the tables' rows.
        Err(GatewayError::Unsupported(why)) => return over_rows::plan(q).ok_or(GatewayError::Unsupported(why)),
        Err(e) => return Err(e),
    }
    let original = q;
    let (q, keyed) = subquery::decorrelate(q, target, view);
    let q = &q;
    let subs = match subquery::pullouts(q, target, view) {
        Ok(subs) => subs,
        // A subquery the gateway cannot run apart: MariaDB runs the whole statement.
        Err(GatewayError::Unsupported(why)) => {
            return over_rows::plan(original).ok_or(GatewayError::Unsupported(why));
        }
        Err(e) => return Err(e),
    };
    if !subs.is_empty() || !keyed.is_empty() {
        return Ok(Plan::Pullout(Box::new(crate::plan::PulloutPlan {
            subqueries: subs,
            keyed: keyed.iter().map(|k| k.sql.clone()).collect(),
            fill: std::sync::Arc::new(Fill { query: q.clone(), keyed }),
        })));
    }
    match multi::plan(q, target, view) {
        // What the gateway cannot evaluate over one table (STD(), ...): MariaDB evaluates it on
        // one shard over the table's rows, read first.
        Err(GatewayError::Unsupported(why)) => {
            window::over_rows(q).or_else(|| over_rows::plan(q)).ok_or(GatewayError::Unsupported(why))
        }
        other => other,
    }
}

/// Puts pulled-out subqueries' results back into their statement.
#[derive(Debug)]
struct Fill {
    query: Query,
    keyed: Vec<Keyed>,
}

impl crate::plan::PulloutFill for Fill {
    fn fill(
        &self,
        results: &std::collections::HashMap<String, crate::protocol::tablet::QueryResult>,
        keyed: &[crate::protocol::tablet::QueryResult],
    ) -> Result<String, GatewayError> {
        let cases = self.keyed.iter().zip(keyed).map(|(k, r)| keyed_case(k, r)).collect::<Result<Vec<_>, _>>()?;
        Ok(substitute(&self.query, results, &cases)?.to_string())
    }

    fn describe(&self) -> String {
        self.query.to_string()
    }
}

/// Aggregate function names the engine merges.
pub const AGGREGATES: [&str; 6] = ["count", "sum", "min", "max", "avg", "group_concat"];
/// Aggregates it refuses across shards.
pub const OTHER_AGGREGATES: [&str; 7] =
    ["std", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp"];

/// GROUP_CONCAT's separator (`,` unless a SEPARATOR clause says otherwise), as bytes.
pub(crate) fn separator(f: &Function) -> Vec<u8> {
    if let FunctionArguments::List(l) = &f.args {
        for c in &l.clauses {
            if let sqlparser::ast::FunctionArgumentClause::Separator(v) = c {
                if let sqlparser::ast::Value::SingleQuotedString(s) | sqlparser::ast::Value::DoubleQuotedString(s) =
                    &v.value
                {
                    return crate::sql::literal::body_value(s);
                }
            }
        }
    }
    b",".to_vec()
}

/// GROUP_CONCAT's ORDER BY: (expression, descending); empty without one.
pub(crate) fn concat_order(f: &Function) -> Result<Vec<(Expr, bool)>, GatewayError> {
    let mut out = Vec::new();
    if let FunctionArguments::List(l) = &f.args {
        for c in &l.clauses {
            if let sqlparser::ast::FunctionArgumentClause::OrderBy(obs) = c {
                for o in obs {
                    if o.options.nulls_first.is_some() {
                        return Err(GatewayError::Syntax(format!("NULLS FIRST/LAST in `{f}`")));
                    }
                    out.push((o.expr.clone(), matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc))));
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn is_aggregate(f: &Function) -> bool {
    if f.over.is_some() {
        // A window function, not a grouping aggregate.
        return false;
    }
    let n = f.name.to_string().to_ascii_lowercase();
    AGGREGATES.contains(&n.as_str())
        || OTHER_AGGREGATES.contains(&n.as_str())
        || ["bit_and", "bit_or", "bit_xor", "json_arrayagg", "json_objectagg"].contains(&n.as_str())
}

/// The expression with its subqueries blanked (their aggregates are their own).
pub(crate) fn without_subqueries(e: &Expr) -> Expr {
    let mut e = e.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
        if matches!(x, Expr::Subquery(_) | Expr::Exists { .. }) {
            *x = Expr::Value(sqlparser::ast::Value::Null.into());
        } else if let Expr::InSubquery { expr, negated, .. } = x {
            *x = Expr::InList {
                expr: expr.clone(),
                list: vec![Expr::Value(sqlparser::ast::Value::Null.into())],
                negated: *negated,
            };
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// Whether an expression contains an aggregate call (not counting subqueries).
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(&without_subqueries(e), |x: &Expr| {
        if let Expr::Function(f) = x {
            if is_aggregate(f) && f.over.is_none() {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// LIMIT and OFFSET as numbers.
pub(crate) fn limits(q: &Query) -> Result<(Option<u64>, u64), GatewayError> {
    let num = |e: &Expr| -> Result<u64, GatewayError> {
        match crate::planner::route::literal(e) {
            Some(Value::Int(i)) if i >= 0 => Ok(i as u64),
            Some(Value::UInt(u)) => Ok(u),
            _ => Err(GatewayError::Unsupported(format!("LIMIT/OFFSET `{e}` that is not a number, across shards"))),
        }
    };
    Ok(match &q.limit_clause {
        None => (None, 0),
        Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
            if !limit_by.is_empty() {
                return Err(GatewayError::Unsupported("LIMIT BY".into()));
            }
            (limit.as_ref().map(num).transpose()?, offset.as_ref().map(|o| num(&o.value)).transpose()?.unwrap_or(0))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (Some(num(limit)?), num(offset)?),
    })
}

/// Arguments of a function call, as expressions (`*` is `None`).
pub(crate) fn func_args(f: &Function) -> Result<(Vec<Option<Expr>>, bool), GatewayError> {
    use sqlparser::ast::{DuplicateTreatment, FunctionArg, FunctionArgExpr};
    match &f.args {
        FunctionArguments::None => Ok((Vec::new(), false)),
        FunctionArguments::List(l) => {
            let distinct = matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct));
            let mut out = Vec::new();
            for a in &l.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(Some(e.clone())),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => out.push(None),
                    other => return Err(GatewayError::Unsupported(format!("argument `{other}` of {}", f.name))),
                }
            }
            // GROUP_CONCAT's SEPARATOR and ORDER BY are read by `separator` and
            // `concat_order`; other clauses are refused.
            let group_concat = f.name.to_string().eq_ignore_ascii_case("group_concat");
            if l.clauses.iter().any(|c| {
                !(group_concat
                    && matches!(
                        c,
                        sqlparser::ast::FunctionArgumentClause::Separator(_)
                            | sqlparser::ast::FunctionArgumentClause::OrderBy(_)
                    ))
            }) {
                return Err(GatewayError::Unsupported(format!("`{f}` across shards")));
            }
            Ok((out, distinct))
        }
        FunctionArguments::Subquery(_) => Err(GatewayError::Unsupported(format!("`{f}`"))),
    }
}
