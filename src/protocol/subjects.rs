//! Every NATS subject and stream name tessera uses. Nothing else builds subjects.
//!
//! Names put into subjects (keyspaces, cells, aliases, node ids) are checked by
//! [`crate::protocol::names`] first, so they never contain `.`, `*`, `>` or spaces.

/// The JetStream stream holding topology events.
pub const TOPO_STREAM: &str = "TESSERA_TOPO";
/// The JetStream stream keeping cluster events for late subscribers.
pub const EVENTS_STREAM: &str = "TESSERA_EVENTS";
/// Queue group shared by every node serving admin commands.
pub const ADMIN_QUEUE: &str = "tessera-admin";

pub fn topo_all() -> String {
    "tessera.topo.>".to_string()
}

/// The aggregate subject of the cell list.
pub fn topo_cells() -> String {
    "tessera.topo.cells".to_string()
}

/// The aggregate subject of a keyspace: its settings, shard set, VSchema and serving partitions.
pub fn topo_keyspace(keyspace: &str) -> String {
    format!("tessera.topo.keyspace.{keyspace}")
}

/// The aggregate subject of one shard: primary, serving flag, tablet controls.
pub fn topo_shard(keyspace: &str, shard: &str) -> String {
    format!("tessera.topo.shard.{keyspace}.{shard}")
}

/// The aggregate subject of one tablet record.
pub fn topo_tablet(alias: &str) -> String {
    format!("tessera.topo.tablet.{alias}")
}

/// Subject of one admin command.
pub fn admin(command: &str) -> String {
    format!("tessera.admin.{command}")
}

pub fn admin_all() -> String {
    "tessera.admin.>".to_string()
}

/// The admin command named by an admin subject, if it is one.
pub fn admin_command_of(subject: &str) -> Option<&str> {
    subject.strip_prefix("tessera.admin.").filter(|c| !c.is_empty() && !c.contains('.'))
}

/// Request/reply subject of a tablet operation.
pub fn tablet(alias: &str, op: &str) -> String {
    format!("tessera.tablet.{alias}.{op}")
}

/// The query service of whichever tablet of a keyspace/shard has the given type (queue group).
pub fn target(keyspace: &str, shard: &str, tablet_type: &str) -> String {
    format!("tessera.target.{keyspace}.{shard}.{tablet_type}.query")
}

/// Health reports of one tablet.
/// Where statements of a shard are cancelled: every tablet of the shard listens (no queue group)
/// and stops the ones it runs.
pub fn kill(keyspace: &str, shard: &str) -> String {
    format!("tessera.kill.{keyspace}.{shard}")
}

/// Where a node serves the chunks of payloads too large for one NATS message.
pub fn bulk(node: &str, id: u64) -> String {
    format!("tessera.bulk.{node}.{id}")
}

/// Every bulk subject of a node.
pub fn bulk_all(node: &str) -> String {
    format!("tessera.bulk.{node}.*")
}

pub fn health(alias: &str) -> String {
    format!("tessera.health.{alias}")
}

pub fn health_all() -> String {
    "tessera.health.*".to_string()
}

/// A node-level operation or announcement (`heartbeat`, `left`).
pub fn node(id: &str, op: &str) -> String {
    format!("tessera.node.{id}.{op}")
}

/// Every node-level announcement of every node.
pub fn node_all() -> String {
    "tessera.node.*.*".to_string()
}

/// The node id and operation of a node subject.
pub fn node_parts(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("tessera.node.")?;
    let (id, op) = rest.split_once('.')?;
    (!id.is_empty() && !op.is_empty() && !op.contains('.')).then_some((id, op))
}

/// The routing rules aggregate.
pub fn topo_routing() -> String {
    "tessera.topo.routing".to_string()
}

/// A VReplication stream's control subject:
/// `tessera.vrepl.<keyspace>.<workflow>.<target shard>.<source shard>`.
pub fn vrepl(key: &crate::protocol::workflow::StreamKey) -> String {
    format!("tessera.vrepl.{}.{}.{}.{}", key.keyspace, key.workflow, key.target_shard, key.source_shard)
}

/// Subject of a cluster event: `tessera.events.<kind>.<name>`.
pub fn event(kind: &str, name: &str) -> String {
    format!("tessera.events.{kind}.{name}")
}

pub fn events_all() -> String {
    "tessera.events.>".to_string()
}

/// Filter subject for `tessera events --filter <kind or event name>`.
pub fn events_filter(kind: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("tessera.events.{kind}.{name}"),
        None => format!("tessera.events.{kind}.>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        assert_eq!(admin_command_of(&admin("CreateKeyspace")), Some("CreateKeyspace"));
        assert_eq!(admin_command_of("tessera.admin."), None);
        assert_eq!(admin_command_of("tessera.admin.a.b"), None);
        assert_eq!(node_parts(&node("zone1-a", "heartbeat")), Some(("zone1-a", "heartbeat")));
        assert_eq!(node_parts("tessera.node.x"), None);
        assert_eq!(topo_shard("customer", "-80"), "tessera.topo.shard.customer.-80");
    }
}
