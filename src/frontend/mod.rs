//! The MySQL side of the gateway: the protocol (our own code over tokio streams), the
//! connection loop, prepared statements, and running each client statement: plan it
//! ([`crate::planner`]), execute it ([`crate::engine`]), write the answer.
//!
//! - [`codec`], [`handshake`], [`binary`]: packets, the connection phase, the binary row format.
//! - [`conn`]: one client connection from greeting to quit; [`stmt`]: prepared statements;
//!   [`results`]: a statement raced against its client and KILL, and its answer written.
//! - [`execute`]: one statement of one session, from text to answer.
//! - [`sessions`]: every session by connection id (KILL); [`local`]: results built here.
//! - [`throttle`]: failed logins slow their client address down.
//! - [`lanes`]: the threads and runtimes sessions run on.

pub mod acl;
pub mod binary;
pub mod codec;
pub mod conn;
mod dml_input;
pub mod execute;
pub mod handshake;
pub mod identity;
mod insert_select;
pub mod lanes;
pub mod local;
pub mod querylog;
mod results;
pub mod sessions;
mod setvars;
mod stmt;
#[cfg(test)]
mod tests;
pub mod throttle;
