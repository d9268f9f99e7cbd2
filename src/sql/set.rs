//! `SET` statements as a list of assignments: user variables, system variables (with their
//! scope), `NAMES`/`CHARACTER SET`, and `TRANSACTION` characteristics. Text only: the values
//! are expressions the session evaluates.

/// The scope a system variable is assigned in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    Global,
}

/// Which transactions `SET [scope] TRANSACTION ...` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxScope {
    /// No scope keyword: the next transaction only.
    Next,
    Session,
    Global,
}

/// One assignment of a SET statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetItem {
    /// `@name = expr` (name lower-cased).
    User { name: String, expr: String },
    /// `[SESSION|GLOBAL] name = expr`, `@@[session.|global.]name = expr` (name lower-cased).
    System { name: String, scope: Scope, expr: String },
    /// `NAMES cs [COLLATE co]`, `CHARACTER SET cs` (`None`: DEFAULT).
    Names { charset: Option<String>, collation: Option<String> },
    /// `[scope] TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE`.
    Transaction { scope: TxScope, isolation: Option<Isolation>, read_only: Option<bool> },
}

pub use crate::protocol::tablet::Isolation;

/// Parses the text after `SET`. Errors say what is malformed.
pub fn parse_set(rest: &str) -> Result<Vec<SetItem>, String> {
    let rest = rest.trim().trim_end_matches(';').trim();
    let mut items = Vec::new();
    // A GLOBAL/SESSION keyword holds for the assignments after it that name no scope.
    let mut scope = Scope::Session;
    for part in super::uservars::split_top_level(rest) {
        let part = part.trim();
        if part.is_empty() {
            return Err("empty assignment in SET".into());
        }
        let (word, after) = first_word(part);
        let upper = word.to_ascii_uppercase();
        let (kw_scope, body) = match upper.as_str() {
            "SESSION" | "LOCAL" => (Some(Scope::Session), after),
            "GLOBAL" | "PERSIST" | "PERSIST_ONLY" => (Some(Scope::Global), after),
            _ => (None, part),
        };
        if let Some(s) = kw_scope {
            scope = s;
        }
        let (word, after) = first_word(body);
        match word.to_ascii_uppercase().as_str() {
            "TRANSACTION" => {
                let tx_scope = match kw_scope {
                    None => TxScope::Next,
                    Some(Scope::Session) => TxScope::Session,
                    Some(Scope::Global) => TxScope::Global,
                };
                items.push(transaction(tx_scope, after)?);
                continue;
            }
            "NAMES" if kw_scope.is_none() => {
                items.push(names(after, true)?);
                continue;
            }
            "CHARSET" if kw_scope.is_none() => {
                items.push(names(after, false)?);
                continue;
            }
            "CHARACTER" if kw_scope.is_none() && first_word(after).0.eq_ignore_ascii_case("SET") => {
                items.push(names(first_word(after).1, false)?);
                continue;
            }
            _ => {}
        }
        // READ ONLY/READ WRITE after a TRANSACTION item belongs to it (`SET TRANSACTION
        // ISOLATION LEVEL ..., READ ONLY`).
        if word.eq_ignore_ascii_case("READ") || word.eq_ignore_ascii_case("ISOLATION") {
            if let Some(SetItem::Transaction { scope, .. }) = items.last() {
                let scope = *scope;
                let SetItem::Transaction { isolation, read_only, .. } = transaction(scope, body)? else {
                    unreachable!("transaction() returns a transaction item")
                };
                if let Some(SetItem::Transaction { isolation: i, read_only: r, .. }) = items.last_mut() {
                    *i = isolation.or(*i);
                    *r = read_only.or(*r);
                }
                continue;
            }
        }
        items.push(assignment(body, kw_scope.unwrap_or(scope))?);
    }
    Ok(items)
}

fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (&s[..end], s[end..].trim_start())
}

