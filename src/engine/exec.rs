//! Executing plans over the tablets' query service, with the session's transactions.

use std::collections::BTreeMap;

use super::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::{GatewayError, InsertPlan};
use crate::protocol::tablet::{ExecOptions, QueryRequest, QueryResponse, QueryResult, TxBegin};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::twopc::TxMode;

/// What a statement returns to the client.
pub enum Answer {
    Rows(QueryResult),
    /// Rows sent to the client as they come from the tablets.
    Stream(super::stream::RowStream),
    Ok {
        affected: u64,
        last_insert_id: u64,
        info: String,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Rows(r) => f.debug_tuple("Rows").field(r).finish(),
            Answer::Stream(s) => f.debug_struct("Stream").field("fields", &s.fields).finish_non_exhaustive(),
            Answer::Ok { affected, last_insert_id, info } => f
                .debug_struct("Ok")
                .field("affected", affected)
                .field("last_insert_id", last_insert_id)
                .field("info", info)
                .finish(),
        }
    }
}

impl Answer {
    pub fn ok() -> Self {
        Answer::Ok { affected: 0, last_insert_id: 0, info: String::new() }
    }

    /// The rows, read whole when they were streaming (bounded by `max_rows`).
    pub async fn rows(self, max_rows: usize) -> Result<Option<QueryResult>, GatewayError> {
        match self {
            Answer::Rows(r) => Ok(Some(r)),
            Answer::Stream(s) => Ok(Some(s.collect(max_rows).await?)),
            Answer::Ok { .. } => Ok(None),
        }
    }
}

/// A statement's part on one shard, stopped on its tablets (killed) unless it settled: the
/// future was dropped (the client left, the session was killed) or the request failed without
/// an answer (timed out).
struct InFlight<'a> {
    tc: &'a ShardsRef,
    ks: &'a str,
    shard: &'a str,
    query_id: u64,
    settled: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.settled || self.query_id == 0 {
            return;
        }
        let (tc, ks, shard, q) = (self.tc.clone(), self.ks.to_string(), self.shard.to_string(), self.query_id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { tc.kill(&ks, &shard, vec![q]).await });
        }
    }
}

/// True when a tablet answered (whatever it answered): nothing is left running there.
fn answered(r: &crate::protocol::tablet::QueryReply) -> bool {
    use crate::protocol::tablet::TabletError;
    !matches!(r, Err(TabletError::Timeout { .. } | TabletError::Internal(_)))
}

/// Runs one statement on one shard, inside the session's transaction if one is open.
pub async fn run_on_shard(
    tc: &ShardsRef,
    s: &mut SessionState,
    ks: &str,
    shard: &str,
    tablet_type: TabletType,
    sql: &str,
) -> Result<QueryResult, GatewayError> {
    let mut out = run_shards(tc, s, ks, std::slice::from_ref(&shard.to_string()), sql, tablet_type).await?;
    out.pop().ok_or_else(|| GatewayError::Other("no result from the shard".into()))
}

/// A shard's result, the transaction (tablet, id) the statement began there, and the cursor
/// of the rest of its rows (streamed requests).
pub(super) type ShardAnswer = (QueryResult, Option<(String, u64)>, Option<super::stream::Cursor>);

