//! The tablet's NATS API: the query service (`tessera.tablet.<alias>.query`, or by target
//! `tessera.target.<ks>.<shard>.<type>.query`) and management (`tessera.tablet.<alias>.manage`),
//! plus health reports (`tessera.health.<alias>`).
//!
//! Requests travel in MessagePack envelopes. Query replies carry rows, so they are bincode in a
//! small framed header ([`encode_query_reply`]); sender and receiver run the same version
//! (the header says which).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::manage::{ManageReply, ManageRequest, ManageResponse};
pub use super::rows::{Row, Rows};
pub use super::xa::{dtid_name, parse_dtid, xa_id, LockWait};
use crate::protocol::topology::TabletType;
pub use crate::sql::binds::BindValue;

/// A request to the query service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum QueryRequest {
    /// Runs one statement, in a transaction if `transaction_id` is set.
    Execute {
        sql: String,
        #[serde(default)]
        binds: BTreeMap<String, BindValue>,
        #[serde(default)]
        transaction_id: Option<u64>,
        #[serde(default)]
        options: ExecOptions,
    },
    /// Independent statements outside transactions, run concurrently; one reply each, in order.
    ExecuteBatch {
        statements: Vec<String>,
        /// How each is run (a streamed one whose result needs more than one part is refused
        /// with [`TabletError::TooLargeForBatch`]).
        #[serde(default)]
        options: Vec<ExecOptions>,
    },
    /// Reserves a connection and starts a transaction on it.
    Begin,
    /// Begin, then one statement in the new transaction (one round trip instead of two). If the
    /// statement fails the transaction is rolled back and only the error comes back.
    BeginExecute {
        sql: String,
        #[serde(default)]
        binds: BTreeMap<String, BindValue>,
        #[serde(default)]
        options: ExecOptions,
    },
    Commit {
        transaction_id: u64,
    },
    Rollback {
        transaction_id: u64,
    },
    /// Ends the XA branch of a distributed transaction and prepares it (`XA END`, `XA PREPARE`):
    /// from then on it survives a crash of the tablet or its server, and only
    /// [`QueryRequest::CommitPrepared`] or [`QueryRequest::RollbackPrepared`] ends it.
    Prepare {
        transaction_id: u64,
    },
    /// Commits the shard's prepared branch of distributed transaction `dtid`: on the connection
    /// that holds it (`transaction_id`, when the tablet still has it), else by its XA id on the
    /// shard's primary (after a restart or a reparent). A branch no longer prepared is done.
    CommitPrepared {
        #[serde(default)]
        transaction_id: Option<u64>,
        dtid: u64,
    },
    /// Rolls back the shard's branch of `dtid`, prepared or not.
    RollbackPrepared {
        #[serde(default)]
        transaction_id: Option<u64>,
        dtid: u64,
    },
    /// The distributed transactions prepared on this tablet's server (`XA RECOVER`).
    RecoverPrepared,
    /// Which of this tablet's transactions wait for a lock another one holds.
    LockWaits,
    /// The next rows of a streamed result, from the tablet that holds its cursor.
    Fetch {
        cursor: u64,
    },
    /// Abandons a streamed result: its statement is stopped and its connection freed.
    CloseCursor {
        cursor: u64,
    },
}

impl QueryRequest {
    /// The request's name, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryRequest::Execute { transaction_id: None, .. } => "execute",
            QueryRequest::Execute { .. } => "execute_in_transaction",
            QueryRequest::ExecuteBatch { .. } => "execute_batch",
            QueryRequest::Begin => "begin",
            QueryRequest::BeginExecute { .. } => "begin_execute",
            QueryRequest::Commit { .. } => "commit",
            QueryRequest::Rollback { .. } => "rollback",
            QueryRequest::Prepare { .. } => "prepare",
            QueryRequest::CommitPrepared { .. } => "commit_prepared",
            QueryRequest::RollbackPrepared { .. } => "rollback_prepared",
            QueryRequest::RecoverPrepared => "recover_prepared",
            QueryRequest::LockWaits => "lock_waits",
            QueryRequest::Fetch { .. } => "fetch",
            QueryRequest::CloseCursor { .. } => "close_cursor",
        }
    }
}

