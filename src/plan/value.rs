//! Values as the gateway computes with them: MySQL's text cells read by their column type,
//! exact decimals, and comparisons and grouping keys with MySQL's rules.

use std::cmp::Ordering;

use crate::protocol::tablet::Field;

use super::EngineError;

/// How a column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Decimal,
    Float,
    /// Strings; `binary` compares bytes, otherwise a case-insensitive collation.
    Text {
        binary: bool,
    },
    /// Dates and times: their text sorts in time order.
    Temporal,
}

impl Kind {
    pub fn of(f: &Field) -> Kind {
        match f.column_type {
            1 | 2 | 3 | 8 | 9 | 13 | 16 => Kind::Int,
            0 | 246 => Kind::Decimal,
            4 | 5 => Kind::Float,
            7 | 10 | 11 | 12 | 14 => Kind::Temporal,
            _ => Kind::Text { binary: f.charset == 63 },
        }
    }
}

/// An exact decimal: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub m: i128,
    pub scale: u8,
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn overflow() -> EngineError {
    EngineError::Value("DECIMAL value out of the gateway's range (38 digits)".into())
}

impl Dec {
    pub fn int(i: i128) -> Dec {
        Dec { m: i, scale: 0 }
    }

    pub fn parse(s: &str) -> Option<Dec> {
        let s = s.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 38 {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Dec { m: if neg { -m } else { m }, scale: frac.len() as u8 })
    }

    /// Both at the larger scale.
    fn align(self, o: Dec) -> Result<(i128, i128, u8), EngineError> {
        let s = self.scale.max(o.scale);
        let a = self.m.checked_mul(POW10[(s - self.scale) as usize]).ok_or_else(overflow)?;
        let b = o.m.checked_mul(POW10[(s - o.scale) as usize]).ok_or_else(overflow)?;
        Ok((a, b, s))
    }

    pub fn plus(self, o: Dec) -> Result<Dec, EngineError> {
        let (a, b, s) = self.align(o)?;
        Ok(Dec { m: a.checked_add(b).ok_or_else(overflow)?, scale: s })
    }

    pub fn minus(self, o: Dec) -> Result<Dec, EngineError> {
        self.plus(Dec { m: -o.m, scale: o.scale })
    }

    pub fn times(self, o: Dec) -> Result<Dec, EngineError> {
        let scale = self.scale.checked_add(o.scale).filter(|s| *s <= 38).ok_or_else(overflow)?;
        Ok(Dec { m: self.m.checked_mul(o.m).ok_or_else(overflow)?, scale })
    }

    /// `self / o` rounded half away from zero to `scale` digits; `None` when dividing by zero.
    pub fn div(self, o: Dec, scale: u8) -> Result<Option<Dec>, EngineError> {
        if o.m == 0 {
            return Ok(None);
        }
        // self.m/10^s1 / (o.m/10^s2) = self.m * 10^(scale + s2 - s1) / o.m at `scale`.
        let shift = i32::from(scale) + i32::from(o.scale) - i32::from(self.scale);
        let (num, den) = if shift >= 0 {
            (self.m.checked_mul(*POW10.get(shift as usize).ok_or_else(overflow)?).ok_or_else(overflow)?, o.m)
        } else {
            (self.m, o.m.checked_mul(*POW10.get((-shift) as usize).ok_or_else(overflow)?).ok_or_else(overflow)?)
        };
        let q = num / den;
        let r = num % den;
        let round = (r.abs() * 2 >= den.abs()) as i128;
        let sign = if (num < 0) != (den < 0) { -1 } else { 1 };
        Ok(Some(Dec { m: q + sign * round, scale }))
    }

    pub fn to_f64(self) -> f64 {
        self.m as f64 / 10f64.powi(i32::from(self.scale))
    }

    /// Without trailing fractional zeros (equal values, equal forms).
    pub fn normalized(self) -> Dec {
        let mut d = self;
        while d.scale > 0 && d.m % 10 == 0 {
            d.m /= 10;
            d.scale -= 1;
        }
        d
    }

    pub fn compare_to(self, o: Dec) -> Ordering {
        match self.align(o) {
            Ok((a, b, _)) => a.cmp(&b),
            Err(_) => self.to_f64().partial_cmp(&o.to_f64()).unwrap_or(Ordering::Equal),
        }
    }

