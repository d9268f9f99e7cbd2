//! Backups of a shard, taken from one tablet: its MariaDB files copied online by
//! `mariadb-backup` (the counterpart of Vitess's xtrabackup engine), each file compressed
//! with zstd and checksummed (SHA-256 of the stored bytes), and a manifest written last: a
//! backup without its manifest is partial and never listed as complete.
//!
//! Layout in the storage (`[backup]` in the node config; `file`: a directory, e.g. an NFS
//! mount the nodes share): `<keyspace>/<shard>/<name>/<file>.zst` and
//! `<keyspace>/<shard>/<name>/MANIFEST.json`, where `<name>` is `<UTC time>.<tablet alias>`.

mod engine;
pub mod pitr;
mod restore;
pub mod retention;
pub mod scheduler;
mod storage;

pub use engine::{stored_sha256, take, take_files, take_stopped, BackupJob};
pub use restore::{choose, incomplete_marker, is_full, restore, RestoreError};
pub use storage::{BackupKey, BackupStorage, FileStorage, NatsStorage, S3Storage, SharedStorage, Storage};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The object store bucket of `nats` storage unless the config names another.
pub const DEFAULT_BUCKET: &str = "TESSERA_BACKUPS";

/// `[backup]`: where backups go, how long they are kept, and when they are taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// `file` (a directory the nodes share), `nats` (the cluster's JetStream object store) or
    /// `s3` (an S3-compatible endpoint; credentials from the `AWS_*` environment variables).
    pub storage: String,
    /// The directory of `file` storage; empty: `<data_dir>/backups`.
    pub dir: String,
    /// The object store bucket of `nats` storage, or the S3 bucket of `s3` storage.
    pub bucket: String,
    /// `s3`: the key prefix the backups live under (e.g. `tessera/prod`).
    pub prefix: String,
    /// `s3`: the endpoint URL (empty: AWS, or `AWS_ENDPOINT`); `http://` is allowed.
    pub endpoint: String,
    /// `s3`: the region (empty: `AWS_DEFAULT_REGION`, else us-east-1).
    pub region: String,
    /// Retention: keep at least the newest `keep_last` complete backups of each shard (0: no
    /// count limit)...
    pub keep_last: usize,
    /// ...and remove complete backups older than `keep_days` days beyond those (0: no age limit).
    pub keep_days: u64,
    /// Scheduled backups: keyspace = interval (`"24h"`, `"30m"`), each shard backed up by
    /// BackupShard when its newest complete backup is older than that; run by one node of the
    /// cluster at a time.
    pub schedule: BTreeMap<String, String>,
    /// For the scheduled keyspaces: how often the primaries' binlogs are saved as incremental
    /// backups (`"1h"`; empty: never), for point-in-time recovery between full backups.
    pub incremental_every: String,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            storage: "file".into(),
            dir: String::new(),
            bucket: DEFAULT_BUCKET.into(),
            prefix: String::new(),
            endpoint: String::new(),
            region: String::new(),
            keep_last: 0,
            keep_days: 0,
            schedule: BTreeMap::new(),
            incremental_every: String::new(),
        }
    }
}

impl BackupConfig {
    /// The storage this config names, or why it cannot be used. `nats` is the JetStream of the
    /// cluster with its replica count.
    pub fn open(
        &self,
        data_dir: &str,
        nats: Option<(&async_nats::jetstream::Context, usize)>,
    ) -> Result<SharedStorage, String> {
        self.check()?;
        match self.storage.as_str() {
            "file" => {
                let root =
                    if self.dir.is_empty() { Path::new(data_dir).join("backups") } else { PathBuf::from(&self.dir) };
                // Staged files are renamed into place: the staging directory is in the storage.
                let scratch = root.join(".tmp");
                Ok(SharedStorage::new(Storage::File(FileStorage::new(root)), scratch))
            }
            "nats" => {
                let (js, replicas) = nats.ok_or("backup storage `nats` needs the cluster's NATS")?;
                let store = NatsStorage::new(js.clone(), self.bucket.clone(), replicas);
                Ok(SharedStorage::new(Storage::Nats(Box::new(store)), Path::new(data_dir).join("backup-scratch")))
            }
            "s3" => {
                let store = S3Storage::new(&self.bucket, &self.prefix, &self.endpoint, &self.region)?;
                Ok(SharedStorage::new(Storage::S3(Box::new(store)), Path::new(data_dir).join("backup-scratch")))
            }
            other => Err(format!("backup storage `{other}` is unknown: use `file`, `nats` or `s3`")),
        }
    }

