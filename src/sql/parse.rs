//! The one way the gateway parses SQL: bounded nesting, MariaDB's literals kept exact.
//!
//! - [`client_text`] turns the bytes a client sent into text the gateway works with: string
//!   literals are re-quoted from the session's rules ([`Escapes`]) to backslash escapes, and
//!   literals whose bytes are not UTF-8 become hex literals. Everything after it (splitting,
//!   user variables, planning) reads backslash-escaped UTF-8 only.
//! - [`parse`] checks the nesting bound ([`check_depth`]) before sqlparser runs, parses without
//!   unescaping, and stores every string literal as its escaped body
//!   ([`super::literal::escape_body`]), so printing a tree gives MariaDB the same bytes.
//!
//! Why the bound: sqlparser builds a chain `a OR b OR c ...` as a left-deep tree, and every
//! walk over it (printing, visiting, cloning, dropping) recurses once per term. The bound keeps
//! that recursion within the stack the node's threads are given ([`STACK_SIZE`]).

use std::borrow::Cow;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, Value, ValueWithSpan, VisitMut, VisitorMut};
use sqlparser::parser::{Parser, ParserError, ParserOptions};

use super::literal::{self, Escapes};

/// Deepest expression nesting the gateway accepts (operators in one chain, summed over
/// enclosing parentheses). MariaDB flattens AND/OR lists; a 10,000-term OR of equalities
/// counts about 20,000. A debug build walks 30,000 levels in about 180 MiB of stack, a release
/// build in a fraction of that ([`STACK_SIZE`]).
pub const MAX_DEPTH: usize = 30_000;

/// Stack of every thread that parses, plans or walks statements (the node's runtime workers
/// and its main thread). Only touched pages are ever resident.
pub const STACK_SIZE: usize = 256 << 20;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(String),
    #[error(
        "the statement nests expressions {depth} levels deep; tessera accepts at most {MAX_DEPTH} (use IN (...) \
         instead of long chains of OR, or split the statement)"
    )]
    TooDeep { depth: usize },
}

impl From<ParserError> for ParseError {
    fn from(e: ParserError) -> Self {
        ParseError::Syntax(e.to_string())
    }
}

/// Parses SQL text (backslash escapes, UTF-8: what [`client_text`] returns or the gateway
/// printed) into statements whose string literals hold escaped bodies.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    check_depth(sql)?;
    let mut stmts = parser(sql)?.parse_statements()?;
    let _ = stmts.visit(&mut Canonical);
    Ok(stmts)
}

/// Parses one expression, like [`parse`].
pub fn parse_expr(sql: &str) -> Result<Expr, ParseError> {
    check_depth(sql)?;
    let mut e = parser(sql)?.parse_expr()?;
    let _ = e.visit(&mut Canonical);
    Ok(e)
}

fn parser(sql: &str) -> Result<Parser<'static>, ParserError> {
    static DIALECT: super::dialect::MariaDb = super::dialect::MariaDb;
    Parser::new(&DIALECT).with_options(ParserOptions { unescape: false, ..Default::default() }).try_with_sql(sql)
}

/// Rewrites every string literal to the escaped body of the bytes it stands for.
struct Canonical;

impl VisitorMut for Canonical {
    type Break = ();

    fn pre_visit_value(&mut self, v: &mut ValueWithSpan) -> ControlFlow<()> {
        let (raw, quote) = match &v.value {
            Value::SingleQuotedString(s) => (s, b'\''),
            Value::DoubleQuotedString(s) => (s, b'"'),
            Value::NationalStringLiteral(s) => (s, b'\''),
            _ => return ControlFlow::Continue(()),
        };
        let bytes = literal::unescape(raw.as_bytes(), quote, Escapes::Backslash);
        // Unescaping UTF-8 text only ever yields UTF-8 (escapes stand for ASCII bytes).
        let body = literal::escape_body(&String::from_utf8_lossy(&bytes));
        v.value = match v.value {
            Value::NationalStringLiteral(_) => Value::NationalStringLiteral(body),
            _ => Value::SingleQuotedString(body),
        };
        ControlFlow::Continue(())
    }
}

