//! The checks of `Validate`, `ValidateKeyspace` and `ValidateShard`.

use super::AdminService;
use crate::protocol::topology::TabletType;
use crate::topo::state::{Keyspace, Topology};
use crate::vindex::keyrange::shard_order;

/// Tablet types whose serving shards do not cover the whole key space exactly once.
pub fn serving_gaps(ks: &Keyspace) -> Vec<String> {
    let mut problems = Vec::new();
    for (t, shards) in &ks.serving {
        let mut shards: Vec<&String> = shards.iter().collect();
        shards.sort_by(|a, b| shard_order(a, b));
        let mut at: Vec<u8> = Vec::new();
        let mut ok = true;
        for s in &shards {
            match ks.shards.get(*s) {
                Some(rec) if rec.key_range.start == at => at = rec.key_range.end.clone(),
                Some(_) => ok = false,
                None => problems.push(format!("keyspace {} serves {t} from shard {s}, which does not exist", ks.name)),
            }
        }
        if !ok || !at.is_empty() || shards.is_empty() {
            problems.push(format!(
                "keyspace {}: the shards serving {t} ({}) do not cover the key space exactly once",
                ks.name,
                shards.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    problems
}

impl AdminService {
    /// Every problem of one shard: its primary, and each tablet's type, health and replication.
    pub(super) async fn validate_shard(&self, topo: &Topology, keyspace: &str, shard: &str, ping: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(rec) = topo.shard(keyspace, shard) else {
            return vec![format!("shard {keyspace}/{shard} does not exist")];
        };
        let tablets: Vec<_> = topo.shard_tablets(keyspace, shard).cloned().collect();
        let primary = rec.primary.as_ref().and_then(|p| topo.tablets.get(p));
        match (&rec.primary, primary) {
            (None, _) if !tablets.is_empty() => problems.push(format!("shard {keyspace}/{shard} has no primary")),
            (Some(p), None) => {
                problems.push(format!("shard {keyspace}/{shard}: its primary {p} is not a registered tablet"))
            }
            (Some(p), Some(t)) if t.tablet_type != TabletType::Primary => {
                problems.push(format!("shard {keyspace}/{shard}: its primary {p} is recorded as {}", t.tablet_type))
            }
            _ => {}
        }
        let primary_addr = primary.map(|t| format!("{}:{}", super::reparent::host_of(t), t.mysql_port));
        // Every tablet at once: a shard's tablets answer in parallel.
        let primary_addr = &primary_addr;
        let checks = tablets.iter().map(|t| async move {
            let mut problems = Vec::new();
            if t.tablet_type == TabletType::Primary && rec.primary.as_ref() != Some(&t.alias) {
                problems
                    .push(format!("{} is recorded as primary but the shard's primary is {:?}", t.alias, rec.primary));
            }
            let h = match self.fresh_health(&t.alias).await {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("{} does not answer: {}", t.alias, e.message));
                    return problems;
                }
            };
            if h.tablet_type != t.tablet_type {
                problems.push(format!("{} runs as {} but is recorded as {}", t.alias, h.tablet_type, t.tablet_type));
            }
            if !h.mysqld_up {
                problems.push(format!("{}: mysqld is down", t.alias));
            }
            let replicating = matches!(t.tablet_type, TabletType::Replica | TabletType::Rdonly);
            match (&h.replication, replicating) {
                (Some(r), true) => {
                    if !(r.io_running && r.sql_running) {
                        problems.push(format!(
                            "{} does not replicate (IO {}, SQL {}){}",
                            t.alias,
                            r.io_running,
                            r.sql_running,
                            r.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                        ));
                    }
                    if let (Some(src), Some(want)) = (&r.source, &primary_addr) {
                        if !same_server(src, want) {
                            problems.push(format!("{} replicates from {src}, not from the primary at {want}", t.alias));
                        }
                    }
                }
                (None, true) => problems.push(format!("{} reports no replication status", t.alias)),
                (Some(r), false) if t.tablet_type == TabletType::Primary && r.source.is_some() && r.io_running => {
                    problems.push(format!("primary {} replicates from {:?}", t.alias, r.source))
                }
                _ => {}
            }
            // Only a serving tablet answers queries (spare, drained and restoring ones refuse).
            if ping && h.serving {
                if let Err(e) = self.app_fetch(&t.alias, "SELECT 1", Some(1)).await {
                    problems.push(format!("{} does not answer queries: {}", t.alias, e.message));
                }
            }

            problems
        });
        for found in futures::future::join_all(checks).await {
            problems.extend(found);
        }
        problems
    }
}

/// `host:port` pairs naming one server (`localhost` and `127.0.0.1` alike).
fn same_server(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace("localhost", "127.0.0.1");
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::state::Shard;
    use crate::vindex::keyrange::KeyRange;

    fn ks(shards: &[&str], serving: &[&str]) -> Keyspace {
        let mut k = Keyspace { name: "c".into(), ..Default::default() };
        for s in shards {
            let shard = Shard {
                name: s.to_string(),
                key_range: KeyRange::parse_shard_name(s).unwrap(),
                primary: None,
                primary_term: 0,
                is_primary_serving: true,
                denied_tables: Default::default(),
                reparent: None,
                failover_disabled: false,
            };
            k.shards.insert(s.to_string(), shard);
        }
        k.serving.insert(TabletType::Primary, serving.iter().map(|s| s.to_string()).collect());
        k
    }

    #[test]
    fn serving_shards_must_cover_the_key_space_once() {
        assert!(serving_gaps(&ks(&["-80", "80-", "0"], &["-80", "80-"])).is_empty());
        assert!(serving_gaps(&ks(&["0"], &["0"])).is_empty());
        assert_eq!(serving_gaps(&ks(&["-80", "80-"], &["-80"])).len(), 1, "a gap");
        assert_eq!(serving_gaps(&ks(&["-80", "80-", "0"], &["-80", "0"])).len(), 1, "an overlap");
        assert_eq!(serving_gaps(&ks(&["-80"], &["-80", "80-"])).len(), 2, "a missing shard");
    }
}
