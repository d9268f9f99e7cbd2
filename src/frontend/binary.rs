//! The binary protocol of prepared statements: parameter values in, rows out.

use std::io;

use super::codec::{put_lenenc_bytes, Reader};
use crate::protocol::tablet::Field;
use crate::sql::quote_bytes;

pub const T_DECIMAL: u8 = 0;
pub const T_TINY: u8 = 1;
pub const T_SHORT: u8 = 2;
pub const T_LONG: u8 = 3;
pub const T_FLOAT: u8 = 4;
pub const T_DOUBLE: u8 = 5;
pub const T_NULL: u8 = 6;
pub const T_TIMESTAMP: u8 = 7;
pub const T_LONGLONG: u8 = 8;
pub const T_INT24: u8 = 9;
pub const T_DATE: u8 = 10;
pub const T_TIME: u8 = 11;
pub const T_DATETIME: u8 = 12;
pub const T_YEAR: u8 = 13;
pub const T_NEWDECIMAL: u8 = 246;
const UNSIGNED_FLAG: u16 = 32;

/// Reads one parameter value of type `t` (`unsigned` from the type's flag byte) as a SQL literal.
pub fn read_param(r: &mut Reader<'_>, t: u8, unsigned: bool) -> io::Result<String> {
    Ok(match t {
        T_NULL => "NULL".into(),
        T_TINY => {
            let v = r.u8()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i8).to_string()
            }
        }
        T_SHORT | T_YEAR => {
            let v = r.u16()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i16).to_string()
            }
        }
        T_LONG | T_INT24 => {
            let v = r.u32()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i32).to_string()
            }
        }
        T_LONGLONG => {
            let v = r.u64()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i64).to_string()
            }
        }
        // In exponent form: MariaDB reads `1.5e0` as a DOUBLE, as it would the bound value
        // (`1.5` would be an exact DECIMAL). A FLOAT widens to the double it equals.
        T_FLOAT => double_literal(f64::from(f32::from_bits(r.u32()?)))?,
        T_DOUBLE => double_literal(f64::from_bits(r.u64()?))?,
        // Decimals as the number they are, when they are one.
        T_DECIMAL | T_NEWDECIMAL => {
            let b = r.lenenc_bytes()?;
            match std::str::from_utf8(b) {
                Ok(t) if is_decimal(t) => t.to_string(),
                _ => quote_bytes(b),
            }
        }
        T_DATE | T_DATETIME | T_TIMESTAMP => {
            let len = r.u8()? as usize;
            let b = r.take(len)?;
            let mut c = Reader::new(b);
            let (y, mo, d) = if len >= 4 { (c.u16()?, c.u8()?, c.u8()?) } else { (0, 0, 0) };
            let (h, mi, s) = if len >= 7 { (c.u8()?, c.u8()?, c.u8()?) } else { (0, 0, 0) };
            let us = if len >= 11 { c.u32()? } else { 0 };
            if t == T_DATE {
                format!("'{y:04}-{mo:02}-{d:02}'")
            } else if us > 0 {
                format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
            } else {
                format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}'")
            }
        }
        T_TIME => {
            let len = r.u8()? as usize;
            let b = r.take(len)?;
            let mut c = Reader::new(b);
            if len == 0 {
                "'00:00:00'".into()
            } else {
                let neg = c.u8()? != 0;
                let days = c.u32()?;
                let (h, mi, s) = (c.u8()?, c.u8()?, c.u8()?);
                let us = if len >= 12 { c.u32()? } else { 0 };
                let hours = days as u64 * 24 + h as u64;
                let sign = if neg { "-" } else { "" };
                if us > 0 {
                    format!("'{sign}{hours:02}:{mi:02}:{s:02}.{us:06}'")
                } else {
                    format!("'{sign}{hours:02}:{mi:02}:{s:02}'")
                }
            }
        }
        // Decimals, strings, blobs, JSON, enums, bits: length-encoded bytes.
        _ => quote_bytes(r.lenenc_bytes()?),
    })
}