/// One shard's part of a statement: outside a transaction by target; inside, on the shard's
/// transaction, or beginning it with the statement (`BeginExecute`, one round trip).
pub(super) async fn shard_call(
    tc: &ShardsRef,
    ks: &str,
    shard: &str,
    tablet_type: TabletType,
    sql: &str,
    tx: Option<Option<(String, u64)>>,
    options: ExecOptions,
) -> Result<ShardAnswer, GatewayError> {
    let mut flight = InFlight { tc, ks, shard, query_id: options.query_id, settled: false };
    let (sql, binds) = (sql.to_string(), Default::default());
    let reply = match &tx {
        None => {
            let req = QueryRequest::Execute { sql, binds, transaction_id: None, options };
            tc.target(ks, shard, tablet_type, req).await
        }
        Some(Some((alias, id))) => {
            let req = QueryRequest::Execute { sql, binds, transaction_id: Some(*id), options };
            tc.tablet(alias, req).await
        }
        Some(None) => tc.target(ks, shard, tablet_type, QueryRequest::BeginExecute { sql, binds, options }).await,
    };
    flight.settled = answered(&reply);
    let cursor =
        |tablet: &str, c: Option<u64>| c.map(|id| super::stream::Cursor::new(tc.clone(), tablet.to_string(), id));
    match reply? {
        QueryResponse::Result { result, tablet, cursor: c } if !matches!(tx, Some(None)) => {
            Ok((result, None, cursor(&tablet, c)))
        }
        QueryResponse::BeganResult { transaction_id, tablet, result, cursor: c } if matches!(tx, Some(None)) => {
            let cur = cursor(&tablet, c);
            Ok((result, Some((tablet, transaction_id)), cur))
        }
        other => Err(GatewayError::Other(format!("unexpected tablet answer {other:?}"))),
    }
}

/// Commits every shard's transaction in turn; a failure names what committed and what did not.
/// In `transaction_mode = twopc`, several shards commit atomically instead
/// ([`crate::twopc::commit`]).
pub async fn commit(tc: &ShardsRef, s: &mut SessionState) -> Result<(), GatewayError> {
    let txs = std::mem::take(&mut s.shard_txs);
    let dtid = s.dtid.take();
    s.savepoints.clear();
    s.in_transaction = false;
    s.vars.transaction_ended();
    if let Some(dtid) = dtid.filter(|_| txs.len() > 1) {
        // Its own task: a session dropped mid-commit (its client gone) does not stop it half way.
        let (tc, coordinator) = (tc.clone(), tc.coordinator().to_string());
        let commit = tokio::spawn(async move { crate::twopc::commit::commit(&tc, dtid, txs, &coordinator).await });
        return commit.await.unwrap_or_else(|e| Err(GatewayError::Other(format!("the commit task failed: {e}"))));
    }
    let mut committed = Vec::new();
    let mut iter = txs.into_iter();
    while let Some(((ks, shard), (alias, tx))) = iter.next() {
        if let Err(e) = tc.tablet(&alias, QueryRequest::Commit { transaction_id: tx }).await {
            let mut rolled_back = Vec::new();
            for ((ks2, shard2), (alias2, tx2)) in iter {
                let _ = tc.tablet(&alias2, QueryRequest::Rollback { transaction_id: tx2 }).await;
                rolled_back.push(format!("{ks2}/{shard2}"));
            }
            return Err(GatewayError::Commit(format!(
                "commit failed on {ks}/{shard}: {e}; committed on [{}]; rolled back on [{}]",
                committed.join(", "),
                rolled_back.join(", ")
            )));
        }
        committed.push(format!("{ks}/{shard}"));
    }
    Ok(())
}

/// Rolls back every shard's transaction (errors ignored: the tablet's timeout reaps leftovers).
pub async fn rollback(tc: &ShardsRef, s: &mut SessionState) {
    let txs = std::mem::take(&mut s.shard_txs);
    s.dtid = None;
    s.savepoints.clear();
    s.in_transaction = false;
    s.vars.transaction_ended();
    for (_, (alias, tx)) in txs {
        let _ = tc.tablet(&alias, QueryRequest::Rollback { transaction_id: tx }).await;
    }
}

/// Runs a statement on every shard it names, in parallel (inside a transaction too: each shard
/// has its own connection); one result per shard, in the order given.
pub async fn run_shards(
    tc: &ShardsRef,
    s: &mut SessionState,
    keyspace: &str,
    shards: &[String],
    sql: &str,
    tablet_type: TabletType,
) -> Result<Vec<QueryResult>, GatewayError> {
    let out = run_shards_with(tc, s, keyspace, shards, sql, tablet_type, false).await?;
    Ok(out.into_iter().map(|(r, _)| r).collect())
}

