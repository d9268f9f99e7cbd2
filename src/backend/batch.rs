//! Batching statements to one target under load: a few requests per target go to NATS at once;
//! statements that arrive while those are in flight queue up and leave together as one
//! `ExecuteBatch` message (the tablet runs them concurrently and answers with one message).
//! Idle, nothing waits: a statement with a free slot is sent by its own task, directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::protocol::tablet::{ExecOptions, QueryReply, QueryRequest, QueryResponse, TabletError};

/// Requests in flight per target before statements queue for a batch (`TESSERA_BATCH_IN_FLIGHT`
/// overrides it, for measuring).
pub const IN_FLIGHT: usize = 2;

fn in_flight() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("TESSERA_BATCH_IN_FLIGHT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(IN_FLIGHT)
    })
}
/// Most statements in one batch.
pub const MAX_BATCH: usize = 64;
/// Longest a queued statement waits for a slot before its batch leaves anyway (then more than
/// the slots' requests are in flight). Under load a slot frees well within this; with slow
/// statements in flight, it bounds the delay they impose on others.
pub const MAX_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

type Pending = (String, ExecOptions, oneshot::Sender<QueryReply>);

/// How statements to busy targets left this process (for `/debug/status`).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct BatchStats {
    /// Sent on their own, with a free slot.
    pub direct: u64,
    /// Queued and sent inside a batch.
    pub batched: u64,
    /// Batch messages sent (a batch of one is sent as a plain statement).
    pub batches: u64,
}

static DIRECT: AtomicU64 = AtomicU64::new(0);
static BATCHED: AtomicU64 = AtomicU64::new(0);
static BATCHES: AtomicU64 = AtomicU64::new(0);

/// Counts since the process started.
pub fn stats() -> BatchStats {
    BatchStats {
        direct: DIRECT.load(Ordering::Relaxed),
        batched: BATCHED.load(Ordering::Relaxed),
        batches: BATCHES.load(Ordering::Relaxed),
    }
}

/// Sends one request (subject, request, what) and returns its reply.
pub type SendFn =
    Arc<dyn Fn(String, QueryRequest, String) -> futures::future::BoxFuture<'static, QueryReply> + Send + Sync>;

struct Target {
    queue: mpsc::UnboundedSender<Pending>,
    slots: Arc<Semaphore>,
}

/// Per-target batchers, created on first use.
#[derive(Clone, Default)]
pub struct Batchers {
    targets: Arc<Mutex<HashMap<String, Arc<Target>>>>,
}

/// What a caller does with its statement.
pub enum Route {
    /// Send it now, holding this slot until the reply.
    Direct(OwnedSemaphorePermit),
    /// Wait for the batch's answer.
    Queued(oneshot::Receiver<QueryReply>),
}

impl Batchers {
    /// A slot to send `sql` to `subject` now, or a place in the next batch.
    pub fn route(
        &self,
        subject: &str,
        what: &str,
        sql: &str,
        options: ExecOptions,
        send: impl FnOnce() -> SendFn,
    ) -> Route {
        let target = {
            let mut map = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(subject) {
                Some(t) => t.clone(),
                None => map
                    .entry(subject.to_string())
                    .or_insert_with(|| spawn_target(subject.to_string(), what.to_string(), send()))
                    .clone(),
            }
        };
        if let Ok(permit) = target.slots.clone().try_acquire_owned() {
            DIRECT.fetch_add(1, Ordering::Relaxed);
            return Route::Direct(permit);
        }
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((_, _, tx))) = target.queue.send((sql.to_string(), options, tx)) {
            let _ = tx.send(Err(TabletError::Internal(format!("the batcher for {what} stopped"))));
        }
        Route::Queued(rx)
    }
}

