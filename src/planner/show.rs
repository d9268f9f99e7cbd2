//! `SHOW ...`, `DESCRIBE t` and `EXPLAIN <statement>`: answered by the gateway (databases,
//! Vitess's views, variables) or by one tablet of the keyspace they are about. A keyspace is a
//! database of the same name on its tablets, and shards share their schema, so one shard
//! answers for the keyspace with the names clients use.

use crate::plan::{GatewayError, Local, Plan, Target};
use crate::routing::RoutingView;

/// A word of a SHOW statement and where it starts in the text.
struct Word<'a> {
    text: &'a str,
    at: usize,
}

/// Splits at blanks outside quotes (`'..'`, `".."`, `` `..` ``).
fn words(s: &str) -> Vec<Word<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut quote = None;
        while i < b.len() {
            match (quote, b[i]) {
                (None, c) if c.is_ascii_whitespace() => break,
                (None, c @ (b'\'' | b'"' | b'`')) => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some(b'\'' | b'"'), b'\\') => i += 1,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(b.len());
        out.push(Word { text: &s[start..end], at: start });
    }
    out
}

fn unquote(w: &str) -> String {
    w.trim_matches('`').replace("``", "`")
}

/// `ks.t`, `` `ks`.`t` ``, `t` as (qualifier, table).
fn table_name(w: &str) -> (Option<String>, String) {
    let w = w.trim_end_matches(';');
    // A dot outside backquotes.
    let mut in_q = false;
    for (i, c) in w.char_indices() {
        match c {
            '`' => in_q = !in_q,
            '.' if !in_q => return (Some(unquote(&w[..i])), unquote(&w[i + 1..])),
            _ => {}
        }
    }
    (None, unquote(w))
}

/// Where a statement about `ks` runs: its first serving shard.
fn on_keyspace(ks: &str, sql: String, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let k = view.keyspace(ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.to_string()))?;
    let shard = match (&target.shard, target.keyspace.as_deref() == Some(ks)) {
        (Some(s), true) => s.clone(),
        _ => {
            view.serving_shards(k, target.tablet_type).into_iter().next().ok_or_else(|| super::route::no_shards(ks))?
        }
    };
    Ok(Plan::Route { keyspace: ks.to_string(), shards: vec![shard], sql, tablet_type: target.tablet_type })
}

/// The keyspace of `table` (qualified, the session's, or the one keyspace that has it).
fn keyspace_of(
    qualifier: Option<&str>,
    table: &str,
    target: &Target,
    view: &RoutingView,
) -> Result<String, GatewayError> {
    view.table_keyspace(qualifier, target.keyspace.as_deref(), table, target.tablet_type).map_err(|many| {
        if many.is_empty() {
            GatewayError::NoDatabase
        } else {
            GatewayError::Routing {
                keyspace: many.join(","),
                message: format!("table `{table}` is in several keyspaces; qualify it or `use` one"),
            }
        }
    })
}

/// The keyspace a table belongs to, and the statement text with its qualifier made the
/// keyspace's database when a routing rule sends it elsewhere.
fn table_route(
    text: &str,
    word: &Word<'_>,
    from_ks: Option<String>,
    target: &Target,
    view: &RoutingView,
) -> Result<Plan, GatewayError> {
    let (qualifier, table) = table_name(word.text);
    let qualifier = qualifier.or(from_ks);
    let ks = keyspace_of(qualifier.as_deref(), &table, target, view)?;
    let sql = match qualifier {
        // The keyspace's database is the keyspace's name: only a rule that moved the table
        // changes it.
        Some(q) if q != ks => {
            let end = word.at + word.text.trim_end_matches(';').len();
            format!(
                "{}{}.{}{}",
                &text[..word.at],
                crate::sql::quote_ident(&ks),
                crate::sql::quote_ident(&table),
                &text[end..]
            )
        }
        _ => text.to_string(),
    };
    on_keyspace(&ks, sql, target, view)
}

