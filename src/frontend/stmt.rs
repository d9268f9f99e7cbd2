//! Prepared statements: COM_STMT_PREPARE, EXECUTE, SEND_LONG_DATA, CLOSE, RESET.
//!
//! A statement is kept as text with `?` placeholders; EXECUTE turns the binary parameter
//! values into escaped literals and runs the text through the same planner as COM_QUERY, so a
//! prepared statement routes exactly like its text form. Rows go back in the binary format.

use std::collections::HashMap;
use std::io;

use super::binary::read_param;
use super::codec::{column_def, eof_packet, err_packet, ok_packet, Reader};
use super::conn::{status, Conn};
use crate::engine::exec::Answer;
use crate::engine::session::SessionState;
use crate::frontend::execute::{execute, Services};
use crate::protocol::tablet::Field;

/// A prepared statement of one connection.
pub struct Prepared {
    sql: String,
    /// The target it was prepared in: like MariaDB, a statement keeps the database it was
    /// prepared in whatever `USE` follows.
    target: crate::plan::Target,
    params: usize,
    /// Parameter types from the last EXECUTE that sent them (type, unsigned).
    types: Vec<(u8, bool)>,
    long_data: HashMap<u16, Vec<u8>>,
    /// Long data went past the connection's limit: EXECUTE fails once, then it is forgotten.
    long_data_over: bool,
}

impl Prepared {
    fn long_data_len(&self) -> usize {
        self.long_data.values().map(Vec::len).sum()
    }
}

/// The prepared statements of one connection.
#[derive(Default)]
pub struct Statements {
    by_id: HashMap<u32, Prepared>,
    next_id: u32,
    /// Bytes of long data held for all statements, and the most allowed (max_allowed_packet).
    long_data_bytes: usize,
    max_long_data: usize,
}

impl Statements {
    /// No statements yet; long data held at once is bounded by `max_long_data`.
    pub fn new(max_long_data: usize) -> Self {
        Statements { max_long_data, ..Default::default() }
    }

    pub fn max_long_data(&self) -> usize {
        self.max_long_data
    }

    /// Forgets statement `id`'s long data.
    fn drop_long_data(&mut self, id: u32) {
        if let Some(p) = self.by_id.get_mut(&id) {
            self.long_data_bytes = self.long_data_bytes.saturating_sub(p.long_data_len());
            p.long_data.clear();
        }
    }
}

/// Most statements a connection may keep prepared (as MySQL's max_prepared_stmt_count guards).
const MAX_STATEMENTS: usize = 16_382;

