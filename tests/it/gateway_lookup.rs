//! Lookup vindexes: owned mappings written and removed with the rows; routing through them.

use mysql_async::prelude::*;
use tessera::vindex::functional::hash_u64;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::ctl_ok;

fn shard_of(id: u64) -> &'static str {
    if hash_u64(id)[0] < 0x80 {
        "-80"
    } else {
        "80-"
    }
}

fn code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn owned_lookup_vindex_is_maintained_and_routes() {
    let c = GatewayCluster::start().await;
    let url = &c.nats.url;
    lookup_table_in_commerce(
        &c,
        "corder_sku_lookup",
        "create table corder_sku_lookup (sku varbinary(128), keyspace_id varbinary(10), primary key (sku, keyspace_id))",
    );
    let customer = customer_with(
        "corder_sku_lookup",
        serde_json::json!({"type": "lookup",
            "params": {"table": "commerce.corder_sku_lookup", "from": "sku", "to": "keyspace_id"}, "owner": "corder"}),
        serde_json::json!({"column": "sku", "name": "corder_sku_lookup"}),
    );
    ctl_ok(url, &["ApplyVSchema", "customer", "--vschema", &customer.to_string()]);

    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "insert into corder (customer_id, sku, price) values (1000, 'apple', 1), (1001, 'pear', 2), (1002, 'apple', 3)",
    )
    .await
    .unwrap();
    // The mapping is in the lookup table: one row per (sku, keyspace id).
    let map = c.on_tablet("zone1-100", "select sku, hex(keyspace_id) from corder_sku_lookup order by sku, keyspace_id");
    for id in [1000u64, 1001, 1002] {
        assert!(map.to_ascii_lowercase().contains(&hex::encode(hash_u64(id))), "{id} mapped: {map}");
    }
    assert!(map.contains("(3 rows"), "{map}");

    // Routing by the lookup: one shard for pear, so an aggregate is fine there.
    let n: i64 = conn.query_first("select count(*) from corder where sku = 'pear'").await.unwrap().unwrap();
    assert_eq!(n, 1);
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'pear'").await.unwrap();
    assert_eq!(who, vec![1001]);
    let apples: Vec<u64> = conn.query("select customer_id from corder where sku = 'apple'").await.unwrap();
    assert_eq!(apples.len(), 2);
    // Whether the lookup names one shard or two, the aggregate is MariaDB's answer.
    let agg: Option<i64> = conn.query_first("select count(*) from corder where sku = 'apple'").await.unwrap();
    assert_eq!(agg, Some(2), "apples of {} and {}", shard_of(1000), shard_of(1002));
    let none: Vec<u64> = conn.query("select customer_id from corder where sku = 'kiwi'").await.unwrap();
    assert!(none.is_empty());

    // Deleting a row removes its mapping; a rolled-back insert leaves none.
    conn.query_drop("delete from corder where customer_id = 1001").await.unwrap();
    let map = c.on_tablet("zone1-100", "select count(*) from corder_sku_lookup where sku = 'pear'");
    assert!(map.lines().nth(1).is_some_and(|l| l.trim() == "0"), "{map}");
    conn.query_drop("begin").await.unwrap();
    conn.query_drop("insert into corder (customer_id, sku, price) values (1003, 'fig', 9)").await.unwrap();
    conn.query_drop("rollback").await.unwrap();
    let map = c.on_tablet("zone1-100", "select count(*) from corder_sku_lookup where sku = 'fig'");
    assert!(map.lines().nth(1).is_some_and(|l| l.trim() == "0"), "{map}");
    // A failed insert does not leave a mapping behind (the gateway's own transaction).
    // order_id is unique per shard: collide with order 1000 (customer 1000) on its shard.
    let same = (1004..1100u64).find(|c| shard_of(*c) == shard_of(1000)).unwrap();
    let e = conn
        .query_drop(format!("insert into corder (order_id, customer_id, sku, price) values (1000, {same}, 'plum', 1)"))
        .await
        .unwrap_err();
    assert_eq!(code(e), 1062, "duplicate order_id");
    let map = c.on_tablet("zone1-100", "select count(*) from corder_sku_lookup where sku = 'plum'");
    assert!(map.lines().nth(1).is_some_and(|l| l.trim() == "0"), "{map}");
    // Changing an owned lookup column moves its mapping: the row is deleted and inserted again.
    conn.query_drop("update corder set sku = 'banana' where customer_id = 1000").await.unwrap();
    assert_eq!(conn.affected_rows(), 1);
    let map = c.on_tablet("zone1-100", "select sku, hex(keyspace_id) from corder_sku_lookup order by sku");
    assert!(map.contains("banana") && map.contains(&hex::encode_upper(hash_u64(1000))), "{map}");
    let bananas: Vec<u64> = conn.query("select customer_id from corder where sku = 'banana'").await.unwrap();
    assert_eq!(bananas, vec![1000]);
    // So does a change of the primary vindex column: the row moves to its new shard, its
    // mapping names the new keyspace id.
    let other = (1003..1100u64).find(|c| shard_of(*c) != shard_of(1000)).unwrap();
    conn.query_drop(format!("update corder set customer_id = {other} where sku = 'banana'")).await.unwrap();
    let map = c.on_tablet("zone1-100", "select hex(keyspace_id) from corder_sku_lookup where sku = 'banana'");
    assert!(map.contains(&hex::encode_upper(hash_u64(other))), "{map}");
    let shard_rows = c.on_tablet(
        if shard_of(other) == "-80" { "zone1-200" } else { "zone1-300" },
        "select count(*) from corder where sku = 'banana'",
    );
    assert!(shard_rows.lines().nth(1).is_some_and(|l| l.trim() == "1"), "{shard_rows}");
    let bananas: Vec<u64> = conn.query("select customer_id from corder where sku = 'banana'").await.unwrap();
    assert_eq!(bananas, vec![other]);
    // A duplicate-key update of it is refused (the shard would change it unseen).
    let e = conn
        .query_drop("insert into corder (order_id, customer_id, sku, price) values (1, 1000, 'a', 1) on duplicate key update sku = 'b'")
        .await
        .unwrap_err();
    assert_eq!(code(e), 1235);
    // REPLACE deletes the row it replaces with its lookup rows, then inserts and maps.
    let id: u64 = conn.query_first("select order_id from corder where customer_id = 1002").await.unwrap().unwrap();
    conn.query_drop(format!(
        "replace into corder (order_id, customer_id, sku, price) values ({id}, 1002, 'cherry', 7)"
    ))
    .await
    .unwrap();
    assert_eq!(conn.affected_rows(), 2, "one row deleted, one inserted");
    let map = c.on_tablet("zone1-100", "select sku, hex(keyspace_id) from corder_sku_lookup order by sku");
    assert!(map.contains("cherry") && !map.contains("apple"), "{map}");
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'cherry'").await.unwrap();
    assert_eq!(who, vec![1002]);
    // Without a collision it is an insert.
    conn.query_drop("replace into corder (customer_id, sku, price) values (1003, 'date', 8)").await.unwrap();
    assert_eq!(conn.affected_rows(), 1);
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'date'").await.unwrap();
    assert_eq!(who, vec![1003]);
}

