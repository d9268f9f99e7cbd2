//! Statements at the edges of a request's and a node's life: a tablet that answers after the
//! gateway stopped waiting, and a gateway node stopped with SIGTERM while its clients hold a
//! two-shard transaction and run a statement.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tessera::client::AdminClient;
use tessera::protocol::admin::{AdminRequest, AdminResponse};

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::NodeProc;

/// Open InnoDB transactions on a tablet's MariaDB, asked as the DBA.
async fn open_trx(admin: &AdminClient, alias: &str) -> u64 {
    let req = AdminRequest::ExecuteFetchAsDba {
        alias: alias.into(),
        sql: "select count(*) from information_schema.innodb_trx".into(),
        max_rows: Some(1),
    };
    match admin.request(&req).await {
        Ok(AdminResponse::QueryResult { result, .. }) => result
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(u64::MAX),
        other => panic!("innodb_trx on {alias}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_replies_and_graceful_shutdown() {
    let c = GatewayCluster::start_opts("query_timeout_ms = 2500", "pool_size = 16", "tablet-slow-reply").await;
    let pool = c.pool("app", "secret", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();

    // The tablet inserts the row, then answers 6 s later: past the gateway's 2.5 s.
    let start = Instant::now();
    let e = conn
        .query_drop("insert into customer (customer_id, email) values (901, 'late failpoint:tablet-slow-reply')")
        .await
        .unwrap_err();
    let waited = start.elapsed();
    match &e {
        mysql_async::Error::Server(s) => {
            assert_eq!(s.code, 1969, "{e}");
            assert!(s.message.contains("unknown"), "the error says the outcome is unknown: {e}");
        }
        other => panic!("expected a server error, got {other}"),
    }
    assert!(waited < Duration::from_secs(5), "the gateway waited {waited:?}, not its query timeout");
    // Not retried: once now, and still once after the tablet's late answer arrived.
    let count = "select count(*) from customer where customer_id = 901";
    let n: Option<u64> = conn.query_first(count).await.unwrap();
    assert_eq!(n, Some(1), "the timed-out insert took effect exactly once");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let n: Option<u64> = conn.query_first(count).await.unwrap();
    assert_eq!(n, Some(1), "the late reply changed nothing");
    drop(conn);
    pool.disconnect().await.unwrap();

    // A second node serving only a gateway: stopping it leaves the tablets (node n1) running.
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
    let cfg = c.dir.path().join("gw2.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nlisten = \"{addr}\"\nauth = \"users\"\nusers_file = \"{}\"\ndrain_ms = 4000\n",
            c.dir.path().join("users.toml").display()
        ),
    )
    .unwrap();
    let mut gw2 = NodeProc::start_with(&c.nats.url, "gw2", &["--config".into(), cfg.display().to_string()]);
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(addr.port())
        .user(Some("app"))
        .pass(Some("secret"))
        .db_name(Some("customer"));
    let pool2 = mysql_async::Pool::new(opts);
    let mut setup = pool2.get_conn().await.unwrap();
    // Committed before the shutdown, on both shards (1 -> -80, 4 -> 80-).
    setup.query_drop("begin").await.unwrap();
    setup.query_drop("insert into customer (customer_id, email) values (1, 'one@x'), (4, 'four@x')").await.unwrap();
    setup.query_drop("commit").await.unwrap();
    // Open when the node is stopped, on both shards.
    let mut tx = pool2.get_conn().await.unwrap();
    tx.query_drop("begin").await.unwrap();
    tx.query_drop("insert into customer (customer_id, email) values (2, 'two@x')").await.unwrap();
    tx.query_drop("update customer set email = 'changed@x' where customer_id = 4").await.unwrap();
    let admin = AdminClient::new(c.nats.client().await, Duration::from_secs(10));
    for t in ["zone1-200", "zone1-300"] {
        assert!(open_trx(&admin, t).await >= 1, "the transaction is open on {t} before the shutdown");
    }
    // Running when the node is stopped: it may finish (drain_ms is 4 s).
    let mut running = pool2.get_conn().await.unwrap();
    let slow = tokio::spawn(async move {
        let r: Result<Option<u64>, _> =
            running.query_first("select sleep(1.5) from customer where customer_id = 1").await;
        r
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopped = Instant::now();
    gw2.sigterm();
    let mut rolled_back = None;
    while stopped.elapsed() < Duration::from_secs(5) {
        if open_trx(&admin, "zone1-200").await == 0 && open_trx(&admin, "zone1-300").await == 0 {
            rolled_back = Some(stopped.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rolled_back = rolled_back.expect("open transactions still on the tablets 5 s after SIGTERM");
    assert!(rolled_back < Duration::from_secs(1), "transactions rolled back {rolled_back:?} after SIGTERM");
    let finished = slow.await.unwrap();
    assert_eq!(finished.ok().flatten(), Some(0), "the running statement finished during the drain");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "a draining gateway accepts no new clients");
    let code = tokio::task::spawn_blocking(move || gw2.wait_exit(Duration::from_secs(15))).await.unwrap();
    assert_eq!(code, Some(0), "the node exits cleanly after draining");
    assert!(tx.query_drop("select 1").await.is_err(), "the idle session was closed");

    // Committed data intact; the open transaction's work is gone.
    let pool = c.pool("app", "secret", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let rows: Vec<(u64, String)> = conn
        .query("select customer_id, email from customer where customer_id in (1, 2, 4) order by customer_id")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, "one@x".to_string()), (4, "four@x".to_string())]);
    drop(conn);
    pool.disconnect().await.unwrap();
    drop(setup);
}
