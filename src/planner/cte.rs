//! `WITH` (non-recursive common table expressions) across shards: each reference to a CTE
//! becomes the derived table it names (`FROM t` -> `FROM (<its query>) AS t`), earlier CTEs
//! inlined into later ones, and the query is planned like any other with derived tables.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Query, TableAlias, TableFactor, VisitMut, VisitorMut};

use crate::plan::GatewayError;

fn unsupported(m: &str) -> GatewayError {
    GatewayError::Unsupported(m.into())
}

/// The query with its CTEs inlined; `None` when it has no WITH.
pub(super) fn inline(q: &Query) -> Result<Option<Query>, GatewayError> {
    let Some(with) = &q.with else { return Ok(None) };
    if with.recursive {
        return Err(unsupported("WITH RECURSIVE across shards; run it on one shard (`use ks/<shard>`)"));
    }
    let mut defs: Vec<(String, Query)> = Vec::with_capacity(with.cte_tables.len());
    for cte in &with.cte_tables {
        if !cte.alias.columns.is_empty() {
            return Err(unsupported("WITH t(columns) across shards; name the columns in the CTE's SELECT instead"));
        }
        let mut body = (*cte.query).clone();
        let _ = body.visit(&mut Replace { defs: &defs });
        defs.push((cte.alias.name.value.clone(), body));
    }
    let mut out = q.clone();
    out.with = None;
    let _ = out.visit(&mut Replace { defs: &defs });
    Ok(Some(out))
}

struct Replace<'a> {
    defs: &'a [(String, Query)],
}

impl VisitorMut for Replace<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = tf else { return ControlFlow::Continue(()) };
        let [part] = name.0.as_slice() else { return ControlFlow::Continue(()) };
        let Some(ident) = part.as_ident() else { return ControlFlow::Continue(()) };
        // The latest CTE of that name (MariaDB compares CTE names as table names: exactly).
        let Some((cte, body)) = self.defs.iter().rev().find(|(n, _)| *n == ident.value) else {
            return ControlFlow::Continue(());
        };
        let alias = alias.clone().unwrap_or(TableAlias {
            explicit: true,
            name: Ident::new(cte),
            columns: Vec::new(),
            at: None,
        });
        *tf =
            TableFactor::Derived { lateral: false, subquery: Box::new(body.clone()), alias: Some(alias), sample: None };
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inlined(sql: &str) -> Result<Option<String>, GatewayError> {
        let stmt = crate::sql::parse::parse(sql).unwrap().remove(0);
        let sqlparser::ast::Statement::Query(q) = stmt else { panic!() };
        inline(&q).map(|o| o.map(|q| q.to_string()))
    }

    #[test]
    fn ctes_become_derived_tables() {
        assert_eq!(
            inlined("with t as (select customer_id from customer) select count(*) from t").unwrap().as_deref(),
            Some("SELECT count(*) FROM (SELECT customer_id FROM customer) AS t")
        );
        assert_eq!(
            inlined("with a as (select 1 as x), b as (select x from a) select * from b as bb").unwrap().as_deref(),
            Some("SELECT * FROM (SELECT x FROM (SELECT 1 AS x) AS a) AS bb")
        );
        assert!(inlined("with recursive r as (select 1) select * from r").is_err());
        assert!(inlined("with t(a) as (select 1) select * from t").is_err());
        assert_eq!(inlined("select 1").unwrap(), None);
    }
}
