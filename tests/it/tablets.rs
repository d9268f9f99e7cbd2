//! Tablets on real MariaDB servers: replication, the query service, transactions, sequences,
//! schema changes, supervision.

use std::collections::BTreeSet;
use std::time::Duration;

use tessera::backend::TabletClient;
use tessera::protocol::subjects;
use tessera::protocol::tablet::{QueryRequest, QueryResponse, QueryResult, TabletError};
use tessera::protocol::topology::TabletType;

use crate::harness::eventually;
use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_err, ctl_ok, NodeProc};

/// A node hosting managed tablets given as `alias:ks/shard:type`, each on a free port, with
/// short transaction timeouts and a small row limit so the tests can reach them.
fn tablet_node(nats: &NatsServer, id: &str, tablets: &[&str]) -> NodeProc {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut toml = String::new();
    for spec in tablets {
        let (alias, rest) = spec.split_once(':').unwrap();
        let (target, ttype) = rest.rsplit_once(':').unwrap();
        let (ks, shard) = target.split_once('/').unwrap();
        toml.push_str(&format!(
            "[[tablet]]\nalias = \"{alias}\"\nkeyspace = \"{ks}\"\nshard = \"{shard}\"\ntype = \"{ttype}\"\n\
             mysql_port = {}\ntx_timeout_ms = 1500\nmax_result_rows = 1000\npool_size = 8\n\n",
            crate::harness::free_port()
        ));
    }
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, toml).unwrap();
    let node = NodeProc::start_with(&nats.url, id, &["--config".into(), cfg.display().to_string()]);
    let _ = std::fs::remove_dir_all(&dir); // read at start; not needed any more
    node
}

