//! The last resort for a SELECT across shards that the gateway cannot evaluate itself (a
//! correlated subquery not on an equality, a window over a join, NATURAL JOIN, EXCEPT,
//! STD() over a join, ...): every table it names is read from its shards (`select * from t`,
//! each bounded by `max_rows`), and the statement runs on one shard with each table replaced
//! by a derived table of its rows as literals (typed and collated as the columns,
//! `derived_join::rows_as_query`). MariaDB evaluates the whole statement, so the answer is
//! its own; what the literals cannot stand for (ENUM/SET, other character sets) is refused.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{Query, SetExpr, TableAlias, TableFactor, Visit, VisitMut, Visitor, VisitorMut};

use crate::plan::{GatewayError, Plan, PulloutFill, PulloutPlan};
use crate::protocol::tablet::QueryResult;

/// The plan, or `None` for a statement it does not serve (locking, INTO, WITH, a derived
/// table or table function among its tables, no table at all).
pub(super) fn plan(q: &Query) -> Option<Plan> {
    if !q.locks.is_empty() || q.with.is_some() {
        return None;
    }
    if let SetExpr::Select(sel) = q.body.as_ref() {
        if sel.into.is_some() {
            return None;
        }
    }
    let mut names = Names::default();
    let _ = Visit::visit(q, &mut names);
    if names.other || names.tables.is_empty() {
        return None;
    }
    let subqueries: Vec<String> = names.tables.iter().map(|t| format!("select * from {t}")).collect();
    Some(Plan::Pullout(Box::new(PulloutPlan {
        subqueries,
        keyed: Vec::new(),
        fill: Arc::new(Fill { query: q.clone() }),
    })))
}

/// The tables a statement names (distinct, as written), and whether it has other factors.
#[derive(Default)]
struct Names {
    tables: Vec<String>,
    other: bool,
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table { name, args: None, .. } => {
                let t = name.to_string();
                if !self.tables.contains(&t) {
                    self.tables.push(t);
                }
            }
            // Their tables are visited next.
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
            // Table functions and the like cannot be read back.
            _ => self.other = true,
        }
        ControlFlow::Continue(())
    }
}

#[derive(Debug)]
struct Fill {
    query: Query,
}

impl PulloutFill for Fill {
    fn fill(&self, results: &HashMap<String, QueryResult>, _keyed: &[QueryResult]) -> Result<String, GatewayError> {
        let mut q = self.query.clone();
        let mut swap = Swap { results, error: None };
        let _ = VisitMut::visit(&mut q, &mut swap);
        match swap.error {
            Some(e) => Err(e),
            None => Ok(q.to_string()),
        }
    }

    fn describe(&self) -> String {
        format!("{} (on one shard, each table as its rows read from its shards)", self.query)
    }
}

struct Swap<'a> {
    results: &'a HashMap<String, QueryResult>,
    error: Option<GatewayError>,
}

impl VisitorMut for Swap<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = tf else { return ControlFlow::Continue(()) };
        let Some(r) = self.results.get(&format!("select * from {name}")) else { return ControlFlow::Continue(()) };
        let literal = match super::derived_join::rows_as_query(r) {
            Ok(l) => l,
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        };
        // The table keeps the name the statement refers to it by.
        let refer = alias.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| {
            name.0
                .last()
                .and_then(|p| p.as_ident().cloned())
                .unwrap_or_else(|| sqlparser::ast::Ident::new(name.to_string()))
        });
        *tf = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(literal),
            alias: Some(TableAlias { explicit: true, name: refer, columns: Vec::new(), at: None }),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}
