//! Savepoints across the shards of a transaction. Each shard's MariaDB keeps its own; the
//! session keeps their names in order, so a shard that joins the transaction after
//! `SAVEPOINT a` sets `a` first, before its first statement, and `ROLLBACK TO a` undoes its
//! part as well.

use super::exec::shard_call;
use super::session::SessionState;
use super::shards::ShardsRef;
use crate::plan::{GatewayError, SavepointOp};
use crate::protocol::tablet::{ExecOptions, TabletError};
use crate::protocol::topology::TabletType;

/// The savepoint a statement of several steps (a write to several shards, lookups kept with
/// rows, a DML with input) sets inside the session's transaction, so that when it fails its
/// part is undone on every shard and the transaction goes on, as MariaDB rolls back a failed
/// statement alone.
pub const STATEMENT: &str = "_tessera_statement";

/// Begins a statement of several steps: sets [`STATEMENT`] on the transaction's shards (and
/// on those that join it later).
pub async fn begin_statement(tc: &ShardsRef, s: &mut SessionState) -> Result<(), GatewayError> {
    s.statement_savepoint = true;
    let set = run(tc, s, SavepointOp::Set, STATEMENT.into()).await;
    if set.is_err() {
        s.statement_savepoint = false;
    }
    set
}

/// Ends what [`begin_statement`] began: a failed statement's part is rolled back on every
/// shard; the savepoint is released either way. The statement's own error is what the client
/// gets, so these steps' errors are only logged (a shard whose transaction a deadlock ended
/// has no savepoint left).
pub async fn end_statement(tc: &ShardsRef, s: &mut SessionState, failed: bool) {
    s.statement_savepoint = false;
    if !s.in_transaction || !s.savepoints.iter().any(|n| n == STATEMENT) {
        return;
    }
    if failed {
        if let Err(e) = run(tc, s, SavepointOp::RollbackTo, STATEMENT.into()).await {
            tracing::debug!(error = %e, "rolling back a failed statement's part");
        }
    }
    if let Err(e) = run(tc, s, SavepointOp::Release, STATEMENT.into()).await {
        tracing::debug!(error = %e, "releasing a statement's savepoint");
    }
    s.savepoints.retain(|n| n != STATEMENT);
}

fn missing(name: &str) -> GatewayError {
    GatewayError::Tablet(TabletError::Mysql {
        code: 1305,
        state: "42000".into(),
        message: format!("SAVEPOINT {name} does not exist"),
    })
}

/// Runs a savepoint statement on every shard of the session's transaction.
pub async fn run(tc: &ShardsRef, s: &mut SessionState, op: SavepointOp, name: String) -> Result<(), GatewayError> {
    if !s.in_transaction {
        if s.autocommit {
            // As MariaDB: outside a transaction a savepoint is accepted and gone at once.
            return if op == SavepointOp::Set { Ok(()) } else { Err(missing(&name)) };
        }
        // Autocommit off: the transaction is open from its first statement, this one.
        s.in_transaction = true;
    }
    let at = s.savepoints.iter().position(|n| n.eq_ignore_ascii_case(&name));
    let sql = match (op, at) {
        (SavepointOp::Set, _) => format!("SAVEPOINT {}", crate::sql::quote_ident(&name)),
        (_, None) => return Err(missing(&name)),
        (SavepointOp::RollbackTo, Some(_)) => format!("ROLLBACK TO SAVEPOINT {}", crate::sql::quote_ident(&name)),
        (SavepointOp::Release, Some(_)) => format!("RELEASE SAVEPOINT {}", crate::sql::quote_ident(&name)),
    };
    let options = ExecOptions { query_id: s.query_id, stream: false, begin: s.vars.begin() };
    let calls = s
        .shard_txs
        .iter()
        .map(|((ks, shard), tx)| shard_call(tc, ks, shard, TabletType::Primary, &sql, Some(Some(tx.clone())), options));
    for r in futures::future::join_all(calls).await {
        r?;
    }
    match (op, at) {
        (SavepointOp::Set, Some(i)) => {
            // A second savepoint of one name replaces the first (MariaDB's rule).
            s.savepoints.remove(i);
            s.savepoints.push(name);
        }
        (SavepointOp::Set, None) => s.savepoints.push(name),
        // The savepoint stays; later ones are gone.
        (SavepointOp::RollbackTo, Some(i)) => s.savepoints.truncate(i + 1),
        (SavepointOp::Release, Some(i)) => s.savepoints.truncate(i),
        (_, None) => {}
    }
    Ok(())
}

/// Shards about to join the session's transaction begin it with its savepoints, in order.
pub async fn join_shards(
    tc: &ShardsRef,
    s: &mut SessionState,
    keyspace: &str,
    shards: &[String],
    tablet_type: TabletType,
    options: ExecOptions,
) -> Result<(), GatewayError> {
    let options = ExecOptions { stream: false, ..options };
    let joining = shards.iter().filter(|sh| !s.shard_txs.contains_key(&(keyspace.to_string(), (*sh).clone())));
    let savepoints = &s.savepoints;
    let begins = joining.map(|shard| async move {
        let mut tx = None;
        for name in savepoints {
            let sql = format!("SAVEPOINT {}", crate::sql::quote_ident(name));
            match shard_call(tc, keyspace, shard, tablet_type, &sql, Some(tx.clone()), options).await {
                Ok((_, began, _)) => tx = tx.or(began),
                // A transaction that began is kept, to end with the session's.
                Err(e) => return (shard.clone(), tx, Some(e)),
            }
        }
        (shard.clone(), tx, None)
    });
    let mut first_err = None;
    for (shard, tx, err) in futures::future::join_all(begins).await {
        if let Some(tx) = tx {
            s.shard_txs.insert((keyspace.to_string(), shard), tx);
        }
        if let Some(e) = err {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}
