//! `tessera up` / `tessera down`: the local development cluster.
//!
//! `up` starts a nats-server with JetStream (or reuses one already listening on the port) and
//! one node, each as a detached process whose pid is kept in the state directory; running it
//! again finds them alive and starts nothing, and never re-applies the example over what the
//! user changed. Logs are appended to, never truncated. `down` stops only what `up` started:
//! the node, NATS, and the node's MariaDB servers even when the node itself died.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::AdminClient;
use crate::nats_roles::Role;
use crate::protocol::admin::{AdminRequest, ErrorCode};

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// State directory: NATS data, logs, pid files.
    #[arg(long, env = "TESSERA_HOME", default_value = DEFAULT_HOME)]
    pub home: PathBuf,
    /// NATS client port on 127.0.0.1 (with --nats-cluster N: this one and the next N-1;
    /// routes on +2000, monitoring on +4000).
    #[arg(long, default_value_t = 4222)]
    pub nats_port: u16,
    /// Run N nats-servers as one JetStream cluster (3 to try losing one); streams then keep
    /// three copies.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
    pub nats_cluster: u16,
    /// HTTP status port of the node on 127.0.0.1.
    #[arg(long, default_value_t = 15000)]
    pub http_port: u16,
    /// Cell of the local node.
    #[arg(long, default_value = "zone1")]
    pub cell: String,
    /// MariaDB ports of the example tablets: this one and the next six.
    #[arg(long, default_value_t = 17100)]
    pub mysql_base_port: u16,
    /// MySQL port of the gateway on 127.0.0.1.
    #[arg(long, default_value_t = 15306)]
    pub gateway_port: u16,
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// State directory used by `tessera up`.
    #[arg(long, env = "TESSERA_HOME", default_value = DEFAULT_HOME)]
    pub home: PathBuf,
}

/// The home `up`, `down`, `ctl` and `events` use without `--home` or `TESSERA_HOME`.
pub const DEFAULT_HOME: &str = "./tessera-data";
const NODE_PID: &str = "node.pid";

