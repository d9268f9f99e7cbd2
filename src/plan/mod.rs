//! The plan: what the planner decides and the engine runs, as plain data (no sqlparser type).
//!
//! - [`Plan`]: one statement's plan; [`Local`] answers the gateway gives itself.
//! - [`pipeline`]: a SELECT the gateway finishes (routes, joins, unions and the clauses over
//!   them); [`expr`]: expressions it evaluates; [`value`]: MySQL values and their rules.
//! - [`lookup`]: lookup vindexes; [`target`]: a session's target; [`error`]: the errors
//!   statements end with (every one mapped to a MySQL error number by the frontend).

pub mod error;
pub mod expr;
pub mod lookup;
pub mod pipeline;
pub mod target;
pub mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use error::{EngineError, GatewayError};
pub use lookup::{LookupDef, LookupFilter, LookupPlace, LookupPlan};
pub use pipeline::Pipeline;
pub use target::Target;

use crate::protocol::tablet::QueryResult;
use crate::protocol::topology::TabletType;
use crate::vindex::Value;

/// What a savepoint statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavepointOp {
    Set,
    RollbackTo,
    Release,
}

/// What to do with a statement.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Answered by the gateway (`show databases`, `select @@version`, ...).
    Local(Local),
    Use(Target),
    /// `SET ...`: assignments the session applies in order (user and system variables, the
    /// character set, transaction characteristics).
    Set(Vec<crate::sql::set::SetItem>),
    /// `SET STATEMENT a = .. FOR <statement>`: the session's variables with these for one statement.
    SetStatement {
        items: Vec<crate::sql::set::SetItem>,
        statement: String,
    },
    /// `KILL [QUERY|CONNECTION] id`: a gateway session, never a tablet's thread.
    Kill {
        id: u32,
        connection: bool,
    },
    Begin,
    Commit,
    Rollback,
    /// `SELECT SQL_CALC_FOUND_ROWS ...`: the statement `query` answers; `count` (one row, one
    /// number) is what `FOUND_ROWS()` answers next. Both planned when they run.
    FoundRows {
        query: String,
        count: String,
    },
    /// `SAVEPOINT x`, `ROLLBACK TO x`, `RELEASE SAVEPOINT x`: on every shard of the transaction.
    Savepoint {
        op: SavepointOp,
        name: String,
    },
    /// Send `sql` to each shard; rows are concatenated, affected counts added.
    Route {
        keyspace: String,
        shards: Vec<String>,
        sql: String,
        tablet_type: TabletType,
    },
    /// A multi-row insert into a sharded table, split by keyspace id.
    Insert(Box<InsertPlan>),
    /// `select next N values from seq`, answered by the sequence's keyspace.
    NextValues {
        keyspace: String,
        table: String,
        count: u64,
    },
    /// Routed by a lookup vindex, or a delete that unmaps owned lookups first.
    Lookup(Box<LookupPlan>),
    /// A SELECT the gateway finishes: merges, aggregates, joins across routes, unions.
    Select(Box<Pipeline>),
    /// An INSERT without a column list into a sharded table: the table's columns (asked of
    /// `shard`) are named, and the statement is planned again.
    NeedColumns {
        keyspace: String,
        shard: String,
        table: String,
    },
    /// `INSERT ... SELECT` into a sharded table: `select` runs, then `head`, its rows as VALUES
    /// and `tail` (ON DUPLICATE KEY UPDATE ...) are planned as inserts, in batches, in one
    /// transaction.
    InsertSelect {
        head: String,
        select: String,
        tail: String,
    },
    /// Subqueries to run first; their values substituted, the statement is planned again.
    Pullout(Box<PulloutPlan>),
    /// An UPDATE or DELETE the shards cannot run as written (across shards with ORDER BY and
    /// LIMIT, over several tables or keyspaces, correlated subqueries, a vindex column changed):
    /// a SELECT finds the rows, then statements change exactly those rows by primary key.
    DmlInput(Box<DmlInputPlan>),
    /// A write to a reference table: `sql` on its source (if any) and on every copy, one shard
    /// at a time, in one transaction; the first target's answer is the client's.
    Fanout {
        sql: String,
        /// (keyspace, shard), the source first.
        targets: Vec<(String, String)>,
    },
}

