//! UPDATE and DELETE whose WHERE (or SET) holds uncorrelated subqueries that the shards cannot
//! answer themselves: the subqueries run first (planned like any SELECT, across shards), their
//! values are put in their place (`IN (1, 2)`, a scalar, `EXISTS` as 1/0), and the statement is
//! planned again without them. MariaDB evaluates such subqueries before changing rows too, so
//! `DELETE FROM t WHERE id IN (SELECT id FROM t WHERE ...)` deletes what MariaDB deletes.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{visit_expressions, Expr, Statement};

use super::subquery::{correlation, substitute};
use crate::plan::{GatewayError, Plan, PulloutFill, PulloutPlan};
use crate::protocol::tablet::QueryResult;

/// The pull-out plan of an UPDATE/DELETE with uncorrelated subqueries; `None` when it has
/// none, or a correlated one.
pub(super) fn plan(stmt: &Statement) -> Option<Plan> {
    if !matches!(stmt, Statement::Update(_) | Statement::Delete(_)) {
        return None;
    }
    let mut subqueries: Vec<String> = Vec::new();
    let mut correlated = false;
    let _ = visit_expressions(stmt, |x: &Expr| {
        let sq = match x {
            Expr::Subquery(sq) | Expr::Exists { subquery: sq, .. } | Expr::InSubquery { subquery: sq, .. } => sq,
            _ => return ControlFlow::Continue(()),
        };
        let t = sq.to_string();
        // A subquery inside another runs with it.
        if subqueries.iter().any(|s| s.contains(&t)) {
            return ControlFlow::Continue(());
        }
        if !correlation(sq).is_empty() {
            correlated = true;
            return ControlFlow::Break(());
        }
        subqueries.push(t);
        ControlFlow::Continue(())
    });
    if correlated || subqueries.is_empty() {
        return None;
    }
    Some(Plan::Pullout(Box::new(PulloutPlan {
        subqueries,
        keyed: Vec::new(),
        fill: Arc::new(Fill { stmt: stmt.clone() }),
    })))
}

#[derive(Debug)]
struct Fill {
    stmt: Statement,
}

impl PulloutFill for Fill {
    fn fill(&self, results: &HashMap<String, QueryResult>, keyed: &[QueryResult]) -> Result<String, GatewayError> {
        let _ = keyed;
        Ok(substitute(&self.stmt, results, &[])?.to_string())
    }

    fn describe(&self) -> String {
        self.stmt.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulled(sql: &str) -> Option<Vec<String>> {
        let stmt = crate::sql::parse::parse(sql).unwrap().remove(0);
        match plan(&stmt)? {
            Plan::Pullout(p) => Some(p.subqueries),
            _ => None,
        }
    }

    #[test]
    fn uncorrelated_subqueries_of_dml_are_pulled_out() {
        assert_eq!(
            pulled("delete from customer where customer_id in (select customer_id from corder where price > 5)"),
            Some(vec!["SELECT customer_id FROM corder WHERE price > 5".to_string()])
        );
        assert!(pulled("update customer set email = 'x' where customer_id = 3").is_none());
        assert!(pulled("update customer c set email = 'x' where exists (select 1 from corder o where o.customer_id = c.customer_id)").is_none());
        assert!(pulled("select * from customer where customer_id in (select 1)").is_none());
    }
}
