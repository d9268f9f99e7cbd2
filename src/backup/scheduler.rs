//! The backup scheduler: one node of the cluster at a time (a [`Singleton`] lease; another
//! node takes over within the lease's TTL when the holder dies) takes the scheduled backups
//! (`[backup.schedule]`, through `BackupShard`, so the usual tablet choice and events apply)
//! and applies retention (`keep_last`, `keep_days`) to every shard of the topology.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use super::pitr::BINLOG_ENGINE;
use super::retention::{due, expired};
use super::{BackupConfig, BackupKey, BackupStorage, SharedStorage};
use crate::lease::Singleton;
use crate::protocol::admin::AdminRequest;
use crate::topo::view::TopoView;

/// How often the holder looks at schedules and retention.
const PASS_EVERY: Duration = Duration::from_secs(15);
/// How long a shard whose scheduled backup failed waits before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(600);

/// Shards with a scheduled backup running, and shards waiting to retry a failed one.
#[derive(Default)]
struct Jobs {
    running: HashSet<String>,
    retry_at: std::collections::HashMap<String, tokio::time::Instant>,
}

/// Runs the scheduler on this node for as long as the process lives, whenever it holds the
/// lease. Does nothing when the config has no schedule and no retention.
pub fn spawn(
    cfg: BackupConfig,
    storage: SharedStorage,
    view: TopoView,
    client: async_nats::Client,
    store: crate::topo::store::TopoStore,
    mut lease: Singleton,
) {
    if cfg.schedules().is_empty() && cfg.keep_last == 0 && cfg.keep_days == 0 {
        return;
    }
    let admin = crate::client::AdminClient::new(client, Duration::from_secs(6 * 3600));
    let running: Arc<Mutex<Jobs>> = Arc::default();
    tokio::spawn(async move {
        let mut last_pass: Option<tokio::time::Instant> = None;
        let mut held = false;
        loop {
            let now_held = lease.tick().await;
            if now_held != held {
                info!(holder = now_held, "backup scheduler lease {}", if now_held { "taken" } else { "released" });
                held = now_held;
            }
            if held && last_pass.is_none_or(|t| t.elapsed() >= PASS_EVERY) {
                last_pass = Some(tokio::time::Instant::now());
                pass(&cfg, &storage, &view, &store, &admin, &running).await;
            }
            tokio::time::sleep(Singleton::RENEW_EVERY).await;
        }
    });
}

/// One look at every shard: start the backups that are due (in the background, one per
/// shard at a time) and remove what retention says.
async fn pass(
    cfg: &BackupConfig,
    storage: &SharedStorage,
    view: &TopoView,
    store: &crate::topo::store::TopoStore,
    admin: &crate::client::AdminClient,
    running: &Arc<Mutex<Jobs>>,
) {
    let topo = view.snapshot();
    let now = crate::protocol::envelope::now_ms();
    let schedules = cfg.schedules();
    for ks in topo.keyspaces.values() {
        let every = schedules.iter().find(|(name, _)| *name == ks.name).map(|(_, d)| *d);
        let serving = ks.serving.get(&crate::protocol::topology::TabletType::Primary);
        for shard in ks.shards.keys() {
            let backups = match storage.list(&ks.name, shard).await {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "backup scheduler: cannot list backups");
                    continue;
                }
            };
            for name in expired(&backups, now, cfg.keep_last, cfg.keep_days) {
                let removed = match BackupKey::new(&ks.name, shard, &name) {
                    Ok(key) => storage.remove(&key).await,
                    Err(e) => Err(e),
                };
                match removed {
                    Ok(()) => {
                        let summary = format!(
                            "retention removed backup {name} of {}/{shard} (keep_last {}, keep_days {})",
                            ks.name, cfg.keep_last, cfg.keep_days
                        );
                        info!("{summary}");
                        super::publish_event(store.clone(), "BackupRemoved", summary).await;
                    }
                    Err(e) => warn!(backup = %name, error = %e, "retention could not remove a backup"),
                }
            }
            // Scheduled backups of the shards that serve (not of those a reshard retired).
            // Scheduled backups of the shards that serve (not of those a reshard retired).
            let Some(every) = every.filter(|_| serving.is_none_or(|s| s.contains(shard))) else { continue };
            let newest = |binlog: bool| {
                backups
                    .iter()
                    .filter_map(|b| b.manifest.as_ref())
                    .find(|m| (m.engine == BINLOG_ENGINE) == binlog)
                    .map(|m| m.finished_ms)
            };
            let mut kinds = vec![("mariabackup", every)];
            kinds.extend(cfg.incremental_interval().map(|d| (BINLOG_ENGINE, d)));
            for (engine, every) in kinds {
                if !due(newest(engine == BINLOG_ENGINE), now, every.as_millis() as u64) {
                    continue;
                }
                let req = AdminRequest::BackupShard {
                    keyspace: ks.name.clone(),
                    shard: shard.clone(),
                    engine: engine.into(),
                    concurrency: 4,
                    allow_primary: false,
                };
                start(admin, running, format!("{}/{shard} ({engine})", ks.name), req);
            }
        }
    }
}

/// Sends one scheduled backup in the background, unless the same one is running or waits to
/// retry after a failure.
fn start(admin: &crate::client::AdminClient, running: &Arc<Mutex<Jobs>>, id: String, req: AdminRequest) {
    {
        let mut jobs = lock(running);
        let waiting = jobs.retry_at.get(&id).is_some_and(|t| *t > tokio::time::Instant::now());
        if waiting || !jobs.running.insert(id.clone()) {
            return;
        }
    }
    let (admin, running) = (admin.clone(), running.clone());
    info!(backup = %id, "scheduled backup due");
    tokio::spawn(async move {
        let res = admin.request(&req).await;
        let mut jobs = lock(&running);
        jobs.running.remove(&id);
        match res {
            Ok(_) => {
                info!(backup = %id, "scheduled backup complete");
                jobs.retry_at.remove(&id);
            }
            Err(e) => {
                warn!(backup = %id, error = %e, retry_in_s = RETRY_AFTER.as_secs(), "scheduled backup failed");
                jobs.retry_at.insert(id, tokio::time::Instant::now() + RETRY_AFTER);
            }
        }
    });
}

fn lock(m: &Mutex<Jobs>) -> std::sync::MutexGuard<'_, Jobs> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
