//! `tessera up` twice starts once; `tessera down` stops what it started.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::node::BIN;
use crate::harness::{free_port, free_port_run};

struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BIN).arg("down").arg("--home").arg(&self.0).output();
    }
}

/// `tessera ctl` of the cluster in `home`: it finds the admin credentials through TESSERA_HOME.
fn ctl_ok(home: &str, url: &str, args: &[&str]) -> String {
    let out = Command::new(BIN).args(["ctl", "--nats", url]).args(args).env("TESSERA_HOME", home).output().unwrap();
    assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tessera {args:?} failed:\n{text}");
    text
}

#[test]
fn up_twice_starts_once_and_down_stops_it() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap().to_string();
    let _guard = Down(home.path().to_path_buf());
    let (nats_port, http_port) = (free_port(), free_port());
    let (np, hp, mp, gp) =
        (nats_port.to_string(), http_port.to_string(), free_port_run(7).to_string(), free_port().to_string());
    let args = [
        "up",
        "--home",
        &home_s,
        "--nats-port",
        &np,
        "--http-port",
        &hp,
        "--mysql-base-port",
        &mp,
        "--gateway-port",
        &gp,
    ];

    let first = run(&args);
    assert!(first.contains("(started, pid"), "{first}");
    // The commerce example: a primary, a replica and an rdonly tablet, all serving.
    for (alias, ttype) in
        [("zone1-0000000100", "primary"), ("zone1-0000000101", "replica"), ("zone1-0000000102", "rdonly")]
    {
        assert!(
            first.lines().any(|l| l.starts_with(alias)
                && l.contains(&format!(" {ttype} "))
                && l.split_whitespace().any(|w| w == "SERVING")),
            "{alias} {ttype}:\n{first}"
        );
    }
    // Hints reach this cluster: its NATS is not on the default port.
    assert!(
        first
            .lines()
            .any(|l| l.contains("ctl --nats nats://127.0.0.1:") && l.contains("FindAllShardsInKeyspace customer")),
        "{first}"
    );
    let second = run(&args);
    assert_eq!(second.matches("already running").count(), 2, "{second}");

    let url = format!("nats://127.0.0.1:{nats_port}");
    assert!(ctl_ok(&home_s, &url, &["GetCellInfoNames"]).contains("zone1"));
    // NATS requires the generated credentials, kept owner-only; without them ctl is refused.
    use std::os::unix::fs::PermissionsExt;
    for f in ["nats.conf", "credentials/nats-admin.toml", "credentials/nats-node.toml"] {
        let mode = std::fs::metadata(home.path().join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let out = Command::new(BIN)
        .args(["ctl", "--nats", &url, "GetKeyspaces"])
        .env("TESSERA_HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("authorization"), "{out:?}");
    let out = Command::new(BIN)
        .args(["events", "--nats", &url, "--from-start", "--limit", "1"])
        .env("TESSERA_HOME", &home_s)
        .output()
        .unwrap();
    assert!(out.status.success(), "events with the observer's credentials: {}", String::from_utf8_lossy(&out.stderr));
    assert!(ctl_ok(&home_s, &url, &["GetNodes"]).contains("zone1-local"));

    let schema = ctl_ok(&home_s, &url, &["GetSchema", "zone1-101"]);
    for table in ["product", "customer_seq", "order_seq"] {
        assert!(schema.contains(&format!("CREATE TABLE `{table}`")), "{schema}");
    }
    assert!(ctl_ok(&home_s, &url, &["GetVSchema", "commerce"]).contains("\"sequence\""));

    // MariaDB: a user per purpose, no root over TCP, the cluster's passwords kept 0600.
    let users =
        ctl_ok(&home_s, &url, &["ExecuteFetchAsDba", "zone1-100", "select user, host from mysql.user order by user"]);
    for u in ["tessera_app", "tessera_dba", "tessera_repl", "tessera_vrepl"] {
        assert!(users.contains(u), "{u}: {users}");
    }
    assert!(users.lines().filter(|l| l.starts_with("root")).all(|l| l.contains("localhost")), "{users}");
    let out =
        Command::new("mariadb").args(["-h127.0.0.1", &format!("-P{mp}"), "-uroot", "-e", "select 1"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Access denied"), "{out:?}");
    let mode = std::fs::metadata(home.path().join("tablets/mysql-credentials.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The done-when of the gateway issue, through the mariadb CLI.
    let out = Command::new("mariadb")
        .args(["-h127.0.0.1", &format!("-P{gp}"), "-uroot", "customer", "-e"])
        .arg("insert into customer (email) values ('a@x'), ('b@x'); select email from customer where customer_id = 1001; \
              use customer/-80; select customer_id from customer; use customer/80-; select customer_id from customer;")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "b@x", "{text}");
    assert_eq!(
        lines.iter().filter(|l| **l == "1000" || **l == "1001").count(),
        2,
        "each row in exactly one shard: {text}"
    );

    // A second `up` keeps what the user changed since the first, and appends to the logs.
    let user_vschema = r#"{"tables": {"product": {}, "customer_seq": {"type": "sequence"}, "order_seq": {"type": "sequence"}, "mine": {}}}"#;
    let vs = home.path().join("mine.json");
    std::fs::write(&vs, user_vschema).unwrap();
    ctl_ok(&home_s, &url, &["ApplyVSchema", "commerce", "--vschema-file", vs.to_str().unwrap()]);
    let log_before = std::fs::read_to_string(home.path().join("node.log")).unwrap();
    run(&args);
    assert!(ctl_ok(&home_s, &url, &["GetVSchema", "commerce"]).contains("mine"), "the user's VSchema was overwritten");
    let log_after = std::fs::read_to_string(home.path().join("node.log")).unwrap();
    assert!(log_after.starts_with(&log_before), "node.log was truncated");

    // Another home on the same NATS: its node may not take the first's node id and tablets.
    let other = tempfile::tempdir().unwrap();
    let other_s = other.path().to_str().unwrap().to_string();
    let _other_guard = Down(other.path().to_path_buf());
    let (ohp, omp, ogp) = (free_port().to_string(), free_port_run(7).to_string(), free_port().to_string());
    let out = Command::new(BIN)
        .args(["up", "--home", &other_s, "--nats-port", &np, "--http-port", &ohp])
        .args(["--mysql-base-port", &omp, "--gateway-port", &ogp])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a second cluster joined the first's NATS:\n{text}");
    assert!(text.contains("refuses the credentials of"), "{text}");
    // Even with the first's credentials, it may not take the first's node id and tablets.
    let creds = other.path().join("credentials");
    std::fs::remove_dir_all(&creds).unwrap();
    std::fs::create_dir(&creds).unwrap();
    for f in std::fs::read_dir(home.path().join("credentials")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), creds.join(f.file_name())).unwrap();
    }
    let out = Command::new(BIN)
        .args(["up", "--home", &other_s, "--nats-port", &np, "--http-port", &ohp])
        .args(["--mysql-base-port", &omp, "--gateway-port", &ogp])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a second cluster took the first's names:\n{text}");
    assert!(text.contains("is held by node zone1-local") && text.contains(&home_s), "{text}");
    let tablets = ctl_ok(&home_s, &url, &["GetTablets"]);
    assert!(tablets.contains(&format!(":{mp}")) && !tablets.contains(&format!(":{omp}")), "{tablets}");
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{gp}"),
            "-uroot",
            "customer",
            "-e",
            "select email from customer where customer_id = 1001",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("b@x"), "the first cluster stopped serving");

    // A node that dies leaves its MariaDB servers; `down` stops them too.
    let node_pid: i32 = std::fs::read_to_string(home.path().join("node.pid")).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(node_pid, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mysqlds = || {
        std::fs::read_dir(home.path().join("tablets"))
            .unwrap()
            .flatten()
            .filter(|d| {
                let pid = std::fs::read_to_string(d.path().join("mysqld.pid")).unwrap_or_default();
                !pid.trim().is_empty() && std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
            })
            .count()
    };
    assert_eq!(mysqlds(), 7, "the killed node's MariaDB servers run on");
    let down = run(&["down", "--home", &home_s]);
    assert!(down.contains("tessera was not running"), "{down}");
    assert!(down.contains("stopped 7 MariaDB server(s)"), "{down}");
    assert!(down.contains("stopped nats-server"), "{down}");
    assert_eq!(mysqlds(), 0, "MariaDB servers left running after down");
    assert!(TcpStream::connect(("127.0.0.1", nats_port)).is_err(), "NATS still listening");
    assert!(TcpStream::connect(("127.0.0.1", http_port)).is_err(), "node still listening");
    assert!(run(&["down", "--home", &home_s]).contains("nothing to stop"));
}