pub(super) async fn prepare(
    conn: &mut Conn,
    stmts: &mut Statements,
    svc: &Services,
    state: &mut SessionState,
    body: &[u8],
) -> io::Result<()> {
    let sql = match super::conn::client_statement(svc, state, body).await {
        Ok(s) => s.into_owned(),
        Err(e) => {
            return conn.send(&err_packet(1064, "42000", &format!("You have an error in your SQL syntax: {e}"))).await
        }
    };
    let sql = sql.as_str();
    let needs_parse = crate::sql::next_values::parse(sql).is_none()
        && matches!(crate::sql::first_keyword(sql).as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE");
    if needs_parse {
        if let Err(e) = crate::sql::parse::parse(sql) {
            return conn.send(&err_packet(1064, "42000", &format!("You have an error in your SQL syntax: {e}"))).await;
        }
    }
    if stmts.by_id.len() >= MAX_STATEMENTS {
        return conn
            .send(&err_packet(1461, "42000", "Can't create more than max_prepared_stmt_count statements; close some"))
            .await;
    }
    let params = crate::sql::binds::placeholders(sql).len();
    let columns = result_columns(svc, state, sql, params).await;
    stmts.next_id = stmts.next_id.wrapping_add(1).max(1);
    let id = stmts.next_id;
    stmts.by_id.insert(
        id,
        Prepared {
            sql: sql.to_string(),
            target: state.target.clone(),
            params,
            types: Vec::new(),
            long_data: HashMap::new(),
            long_data_over: false,
        },
    );
    let mut ok = vec![0u8];
    ok.extend_from_slice(&id.to_le_bytes());
    ok.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    ok.extend_from_slice(&(params as u16).to_le_bytes());
    ok.push(0);
    ok.extend_from_slice(&0u16.to_le_bytes());
    conn.send(&ok).await?;
    if params > 0 {
        let def = column_def(&Field { name: "?".into(), column_type: 253, charset: 63, ..Default::default() });
        for _ in 0..params {
            conn.send(&def).await?;
        }
        if !conn.deprecate_eof() {
            conn.send(&eof_packet(0, 0)).await?;
        }
    }
    if !columns.is_empty() {
        for f in &columns {
            conn.send(&column_def(f)).await?;
        }
        if !conn.deprecate_eof() {
            conn.send(&eof_packet(0, 0)).await?;
        }
    }
    Ok(())
}

/// The columns a SELECT returns, learned by running it once with NULL parameters (a read, so
/// no side effects); clients use them to tell reads from writes. Empty for other statements.
async fn result_columns(svc: &Services, state: &mut SessionState, sql: &str, params: usize) -> Vec<Field> {
    if crate::sql::first_keyword(sql) != "SELECT" || crate::sql::next_values::parse(sql).is_some() {
        return Vec::new();
    }
    let Ok(probe) = crate::sql::binds::substitute_positional(sql, &vec!["NULL".to_string(); params]) else {
        return Vec::new();
    };
    match execute(svc, state, &probe).await {
        Ok(Answer::Rows(r)) => r.fields,
        Ok(Answer::Stream(s)) => s.fields.clone(),
        _ => Vec::new(),
    }
}

pub(super) fn send_long_data(stmts: &mut Statements, body: &[u8]) {
    // No reply is sent for this command; bad input is simply ignored, as MySQL does until EXECUTE.
    let mut r = Reader::new(body);
    let (Ok(id), Ok(param)) = (r.u32(), r.u16()) else { return };
    let chunk = r.remaining();
    let over = stmts.long_data_bytes + chunk.len() > stmts.max_long_data;
    if over {
        // Held long data is bounded by max_allowed_packet per connection: drop this
        // statement's and fail its EXECUTE.
        stmts.drop_long_data(id);
    }
    if let Some(p) = stmts.by_id.get_mut(&id) {
        if over || p.long_data_over {
            p.long_data_over = true;
            return;
        }
        p.long_data.entry(param).or_default().extend_from_slice(chunk);
        stmts.long_data_bytes += chunk.len();
    }
}

pub(super) fn close(stmts: &mut Statements, body: &[u8]) {
    if let Ok(id) = Reader::new(body).u32() {
        stmts.drop_long_data(id);
        stmts.by_id.remove(&id);
    }
}

pub(super) async fn reset(
    conn: &mut Conn,
    stmts: &mut Statements,
    state: &SessionState,
    body: &[u8],
) -> io::Result<()> {
    let id = Reader::new(body).u32().unwrap_or(0);
    stmts.drop_long_data(id);
    match stmts.by_id.get_mut(&id) {
        Some(p) => {
            p.long_data_over = false;
            conn.send(&ok_packet(0, 0, 0, status(state, false), 0, "")).await
        }
        None => {
            conn.send(&err_packet(
                1243,
                "HY000",
                &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_reset"),
            ))
            .await
        }
    }
}

/// Decodes the parameters of an EXECUTE into SQL literals.
fn bind(p: &mut Prepared, r: &mut Reader<'_>) -> io::Result<Vec<String>> {
    if p.params == 0 {
        return Ok(Vec::new());
    }
    let bitmap = r.take(p.params.div_ceil(8))?.to_vec();
    let bound = r.u8()?;
    if bound == 1 {
        p.types = (0..p.params).map(|_| Ok((r.u8()?, r.u8()? & 0x80 != 0))).collect::<io::Result<_>>()?;
    }
    if p.types.len() != p.params {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "parameter types were never sent"));
    }
    let mut out = Vec::with_capacity(p.params);
    for i in 0..p.params {
        if let Some(data) = p.long_data.remove(&(i as u16)) {
            out.push(crate::sql::quote_bytes(&data));
        } else if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            out.push("NULL".into());
        } else {
            let (t, unsigned) = p.types[i];
            out.push(read_param(r, t, unsigned)?);
        }
    }
    Ok(out)
}

pub(super) async fn execute_stmt(
    conn: &mut Conn,
    stmts: &mut Statements,
    svc: &Services,
    state: &mut SessionState,
    body: &[u8],
) -> io::Result<()> {
    let mut r = Reader::new(body);
    let id = r.u32().unwrap_or(0);
    let held = stmts.by_id.get(&id).map(Prepared::long_data_len).unwrap_or(0);
    stmts.long_data_bytes = stmts.long_data_bytes.saturating_sub(held);
    let max = stmts.max_long_data;
    let Some(p) = stmts.by_id.get_mut(&id) else {
        return conn
            .send(&err_packet(
                1243,
                "HY000",
                &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"),
            ))
            .await;
    };
    if std::mem::take(&mut p.long_data_over) {
        p.long_data.clear();
        let msg = format!(
            "Got a packet bigger than 'max_allowed_packet' bytes: the long data sent for statement {id} passed {max} \
             bytes (max_allowed_packet)"
        );
        return conn.send(&err_packet(1153, "08S01", &msg)).await;
    }
    let literals = match r.u8().and_then(|_flags| r.u32()).and_then(|_iterations| bind(p, &mut r)) {
        Ok(l) => l,
        // A value no column stores (NaN, infinity): MariaDB's own answer to it.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            return conn.send(&err_packet(1264, "22003", &format!("Out of range value: {e}"))).await
        }
        Err(e) => {
            return conn
                .send(&err_packet(1210, "HY000", &format!("Incorrect arguments to mysqld_stmt_execute: {e}")))
                .await
        }
    };
    let sql = match crate::sql::binds::substitute_positional(&p.sql, &literals) {
        Ok(s) => s,
        Err(e) => {
            return conn
                .send(&err_packet(1210, "HY000", &format!("Incorrect arguments to mysqld_stmt_execute: {e}")))
                .await
        }
    };
    let current = std::mem::replace(&mut state.target, p.target.clone());
    let answer = super::results::run_guarded(conn, svc, state, &sql).await;
    state.target = current;
    super::results::write_answer(conn, state, answer?, false, true).await.map(|_| ())
}