/// How a statement is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExecOptions {
    /// The client statement this request is part of (0: none). A [`KillRequest`] naming it
    /// stops the statement on whichever tablet runs it, or before it starts.
    #[serde(default)]
    pub query_id: u64,
    /// Rows may come back in parts: the reply holds the first rows and a cursor, and
    /// [`QueryRequest::Fetch`] gets the rest, so no side holds the whole result.
    #[serde(default)]
    pub stream: bool,
    /// How a transaction that [`QueryRequest::BeginExecute`] begins is started (the
    /// session's `SET [SESSION] TRANSACTION ...`).
    #[serde(default)]
    pub begin: TxBegin,
}

/// Characteristics of a transaction a tablet begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TxBegin {
    #[serde(default)]
    pub isolation: Option<Isolation>,
    #[serde(default)]
    pub read_only: bool,
    /// Begin the shard's branch of distributed transaction `dtid` (`transaction_mode =
    /// twopc`): `XA START` with [`xa_id`], so it can be prepared and committed in two phases.
    #[serde(default)]
    pub xa: Option<u64>,
}

/// A transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    /// As `@@transaction_isolation` shows it.
    pub fn as_var(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ-UNCOMMITTED",
            Isolation::ReadCommitted => "READ-COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE-READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    /// As `SET TRANSACTION ISOLATION LEVEL` takes it.
    pub fn as_sql(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    /// From either spelling (`READ-COMMITTED`, `read committed`), any case, quoted or not.
    pub fn parse(s: &str) -> Option<Isolation> {
        let words: Vec<&str> =
            s.trim().trim_matches(['\'', '"']).split(['-', ' ', '_']).filter(|w| !w.is_empty()).collect();
        match words.join(" ").to_ascii_uppercase().as_str() {
            "READ UNCOMMITTED" => Some(Isolation::ReadUncommitted),
            "READ COMMITTED" => Some(Isolation::ReadCommitted),
            "REPEATABLE READ" => Some(Isolation::RepeatableRead),
            "SERIALIZABLE" => Some(Isolation::Serializable),
            _ => None,
        }
    }
}

/// Published on a shard's kill subject: stop these statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillRequest {
    pub query_ids: Vec<u64>,
}

/// One column of a result, as the MySQL protocol describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Field {
    pub name: String,
    pub org_name: String,
    pub table: String,
    pub org_table: String,
    pub schema: String,
    /// MySQL column type code (`MYSQL_TYPE_*`).
    pub column_type: u8,
    /// MySQL column flags (`NOT_NULL_FLAG`, ...).
    pub flags: u16,
    pub charset: u16,
    pub column_length: u32,
    pub decimals: u8,
}

/// The result of one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct QueryResult {
    pub fields: Vec<Field>,
    pub rows: Rows,
    pub rows_affected: u64,
    pub last_insert_id: u64,
    pub warnings: u16,
    pub info: String,
}

/// Serializes a result with its rows as arrays of values, the form control messages (the
/// MessagePack envelope of management and admin replies) had before rows were packed, so a
/// node of the earlier version still reads them; readers take either form.
pub fn values_form<S: serde::Serializer>(r: &QueryResult, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename = "QueryResult")]
    struct ValuesForm<'a> {
        fields: &'a [Field],
        rows: &'a [Row],
        rows_affected: u64,
        last_insert_id: u64,
        warnings: u16,
        info: &'a str,
    }
    // Every field named (no `..`): a field added to QueryResult fails to compile here
    // instead of being left out of control messages.
    let QueryResult { fields, rows, rows_affected, last_insert_id, warnings, info } = r;
    ValuesForm {
        fields,
        rows,
        rows_affected: *rows_affected,
        last_insert_id: *last_insert_id,
        warnings: *warnings,
        info,
    }
    .serialize(s)
}

