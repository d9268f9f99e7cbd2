//! The query service: statements, transactions on reserved connections, streaming, limits.
//!
//! Requests run concurrently on the connection pool; nothing here goes through the actor's
//! mailbox. A transaction owns one pooled connection until it commits, rolls back, or outlives
//! its timeout (then the reaper rolls it back and frees the connection).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mysql_async::{Conn, Pool};
use tracing::{info, warn};

use super::dbconn::{exec, map_err};
use super::running::Running;
use super::sequence::Sequences;
use super::stream::{CursorCmd, Cursors, Outcome, Streamer};
use crate::protocol::tablet::{xa_id, BindValue, ExecOptions, QueryResponse, QueryResult, TabletError};
use crate::protocol::topology::TabletType;
use crate::sql::{binds, classify, next_values, StatementKind};

/// Limits of the query service.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_result_rows: u64,
    pub tx_timeout: Duration,
    pub stream_chunk_rows: u32,
    /// Longest a request waits for a free MySQL connection before it is refused.
    pub pool_wait: Duration,
}

/// Serving state shared by the actor (which changes it) and the query service (which reads it).
pub struct TabletState {
    pub alias: String,
    pub tablet_type: RwLock<TabletType>,
    pub serving: AtomicBool,
    pub not_serving_reason: RwLock<String>,
    /// What the topology says of the shard's primary (checked before every write).
    pub fence: super::fence::Fence,
    /// The tablet's keyspace and shard (the XA ids of its distributed-transaction branches).
    pub keyspace: String,
    pub shard: String,
}

impl TabletState {
    pub fn tablet_type(&self) -> TabletType {
        *self.tablet_type.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_serving(&self, serving: bool, reason: &str) {
        self.serving.store(serving, Ordering::SeqCst);
        crate::metrics::TabletHandles::new(&self.alias).serving.set(i64::from(serving));
        *self.not_serving_reason.write().unwrap_or_else(|e| e.into_inner()) = reason.to_string();
    }

    fn check_serving(&self) -> Result<(), TabletError> {
        if self.serving.load(Ordering::SeqCst) {
            return Ok(());
        }
        let reason = self.not_serving_reason.read().unwrap_or_else(|e| e.into_inner()).clone();
        Err(TabletError::NotServing { alias: self.alias.clone(), reason })
    }
}

pub(super) struct Tx {
    pub(super) conn: Option<Conn>,
    started: Instant,
    /// The XA id of a distributed transaction's branch (`'gtrid','bqual'`) and its dtid.
    pub(super) xa: Option<(String, u64)>,
    /// Prepared (`XA PREPARE`): only a commit or rollback of the distributed transaction ends
    /// it; never rolled back by the reaper or a role change.
    pub(super) prepared: bool,
}

/// An open transaction, with what is known of it without waiting for its lock (a statement
/// may be running in it).
pub(super) struct TxSlot {
    /// MySQL's id of the connection (lock waits name transactions by it).
    pub(super) thread: u32,
    /// The distributed transaction it is a branch of, if any.
    pub(super) dtid: Option<u64>,
    tx: tokio::sync::Mutex<Tx>,
}

impl TxSlot {
    pub(super) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Tx> {
        self.tx.lock().await
    }

    fn try_lock(&self) -> Result<tokio::sync::MutexGuard<'_, Tx>, tokio::sync::TryLockError> {
        self.tx.try_lock()
    }
}

/// InnoDB's lock waits as read at a moment: (waiting MySQL thread, thread it waits for).
pub(super) type ThreadWaits = (Instant, Arc<Vec<(u32, u32)>>);

