//! The engine's way to the tablets, over NATS: [`TabletClient`] implements
//! [`crate::engine::shards::Shards`], batching statements to busy targets ([`batch`]).

pub mod batch;
pub mod tablet;

pub use tablet::TabletClient;
