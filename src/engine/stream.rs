//! Results that reach the client as they arrive from the tablets, never held whole: a routed
//! statement's shards one after another, or their ordered rows merge-sorted. Each shard's
//! rows come in parts ([`Cursor`]); the next part is asked for only when the client has been
//! sent the previous one, so the gateway holds one part per shard at most.

use std::collections::VecDeque;

use crate::engine::shards::ShardsRef;
use crate::plan::pipeline::SortKey;
use crate::plan::value::Kind;
use crate::protocol::tablet::{Field, QueryRequest, QueryResponse, QueryResult, Row, Rows};

use crate::plan::GatewayError;

/// The rest of one shard's result, on the tablet that holds it.
pub struct Cursor {
    tc: ShardsRef,
    alias: String,
    id: u64,
    open: bool,
}

impl Cursor {
    pub fn new(tc: ShardsRef, alias: String, id: u64) -> Cursor {
        Cursor { tc, alias, id, open: true }
    }

    /// The next part of the rows; `false` once the result has ended.
    async fn fetch(&mut self) -> Result<(Vec<Row>, bool), GatewayError> {
        match self.tc.tablet(&self.alias, QueryRequest::Fetch { cursor: self.id }).await {
            Ok(QueryResponse::Rows { rows, cursor }) => {
                self.open = cursor.is_some();
                Ok((rows.into_vec(), self.open))
            }
            Ok(other) => {
                self.open = false;
                Err(GatewayError::Other(format!("unexpected answer from {} to a fetch: {other:?}", self.alias)))
            }
            Err(e) => {
                // The tablet stopped it (an error mid-result), or the request failed: either way
                // closing it is the tablet's business now, or its idle timeout's.
                self.open = false;
                Err(e.into())
            }
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if self.open {
            // Abandoned (the client left, a LIMIT was reached, an error): stop the statement and
            // free its connection now rather than at the tablet's idle timeout.
            let (tc, alias, id) = (self.tc.clone(), std::mem::take(&mut self.alias), self.id);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tc.tablet(&alias, QueryRequest::CloseCursor { cursor: id }).await;
                });
            }
        }
    }
}

/// A route's shards' rows, merge-sorted as they arrive (see [`crate::engine::pass_through_route`]).
pub async fn merged_route(
    tc: &ShardsRef,
    s: &mut super::session::SessionState,
    r: &crate::engine::RouteSpec,
    p: &crate::engine::Pipeline,
) -> Result<super::exec::Answer, GatewayError> {
    let results = super::exec::run_shards_with(tc, s, &r.keyspace, &r.shards, &r.sql, r.tablet_type, true).await?;
    let fields = results.first().map(|(res, _)| res.fields.clone()).unwrap_or_default();
    let base = if r.tail > 0 { fields.len().saturating_sub(r.tail) } else { 0 };
    let keys = r
        .merge
        .iter()
        .map(|k| SortKey { col: k.col + base, weight: k.weight.map(|w| w + base), desc: k.desc })
        .collect();
    let keep = fields.len().saturating_sub(p.strip);
    let parts = results.into_iter().map(|(res, c)| Part::new(res.rows, c)).collect();
    Ok(super::exec::Answer::Stream(RowStream::merge(fields, parts, keys, p.offset, p.limit, keep)))
}

/// One shard's rows: those here, and the cursor for the rest.
pub struct Part {
    rows: VecDeque<Row>,
    cursor: Option<Cursor>,
}

impl Part {
    pub fn new(rows: Rows, cursor: Option<Cursor>) -> Part {
        Part { rows: rows.into_vec().into(), cursor }
    }

    /// Makes sure a row is here unless the shard's result has ended; false at its end.
    async fn fill(&mut self) -> Result<bool, GatewayError> {
        while self.rows.is_empty() {
            let Some(c) = self.cursor.as_mut() else { return Ok(false) };
            let (rows, more) = c.fetch().await?;
            self.rows.extend(rows);
            if !more {
                self.cursor = None;
            }
        }
        Ok(true)
    }
}