    pub fn format(self) -> String {
        let neg = self.m < 0;
        let digits = self.m.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let mut out = String::with_capacity(digits.len() + 3);
        if neg {
            out.push('-');
        }
        if scale == 0 {
            out.push_str(&digits);
        } else if digits.len() <= scale {
            out.push_str("0.");
            out.push_str(&"0".repeat(scale - digits.len()));
            out.push_str(&digits);
        } else {
            let (i, f) = digits.split_at(digits.len() - scale);
            out.push_str(i);
            out.push('.');
            out.push_str(f);
        }
        out
    }
}

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i128),
    Dec(Dec),
    Float(f64),
    /// Bytes and whether they compare as binary.
    Str(Vec<u8>, bool),
}

impl Val {
    /// Reads a text cell of a column of `kind`.
    pub fn from_cell(cell: Option<&[u8]>, kind: Kind) -> Val {
        let Some(b) = cell else { return Val::Null };
        let text = || std::str::from_utf8(b).unwrap_or("");
        match kind {
            Kind::Int => text().parse::<i128>().map(Val::Int).unwrap_or_else(|_| Val::Str(b.to_vec(), true)),
            Kind::Decimal => Dec::parse(text()).map(Val::Dec).unwrap_or_else(|| Val::Str(b.to_vec(), true)),
            Kind::Float => text().parse::<f64>().map(Val::Float).unwrap_or_else(|_| Val::Str(b.to_vec(), true)),
            Kind::Text { binary } => Val::Str(b.to_vec(), binary),
            Kind::Temporal => Val::Str(b.to_vec(), true),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// MySQL's text form.
    pub fn to_cell(&self) -> Option<Vec<u8>> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(i.to_string().into_bytes()),
            Val::Dec(d) => Some(d.format().into_bytes()),
            Val::Float(f) => Some(format_double(*f).into_bytes()),
            Val::Str(b, _) => Some(b.clone()),
        }
    }