async fn wait_serving(nats: &NatsServer, count: usize) {
    let url = nats.url.clone();
    eventually(Duration::from_secs(90), &format!("{count} tablets serving"), || {
        let out = ctl(&url, &["--json", "GetTablets"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let serving =
            v["tablets"].as_array().map(|ts| ts.iter().filter(|t| t["health"]["serving"] == true).count()).unwrap_or(0);
        async move { (serving >= count).then_some(()) }
    })
    .await;
}

fn rows_of(r: QueryResponse) -> QueryResult {
    match r {
        QueryResponse::Result { result, .. } => result,
        other => panic!("expected a result, got {other:?}"),
    }
}

fn exec(sql: &str) -> QueryRequest {
    QueryRequest::Execute {
        sql: sql.into(),
        binds: Default::default(),
        transaction_id: None,
        options: Default::default(),
    }
}

fn exec_tx(sql: &str, tx: u64) -> QueryRequest {
    QueryRequest::Execute {
        sql: sql.into(),
        binds: Default::default(),
        transaction_id: Some(tx),
        options: Default::default(),
    }
}

fn count(r: QueryResult) -> i64 {
    String::from_utf8(r.rows[0][0].clone().unwrap()).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shard_replicates_serves_queries_transactions_and_sequences() {
    let nats = NatsServer::start();
    let _node =
        tablet_node(&nats, "n1", &["zone1-100:ks/0:replica", "zone1-101:ks/0:replica", "zone1-102:ks/0:rdonly"]);
    wait_serving(&nats, 3).await;
    let out = ctl_ok(&nats.url, &["InitShardPrimary", "ks/0", "zone1-100"]);
    assert!(out.contains("ks/0 primary is zone1-0000000100"), "{out}");
    ctl_ok(
        &nats.url,
        &[
            "ApplySchema",
            "ks",
            "--sql",
            "create table t (id bigint primary key, v varchar(64)); \
             create table seq (id int, next_id bigint, cache bigint, primary key (id)) comment 'vitess_sequence'",
        ],
    );
    ctl_ok(&nats.url, &["ExecuteFetchAsDba", "zone1-100", "insert into seq values (0, 1, 5)"]);

    let tc = TabletClient::new(nats.client().await, "test", Duration::from_secs(20));
    // A write on the primary, by target, is readable on the replicas after catch-up.
    let r = rows_of(
        tc.query_target("ks", "0", TabletType::Primary, &exec("insert into t values (1, 'one')")).await.unwrap(),
    );
    assert_eq!(r.rows_affected, 1);
    for replica in ["zone1-0000000101", "zone1-0000000102"] {
        let tc = tc.clone();
        eventually(Duration::from_secs(10), "row replicated", || {
            let tc = tc.clone();
            async move {
                let r = rows_of(tc.query(replica, &exec("select v from t where id = 1")).await.ok()?);
                (r.rows.len() == 1).then_some(())
            }
        })
        .await;
    }
    // Replicas refuse writes with MySQL's read-only error number.
    let e = tc.query("zone1-0000000101", &exec("insert into t values (2, 'two')")).await.unwrap_err();
    assert!(matches!(e, TabletError::ReadOnly { .. }), "{e}");
    assert_eq!(e.mysql_code().0, 1290);
    let e = tc.query_target("ks", "0", TabletType::Rdonly, &exec("delete from t")).await.unwrap_err();
    assert!(matches!(e, TabletError::ReadOnly { .. }), "{e}");
    // MySQL errors keep their number.
    let e = tc.query_target("ks", "0", TabletType::Primary, &exec("select * from nope")).await.unwrap_err();
    assert!(matches!(&e, TabletError::Mysql { code: 1146, .. }), "{e}");

    // A transaction over several requests: invisible outside until committed.
    let QueryResponse::Began { transaction_id: tx, tablet } =
        tc.query_target("ks", "0", TabletType::Primary, &QueryRequest::Begin).await.unwrap()
    else {
        panic!("begin")
    };
    assert_eq!(tablet, "zone1-0000000100");
    tc.query(&tablet, &exec_tx("insert into t values (10, 'a')", tx)).await.unwrap();
    tc.query(&tablet, &exec_tx("insert into t values (11, 'b')", tx)).await.unwrap();
    assert_eq!(count(rows_of(tc.query(&tablet, &exec_tx("select count(*) from t", tx)).await.unwrap())), 3);
    assert_eq!(count(rows_of(tc.query(&tablet, &exec("select count(*) from t")).await.unwrap())), 1);
    tc.query(&tablet, &QueryRequest::Commit { transaction_id: tx }).await.unwrap();
    assert_eq!(count(rows_of(tc.query(&tablet, &exec("select count(*) from t")).await.unwrap())), 3);
    // Rolled back: gone.
    let QueryResponse::Began { transaction_id: tx, .. } = tc.query(&tablet, &QueryRequest::Begin).await.unwrap() else {
        panic!()
    };
    tc.query(&tablet, &exec_tx("insert into t values (20, 'x')", tx)).await.unwrap();
    tc.query(&tablet, &QueryRequest::Rollback { transaction_id: tx }).await.unwrap();
    assert_eq!(count(rows_of(tc.query(&tablet, &exec("select count(*) from t")).await.unwrap())), 3);
    // Left open past its timeout (1.5 s): rolled back, its connection freed.
    let QueryResponse::Began { transaction_id: tx, .. } = tc.query(&tablet, &QueryRequest::Begin).await.unwrap() else {
        panic!()
    };
    tc.query(&tablet, &exec_tx("insert into t values (30, 'late')", tx)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2800)).await;
    let e = tc.query(&tablet, &QueryRequest::Commit { transaction_id: tx }).await.unwrap_err();
    assert!(matches!(e, TabletError::TxNotFound { .. }), "{e}");
    assert_eq!(count(rows_of(tc.query(&tablet, &exec("select count(*) from t")).await.unwrap())), 3);
    // (The query service's MySQL user may not see other sessions: ask as the DBA.)
    let trx = ctl_ok(&nats.url, &["ExecuteFetchAsDba", &tablet, "select count(*) from information_schema.innodb_trx"]);
    assert!(trx.lines().any(|l| l.trim() == "0"), "the timed-out transaction still holds a connection: {trx}");
    let e = tc.query(&tablet, &exec("select count(*) from information_schema.innodb_trx")).await.unwrap_err();
    assert!(e.to_string().contains("PROCESS"), "the query service runs with least privilege: {e}");
    let e = tc.query(&tablet, &exec("set global max_connections = 499")).await.unwrap_err();
    assert!(matches!(e, TabletError::Mysql { code: 1227, .. }), "{e}");
    let e = tc.query(&tablet, &exec("select 1; select 2")).await.unwrap_err();
    assert!(e.to_string().contains("one statement per request"), "{e}");

    // Row limit (1000 here) is a clear error; streaming returns everything in parts of about
    // 256 KiB (1103 rows of 4 KiB: at least 16).
    tc.query(&tablet, &exec("insert into t select seq, 'bulk' from seq_100_to_1199")).await.unwrap();
    let e = tc.query(&tablet, &exec("select * from t")).await.unwrap_err();
    assert!(matches!(e, TabletError::RowLimit { limit: 1000 }), "{e}");
    let sql = "select id, repeat('x', 4096) from t order by id";
    let (fields, rows, chunks) = tc.stream_execute(&tablet, sql).await.unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(rows.len(), 1103);
    assert!(chunks >= 16, "{chunks} parts");
    assert!(rows.windows(2).all(|w| w[0][0].as_deref().map(|v| v.len()) <= w[1][0].as_deref().map(|v| v.len())));

    // Sequences: unique, increasing ids under concurrent callers.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let tc = tc.clone();
            tokio::spawn(async move {
                let mut firsts = Vec::new();
                for _ in 0..15 {
                    let r = rows_of(
                        tc.query_target("ks", "0", TabletType::Primary, &exec("select next 3 values from seq"))
                            .await
                            .unwrap(),
                    );
                    assert_eq!(r.fields[0].name, "nextval");
                    firsts.push(count(r));
                }
                firsts
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        let firsts = t.await.unwrap();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]), "ids must increase per caller: {firsts:?}");
        for f in firsts {
            for id in f..f + 3 {
                assert!(ids.insert(id), "id {id} handed out twice");
            }
        }
    }
    assert_eq!(ids.len(), 6 * 15 * 3);
    let e = tc.query("zone1-0000000101", &exec("select next 1 values from seq")).await.unwrap_err();
    assert!(matches!(e, TabletError::ReadOnly { .. }), "sequences are served by the primary only: {e}");

    // Malformed requests on tablet subjects get typed errors; the tablet keeps serving.
    let client = nats.client().await;
    let reply = client.request(subjects::tablet("zone1-0000000100", "query"), "garbage".into()).await.unwrap();
    let r: Result<QueryResponse, TabletError> = tessera::protocol::tablet::decode_query_reply(&reply.payload).unwrap();
    assert!(matches!(r, Err(TabletError::BadRequest(_))), "{r:?}");
    let reply = client.request(subjects::tablet("zone1-0000000100", "manage"), "junk".into()).await.unwrap();
    let env: tessera::protocol::envelope::Envelope<tessera::protocol::tablet::ManageReply> =
        tessera::protocol::envelope::Envelope::decode(&reply.payload).unwrap();
    assert!(matches!(env.body, Err(TabletError::BadRequest(_))));
    assert_eq!(count(rows_of(tc.query(&tablet, &exec("select count(*) from t where id < 100")).await.unwrap())), 3);

    // Types and positions.
    let err = ctl_err(&nats.url, &["ChangeTabletType", "zone1-100", "replica"]);
    assert!(err.contains("never changes to or from primary"), "{err}");
    ctl_ok(&nats.url, &["ChangeTabletType", "zone1-102", "spare"]);
    let tablets = ctl_ok(&nats.url, &["GetTablets", "--keyspace", "ks"]);
    assert!(tablets.lines().any(|l| l.starts_with("zone1-0000000102") && l.contains(" spare ")), "{tablets}");
    let pos = ctl_ok(&nats.url, &["ShardReplicationPositions", "ks/0"]);
    assert_eq!(pos.lines().filter(|l| l.starts_with("zone1-")).count(), 3, "{pos}");
    ctl_ok(&nats.url, &["StopReplication", "zone1-101"]);
    let pos = ctl_ok(&nats.url, &["--json", "ShardReplicationPositions", "ks/0"]);
    assert!(pos.contains("\"replicating\": false"), "{pos}");
    ctl_ok(&nats.url, &["StartReplication", "zone1-101"]);

    // ValidateSchemaKeyspace finds a difference planted on one replica.
    let out = ctl_ok(&nats.url, &["ValidateSchemaKeyspace", "ks"]);
    assert!(out.contains("is the same on all 3 tablets"), "{out}");
    ctl_ok(&nats.url, &["ExecuteFetchAsDba", "zone1-101", "alter table t add column planted int"]);
    let out = ctl_ok(&nats.url, &["ValidateSchemaKeyspace", "ks"]);
    assert!(out.contains("table `t` differs") && out.contains("zone1-0000000101"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mysqld_is_restarted_and_loses_no_committed_row() {
    let nats = NatsServer::start();
    let node = tablet_node(&nats, "n1", &["zone1-200:ks/0:replica"]);
    wait_serving(&nats, 1).await;
    ctl_ok(&nats.url, &["InitShardPrimary", "ks/0", "zone1-200"]);
    ctl_ok(&nats.url, &["ApplySchema", "ks", "--sql", "create table t (id bigint primary key)"]);
    let tc = TabletClient::new(nats.client().await, "test", Duration::from_secs(20));
    let alias = "zone1-0000000200";
    for i in 0..50 {
        tc.query(alias, &exec(&format!("insert into t values ({i})"))).await.unwrap();
    }
    let pid: i32 = std::fs::read_to_string(node.tablet_dir(alias).join("mysqld.pid")).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };

    let tc2 = tc.clone();
    eventually(Duration::from_secs(60), "primary serving again after mysqld was killed", || {
        let tc = tc2.clone();
        async move { tc.query(alias, &exec("select count(*) from t")).await.ok().map(rows_of) }
    })
    .await;
    assert_eq!(count(rows_of(tc.query(alias, &exec("select count(*) from t")).await.unwrap())), 50);
    // Still the primary, still writable.
    tc.query(alias, &exec("insert into t values (50)")).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&ctl_ok(&nats.url, &["--json", "GetTablets"])).unwrap();
    assert!(v["tablets"][0]["health"]["mysqld_restarts"].as_u64().unwrap() >= 1, "{v}");
    let events = std::process::Command::new(crate::harness::node::BIN)
        .args(["events", "--nats", &nats.url, "--from-start", "--filter", "MysqldDied", "--limit", "1", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&events.stdout).contains("SIGKILL"), "{}", String::from_utf8_lossy(&events.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_external_mysql_is_not_serving_until_it_appears() {
    let nats = NatsServer::start();
    let port = crate::harness::free_port();
    let _node = NodeProc::start_with(
        &nats.url,
        "n1",
        &["--tablet".into(), format!("zone1-300:ext/0:replica@127.0.0.1:{port}")],
    );
    let url = nats.url.clone();
    let reason = eventually(Duration::from_secs(30), "external tablet reported not serving", || {
        let out = ctl(&url, &["--json", "GetTablets"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let t = v["tablets"][0].clone();
        async move { (t["health"]["serving"] == false).then(|| t["health"]["last_error"].to_string()) }
    })
    .await;
    assert!(reason.contains(&port.to_string()), "the reason names the server: {reason}");
    // A tablet that does not serve is not in its target's queue group: nobody answers there.
    let tc = TabletClient::new(nats.client().await, "test", Duration::from_secs(5));
    let e = tc.query_target("ext", "0", TabletType::Replica, &exec("select 1")).await.unwrap_err();
    assert!(e.to_string().contains("no tablet answers"), "{e}");

    // Someone starts the server: the tablet notices on its own.
    let dir = tempfile::tempdir().unwrap();
    let mysqld = tessera::mysqld::Mysqld::new(dir.path().join("ext"), port, 300);
    let template = tessera::mysqld::ensure_template(&crate::harness::node::template_dir()).await.unwrap();
    tokio::fs::create_dir_all(&mysqld.dir).await.unwrap();
    mysqld.prepare(&template).await.unwrap();
    let mut child = mysqld.spawn().unwrap();
    mysqld.wait_ready(Some(&mut child), Duration::from_secs(30)).await.unwrap();
    wait_serving(&nats, 1).await;
    let tc2 = tc.clone();
    eventually(Duration::from_secs(10), "the target answers once the tablet serves", || {
        let tc = tc2.clone();
        async move { tc.query_target("ext", "0", TabletType::Replica, &exec("select 1")).await.ok() }
    })
    .await;
    mysqld.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_schema_reaches_every_tablet_or_applies_nothing() {
    let nats = NatsServer::start();
    let _node = tablet_node(
        &nats,
        "n1",
        &[
            "zone1-400:cust/-80:replica",
            "zone1-401:cust/-80:replica",
            "zone1-410:cust/80-:replica",
            "zone1-411:cust/80-:replica",
        ],
    );
    wait_serving(&nats, 4).await;
    let err = ctl_err(&nats.url, &["ApplySchema", "cust", "--sql", "create table a (id int primary key)"]);
    assert!(err.contains("has no primary"), "{err}");
    ctl_ok(&nats.url, &["InitShardPrimary", "cust/-80", "zone1-400"]);
    ctl_ok(&nats.url, &["InitShardPrimary", "cust/80-", "zone1-410"]);
    ctl_ok(&nats.url, &["ApplySchema", "cust", "--sql", "create table a (id int primary key, n int)"]);
    let url = nats.url.clone();
    for alias in ["zone1-400", "zone1-401", "zone1-410", "zone1-411"] {
        let url = url.clone();
        eventually(Duration::from_secs(10), "table on every tablet", move || {
            let out = ctl(&url, &["GetSchema", alias]);
            let ok = String::from_utf8_lossy(&out.stdout).contains("CREATE TABLE `a`");
            async move { ok.then_some(()) }
        })
        .await;
    }
    let none_applied = |err: &str| assert!(err.contains("nothing was applied"), "{err}");
    none_applied(&ctl_err(&nats.url, &["ApplySchema", "cust", "--sql", "create table b (id int"]));
    let err = ctl_err(&nats.url, &["ApplySchema", "cust", "--sql", "insert into a values (1, 1)"]);
    assert!(err.contains("not DDL"), "{err}");
    none_applied(&err);
    let err = ctl_err(&nats.url, &["ApplySchema", "nope", "--sql", "create table b (id int)"]);
    assert!(err.contains("keyspace `nope` does not exist"), "{err}");
    let err =
        ctl_err(&nats.url, &["ApplySchema", "cust", "--sql", "create table b (id int); alter table missing add c int"]);
    assert!(err.contains("ALTER of table `missing`"), "{err}");
    none_applied(&err);
    let err = ctl_err(&nats.url, &["ApplySchema", "cust", "--sql", "drop table missing"]);
    assert!(err.contains("IF EXISTS"), "{err}");
    for alias in ["zone1-400", "zone1-410"] {
        let schema = ctl_ok(&nats.url, &["GetSchema", alias]);
        assert!(!schema.contains("`b`"), "a refused batch must apply nothing: {schema}");
    }
    // ALTER on a large table needs --allow-large.
    ctl_ok(&nats.url, &["ExecuteFetchAsDba", "zone1-400", "insert into a select seq, 0 from seq_1_to_50"]);
    ctl_ok(&nats.url, &["ExecuteFetchAsDba", "zone1-400", "analyze table a"]);
    let big = ["ApplySchema", "cust", "--large-table-rows", "10", "--sql", "alter table a add column c int"];
    let err = ctl_err(&nats.url, &big);
    assert!(err.contains("--allow-large"), "{err}");
    let mut allowed = big.to_vec();
    allowed.push("--allow-large");
    ctl_ok(&nats.url, &allowed);
    let out = ctl_ok(&nats.url, &["ValidateSchemaKeyspace", "cust"]);
    assert!(out.contains("is the same on all 4 tablets"), "{out}");
}
