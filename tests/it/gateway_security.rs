//! Gateway transport and authentication: TLS, unix socket, caching_sha2_password.

use std::process::Command;

use mysql_async::prelude::*;

use crate::harness::cluster::GatewayCluster;
use crate::harness::node::NodeProc;

fn self_signed(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

fn mariadb(args: &[&str], sql: &str) -> std::process::Output {
    Command::new("mariadb").args(args).args(["-e", sql]).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_unix_socket_and_caching_sha2() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let socket = certs.path().join("gateway.sock");
    let extra = format!(
        "tls_cert = \"{cert}\"\ntls_key = \"{key}\"\nsocket = \"{}\"\ndefault_auth = \"caching_sha2_password\"",
        socket.display()
    );
    let c = GatewayCluster::start_with(&extra).await;
    let port = format!("-P{}", c.gateway.port());

    // TLS with the mariadb CLI.
    let out =
        mariadb(&["-h127.0.0.1", &port, "-uapp", "-psecret", "--ssl", "--skip-ssl-verify-server-cert"], "select 42");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
    // The unix socket.
    let out = mariadb(&["-S", socket.to_str().unwrap(), "-uapp", "-psecret", "customer"], "show tables");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("corder"));
    // caching_sha2_password (offered first here) with mysql_async's fast path.
    let pool = c.pool("app", "secret", Some("customer"));
    let mut conn = pool.get_conn().await.unwrap();
    let one: i64 = conn.query_first("select 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    drop(conn);
    pool.disconnect().await.unwrap();
    let e = c.pool("app", "nope", None).get_conn().await.unwrap_err();
    assert!(matches!(e, mysql_async::Error::Server(ref s) if s.code == 1045), "{e}");
    let root = c.pool("root", "", None);
    root.get_conn().await.expect("empty password with caching_sha2");
    root.disconnect().await.unwrap();

    // A second node serving only a gateway, in the same cluster, requiring TLS.
    let strict: std::net::SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
    let cfg = c.dir.path().join("strict.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nlisten = \"{strict}\"\nauth = \"users\"\nusers_file = \"{}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\ntls_required = true\n",
            c.dir.path().join("users.toml").display()
        ),
    )
    .unwrap();
    let _gw = NodeProc::start_with(&c.nats.url, "gw2", &["--config".into(), cfg.display().to_string()]);
    let sport = format!("-P{}", strict.port());
    let out = mariadb(&["-h127.0.0.1", &sport, "-uapp", "-psecret", "--skip-ssl"], "select 1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("insecure transport"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mariadb(
        &["-h127.0.0.1", &sport, "-uapp", "-psecret", "--ssl", "--skip-ssl-verify-server-cert", "customer"],
        "select email from customer where customer_id = 1",
    );
    assert!(out.status.success(), "the second gateway routes too: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_from_one_address_slow_down_until_a_login_succeeds() {
    use std::time::{Duration, Instant};
    let c = GatewayCluster::start().await;
    let attempt = |password: &'static str| {
        let pool = c.pool("app", password, None);
        async move {
            let t = Instant::now();
            let r = pool.get_conn().await.map(drop);
            let took = t.elapsed();
            let _ = pool.disconnect().await;
            (r, took)
        }
    };
    let mut took = Vec::new();
    for _ in 0..5 {
        let (r, t) = attempt("nope").await;
        let e = r.unwrap_err();
        assert!(matches!(e, mysql_async::Error::Server(ref s) if s.code == 1045), "{e}");
        took.push(t);
    }
    // Three answered at once, then a second more for each further failure.
    assert!(took[..3].iter().all(|d| *d < Duration::from_millis(900)), "{took:?}");
    assert!(took[3] >= Duration::from_millis(950) && took[4] >= Duration::from_millis(1950), "{took:?}");
    // A good password resets the address's count.
    attempt("secret").await.0.expect("the right password still logs in");
    let (r, t) = attempt("nope").await;
    assert!(r.is_err() && t < Duration::from_millis(900), "{t:?}");
    let log = c.node.log();
    assert!(log.contains("authentication failed") && log.contains("failures=5"), "the failures are logged");
}

