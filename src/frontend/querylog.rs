//! The gateway's query log: every client statement, as it ends, goes to whoever follows
//! `/debug/querylog` (a broadcast: nothing is kept or copied when nobody listens), into the
//! per-shape statistics `/debug/queryz` lists (normalised statement: count, total and max
//! time, rows, errors), and, past `[gateway] slow_query_ms`, into the node's log at `warn`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

/// One client statement, as it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub time_ms: u64,
    pub conn: u32,
    pub user: String,
    pub keyspace: String,
    /// The statement as sent (at most [`TEXT_MAX`] bytes).
    pub sql: String,
    /// With literals replaced by `?` (the key of `/debug/queryz`).
    pub normalised: String,
    pub plan: &'static str,
    pub micros: u64,
    pub rows: u64,
    /// MySQL error number and message; 0 when it succeeded.
    pub errno: u16,
    pub error: String,
}

/// What `/debug/queryz` shows for one normalised statement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stat {
    pub normalised: String,
    pub plan: &'static str,
    pub count: u64,
    pub total_micros: u64,
    pub max_micros: u64,
    pub rows: u64,
    pub errors: u64,
}

const TEXT_MAX: usize = 1000;
/// Distinct statements `/debug/queryz` keeps (then the least used make room).
const SHAPES_MAX: usize = 2000;
/// Keyspaces whose totals are kept apart (the rest count as `(other)`).
const KEYSPACES_MAX: usize = 256;

/// Totals of one keyspace's statements since the process started (the console's QPS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    pub count: u64,
    pub micros: u64,
    pub errors: u64,
}

#[derive(Default)]
struct Stats {
    shapes: HashMap<String, Stat>,
    keyspaces: HashMap<String, Totals>,
}

/// The process's query log.
pub struct QueryLog {
    tx: broadcast::Sender<Arc<Entry>>,
    stats: Mutex<Stats>,
    slow: Mutex<Duration>,
}

/// The query log of this process.
pub fn hub() -> &'static QueryLog {
    static HUB: OnceLock<QueryLog> = OnceLock::new();
    HUB.get_or_init(|| QueryLog {
        tx: broadcast::channel(1024).0,
        stats: Mutex::new(Stats::default()),
        slow: Mutex::new(Duration::ZERO),
    })
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl QueryLog {
    /// Statements slower than this are logged at `warn` (zero: none).
    pub fn set_slow(&self, slow: Duration) {
        *self.slow.lock().unwrap_or_else(|e| e.into_inner()) = slow;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.tx.subscribe()
    }

    /// Records a statement that ended.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        conn: u32,
        user: &str,
        keyspace: &str,
        sql: &str,
        plan: &'static str,
        elapsed: Duration,
        rows: u64,
        error: Option<(u16, String)>,
    ) {
        let sql = cut(sql, TEXT_MAX);
        let normalised = crate::planner::shape::normalise(sql).map(|(s, _)| s).unwrap_or_else(|| sql.to_string());
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        {
            let mut all = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            // Bounded: a client may name any keyspace (statements to unknown ones fail).
            let key = if all.keyspaces.len() < KEYSPACES_MAX || all.keyspaces.contains_key(keyspace) {
                keyspace
            } else {
                "(other)"
            };
            match all.keyspaces.get_mut(key) {
                Some(t) => t.add(micros, error.is_some()),
                None => {
                    let mut t = Totals::default();
                    t.add(micros, error.is_some());
                    all.keyspaces.insert(key.to_string(), t);
                }
            }
            let stats = &mut all.shapes;
            if stats.len() >= SHAPES_MAX && !stats.contains_key(&normalised) {
                // Bounded: the least used half goes.
                let mut counts: Vec<u64> = stats.values().map(|s| s.count).collect();
                counts.sort_unstable();
                let median = counts[counts.len() / 2];
                stats.retain(|_, s| s.count > median);
            }
            let s = stats.entry(normalised.clone()).or_insert_with(|| Stat {
                normalised: normalised.clone(),
                plan,
                ..Default::default()
            });
            s.count += 1;
            s.total_micros += micros;
            s.max_micros = s.max_micros.max(micros);
            s.rows += rows;
            s.errors += u64::from(error.is_some());
        }
        let slow = *self.slow.lock().unwrap_or_else(|e| e.into_inner());
        let is_slow = !slow.is_zero() && elapsed >= slow;
        if self.tx.receiver_count() == 0 && !is_slow {
            return;
        }
        let (errno, error) = error.unwrap_or((0, String::new()));
        let entry = Entry {
            time_ms: crate::protocol::envelope::now_ms(),
            conn,
            user: user.to_string(),
            keyspace: keyspace.to_string(),
            sql: sql.to_string(),
            normalised,
            plan,
            micros,
            rows,
            errno,
            error,
        };
        if is_slow {
            tracing::warn!(
                conn, user, keyspace, plan, ms = micros / 1000, rows, errno, statement = %entry.normalised,
                "slow query"
            );
        }
        let _ = self.tx.send(Arc::new(entry));
    }

    /// Every normalised statement's statistics, most total time first.
    pub fn stats(&self) -> Vec<Stat> {
        let mut all: Vec<Stat> =
            self.stats.lock().unwrap_or_else(|e| e.into_inner()).shapes.values().cloned().collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.total_micros));
        all
    }

    /// Statement totals per keyspace (`""`: statements with no keyspace).
    pub fn keyspace_totals(&self) -> HashMap<String, Totals> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).keyspaces.clone()
    }
}

