//! Vindex values in statements: what a WHERE pins the primary vindex column to, and literals
//! read as vindex values (integral DECIMAL and DOUBLE literals included, as drivers send them).

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};

use crate::vindex::Value;

/// Values the WHERE pins the column to, if a top-level conjunct does (`col = v`, `col IN (..)`).
pub fn vindex_values(e: &Expr, col: &str) -> Option<Vec<Value>> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            vindex_values(left, col).or_else(|| vindex_values(right, col))
        }
        Expr::Nested(inner) => vindex_values(inner, col),
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            if is_column(left, col) {
                literal(right).map(|v| vec![v])
            } else if is_column(right, col) {
                literal(left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList { expr, list, negated: false } if is_column(expr, col) => list.iter().map(literal).collect(),
        Expr::BinaryOp { op: BinaryOperator::Or, .. } => {
            // `col = 1 OR col = 2 OR ...` (an ORM's IN): every disjunct must pin the column.
            // Walked with a stack of its own: the chain may be thousands of terms deep.
            let mut values = Vec::new();
            let mut todo = vec![e];
            while let Some(x) = todo.pop() {
                match x {
                    Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
                        todo.push(right);
                        todo.push(left);
                    }
                    Expr::Nested(inner) if matches!(**inner, Expr::BinaryOp { op: BinaryOperator::Or, .. }) => {
                        todo.push(inner)
                    }
                    other => values.extend(vindex_values(other, col)?),
                }
            }
            Some(values)
        }
        _ => None,
    }
}

fn is_column(e: &Expr, col: &str) -> bool {
    match e {
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case(col),
        Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|i| i.value.eq_ignore_ascii_case(col)),
        Expr::Nested(inner) => is_column(inner, col),
        _ => false,
    }
}

/// A literal as a vindex value; `None` for anything else (including NULL).
pub fn literal(e: &Expr) -> Option<Value> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n
                .parse::<i64>()
                .map(Value::Int)
                .or_else(|_| n.parse::<u64>().map(Value::UInt))
                .ok()
                .or_else(|| integral(n).map(Value::Int)),
            SqlValue::SingleQuotedString(s) => Some(Value::Bytes(crate::sql::literal::body_value(s))),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match literal(expr)? {
            Value::Int(i) => Some(Value::Int(-i)),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

/// A number written with a fraction or an exponent whose value is an integer (`12.000`,
/// `1.2e1`: what drivers send for a DOUBLE or DECIMAL bind), exactly; `None` otherwise.
fn integral(n: &str) -> Option<i64> {
    if let Some((int, frac)) = n.split_once('.').filter(|_| !n.contains(['e', 'E'])) {
        return frac.bytes().all(|c| c == b'0').then(|| int.parse::<i64>().ok()).flatten();
    }
    let f: f64 = n.parse().ok()?;
    // Doubles hold integers exactly up to 2^53.
    (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64)
}

/// The literal that stands for a value MySQL returned in a column like `field`: numbers as
/// written (doubles in exponent form, so they stay doubles), binary strings as hex, other
/// strings quoted.
pub fn cell_literal(field: &crate::protocol::tablet::Field, bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).ok().filter(|t| {
        !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    });
    match (field.column_type, text) {
        // Integers and decimals.
        (0 | 1 | 2 | 3 | 8 | 9 | 13 | 246, Some(t)) => t.to_string(),
        // FLOAT, DOUBLE.
        (4 | 5, Some(t)) if t.contains(['e', 'E']) => t.to_string(),
        (4 | 5, Some(t)) => format!("{t}e0"),
        // Dates and times (their columns say `binary`, but they are not binary strings).
        (7 | 10 | 11 | 12 | 14, _) => crate::sql::quote_bytes(bytes),
        // Strings of the binary character set.
        _ if field.charset == 63 => crate::sql::literal::hex_literal(bytes),
        _ => crate::sql::quote_bytes(bytes),
    }
}

/// A cell as a literal: NULL, or [`cell_literal`].
pub fn cell_or_null(field: &crate::protocol::tablet::Field, cell: Option<&[u8]>) -> String {
    cell.map_or_else(|| "NULL".to_string(), |b| cell_literal(field, b))
}

/// Every combination of one value per list (in order); `None` for no lists or more than
/// `max` combinations.
pub fn combinations(lists: &[Vec<Value>], max: usize) -> Option<Vec<Vec<Value>>> {
    if lists.is_empty() {
        return None;
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for list in lists {
        if out.len().saturating_mul(list.len()) > max {
            return None;
        }
        out = out
            .iter()
            .flat_map(|prefix| list.iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat()))
            .collect();
    }
    Some(out)
}
