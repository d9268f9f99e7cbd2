//! The engine against in-memory shards ([`super::memory`]): plans from the planner, rows from
//! canned answers, and the requests the engine sent checked as much as its results.

use std::sync::Arc;

use super::memory::{affected, result, MemoryShards};
use super::session::SessionState;
use super::shards::ShardsRef;
use super::Ctx;
use crate::plan::{Plan, Target};
use crate::protocol::tablet::{QueryResult, TabletError};
use crate::routing::{example_view, RoutingView};

const INT: u8 = 8;
const TEXT: u8 = 253;
const BLOB: u8 = 252;
const DEC: u8 = 246;

fn session(ks: &str) -> SessionState {
    SessionState { target: Target::parse(ks).unwrap(), autocommit: true, query_id: 42, ..Default::default() }
}

fn pipeline(sql: &str, view: &RoutingView) -> crate::plan::Pipeline {
    match crate::planner::plan(sql, &Target::parse("customer").unwrap(), view).unwrap() {
        Plan::Select(p) => *p,
        other => panic!("{sql}: expected a pipeline, got {other:?}"),
    }
}

fn cells(r: &QueryResult) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|row| {
            row.iter().map(|c| c.as_ref().map_or("NULL".into(), |v| String::from_utf8_lossy(v).into_owned())).collect()
        })
        .collect()
}

async fn run(sql: &str, shards: &Arc<MemoryShards>) -> QueryResult {
    let view = example_view();
    let p = pipeline(sql, &view);
    let tablets: ShardsRef = shards.as_ref();
    let cx = Ctx { tablets: &tablets, view: &view, max_rows: 1000 };
    super::run(&p, &cx, &mut session("customer")).await.unwrap()
}

/// Customers by shard, with the hidden ORDER BY columns the planner adds (the value and its
/// weight string: case-insensitive here, as utf8mb4_general_ci).
fn customers(at: &str, _sql: &str) -> Result<QueryResult, TabletError> {
    let cols = [("customer_id", INT), ("email", TEXT), ("email", TEXT), ("w", BLOB)];
    Ok(match at {
        "customer/-80" => result(
            &cols,
            &[
                &[Some("1"), Some("apple"), Some("apple"), Some("APPLE")],
                &[Some("3"), Some("cherry"), Some("cherry"), Some("CHERRY")],
            ],
        ),
        _ => result(
            &cols,
            &[
                &[Some("2"), Some("Banana"), Some("Banana"), Some("BANANA")],
                &[Some("4"), Some("date"), Some("date"), Some("DATE")],
            ],
        ),
    })
}

#[tokio::test]
async fn merge_sorts_the_shards_ordered_rows_by_weight_string() {
    let shards = MemoryShards::new(customers);
    let r = run("select * from customer order by email", &shards).await;
    assert_eq!(r.fields.len(), 2, "the hidden sort columns are stripped");
    let emails: Vec<String> = cells(&r).into_iter().map(|row| row[1].clone()).collect();
    assert_eq!(emails, ["apple", "Banana", "cherry", "date"], "case-insensitive order across shards");
    let sent = shards.lines();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|l| l.contains("ORDER BY email")), "{sent:?}");

    // The same result streamed (how a client gets it): merged part by part.
    let view = example_view();
    let p = pipeline("select * from customer order by email", &view);
    let tablets: ShardsRef = shards.as_ref();
    let route = super::pass_through_route(&p).expect("a pass-through route");
    let answer = super::stream::merged_route(&tablets, &mut session("customer"), route, &p).await.unwrap();
    let r = answer.rows(100).await.unwrap().unwrap();
    let emails: Vec<String> = cells(&r).into_iter().map(|row| row[1].clone()).collect();
    assert_eq!(emails, ["apple", "Banana", "cherry", "date"]);
}