fn spawn_target(subject: String, what: String, send: SendFn) -> Arc<Target> {
    let (queue, mut rx) = mpsc::unbounded_channel::<Pending>();
    let slots = Arc::new(Semaphore::new(in_flight()));
    let target = Arc::new(Target { queue, slots: slots.clone() });
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Wait for a slot, but never long: the statements in flight may be slow ones (a
            // report, a lock wait), and what queued behind them must not wait for them.
            let permit = match tokio::time::timeout(MAX_QUEUE_WAIT, slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                Ok(Err(_)) => return,
                Err(_) => None,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            if batch.len() > 1 {
                BATCHED.fetch_add(batch.len() as u64, Ordering::Relaxed);
                BATCHES.fetch_add(1, Ordering::Relaxed);
            } else {
                DIRECT.fetch_add(1, Ordering::Relaxed);
            }
            let (send, subject, what) = (send.clone(), subject.clone(), what.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if batch.len() == 1 {
                    let (sql, options, tx) = batch.remove(0);
                    let req = QueryRequest::Execute { sql, binds: Default::default(), transaction_id: None, options };
                    let _ = tx.send(send(subject, req, what).await);
                    return;
                }
                let n = batch.len();
                let (mut statements, mut options, mut waiters) = (Vec::new(), Vec::new(), Vec::new());
                for (sql, o, tx) in batch {
                    statements.push(sql);
                    options.push(o);
                    waiters.push(tx);
                }
                match send(subject, QueryRequest::ExecuteBatch { statements, options }, what.clone()).await {
                    Ok(QueryResponse::Batch { replies }) if replies.len() == n => {
                        for (tx, r) in waiters.into_iter().zip(replies) {
                            let _ = tx.send(r);
                        }
                    }
                    Ok(other) => {
                        let e = TabletError::Internal(format!("{what} answered a batch of {n} with {other:?}"));
                        for tx in waiters {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                    Err(e) => {
                        for tx in waiters {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
            });
        }
    });
    target
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::tablet::QueryResult;

    /// Answers each statement with its own text (in `info`); the target itself is never slow
    /// here: the test holds the slots, as slow statements in flight would.
    fn echo() -> SendFn {
        Arc::new(|_subject, req, _what| {
            Box::pin(async move {
                let answer = |sql: String| {
                    Ok(QueryResponse::Result {
                        result: QueryResult { info: sql, ..Default::default() },
                        tablet: "t".into(),
                        cursor: None,
                    })
                };
                match req {
                    QueryRequest::Execute { sql, .. } => answer(sql),
                    QueryRequest::ExecuteBatch { statements, .. } => {
                        Ok(QueryResponse::Batch { replies: statements.into_iter().map(answer).collect() })
                    }
                    other => Err(TabletError::Internal(format!("unexpected {other:?}"))),
                }
            })
        })
    }

    fn info(r: QueryReply) -> String {
        match r {
            Ok(QueryResponse::Result { result, .. }) => result.info,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn queued_statements_do_not_wait_for_slow_ones_and_leave_together() {
        let b = Batchers::default();
        // Every slot taken, as by statements that will not answer for a long time.
        let held: Vec<_> = (0..IN_FLIGHT)
            .map(|i| match b.route("subj", "ks/0", &format!("slow {i}"), ExecOptions::default(), echo) {
                Route::Direct(permit) => permit,
                Route::Queued(_) => panic!("a free slot was not used"),
            })
            .collect();
        let before = stats();
        let queued: Vec<_> = (0..3)
            .map(|i| match b.route("subj", "ks/0", &format!("select {i}"), ExecOptions::default(), echo) {
                Route::Queued(rx) => rx,
                Route::Direct(_) => panic!("no slot should be free"),
            })
            .collect();
        let started = std::time::Instant::now();
        for (i, rx) in queued.into_iter().enumerate() {
            let reply = tokio::time::timeout(Duration::from_secs(2), rx).await.expect("held up by slow statements");
            assert_eq!(info(reply.expect("answered")), format!("select {i}"), "replies in order");
        }
        assert!(started.elapsed() < Duration::from_secs(1), "waited {:?}", started.elapsed());
        let after = stats();
        assert!(after.batched >= before.batched + 3 && after.batches > before.batches, "{before:?} {after:?}");
        drop(held);
        // With the slots free again, a statement goes directly.
        assert!(matches!(b.route("subj", "ks/0", "select 9", ExecOptions::default(), echo), Route::Direct(_)));
    }
}
