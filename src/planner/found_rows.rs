//! `SELECT SQL_CALC_FOUND_ROWS ... LIMIT n` and `FOUND_ROWS()`: the gateway answers both, since
//! the pooled tablet connection that ran the query is not the one that would be asked. The
//! query runs without the modifier, and the number of rows it would return without its LIMIT
//! comes from `SELECT COUNT(*) FROM (<query without ORDER BY and LIMIT>)`, planned like any
//! query (summed across shards, or over the gateway's merge for GROUP BY, DISTINCT, UNION).

use sqlparser::ast::{SetExpr, Statement};

use super::route::plan;
use crate::plan::{GatewayError, Plan, Target};
use crate::routing::RoutingView;

const MODIFIER: &str = "SQL_CALC_FOUND_ROWS";

/// The plan of a SELECT with `SQL_CALC_FOUND_ROWS`, or `None` when it has none.
pub fn plan_found_rows(text: &str, target: &Target, view: &RoutingView) -> Result<Option<Plan>, GatewayError> {
    let mut stmts = crate::sql::parse::parse(text)?;
    let [Statement::Query(q)] = stmts.as_mut_slice() else { return Ok(None) };
    if !first_select_flag(&mut q.body, true) {
        return Ok(None);
    }
    // The query as the client wrote it, less the modifier (it stands before any literal).
    let at = text
        .as_bytes()
        .windows(MODIFIER.len())
        .position(|w| w.eq_ignore_ascii_case(MODIFIER.as_bytes()))
        .ok_or_else(|| GatewayError::Syntax(format!("{MODIFIER} where the parser found none")))?;
    let query = format!("{}{}", &text[..at], &text[at + MODIFIER.len()..]);
    let mut check = crate::sql::parse::parse(&query)?;
    match check.as_mut_slice() {
        [Statement::Query(q2)] if !first_select_flag(&mut q2.body.clone(), false) => {}
        _ => return Err(GatewayError::Unsupported(format!("{MODIFIER} where a comment or name also says it"))),
    }
    q.order_by = None;
    q.limit_clause = None;
    let count = format!("select count(*) from ({q}) as found_rows");
    // Both must plan; they are planned again (from the cache) when they run.
    plan(&query, target, view)?;
    plan(&count, target, view)?;
    Ok(Some(Plan::FoundRows { query, count }))
}

/// Whether the query's first SELECT has the modifier; `clear` takes it off.
fn first_select_flag(body: &mut SetExpr, clear: bool) -> bool {
    match body {
        SetExpr::Select(s) => match s.select_modifiers.as_mut() {
            Some(m) if m.sql_calc_found_rows => {
                m.sql_calc_found_rows = !clear;
                true
            }
            _ => false,
        },
        SetExpr::SetOperation { left, .. } => first_select_flag(left, clear),
        SetExpr::Query(q) => first_select_flag(&mut q.body, clear),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_without_limit_and_runs_without_the_modifier() {
        let view = crate::routing::example_view();
        let t = Target::parse("customer").unwrap();
        let p = plan_found_rows("select SQL_CALC_FOUND_ROWS email from customer order by email limit 2", &t, &view)
            .unwrap()
            .expect("a found-rows plan");
        let Plan::FoundRows { query, count } = p else { panic!() };
        assert_eq!(query, "select  email from customer order by email limit 2");
        assert_eq!(count, "select count(*) from (SELECT email FROM customer) as found_rows");
        assert!(plan_found_rows("select email from customer", &t, &view).unwrap().is_none());
    }
}
