//! Vindexes map column values to keyspace ids; key ranges say which shard holds an id.
//!
//! This module holds [`keyrange`] (shard names and ranges, Vitess's rules). The vindex
//! functions themselves (`hash`, `xxhash`, ...) come with the gateway.

pub mod keyrange;
