//! Expressions the gateway evaluates itself (over merged or joined rows), with MySQL's
//! NULL, numeric and comparison rules. Everything a shard can compute is pushed down instead;
//! this covers what is left: arithmetic and comparisons over aggregates or over columns of
//! different routes, and a handful of functions.

use std::cmp::Ordering;

use crate::plan::expr::{Arith, CmpOp, Ev, Func};
use crate::plan::value::{compare, Dec, Kind, Num, Val};
use crate::plan::EngineError;
use crate::protocol::tablet::Row;

fn bool_val(b: Option<bool>) -> Val {
    match b {
        None => Val::Null,
        Some(b) => Val::Int(i128::from(b)),
    }
}

impl Ev {
    pub fn eval(&self, row: &Row, kinds: &[Kind]) -> Result<Val, EngineError> {
        Ok(match self {
            Ev::Col(i) => Val::from_cell(
                row.get(*i).and_then(|c| c.as_deref()),
                kinds.get(*i).copied().unwrap_or(Kind::Text { binary: true }),
            ),
            Ev::Lit(v) => v.clone(),
            Ev::Arith(a, op, b) => arith(a.eval(row, kinds)?, *op, b.eval(row, kinds)?)?,
            Ev::Cmp(a, op, b) => {
                let (x, y) = (a.eval(row, kinds)?, b.eval(row, kinds)?);
                if *op == CmpOp::Spaceship {
                    return Ok(Val::Int(i128::from(match (x.is_null(), y.is_null()) {
                        (true, true) => true,
                        (false, false) => compare(&x, &y, None, None) == Ordering::Equal,
                        _ => false,
                    })));
                }
                if x.is_null() || y.is_null() {
                    return Ok(Val::Null);
                }
                let o = compare(&x, &y, None, None);
                bool_val(Some(match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::NotEq => o != Ordering::Equal,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::LtEq => o != Ordering::Greater,
                    CmpOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            Ev::And(a, b) => {
                let x = a.eval(row, kinds)?.truth();
                if x == Some(false) {
                    return Ok(Val::Int(0));
                }
                let y = b.eval(row, kinds)?.truth();
                bool_val(match (x, y) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Ev::Or(a, b) => {
                let x = a.eval(row, kinds)?.truth();
                if x == Some(true) {
                    return Ok(Val::Int(1));
                }
                let y = b.eval(row, kinds)?.truth();
                bool_val(match (x, y) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Ev::Xor(a, b) => {
                let (x, y) = (a.eval(row, kinds)?.truth(), b.eval(row, kinds)?.truth());
                bool_val(x.zip(y).map(|(x, y)| x != y))
            }
            Ev::Not(a) => bool_val(a.eval(row, kinds)?.truth().map(|b| !b)),
            Ev::Neg(a) => arith(Val::Int(0), Arith::Sub, a.eval(row, kinds)?)?,
            Ev::IsNull(a, negated) => Val::Int(i128::from(a.eval(row, kinds)?.is_null() != *negated)),
            Ev::In(a, list, negated) => {
                let x = a.eval(row, kinds)?;
                if x.is_null() {
                    return Ok(Val::Null);
                }
                let mut saw_null = false;
                for e in list {
                    let y = e.eval(row, kinds)?;
                    if y.is_null() {
                        saw_null = true;
                    } else if compare(&x, &y, None, None) == Ordering::Equal {
                        return Ok(Val::Int(i128::from(!*negated)));
                    }
                }
                if saw_null {
                    Val::Null
                } else {
                    Val::Int(i128::from(*negated))
                }
            }
            Ev::Between(a, lo, hi, negated) => {
                let (x, l, h) = (a.eval(row, kinds)?, lo.eval(row, kinds)?, hi.eval(row, kinds)?);
                if x.is_null() || l.is_null() || h.is_null() {
                    return Ok(Val::Null);
                }
                let inside =
                    compare(&x, &l, None, None) != Ordering::Less && compare(&x, &h, None, None) != Ordering::Greater;
                Val::Int(i128::from(inside != *negated))
            }
            Ev::Case { operand, whens, otherwise } => {
                let subject = operand.as_ref().map(|o| o.eval(row, kinds)).transpose()?;
                for (w, r) in whens {
                    let v = w.eval(row, kinds)?;
                    let hit = match &subject {
                        Some(s) => !s.is_null() && !v.is_null() && compare(s, &v, None, None) == Ordering::Equal,
                        None => v.truth() == Some(true),
                    };
                    if hit {
                        return r.eval(row, kinds);
                    }
                }
                match otherwise {
                    Some(o) => o.eval(row, kinds)?,
                    None => Val::Null,
                }
            }
            Ev::Func(f, args) => {
                let vals = args.iter().map(|a| a.eval(row, kinds)).collect::<Result<Vec<_>, _>>()?;
                func(*f, vals)?
            }
        })
    }
}

fn func(f: Func, mut v: Vec<Val>) -> Result<Val, EngineError> {
    let arity = |n: usize, v: &Vec<Val>| {
        if v.len() == n {
            Ok(())
        } else {
            Err(EngineError::Value(format!("{f:?} expects {n} arguments")))
        }
    };
    Ok(match f {
        Func::Coalesce => v.into_iter().find(|x| !x.is_null()).unwrap_or(Val::Null),
        Func::If => {
            arity(3, &v)?;
            let c = v[0].truth() == Some(true);
            v.swap_remove(if c { 1 } else { 2 })
        }
        Func::NullIf => {
            arity(2, &v)?;
            if !v[0].is_null() && !v[1].is_null() && compare(&v[0], &v[1], None, None) == Ordering::Equal {
                Val::Null
            } else {
                v.swap_remove(0)
            }
        }
        Func::Concat => {
            let mut out = Vec::new();
            let mut binary = false;
            for x in v {
                match x.to_cell() {
                    None => return Ok(Val::Null),
                    Some(b) => out.extend_from_slice(&b),
                }
                binary |= matches!(x, Val::Str(_, true));
            }
            Val::Str(out, binary)
        }
        Func::Abs => {
            arity(1, &v)?;
            match v.swap_remove(0) {
                Val::Int(i) => Val::Int(i.abs()),
                Val::Dec(d) => Val::Dec(Dec { m: d.m.abs(), scale: d.scale }),
                Val::Null => Val::Null,
                other => Val::Float(other.to_num().map(|n| n.f64().abs()).unwrap_or(0.0)),
            }
        }
        Func::Lower | Func::Upper => {
            arity(1, &v)?;
            match v.swap_remove(0) {
                // Case mapping does nothing to binary strings, as in MariaDB.
                s @ Val::Str(_, true) => s,
                Val::Null => Val::Null,
                other => {
                    let text = String::from_utf8_lossy(&other.to_cell().unwrap_or_default()).into_owned();
                    Val::Str(simple_case(&text, f == Func::Upper).into_bytes(), false)
                }
            }
        }
        Func::Length | Func::CharLength => {
            arity(1, &v)?;
            let x = v.swap_remove(0);
            match x.to_cell() {
                None => Val::Null,
                Some(b) if f == Func::Length || matches!(x, Val::Str(_, true)) => Val::Int(b.len() as i128),
                Some(b) => Val::Int(String::from_utf8_lossy(&b).chars().count() as i128),
            }
        }
        Func::Floor | Func::Ceil => {
            arity(1, &v)?;
            let up = f == Func::Ceil;
            match v.swap_remove(0) {
                Val::Null => Val::Null,
                Val::Int(i) => Val::Int(i),
                Val::Dec(d) => {
                    let p = 10i128
                        .checked_pow(u32::from(d.scale))
                        .ok_or_else(|| EngineError::Value("decimal scale".into()))?;
                    let q = d.m.div_euclid(p);
                    let q = if up && d.m.rem_euclid(p) != 0 { q + 1 } else { q };
                    Val::Dec(Dec { m: q, scale: 0 })
                }
                other => {
                    let x = other.to_num().map(|n| n.f64()).unwrap_or(0.0);
                    Val::Float(if up { x.ceil() } else { x.floor() })
                }
            }
        }
        Func::Year | Func::Month | Func::Day => {
            arity(1, &v)?;
            match v.swap_remove(0) {
                Val::Null => Val::Null,
                Val::Str(b, _) => date_part(&b, f).map(Val::Int).unwrap_or(Val::Null),
                other => {
                    return Err(EngineError::Unsupported(format!(
                        "{f:?}() of the number {} in the gateway",
                        String::from_utf8_lossy(&other.to_cell().unwrap_or_default())
                    )))
                }
            }
        }
        Func::Greatest | Func::Least => {
            if v.iter().any(Val::is_null) {
                return Ok(Val::Null);
            }
            let want = if f == Func::Greatest { Ordering::Greater } else { Ordering::Less };
            let mut it = v.into_iter();
            let mut best = it.next().unwrap_or(Val::Null);
            for x in it {
                if compare(&x, &best, None, None) == want {
                    best = x;
                }
            }
            best
        }
    })
}

/// Upper- or lower-case by simple (one-to-one) case mapping, as MariaDB's collations map.
fn simple_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut m: Vec<char> = if upper { c.to_uppercase().collect() } else { c.to_lowercase().collect() };
            match (m.len(), m.pop()) {
                (1, Some(one)) => one,
                _ => c,
            }
        })
        .collect()
}

/// YEAR/MONTH/DAY of `YYYY-MM-DD[ ...]` text; `None` (NULL, as MariaDB answers) otherwise.
fn date_part(b: &[u8], f: Func) -> Option<i128> {
    let t = std::str::from_utf8(b).ok()?.trim();
    let date = t.split([' ', 'T']).next()?;
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let num = |p: &str| p.parse::<i128>().ok().filter(|_| p.bytes().all(|c| c.is_ascii_digit()));
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(0..=12).contains(&m) || !(0..=31).contains(&d) {
        return None;
    }
    Some(match f {
        Func::Year => y,
        Func::Month => m,
        _ => d,
    })
}

/// MySQL arithmetic: integers stay integers (except `/`), decimals stay exact, anything with a
/// double or a string is a double; NULL in, NULL out; division by zero is NULL.
pub fn arith(a: Val, op: Arith, b: Val) -> Result<Val, EngineError> {
    let (Some(x), Some(y)) = (a.to_num(), b.to_num()) else { return Ok(Val::Null) };
    let ints = matches!(a, Val::Int(_)) && matches!(b, Val::Int(_));
    match (x, y) {
        (Num::Dec(p), Num::Dec(q)) => {
            let r = match op {
                Arith::Add => p.plus(q)?,
                Arith::Sub => p.minus(q)?,
                Arith::Mul => p.times(q)?,
                Arith::Div => {
                    return Ok(p.div(q, (p.scale + 4).min(30))?.map(Val::Dec).unwrap_or(Val::Null));
                }
                Arith::IntDiv => match p.div(q, 0)? {
                    None => return Ok(Val::Null),
                    Some(_) => {
                        let (a2, b2, _) =
                            (p.m * 10i128.pow(u32::from(q.scale)), q.m * 10i128.pow(u32::from(p.scale)), 0);
                        return Ok(Val::Int(a2 / b2));
                    }
                },
                Arith::Mod => {
                    if q.m == 0 {
                        return Ok(Val::Null);
                    }
                    let s = p.scale.max(q.scale);
                    let pa = p.m * 10i128.pow(u32::from(s - p.scale));
                    let qa = q.m * 10i128.pow(u32::from(s - q.scale));
                    Dec { m: pa % qa, scale: s }
                }
            };
            Ok(if ints && r.scale == 0 {
                if r.m > i128::from(u64::MAX) || r.m < i128::from(i64::MIN) {
                    return Err(EngineError::Value("BIGINT value is out of range".into()));
                }
                Val::Int(r.m)
            } else {
                Val::Dec(r)
            })
        }
        (x, y) => {
            let (p, q) = (x.f64(), y.f64());
            Ok(match op {
                Arith::Add => Val::Float(p + q),
                Arith::Sub => Val::Float(p - q),
                Arith::Mul => Val::Float(p * q),
                Arith::Div if q == 0.0 => Val::Null,
                Arith::Div => Val::Float(p / q),
                Arith::IntDiv if q == 0.0 => Val::Null,
                Arith::IntDiv => Val::Int((p / q).trunc() as i128),
                Arith::Mod if q == 0.0 => Val::Null,
                Arith::Mod => Val::Float(p % q),
            })
        }
    }
}
