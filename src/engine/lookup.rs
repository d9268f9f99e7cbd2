//! Lookup vindexes: a table maps column values to keyspace ids. Routing consults it; a table
//! that owns the vindex keeps it current: its inserts add mappings, its deletes remove them.
//! A lookup table lives in an unsharded keyspace, or in a sharded one spread by its `from`
//! column (each value's mappings on the shard its own vindex names).

use std::collections::{BTreeMap, BTreeSet};

use super::exec::{self, Answer};
use super::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::{GatewayError, LookupDef, LookupPlace, LookupPlan};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::topo::state::Keyspace;
use crate::vindex::Value;

/// The shard of `d`'s table that holds (or is to hold) the mappings of `value`.
fn shard_of(view: &RoutingView, d: &LookupDef, value: &Value) -> Result<String, GatewayError> {
    let vindex = match &d.place {
        LookupPlace::Shard(shard) => return Ok(shard.clone()),
        LookupPlace::Vindex(vindex) => vindex,
    };
    let ks = view.keyspace(&d.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(d.keyspace.clone()))?;
    let ksid = view.keyspace_id(&d.keyspace, vindex, value)?;
    view.shard_for(ks, &ksid, TabletType::Primary).ok_or_else(|| GatewayError::Routing {
        keyspace: d.keyspace.clone(),
        message: format!("no serving shard holds the lookup rows of `{}` for {}", d.table, value.to_sql()),
    })
}

/// `items` grouped by the shard of `d`'s table that `value` of each names.
fn by_shard<'a, T>(
    view: &RoutingView,
    d: &LookupDef,
    items: &'a [T],
    value: impl Fn(&T) -> &Value,
) -> Result<BTreeMap<String, Vec<&'a T>>, GatewayError> {
    let mut out: BTreeMap<String, Vec<&T>> = BTreeMap::new();
    for item in items {
        out.entry(shard_of(view, d, value(item))?).or_default().push(item);
    }
    Ok(out)
}

/// Keyspace ids the lookup maps `tuples` (one value per lookup column) to.
async fn keyspace_ids(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    d: &LookupDef,
    tuples: &[Vec<Value>],
) -> Result<Vec<Vec<u8>>, GatewayError> {
    const NULL: Value = Value::Null;
    let mut ids = Vec::new();
    for (shard, tuples) in by_shard(view, d, tuples, |t| t.first().unwrap_or(&NULL))? {
        let literals: Vec<Vec<String>> = tuples.iter().map(|t| t.iter().map(Value::to_sql).collect()).collect();
        let sql = format!(
            "select {} from {} where {}",
            crate::sql::quote_ident(&d.to),
            crate::sql::quote_ident(&d.table),
            d.where_in(&literals)
        );
        let r = exec::run_on_shard(tc, s, &d.keyspace, &shard, TabletType::Primary, &sql).await?;
        ids.extend(
            r.rows.into_iter().filter_map(|row| row.into_iter().next().flatten()).filter_map(|k| d.keyspace_id(&k)),
        );
    }
    Ok(ids)
}

/// The keyspace id of each of `values` through unique lookup `d`, read from its table (an
/// insert into a table whose primary vindex is `d` goes where the mapping says). A value
/// without a mapping, or with several, is an error naming it.
pub async fn map_values(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    d: &LookupDef,
    values: &[Value],
) -> Result<Vec<Vec<u8>>, GatewayError> {
    let mut found: Vec<Option<Vec<u8>>> = vec![None; values.len()];
    let indexed: Vec<(usize, &Value)> = values.iter().enumerate().collect();
    for (shard, items) in by_shard(view, d, &indexed, |(_, v)| v)? {
        // One statement per shard (and per 500 values): each value compared by MariaDB itself.
        for chunk in items.chunks(500) {
            let parts: Vec<String> = chunk
                .iter()
                .map(|(i, v)| {
                    format!(
                        "select {i}, {} from {} where {}",
                        crate::sql::quote_ident(&d.to),
                        crate::sql::quote_ident(&d.table),
                        d.where_eq(&[v.to_sql()])
                    )
                })
                .collect();
            let r =
                exec::run_on_shard(tc, s, &d.keyspace, &shard, TabletType::Primary, &parts.join(" union all ")).await?;
            for row in r.rows {
                let (Some(Some(i)), Some(Some(k))) = (row.first(), row.get(1)) else { continue };
                let i: usize = std::str::from_utf8(i).ok().and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
                let (Some(slot), Some(ksid)) = (found.get_mut(i), d.keyspace_id(k)) else { continue };
                match slot {
                    Some(prev) if *prev != ksid => {
                        return Err(GatewayError::Routing {
                            keyspace: d.keyspace.clone(),
                            message: format!(
                                "lookup vindex `{}` maps {} to several keyspace ids in `{}`; a unique lookup maps each value once",
                                d.name,
                                values[i].to_sql(),
                                d.table
                            ),
                        })
                    }
                    _ => *slot = Some(ksid),
                }
            }
        }
    }
    found
        .into_iter()
        .zip(values)
        .map(|(k, v)| {
            k.ok_or_else(|| GatewayError::Routing {
                keyspace: d.keyspace.clone(),
                message: format!(
                    "could not map {} to a keyspace id: lookup vindex `{}` has no row for it in `{}`; add the mapping first",
                    v.to_sql(),
                    d.name,
                    d.table
                ),
            })
        })
        .collect()
}

