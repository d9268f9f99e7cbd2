//! Backups of real tablets: `BackupShard` picks a serving replica, the primary only when
//! allowed; the files are compressed and checksummed and the manifest written last; partial
//! backups are listed as such and can be removed; bad arguments get clear errors.

use std::process::Command;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl, ctl_err, ctl_ok, BIN};

#[tokio::test(flavor = "multi_thread")]
async fn backup_shard_takes_a_replica_and_lists_checks_and_removes_backups() {
    let store = tempfile::tempdir().unwrap();
    let c = GatewayCluster::start_with(&format!("\n[backup]\ndir = \"{}\"", store.path().display())).await;
    let url = c.nats.url.clone();
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    crate::harness::cluster::insert_customers(&mut conn, 1..=20).await;

    // The shard with a replica: backed up from it, online.
    let done = ctl(&url, &["BackupShard", "customer/-80", "--wait"]);
    let (out, bar) = (String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert!(done.status.success() && out.contains("complete") && out.contains("from zone1-0000000201"), "{out}");
    // --wait drew the copy's progress from the tablet's BackupProgress events.
    assert!(bar.contains("zone1-0000000201 storing [") && bar.contains(" files "), "{bar}");
    let listed = ctl_ok(&url, &["--json", "GetBackups", "customer/-80"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let backups = v["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{listed}");
    let manifest: tessera::backup::Manifest = serde_json::from_value(backups[0]["manifest"].clone()).unwrap();
    assert!(manifest.position.starts_with("0-"), "a GTID position: {}", manifest.position);
    // The table's data (`.ibd`, or `.new` for a table mariadb-backup saw change during the copy).
    let data = |p: &str| p.starts_with("customer/customer.") && (p.ends_with(".ibd") || p.ends_with(".new"));
    assert!(
        manifest.files.iter().any(|f| data(&f.path)),
        "{:?}",
        manifest.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
    let storage = tessera::backup::SharedStorage::new(
        tessera::backup::Storage::File(tessera::backup::FileStorage::new(store.path().to_path_buf())),
        store.path().join(".tmp"),
    );
    let scratch = tempfile::tempdir().unwrap();
    tessera::backup::fetch_verified(&storage, &manifest, scratch.path(), None).await.unwrap();

    // Restore the replica from it while the primary takes more rows: it comes back at the
    // backup's position, catches up by replication, and serves again.
    crate::harness::cluster::insert_customers(&mut conn, 21..=30).await;
    let on_primary = c.on_tablet("zone1-200", "select count(*), sum(customer_id) from customer");
    let out = ctl_ok(&url, &["RestoreFromBackup", "zone1-201"]);
    assert!(out.contains("restored from backup") && out.contains(&manifest.name), "{out}");
    let mut caught_up = false;
    for _ in 0..120 {
        let out = ctl(&url, &["ExecuteFetchAsDba", "zone1-201", "select count(*), sum(customer_id) from customer"]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout) == on_primary {
            caught_up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(caught_up, "the restored replica did not catch up with the primary ({on_primary})");
    // Serving follows the data within a health report or two (a CI run once looked first).
    let mut tablets = String::new();
    for _ in 0..40 {
        tablets = ctl_ok(&url, &["GetTablets"]);
        if tablets.lines().any(|l| l.starts_with("zone1-0000000201") && l.split_whitespace().any(|w| w == "SERVING")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        tablets.lines().any(|l| l.starts_with("zone1-0000000201") && l.split_whitespace().any(|w| w == "SERVING")),
        "{tablets}"
    );
    assert!(ctl_err(&url, &["RestoreFromBackup", "zone1-200"]).contains("is the primary"));

    // A damaged file is named, with both checksums.
    let victim = manifest.files.iter().find(|f| data(&f.path)).unwrap();
    let path = store.path().join("customer/-80").join(&manifest.name).join(format!("{}.zst", victim.path));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let e = tessera::backup::fetch_verified(&storage, &manifest, scratch.path(), None).await.unwrap_err();
    assert!(e.contains(&victim.path) && e.contains(&victim.sha256), "{e}");
    // A restore refuses it before touching the tablet, which keeps serving.
    let e = ctl_err(&url, &["RestoreFromBackup", "zone1-201"]);
    assert!(e.contains("is damaged") && e.contains(&victim.path), "{e}");
    let n = c.on_tablet("zone1-201", "select count(*), sum(customer_id) from customer");
    assert_eq!(n, on_primary, "the refused restore changed nothing");

    // A primary only when allowed; a shard with only a primary says so.
    let e = ctl_err(&url, &["Backup", "zone1-200"]);
    assert!(e.contains("is the primary") && e.contains("--allow-primary"), "{e}");
    let e = ctl_err(&url, &["BackupShard", "customer/80-"]);
    assert!(e.contains("no serving replica or rdonly") && e.contains("--allow-primary"), "{e}");
    let out = ctl_ok(&url, &["BackupShard", "customer/80-", "--allow-primary", "--concurrency", "4"]);
    assert!(out.contains("from zone1-0000000300"), "{out}");

    // Unknown names.
    assert!(ctl_err(&url, &["Backup", "zone1-999"]).contains("not in the topology"));
    assert!(ctl_err(&url, &["BackupShard", "customer/40-"]).contains("does not exist"));
    assert!(
        ctl_err(&url, &["Backup", "zone1-201", "--engine", "xtrabackup"]).contains("engine `xtrabackup` is unknown")
    );

    // A partial backup (no manifest) is listed as partial and can be removed.
    std::fs::create_dir_all(store.path().join("customer/-80/2000-01-01.000000.zone1-0000000201")).unwrap();
    let listed = ctl_ok(&url, &["GetBackups", "customer/-80"]);
    assert!(listed.lines().any(|l| l.starts_with("2000-01-01") && l.contains("partial")), "{listed}");
    ctl_ok(&url, &["RemoveBackup", "customer/-80", "2000-01-01.000000.zone1-0000000201"]);
    assert!(!ctl_ok(&url, &["GetBackups", "customer/-80"]).contains("2000-01-01"));
    assert!(ctl_err(&url, &["RemoveBackup", "customer/-80", "../../x"]).contains("not a valid backup name"));

    // Each backup is announced.
    let out = Command::new(BIN)
        .args(["events", "--nats", &url, "--from-start", "--filter", "BackupCompleted", "--limit", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("customer/-80") && text.contains("customer/80-"), "{text}");
    // The console lists the shard's backups and the completed backups among recent events,
    // and /metrics counts them.
    let (code, page) = crate::harness::node::http_get(c.node.http, "/keyspace/customer/shard/-80").unwrap();
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(&manifest.name) && page.contains("mariabackup"), "{page}");
    let (_, page) = crate::harness::node::http_get(c.node.http, "/workflows").unwrap();
    assert!(page.contains("BackupCompleted") && page.contains("customer/80-"), "{page}");
    let (_, metrics) = crate::harness::node::http_get(c.node.http, "/metrics").unwrap();
    let completed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tessera_backup_events_total{event=\"BackupCompleted\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no BackupCompleted count in {metrics}"));
    assert!(completed >= 2.0, "{completed}");
    // The tablets kept serving.
    let n: Option<u64> = conn.query_first("select count(*) from customer").await.unwrap();
    assert_eq!(n, Some(30));
    let _ = ctl(&url, &["GetTablets"]);
}