/// One tablet's query service.
pub struct QueryService {
    pub state: Arc<TabletState>,
    /// The query service's connections: a user that may only work in the keyspace's database.
    pool: RwLock<Option<Pool>>,
    /// With tablet lanes: each lane's share of the query service's connections, by lane.
    lane_pools: RwLock<Vec<Pool>>,
    /// The configured (administrative) user's: management, replication, DBA requests.
    dba_pool: RwLock<Option<Pool>>,
    pub(super) txs: Mutex<HashMap<u64, Arc<TxSlot>>>,
    next_tx: AtomicU64,
    pub limits: Limits,
    pub sequences: Sequences,
    /// Writes refused while traffic is switched: `None` none, `Some([])` every table.
    held: RwLock<Option<Vec<String>>>,
    /// Statements running now, by the gateway's query id (for kills).
    pub(super) running: Running,
    /// Streamed results still being read.
    pub(super) cursors: Cursors,
    /// The last lock waits read from InnoDB (MySQL thread waiting, thread it waits for), and
    /// when: InnoDB refreshes its lock tables only for a reader that comes 100 ms after the
    /// previous one, so this tablet reads them at most that often and answers from here.
    pub(super) lock_waits: Mutex<Option<ThreadWaits>>,
    /// This tablet's Prometheus metrics.
    pub metrics: crate::metrics::TabletHandles,
}

impl QueryService {
    pub fn new(state: Arc<TabletState>, limits: Limits) -> Self {
        let metrics = crate::metrics::TabletHandles::new(&state.alias);
        // Transaction ids start from the clock so a restarted tablet does not reuse old ids.
        let seed = crate::protocol::envelope::now_ms() << 16;
        QueryService {
            state,
            pool: RwLock::new(None),
            lane_pools: RwLock::new(Vec::new()),
            dba_pool: RwLock::new(None),
            txs: Mutex::new(HashMap::new()),
            next_tx: AtomicU64::new(seed),
            limits,
            sequences: Sequences::default(),
            held: RwLock::new(None),
            running: Running::default(),
            cursors: Cursors::default(),
            lock_waits: Mutex::new(None),
            metrics,
        }
    }

    /// Sets the query service's pool and the administrative one.
    pub fn set_pools(&self, app: Pool, dba: Pool) {
        *self.pool.write().unwrap_or_else(|e| e.into_inner()) = Some(app);
        *self.dba_pool.write().unwrap_or_else(|e| e.into_inner()) = Some(dba);
    }

    fn not_connected(&self) -> TabletError {
        TabletError::NotServing { alias: self.state.alias.clone(), reason: "MySQL is not connected yet".into() }
    }

    /// Sets each tablet lane's pool ([`super::lanes`]).
    pub fn set_lane_pools(&self, pools: Vec<Pool>) {
        *self.lane_pools.write().unwrap_or_else(|e| e.into_inner()) = pools;
    }

