//! The gateway's execution engine for what the shards cannot do alone: merge-sorting the
//! shards' ordered results, limits, aggregation, nested-loop joins across routes, derived
//! tables and unions. The planner (`src/planner/`) builds a [`Pipeline`]; [`run`] executes
//! it over the tablets. Rows held in the gateway are bounded by a row limit (a clear error past
//! it).

pub mod aggr;
pub mod eval;
pub mod exec;
mod join;
pub mod lookup;
#[cfg(test)]
pub mod memory;
pub mod savepoint;
pub mod session;
pub mod shards;
pub mod stream;
#[cfg(test)]
mod tests;
mod union_types;

use std::cmp::Ordering;
use std::collections::HashSet;

use futures::future::BoxFuture;

use crate::engine::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::expr::Ev;
use crate::plan::pipeline::{Pipeline, Proj, RouteSpec, SortKey, Source};
use crate::plan::value::{compare, field_for, Kind, Val};
use crate::plan::GatewayError;
use crate::protocol::tablet::{Field, QueryResult, Row};
use crate::routing::RoutingView;

/// Column descriptions and rows.
pub type Rows = (Vec<Field>, Vec<Row>);
/// A projected row and its sort keys (value, weight string).
type Keyed = (Row, Vec<(Val, Option<Vec<u8>>)>);

/// What a pipeline runs with.
pub struct Ctx<'a> {
    pub tablets: &'a ShardsRef,
    pub view: &'a RoutingView,
    pub max_rows: usize,
}

fn too_many(max: usize) -> GatewayError {
    GatewayError::Other(format!(
        "the gateway would hold more than {max} rows for this query (gateway max_rows); add a LIMIT, narrow the WHERE, or raise [gateway] max_rows"
    ))
}

/// Runs a pipeline.
pub fn run<'a>(
    p: &'a Pipeline,
    cx: &'a Ctx<'a>,
    s: &'a mut SessionState,
) -> BoxFuture<'a, Result<QueryResult, GatewayError>> {
    Box::pin(async move {
        let (fields, rows) = source(&p.source, cx, s).await?;
        finish(p, cx, fields, rows)
    })
}

/// Rows of a source: (fields, rows).
pub fn source<'a>(
    src: &'a Source,
    cx: &'a Ctx<'a>,
    s: &'a mut SessionState,
) -> BoxFuture<'a, Result<Rows, GatewayError>> {
    Box::pin(async move {
        match src {
            Source::Route(r) => route(r, cx, s).await,
            Source::Join(j) => join::run(j, cx, s).await,
            Source::Derived(p, alias) => {
                let mut r = run(p, cx, s).await?;
                for f in &mut r.fields {
                    f.table = alias.clone();
                }
                Ok((r.fields, r.rows.into_vec()))
            }
            Source::Union(parts, distinct) => {
                let mut results = Vec::with_capacity(parts.len());
                let mut total = 0;
                for part in parts {
                    let r = run(part, cx, s).await?;
                    if results.first().is_some_and(|f: &QueryResult| f.fields.len() != r.fields.len()) {
                        return Err(GatewayError::Other(
                            "The used SELECT statements have a different number of columns".into(),
                        ));
                    }
                    total += r.rows.len();
                    if total > cx.max_rows {
                        return Err(too_many(cx.max_rows));
                    }
                    results.push(r);
                }
                // The column types of all parts together, each part's values written in them.
                let field_lists: Vec<&[Field]> = results.iter().map(|r| r.fields.as_slice()).collect();
                let (fields, convert) = union_types::unify(&field_lists);
                let mut rows = Vec::with_capacity(total);
                for (r, how) in results.into_iter().zip(convert) {
                    let keep = how.iter().all(|c| *c == union_types::Convert::Keep);
                    for mut row in r.rows {
                        if !keep {
                            union_types::convert_row(&mut row, &how);
                        }
                        rows.push(row);
                    }
                }
                if *distinct {
                    rows = dedup(&fields, rows);
                }
                Ok((fields, rows))
            }
        }
    })
}

/// The route of a pipeline that only passes its shards' rows through (merge-sorted, cut by
/// OFFSET/LIMIT, hidden columns stripped): such a result can go to the client as it arrives.
pub fn pass_through_route(p: &Pipeline) -> Option<&RouteSpec> {
    let plain = p.filter.is_none()
        && p.grouping.is_none()
        && p.having.is_none()
        && p.project.is_empty()
        && !p.distinct
        && p.order.is_empty();
    match &p.source {
        Source::Route(r) if plain => Some(r),
        _ => None,
    }
}

