//! Managing a MariaDB server process for a tablet: data dir from the template, generated
//! `my.cnf`, start, stop, and finding one that is already running.

mod cnf;
mod template;
pub mod users;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub use cnf::{render as render_cnf, CnfParams};
pub use template::{ensure_template, is_root, BOOTSTRAP_SQL};

/// Errors of managing mysqld.
#[derive(Debug, thiserror::Error)]
pub enum MysqldError {
    #[error("{what} {path}: {source}")]
    Io { what: String, path: String, source: std::io::Error },
    #[error("{0} not found")]
    Missing(String),
    #[error("initialising MariaDB failed: {0}")]
    Init(String),
    #[error("mysqld on port {port} did not accept connections within {secs}s; see {log}")]
    NotReady { port: u16, secs: u64, log: String },
    #[error("mysqld on port {port} exited while starting ({status}): {reason}; see {log}")]
    Exited { port: u16, status: String, reason: String, log: String },
}

impl MysqldError {
    fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        MysqldError::Io { what: what.to_string(), path: path.display().to_string(), source }
    }
}

/// Finds an executable in PATH, /usr/sbin or /usr/bin.
/// The version a managed server reports: its own, marked as tessera's (`None` when
/// `mariadbd --version` says nothing usable; the server keeps its own string then).
async fn server_version() -> Option<String> {
    let bin = find_binary(&["mariadbd", "mysqld"])?;
    let out = tokio::process::Command::new(bin).arg("--version").output().await.ok()?;
    cnf::tessera_version(&String::from_utf8_lossy(&out.stdout))
}

pub fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in path.split(':').chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin"]) {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// One managed mysqld: its directory (data/, binlog/, relay/, my.cnf, socket, pid, error log).
#[derive(Debug, Clone)]
pub struct Mysqld {
    pub dir: PathBuf,
    pub port: u16,
    pub server_id: u32,
    pub buffer_pool_mb: u32,
}

impl Mysqld {
    pub fn new(dir: PathBuf, port: u16, server_id: u32) -> Self {
        Mysqld { dir, port, server_id, buffer_pool_mb: 32 }
    }

    pub fn cnf_path(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }

    pub fn pid_path(&self) -> PathBuf {
        self.dir.join("mysqld.pid")
    }

    pub fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// Copies the template into `data/` on first use and (re)writes `my.cnf`.
    pub async fn prepare(&self, template: &Path) -> Result<(), MysqldError> {
        let data = self.dir.join("data");
        if !data.join("mysql").exists() {
            let tmp = self.dir.join("data.tmp");
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            copy_dir(template, &tmp).map_err(|e| MysqldError::io("copying the template to", &tmp, e))?;
            let _ = tokio::fs::remove_file(tmp.join(".tessera-template-ready")).await;
            let _ = tokio::fs::remove_dir_all(&data).await;
            tokio::fs::rename(&tmp, &data).await.map_err(|e| MysqldError::io("moving data dir into", &data, e))?;
        }
        for sub in ["binlog", "relay"] {
            let p = self.dir.join(sub);
            tokio::fs::create_dir_all(&p).await.map_err(|e| MysqldError::io("creating", &p, e))?;
        }
        let version = server_version().await;
        let cnf = render_cnf(&CnfParams {
            dir: &self.dir,
            port: self.port,
            server_id: self.server_id,
            buffer_pool_mb: self.buffer_pool_mb,
            user: is_root().then_some("root"),
            version: version.as_deref(),
        });
        tokio::fs::write(self.cnf_path(), cnf).await.map_err(|e| MysqldError::io("writing", &self.cnf_path(), e))
    }

    /// Starts mysqld. The child is not killed when dropped: a node that crashes leaves its
    /// mysqlds running, and the restarted node adopts them ([`Mysqld::running_pid`]).
    pub fn spawn(&self) -> Result<tokio::process::Child, MysqldError> {
        let bin = find_binary(&["mariadbd", "mysqld"])
            .ok_or_else(|| MysqldError::Missing("mariadbd (apt-get install mariadb-server)".into()))?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mysqld.out"))
            .map_err(|e| MysqldError::io("opening", &self.dir.join("mysqld.out"), e))?;
        let err = out.try_clone().map_err(|e| MysqldError::io("opening", &self.dir, e))?;
        tokio::process::Command::new(bin)
            .arg(format!("--defaults-file={}", self.cnf_path().display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| MysqldError::io("starting mariadbd for", &self.dir, e))
    }

    /// The pid of a mysqld already running on this directory, if any.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_path()).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cnf = self.cnf_path().display().to_string();
        let matches = String::from_utf8_lossy(&cmdline).contains(&cnf);
        (matches && !is_zombie(pid)).then_some(pid)
    }

    /// Waits until the server accepts a connection and answers. With the `child` it was just
    /// started as, a server that exits instead (its port taken, its data unreadable) is
    /// reported at once, with the error it logged, rather than after `timeout`.
    pub async fn wait_ready(
        &self,
        mut child: Option<&mut tokio::process::Child>,
        timeout: Duration,
    ) -> Result<(), MysqldError> {
        let start = Instant::now();
        loop {
            if self.ping().await {
                return Ok(());
            }
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(MysqldError::Exited {
                    port: self.port,
                    status: status.to_string(),
                    reason: last_error_line(&self.error_log()).unwrap_or_else(|| "no error logged".into()),
                    log: self.error_log().display().to_string(),
                });
            }
            if start.elapsed() > timeout {
                return Err(MysqldError::NotReady {
                    port: self.port,
                    secs: timeout.as_secs(),
                    log: self.error_log().display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn ping(&self) -> bool {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("root"))
            .pass(Some(""));
        match tokio::time::timeout(Duration::from_secs(2), mysql_async::Conn::new(opts)).await {
            Ok(Ok(conn)) => {
                let _ = conn.disconnect().await;
                true
            }
            // Refusing root (a secured server: access denied) is answering: the server is up.
            Ok(Err(mysql_async::Error::Server(e))) => e.code == 1045,
            _ => false,
        }
    }

    /// Stops the server (SIGTERM, SIGKILL after `timeout`) and waits for it to exit.
    pub async fn stop(&self, timeout: Duration) {
        let Some(pid) = self.running_pid() else { return };
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while pid_alive(pid) {
            if start.elapsed() > timeout {
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The first `[ERROR]` line of the server's last start in its error log ("Can't start server:
/// Bind on TCP/IP port. Got error: 98: Address already in use"), without its timestamp.
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let tail = text.rsplit_once("Starting MariaDB").map_or(text.as_str(), |(_, t)| t);
    let line = tail.lines().find(|l| l.contains("[ERROR]"))?;
    Some(line.split_once("[ERROR]").map_or(line, |(_, m)| m).trim().to_string())
}

/// True while `pid` is a live (non-zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) == 0 };
    exists && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
