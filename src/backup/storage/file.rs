//! `file` backup storage: a directory (local, or a mount the nodes share).

use std::path::{Path, PathBuf};

use super::{stored_name, BackupInfo, BackupKey, BackupStorage, Manifest, MANIFEST};

/// Backups under a root directory: `<root>/<keyspace>/<shard>/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStorage {
    root: PathBuf,
}

impl FileStorage {
    pub fn new(root: PathBuf) -> Self {
        FileStorage { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, key: &BackupKey) -> PathBuf {
        self.root.join(&key.keyspace).join(&key.shard).join(&key.name)
    }
}

impl BackupStorage for FileStorage {
    fn describe(&self) -> String {
        format!("file storage {}", self.root.display())
    }

    async fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String> {
        let dir = self.root.join(keyspace).join(shard);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let manifest =
                std::fs::read(entry.path().join(MANIFEST)).ok().and_then(|b| serde_json::from_slice(&b).ok());
            out.push(BackupInfo { name, manifest });
        }
        Ok(out)
    }

    async fn put(&self, key: &BackupKey, file: &str, staged: &Path) -> Result<(), String> {
        let to = self.dir(key).join(stored_name(file)?);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        // A rename when the staging directory is on the same file system; a copy otherwise.
        if std::fs::rename(staged, &to).is_err() {
            std::fs::copy(staged, &to).map_err(|e| format!("{}: {e}", to.display()))?;
            std::fs::File::open(&to).and_then(|f| f.sync_all()).map_err(|e| format!("{}: {e}", to.display()))?;
            let _ = std::fs::remove_file(staged);
        }
        Ok(())
    }

    async fn fetch(&self, key: &BackupKey, file: &str, _scratch: &Path) -> Result<PathBuf, String> {
        let path = self.dir(key).join(stored_name(file)?);
        if !path.is_file() {
            return Err(format!("{} is missing", path.display()));
        }
        Ok(path)
    }

    async fn write_manifest(&self, m: &Manifest) -> Result<(), String> {
        let dir = self.dir(&BackupKey::of(m)?);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = dir.join(".MANIFEST.json.tmp");
        let text = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let f = std::fs::File::open(&tmp).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| format!("{}: {e}", dir.display()))
    }

    async fn remove(&self, key: &BackupKey) -> Result<(), String> {
        let dir = self.dir(key);
        if !dir.is_dir() {
            return Err(format!("no backup `{}` of {}/{} in {}", key.name, key.keyspace, key.shard, self.describe()));
        }
        // The manifest first: a backup half removed is partial, never complete with files missing.
        let _ = std::fs::remove_file(dir.join(MANIFEST));
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn partial_backups_are_listed_as_such_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let s = FileStorage::new(root.path().to_path_buf());
        let partial = BackupKey::new("ks", "-80", "2026-01-01.000000.a").unwrap();
        let staged = root.path().join("staged");
        std::fs::write(&staged, b"x").unwrap();
        s.put(&partial, "ibdata1", &staged).await.unwrap();
        assert!(!staged.exists());
        assert_eq!(std::fs::read(s.fetch(&partial, "ibdata1", root.path()).await.unwrap()).unwrap(), b"x");
        let m = Manifest {
            name: "2026-01-02.000000.a".into(),
            keyspace: "ks".into(),
            shard: "-80".into(),
            tablet_alias: "a".into(),
            engine: "mariabackup".into(),
            mariadb_version: "10.11".into(),
            position: "0-1-5".into(),
            topology_seq: 3,
            started_ms: 1,
            finished_ms: 2,
            files: Vec::new(),
        };
        s.write_manifest(&m).await.unwrap();
        let mut list = s.list("ks", "-80").await.unwrap();
        list.sort_by(|a, b| b.name.cmp(&a.name));
        assert_eq!(
            list.iter().map(|b| (b.name.as_str(), b.manifest.is_some())).collect::<Vec<_>>(),
            vec![("2026-01-02.000000.a", true), ("2026-01-01.000000.a", false)]
        );
        s.remove(&partial).await.unwrap();
        let nope = BackupKey::new("ks", "-80", "nope").unwrap();
        assert!(s.remove(&nope).await.unwrap_err().contains("no backup `nope`"));
        assert_eq!(s.list("ks", "-80").await.unwrap().len(), 1);
    }
}
