//! Nested-loop joins across routes: the left side's rows are read, and the right side's query
//! runs once per batch of left rows with the batch's join values bound as an IN list (routed
//! by them when they are the right table's vindex column). Rows are then matched in the gateway.

use std::collections::{BTreeSet, HashMap};

use super::{route, source, too_many, Ctx, Rows};
use crate::engine::session::SessionState;
use crate::plan::pipeline::{JoinKind, JoinSpec, RouteSpec};
use crate::plan::value::{Dec, Kind, Val};
use crate::plan::GatewayError;
use crate::protocol::tablet::{Field, Row};

fn literal_sql(v: &Val) -> String {
    match v {
        Val::Str(b, _) => crate::sql::quote_bytes(b),
        other => other.to_cell().map(|c| String::from_utf8_lossy(&c).into_owned()).unwrap_or_else(|| "NULL".into()),
    }
}

/// The matching key of a value; `None` for NULL (matches nothing).
fn key(v: &Val, string_mode: bool, binary: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match v {
        Val::Null => return None,
        Val::Str(b, _) if string_mode => {
            Val::Str(b.clone(), binary).key(None, &mut out);
        }
        other => {
            let n = other.to_num()?;
            let d = match n {
                crate::plan::value::Num::Dec(d) => d,
                crate::plan::value::Num::Float(f) => match Dec::parse(&format!("{f}")) {
                    Some(d) => d,
                    None => {
                        Val::Float(f).key(None, &mut out);
                        return Some(out);
                    }
                },
            };
            Val::Dec(d).key(None, &mut out);
        }
    }
    Some(out)
}

fn combine(l: &Row, r: Option<&Row>, lk: usize, rk: usize, rw: usize) -> Row {
    let mut row = Vec::with_capacity(l.len() + rw);
    row.extend(l.iter().take(lk).cloned());
    match r {
        Some(r) => row.extend(r.iter().take(rk).cloned()),
        None => row.extend(std::iter::repeat_n(None, rk)),
    }
    row.extend(l.iter().skip(lk).cloned());
    match r {
        Some(r) => row.extend(r.iter().skip(rk).cloned()),
        None => row.extend(std::iter::repeat_n(None, rw.saturating_sub(rk))),
    }
    row
}