/// [`run_shards`]; with `stream`, each shard's rows may come in parts: its first rows and the
/// cursor of the rest.
pub async fn run_shards_with(
    tc: &ShardsRef,
    s: &mut SessionState,
    keyspace: &str,
    shards: &[String],
    sql: &str,
    tablet_type: TabletType,
    stream: bool,
) -> Result<Vec<(QueryResult, Option<super::stream::Cursor>)>, GatewayError> {
    let options = ExecOptions { query_id: s.query_id, stream, begin: begin_options(s, keyspace, shards)? };
    // The session's variables, for this statement only (pooled connections keep the tablet's).
    let with_vars;
    let sql = match s.statement_prefix() {
        Some(prefix) => {
            with_vars = prefix + sql;
            with_vars.as_str()
        }
        None => sql,
    };
    if s.in_transaction && !s.savepoints.is_empty() {
        super::savepoint::join_shards(tc, s, keyspace, shards, tablet_type, options).await?;
    }
    let tx_of =
        |shard: &String| s.in_transaction.then(|| s.shard_txs.get(&(keyspace.to_string(), shard.clone())).cloned());
    let results: Vec<Result<ShardAnswer, GatewayError>> = if shards.len() == 1 {
        vec![shard_call(tc, keyspace, &shards[0], tablet_type, sql, tx_of(&shards[0]), options).await]
    } else {
        let calls = shards.iter().map(|shard| shard_call(tc, keyspace, shard, tablet_type, sql, tx_of(shard), options));
        futures::future::join_all(calls).await
    };
    // Record every transaction that began, even when another shard failed (so it is
    // committed or rolled back with the session's).
    let mut out = Vec::with_capacity(results.len());
    let mut first_err = None;
    for (shard, r) in shards.iter().zip(results) {
        match r {
            Ok((result, began, cursor)) => {
                if let Some(t) = began {
                    s.shard_txs.insert((keyspace.to_string(), shard.clone()), t);
                }
                out.push((result, cursor));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// How shards that join the session's transaction with this statement begin it: as branches
/// of its distributed transaction in `twopc` (not for a read-only one: it has nothing to
/// commit atomically); refused in `single` when the transaction would span two shards.
fn begin_options(s: &mut SessionState, keyspace: &str, shards: &[String]) -> Result<TxBegin, GatewayError> {
    let mut begin = s.vars.begin();
    if !s.in_transaction {
        return Ok(begin);
    }
    match s.transaction_mode {
        TxMode::Multi => {}
        TxMode::Twopc if !begin.read_only => begin.xa = Some(*s.dtid.get_or_insert_with(crate::twopc::new_dtid)),
        TxMode::Twopc => {}
        TxMode::Single => {
            let mut touched: Vec<String> = s.shard_txs.keys().map(|(k, sh)| format!("{k}/{sh}")).collect();
            for sh in shards {
                let name = format!("{keyspace}/{sh}");
                if !touched.contains(&name) {
                    touched.push(name);
                }
            }
            if touched.len() > 1 {
                return Err(GatewayError::Other(format!(
                    "multi-db transaction attempted: transaction_mode is single and this transaction would span                      [{}]; SET transaction_mode = 'multi' (each shard commits in turn) or 'twopc' (atomic)",
                    touched.join(", ")
                )));
            }
        }
    }
    Ok(begin)
}

/// Runs a routed statement on every shard it names; rows concatenated, counts added.
pub async fn run_route(
    tc: &ShardsRef,
    s: &mut SessionState,
    keyspace: &str,
    shards: &[String],
    sql: &str,
    tablet_type: TabletType,
) -> Result<Answer, GatewayError> {
    // In twopc an autocommit write over several shards is a transaction of its own, committed
    // atomically (as Vitess does); elsewhere each shard commits its part.
    if !s.in_transaction
        && s.transaction_mode == TxMode::Twopc
        && shards.len() > 1
        && tablet_type == TabletType::Primary
        && crate::sql::classify(sql).is_write()
    {
        let own = super::lookup::begin_own(s);
        let result = Box::pin(run_route(tc, s, keyspace, shards, sql, tablet_type)).await;
        return super::lookup::end_own(tc, s, own, result).await;
    }
    let results = run_shards_with(tc, s, keyspace, shards, sql, tablet_type, true).await?;
    if results.iter().any(|(_, c)| c.is_some()) {
        // Larger than a part somewhere: to the client as it comes, shard after shard.
        let fields = results.first().map(|(r, _)| r.fields.clone()).unwrap_or_default();
        let parts = results.into_iter().map(|(r, c)| super::stream::Part::new(r.rows, c)).collect();
        return Ok(Answer::Stream(super::stream::RowStream::concat(fields, parts)));
    }
    let mut merged: Option<QueryResult> = None;
    for (r, _) in results {
        merge(&mut merged, r);
    }
    let r = merged.unwrap_or_default();
    if r.fields.is_empty() {
        if r.last_insert_id != 0 {
            s.last_insert_id = r.last_insert_id;
        }
        return Ok(Answer::Ok { affected: r.rows_affected, last_insert_id: r.last_insert_id, info: r.info });
    }
    Ok(Answer::Rows(r))
}

fn merge(into: &mut Option<QueryResult>, r: QueryResult) {
    match into {
        None => *into = Some(r),
        Some(acc) => {
            acc.rows.append(r.rows);
            acc.rows_affected += r.rows_affected;
            acc.warnings = acc.warnings.saturating_add(r.warnings);
            if acc.last_insert_id == 0 {
                acc.last_insert_id = r.last_insert_id;
            }
        }
    }
}

/// Hands out `count` ids from a sequence; returns the first.
pub async fn next_values(
    tc: &ShardsRef,
    view: &RoutingView,
    keyspace: &str,
    table: &str,
    count: u64,
) -> Result<u64, GatewayError> {
    let ks = view.keyspace(keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(keyspace.into()))?;
    let shard = view.serving_shards(ks, TabletType::Primary).into_iter().next().ok_or_else(|| {
        GatewayError::Routing { keyspace: keyspace.into(), message: "has no serving shard for its sequences".into() }
    })?;
    let req = QueryRequest::Execute {
        sql: format!("select next {count} values from {}", crate::sql::quote_ident(table)),
        binds: Default::default(),
        transaction_id: None,
        options: ExecOptions::default(),
    };
    let r = match tc.target(keyspace, &shard, TabletType::Primary, req).await? {
        QueryResponse::Result { result, .. } => result,
        other => return Err(GatewayError::Other(format!("unexpected tablet answer {other:?}"))),
    };
    r.rows
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| GatewayError::Other(format!("sequence `{table}` answered without a value")))
}

/// Inserts into a sharded table: fills auto-increment ids from the sequence, computes each
/// row's keyspace id, and sends each shard its rows.
pub async fn run_insert(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    mut p: InsertPlan,
) -> Result<Answer, GatewayError> {
    let ks = view.keyspace(&p.keyspace).ok_or_else(|| GatewayError::UnknownKeyspace(p.keyspace.clone()))?.clone();
    let mut first_id = 0;
    if let Some(ai) = &p.auto_increment {
        if !ai.missing.is_empty() {
            let first = next_values(tc, view, &ai.seq_keyspace, &ai.seq_table, ai.missing.len() as u64).await?;
            for (n, &i) in ai.missing.iter().enumerate() {
                let id = first + n as u64;
                let row = &mut p.rows[i];
                row.cells[ai.column_index] = id.to_string();
                if ai.is_vindex {
                    row.vindex_value = Some(crate::vindex::Value::UInt(id));
                }
                for &l in &ai.lookups {
                    row.lookup_values[l] = Some((vec![id.to_string()], crate::vindex::Value::UInt(id)));
                }
            }
            first_id = first;
        }
    }
    // A lookup primary vindex: each row goes where its value's mapping says.
    let looked_up = match view.lookup_def(&ks, &p.vindex)? {
        Some((d, _)) => {
            let values: Vec<crate::vindex::Value> =
                p.rows.iter().map(|r| r.vindex_value.clone().unwrap_or(crate::vindex::Value::Null)).collect();
            Some(super::lookup::map_values(tc, view, s, &d, &values).await?)
        }
        None => None,
    };
    let mut mapped: Vec<Mapping> = p.lookups.iter().map(|d| (d.clone(), Vec::new())).collect();
    let mut by_shard: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (index, row) in p.rows.iter().enumerate() {
        let v = row.vindex_value.as_ref().ok_or_else(|| {
            GatewayError::Other("a row's primary vindex value was to come from a sequence that gave none".into())
        })?;
        let ksid = if let Some(ids) = &looked_up {
            ids.get(index).cloned().ok_or_else(|| GatewayError::Other("a row without its lookup".into()))?
        } else if row.more.is_empty() {
            view.keyspace_id(&p.keyspace, &p.vindex, v)?
        } else {
            view.keyspace_id_of(&p.keyspace, &p.vindex, &[std::slice::from_ref(v), &row.more].concat())?
        };
        let shard = view.shard_for(&ks, &ksid, TabletType::Primary).ok_or_else(|| GatewayError::Routing {
            keyspace: p.keyspace.clone(),
            message: format!("no serving shard covers keyspace id {}", hex::encode(&ksid)),
        })?;
        for (i, v) in row.lookup_values.iter().enumerate() {
            if let Some((text, value)) = v {
                mapped[i].1.push((text.clone(), value.clone(), ksid.clone()));
            }
        }
        by_shard.entry(shard).or_default().push((index, format!("({})", row.cells.join(", "))));
    }
    let atomic = s.transaction_mode == TxMode::Twopc && by_shard.len() > 1;
    let own = super::lookup::begin_own_if(s, !p.lookups.is_empty() || atomic);
    let result = insert_rows(tc, view, s, &p, by_shard, &mapped).await;
    let answer = super::lookup::end_own(tc, s, own, result).await?;
    if first_id != 0 {
        s.last_insert_id = first_id;
    }
    Ok(match answer {
        Answer::Ok { affected, .. } => Answer::Ok { affected, last_insert_id: first_id, info: String::new() },
        other => other,
    })
}

/// Rows of the statement's order, by their index, each on the shard that holds it.
type ShardRows = BTreeMap<String, Vec<(usize, String)>>;

/// A lookup and the (value, keyspace id) pairs an insert adds to it.
type Mapping = (crate::plan::LookupDef, Vec<(Vec<String>, crate::vindex::Value, Vec<u8>)>);

/// Maps owned lookups first, then inserts each shard's rows.
async fn insert_rows(
    tc: &ShardsRef,
    view: &RoutingView,
    s: &mut SessionState,
    p: &InsertPlan,
    by_shard: ShardRows,
    mapped: &[Mapping],
) -> Result<Answer, GatewayError> {
    for (def, pairs) in mapped {
        super::lookup::map(tc, view, s, def, pairs).await?;
    }
    let mut affected = 0;
    let mut returned: Option<QueryResult> = None;
    // (row index, returned row) of every shard, to put back in the statement's order.
    let mut placed = Vec::new();
    let mut in_order = true;
    for (shard, rows) in by_shard {
        let sql =
            format!("{}{}{}", p.head, rows.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(", "), p.tail);
        let r = run_on_shard(tc, s, &p.keyspace, &shard, TabletType::Primary, &sql).await?;
        affected += r.rows_affected;
        if r.fields.is_empty() {
            continue;
        }
        // INSERT ... RETURNING: one row back per row inserted (unless IGNORE skipped some).
        in_order &= r.rows.len() == rows.len();
        let out = returned.get_or_insert_with(|| QueryResult { fields: r.fields.clone(), ..Default::default() });
        out.rows_affected += r.rows_affected;
        placed.extend(rows.iter().map(|(i, _)| *i).zip(r.rows));
    }
    match returned {
        Some(mut out) => {
            if in_order {
                placed.sort_by_key(|(i, _)| *i);
            }
            out.rows = placed.into_iter().map(|(_, row)| row).collect();
            Ok(Answer::Rows(out))
        }
        None => Ok(Answer::Ok { affected, last_insert_id: 0, info: String::new() }),
    }
}