/// An upper bound of how deep `sql`'s expressions nest: binary operators since the last comma
/// at each parenthesis level, summed over the open levels; the largest such sum. Literals and
/// comments do not count. Refused above [`MAX_DEPTH`].
pub fn check_depth(sql: &str) -> Result<(), ParseError> {
    let depth = depth_bound(sql);
    if depth > MAX_DEPTH {
        return Err(ParseError::TooDeep { depth });
    }
    Ok(())
}

fn depth_bound(sql: &str) -> usize {
    let b = sql.as_bytes();
    // Operators seen at each open level (the last is the current one), and their sum.
    let mut runs: Vec<usize> = vec![0];
    let (mut total, mut max) = (0usize, 0usize);
    let mut last: Option<usize> = None;
    let mut word_start: Option<usize> = None;
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let count = |runs: &mut Vec<usize>, total: &mut usize, max: &mut usize| {
        if let Some(r) = runs.last_mut() {
            *r += 1;
        }
        *total += 1;
        *max = (*max).max(*total);
    };
    let mut offsets = super::code_offsets(sql).peekable();
    while let Some(i) = offsets.next() {
        let c = b[i];
        let contiguous = last.is_some_and(|l| l + 1 == i);
        last = Some(i);
        if is_word(c) {
            if !(contiguous && word_start.is_some()) {
                word_start = Some(i);
            }
            let ends = offsets.peek().is_none_or(|n| *n != i + 1 || !is_word(b[*n]));
            if ends {
                let start = word_start.take().unwrap_or(i);
                let w = &sql[start..=i];
                if [
                    "AND", "OR", "XOR", "DIV", "MOD", "LIKE", "REGEXP", "RLIKE", "IS", "IN", "BETWEEN", "NOT",
                    "COLLATE",
                ]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(w))
                {
                    count(&mut runs, &mut total, &mut max);
                }
            }
            continue;
        }
        word_start = None;
        match c {
            b'(' => runs.push(0),
            b')' if runs.len() > 1 => total -= runs.pop().unwrap_or(0),
            b',' => {
                if let Some(r) = runs.last_mut() {
                    total -= *r;
                    *r = 0;
                }
            }
            b';' => {
                runs = vec![0];
                total = 0;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'=' | b'<' | b'>' | b'!' | b'|' | b'&' | b'^' | b'~' => {
                // `<=`, `||`, `<=>`: one operator.
                let run = contiguous && i > 0 && b"+-*/%=<>!|&^~".contains(&b[i - 1]);
                if !run {
                    count(&mut runs, &mut total, &mut max);
                }
            }
            _ => {}
        }
    }
    max
}