/// Runs a route; several shards' ordered results are merge-sorted.
pub async fn route(r: &RouteSpec, cx: &Ctx<'_>, s: &mut SessionState) -> Result<Rows, GatewayError> {
    let results = exec::run_shards(cx.tablets, s, &r.keyspace, &r.shards, &r.sql, r.tablet_type).await?;
    let total: usize = results.iter().map(|r| r.rows.len()).sum();
    if total > cx.max_rows {
        return Err(too_many(cx.max_rows));
    }
    let fields = results.first().map(|r| r.fields.clone()).unwrap_or_default();
    if r.merge.is_empty() || results.len() < 2 {
        let mut rows = Vec::with_capacity(total);
        for res in results {
            rows.extend(res.rows);
        }
        return Ok((fields, rows));
    }
    let kinds: Vec<Kind> = fields.iter().map(Kind::of).collect();
    let base = if r.tail > 0 { fields.len().saturating_sub(r.tail) } else { 0 };
    let keys: Vec<SortKey> = r
        .merge
        .iter()
        .map(|k| SortKey { col: k.col + base, weight: k.weight.map(|w| w + base), desc: k.desc })
        .collect();
    let mut streams: Vec<Vec<Row>> = results.into_iter().map(|r| r.rows.into_vec()).collect();
    let mut pos = vec![0usize; streams.len()];
    let mut rows = Vec::with_capacity(total);
    loop {
        let mut best: Option<usize> = None;
        for i in 0..streams.len() {
            if pos[i] >= streams[i].len() {
                continue;
            }
            best = match best {
                Some(b) if cmp_rows(&streams[i][pos[i]], &streams[b][pos[b]], &keys, &kinds) != Ordering::Less => {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        let Some(b) = best else { break };
        rows.push(std::mem::take(&mut streams[b][pos[b]]));
        pos[b] += 1;
    }
    Ok((fields, rows))
}

fn cell(row: &Row, i: usize) -> Option<&[u8]> {
    row.get(i).and_then(|c| c.as_deref())
}

pub fn cmp_rows(a: &Row, b: &Row, keys: &[SortKey], kinds: &[Kind]) -> Ordering {
    for k in keys {
        let kind = kinds.get(k.col).copied().unwrap_or(Kind::Text { binary: true });
        let (va, vb) = (Val::from_cell(cell(a, k.col), kind), Val::from_cell(cell(b, k.col), kind));
        let (wa, wb) = match k.weight {
            Some(w) if matches!(kind, Kind::Text { binary: false }) => (cell(a, w), cell(b, w)),
            _ => (None, None),
        };
        let o = compare(&va, &vb, wa, wb);
        let o = if k.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn dedup(fields: &[Field], rows: Vec<Row>) -> Vec<Row> {
    let kinds: Vec<Kind> = fields.iter().map(Kind::of).collect();
    let mut seen = HashSet::new();
    let mut key = Vec::new();
    rows.into_iter()
        .filter(|row| {
            key.clear();
            for (i, k) in kinds.iter().enumerate() {
                Val::from_cell(cell(row, i), *k).key(None, &mut key);
            }
            seen.insert(key.clone())
        })
        .collect()
}

/// Filter, group, having, project, distinct, sort, limit.
fn finish(p: &Pipeline, cx: &Ctx<'_>, fields: Vec<Field>, rows: Vec<Row>) -> Result<QueryResult, GatewayError> {
    // Pass-through: rows as the shards sent them (merged in order), minus hidden columns.
    if p.filter.is_none() && p.grouping.is_none() && p.having.is_none() && p.project.is_empty() {
        let keep = fields.len().saturating_sub(p.strip);
        let mut fields = fields;
        fields.truncate(keep);
        let rows = limit(rows, p.offset, p.limit)
            .map(|mut r| {
                r.truncate(keep);
                r
            })
            .collect();
        return Ok(QueryResult { fields, rows, ..Default::default() });
    }
    let kinds: Vec<Kind> = fields.iter().map(Kind::of).collect();
    let mut rows = rows;
    if let Some(f) = &p.filter {
        let mut kept = Vec::with_capacity(rows.len());
        for r in rows {
            if f.eval(&r, &kinds)?.truth() == Some(true) {
                kept.push(r);
            }
        }
        rows = kept;
    }
    let (fields, kinds, rows) = match &p.grouping {
        Some(g) => {
            let (f, r) = aggr::aggregate(g, &fields, rows)?;
            let k = f.iter().map(Kind::of).collect();
            (f, k, r)
        }
        None => (fields, kinds, rows),
    };
    let mut rows = rows;
    if let Some(h) = &p.having {
        let mut kept = Vec::with_capacity(rows.len());
        for r in rows {
            if h.eval(&r, &kinds)?.truth() == Some(true) {
                kept.push(r);
            }
        }
        rows = kept;
    }
    // Project, keeping sort keys beside each row.
    let star_start = if p.grouping.is_some() { fields.len() } else { p.explicit.min(fields.len()) };
    let in_star = |c: &usize, t: &Option<String>| t.as_ref().is_none_or(|t| fields[*c].table.eq_ignore_ascii_case(t));
    let mut out_fields: Vec<Field> = Vec::new();
    for item in &p.project {
        match item {
            Proj::Expr(Ev::Col(i), name) => {
                let mut f = fields.get(*i).cloned().unwrap_or_else(|| field_for(name, Kind::Text { binary: true }, 0));
                f.name = name.clone();
                out_fields.push(f);
            }
            Proj::Expr(e, name) => {
                // Described by its first non-NULL value.
                let mut sample = None;
                for r in &rows {
                    let v = e.eval(r, &kinds)?;
                    if !v.is_null() {
                        sample = Some(v);
                        break;
                    }
                }
                let decimals = if let Some(Val::Dec(d)) = &sample { d.scale } else { 0 };
                out_fields.push(field_for(name, sample.as_ref().map(aggr::kind_of_val).unwrap_or(Kind::Int), decimals));
            }
            Proj::Star(t) => {
                for (c, f) in fields.iter().enumerate().skip(star_start) {
                    if in_star(&c, t) {
                        out_fields.push(f.clone());
                    }
                }
            }
        }
    }
    let mut out: Vec<Keyed> = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut row = Vec::with_capacity(out_fields.len());
        for item in &p.project {
            match item {
                Proj::Expr(Ev::Col(i), _) => row.push(r.get(*i).cloned().flatten()),
                Proj::Expr(e, _) => row.push(e.eval(r, &kinds)?.to_cell()),
                Proj::Star(t) => {
                    for c in star_start..fields.len() {
                        if in_star(&c, t) {
                            row.push(r.get(c).cloned().flatten());
                        }
                    }
                }
            }
        }
        let mut keys = Vec::with_capacity(p.order.len());
        for k in &p.order {
            keys.push((k.ev.eval(r, &kinds)?, k.weight.and_then(|w| r.get(w).cloned().flatten())));
        }
        out.push((row, keys));
    }
    if p.distinct {
        let kinds_out: Vec<Kind> = out_fields.iter().map(Kind::of).collect();
        let mut seen = HashSet::new();
        let mut key = Vec::new();
        out.retain(|(row, _)| {
            key.clear();
            for (i, k) in kinds_out.iter().enumerate() {
                Val::from_cell(cell(row, i), *k).key(None, &mut key);
            }
            seen.insert(key.clone())
        });
    }
    if !p.order.is_empty() {
        out.sort_by(|(_, a), (_, b)| {
            for (k, ((va, wa), (vb, wb))) in p.order.iter().zip(a.iter().zip(b.iter())) {
                let o = compare(va, vb, wa.as_deref(), wb.as_deref());
                let o = if k.desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if out.len() > cx.max_rows && p.limit.is_none() {
        return Err(too_many(cx.max_rows));
    }
    let rows = limit(out.into_iter().map(|(r, _)| r).collect(), p.offset, p.limit).collect();
    Ok(QueryResult { fields: out_fields, rows, ..Default::default() })
}

fn limit(rows: Vec<Row>, offset: u64, limit: Option<u64>) -> impl Iterator<Item = Row> {
    let take = limit.map(|l| l as usize).unwrap_or(usize::MAX);
    rows.into_iter().skip(offset as usize).take(take)
}
