//! Lookup vindexes: a table maps column values to keyspace ids. Routing consults it; a table
//! that owns the vindex keeps it current: its inserts add mappings, its deletes remove them.
//! Lookup tables live in an unsharded keyspace.

use std::collections::BTreeSet;

use sqlparser::ast::Expr;

use super::error::GatewayError;
use super::exec::{self, Answer, SessionState};
use super::plan::{keyspace_id, literal};
use super::view::RoutingView;
use crate::client::TabletClient;
use crate::protocol::topology::TabletType;
use crate::topo::state::Keyspace;
use crate::vindex::{Configured, Value};

/// Where a lookup vindex keeps its mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupDef {
    pub name: String,
    pub keyspace: String,
    pub shard: String,
    pub table: String,
    pub from: String,
    pub to: String,
}

/// A statement routed by a lookup vindex, or a delete that must unmap owned lookups first.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub keyspace: String,
    pub sql: String,
    pub tablet_type: TabletType,
    /// Route by this lookup and these values (else: `shards`).
    pub filter: Option<(LookupDef, Vec<Value>)>,
    pub shards: Vec<String>,
    /// Set when the statement cannot run on several shards at once.
    pub scatter_error: Option<String>,
    /// For deletes: a select of (primary vindex column, lookup columns...) and the lookups.
    pub cleanup: Option<(String, String, Vec<LookupDef>)>,
}

/// The lookup vindex `name` of keyspace `ks`, resolved to its table's keyspace and shard.
pub fn def(view: &RoutingView, ks: &Keyspace, name: &str) -> Result<Option<(LookupDef, String)>, GatewayError> {
    let Some(Configured::Lookup { table, from, to, owner, .. }) = view.vindexes.get(&ks.name).and_then(|m| m.get(name))
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
    if lk.vschema.as_ref().is_some_and(|v| v.sharded) {
        return Err(GatewayError::Unsupported(format!(
            "lookup vindex `{name}` keeps its table in sharded keyspace `{lks}`; put lookup tables in an unsharded keyspace"
        )));
    }
    let shard = view.serving_shards(lk, TabletType::Primary).into_iter().next().ok_or_else(|| {
        GatewayError::Routing { keyspace: lks.clone(), message: "has no serving shard for lookup tables".into() }
    })?;
    Ok(Some((
        LookupDef { name: name.into(), keyspace: lks, shard, table: ltable, from: from.clone(), to: to.clone() },
        owner.clone(),
    )))
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
    for cv in t.column_vindexes.iter().skip(1) {
        let cols = cv.column_list();
        let [col] = cols.as_slice() else { continue };
        if let Some(values) = super::plan::vindex_values(sel, col) {
            if let Some((d, _)) = def(view, ks, &cv.name)? {
                return Ok(Some((d, values)));
            }
        }
    }
    Ok(None)
}

fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bytes(b) => crate::sql::quote_bytes(b),
    }
}

/// Keyspace ids the lookup maps `values` to.
async fn keyspace_ids(
    tc: &TabletClient,
    s: &mut SessionState,
    d: &LookupDef,
    values: &[Value],
) -> Result<Vec<Vec<u8>>, GatewayError> {
    let list: Vec<String> = values.iter().map(sql_literal).collect();
    let sql = format!(
        "select {} from {} where {} in ({})",
        crate::sql::quote_ident(&d.to),
        crate::sql::quote_ident(&d.table),
        crate::sql::quote_ident(&d.from),
        list.join(", ")
    );
    let r = exec::run_on_shard(tc, s, &d.keyspace, &d.shard, TabletType::Primary, &sql).await?;
    Ok(r.rows.into_iter().filter_map(|row| row.into_iter().next().flatten()).collect())
}

/// Adds mappings `(value, keyspace id)` to a lookup table.
pub async fn map(
    tc: &TabletClient,
    s: &mut SessionState,
    d: &LookupDef,
    pairs: &[(String, Vec<u8>)],
) -> Result<(), GatewayError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = pairs.iter().map(|(v, k)| format!("({v}, X'{}')", hex::encode(k))).collect();
    let sql = format!(
        "insert into {} ({}, {}) values {}",
        crate::sql::quote_ident(&d.table),
        crate::sql::quote_ident(&d.from),
        crate::sql::quote_ident(&d.to),
        rows.join(", ")
    );
    exec::run_on_shard(tc, s, &d.keyspace, &d.shard, TabletType::Primary, &sql).await?;
    Ok(())
}

