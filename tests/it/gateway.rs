//! MySQL clients against the real gateway on a real cluster.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mysql_async::prelude::*;
use tessera::vindex::functional::hash_u64;

use crate::harness::cluster::GatewayCluster;
use crate::harness::eventually;

fn code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other}"),
    }
}

fn expected_shard(id: u64) -> &'static str {
    if hash_u64(id)[0] < 0x80 {
        "-80"
    } else {
        "80-"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_insert_route_read_and_transact() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("app", "secret", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();

    // Text protocol: ids from the sequence, last_insert_id is the first.
    conn.query_drop("insert into customer (email) values ('a@x'), ('b@x'), ('c@x'), ('d@x'), ('e@x'), ('f@x')")
        .await
        .unwrap();
    assert_eq!(conn.last_insert_id(), Some(1000));
    let lid: u64 = conn.query_first("select last_insert_id()").await.unwrap().unwrap();
    assert_eq!(lid, 1000);
    // Prepared statements.
    let email: Option<String> =
        conn.exec_first("select email from customer where customer_id = ?", (1002,)).await.unwrap();
    assert_eq!(email.as_deref(), Some("c@x"));
    conn.exec_drop("insert into corder (customer_id, sku, price) values (?, ?, ?)", (1001, "sku-1", 250))
        .await
        .unwrap();
    let order: Option<(u64, u64, String, i64)> = conn
        .exec_first("select order_id, customer_id, sku, price from corder where customer_id = ?", (1001,))
        .await
        .unwrap();
    assert_eq!(order, Some((1000, 1001, "sku-1".to_string(), 250)));
    let many: Vec<(u64, String)> = conn
        .exec("select customer_id, email from customer where customer_id in (?, ?, ?)", (1000, 1003, 1005))
        .await
        .unwrap();
    assert_eq!(many.len(), 3);

    // Each row is in exactly one shard: the one its keyspace id says (checked on MariaDB itself).
    let on_m80 = c.on_tablet("zone1-200", "select customer_id from customer");
    let on_80 = c.on_tablet("zone1-300", "select customer_id from customer");
    for id in 1000..1006u64 {
        let (here, there) = if expected_shard(id) == "-80" { (&on_m80, &on_80) } else { (&on_80, &on_m80) };
        let line = |text: &str| text.lines().any(|l| l.trim() == id.to_string());
        assert!(line(here) && !line(there), "customer {id} must be only in {}", expected_shard(id));
    }
    assert!(!on_m80.contains("1000") || !on_80.contains("1000"));
    // The same seen through shard targets.
    let mut seen = BTreeSet::new();
    for shard in ["-80", "80-"] {
        conn.query_drop(format!("use customer/{shard}")).await.unwrap();
        let ids: Vec<u64> = conn.query("select customer_id from customer").await.unwrap();
        for id in ids {
            assert_eq!(expected_shard(id), shard);
            assert!(seen.insert(id), "{id} seen twice");
        }
    }
    assert_eq!(seen.len(), 6);
    conn.query_drop("use `customer:-80`").await.unwrap();
    let db: Option<String> = conn.query_first("select database()").await.unwrap();
    assert_eq!(db.as_deref(), Some("customer/-80"));
    conn.query_drop("use customer").await.unwrap();

    // A two-shard transaction: rolled back, then committed.
    let (a, b) = (2000u64, (2001..2100).find(|i| expected_shard(*i) != expected_shard(2000)).unwrap());
    conn.query_drop("begin").await.unwrap();
    conn.query_drop(format!("insert into customer (customer_id, email) values ({a}, 'x'), ({b}, 'y')")).await.unwrap();
    let inside: Vec<u64> =
        conn.query(format!("select customer_id from customer where customer_id in ({a}, {b})")).await.unwrap();
    assert_eq!(inside.len(), 2);
    conn.query_drop("rollback").await.unwrap();
    let after: Vec<u64> =
        conn.query(format!("select customer_id from customer where customer_id in ({a}, {b})")).await.unwrap();
    assert!(after.is_empty(), "rolled back rows must be gone: {after:?}");
    let mut tx = conn.start_transaction(Default::default()).await.unwrap();
    tx.query_drop(format!("insert into customer (customer_id, email) values ({a}, 'x'), ({b}, 'y')")).await.unwrap();
    tx.commit().await.unwrap();
    let after: Vec<u64> =
        conn.query(format!("select customer_id from customer where customer_id in ({a}, {b})")).await.unwrap();
    assert_eq!(after.len(), 2);
    // Autocommit off keeps a transaction open until COMMIT.
    conn.query_drop("set autocommit = 0").await.unwrap();
    conn.query_drop(format!("delete from customer where customer_id = {a}")).await.unwrap();
    conn.query_drop("rollback").await.unwrap();
    conn.query_drop("set autocommit = 1").await.unwrap();
    let still: Option<u64> =
        conn.query_first(format!("select customer_id from customer where customer_id = {a}")).await.unwrap();
    assert_eq!(still, Some(a));

    // Replica reads.
    conn.query_drop("use customer@replica").await.unwrap();
    let m80_id = (1000..1006u64).find(|i| expected_shard(*i) == "-80").unwrap();
    let mut conn2 = pool.get_conn().await.unwrap();
    conn2.query_drop("use customer@replica").await.unwrap();
    eventually(Duration::from_secs(10), "row on the replica", || {
        let pool = pool.clone();
        async move {
            let mut c = pool.get_conn().await.ok()?;
            c.query_drop("use customer@replica").await.ok()?;
            let r: Option<String> =
                c.query_first(format!("select email from customer where customer_id = {m80_id}")).await.ok()?;
            r.map(|_| ())
        }
    })
    .await;
    let e = conn.query_drop("insert into customer (customer_id, email) values (5, 'no')").await.unwrap_err();
    assert_eq!(code(e), 1290, "replicas refuse writes");
    conn.query_drop("use customer").await.unwrap();

    // System statements.
    let dbs: Vec<String> = conn.query("show databases").await.unwrap();
    assert_eq!(dbs, vec!["commerce", "customer"]);
    let tables: Vec<String> = conn.query("show tables").await.unwrap();
    assert_eq!(tables, vec!["corder", "customer"]);
    let tablets: Vec<mysql_async::Row> = conn.query("show vitess_tablets").await.unwrap();
    assert_eq!(tablets.len(), 4);
    let shards: Vec<String> = conn.query("show vitess_shards").await.unwrap();
    assert_eq!(shards, vec!["commerce/0", "customer/-80", "customer/80-"]);
    let v: String = conn.query_first("select @@version").await.unwrap().unwrap();
    assert!(v.contains("tessera"));
    let one: i64 = conn.query_first("select 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    let sum: i64 = conn.query_first("select 1 + 1").await.unwrap().unwrap();
    assert_eq!(sum, 2);
    let cid: u64 = conn.query_first("select connection_id()").await.unwrap().unwrap();
    assert!(cid > 0);
    let next: u64 = conn.query_first("select next 5 values from commerce.customer_seq").await.unwrap().unwrap();
    assert!(next >= 1006, "{next}");
    // Qualified names and the unsharded keyspace.
    conn.query_drop("insert into commerce.product (sku, description, price) values ('s1', 'thing', 3)").await.unwrap();
    let price: i64 = conn.query_first("select price from commerce.product where sku = 's1'").await.unwrap().unwrap();
    assert_eq!(price, 3);

    // User variables follow the session and route like literals.
    conn.query_drop("set @cid = 1002, @e := concat('c', '@x')").await.unwrap();
    let email: Option<String> = conn.query_first("select email from customer where customer_id = @cid").await.unwrap();
    assert_eq!(email.as_deref(), Some("c@x"));
    let vars: Option<(u64, String)> = conn.query_first("select @cid, @e").await.unwrap();
    assert_eq!(vars, Some((1002, "c@x".to_string())));
    conn.query_drop("set @cid = @cid + 1").await.unwrap();
    let next: Option<u64> = conn.query_first("select @cid").await.unwrap();
    assert_eq!(next, Some(1003));
    let unset: Option<Option<String>> = conn.query_first("select @never_set").await.unwrap();
    assert_eq!(unset, Some(None));

    // Clear errors, never wrong answers.
    for (sql, want) in [
        ("with t(a) as (select * from customer) select a from t for update", 1235),
        ("select c.email from customer c natural join corder o for update", 1235),
        ("select * from customer c right join corder o using (customer_id) for update", 1235),
        ("use nope", 1049),
        ("select * from nope_table", 1146),
        ("select nope_column from customer where customer_id = 1000", 1054),
        ("selec 1", 1064),
        ("set sql_log_bin = 0", 1235),
    ] {
        let e = conn.query_drop(sql).await.expect_err(sql);
        assert_eq!(code(e), want, "{sql}");
    }
    // The session still works after errors.
    let email: Option<String> = conn.query_first("select email from customer where customer_id = 1000").await.unwrap();
    assert_eq!(email.as_deref(), Some("a@x"));
    drop(conn);
    drop(conn2);
    pool.disconnect().await.unwrap();

    // Wrong password.
    let e = c.pool("app", "wrong", None).get_conn().await.unwrap_err();
    assert_eq!(code(e), 1045);
    let e = c.pool("nobody", "", None).get_conn().await.unwrap_err();
    assert_eq!(code(e), 1045);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_cli_and_sysbench() {
    let c = GatewayCluster::start().await;
    let port = c.gateway.port().to_string();
    let cli = |args: &[&str], sql: &str| {
        std::process::Command::new("mariadb")
            .args(["-h127.0.0.1", &format!("-P{port}")])
            .args(args)
            .args(["-e", sql])
            .output()
            .unwrap()
    };
    let out = cli(&["-uapp", "-psecret", "customer"], "insert into customer (email) values ('cli@x'); select email, customer_id from customer where customer_id = 1000; show tables;");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("cli@x\t1000") && text.contains("corder"), "{text}");
    let out = cli(&["-uapp", "-pwrong"], "select 1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Access denied"));

    // sysbench oltp_point_select, text and prepared, against a sharded table.
    let vschema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/commerce/vschema_customer.json"))
            .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&vschema).unwrap();
    v["tables"]["sbtest1"] = serde_json::json!({"column_vindexes": [{"column": "id", "name": "hash"}]});
    crate::harness::node::ctl_ok(
        &c.nats.url,
        &["ApplySchema", "customer", "--sql", "CREATE TABLE sbtest1 (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k))"],
    );
    crate::harness::node::ctl_ok(&c.nats.url, &["ApplyVSchema", "customer", "--vschema", &v.to_string()]);
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    for chunk in (1..=1000).collect::<Vec<u32>>().chunks(200) {
        let rows: Vec<String> = chunk.iter().map(|i| format!("({i}, {}, 'c{i}', 'pad')", i % 100)).collect();
        conn.query_drop(format!("insert into sbtest1 (id, k, c, pad) values {}", rows.join(", "))).await.unwrap();
    }
    drop(conn);
    pool.disconnect().await.unwrap();
    for mode in ["disable", "auto"] {
        let out = std::process::Command::new("sysbench")
            .args(["oltp_point_select", "--db-driver=mysql", "--mysql-host=127.0.0.1", &format!("--mysql-port={port}")])
            .args(["--mysql-user=root", "--mysql-password=", "--mysql-db=customer", "--tables=1", "--table-size=1000"])
            .args(["--threads=4", "--time=3", &format!("--db-ps-mode={mode}"), "run"])
            .output()
            .expect("sysbench must be installed (apt-get install sysbench)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "sysbench {mode}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let queries: u64 = text
            .lines()
            .find(|l| l.trim_start().starts_with("read:"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(queries > 100, "sysbench {mode} ran only {queries} queries:\n{text}");
        assert!(text.contains("ignored errors:                      0"), "sysbench {mode}:\n{text}");
        // oltp_read_write: transactions with updates (OK packets with info), deletes, inserts,
        // and SUM / ORDER BY / DISTINCT over ranges spanning both shards.
        let out = std::process::Command::new("sysbench")
            .args(["oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1", &format!("--mysql-port={port}")])
            .args(["--mysql-user=root", "--mysql-password=", "--mysql-db=customer", "--tables=1", "--table-size=1000"])
            .args([
                "--threads=2",
                "--time=3",
                &format!("--db-ps-mode={mode}"),
                "--mysql-ignore-errors=1062,1205,1213,1020",
                "run",
            ])
            .output()
            .expect("sysbench");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "sysbench oltp_read_write {mode}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("transactions:"), "{text}");
    }
    // A deadlock across shards (no server sees both locks) is found by the gateway and ends as
    // MySQL's deadlock error (1213, which clients retry) for one of the two, at once.
    let a = (1..1000u64).find(|i| expected_shard(*i) == "-80").unwrap();
    let b = (1..1000u64).find(|i| expected_shard(*i) == "80-").unwrap();
    let pool = c.pool("root", "", Some("customer"));
    let (mut c1, mut c2) = (pool.get_conn().await.unwrap(), pool.get_conn().await.unwrap());
    c1.query_drop("begin").await.unwrap();
    c2.query_drop("begin").await.unwrap();
    c1.query_drop(format!("update sbtest1 set k = k + 1 where id = {a}")).await.unwrap();
    c2.query_drop(format!("update sbtest1 set k = k + 1 where id = {b}")).await.unwrap();
    let started = std::time::Instant::now();
    let (r1, r2) = tokio::join!(c1.query_drop(format!("update sbtest1 set k = k + 1 where id = {b}")), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c2.query_drop(format!("update sbtest1 set k = k + 1 where id = {a}")).await
    });
    let codes: Vec<u16> = [r1, r2].into_iter().filter_map(|r| r.err()).map(code).collect();
    assert_eq!(codes, vec![1213], "expected one deadlock error");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    c1.query_drop("rollback").await.unwrap();
    c2.query_drop("rollback").await.unwrap();
    drop((c1, c2));
    pool.disconnect().await.unwrap();
    // Many sessions at once: statements to a busy shard leave in batches; every session gets
    // its own rows back.
    let pool = c.pool("root", "", Some("customer"));
    let tasks: Vec<_> = (0..24u64)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut conn = pool.get_conn().await.unwrap();
                for i in 0..40u64 {
                    let id = 1 + (t * 41 + i * 7) % 1000;
                    let got: Option<(u64, u64)> = conn
                        .query_first(format!("select id, id * 3 + {t} from sbtest1 where id = {id}"))
                        .await
                        .unwrap();
                    // sysbench deleted and re-inserted some rows; those present must be ours.
                    if let Some(row) = got {
                        assert_eq!(row, (id, id * 3 + t), "session {t}");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    pool.disconnect().await.unwrap();
    // The CLI sees an UPDATE's info line.
    let out = cli(&["-uroot", "customer", "-vvv"], "update sbtest1 set k = k + 1 where id = 7");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Rows matched: 1"), "{text}{}", String::from_utf8_lossy(&out.stderr));
}

/// Reads one raw packet (header + payload), or None at EOF.
fn raw_packet(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).ok()?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).ok()?;
    Some(p)
}

fn raw_login(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let greeting = raw_packet(&mut s).unwrap();
    assert_eq!(greeting[0], 10);
    // HandshakeResponse41 for root with an empty password.
    let mut p = Vec::new();
    p.extend_from_slice(&(0x200u32 | 0x8000 | 0x8_0000).to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"root\0");
    p.push(0);
    p.extend_from_slice(b"mysql_native_password\0");
    let mut pkt = (p.len() as u32).to_le_bytes()[..3].to_vec();
    pkt.push(1);
    pkt.extend_from_slice(&p);
    s.write_all(&pkt).unwrap();
    let ok = raw_packet(&mut s).unwrap();
    assert_eq!(ok[0], 0, "login OK");
    s
}

fn send_command(s: &mut TcpStream, payload: &[u8]) {
    let mut pkt = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    pkt.push(0);
    pkt.extend_from_slice(payload);
    s.write_all(&pkt).unwrap();
}

fn err_code(p: &[u8]) -> u16 {
    assert_eq!(p[0], 0xff, "expected an ERR packet, got {p:?}");
    u16::from_le_bytes([p[1], p[2]])
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_errors_and_the_gateway_keeps_serving() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("root", "", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("insert into customer (email) values ('keep@x')").await.unwrap();

    // Garbage before the handshake: an error or a closed connection.
    let mut s = TcpStream::connect(c.gateway).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let greeting = raw_packet(&mut s).unwrap();
    assert_eq!(greeting[0], 10);
    if let Some(p) = raw_packet(&mut s) {
        assert_eq!(err_code(&p), 1043);
    }
    // A short garbage handshake response.
    let mut s = TcpStream::connect(c.gateway).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw_packet(&mut s).unwrap();
    s.write_all(&[5, 0, 0, 1, 1, 2, 3, 4, 5]).unwrap();
    assert_eq!(err_code(&raw_packet(&mut s).unwrap()), 1043);

    // Garbage after the handshake.
    let mut s = raw_login(c.gateway);
    send_command(&mut s, &[0xee, 1, 2, 3]);
    assert_eq!(err_code(&raw_packet(&mut s).unwrap()), 1047);
    send_command(&mut s, &[0x03, b's', b'e', 0xff, 0xfe]);
    assert_eq!(err_code(&raw_packet(&mut s).unwrap()), 1064, "invalid UTF-8");
    send_command(&mut s, &[0x03]);
    assert_eq!(err_code(&raw_packet(&mut s).unwrap()), 1065, "empty query");
    send_command(&mut s, &[0x0e]);
    assert_eq!(raw_packet(&mut s).unwrap()[0], 0, "still answers PING");
    // A packet claiming 16 MB that never arrives: the session waits, nobody else does.
    let mut s = raw_login(c.gateway);
    s.write_all(&[0xff, 0xff, 0xff, 0, 0x03, b's']).unwrap();
    let one: i64 = conn.query_first("select 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    drop(s);
    // A packet above max_allowed_packet (16 MB here) is refused.
    let mut s = raw_login(c.gateway);
    let mut big = vec![0xff, 0xff, 0xff, 0];
    big.extend(std::iter::repeat_n(b'x', 0xff_ffff));
    big.extend_from_slice(&[0xff, 0xff, 0xff, 1]);
    s.write_all(&big).unwrap();
    let _ = s.write_all(&vec![b'x'; 0xff_ffff]);
    if let Some(p) = raw_packet(&mut s) {
        assert_eq!(err_code(&p), 1153);
    }

    // A 10 MB query: a clear error (or an answer), and the gateway goes on.
    let big_sql = format!("select '{}' as big", "x".repeat(10 << 20));
    match conn.query_drop(big_sql).await {
        Ok(()) => {}
        Err(mysql_async::Error::Server(e)) => assert!(e.message.contains("payload") || e.code == 1153, "{e:?}"),
        Err(e) => panic!("the gateway must answer a 10 MB query with an error packet: {e}"),
    }

    // A client killed mid-result and one killed mid-transaction.
    let mut s = raw_login(c.gateway);
    send_command(&mut s, b"\x03select * from customer");
    drop(s);
    let mut s = raw_login(c.gateway);
    send_command(&mut s, b"\x03use customer");
    raw_packet(&mut s).unwrap();
    send_command(&mut s, b"\x03begin");
    raw_packet(&mut s).unwrap();
    send_command(&mut s, b"\x03insert into customer (customer_id, email) values (3000, 'gone')");
    assert_eq!(raw_packet(&mut s).unwrap()[0], 0);
    drop(s);
    let mut conn = pool.get_conn().await.unwrap();
    let gone: Option<String> = conn.query_first("select email from customer where customer_id = 3000").await.unwrap();
    assert_eq!(gone, None, "a disconnected client's transaction is rolled back");
    let url = c.nats.url.clone();
    eventually(Duration::from_secs(10), "transactions freed on the tablets", || {
        let url = url.clone();
        async move {
            let open: usize = ["zone1-200", "zone1-300"]
                .iter()
                .map(|t| {
                    let out = crate::harness::node::ctl_ok(
                        &url,
                        &["ExecuteFetchAsDba", t, "select count(*) from information_schema.innodb_trx"],
                    );
                    out.lines().nth(1).and_then(|l| l.trim().parse::<usize>().ok()).unwrap_or(1)
                })
                .sum();
            (open == 0).then_some(())
        }
    })
    .await;
    let kept: Option<String> = conn.query_first("select email from customer where customer_id = 1000").await.unwrap();
    assert_eq!(kept.as_deref(), Some("keep@x"), "committed data survives bad clients");
}