#[tokio::test]
async fn limit_and_offset_apply_to_the_merged_rows() {
    let shards = MemoryShards::new(|at, _| {
        let cols = [("customer_id", INT), ("customer_id", INT), ("w", BLOB)];
        Ok(match at {
            "customer/-80" => result(
                &cols,
                &[&[Some("1"), Some("1"), None], &[Some("3"), Some("3"), None], &[Some("5"), Some("5"), None]],
            ),
            _ => result(&cols, &[&[Some("2"), Some("2"), None], &[Some("4"), Some("4"), None]]),
        })
    });
    let r = run("select customer_id from customer order by customer_id limit 2 offset 1", &shards).await;
    assert_eq!(cells(&r), [["2"], ["3"]]);
    assert!(shards.lines().iter().all(|l| l.contains("LIMIT 3")), "LIMIT n+m pushed down: {:?}", shards.lines());
}

#[tokio::test]
async fn partial_aggregates_merge_with_mysql_types() {
    let shards = MemoryShards::new(|at, sql| {
        assert_eq!(sql, "select sum(price), count(price) from corder");
        let cols = [("sum(price)", DEC), ("count(price)", INT)];
        Ok(match at {
            "customer/-80" => result(&cols, &[&[Some("30"), Some("3")]]),
            _ => result(&cols, &[&[Some("12"), Some("1")]]),
        })
    });
    let r = run("select sum(price), avg(price) from corder", &shards).await;
    assert_eq!(cells(&r), [["42", "10.5000"]], "SUM is exact, AVG has four more decimals");
    // No rows anywhere: SUM and AVG are NULL, COUNT is 0.
    let empty = MemoryShards::new(|_, _| Ok(result(&[("count(*)", INT), ("sum(price)", DEC)], &[&[Some("0"), None]])));
    let r = run("select count(*), sum(price) from corder", &empty).await;
    assert_eq!(cells(&r), [["0", "NULL"]]);
}

#[tokio::test]
async fn groups_from_several_shards_merge_into_one_per_key() {
    let shards = MemoryShards::new(|at, _| {
        let cols = [("sku", TEXT), ("w", BLOB), ("count(*)", INT)];
        Ok(match at {
            "customer/-80" => result(&cols, &[&[Some("a"), Some("A"), Some("2")], &[Some("b"), Some("B"), Some("1")]]),
            _ => result(&cols, &[&[Some("A"), Some("A"), Some("5")], &[Some("c"), Some("C"), Some("1")]]),
        })
    });
    let r = run("select sku, count(*) from corder group by sku", &shards).await;
    assert_eq!(cells(&r), [["a", "7"], ["b", "1"], ["c", "1"]], "`a` and `A` are one group under _ci");
}

#[tokio::test]
async fn nested_loop_joins_bind_the_left_values() {
    let shards = MemoryShards::new(|at, sql| {
        if sql.starts_with("select c.email") {
            let rows: &[&[Option<&str>]] =
                if at == "customer/-80" { &[&[Some("a")], &[Some("b")]] } else { &[&[Some("z")]] };
            return Ok(result(&[("email", TEXT)], rows));
        }
        assert!(sql.contains("o.sku in ("), "{sql}");
        let rows: &[&[Option<&str>]] = if at == "customer/-80" { &[&[Some("a")], &[Some("a")]] } else { &[] };
        Ok(result(&[("sku", TEXT)], rows))
    });
    let r = run("select c.email, o.sku from customer c join corder o on c.email = o.sku", &shards).await;
    assert_eq!(cells(&r), [["a", "a"], ["a", "a"]]);
    let right: Vec<String> = shards.lines().into_iter().filter(|l| l.contains(" in (")).collect();
    assert_eq!(right.len(), 2, "one right query per shard for one batch: {right:?}");
    assert!(right[0].contains("'a'") && right[0].contains("'b'") && right[0].contains("'z'"), "{right:?}");
}