pub async fn run(j: &JoinSpec, cx: &Ctx<'_>, s: &mut SessionState) -> Result<Rows, GatewayError> {
    let (lfields, lrows) = source(&j.left, cx, s).await?;
    let lkinds: Vec<Kind> = lfields.iter().map(Kind::of).collect();
    let mut rfields: Option<Vec<Field>> = None;
    let mut out = Vec::new();
    let mut once: Option<Vec<Row>> = None;
    for batch in lrows.chunks(crate::plan::pipeline::JOIN_BATCH) {
        // Left key values of the batch.
        let mut lkeys: Vec<Vec<Val>> = Vec::with_capacity(batch.len());
        for row in batch {
            lkeys.push(j.keys.iter().map(|k| k.left.eval(row, &lkinds)).collect::<Result<_, _>>()?);
        }
        let fetched: Vec<Row>;
        let rrows: &[Row] = if j.keys.is_empty() {
            if once.is_none() {
                let (f, r) = fetch(j, cx, s, None).await?;
                rfields = Some(f);
                once = Some(r);
            }
            once.as_deref().unwrap_or(&[])
        } else {
            // The batch's distinct non-NULL join values: as SQL literals, and for routing.
            let mut seen = BTreeSet::new();
            let (mut lits, mut vals) = (Vec::new(), Vec::new());
            for k in &lkeys {
                if k[0].is_null() {
                    continue;
                }
                let lit = literal_sql(&k[0]);
                if seen.insert(lit.clone()) {
                    lits.push(lit);
                    vals.push(k[0].clone());
                }
            }
            fetched = if lits.is_empty() {
                Vec::new()
            } else {
                let (f, r) = fetch(j, cx, s, Some((lits, vals))).await?;
                rfields = Some(f);
                r
            };
            &fetched
        };
        let rf: &[Field] = rfields.as_deref().unwrap_or(&[]);
        let rkinds: Vec<Kind> = rf.iter().map(Kind::of).collect();
        // Index the right rows by their keys.
        let modes: Vec<(bool, bool)> = j
            .keys
            .iter()
            .map(|k| match rkinds.get(k.right_col) {
                Some(Kind::Text { binary }) => (true, *binary),
                Some(Kind::Temporal) => (true, true),
                _ => (false, false),
            })
            .collect();
        let mut index: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (i, r) in rrows.iter().enumerate() {
            let mut full = Vec::new();
            let mut null = false;
            for (k, (sm, bin)) in j.keys.iter().zip(&modes) {
                let v = Val::from_cell(r.get(k.right_col).and_then(|c| c.as_deref()), rkinds[k.right_col]);
                match key(&v, *sm, *bin) {
                    Some(b) => full.extend(b),
                    None => null = true,
                }
            }
            if !null {
                index.entry(full).or_default().push(i);
            }
        }
        let all: Vec<usize> = (0..rrows.len()).collect();
        let ckinds: Vec<Kind> = combined_fields(&lfields, rf, j).iter().map(Kind::of).collect();
        for (row, kv) in batch.iter().zip(&lkeys) {
            let candidates: &[usize] = if j.keys.is_empty() {
                &all
            } else {
                let mut full = Vec::new();
                let mut null = false;
                for (v, (sm, bin)) in kv.iter().zip(&modes) {
                    let string_mode = *sm && matches!(v, Val::Str(..));
                    match key(v, string_mode, *bin) {
                        Some(b) => full.extend(b),
                        None => null = true,
                    }
                }
                if null {
                    &[]
                } else {
                    index.get(&full).map(|v| v.as_slice()).unwrap_or(&[])
                }
            };
            let mut matched = false;
            for &ri in candidates {
                let c = combine(row, Some(&rrows[ri]), j.left_explicit, j.right_explicit, rf.len());
                if let Some(on) = &j.on {
                    if on.eval(&c, &ckinds)?.truth() != Some(true) {
                        continue;
                    }
                }
                matched = true;
                out.push(c);
            }
            if !matched && j.kind == JoinKind::Left {
                out.push(combine(row, None, j.left_explicit, j.right_explicit, rf.len()));
            }
            if out.len() > cx.max_rows {
                return Err(too_many(cx.max_rows));
            }
        }
    }
    let rf = match rfields {
        Some(f) => f,
        // No right query ran (no left rows): learn the right side's columns.
        None => fetch(j, cx, s, Some((vec!["NULL".into()], Vec::new()))).await?.0,
    };
    let fields = combined_fields(&lfields, &rf, j);
    // A left row never paired (empty right results) still needs the full width.
    for r in &mut out {
        r.resize(fields.len(), None);
    }
    Ok((fields, out))
}

fn combined_fields(l: &[Field], r: &[Field], j: &JoinSpec) -> Vec<Field> {
    let mut f = Vec::with_capacity(l.len() + r.len());
    f.extend(l.iter().take(j.left_explicit).cloned());
    f.extend(r.iter().take(j.right_explicit).cloned());
    f.extend(l.iter().skip(j.left_explicit).cloned());
    f.extend(r.iter().skip(j.right_explicit).cloned());
    f
}

/// Runs the right side, for a batch's key values (as SQL literals, and as values for routing).
async fn fetch(
    j: &JoinSpec,
    cx: &Ctx<'_>,
    s: &mut SessionState,
    keys: Option<(Vec<String>, Vec<Val>)>,
) -> Result<Rows, GatewayError> {
    let mut preds = j.right_where.clone();
    let mut shards = j.right_shards.clone();
    if let Some((lits, vals)) = &keys {
        if let Some(k) = j.keys.first() {
            preds.push(format!("{} in ({})", k.right_sql, lits.join(", ")));
        }
        if let (Some(vindex), false) = (&j.right_vindex, vals.is_empty()) {
            shards = cx.view.route_values(&j.right_keyspace, vindex, vals, j.tablet_type)?;
        }
        if vals.is_empty() {
            shards.truncate(1);
        }
    }
    let mut sql = j.right_select.clone();
    if !preds.is_empty() {
        sql.push_str(" where ");
        sql.push_str(&preds.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" and "));
    }
    if shards.is_empty() {
        shards = j.right_shards.iter().take(1).cloned().collect();
        sql.push_str(if preds.is_empty() { " where 1 = 0" } else { " and 1 = 0" });
    }
    let spec = RouteSpec {
        keyspace: j.right_keyspace.clone(),
        shards,
        sql,
        tablet_type: j.tablet_type,
        merge: Vec::new(),
        tail: 0,
    };
    route(&spec, cx, s).await
}
