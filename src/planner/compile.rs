//! SQL expressions compiled into the plan's own expression tree ([`Ev`]), for what the
//! gateway evaluates itself. Shapes it cannot evaluate are refused here, at planning time.

use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator};

use crate::plan::expr::{Arith, CmpOp, Ev, Func};
use crate::plan::value::{Dec, Val};
use crate::plan::EngineError;

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
                BinaryOperator::Eq => Ev::Cmp(l, CmpOp::Eq, r),
                BinaryOperator::NotEq => Ev::Cmp(l, CmpOp::NotEq, r),
                BinaryOperator::Lt => Ev::Cmp(l, CmpOp::Lt, r),
                BinaryOperator::LtEq => Ev::Cmp(l, CmpOp::LtEq, r),
                BinaryOperator::Gt => Ev::Cmp(l, CmpOp::Gt, r),
                BinaryOperator::GtEq => Ev::Cmp(l, CmpOp::GtEq, r),
                BinaryOperator::Spaceship => Ev::Cmp(l, CmpOp::Spaceship, r),
                other => return Err(unsupported(&format!("operator `{other}`"))),
            }
        }
        Expr::IsNull(x) => Ev::IsNull(Box::new(c(x)?), false),
        Expr::IsNotNull(x) => Ev::IsNull(Box::new(c(x)?), true),
        Expr::IsTrue(x) => Ev::Cmp(
            Box::new(Ev::Func(Func::Coalesce, vec![c(x)?, Ev::Lit(Val::Int(0))])),
            CmpOp::NotEq,
            Box::new(Ev::Lit(Val::Int(0))),
        ),
        Expr::IsFalse(x) => Ev::Cmp(
            Box::new(Ev::Func(Func::Coalesce, vec![c(x)?, Ev::Lit(Val::Int(1))])),
            CmpOp::Eq,
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
        // FLOOR(x) / CEIL(x): the parser's own forms (no scale, no datetime field).
        Expr::Floor {
            expr,
            field: sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
        } => Ev::Func(Func::Floor, vec![c(expr)?]),
        Expr::Ceil {
            expr,
            field: sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
        } => Ev::Func(Func::Ceil, vec![c(expr)?]),
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
                "lower" | "lcase" => Func::Lower,
                "upper" | "ucase" => Func::Upper,
                "length" | "octet_length" => Func::Length,
                "char_length" | "character_length" => Func::CharLength,
                "floor" => Func::Floor,
                "ceil" | "ceiling" => Func::Ceil,
                "year" => Func::Year,
                "month" => Func::Month,
                "day" | "dayofmonth" => Func::Day,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::value::Val;

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
