//! `SET` in a session: user variables, system variables, the character set and transaction
//! characteristics, applied in order (all or nothing), and the session's variables read back
//! (`SELECT @@x`, `SHOW VARIABLES`). How each variable follows the session across pooled
//! tablet connections is [`crate::sql::sysvars`].

use super::execute::{evaluate, Services};
use crate::engine::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::GatewayError;
use crate::protocol::tablet::{Field, Isolation, QueryResult, TabletError};
use crate::sql::set::{Scope, SetItem, TxScope};
use crate::sql::sysvars::{self, Kind};

/// Applies a SET statement's assignments in order. When one fails, the session is left as it
/// was before the statement (but a COMMIT that `autocommit = 1` made stays made).
pub async fn run(svc: &Services, s: &mut SessionState, items: Vec<SetItem>) -> Result<(), GatewayError> {
    let saved = (s.vars.clone(), s.sql_mode.clone(), s.user_vars.clone(), s.autocommit);
    for item in items {
        if let Err(e) = apply(svc, s, item).await {
            (s.vars, s.sql_mode, s.user_vars, s.autocommit) = saved;
            return Err(e);
        }
    }
    Ok(())
}

async fn apply(svc: &Services, s: &mut SessionState, item: SetItem) -> Result<(), GatewayError> {
    match item {
        SetItem::User { name, expr } => {
            let value = evaluate(svc, s, &expr).await?;
            s.user_vars.insert(name, value);
        }
        SetItem::System { name, scope: Scope::Global, .. } => {
            return Err(GatewayError::Unsupported(format!(
                "SET GLOBAL {name}: a session cannot change its tablets' global settings through the gateway; \
                 set it in the tablets' MariaDB configuration"
            )))
        }
        SetItem::System { name, scope: Scope::Session, expr } => {
            let name = sysvars::canonical(&name).to_string();
            system(svc, s, name, &expr).await?;
        }
        SetItem::Names { charset, collation } => names(s, charset, collation)?,
        SetItem::Transaction { scope, isolation, read_only } => match scope {
            TxScope::Global => {
                return Err(GatewayError::Unsupported(
                    "SET GLOBAL TRANSACTION: set the tablets' default isolation in their MariaDB configuration".into(),
                ))
            }
            TxScope::Session => {
                s.vars.isolation = isolation.or(s.vars.isolation);
                s.vars.read_only = read_only.or(s.vars.read_only);
            }
            TxScope::Next if s.in_transaction && !s.shard_txs.is_empty() => {
                return Err(mysql(
                    1568,
                    "25001",
                    "Transaction characteristics can't be changed while a transaction is in progress",
                ));
            }
            TxScope::Next => {
                s.vars.next_isolation = isolation.or(s.vars.next_isolation);
                s.vars.next_read_only = read_only.or(s.vars.next_read_only);
            }
        },
    }
    Ok(())
}

fn mysql(code: u16, state: &str, message: &str) -> GatewayError {
    GatewayError::Tablet(TabletError::Mysql { code, state: state.into(), message: message.into() })
}

fn wrong_value(name: &str, value: &str) -> GatewayError {
    mysql(1231, "42000", &format!("Variable '{name}' can't be set to the value of '{value}'"))
}

/// The value of `expr` as text: a bare word (`ON`, `SYSTEM`, `InnoDB`) or a literal as it is,
/// anything else evaluated by MariaDB. `None`: NULL.
async fn text_value(svc: &Services, s: &mut SessionState, expr: &str) -> Result<Option<String>, GatewayError> {
    let e = expr.trim();
    if is_word(e) {
        return Ok(Some(e.to_string()));
    }
    let v = evaluate(svc, s, e).await?;
    Ok(v.value.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn is_word(e: &str) -> bool {
    !e.is_empty() && e.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') && !e.bytes().all(|c| c.is_ascii_digit())
}

/// A plain decimal number (`2`, `-1.5`, `0.000000`, `1e3`).
fn is_number(e: &str) -> bool {
    let digits = e.strip_prefix('-').unwrap_or(e);
    digits.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && digits.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && digits.parse::<f64>().is_ok()
}

fn boolean(name: &str, v: &str) -> Result<bool, GatewayError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" => Ok(true),
        "0" | "off" | "false" => Ok(false),
        _ => Err(wrong_value(name, v)),
    }
}

