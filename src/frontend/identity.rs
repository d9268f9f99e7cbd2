//! What the gateway tells clients it is: the MariaDB its tablets run (their `@@version` and
//! `@@version_comment`, which managed tablets report as `<version>-MariaDB-tessera`), so the
//! handshake, `@@version`, `VERSION()` and `@@version_comment` agree and every client picks the
//! dialect of the server that will run its SQL. `[gateway] server_version` overrides it.

use std::sync::Mutex;

/// The version used before any tablet has reported one.
pub const FALLBACK_VERSION: &str = "10.11.0-MariaDB-tessera";
const FALLBACK_COMMENT: &str = "tessera";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub version: String,
    pub comment: String,
}

impl Identity {
    /// The version as executable comments compare it (`10.11.19` -> 101119).
    pub fn number(&self) -> u32 {
        crate::sql::comments::version_number(&self.version)
    }

    /// The version in the handshake: MariaDB 10 and later prefix theirs with `5.5.5-`, which
    /// clients strip (old clients would read "10" as older than "5"); we do as they do.
    pub fn handshake_version(&self) -> String {
        let major: u32 = self.version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        if major >= 10 && self.version.contains("-MariaDB") {
            format!("5.5.5-{}", self.version)
        } else {
            self.version.clone()
        }
    }
}

/// The configured identity, or the one learned from the tablets' health reports.
#[derive(Debug, Default)]
pub struct IdentitySource {
    configured: Option<String>,
    learned: Mutex<Option<Identity>>,
    /// Where this gateway listens, for `@@port` and `@@socket` (a tablet's answer would send a
    /// client that prefers the socket, as mysql_async does on 127.0.0.1, past the gateway
    /// straight to that tablet's MariaDB).
    endpoint: Option<(u16, String)>,
}

impl IdentitySource {
    /// `configured`: `[gateway] server_version` (empty: learn it from the tablets).
    pub fn new(configured: &str) -> Self {
        IdentitySource {
            configured: (!configured.is_empty()).then(|| configured.to_string()),
            learned: Mutex::new(None),
            endpoint: None,
        }
    }

    /// The gateway's TCP port and unix socket path (empty without one).
    pub fn with_endpoint(mut self, port: u16, socket: &str) -> Self {
        self.endpoint = Some((port, socket.to_string()));
        self
    }

    /// The gateway's own value of a server variable that names where the server listens:
    /// `port`, `socket` (empty when it has none, so no client goes looking for one).
    pub fn endpoint_var(&self, name: &str) -> Option<String> {
        let (port, socket) = self.endpoint.as_ref()?;
        match name.to_ascii_lowercase().as_str() {
            "port" => Some(port.to_string()),
            "socket" => Some(socket.clone()),
            _ => None,
        }
    }

    /// The identity, learning it from `health` (the tablets' reports) the first time one has it.
    pub fn get(&self, health: &std::collections::HashMap<String, crate::protocol::tablet::TabletHealth>) -> Identity {
        let learned = {
            let mut slot = self.learned.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                let mut reports: Vec<_> = health.values().filter(|h| !h.server_version.is_empty()).collect();
                // Serving tablets first, then by alias, so every gateway picks the same one.
                reports.sort_by(|a, b| b.serving.cmp(&a.serving).then(a.alias.cmp(&b.alias)));
                *slot = reports
                    .first()
                    .map(|h| Identity { version: h.server_version.clone(), comment: h.version_comment.clone() });
            }
            slot.clone()
        };
        let comment = learned.as_ref().map(|i| i.comment.clone()).unwrap_or_else(|| FALLBACK_COMMENT.into());
        match (&self.configured, learned) {
            (Some(v), _) => Identity { version: v.clone(), comment },
            (None, Some(i)) => i,
            (None, None) => Identity { version: FALLBACK_VERSION.into(), comment },
        }
    }

    /// True once a tablet's version is known (no need to ask for health again).
    pub fn learned(&self) -> bool {
        self.learned.lock().map(|l| l.is_some()).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_versions_get_the_5_5_5_prefix() {
        let i = Identity { version: "10.11.19-MariaDB-tessera".into(), comment: "Debian 12".into() };
        assert_eq!(i.handshake_version(), "5.5.5-10.11.19-MariaDB-tessera");
        let m = Identity { version: "8.0.36-tessera".into(), comment: String::new() };
        assert_eq!(m.handshake_version(), "8.0.36-tessera");
    }

    #[test]
    fn learns_from_health_and_honours_the_configured_version() {
        let mut health = std::collections::HashMap::new();
        let src = IdentitySource::new("");
        assert_eq!(src.get(&health).version, FALLBACK_VERSION);
        health.insert(
            "a".to_string(),
            crate::protocol::tablet::TabletHealth {
                alias: "a".into(),
                keyspace: "ks".into(),
                shard: "0".into(),
                tablet_type: crate::protocol::topology::TabletType::Primary,
                node_id: "n".into(),
                mysql_host: "127.0.0.1".into(),
                mysql_port: 3306,
                serving: true,
                mysqld_up: true,
                mysqld_restarts: 0,
                replication: None,
                last_error: None,
                server_version: "10.11.19-MariaDB-tessera".into(),
                version_comment: "Debian 12".into(),
                time_ms: 0,
            },
        );
        assert_eq!(src.get(&health).version, "10.11.19-MariaDB-tessera");
        assert!(src.learned());
        let fixed = IdentitySource::new("10.6.1-MariaDB-custom");
        assert_eq!(
            fixed.get(&health),
            Identity { version: "10.6.1-MariaDB-custom".into(), comment: "Debian 12".into() }
        );
    }
}
