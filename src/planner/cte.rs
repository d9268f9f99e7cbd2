//! `WITH` (non-recursive common table expressions) across shards: each reference to a CTE
//! becomes the derived table it names (`FROM t` -> `FROM (<its query>) AS t`), earlier CTEs
//! inlined into later ones, and the query is planned like any other with derived tables.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Query, SelectItem, SetExpr, TableAlias, TableFactor, VisitMut, VisitorMut};

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
        let mut body = (*cte.query).clone();
        if !cte.alias.columns.is_empty() {
            let names: Vec<Ident> = cte.alias.columns.iter().map(|c| c.name.clone()).collect();
            name_columns(&mut body, &names)?;
        }
        let _ = body.visit(&mut Replace { defs: &defs });
        defs.push((cte.alias.name.value.clone(), body));
    }
    let mut out = q.clone();
    out.with = None;
    let _ = out.visit(&mut Replace { defs: &defs });
    Ok(Some(out))
}

/// `WITH t(a, b) AS (SELECT x, y ...)`: the body's columns take the list's names (`x AS a,
/// y AS b`; in a UNION, its first part's, which name the result's). A `*` cannot be named
/// without the table's columns, and a renamed alias an ORDER BY may refer to is refused.
fn name_columns(body: &mut Query, names: &[Ident]) -> Result<(), GatewayError> {
    let mut part = body.body.as_mut();
    let select = loop {
        match part {
            SetExpr::Select(s) => break s,
            SetExpr::SetOperation { left, .. } => part = left.as_mut(),
            SetExpr::Query(q) if q.order_by.is_none() && q.limit_clause.is_none() => part = q.body.as_mut(),
            _ => {
                return Err(unsupported(
                    "WITH t(columns) over this CTE body across shards; name the columns in its SELECT",
                ))
            }
        }
    };
    if select.projection.len() != names.len() {
        // MariaDB's own error (ER_WITH_COL_WRONG_LIST).
        return Err(GatewayError::Tablet(crate::protocol::tablet::TabletError::Mysql {
            code: 4002,
            state: "HY000".into(),
            message: "WITH column list and SELECT field list have different column counts".into(),
        }));
    }
    let ordered = body.order_by.is_some();
    for (item, name) in select.projection.iter_mut().zip(names) {
        let expr = match item {
            SelectItem::UnnamedExpr(e) => e.clone(),
            SelectItem::ExprWithAlias { expr, .. } if !ordered => expr.clone(),
            _ => {
                return Err(unsupported(
                    "WITH t(columns) whose body selects `*` or orders by a renamed alias, across shards; name the columns in the CTE's SELECT",
                ))
            }
        };
        *item = SelectItem::ExprWithAlias { expr, alias: name.clone() };
    }
    Ok(())
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
        assert_eq!(
            inlined("with t(a, b) as (select x, y + 1 from c union select 1, 2) select a from t").unwrap().as_deref(),
            Some("SELECT a FROM (SELECT x AS a, y + 1 AS b FROM c UNION SELECT 1, 2) AS t")
        );
        assert!(inlined("with t(a) as (select * from c) select * from t").is_err());
        assert!(inlined("with t(a) as (select x as y from c order by y limit 1) select * from t").is_err());
        let e = inlined("with t(a, b) as (select 1) select * from t").unwrap_err();
        assert!(e.to_string().contains("different column counts"), "{e}");
        assert_eq!(inlined("select 1").unwrap(), None);
    }
}
