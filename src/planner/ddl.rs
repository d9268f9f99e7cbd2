//! DDL through the gateway (`CREATE/ALTER/DROP/RENAME/TRUNCATE`): a keyspace's shards share
//! one schema, so a statement about its tables runs on the primary of every serving shard
//! (as written: each tablet's database is the keyspace's name, so `ks.t` qualifiers hold).
//! Databases are keyspaces, made by the control plane; users live in the gateway's users file.

use crate::plan::{GatewayError, Plan, Target};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;

/// The words after the keyword, upper-cased, skipping `OR REPLACE`, `TEMPORARY`-less noise.
fn object_kind(rest: &str) -> Vec<String> {
    rest.split_whitespace().take(6).map(|w| w.trim_end_matches(';').to_ascii_uppercase()).collect()
}

/// Keyspaces named as qualifiers (`ks.t`, `` `ks`.`t` ``) outside literals and comments.
fn qualifiers(sql: &str, view: &RoutingView) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                i = j + 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| i + p)
            }
            b'#' => i = b[i..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| i + p),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = b[i + 2..].windows(2).position(|w| w == b"*/").map_or(b.len(), |p| i + 2 + p + 2)
            }
            _ => {
                // An identifier (plain or backquoted) followed by a dot.
                let (ident, end) = if c == b'`' {
                    let close = b[i + 1..].iter().position(|x| *x == b'`').map_or(b.len(), |p| i + 1 + p);
                    (sql.get(i + 1..close).unwrap_or("").to_string(), close + 1)
                } else if c.is_ascii_alphanumeric() || c == b'_' {
                    let end = b[i..]
                        .iter()
                        .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_'))
                        .map_or(b.len(), |p| i + p);
                    (sql[i..end].to_string(), end)
                } else {
                    i += 1;
                    continue;
                };
                if b.get(end) == Some(&b'.') && view.keyspace(&ident).is_some() && !out.contains(&ident) {
                    out.push(ident);
                }
                i = end.max(i + 1);
            }
        }
    }
    out
}

/// Plans a DDL statement (`kw` is CREATE, ALTER, DROP, RENAME or TRUNCATE; `text` the whole
/// statement). `None`: not DDL about tables (the general planner takes it).
pub(super) fn plan(
    kw: &str,
    rest: &str,
    text: &str,
    target: &Target,
    view: &RoutingView,
) -> Result<Option<Plan>, GatewayError> {
    let words = object_kind(rest);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let object = match w.as_slice() {
        ["OR", "REPLACE", o, ..] => *o,
        [o, ..] => *o,
        [] => return Ok(None),
    };
    match object {
        "DATABASE" | "SCHEMA" => {
            // `CREATE DATABASE IF NOT EXISTS ks` for a keyspace that exists: nothing to do.
            let name = w.last().map(|n| n.trim_matches('`').to_ascii_lowercase()).unwrap_or_default();
            let exists = view.topo.keyspaces.keys().any(|k| k.eq_ignore_ascii_case(&name));
            if kw == "CREATE" && w.get(1..3) == Some(&["IF", "NOT"]) && exists {
                return Ok(Some(Plan::Set(Vec::new())));
            }
            return Err(GatewayError::Unsupported(format!(
                "{kw} DATABASE: in tessera a database is a keyspace, made and removed by the control plane \
                 (`tessera ctl CreateKeyspace <name>` with its shards and tablets, `tessera ctl DeleteKeyspace`)"
            )));
        }
        "USER" | "ROLE" => {
            return Err(GatewayError::Unsupported(format!(
                "{kw} {object}: gateway users and passwords live in the users file ([gateway] users_file)"
            )))
        }
        "TEMPORARY" => {
            return Err(GatewayError::Unsupported(format!(
                "{kw} TEMPORARY TABLE: a temporary table lives on one MySQL connection, and a session's statements \
                 run on pooled tablet connections; use a regular table"
            )))
        }
        "SERVER" | "TABLESPACE" | "LOGFILE" => {
            return Err(GatewayError::Unsupported(format!("{kw} {object} through the gateway")))
        }
        _ => {}
    }
    let named = qualifiers(text, view);
    let ks = match named.as_slice() {
        [] => target.keyspace.clone().ok_or(GatewayError::NoDatabase)?,
        [one] => one.clone(),
        many => {
            return Err(GatewayError::Unsupported(format!(
                "{kw} over several keyspaces ({}); run it in each",
                many.join(", ")
            )))
        }
    };
    let k = view.keyspace(&ks).ok_or_else(|| GatewayError::UnknownKeyspace(ks.clone()))?;
    // An explicit shard target runs it on that shard only (as Vitess).
    let shards = match (&target.shard, target.keyspace.as_deref() == Some(ks.as_str())) {
        (Some(s), true) => vec![s.clone()],
        _ => view.serving_shards(k, TabletType::Primary),
    };
    if shards.is_empty() {
        return Err(super::route::no_shards(&ks));
    }
    let all = k.shard_names();
    if target.shard.is_none() && shards.len() < all.len() {
        return Err(GatewayError::Routing {
            keyspace: ks.clone(),
            message: format!(
                "{kw}: {} of its {} shards serve; a schema change must reach every shard (retry when they do)",
                shards.len(),
                all.len()
            ),
        });
    }
    Ok(Some(Plan::Route { keyspace: ks, shards, sql: text.to_string(), tablet_type: target.tablet_type }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keyspace_qualifiers() {
        let view = crate::routing::example_view();
        assert_eq!(qualifiers("create table customer.t (a int)", &view), vec!["customer"]);
        assert_eq!(qualifiers("drop table if exists `commerce`.`p`, x", &view), vec!["commerce"]);
        assert!(qualifiers("alter table t add check (t.a > 0), comment 'customer.x'", &view).is_empty());
    }
}
