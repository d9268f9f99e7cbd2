//! `information_schema.PROCESSLIST` lists the gateway's sessions, not the tablets' connections:
//! the planner puts a marker where the table was named, and the gateway replaces it with a
//! derived table of its sessions' rows before a tablet runs the query (so WHERE, ORDER BY,
//! functions and joins with other `information_schema` tables are MariaDB's own).

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Statement, TableAlias, TableFactor, VisitMut, VisitorMut};

use crate::plan::{GatewayError, Local, Plan, Target};
use crate::routing::RoutingView;

/// What stands for the sessions' rows in the planned text.
pub const MARKER: &str = "__tessera_processlist__";

fn is_processlist(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_ascii_lowercase()).collect();
    matches!(parts.as_slice(), [db, t] if db == "information_schema" && t == "processlist")
}

struct Replace {
    found: bool,
}

impl VisitorMut for Replace {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = tf {
            if is_processlist(name) {
                self.found = true;
                *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(MARKER))]);
                // Columns qualified by the table's own name still resolve.
                alias.get_or_insert_with(|| TableAlias {
                    explicit: true,
                    name: Ident::new("PROCESSLIST"),
                    columns: Vec::new(),
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// The plan of a statement over `information_schema.PROCESSLIST`, or `None` when it names none.
pub(super) fn plan(stmt: &Statement, target: &Target, view: &RoutingView) -> Result<Option<Plan>, GatewayError> {
    let mut stmt = stmt.clone();
    let mut r = Replace { found: false };
    let _ = stmt.visit(&mut r);
    if !r.found {
        return Ok(None);
    }
    let (keyspace, shard) = super::route::any_tablet(target, view)?;
    Ok(Some(Plan::Local(Local::ProcessListQuery { keyspace, shard, sql: stmt.to_string() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_becomes_the_marker_with_its_name_as_alias() {
        let view = crate::routing::example_view();
        let t = Target::parse("customer").unwrap();
        let stmt =
            crate::sql::parse::parse("select id, info from information_schema.PROCESSLIST where command <> 'Sleep'")
                .unwrap()
                .remove(0);
        let Some(Plan::Local(Local::ProcessListQuery { sql, .. })) = plan(&stmt, &t, &view).unwrap() else { panic!() };
        assert_eq!(sql, format!("SELECT id, info FROM {MARKER} AS PROCESSLIST WHERE command <> 'Sleep'"));
        let stmt = crate::sql::parse::parse("select p.id from information_schema.processlist p").unwrap().remove(0);
        let Some(Plan::Local(Local::ProcessListQuery { sql, .. })) = plan(&stmt, &t, &view).unwrap() else { panic!() };
        assert_eq!(sql, format!("SELECT p.id FROM {MARKER} p"));
        let stmt = crate::sql::parse::parse("select * from information_schema.tables").unwrap().remove(0);
        assert!(plan(&stmt, &t, &view).unwrap().is_none());
    }
}
