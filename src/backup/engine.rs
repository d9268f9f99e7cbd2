//! The `mariabackup` engine: `mariadb-backup --backup` copies the tablet's files while it keeps
//! serving; each file is then compressed and checksummed into the storage, in `concurrency`
//! parallel workers, and the manifest is written last.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::info;

use super::{backup_name, BackupKey, BackupStorage, FileEntry, Manifest, Progress, ProgressSink, SharedStorage};

/// One backup to take of a tablet's MariaDB.
#[derive(Debug, Clone)]
pub struct BackupJob {
    pub storage: SharedStorage,
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
    /// Where to report how far the copy is.
    pub progress: Option<ProgressSink>,
}

/// Takes a backup with the `mariabackup` engine, online; its manifest once complete. A failure
/// leaves at most a partial backup (no manifest), never one listed as complete.
pub async fn take(job: BackupJob) -> Result<Manifest, String> {
    if job.engine != "mariabackup" {
        return Err(format!(
            "backup engine `{}` runs through the tablet (it stops mysqld): use mariabackup or builtin",
            job.engine
        ));
    }
    let bin = crate::mysqld::find_binary(&["mariadb-backup", "mariabackup"])
        .ok_or_else(|| "mariadb-backup not found (apt-get install mariadb-backup)".to_string())?;
    let run = Run::begin(&job)?;
    let result = async {
        let target = mariabackup_copy(&bin, &job, &run.scratch).await?;
        let position = binlog_position(&target)?;
        let files = list_files(&target)?;
        let files = store_all(&job, &run.key, &target, files, &run.scratch.join("staged")).await?;
        run.finish(&job, files, position).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&run.scratch);
    result
}

/// Stores `files` (paths under `dir`) as a backup at `position`: the `builtin` engine's copy of a
/// stopped server's data directory, or the `binlog` engine's closed binary logs.
pub async fn take_files(job: BackupJob, dir: &Path, files: Vec<String>, position: String) -> Result<Manifest, String> {
    let run = Run::begin(&job)?;
    let result = async {
        let files = store_all(&job, &run.key, dir, files, &run.scratch.join("staged")).await?;
        run.finish(&job, files, position).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&run.scratch);
    result
}

/// Every file under `dir` a backup of it holds (relative paths).
pub fn list_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    Ok(files)
}

/// The `builtin` engine's copy: every file of a cleanly stopped mysqld's data directory, at
/// `position` (what the tablet had applied when it stopped).
pub async fn take_stopped(job: BackupJob, data_dir: &Path, position: String) -> Result<Manifest, String> {
    let files = list_files(data_dir)?;
    take_files(job, data_dir, files, position).await
}

/// One backup being taken: its key and local staging directory.
struct Run {
    key: BackupKey,
    scratch: PathBuf,
    started_ms: u64,
}

impl Run {
    fn begin(job: &BackupJob) -> Result<Run, String> {
        let started_ms = crate::protocol::envelope::now_ms();
        let name = backup_name(started_ms, &job.alias);
        let key = BackupKey::new(&job.keyspace, &job.shard, &name)?;
        let scratch = job.storage.scratch().join(format!("backup.{}.{}.{name}", job.keyspace, job.shard));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        Ok(Run { key, scratch, started_ms })
    }

    /// Writes the manifest, last.
    async fn finish(&self, job: &BackupJob, files: Vec<FileEntry>, position: String) -> Result<Manifest, String> {
        let manifest = Manifest {
            name: self.key.name.clone(),
            keyspace: job.keyspace.clone(),
            shard: job.shard.clone(),
            tablet_alias: job.alias.clone(),
            engine: job.engine.clone(),
            mariadb_version: job.mariadb_version.clone(),
            position,
            topology_seq: job.topology_seq,
            started_ms: self.started_ms,
            finished_ms: crate::protocol::envelope::now_ms(),
            files,
        };
        job.storage.write_manifest(&manifest).await?;
        info!(backup = %manifest.name, engine = %manifest.engine, files = manifest.files.len(), bytes = manifest.size(), stored = manifest.stored_size(), "backup complete");
        Ok(manifest)
    }
}

/// `mariadb-backup --backup` into `<scratch>/files`.
async fn mariabackup_copy(bin: &Path, job: &BackupJob, scratch: &Path) -> Result<PathBuf, String> {
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
    Ok(target)
}

/// Compresses `files` (under `src`) into `staged` and stores them, `concurrency` files at a
/// time; the entries for the manifest, sorted by path.
async fn store_all(
    job: &BackupJob,
    key: &BackupKey,
    src: &Path,
    files: Vec<String>,
    staged: &Path,
) -> Result<Vec<FileEntry>, String> {
    use futures::StreamExt;
    let started = std::time::Instant::now();
    let mut progress = Progress {
        alias: job.alias.clone(),
        keyspace: job.keyspace.clone(),
        shard: job.shard.clone(),
        phase: "storing".into(),
        files_total: files.len() as u64,
        bytes_total: files.iter().filter_map(|f| std::fs::metadata(src.join(f)).ok()).map(|m| m.len()).sum(),
        ..Default::default()
    };
    let report = |p: &mut Progress| {
        if let Some(sink) = &job.progress {
            p.elapsed_ms = started.elapsed().as_millis() as u64;
            sink.report(p);
        }
    };
    report(&mut progress);
    let storage = &job.storage;
    let mut stored = futures::stream::iter(files)
        .map(|rel| async move {
            let (src, staged2, rel2) = (src.to_path_buf(), staged.to_path_buf(), rel.clone());
            let (entry, path) = tokio::task::spawn_blocking(move || store_file(&src, &staged2, &rel2))
                .await
                .map_err(|e| format!("a backup worker failed: {e}"))??;
            storage.put(key, &rel, &path).await?;
            if crate::failpoint::armed("backup-slow-store") {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            Ok::<_, String>(entry)
        })
        .buffer_unordered(job.concurrency.clamp(1, 16));
    let mut entries = Vec::new();
    while let Some(entry) = stored.next().await {
        let entry = entry?;
        progress.files_done += 1;
        progress.bytes_done += entry.size;
        report(&mut progress);
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
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

/// Files a stopped server recreates and a backup leaves out: the temporary tablespace, pid
/// files and sockets.
fn skipped(name: &str) -> bool {
    name == "ibtmp1" || name.ends_with(".pid") || name.ends_with(".sock")
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if skipped(&entry.file_name().to_string_lossy()) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Compresses one file into `<dest>/<rel>.zst`, hashing what is stored; its entry and path.
fn store_file(src_root: &Path, dest: &Path, rel: &str) -> Result<(FileEntry, PathBuf), String> {
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
    let entry =
        FileEntry { path: rel.to_string(), size, stored_size: hashing.written, sha256: hex(&hashing.hash.finalize()) };
    Ok((entry, out_path))
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
        let (e, stored) = store_file(src.path(), dest.path(), "ks/t.ibd").unwrap();
        assert_eq!(e.size, data.len() as u64);
        assert_eq!(stored, dest.path().join("ks/t.ibd.zst"));
        assert_eq!(e.sha256, stored_sha256(&stored).unwrap());
        assert_eq!(e.stored_size, std::fs::metadata(&stored).unwrap().len());
        let back = zstd::stream::decode_all(std::fs::File::open(&stored).unwrap()).unwrap();
        assert_eq!(back, data);
        std::fs::write(src.path().join("mariadb_backup_binlog_info"), "mysql-bin.000001\t1377\t0-200-3\n").unwrap();
        assert_eq!(binlog_position(src.path()).unwrap(), "0-200-3");
    }
}