impl Totals {
    fn add(&mut self, micros: u64, error: bool) {
        self.count += 1;
        self.micros += micros;
        self.errors += u64::from(error);
    }
}

impl Entry {
    /// One line of `/debug/querylog`: tab-separated, as Vitess's query log.
    pub fn line(&self) -> String {
        let one_line = |s: &str| s.replace(['\n', '\r', '\t'], " ");
        format!(
            "{}\t{}\t{}\t{}\t{}\t{:.3}\t{}\t{}\t{}\t{}\n",
            crate::protocol::envelope::format_time(self.time_ms),
            self.conn,
            self.user,
            self.keyspace,
            self.plan,
            self.micros as f64 / 1000.0,
            self.rows,
            self.errno,
            one_line(&self.sql),
            one_line(&self.error)
        )
    }

    /// Whether the filters of `/debug/querylog` keep it.
    pub fn matches(&self, keyspace: Option<&str>, user: Option<&str>, min_ms: u64, errors_only: bool) -> bool {
        keyspace.is_none_or(|k| k == self.keyspace)
            && user.is_none_or(|u| u == self.user)
            && self.micros / 1000 >= min_ms
            && (!errors_only || self.errno != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_by_shape_and_followers_get_them() {
        let log = hub();
        let mut rx = log.subscribe();
        log.record(
            7,
            "app",
            "ks",
            "select * from t where id = 12345",
            "single_shard",
            Duration::from_millis(2),
            1,
            None,
        );
        log.record(7, "app", "ks", "select * from t where id = 99", "single_shard", Duration::from_millis(4), 0, None);
        log.record(
            8,
            "app",
            "ks",
            "select * from nope",
            "none",
            Duration::from_micros(10),
            0,
            Some((1146, "no".into())),
        );
        let stat = log.stats().into_iter().find(|s| s.normalised == "select * from t where id = ?").unwrap();
        assert!(stat.count >= 2 && stat.max_micros >= 4000 && stat.rows >= 1, "{stat:?}");
        let first = rx.try_recv().unwrap();
        assert!(first.line().contains("select * from t where id = 12345"), "{}", first.line());
        let _ = rx.try_recv();
        let failed = rx.try_recv().unwrap();
        assert_eq!(failed.errno, 1146);
        assert!(failed.matches(Some("ks"), None, 0, true) && !first.matches(Some("other"), None, 0, false));
    }
}