/// A successful answer of the query service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryResponse {
    /// `tablet` is the alias that ran it (useful after a request by target); `cursor` is set
    /// when more rows follow (streamed requests only): fetch them from `tablet`.
    Result {
        result: QueryResult,
        tablet: String,
        cursor: Option<u64>,
    },
    Began {
        transaction_id: u64,
        tablet: String,
    },
    /// The answers to `ExecuteBatch`, in order.
    Batch {
        replies: Vec<Result<QueryResponse, TabletError>>,
    },
    /// The answer to `BeginExecute`.
    BeganResult {
        transaction_id: u64,
        tablet: String,
        result: QueryResult,
        cursor: Option<u64>,
    },
    /// Distributed transactions prepared on the tablet's server (their ids).
    Prepared {
        dtids: Vec<u64>,
    },
    LockWaits {
        waits: Vec<LockWait>,
    },
    /// More rows of a streamed result; `cursor` again while still more follow.
    Rows {
        rows: Rows,
        cursor: Option<u64>,
    },
    Done,
}

pub type QueryReply = Result<QueryResponse, TabletError>;

/// Errors of the tablet layer; they cross NATS and keep MySQL's error number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TabletError {
    #[error("{message} (errno {code}) (sqlstate {state})")]
    Mysql { code: u16, state: String, message: String },
    #[error("row count exceeded {limit}: the result has more rows than the tablet's limit; add a LIMIT or raise max_result_rows")]
    RowLimit { limit: u64 },
    #[error("tablet {alias} is a {tablet_type} tablet and refuses writes: send writes to the shard's primary")]
    ReadOnly { alias: String, tablet_type: TabletType },
    #[error("transaction {id} not found on tablet {alias}: it ended, or was rolled back after its timeout")]
    TxNotFound { id: u64, alias: String },
    #[error("tablet {alias} is not serving: {reason}")]
    NotServing { alias: String, reason: String },
    #[error("no answer from {alias} within {after_ms} ms: the statement was stopped there, but whether it took effect is unknown")]
    Timeout { alias: String, after_ms: u64 },
    #[error("Query execution was interrupted")]
    Interrupted,
    /// A streamed statement inside a batch whose result needs more than one part: the gateway
    /// sends it again on its own (it is a read, stopped before anyone saw a row).
    #[error("the result is too large for a batched reply; send the statement alone")]
    TooLargeForBatch,
    #[error("tablet {alias} holds writes to {what}: traffic is being switched (SwitchTraffic) or the shard's primary is changing (PlannedReparentShard); retry")]
    WritesHeld { alias: String, what: String },
    /// A tablet that was primary and has been replaced (the topology names another primary,
    /// with a newer term): it takes no writes, whatever its server would allow.
    #[error("tablet {alias} is no longer the primary of its shard: {primary} is (term {term}); retry")]
    NotPrimary { alias: String, primary: String, term: u64 },
    #[error("tablet {alias}: no free MySQL connection within {waited_ms} ms (every pooled connection is busy); retry, or raise the tablet's pool_size")]
    PoolTimeout { alias: String, waited_ms: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl TabletError {
    /// MySQL error number and SQLSTATE for a MySQL client.
    pub fn mysql_code(&self) -> (u16, &str) {
        match self {
            TabletError::Mysql { code, state, .. } => (*code, state.as_str()),
            TabletError::RowLimit { .. } => (1105, "HY000"),
            // ER_OPTION_PREVENTS_STATEMENT, as MySQL's own read_only answer.
            TabletError::ReadOnly { .. } | TabletError::NotPrimary { .. } => (1290, "HY000"),
            TabletError::TxNotFound { .. } => (1105, "HY000"),
            TabletError::NotServing { .. } => (1105, "HY000"),
            // ER_STATEMENT_TIMEOUT, MariaDB's answer when max_statement_time stops a statement.
            TabletError::Timeout { .. } => (1969, "70100"),
            // ER_QUERY_INTERRUPTED.
            TabletError::Interrupted => (1317, "70100"),
            TabletError::TooLargeForBatch => (1105, "HY000"),
            TabletError::WritesHeld { .. } => (1105, "HY000"),
            // ER_CON_COUNT_ERROR: what a client sees when a server has no connection to give.
            TabletError::PoolTimeout { .. } => (1040, "08004"),
            TabletError::BadRequest(_) => (1105, "HY000"),
            TabletError::Internal(_) => (1105, "HY000"),
        }
    }

    /// True when the same request may succeed elsewhere or later.
    pub fn retryable(&self) -> bool {
        matches!(self, TabletError::NotServing { .. } | TabletError::PoolTimeout { .. })
    }
}

const QUERY_REQUEST_MAGIC: u8 = b'Q';
const QUERY_REQUEST_VERSION: u8 = 1;

/// Frames a query-service request: magic, version, MessagePack body with field names. The hot
/// path carries no envelope (no message id, clock or sender): a request is answered on its
/// reply subject and never stored, so those would be encoded and decoded for nothing.
pub fn encode_query_request(req: &QueryRequest) -> Result<Vec<u8>, TabletError> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&[QUERY_REQUEST_MAGIC, QUERY_REQUEST_VERSION]);
    rmp_serde::encode::write_named(&mut out, req)
        .map_err(|e| TabletError::BadRequest(format!("request could not be encoded: {e}")))?;
    Ok(out)
}

