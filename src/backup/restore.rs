//! Restoring a backup into a managed tablet's MariaDB: verify every checksum first, then
//! unpack into a scratch directory, `mariadb-backup --prepare`, stop mysqld, replace its data
//! (and its binlogs and relay logs, which belong to the replaced data), `--move-back`. The
//! tablet then starts mysqld again and replicates from the backup's position.

use std::path::Path;

use tracing::info;

use super::{fetch_verified, BackupStorage, Manifest, Progress, ProgressSink, SharedStorage};
use crate::mysqld::Mysqld;

/// The newest complete backup of a shard, or the one named.
pub async fn choose(
    storage: &SharedStorage,
    keyspace: &str,
    shard: &str,
    name: Option<&str>,
) -> Result<Manifest, String> {
    let backups = storage.list(keyspace, shard).await?;
    let found = match name {
        Some(n) => {
            backups.into_iter().find(|b| b.name == n).ok_or_else(|| format!("no backup `{n}` of {keyspace}/{shard}"))?
        }
        None => backups
            .into_iter()
            .find(|b| b.manifest.as_ref().is_some_and(is_full))
            .ok_or_else(|| format!("no complete full backup of {keyspace}/{shard} (GetBackups lists them)"))?,
    };
    let m = found
        .manifest
        .ok_or_else(|| format!("backup `{}` of {keyspace}/{shard} is partial (no manifest)", found.name))?;
    if !is_full(&m) {
        return Err(format!(
            "backup `{}` holds binlogs only: restore a full backup, or use --restore-to-time/--restore-to-pos",
            m.name
        ));
    }
    Ok(m)
}

/// A backup of the data (not an incremental one of binlogs).
pub fn is_full(m: &Manifest) -> bool {
    m.engine != super::pitr::BINLOG_ENGINE
}

/// How a restore failed: before the tablet's data was touched (it is as it was), or after
/// (what is there is incomplete and must not be served).
#[derive(Debug)]
pub enum RestoreError {
    Untouched(String),
    DataLost(String),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::Untouched(e) => write!(f, "{e} (the tablet's data is untouched)"),
            RestoreError::DataLost(e) => write!(f, "{e} (the tablet's old data is gone: restore it again)"),
        }
    }
}

/// Replaces `mysqld`'s data with the backup's. mysqld is stopped on the way and left stopped.
pub async fn restore(
    storage: &SharedStorage,
    m: &Manifest,
    mysqld: &Mysqld,
    progress: Option<(&ProgressSink, Progress)>,
) -> Result<(), RestoreError> {
    let target = mysqld.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let scratch = storage.scratch().join(format!("restore.{target}.{}", m.name));
    let _ = std::fs::remove_dir_all(&scratch);
    let res = prepare_and_swap(storage, m, mysqld, &scratch, progress).await;
    let _ = std::fs::remove_dir_all(&scratch);
    res
}

async fn prepare_and_swap(
    storage: &SharedStorage,
    m: &Manifest,
    mysqld: &Mysqld,
    scratch: &Path,
    progress: Option<(&ProgressSink, Progress)>,
) -> Result<(), RestoreError> {
    use RestoreError::{DataLost, Untouched};
    let builtin = match m.engine.as_str() {
        "builtin" => true,
        "mariabackup" => false,
        other => return Err(Untouched(format!("backup {} was taken by an unknown engine `{other}`", m.name))),
    };
    let bin = match builtin {
        true => None,
        false => Some(
            crate::mysqld::find_binary(&["mariadb-backup", "mariabackup"])
                .ok_or_else(|| Untouched("mariadb-backup not found (apt-get install mariadb-backup)".to_string()))?,
        ),
    };
    let stored = fetch_verified(storage, m, &scratch.join("stored"), progress).await.map_err(Untouched)?;
    let files = scratch.join("files");
    let (list, files2) = (m.files.clone(), files.clone());
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        for (f, from) in list.iter().zip(stored) {
            let to = files2.join(&f.path);
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
            }
            let input = std::fs::File::open(&from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
            let mut out = std::fs::File::create(&to).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
            zstd::stream::copy_decode(input, &mut out).map_err(|e| format!("cannot unpack {}: {e}", from.display()))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Untouched(e.to_string()))?
    .map_err(Untouched)?;
    if let Some(bin) = &bin {
        run(bin, &["--prepare".to_string(), format!("--target-dir={}", files.display())]).await.map_err(Untouched)?;
    }
    // The source's replication settings are not the restored tablet's: it replicates from the
    // shard's primary as told (or not at all: a point-in-time copy).
    for entry in std::fs::read_dir(&files).map_err(|e| Untouched(format!("cannot list {}: {e}", files.display())))? {
        let name = entry.map_err(|e| Untouched(e.to_string()))?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".info") && (name.contains("master") || name.starts_with("relay-log")) {
            let _ = std::fs::remove_file(files.join(&name));
        }
    }
    mysqld.stop(std::time::Duration::from_secs(60)).await;
    // Until the new data is complete, a marker says the tablet must not serve (it survives a
    // crash of the node: the tablet checks it before serving).
    let marker = incomplete_marker(&mysqld.dir);
    std::fs::write(&marker, format!("restoring backup {}\n", m.name))
        .map_err(|e| Untouched(format!("cannot write {}: {e}", marker.display())))?;
    for sub in ["data", "binlog", "relay"] {
        let d = mysqld.dir.join(sub);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| DataLost(format!("cannot create {}: {e}", d.display())))?;
    }
    match &bin {
        Some(bin) => run(
            bin,
            &[
                format!("--defaults-file={}", mysqld.cnf_path().display()),
                "--move-back".into(),
                format!("--target-dir={}", files.display()),
            ],
        )
        .await
        .map_err(DataLost)?,
        // A builtin backup is the data directory of a cleanly stopped server, as it was.
        None => move_tree(&files, &mysqld.dir.join("data")).map_err(DataLost)?,
    }
    std::fs::remove_file(&marker).map_err(|e| DataLost(format!("cannot remove {}: {e}", marker.display())))?;
    info!(backup = %m.name, dir = %mysqld.dir.display(), "backup restored");
    Ok(())
}

/// Moves every file under `from` to the same place under `to` (one file system: the scratch
/// directory is beside the data; a copy otherwise).
fn move_tree(from: &Path, to: &Path) -> Result<(), String> {
    for entry in std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            std::fs::create_dir_all(&dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
            move_tree(&src, &dst)?;
        } else if std::fs::rename(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
        }
    }
    Ok(())
}

/// The file that marks a tablet's data as incomplete (a restore did not finish).
pub fn incomplete_marker(mysqld_dir: &Path) -> std::path::PathBuf {
    mysqld_dir.join("RESTORE_INCOMPLETE")
}

async fn run(bin: &Path, args: &[String]) -> Result<(), String> {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    Err(format!(
        "mariadb-backup {} failed ({}): {}",
        args.first().map(String::as_str).unwrap_or_default(),
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
}
