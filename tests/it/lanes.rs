//! Lanes (`[gateway] lanes = 2`, `tablet_lanes = 2`): sessions spread over two single-threaded
//! runtimes, each lane with its own NATS connection and tablet client, and tablets answering
//! from two lanes with their own NATS and MySQL connections, behave as on the shared runtime:
//! many clients at once, transactions over both shards, KILL of a session on another lane.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;

fn opts(c: &GatewayCluster, db: &str) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(c.gateway.port())
        .user(Some("app"))
        .pass(Some("secret"))
        .db_name(Some(db))
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_on_two_lanes_transact_over_both_shards_and_kill_each_other() {
    let c = GatewayCluster::start_with("lanes = 2").await;
    assert!(c.node.log().contains("gateway lanes started"), "the node did not start its gateway lanes");
    exercise(&c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tablets_served_from_two_lanes_answer_transactions_and_kills() {
    let c = GatewayCluster::start_node_opts("tablet_lanes = 2", "lanes = 2", "pool_size = 32", "").await;
    let log = c.node.log();
    assert!(
        log.contains("tablet lanes started") && log.contains("gateway lanes started"),
        "the node did not start its lanes"
    );
    exercise(&c).await;
}

async fn exercise(c: &GatewayCluster) {
    // Eight clients at once (four per lane), each inserting 25 customers in one transaction
    // over both shards, then reading them back.
    let clients: Vec<_> = (0..8u64)
        .map(|i| {
            let o = opts(c, "customer");
            tokio::spawn(async move {
                let mut conn = mysql_async::Conn::new(o).await.unwrap();
                let first = 10_000 + i * 100;
                let mut tx = conn.start_transaction(Default::default()).await.unwrap();
                for id in first..first + 25 {
                    tx.exec_drop("insert into customer (customer_id, email) values (?, ?)", (id, format!("c{id}@x")))
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
                let n: Option<u64> = conn
                    .exec_first("select count(*) from customer where customer_id between ? and ?", (first, first + 24))
                    .await
                    .unwrap();
                assert_eq!(n, Some(25), "client {i} reads back its committed rows");
                conn.disconnect().await.unwrap();
            })
        })
        .collect();
    for t in clients {
        t.await.unwrap();
    }
    let mut per_shard = Vec::new();
    for shard in ["customer/-80", "customer/80-"] {
        let mut conn = mysql_async::Conn::new(opts(c, shard)).await.unwrap();
        let n: Option<u64> =
            conn.query_first("select count(*) from customer where customer_id >= 10000").await.unwrap();
        per_shard.push(n.unwrap_or(0));
    }
    assert_eq!(per_shard.iter().sum::<u64>(), 200, "every row committed once: {per_shard:?}");
    assert!(per_shard.iter().all(|n| *n > 0), "both shards hold rows: {per_shard:?}");

    // Connection ids go round robin over the lanes: two connections opened one after the other
    // run on different lanes. KILL QUERY and KILL from one reach the other.
    let mut victim = mysql_async::Conn::new(opts(c, "customer/80-")).await.unwrap();
    let mut killer = mysql_async::Conn::new(opts(c, "customer")).await.unwrap();
    let id: u32 = victim.query_first("select connection_id()").await.unwrap().unwrap();
    let own: u32 = killer.query_first("select connection_id()").await.unwrap().unwrap();
    assert_ne!(id % 2, own % 2, "consecutive connections ({id}, {own}) are on different lanes");
    let sleeping = tokio::spawn(async move {
        let r = victim.query_drop("select sleep(30)").await;
        (r, victim)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    killer.query_drop(format!("kill query {id}")).await.unwrap();
    let (r, mut victim) = sleeping.await.unwrap();
    match r {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1317, "{e}"),
        other => panic!("expected the sleep to be interrupted (1317), got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "KILL QUERY took {:?}", started.elapsed());
    let one: Option<u64> = victim.query_first("select 1").await.unwrap();
    assert_eq!(one, Some(1), "KILL QUERY leaves the session open");
    killer.query_drop(format!("kill {id}")).await.unwrap();
    assert!(victim.query_drop("select 1").await.is_err(), "the killed connection is closed");
}
