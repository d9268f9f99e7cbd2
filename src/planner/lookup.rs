//! Lookup vindexes in planning: a table's lookups, which ones it owns, and whether a WHERE
//! can be routed by one. (Running lookups and keeping them current is the engine's.)

use sqlparser::ast::Expr;

use super::route::literal;
use crate::plan::{GatewayError, LookupDef, LookupFilter};
use crate::routing::RoutingView;
use crate::topo::state::Keyspace;
use crate::vindex::{Configured, Value};

/// The lookup vindex `name` of keyspace `ks`, resolved to where its table is; with its owner.
pub fn def(view: &RoutingView, ks: &Keyspace, name: &str) -> Result<Option<(LookupDef, String)>, GatewayError> {
    view.lookup_def(ks, name)
}

/// The lookup vindexes `table` owns: (its columns in `table`, lookup).
pub fn owned(view: &RoutingView, ks: &Keyspace, table: &str) -> Result<Vec<(Vec<String>, LookupDef)>, GatewayError> {
    let Some(t) = ks.vschema.as_ref().and_then(|v| v.tables.get(table)) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for cv in t.column_vindexes.iter().skip(1) {
        if let Some((d, owner)) = def(view, ks, &cv.name)? {
            if owner == table {
                let cols: Vec<String> = cv.column_list().into_iter().map(str::to_string).collect();
                if cols.len() != d.from.len() {
                    return Err(GatewayError::Routing {
                        keyspace: ks.name.clone(),
                        message: format!(
                            "table `{table}` gives lookup vindex `{}` {} column(s); its table maps {}",
                            cv.name,
                            cols.len(),
                            d.from.len()
                        ),
                    });
                }
                out.push((cols, d));
            }
        }
    }
    Ok(out)
}

/// A lookup vindex of `table` whose columns the WHERE pins, with the tuples of values.
pub fn filter(
    view: &RoutingView,
    ks: &Keyspace,
    table: &str,
    selection: Option<&Expr>,
) -> Result<Option<LookupFilter>, GatewayError> {
    let (Some(sel), Some(t)) = (selection, ks.vschema.as_ref().and_then(|v| v.tables.get(table))) else {
        return Ok(None);
    };
    // The primary vindex too, when it is a lookup.
    for cv in &t.column_vindexes {
        let cols = cv.column_list();
        // A write-only lookup is still being backfilled: it may miss rows.
        let write_only = matches!(
            view.vindexes.get(&ks.name).and_then(|m| m.get(&cv.name)),
            Some(Configured::Lookup { write_only: true, .. })
        );
        if write_only {
            continue;
        }
        let lists: Option<Vec<Vec<Value>>> = cols.iter().map(|c| super::route::vindex_values(sel, c)).collect();
        let Some(tuples) = lists.and_then(|l| super::route::combinations(&l, 256)) else { continue };
        if let Some((d, _)) = def(view, ks, &cv.name)? {
            return Ok(Some((d, tuples)));
        }
    }
    Ok(None)
}

/// Literal text of a lookup column value in an insert row, `None` for NULL or non-literals.
/// A hex literal (what the gateway writes for binary strings) stays as written: MariaDB reads
/// it in the lookup table as it does in the row (a string, or a number in a numeric column).
/// The value comes too, for a lookup table that is sharded by it.
pub fn insert_value(e: &Expr) -> Option<(String, Value)> {
    match e {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::HexStringLiteral(h) => Some((e.to_string(), Value::Bytes(hex::decode(h).ok()?))),
            _ => literal(e).map(|v| (v.to_sql(), v)),
        },
        _ => literal(e).map(|v| (v.to_sql(), v)),
    }
}
