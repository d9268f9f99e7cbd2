//! Backups in the cluster's own NATS (the JetStream object store), the builtin engine (a cold
//! copy: the tablet stops serving, turns BACKUP and catches up afterwards), and new replicas
//! that start from the newest backup of their shard (`--restore-from-backup`) and serve once
//! they hold exactly the primary's rows.

use std::time::Duration;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl, ctl_err, ctl_ok, NodeProc};
use crate::harness::{eventually, free_port};

const SUM: &str = "select count(*), sum(customer_id), sum(crc32(email)) from customer";

/// Waits until `alias` serves and holds what the shard's primary holds.
async fn holds_primary_rows(url: &str, alias: &str, primary: &str) {
    let url = url.to_string();
    let (alias, primary) = (alias.to_string(), primary.to_string());
    eventually(Duration::from_secs(120), &format!("{alias} serving with {primary}'s rows"), || {
        let on_primary = ctl_ok(&url, &["ExecuteFetchAsDba", &primary, SUM]);
        let here = ctl(&url, &["ExecuteFetchAsDba", &alias, SUM]);
        let tablets = ctl_ok(&url, &["GetTablets"]);
        let serving = tablets.lines().any(|l| l.contains(&alias[6..]) && l.split_whitespace().any(|w| w == "SERVING"));
        let same = here.status.success() && String::from_utf8_lossy(&here.stdout) == on_primary;
        async move { (serving && same).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_storage_builtin_engine_and_new_replicas_restored_from_backups() {
    let c = GatewayCluster::start_with("\n[backup]\nstorage = \"nats\"").await;
    let url = c.nats.url.clone();
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let insert = "insert into customer (customer_id, email) values (?, ?)";
    for id in 1..=40u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }

    // A writer inserts through the gateway while backups are taken and restored.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (writer_pool, stop2) = (pool.clone(), stop.clone());
    let writer = tokio::spawn(async move {
        let mut conn = writer_pool.get_conn().await.unwrap();
        let (mut id, mut errors) = (1000u64, Vec::new());
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            id += 1;
            if let Err(e) = conn.exec_drop(insert, (id, format!("w{id}@x"))).await {
                errors.push(e.to_string());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (id - 1000, errors)
    });

    // builtin: the replica stops serving for the cold copy (BACKUP), then catches up.
    let out = ctl_ok(&url, &["BackupShard", "customer/-80", "--engine", "builtin"]);
    assert!(out.contains("complete") && out.contains("from zone1-0000000201"), "{out}");
    // mariabackup of the other shard's primary, allowed.
    let out = ctl_ok(&url, &["Backup", "zone1-300", "--allow-primary"]);
    assert!(out.contains("complete"), "{out}");
    let listed = ctl_ok(&url, &["GetBackups", "customer/-80"]);
    assert!(listed.contains("builtin"), "{listed}");
    let listed = ctl_ok(&url, &["--json", "GetBackups", "customer/80-"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["backups"][0]["manifest"]["engine"], "mariabackup", "{listed}");

    // The backups live in the NATS object store, not on the node's disk.
    let js = async_nats::jetstream::new(c.nats.client().await);
    let bucket = js.get_object_store("TESSERA_BACKUPS").await.unwrap();
    let info =
        bucket.info(format!("customer/80-/{}/MANIFEST.json", v["backups"][0]["name"].as_str().unwrap())).await.unwrap();
    assert!(info.size > 0);

    // New replicas on another node start from those backups and catch up with the writer.
    let n2 = node_from_backup(
        &c,
        "[backup]\nstorage = \"nats\"\n",
        &["zone1-202:customer/-80".into(), "zone1-301:customer/80-".into()],
        &[],
    );
    eventually(Duration::from_secs(120), "the new replicas restored", || {
        let tablets = ctl_ok(&url, &["GetTablets"]);
        let n = tablets
            .lines()
            .filter(|l| {
                (l.contains("0000000202") || l.contains("0000000301")) && l.split_whitespace().any(|w| w == "SERVING")
            })
            .count();
        async move { (n == 2).then_some(()) }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (written, errors) = writer.await.unwrap();
    assert!(errors.is_empty() && written > 20, "{written} writes; errors: {errors:?}");
    holds_primary_rows(&url, "zone1-0000000201", "zone1-200").await;
    holds_primary_rows(&url, "zone1-0000000202", "zone1-200").await;
    holds_primary_rows(&url, "zone1-0000000301", "zone1-300").await;
    let events = std::process::Command::new(crate::harness::node::BIN)
        .args(["events", "--nats", &url, "--from-start", "--filter", "RestoreCompleted", "--limit", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&events.stdout);
    assert!(text.contains("zone1-0000000202") && text.contains("zone1-0000000301"), "{text}\n{}", n2.log());

    // Removing from the object store; unknown names are named.
    let name = v["backups"][0]["name"].as_str().unwrap().to_string();
    ctl_ok(&url, &["RemoveBackup", "customer/80-", &name]);
    assert!(!ctl_ok(&url, &["GetBackups", "customer/80-"]).contains(&name));
    assert!(ctl_err(&url, &["RemoveBackup", "customer/80-", &name]).contains("no backup"));
    assert!(ctl_err(&url, &["Backup", "zone1-201", "--engine", "xtrabackup"]).contains("`xtrabackup` is unknown"));

    let n: Option<u64> = conn.query_first("select count(*) from customer where customer_id <= 40").await.unwrap();
    assert_eq!(n, Some(40));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_takes_scheduled_backups_and_applies_retention() {
    let store = tempfile::tempdir().unwrap();
    let c = GatewayCluster::start_with(&format!(
        "\n[backup]\ndir = \"{}\"\nkeep_last = 1\nincremental_every = \"1h\"\n[backup.schedule]\ncustomer = \"1h\"",
        store.path().display()
    ))
    .await;
    let url = c.nats.url.clone();
    let complete = |shard: &str| {
        let out = ctl_ok(&url, &["--json", "GetBackups", shard]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["backups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| !b["manifest"].is_null() && b["manifest"]["engine"] != "binlog")
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The scheduler backs up the customer shard that has a replica, with no command.
    eventually(Duration::from_secs(90), "a scheduled backup of customer/-80", || {
        let n = complete("customer/-80").len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    assert!(complete("commerce/0").is_empty(), "commerce has no schedule");
    // The primaries' binlogs are saved too, also of the shard without a replica.
    eventually(Duration::from_secs(60), "a scheduled binlog backup of customer/80-", || {
        let out = ctl_ok(&url, &["GetBackups", "customer/80-"]);
        async move { out.contains("binlog").then_some(()) }
    })
    .await;

    // Two more by hand: retention keeps the newest only.
    ctl_ok(&url, &["Backup", "zone1-201"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ctl_ok(&url, &["Backup", "zone1-201"]);
    let all = complete("customer/-80");
    assert_eq!(all.len(), 3, "{all:?}");
    eventually(Duration::from_secs(60), "retention down to the newest backup", || {
        let now = complete("customer/-80");
        let newest = all[0].clone();
        async move { (now == vec![newest]).then_some(()) }
    })
    .await;
    let events = std::process::Command::new(crate::harness::node::BIN)
        .args(["events", "--nats", &url, "--from-start", "--filter", "BackupRemoved", "--limit", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&events.stdout);
    assert!(text.contains(&all[1]) && text.contains(&all[2]) && text.contains("keep_last 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_during_a_backup_comes_back_serving_and_leaves_a_partial_backup() {
    let store = tempfile::tempdir().unwrap();
    let backup_cfg = format!("[backup]\ndir = \"{}\"\n", store.path().display());
    let c = GatewayCluster::start_with(&format!("\n{backup_cfg}")).await;
    let url = c.nats.url.clone();
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    crate::harness::cluster::insert_customers(&mut conn, 1..=20).await;
    ctl_ok(&url, &["BackupShard", "customer/-80"]);
    // A replica on a node of its own (from that backup), whose copies are slowed down.
    let mut n2 =
        node_from_backup(&c, &backup_cfg, &["zone1-202:customer/-80".into()], &["--failpoints=backup-slow-store"]);
    holds_primary_rows(&url, "zone1-0000000202", "zone1-200").await;

    // A builtin backup of it (mysqld stopped for the copy); the node dies in the middle.
    let backup = std::process::Command::new(crate::harness::node::BIN)
        .args(["ctl", "--nats", &url, "Backup", "zone1-202", "--engine", "builtin"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let shard_dir = store.path().join("customer/-80");
    let partial = eventually(Duration::from_secs(60), "the builtin backup storing files", || {
        let found = std::fs::read_dir(&shard_dir).ok().and_then(|d| {
            d.flatten().map(|e| e.path()).find(|p| {
                p.to_string_lossy().contains("zone1-0000000202")
                    && std::fs::read_dir(p).is_ok_and(|mut f| f.next().is_some())
            })
        });
        async move { found }
    })
    .await;
    n2.kill9();
    let name = partial.file_name().unwrap().to_string_lossy().into_owned();
    // The command does not wait hours for a dead node: it says what happened.
    let answer = backup.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&answer.stderr);
    // (The admin command was served by n1, which saw the tablet go silent, or by n2 itself,
    // whose keep-alives stopped.)
    let said = (e.contains("stopped reporting health") && e.contains("partial")) || e.contains("went silent");
    assert!(!answer.status.success() && said, "{e}");
    let listed = ctl_ok(&url, &["GetBackups", "customer/-80"]);
    assert!(listed.lines().any(|l| l.starts_with(&name) && l.ends_with("partial")), "{listed}");

    // Started again, the tablet starts its mysqld, replicates, and serves the primary's rows.
    n2.restart();
    conn.exec_drop("insert into customer (customer_id, email) values (?, ?)", (500u64, "late@x")).await.unwrap();
    holds_primary_rows(&url, "zone1-0000000202", "zone1-200").await;
    // The partial backup was never complete, is not chosen, and can be removed.
    assert!(!partial.join("MANIFEST.json").exists());
    ctl_ok(&url, &["RemoveBackup", "customer/-80", &name]);
    assert!(!ctl_ok(&url, &["GetBackups", "customer/-80"]).contains(&name));
}

/// Node `n2` of cluster `c` with `config`, hosting new replicas (`alias:ks/shard`) that start
/// from their shard's newest backup (`--restore-from-backup`), plus `extra` arguments.
fn node_from_backup(c: &GatewayCluster, config: &str, replicas: &[String], extra: &[&str]) -> NodeProc {
    let cfg = c.dir.path().join("n2.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut args = vec!["--config".to_string(), cfg.display().to_string(), "--restore-from-backup".into()];
    args.extend(replicas.iter().map(|r| format!("--tablet={r}:replica:{}", free_port())));
    args.extend(extra.iter().map(|e| e.to_string()));
    NodeProc::start_with(&c.nats.url, "n2", &args)
}