/// Decodes a framed query-service request; anything else is a `BadRequest` naming the problem.
pub fn decode_query_request(bytes: &[u8]) -> Result<QueryRequest, TabletError> {
    match bytes {
        [QUERY_REQUEST_MAGIC, QUERY_REQUEST_VERSION, body @ ..] => rmp_serde::from_slice(body)
            .map_err(|e| TabletError::BadRequest(format!("query request does not decode: {e}"))),
        [QUERY_REQUEST_MAGIC, v, ..] => Err(TabletError::BadRequest(format!(
            "query request is version {v}, this tablet reads version {QUERY_REQUEST_VERSION}: upgrade gateway and \
             tablets together"
        ))),
        _ => Err(TabletError::BadRequest("not a query-service request (expected a framed tessera request)".into())),
    }
}

const QUERY_REPLY_MAGIC: u8 = b'T';
/// 2: rows travel packed as MySQL text rows ([`Rows`]).
const QUERY_REPLY_VERSION: u8 = 2;

/// Frames a query-service reply: magic, version, bincode body.
pub fn encode_query_reply<T: Serialize>(reply: &T) -> Vec<u8> {
    let mut out = vec![QUERY_REPLY_MAGIC, QUERY_REPLY_VERSION];
    if bincode::serialize_into(&mut out, reply).is_err() {
        out.truncate(2);
        let fallback: QueryReply = Err(TabletError::Internal("reply could not be encoded".into()));
        let _ = bincode::serialize_into(&mut out, &fallback);
    }
    out
}

/// Decodes a framed query-service reply.
pub fn decode_query_reply<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, TabletError> {
    match bytes {
        [QUERY_REPLY_MAGIC, QUERY_REPLY_VERSION, body @ ..] => {
            bincode::deserialize(body).map_err(|e| TabletError::Internal(format!("reply does not decode: {e}")))
        }
        [QUERY_REPLY_MAGIC, v, ..] => Err(TabletError::Internal(format!(
            "reply is version {v}, this build reads version {QUERY_REPLY_VERSION}: upgrade gateway and tablets together"
        ))),
        _ => Err(TabletError::Internal("reply is not a tablet reply".into())),
    }
}

/// Replication state of a tablet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReplicationStatus {
    /// `@@gtid_current_pos`: every transaction applied, own or replicated.
    pub position: String,
    /// `@@gtid_binlog_pos`.
    pub binlog_position: String,
    /// For replicas: the primary it follows, `host:port`.
    pub source: Option<String>,
    pub io_running: bool,
    pub sql_running: bool,
    /// `Seconds_Behind_Master`, when replicating.
    pub lag_secs: Option<u64>,
    pub last_error: Option<String>,
}

