//! Node configuration: a TOML file (`--config`), overridden by command-line flags.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::names;

/// Everything a node needs to run. Unknown keys in the file are refused (typos are caught).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// NATS server URL(s), comma-separated: `nats://127.0.0.1:4222`.
    pub nats: String,
    /// The cell (failure domain) this node belongs to.
    pub cell: String,
    /// Node id; defaults to `<cell>-<hostname>-<pid>`.
    pub id: Option<String>,
    /// Address of the HTTP status server (`/healthz`, `/debug/status`); empty disables it.
    pub http_addr: String,
    /// Heartbeat period in milliseconds.
    pub heartbeat_ms: u64,
    /// A peer silent for this long (milliseconds) is reported `NodeLost`.
    pub lost_after_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            nats: "nats://127.0.0.1:4222".into(),
            cell: "zone1".into(),
            id: None,
            http_addr: "127.0.0.1:15000".into(),
            heartbeat_ms: 1000,
            lost_after_ms: 10_000,
        }
    }
}

/// A config that was refused, with what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl NodeConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// Checks names and timings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        names::validate("cell", &self.cell).map_err(ConfigError::Invalid)?;
        if let Some(id) = &self.id {
            names::validate("node id", id).map_err(ConfigError::Invalid)?;
        }
        if self.nats.trim().is_empty() {
            return Err(ConfigError::Invalid("`nats` must name at least one NATS server URL".into()));
        }
        if self.heartbeat_ms < 50 {
            return Err(ConfigError::Invalid(format!(
                "heartbeat_ms = {} is below the minimum of 50",
                self.heartbeat_ms
            )));
        }
        if self.lost_after_ms < 3 * self.heartbeat_ms {
            return Err(ConfigError::Invalid(format!(
                "lost_after_ms = {} must be at least 3 x heartbeat_ms ({})",
                self.lost_after_ms,
                3 * self.heartbeat_ms
            )));
        }
        Ok(())
    }

    /// The node id, defaulting to `<cell>-<hostname>-<pid>`.
    pub fn node_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            let host: String = hostname()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect();
            format!("{}-{}-{}", self.cell, host, std::process::id())
        })
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn lost_after(&self) -> Duration {
        Duration::from_millis(self.lost_after_ms)
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        NodeConfig::default().validate().unwrap();
        assert!(NodeConfig::default().node_id().starts_with("zone1-"));
    }

    #[test]
    fn file_rejects_typos_and_bad_values() {
        let ok: NodeConfig = toml::from_str("cell = \"zone2\"\nheartbeat_ms = 200\nlost_after_ms = 1000").unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.cell, "zone2");
        assert!(toml::from_str::<NodeConfig>("cel = \"zone2\"").is_err());
        let bad: NodeConfig = toml::from_str("heartbeat_ms = 1000\nlost_after_ms = 1500").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("at least 3 x"));
        let bad_cell: NodeConfig = toml::from_str("cell = \"zone.1\"").unwrap();
        assert!(bad_cell.validate().is_err());
    }

    #[test]
    fn shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/node.toml");
        NodeConfig::from_file(&path).unwrap().validate().unwrap();
    }
}