async fn system(svc: &Services, s: &mut SessionState, name: String, expr: &str) -> Result<(), GatewayError> {
    let default = expr.trim().eq_ignore_ascii_case("default");
    match sysvars::kind(&name) {
        Kind::Autocommit => {
            let on = if default { true } else { boolean(&name, &text_value(svc, s, expr).await?.unwrap_or_default())? };
            if on && s.in_transaction {
                crate::engine::exec::commit(&svc.tablets, s).await?;
            }
            s.autocommit = on;
        }
        Kind::SqlMode => super::execute::set_sql_mode(svc, s, expr).await?,
        Kind::Isolation => {
            s.vars.isolation = if default {
                None
            } else {
                let v = text_value(svc, s, expr).await?.unwrap_or_default();
                Some(Isolation::parse(&v).ok_or_else(|| wrong_value(&name, &v))?)
            };
        }
        Kind::TransactionMode => {
            let mode = if default {
                svc.transaction_mode
            } else {
                let v = text_value(svc, s, expr).await?.unwrap_or_default();
                crate::twopc::TxMode::parse(&v).ok_or_else(|| wrong_value(&name, &v))?
            };
            if s.in_transaction && !s.shard_txs.is_empty() && mode != s.transaction_mode {
                return Err(GatewayError::Other(
                    "transaction_mode cannot change inside a transaction: COMMIT or ROLLBACK first".into(),
                ));
            }
            s.transaction_mode = mode;
        }
        Kind::TxReadOnly => {
            s.vars.read_only = if default {
                None
            } else {
                Some(boolean(&name, &text_value(svc, s, expr).await?.unwrap_or_default())?)
            };
        }
        Kind::Charset => {
            if default {
                s.vars.local.remove(&name);
                return Ok(());
            }
            let v = text_value(svc, s, expr).await?;
            let value = match (name.as_str(), v.as_deref()) {
                // No conversion of results: they come as stored, which for the gateway's UTF-8
                // tablets means UTF-8 (or bytes).
                ("character_set_results", None) => "NULL".to_string(),
                ("character_set_results", Some(b)) if b.eq_ignore_ascii_case("binary") => "binary".to_string(),
                ("collation_connection", Some(c)) => sysvars::utf8_collation(c).ok_or_else(|| not_utf8(&name, c))?,
                (_, Some(cs)) => sysvars::utf8_charset(cs).ok_or_else(|| not_utf8(&name, cs))?.to_string(),
                (_, None) => return Err(wrong_value(&name, "NULL")),
            };
            s.vars.local.insert(name, value);
        }
        Kind::Connection => {
            if default {
                s.vars.local.remove(&name);
                return Ok(());
            }
            let v = text_value(svc, s, expr).await?.unwrap_or_default();
            let value = if name.starts_with("session_track_") {
                v
            } else {
                v.parse::<u64>().map_err(|_| wrong_value(&name, &v))?.to_string()
            };
            s.vars.local.insert(name, value);
        }
        Kind::Refused(why) => return Err(GatewayError::Unsupported(format!("SET {name}: {why}"))),
        Kind::PerStatement => {
            if default {
                s.vars.statement.remove(&name);
                return Ok(());
            }
            let literal = if is_word(expr.trim()) {
                crate::sql::quote_bytes(expr.trim().as_bytes())
            } else if is_number(expr.trim()) {
                // As written: MariaDB takes `1.5` for a DOUBLE variable, not `'1.5'` (1232).
                expr.trim().to_string()
            } else {
                evaluate(svc, s, expr).await?.literal
            };
            // MariaDB checks and normalises the value: the session reads it back through a
            // statement that carries it.
            let previous = s.vars.statement.insert(name.clone(), literal);
            match read_back(svc, s, &name).await {
                Ok(normal) => {
                    s.vars.statement.insert(name, normal);
                }
                Err(e) => {
                    match previous {
                        Some(p) => s.vars.statement.insert(name.clone(), p),
                        None => s.vars.statement.remove(&name),
                    };
                    return Err(explain_refusal(&name, e));
                }
            }
        }
    }
    Ok(())
}

/// `@@session.name` as the tablets see it with the session's variables, as a literal.
async fn read_back(svc: &Services, s: &mut SessionState, name: &str) -> Result<String, GatewayError> {
    let v = evaluate(svc, s, &format!("@@session.{name}")).await?;
    Ok(v.literal)
}

/// MariaDB's 1971 (cannot be set per statement) said in terms of the gateway.
fn explain_refusal(name: &str, e: GatewayError) -> GatewayError {
    match &e {
        GatewayError::Tablet(TabletError::Mysql { code: 1971, .. }) => GatewayError::Unsupported(format!(
            "SET {name}: the gateway sends a session's variables with each statement (SET STATEMENT), and \
             MariaDB cannot set this one that way"
        )),
        _ => e,
    }
}