/// How the shards' rows are put together.
enum Order {
    /// Shard after shard.
    Concat,
    /// Merge-sorted by `keys` (over `kinds`), `skip` rows dropped, at most `left` kept, each
    /// row cut to `keep` columns (hidden sort columns removed).
    Merge { keys: Vec<SortKey>, kinds: Vec<Kind>, skip: u64, left: Option<u64>, keep: usize },
}

/// A result sent to the client part by part.
pub struct RowStream {
    pub fields: Vec<Field>,
    parts: VecDeque<Part>,
    order: Order,
}

/// Rows per batch handed to the protocol writer from a merge.
const MERGE_BATCH: usize = 512;

impl RowStream {
    /// The shards' rows one shard after another.
    pub fn concat(fields: Vec<Field>, parts: Vec<Part>) -> RowStream {
        RowStream { fields, parts: parts.into(), order: Order::Concat }
    }

    /// The shards' rows (each ordered by `keys`) merge-sorted, then OFFSET/LIMIT, then cut to
    /// the first `keep` columns (the fields are cut here too).
    pub fn merge(
        mut fields: Vec<Field>,
        parts: Vec<Part>,
        keys: Vec<SortKey>,
        skip: u64,
        limit: Option<u64>,
        keep: usize,
    ) -> RowStream {
        let kinds = fields.iter().map(Kind::of).collect();
        fields.truncate(keep);
        RowStream { fields, parts: parts.into(), order: Order::Merge { keys, kinds, skip, left: limit, keep } }
    }

    /// The next rows for the client; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<Row>>, GatewayError> {
        match &mut self.order {
            Order::Concat => loop {
                let Some(part) = self.parts.front_mut() else { return Ok(None) };
                if part.fill().await? {
                    return Ok(Some(part.rows.drain(..).collect()));
                }
                self.parts.pop_front();
            },
            Order::Merge { keys, kinds, skip, left, keep } => {
                let mut out = Vec::new();
                while out.len() < MERGE_BATCH {
                    if *left == Some(0) {
                        // Enough rows: the shards' cursors close as they drop.
                        self.parts.clear();
                        break;
                    }
                    let mut best: Option<usize> = None;
                    for i in 0..self.parts.len() {
                        if !self.parts[i].fill().await? {
                            continue;
                        }
                        let better = match best {
                            None => true,
                            Some(b) => {
                                let (a, bb) = (&self.parts[i].rows[0], &self.parts[b].rows[0]);
                                crate::engine::cmp_rows(a, bb, keys, kinds) == std::cmp::Ordering::Less
                            }
                        };
                        if better {
                            best = Some(i);
                        }
                    }
                    let Some(b) = best else { break };
                    let Some(mut row) = self.parts[b].rows.pop_front() else { break };
                    if *skip > 0 {
                        *skip -= 1;
                        continue;
                    }
                    if let Some(l) = left.as_mut() {
                        *l -= 1;
                    }
                    row.truncate(*keep);
                    out.push(row);
                }
                Ok((!out.is_empty()).then_some(out))
            }
        }
    }

    /// Reads the whole stream (for a caller that needs every row), failing past `max_rows`.
    pub async fn collect(mut self, max_rows: usize) -> Result<QueryResult, GatewayError> {
        let mut rows = Vec::new();
        while let Some(more) = self.next().await? {
            rows.extend(more);
            if rows.len() > max_rows {
                return Err(GatewayError::Other(format!(
                    "the gateway would hold more than {max_rows} rows for this statement (gateway max_rows); add a \
                     LIMIT, narrow the WHERE, or raise [gateway] max_rows"
                )));
            }
        }
        Ok(QueryResult { fields: std::mem::take(&mut self.fields), rows: rows.into(), ..Default::default() })
    }
}
