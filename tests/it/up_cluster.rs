//! `tessera up --nats-cluster 3` under a gateway writer: SIGKILL of the NATS server leading the
//! topology stream, admin commands and writes carry on, `up` again restarts the server, it
//! catches up, and no acknowledged row or topology write is lost.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tessera::nats_roles::Role;

use crate::harness::node::BIN;
use crate::harness::{free_port, free_port_run, free_port_runs};

struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BIN).arg("down").arg("--home").arg(&self.0).output();
    }
}

fn tessera(home: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env("TESSERA_HOME", home).output().unwrap()
}

async fn topo_info(urls: &str, home: &std::path::Path) -> async_nats::jetstream::stream::Info {
    let auth = tessera::nats::local_credentials(home, Role::Admin).unwrap().unwrap();
    let client = async_nats::ConnectOptions::with_user_and_password(auth.user, auth.password)
        .custom_inbox_prefix(Role::Admin.inbox_prefix())
        .connect(urls.split(',').collect::<Vec<_>>())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream("TESSERA_TOPO").await.unwrap();
    s.info().await.unwrap().clone()
}

/// The last `n` warnings and errors of a log, for a failure message (CI keeps nothing else of
/// a test's state).
fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_server_nats_keeps_serving_writes_and_admin_when_its_leader_dies() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap().to_string();
    let _guard = Down(home.path().to_path_buf());
    let np = free_port_runs(3, &[0, 2000, 4000]);
    let (np_s, hp, mp, gp) = (np.to_string(), free_port().to_string(), free_port_run(7).to_string(), free_port());
    let gp_s = gp.to_string();
    let up_args = [
        "up",
        "--home",
        &home_s,
        "--nats-port",
        &np_s,
        "--nats-cluster",
        "3",
        "--http-port",
        &hp,
        "--mysql-base-port",
        &mp,
        "--gateway-port",
        &gp_s,
    ];
    let out = tessera(&home_s, &up_args);
    assert!(
        out.status.success(),
        "{}{}\n--- node.log (last warnings) ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        log_tail(&home.path().join("node.log"), 80)
    );
    let urls = (0..3).map(|i| format!("nats://127.0.0.1:{}", np + i)).collect::<Vec<_>>().join(",");
    let info = topo_info(&urls, home.path()).await;
    assert_eq!(info.config.num_replicas, 3, "three servers: three copies");
    let leader = info.cluster.and_then(|c| c.leader).expect("a leader");
    let i: u16 = leader.trim_start_matches('n').parse::<u16>().unwrap() - 1;

    // A writer through the gateway, counting the rows MariaDB acknowledged.
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(gp).user(Some("root"));
    let pool = mysql_async::Pool::new(opts);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut errors = Vec::new();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let email = format!("w{n}@x");
                let res = match pool.get_conn().await {
                    Ok(mut c) => {
                        c.exec_drop("INSERT INTO customer.customer (email) VALUES (?)", (email.clone(),)).await
                    }
                    Err(e) => Err(e),
                };
                match res {
                    Ok(()) => acked.push(email),
                    Err(e) => {
                        errors.push(e.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (acked, errors)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SIGKILL the leader's server; admin writes go on once the others elect a new leader.
    let pid_file = if i == 0 { "nats.pid".to_string() } else { format!("nats-{}.pid", i + 1) };
    let pid: i32 = std::fs::read_to_string(home.path().join(&pid_file)).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) of a process this test started through `up`.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let start = Instant::now();
    while !tessera(&home_s, &["ctl", "--nats", &urls, "CreateKeyspace", "after_kill"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(30), "no topology write within 30 s of losing the leader");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = tessera(&home_s, &["ctl", "--nats", &urls, "GetKeyspaces"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("after_kill"));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // `up` again restarts the missing server; it catches up with what it missed.
    let out = tessera(&home_s, &up_args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let start = Instant::now();
    loop {
        let info = topo_info(&urls, home.path()).await;
        let current =
            info.cluster.as_ref().is_some_and(|c| c.replicas.len() == 2 && c.replicas.iter().all(|r| r.current));
        if current {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the restarted server did not catch up: {:?}", info.cluster);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (acked, errors) = writer.await.unwrap();
    assert!(acked.len() > 5, "the writer got few writes through: {} (errors: {errors:?})", acked.len());

    // Every acknowledged row is there.
    let mut c = pool.get_conn().await.unwrap();
    let rows: Vec<String> = c.query("SELECT email FROM customer.customer WHERE email LIKE 'w%@x'").await.unwrap();
    let rows: std::collections::BTreeSet<String> = rows.into_iter().collect();
    let missing: Vec<&String> = acked.iter().filter(|e| !rows.contains(*e)).collect();
    assert!(missing.is_empty(), "acknowledged rows lost: {missing:?}");
    drop(c);
    pool.disconnect().await.unwrap();
}