impl Plan {
    /// How the plan reaches the shards, as the metrics name it.
    pub fn shape(&self) -> &'static str {
        match self {
            Plan::Local(_) | Plan::Use(_) | Plan::Set(_) | Plan::Kill { .. } | Plan::FoundRows { .. } => "local",
            Plan::SetStatement { .. } => "set_statement",
            Plan::Begin | Plan::Commit | Plan::Rollback | Plan::Savepoint { .. } => "transaction",
            Plan::Route { shards, .. } if shards.len() == 1 => "single_shard",
            Plan::Route { .. } => "scatter",
            Plan::Insert(_) => "insert",
            Plan::NextValues { .. } => "sequence",
            Plan::Lookup(_) => "lookup",
            Plan::Select(_) => "cross_shard_select",
            Plan::NeedColumns { .. } => "insert",
            Plan::InsertSelect { .. } => "insert_select",
            Plan::Pullout(_) => "subquery_first",
            Plan::DmlInput(_) => "dml_with_input",
            Plan::Fanout { .. } => "reference_fanout",
        }
    }
}

/// A table whose primary key a [`DmlInputPlan`] needs, asked of one of its shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProbe {
    pub keyspace: String,
    pub shard: String,
    pub table: String,
}

/// "DML with input" (Vitess's name): the primary keys of `keys` are looked up, `input` (a
/// SELECT, planned like any query) finds the rows, and the statements the action writes for
/// them run in one transaction (the session's, or one of their own).
#[derive(Debug, Clone)]
pub struct DmlInputPlan {
    pub keys: Vec<KeyProbe>,
    pub action: Arc<dyn DmlInput>,
}

/// One statement of a [`DmlInputPlan`]; `counted` statements make up the affected-row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmlStep {
    pub sql: String,
    pub counted: bool,
}

/// Writes the input SELECT of a DML with input, and the statements that apply it to its rows.
pub trait DmlInput: std::fmt::Debug + Send + Sync {
    /// The SELECT finding the rows, given each probed table's primary key columns.
    fn input(&self, keys: &[Vec<String>]) -> Result<String, GatewayError>;
    /// The statements that change exactly the rows `input` returned.
    fn steps(&self, keys: &[Vec<String>], rows: &QueryResult) -> Result<Vec<DmlStep>, GatewayError>;
    /// The statement, for EXPLAIN.
    fn describe(&self) -> String;
}

/// A statement with subqueries to run first: their results are put back into the statement
/// ([`PulloutFill`]) and the statement is planned again (the values may route it).
#[derive(Debug, Clone)]
pub struct PulloutPlan {
    /// Uncorrelated subqueries, by their text.
    pub subqueries: Vec<String>,
    /// Correlated scalar subqueries, each run once grouped by its correlation column.
    pub keyed: Vec<String>,
    pub fill: Arc<dyn PulloutFill>,
}

/// Puts subquery results back into a statement.
pub trait PulloutFill: std::fmt::Debug + Send + Sync {
    /// The statement's text with each subquery (`results` by its text) and each keyed subquery
    /// (`keyed`, in order) replaced by its values.
    fn fill(&self, results: &HashMap<String, QueryResult>, keyed: &[QueryResult]) -> Result<String, GatewayError>;
    /// The statement, for EXPLAIN.
    fn describe(&self) -> String;
}

/// An insert into a sharded table, row by row: each row goes to the shard its keyspace id
/// names, with ids from the sequence where the statement left them out.
#[derive(Debug, Clone)]
pub struct InsertPlan {
    pub keyspace: String,
    /// The statement up to its rows (`INSERT INTO t (a, b) VALUES `), the auto-increment
    /// column added to the column list when the statement left it out.
    pub head: String,
    pub rows: Vec<InsertRow>,
    /// What follows the rows (`ON DUPLICATE KEY UPDATE ...`), or nothing.
    pub tail: String,
    /// The primary vindex.
    pub vindex: String,
    /// The auto-increment column and its sequence, if the VSchema names one.
    pub auto_increment: Option<AutoIncrement>,
    /// Lookup vindexes the table owns; each row holds its value for each.
    pub lookups: Vec<LookupDef>,
}

