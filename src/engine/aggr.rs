//! Grouping and aggregation in the gateway: merging the shards' partial aggregates, or
//! aggregating raw rows (joins across routes, DISTINCT aggregates), with MySQL's result types.

use std::collections::{HashMap, HashSet};

use crate::plan::expr::Ev;
use crate::plan::pipeline::{AggKind, Grouping};
use crate::plan::value::{compare, field_for, Dec, Kind, Val};
use crate::plan::EngineError;
use crate::protocol::tablet::{Field, Row};

enum Acc {
    Count(i128),
    Sum(Option<Val>),
    Best(Option<(Val, Option<Vec<u8>>)>),
    Avg(Option<Val>, i128),
    Any(Option<Val>),
    Concat(Option<Vec<u8>>),
    /// GROUP_CONCAT with ORDER BY: each value with its sort keys, joined when the group ends.
    Ordered(Vec<(SortKeys, Vec<u8>)>),
}

/// A value's GROUP_CONCAT sort keys, each with its weight string.
type SortKeys = Vec<(Val, Option<Vec<u8>>)>;

/// MariaDB's default `group_concat_max_len`: a longer list is cut there.
const GROUP_CONCAT_MAX_LEN: usize = 1 << 20;

fn add(acc: &mut Option<Val>, v: Val) -> Result<(), EngineError> {
    let v = match v {
        Val::Int(i) => Val::Dec(Dec::int(i)),
        Val::Str(..) => Val::Float(v.to_num().map(|n| n.f64()).unwrap_or(0.0)),
        other => other,
    };
    *acc = Some(match (acc.take(), v) {
        (None, v) => v,
        (Some(Val::Dec(a)), Val::Dec(b)) => Val::Dec(a.plus(b)?),
        (Some(a), b) => {
            Val::Float(a.to_num().map(|n| n.f64()).unwrap_or(0.0) + b.to_num().map(|n| n.f64()).unwrap_or(0.0))
        }
    });
    Ok(())
}

struct Group {
    keys: Vec<Val>,
    weights: Vec<Option<Vec<u8>>>,
    accs: Vec<Acc>,
    seen: Vec<HashSet<Vec<u8>>>,
}