/// A keyspace with an owned lookup vindex, for lookup maintenance.
fn music_view() -> RoutingView {
    const MAIN: &str = r#"{"tables": {"music_seq": {"type": "sequence"}, "music_lookup": {}}}"#;
    const MUSIC: &str = r#"{
      "sharded": true,
      "vindexes": {
        "hash": {"type": "hash"},
        "music_lookup": {"type": "lookup", "params": {"table": "main.music_lookup", "from": "music_id", "to": "keyspace_id"}, "owner": "music"}
      },
      "tables": {
        "music": {"column_vindexes": [{"column": "user_id", "name": "hash"}, {"column": "music_id", "name": "music_lookup"}]}
      }
    }"#;
    crate::routing::view_of(&[("main", &["0"], MAIN), ("music", &["-80", "80-"], MUSIC)])
}

#[tokio::test]
async fn inserts_map_owned_lookups_in_one_transaction() {
    let view = music_view();
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let Plan::Insert(p) = crate::planner::plan(
        "insert into music (user_id, music_id, title) values (1, 100, 'a'), (4, 101, 'b')",
        &Target::parse("music").unwrap(),
        &view,
    )
    .unwrap() else {
        panic!("an insert plan")
    };
    let mut s = session("music");
    super::exec::run_insert(&tablets, &view, &mut s, *p).await.unwrap();
    let log = shards.lines();
    let first = log.iter().position(|l| l.starts_with("main/0: insert into")).expect("the lookup rows");
    assert!(log[first].contains("music_lookup") && log[first].contains("100") && log[first].contains("101"), "{log:?}");
    let rows: Vec<&String> = log.iter().filter(|l| l.contains("INSERT INTO music")).collect();
    assert_eq!(rows.len(), 2, "one insert per shard (ids 1 and 4 hash apart): {log:?}");
    assert!(log.iter().position(|l| l.contains("INSERT INTO music")).unwrap() > first, "lookups first: {log:?}");
    let commits = log.iter().filter(|l| l.contains(": commit")).count();
    assert_eq!(commits, 3, "the gateway's own transaction commits on all three: {log:?}");
    assert!(!s.in_transaction);
}

#[tokio::test]
async fn a_failing_shard_mid_transaction_is_reported_and_rolled_back() {
    let shards = MemoryShards::new(|at, sql| {
        if at == "customer/80-" && sql.starts_with("update") {
            return Err(TabletError::Mysql { code: 1205, state: "HY000".into(), message: "Lock wait timeout".into() });
        }
        Ok(affected(1))
    });
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session("customer");
    s.in_transaction = true;
    let shards_list = ["-80".to_string(), "80-".to_string()];
    let e = super::exec::run_shards(
        &tablets,
        &mut s,
        "customer",
        &shards_list,
        "update customer set email = 'x'",
        crate::protocol::topology::TabletType::Primary,
    )
    .await
    .unwrap_err();
    assert_eq!(e.mysql_code().0, 1205);
    assert_eq!(s.shard_txs.len(), 1, "the shard that began keeps its transaction for the session");
    super::exec::rollback(&tablets, &mut s).await;
    assert!(shards.lines().iter().any(|l| l.starts_with("customer/-80: rollback")), "{:?}", shards.lines());
    assert!(s.shard_txs.is_empty() && !s.in_transaction);

    // A commit that fails on one shard says which committed and which rolled back.
    let shards = MemoryShards::new(|at, sql| {
        if at == "customer/-80" && sql.starts_with("commit") {
            return Err(TabletError::Internal("lost".into()));
        }
        Ok(affected(1))
    });
    let tablets: ShardsRef = shards.as_ref();
    let mut s = session("customer");
    s.in_transaction = true;
    super::exec::run_shards(
        &tablets,
        &mut s,
        "customer",
        &shards_list,
        "delete from customer",
        crate::protocol::topology::TabletType::Primary,
    )
    .await
    .unwrap();
    let e = super::exec::commit(&tablets, &mut s).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("commit failed on customer/-80") && text.contains("rolled back on [customer/80-]"), "{text}");
}

