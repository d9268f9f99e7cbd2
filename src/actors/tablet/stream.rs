//! Running one statement on a connection: tracked for kills, and, for streamed requests, its
//! rows sent in parts as the gateway asks for them.
//!
//! A result that fits in [`CHUNK_BYTES`] is answered whole, as before. A larger one is answered
//! with its first part and a cursor; the request's task then keeps the MySQL result open and
//! serves `Fetch` requests (forwarded to it through [`Cursors`]) one part at a time, so neither
//! the tablet nor the gateway ever holds more than a part. A cursor the gateway closes, kills,
//! or leaves idle for [`CURSOR_IDLE`] stops its statement and frees its connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TextProtocol};
use tokio::sync::mpsc;
use tracing::warn;

use super::dbconn::{field, map_err, text_value};
use super::query::QueryService;
use crate::protocol::tablet::{ExecOptions, QueryReply, QueryResponse, QueryResult, Rows, TabletError};

/// Row bytes per part of a streamed result.
pub const CHUNK_BYTES: usize = 256 << 10;

/// A cursor nobody fetches from for this long is closed.
pub const CURSOR_IDLE: Duration = Duration::from_secs(300);

/// Sends a reply to a subject.
pub type Publish = dyn Fn(async_nats::Subject, QueryReply) -> BoxFuture<'static, ()> + Send + Sync;

/// Where the parts of a streamed result go: the first to `reply_to`, later ones to each
/// `Fetch`'s reply subject.
pub struct Streamer<'a> {
    pub publish: &'a Publish,
    pub reply_to: async_nats::Subject,
}

/// What running a statement gave.
pub enum Outcome {
    /// The whole result (the caller answers).
    Done(QueryResult),
    /// Answered in parts already.
    Streamed,
}

/// A command for an open cursor: the next part (to `reply_to`), or stop (`reply_to` gets
/// `Done` if set).
pub struct CursorCmd {
    pub fetch: bool,
    pub reply_to: Option<async_nats::Subject>,
}

/// Open cursors: id to (query id, the task serving it).
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<u64, (u64, mpsc::Sender<CursorCmd>)>>,
    next: AtomicU64,
}

impl Cursors {
    fn open(&self, query_id: u64) -> (u64, mpsc::Receiver<CursorCmd>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(2);
        self.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (query_id, tx));
        (id, rx)
    }

    fn close(&self, id: u64) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Passes `cmd` to cursor `id`; false when no such cursor is open.
    pub async fn send(&self, id: u64, cmd: CursorCmd) -> bool {
        let tx = self.open.lock().unwrap_or_else(|e| e.into_inner()).get(&id).map(|(_, tx)| tx.clone());
        match tx {
            Some(tx) => tx.send(cmd).await.is_ok(),
            None => false,
        }
    }

    /// Stops every cursor of statement `query_id`.
    pub async fn stop_query(&self, query_id: u64) {
        let txs: Vec<_> = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|(q, _)| *q == query_id)
            .map(|(_, tx)| tx.clone())
            .collect();
        for tx in txs {
            let _ = tx.send(CursorCmd { fetch: false, reply_to: None }).await;
        }
    }

    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Results<'c> = mysql_async::QueryResult<'c, 'static, TextProtocol>;

/// Reads rows until `budget` bytes or the end (`true`). Past `max_rows` the rest is read and
/// dropped, so the connection stays usable, and the answer is the row-limit error.
async fn read_chunk(result: &mut Results<'_>, budget: usize, max_rows: u64) -> Result<(Rows, bool), TabletError> {
    let mut rows = Rows::new();
    let mut bytes = 0usize;
    while let Some(row) = result.next().await.map_err(map_err)? {
        if rows.len() as u64 >= max_rows {
            while result.next().await.map_err(map_err)?.is_some() {}
            return Err(TabletError::RowLimit { limit: max_rows });
        }
        let values = row.unwrap_raw().into_iter().map(|v| text_value(v.unwrap_or(mysql_async::Value::NULL)));
        rows.push_values(values.inspect(|c| bytes += c.as_ref().map_or(1, |v| v.len() + 2)));
        if bytes >= budget {
            return Ok((rows, false));
        }
    }
    Ok((rows, true))
}

