//! The local cluster's NATS: one nats-server, or `--nats-cluster N` servers routed into one
//! JetStream cluster, each with its pid file, log, config (0600: it holds the role passwords)
//! and store under the home; or a server already listening that takes the home's credentials.
//!
//! Server `i` (from 0) listens on `port + i` for clients, `port + 2000 + i` for routes and
//! `port + 4000 + i` for monitoring (4222, 6222, 8222 by default, as NATS's own conventions).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::local_auth::{write_private, LocalCredentials};
use super::up::{alive_pid, append_log, port_open, wait_until};
use crate::nats_roles::Role;

/// The nats-server binary: `$TESSERA_NATS_SERVER`, else `nats-server` on the PATH.
pub fn binary() -> String {
    std::env::var("TESSERA_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

/// What `up` ended up with: the client URLs (comma-separated), the monitoring URLs, and a
/// line per server for its report.
pub struct LocalNats {
    pub urls: String,
    pub monitors: String,
    pub lines: Vec<String>,
}

/// The files of server `i`: `nats` for the first (as before clusters), `nats-2`, ... after.
fn name(i: usize) -> String {
    if i == 0 {
        "nats".into()
    } else {
        format!("nats-{}", i + 1)
    }
}

pub fn pid_file(home: &Path, i: usize) -> PathBuf {
    home.join(format!("{}.pid", name(i)))
}

/// Every NATS pid file under `home` (for `down`).
pub fn pid_files(home: &Path) -> Vec<PathBuf> {
    (0..16).map(|i| pid_file(home, i)).filter(|p| p.exists()).collect()
}

pub async fn ensure(home: &Path, port: u16, servers: usize, creds: &LocalCredentials) -> anyhow::Result<LocalNats> {
    let servers = servers.max(1);
    let urls: Vec<String> = (0..servers).map(|i| format!("nats://127.0.0.1:{}", port + i as u16)).collect();
    let monitors: Vec<String> = (0..servers).map(|i| format!("http://127.0.0.1:{}", port + 4000 + i as u16)).collect();
    let mut lines = Vec::new();
    let mut started = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let addr: SocketAddr = ([127, 0, 0, 1], port + i as u16).into();
        if let Some(pid) = alive_pid(&pid_file(home, i), "nats-server") {
            lines.push(format!("NATS      {url} (already running, pid {pid})"));
        } else if port_open(addr) {
            // Someone else's server: go on only if it takes this home's credentials (a server
            // without authorization takes any), else stop before a node retries forever.
            crate::nats::connect_once(url, "tessera-up", &creds.of(Role::Admin), Role::Admin).await.map_err(|e| {
                anyhow::anyhow!(
                    "a NATS server that `up` did not start listens on port {} and refuses the credentials of {} \
                     (another tessera home's? use another --nats-port, or that home): {e}",
                    addr.port(),
                    home.display()
                )
            })?;
            lines.push(format!("NATS      {url} (reusing a server that `up` did not start)"));
        } else {
            let pid = start(home, i, port, servers, &creds.authorization())?;
            started.push((i, addr, pid));
        }
    }
    for (i, addr, pid) in started {
        wait_until(Duration::from_secs(15), || port_open(addr)).map_err(|_| {
            anyhow::anyhow!(
                "nats-server did not open port {}; see {}",
                addr.port(),
                home.join(format!("{}.log", name(i))).display()
            )
        })?;
        let store = home.join(name(i));
        lines.push(format!("NATS      {} (started, pid {pid}, JetStream store {})", urls[i], store.display()));
    }
    lines.sort();
    Ok(LocalNats { urls: urls.join(","), monitors: monitors.join(","), lines })
}

fn start(home: &Path, i: usize, port: u16, servers: usize, authorization: &str) -> anyhow::Result<u32> {
    let store = home.join(name(i));
    std::fs::create_dir_all(&store)?;
    let log = append_log(&home.join(format!("{}.log", name(i))), "nats-server")?;
    let bin = binary();
    // Every acknowledged write on disk before the ack (NATS 2.10+; 2.9 has no such setting and
    // the node warns about it): a power failure loses nothing acknowledged.
    let sync = if version_at_least(&bin, 2, 10) { "\n  sync_interval: always" } else { "" };
    let cluster = if servers > 1 {
        let routes: Vec<String> =
            (0..servers).map(|j| format!("nats-route://127.0.0.1:{}", port + 2000 + j as u16)).collect();
        format!(
            "server_name: n{}\ncluster {{\n  name: tessera-local\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
            i + 1,
            port + 2000 + i as u16,
            routes.join(", ")
        )
    } else {
        String::new()
    };
    // Messages up to 8 MiB (NATS's recommended ceiling; the default is 1 MiB): statements and
    // result parts larger than that still travel, in chunks (`tessera::bulk`). A client that
    // answers no ping for 3 x 2 s (a hung node) is dropped, so the queue groups it was in (admin
    // commands, tablet targets) stop sending it requests that would never be answered (the
    // default, 2 minutes x 2, would blackhole them for 4 minutes).
    let text = format!(
        "# Written by `tessera up`.\nlisten: \"127.0.0.1:{}\"\nhttp: \"127.0.0.1:{}\"\nmax_payload: 8MB\n\
         ping_interval: \"2s\"\nping_max: 3\n{cluster}\
         jetstream {{\n  store_dir: {:?}{sync}\n}}\n{authorization}",
        port + i as u16,
        port + 4000 + i as u16,
        store.display().to_string()
    );
    // Holds the passwords: owner-only, like the credentials files.
    let conf = home.join(format!("{}.conf", name(i)));
    write_private(&conf, &text)?;
    let mut cmd = Command::new(&bin);
    cmd.arg("-c").arg(&conf);
    if std::env::var_os("GOMAXPROCS").is_none() {
        // NATS shares this machine with MariaDB and the nodes; Go's idle threads spinning for
        // work on every core cost CPU they need (docs/PERFORMANCE.md).
        cmd.env("GOMAXPROCS", super::up::nats_procs().to_string());
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {bin}: {e} (install it: apt-get install nats-server)"))?;
    std::fs::write(pid_file(home, i), child.id().to_string())?;
    Ok(child.id())
}

/// Whether `nats-server --version` (`nats-server: v2.10.4`) is at least `major.minor`.
fn version_at_least(bin: &str, major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new(bin).arg("--version").output() else { return false };
    parse_version(&String::from_utf8_lossy(&out.stdout)).is_some_and(|v| v >= (major, minor))
}

pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.rsplit('v').next()?.trim();
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse_version("nats-server: v2.9.10\n"), Some((2, 9)));
        assert_eq!(super::parse_version("nats-server: v2.15.1"), Some((2, 15)));
        assert_eq!(super::parse_version("garbage"), None);
    }
}
