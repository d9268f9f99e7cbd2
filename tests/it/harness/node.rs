//! `tessera node` and `tessera ctl` as real processes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");

pub struct NodeProc {
    child: Option<Child>,
    pub id: String,
    pub http: SocketAddr,
    dir: TempDir,
    nats_url: String,
    extra: Vec<String>,
}

impl NodeProc {
    /// Starts a node with fast heartbeats (200 ms; lost after 1.5 s) and waits until healthy.
    pub fn start(nats_url: &str, id: &str) -> Self {
        Self::start_with(nats_url, id, &[])
    }

    /// Like [`NodeProc::start`], with extra `tessera node` arguments (tablets, a config file).
    /// Managed tablets keep their data in the node's temp dir and share one MariaDB template.
    pub fn start_with(nats_url: &str, id: &str, extra: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let http: SocketAddr = ([127, 0, 0, 1], super::free_port()).into();
        let child = spawn(nats_url, id, http, dir.path(), extra);
        let node = NodeProc {
            child: Some(child),
            id: id.to_string(),
            http,
            dir,
            nats_url: nats_url.into(),
            extra: extra.to_vec(),
        };
        node.wait_healthy(Duration::from_secs(30));
        node
    }

    /// Starts the node again after `kill9`/`terminate`, with the same data dir and arguments
    /// (its managed mysqlds, if still running, are adopted).
    pub fn restart(&mut self) {
        assert!(!self.running(), "restart of a running node");
        self.child = Some(spawn(&self.nats_url, &self.id, self.http, self.dir.path(), &self.extra));
        self.wait_healthy(Duration::from_secs(60));
    }
}

fn spawn(nats_url: &str, id: &str, http: SocketAddr, dir: &std::path::Path, extra: &[String]) -> Child {
    {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("node.log")).expect("log");
        let child = Command::new(BIN)
            .args(["node", "--nats", nats_url, "--cell", "zone1", "--id", id, "--http", &http.to_string()])
            .args(["--heartbeat-ms", "200", "--lost-after-ms", "1500"])
            // Automatic failover only where a test asks for it (`--failover on`).
            .args(if extra.iter().any(|a| a == "--failover") { &[][..] } else { &["--failover", "off"][..] })
            .arg("--data-dir")
            .arg(dir.join("tablets"))
            .arg("--mysql-template")
            .arg(template_dir())
            .args(extra.iter().filter(|a| !a.starts_with("--failpoints=")))
            .env("RUST_LOG", "info")
            // Failpoints a test arms for itself (see `tessera::failpoint`).
            .env("TESSERA_FAILPOINTS", failpoints_for(extra))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tessera node");
        child
    }
}

impl NodeProc {
    /// Data directory of a managed tablet of this node.
    pub fn tablet_dir(&self, alias: &str) -> PathBuf {
        self.dir.path().join("tablets").join(alias)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn wait_healthy(&self, timeout: Duration) {
        let start = Instant::now();
        while http_get(self.http, "/healthz").map(|(code, _)| code) != Some(200) {
            assert!(start.elapsed() < timeout, "node {} not healthy in {timeout:?}; log:\n{}", self.id, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the process, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid().unwrap_or(0))).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.sigterm();
        self.wait_exit(Duration::from_secs(15))
    }

    /// Sends SIGTERM, without waiting.
    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }

    /// Waits up to `timeout` for the node to exit (then kills it); returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if start.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // A clean stop lets the node stop its mysqlds; whatever survives is killed.
        if self.running() {
            self.terminate();
        }
        kill_mysqlds_under(self.dir.path());
    }
}

/// A node armed with failpoints gets them through a `--failpoints=<list>` pseudo-argument in
/// `extra` (removed before the node sees its arguments).
fn failpoints_for(extra: &[String]) -> String {
    extra.iter().find_map(|a| a.strip_prefix("--failpoints=")).unwrap_or("").to_string()
}

/// The MariaDB template shared by every test of this run (built once, by whoever comes first).
pub fn template_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mariadb-template")
}

/// Kills every mariadbd whose command line names a path under `dir`.
pub fn kill_mysqlds_under(dir: &std::path::Path) {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("mariadbd") && cmd.contains(&needle) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Runs `tessera ctl --nats <url> <args>`.
pub fn ctl(nats_url: &str, args: &[&str]) -> Output {
    Command::new(BIN).args(["ctl", "--nats", nats_url]).args(args).output().expect("run tessera ctl")
}

/// Runs ctl and asserts success; returns stdout.
pub fn ctl_ok(nats_url: &str, args: &[&str]) -> String {
    let out = ctl(nats_url, args);
    assert!(
        out.status.success(),
        "ctl {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs ctl and asserts failure; returns stderr.
pub fn ctl_err(nats_url: &str, args: &[&str]) -> String {
    let out = ctl(nats_url, args);
    assert!(!out.status.success(), "ctl {args:?} unexpectedly succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A minimal HTTP/1.0 GET: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}