/// The keyspace named after `FROM`/`IN` at `words[i..]`, if any.
fn from_keyspace(w: &[Word<'_>], lower: &[String], i: usize) -> Option<String> {
    (i + 1 < w.len() && matches!(lower[i].as_str(), "from" | "in"))
        .then(|| unquote(w[i + 1].text.trim_end_matches(';')))
}

/// Plans `SHOW <rest>`; `None` for SHOW statements the general planner handles.
pub(super) fn plan_show(rest: &str, target: &Target, view: &RoutingView) -> Result<Option<Plan>, GatewayError> {
    let text = format!("SHOW {rest}");
    let w = words(&text);
    let lower: Vec<String> = w.iter().map(|x| x.text.trim_end_matches(';').to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().skip(1).map(String::as_str).collect();
    let keyspace_or_session =
        |ks: Option<String>| ks.or_else(|| target.keyspace.clone()).ok_or(GatewayError::NoDatabase);
    Ok(Some(match l.as_slice() {
        ["databases" | "schemas", ..] => Plan::Local(Local::Databases),
        ["vitess_keyspaces"] | ["keyspaces"] => Plan::Local(Local::VitessKeyspaces),
        ["vitess_shards"] => Plan::Local(Local::VitessShards),
        ["vitess_tablets"] => Plan::Local(Local::VitessTablets),
        // The gateway's sessions, not the tablets' connections.
        ["processlist"] => Plan::Local(Local::ProcessList { full: false }),
        ["full", "processlist"] => Plan::Local(Local::ProcessList { full: true }),
        ["variables", ..] | ["session" | "local", "variables", ..] | ["global", "variables", ..] => {
            let (keyspace, shard) = super::route::any_tablet(target, view)?;
            Plan::Local(Local::ShowVariables { keyspace, shard, sql: text.clone(), session: l[0] != "global" })
        }
        // Statements about a keyspace's tables: SHOW [FULL] TABLES, TABLE STATUS, TRIGGERS,
        // EVENTS, OPEN TABLES [FROM ks].
        // A sharded keyspace's TABLE STATUS: rows and bytes summed over its shards.
        ["table", "status", ..] => {
            let from = (1..w.len()).find_map(|i| from_keyspace(&w, &lower, i));
            let ks = keyspace_or_session(from)?;
            let one = on_keyspace(&ks, text.clone(), target, view)?;
            let Plan::Route { keyspace, shards, .. } = &one else { return Ok(Some(one)) };
            let mut tablets = vec![(keyspace.clone(), shards[0].clone())];
            if target.shard.is_none() && super::infoschema::sharded_shards(&mut tablets, target, view) {
                Plan::Local(Local::EachKeyspace {
                    tablets,
                    sql: text.clone(),
                    order: Vec::new(),
                    limit: None,
                    sum_tables: true,
                })
            } else {
                one
            }
        }
        ["tables", ..] | ["full", "tables", ..] | ["triggers", ..] | ["events", ..] | ["open", "tables", ..] => {
            let from = (1..w.len()).find_map(|i| from_keyspace(&w, &lower, i));
            let ks = keyspace_or_session(from)?;
            on_keyspace(&ks, text.clone(), target, view)?
        }
        // Statements about one table: SHOW [FULL] COLUMNS|FIELDS, INDEX|INDEXES|KEYS FROM t [FROM ks].
        ["columns" | "fields" | "index" | "indexes" | "keys", "from" | "in", ..]
        | ["full" | "extended", "columns" | "fields", "from" | "in", ..]
        | ["extended", "index" | "indexes" | "keys", "from" | "in", ..] => {
            let at = lower.iter().position(|x| x == "from" || x == "in").unwrap_or(0);
            let Some(table) = w.get(at + 1) else {
                return Err(GatewayError::Syntax(format!("{text}: which table?")));
            };
            let from = from_keyspace(&w, &lower, at + 2);
            table_route(&text, table, from, target, view)?
        }
        ["create", "table" | "view" | "trigger" | "procedure" | "function" | "event" | "sequence", name, ..] => {
            let _ = name;
            table_route(&text, &w[3], None, target, view)?
        }
        ["create", "database" | "schema", rest @ ..] => {
            let Some(name) = rest.last() else {
                return Err(GatewayError::Syntax("SHOW CREATE DATABASE <name>".into()));
            };
            on_keyspace(&unquote(w[w.len() - 1].text.trim_end_matches(';')), text.clone(), target, view).map_err(
                |e| match e {
                    GatewayError::UnknownKeyspace(_) => GatewayError::UnknownKeyspace(name.to_string()),
                    other => other,
                },
            )?
        }
        _ => return Ok(None),
    }))
}

/// `DESCRIBE t [column]`, `DESC t`, `EXPLAIN t`: the table's keyspace answers. `EXPLAIN
/// <statement>` (and `DESCRIBE <statement>`): one shard of the statement's keyspace shows how
/// MariaDB runs it there. `None`: not one of these.
pub(super) fn plan_describe(kw: &str, rest: &str, target: &Target, view: &RoutingView) -> Result<Plan, GatewayError> {
    let text = format!("{kw} {rest}");
    let w = words(&text);
    let first = w.get(1).map(|x| x.text.to_ascii_lowercase()).unwrap_or_default();
    let statement = first.starts_with('(')
        || first.starts_with("format")
        || matches!(
            first.as_str(),
            "select" | "insert" | "update" | "delete" | "replace" | "with" | "extended" | "partitions" | "analyze"
        );
    if !statement {
        let Some(table) = w.get(1) else { return Err(GatewayError::Syntax(format!("{kw} which table?"))) };
        return table_route(&text, table, None, target, view);
    }
    // The keyspace of the statement's tables (or the session's, for none).
    let inner_at = w.iter().skip(1).find(|x| {
        let t = x.text.to_ascii_lowercase();
        matches!(t.as_str(), "select" | "insert" | "update" | "delete" | "replace" | "with") || t.starts_with('(')
    });
    let Some(inner) = inner_at.map(|x| &text[x.at..]) else {
        return Err(GatewayError::Syntax(format!("{text}: explain which statement?")));
    };
    // The keyspace of its first table (the tablets of one keyspace share a schema).
    let stmts = crate::sql::parse::parse(inner)?;
    let mut first = None;
    for stmt in &stmts {
        let _ = sqlparser::ast::visit_relations(stmt, |name: &sqlparser::ast::ObjectName| {
            first.get_or_insert_with(|| table_name(&name.to_string()));
            std::ops::ControlFlow::<()>::Break(())
        });
    }
    let ks = match first {
        Some((qualifier, table)) => keyspace_of(qualifier.as_deref(), &table, target, view)?,
        None => super::route::any_tablet(target, view)?.0,
    };
    on_keyspace(&ks, text.clone(), target, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_and_names() {
        let w = words("SHOW COLUMNS FROM `my t` LIKE 'a b'");
        let t: Vec<&str> = w.iter().map(|x| x.text).collect();
        assert_eq!(t, vec!["SHOW", "COLUMNS", "FROM", "`my t`", "LIKE", "'a b'"]);
        assert_eq!(table_name("`ks`.`t`"), (Some("ks".into()), "t".into()));
        assert_eq!(table_name("ks.t;"), (Some("ks".into()), "t".into()));
        assert_eq!(table_name("`a.b`"), (None, "a.b".into()));
    }
}
