//! Planner unit tests over a folded topology (no NATS, no MySQL).

use super::plan;
use crate::plan::{GatewayError, Local, Plan, Target};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::vindex::functional::hash_u64;

fn view() -> RoutingView {
    crate::routing::example_view()
}

fn target(ks: &str) -> Target {
    Target::parse(ks).unwrap()
}

fn shards(p: Plan) -> Vec<String> {
    match p {
        Plan::Route { shards, .. } => shards,
        other => panic!("expected a route, got {other:?}"),
    }
}

fn shard_of(id: u64) -> &'static str {
    if hash_u64(id)[0] < 0x80 {
        "-80"
    } else {
        "80-"
    }
}

#[test]
fn routes_by_primary_vindex() {
    let v = view();
    let t = target("customer");
    for id in [1u64, 2, 3, 4, 5, 6] {
        let p = plan(&format!("select * from customer where customer_id = {id}"), &t, &v).unwrap();
        assert_eq!(shards(p), vec![shard_of(id)], "id {id}");
    }
    let p = plan("select * from customer where customer_id in (1, 2, 3, 4)", &t, &v).unwrap();
    assert_eq!(shards(p).len(), 2, "1..4 spread over both shards");
    assert_eq!(shards(plan("select * from customer where email = 'x'", &t, &v).unwrap()), vec!["-80", "80-"]);
    let p = plan("update customer set email = 'y' where customer_id = 4 and email = 'x'", &t, &v).unwrap();
    assert_eq!(shards(p), vec![shard_of(4)]);
    // Keyspace-qualified names work without a target and are stripped for the tablet.
    match plan("select * from customer.customer where customer_id = 1", &Target::default(), &v).unwrap() {
        Plan::Route { keyspace, sql, .. } => {
            assert_eq!(keyspace, "customer");
            assert!(!sql.contains("customer.customer"), "{sql}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsharded_and_explicit_shards_pass_through() {
    let v = view();
    assert_eq!(
        shards(plan("select * from product order by price limit 3", &target("commerce"), &v).unwrap()),
        vec!["0"]
    );
    let p = plan("select count(*) from customer", &target("customer/-80"), &v).unwrap();
    assert_eq!(shards(p), vec!["-80"]);
    match plan("select * from customer", &target("customer@replica"), &v).unwrap() {
        Plan::Route { tablet_type, .. } => assert_eq!(tablet_type, TabletType::Replica),
        other => panic!("{other:?}"),
    }
    // What the parser refuses goes as written where no routing is needed, and MariaDB decides.
    match plan("optimize table product", &target("commerce"), &v).unwrap() {
        Plan::Route { shards, sql, .. } => {
            assert_eq!((shards, sql.as_str()), (vec!["0".to_string()], "optimize table product"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(shards(plan("optimize table customer", &target("customer/80-"), &v).unwrap()), vec!["80-"]);
    assert!(matches!(plan("optimize table customer", &target("customer"), &v), Err(GatewayError::Syntax(_))));
    assert!(matches!(plan("selec 1", &target("customer"), &v), Err(GatewayError::Syntax(_))));
    // INSERT ... SELECT into a sharded table: the SELECT (from anywhere), then its rows routed.
    for sql in [
        "insert into customer (customer_id, email) select customer_id + 1, email from customer",
        "insert into corder (order_id, customer_id, sku, price) select customer_id, customer_id, sku, price from customer join commerce.product",
    ] {
        assert!(matches!(plan(sql, &target("customer"), &v).unwrap(), Plan::InsertSelect { .. }), "{sql}");
    }
    assert!(matches!(
        plan("insert into customer select * from customer", &target("customer"), &v).unwrap(),
        Plan::NeedColumns { .. }
    ));
}

#[test]
fn cross_shard_shapes_get_gateway_plans() {
    let v = view();
    let t = target("customer");
    for sql in [
        "select * from customer order by customer_id",
        "select * from customer limit 5",
        "select count(*) from customer",
        "select distinct email from customer",
        "select email from customer group by email",
        "select * from customer c join corder o on c.customer_id = o.customer_id",
        "select * from customer, commerce.product",
        "select customer_id from customer union select customer_id from corder",
    ] {
        let p = plan(sql, &t, &v).expect(sql);
        assert!(matches!(p, Plan::Select(_)), "{sql}: {p:?}");
    }
    let p = plan("select * from customer where customer_id in (select customer_id from corder)", &t, &v).unwrap();
    let Plan::Pullout(pp) = p else { panic!("{p:?}") };
    assert_eq!(pp.subqueries, vec!["SELECT customer_id FROM corder".to_string()]);
    // One shard: sent whole.
    assert!(matches!(plan("select count(*) from customer where customer_id = 5", &t, &v), Ok(Plan::Route { .. })));
    // Joined on the vindex column and pinned: one shard, sent whole.
    let p = plan(
        "select count(*) from customer c join corder o on c.customer_id = o.customer_id where c.customer_id = 5",
        &t,
        &v,
    )
    .unwrap();
    assert!(matches!(&p, Plan::Route { shards, .. } if shards.len() == 1), "{p:?}");
}

#[test]
fn refuses_by_name() {
    let v = view();
    let t = target("customer");
    for (sql, what) in [
        ("update customer c join corder o on o.customer_id = c.customer_id set customer_id = 1", "unqualified"),
        ("update customer c join corder o using (customer_id) set c.customer_id = 1", "vindex column in a multi-table"),
        // What the last resort (every table read back) does not serve: locking reads, WITH.
        (
            "select GROUP_CONCAT(c.email ORDER BY c.email) from customer c join corder o on o.sku = c.email for update",
            "GROUP_CONCAT",
        ),
        (
            "select o.order_id from corder o where o.sku in (select x.sku from corder x where x.price > o.price) for update",
            "correlated",
        ),
        ("with t(a) as (select * from customer) select a from t for update", "WITH t(columns)"),
        (
            "insert into customer (customer_id, email) values (1, 'x') on duplicate key update customer_id = 9",
            "ON DUPLICATE KEY UPDATE of `customer_id`",
        ),
    ] {
        let e = plan(sql, &t, &v).expect_err(sql);
        assert!(matches!(e, GatewayError::Unsupported(_)), "{sql}: {e}");
        assert!(e.to_string().contains(what), "{sql}: {e}");
    }
}

/// The keys, input SELECT and follow-up statements of a DML with input, for rows `rows` (all
/// BIGINT columns).
fn dml_input(sql: &str, keys: &[&[&str]], rows: &[&[&str]]) -> (String, Vec<String>) {
    use crate::protocol::tablet::{Field, QueryResult};
    let p = plan(sql, &target("customer"), &view()).expect(sql);
    let Plan::DmlInput(d) = p else { panic!("{sql}: {p:?}") };
    assert_eq!(d.keys.len(), keys.len(), "{sql}");
    let keys: Vec<Vec<String>> = keys.iter().map(|k| k.iter().map(|c| c.to_string()).collect()).collect();
    let input = d.action.input(&keys).unwrap();
    let width = rows.first().map_or(0, |r| r.len());
    let fields =
        (0..width).map(|i| Field { name: format!("c{i}"), column_type: 8, ..Field::default() }).collect::<Vec<_>>();
    let result = QueryResult {
        fields,
        rows: rows.iter().map(|r| r.iter().map(|c| Some(c.as_bytes().to_vec())).collect()).collect(),
        ..QueryResult::default()
    };
    let steps = d.action.steps(&keys, &result).unwrap().into_iter().map(|s| s.sql).collect();
    (input, steps)
}

#[test]
fn dml_across_shards_finds_rows_first() {
    // ORDER BY ... LIMIT over the whole table: the first rows, then by key and vindex value.
    let (input, steps) =
        dml_input("delete from corder order by price desc limit 2", &[&["order_id"]], &[&["7", "1"], &["9", "2"]]);
    assert_eq!(
        input,
        "select `corder`.`order_id`, `corder`.`customer_id` from corder order by price DESC limit 2 for update"
    );
    assert_eq!(
        steps,
        vec!["delete from `customer`.`corder` where `customer_id` in (1, 2) and (`order_id`, `customer_id`) in ((7, 1), (9, 2))"
            .to_string()]
    );
    // Several tables: each changed table by its own key; values from other tables computed by
    // the input and grouped.
    let (input, steps) = dml_input(
        "update corder o join commerce.product p on o.sku = p.sku set o.price = p.price, o.sku = upper(o.sku)",
        &[&["order_id"]],
        &[&["1", "5", "100"], &["2", "6", "100"], &["3", "5", "200"]],
    );
    assert_eq!(
        input,
        "select `o`.`order_id`, `o`.`customer_id`, p.price from corder o JOIN commerce.product p ON o.sku = p.sku for update"
    );
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        steps[0].starts_with(
            "update `customer`.`corder` set `price` = 100, `sku` = upper(`sku`) where `customer_id` in (5, 6)"
        ),
        "{steps:?}"
    );
    // A vindex column changed: delete and insert again with what MariaDB computed.
    let p = plan("update customer set customer_id = customer_id + 1 where email = 'x'", &target("customer"), &view());
    assert!(matches!(p, Ok(Plan::DmlInput(_))), "{p:?}");
    // Two keyspaces.
    let p = plan(
        "delete o from corder o join commerce.product p on p.sku = o.sku where p.price > 5",
        &target("customer"),
        &view(),
    );
    assert!(matches!(p, Ok(Plan::DmlInput(_))), "{p:?}");
    // One shard, or a join both sides of which one shard answers: sent whole as before.
    assert!(matches!(
        plan("delete from corder where customer_id = 5 order by price limit 1", &target("customer"), &view()),
        Ok(Plan::Route { .. })
    ));
}

#[test]
fn explain_shows_where_things_run() {
    let v = view();
    let t = target("customer");
    let lines = |sql: &str| match plan(sql, &t, &v) {
        Ok(Plan::Local(Local::Explain(l))) => l.join("\n"),
        other => panic!("{sql}: {other:?}"),
    };
    let e = lines("explain format=vitess select email, count(*) from customer group by email order by 2 desc limit 3");
    assert!(e.contains("Limit 3"), "{e}");
    assert!(e.contains("Aggregate group by [email]"), "{e}");
    assert!(e.contains("scatter over 2 shards"), "{e}");
    assert!(e.contains("count(*)"), "{e}");
    let e = lines("vexplain plan select o.order_id, p.sku from corder o join commerce.product p on o.sku = p.sku");
    assert!(e.contains("nested loop"), "{e}");
    assert!(e.contains("Route commerce shard 0"), "{e}");
    let e = lines("vexplain select * from customer where customer_id = 1");
    assert!(e.starts_with("Route customer shard "), "{e}");
}

#[test]
fn session_and_system_statements() {
    let v = view();
    let t = Target::default();
    assert!(
        matches!(plan("use customer/-80@rdonly", &t, &v).unwrap(), Plan::Use(t) if t.shard.as_deref() == Some("-80"))
    );
    assert!(matches!(plan("use nope", &t, &v), Err(GatewayError::UnknownKeyspace(_))));
    use crate::sql::set::{Scope, SetItem};
    let sys = |name: &str, expr: &str| SetItem::System { name: name.into(), scope: Scope::Session, expr: expr.into() };
    assert!(matches!(plan("set autocommit = 0", &t, &v).unwrap(), Plan::Set(i) if i == vec![sys("autocommit", "0")]));
    assert!(
        matches!(plan("SET NAMES utf8mb4", &t, &v).unwrap(), Plan::Set(i) if matches!(i[0], SetItem::Names { .. }))
    );
    assert!(matches!(plan("SET @@SESSION.sql_mode := concat(@@sql_mode, ',X')", &t, &v).unwrap(),
        Plan::Set(i) if i == vec![sys("sql_mode", "concat(@@sql_mode, ',X')")]));
    assert!(matches!(plan("set sql_mode = '', autocommit = 1", &t, &v).unwrap(), Plan::Set(i) if i.len() == 2));
    assert!(matches!(plan("set password = 'x'", &t, &v), Err(GatewayError::Unsupported(_))));
    assert!(matches!(
        plan("set statement max_statement_time = 1 for select 1", &t, &v).unwrap(),
        Plan::SetStatement { items, statement } if items.len() == 1 && statement == "select 1"
    ));
    assert!(matches!(plan("set statement @u = 1 for select 1", &t, &v), Err(GatewayError::Syntax(_))));
    assert!(matches!(plan("set x", &t, &v), Err(GatewayError::Syntax(_))));
    assert!(matches!(plan("show databases", &t, &v).unwrap(), Plan::Local(Local::Databases)));
    assert!(matches!(plan("show vitess_tablets", &t, &v).unwrap(), Plan::Local(Local::VitessTablets)));
    assert!(matches!(plan("select @@version_comment limit 1", &t, &v), Ok(Plan::Route { .. }) | Ok(Plan::Local(_))));
    assert!(matches!(
        plan("select database(), last_insert_id()", &t, &v).unwrap(),
        Plan::Local(Local::SessionSelect { .. })
    ));
    assert!(matches!(plan("begin", &t, &v).unwrap(), Plan::Begin));
    assert!(matches!(plan("start transaction", &t, &v).unwrap(), Plan::Begin));
    match plan("select next 3 values from customer_seq", &t, &v).unwrap() {
        Plan::NextValues { keyspace, count, .. } => assert_eq!((keyspace.as_str(), count), ("commerce", 3)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(plan("select * from customer", &t, &v), Err(GatewayError::NoDatabase) | Ok(_)));
    assert!(matches!(plan("selec 1", &t, &v), Err(GatewayError::Syntax(_))));
}

#[test]
fn inserts_know_their_vindex_and_sequence() {
    let v = view();
    match plan("insert into corder (customer_id, sku) values (1, 'a'), (2, 'b')", &target("customer"), &v).unwrap() {
        Plan::Insert(p) => {
            assert_eq!(p.head, "INSERT INTO corder (customer_id, sku, order_id) VALUES ");
            assert_eq!(p.rows[0].cells, ["1", "'a'", "NULL"]);
            assert_eq!(p.rows[1].vindex_value, Some(crate::vindex::Value::Int(2)));
            let ai = p.auto_increment.expect("order_seq");
            assert_eq!(
                (ai.column_index, ai.missing.as_slice(), ai.seq_keyspace.as_str()),
                (2, &[0, 1][..], "commerce")
            );
            assert!(!ai.is_vindex);
        }
        other => panic!("{other:?}"),
    }
    let e = plan("insert into corder (sku) values ('a')", &target("customer"), &v).unwrap_err();
    assert!(e.to_string().contains("customer_id"), "{e}");
}

#[test]
fn qualified_scatter_aggregate_without_a_session_keyspace() {
    let v = view();
    let t = Target::default();
    let e = match plan("explain format=vitess select count(*) from customer.corder", &t, &v) {
        Ok(Plan::Local(Local::Explain(l))) => l.join("\n"),
        other => panic!("{other:?}"),
    };
    assert!(e.contains("scatter over 2 shards"), "{e}");
    let p = plan("select count(*) from customer.corder", &t, &v).unwrap();
    assert!(!matches!(p, Plan::Route { .. }), "a count over two shards must be merged: {p:?}");
}

#[test]
fn routes_send_the_clients_own_text() {
    let v = view();
    let sql_of = |p: Plan| match p {
        Plan::Route { sql, .. } => sql,
        other => panic!("expected a route, got {other:?}"),
    };
    // Literals reach the tablet exactly as written: no re-printing.
    let sql = r"select /* keep */ email from customer where customer_id = 1 and email = 'a\\b''c\'d' ;";
    assert_eq!(sql_of(plan(sql, &target("customer"), &v).unwrap()), sql.trim_end_matches([' ', ';']));
    let sql = "insert into product (sku, description) values ('x\\\\y', 'C:\\\\dir\\\\new')";
    assert_eq!(sql_of(plan(sql, &target("commerce"), &v).unwrap()), sql);
    // Keyspace qualifiers are cut out of the text, nothing else changes.
    let sql =
        "select c.email from customer . `customer` as c\n where c.customer_id = 1 and c.email = 'customer.customer'";
    assert_eq!(
        sql_of(plan(sql, &Target::default(), &v).unwrap()),
        "select c.email from `customer` as c\n where c.customer_id = 1 and c.email = 'customer.customer'"
    );
    let sql = "update commerce.product set description = 'ü\\'' where sku in (select sku from commerce.product)";
    assert_eq!(
        sql_of(plan(sql, &Target::default(), &v).unwrap()),
        "update product set description = 'ü\\'' where sku in (select sku from product)"
    );
}

/// Runs `f` on a thread with the stack the node's threads have.
fn on_node_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let stack = std::env::var("TESSERA_TEST_STACK").ok().and_then(|s| s.parse().ok());
    std::thread::Builder::new()
        .stack_size(stack.unwrap_or(crate::sql::parse::STACK_SIZE))
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn ten_thousand_term_chains_plan() {
    let n: usize = std::env::var("TESSERA_TEST_TERMS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    on_node_stack(move || {
        let v = view();
        let terms: Vec<String> = (0..n).map(|i| format!("customer_id = {i}")).collect();
        let sql = format!("select count(*) from customer where {}", terms.join(" or "));
        let p = plan(&sql, &target("customer"), &v).unwrap();
        let _ = format!("{p:?}");
        // An OR of equalities on the vindex column routes like IN.
        let terms: Vec<String> = (0..n).map(|i| format!("customer_id = {}", 3 * i + 1)).collect();
        let sql = format!("select email from customer where {}", terms.join(" or "));
        assert_eq!(shards(plan(&sql, &target("customer"), &v).unwrap()).len(), 2);
        let sql = "select email from customer where customer_id = 1 or (customer_id = 1 and email = 'x')";
        assert_eq!(shards(plan(sql, &target("customer"), &v).unwrap()), vec![shard_of(1)]);
        let sql = "select email from customer where customer_id = 1 or email = 'x'";
        assert_eq!(shards(plan(sql, &target("customer"), &v).unwrap()).len(), 2, "not pinned: scatter");
        let sql = format!("select {}", vec!["1"; n].join(" + "));
        assert!(plan(&sql, &target("customer"), &v).is_ok());
        let terms: Vec<String> = (0..20_000).map(|i| format!("customer_id = {i}")).collect();
        let sql = format!("select count(*) from customer where {}", terms.join(" or "));
        assert!(matches!(plan(&sql, &target("customer"), &v), Err(GatewayError::TooDeep(_))));
    })
}

#[test]
fn require_explicit_routing_hides_a_keyspace_from_global_routing() {
    let v = crate::routing::view_of(&[
        ("open", &["0"], r#"{"tables": {"shared": {}}}"#),
        ("hidden", &["0"], r#"{"require_explicit_routing": true, "tables": {"shared": {}, "secret": {}}}"#),
    ]);
    let none = Target::default();
    // Only in the hidden keyspace: not found by its bare name, found when named.
    assert!(plan("select * from secret", &none, &v).is_err());
    assert!(
        matches!(plan("select * from hidden.secret", &none, &v), Ok(Plan::Route { keyspace, .. }) if keyspace == "hidden")
    );
    assert!(
        matches!(plan("select * from secret", &target("hidden"), &v), Ok(Plan::Route { keyspace, .. }) if keyspace == "hidden")
    );
    // In both: the bare name means the keyspace that allows global routing.
    assert!(matches!(plan("select * from shared", &none, &v), Ok(Plan::Route { keyspace, .. }) if keyspace == "open"));
}

#[test]
fn keyspace_routing_rules_send_a_keyspace_s_tables_elsewhere() {
    use crate::protocol::admin::AdminRequest;
    use crate::protocol::topology::TopoCommit;
    let mut t = (*view().topo).clone();
    let req = AdminRequest::ApplyKeyspaceRoutingRules {
        rules: r#"{"rules": [{"from_keyspace": "ghost", "to_keyspace": "customer"},
                             {"from_keyspace": "commerce@replica", "to_keyspace": "customer"}]}"#
            .into(),
    };
    let events = crate::topo::commands::plan(&req, &t).unwrap();
    let seq = t.seq + 1;
    crate::topo::state::project_commit(&mut t, seq, &TopoCommit { command: req.name().into(), events });
    let v = RoutingView::build(std::sync::Arc::new(t));
    // A keyspace that no longer exists still serves its tables where the rule says.
    match plan("select email from ghost.customer where customer_id = 1", &target("commerce"), &v).unwrap() {
        Plan::Route { keyspace, shards, .. } => assert_eq!((keyspace.as_str(), shards.len()), ("customer", 1)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(plan("use ghost", &target("commerce"), &v).unwrap(), Plan::Use(_)));
    // Per tablet type: replica reads of commerce go to customer, primary ones stay.
    assert_eq!(v.table_keyspace(Some("commerce"), None, "customer", TabletType::Replica).unwrap(), "customer");
    assert_eq!(v.table_keyspace(Some("commerce"), None, "customer", TabletType::Primary).unwrap(), "commerce");
}
