//! Where backups are kept, behind one trait: `file` (a directory, e.g. an NFS mount the nodes
//! share), `nats` (the JetStream object store of the cluster's own NATS, replicated with it) and
//! `s3` (any S3-compatible endpoint).
//!
//! Every storage holds the same layout: `<keyspace>/<shard>/<name>/<file>.zst` for the files
//! and `<keyspace>/<shard>/<name>/MANIFEST.json`, written last; a backup without its manifest
//! is partial and never listed as complete.

mod file;
mod nats;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use file::FileStorage;
pub use nats::NatsStorage;
pub use s3::S3Storage;

use super::{BackupInfo, Manifest};

pub const MANIFEST: &str = "MANIFEST.json";

/// One backup's place in a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    pub keyspace: String,
    pub shard: String,
    pub name: String,
}

impl BackupKey {
    /// The key of a backup; names come from [`super::backup_name`] or the user, so each part is
    /// checked: a part that would leave the shard's place (`..`, `/`) is refused.
    pub fn new(keyspace: &str, shard: &str, name: &str) -> Result<Self, String> {
        for (what, part) in [("keyspace", keyspace), ("shard", shard), ("backup name", name)] {
            if part.is_empty() || part.starts_with('.') || part.contains(['/', '\\', '\0']) || part.len() > 200 {
                return Err(format!("`{part}` is not a valid {what}"));
            }
        }
        Ok(BackupKey { keyspace: keyspace.into(), shard: shard.into(), name: name.into() })
    }

    pub fn of(m: &Manifest) -> Result<Self, String> {
        Self::new(&m.keyspace, &m.shard, &m.name)
    }

    /// `<keyspace>/<shard>/<name>/<file>`.
    pub fn object(&self, file: &str) -> String {
        format!("{}/{}/{}/{file}", self.keyspace, self.shard, self.name)
    }
}

/// A stored file's name: the data dir path, compressed.
pub fn stored_name(path: &str) -> Result<String, String> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(format!("`{path}` is not a valid file of a backup"));
    }
    Ok(format!("{path}.zst"))
}

/// What every backup storage does.
#[allow(async_fn_in_trait)]
pub trait BackupStorage {
    /// Where the backups are, for messages (`file /mnt/backups`, `nats bucket TESSERA_BACKUPS`).
    fn describe(&self) -> String;
    /// Every backup of a shard, newest first; partial ones (no manifest) too.
    async fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String>;
    /// Stores a staged (compressed) file as `file` of the backup; the staged file is consumed.
    async fn put(&self, key: &BackupKey, file: &str, staged: &Path) -> Result<(), String>;
    /// The stored bytes of `file` as a local file: the storage's own, or a download into
    /// `scratch`.
    async fn fetch(&self, key: &BackupKey, file: &str, scratch: &Path) -> Result<PathBuf, String>;
    /// Writes the manifest, last: from then on the backup is complete.
    async fn write_manifest(&self, m: &Manifest) -> Result<(), String>;
    /// Deletes one backup, complete or partial.
    async fn remove(&self, key: &BackupKey) -> Result<(), String>;
}

/// The storage a node is configured with.
pub enum Storage {
    File(FileStorage),
    Nats(Box<NatsStorage>),
    S3(Box<S3Storage>),
}

/// A node's storage, shared by its tablets and its admin service, with the local directory
/// where backups are staged and restores unpacked.
#[derive(Clone)]
pub struct SharedStorage {
    storage: Arc<Storage>,
    scratch: PathBuf,
}

impl std::fmt::Debug for SharedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedStorage({})", self.describe())
    }
}

impl PartialEq for SharedStorage {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
}

impl SharedStorage {
    pub fn new(storage: Storage, scratch: PathBuf) -> Self {
        SharedStorage { storage: Arc::new(storage), scratch }
    }

    /// Local working space (not the storage itself).
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match &*$self.storage {
            Storage::File($s) => $e,
            Storage::Nats($s) => $e,
            Storage::S3($s) => $e,
        }
    };
}

impl BackupStorage for SharedStorage {
    fn describe(&self) -> String {
        each!(self, s => s.describe())
    }
    async fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String> {
        let mut out = each!(self, s => s.list(keyspace, shard).await)
            .map_err(|e| format!("cannot list backups of {keyspace}/{shard} in {}: {e}", self.describe()))?;
        out.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(out)
    }
    async fn put(&self, key: &BackupKey, file: &str, staged: &Path) -> Result<(), String> {
        each!(self, s => s.put(key, file, staged).await)
            .map_err(|e| format!("cannot store {file} of backup {} in {}: {e}", key.name, self.describe()))
    }
    async fn fetch(&self, key: &BackupKey, file: &str, scratch: &Path) -> Result<PathBuf, String> {
        each!(self, s => s.fetch(key, file, scratch).await)
            .map_err(|e| format!("cannot read {file} of backup {} from {}: {e}", key.name, self.describe()))
    }
    async fn write_manifest(&self, m: &Manifest) -> Result<(), String> {
        each!(self, s => s.write_manifest(m).await)
            .map_err(|e| format!("cannot write the manifest of backup {} in {}: {e}", m.name, self.describe()))
    }
    async fn remove(&self, key: &BackupKey) -> Result<(), String> {
        each!(self, s => s.remove(key).await)
    }
}

/// Groups object names `<ks>/<shard>/<name>/<file>` of one shard into backups, reading the
/// manifests of those that have one (storages that list objects: nats, s3).
pub(crate) fn group_by_backup<'a>(prefix: &str, objects: impl Iterator<Item = &'a str>) -> Vec<(String, bool)> {
    let mut names: std::collections::BTreeMap<String, bool> = Default::default();
    for o in objects {
        let Some(rest) = o.strip_prefix(prefix) else { continue };
        let Some((name, file)) = rest.split_once('/') else { continue };
        if name.starts_with('.') {
            continue;
        }
        *names.entry(name.to_string()).or_default() |= file == MANIFEST;
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_their_shard() {
        assert!(BackupKey::new("ks", "-80", "../../etc").is_err());
        assert!(BackupKey::new("ks", "-80", ".hidden").is_err());
        assert!(BackupKey::new("ks", "", "a").is_err());
        let k = BackupKey::new("ks", "-80", "2026-01-01.000000.a").unwrap();
        assert_eq!(k.object("MANIFEST.json"), "ks/-80/2026-01-01.000000.a/MANIFEST.json");
        assert!(stored_name("../x").is_err());
        assert!(stored_name("/etc/passwd").is_err());
        assert_eq!(stored_name("ks/t.ibd").unwrap(), "ks/t.ibd.zst");
    }

    #[test]
    fn objects_group_into_backups_complete_only_with_their_manifest() {
        let objects = [
            "ks/-80/b/ibdata1.zst",
            "ks/-80/b/MANIFEST.json",
            "ks/-80/a/ibdata1.zst",
            "ks/80-/c/MANIFEST.json",
            "other/-80/d/MANIFEST.json",
        ];
        assert_eq!(
            group_by_backup("ks/-80/", objects.into_iter()),
            vec![("a".to_string(), false), ("b".to_string(), true)]
        );
    }
}
