//! The MySQL protocol, server side: our own code over tokio streams.

pub mod binary;
pub mod codec;
pub mod conn;
pub mod handshake;
mod results;
mod stmt;