/// A finite double as a literal MariaDB reads back as the same double; NaN and infinities,
/// which no MariaDB column stores, are refused.
fn double_literal(v: f64) -> io::Result<String> {
    if !v.is_finite() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a parameter is {v}, which MariaDB cannot store (out of range)"),
        ));
    }
    Ok(format!("{v:e}"))
}

/// `-12.50`, `3`, `1e5`: text MariaDB reads as a number.
fn is_decimal(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && exp.is_none_or(|e| !e.is_empty() && digits(e))
}

/// Encodes a row of text values in the binary row format, following each column's type.
pub fn binary_row(fields: &[Field], row: &[Option<Vec<u8>>]) -> Vec<u8> {
    let n = fields.len();
    let mut bitmap = vec![0u8; (n + 7 + 2) / 8];
    let mut values = Vec::with_capacity(n * 8);
    for (i, (f, v)) in fields.iter().zip(row).enumerate() {
        let Some(v) = v else {
            let bit = i + 2;
            bitmap[bit / 8] |= 1 << (bit % 8);
            continue;
        };
        let text = std::str::from_utf8(v).unwrap_or("");
        let unsigned = f.flags & UNSIGNED_FLAG != 0;
        let int = || -> i128 {
            if unsigned {
                text.parse::<u64>().map(i128::from).unwrap_or(0)
            } else {
                text.parse::<i64>().map(i128::from).unwrap_or(0)
            }
        };
        match f.column_type {
            T_TINY => values.push(int() as u8),
            T_SHORT | T_YEAR => values.extend_from_slice(&(int() as u16).to_le_bytes()),
            T_LONG | T_INT24 => values.extend_from_slice(&(int() as u32).to_le_bytes()),
            T_LONGLONG => values.extend_from_slice(&(int() as u64).to_le_bytes()),
            T_FLOAT => values.extend_from_slice(&text.parse::<f32>().unwrap_or(0.0).to_le_bytes()),
            T_DOUBLE => values.extend_from_slice(&text.parse::<f64>().unwrap_or(0.0).to_le_bytes()),
            T_DATE | T_DATETIME | T_TIMESTAMP => values.extend_from_slice(&encode_datetime(text)),
            T_TIME => values.extend_from_slice(&encode_time(text)),
            _ => put_lenenc_bytes(&mut values, v),
        }
    }
    let mut out = Vec::with_capacity(1 + bitmap.len() + values.len());
    out.push(0);
    out.extend_from_slice(&bitmap);
    out.extend_from_slice(&values);
    out
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` in the binary form (length byte first).
fn encode_datetime(s: &str) -> Vec<u8> {
    let num = |x: &str| x.parse::<u32>().unwrap_or(0);
    let (date, time) = s.split_once(' ').unwrap_or((s, ""));
    let d: Vec<u32> = date.split('-').map(num).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<u32> = if hms.is_empty() { vec![] } else { hms.split(':').map(num).collect() };
    let us = if frac.is_empty() { 0 } else { num(&format!("{frac:0<6}")[..6]) };
    let get = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    let (y, mo, dd) = (get(&d, 0), get(&d, 1), get(&d, 2));
    let (h, mi, se) = (get(&t, 0), get(&t, 1), get(&t, 2));
    let mut b = Vec::with_capacity(12);
    if y == 0 && mo == 0 && dd == 0 && h == 0 && mi == 0 && se == 0 && us == 0 {
        b.push(0);
        return b;
    }
    let len = if us > 0 {
        11
    } else if h != 0 || mi != 0 || se != 0 {
        7
    } else {
        4
    };
    b.push(len);
    b.extend_from_slice(&(y as u16).to_le_bytes());
    b.push(mo as u8);
    b.push(dd as u8);
    if len >= 7 {
        b.extend_from_slice(&[h as u8, mi as u8, se as u8]);
    }
    if len == 11 {
        b.extend_from_slice(&us.to_le_bytes());
    }
    b
}

/// `[-]H:MM:SS[.ffffff]` in the binary form.
fn encode_time(s: &str) -> Vec<u8> {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let p: Vec<u32> = hms.split(':').map(|x| x.parse().unwrap_or(0)).collect();
    let get = |i: usize| p.get(i).copied().unwrap_or(0);
    let (hours, mi, se) = (get(0), get(1), get(2));
    let us = if frac.is_empty() { 0 } else { format!("{frac:0<6}")[..6].parse::<u32>().unwrap_or(0) };
    if hours == 0 && mi == 0 && se == 0 && us == 0 {
        return vec![0];
    }
    let mut b = vec![if us > 0 { 12 } else { 8 }, u8::from(neg)];
    b.extend_from_slice(&(hours / 24).to_le_bytes());
    b.extend_from_slice(&[(hours % 24) as u8, mi as u8, se as u8]);
    if us > 0 {
        b.extend_from_slice(&us.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(t: u8, flags: u16) -> Field {
        Field { column_type: t, flags, ..Default::default() }
    }

    #[test]
    fn params_decode_to_literals() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(-5i64).to_le_bytes());
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        bytes.extend_from_slice(&[3, b'o', b'\'', b'k']);
        bytes.extend_from_slice(&[7, 0xe8, 0x07, 11, 21, 13, 14, 15]);
        let mut r = Reader::new(&bytes);
        assert_eq!(read_param(&mut r, T_LONGLONG, false).unwrap(), "-5");
        assert_eq!(read_param(&mut r, T_DOUBLE, false).unwrap(), "1.5e0");
        assert_eq!(read_param(&mut r, 253, false).unwrap(), "'o\\'k'");
        assert_eq!(read_param(&mut r, T_DATETIME, false).unwrap(), "'2024-11-21 13:14:15'");
        assert!(read_param(&mut r, T_LONG, false).is_err(), "truncated input is an error");
        let f = 0.1f32.to_bits().to_le_bytes();
        let lit = read_param(&mut Reader::new(&f), T_FLOAT, false).unwrap();
        assert_eq!(lit.parse::<f64>().unwrap(), f64::from(0.1f32), "{lit}");
        assert!(read_param(&mut Reader::new(&f64::NAN.to_le_bytes()), T_DOUBLE, false).is_err());
        assert!(read_param(&mut Reader::new(&f64::INFINITY.to_le_bytes()), T_DOUBLE, false).is_err());
        assert_eq!(read_param(&mut Reader::new(b"\x05-1.50"), T_NEWDECIMAL, false).unwrap(), "-1.50");
        assert_eq!(read_param(&mut Reader::new(b"\x031;x"), T_NEWDECIMAL, false).unwrap(), "'1;x'");
        for (t, ok) in
            [("1", true), ("-1.5", true), (".5", true), ("1e-3", true), ("1e", false), ("", false), ("1 ", false)]
        {
            assert_eq!(is_decimal(t), ok, "{t}");
        }
        let max = u64::MAX.to_le_bytes();
        assert_eq!(read_param(&mut Reader::new(&max), T_LONGLONG, true).unwrap(), u64::MAX.to_string());
    }

    #[test]
    fn rows_encode_by_type() {
        let fields = [field(T_LONGLONG, 0), field(253, 0), field(T_LONG, 0), field(T_DATETIME, 0), field(T_DOUBLE, 0)];
        let row = vec![
            Some(b"-2".to_vec()),
            Some(b"ab".to_vec()),
            None,
            Some(b"2024-01-02 03:04:05".to_vec()),
            Some(b"0.5".to_vec()),
        ];
        let b = binary_row(&fields, &row);
        assert_eq!(b[0], 0);
        assert_eq!(b[1], 0b0001_0000, "column 2 is NULL: bit 4 of the bitmap");
        let mut expect = vec![0, 0b0001_0000];
        expect.extend_from_slice(&(-2i64).to_le_bytes());
        expect.extend_from_slice(&[2, b'a', b'b']);
        expect.extend_from_slice(&[7, 0xe8, 0x07, 1, 2, 3, 4, 5]);
        expect.extend_from_slice(&0.5f64.to_le_bytes());
        assert_eq!(b, expect);
        assert_eq!(encode_time("-27:00:01"), vec![8, 1, 1, 0, 0, 0, 3, 0, 1]);
        assert_eq!(encode_datetime("2024-01-02"), vec![4, 0xe8, 0x07, 1, 2]);
    }
}
