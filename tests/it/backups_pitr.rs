//! Point-in-time recovery: a full backup, then the primary's binlogs saved by
//! `BackupShard --incremental`; `RestoreFromBackup --restore-to-time` / `--restore-to-pos`
//! restores a replica to a moment between two known writes, showing exactly the first, and
//! leaves it drained.

use std::time::Duration;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::{ctl_err, ctl_ok};

const SUM: &str = "select count(*), sum(customer_id) from customer";

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_restored_to_a_time_or_position_holds_exactly_what_was_committed_before_it() {
    let store = tempfile::tempdir().unwrap();
    let c = GatewayCluster::start_with(&format!("\n[backup]\ndir = \"{}\"", store.path().display())).await;
    let url = c.nats.url.clone();
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let insert = "insert into customer (customer_id, email) values (?, ?)";
    let before = ctl_err(&url, &["RestoreFromBackup", "zone1-201", "--restore-to-time", "2026-01-01T00:00:00Z"]);
    assert!(before.contains("no complete full backup"), "{before}");

    for id in 1..=10u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }
    ctl_ok(&url, &["BackupShard", "customer/-80"]);
    // The first writes, after the full backup: the binlogs must bring them back.
    for id in 11..=20u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }
    let first = c.on_tablet("zone1-200", SUM);
    let position = c.on_tablet("zone1-200", "select @@gtid_binlog_pos");
    let position = position
        .lines()
        .map(str::trim)
        .find(|l| tessera::backup::pitr::PitrTarget::position(l).is_ok() && l.contains('-'))
        .unwrap_or_else(|| panic!("no GTID position in {position}"))
        .to_string();
    // The moment between: binlog times are in seconds, so a clear second on each side.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at = tessera::backup::pitr::format_utc(tessera::protocol::envelope::now_ms()).replace(' ', "T") + "Z";
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for id in 21..=30u64 {
        conn.exec_drop(insert, (id, format!("c{id}@x"))).await.unwrap();
    }
    let all = c.on_tablet("zone1-200", SUM);
    assert_ne!(first, all);

    // Without saved binlogs the moment cannot be reached: refused before anything is touched.
    let e = ctl_err(&url, &["RestoreFromBackup", "zone1-201", "--restore-to-time", &at]);
    assert!(e.contains("--incremental"), "{e}");
    assert_eq!(c.on_tablet("zone1-201", SUM), all, "the refused restore changed nothing");

    let out = ctl_ok(&url, &["BackupShard", "customer/-80", "--incremental"]);
    assert!(out.contains("from zone1-0000000200") && out.contains("binlog"), "{out}");
    let out = ctl_ok(&url, &["RestoreFromBackup", "zone1-201", "--restore-to-time", &at]);
    assert!(out.contains("drained"), "{out}");
    assert_eq!(c.on_tablet("zone1-201", SUM), first, "restored to {at}");
    let tablets = ctl_ok(&url, &["GetTablets"]);
    assert!(tablets.lines().any(|l| l.starts_with("zone1-0000000201") && l.contains("drained")), "{tablets}");

    // Through a GTID position: the same point.
    let out = ctl_ok(&url, &["RestoreFromBackup", "zone1-201", "--restore-to-pos", &position]);
    assert!(out.contains(&position), "{out}");
    assert_eq!(c.on_tablet("zone1-201", SUM), first, "restored through {position}");

    // The shard kept serving: every row is there through the gateway.
    let n: Option<u64> = conn.query_first("select count(*) from customer").await.unwrap();
    assert_eq!(n, Some(30));
    assert!(ctl_err(&url, &["RestoreFromBackup", "zone1-201", "--restore-to-pos", "nonsense"]).contains("not a GTID"));
}
