//! MariaDB's session variables as the gateway carries them. A session's statements run on
//! pooled tablet connections, so a variable follows the session in one of a few ways, chosen
//! here by name:
//!
//! - most variables go with every statement (`SET STATEMENT a = .., b = .. FOR ...`), checked
//!   and normalised by MariaDB when they are set;
//! - the transaction's isolation level and access mode go with the transaction's BEGIN;
//! - variables about the client connection (timeouts, session tracking) and the character
//!   set belong to the gateway's side of the connection: it keeps and reports them;
//! - a few would break replication or the gateway's own bookkeeping and are refused.

/// How a session variable follows the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Autocommit,
    SqlMode,
    /// `transaction_isolation` (`tx_isolation`).
    Isolation,
    /// `transaction_read_only` (`tx_read_only`).
    TxReadOnly,
    /// `character_set_client`/`_connection`/`_results`, `collation_connection`.
    Charset,
    /// Kept by the gateway for its side of the connection; a number.
    Connection,
    /// `transaction_mode` (Vitess's): how the session's transactions span shards.
    TransactionMode,
    /// Refused, with the reason.
    Refused(&'static str),
    /// Sent with every statement.
    PerStatement,
}

/// The name MariaDB's own documentation uses for a variable (`tx_isolation` is an alias).
pub fn canonical(name: &str) -> &str {
    match name {
        "tx_isolation" => "transaction_isolation",
        "tx_read_only" => "transaction_read_only",
        "storage_engine" => "default_storage_engine",
        other => other,
    }
}

/// How `name` (lower case, canonical) follows a session.
pub fn kind(name: &str) -> Kind {
    const REPLICATION: &str = "it would keep the session's changes from the binary log or change how they are \
                               logged, which replicas and resharding streams rely on";
    const GATEWAY: &str = "the gateway keeps insert ids and connection ids itself";
    match name {
        "autocommit" => Kind::Autocommit,
        "sql_mode" => Kind::SqlMode,
        "transaction_isolation" => Kind::Isolation,
        "transaction_read_only" => Kind::TxReadOnly,
        "transaction_mode" => Kind::TransactionMode,
        "character_set_client" | "character_set_connection" | "character_set_results" | "collation_connection" => {
            Kind::Charset
        }
        "wait_timeout" | "interactive_timeout" | "net_read_timeout" | "net_write_timeout" | "net_retry_count" => {
            Kind::Connection
        }
        n if n.starts_with("session_track_") => Kind::Connection,
        "sql_log_bin"
        | "skip_replication"
        | "binlog_format"
        | "binlog_annotate_row_events"
        | "binlog_row_image"
        | "server_id"
        | "pseudo_slave_mode"
        | "pseudo_thread_id"
        | "sql_log_off" => Kind::Refused(REPLICATION),
        n if n.starts_with("gtid_") || n.starts_with("wsrep_") => Kind::Refused(REPLICATION),
        "insert_id" | "last_insert_id" | "identity" => Kind::Refused(GATEWAY),
        n if n.starts_with("debug") => Kind::Refused("debugging variables are not carried through the gateway"),
        _ => Kind::PerStatement,
    }
}

/// The character sets a client may ask for: the gateway and its tablets speak UTF-8.
pub fn utf8_charset(cs: &str) -> Option<&'static str> {
    match cs.to_ascii_lowercase().as_str() {
        "utf8mb4" => Some("utf8mb4"),
        "utf8" | "utf8mb3" => Some("utf8mb3"),
        _ => None,
    }
}

/// A collation for a UTF-8 character set (`utf8mb4_unicode_ci`, `utf8_general_ci`, ...).
pub fn utf8_collation(co: &str) -> Option<String> {
    let co = co.to_ascii_lowercase();
    let ok = co.starts_with("utf8mb4_") || co.starts_with("utf8mb3_") || co.starts_with("utf8_");
    ok.then(|| co.replacen("utf8_", "utf8mb3_", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(kind(canonical("tx_isolation")), Kind::Isolation);
        assert_eq!(kind("time_zone"), Kind::PerStatement);
        assert_eq!(kind("wait_timeout"), Kind::Connection);
        assert_eq!(kind("session_track_schema"), Kind::Connection);
        assert!(matches!(kind("sql_log_bin"), Kind::Refused(_)));
        assert!(matches!(kind("gtid_seq_no"), Kind::Refused(_)));
        assert_eq!(utf8_charset("UTF8"), Some("utf8mb3"));
        assert_eq!(utf8_charset("latin1"), None);
        assert_eq!(utf8_collation("utf8_general_ci").as_deref(), Some("utf8mb3_general_ci"));
        assert_eq!(utf8_collation("latin1_swedish_ci"), None);
    }
}
