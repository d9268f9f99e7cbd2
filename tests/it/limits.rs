//! Bounded resources and contained failures: lying packet headers and unbounded long data do
//! not grow the node's memory, handshakes and connections are limited, a busy pool answers
//! with an error in time, a panic ends one session (or one request), never the node, and a
//! fuzz run of malformed packets and statements leaves the node serving.

use std::io::Write;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::differential::Lcg;
use crate::harness::cluster::GatewayCluster;
use crate::harness::raw::Raw;

const COM_QUERY: u8 = 0x03;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;

fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("expected a server error, got {other}"),
    }
}

fn opts(c: &GatewayCluster, user: &str, password: &str, db: Option<&str>) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(c.gateway.port())
        .user(Some(user))
        .pass(Some(password))
        .db_name(db.map(str::to_string))
        .into()
}

/// Reads the rest of a COM_STMT_PREPARE answer; returns the statement id.
fn prepared(raw: &mut Raw, ok: &[u8]) -> u32 {
    assert_eq!(ok.first(), Some(&0), "prepare failed: {ok:?}");
    let id = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
    let (cols, params) = (u16::from_le_bytes([ok[5], ok[6]]), u16::from_le_bytes([ok[7], ok[8]]));
    let packets = |n: u16| if n > 0 { n as usize + 1 } else { 0 };
    for _ in 0..packets(params) + packets(cols) {
        raw.recv().expect("prepare metadata");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resources_are_bounded_and_failures_contained() {
    let c = GatewayCluster::start_opts(
        "max_connections = 40\nmax_user_connections = 25\nconnect_timeout_ms = 1500",
        "pool_size = 4\npool_wait_ms = 1000",
        "session-panic,tablet-panic",
    )
    .await;
    let addr = c.gateway;

    // Headers announcing 16 MiB, followed by 10 bytes: nothing like 16 MiB per connection.
    let before = c.node.rss_kib();
    let mut liars = Vec::new();
    for _ in 0..20 {
        let mut r = Raw::login(addr, "root").expect("login");
        r.stream.write_all(&[0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        liars.push(r);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = c.node.rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "20 lying headers grew the node by {grown} KiB (320 MiB if allocated up front)");
    drop(liars);

    // Long data: 32 x 8 MiB for one parameter (max_allowed_packet is 16 MiB here). What the
    // node keeps is bounded by max_allowed_packet plus the packet being read (and what the
    // allocator keeps of freed buffers, per thread): nothing like the 256 MiB sent.
    let mut r = Raw::login(addr, "root").expect("login");
    let ok = r.command(COM_STMT_PREPARE, b"select length(?)").expect("prepare");
    let id = prepared(&mut r, &ok);
    let before = c.node.rss_kib();
    let chunk = vec![b'x'; 8 << 20];
    for _ in 0..32 {
        r.send(0, &[&[COM_STMT_SEND_LONG_DATA][..], &id.to_le_bytes(), &0u16.to_le_bytes(), &chunk].concat());
    }
    // EXECUTE: no flags, one iteration, null bitmap 0, types bound: BLOB.
    let exec = [&[COM_STMT_EXECUTE][..], &id.to_le_bytes(), &[0], &1u32.to_le_bytes(), &[0, 1, 0xfc, 0]].concat();
    r.send(0, &exec);
    let answer = r.recv().expect("an answer to EXECUTE").1;
    assert_eq!(Raw::errno(&answer), Some(1153), "{}", String::from_utf8_lossy(&answer));
    let grown = c.node.rss_kib().saturating_sub(before);
    assert!(grown < 96 * 1024, "256 MiB of long data grew the node by {grown} KiB");
    let answer = r.command(COM_QUERY, b"select 1").expect("the connection still works");
    assert_eq!(answer, [1], "one column");
    drop(r);

    // A handshake never answered is closed after connect_timeout_ms.
    let started = Instant::now();
    let (mut idle, _) = Raw::greeted(addr);
    assert!(idle.closed_within(Duration::from_secs(10)), "an unanswered handshake stays open");
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());

    // Connections per user, then in all.
    let mut apps = Vec::new();
    for _ in 0..25 {
        apps.push(mysql_async::Conn::new(opts(&c, "app", "secret", None)).await.expect("within the user's limit"));
    }
    let e = mysql_async::Conn::new(opts(&c, "app", "secret", None)).await.unwrap_err();
    assert_eq!(code(&e), 1203, "{e}");
    let mut roots = Vec::new();
    let refused = loop {
        let (r, greeting) = Raw::greeted(addr);
        if let Some(errno) = Raw::errno(&greeting) {
            break errno;
        }
        roots.push(r);
        assert!(roots.len() <= 40, "more than max_connections admitted");
    };
    assert_eq!(refused, 1040);
    assert_eq!(roots.len() + apps.len(), 40);
    drop(roots);
    for a in apps {
        a.disconnect().await.unwrap();
    }
    // Closed connections are uncounted as their sessions end.
    crate::harness::eventually(Duration::from_secs(10), "connection slots freed", || async move {
        let mut held = Vec::new();
        for _ in 0..10 {
            let (r, greeting) = Raw::greeted(addr);
            if Raw::errno(&greeting).is_some() {
                return None;
            }
            held.push(r);
        }
        Some(())
    })
    .await;

    // A busy pool: four sleeps hold the shard's four connections; the fifth statement is
    // refused within pool_wait_ms, naming the tablet.
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(mysql_async::Conn::new(opts(&c, "app", "secret", Some("customer/-80"))).await.unwrap());
    }
    let mut conn = conns.pop().unwrap();
    let sleepers: Vec<_> =
        conns.into_iter().map(|mut s| tokio::spawn(async move { s.query_drop("select sleep(4)").await })).collect();
    let url = c.nats.url.clone();
    crate::harness::eventually(Duration::from_secs(10), "four sleeps running on zone1-200", || {
        let sql = "select count(*) from information_schema.processlist where info like 'select sleep%'";
        let out = crate::harness::node::ctl_ok(&url, &["ExecuteFetchAsDba", "zone1-200", sql]);
        async move { out.lines().any(|l| l.trim() == "4").then_some(()) }
    })
    .await;
    let started = Instant::now();
    let e = conn.query_drop("select 1 from customer").await.unwrap_err();
    assert_eq!(code(&e), 1040, "{e}");
    assert!(e.to_string().contains("zone1-0000000200"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());
    for s in sleepers {
        s.await.unwrap().expect("the sleeps finish");
    }

    // A panicking statement ends its session with an error; the node and other sessions live.
    let e = conn.query_drop("select 1 /* failpoint:session-panic */").await.unwrap_err();
    assert_eq!(code(&e), 1105, "{e}");
    assert!(e.to_string().contains("internal error"), "{e}");
    assert!(conn.query_drop("select 1").await.is_err(), "the panicked session is closed");
    let mut conn = mysql_async::Conn::new(opts(&c, "app", "secret", Some("customer"))).await.unwrap();
    let e = conn.query_drop("select * from customer where customer_id = 1 /* failpoint:tablet-panic */").await;
    let e = e.unwrap_err();
    assert_eq!(code(&e), 1105, "{e}");
    assert!(e.to_string().contains("internal error in tablet"), "{e}");
    let one: Option<u64> = conn.query_first("select 1").await.unwrap();
    assert_eq!(one, Some(1), "a tablet's panic fails one request, not the session");
}

/// Reads and drops what the server sends for 20 ms; false when it closed the connection.
fn drain(raw: &mut Raw) -> bool {
    use std::io::Read;
    raw.stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match raw.stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(_) => return true,
        }
    }
}

/// Random packets and mangled statements, from several connections; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fuzzed_packets_and_statements_leave_the_node_serving() {
    let c = GatewayCluster::start().await;
    let addr = c.gateway;
    let mut rng = Lcg(4242);
    let deadline = Instant::now() + Duration::from_secs(25);

    // Packets: any command byte, any body (statements prepared first so EXECUTE finds one).
    let mut sent = 0;
    let mut raw = Raw::login(addr, "root").expect("login");
    while Instant::now() < deadline && sent < 3000 {
        let cmd = rng.below(0x22) as u8;
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(8),
            2 => rng.below(64),
            _ => rng.below(4096),
        } as usize;
        let mut body: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        if matches!(cmd, 0x17..=0x1a) && body.len() >= 4 && rng.below(2) == 0 {
            body[..4].copy_from_slice(&1u32.to_le_bytes()); // a statement id that exists
        }
        if sent % 50 == 0 {
            raw.send(0, &[&[COM_STMT_PREPARE][..], b"select ?, ? from customer where customer_id = ?"].concat());
            drain(&mut raw);
        }
        raw.send(0, &[&[cmd][..], &body].concat());
        sent += 1;
        // Whatever comes back is read and ignored; a closed connection is replaced.
        if !drain(&mut raw) || cmd == 0x01 {
            raw = Raw::login(addr, "root").expect("the gateway still accepts logins");
        }
    }
    drop(raw);

    // Statements: the corpus, mangled.
    let pool = c.pool("app", "secret", Some("customer"));
    let queries = crate::corpus::queries();
    let noise: [&str; 14] =
        ["(", ")", "'", "\\", ";", "/*", "*/", "--", "#", "`", "\"", " or ", "99999999999999999999999", "@"];
    let mut statements = 0;
    while Instant::now() < deadline + Duration::from_secs(15) && statements < 1500 {
        let base = queries[rng.below(queries.len() as u64) as usize].as_bytes().to_vec();
        let mut q = base.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(q.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if !q.is_empty() => {
                    q.truncate(at.max(1));
                }
                1 => {
                    let n = noise[rng.below(noise.len() as u64) as usize];
                    q.splice(at..at, n.bytes());
                }
                _ => {
                    if at < q.len() {
                        q[at] = rng.below(256) as u8;
                    }
                }
            }
        }
        if let Ok(mut conn) = pool.get_conn().await {
            let _ = conn.query_drop(&q[..]).await;
        }
        statements += 1;
    }
    let mut conn = pool.get_conn().await.expect("the gateway still serves");
    let n: Option<u64> = conn.query_first("select count(*) from customer").await.unwrap();
    assert!(n.is_some());
    assert!(c.node.rss_kib() > 0, "the node process is alive");
    eprintln!("fuzz: {sent} packets, {statements} statements; the node kept serving");
}
