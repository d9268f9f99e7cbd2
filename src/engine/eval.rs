//! Expressions the gateway evaluates itself (over merged or joined rows), with MySQL's
//! NULL, numeric and comparison rules. Everything a shard can compute is pushed down instead;
//! this covers what is left: arithmetic and comparisons over aggregates or over columns of
//! different routes, and a handful of functions.

use std::cmp::Ordering;

use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator};

use super::value::{compare, Dec, Kind, Num, Val};
use super::EngineError;
use crate::protocol::tablet::Row;

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Ev {
    /// A column of the input row, read with its kind.
    Col(usize),
    Lit(Val),
    Arith(Box<Ev>, Arith, Box<Ev>),
    Cmp(Box<Ev>, BinaryOperator, Box<Ev>),
    And(Box<Ev>, Box<Ev>),
    Or(Box<Ev>, Box<Ev>),
    Xor(Box<Ev>, Box<Ev>),
    Not(Box<Ev>),
    Neg(Box<Ev>),
    IsNull(Box<Ev>, bool),
    In(Box<Ev>, Vec<Ev>, bool),
    Between(Box<Ev>, Box<Ev>, Box<Ev>, bool),
    Func(Func, Vec<Ev>),
    Case {
        operand: Option<Box<Ev>>,
        whens: Vec<(Ev, Ev)>,
        otherwise: Option<Box<Ev>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Coalesce,
    If,
    NullIf,
    Concat,
    Abs,
    Greatest,
    Least,
}

/// Compiles `e`; `resolve` maps a sub-expression the input already carries to its column
/// (returns `Ok(None)` to compile it structurally).
pub fn compile(
    e: &Expr,
    resolve: &mut dyn FnMut(&Expr) -> Result<Option<usize>, EngineError>,
) -> Result<Ev, EngineError> {
    if let Some(i) = resolve(e)? {
        return Ok(Ev::Col(i));
    }
    let mut c = |e: &Expr| compile(e, resolve);
    Ok(match e {
        Expr::Nested(inner) => c(inner)?,
        Expr::Value(v) => Ev::Lit(literal(&v.value)?),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => Ev::Neg(Box::new(c(expr)?)),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => c(expr)?,
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => Ev::Not(Box::new(c(expr)?)),
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (Box::new(c(left)?), Box::new(c(right)?));
            match op {
                BinaryOperator::Plus => Ev::Arith(l, Arith::Add, r),
                BinaryOperator::Minus => Ev::Arith(l, Arith::Sub, r),
                BinaryOperator::Multiply => Ev::Arith(l, Arith::Mul, r),
                BinaryOperator::Divide => Ev::Arith(l, Arith::Div, r),
                BinaryOperator::MyIntegerDivide => Ev::Arith(l, Arith::IntDiv, r),
                BinaryOperator::Modulo => Ev::Arith(l, Arith::Mod, r),
                BinaryOperator::And => Ev::And(l, r),
                BinaryOperator::Or => Ev::Or(l, r),
                BinaryOperator::Xor => Ev::Xor(l, r),
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Spaceship => Ev::Cmp(l, op.clone(), r),
                other => return Err(unsupported(&format!("operator `{other}`"))),
            }
        }
        Expr::IsNull(x) => Ev::IsNull(Box::new(c(x)?), false),
        Expr::IsNotNull(x) => Ev::IsNull(Box::new(c(x)?), true),
        Expr::IsTrue(x) => Ev::Cmp(
            Box::new(Ev::Func(Func::Coalesce, vec![c(x)?, Ev::Lit(Val::Int(0))])),
            BinaryOperator::NotEq,
            Box::new(Ev::Lit(Val::Int(0))),
        ),
        Expr::IsFalse(x) => Ev::Cmp(
            Box::new(Ev::Func(Func::Coalesce, vec![c(x)?, Ev::Lit(Val::Int(1))])),
            BinaryOperator::Eq,
            Box::new(Ev::Lit(Val::Int(0))),
        ),
        Expr::InList { expr, list, negated } => {
            Ev::In(Box::new(c(expr)?), list.iter().map(&mut c).collect::<Result<_, _>>()?, *negated)
        }
        Expr::Between { expr, negated, low, high } => {
            Ev::Between(Box::new(c(expr)?), Box::new(c(low)?), Box::new(c(high)?), *negated)
        }
        Expr::Case { operand, conditions, else_result, .. } => Ev::Case {
            operand: operand.as_ref().map(|o| c(o)).transpose()?.map(Box::new),
            whens: conditions
                .iter()
                .map(|w| Ok((c(&w.condition)?, c(&w.result)?)))
                .collect::<Result<_, EngineError>>()?,
            otherwise: else_result.as_ref().map(|o| c(o)).transpose()?.map(Box::new),
        },
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let func = match name.as_str() {
                "coalesce" | "ifnull" => Func::Coalesce,
                "if" => Func::If,
                "nullif" => Func::NullIf,
                "concat" => Func::Concat,
                "abs" => Func::Abs,
                "greatest" => Func::Greatest,
                "least" => Func::Least,
                _ => {
                    return Err(unsupported(&format!(
                        "function {}() evaluated in the gateway over rows of several shards",
                        name.to_ascii_uppercase()
                    )))
                }
            };
            let FunctionArguments::List(list) = &f.args else {
                return Err(unsupported(&format!("{name} without an argument list")));
            };
            let mut args = Vec::new();
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(c(e)?),
                    _ => return Err(unsupported(&format!("argument `{a}` of {name}()"))),
                }
            }
            Ev::Func(func, args)
        }
        other => return Err(unsupported(&format!("`{other}` evaluated in the gateway over rows of several shards"))),
    })
}