    /// Checks the values a config file gives (also when the node starts).
    pub fn check(&self) -> Result<(), String> {
        if self.storage == "s3" && self.bucket == DEFAULT_BUCKET {
            return Err("[backup] storage = \"s3\" needs `bucket`: the name of your S3 bucket".into());
        }
        if self.storage == "nats" && !self.bucket.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!("[backup] bucket `{}`: use letters, digits, `_` and `-`", self.bucket));
        }
        for (ks, every) in &self.schedule {
            parse_interval(every).map_err(|e| format!("[backup.schedule] {ks} = \"{every}\": {e}"))?;
        }
        if !self.incremental_every.is_empty() {
            parse_interval(&self.incremental_every)
                .map_err(|e| format!("[backup] incremental_every = \"{}\": {e}", self.incremental_every))?;
        }
        Ok(())
    }

    /// How often scheduled keyspaces save binlogs, if they do.
    pub fn incremental_interval(&self) -> Option<std::time::Duration> {
        parse_interval(&self.incremental_every).ok()
    }

    /// The scheduled keyspaces with their intervals.
    pub fn schedules(&self) -> Vec<(String, std::time::Duration)> {
        self.schedule.iter().filter_map(|(ks, every)| Some((ks.clone(), parse_interval(every).ok()?))).collect()
    }
}

/// `"24h"`, `"90m"`, `"45s"`, `"7d"`: at least a minute.
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| "write a number and a unit: 30m, 24h, 7d".to_string())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    if secs < 60 {
        return Err("the shortest interval is 1m".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// How far a backup or a restore is, reported every second or so as `BackupProgress` /
/// `RestoreProgress` events (`tessera ctl ... --wait` draws them as a bar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// The tablet backed up or restored.
    pub alias: String,
    pub keyspace: String,
    pub shard: String,
    /// What is happening: `storing`, `fetching`, `unpacking`, ...
    pub phase: String,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub elapsed_ms: u64,
}

impl Progress {
    pub fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            return if self.files_total == 0 { 0.0 } else { self.files_done as f64 / self.files_total as f64 };
        }
        (self.bytes_done as f64 / self.bytes_total as f64).min(1.0)
    }

    /// Bytes per second so far.
    pub fn rate(&self) -> f64 {
        self.bytes_done as f64 * 1000.0 / self.elapsed_ms.max(1) as f64
    }

    pub fn summary(&self) -> String {
        format!(
            "{} of {} ({}/{}): {:.0}%, {}/{} files, {:.1}/{:.1} MB, {:.1} MB/s",
            self.phase,
            self.alias,
            self.keyspace,
            self.shard,
            self.fraction() * 100.0,
            self.files_done,
            self.files_total,
            self.bytes_done as f64 / 1e6,
            self.bytes_total as f64 / 1e6,
            self.rate() / 1e6
        )
    }
}

/// Where a backup or a restore reports its progress.
#[derive(Clone)]
pub struct ProgressSink(std::sync::Arc<dyn Fn(&Progress) + Send + Sync>);

impl ProgressSink {
    pub fn new(f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        ProgressSink(std::sync::Arc::new(f))
    }

    pub fn report(&self, p: &Progress) {
        (self.0)(p)
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// One stored file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the backup, as in the MariaDB data dir (`customer/t.ibd`).
    pub path: String,
    /// Bytes before compression.
    pub size: u64,
    /// Bytes stored (compressed).
    pub stored_size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
}

/// What a backup holds; written last, so its presence marks the backup complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub keyspace: String,
    pub shard: String,
    pub tablet_alias: String,
    pub engine: String,
    pub mariadb_version: String,
    /// The MariaDB GTID position the backup is consistent at.
    pub position: String,
    /// The topology sequence when the backup started.
    pub topology_seq: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn stored_size(&self) -> u64 {
        self.files.iter().map(|f| f.stored_size).sum()
    }
}