/// The keyspace id of a row of keyspace `ks` whose primary vindex `vindex` reads `value`:
/// computed, or read from the lookup table when the vindex is a lookup.
pub async fn keyspace_id(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    ks: &Keyspace,
    vindex: &str,
    value: &Value,
) -> Result<Vec<u8>, GatewayError> {
    match view.lookup_def(ks, vindex)? {
        Some((d, _)) => Ok(map_values(tc, view, s, &d, std::slice::from_ref(value)).await?.remove(0)),
        None => view.keyspace_id(&ks.name, vindex, value),
    }
}

/// Adds mappings `(values as SQL, first value, keyspace id)` to a lookup table.
pub async fn map(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    d: &LookupDef,
    pairs: &[(Vec<String>, Value, Vec<u8>)],
) -> Result<(), GatewayError> {
    for (shard, pairs) in by_shard(view, d, pairs, |(_, v, _)| v)? {
        let rows: Vec<String> =
            pairs.iter().map(|(v, _, k)| format!("({}, {})", v.join(", "), d.to_literal(k))).collect();
        let sql = format!(
            "insert into {} ({}, {}) values {}",
            crate::sql::quote_ident(&d.table),
            d.from_list(),
            crate::sql::quote_ident(&d.to),
            rows.join(", ")
        );
        exec::run_on_shard(tc, s, &d.keyspace, &shard, TabletType::Primary, &sql).await?;
    }
    Ok(())
}

/// Runs a statement routed by a lookup, or a delete that unmaps owned lookups first.
pub async fn run(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    p: LookupPlan,
) -> Result<Answer, GatewayError> {
    let ks = view.keyspace(&p.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(p.keyspace.clone()))?.clone();
    let mut shards = p.shards.clone();
    if let Some((d, values)) = &p.filter {
        let ids = keyspace_ids(tc, view, s, d, values).await?;
        let wanted: BTreeSet<String> = ids.iter().filter_map(|k| view.shard_for(&ks, k, p.tablet_type)).collect();
        let all = view.serving_shards(&ks, p.tablet_type);
        shards = all.iter().filter(|s| wanted.contains(*s)).cloned().collect();
        if shards.is_empty() {
            // Nothing is mapped: one shard answers with the right columns and no rows.
            shards = all.into_iter().take(1).collect();
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
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    p: &LookupPlan,
    shards: &[String],
    select: &str,
    vindex: &str,
    lookups: &[LookupDef],
) -> Result<Answer, GatewayError> {
    let ks = view.keyspace(&p.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(p.keyspace.clone()))?.clone();
    let doomed = exec::run_route(tc, s, &p.keyspace, shards, select, TabletType::Primary).await?;
    // Every doomed row's mappings go: bounded like any result the gateway holds.
    if let Some(rows) = doomed.rows(usize::MAX).await? {
        for row in &rows.rows {
            let Some(Some(pv)) = row.first() else { continue };
            let ksid = keyspace_id(tc, view, s, &ks, vindex, &Value::Bytes(pv.clone())).await?;
            // Each lookup's columns follow the primary vindex column, in order.
            let mut at = 1;
            for d in lookups {
                let cells = row.get(at..at + d.from.len()).unwrap_or_default();
                at += d.from.len();
                let values: Option<Vec<&Vec<u8>>> = cells.iter().map(Option::as_ref).collect();
                let Some(values) = values.filter(|v| v.len() == d.from.len()) else { continue };
                let shard = shard_of(view, d, &Value::Bytes(values[0].clone()))?;
                let literals: Vec<String> = values.iter().map(|v| crate::sql::quote_bytes(v)).collect();
                let sql = format!(
                    "delete from {} where {} and {} = {}",
                    crate::sql::quote_ident(&d.table),
                    d.where_eq(&literals),
                    crate::sql::quote_ident(&d.to),
                    d.to_literal(&ksid)
                );
                exec::run_on_shard(tc, s, &d.keyspace, &shard, TabletType::Primary, &sql).await?;
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
    tc: &ShardsRef,
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
