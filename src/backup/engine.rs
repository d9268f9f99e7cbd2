//! The `mariabackup` engine: `mariadb-backup --backup` copies the tablet's files while it keeps
//! serving; each file is then compressed and checksummed into the storage, in `concurrency`
//! parallel workers, and the manifest is written last.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::info;

use super::{backup_name, FileEntry, FileStorage, Manifest};

/// One backup to take of a tablet's MariaDB.
#[derive(Debug, Clone)]
pub struct BackupJob {
    pub storage: FileStorage,
    pub keyspace: String,
    pub shard: String,
    pub alias: String,
    pub engine: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub concurrency: usize,
    pub topology_seq: u64,
    pub mariadb_version: String,
}

/// Takes the backup; its manifest once complete. A failure leaves at most a partial backup
/// (no manifest), never one listed as complete.
pub async fn take(job: BackupJob) -> Result<Manifest, String> {
    if job.engine != "mariabackup" {
        return Err(format!(
            "backup engine `{}` is not built: use mariabackup (the default; Debian package mariadb-backup)",
            job.engine
        ));
    }
    let bin = crate::mysqld::find_binary(&["mariadb-backup", "mariabackup"])
        .ok_or_else(|| "mariadb-backup not found (apt-get install mariadb-backup)".to_string())?;
    let started_ms = crate::protocol::envelope::now_ms();
    let name = backup_name(started_ms, &job.alias);
    let dest = job.storage.dir(&job.keyspace, &job.shard, &name)?;
    let scratch = job.storage.root().join(".tmp").join(format!("{}.{}.{name}", job.keyspace, job.shard));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    std::fs::create_dir_all(&dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let result = copy_and_store(&bin, &job, &scratch, &dest, &name, started_ms).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn copy_and_store(
    bin: &Path,
    job: &BackupJob,
    scratch: &Path,
    dest: &Path,
    name: &str,
    started_ms: u64,
) -> Result<Manifest, String> {
    // The password in an owner-only options file, not on the command line.
    let cnf = scratch.join("client.cnf");
    crate::cli::write_private_file(&cnf, &format!("[client]\npassword={}\n", job.password))
        .map_err(|e| e.to_string())?;
    let target = scratch.join("files");
    let out = tokio::process::Command::new(bin)
        .arg(format!("--defaults-extra-file={}", cnf.display()))
        .arg("--backup")
        .arg(format!("--target-dir={}", target.display()))
        .arg(format!("--host={}", job.host))
        .arg(format!("--port={}", job.port))
        .arg(format!("--user={}", job.user))
        .arg(format!("--parallel={}", job.concurrency.max(1)))
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(format!(
            "mariadb-backup failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let position = binlog_position(&target)?;
    let mut files = Vec::new();
    collect(&target, &target, &mut files).map_err(|e| format!("cannot list {}: {e}", target.display()))?;
    let workers = job.concurrency.clamp(1, 16);
    let mut parts: Vec<Vec<String>> = vec![Vec::new(); workers];
    for (i, f) in files.into_iter().enumerate() {
        parts[i % workers].push(f);
    }
    let mut handles = Vec::new();
    for part in parts {
        let (target, dest) = (target.clone(), dest.to_path_buf());
        handles.push(tokio::task::spawn_blocking(move || {
            part.into_iter().map(|rel| store_file(&target, &dest, &rel)).collect::<Result<Vec<_>, String>>()
        }));
    }
    let mut entries = Vec::new();
    for h in handles {
        entries.extend(h.await.map_err(|e| format!("a backup worker failed: {e}"))??);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        name: name.to_string(),
        keyspace: job.keyspace.clone(),
        shard: job.shard.clone(),
        tablet_alias: job.alias.clone(),
        engine: job.engine.clone(),
        mariadb_version: job.mariadb_version.clone(),
        position,
        topology_seq: job.topology_seq,
        started_ms,
        finished_ms: crate::protocol::envelope::now_ms(),
        files: entries,
    };
    job.storage.write_manifest(&manifest)?;
    info!(backup = %manifest.name, files = manifest.files.len(), bytes = manifest.size(), stored = manifest.stored_size(), "backup complete");
    Ok(manifest)
}

/// The GTID position `mariadb-backup` recorded (`<binlog file> <offset> <gtid>`).
fn binlog_position(target: &Path) -> Result<String, String> {
    for f in ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"] {
        if let Ok(text) = std::fs::read_to_string(target.join(f)) {
            return Ok(text.split_whitespace().nth(2).unwrap_or_default().to_string());
        }
    }
    Err("mariadb-backup recorded no binlog position (is the server's binlog on?)".into())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Compresses one file into `<dest>/<rel>.zst`, hashing what is stored.
fn store_file(src_root: &Path, dest: &Path, rel: &str) -> Result<FileEntry, String> {
    let src = src_root.join(rel);
    let out_path: PathBuf = dest.join(format!("{rel}.zst"));
    if let Some(parent) = out_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut input = std::fs::File::open(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let file = std::fs::File::create(&out_path).map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
    let mut hashing = HashingWriter { inner: file, hash: Sha256::new(), written: 0 };
    let mut size = 0u64;
    {
        let mut enc = zstd::stream::write::Encoder::new(&mut hashing, 3).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            enc.write_all(&buf[..n]).map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
        }
        enc.finish().map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
    }
    hashing.inner.sync_all().map_err(|e| format!("cannot sync {}: {e}", out_path.display()))?;
    Ok(FileEntry { path: rel.to_string(), size, stored_size: hashing.written, sha256: hex(&hashing.hash.finalize()) })
}

/// SHA-256 of a stored file, hex (what restore compares with the manifest).
pub fn stored_sha256(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_files_round_trip_and_their_checksum_is_of_the_stored_bytes() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("ks")).unwrap();
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        std::fs::write(src.path().join("ks/t.ibd"), &data).unwrap();
        let e = store_file(src.path(), dest.path(), "ks/t.ibd").unwrap();
        assert_eq!(e.size, data.len() as u64);
        let stored = dest.path().join("ks/t.ibd.zst");
        assert_eq!(e.sha256, stored_sha256(&stored).unwrap());
        assert_eq!(e.stored_size, std::fs::metadata(&stored).unwrap().len());
        let back = zstd::stream::decode_all(std::fs::File::open(&stored).unwrap()).unwrap();
        assert_eq!(back, data);
        std::fs::write(src.path().join("mariadb_backup_binlog_info"), "mysql-bin.000001\t1377\t0-200-3\n").unwrap();
        assert_eq!(binlog_position(src.path()).unwrap(), "0-200-3");
    }
}
