//! Executable comments: `/*! body */` always runs, `/*!NNNNN body */` and MariaDB's
//! `/*M!NNNNNN body */` run when the server's version is at least NNNNN (`40101` is 4.1.1,
//! `100100` is 10.1.0). The gateway does what MariaDB does before it reads a statement: their
//! bodies become code, the others disappear.

use std::borrow::Cow;

/// `10.11.19-MariaDB-tessera` as MariaDB compares it with an executable comment: 101119.
pub fn version_number(version: &str) -> u32 {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).take(3).map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    a * 10_000 + b * 100 + c
}

/// True when `sql` may hold an executable comment.
pub fn has_executable(sql: &str) -> bool {
    sql.contains("/*!") || sql.contains("/*M!")
}

/// `sql` with its executable comments applied for a server of version `server` (see
/// [`version_number`]). Borrowed when it has none.
pub fn apply(sql: &str, server: u32) -> Cow<'_, str> {
    if !has_executable(sql) {
        return Cow::Borrowed(sql);
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(b, i, q),
            b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|x| x.is_ascii_whitespace()) => {
                i = line_end(b, i)
            }
            b'#' => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let bang = match &b[i + 2..] {
                    [b'!', ..] => 1,
                    [b'M', b'!', ..] => 2,
                    _ => 0,
                };
                if bang == 0 {
                    i = comment_end(b, i + 2);
                    continue;
                }
                let digits_from = i + 2 + bang;
                let digits = b[digits_from..].iter().take_while(|c| c.is_ascii_digit()).count();
                let version: Option<u32> =
                    (digits > 0).then(|| sql[digits_from..digits_from + digits].parse().unwrap_or(u32::MAX));
                let body_from = digits_from + digits;
                let end = code_comment_end(b, body_from);
                out.push_str(&sql[copied..i]);
                out.push(' ');
                if version.is_none_or(|v| v <= server) {
                    let body_to = if end >= 2 && b[end - 2..end] == *b"*/" { end - 2 } else { end };
                    // Nested executable comments inside run by the same rule.
                    out.push_str(&apply(&sql[body_from..body_to], server));
                    out.push(' ');
                }
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

fn skip_quoted(b: &[u8], i: usize, q: u8) -> usize {
    let mut j = i + 1;
    while j < b.len() && b[j] != q {
        if b[j] == b'\\' && q != b'`' {
            j += 1;
        }
        j += 1;
    }
    (j + 1).min(b.len())
}

fn line_end(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// Past the `*/` of a plain comment whose body starts at `from`.
fn comment_end(b: &[u8], from: usize) -> usize {
    b[from..].windows(2).position(|w| w == b"*/").map_or(b.len(), |p| from + p + 2)
}

/// Past the `*/` of an executable comment whose body starts at `from` (its body is code:
/// a `*/` inside a string literal does not end it).
fn code_comment_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() {
        match b[j] {
            q @ (b'\'' | b'"' | b'`') => j = skip_quoted(b, j, q),
            b'*' if b.get(j + 1) == Some(&b'/') => return j + 2,
            _ => j += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: u32 = 101119;

    fn run(sql: &str) -> String {
        apply(sql, V).split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn runs_what_mariadb_runs() {
        assert_eq!(version_number("10.11.19-MariaDB-tessera"), 101119);
        assert_eq!(version_number("8.0.36"), 80036);
        assert!(matches!(apply("select 1", V), Cow::Borrowed("select 1")));
        assert_eq!(run("/*!40101 SET @OLD=@@X */"), "SET @OLD=@@X");
        assert_eq!(run("/*!40101 SET NAMES utf8mb4 */;"), "SET NAMES utf8mb4 ;");
        assert_eq!(run("select /*! 1 + */ 1"), "select 1 + 1");
        assert_eq!(run("select 1 /*!999999 + 5 */"), "select 1");
        assert_eq!(run("select 1 /*M!100100 + 5 */"), "select 1 + 5");
        assert_eq!(run("select '/*!40101 x */' /* plain */"), "select '/*!40101 x */' /* plain */");
        assert_eq!(run("/*!50001 select '*/' */"), "select '*/'");
        assert_eq!(run("-- /*!1 no */\nselect 1"), "-- /*!1 no */ select 1");
        assert_eq!(run("select 1 /*!40101"), "select 1");
    }
}
