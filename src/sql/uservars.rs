//! User variables (`@name`): assignments parsed, references replaced by the session's values.
//!
//! The gateway keeps each session's user variables as SQL literals and substitutes them
//! before planning, so a statement reaches the tablets self-contained whichever connection
//! of the pool runs it. An unset variable is NULL, as in MySQL.

use std::collections::BTreeMap;

/// Parses `@a = expr, @b := expr` (the text after SET). `None` when the SET does not assign
/// user variables; an error when it mixes them with other variables or is malformed.
pub fn parse_set(rest: &str) -> Option<Result<Vec<(String, String)>, String>> {
    if !rest.trim_start().starts_with('@') || rest.trim_start().starts_with("@@") {
        return None;
    }
    let mut out = Vec::new();
    for part in split_top_level(rest) {
        let part = part.trim();
        let Some(after_at) = part.strip_prefix('@').filter(|p| !p.starts_with('@')) else {
            return Some(Err(format!("`{part}`: SET assigns either user variables or session variables, not both")));
        };
        let name_len = after_at
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.'))
            .unwrap_or(after_at.len());
        let (name, rest) = after_at.split_at(name_len);
        let expr = rest.trim_start();
        let expr = expr.strip_prefix(":=").or_else(|| expr.strip_prefix('=')).map(str::trim);
        match expr {
            Some(e) if !name.is_empty() && !e.is_empty() => out.push((name.to_ascii_lowercase(), e.to_string())),
            _ => return Some(Err(format!("`{part}` is not `@name = value`"))),
        }
    }
    Some(Ok(out))
}

/// Splits on commas outside quotes, comments and parentheses.
pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut depth, mut start) = (0i32, 0);
    let mut out = Vec::new();
    for i in super::code_offsets(s) {
        match b[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Byte ranges and names of the `@name` references of `sql` (not `@@system` ones), outside
/// literals, identifiers and comments.
fn references(sql: &str) -> Vec<(usize, usize, String)> {
    let b = sql.as_bytes();
    let word = |from: usize, extra: u8| {
        (from..b.len()).find(|j| !(b[*j].is_ascii_alphanumeric() || b[*j] == b'_' || b[*j] == extra)).unwrap_or(b.len())
    };
    let mut out = Vec::new();
    let mut skip_to = 0;
    for i in super::code_offsets(sql) {
        if i < skip_to || b[i] != b'@' {
            continue;
        }
        if b.get(i + 1) == Some(&b'@') {
            skip_to = word(i + 2, b'.'); // a system variable
            continue;
        }
        let end = word(i + 1, b'$');
        if end > i + 1 {
            out.push((i, end, sql[i + 1..end].to_ascii_lowercase()));
        }
        skip_to = end;
    }
    out
}

/// True when `sql` mentions a user variable.
pub fn mentions(sql: &str) -> bool {
    sql.contains('@') && !references(sql).is_empty()
}

/// Replaces every `@name` by its literal (NULL when unset).
pub fn substitute(sql: &str, vars: &BTreeMap<String, String>) -> String {
    let refs = references(sql);
    if refs.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0;
    for (start, end, name) in refs {
        out.push_str(&sql[copied..start]);
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or("NULL"));
        copied = end;
    }
    out.push_str(&sql[copied..]);
    out
}

/// For `select @a, @b` (user variables only): the variables' names as written.
pub fn select_of_vars(sql: &str) -> Option<Vec<String>> {
    let text = super::skip_noise(sql).trim().trim_end_matches(';').trim();
    let rest = text.get(..6).filter(|k| k.eq_ignore_ascii_case("select")).map(|_| &text[6..])?;
    let items: Vec<&str> = split_top_level(rest).into_iter().map(str::trim).collect();
    items
        .iter()
        .map(|i| {
            let name = i.strip_prefix('@').filter(|n| !n.is_empty() && !n.starts_with('@'))?;
            name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$').then(|| i.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_assignments() {
        assert_eq!(
            parse_set("@a = 1, @B := concat('x', ','), @c=now()").unwrap().unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "concat('x', ',')".into()), ("c".into(), "now()".into())]
        );
        assert!(parse_set("autocommit = 1").is_none());
        assert!(parse_set("@@session.x = 1").is_none());
        assert!(parse_set("@a = 1, autocommit = 0").unwrap().is_err());
        assert!(parse_set("@a").unwrap().is_err());
    }

    #[test]
    fn substitutes_references_only() {
        let mut vars = BTreeMap::new();
        vars.insert("id".to_string(), "42".to_string());
        vars.insert("name".to_string(), "'o\\'k'".to_string());
        assert_eq!(
            substitute(
                "select * from t where id = @id and n = @Name and s = '@id' and v = @@version and u = @unset",
                &vars
            ),
            "select * from t where id = 42 and n = 'o\\'k' and s = '@id' and v = @@version and u = NULL"
        );
        assert!(mentions("select @x"));
        assert!(!mentions("select @@version, 'a@b'"));
        assert_eq!(select_of_vars("select @a, @B"), Some(vec!["@a".into(), "@B".into()]));
        assert_eq!(select_of_vars("select @a + 1"), None);
        assert_eq!(select_of_vars("select @@version"), None);
    }
}
