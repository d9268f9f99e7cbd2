//! A data directory initialised once and copied for every managed tablet: `mariadb-install-db`
//! takes about a second, a copy a few milliseconds.
//!
//! The template is bootstrapped without a binlog, so every tablet starts from the same empty
//! GTID state, with the sidecar database `_tessera` and the users tessera needs already there.
//! Several processes may ask for the same template at once: one builds it in a temporary
//! directory under a lock directory and renames it into place; the others wait.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tracing::info;

use super::{find_binary, MysqldError};

/// Statements run in bootstrap mode (no binlog) on the template.
pub const BOOTSTRAP_SQL: &str = "
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS _tessera;
CREATE TABLE IF NOT EXISTS _tessera.reparent_journal (
  time_ms BIGINT NOT NULL,
  action VARCHAR(64) NOT NULL,
  primary_alias VARCHAR(64) NOT NULL,
  position VARCHAR(4096) NOT NULL,
  PRIMARY KEY (time_ms, action)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS _tessera.local_metadata (
  name VARCHAR(255) NOT NULL,
  value VARCHAR(4096) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB;
";

const READY: &str = ".tessera-template-ready";
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Makes sure an initialised data directory exists at `template`; returns its path.
pub async fn ensure_template(template: &Path) -> Result<PathBuf, MysqldError> {
    if template.join(READY).exists() {
        return Ok(template.to_path_buf());
    }
    let parent = template.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent).await.map_err(|e| MysqldError::io("creating the template parent", parent, e))?;
    let lock = template.with_extension("lock");
    let start = Instant::now();
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if template.join(READY).exists() {
                    return Ok(template.to_path_buf());
                }
                if start.elapsed() > BUILD_TIMEOUT {
                    // The builder died holding the lock: take it over.
                    let _ = std::fs::remove_dir(&lock);
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(MysqldError::io("creating the template lock", &lock, e)),
        }
    }
    let result = build(template).await;
    let _ = std::fs::remove_dir(&lock);
    result.map(|()| template.to_path_buf())
}

async fn build(template: &Path) -> Result<(), MysqldError> {
    if template.join(READY).exists() {
        return Ok(());
    }
    let tmp = template.with_extension(format!("tmp-{}", std::process::id()));
    let _ = tokio::fs::remove_dir_all(&tmp).await;
    let install = find_binary(&["mariadb-install-db", "mysql_install_db"])
        .ok_or_else(|| MysqldError::Missing("mariadb-install-db (apt-get install mariadb-server)".into()))?;
    let mariadbd = find_binary(&["mariadbd", "mysqld"])
        .ok_or_else(|| MysqldError::Missing("mariadbd (apt-get install mariadb-server)".into()))?;
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&install);
    cmd.arg("--no-defaults").arg(format!("--datadir={}", tmp.display())).args([
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--innodb-log-file-size=16M",
    ]);
    if is_root() {
        cmd.arg("--user=root");
    }
    run(cmd, None).await.map_err(|e| MysqldError::Init(format!("mariadb-install-db: {e}")))?;

    let mut boot = tokio::process::Command::new(&mariadbd);
    boot.arg("--no-defaults").arg(format!("--datadir={}", tmp.display())).args([
        "--bootstrap",
        "--skip-log-bin",
        "--innodb-log-file-size=16M",
    ]);
    if is_root() {
        boot.arg("--user=root");
    }
    run(boot, Some(BOOTSTRAP_SQL)).await.map_err(|e| MysqldError::Init(format!("bootstrapping the template: {e}")))?;
    tokio::fs::write(tmp.join(READY), b"").await.map_err(|e| MysqldError::io("marking the template", &tmp, e))?;
    let _ = tokio::fs::remove_dir_all(template).await;
    tokio::fs::rename(&tmp, template)
        .await
        .map_err(|e| MysqldError::io("moving the template into place", template, e))?;
    info!(template = %template.display(), elapsed_ms = started.elapsed().as_millis() as u64, "MariaDB template data dir ready");
    Ok(())
}

async fn run(mut cmd: tokio::process::Command, stdin: Option<&str>) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).await.map_err(|e| e.to_string())?;
        drop(pipe);
    }
    let out = tokio::time::timeout(BUILD_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        Err(format!("exit {:?}: {}", out.status.code(), tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
    }
}

/// True when this process runs as root (mysqld then needs `--user=root`).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
