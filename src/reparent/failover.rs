//! Automatic failover (what VTOrc does for Vitess): one node of the cluster at a time (a
//! [`Singleton`] lease, taken over within its TTL when the holder dies) watches every tablet's
//! health. A primary whose health stops arriving (its node died or hangs), or whose mysqld
//! stays down, for `primary_down_after_ms` is replaced by `EmergencyReparentShard`; a replica
//! or rdonly tablet that stopped replicating, or follows another server than its shard's
//! primary, for `repair_after_ms` is pointed at the primary again (`ReparentTablet`). Every
//! detection and repair is a `recovery` cluster event with its reason and timings. Switched off
//! per keyspace or shard with `SetFailover`, or for the node with `[failover] enabled = false`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use serde::Deserialize;
use tracing::{info, warn};

use crate::actors::health::GetHealth;
use crate::lease::Singleton;
use crate::protocol::admin::AdminRequest;
use crate::protocol::tablet::TabletHealth;
use crate::protocol::topology::{TabletRecord, TabletType};
use crate::topo::state::Topology;
use crate::topo::store::TopoStore;
use crate::topo::view::TopoView;

/// `[failover]` in the node's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// This node may run the failover singleton.
    pub enabled: bool,
    /// How long a primary's health may be missing (or its mysqld down) before it is replaced.
    pub primary_down_after_ms: u64,
    /// How long a replica may stay broken before it is repointed.
    pub repair_after_ms: u64,
    /// `--wait-replicas-timeout` of the emergency reparents it runs.
    pub wait_replicas_timeout_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            enabled: true,
            primary_down_after_ms: 5_000,
            repair_after_ms: 10_000,
            wait_replicas_timeout_ms: 10_000,
        }
    }
}

/// How often the holder looks at the cluster.
const PASS_EVERY: Duration = Duration::from_millis(500);
/// How long a shard whose recovery failed waits before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What the singleton remembers between passes.
#[derive(Default)]
struct Watch {
    /// Since when each primary (by shard) has looked down.
    down_since: HashMap<String, Instant>,
    /// Since when each tablet has looked broken (not replicating from its primary).
    broken_since: HashMap<String, Instant>,
    /// Recoveries and repairs under way (their own tasks) and when to try failed ones again.
    jobs: Arc<Mutex<Jobs>>,
}

#[derive(Default)]
struct Jobs {
    running: HashSet<String>,
    retry_at: HashMap<String, Instant>,
}

impl Watch {
    /// Whether `key` (a shard or a tablet) may get a new job now; if so, it is marked running.
    fn start(&self, key: &str) -> bool {
        let mut j = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        j.retry_at.retain(|_, t| *t > now);
        if j.running.contains(key) || j.retry_at.contains_key(key) {
            return false;
        }
        j.running.insert(key.to_string());
        true
    }

    /// Whether `key` has a job running or waits to retry one.
    fn busy(&self, key: &str) -> bool {
        let j = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        j.running.contains(key) || j.retry_at.get(key).is_some_and(|t| *t > Instant::now())
    }
}

/// Marks a job done; a failed one (or, with `always_wait`, any) is not retried before
/// RETRY_AFTER.
fn finish(jobs: &Arc<Mutex<Jobs>>, key: &str, wait: bool) {
    let mut j = jobs.lock().unwrap_or_else(|e| e.into_inner());
    j.running.remove(key);
    if wait {
        j.retry_at.insert(key.to_string(), Instant::now() + RETRY_AFTER);
    }
}

/// Runs the failover singleton for as long as the process lives, whenever this node holds
/// the lease.
/// Recoveries run through `admin` in this process (not as admin requests over NATS, which a
/// hung node's subscription could swallow).
pub fn spawn(
    cfg: FailoverConfig,
    view: TopoView,
    health: Recipient<GetHealth>,
    admin: crate::admin::AdminService,
    store: TopoStore,
    mut lease: Singleton,
) {
    if !cfg.enabled {
        return;
    }
    tokio::spawn(async move {
        let mut held = false;
        let mut watch = Watch::default();
        let mut renewed = Instant::now();
        loop {
            if renewed.elapsed() >= Singleton::RENEW_EVERY || !held {
                let now_held = lease.tick().await;
                renewed = Instant::now();
                if now_held != held {
                    info!(holder = now_held, "failover lease {}", if now_held { "taken" } else { "released" });
                    held = now_held;
                    watch = Watch::default();
                }
            }
            if held {
                if let Ok(h) = health.send(GetHealth).await {
                    pass(&cfg, &view.snapshot(), &h, &admin, &store, &mut watch).await;
                }
            }
            tokio::time::sleep(if held { PASS_EVERY } else { Singleton::RENEW_EVERY }).await;
        }
    });
}