fn example_vschema(file: &str) -> serde_json::Value {
    let dir = env!("CARGO_MANIFEST_DIR");
    serde_json::from_str(&std::fs::read_to_string(format!("{dir}/examples/commerce/{file}")).unwrap()).unwrap()
}

/// Creates lookup table `table` in the commerce keyspace (by `ddl`) and adds it to its VSchema.
fn lookup_table_in_commerce(c: &GatewayCluster, table: &str, ddl: &str) {
    ctl_ok(&c.nats.url, &["ApplySchema", "commerce", "--sql", ddl]);
    let mut commerce = example_vschema("vschema_commerce.json");
    commerce["tables"][table] = serde_json::json!({});
    ctl_ok(&c.nats.url, &["ApplyVSchema", "commerce", "--vschema", &commerce.to_string()]);
}

/// Applies the example VSchemas with one more lookup vindex on `corder.sku`, its table created
/// in the commerce keyspace by `ddl`.
fn with_sku_lookup(c: &GatewayCluster, table: &str, ddl: &str, vindex: serde_json::Value) {
    let url = &c.nats.url;
    lookup_table_in_commerce(c, table, ddl);
    let customer = customer_with("sku_vdx", vindex, serde_json::json!({"column": "sku", "name": "sku_vdx"}));
    ctl_ok(url, &["ApplyVSchema", "customer", "--vschema", &customer.to_string()]);
}

