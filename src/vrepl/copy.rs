//! The copy phase: every table from one consistent snapshot of the source, in primary-key
//! order, in chunks; several readers (tables at once, all on the same snapshot) and several
//! writers (chunks inserted at once, committed in order, each with the table's last copied key
//! in the same transaction), throttled by rows per second and by target replica lag.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, PoolConstraints, PoolOpts, Value};
use tokio::sync::{oneshot, Semaphore};
use tracing::{info, warn};

use super::binlog::snapshot;
use super::gtid::GtidPos;
use super::replay::{replay, update, Copied, Shared};
use super::state::{copy_states, run_tx, RowKey};
use super::table::TableInfo;
use super::{StreamSpec, VReplError};
use crate::sql::quote_bytes;

/// Opens `n` source connections whose snapshots are identical: writes are blocked (FLUSH
/// TABLES WITH READ LOCK) while the transactions start. Falls back to one reader when the
/// lock is not granted quickly (or not allowed).
async fn snapshots(spec: &StreamSpec, n: usize) -> Result<(Vec<Conn>, GtidPos), VReplError> {
    let mut first = spec.source.connect().await?;
    if n > 1 {
        let mut lock = spec.source.connect().await?;
        let locked = lock.query_drop("SET SESSION lock_wait_timeout = 5; FLUSH TABLES WITH READ LOCK").await;
        if locked.is_ok() {
            let mut conns = Vec::with_capacity(n);
            let pos = snapshot(&mut first).await;
            conns.push(first);
            let mut result: Result<((), GtidPos), VReplError> = pos.map(|p| ((), p));
            for _ in 1..n {
                match spec.source.connect().await {
                    Ok(mut c) => match snapshot(&mut c).await {
                        Ok(_) => conns.push(c),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    },
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let _ = lock.query_drop("UNLOCK TABLES").await;
            let (_, pos) = result?;
            return Ok((conns, pos));
        }
        warn!(stream = %spec.key, "FLUSH TABLES WITH READ LOCK refused; copying with one reader");
    }
    let pos = snapshot(&mut first).await?;
    Ok((vec![first], pos))
}

/// Copies every table not copied yet. `pos` is the stream's position (the previous snapshot's
/// when resuming). Returns the position the copied data corresponds to.
pub async fn copy(
    spec: &StreamSpec,
    tables: &HashMap<String, TableInfo>,
    target: &mut Conn,
    key: &RowKey,
    pos: GtidPos,
    shared: &Shared,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<GtidPos, VReplError> {
    let states = copy_states(target, key).await?;
    let mut progress: HashMap<String, Copied> = HashMap::new();
    for s in &states {
        let p = if s.done {
            Copied::Done
        } else {
            match &s.lastpk {
                Some(l) => Copied::UpTo(l.clone()),
                None => Copied::NotStarted,
            }
        };
        progress.insert(s.table.clone(), p);
    }
    let pending: Vec<String> = states.iter().filter(|s| !s.done).map(|s| s.table.clone()).collect();
    let readers = (spec.options.readers.max(1) as usize).min(pending.len().max(1));
    let (mut conns, snap) = snapshots(spec, readers).await?;
    let started_anything = progress.values().any(|p| *p != Copied::NotStarted);
    if started_anything && !pos.contains(&snap) {
        // Rows copied before the restart are as of `pos`; bring them to the new snapshot,
        // touching only what was copied.
        info!(stream = %spec.key, from = %pos, to = %snap, "catching up the copied rows to the new snapshot");
        replay(spec, tables, target, key, pos, Some(&snap), Some(&progress), shared, stop).await?;
    }
    // The copy's position and the source row count, for progress.
    let mut total = 0u64;
    for t in &pending {
        let n: Option<u64> = conns[0]
            .query_first(format!("SELECT COUNT(*) FROM {}", crate::sql::quote_ident(t)))
            .await
            .map_err(|e| VReplError::mysql(format!("counting the rows of {t}"), e))?;
        total += n.unwrap_or(0);
    }
    let scanned_before = shared.lock().map(|s| s.rows_scanned).unwrap_or(0);
    run_tx(
        target,
        &format!(
            "BEGIN; {}; COMMIT",
            key.update(&format!(
                "pos = {}, rows_total = rows_scanned + {total}, state = 'Copying', message = ''",
                quote_bytes(snap.to_string().as_bytes())
            ))
        ),
        "recording the copy's snapshot",
    )
    .await?;
    update(shared, |s| {
        s.state = "Copying".into();
        s.position = snap.to_string();
        s.rows_total = scanned_before + total;
    });

    let queue = Arc::new(Mutex::new(pending.into_iter().collect::<VecDeque<String>>()));
    let writers = Arc::new(Semaphore::new(spec.options.writers.max(1) as usize));
    let pool = Pool::new(
        mysql_async::OptsBuilder::from_opts(spec.target.opts()).pool_opts(
            PoolOpts::default()
                .with_constraints(PoolConstraints::new(0, spec.options.writers.max(1) as usize).unwrap_or_default())
                .with_inactive_connection_ttl(Duration::from_secs(10)),
        ),
    );
    let throttle = Arc::new(Throttle::new(spec));
    let tables = Arc::new(tables_snapshot(tables));
    let mut tasks = tokio::task::JoinSet::new();
    for conn in conns.drain(..) {
        let (queue, writers, pool, throttle, tables) =
            (queue.clone(), writers.clone(), pool.clone(), throttle.clone(), tables.clone());
        let (spec, key, shared, progress) = (spec.clone(), key.clone(), shared.clone(), progress.clone());
        tasks.spawn(async move {
            let mut conn = conn;
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(table) = next else { break };
                let last = match progress.get(&table) {
                    Some(Copied::UpTo(l)) => Some(l.clone()),
                    _ => None,
                };
                copy_table(&spec, &tables, &table, last, &mut conn, &key, &writers, &pool, &throttle, &shared).await?;
            }
            let _ = conn.query_drop("COMMIT").await;
            Ok::<(), VReplError>(())
        });
    }
    let outcome = loop {
        tokio::select! {
            r = tasks.join_next() => match r {
                None => break Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => break Err(e),
                Some(Err(e)) => break Err(VReplError::Binlog(format!("a copy task failed: {e}"))),
            },
            _ = stop.changed() => break Err(VReplError::Binlog("stopped during the copy".into())),
        }
    };
    tasks.abort_all();
    let _ = pool.disconnect().await;
    outcome?;
    Ok(snap)
}

/// The tables, shared by the copy tasks.
fn tables_snapshot(tables: &HashMap<String, TableInfo>) -> HashMap<String, Arc<TableInfo>> {
    tables.iter().map(|(k, t)| (k.clone(), Arc::new(t.clone()))).collect()
}

#[allow(clippy::too_many_arguments)]
async fn copy_table(
    spec: &StreamSpec,
    tables: &HashMap<String, Arc<TableInfo>>,
    table: &str,
    mut last: Option<Vec<String>>,
    conn: &mut Conn,
    key: &RowKey,
    writers: &Arc<Semaphore>,
    pool: &Pool,
    throttle: &Throttle,
    shared: &Shared,
) -> Result<(), VReplError> {
    let t = tables.get(table).cloned().ok_or_else(|| VReplError::Schema(format!("unknown table {table}")))?;
    let chunk = spec.options.chunk_rows.max(1);
    let mut prev: Option<oneshot::Receiver<()>> = None;
    let mut jobs = tokio::task::JoinSet::new();
    loop {
        throttle.wait(chunk).await;
        let sql = t.chunk_select(last.as_deref(), chunk);
        let rows: Vec<mysql_async::Row> =
            conn.query(sql).await.map_err(|e| VReplError::mysql(format!("reading a chunk of {table}"), e))?;
        let scanned = rows.len() as u64;
        let rows: Vec<Vec<Value>> = rows.into_iter().map(super::table::row_values).collect();
        let done = scanned < chunk;
        if done {
            info!(stream = %spec.key, table, scanned, after = ?last, "last chunk of the table read");
        }
        if let Some(r) = rows.last() {
            last = Some(t.pk_literals(r));
        }
        let mut keep = Vec::with_capacity(rows.len());
        for r in rows {
            if t.in_range(&spec.target_range, &r)? {
                keep.push(r);
            }
        }
        let permit = writers.clone().acquire_owned().await.map_err(|_| VReplError::Binlog("writers closed".into()))?;
        let (tx, rx) = oneshot::channel();
        let wait_for = prev.replace(rx);
        let job = Job {
            table: t.clone(),
            rows: keep,
            scanned,
            last: last.clone().unwrap_or_default(),
            done,
            key: key.clone(),
            shared: shared.clone(),
        };
        let pool = pool.clone();
        jobs.spawn(async move {
            let r = job.run(&pool, wait_for).await;
            drop(permit);
            if r.is_ok() {
                let _ = tx.send(());
            }
            r
        });
        // Surface a failed write early.
        while let Some(r) = jobs.try_join_next() {
            r.map_err(|e| VReplError::Binlog(format!("a copy writer failed: {e}")))??;
        }
        if done {
            break;
        }
    }
    while let Some(r) = jobs.join_next().await {
        r.map_err(|e| VReplError::Binlog(format!("a copy writer failed: {e}")))??;
    }
    info!(stream = %spec.key, table, "table copied");
    Ok(())
}

/// One chunk's write: insert, wait for the previous chunk of the table to commit, record the
/// last copied key and counters, commit.
struct Job {
    table: Arc<TableInfo>,
    rows: Vec<Vec<Value>>,
    scanned: u64,
    last: Vec<String>,
    done: bool,
    key: RowKey,
    shared: Shared,
}

impl Job {
    async fn run(self, pool: &Pool, prev: Option<oneshot::Receiver<()>>) -> Result<(), VReplError> {
        let mut conn = pool.get_conn().await.map_err(|e| VReplError::mysql("connecting to the target", e))?;
        let what = format!("writing a chunk of {}", self.table.name);
        conn.query_drop("BEGIN").await.map_err(|e| VReplError::mysql(what.clone(), e))?;
        if !self.rows.is_empty() {
            if let Err(e) = conn.query_drop(self.table.insert(&self.rows)).await {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(VReplError::mysql(what, e));
            }
        }
        if let Some(prev) = prev {
            if prev.await.is_err() {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(VReplError::Binlog(format!("an earlier chunk of {} failed", self.table.name)));
            }
        }
        let n = self.rows.len();
        let sql = format!(
            "{}; {}; COMMIT",
            self.key.copy_progress(&self.table.name, &self.last, self.done),
            self.key.update(&format!(
                "rows_copied = rows_copied + {n}, rows_scanned = rows_scanned + {}, time_updated = {}",
                self.scanned,
                crate::protocol::envelope::now_ms()
            ))
        );
        run_tx(&mut conn, &sql, &what).await?;
        update(&self.shared, |s| {
            s.rows_copied += n as u64;
            s.rows_scanned += self.scanned;
        });
        Ok(())
    }
}

/// Rows-per-second limit and target replica lag backoff.
struct Throttle {
    max_rows_per_sec: u64,
    max_lag: u64,
    replicas: Vec<super::MysqlAddr>,
    started: Instant,
    rows: AtomicU64,
    last_lag_check: Mutex<Option<Instant>>,
}

impl Throttle {
    fn new(spec: &StreamSpec) -> Self {
        Throttle {
            max_rows_per_sec: spec.options.max_rows_per_sec,
            max_lag: spec.options.max_replica_lag_secs,
            replicas: spec.target_replicas.clone(),
            started: Instant::now(),
            rows: AtomicU64::new(0),
            last_lag_check: Mutex::new(None),
        }
    }

    async fn wait(&self, rows: u64) {
        if self.max_rows_per_sec > 0 {
            let done = self.rows.fetch_add(rows, Ordering::Relaxed);
            let due = Duration::from_secs_f64(done as f64 / self.max_rows_per_sec as f64);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        if self.max_lag == 0 || self.replicas.is_empty() {
            return;
        }
        loop {
            {
                let mut last = self.last_lag_check.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                    return;
                }
                *last = Some(Instant::now());
            }
            let lag = self.max_replica_lag().await;
            if lag <= self.max_lag {
                return;
            }
            warn!(lag, max = self.max_lag, "a target replica lags: copy paused");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn max_replica_lag(&self) -> u64 {
        let mut max = 0;
        for r in &self.replicas {
            let Ok(mut c) = r.connect().await else { continue };
            if let Ok(Some(row)) = c.query_first::<mysql_async::Row, _>("SHOW SLAVE STATUS").await {
                let lag: Option<u64> = row.get_opt("Seconds_Behind_Master").and_then(|v| v.ok());
                max = max.max(lag.unwrap_or(0));
            }
            let _ = c.disconnect().await;
        }
        max
    }
}