/// Why a primary looks down, if it does, and whether it has looked so long enough already
/// (a missing report is as old as the last one; a server seen down is timed from now).
fn primary_down(h: Option<&TabletHealth>, now_ms: u64, cfg: &FailoverConfig) -> Option<(String, bool)> {
    let Some(h) = h else { return Some(("no health report from it".into(), false)) };
    let age = now_ms.saturating_sub(h.time_ms);
    if age > cfg.primary_down_after_ms {
        return Some((format!("no health report for {age} ms (its node died or hangs)"), true));
    }
    // A primary busy on purpose (a builtin backup, a restore) reports another type.
    if h.tablet_type == TabletType::Primary && !h.mysqld_up {
        return Some((format!("its MySQL is down ({})", h.last_error.clone().unwrap_or_default()), false));
    }
    None
}

/// Why a replica needs repointing, if it does.
fn replica_broken(h: &TabletHealth, primary: &TabletRecord, now_ms: u64, cfg: &FailoverConfig) -> Option<String> {
    if now_ms.saturating_sub(h.time_ms) > cfg.primary_down_after_ms || !h.mysqld_up {
        return None; // its own node or server is the problem; nothing to repoint
    }
    if !matches!(h.tablet_type, TabletType::Replica | TabletType::Rdonly) {
        return None;
    }
    let r = h.replication.as_ref()?;
    let host = if primary.mysql_host.is_empty() { "127.0.0.1" } else { primary.mysql_host.as_str() };
    let expected = format!("{host}:{}", primary.mysql_port);
    match &r.source {
        Some(s) if *s != expected => {
            Some(format!("it replicates from {s}, not from the primary {} ({expected})", primary.alias))
        }
        None => Some(format!("it does not replicate from the primary {}", primary.alias)),
        Some(_) if !(r.io_running && r.sql_running) => Some(format!(
            "its replication stopped{}",
            r.last_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
        )),
        Some(_) => None,
    }
}

/// One look at every shard: recoveries and repairs that are due start on their own tasks, so
/// the lease keeps being renewed while they run (a holder that stopped renewing would let a
/// second node start the same recovery).
async fn pass(
    cfg: &FailoverConfig,
    topo: &Topology,
    health: &HashMap<String, TabletHealth>,
    admin: &crate::admin::AdminService,
    store: &TopoStore,
    watch: &mut Watch,
) {
    let now = Instant::now();
    let now_ms = crate::protocol::envelope::now_ms();
    for ks in topo.keyspaces.values() {
        for s in ks.shards.values() {
            let key = format!("{}/{}", ks.name, s.name);
            let Some(primary) = s.primary.as_ref().and_then(|p| topo.tablets.get(p)) else { continue };
            if s.failover_disabled || s.reparent.as_ref().is_some_and(|l| l.until_ms > now_ms) {
                watch.down_since.remove(&key);
                continue;
            }
            let replicas = topo.shard_tablets(&ks.name, &s.name).filter(|t| t.tablet_type == TabletType::Replica);
            let has_candidate = replicas.filter(|t| t.alias != primary.alias).count() > 0;
            match primary_down(health.get(&primary.alias), now_ms, cfg) {
                Some((why, long_enough)) if has_candidate && !watch.busy(&key) => {
                    let since = *watch.down_since.entry(key.clone()).or_insert(now);
                    if !long_enough && since.elapsed() < Duration::from_millis(cfg.primary_down_after_ms) {
                        continue;
                    }
                    if !watch.start(&key) {
                        continue;
                    }
                    watch.down_since.remove(&key);
                    let req = AdminRequest::EmergencyReparentShard {
                        keyspace: ks.name.clone(),
                        shard: s.name.clone(),
                        new_primary: None,
                        wait_replicas_timeout_ms: cfg.wait_replicas_timeout_ms,
                        expected_term: Some(s.primary_term),
                    };
                    let (admin, store, jobs) = (admin.clone(), store.clone(), watch.jobs.clone());
                    let old = primary.alias.clone();
                    tokio::spawn(async move {
                        super::publish_event(
                            &store,
                            "PrimaryDown",
                            format!("{key}: primary {old} is down: {why}; running EmergencyReparentShard"),
                        )
                        .await;
                        let started = Instant::now();
                        let result = admin.handle(req).await;
                        finish(&jobs, &key, result.is_err());
                        match result {
                            Ok(resp) => {
                                let done = match resp {
                                    crate::protocol::admin::AdminResponse::Done { message, .. } => message,
                                    other => format!("{other:?}"),
                                };
                                info!(shard = %key, "automatic failover done: {done}");
                                super::publish_event(
                                    &store,
                                    "FailoverCompleted",
                                    format!(
                                        "{key}: automatic failover from {old} took {} ms: {done}",
                                        started.elapsed().as_millis()
                                    ),
                                )
                                .await;
                            }
                            Err(e) => {
                                warn!(shard = %key, error = %e, "automatic failover failed; trying again in 30 s");
                                super::publish_event(
                                    &store,
                                    "FailoverFailed",
                                    format!("{key}: automatic failover from {old} failed: {e}; trying again in 30 s"),
                                )
                                .await;
                            }
                        }
                    });
                }
                Some(_) => {}
                None => {
                    watch.down_since.remove(&key);
                    repair_replicas(cfg, topo, health, primary, admin, store, watch, now_ms);
                }
            }
        }
    }
}

