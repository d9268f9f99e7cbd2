//! Lookup vindexes in planning: a table's lookups, which ones it owns, and whether a WHERE
//! can be routed by one. (Running lookups and keeping them current is the engine's.)

use sqlparser::ast::Expr;

use super::route::literal;
use crate::plan::{GatewayError, LookupDef, LookupPlace};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::topo::state::Keyspace;
use crate::vindex::{Configured, Value};

/// The lookup vindex `name` of keyspace `ks`, resolved to its table's keyspace and shard.
pub fn def(view: &RoutingView, ks: &Keyspace, name: &str) -> Result<Option<(LookupDef, String)>, GatewayError> {
    let Some(Configured::Lookup { table, from, to, owner, hashed, .. }) =
        view.vindexes.get(&ks.name).and_then(|m| m.get(name))
    else {
        return Ok(None);
    };
    let [from] = from.as_slice() else {
        return Err(GatewayError::Unsupported(format!("multi-column lookup vindex `{name}`")));
    };
    let (lks, ltable) = match table.split_once('.') {
        Some((k, t)) => (k.to_string(), t.to_string()),
        None => match view.keyspaces_with_table(table).as_slice() {
            [only] => (only.clone(), table.clone()),
            _ => (ks.name.clone(), table.clone()),
        },
    };
    let lk = view.keyspace(&lks).ok_or_else(|| GatewayError::UnknownKeyspace(lks.clone()))?;
    let place =
        match lk.vschema.as_ref().filter(|v| v.sharded) {
            Some(v) => LookupPlace::Vindex(sharded_place(v, name, &lks, &ltable, from)?),
            None => LookupPlace::Shard(view.serving_shards(lk, TabletType::Primary).into_iter().next().ok_or_else(
                || GatewayError::Routing {
                    keyspace: lks.clone(),
                    message: "has no serving shard for lookup tables".into(),
                },
            )?),
        };
    Ok(Some((
        LookupDef {
            name: name.into(),
            keyspace: lks,
            place,
            table: ltable,
            from: from.clone(),
            to: to.clone(),
            hashed: *hashed,
        },
        owner.clone(),
    )))
}

/// The vindex that spreads lookup table `table` of sharded keyspace `lks` by the lookup's
/// `from` column: the table's primary vindex, which must be on that one column (else a value's
/// mappings could be on any shard and an insert would not know where to put them).
fn sharded_place(
    v: &crate::vschema::KeyspaceVSchema,
    name: &str,
    lks: &str,
    table: &str,
    from: &str,
) -> Result<String, GatewayError> {
    let primary = v.tables.get(table).and_then(|t| t.column_vindexes.first()).ok_or_else(|| {
        GatewayError::Unsupported(format!(
            "lookup vindex `{name}` keeps its table in sharded keyspace `{lks}`, whose VSchema gives table `{table}` no primary vindex; give it one on `{from}`"
        ))
    })?;
    match primary.column_list().as_slice() {
        [c] if c.eq_ignore_ascii_case(from) => Ok(primary.name.clone()),
        _ => Err(GatewayError::Unsupported(format!(
            "lookup vindex `{name}` keeps its table in sharded keyspace `{lks}`; table `{table}` must have its primary vindex on the lookup's `from` column `{from}`"
        ))),
    }
}

/// The lookup vindexes `table` owns: (column, lookup).
pub fn owned(view: &RoutingView, ks: &Keyspace, table: &str) -> Result<Vec<(String, LookupDef)>, GatewayError> {
    let Some(t) = ks.vschema.as_ref().and_then(|v| v.tables.get(table)) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for cv in t.column_vindexes.iter().skip(1) {
        if let Some((d, owner)) = def(view, ks, &cv.name)? {
            if owner == table {
                let cols = cv.column_list();
                let [col] = cols.as_slice() else {
                    return Err(GatewayError::Unsupported(format!("multi-column lookup vindex `{}`", cv.name)));
                };
                out.push((col.to_string(), d));
            }
        }
    }
    Ok(out)
}

/// A lookup vindex column of `table` that the WHERE pins, with its values.
pub fn filter(
    view: &RoutingView,
    ks: &Keyspace,
    table: &str,
    selection: Option<&Expr>,
) -> Result<Option<(LookupDef, Vec<Value>)>, GatewayError> {
    let (Some(sel), Some(t)) = (selection, ks.vschema.as_ref().and_then(|v| v.tables.get(table))) else {
        return Ok(None);
    };
    // The primary vindex too, when it is a lookup.
    for cv in &t.column_vindexes {
        let cols = cv.column_list();
        let [col] = cols.as_slice() else { continue };
        // A write-only lookup is still being backfilled: it may miss rows.
        let write_only = matches!(
            view.vindexes.get(&ks.name).and_then(|m| m.get(&cv.name)),
            Some(Configured::Lookup { write_only: true, .. })
        );
        if write_only {
            continue;
        }
        if let Some(values) = super::route::vindex_values(sel, col) {
            if let Some((d, _)) = def(view, ks, &cv.name)? {
                return Ok(Some((d, values)));
            }
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