/// The example customer VSchema with vindex `name` defined as `vindex` and added to corder's
/// column vindexes as `column_vindex`.
fn customer_with(name: &str, vindex: serde_json::Value, column_vindex: serde_json::Value) -> serde_json::Value {
    let mut customer = example_vschema("vschema_customer.json");
    customer["vindexes"][name] = vindex;
    customer["tables"]["corder"]["column_vindexes"].as_array_mut().unwrap().push(column_vindex);
    customer
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_hash_stores_ids_unhashed_and_consistent_lookups_route() {
    let c = GatewayCluster::start().await;
    // lookup_hash_unique: `to` holds the number whose hash is the keyspace id (with a `hash`
    // primary vindex, that is the row's customer_id).
    with_sku_lookup(
        &c,
        "sku_hash_lookup",
        "create table sku_hash_lookup (sku varbinary(128), cid bigint unsigned, primary key (sku))",
        serde_json::json!({"type": "lookup_hash_unique",
            "params": {"table": "commerce.sku_hash_lookup", "from": "sku", "to": "cid"}, "owner": "corder"}),
    );
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("insert into corder (customer_id, sku, price) values (2001, 'kiwi', 1), (2002, 'lime', 2)")
        .await
        .unwrap();
    let map = c.on_tablet("zone1-100", "select sku, cid from sku_hash_lookup order by sku");
    assert!(map.contains("kiwi") && map.contains("2001") && map.contains("2002"), "{map}");
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'lime'").await.unwrap();
    assert_eq!(who, vec![2002]);
    let plan: Vec<String> =
        conn.query("explain format=vitess select customer_id from corder where sku = 'lime'").await.unwrap();
    assert!(plan.iter().any(|l| l.contains("Lookup") && l.contains("sku_hash_lookup")), "{plan:?}");
    // A move re-maps it; a delete unmaps it.
    conn.query_drop("update corder set customer_id = 2003 where sku = 'kiwi'").await.unwrap();
    let map = c.on_tablet("zone1-100", "select cid from sku_hash_lookup where sku = 'kiwi'");
    assert!(map.contains("2003"), "{map}");
    conn.query_drop("delete from corder where sku = 'lime'").await.unwrap();
    let map = c.on_tablet("zone1-100", "select count(*) from sku_hash_lookup where sku = 'lime'");
    assert!(map.lines().nth(1).is_some_and(|l| l.trim() == "0"), "{map}");

    // consistent_lookup_unique, write-only (being backfilled): kept current, never routes.
    with_sku_lookup(
        &c,
        "sku_consistent_lookup",
        "create table sku_consistent_lookup (sku varbinary(128), keyspace_id varbinary(10), primary key (sku))",
        serde_json::json!({"type": "consistent_lookup_unique",
            "params": {"table": "commerce.sku_consistent_lookup", "from": "sku", "to": "keyspace_id", "write_only": "true"},
            "owner": "corder"}),
    );
    // Write-only lookups do not route: once the gateway has the new VSchema, no Lookup step.
    crate::harness::eventually(std::time::Duration::from_secs(20), "the new VSchema in the gateway", || {
        let p = pool.clone();
        async move {
            let mut c = p.get_conn().await.ok()?;
            let plan: Vec<String> =
                c.query("explain format=vitess select customer_id from corder where sku = 'plum'").await.ok()?;
            plan.iter().all(|l| !l.contains("Lookup")).then_some(())
        }
    })
    .await;
    conn.query_drop("insert into corder (customer_id, sku, price) values (2004, 'plum', 4)").await.unwrap();
    let map = c.on_tablet("zone1-100", "select hex(keyspace_id) from sku_consistent_lookup where sku = 'plum'");
    assert!(map.contains(&hex::encode_upper(hash_u64(2004))), "{map}");
    // kiwi was inserted before this lookup existed: routing by it would miss the row.
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'kiwi'").await.unwrap();
    assert_eq!(who, vec![2003]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_table_in_a_sharded_keyspace_is_spread_by_its_own_vindex() {
    let c = GatewayCluster::start().await;
    let url = &c.nats.url;
    ctl_ok(
        url,
        &[
            "ApplySchema",
            "customer",
            "--sql",
            "create table sku_idx (sku varbinary(128), keyspace_id varbinary(10), primary key (sku, keyspace_id))",
        ],
    );
    let mut customer = customer_with(
        "sku_idx",
        serde_json::json!({"type": "lookup",
            "params": {"table": "sku_idx", "from": "sku", "to": "keyspace_id"}, "owner": "corder"}),
        serde_json::json!({"column": "sku", "name": "sku_idx"}),
    );
    customer["vindexes"]["md5"] = serde_json::json!({"type": "binary_md5"});
    customer["tables"]["sku_idx"] = serde_json::json!({"column_vindexes": [{"column": "sku", "name": "md5"}]});
    ctl_ok(url, &["ApplyVSchema", "customer", "--vschema", &customer.to_string()]);

    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let skus = ["apple", "pear", "fig", "kiwi", "lime", "plum"];
    for (i, sku) in skus.iter().enumerate() {
        conn.exec_drop("insert into corder (customer_id, sku, price) values (?, ?, 1)", (3000 + i as u64, sku))
            .await
            .unwrap();
    }
    // Each sku's mapping is on the shard binary_md5(sku) names, and only there.
    for sku in skus {
        let shard = if md5_first_byte(sku) < 0x80 { "zone1-200" } else { "zone1-300" };
        let other = if shard == "zone1-200" { "zone1-300" } else { "zone1-200" };
        let q = format!("select count(*) from sku_idx where sku = '{sku}'");
        assert_eq!(c.on_tablet(shard, &q).lines().nth(1).map(str::trim), Some("1"), "{sku} on {shard}");
        assert_eq!(c.on_tablet(other, &q).lines().nth(1).map(str::trim), Some("0"), "{sku} not on {other}");
    }
    // Routing through it, and the mapping follows a move and goes with a delete.
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'fig'").await.unwrap();
    assert_eq!(who, vec![3002]);
    conn.query_drop("update corder set customer_id = 3100 where sku = 'fig'").await.unwrap();
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'fig'").await.unwrap();
    assert_eq!(who, vec![3100]);
    conn.query_drop("delete from corder where sku = 'kiwi'").await.unwrap();
    let left: Vec<String> = conn.query("select sku from sku_idx order by sku").await.unwrap();
    assert_eq!(left, vec!["apple", "fig", "lime", "pear", "plum"]);
}

fn md5_first_byte(s: &str) -> u8 {
    use md5::Digest;
    md5::Md5::digest(s.as_bytes())[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_whose_primary_vindex_is_a_lookup_lives_with_the_rows_its_values_map_to() {
    let c = GatewayCluster::start().await;
    // corder owns `order_idx` (order_id -> keyspace id); payment is sharded by that lookup, so
    // each payment lands on its order's shard.
    lookup_table_in_commerce(
        &c,
        "order_idx",
        "create table order_idx (order_id bigint primary key, keyspace_id varbinary(10))",
    );
    let url = &c.nats.url;
    ctl_ok(
        url,
        &[
            "ApplySchema",
            "customer",
            "--sql",
            "create table payment (payment_id bigint auto_increment primary key, order_id bigint, amount int)",
        ],
    );
    let mut customer = customer_with(
        "order_idx",
        serde_json::json!({"type": "lookup_unique",
            "params": {"table": "commerce.order_idx", "from": "order_id", "to": "keyspace_id"}, "owner": "corder"}),
        serde_json::json!({"column": "order_id", "name": "order_idx"}),
    );
    customer["tables"]["payment"] =
        serde_json::json!({"column_vindexes": [{"column": "order_id", "name": "order_idx"}]});
    ctl_ok(url, &["ApplyVSchema", "customer", "--vschema", &customer.to_string()]);

    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "insert into corder (order_id, customer_id, sku, price) values (501, 1, 'a', 1), (502, 2, 'b', 2), (503, 3, 'c', 3), (504, 4, 'd', 4)",
    )
    .await
    .unwrap();
    conn.query_drop("insert into payment (order_id, amount) values (501, 10), (502, 20), (503, 30), (504, 40)")
        .await
        .unwrap();
    // Each payment is on its order's shard.
    for (order, customer) in [(501u64, 1u64), (502, 2), (503, 3), (504, 4)] {
        let tablet = if shard_of(customer) == "-80" { "zone1-200" } else { "zone1-300" };
        let n = c.on_tablet(tablet, &format!("select count(*) from payment where order_id = {order}"));
        assert_eq!(n.lines().nth(1).map(str::trim), Some("1"), "payment of {order} on {tablet}");
    }
    let amount: Option<i64> = conn.query_first("select amount from payment where order_id = 502").await.unwrap();
    assert_eq!(amount, Some(20));
    let plan: Vec<String> =
        conn.query("explain format=vitess select amount from payment where order_id = 502").await.unwrap();
    assert!(plan.iter().any(|l| l.contains("Lookup") && l.contains("order_idx")), "{plan:?}");
    let joined: Vec<(u64, i64)> = conn
        .query(
            "select o.customer_id, p.amount from corder o join payment p on p.order_id = o.order_id order by p.amount",
        )
        .await
        .unwrap();
    assert_eq!(joined, vec![(1, 10), (2, 20), (3, 30), (4, 40)]);
    conn.query_drop("update payment set amount = amount + 1 where order_id = 503").await.unwrap();
    assert_eq!(conn.affected_rows(), 1);
    conn.query_drop("delete from payment where order_id = 504").await.unwrap();
    assert_eq!(conn.affected_rows(), 1);
    let total: Option<i64> = conn.query_first("select sum(amount) from payment").await.unwrap();
    assert_eq!(total, Some(61));
    // A change of the lookup column moves the row to where the new value maps.
    conn.query_drop("update payment set order_id = 502 where order_id = 501").await.unwrap();
    let tablet = if shard_of(2) == "-80" { "zone1-200" } else { "zone1-300" };
    let n = c.on_tablet(tablet, "select count(*) from payment where order_id = 502");
    assert_eq!(n.lines().nth(1).map(str::trim), Some("2"), "both payments of 502 on {tablet}");
    // No mapping, no row: the insert names the value.
    let e = conn.query_drop("insert into payment (order_id, amount) values (999, 1)").await.unwrap_err();
    assert!(e.to_string().contains("could not map 999 to a keyspace id"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_column_lookup_maps_tuples_and_routes_by_them() {
    let c = GatewayCluster::start().await;
    lookup_table_in_commerce(
        &c,
        "sku_price_idx",
        "create table sku_price_idx (sku varbinary(128), price bigint, keyspace_id varbinary(10), primary key (sku, price, keyspace_id))",
    );
    let customer = customer_with(
        "sku_price_idx",
        serde_json::json!({"type": "consistent_lookup",
            "params": {"table": "commerce.sku_price_idx", "from": "sku,price", "to": "keyspace_id"}, "owner": "corder"}),
        serde_json::json!({"columns": ["sku", "price"], "name": "sku_price_idx"}),
    );
    ctl_ok(&c.nats.url, &["ApplyVSchema", "customer", "--vschema", &customer.to_string()]);

    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "insert into corder (customer_id, sku, price) values (4001, 'fig', 5), (4002, 'fig', 6), (4003, 'kiwi', 5), (4004, 'lime', null)",
    )
    .await
    .unwrap();
    // One mapping per (sku, price); a NULL column maps nothing.
    let map = c.on_tablet("zone1-100", "select sku, price, hex(keyspace_id) from sku_price_idx order by sku, price");
    assert!(map.contains("(3 rows"), "{map}");
    assert!(map.contains(&hex::encode_upper(hash_u64(4002))), "{map}");
    let who: Vec<u64> = conn.query("select customer_id from corder where sku = 'fig' and price = 6").await.unwrap();
    assert_eq!(who, vec![4002]);
    let plan: Vec<String> = conn
        .query("explain format=vitess select customer_id from corder where sku = 'fig' and price in (5, 6)")
        .await
        .unwrap();
    assert!(
        plan.iter().any(|l| l.contains("Lookup") && l.contains("sku,price") && l.contains("2 value(s)")),
        "{plan:?}"
    );
    let two: Vec<u64> = conn
        .query("select customer_id from corder where sku = 'fig' and price in (5, 6) order by customer_id")
        .await
        .unwrap();
    assert_eq!(two, vec![4001, 4002]);
    // A change of one of its columns re-maps the row; a delete unmaps it.
    conn.query_drop("update corder set price = 7 where customer_id = 4003").await.unwrap();
    let map = c.on_tablet("zone1-100", "select price from sku_price_idx where sku = 'kiwi'");
    assert!(map.contains('7') && !map.contains("\n5"), "{map}");
    conn.query_drop("delete from corder where sku = 'fig' and price = 5").await.unwrap();
    let map = c.on_tablet("zone1-100", "select count(*) from sku_price_idx where sku = 'fig'");
    assert_eq!(map.lines().nth(1).map(str::trim), Some("1"), "{map}");
}