/// Points back at their primary the tablets of its shard that have been broken long enough.
#[allow(clippy::too_many_arguments)]
fn repair_replicas(
    cfg: &FailoverConfig,
    topo: &Topology,
    health: &HashMap<String, TabletHealth>,
    primary: &TabletRecord,
    admin: &crate::admin::AdminService,
    store: &TopoStore,
    watch: &mut Watch,
    now_ms: u64,
) {
    let now = Instant::now();
    for t in topo.shard_tablets(&primary.keyspace, &primary.shard).filter(|t| t.alias != primary.alias) {
        let broken = health.get(&t.alias).and_then(|h| replica_broken(h, primary, now_ms, cfg));
        let Some(why) = broken else {
            watch.broken_since.remove(&t.alias);
            continue;
        };
        let since = *watch.broken_since.entry(t.alias.clone()).or_insert(now);
        if since.elapsed() < Duration::from_millis(cfg.repair_after_ms) || !watch.start(&t.alias) {
            continue;
        }
        watch.broken_since.remove(&t.alias);
        let (admin, store, jobs) = (admin.clone(), store.clone(), watch.jobs.clone());
        let (alias, primary) = (t.alias.clone(), primary.alias.clone());
        tokio::spawn(async move {
            let result = admin.handle(AdminRequest::ReparentTablet { alias: alias.clone() }).await;
            // Once per RETRY_AFTER at most, whatever the outcome: a repair that does not hold
            // (a primary address the replica spells differently) must not repeat every pass.
            finish(&jobs, &alias, true);
            match result {
                Ok(_) => {
                    super::publish_event(
                        &store,
                        "ReplicaRepaired",
                        format!("{alias}: {why}; pointed at {primary} again"),
                    )
                    .await
                }
                Err(e) => warn!(tablet = %alias, error = %e, "could not repair replication; trying again later"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tablet::ReplicationStatus;

    fn health(tablet_type: TabletType, time_ms: u64, up: bool, repl: Option<ReplicationStatus>) -> TabletHealth {
        TabletHealth {
            alias: "a".into(),
            keyspace: "ks".into(),
            shard: "0".into(),
            tablet_type,
            node_id: "n".into(),
            mysql_host: "127.0.0.1".into(),
            mysql_port: 1,
            serving: true,
            mysqld_up: up,
            mysqld_restarts: 0,
            replication: repl,
            last_error: None,
            server_version: String::new(),
            version_comment: String::new(),
            time_ms,
        }
    }

    #[test]
    fn judges_primaries_and_replicas() {
        let cfg = FailoverConfig::default();
        assert!(primary_down(None, 10_000, &cfg).is_some());
        assert!(primary_down(Some(&health(TabletType::Primary, 9_000, true, None)), 10_000, &cfg).is_none());
        let (why, now) = primary_down(Some(&health(TabletType::Primary, 1_000, true, None)), 10_000, &cfg).unwrap();
        assert!(why.contains("no health") && now, "{why}");
        let (why, now) = primary_down(Some(&health(TabletType::Primary, 9_000, false, None)), 10_000, &cfg).unwrap();
        assert!(why.contains("MySQL is down") && !now, "{why}");
        // A builtin backup of the primary takes its mysqld down on purpose.
        assert!(primary_down(Some(&health(TabletType::Backup, 9_000, false, None)), 10_000, &cfg).is_none());

        let primary = TabletRecord {
            alias: "p".into(),
            cell: "z".into(),
            keyspace: "ks".into(),
            shard: "0".into(),
            tablet_type: TabletType::Primary,
            node_id: "n".into(),
            hostname: "h".into(),
            mysql_host: "127.0.0.1".into(),
            mysql_port: 3306,
            managed: true,
        };
        let ok = ReplicationStatus {
            source: Some("127.0.0.1:3306".into()),
            io_running: true,
            sql_running: true,
            ..Default::default()
        };
        let h = |r: ReplicationStatus| health(TabletType::Replica, 9_000, true, Some(r));
        assert!(replica_broken(&h(ok.clone()), &primary, 10_000, &cfg).is_none());
        let wrong = ReplicationStatus { source: Some("127.0.0.1:3307".into()), ..ok.clone() };
        assert!(replica_broken(&h(wrong), &primary, 10_000, &cfg).unwrap().contains("not from the primary p"));
        let stopped = ReplicationStatus { io_running: false, ..ok.clone() };
        assert!(replica_broken(&h(stopped), &primary, 10_000, &cfg).unwrap().contains("stopped"));
        let none = ReplicationStatus::default();
        assert!(replica_broken(&h(none), &primary, 10_000, &cfg).unwrap().contains("does not replicate"));
        // Spare, drained, backup: left alone; a stale report: its own node's problem.
        assert!(replica_broken(&health(TabletType::Drained, 9_000, true, Some(ok.clone())), &primary, 10_000, &cfg)
            .is_none());
        assert!(replica_broken(&health(TabletType::Replica, 1_000, true, None), &primary, 10_000, &cfg).is_none());
    }
}