impl ReplicationStatus {
    /// Every transaction the server wrote to its binlog (its own and replicated ones), or, with
    /// no binlog position, every one it applied: what a new primary must have before it takes
    /// over.
    pub fn written(&self) -> String {
        if self.binlog_position.is_empty() {
            self.position.clone()
        } else {
            self.binlog_position.clone()
        }
    }
}

/// What a tablet reports about itself, on `tessera.health.<alias>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletHealth {
    pub alias: String,
    pub keyspace: String,
    pub shard: String,
    pub tablet_type: TabletType,
    pub node_id: String,
    pub mysql_host: String,
    pub mysql_port: u16,
    /// The query service takes requests.
    pub serving: bool,
    pub mysqld_up: bool,
    /// How many times tessera (re)started this tablet's mysqld.
    pub mysqld_restarts: u32,
    pub replication: Option<ReplicationStatus>,
    /// Why it is not serving, or the last error seen.
    pub last_error: Option<String>,
    /// Its MySQL's `@@version` and `@@version_comment` (empty until seen).
    #[serde(default)]
    pub server_version: String,
    #[serde(default)]
    pub version_comment: String,
    pub time_ms: u64,
}

/// One table or view of a tablet's keyspace database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    /// `BASE TABLE` or `VIEW`.
    pub kind: String,
    /// Estimated rows (information_schema).
    pub rows: u64,
    /// `SHOW CREATE`, with the AUTO_INCREMENT counter removed so copies compare equal.
    pub create: String,
}