    /// The query service's pool: the calling tablet lane's own, else the shared one.
    pub fn pool(&self) -> Result<Pool, TabletError> {
        if let Some(lane) = crate::lanes::current(crate::lanes::LaneKind::Tablet) {
            if let Some(pool) = self.lane_pools.read().unwrap_or_else(|e| e.into_inner()).get(lane) {
                return Ok(pool.clone());
            }
        }
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| self.not_connected())
    }

    /// A connection of the query service, waiting at most `pool_wait` for one to be free.
    pub async fn conn(&self) -> Result<Conn, TabletError> {
        let pool = self.pool()?;
        let started = Instant::now();
        match tokio::time::timeout(self.limits.pool_wait, pool.get_conn()).await {
            Ok(c) => {
                self.metrics.pool_wait.observe(started.elapsed().as_secs_f64());
                c.map_err(map_err)
            }
            Err(_) => Err(TabletError::PoolTimeout {
                alias: self.state.alias.clone(),
                waited_ms: self.limits.pool_wait.as_millis() as u64,
            }),
        }
    }

    /// A connection as the configured administrative user.
    pub async fn dba_conn(&self) -> Result<Conn, TabletError> {
        let pool =
            self.dba_pool.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| self.not_connected())?;
        match tokio::time::timeout(self.limits.pool_wait, pool.get_conn()).await {
            Ok(c) => c.map_err(map_err),
            Err(_) => Err(TabletError::PoolTimeout {
                alias: self.state.alias.clone(),
                waited_ms: self.limits.pool_wait.as_millis() as u64,
            }),
        }
    }

    pub(super) fn check_write(&self, kind: StatementKind, sql: &str) -> Result<(), TabletError> {
        if !kind.is_write() {
            return Ok(());
        }
        let tablet_type = self.state.tablet_type();
        if tablet_type != TabletType::Primary {
            return Err(TabletError::ReadOnly { alias: self.state.alias.clone(), tablet_type });
        }
        if let Some((primary, term)) = self.state.fence.replaced_by(&self.state.alias) {
            return Err(TabletError::NotPrimary { alias: self.state.alias.clone(), primary, term });
        }
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        if let Some(tables) = held.as_ref() {
            let hit = if tables.is_empty() {
                Some("every table".to_string())
            } else {
                // A statement that does not parse might touch a held table: hold it too.
                let named = crate::sql::tables_of(sql).unwrap_or_else(|| tables.clone());
                named
                    .into_iter()
                    .find(|t| tables.iter().any(|h| h.eq_ignore_ascii_case(t)))
                    .map(|t| format!("table {t}"))
            };
            if let Some(what) = hit {
                return Err(TabletError::WritesHeld { alias: self.state.alias.clone(), what });
            }
        }
        Ok(())
    }

    /// Holds writes to `tables` (all when empty), waiting up to `drain` for open transactions
    /// to end and rolling back the rest; or releases the hold.
    pub async fn set_writes_held(&self, held: bool, tables: Vec<String>, drain: Duration) -> String {
        *self.held.write().unwrap_or_else(|e| e.into_inner()) = held.then_some(tables);
        let m = crate::metrics::metrics();
        m.tablet_writes_held.get_or_create(&crate::metrics::Metrics::tablet(&self.state.alias)).set(i64::from(held));
        if !held {
            return format!("{}: writes allowed", self.state.alias);
        }
        let start = Instant::now();
        while self.open_transactions() > 0 && start.elapsed() < drain {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.open_transactions();
        if left > 0 {
            self.rollback_all().await;
        }
        format!(
            "{}: writes held; open transactions drained in {} ms{}",
            self.state.alias,
            start.elapsed().as_millis(),
            if left > 0 { format!(", {left} rolled back") } else { String::new() }
        )
    }

    /// Runs one statement, inside a transaction when `tx` is given. With `stream` (and
    /// `options.stream`), a large result is answered in parts and this returns
    /// [`Outcome::Streamed`]; else the whole result comes back (up to `max_result_rows`).
    pub async fn execute(
        &self,
        sql: &str,
        bind_vars: &BTreeMap<String, BindValue>,
        tx: Option<u64>,
        options: ExecOptions,
        stream: Option<&Streamer<'_>>,
    ) -> Result<Outcome, TabletError> {
        let tablet = self.state.alias.clone();
        let first = move |result, cursor| QueryResponse::Result { result, tablet: tablet.clone(), cursor };
        self.execute_with(sql, bind_vars, tx, options, stream, &first).await
    }

    /// [`QueryService::execute`], the first part of a streamed result made by `first`.
    async fn execute_with(
        &self,
        sql: &str,
        bind_vars: &BTreeMap<String, BindValue>,
        tx: Option<u64>,
        options: ExecOptions,
        stream: Option<&Streamer<'_>>,
        first: &(dyn Fn(QueryResult, Option<u64>) -> QueryResponse + Sync),
    ) -> Result<Outcome, TabletError> {
        self.state.check_serving()?;
        let sql = binds::substitute(sql, bind_vars).map_err(TabletError::BadRequest)?;
        crate::sql::check_single(&sql).map_err(TabletError::BadRequest)?;
        crate::failpoint::panic_if("tablet-panic", &sql);
        if let Some(seq) = next_values::parse(&sql) {
            let seq = seq.map_err(TabletError::BadRequest)?;
            self.check_write(StatementKind::Write, "")?;
            return Ok(Outcome::Done(self.sequences.next_values(self, &seq.table, seq.count).await?));
        }
        let kind = classify(&sql);
        self.check_write(kind, &sql)?;
        let outcome = match tx {
            None => {
                let mut conn = self.conn().await?;
                self.run_statement(&mut conn, &sql, options, stream, first).await
            }
            Some(id) => {
                let tx = self.tx(id)?;
                let mut guard = tx.lock().await;
                let conn = guard.conn.as_mut().ok_or_else(|| self.tx_gone(id))?;
                self.run_statement(conn, &sql, options, stream, first).await
            }
        };
        crate::failpoint::delay_if("tablet-slow-reply", &sql, std::time::Duration::from_secs(6)).await;
        outcome
    }

    /// The response for a whole result.
    pub fn answer(&self, result: QueryResult) -> QueryResponse {
        QueryResponse::Result { result, tablet: self.state.alias.clone(), cursor: None }
    }

    /// The next part of a streamed result (answered by the task that holds it), or stops it.
    pub async fn cursor(&self, cursor: u64, fetch: bool, reply_to: async_nats::Subject) -> Result<(), TabletError> {
        if self.cursors.send(cursor, CursorCmd { fetch, reply_to: Some(reply_to) }).await {
            return Ok(());
        }
        Err(TabletError::BadRequest(format!(
            "no open cursor {cursor} on tablet {}: the result ended, or was closed after it sat idle",
            self.state.alias
        )))
    }

    pub(super) fn tx_gone(&self, id: u64) -> TabletError {
        TabletError::TxNotFound { id, alias: self.state.alias.clone() }
    }

    pub(super) fn tx(&self, id: u64) -> Result<Arc<TxSlot>, TabletError> {
        self.txs.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned().ok_or_else(|| self.tx_gone(id))
    }

    /// Reserves a connection and begins a transaction on it, with the session's isolation
    /// level and access mode (`SET TRANSACTION` holds for the next transaction only, so the
    /// pooled connection keeps the tablet's own afterwards).
    pub async fn begin(&self, how: crate::protocol::tablet::TxBegin) -> Result<QueryResponse, TabletError> {
        self.state.check_serving()?;
        let mut conn = self.conn().await?;
        if let Some(level) = how.isolation {
            exec(&mut conn, &format!("SET TRANSACTION ISOLATION LEVEL {}", level.as_sql())).await?;
        }
        let xa = how.xa.map(|dtid| (xa_id(dtid, &self.state.keyspace, &self.state.shard), dtid));
        match &xa {
            Some((xid, _)) => exec(&mut conn, &format!("XA START {xid}")).await?,
            None => exec(&mut conn, if how.read_only { "START TRANSACTION READ ONLY" } else { "BEGIN" }).await?,
        }
        let id = self.next_tx.fetch_add(1, Ordering::Relaxed);
        self.metrics.transactions.inc();
        let slot = TxSlot {
            thread: conn.id(),
            dtid: xa.as_ref().map(|(_, d)| *d),
            tx: tokio::sync::Mutex::new(Tx { conn: Some(conn), started: Instant::now(), xa, prepared: false }),
        };
        self.txs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Arc::new(slot));
        Ok(QueryResponse::Began { transaction_id: id, tablet: self.state.alias.clone() })
    }

    /// Begins a transaction and runs one statement in it; on failure the transaction is rolled
    /// back, so the caller holds nothing.
    pub async fn begin_execute(
        &self,
        sql: &str,
        bind_vars: &BTreeMap<String, BindValue>,
        options: ExecOptions,
        stream: Option<&Streamer<'_>>,
    ) -> Result<QueryResponse, TabletError> {
        let QueryResponse::Began { transaction_id, tablet } = self.begin(options.begin).await? else {
            return Err(TabletError::Internal("begin answered unexpectedly".into()));
        };
        let alias = tablet.clone();
        let first =
            move |result, cursor| QueryResponse::BeganResult { transaction_id, tablet: alias.clone(), result, cursor };
        match self.execute_with(sql, bind_vars, Some(transaction_id), options, stream, &first).await {
            Ok(Outcome::Done(result)) => {
                Ok(QueryResponse::BeganResult { transaction_id, tablet, result, cursor: None })
            }
            // Answered in parts; the transaction stays open for the session.
            Ok(Outcome::Streamed) => Ok(QueryResponse::Done),
            Err(e) => {
                let _ = self.finish(transaction_id, false).await;
                Err(e)
            }
        }
    }

    /// Commits (`commit = true`) or rolls back a transaction and frees its connection. A
    /// distributed transaction's branch commits in one phase (`XA COMMIT .. ONE PHASE`: it was
    /// the only shard); a prepared one is ended only as its decision says
    /// ([`QueryService::conclude_branch`]), never here.
    pub async fn finish(&self, id: u64, commit: bool) -> Result<QueryResponse, TabletError> {
        let slot = self.tx(id)?;
        let mut guard = slot.lock().await;
        if guard.prepared {
            return Err(TabletError::BadRequest(format!(
                "transaction {id} on tablet {} is a prepared branch of a distributed transaction: only its \
                 decision ends it (DistributedTransaction conclude)",
                self.state.alias
            )));
        }
        // Out of the open ones while its lock is held: nothing queued on it acts on it after.
        if !self.forget(id, &slot) {
            return Err(self.tx_gone(id));
        }
        let mut conn = guard.conn.take().ok_or_else(|| self.tx_gone(id))?;
        match guard.xa.clone() {
            None => exec(&mut conn, if commit { "COMMIT" } else { "ROLLBACK" }).await?,
            Some((xid, _)) => {
                let done = super::xa::end_branch(&mut conn, &xid, false, commit).await;
                if done.is_err() {
                    // Never hand a connection with an XA branch of unknown state to the pool.
                    let _ = conn.disconnect().await;
                }
                done?
            }
        }
        Ok(QueryResponse::Done)
    }

    /// Removes transaction `id` from the open ones if `slot` is still it (call with its lock
    /// held); false when it was removed already.
    pub(super) fn forget(&self, id: u64, slot: &Arc<TxSlot>) -> bool {
        let mut txs = self.txs.lock().unwrap_or_else(|e| e.into_inner());
        match txs.get(&id) {
            Some(s) if Arc::ptr_eq(s, slot) => {
                txs.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Whether `slot` is still open transaction `id` (call with its lock held).
    pub(super) fn still_open(&self, id: u64, slot: &Arc<TxSlot>) -> bool {
        self.txs.lock().unwrap_or_else(|e| e.into_inner()).get(&id).is_some_and(|s| Arc::ptr_eq(s, slot))
    }

    /// Open transactions.
    pub fn open_transactions(&self) -> usize {
        let n = self.txs.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.metrics.open_transactions.set(n as i64);
        n
    }

    /// Rolls back transactions older than the timeout. Called periodically.
    pub async fn reap(&self) {
        let timeout = self.limits.tx_timeout;
        let expired: Vec<(u64, Arc<TxSlot>)> = {
            let txs = self.txs.lock().unwrap_or_else(|e| e.into_inner());
            txs.iter()
                .filter(|(_, tx)| tx.try_lock().map(|t| !t.prepared && t.started.elapsed() > timeout).unwrap_or(false))
                .map(|(id, tx)| (*id, tx.clone()))
                .collect()
        };
        for (id, slot) in expired {
            let mut guard = slot.lock().await;
            // Prepared meanwhile (a prepare was queued on it), or ended: not the reaper's.
            if guard.prepared || !self.forget(id, &slot) {
                continue;
            }
            if let Some(mut conn) = guard.conn.take() {
                let rolled_back = match guard.xa.clone() {
                    None => exec(&mut conn, "ROLLBACK").await,
                    Some((xid, _)) => super::xa::end_branch(&mut conn, &xid, false, false).await,
                };
                match rolled_back {
                    Ok(()) => {
                        self.metrics.timeouts.inc();
                        info!(tablet = %self.state.alias, transaction = id, timeout = ?timeout, "transaction timed out; rolled back")
                    }
                    Err(e) => {
                        // Closing the connection rolls back whatever it still had open.
                        let _ = conn.disconnect().await;
                        warn!(tablet = %self.state.alias, transaction = id, error = %e, "rollback of timed-out transaction failed; connection closed")
                    }
                }
            }
        }
    }

    /// Rolls back every open transaction (the tablet stops or changes role). Prepared branches
    /// of distributed transactions are not rolled back: their connections are closed, which
    /// leaves them prepared in MariaDB (and on its replicas) for the resolver to complete.
    pub async fn rollback_all(&self) {
        let all: Vec<u64> = self.txs.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect();
        for id in all {
            // A prepare queued on it may get in between: then it is detached after all.
            if !self.detach_if_prepared(id).await && self.finish(id, false).await.is_err() {
                self.detach_if_prepared(id).await;
            }
        }
    }
}