pub async fn up(args: UpArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.home)
        .map_err(|e| anyhow::anyhow!("cannot create state directory {}: {e}", args.home.display()))?;
    let home = args.home.canonicalize()?;
    let creds = super::local_auth::LocalCredentials::ensure(&home)?;
    let nats = super::up_nats::ensure(&home, args.nats_port, args.nats_cluster as usize, &creds).await?;
    let nats_url = nats.urls.clone();

    let mut args = args;
    let node_id = format!("{}-local", args.cell);
    let running = alive_pid(&home.join(NODE_PID), "tessera");
    if running.is_some() {
        // The running node keeps the ports it was started with: say those, not this call's.
        if let Some((gateway_port, http_port)) = read_ports(&home) {
            if (gateway_port, http_port) != (args.gateway_port, args.http_port) {
                eprintln!(
                    "note: the node already runs with gateway port {gateway_port} and HTTP port {http_port}; \
                     `tessera down` first to change them"
                );
            }
            (args.gateway_port, args.http_port) = (gateway_port, http_port);
        }
    }
    let http_addr: SocketAddr = ([127, 0, 0, 1], args.http_port).into();
    let node_line = if let Some(pid) = running {
        format!("node      {node_id} (already running, pid {pid})")
    } else {
        write_ports(&home, args.gateway_port, args.http_port);
        let tablets: Vec<String> = EXAMPLE_TABLETS
            .iter()
            .enumerate()
            .map(|(i, (uid, target, ttype))| {
                format!("{}-{uid}:{target}:{ttype}:{}", args.cell, args.mysql_base_port + i as u16)
            })
            .collect();
        let gateway: SocketAddr = ([127, 0, 0, 1], args.gateway_port).into();
        let node_auth = creds.of(Role::Node);
        let pid = start_node(
            &home,
            &nats_url,
            &nats.monitors,
            &node_auth,
            &args.cell,
            &node_id,
            http_addr,
            gateway,
            &tablets,
        )?;
        // By pid, not by command line: during its exec the child's command line reads empty.
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        let alive = || unsafe { libc::kill(pid as libc::pid_t, 0) } == 0 && !is_zombie(pid as libc::pid_t);
        // Healthy, and the node answering is the one just started (not another process).
        let ours = || http_body(http_addr, "/debug/status").is_some_and(|b| b.contains(&format!("\"pid\":{pid},")));
        let started = wait_until(Duration::from_secs(60), || (http_ok(http_addr, "/healthz") && ours()) || !alive());
        if started.is_err() || !alive() || !ours() {
            let log = home.join("node.log");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            // The node's own last error says why, else its last lines.
            let tail = match text.lines().rev().find(|l| l.contains(" ERROR ")) {
                Some(e) => e.to_string(),
                None => text.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            };
            let what = if alive() { "did not become healthy within 60s" } else { "exited" };
            anyhow::bail!("the node (pid {pid}) {what}; {}:\n{tail}", log.display());
        }
        format!("node      {node_id} (started, pid {pid})")
    };

    let client = crate::nats::connect_once(&nats_url, "tessera-up", &creds.of(Role::Admin), Role::Admin).await?;
    let admin = AdminClient::new(client, Duration::from_secs(60));
    match admin
        .request(&AdminRequest::AddCellInfo {
            name: args.cell.clone(),
            server_address: nats_url.clone(),
            root: String::new(),
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::AlreadyExists => {}
        Err(e) => anyhow::bail!("cannot register cell {}: {e}", args.cell),
    }
    let tablets = super::example::set_up_commerce(&admin, &args.cell).await?;

    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "tessera".into());
    println!("tessera is up. Connect with:  mariadb -h127.0.0.1 -P{} -uroot", args.gateway_port);
    for line in &nats.lines {
        println!("  {line}");
    }
    println!("  {node_line}");
    println!("  web       http://{http_addr}/  (/healthz, /debug/status, /api/topology, /metrics)");
    println!("  gateway   127.0.0.1:{} (MySQL; --auth none: any user, any password)", args.gateway_port);
    println!("  cell      {}", args.cell);
    println!(
        "  security  NATS requires a user per role (node, gateway, admin, observer); passwords in {} (mode 0600)",
        home.join("credentials").display()
    );
    println!("  state     {} (logs: node.log, nats.log; MariaDB data in tablets/)", home.display());
    println!();
    print!("{tablets}");
    println!();
    println!("Try:");
    let default_home = Path::new(DEFAULT_HOME).canonicalize().ok();
    if default_home.as_deref() != Some(home.as_path()) {
        // ctl and events find the credentials through TESSERA_HOME (or ./tessera-data).
        println!("  export TESSERA_HOME={}", home.display());
    }
    // ctl and events reach nats://127.0.0.1:4222 unless told otherwise.
    let flag = if args.nats_port == 4222 { String::new() } else { format!(" --nats {nats_url}") };
    println!("  {exe} events{flag} &                      # watch cluster events");
    println!("  {exe} ctl{flag} GetTopology");
    println!("  {exe} ctl{flag} FindAllShardsInKeyspace customer");
    println!("  {exe} ctl{flag} CreateKeyspace demo && {exe} ctl{flag} CreateShard demo/-80");
    println!("  {exe} ctl{flag} GetTablets");
    println!("  mariadb -h127.0.0.1 -P{} -uroot customer     # MySQL clients talk to the gateway", args.gateway_port);
    println!("  {exe} ctl --help                    # every admin command");
    println!("  {exe} down                          # stop what `up` started");
    Ok(0)
}

/// The ports a node `up` started listens on, kept beside its pid file.
const PORTS: &str = "ports";

fn write_ports(home: &Path, gateway_port: u16, http_port: u16) {
    let _ = std::fs::write(home.join(PORTS), format!("{gateway_port} {http_port}\n"));
}

