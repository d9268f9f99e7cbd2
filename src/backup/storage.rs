//! `file` backup storage: a directory (local, or a mount the nodes share).

use std::path::{Path, PathBuf};

use super::{BackupInfo, Manifest};

pub const MANIFEST: &str = "MANIFEST.json";

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

    /// The directory of one backup. Names come from [`super::backup_name`] or the user: a
    /// name that would leave the shard's directory is refused.
    pub fn dir(&self, keyspace: &str, shard: &str, name: &str) -> Result<PathBuf, String> {
        for (what, part) in [("keyspace", keyspace), ("shard", shard), ("backup name", name)] {
            if part.is_empty() || part.starts_with('.') || part.contains(['/', '\\', '\0']) {
                return Err(format!("`{part}` is not a valid {what}"));
            }
        }
        Ok(self.root.join(keyspace).join(shard).join(name))
    }

    /// Every backup of a shard, newest first; partial ones (no manifest) too.
    pub fn list(&self, keyspace: &str, shard: &str) -> Result<Vec<BackupInfo>, String> {
        let dir = self.root.join(keyspace).join(shard);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list backups in {}: {e}", dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let manifest = read_manifest(&entry.path().join(MANIFEST));
            out.push(BackupInfo { name, manifest });
        }
        out.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(out)
    }

    /// Deletes one backup, complete or partial.
    pub fn remove(&self, keyspace: &str, shard: &str, name: &str) -> Result<(), String> {
        let dir = self.dir(keyspace, shard, name)?;
        if !dir.is_dir() {
            return Err(format!("no backup `{name}` of {keyspace}/{shard} in {}", self.root.display()));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
    }

    /// Writes the manifest, last and atomically (a temp file renamed into place).
    pub fn write_manifest(&self, m: &Manifest) -> Result<(), String> {
        let dir = self.dir(&m.keyspace, &m.shard, &m.name)?;
        let tmp = dir.join(".MANIFEST.json.tmp");
        let text = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let f = std::fs::File::open(&tmp).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(MANIFEST))
            .map_err(|e| format!("cannot write the manifest in {}: {e}", dir.display()))
    }
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_shard_and_partial_backups_are_listed_as_such() {
        let root = tempfile::tempdir().unwrap();
        let s = FileStorage::new(root.path().to_path_buf());
        assert!(s.dir("ks", "-80", "../../etc").is_err());
        assert!(s.dir("ks", "-80", ".hidden").is_err());
        std::fs::create_dir_all(s.dir("ks", "-80", "2026-01-01.000000.a").unwrap()).unwrap();
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
        std::fs::create_dir_all(s.dir("ks", "-80", &m.name).unwrap()).unwrap();
        s.write_manifest(&m).unwrap();
        let list = s.list("ks", "-80").unwrap();
        assert_eq!(
            list.iter().map(|b| (b.name.as_str(), b.manifest.is_some())).collect::<Vec<_>>(),
            vec![("2026-01-02.000000.a", true), ("2026-01-01.000000.a", false)]
        );
        s.remove("ks", "-80", "2026-01-01.000000.a").unwrap();
        assert!(s.remove("ks", "-80", "nope").unwrap_err().contains("no backup `nope`"));
        assert_eq!(s.list("ks", "-80").unwrap().len(), 1);
    }
}
