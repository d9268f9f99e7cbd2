//! What applications send when they connect and configure a session: the server's identity,
//! SET of session variables (kept per session, applied on every tablet connection it uses),
//! transaction isolation, character sets, executable comments.

use std::time::Duration;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::raw::Raw;

async fn seen(conn: &mut mysql_async::Conn) -> String {
    conn.query_first("select email from customer where customer_id = 1").await.unwrap().unwrap()
}

/// A SHOW PROCESSLIST row: id, user, db, command, info.
type Process = (u64, String, Option<String>, String, Option<String>);

async fn ids(conn: &mut mysql_async::Conn) -> Vec<i64> {
    conn.query("select customer_id from customer where customer_id in (101, 102, 104) order by 1").await.unwrap()
}

fn server_error(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_keep_their_variables_identity_and_isolation() {
    let c = GatewayCluster::start().await;
    let pool = c.pool("app", "secret", Some("customer"));
    let mut a = pool.get_conn().await.unwrap();

    // One identity: the handshake, @@version, VERSION() (run by a tablet) and the comment.
    let (major, minor, _) = a.server_version();
    assert!(major >= 10, "the handshake announces MariaDB: {major}.{minor}");
    let (v, fv, comment): (String, String, String) =
        a.query_first("select @@version, version(), @@version_comment").await.unwrap().unwrap();
    assert!(v.ends_with("-MariaDB-tessera"), "{v}");
    assert_eq!(v, fv, "@@version and VERSION() agree");
    let on_shard: String = a
        .query_first("select version() from customer where customer_id = 1 union select version()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on_shard, v, "every tablet reports the same version");
    assert!(!comment.is_empty());

    a.query_drop("insert into customer (customer_id, email) values (2, 'two'), (4, 'four')").await.unwrap();
    // Several variables in one SET, with expressions over the session's own values (Connector/J).
    a.query_drop("SET autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES'), time_zone = '+03:00'")
        .await
        .unwrap();
    let (mode, tz): (String, String) = a.query_first("select @@sql_mode, @@session.time_zone").await.unwrap().unwrap();
    assert!(mode.contains("STRICT_TRANS_TABLES"), "{mode}");
    assert_eq!(tz, "+03:00");
    // Applied on every tablet connection the session uses: many statements, routed and scatter.
    for _ in 0..10 {
        let t: String = a.query_first("select cast(from_unixtime(0) as char)").await.unwrap().unwrap();
        assert_eq!(t, "1970-01-01 03:00:00");
    }
    let times: Vec<String> = a
        .query("select cast(from_unixtime(0) as char) from customer union all select '1970-01-01 03:00:00'")
        .await
        .unwrap();
    assert!(times.len() == 3 && times.iter().all(|t| t == "1970-01-01 03:00:00"), "{times:?}");
    // Another session keeps the tablets' own.
    let mut b = pool.get_conn().await.unwrap();
    let tz_b: String = b.query_first("select @@time_zone").await.unwrap().unwrap();
    assert_ne!(tz_b, "+03:00");
    let vars: Vec<(String, String)> = a.query("show variables like 'time_zone'").await.unwrap();
    assert_eq!(vars, vec![("time_zone".to_string(), "+03:00".to_string())]);
    a.query_drop("set time_zone = default").await.unwrap();
    let tz: String = a.query_first("select @@time_zone").await.unwrap().unwrap();
    assert_eq!(tz, tz_b);

    // A SET that fails leaves the session as it was, and says which variable and why.
    a.query_drop("set foreign_key_checks = OFF").await.unwrap();
    let e = a.query_drop("set foreign_key_checks = 1, sql_log_bin = 0").await.unwrap_err();
    let (code, msg) = server_error(e);
    assert_eq!(code, 1235);
    assert!(msg.contains("sql_log_bin"), "{msg}");
    let fk: i64 = a.query_first("select @@foreign_key_checks").await.unwrap().unwrap();
    assert_eq!(fk, 0);
    // Variables with only a global value answer it when asked without a scope, as MariaDB does
    // (SQLAlchemy asks `@@lower_case_table_names` at connect, Connector/J `@@system_time_zone`).
    let (lctn, stz): (i64, String) =
        a.query_first("select @@lower_case_table_names, @@system_time_zone").await.unwrap().unwrap();
    assert_eq!(lctn, 0);
    assert!(!stz.is_empty());
    // Decimal values for DOUBLE variables (mariadb-dump's `SET @@MAX_STATEMENT_TIME=0.000000`).
    a.query_drop("set max_statement_time = 1.5").await.unwrap();
    let mst: String = a.query_first("select @@max_statement_time").await.unwrap().unwrap();
    assert_eq!(mst, "1.500000");
    a.query_drop("/*M!100100 SET @@MAX_STATEMENT_TIME=0.000000 */").await.unwrap();
    // SET STATEMENT ... FOR: for that statement only.
    let during: String =
        a.query_first("SET STATEMENT max_statement_time = 3 FOR select @@max_statement_time").await.unwrap().unwrap();
    assert_eq!(during, "3.000000");
    let mode: String = a
        .query_first("set statement sql_mode = 'NO_ZERO_DATE' for select @@sql_mode from customer limit 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode, "NO_ZERO_DATE");
    let after: String = a.query_first("select @@max_statement_time").await.unwrap().unwrap();
    assert_eq!(after, "0.000000");
    let (code, _) = server_error(a.query_drop("set nope_not_a_variable = 1").await.unwrap_err());
    assert_eq!(code, 1193, "MariaDB's unknown-variable error");
    let (code, msg) = server_error(a.query_drop("set global max_connections = 10").await.unwrap_err());
    assert!(code == 1235 && msg.contains("GLOBAL"), "{code} {msg}");
    let (code, msg) = server_error(a.query_drop("set wait_timeout = 'soon'").await.unwrap_err());
    assert!(code == 1231 && msg.contains("wait_timeout"), "{code} {msg}");

    // Connection and character-set variables belong to the gateway's side of the connection.
    a.query_drop("set wait_timeout = 100, names utf8mb4 collate utf8mb4_unicode_ci").await.unwrap();
    let (wt, cs, co): (u64, String, String) =
        a.query_first("select @@wait_timeout, @@character_set_client, @@collation_connection").await.unwrap().unwrap();
    assert_eq!((wt, cs.as_str(), co.as_str()), (100, "utf8mb4", "utf8mb4_unicode_ci"));
    let (code, msg) = server_error(a.query_drop("set names latin1").await.unwrap_err());
    assert!(code == 1235 && msg.contains("UTF-8"), "{code} {msg}");

    // Isolation: READ COMMITTED sees another session's commit inside its transaction;
    // the default REPEATABLE READ does not.
    a.query_drop("insert into customer (customer_id, email) values (1, 'old')").await.unwrap();
    a.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await.unwrap();
    let iso: (String, String) = a.query_first("select @@tx_isolation, @@transaction_isolation").await.unwrap().unwrap();
    assert_eq!(iso, ("READ-COMMITTED".to_string(), "READ-COMMITTED".to_string()));
    a.query_drop("begin").await.unwrap();
    assert_eq!(seen(&mut a).await, "old");
    b.query_drop("begin").await.unwrap();
    assert_eq!(seen(&mut b).await, "old");
    let mut w = pool.get_conn().await.unwrap();
    w.query_drop("update customer set email = 'new' where customer_id = 1").await.unwrap();
    assert_eq!(seen(&mut a).await, "new", "READ COMMITTED sees the commit");
    assert_eq!(seen(&mut b).await, "old", "REPEATABLE READ keeps its snapshot");
    a.query_drop("commit").await.unwrap();
    b.query_drop("commit").await.unwrap();
    // SET TRANSACTION (no scope) holds for the next transaction only.
    b.query_drop("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").await.unwrap();
    b.query_drop("begin").await.unwrap();
    assert_eq!(seen(&mut b).await, "new");
    w.query_drop("update customer set email = 'newer' where customer_id = 1").await.unwrap();
    assert_eq!(seen(&mut b).await, "newer");
    let (code, _) = server_error(b.query_drop("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await.unwrap_err());
    assert_eq!(code, 1568, "not inside a transaction");
    b.query_drop("commit").await.unwrap();
    b.query_drop("begin").await.unwrap();
    assert_eq!(seen(&mut b).await, "newer");
    w.query_drop("update customer set email = 'newest' where customer_id = 1").await.unwrap();
    assert_eq!(seen(&mut b).await, "newer", "the next transaction is REPEATABLE READ again");
    b.query_drop("commit").await.unwrap();
    // READ ONLY transactions refuse writes on the tablet.
    b.query_drop("SET SESSION TRANSACTION READ ONLY").await.unwrap();
    b.query_drop("begin").await.unwrap();
    let (code, _) =
        server_error(b.query_drop("update customer set email = 'x' where customer_id = 1").await.unwrap_err());
    assert_eq!(code, 1792, "MariaDB's read-only transaction error");
    b.query_drop("rollback").await.unwrap();
    b.query_drop("SET SESSION TRANSACTION READ WRITE").await.unwrap();

    // Savepoints span the transaction's shards, including shards it reaches after them.
    b.query_drop("begin").await.unwrap();
    b.query_drop("insert into customer (customer_id, email) values (101, 'a')").await.unwrap();
    b.query_drop("savepoint a").await.unwrap();
    // 101 is on 80-, 102 and 104 on -80 (hash vindex): -80 joins the transaction after `a`.
    b.query_drop("insert into customer (customer_id, email) values (104, 'd'), (102, 'b')").await.unwrap();
    assert_eq!(ids(&mut b).await, [101, 102, 104]);
    b.query_drop("rollback to savepoint a").await.unwrap();
    assert_eq!(ids(&mut b).await, [101]);
    b.query_drop("savepoint `b b`").await.unwrap();
    b.query_drop("insert into customer (customer_id, email) values (102, 'b')").await.unwrap();
    b.query_drop("release savepoint `b b`").await.unwrap();
    let (code, _) = server_error(b.query_drop("rollback to `b b`").await.unwrap_err());
    assert_eq!(code, 1305);
    b.query_drop("commit").await.unwrap();
    assert_eq!(ids(&mut a).await, [101, 102]);
    let (code, _) = server_error(a.query_drop("rollback to savepoint a").await.unwrap_err());
    assert_eq!(code, 1305, "no transaction, no savepoint");
    a.query_drop("savepoint outside").await.unwrap();

    // FOUND_ROWS() and ROW_COUNT() are the session's, whichever tablet connections ran what.
    let two: Vec<i64> = a
        .query("select SQL_CALC_FOUND_ROWS customer_id from customer where customer_id > 100 order by customer_id desc limit 1")
        .await
        .unwrap();
    assert_eq!(two, [102]);
    let found: i64 = a.query_first("select found_rows()").await.unwrap().unwrap();
    assert_eq!(found, 2, "rows without the LIMIT, over both shards");
    let _: Vec<i64> = a.query("select customer_id from customer where customer_id in (101, 102)").await.unwrap();
    let found: i64 = a.query_first("select found_rows()").await.unwrap().unwrap();
    assert_eq!(found, 2);
    a.query_drop("update customer set email = 'u' where customer_id > 100").await.unwrap();
    let changed: i64 = a.query_first("select row_count()").await.unwrap().unwrap();
    assert_eq!(changed, 2);
    let after_select: i64 = a.query_first("select row_count()").await.unwrap().unwrap();
    assert_eq!(after_select, -1);

    // SHOW PROCESSLIST, information_schema.PROCESSLIST and COM_STATISTICS describe the
    // gateway's sessions, not the tablets' connections.
    let mut sleeper = pool.get_conn().await.unwrap();
    let sleeper_id = sleeper.id();
    let sleeping = tokio::spawn(async move {
        sleeper.query_drop("select sleep(1.5)").await.unwrap();
        sleeper
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list: Vec<Process> = a
        .query("show processlist")
        .await
        .unwrap()
        .into_iter()
        .map(|r: mysql_async::Row| {
            mysql_async::from_row::<(u64, String, String, Option<String>, String, u64, String, Option<String>, String)>(
                r,
            )
        })
        .map(|(id, user, _, db, cmd, _, _, info, _)| (id, user, db, cmd, info))
        .collect();
    let me = list.iter().find(|p| p.0 == u64::from(sleeper_id)).unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(
        (me.1.as_str(), me.2.as_deref(), me.3.as_str(), me.4.as_deref()),
        ("app", Some("customer"), "Query", Some("select sleep(1.5)"))
    );
    assert!(list.iter().all(|p| p.1 == "app"), "only this gateway's sessions: {list:?}");
    let info: Option<String> = a
        .query_first(format!(
            "select info from information_schema.processlist where id = {sleeper_id} and command = 'Query'"
        ))
        .await
        .unwrap();
    assert_eq!(info.as_deref(), Some("select sleep(1.5)"));
    drop(sleeping.await.unwrap());
    let out = std::process::Command::new("mariadb-admin")
        .args(["-h127.0.0.1", &format!("-P{}", c.gateway.port()), "-uapp", "-psecret", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("Uptime: ") && text.contains("Threads: "), "{text}");

    // Executable comments run as MariaDB runs them (mariadb-dump's preamble).
    let mut d = pool.get_conn().await.unwrap();
    d.query_drop("/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */").await.unwrap();
    d.query_drop("/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;").await.unwrap();
    let (uc, old): (i64, i64) = d.query_first("select @@unique_checks, @OLD_UNIQUE_CHECKS").await.unwrap().unwrap();
    assert_eq!((uc, old), (0, 1));
    let one: i64 =
        d.query_first("select 1 /*!200000 + 100 */ /*!40101 + 0 */ /*M!100100 * 1 */").await.unwrap().unwrap();
    assert_eq!(one, 1);
    // A statement that ends in a NUL byte (mariadb-slap) or blanks.
    drop(d);
    let mut raw = Raw::login(c.gateway, "root").expect("login");
    let ok = raw.command(3, b"select 1 ;  \0").expect("reply");
    assert_ne!(<[u8]>::first(&ok), Some(&0xff), "{:?}", String::from_utf8_lossy(&ok));
    let _ = raw.closed_within(Duration::from_millis(10));
}
