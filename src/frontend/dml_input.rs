//! Runs a DML with input ([`DmlInputPlan`]): the primary key of each changed table (asked of
//! one of its shards), the input SELECT (bounded by `max_rows`, its rows locked FOR UPDATE),
//! then the statements that change those rows, all in one transaction: the session's, or one
//! of the statement's own, rolled back on any error.

use super::execute::{execute, Services};
use crate::engine::exec::{self, Answer};
use crate::engine::session::SessionState;
use crate::plan::{DmlInputPlan, GatewayError, KeyProbe};
use crate::protocol::topology::TabletType;

pub async fn run(svc: &Services, s: &mut SessionState, plan: &DmlInputPlan) -> Result<Answer, GatewayError> {
    let mut keys = Vec::with_capacity(plan.keys.len());
    for k in &plan.keys {
        keys.push(primary_key(svc, s, k).await?);
    }
    let input = plan.action.input(&keys)?;
    let own = begin_statement(s);
    let result = apply(svc, s, plan, &keys, &input).await;
    end_statement(svc, s, own, result).await
}

/// Puts the session in a transaction for a statement of several steps; returns whether the
/// transaction is the statement's own (autocommit and none open) rather than the session's.
pub(super) fn begin_statement(s: &mut SessionState) -> bool {
    let own = !s.in_transaction && s.autocommit;
    s.in_transaction = true;
    own
}

/// Ends what [`begin_statement`] began: its own transaction commits on success and rolls back
/// on error; the session's is left open either way.
pub(super) async fn end_statement(
    svc: &Services,
    s: &mut SessionState,
    own: bool,
    result: Result<Answer, GatewayError>,
) -> Result<Answer, GatewayError> {
    match (&result, own) {
        (Ok(_), true) => exec::commit(&svc.tablets, s).await?,
        (Err(_), true) => exec::rollback(&svc.tablets, s).await,
        _ => {}
    }
    result
}

async fn apply(
    svc: &Services,
    s: &mut SessionState,
    plan: &DmlInputPlan,
    keys: &[Vec<String>],
    input: &str,
) -> Result<Answer, GatewayError> {
    let rows = Box::pin(execute(svc, s, input))
        .await?
        .rows(svc.max_rows)
        .await?
        .ok_or_else(|| GatewayError::Other(format!("`{input}` returned no result")))?;
    if rows.rows.len() > svc.max_rows {
        return Err(GatewayError::Other(format!(
            "the statement changes more than the gateway's max_rows ({}) rows across shards; change fewer at a time",
            svc.max_rows
        )));
    }
    let mut affected = 0;
    for step in plan.action.steps(keys, &rows)? {
        if let Answer::Ok { affected: a, .. } = Box::pin(execute(svc, s, &step.sql)).await? {
            if step.counted {
                affected += a;
            }
        }
    }
    Ok(Answer::Ok { affected, last_insert_id: 0, info: String::new() })
}

/// A write to a reference table's source and copies, one shard at a time, in one transaction
/// (the session's, or one of its own); the first target's answer is the client's.
pub async fn fanout(
    svc: &Services,
    s: &mut SessionState,
    sql: &str,
    targets: &[(String, String)],
) -> Result<Answer, GatewayError> {
    let own = begin_statement(s);
    let result = fan(svc, s, sql, targets).await;
    end_statement(svc, s, own, result).await
}

async fn fan(
    svc: &Services,
    s: &mut SessionState,
    sql: &str,
    targets: &[(String, String)],
) -> Result<Answer, GatewayError> {
    let mut first = None;
    for (ks, shard) in targets {
        let answer =
            exec::run_route(&svc.tablets, s, ks, std::slice::from_ref(shard), sql, TabletType::Primary).await?;
        first.get_or_insert(answer);
    }
    first.ok_or_else(|| GatewayError::Other("a reference table write with no serving shard".into()))
}

/// The primary key columns of a table, in key order (empty when it has none).
async fn primary_key(svc: &Services, s: &mut SessionState, k: &KeyProbe) -> Result<Vec<String>, GatewayError> {
    let sql = format!("show keys from {} where key_name = 'PRIMARY'", crate::sql::quote_ident(&k.table));
    let r = exec::run_on_shard(&svc.tablets, s, &k.keyspace, &k.shard, TabletType::Primary, &sql).await?;
    let col = |name: &str| r.fields.iter().position(|f| f.name.eq_ignore_ascii_case(name));
    let (Some(seq), Some(column)) = (col("Seq_in_index"), col("Column_name")) else {
        return Err(GatewayError::Other(format!("`{sql}` on {}/{} gave no key columns", k.keyspace, k.shard)));
    };
    let mut parts: Vec<(u32, String)> = r
        .rows
        .iter()
        .filter_map(|row| {
            let n = std::str::from_utf8(row.get(seq)?.as_deref()?).ok()?.parse().ok()?;
            Some((n, String::from_utf8_lossy(row.get(column)?.as_deref()?).into_owned()))
        })
        .collect();
    parts.sort();
    Ok(parts.into_iter().map(|(_, c)| c).collect())
}