fn assignment(body: &str, scope: Scope) -> Result<SetItem, String> {
    let body = body.trim();
    let (name, rest, scope) = if let Some(r) = body.strip_prefix("@@") {
        let (name, rest) = var_name(r);
        let lower = name.to_ascii_lowercase();
        match lower.split_once('.') {
            Some(("global", n)) => (n.to_string(), rest, Scope::Global),
            Some(("session" | "local", n)) => (n.to_string(), rest, Scope::Session),
            _ => (lower, rest, Scope::Session),
        }
    } else if let Some(r) = body.strip_prefix('@') {
        let (name, rest) = user_name(r);
        let expr = value_of(rest).ok_or_else(|| format!("`{body}` is not `@name = value`"))?;
        if name.is_empty() {
            return Err(format!("`{body}` is not `@name = value`"));
        }
        return Ok(SetItem::User { name: name.to_ascii_lowercase(), expr: expr.to_string() });
    } else {
        let (name, rest) = var_name(body);
        (name.to_ascii_lowercase(), rest, scope)
    };
    let name = name.trim_matches('`').to_string();
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err(format!("`{body}` does not name a variable"));
    }
    let expr = value_of(rest).ok_or_else(|| format!("`{body}` is not `name = value`"))?;
    Ok(SetItem::System { name, scope, expr: expr.to_string() })
}

/// A system variable name (`a_b`, `session.a_b`, `` `a_b` ``) and what follows it.
fn var_name(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '`')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn user_name(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The expression after `=` or `:=`.
fn value_of(rest: &str) -> Option<&str> {
    let rest = rest.trim_start();
    let v = rest.strip_prefix(":=").or_else(|| rest.strip_prefix('='))?.trim();
    (!v.is_empty()).then_some(v)
}

fn names(rest: &str, collate: bool) -> Result<SetItem, String> {
    let (cs, after) = quoted_or_word(rest);
    if cs.is_empty() {
        return Err("SET NAMES needs a character set".into());
    }
    let charset = (!cs.eq_ignore_ascii_case("default")).then(|| cs.to_ascii_lowercase());
    let (kw, after) = first_word(after);
    let collation = if collate && kw.eq_ignore_ascii_case("COLLATE") {
        let (co, after) = quoted_or_word(after);
        if co.is_empty() || !after.trim().is_empty() {
            return Err("SET NAMES cs COLLATE collation".into());
        }
        Some(co.to_ascii_lowercase())
    } else if kw.is_empty() {
        None
    } else {
        return Err(format!("unexpected `{kw}` after the character set"));
    };
    Ok(SetItem::Names { charset, collation })
}

fn quoted_or_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    for q in ['\'', '"', '`'] {
        if let Some(r) = s.strip_prefix(q) {
            return match r.find(q) {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => ("", ""),
            };
        }
    }
    first_word(s)
}

