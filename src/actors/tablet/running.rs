//! Statements running on this tablet, by the gateway's query id, so a [`KillRequest`] can
//! stop them: the gateway sends one when its client disconnects, is killed, or gives up.
//!
//! A kill must never hit another statement that later reuses the same MySQL connection. So an
//! entry is ended (under its lock) before its connection goes back to the pool, and a kill runs
//! `KILL QUERY` while holding that lock: either the statement is still running on the
//! connection, or the kill finds it ended and does nothing. A kill that arrives before its
//! statement starts is remembered for a while, and the statement is then refused.
//!
//! [`KillRequest`]: crate::protocol::tablet::KillRequest

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::tablet::TabletError;

/// How long a kill for a statement not (yet) running is remembered.
const REMEMBER: Duration = Duration::from_secs(60);

/// One running statement.
pub struct Entry {
    thread: u32,
    active: AtomicBool,
    /// Held by a kill while it runs, and by the statement while it ends.
    lock: tokio::sync::Mutex<()>,
}

/// The registry.
#[derive(Default)]
pub struct Running {
    by_query: Mutex<HashMap<u64, Arc<Entry>>>,
    killed: Mutex<HashMap<u64, Instant>>,
}

/// A registered statement; [`Registration::end`] it before its connection is reused.
pub struct Registration<'a> {
    running: &'a Running,
    query_id: u64,
    entry: Option<Arc<Entry>>,
}

impl Running {
    /// Running statements by MySQL thread: thread -> query id.
    pub fn by_thread(&self) -> HashMap<u32, u64> {
        self.by_query.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(q, e)| (e.thread, *q)).collect()
    }

    /// Registers statement `query_id` (0: untracked) running on MySQL thread `thread`;
    /// refused when it was killed before it started.
    pub fn begin(&self, query_id: u64, thread: u32) -> Result<Registration<'_>, TabletError> {
        if query_id == 0 {
            return Ok(Registration { running: self, query_id, entry: None });
        }
        if self.killed.lock().unwrap_or_else(|e| e.into_inner()).remove(&query_id).is_some() {
            return Err(TabletError::Interrupted);
        }
        let entry = Arc::new(Entry { thread, active: AtomicBool::new(true), lock: tokio::sync::Mutex::new(()) });
        self.by_query.lock().unwrap_or_else(|e| e.into_inner()).insert(query_id, entry.clone());
        Ok(Registration { running: self, query_id, entry: Some(entry) })
    }

    /// Stops statement `query_id`: runs `kill_thread` on its MySQL thread while it still runs
    /// there, or remembers the kill for a statement still to come.
    pub async fn kill<F, Fut>(&self, query_id: u64, kill_thread: F)
    where
        F: FnOnce(u32) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let entry = self.by_query.lock().unwrap_or_else(|e| e.into_inner()).get(&query_id).cloned();
        let Some(entry) = entry else {
            let mut killed = self.killed.lock().unwrap_or_else(|e| e.into_inner());
            killed.retain(|_, at| at.elapsed() < REMEMBER);
            killed.insert(query_id, Instant::now());
            return;
        };
        let _held = entry.lock.lock().await;
        if entry.active.load(Ordering::SeqCst) {
            kill_thread(entry.thread).await;
        }
    }
}

impl Registration<'_> {
    /// Ends the statement: after this, no kill touches its connection.
    pub async fn end(mut self) {
        if let Some(entry) = self.entry.take() {
            let _held = entry.lock.lock().await;
            entry.active.store(false, Ordering::SeqCst);
            self.running.by_query.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.query_id);
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        // Not ended (a panic unwound through it): at least no later kill may use the thread.
        if let Some(entry) = self.entry.take() {
            entry.active.store(false, Ordering::SeqCst);
            self.running.by_query.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.query_id);
        }
    }
}
