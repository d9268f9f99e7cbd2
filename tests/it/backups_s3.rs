//! Backups in an S3-compatible store (a real one on loopback: moto): taken, listed, restored
//! into a replica that catches up, files larger than one request sent in parts, and a store
//! that goes away gives a clear error while the tablets keep serving.

use std::time::Duration;

use mysql_async::prelude::*;
use tessera::backup::{BackupKey, BackupStorage, S3Storage, SharedStorage, Storage};

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl, ctl_err, ctl_ok};
use crate::harness::s3::S3Server;

#[tokio::test(flavor = "multi_thread")]
async fn backups_go_to_an_s3_bucket_and_come_back() {
    let mut s3 = S3Server::start();
    s3.create_bucket("tessera-backups");
    // Credentials come from the environment, as in production (each test is its own process).
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");

    // The storage itself: a file larger than one request goes in parts and comes back whole.
    let store = S3Storage::new("tessera-backups", "direct", &s3.endpoint(), "us-east-1").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let shared = SharedStorage::new(Storage::S3(Box::new(store)), scratch.path().to_path_buf());
    let key = BackupKey::new("ks", "-80", "2026-01-01.000000.zone1-0000000101").unwrap();
    let big: Vec<u8> = (0..20u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let staged = scratch.path().join("staged");
    std::fs::write(&staged, &big).unwrap();
    shared.put(&key, "ibdata1", &staged).await.unwrap();
    let back = shared.fetch(&key, "ibdata1", &scratch.path().join("fetched")).await.unwrap();
    assert!(std::fs::read(back).unwrap() == big, "20 MiB round trip");
    let listed = shared.list("ks", "-80").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].manifest.is_none(), "no manifest: partial");
    shared.remove(&key).await.unwrap();
    assert!(shared.list("ks", "-80").await.unwrap().is_empty());

    let c = GatewayCluster::start_with(&format!(
        "\n[backup]\nstorage = \"s3\"\nbucket = \"tessera-backups\"\nprefix = \"ci/cluster\"\nendpoint = \"{}\"",
        s3.endpoint()
    ))
    .await;
    let url = c.nats.url.clone();
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let insert = "insert into customer (customer_id, email) values (?, ?)";
    for id in 1..=20u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }
    let out = ctl_ok(&url, &["BackupShard", "customer/-80", "--concurrency", "4"]);
    assert!(out.contains("complete"), "{out}");
    let listed = ctl_ok(&url, &["GetBackups", "customer/-80"]);
    assert!(listed.contains("mariabackup") && listed.contains("complete"), "{listed}");

    for id in 21..=30u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }
    let out = ctl_ok(&url, &["RestoreFromBackup", "zone1-201"]);
    assert!(out.contains("restored from backup"), "{out}");
    let sum = "select count(*), sum(customer_id) from customer";
    let on_primary = c.on_tablet("zone1-200", sum);
    let start = std::time::Instant::now();
    loop {
        let here = ctl(&url, &["ExecuteFetchAsDba", "zone1-201", sum]);
        let same = here.status.success() && String::from_utf8_lossy(&here.stdout) == on_primary;
        let tablets = ctl_ok(&url, &["GetTablets"]);
        let serving =
            tablets.lines().any(|l| l.starts_with("zone1-0000000201") && l.split_whitespace().any(|w| w == "SERVING"));
        if same && serving {
            break;
        }
        let log = c.node.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        assert!(start.elapsed() < Duration::from_secs(60), "not caught up: {tablets}\n{}", tail.join("\n"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The store goes away: a clear error naming it, and the tablets keep serving.
    s3.stop();
    let e = ctl_err(&url, &["BackupShard", "customer/-80"]);
    assert!(e.contains("S3 bucket tessera-backups"), "{e}");
    let e = ctl_err(&url, &["GetBackups", "customer/-80"]);
    assert!(e.contains("S3 bucket tessera-backups"), "{e}");
    let tablets = ctl_ok(&url, &["GetTablets"]);
    assert!(
        tablets.lines().any(|l| l.starts_with("zone1-0000000201") && l.split_whitespace().any(|w| w == "SERVING")),
        "{tablets}"
    );
    let n: Option<u64> = conn.query_first("select count(*) from customer").await.unwrap();
    assert_eq!(n, Some(30));
}
