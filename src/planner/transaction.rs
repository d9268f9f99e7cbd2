//! Transaction control statements: BEGIN / START TRANSACTION, COMMIT, ROLLBACK, and savepoints
//! (`SAVEPOINT x`, `ROLLBACK [WORK] TO [SAVEPOINT] x`, `RELEASE SAVEPOINT x`).

use crate::plan::{GatewayError, Plan, SavepointOp};

/// The plan of a statement that starts with `kw` (upper case; `rest` follows it), or `None`
/// when it is not transaction control.
pub fn plan(kw: &str, rest: &str) -> Option<Result<Plan, GatewayError>> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
    Some(match kw {
        "BEGIN" => Ok(Plan::Begin),
        "START" if is(0, "TRANSACTION") => Ok(Plan::Begin),
        "COMMIT" => Ok(Plan::Commit),
        "ROLLBACK" => {
            let at = usize::from(is(0, "WORK"));
            if is(at, "TO") {
                let at = at + 1 + usize::from(is(at + 1, "SAVEPOINT"));
                name(rest, at).map(|name| Plan::Savepoint { op: SavepointOp::RollbackTo, name })
            } else {
                Ok(Plan::Rollback)
            }
        }
        "SAVEPOINT" => name(rest, 0).map(|name| Plan::Savepoint { op: SavepointOp::Set, name }),
        "RELEASE" if is(0, "SAVEPOINT") => name(rest, 1).map(|name| Plan::Savepoint { op: SavepointOp::Release, name }),
        _ => return None,
    })
}

/// The savepoint name that is the `at`-th word of `rest` and its last: `x` or `` `x y` ``.
fn name(rest: &str, at: usize) -> Result<String, GatewayError> {
    let mut tail = rest.trim();
    for _ in 0..at {
        tail = tail.split_once(char::is_whitespace).map(|(_, t)| t.trim_start()).unwrap_or("");
    }
    let tail = tail.trim_end_matches(';').trim();
    let bad = || GatewayError::Syntax(format!("expected one savepoint name, found `{tail}`"));
    if let Some(quoted) = tail.strip_prefix('`') {
        let inner = quoted.strip_suffix('`').ok_or_else(bad)?;
        if inner.is_empty() || inner.replace("``", "").contains('`') {
            return Err(bad());
        }
        return Ok(inner.replace("``", "`"));
    }
    if tail.is_empty() || !tail.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$') {
        return Err(bad());
    }
    Ok(tail.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(sql: &str) -> Option<(SavepointOp, String)> {
        let (kw, rest) = sql.split_once(' ').unwrap_or((sql, ""));
        match plan(&kw.to_ascii_uppercase(), rest)?.ok()? {
            Plan::Savepoint { op, name } => Some((op, name)),
            _ => None,
        }
    }

    #[test]
    fn savepoint_statements() {
        assert_eq!(sp("SAVEPOINT sp1"), Some((SavepointOp::Set, "sp1".into())));
        assert_eq!(sp("savepoint `s 1`"), Some((SavepointOp::Set, "s 1".into())));
        assert_eq!(sp("ROLLBACK TO SAVEPOINT sp1"), Some((SavepointOp::RollbackTo, "sp1".into())));
        assert_eq!(sp("rollback work to sp1"), Some((SavepointOp::RollbackTo, "sp1".into())));
        assert_eq!(sp("RELEASE SAVEPOINT `a``b`"), Some((SavepointOp::Release, "a`b".into())));
        assert!(matches!(plan("ROLLBACK", ""), Some(Ok(Plan::Rollback))));
        assert!(matches!(plan("ROLLBACK", "WORK"), Some(Ok(Plan::Rollback))));
        assert!(matches!(plan("SAVEPOINT", "a b"), Some(Err(_))));
        assert!(matches!(plan("SAVEPOINT", ""), Some(Err(_))));
        assert!(plan("RELEASE", "nothing").is_none());
    }
}