fn unsupported(what: &str) -> EngineError {
    EngineError::Unsupported(what.to_string())
}

fn literal(v: &sqlparser::ast::Value) -> Result<Val, EngineError> {
    use sqlparser::ast::Value as V;
    Ok(match v {
        V::Number(n, _) => {
            if let Ok(i) = n.parse::<i128>() {
                Val::Int(i)
            } else if n.contains(['e', 'E']) {
                Val::Float(n.parse().map_err(|_| EngineError::Value(format!("bad number {n}")))?)
            } else {
                Val::Dec(Dec::parse(n).ok_or_else(|| EngineError::Value(format!("bad number {n}")))?)
            }
        }
        V::SingleQuotedString(s) => Val::Str(crate::sql::literal::body_value(s), false),
        V::Boolean(b) => Val::Int(i128::from(*b)),
        V::Null => Val::Null,
        other => return Err(unsupported(&format!("literal {other}"))),
    })
}

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
                if *op == BinaryOperator::Spaceship {
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
                    BinaryOperator::Eq => o == Ordering::Equal,
                    BinaryOperator::NotEq => o != Ordering::Equal,
                    BinaryOperator::Lt => o == Ordering::Less,
                    BinaryOperator::LtEq => o != Ordering::Greater,
                    BinaryOperator::Gt => o == Ordering::Greater,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(sql: &str) -> Val {
        let e = crate::sql::parse::parse_expr(sql).unwrap();
        compile(&e, &mut |_| Ok(None)).unwrap().eval(&vec![], &[]).unwrap()
    }

    #[test]
    fn mysql_rules() {
        assert_eq!(eval("1 + 2"), Val::Int(3));
        assert_eq!(eval("7 / 2").to_cell().unwrap(), b"3.5000");
        assert_eq!(eval("1 / 0"), Val::Null);
        assert_eq!(eval("7 div 2"), Val::Int(3));
        assert_eq!(eval("7 % 3"), Val::Int(1));
        assert_eq!(eval("1.5 * 2").to_cell().unwrap(), b"3.0");
        assert_eq!(eval("null = null"), Val::Null);
        assert_eq!(eval("null <=> null"), Val::Int(1));
        assert_eq!(eval("null and 0"), Val::Int(0));
        assert_eq!(eval("null or 1"), Val::Int(1));
        assert_eq!(eval("2 in (1, null)"), Val::Null);
        assert_eq!(eval("2 not in (1, 3)"), Val::Int(1));
        assert_eq!(eval("'abc' = 'ABC'"), Val::Int(1));
        assert_eq!(eval("3 between 1 and 3"), Val::Int(1));
        assert_eq!(eval("case when 1 > 2 then 'a' else 'b' end"), Val::Str(b"b".to_vec(), false));
        assert_eq!(eval("coalesce(null, 4)"), Val::Int(4));
        assert_eq!(eval("concat('a', 1, 'b')").to_cell().unwrap(), b"a1b");
        assert_eq!(eval("-(2)"), Val::Int(-2));
    }
}
