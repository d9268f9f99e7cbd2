//! Gateway errors and their MySQL error numbers.

use crate::protocol::tablet::TabletError;

/// Everything the gateway can answer a statement with, other than a result.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("You have an error in your SQL syntax: {0}")]
    Syntax(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("No database selected: use a keyspace (`use <keyspace>`) or qualify the table")]
    NoDatabase,
    #[error("Unknown database '{0}'")]
    UnknownKeyspace(String),
    #[error("table '{table}' not found in keyspace '{keyspace}': it is not in the VSchema")]
    UnknownTable { keyspace: String, table: String },
    #[error("keyspace {keyspace}: {message}")]
    Routing { keyspace: String, message: String },
    #[error("{0}")]
    Tablet(#[from] TabletError),
    #[error("{0}")]
    Commit(String),
    #[error("{0}")]
    Other(String),
    /// A distributed transaction rolled back instead of committing (MySQL's XA_RBROLLBACK).
    #[error("{0}")]
    RolledBack(String),
    /// The session's transaction was chosen to end a deadlock and was rolled back (MySQL's
    /// ER_LOCK_DEADLOCK).
    #[error("{0}")]
    Deadlock(String),
    /// Nested deeper than the gateway can walk (MySQL's ER_STACK_OVERRUN_NEED_MORE).
    #[error("{0}")]
    TooDeep(String),
    /// Refused by the table ACL (MySQL's ER_TABLEACCESS_DENIED_ERROR).
    #[error("{0}")]
    Denied(String),
}

impl From<crate::sql::parse::ParseError> for GatewayError {
    fn from(e: crate::sql::parse::ParseError) -> Self {
        match e {
            crate::sql::parse::ParseError::Syntax(m) => GatewayError::Syntax(m),
            deep @ crate::sql::parse::ParseError::TooDeep { .. } => GatewayError::TooDeep(deep.to_string()),
        }
    }
}

impl GatewayError {
    /// MySQL error number and SQLSTATE. Every variant is listed: no catch-all.
    pub fn mysql_code(&self) -> (u16, &str) {
        match self {
            GatewayError::Syntax(_) => (1064, "42000"),
            GatewayError::Denied(_) => (1142, "42000"),
            // ER_NOT_SUPPORTED_YET
            GatewayError::Unsupported(_) => (1235, "42000"),
            GatewayError::NoDatabase => (1046, "3D000"),
            GatewayError::UnknownKeyspace(_) => (1049, "42000"),
            GatewayError::UnknownTable { .. } => (1146, "42S02"),
            GatewayError::Routing { .. } => (1105, "HY000"),
            GatewayError::Tablet(e) => e.mysql_code(),
            GatewayError::Commit(_) => (1180, "HY000"),
            GatewayError::Other(_) => (1105, "HY000"),
            GatewayError::RolledBack(_) => (1402, "XA100"),
            GatewayError::Deadlock(_) => (1213, "40001"),
            GatewayError::TooDeep(_) => (1436, "HY000"),
        }
    }
}

/// Errors of the gateway's own evaluation (values, expressions it computes).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Value(String),
}

impl From<EngineError> for GatewayError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Unsupported(m) => GatewayError::Unsupported(m),
            EngineError::Value(m) => GatewayError::Other(m),
        }
    }
}
