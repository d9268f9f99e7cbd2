//! Statements about the session and the cluster rather than data: SET, SHOW, and selects of
//! session functions (`select database()`, `select @@version`, ...).

use sqlparser::ast::{Expr, SetExpr, Value as SqlValue};

use crate::plan::{GatewayError, Plan, SessionItem};

/// `SET ...`: the assignments, or a clear error for what is not a session assignment.
pub fn plan_set(rest: &str) -> Result<Plan, GatewayError> {
    let (first, _) = rest.trim_start().split_once(char::is_whitespace).unwrap_or((rest.trim(), ""));
    match first.to_ascii_uppercase().as_str() {
        "PASSWORD" | "ROLE" | "DEFAULT" => {
            return Err(GatewayError::Unsupported(format!(
                "SET {}: gateway users and passwords live in the users file ([gateway] users_file)",
                first.to_ascii_uppercase()
            )))
        }
        "STATEMENT" => {
            let after = rest.trim_start()["STATEMENT".len()..].trim_start();
            let (items, statement) = crate::sql::set::parse_set_statement(after).map_err(GatewayError::Syntax)?;
            return Ok(Plan::SetStatement { items, statement: statement.to_string() });
        }
        _ => {}
    }
    crate::sql::set::parse_set(rest).map(Plan::Set).map_err(GatewayError::Syntax)
}

/// A `select` with no FROM whose items are all session functions the gateway answers.
pub(super) fn session_select(q: &sqlparser::ast::Query) -> Option<Vec<(String, SessionItem)>> {
    let SetExpr::Select(s) = q.body.as_ref() else { return None };
    if !s.from.is_empty() || s.selection.is_some() {
        return None;
    }
    let mut items = Vec::new();
    for item in &s.projection {
        let (expr, alias) = match item {
            sqlparser::ast::SelectItem::UnnamedExpr(e) => (e, None),
            sqlparser::ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return None,
        };
        let text = expr.to_string();
        let lower = text.to_ascii_lowercase().replace(' ', "");
        let item = match lower.as_str() {
            "database()" | "schema()" => SessionItem::Database,
            "@@version" | "version()" | "@@global.version" => SessionItem::Version,
            "@@version_comment" => SessionItem::VersionComment,
            "connection_id()" => SessionItem::ConnectionId,
            "last_insert_id()" => SessionItem::LastInsertId,
            "found_rows()" => SessionItem::FoundRows,
            "row_count()" => SessionItem::RowCount,
            "user()" | "session_user()" | "system_user()" => SessionItem::User,
            "current_user()" | "current_user" => SessionItem::CurrentUser,
            "@@autocommit" | "@@session.autocommit" => SessionItem::Autocommit,
            "@@sql_mode" | "@@session.sql_mode" | "@@local.sql_mode" => SessionItem::SqlMode,
            v if v.starts_with("@@") => {
                let name = v.trim_start_matches("@@");
                let (global, name) = match name.split_once('.') {
                    Some(("global", n)) => (true, n),
                    Some(("session" | "local", n)) => (false, n),
                    Some(_) => return None,
                    None => (false, name),
                };
                if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    return None;
                }
                SessionItem::Var { name: name.trim_matches('`').to_string(), global }
            }
            _ => match expr {
                Expr::Value(v) if matches!(v.value, SqlValue::Number(..) | SqlValue::SingleQuotedString(_)) => {
                    SessionItem::Literal(match &v.value {
                        SqlValue::SingleQuotedString(s) => {
                            String::from_utf8_lossy(&crate::sql::literal::body_value(s)).into_owned()
                        }
                        other => other.to_string(),
                    })
                }
                _ => return None,
            },
        };
        items.push((alias.unwrap_or(text), item));
    }
    Some(items)
}

/// Parses the text after `KILL`: `[HARD|SOFT] [CONNECTION|QUERY] <id>`; `(id, connection)`.
pub fn parse_kill(rest: &str) -> Result<(u32, bool), GatewayError> {
    let words: Vec<String> = rest.split_whitespace().map(|w| w.trim_end_matches(';').to_ascii_uppercase()).collect();
    let mut w: &[String] = &words;
    if let Some(first) = w.first() {
        if first == "HARD" || first == "SOFT" {
            w = &w[1..];
        }
    }
    let connection = match w.first().map(String::as_str) {
        Some("QUERY") => {
            w = &w[1..];
            if w.first().map(String::as_str) == Some("ID") {
                return Err(GatewayError::Unsupported(
                    "KILL QUERY ID: MariaDB query ids name a tablet's statements; kill the session's statement with \
                     KILL QUERY <connection id>"
                        .into(),
                ));
            }
            false
        }
        Some("CONNECTION") => {
            w = &w[1..];
            true
        }
        Some("USER") => return Err(GatewayError::Unsupported("KILL USER; kill sessions by connection id".into())),
        _ => true,
    };
    match w {
        [id] => id
            .parse::<u32>()
            .map(|id| (id, connection))
            .map_err(|_| GatewayError::Syntax(format!("KILL takes a connection id (a number), not `{id}`"))),
        _ => Err(GatewayError::Syntax("KILL [CONNECTION|QUERY] <connection id>".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kill() {
        assert_eq!(parse_kill("12").unwrap(), (12, true));
        assert_eq!(parse_kill("query 12").unwrap(), (12, false));
        assert_eq!(parse_kill("HARD CONNECTION 3;").unwrap(), (3, true));
        assert!(parse_kill("query id 5").is_err());
        assert!(parse_kill("user app").is_err());
        assert!(parse_kill("x").is_err());
    }
}