    /// The number a value stands for (strings read as MySQL reads them: leading number or 0).
    pub fn to_num(&self) -> Option<Num> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(Num::Dec(Dec::int(*i))),
            Val::Dec(d) => Some(Num::Dec(*d)),
            Val::Float(f) => Some(Num::Float(*f)),
            Val::Str(b, _) => Some(Num::Float(leading_number(b))),
        }
    }

    /// SQL truth: `None` for NULL.
    pub fn truth(&self) -> Option<bool> {
        match self.to_num()? {
            Num::Dec(d) => Some(d.m != 0),
            Num::Float(f) => Some(f != 0.0),
        }
    }

    /// Appends a grouping key: equal under MySQL's comparison, equal bytes. `weight` replaces a
    /// string's bytes (MySQL's WEIGHT_STRING under the column's collation).
    pub fn key(&self, weight: Option<&[u8]>, out: &mut Vec<u8>) {
        match self {
            Val::Null => out.push(0),
            Val::Int(_) | Val::Dec(_) => {
                let d = match self {
                    Val::Int(i) => Dec::int(*i),
                    Val::Dec(d) => d.normalized(),
                    _ => unreachable!("matched above"),
                };
                out.push(1);
                out.extend_from_slice(&d.m.to_le_bytes());
                out.push(d.scale);
            }
            Val::Float(f) => {
                let f = if *f == 0.0 { 0.0 } else { *f };
                out.push(2);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Val::Str(b, binary) => {
                out.push(3);
                let folded;
                let bytes: &[u8] = match weight {
                    Some(w) => w,
                    None if *binary => b,
                    None => {
                        folded = fold(b);
                        &folded
                    }
                };
                out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
}

/// MySQL's comparison of two non-NULL values (NULL sorts first).
pub fn compare(a: &Val, b: &Val, wa: Option<&[u8]>, wb: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Less,
        (_, Val::Null) => Ordering::Greater,
        (Val::Str(x, bx), Val::Str(y, by)) => match (wa, wb) {
            (Some(p), Some(q)) => p.cmp(q),
            _ if *bx && *by => x.as_slice().cmp(y.as_slice()),
            _ => fold(x).cmp(&fold(y)),
        },
        _ => match (a.to_num(), b.to_num()) {
            (Some(x), Some(y)) => x.compare_to(y),
            _ => Ordering::Equal,
        },
    }
}

/// A case-insensitive, trailing-space-insensitive form of a string (the gateway's stand-in for
/// a `_ci` collation when MySQL's weight string is not at hand).
pub fn fold(b: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(b);
    s.trim_end_matches(' ').chars().flat_map(char::to_uppercase).collect::<String>().into_bytes()
}

/// A number: exact, or a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Dec(Dec),
    Float(f64),
}

impl Num {
    pub fn compare_to(self, o: Num) -> Ordering {
        match (self, o) {
            (Num::Dec(a), Num::Dec(b)) => a.compare_to(b),
            (a, b) => a.f64().partial_cmp(&b.f64()).unwrap_or(Ordering::Equal),
        }
    }

    pub fn f64(self) -> f64 {
        match self {
            Num::Dec(d) => d.to_f64(),
            Num::Float(f) => f,
        }
    }
}

/// The number at the start of a string, as MySQL converts strings in numeric context.
pub fn leading_number(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let mut end = 0;
    let bytes = s.as_bytes();
    let mut seen_dot = false;
    let mut seen_e = false;
    while end < bytes.len() {
        let c = bytes[end];
        let ok = c.is_ascii_digit()
            || (end == 0 && (c == b'-' || c == b'+'))
            || (c == b'.' && !seen_dot && !seen_e)
            || ((c == b'e' || c == b'E') && !seen_e && end > 0)
            || ((c == b'-' || c == b'+') && end > 0 && matches!(bytes[end - 1], b'e' | b'E'));
        if !ok {
            break;
        }
        seen_dot |= c == b'.';
        seen_e |= c == b'e' || c == b'E';
        end += 1;
    }
    let mut t = &s[..end];
    while !t.is_empty() && t.parse::<f64>().is_err() {
        t = &t[..t.len() - 1];
    }
    t.parse().unwrap_or(0.0)
}

/// A double as MySQL prints it (shortest form that reads back the same; exponent past 1e15).
pub fn format_double(f: f64) -> String {
    if f.is_finite() && f != 0.0 && (f.abs() >= 1e15 || f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Rust prints `1.5e20`; MySQL prints `1.5e20` too, and `1e-5` as `1e-5`.
        return s;
    }
    let s = format!("{f}");
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A field for a computed column.
pub fn field_for(name: &str, kind: Kind, decimals: u8) -> Field {
    let (column_type, charset, length, flags) = match kind {
        Kind::Int => (8, 63, 21, 128 | 32768),
        Kind::Decimal => (246, 63, 65, 128 | 32768),
        Kind::Float => (5, 63, 23, 128 | 32768),
        Kind::Temporal => (12, 63, 26, 128),
        Kind::Text { binary: true } => (253, 63, 65535, 128),
        Kind::Text { binary: false } => (253, 45, 262140, 0),
    };
    Field {
        name: name.to_string(),
        org_name: String::new(),
        table: String::new(),
        org_table: String::new(),
        schema: String::new(),
        column_type,
        flags,
        charset,
        column_length: length,
        decimals: if kind == Kind::Float { 31 } else { decimals },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let a = Dec::parse("12.50").unwrap();
        let b = Dec::parse("-0.125").unwrap();
        assert_eq!(a.plus(b).unwrap().format(), "12.375");
        assert_eq!(a.times(b).unwrap().format(), "-1.56250");
        assert_eq!(Dec::int(10).div(Dec::int(4), 4).unwrap().unwrap().format(), "2.5000");
        assert_eq!(Dec::int(2).div(Dec::int(3), 4).unwrap().unwrap().format(), "0.6667");
        assert_eq!(Dec::int(-2).div(Dec::int(3), 4).unwrap().unwrap().format(), "-0.6667");
        assert_eq!(Dec::parse("0.05").unwrap().format(), "0.05");
        assert_eq!(Dec::int(1).div(Dec::int(0), 4).unwrap(), None);
        assert_eq!(Dec::parse("1.50").unwrap().compare_to(Dec::parse("1.5").unwrap()), Ordering::Equal);
        assert!(Dec::parse("abc").is_none());
        assert!(Dec::parse("99999999999999999999999999999999999999999").is_none());
    }

    #[test]
    fn keys_and_order() {
        let k = |v: &Val| {
            let mut o = Vec::new();
            v.key(None, &mut o);
            o
        };
        assert_eq!(k(&Val::Dec(Dec::parse("2.00").unwrap())), k(&Val::Int(2)));
        assert_eq!(k(&Val::Str(b"Abc ".to_vec(), false)), k(&Val::Str(b"aBC".to_vec(), false)));
        assert_ne!(k(&Val::Str(b"Abc".to_vec(), true)), k(&Val::Str(b"abc".to_vec(), true)));
        assert_eq!(compare(&Val::Null, &Val::Int(-5), None, None), Ordering::Less);
        assert_eq!(compare(&Val::Int(10), &Val::Float(9.5), None, None), Ordering::Greater);
        assert_eq!(leading_number(b" 12abc"), 12.0);
        assert_eq!(leading_number(b"1e3x"), 1000.0);
        assert_eq!(leading_number(b"x"), 0.0);
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(2.0), "2");
    }
}
