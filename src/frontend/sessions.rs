//! The gateway's sessions by connection id, so `KILL [QUERY|CONNECTION] <id>` (and
//! COM_PROCESS_KILL) act on gateway sessions, never on a tablet's MySQL threads: KILL QUERY
//! stops the session's running statement (on every shard it reached), KILL CONNECTION also
//! closes the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::plan::GatewayError;
use crate::protocol::tablet::TabletError;

/// How a session is told to stop, and what it is doing (for SHOW PROCESSLIST).
#[derive(Default)]
pub struct Signals {
    /// Stop the running statement.
    pub interrupt: Notify,
    /// Close the session (after stopping its statement).
    pub close: Notify,
    pub closing: AtomicBool,
    activity: Mutex<Activity>,
    /// The session's transaction, as the cross-shard deadlock detector sees it.
    pub tx: Mutex<crate::twopc::deadlock::TxWatch>,
    /// The statement (query id) whose transaction the deadlock detector chose to roll back.
    pub deadlock_victim: AtomicU64,
}

/// A session's current command.
struct Activity {
    db: Option<String>,
    /// Running a statement (else idle, "Sleep").
    query: bool,
    since: Instant,
    /// The statement running, up to [`INFO_MAX`] bytes (the buffer is reused).
    info: String,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { db: None, query: false, since: Instant::now(), info: String::new() }
    }
}

/// How much of a running statement SHOW FULL PROCESSLIST shows.
const INFO_MAX: usize = 4096;

impl Signals {
    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session started running `sql` with `db` as its database.
    pub fn started(&self, sql: &str, db: Option<&str>) {
        let mut a = self.activity();
        a.query = true;
        a.since = Instant::now();
        a.info.clear();
        let mut end = sql.len().min(INFO_MAX);
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        a.info.push_str(&sql[..end]);
        if a.db.as_deref() != db {
            a.db = db.map(str::to_string);
        }
    }

    /// How long the session's statement has been running (`None`: idle).
    pub fn running_for(&self) -> Option<std::time::Duration> {
        let a = self.activity();
        a.query.then(|| a.since.elapsed())
    }

    /// The session's statement ended; it waits for the next.
    pub fn finished(&self) {
        let mut a = self.activity();
        a.query = false;
        a.since = Instant::now();
        a.info.clear();
    }
}

struct Entry {
    user: String,
    host: String,
    signals: Arc<Signals>,
}

/// A row of SHOW PROCESSLIST.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub id: u32,
    pub user: String,
    pub host: String,
    pub db: Option<String>,
    /// `Query` or `Sleep`.
    pub command: &'static str,
    pub seconds: u64,
    pub info: Option<String>,
}

/// Every session of this gateway.
pub struct Sessions {
    by_id: Mutex<HashMap<u32, Entry>>,
    /// Anyone may kill any session (the gateway checks no passwords).
    open: bool,
    query_ids: AtomicU64,
    /// For COM_STATISTICS: since when, and how many statements.
    started: Instant,
    questions: AtomicU64,
}

/// A session's place in [`Sessions`]; removed when dropped.
pub struct Registered {
    sessions: Arc<Sessions>,
    id: u32,
    pub signals: Arc<Signals>,
}

