//! The gateway's sessions by connection id, so `KILL [QUERY|CONNECTION] <id>` (and
//! COM_PROCESS_KILL) act on gateway sessions, never on a tablet's MySQL threads: KILL QUERY
//! stops the session's running statement (on every shard it reached), KILL CONNECTION also
//! closes the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::plan::GatewayError;
use crate::protocol::tablet::TabletError;

/// How a session is told to stop.
#[derive(Default)]
pub struct Signals {
    /// Stop the running statement.
    pub interrupt: Notify,
    /// Close the session (after stopping its statement).
    pub close: Notify,
    pub closing: AtomicBool,
}

struct Entry {
    user: String,
    signals: Arc<Signals>,
}

/// Every session of this gateway.
pub struct Sessions {
    by_id: Mutex<HashMap<u32, Entry>>,
    /// Anyone may kill any session (the gateway checks no passwords).
    open: bool,
    query_ids: AtomicU64,
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
        Arc::new(Sessions { by_id: Mutex::default(), open, query_ids: AtomicU64::new(seed | 1) })
    }

    /// A fresh id for one client statement.
    pub fn next_query_id(&self) -> u64 {
        match self.query_ids.fetch_add(1, Ordering::Relaxed) {
            0 => self.query_ids.fetch_add(1, Ordering::Relaxed),
            q => q,
        }
    }

    pub fn register(self: &Arc<Self>, id: u32, user: &str) -> Registered {
        let signals = Arc::new(Signals::default());
        let entry = Entry { user: user.to_string(), signals: signals.clone() };
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).insert(id, entry);
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
}

fn mysql_error(code: u16, state: &str, message: String) -> GatewayError {
    GatewayError::Tablet(TabletError::Mysql { code, state: state.into(), message })
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sessions.by_id.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_only_known_sessions_of_their_user() {
        let s = Sessions::new(false);
        let a = s.register(7, "app");
        assert!(s.kill(7, "app", false).is_ok());
        assert!(!a.signals.closing.load(Ordering::SeqCst));
        assert!(s.kill(7, "app", true).is_ok());
        assert!(a.signals.closing.load(Ordering::SeqCst));
        let e = s.kill(7, "other", false).unwrap_err();
        assert_eq!(e.mysql_code().0, 1095);
        assert_eq!(s.kill(8, "app", false).unwrap_err().mysql_code().0, 1094);
        drop(a);
        assert!(s.list().is_empty());
        assert_ne!(s.next_query_id(), s.next_query_id());
    }
}