fn transaction(scope: TxScope, rest: &str) -> Result<SetItem, String> {
    let words: Vec<String> = rest.split_whitespace().map(|w| w.to_ascii_uppercase()).collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let (mut isolation, mut read_only) = (None, None);
    match w.as_slice() {
        ["ISOLATION", "LEVEL", level @ ..] => {
            isolation = Some(Isolation::parse(&level.join(" ")).ok_or_else(|| {
                format!(
                    "unknown isolation level `{}` (READ UNCOMMITTED, READ COMMITTED, REPEATABLE READ, SERIALIZABLE)",
                    level.join(" ")
                )
            })?);
        }
        ["READ", "ONLY"] => read_only = Some(true),
        ["READ", "WRITE"] => read_only = Some(false),
        _ => return Err(format!("SET TRANSACTION {rest}: expected ISOLATION LEVEL ..., READ ONLY or READ WRITE")),
    }
    Ok(SetItem::Transaction { scope, isolation, read_only })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(name: &str, scope: Scope, expr: &str) -> SetItem {
        SetItem::System { name: name.into(), scope, expr: expr.into() }
    }

    #[test]
    fn parses_assignments() {
        assert_eq!(
            parse_set("autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')").unwrap(),
            vec![
                sys("autocommit", Scope::Session, "1"),
                sys("sql_mode", Scope::Session, "concat(@@sql_mode,',STRICT_TRANS_TABLES')")
            ]
        );
        assert_eq!(
            parse_set("@@session.time_zone := '+00:00', @A = 1, GLOBAL wait_timeout = 5, x = 2").unwrap(),
            vec![
                sys("time_zone", Scope::Session, "'+00:00'"),
                SetItem::User { name: "a".into(), expr: "1".into() },
                sys("wait_timeout", Scope::Global, "5"),
                sys("x", Scope::Global, "2"),
            ]
        );
        assert_eq!(
            parse_set("@@GLOBAL.max_connections=10").unwrap(),
            vec![sys("max_connections", Scope::Global, "10")]
        );
        assert_eq!(
            parse_set("SESSION foreign_key_checks = OFF;").unwrap(),
            vec![sys("foreign_key_checks", Scope::Session, "OFF")]
        );
        assert!(parse_set("x").is_err());
        assert!(parse_set("@a").is_err());
        assert!(parse_set("a = 1,").is_err());
    }

    #[test]
    fn parses_names_and_transactions() {
        assert_eq!(
            parse_set("NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'").unwrap(),
            vec![SetItem::Names { charset: Some("utf8mb4".into()), collation: Some("utf8mb4_unicode_ci".into()) }]
        );
        assert_eq!(
            parse_set("names utf8").unwrap(),
            vec![SetItem::Names { charset: Some("utf8".into()), collation: None }]
        );
        assert_eq!(parse_set("NAMES DEFAULT").unwrap(), vec![SetItem::Names { charset: None, collation: None }]);
        assert_eq!(
            parse_set("character set latin1").unwrap(),
            vec![SetItem::Names { charset: Some("latin1".into()), collation: None }]
        );
        assert_eq!(
            parse_set("SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").unwrap(),
            vec![SetItem::Transaction {
                scope: TxScope::Session,
                isolation: Some(Isolation::ReadCommitted),
                read_only: None
            }]
        );
        assert_eq!(
            parse_set("TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY").unwrap(),
            vec![SetItem::Transaction {
                scope: TxScope::Next,
                isolation: Some(Isolation::Serializable),
                read_only: Some(true)
            }]
        );
        assert!(parse_set("TRANSACTION ISOLATION LEVEL SOMETIMES").is_err());
        assert_eq!(Isolation::parse("'read-committed'"), Some(Isolation::ReadCommitted));
        assert_eq!(Isolation::parse("REPEATABLE_READ"), Some(Isolation::RepeatableRead));
    }
}

/// `SET STATEMENT a = 1, b = 2 FOR <statement>` (the text after `STATEMENT`): the assignments,
/// system variables of the session only, and the statement.
pub fn parse_set_statement(rest: &str) -> Result<(Vec<SetItem>, &str), String> {
    let b = rest.as_bytes();
    let (mut i, mut depth, mut quote) = (0, 0i32, None::<u8>);
    let word_at = |i: usize| {
        b.len() >= i + 3
            && b[i..i + 3].eq_ignore_ascii_case(b"FOR")
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'@'))
            && b.get(i + 3).is_none_or(|c| c.is_ascii_whitespace() || *c == b'(')
    };
    let at = loop {
        let Some(&c) = b.get(i) else { return Err("SET STATEMENT ... FOR <statement>: no FOR".into()) };
        match (quote, c) {
            (Some(q), b'\\') if q != b'`' => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(c),
            (None, b'(') => depth += 1,
            (None, b')') => depth -= 1,
            (None, _) if depth == 0 && word_at(i) => break i,
            _ => {}
        }
        i += 1;
    };
    let items = parse_set(&rest[..at])?;
    for item in &items {
        if !matches!(item, SetItem::System { scope: Scope::Session, .. }) {
            return Err("SET STATEMENT sets session system variables only".into());
        }
    }
    let statement = rest[at + 3..].trim();
    if statement.is_empty() {
        return Err("SET STATEMENT ... FOR: which statement?".into());
    }
    Ok((items, statement))
}

#[cfg(test)]
mod statement_tests {
    use super::*;

    #[test]
    fn set_statement_splits_at_its_for() {
        let (items, stmt) =
            parse_set_statement("max_statement_time = 2, sql_mode = 'FOR,x' FOR select 'for' from t").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(stmt, "select 'for' from t");
        assert!(parse_set_statement("@u = 1 for select 1").is_err());
        assert!(parse_set_statement("x = 1").is_err());
        assert!(parse_set_statement("fortune = 1 for select 1").is_ok_and(|(_, s)| s == "select 1"));
    }
}
