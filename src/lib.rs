//! tessera: a Vitess-class MySQL sharding runtime, built as actors that talk over NATS.
//!
//! The parts, and where they live:
//! - [`protocol`]: every wire type (admin commands, topology events, node membership, cluster
//!   events) and every NATS subject, in versioned MessagePack envelopes.
//! - [`topo`]: the topology as an event-sourced JetStream stream (`TESSERA_TOPO`), its pure fold
//!   [`topo::project`], validated optimistic writes, and each node's live view.
//! - [`vschema`]: Vitess's VSchema JSON, parsed strictly and validated.
//! - [`vindex`]: key ranges and shard names (vindex functions arrive with the gateway).
//! - [`actors`]: `NodeActor` (membership) and `AdminActor` (admin commands).
//! - [`admin`]: what each admin command does.
//! - [`runtime`]: wiring a node process; [`web`]: its HTTP pages; [`cli`]: the command line.
//!
//! `docs/ARCHITECTURE.md` is the map; start there.

pub mod actors;
pub mod admin;
pub mod auth;
pub mod backend;
pub mod backup;
pub mod bulk;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod engine;
pub mod failpoint;
pub mod frontend;
pub mod lanes;
pub mod lease;
pub mod metrics;
pub mod mysqld;
pub mod nats;
pub mod nats_roles;
pub mod plan;
pub mod planner;
pub mod protocol;
pub mod reparent;
pub mod routing;
pub mod rpc;
pub mod runtime;
pub mod schema;
pub mod secrets;
pub mod sql;
pub mod topo;
pub mod twopc;
pub mod vindex;
pub mod vrepl;
pub mod vschema;
pub mod web;
pub mod workflow;
