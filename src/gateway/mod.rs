//! The gateway's brain: session targets, the routing view, planning and executing statements.
//! The MySQL protocol is in [`crate::mysql`]; sessions are actors in
//! [`crate::actors::session`].

pub mod error;
pub mod exec;
pub mod local;
pub mod lookup;
pub mod plan;
pub mod plan_cache;
pub mod plan_shape;
pub mod session;
pub mod sessions;
pub mod stream;
pub mod system;
pub mod target;
pub mod view;

pub use error::GatewayError;
pub use target::Target;

#[cfg(test)]
mod plan_tests;