impl QueryService {
    /// Runs `sql` on `conn`, registered under the request's query id for kills. With a
    /// streamer and a result larger than a part, answers in parts (see the module doc);
    /// `first` makes the first part's response from its rows and cursor. In a batch
    /// (`batched`), a streamed result that does not fit in a part is refused, to be sent alone.
    pub(super) async fn run_statement(
        &self,
        conn: &mut Conn,
        sql: &str,
        opts: ExecOptions,
        stream: Option<&Streamer<'_>>,
        first: &(dyn Fn(QueryResult, Option<u64>) -> QueryResponse + Sync),
    ) -> Result<Outcome, TabletError> {
        let thread = conn.id();
        let registration = self.running.begin(opts.query_id, thread)?;
        let out = self.run_registered(conn, thread, sql, opts, stream, first).await;
        registration.end().await;
        out
    }

    async fn run_registered(
        &self,
        conn: &mut Conn,
        thread: u32,
        sql: &str,
        opts: ExecOptions,
        stream: Option<&Streamer<'_>>,
        first: &(dyn Fn(QueryResult, Option<u64>) -> QueryResponse + Sync),
    ) -> Result<Outcome, TabletError> {
        let mut result = conn.query_iter(sql).await.map_err(map_err)?;
        let fields: Vec<_> = result.columns_ref().iter().map(field).collect();
        let (budget, max_rows) =
            if opts.stream { (CHUNK_BYTES, u64::MAX) } else { (usize::MAX, self.limits.max_result_rows) };
        let (rows, done) = read_chunk(&mut result, budget, max_rows).await?;
        let out = QueryResult {
            fields,
            rows,
            rows_affected: result.affected_rows(),
            last_insert_id: result.last_insert_id().unwrap_or(0),
            warnings: result.warnings(),
            info: result.info().into_owned(),
        };
        if done {
            result.drop_result().await.map_err(map_err)?;
            return Ok(Outcome::Done(out));
        }
        let Some(stream) = stream else {
            // Streamed inside a batch: stop it here; the gateway sends it again on its own.
            self.kill_thread(thread).await;
            let _ = result.drop_result().await;
            return Err(TabletError::TooLargeForBatch);
        };
        let (id, mut commands) = self.cursors.open(opts.query_id);
        (stream.publish)(stream.reply_to.clone(), Ok(first(out, Some(id)))).await;
        let finished = loop {
            match tokio::time::timeout(CURSOR_IDLE, commands.recv()).await {
                Ok(Some(CursorCmd { fetch: true, reply_to: Some(to) })) => {
                    match read_chunk(&mut result, CHUNK_BYTES, u64::MAX).await {
                        Ok((rows, done)) => {
                            let cursor = (!done).then_some(id);
                            (stream.publish)(to, Ok(QueryResponse::Rows { rows, cursor })).await;
                            if done {
                                break true;
                            }
                        }
                        Err(e) => {
                            (stream.publish)(to, Err(e)).await;
                            break false;
                        }
                    }
                }
                Ok(Some(CursorCmd { reply_to, .. })) => {
                    if let Some(to) = reply_to {
                        (stream.publish)(to, Ok(QueryResponse::Done)).await;
                    }
                    break false;
                }
                Ok(None) | Err(_) => {
                    warn!(tablet = %self.state.alias, cursor = id, "cursor left idle; its statement is stopped");
                    break false;
                }
            }
        };
        self.cursors.close(id);
        if !finished {
            // Stop the statement rather than read what nobody wants.
            self.kill_thread(thread).await;
        }
        let _ = result.drop_result().await;
        Ok(Outcome::Streamed)
    }

    /// `KILL QUERY` of one of this tablet's own MySQL threads (as the administrative user).
    pub(super) async fn kill_thread(&self, thread: u32) {
        match self.dba_conn().await {
            Ok(mut c) => {
                if let Err(e) = c.query_drop(format!("KILL QUERY {thread}")).await {
                    warn!(tablet = %self.state.alias, thread, error = %e, "could not stop a statement");
                }
            }
            Err(e) => warn!(tablet = %self.state.alias, thread, error = %e, "could not stop a statement"),
        }
    }

    /// Stops the statements `query_ids` wherever they run here (or before they start), and
    /// their open cursors.
    pub async fn kill(&self, query_ids: &[u64]) {
        for &q in query_ids {
            self.cursors.stop_query(q).await;
            self.running.kill(q, |thread| self.kill_thread(thread)).await;
        }
    }
}