/// Turns the bytes of a client's statement into gateway text (see the module doc). Borrowed
/// when nothing changes: UTF-8 read with backslash escapes, the common case.
pub fn client_text(bytes: &[u8], esc: Escapes) -> Result<Cow<'_, str>, String> {
    if esc == Escapes::Backslash {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return Ok(Cow::Borrowed(s));
        }
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut i = 0;
    let mut plain_from = 0;
    let flush = |out: &mut String, from: usize, to: usize| -> Result<(), String> {
        let part = std::str::from_utf8(&bytes[from..to]).map_err(|_| {
            "the statement is not valid UTF-8 outside its string literals (tessera speaks utf8mb4)".to_string()
        })?;
        out.push_str(part);
        Ok(())
    };
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                let start = i;
                let mut j = i + 1;
                loop {
                    match bytes.get(j) {
                        None => return Err("unterminated string literal".into()),
                        Some(b'\\') if esc == Escapes::Backslash => j += 2,
                        Some(c) if *c == q => {
                            if bytes.get(j + 1) == Some(&q) {
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => j += 1,
                    }
                }
                flush(&mut out, plain_from, start)?;
                let value = literal::unescape(&bytes[start + 1..j], q, esc);
                let quoted = literal::quote(&value, Escapes::Backslash);
                // `_binary'..'` becomes `_binary X'..'`, not the identifier `_binaryX`.
                if quoted.starts_with('X') && out.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    out.push(' ');
                }
                out.push_str(&quoted);
                i = j + 1;
                plain_from = i;
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'#' => i = line_end(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') && bytes.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => {
                i = line_end(bytes, i)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') && bytes.get(i + 2) != Some(&b'!') => {
                i = bytes[i + 2..].windows(2).position(|w| w == b"*/").map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            _ => i += 1,
        }
    }
    flush(&mut out, plain_from, bytes.len())?;
    Ok(Cow::Owned(out))
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..].iter().position(|c| *c == b'\n').map_or(b.len(), |p| from + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(sql: &str) -> String {
        parse(sql).unwrap().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn literals_print_as_mariadb_must_read_them() {
        assert_eq!(printed(r"select 'back\slash'"), r"SELECT 'backslash'");
        assert_eq!(printed(r"select 'a\\b', 'it''s', 'x\'y', '\\\''"), r"SELECT 'a\\b', 'it\'s', 'x\'y', '\\\''");
        assert_eq!(printed(r#"select "dq ""x"" \"y\"""#), r#"SELECT 'dq "x" "y"'"#);
        assert_eq!(printed(r"select 50 % 7 from t where a like 'x\%'"), r"SELECT 50 % 7 FROM t WHERE a LIKE 'x\\%'");
        assert_eq!(printed("select _binary'a\\'b', N'n\\\\'"), r"SELECT _binary 'a\'b', N'n\\'");
        // An injection attempt stays one literal.
        let sql = r"select count(*) from t where b = '\\' or b = ' or 1=1 -- '";
        assert_eq!(printed(sql), r"SELECT count(*) FROM t WHERE b = '\\' OR b = ' or 1=1 -- '");
        for sql in [r"select '\\', 'x\\', '\\\''", r"select 'a\nb\0c\Zd'", "select 'é\\'ü'"] {
            assert_eq!(printed(&printed(sql)), printed(sql), "printing is a fixed point: {sql}");
        }
    }

    #[test]
    fn nesting_is_bounded_before_parsing() {
        let chain = |n: usize, op: &str| {
            let terms: Vec<String> = (0..n).map(|i| format!("id = {i}")).collect();
            format!("select count(*) from t where {}", terms.join(op))
        };
        assert!(depth_bound(&chain(10_000, " or ")) < MAX_DEPTH);
        assert!(matches!(check_depth(&chain(20_000, " or ")), Err(ParseError::TooDeep { .. })));
        let values: Vec<String> = (0..100_000).map(|i| format!("(-{i}, 'a-b', {i}+1)")).collect();
        assert!(depth_bound(&format!("insert into t values {}", values.join(","))) < 10, "rows do not add up");
        assert_eq!(depth_bound("select a from t where b <=> 1 and c || d"), 3);
        assert_eq!(depth_bound("select f(a+b+c, d) + (e*f)"), 2);
        assert_eq!(depth_bound("select 'a+b+c' /* + + */"), 0);
        assert_eq!(depth_bound("select order_id, android, cin from t"), 0, "words inside names do not count");
    }

    #[test]
    fn client_text_reads_the_session_rules_and_keeps_bytes() {
        assert!(matches!(client_text(b"select 'a\\'b'", Escapes::Backslash), Ok(Cow::Borrowed(_))));
        assert_eq!(
            client_text(br"select 'C:\dir\n', 'it''s'", Escapes::NoBackslash).unwrap(),
            r"select 'C:\\dir\\n', 'it\'s'"
        );
        assert_eq!(
            client_text(b"insert into t values (_binary'\xff\x00\\'', 'x')", Escapes::Backslash).unwrap(),
            "insert into t values (_binary X'ff0027', 'x')"
        );
        assert!(client_text(b"select \xff", Escapes::Backslash).is_err());
        assert!(client_text(b"select 'open", Escapes::NoBackslash).is_err());
        assert!(client_text(b"select 1 -- \xff\n", Escapes::NoBackslash).is_err());
    }
}
