//! The one integration-test binary: real nats-server, real tessera processes.

mod harness;

mod admin;
mod backups;
mod backups_pitr;
mod backups_restore;
mod backups_s3;
mod concurrency;
mod corpus;
mod differential;
mod differential_dml;
mod faults;
mod gateway;
mod gateway_lookup;
mod gateway_security;
mod lifecycle;
mod limits;
mod metadata;
mod nats_auth;
mod nats_cluster;
mod nats_jwt;
mod nats_roles;
mod reparent;
mod reparent_bench;
mod resharding;
mod routing_rules;
mod session_vars;
mod statement_atomicity;
mod streaming;
mod tablets;
mod twopc;
mod up;
mod up_cluster;
mod values;
mod walkthrough;
mod workflow_ops;
