//! Batching statements to one target under load: a few requests per target go to NATS at once;
//! statements that arrive while those are in flight queue up and leave together as one
//! `ExecuteBatch` message (the tablet runs them concurrently and answers with one message).
//! Idle, nothing waits: a statement with a free slot is sent by its own task, directly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::protocol::tablet::{QueryReply, QueryRequest, QueryResponse, TabletError};

/// Requests in flight per target before statements queue for a batch.
pub const IN_FLIGHT: usize = 2;
/// Most statements in one batch.
pub const MAX_BATCH: usize = 64;

type Pending = (String, oneshot::Sender<QueryReply>);

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
    pub fn route(&self, subject: &str, what: &str, sql: &str, send: impl FnOnce() -> SendFn) -> Route {
        let target = {
            let mut map = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(subject.to_string())
                .or_insert_with(|| spawn_target(subject.to_string(), what.to_string(), send()))
                .clone()
        };
        if let Ok(permit) = target.slots.clone().try_acquire_owned() {
            return Route::Direct(permit);
        }
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((_, tx))) = target.queue.send((sql.to_string(), tx)) {
            let _ = tx.send(Err(TabletError::Internal(format!("the batcher for {what} stopped"))));
        }
        Route::Queued(rx)
    }
}

fn spawn_target(subject: String, what: String, send: SendFn) -> Arc<Target> {
    let (queue, mut rx) = mpsc::unbounded_channel::<Pending>();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let target = Arc::new(Target { queue, slots: slots.clone() });
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let (send, subject, what) = (send.clone(), subject.clone(), what.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if batch.len() == 1 {
                    let (sql, tx) = batch.remove(0);
                    let req = QueryRequest::Execute { sql, binds: Default::default(), transaction_id: None };
                    let _ = tx.send(send(subject, req, what).await);
                    return;
                }
                let (statements, waiters): (Vec<String>, Vec<oneshot::Sender<QueryReply>>) = batch.into_iter().unzip();
                let n = statements.len();
                match send(subject, QueryRequest::ExecuteBatch { statements }, what.clone()).await {
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