/// One row of an insert.
#[derive(Debug, Clone)]
pub struct InsertRow {
    /// The values as SQL text, in column order.
    pub cells: Vec<String>,
    /// The primary vindex column's value; `None` when the sequence fills it.
    pub vindex_value: Option<Value>,
    /// The values of a multi-column primary vindex's other columns.
    pub more: Vec<Value>,
    /// For each owned lookup: its columns' values as SQL literal text, and the first one as a
    /// vindex value (a sharded lookup table is spread by it); `None` when one is NULL.
    pub lookup_values: Vec<Option<(Vec<String>, Value)>>,
}

/// A column filled from a sequence when a row gives it NULL (or leaves it out).
#[derive(Debug, Clone)]
pub struct AutoIncrement {
    /// Its position among the row's cells.
    pub column_index: usize,
    /// Rows whose cell is to be filled.
    pub missing: Vec<usize>,
    /// The primary vindex column is this column: its value is the id.
    pub is_vindex: bool,
    /// Owned lookups (by index) whose column is this column.
    pub lookups: Vec<usize>,
    pub seq_keyspace: String,
    pub seq_table: String,
}

/// Answers the gateway gives itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Local {
    Databases,
    VitessKeyspaces,
    VitessShards,
    VitessTablets,
    /// `select` of session functions and variables only: each item's name and what it asks
    /// for; variables the gateway does not hold are read from `tablet` (any tablet, with the
    /// session's variables).
    SessionSelect {
        items: Vec<(String, SessionItem)>,
        tablet: Option<(String, String)>,
    },
    /// `show [session|global] variables [like ...]`: a tablet's answer with the session's
    /// variables, the ones the gateway holds put in (`session` false: global values as they are).
    ShowVariables {
        keyspace: String,
        shard: String,
        sql: String,
        session: bool,
    },
    /// The same statement on one tablet of each keyspace (`information_schema` about several
    /// keyspaces): rows together, repeated rows once, ordered by `order` (column, descending?)
    /// and cut at `limit`. `sum_tables`: `tablets` has every shard of a sharded keyspace, and a
    /// table's rows from its shards are one row with TABLE_ROWS, DATA_LENGTH, ... summed.
    EachKeyspace {
        tablets: Vec<(String, String)>,
        sql: String,
        order: Vec<(SortKey, bool)>,
        limit: Option<u64>,
        sum_tables: bool,
    },
    /// `SHOW [FULL] PROCESSLIST`: the gateway's sessions (statements cut at 100 characters
    /// unless `full`).
    ProcessList {
        full: bool,
    },
    /// A query over `information_schema.PROCESSLIST`: `sql` runs on that tablet with the
    /// marker (`planner::processlist::MARKER`) replaced by a derived table of the sessions.
    ProcessListQuery {
        keyspace: String,
        shard: String,
        sql: String,
    },
    /// `explain format=vitess` / `vexplain plan`: the plan, a line per row.
    Explain(Vec<String>),
}

/// A result column to sort by: its 1-based position or its name.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Position(usize),
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionItem {
    Database,
    Version,
    VersionComment,
    ConnectionId,
    LastInsertId,
    /// `FOUND_ROWS()`, `ROW_COUNT()`: of the session's last statement, kept by the gateway.
    FoundRows,
    RowCount,
    /// `USER()`, `SESSION_USER()`, `SYSTEM_USER()`: `user@client-host`.
    User,
    /// `CURRENT_USER()`: the account, `user@%`.
    CurrentUser,
    Autocommit,
    SqlMode,
    /// `@@name`, `@@session.name` (`global`: `@@global.name`), lower-case.
    Var {
        name: String,
        global: bool,
    },
    Literal(String),
}
