//! The column types of a UNION the gateway puts together, as MariaDB aggregates them: the
//! parts' types per column combine (integers widen, integer with DECIMAL is DECIMAL with the
//! largest scale, any FLOAT/DOUBLE with numbers is DOUBLE, DATE with DATETIME is DATETIME, NULL
//! takes the other side's type, anything else is a string), and values are written in the
//! combined type (`1` in a DECIMAL(_, 2) column is `1.00`).

use crate::protocol::tablet::{Field, Row};

const DECIMAL: u8 = 0;
const TINY: u8 = 1;
const SHORT: u8 = 2;
const LONG: u8 = 3;
const FLOAT: u8 = 4;
const DOUBLE: u8 = 5;
const NULL: u8 = 6;
const TIMESTAMP: u8 = 7;
const LONGLONG: u8 = 8;
const INT24: u8 = 9;
const DATE: u8 = 10;
const DATETIME: u8 = 12;
const YEAR: u8 = 13;
const NEWDECIMAL: u8 = 246;
const BLOB: u8 = 252;
const VAR_STRING: u8 = 253;
const UNSIGNED: u16 = 32;
const BINARY_CHARSET: u16 = 63;
const UTF8MB4_GENERAL_CI: u16 = 45;
/// "Any number of decimals", as MariaDB announces it for a string column (39) and for a
/// DOUBLE (31).
const NOT_FIXED_DEC: u8 = 39;
const DOUBLE_NOT_FIXED_DEC: u8 = 31;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Null,
    Int,
    Decimal,
    Float,
    Date,
    DateTime,
    Other,
}

fn class(t: u8) -> Class {
    match t {
        NULL => Class::Null,
        TINY | SHORT | LONG | LONGLONG | INT24 | YEAR => Class::Int,
        DECIMAL | NEWDECIMAL => Class::Decimal,
        FLOAT | DOUBLE => Class::Float,
        DATE => Class::Date,
        DATETIME | TIMESTAMP => Class::DateTime,
        _ => Class::Other,
    }
}

/// Width rank of an integer type.
fn int_rank(t: u8) -> u8 {
    match t {
        TINY => 1,
        SHORT | YEAR => 2,
        INT24 => 3,
        LONG => 4,
        _ => 5,
    }
}

/// How a part's values are rewritten for the combined column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Convert {
    Keep,
    /// Decimal text with exactly this many digits after the point.
    Scale(u8),
    /// A DECIMAL's text as a DOUBLE prints it.
    Double,
}

/// The combined fields of the parts (`parts[i]` the fields of part i), and per part and column
/// how its values are written.
pub fn unify(parts: &[&[Field]]) -> (Vec<Field>, Vec<Vec<Convert>>) {
    let Some(first) = parts.first() else { return (Vec::new(), Vec::new()) };
    let mut out: Vec<Field> = first.to_vec();
    let mut convert = vec![vec![Convert::Keep; first.len()]; parts.len()];
    for c in 0..first.len() {
        let cols: Vec<&Field> = parts.iter().filter_map(|p| p.get(c)).collect();
        let typed: Vec<&Field> = cols.iter().copied().filter(|f| class(f.column_type) != Class::Null).collect();
        let Some(lead) = typed.first() else { continue };
        let mut f = (*lead).clone();
        f.name.clone_from(&first[c].name);
        f.column_length = cols.iter().map(|x| x.column_length).max().unwrap_or(0);
        f.decimals = typed.iter().map(|x| x.decimals).max().unwrap_or(0);
        if typed.iter().any(|x| x.flags & UNSIGNED == 0) {
            f.flags &= !UNSIGNED;
        }
        let classes: Vec<Class> = typed.iter().map(|x| class(x.column_type)).collect();
        let all = |k: Class| classes.iter().all(|c| *c == k);
        let numeric = classes.iter().all(|c| matches!(c, Class::Int | Class::Decimal | Class::Float));
        if typed.iter().all(|x| x.column_type == lead.column_type) {
            // One type: lengths and scales widened above.
        } else if all(Class::Int) {
            f.column_type = typed.iter().map(|x| x.column_type).max_by_key(|t| int_rank(*t)).unwrap_or(LONGLONG);
        } else if numeric && !classes.contains(&Class::Float) {
            f.column_type = NEWDECIMAL;
            f.charset = BINARY_CHARSET;
            let scale = typed.iter().filter(|x| class(x.column_type) == Class::Decimal).map(|x| x.decimals).max();
            f.decimals = scale.unwrap_or(0);
        } else if numeric {
            f.column_type = DOUBLE;
            f.charset = BINARY_CHARSET;
            f.decimals = DOUBLE_NOT_FIXED_DEC;
        } else if classes.iter().all(|c| matches!(c, Class::Date | Class::DateTime)) {
            f.column_type = DATETIME;
        } else {
            let binary = typed.iter().any(|x| x.charset == BINARY_CHARSET && class(x.column_type) == Class::Other);
            f.column_type = if typed.iter().any(|x| (249..=BLOB).contains(&x.column_type)) { BLOB } else { VAR_STRING };
            f.charset = if binary { BINARY_CHARSET } else { UTF8MB4_GENERAL_CI };
            f.flags &= !(UNSIGNED | 128/* BINARY */);
            f.decimals = if all(Class::Other) { f.decimals } else { NOT_FIXED_DEC };
        }
        for (p, fields) in parts.iter().enumerate() {
            let Some(x) = fields.get(c) else { continue };
            convert[p][c] = match (class(f.column_type), class(x.column_type)) {
                (Class::Decimal, Class::Int | Class::Decimal)
                    if x.decimals != f.decimals || class(x.column_type) == Class::Int =>
                {
                    Convert::Scale(f.decimals)
                }
                (Class::Float, Class::Decimal) => Convert::Double,
                _ => Convert::Keep,
            };
        }
        out[c] = f;
    }
    (out, convert)
}