/// Groups `rows`; the result's columns are the keys, the aggregates, then the weight strings
/// of the keys that have one.
pub fn aggregate(g: &Grouping, fields: &[Field], rows: Vec<Row>) -> Result<(Vec<Field>, Vec<Row>), EngineError> {
    let kinds: Vec<Kind> = fields.iter().map(Kind::of).collect();
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let new_group = |keys: Vec<Val>, weights: Vec<Option<Vec<u8>>>| Group {
        keys,
        weights,
        accs: g
            .aggs
            .iter()
            .map(|a| match a.kind {
                AggKind::CountStar | AggKind::Count => Acc::Count(0),
                AggKind::Sum => Acc::Sum(None),
                AggKind::Min | AggKind::Max => Acc::Best(None),
                AggKind::Avg => Acc::Avg(None, 0),
                AggKind::AnyValue => Acc::Any(None),
                AggKind::GroupConcat if !a.order.is_empty() => Acc::Ordered(Vec::new()),
                AggKind::GroupConcat => Acc::Concat(None),
            })
            .collect(),
        seen: g.aggs.iter().map(|_| HashSet::new()).collect(),
    };
    if g.scalar {
        groups.push(new_group(Vec::new(), Vec::new()));
        index.insert(Vec::new(), 0);
    }
    let mut key = Vec::new();
    for row in &rows {
        key.clear();
        let mut kv = Vec::with_capacity(g.keys.len());
        for (ev, w, _) in &g.keys {
            let v = ev.eval(row, &kinds)?;
            v.key(w.and_then(|w| row.get(w)?.as_deref()), &mut key);
            kv.push(v);
        }
        let gi = match index.get(&key) {
            Some(i) => *i,
            None => {
                let weights = g.keys.iter().map(|(_, w, _)| w.and_then(|w| row.get(w).cloned().flatten())).collect();
                groups.push(new_group(kv, weights));
                index.insert(key.clone(), groups.len() - 1);
                groups.len() - 1
            }
        };
        let grp = &mut groups[gi];
        for (ai, a) in g.aggs.iter().enumerate() {
            let v = match &a.arg {
                Some(e) => e.eval(row, &kinds)?,
                None => Val::Int(1),
            };
            let weight = a.weight.and_then(|w| row.get(w).cloned().flatten());
            if a.distinct && !v.is_null() {
                let mut k = Vec::new();
                v.key(weight.as_deref(), &mut k);
                if !grp.seen[ai].insert(k) {
                    continue;
                }
            }
            match (&mut grp.accs[ai], a.kind) {
                (Acc::Count(n), AggKind::CountStar) if !a.merge => *n += 1,
                (Acc::Count(n), _) if a.merge => match v {
                    Val::Int(i) => *n += i,
                    other => *n += other.to_num().map(|x| x.f64() as i128).unwrap_or(0),
                },
                (Acc::Count(n), _) => *n += i128::from(!v.is_null()),
                (Acc::Sum(s), _) if !v.is_null() => add(s, v)?,
                (Acc::Best(b), kind) if !v.is_null() => {
                    let better = match b {
                        None => true,
                        Some((cur, cw)) => {
                            let o = compare(&v, cur, weight.as_deref(), cw.as_deref());
                            (kind == AggKind::Min && o.is_lt()) || (kind == AggKind::Max && o.is_gt())
                        }
                    };
                    if better {
                        *b = Some((v, weight));
                    }
                }
                (Acc::Avg(s, n), _) => {
                    if a.merge {
                        let c = a.count_arg.and_then(|c| row.get(c).cloned().flatten());
                        let c: i128 = c.and_then(|c| std::str::from_utf8(&c).ok()?.parse().ok()).unwrap_or(0);
                        if c > 0 && !v.is_null() {
                            add(s, v)?;
                            *n += c;
                        }
                    } else if !v.is_null() {
                        add(s, v)?;
                        *n += 1;
                    }
                }
                (Acc::Any(x), _) if x.is_none() => *x = Some(v),
                (Acc::Ordered(items), _) if !v.is_null() => {
                    let mut keys = Vec::with_capacity(a.order.len());
                    for (col, w, _) in &a.order {
                        let k = Ev::Col(*col).eval(row, &kinds)?;
                        keys.push((k, w.and_then(|w| row.get(w).cloned().flatten())));
                    }
                    items.push((keys, v.to_cell().unwrap_or_default()));
                }
                (Acc::Concat(list), _) if !v.is_null() => {
                    let bytes = v.to_cell().unwrap_or_default();
                    match list {
                        Some(l) if l.len() < GROUP_CONCAT_MAX_LEN => {
                            l.extend_from_slice(&a.separator);
                            l.extend_from_slice(&bytes);
                        }
                        Some(_) => {}
                        None => *list = Some(bytes),
                    }
                }
                _ => {}
            }
        }
    }
    // Output fields: keys keep their input column's description when they are plain columns.
    let mut out_fields: Vec<Field> = Vec::new();
    for (ev, _, name) in &g.keys {
        let mut f = match ev {
            Ev::Col(i) => fields.get(*i).cloned().unwrap_or_else(|| field_for(name, Kind::Text { binary: true }, 0)),
            _ => {
                let sample = groups.iter().map(|gr| &gr.keys[out_fields.len()]).find(|v| !v.is_null());
                field_for(name, sample.map(kind_of_val).unwrap_or(Kind::Text { binary: true }), 0)
            }
        };
        f.name = name.clone();
        out_fields.push(f);
    }
    for a in &g.aggs {
        let input = match &a.arg {
            Some(Ev::Col(i)) => fields.get(*i).cloned(),
            _ => None,
        };
        let in_kind = input.as_ref().map(Kind::of);
        let in_dec = input.as_ref().map(|f| if Kind::of(f) == Kind::Decimal { f.decimals } else { 0 }).unwrap_or(0);
        let float = matches!(in_kind, Some(Kind::Float | Kind::Text { .. } | Kind::Temporal));
        let mut f = match a.kind {
            AggKind::CountStar | AggKind::Count => field_for(&a.name, Kind::Int, 0),
            AggKind::Sum if float => field_for(&a.name, Kind::Float, 0),
            AggKind::Sum => field_for(&a.name, Kind::Decimal, in_dec),
            AggKind::Avg if float => field_for(&a.name, Kind::Float, 0),
            AggKind::Avg => field_for(&a.name, Kind::Decimal, in_dec + 4),
            AggKind::Min | AggKind::Max | AggKind::AnyValue => {
                input.clone().unwrap_or_else(|| field_for(&a.name, Kind::Text { binary: true }, 0))
            }
            AggKind::GroupConcat => {
                // TEXT (BLOB of a text character set), as MariaDB describes it.
                let binary = input.as_ref().is_some_and(|f| f.charset == 63 && Kind::of(f) != Kind::Int);
                let mut f = field_for(&a.name, Kind::Text { binary }, 0);
                f.column_type = 252;
                f.column_length = GROUP_CONCAT_MAX_LEN as u32;
                f
            }
        };
        f.name = a.name.clone();
        out_fields.push(f);
    }
    let mut out = Vec::with_capacity(groups.len());
    for grp in groups {
        let mut row: Row = grp.keys.iter().map(Val::to_cell).collect();
        for (acc, a) in grp.accs.into_iter().zip(&g.aggs) {
            let v = match acc {
                Acc::Count(n) => Val::Int(n),
                Acc::Sum(s) => s.unwrap_or(Val::Null),
                Acc::Best(b) => b.map(|(v, _)| v).unwrap_or(Val::Null),
                Acc::Any(x) => x.unwrap_or(Val::Null),
                Acc::Concat(list) => match list {
                    Some(mut l) => {
                        l.truncate(GROUP_CONCAT_MAX_LEN);
                        Val::Str(l, false)
                    }
                    None => Val::Null,
                },
                Acc::Ordered(mut items) if !items.is_empty() => {
                    items.sort_by(|(x, _), (y, _)| {
                        x.iter()
                            .zip(y)
                            .zip(&a.order)
                            .map(|(((vx, wx), (vy, wy)), (_, _, desc))| {
                                let o = compare(vx, vy, wx.as_deref(), wy.as_deref());
                                if *desc {
                                    o.reverse()
                                } else {
                                    o
                                }
                            })
                            .find(|o| o.is_ne())
                            .unwrap_or(std::cmp::Ordering::Equal)
                    });
                    let mut l: Vec<u8> = Vec::new();
                    for (i, (_, bytes)) in items.into_iter().enumerate() {
                        if l.len() >= GROUP_CONCAT_MAX_LEN {
                            break;
                        }
                        if i > 0 {
                            l.extend_from_slice(&a.separator);
                        }
                        l.extend_from_slice(&bytes);
                    }
                    l.truncate(GROUP_CONCAT_MAX_LEN);
                    Val::Str(l, false)
                }
                Acc::Ordered(_) => Val::Null,
                Acc::Avg(None, _) | Acc::Avg(_, 0) => Val::Null,
                Acc::Avg(Some(Val::Dec(s)), n) => {
                    let input = fields.get(col_of(&a.arg));
                    let scale = input.filter(|f| Kind::of(f) == Kind::Decimal).map(|f| f.decimals).unwrap_or(0);
                    Dec::div(s, Dec::int(n), (scale + 4).min(30))?.map(Val::Dec).unwrap_or(Val::Null)
                }
                Acc::Avg(Some(s), n) => Val::Float(s.to_num().map(|x| x.f64()).unwrap_or(0.0) / n as f64),
            };
            row.push(v.to_cell());
        }
        for ((_, w, _), cell) in g.keys.iter().zip(grp.weights) {
            if w.is_some() {
                row.push(cell);
            }
        }
        out.push(row);
    }
    for (_, w, name) in &g.keys {
        if w.is_some() {
            out_fields.push(field_for(&format!("weight_string({name})"), Kind::Text { binary: true }, 0));
        }
    }
    Ok((out_fields, out))
}

fn col_of(e: &Option<Ev>) -> usize {
    match e {
        Some(Ev::Col(i)) => *i,
        _ => usize::MAX,
    }
}

/// The kind of a computed value (for its column's description).
pub fn kind_of_val(v: &Val) -> Kind {
    match v {
        Val::Int(_) | Val::Null => Kind::Int,
        Val::Dec(_) => Kind::Decimal,
        Val::Float(_) => Kind::Float,
        Val::Str(_, b) => Kind::Text { binary: *b },
    }
}