fn read_ports(home: &Path) -> Option<(u16, u16)> {
    let text = std::fs::read_to_string(home.join(PORTS)).ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

pub async fn down(args: DownArgs) -> anyhow::Result<i32> {
    let mut stopped_any = false;
    let mut pids = vec![(args.home.join(NODE_PID), "tessera")];
    pids.extend(super::up_nats::pid_files(&args.home).into_iter().map(|p| (p, "nats-server")));
    for (path, name) in pids {
        match alive_pid(&path, name) {
            Some(pid) => {
                stop(pid);
                println!("stopped {name} (pid {pid})");
                stopped_any = true;
            }
            None if path.exists() => println!("{name} was not running"),
            None => {}
        }
        let _ = std::fs::remove_file(&path);
        if name == "tessera" {
            // A node stops its MariaDB servers; one that died (or was killed) left them running.
            let left = stop_mysqlds(&args.home.join("tablets"));
            if left > 0 {
                println!("stopped {left} MariaDB server(s) the node left running");
                stopped_any = true;
            }
        }
    }
    if !stopped_any {
        println!("nothing to stop in {}", args.home.display());
    }
    Ok(0)
}

/// Stops every managed mysqld under `tablets` that is still running (by its pid file); how many.
fn stop_mysqlds(tablets: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(tablets) else { return 0 };
    let pids: Vec<u32> = dirs
        .flatten()
        .filter_map(|dir| {
            let pid_file = dir.path().join("mysqld.pid");
            alive_pid(&pid_file, "mariadbd").or_else(|| alive_pid(&pid_file, "mysqld"))
        })
        .collect();
    // All shut down together, each waited for (and killed if it will not stop).
    std::thread::scope(|scope| {
        for &pid in &pids {
            scope.spawn(move || stop(pid));
        }
    });
    pids.len()
}

/// Opens a log for appending, with a line marking this start, so the log of a run that crashed
/// is still there for whoever looks into it.
pub(super) fn append_log(path: &Path, what: &str) -> anyhow::Result<std::fs::File> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let when = crate::protocol::envelope::now_ms();
    writeln!(log, "--- tessera up starts {what} (unix ms {when}) ---")?;
    Ok(log)
}

/// Go threads for a nats-server that shares the machine: half the cores, at least one.
pub(super) fn nats_procs() -> usize {
    (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) / 2).max(1)
}

/// The example tablets: uid, keyspace/shard, initial type.
const EXAMPLE_TABLETS: [(u32, &str, &str); 7] = [
    (100, "commerce/0", "replica"),
    (101, "commerce/0", "replica"),
    (102, "commerce/0", "rdonly"),
    (200, "customer/-80", "replica"),
    (201, "customer/-80", "replica"),
    (300, "customer/80-", "replica"),
    (301, "customer/80-", "replica"),
];

#[allow(clippy::too_many_arguments)]
fn start_node(
    home: &Path,
    nats: &str,
    monitors: &str,
    auth: &crate::nats::NatsAuth,
    cell: &str,
    id: &str,
    http: SocketAddr,
    gateway: SocketAddr,
    tablets: &[String],
) -> anyhow::Result<u32> {
    let exe = std::env::current_exe()?;
    let log = append_log(&home.join("node.log"), "node")?;
    let mut cmd = Command::new(exe);
    cmd.args(["node", "--nats", nats, "--cell", cell, "--id", id, "--http", &http.to_string()])
        .args(["--nats-monitor", monitors, "--nats-user", &auth.user])
        // The password travels in the environment (readable by this user only), not in argv.
        .env("TESSERA_NATS_PASSWORD", &auth.password)
        .arg("--data-dir")
        .arg(home.join("tablets"))
        .args(["--gateway", &gateway.to_string(), "--auth", "none"]);
    for t in tablets {
        cmd.args(["--tablet", t]);
    }
    let child = cmd
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start the node: {e}"))?;
    std::fs::write(home.join(NODE_PID), child.id().to_string())?;
    Ok(child.id())
}

/// The pid in `file` if that process is alive and is `name` (guards against reused pids).
pub(super) fn alive_pid(file: &Path, name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|b| *b == 0).next()?;
    let argv0 = String::from_utf8_lossy(argv0);
    let is_zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true);
    (argv0.ends_with(name) && !is_zombie).then_some(pid)
}

/// SIGTERM, then SIGKILL if the process is still there after 60 seconds (a node stops its
/// mysqlds first).
fn stop(pid: u32) {
    let pid = pid as libc::pid_t;
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let alive = || unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid);
    if wait_until(Duration::from_secs(60), || !alive()).is_err() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

fn is_zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

pub(super) fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// A minimal HTTP GET: true on a 200 answer.
/// The body of a GET, if the server answers 200.
fn http_body(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

pub(crate) fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1) == Some("200")
}

pub(super) fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> Result<(), ()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(())
}
