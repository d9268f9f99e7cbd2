//! The actors a node hosts. One actor per file; messages are defined at the top of each.
//!
//! - [`node::NodeActor`]: one per process: joins the cluster, heartbeats, detects lost peers,
//!   announces a clean departure.
//! - [`admin::AdminActor`]: serves `tessera.admin.*` for the cluster (queue group).
//! - [`tablet::TabletActor`]: one per tablet: its MySQL, query service, replication, health.
//! - [`health::HealthActor`]: the latest health report of every tablet, for `GetTablets`.
//! - [`gateway::GatewayActor`]: the MySQL listener; [`session::SessionActor`]: one per client.
//! - [`vrepl_engine::VReplicationEngine`]: keeps a [`vreplication::VReplicationActor`] for every
//!   stream whose target primary is on this node.

pub mod admin;
pub mod gateway;
pub mod health;
pub mod node;
pub mod session;
pub mod tablet;
pub mod vrepl_engine;
pub mod vreplication;