/// A client that prefers the unix socket on 127.0.0.1 (mysql_async's default) asks `@@socket`
/// after connecting and reconnects there: the gateway must name its own (none here), never a
/// tablet's, or the client would talk to that tablet's MariaDB past the gateway.
#[tokio::test(flavor = "multi_thread")]
async fn port_and_socket_name_the_gateway_not_a_tablet() {
    let c = GatewayCluster::start().await;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(c.gateway.port())
        .user(Some("root"))
        .db_name(Some("customer"));
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let (socket, port): (String, u16) = conn.query_first("SELECT @@socket, @@port").await.unwrap().unwrap();
    assert_eq!((socket.as_str(), port), ("", c.gateway.port()));
    let show: Vec<(String, String)> =
        conn.query("SHOW VARIABLES WHERE Variable_name IN ('port', 'socket')").await.unwrap();
    assert!(show.contains(&("port".to_string(), c.gateway.port().to_string())), "{show:?}");
    assert!(show.contains(&("socket".to_string(), String::new())), "{show:?}");
    // Qualified and unqualified names work: the statements reach the gateway.
    conn.query_drop("INSERT INTO customer.customer (customer_id, email) VALUES (4242, 'sock@x')").await.unwrap();
    let n: Option<u64> = conn.query_first("SELECT COUNT(*) FROM customer WHERE customer_id = 4242").await.unwrap();
    assert_eq!(n, Some(1));
}

/// Table ACLs: a user outside a table group's grants gets MySQL's 1142, tables no group names
/// stay open, and a changed ACL file applies without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn table_acls_refuse_what_a_user_was_not_granted_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl.json");
    let group = |writers: &str| {
        format!(
            r#"{{"table_groups": [{{"name": "customers", "table_names_or_prefixes": ["customer"],
                "readers": ["app"], "writers": [{writers}], "admins": ["root"]}}]}}"#
        )
    };
    std::fs::write(&acl, group(r#""root""#)).unwrap();
    let c = GatewayCluster::start_with(&format!("table_acl_file = \"{}\"", acl.display())).await;
    let app = c.pool("app", "secret", Some("customer"));
    let root = c.pool("root", "", Some("customer"));
    let mut a = app.get_conn().await.unwrap();
    let mut r = root.get_conn().await.unwrap();

    r.query_drop("insert into customer (customer_id, email) values (1, 'one@x')").await.unwrap();
    let n: Option<u64> = a.query_first("select count(*) from customer").await.unwrap();
    assert_eq!(n, Some(1), "readers read");
    for (sql, cmd) in [
        ("insert into customer (customer_id, email) values (2, 'two@x')", "INSERT"),
        ("update customer set email = 'x' where customer_id = 1", "UPDATE"),
        ("delete from customer", "DELETE"),
        ("alter table customer add column note text", "ALTER"),
    ] {
        let e = a.query_drop(sql).await.unwrap_err();
        let mysql_async::Error::Server(e) = e else { panic!("{sql}: {e}") };
        assert_eq!(e.code, 1142, "{sql}: {}", e.message);
        assert!(e.message.starts_with(&format!("{cmd} command denied to user 'app'@")), "{}", e.message);
        assert!(e.message.ends_with("for table 'customer'"), "{}", e.message);
    }
    // Prepared statements and subqueries are checked too; an unnamed table is open.
    let e = a.exec_drop("update customer set email = ? where customer_id = 1", ("p",)).await.unwrap_err();
    assert!(e.to_string().contains("1142"), "{e}");
    let e =
        a.query_drop("insert into corder (order_id, customer_id) select customer_id, customer_id from customer").await;
    assert!(e.is_ok(), "corder is in no group, customer is readable: {e:?}");
    let n: Option<u64> = r.query_first("select count(*) from customer").await.unwrap();
    assert_eq!(n, Some(1), "nothing the refused statements tried was written");

    // The file changes: app may write now, without a restart.
    std::fs::write(&acl, group(r#""root", "app""#)).unwrap();
    let mut done = false;
    for _ in 0..50 {
        if a.query_drop("insert into customer (customer_id, email) values (2, 'two@x')").await.is_ok() {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(done, "the reloaded ACL did not apply");
    // A broken file keeps the last good ACL.
    std::fs::write(&acl, "{ not json").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let e = a.query_drop("alter table customer add column note2 text").await.unwrap_err();
    assert!(e.to_string().contains("1142"), "{e}");
    assert!(c.node.log().contains("keeping the previous table ACL"));
}
