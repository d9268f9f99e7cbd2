//! A statement that fails inside a transaction is undone on every shard it reached, and the
//! transaction goes on (MariaDB's statement rollback), however many shards it spans.

use mysql_async::prelude::*;
use tessera::vindex::functional::hash_u64;

use crate::harness::cluster::GatewayCluster;

/// Two customer ids on different shards.
fn apart() -> (u64, u64) {
    let low = (1..100).find(|i| hash_u64(*i)[0] < 0x80).unwrap();
    let high = (1..100).find(|i| hash_u64(*i)[0] >= 0x80).unwrap();
    (low, high)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_statement_is_undone_on_every_shard_and_the_transaction_goes_on() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let (a, b) = apart();
    conn.query_drop("begin").await.unwrap();
    conn.query_drop(format!(
        "insert into corder (order_id, customer_id, sku, price) values (901, {a}, 'x', 10), (902, {b}, 'y', 20)"
    ))
    .await
    .unwrap();
    // Fails on b's shard only (division by zero is an error in MariaDB's default sql_mode),
    // after a's shard has changed its row.
    let e = conn
        .query_drop(format!("update corder set price = price + 100 / (customer_id - {b}) where order_id in (901, 902)"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Division by 0"), "{e}");
    // A multi-row insert whose second shard refuses its row (a duplicate key) leaves nothing.
    let e = conn
        .query_drop(format!(
            "insert into corder (order_id, customer_id, sku, price) values (903, {a}, 'z', 30), (902, {b}, 'dup', 0)"
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Duplicate entry"), "{e}");
    // The transaction is still open and keeps its first statement.
    conn.query_drop("update corder set price = price + 1 where order_id in (901, 902)").await.unwrap();
    conn.query_drop("commit").await.unwrap();
    let rows: Vec<(u64, i64)> =
        conn.query("select order_id, price from corder where order_id >= 900 order by order_id").await.unwrap();
    assert_eq!(rows, vec![(901, 11), (902, 21)], "the failed statements left nothing behind");

    // With autocommit off, the first statement opens the transaction; the same holds.
    conn.query_drop("set autocommit = 0").await.unwrap();
    let e = conn
        .query_drop(format!("update corder set price = price + 100 / (customer_id - {b}) where order_id in (901, 902)"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Division by 0"), "{e}");
    conn.query_drop("commit").await.unwrap();
    conn.query_drop("set autocommit = 1").await.unwrap();
    let rows: Vec<(u64, i64)> =
        conn.query("select order_id, price from corder where order_id >= 900 order by order_id").await.unwrap();
    assert_eq!(rows, vec![(901, 11), (902, 21)]);
}
