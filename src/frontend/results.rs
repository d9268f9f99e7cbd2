//! Running a client's statement and writing its answer: the statement stops (its parts on
//! the tablets killed) when the client disconnects or the session is killed meanwhile, and
//! rows are written as they arrive, a part at a time, in the text or binary row format.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::binary::binary_row;
use super::codec::{column_def, eof_packet, err_packet, ok_packet, put_lenenc_int, text_row};
use super::conn::{status, Conn};
use crate::engine::exec::Answer;
use crate::engine::session::SessionState;
use crate::engine::stream::RowStream;
use crate::frontend::execute::{execute, Services};
use crate::plan::GatewayError;
use crate::protocol::tablet::{Field, Row, Rows, TabletError};

/// Runs one client statement under a fresh query id. `Err` (the connection's) when the
/// client went away meanwhile: the statement's future is dropped, which stops its parts on
/// the tablets. A KILL QUERY of this session ends it with MySQL's 1317.
pub(super) async fn run_guarded(
    conn: &mut Conn,
    svc: &Services,
    state: &mut SessionState,
    sql: &str,
) -> io::Result<Result<Answer, GatewayError>> {
    state.query_id = svc.sessions.next_query_id();
    let query_id = state.query_id;
    let signals = conn.signals.clone();
    crate::twopc::deadlock::watch(&signals.tx, state);
    signals.started(sql, state.target.keyspace.as_deref());
    // A COMMIT is not cut short by KILL QUERY (as in MySQL): a two-phase commit stopped half
    // way would leave the client told "interrupted" about a transaction that commits.
    let keyword = crate::sql::first_keyword(sql);
    let interruptible = keyword != "COMMIT";
    let started = std::time::Instant::now();
    state.plan_shape = "";
    let mut interrupted = false;
    let outcome = tokio::select! {
        r = execute(svc, state, sql) => Ok(r),
        gone = client_gone(conn) => Err(gone),
        _ = signals.interrupt.notified(), if interruptible => {
            interrupted = true;
            Ok(Err(GatewayError::Tablet(TabletError::Interrupted)))
        }
    };
    signals.finished();
    state.query_id = 0;
    let victim = signals.deadlock_victim.swap(0, std::sync::atomic::Ordering::SeqCst);
    if interrupted && victim == query_id {
        // Chosen to end a deadlock across shards: the whole transaction rolls back, as
        // InnoDB does to its own deadlock victims.
        crate::engine::exec::rollback(&svc.tablets, state).await;
        crate::twopc::deadlock::watch(&signals.tx, state);
        return Ok(Err(GatewayError::Deadlock(
            "Deadlock found when trying to get lock; try restarting transaction (a lock wait cycle across shards; \
             this transaction was rolled back)"
                .into(),
        )));
    }
    if !state.in_transaction {
        crate::twopc::deadlock::watch(&signals.tx, state);
    }
    let m = crate::metrics::metrics();
    let plan = if state.plan_shape.is_empty() { "none" } else { state.plan_shape };
    let labels = crate::metrics::StatementLabels {
        kind: crate::metrics::statement_kind(keyword.as_str()),
        plan,
        keyspace: state.target.keyspace.clone().unwrap_or_default(),
    };
    m.statements.get_or_create(&labels).inc();
    m.statement_seconds.get_or_create(&crate::metrics::PlanLabels { plan }).observe(started.elapsed().as_secs_f64());
    let rows = match &outcome {
        Ok(Ok(Answer::Rows(r))) => r.rows.len() as u64,
        Ok(Ok(Answer::Ok { affected, .. })) => *affected,
        _ => 0,
    };
    let error = match &outcome {
        Ok(Err(e)) => Some((e.mysql_code().0, e.to_string())),
        _ => None,
    };
    let keyspace = state.target.keyspace.as_deref().unwrap_or_default();
    super::querylog::hub().record(
        state.connection_id,
        &state.user,
        keyspace,
        sql,
        plan,
        started.elapsed(),
        rows,
        error,
    );
    if let Ok(Err(e)) = &outcome {
        m.errors.get_or_create(&crate::metrics::ErrnoLabels { errno: e.mysql_code().0 }).inc();
        let mut end = sql.len().min(300);
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        tracing::debug!(
            conn = state.connection_id, user = %state.user, errno = e.mysql_code().0, error = %e,
            statement = &sql[..end], "statement failed"
        );
    }
    outcome
}

