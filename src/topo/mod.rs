//! The topology: an event-sourced JetStream stream and its pure fold.
//!
//! - [`state`]: the folded [`Topology`] and [`project`], pure and unit-tested.
//! - [`commands`]: validates an admin command against the folded state and says which events it
//!   appends to which aggregate subject; pure.
//! - [`store`]: the `TESSERA_TOPO` and `TESSERA_EVENTS` streams on JetStream.
//! - [`view`]: a live, followed copy of the topology that each node keeps.
//! - [`writer`]: appends with the expected-last-subject-sequence check, retrying on conflict.
//! - [`relay`]: republishes commits as cluster events, in topology order.

pub mod commands;
pub mod relay;
pub mod routing_rules;
pub mod state;
pub mod store;
pub mod view;
pub mod writer;

pub use state::{project, project_commit, Topology};

use crate::protocol::admin::{ErrorCode, RemoteError};
use crate::protocol::envelope::CodecError;

/// Errors of the topology layer.
#[derive(Debug, thiserror::Error)]
pub enum TopoError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("gave up on `{subject}` after {attempts} attempts: other writers kept changing it; retry")]
    Conflict { subject: String, attempts: u32 },
    #[error("topology store unavailable: {0}")]
    Unavailable(String),
    #[error("topology message does not decode: {0}")]
    Codec(#[from] CodecError),
}

impl From<TopoError> for RemoteError {
    fn from(e: TopoError) -> Self {
        let code = match &e {
            TopoError::NotFound(_) => ErrorCode::NotFound,
            TopoError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            TopoError::Invalid(_) => ErrorCode::InvalidArgument,
            TopoError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            TopoError::Conflict { .. } => ErrorCode::Conflict,
            TopoError::Unavailable(_) => ErrorCode::Unavailable,
            TopoError::Codec(_) => ErrorCode::Internal,
        };
        RemoteError::new(code, e.to_string())
    }
}