/// Writes a part's row in the combined types.
pub fn convert_row(row: &mut Row, how: &[Convert]) {
    for (cell, how) in row.iter_mut().zip(how) {
        let Some(bytes) = cell.as_mut() else { continue };
        let Ok(text) = std::str::from_utf8(bytes) else { continue };
        match how {
            Convert::Keep => {}
            Convert::Scale(d) => *bytes = scaled(text, *d).into_bytes(),
            Convert::Double => {
                if let Ok(v) = text.parse::<f64>() {
                    *bytes = format!("{v}").into_bytes();
                }
            }
        }
    }
}

/// Decimal text with exactly `d` digits after the point (more are cut; a part's scale is never
/// larger than the combined one, so nothing is cut in practice).
fn scaled(text: &str, d: u8) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if d == 0 {
        return int.to_string();
    }
    let mut frac: String = frac.chars().take(usize::from(d)).collect();
    while frac.len() < usize::from(d) {
        frac.push('0');
    }
    format!("{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(t: u8, decimals: u8, charset: u16) -> Field {
        Field { name: "c".into(), column_type: t, decimals, charset, column_length: 11, ..Default::default() }
    }

    #[test]
    fn types_combine_as_mariadb_does() {
        let int = [field(LONGLONG, 0, 63)];
        let dec = [field(NEWDECIMAL, 2, 63)];
        let dbl = [field(DOUBLE, DOUBLE_NOT_FIXED_DEC, 63)];
        let date = [field(DATE, 0, 63)];
        let dt = [field(DATETIME, 0, 63)];
        let text = [field(VAR_STRING, 0, 45)];
        let null = [field(NULL, 0, 63)];
        let (f, conv) = unify(&[&int, &dec]);
        assert_eq!((f[0].column_type, f[0].decimals), (NEWDECIMAL, 2));
        let mut row = vec![Some(b"1".to_vec())];
        convert_row(&mut row, &conv[0]);
        assert_eq!(row[0].as_deref(), Some(&b"1.00"[..]));
        assert_eq!(unify(&[&dec, &dbl]).0[0].column_type, DOUBLE);
        let (_, conv) = unify(&[&dec, &dbl]);
        let mut row = vec![Some(b"1.50".to_vec())];
        convert_row(&mut row, &conv[0]);
        assert_eq!(row[0].as_deref(), Some(&b"1.5"[..]));
        assert_eq!(unify(&[&date, &int]).0[0].column_type, VAR_STRING);
        assert_eq!(unify(&[&date, &dt]).0[0].column_type, DATETIME);
        assert_eq!(unify(&[&null, &int]).0[0].column_type, LONGLONG);
        let (f, _) = unify(&[&int, &text]);
        assert_eq!((f[0].column_type, f[0].charset), (VAR_STRING, UTF8MB4_GENERAL_CI));
        let small = [field(TINY, 0, 63)];
        assert_eq!(unify(&[&small, &int]).0[0].column_type, LONGLONG);
    }
}
