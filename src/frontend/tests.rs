//! One statement of a session from text to answer ([`super::execute`]) over in-memory shards:
//! what needs several round trips (pulled-out subqueries, user variables) sends what it should.

use std::sync::Arc;

use super::execute::{execute, Services};
use crate::engine::exec::Answer;
use crate::engine::memory::{result, MemoryShards};
use crate::engine::session::SessionState;
use crate::plan::Target;

fn services(shards: &Arc<MemoryShards>) -> Services {
    let view = crate::routing::example_view();
    Services {
        router: crate::routing::Router::new(crate::topo::view::TopoView::fixed((*view.topo).clone())),
        tablets: shards.as_ref(),
        max_rows: 1000,
        plans: Arc::new(crate::planner::cache::PlanCache::new(16)),
        health: Arc::new(|| Box::pin(async { Default::default() })),
        hold_writes: std::time::Duration::from_millis(10),
        sessions: super::sessions::Sessions::new(true),
        identity: Arc::new(super::identity::IdentitySource::new("")),
        acl: super::acl::AclSource::none(),
        transaction_mode: Default::default(),
    }
}

fn session() -> SessionState {
    SessionState { target: Target::parse("customer").unwrap(), autocommit: true, ..Default::default() }
}

#[tokio::test]
async fn pulled_out_subqueries_run_first_and_route_the_statement() {
    let shards = MemoryShards::new(|at, sql| {
        if sql.starts_with("SELECT customer_id FROM corder") {
            let rows: &[&[Option<&str>]] = if at == "customer/-80" { &[&[Some("1")]] } else { &[&[Some("4")]] };
            return Ok(result(&[("customer_id", 8)], rows));
        }
        Ok(result(&[("email", 253)], &[&[Some(if at == "customer/-80" { "one" } else { "four" })]]))
    });
    let svc = services(&shards);
    let sql = "select email from customer where customer_id in (select customer_id from corder where sku = 'a')";
    let Answer::Rows(r) = execute(&svc, &mut session(), sql).await.unwrap() else { panic!("rows") };
    assert_eq!(r.rows.len(), 2);
    let log = shards.lines();
    assert_eq!(log.len(), 4, "the subquery on both shards, then the statement on the shards of 1 and 4: {log:?}");
    assert!(log[2..].iter().all(|l| l.contains("IN (1, 4)")), "{log:?}");
}

#[tokio::test]
async fn an_empty_in_subquery_becomes_a_false_condition() {
    let shards = MemoryShards::new(|_, sql| {
        if sql.starts_with("SELECT customer_id") {
            return Ok(result(&[("customer_id", 8)], &[]));
        }
        Ok(result(&[("email", 253)], &[&[Some("x")]]))
    });
    let svc = services(&shards);
    let sql = "select email from customer where customer_id in (select customer_id from corder)";
    execute(&svc, &mut session(), sql).await.unwrap();
    // IN over no values is false: the statement the shards get selects nothing.
    let outer: Vec<String> = shards.lines().into_iter().filter(|l| l.contains("email")).collect();
    assert_eq!(
        outer,
        ["customer/-80: SELECT email FROM customer WHERE 0", "customer/80-: SELECT email FROM customer WHERE 0"]
    );
}

#[tokio::test]
async fn user_variables_are_evaluated_once_and_substituted_as_literals() {
    let shards = MemoryShards::new(|_, sql| {
        if sql == "select 'it''s' as v" || sql.starts_with("select ") && !sql.contains("customer") {
            return Ok(result(&[("v", 253)], &[&[Some("it's")]]));
        }
        Ok(result(&[("email", 253)], &[]))
    });
    let svc = services(&shards);
    let mut s = session();
    execute(&svc, &mut s, "set @v = 'it''s'").await.unwrap();
    execute(&svc, &mut s, "select email from customer where email = @v").await.unwrap();
    let log = shards.lines();
    assert!(log.last().unwrap().contains(r"email = 'it\'s'"), "{log:?}");
}