#[tokio::test]
async fn an_abandoned_request_is_killed_on_its_shard() {
    // A shard that never answers within the test: dropping the statement's future kills it.
    struct Slow(Arc<MemoryShards>);
    impl super::shards::Shards for Slow {
        fn target<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: crate::protocol::topology::TabletType,
            _: crate::protocol::tablet::QueryRequest,
        ) -> futures::future::BoxFuture<'a, crate::protocol::tablet::QueryReply> {
            Box::pin(futures::future::pending())
        }
        fn tablet<'a>(
            &'a self,
            _: &'a str,
            _: crate::protocol::tablet::QueryRequest,
        ) -> futures::future::BoxFuture<'a, crate::protocol::tablet::QueryReply> {
            Box::pin(futures::future::pending())
        }
        fn kill<'a>(&'a self, ks: &'a str, shard: &'a str, ids: Vec<u64>) -> futures::future::BoxFuture<'a, ()> {
            self.0.kill(ks, shard, ids)
        }
    }
    let log = MemoryShards::new(|_, _| Ok(affected(0)));
    let tablets: ShardsRef = Arc::new(Slow(log.clone()));
    let mut s = session("customer");
    let one = ["-80".to_string()];
    let run = super::exec::run_shards(
        &tablets,
        &mut s,
        "customer",
        &one,
        "select sleep(60)",
        crate::protocol::topology::TabletType::Primary,
    );
    assert!(tokio::time::timeout(std::time::Duration::from_millis(50), run).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(log.lines(), ["customer/-80: kill [42]"]);
}

/// `music_view`, with the lookup table in the sharded keyspace itself, spread by `music_id`.
fn sharded_lookup_view() -> RoutingView {
    const MAIN: &str = r#"{"tables": {"music_seq": {"type": "sequence"}}}"#;
    const MUSIC: &str = r#"{
      "sharded": true,
      "vindexes": {
        "hash": {"type": "hash"},
        "music_lookup": {"type": "lookup_unique", "params": {"table": "music_lookup", "from": "music_id", "to": "keyspace_id"}, "owner": "music"}
      },
      "tables": {
        "music": {"column_vindexes": [{"column": "user_id", "name": "hash"}, {"column": "music_id", "name": "music_lookup"}]},
        "music_lookup": {"column_vindexes": [{"column": "music_id", "name": "hash"}]}
      }
    }"#;
    crate::routing::view_of(&[("main", &["0"], MAIN), ("music", &["-80", "80-"], MUSIC)])
}

fn shard_of(id: u64) -> &'static str {
    if crate::vindex::functional::hash_u64(id)[0] < 0x80 {
        "-80"
    } else {
        "80-"
    }
}

#[tokio::test]
async fn a_lookup_table_in_a_sharded_keyspace_is_written_and_read_where_its_vindex_puts_each_value() {
    let view = sharded_lookup_view();
    let shards = MemoryShards::new(|_, _| Ok(affected(1)));
    let tablets: ShardsRef = shards.as_ref();
    let target = Target::parse("music").unwrap();
    let insert = "insert into music (user_id, music_id) values (1, 100), (1, 101), (1, 102), (1, 103)";
    let Plan::Insert(p) = crate::planner::plan(insert, &target, &view).unwrap() else { panic!("an insert plan") };
    super::exec::run_insert(&tablets, &view, &mut session("music"), *p).await.unwrap();
    let log = shards.lines();
    for id in [100u64, 101, 102, 103] {
        let at = format!("music/{}: insert into `music_lookup`", shard_of(id));
        assert!(
            log.iter().any(|l| l.starts_with(&at) && l.contains(&format!("({id}, "))),
            "{id} on its shard: {log:?}"
        );
        let other = format!("music/{}: insert into `music_lookup`", if shard_of(id) == "-80" { "80-" } else { "-80" });
        assert!(!log.iter().any(|l| l.starts_with(&other) && l.contains(&format!("({id}, "))), "{log:?}");
    }

    // A read by the lookup column asks only the shard that holds the value's mapping.
    let shards = MemoryShards::new(|_, sql| {
        Ok(match sql.starts_with("select `keyspace_id`") {
            true => result(&[("keyspace_id", BLOB)], &[]),
            false => result(&[("user_id", INT)], &[]),
        })
    });
    let tablets: ShardsRef = shards.as_ref();
    let Plan::Lookup(p) =
        crate::planner::plan("select user_id from music where music_id = 102", &target, &view).unwrap()
    else {
        panic!("a lookup plan")
    };
    super::lookup::run(&tablets, &view, &mut session("music"), *p).await.unwrap();
    let asked: Vec<String> = shards.lines().into_iter().filter(|l| l.contains("from `music_lookup`")).collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].starts_with(&format!("music/{}:", shard_of(102))), "{asked:?}");
}

