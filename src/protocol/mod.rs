//! Wire types only: what travels over NATS, in versioned MessagePack envelopes.

pub mod admin;
pub mod admin_reply;
pub mod envelope;
pub mod events;
pub mod manage;
pub mod names;
pub mod node;
pub mod rows;
pub mod subjects;
pub mod tablet;
pub mod topology;
pub mod workflow;
pub mod xa;