/// The schema of a tablet's keyspace database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TabletSchema {
    pub database: String,
    pub tables: Vec<TableDef>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::envelope::Envelope;

    #[test]
    fn management_results_keep_the_earlier_form_for_older_nodes() {
        // The earlier version's types: rows as arrays of values.
        #[derive(Deserialize, Debug)]
        struct OldResult {
            rows: Vec<Row>,
            rows_affected: u64,
        }
        #[derive(Deserialize, Debug)]
        #[serde(tag = "type")]
        enum OldManage {
            Result { result: OldResult },
        }
        let mut rows = Rows::new();
        rows.push_values([Some("1"), None]);
        let result = QueryResult { rows, rows_affected: 3, ..Default::default() };
        let body = rmp_serde::to_vec_named(&ManageResponse::Result { result: result.clone() }).unwrap();
        let OldManage::Result { result: old } = rmp_serde::from_slice::<OldManage>(&body).unwrap();
        assert_eq!(old.rows, vec![vec![Some(b"1".to_vec()), None]]);
        assert_eq!(old.rows_affected, 3);
        let new: ManageResponse = rmp_serde::from_slice(&body).unwrap();
        assert_eq!(new, ManageResponse::Result { result });
    }

    #[test]
    fn query_replies_round_trip_and_reject_other_versions() {
        let reply: QueryReply = Ok(QueryResponse::Result {
            result: QueryResult {
                fields: vec![Field { name: "a".into(), column_type: 8, ..Default::default() }],
                rows: vec![vec![Some(b"1".to_vec()), None]].into(),
                rows_affected: 0,
                last_insert_id: 0,
                warnings: 0,
                info: String::new(),
            },
            tablet: "zone1-0000000100".into(),
            cursor: Some(7),
        });
        let bytes = encode_query_reply(&reply);
        assert_eq!(decode_query_reply::<QueryReply>(&bytes).unwrap(), reply);
        let mut other = bytes.clone();
        other[1] = 9;
        assert!(decode_query_reply::<QueryReply>(&other).unwrap_err().to_string().contains("version 9"));
        assert!(decode_query_reply::<QueryReply>(b"junk").is_err());
        let err: QueryReply = Err(TabletError::Mysql { code: 1146, state: "42S02".into(), message: "no table".into() });
        assert_eq!(decode_query_reply::<QueryReply>(&encode_query_reply(&err)).unwrap(), err);
    }

    #[test]
    fn distributed_transaction_ids() {
        assert_eq!(dtid_name(0xab), "tsr00000000000000ab");
        assert_eq!(parse_dtid(&dtid_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_dtid("tsr12"), None);
        assert_eq!(parse_dtid("xyz00000000000000ab"), None);
        assert_eq!(xa_id(1, "it's", "-80"), "'tsr0000000000000001','it''s/-80'");
    }

    #[test]
    fn requests_round_trip() {
        let mut binds = BTreeMap::new();
        binds.insert("id".to_string(), BindValue::Int(3));
        for req in [
            QueryRequest::Execute {
                sql: "select :id".into(),
                binds: binds.clone(),
                transaction_id: Some(4),
                options: ExecOptions { query_id: 9, stream: true, ..Default::default() },
            },
            QueryRequest::BeginExecute { sql: "select 1".into(), binds, options: ExecOptions::default() },
            QueryRequest::Fetch { cursor: 3 },
            QueryRequest::CloseCursor { cursor: 3 },
            QueryRequest::Begin,
            QueryRequest::Commit { transaction_id: 1 },
            QueryRequest::Rollback { transaction_id: 1 },
            QueryRequest::Prepare { transaction_id: 1 },
            QueryRequest::CommitPrepared { transaction_id: Some(2), dtid: u64::MAX },
            QueryRequest::RollbackPrepared { transaction_id: None, dtid: 7 },
            QueryRequest::RecoverPrepared,
            QueryRequest::LockWaits,
            QueryRequest::BeginExecute {
                sql: "select 1".into(),
                binds: BTreeMap::new(),
                options: ExecOptions { begin: TxBegin { xa: Some(5), ..Default::default() }, ..Default::default() },
            },
        ] {
            assert_eq!(decode_query_request(&encode_query_request(&req).unwrap()).unwrap(), req);
        }
        let batch = QueryRequest::ExecuteBatch {
            statements: vec!["select 1".into(), "select 2".into()],
            options: vec![ExecOptions { query_id: 1, stream: true, ..Default::default() }, ExecOptions::default()],
        };
        let mut bytes = encode_query_request(&batch).unwrap();
        assert_eq!(decode_query_request(&bytes).unwrap(), batch);
        bytes[1] = 9;
        let e = decode_query_request(&bytes).unwrap_err().to_string();
        assert!(e.contains("version 9"), "{e}");
        assert!(matches!(decode_query_request(b"garbage"), Err(TabletError::BadRequest(_))));
        assert!(matches!(decode_query_request(b"Q\x01\xc1"), Err(TabletError::BadRequest(_))));
        assert!(matches!(decode_query_request(b""), Err(TabletError::BadRequest(_))));
        for req in [
            ManageRequest::Status,
            ManageRequest::SetType { tablet_type: TabletType::Rdonly },
            ManageRequest::MakePrimary { semi_sync: true, term: 3 },
            ManageRequest::ReplicateFrom {
                host: "h".into(),
                port: 1,
                tablet_type: TabletType::Replica,
                semi_sync: false,
            },
            ManageRequest::DemotePrimary { drain_ms: 3 },
            ManageRequest::UndoDemotePrimary,
            ManageRequest::WaitForPosition { position: "0-1-5".into(), timeout_ms: 100 },
            ManageRequest::StopReplicationAndGetStatus { wait_ms: 100 },
            ManageRequest::ExecuteFetchAsDba { sql: "select 1".into(), max_rows: None },
            ManageRequest::Backup { engine: "mariabackup".into(), concurrency: 2, allow_primary: false },
            ManageRequest::Restore { name: Some("n".into()), to: None },
            ManageRequest::Restore { name: None, to: Some(crate::backup::pitr::PitrTarget::Time { ms: 5 }) },
            ManageRequest::ApplyDdl { sql: "create table t (a int)".into() },
        ] {
            let back: Envelope<ManageRequest> =
                Envelope::decode(&Envelope::new("t", req.clone()).encode().unwrap()).unwrap();
            assert_eq!(back.body, req);
        }
        assert_eq!(TabletError::ReadOnly { alias: "a".into(), tablet_type: TabletType::Replica }.mysql_code().0, 1290);
    }
}