impl Sessions {
    pub fn new(open: bool) -> Arc<Sessions> {
        // Query ids start from a random point, so two gateways (or a restarted one) never send
        // tablets the same id.
        let seed = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([1; 8]));
        Arc::new(Sessions {
            by_id: Mutex::default(),
            open,
            query_ids: AtomicU64::new(seed | 1),
            started: Instant::now(),
            questions: AtomicU64::new(0),
        })
    }

    /// A fresh id for one client statement (which is counted).
    pub fn next_query_id(&self) -> u64 {
        self.questions.fetch_add(1, Ordering::Relaxed);
        match self.query_ids.fetch_add(1, Ordering::Relaxed) {
            0 => self.query_ids.fetch_add(1, Ordering::Relaxed),
            q => q,
        }
    }

    pub fn register(self: &Arc<Self>, id: u32, user: &str, host: &str) -> Registered {
        let signals = Arc::new(Signals::default());
        let entry = Entry { user: user.to_string(), host: host.to_string(), signals: signals.clone() };
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).insert(id, entry);
        crate::metrics::metrics().sessions.inc();
        Registered { sessions: self.clone(), id, signals }
    }

    /// `KILL [CONNECTION|QUERY] id` from a session of `user`.
    pub fn kill(&self, id: u32, user: &str, connection: bool) -> Result<(), GatewayError> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = by_id.get(&id) else {
            return Err(mysql_error(1094, "HY000", format!("Unknown thread id: {id}")));
        };
        if !self.open && entry.user != user {
            return Err(mysql_error(1095, "HY000", format!("You are not owner of thread {id}")));
        }
        if connection {
            entry.signals.closing.store(true, Ordering::SeqCst);
            entry.signals.close.notify_waiters();
        }
        entry.signals.interrupt.notify_waiters();
        Ok(())
    }

    /// Shutting down: every session closes as soon as it is not running a statement (its open
    /// transactions rolled back on their tablets); after `grace`, running statements are
    /// interrupted too. Resolves when no session is left, or `grace` + 5 s have passed.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        let signals = |s: &Self| -> Vec<Arc<Signals>> {
            s.by_id.lock().unwrap_or_else(|e| e.into_inner()).values().map(|e| e.signals.clone()).collect()
        };
        for sig in signals(self) {
            sig.closing.store(true, Ordering::SeqCst);
            sig.close.notify_waiters();
        }
        let start = std::time::Instant::now();
        let mut interrupted = false;
        loop {
            let left = self.by_id.lock().unwrap_or_else(|e| e.into_inner()).len();
            if left == 0 || start.elapsed() > grace + std::time::Duration::from_secs(5) {
                return left;
            }
            if !interrupted && start.elapsed() > grace {
                for sig in signals(self) {
                    sig.interrupt.notify_waiters();
                }
                interrupted = true;
            }
            // Sessions that opened between the first pass and now close too.
            for sig in signals(self) {
                sig.closing.store(true, Ordering::SeqCst);
                sig.close.notify_waiters();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Open sessions: (id, user).
    pub fn list(&self) -> Vec<(u32, String)> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = by_id.iter().map(|(id, e)| (*id, e.user.clone())).collect();
        out.sort();
        out
    }

    /// Every session's id and signals.
    pub fn all(&self) -> Vec<(u32, Arc<Signals>)> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(id, e)| (*id, e.signals.clone())).collect()
    }

    /// SHOW PROCESSLIST for a session of `user`: every session when the gateway checks no
    /// passwords, else that user's own (MariaDB's rule without the PROCESS privilege).
    pub fn processlist(&self, user: &str, full: bool) -> Vec<Process> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Process> = by_id
            .iter()
            .filter(|(_, e)| self.open || e.user == user)
            .map(|(id, e)| {
                let a = e.signals.activity();
                let info = a.query.then(|| {
                    let mut end = if full { a.info.len() } else { a.info.len().min(100) };
                    while !a.info.is_char_boundary(end) {
                        end -= 1;
                    }
                    a.info[..end].to_string()
                });
                Process {
                    id: *id,
                    user: e.user.clone(),
                    host: e.host.clone(),
                    db: a.db.clone(),
                    command: if a.query { "Query" } else { "Sleep" },
                    seconds: a.since.elapsed().as_secs(),
                    info,
                }
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// COM_STATISTICS's line (what `mariadb-admin status` prints).
    pub fn statistics(&self) -> String {
        let uptime = self.started.elapsed().as_secs();
        let questions = self.questions.load(Ordering::Relaxed);
        let threads = self.by_id.lock().unwrap_or_else(|e| e.into_inner()).len();
        format!(
            "Uptime: {uptime}  Threads: {threads}  Questions: {questions}  Slow queries: 0  Opens: 0  \
             Open tables: 0  Queries per second avg: {:.3}",
            questions as f64 / uptime.max(1) as f64
        )
    }
}

fn mysql_error(code: u16, state: &str, message: String) -> GatewayError {
    GatewayError::Tablet(TabletError::Mysql { code, state: state.into(), message })
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sessions.by_id.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        crate::metrics::metrics().sessions.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_only_known_sessions_of_their_user() {
        let s = Sessions::new(false);
        let a = s.register(7, "app", "localhost");
        assert!(s.kill(7, "app", false).is_ok());
        assert!(!a.signals.closing.load(Ordering::SeqCst));
        assert!(s.kill(7, "app", true).is_ok());
        assert!(a.signals.closing.load(Ordering::SeqCst));
        let e = s.kill(7, "other", false).unwrap_err();
        assert_eq!(e.mysql_code().0, 1095);
        assert_eq!(s.kill(8, "app", false).unwrap_err().mysql_code().0, 1094);
        a.signals.started("select sleep(1)", Some("customer"));
        let _b = s.register(9, "other", "10.0.0.1");
        let p = s.processlist("app", false);
        assert_eq!(p.len(), 1, "only the user's own sessions when passwords are checked");
        assert_eq!(
            (p[0].command, p[0].info.as_deref(), p[0].db.as_deref()),
            ("Query", Some("select sleep(1)"), Some("customer"))
        );
        a.signals.finished();
        assert_eq!(s.processlist("app", false)[0].info, None);
        assert!(s.statistics().starts_with("Uptime: "));
        drop(a);
        assert_eq!(s.list(), vec![(9, "other".to_string())]);
        assert_ne!(s.next_query_id(), s.next_query_id());
    }
}