/// Runs a statement routed by a lookup, or a delete that unmaps owned lookups first.
pub async fn run(
    tc: &TabletClient,
    view: &RoutingView,
    s: &mut SessionState,
    p: LookupPlan,
) -> Result<Answer, GatewayError> {
    let ks = view.keyspace(&p.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(p.keyspace.clone()))?.clone();
    let mut shards = p.shards.clone();
    if let Some((d, values)) = &p.filter {
        let ids = keyspace_ids(tc, s, d, values).await?;
        let wanted: BTreeSet<String> = ids.iter().filter_map(|k| view.shard_for(&ks, k, p.tablet_type)).collect();
        let all = view.serving_shards(&ks, p.tablet_type);
        shards = all.iter().filter(|s| wanted.contains(*s)).cloned().collect();
        if shards.is_empty() {
            // Nothing is mapped: one shard answers with the right columns and no rows.
            shards = all.into_iter().take(1).collect();
        }
    }
    if shards.len() > 1 {
        if let Some(e) = &p.scatter_error {
            return Err(GatewayError::Unsupported(e.clone()));
        }
    }
    let Some((select, vindex, lookups)) = &p.cleanup else {
        return exec::run_route(tc, s, &p.keyspace, &shards, &p.sql, p.tablet_type).await;
    };
    let own = begin_own(s);
    let result = unmap_and_delete(tc, view, s, &p, &shards, select, vindex, lookups).await;
    end_own(tc, s, own, result).await
}

#[allow(clippy::too_many_arguments)]
async fn unmap_and_delete(
    tc: &TabletClient,
    view: &RoutingView,
    s: &mut SessionState,
    p: &LookupPlan,
    shards: &[String],
    select: &str,
    vindex: &str,
    lookups: &[LookupDef],
) -> Result<Answer, GatewayError> {
    let doomed = exec::run_route(tc, s, &p.keyspace, shards, select, TabletType::Primary).await?;
    // Every doomed row's mappings go: bounded like any result the gateway holds.
    if let Some(rows) = doomed.rows(usize::MAX).await? {
        for row in &rows.rows {
            let Some(Some(pv)) = row.first() else { continue };
            let ksid = keyspace_id(view, &p.keyspace, vindex, &Value::Bytes(pv.clone()))?;
            for (i, d) in lookups.iter().enumerate() {
                let Some(Some(v)) = row.get(i + 1) else { continue };
                let sql = format!(
                    "delete from {} where {} = {} and {} = X'{}'",
                    crate::sql::quote_ident(&d.table),
                    crate::sql::quote_ident(&d.from),
                    crate::sql::quote_bytes(v),
                    crate::sql::quote_ident(&d.to),
                    hex::encode(&ksid)
                );
                exec::run_on_shard(tc, s, &d.keyspace, &d.shard, TabletType::Primary, &sql).await?;
            }
        }
    }
    exec::run_route(tc, s, &p.keyspace, shards, &p.sql, TabletType::Primary).await
}

/// Like [`begin_own`], only when `needed`.
pub fn begin_own_if(s: &mut SessionState, needed: bool) -> bool {
    needed && begin_own(s)
}

/// Opens a transaction of the gateway's own when the client has none (so lookup rows and table
/// rows change together); returns whether it did.
pub fn begin_own(s: &mut SessionState) -> bool {
    let own = !s.in_transaction;
    s.in_transaction = true;
    own
}

/// Ends a transaction opened by [`begin_own`]: commit on success, roll back on error.
pub async fn end_own(
    tc: &TabletClient,
    s: &mut SessionState,
    own: bool,
    result: Result<Answer, GatewayError>,
) -> Result<Answer, GatewayError> {
    if !own {
        return result;
    }
    match result {
        Ok(answer) => {
            exec::commit(tc, s).await?;
            Ok(answer)
        }
        Err(e) => {
            exec::rollback(tc, s).await;
            Err(e)
        }
    }
}

/// Literal text of a lookup column value in an insert row, `None` for NULL or non-literals.
pub fn insert_value(e: &Expr) -> Option<String> {
    literal(e).map(|v| sql_literal(&v))
}