/// Resolves when the client has closed its side of the connection (or it failed); a client
/// that sends more meanwhile (pipelining) is still there, and this never resolves then.
async fn client_gone(conn: &mut Conn) -> io::Error {
    match conn.reader.fill_buf().await {
        Ok([]) => io::Error::new(io::ErrorKind::UnexpectedEof, "the client disconnected during a statement"),
        Ok(_) => std::future::pending().await,
        Err(e) => e,
    }
}

/// Writes a statement's answer (an error, a count, or rows); `false` when it was an error,
/// which ends a multi-statement batch. `binary`: rows in the prepared-statement format.
/// Keeps what `FOUND_ROWS()` and `ROW_COUNT()` answer next.
pub(super) async fn write_answer(
    conn: &mut Conn,
    state: &mut SessionState,
    answer: Result<Answer, GatewayError>,
    more: bool,
    binary: bool,
) -> io::Result<bool> {
    let calc = state.calc_found_rows.take();
    let written = match answer {
        Err(e) => {
            let (code, st) = e.mysql_code();
            conn.send(&err_packet(code, st, &e.to_string())).await?;
            state.row_count = -1;
            return Ok(false);
        }
        Ok(Answer::Ok { affected, last_insert_id, info }) => {
            conn.send(&ok_packet(0, affected, last_insert_id, status(state, more), 0, &info)).await?;
            state.row_count = i64::try_from(affected).unwrap_or(i64::MAX);
            return Ok(true);
        }
        Ok(Answer::Rows(r)) => write_rows(conn, state, &r.fields, r.rows, None, r.warnings, more, binary).await?,
        Ok(Answer::Stream(mut s)) => {
            let fields = std::mem::take(&mut s.fields);
            write_rows(conn, state, &fields, Rows::new(), Some(s), 0, more, binary).await?
        }
    };
    state.row_count = -1;
    if let Some(rows) = written {
        state.found_rows = calc.unwrap_or(rows);
    }
    Ok(written.is_some())
}

/// A result set: column definitions, `rows`, then what `stream` yields, each part flushed to
/// the client before the next is asked for. An error mid-stream ends the result with an ERR
/// packet (clients read it as the statement's error). The number of rows written, `None` after
/// such an error.
#[allow(clippy::too_many_arguments)]
async fn write_rows(
    conn: &mut Conn,
    state: &SessionState,
    fields: &[Field],
    rows: Rows,
    mut stream: Option<RowStream>,
    warnings: u16,
    more: bool,
    binary: bool,
) -> io::Result<Option<u64>> {
    let mut written = rows.len() as u64;
    let mut count = Vec::new();
    put_lenenc_int(&mut count, fields.len() as u64);
    conn.send(&count).await?;
    for f in fields {
        conn.send(&column_def(f)).await?;
    }
    if !conn.deprecate_eof() {
        conn.send(&eof_packet(status(state, false), 0)).await?;
    }
    let encode = |row: &Row| if binary { binary_row(fields, row) } else { text_row(row) };
    match rows.payloads().filter(|_| !binary && forward_rows()) {
        // As the tablet read them from MySQL: no row is built.
        Some(payloads) => {
            for payload in payloads {
                conn.send(payload).await?;
            }
        }
        None => {
            for row in rows.iter() {
                conn.send(&encode(row)).await?;
            }
        }
    }
    if let Some(s) = stream.as_mut() {
        loop {
            match s.next().await {
                Ok(Some(part)) => {
                    written += part.len() as u64;
                    for row in &part {
                        conn.send(&encode(row)).await?;
                    }
                    conn.writer.flush().await?;
                }
                Ok(None) => break,
                Err(e) => {
                    let (code, st) = e.mysql_code();
                    conn.send(&err_packet(code, st, &e.to_string())).await?;
                    return Ok(None);
                }
            }
        }
    }
    if conn.deprecate_eof() {
        conn.send(&ok_packet(0xfe, 0, 0, status(state, more), warnings, "")).await?;
    } else {
        conn.send(&eof_packet(status(state, more), warnings)).await?;
    }
    Ok(Some(written))
}

/// Whether text-protocol rows a tablet sent are written to the client as they came (the
/// default), or decoded and encoded again (`TESSERA_FORWARD_ROWS=0`: the earlier path, kept
/// for A/B measurements).
fn forward_rows() -> bool {
    static FORWARD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORWARD.get_or_init(|| std::env::var("TESSERA_FORWARD_ROWS").map_or(true, |v| v != "0"))
}