fn not_utf8(name: &str, value: &str) -> GatewayError {
    GatewayError::Unsupported(format!(
        "SET {name} = {value}: the gateway speaks UTF-8 with clients and tablets; use utf8mb4 (or utf8mb3)"
    ))
}

fn names(s: &mut SessionState, charset: Option<String>, collation: Option<String>) -> Result<(), GatewayError> {
    const VARS: [&str; 4] =
        ["character_set_client", "character_set_connection", "character_set_results", "collation_connection"];
    let Some(cs) = charset else {
        for v in VARS {
            s.vars.local.remove(v);
        }
        return Ok(());
    };
    let cs = sysvars::utf8_charset(&cs).ok_or_else(|| not_utf8("NAMES", &cs))?;
    let collation = match collation {
        Some(c) => sysvars::utf8_collation(&c).filter(|c| c.starts_with(cs)).ok_or_else(|| not_utf8("NAMES", &c))?,
        None => format!("{cs}_general_ci"),
    };
    for v in &VARS[..3] {
        s.vars.local.insert(v.to_string(), cs.to_string());
    }
    s.vars.local.insert(VARS[3].to_string(), collation);
    Ok(())
}

/// A variable the gateway holds for the session: its value as `SELECT @@name` shows it and
/// whether it is a number. `None`: ask the tablets.
pub fn held(s: &SessionState, name: &str) -> Option<(Option<String>, bool)> {
    let name = sysvars::canonical(name);
    match name {
        "transaction_isolation" => s.vars.isolation.map(|i| (Some(i.as_var().to_string()), false)),
        "transaction_read_only" => s.vars.read_only.map(|r| (Some(u8::from(r).to_string()), true)),
        "autocommit" => Some((Some(u8::from(s.autocommit).to_string()), true)),
        "transaction_mode" => Some((Some(s.transaction_mode.as_str().to_string()), false)),
        _ => s.vars.local.get(name).map(|v| {
            let value = (v != "NULL").then(|| v.clone());
            (value, matches!(sysvars::kind(name), Kind::Connection) && !name.starts_with("session_track_"))
        }),
    }
}

/// Answers `select @@a, @@b, ...`: the variables the gateway holds from the session, the rest
/// from one tablet statement that carries the session's variables.
pub async fn select_vars(
    tc: &ShardsRef,
    s: &mut SessionState,
    tablet: Option<&(String, String)>,
    asks: &[(String, String, bool)],
) -> Result<Vec<(Field, Option<Vec<u8>>)>, GatewayError> {
    let mut out: Vec<Option<(Field, Option<Vec<u8>>)>> = Vec::with_capacity(asks.len());
    let mut remote = Vec::new();
    for (i, (label, name, global)) in asks.iter().enumerate() {
        match (!global).then(|| held(s, name)).flatten() {
            Some((value, number)) => {
                let field = super::local::value_field(label, number);
                out.push(Some((field, value.map(String::into_bytes))));
            }
            None => {
                out.push(None);
                // Unscoped, MariaDB answers the session's value, or the global one of a
                // variable that has no session value (`@@lower_case_table_names`).
                remote.push((i, if *global { format!("@@global.{name}") } else { format!("@@{name}") }));
            }
        }
    }
    if !remote.is_empty() {
        let Some((ks, shard)) = tablet else {
            return Err(GatewayError::Other("no keyspace has a shard yet to read variables from".into()));
        };
        let sql = format!("select {}", remote.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join(", "));
        let r: QueryResult = crate::engine::exec::run_on_shard(tc, s, ks, shard, s.target.tablet_type, &sql).await?;
        let row = r.rows.into_iter().next().unwrap_or_default();
        for (j, ((i, _), field)) in remote.iter().zip(r.fields).enumerate() {
            let value = row.get(j).cloned().flatten();
            out[*i] = Some((Field { name: asks[*i].0.clone(), org_name: String::new(), ..field }, value));
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

/// `SHOW [SESSION] VARIABLES` rows (name, value) with the values the gateway holds put in.
pub fn patch_show(s: &SessionState, r: &mut QueryResult) {
    for row in &mut r.rows {
        let Some(Some(name)) = row.first() else { continue };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if let Some((value, _)) = held(s, &name) {
            if let Some(cell) = row.get_mut(1) {
                *cell = Some(value.unwrap_or_default().into_bytes());
            }
        }
    }
}