#[tokio::test]
async fn a_lookup_primary_vindex_sends_each_row_where_its_mapping_says_and_refuses_unmapped_values() {
    const MAIN: &str = r#"{"tables": {"order_idx": {}}}"#;
    const SHOP: &str = r#"{
      "sharded": true,
      "vindexes": {
        "order_idx": {"type": "lookup_unique", "params": {"table": "main.order_idx", "from": "order_id", "to": "keyspace_id"}}
      },
      "tables": {"payment": {"column_vindexes": [{"column": "order_id", "name": "order_idx"}]}}
    }"#;
    let view = crate::routing::view_of(&[("main", &["0"], MAIN), ("shop", &["-80", "80-"], SHOP)]);
    // The lookup maps order 7 to a keyspace id in -80 and order 9 to one in 80-; 11 to none.
    let shards = MemoryShards::new(|at, sql| {
        if at != "main/0" {
            return Ok(affected(1));
        }
        let mut rows: Vec<[Option<&str>; 2]> = Vec::new();
        for part in sql.split(" union all ") {
            let i = part.trim_start_matches("select ").split(',').next().unwrap_or("");
            let ksid = match part.rsplit("= ").next() {
                Some("7") => "\x10\x00",
                Some("9") => "\u{e9}",
                _ => continue,
            };
            rows.push([Some(i), Some(ksid)]);
        }
        let rows: Vec<&[Option<&str>]> = rows.iter().map(|r| r.as_slice()).collect();
        Ok(result(&[("i", INT), ("keyspace_id", BLOB)], &rows))
    });
    let tablets: ShardsRef = shards.as_ref();
    let target = Target::parse("shop").unwrap();
    let plan = |sql: &str| match crate::planner::plan(sql, &target, &view).unwrap() {
        Plan::Insert(p) => *p,
        other => panic!("{sql}: {other:?}"),
    };
    let p = plan("insert into payment (order_id, amount) values (7, 1), (9, 2)");
    super::exec::run_insert(&tablets, &view, &mut session("shop"), p).await.unwrap();
    let log = shards.lines();
    assert!(log.iter().any(|l| l.starts_with("shop/-80: INSERT INTO payment") && l.contains("(7, 1)")), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("shop/80-: INSERT INTO payment") && l.contains("(9, 2)")), "{log:?}");

    let p = plan("insert into payment (order_id, amount) values (7, 1), (11, 2)");
    let e = super::exec::run_insert(&tablets, &view, &mut session("shop"), p).await.unwrap_err();
    assert!(e.to_string().contains("could not map 11 to a keyspace id"), "{e}");

    // Reads by the primary vindex column route through the lookup.
    let read = crate::planner::plan("select amount from payment where order_id = 9", &target, &view).unwrap();
    assert!(matches!(read, Plan::Lookup(_)), "{read:?}");
}
