//! A session's state as execution needs it: its target, autocommit, the transaction it holds
//! on each shard, user variables, sql_mode, and the id of the client statement running now.

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
    pub last_insert_id: u64,
    pub connection_id: u32,
    /// The client statement running now (every tablet request of it carries this id, so it
    /// can be stopped wherever it runs; 0 outside statements).
    pub query_id: u64,
    /// Who logged in.
    pub user: String,
    /// User variables by lower-case name.
    pub user_vars: BTreeMap<String, UserVar>,
    /// `sql_mode` the session set (`None`: the tablets' own). Literals are read by its
    /// backslash rule; tablets get the rest of it per statement.
    pub sql_mode: Option<String>,
}

impl SessionState {
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
