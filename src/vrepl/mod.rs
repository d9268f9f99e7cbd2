//! VReplication: a stream copies a source shard's tables into a target shard from one
//! consistent snapshot, then replays the source's binlog, filtered by the target's key range,
//! keeping its position in the target in the same transaction as the rows it applies.
//!
//! - [`gtid`]: MariaDB GTID positions.
//! - [`table`]: columns, primary keys, vindex filters and the SQL that copies/replays rows.
//! - [`binlog`]: the source's binlog as whole transactions (MariaDB GTID events decoded here).
//! - [`state`]: the stream's rows in the target's `_tessera` tables.
//! - [`copy`]: the copy phase (parallel readers and writers, throttled, resumable).
//! - [`replay`]: catch-up and continuous replay.
//! - [`stream`]: one stream's run from wherever it stopped.

pub mod binlog;
pub mod copy;
pub mod gtid;
pub mod replay;
pub mod state;
pub mod stream;
pub mod table;

use mysql_async::{Conn, Opts, OptsBuilder};

use crate::protocol::workflow::{StreamKey, StreamOptions, TableSpec};
use crate::vindex::keyrange::KeyRange;

/// Why a stream stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum VReplError {
    #[error("{what}: {source}")]
    Mysql {
        what: String,
        #[source]
        source: mysql_async::Error,
    },
    #[error("{0}")]
    Schema(String),
    #[error("DDL on the source stops the stream (on_ddl=stop): `{0}`; apply it to the target and restart the workflow, or recreate it with --on-ddl exec|ignore")]
    Ddl(String),
    #[error("{0}")]
    Binlog(String),
}

impl VReplError {
    pub fn mysql(what: impl Into<String>, source: mysql_async::Error) -> Self {
        VReplError::Mysql { what: what.into(), source }
    }

    /// True when retrying later may succeed (a server went away or a lock timed out).
    pub fn retryable(&self) -> bool {
        match self {
            VReplError::Mysql { source: mysql_async::Error::Server(s), .. } => {
                matches!(s.code, 1205 | 1213 | 1927 | 2006 | 2013 | 1053)
            }
            VReplError::Mysql { .. } | VReplError::Binlog(_) => true,
            VReplError::Schema(_) | VReplError::Ddl(_) => false,
        }
    }
}

/// A MySQL server a stream talks to, with the database of the keyspace.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlAddr {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub db: String,
}

impl MysqlAddr {
    pub fn opts(&self) -> Opts {
        OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .db_name(Some(self.db.clone()))
            .into()
    }

    pub async fn connect(&self) -> Result<Conn, VReplError> {
        let what = format!("connecting to MySQL {}:{} ({})", self.host, self.port, self.db);
        match tokio::time::timeout(std::time::Duration::from_secs(10), Conn::new(self.opts())).await {
            Ok(r) => r.map_err(|e| VReplError::mysql(what, e)),
            Err(_) => Err(VReplError::Binlog(format!("{what}: timed out after 10 s"))),
        }
    }
}

/// Everything one stream needs to run.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub key: StreamKey,
    pub tables: Vec<TableSpec>,
    pub options: StreamOptions,
    pub target_range: KeyRange,
    pub source: MysqlAddr,
    pub target: MysqlAddr,
    /// Target replicas whose lag throttles the copy.
    pub target_replicas: Vec<MysqlAddr>,
}

impl StreamSpec {
    /// A server id for the binlog connection, stable per stream and unlikely to collide with
    /// tablets (which use their uid).
    pub fn server_id(&self) -> u32 {
        let text = self.key.to_string();
        let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        1_000_000_000 + (h % 1_000_000_000) as u32
    }
}
