//! Node membership: who runs where, heartbeats, departures.

use serde::{Deserialize, Serialize};

/// A running node as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    /// Random per process start, so a restarted node with the same id is a new incarnation.
    pub incarnation: String,
    pub cell: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    /// What the node hosts: `admin`, `web`, later tablets and gateways.
    pub hosts: Vec<String>,
    /// Where its HTTP status pages are, empty if none.
    pub http_addr: String,
    pub started_ms: u64,
}

/// Published on `tessera.node.<id>.heartbeat` every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: NodeInfo,
    /// The node's topology sequence, to see followers that lag.
    pub topo_seq: u64,
}

/// Published on `tessera.node.<id>.left` when a node shuts down cleanly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Departure {
    pub node: NodeInfo,
    pub reason: String,
}

/// A node as another node sees it (for `GetNodes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: NodeInfo,
    pub last_seen_ms_ago: u64,
    pub topo_seq: u64,
}

/// Membership changes, as cluster events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NodeEvent {
    NodeJoined {
        node: NodeInfo,
    },
    NodeLeft {
        node: NodeInfo,
        reason: String,
    },
    /// No heartbeat for `silent_ms`; reported by `reported_by`.
    NodeLost {
        node: NodeInfo,
        silent_ms: u64,
        reported_by: String,
    },
}

impl NodeEvent {
    pub const NAMES: &'static [&'static str] = &["NodeJoined", "NodeLeft", "NodeLost"];

    pub fn name(&self) -> &'static str {
        match self {
            NodeEvent::NodeJoined { .. } => "NodeJoined",
            NodeEvent::NodeLeft { .. } => "NodeLeft",
            NodeEvent::NodeLost { .. } => "NodeLost",
        }
    }

    pub fn node(&self) -> &NodeInfo {
        match self {
            NodeEvent::NodeJoined { node } | NodeEvent::NodeLeft { node, .. } | NodeEvent::NodeLost { node, .. } => {
                node
            }
        }
    }
}

impl std::fmt::Display for NodeEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeEvent::NodeJoined { node } => write!(
                f,
                "node {} joined (cell {}, host {}, pid {}, version {}, hosts [{}]{})",
                node.id,
                node.cell,
                node.host,
                node.pid,
                node.version,
                node.hosts.join(", "),
                if node.http_addr.is_empty() { String::new() } else { format!(", http {}", node.http_addr) }
            ),
            NodeEvent::NodeLeft { node, reason } => write!(f, "node {} left ({reason})", node.id),
            NodeEvent::NodeLost { node, silent_ms, reported_by } => write!(
                f,
                "node {} lost: no heartbeat for {:.1}s (reported by {reported_by})",
                node.id,
                *silent_ms as f64 / 1000.0
            ),
        }
    }
}
