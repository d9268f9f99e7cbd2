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

use sqlparser::ast::{ObjectName, Query, SetExpr, TableAlias, TableFactor, Visit, Visitor, With};

use crate::plan::{GatewayError, Plan, PulloutFill, PulloutPlan};
use crate::protocol::tablet::QueryResult;

/// The plan, or `None` for a statement it does not serve (locking, INTO, a WITH below the
/// top, a table function among its tables, no table at all).
pub(super) fn plan(q: &Query) -> Option<Plan> {
    if !q.locks.is_empty() {
        return None;
    }
    if let SetExpr::Select(sel) = q.body.as_ref() {
        if sel.into.is_some() {
            return None;
        }
    }
    let mut names = Names { ctes: q.with.as_ref().map(cte_names).unwrap_or(Some(Vec::new()))?, ..Names::default() };
    let _ = Visit::visit(q, &mut names);
    if names.other || names.withs > 1 || names.tables.is_empty() {
        return None;
    }
    let subqueries: Vec<String> = names.tables.iter().map(|t| format!("select * from {t}")).collect();
    Some(Plan::Pullout(Box::new(PulloutPlan {
        subqueries,
        keyed: Vec::new(),
        fill: Arc::new(Fill { query: q.clone() }),
    })))
}

/// The names of a WITH's CTEs, which its references mean rather than tables; `None` when a
/// non-recursive CTE's body names itself or a later CTE (that reference is to a table of the
/// same name, which the shard running the statement would answer with its rows alone).
fn cte_names(with: &With) -> Option<Vec<String>> {
    let names: Vec<String> = with.cte_tables.iter().map(|c| c.alias.name.value.clone()).collect();
    if !with.recursive {
        for (i, cte) in with.cte_tables.iter().enumerate() {
            let mut inner = Names { ctes: names[..i].to_vec(), ..Names::default() };
            let _ = Visit::visit(&cte.query, &mut inner);
            if inner.unqualified.iter().any(|t| names[i..].contains(t)) {
                return None;
            }
        }
    }
    Some(names)
}

/// The tables a statement names (distinct, as written; not its CTEs), and whether it has
/// other factors.
#[derive(Default)]
struct Names {
    tables: Vec<String>,
    ctes: Vec<String>,
    /// The tables named without a keyspace (as their names).
    unqualified: Vec<String>,
    withs: usize,
    other: bool,
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        self.withs += usize::from(q.with.is_some());
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table { name, .. } if self.ctes.iter().any(|c| Some(c.as_str()) == unqualified(name)) => {}
            TableFactor::Table { name, args: None, .. } => {
                self.unqualified.extend(unqualified(name).map(str::to_string));
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

/// A table name without its keyspace, as MariaDB compares it with CTE names.
fn unqualified(name: &ObjectName) -> Option<&str> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.as_str()),
        _ => None,
    }
}

#[derive(Debug)]
struct Fill {
    query: Query,
}

impl PulloutFill for Fill {
    fn fill(&self, results: &HashMap<String, QueryResult>, _keyed: &[QueryResult]) -> Result<String, GatewayError> {
        // Each table read back becomes its rows, under the name the statement refers to it by.
        super::derived_join::with_rows(&self.query, results, |tf| {
            let TableFactor::Table { name, alias, args: None, .. } = tf else { return None };
            let refer = alias.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| {
                name.0
                    .last()
                    .and_then(|p| p.as_ident().cloned())
                    .unwrap_or_else(|| sqlparser::ast::Ident::new(name.to_string()))
            });
            Some((
                format!("select * from {name}"),
                Some(TableAlias { explicit: true, name: refer, columns: Vec::new(), at: None }),
            ))
        })
    }

    fn describe(&self) -> String {
        format!("{} (on one shard, each table as its rows read from its shards)", self.query)
    }
}
