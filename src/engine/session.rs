//! A session's state as execution needs it: its target, autocommit, the transaction it holds
//! on each shard, user and system variables, and the id of the client statement running now.

use std::collections::BTreeMap;

use crate::plan::Target;

/// A session's state as the executor needs it.
#[derive(Debug, Default)]
pub struct SessionState {
    pub target: Target,
    pub autocommit: bool,
    /// An open transaction (BEGIN, or autocommit off): per keyspace/shard, the tablet and id.
    pub in_transaction: bool,
    pub shard_txs: BTreeMap<(String, String), (String, u64)>,
    /// How the session's transactions may span shards (`SET transaction_mode`).
    pub transaction_mode: crate::twopc::TxMode,
    /// The open transaction's distributed-transaction id (`twopc`: its shards' parts are XA
    /// branches of it), made when its first shard begins.
    pub dtid: Option<u64>,
    /// Savepoints of the open transaction, oldest first. A shard that joins the transaction
    /// later sets them all before its first statement, so `ROLLBACK TO` undoes its part too.
    pub savepoints: Vec<String>,
    /// A client statement of several steps runs inside [`crate::engine::savepoint::STATEMENT`]
    /// now (its nested statements set none of their own).
    pub statement_savepoint: bool,
    pub last_insert_id: u64,
    /// `FOUND_ROWS()`: rows the last SELECT returned (or, with SQL_CALC_FOUND_ROWS, would
    /// have returned without its LIMIT: `calc_found_rows` until its rows are written).
    pub found_rows: u64,
    pub calc_found_rows: Option<u64>,
    /// `ROW_COUNT()`: rows the last statement changed; -1 after a SELECT.
    pub row_count: i64,
    pub connection_id: u32,
    /// The shape of the plan of the client statement running now (its first plan), for the
    /// metrics; empty until planned.
    pub plan_shape: &'static str,
    /// The client statement running now (every tablet request of it carries this id, so it
    /// can be stopped wherever it runs; 0 outside statements).
    pub query_id: u64,
    /// Who logged in, and from where (the client's address, without port).
    pub user: String,
    pub host: String,
    /// User variables by lower-case name.
    pub user_vars: BTreeMap<String, UserVar>,
    /// `sql_mode` the session set (`None`: the tablets' own). Literals are read by its
    /// backslash rule; tablets get the rest of it per statement.
    pub sql_mode: Option<String>,
    /// System variables the session set (other than autocommit and sql_mode).
    pub vars: SessionVars,
}

/// The system variables a session set, by how they reach MariaDB.
#[derive(Debug, Default, Clone)]
pub struct SessionVars {
    /// Sent with every statement (`SET STATEMENT a = .., b = .. FOR ...`): lower-case name ->
    /// the literal MariaDB normalised it to. Pooled tablet connections keep their own values.
    pub statement: BTreeMap<String, String>,
    /// Answered by the gateway itself (connection-level and character-set variables):
    /// lower-case name -> value as `SELECT @@name` shows it.
    pub local: BTreeMap<String, String>,
    /// `SET SESSION TRANSACTION ...`: every transaction the session begins.
    pub isolation: Option<crate::protocol::tablet::Isolation>,
    pub read_only: Option<bool>,
    /// `SET TRANSACTION ...`: the next transaction only.
    pub next_isolation: Option<crate::protocol::tablet::Isolation>,
    pub next_read_only: Option<bool>,
}

impl SessionVars {
    /// How the tablets begin the session's next transaction.
    pub fn begin(&self) -> crate::protocol::tablet::TxBegin {
        crate::protocol::tablet::TxBegin {
            isolation: self.next_isolation.or(self.isolation),
            read_only: self.next_read_only.or(self.read_only).unwrap_or(false),
            xa: None,
        }
    }

    /// A transaction ended (or a statement ran outside one): `SET TRANSACTION` is used up.
    pub fn transaction_ended(&mut self) {
        self.next_isolation = None;
        self.next_read_only = None;
    }
}

impl SessionState {
    /// `SET STATEMENT <the session's variables> FOR `, or `None` when it set none. sql_mode
    /// goes without NO_BACKSLASH_ESCAPES: literals reach tablets with backslash escapes,
    /// whatever the session reads them by.
    pub fn statement_prefix(&self) -> Option<String> {
        if self.sql_mode.is_none() && self.vars.statement.is_empty() {
            return None;
        }
        let mut out = String::from("SET STATEMENT ");
        if let Some(mode) = &self.sql_mode {
            let tablet_mode: Vec<&str> =
                mode.split(',').filter(|m| !m.trim().eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES")).collect();
            out.push_str("sql_mode = ");
            out.push_str(&crate::sql::quote_bytes(tablet_mode.join(",").as_bytes()));
        }
        for (name, value) in &self.vars.statement {
            if out.len() > "SET STATEMENT ".len() {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str(" = ");
            out.push_str(value);
        }
        out.push_str(" FOR ");
        Some(out)
    }

    /// How the session's string literals read backslashes.
    pub fn escapes(&self) -> crate::sql::literal::Escapes {
        self.sql_mode.as_deref().map(crate::sql::literal::Escapes::from_sql_mode).unwrap_or_default()
    }
}

/// A user variable's value: its bytes exactly as MySQL returned them, the column it came
/// back as, and the literal that stands for it in statements.
#[derive(Debug, Clone)]
pub struct UserVar {
    pub literal: String,
    pub value: Option<Vec<u8>>,
    pub field: crate::protocol::tablet::Field,
}
