//! Backups of a shard, taken from one tablet: its MariaDB files copied online by
//! `mariadb-backup` (the counterpart of Vitess's xtrabackup engine), each file compressed
//! with zstd and checksummed (SHA-256 of the stored bytes), and a manifest written last: a
//! backup without its manifest is partial and never listed as complete.
//!
//! Layout in the storage (`[backup]` in the node config; `file`: a directory, e.g. an NFS
//! mount the nodes share): `<keyspace>/<shard>/<name>/<file>.zst` and
//! `<keyspace>/<shard>/<name>/MANIFEST.json`, where `<name>` is `<UTC time>.<tablet alias>`.

mod engine;
mod restore;
mod storage;

pub use engine::{stored_sha256, take, BackupJob};
pub use restore::{choose, incomplete_marker, restore, RestoreError};
pub use storage::FileStorage;

use serde::{Deserialize, Serialize};

/// `[backup]`: where backups go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// `file` (the only kind built so far).
    pub storage: String,
    /// The directory of `file` storage; empty: `<data_dir>/backups`.
    pub dir: String,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig { storage: "file".into(), dir: String::new() }
    }
}

impl BackupConfig {
    /// The storage this config names, or why it cannot be used.
    pub fn open(&self, data_dir: &str) -> Result<FileStorage, String> {
        match self.storage.as_str() {
            "file" => {
                let dir = if self.dir.is_empty() {
                    std::path::Path::new(data_dir).join("backups")
                } else {
                    std::path::PathBuf::from(&self.dir)
                };
                Ok(FileStorage::new(dir))
            }
            other => Err(format!("backup storage `{other}` is not built: use `file` (a directory the nodes share)")),
        }
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

/// Checks every file of a complete backup against its manifest (size and SHA-256 of the stored
/// bytes) before anything is restored from it; the first mismatch names the file and both sums.
pub fn verify(storage: &FileStorage, m: &Manifest) -> Result<(), String> {
    let dir = storage.dir(&m.keyspace, &m.shard, &m.name)?;
    for f in &m.files {
        let path = dir.join(format!("{}.zst", f.path));
        let actual = stored_sha256(&path)?;
        if actual != f.sha256 {
            return Err(format!(
                "backup {} is damaged: {} has SHA-256 {actual}, the manifest says {}",
                m.name, f.path, f.sha256
            ));
        }
    }
    Ok(())
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
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
    fn only_file_storage_is_built() {
        let cfg = BackupConfig { storage: "s3".into(), dir: String::new() };
        assert!(cfg.open("/d").unwrap_err().contains("`s3` is not built"));
        assert!(BackupConfig::default().open("/d").is_ok());
    }
}