/// A backup as listed: complete ones carry their manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    pub name: String,
    pub manifest: Option<Manifest>,
}

/// Fetches every file of a complete backup into `scratch` (or finds it in the storage) and
/// checks it against the manifest (SHA-256 of the stored bytes) before anything is restored from
/// it; the first mismatch names the file and both sums. The local paths, in manifest order.
pub async fn fetch_verified(
    storage: &SharedStorage,
    m: &Manifest,
    scratch: &Path,
    progress: Option<(&ProgressSink, Progress)>,
) -> Result<Vec<PathBuf>, String> {
    let key = BackupKey::of(m)?;
    let mut out = Vec::with_capacity(m.files.len());
    let started = std::time::Instant::now();
    let mut done = progress.map(|(sink, p)| {
        let p = Progress {
            phase: "fetching and verifying".into(),
            files_total: m.files.len() as u64,
            bytes_total: m.stored_size(),
            ..p
        };
        (sink, p)
    });
    for f in &m.files {
        if let Some((sink, p)) = done.as_mut() {
            p.elapsed_ms = started.elapsed().as_millis() as u64;
            sink.report(p);
            p.files_done += 1;
            p.bytes_done += f.stored_size;
        }
        let path = storage.fetch(&key, &f.path, scratch).await?;
        let p = path.clone();
        let actual = tokio::task::spawn_blocking(move || stored_sha256(&p)).await.map_err(|e| e.to_string())??;
        if actual != f.sha256 {
            return Err(format!(
                "backup {} is damaged: {} has SHA-256 {actual}, the manifest says {}",
                m.name, f.path, f.sha256
            ));
        }
        out.push(path);
    }
    if let Some((sink, p)) = done.as_mut() {
        p.elapsed_ms = started.elapsed().as_millis() as u64;
        sink.report(p);
    }
    Ok(out)
}

/// Publishes a `backup` cluster event (BackupStarted, RestoreCompleted, BackupRemoved, ...).
pub async fn publish_event(store: crate::topo::store::TopoStore, name: &str, summary: String) {
    let m = crate::metrics::metrics();
    crate::metrics::Metrics::count_event(&m.backup_events, crate::protocol::events::BACKUP_EVENT_NAMES, name);
    let ev = crate::protocol::events::ClusterEvent::backup(name, summary);
    let id = uuid::Uuid::new_v4().simple().to_string();
    if let Err(e) = store.publish_event(&ev, &id).await {
        tracing::warn!(error = %e, "could not publish a backup event");
    }
}

/// `<UTC time>.<alias>`: sorts by time, names the source.
pub fn backup_name(now_ms: u64, alias: &str) -> String {
    let secs = (now_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}.{:02}{:02}{:02}.{alias}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_name_the_tablet() {
        assert_eq!(backup_name(0, "zone1-0000000101"), "1970-01-01.000000.zone1-0000000101");
        assert_eq!(backup_name(1_796_075_504_000, "z-1"), "2026-11-30.215144.z-1");
        assert!(backup_name(1_000, "a") < backup_name(86_400_000, "a"));
    }

    #[test]
    fn storage_kinds_and_schedules_are_checked() {
        let cfg = BackupConfig { storage: "s4".into(), ..Default::default() };
        assert!(cfg.open("/d", None).unwrap_err().contains("`s4` is unknown"));
        let cfg = BackupConfig { storage: "nats".into(), ..Default::default() };
        assert!(cfg.open("/d", None).unwrap_err().contains("needs the cluster's NATS"));
        assert!(BackupConfig::default().open("/d", None).is_ok());
        let mut cfg = BackupConfig::default();
        cfg.schedule.insert("customer".into(), "10x".into());
        assert!(cfg.check().unwrap_err().contains("customer = \"10x\": unknown unit"));
        assert_eq!(parse_interval("24h").unwrap().as_secs(), 86_400);
        assert_eq!(parse_interval("90m").unwrap().as_secs(), 5_400);
        assert!(parse_interval("30s").is_err());
        assert!(parse_interval("h").is_err());
    }
}
