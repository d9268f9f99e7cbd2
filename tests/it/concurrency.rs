//! Concurrent writers never lose an update: the expected-last-subject-sequence check.

use std::time::Duration;

use futures::StreamExt;
use tessera::client::{subscribe_events, AdminClient, EventsFrom};
use tessera::protocol::admin::{AdminRequest, AdminResponse, ErrorCode};
use tessera::protocol::subjects;
use tessera::protocol::topology::{TabletType, TopoEvent};
use tessera::topo::commands::plan;
use tessera::topo::store::TopoStore;
use tessera::topo::view::TopoView;
use tessera::topo::writer::TopoWriter;
use tessera::topo::TopoError;

use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl_ok, NodeProc};

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_admin_writers_on_one_shard_lose_nothing() {
    let nats = NatsServer::start();
    let _n1 = NodeProc::start(&nats.url, "n1");
    let _n2 = NodeProc::start(&nats.url, "n2");
    ctl_ok(&nats.url, &["CreateKeyspace", "ks"]);
    ctl_ok(&nats.url, &["CreateShard", "ks/0"]);

    const WRITERS: usize = 24;
    let admin = AdminClient::new(nats.client().await, Duration::from_secs(30));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .request(&AdminRequest::SetShardTabletControl {
                        keyspace: "ks".into(),
                        shard: "0".into(),
                        tablet_type: TabletType::Replica,
                        denied_tables: vec![format!("t{i:02}")],
                        remove: false,
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every writer succeeds");
    }

    let Ok(AdminResponse::Shard { shard, .. }) =
        admin.request(&AdminRequest::GetShard { keyspace: "ks".into(), shard: "0".into() }).await
    else {
        panic!("GetShard failed")
    };
    let denied = &shard.denied_tables[&TabletType::Replica];
    let expected: Vec<String> = (0..WRITERS).map(|i| format!("t{i:02}")).collect();
    assert_eq!(denied, &expected, "an update was lost");

    // Each commit carried the whole list: in stream order the lists grow by exactly one.
    let events = subscribe_events(
        nats.client().await,
        EventsFrom::Start,
        subjects::events_filter("topo", Some("ShardTabletControlChanged")),
    )
    .await
    .unwrap();
    let lens: Vec<usize> = events
        .take(WRITERS)
        .map(|e| match e.unwrap().event.topo {
            Some(TopoEvent::ShardTabletControlChanged { denied_tables, .. }) => denied_tables.len(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
        .await;
    assert_eq!(lens, (1..=WRITERS).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_library_writers_increment_a_term_exactly_once_each() {
    let nats = NatsServer::start();
    let mut writers = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let store = TopoStore::open(nats.client().await, name).await.unwrap();
        let view = TopoView::default();
        tokio::spawn(view.clone().follow(store.clone(), None, None));
        writers.push(TopoWriter::new(store, view));
    }
    let w = &writers[0];
    for req in [
        AdminRequest::CreateKeyspace { name: "ks".into(), durability_policy: String::new() },
        AdminRequest::CreateShard { keyspace: "ks".into(), shard: "0".into(), force: false, allow_overlap: false },
    ] {
        w.write(req.name(), &subjects::topo_keyspace("ks"), |t| plan(&req, t)).await.unwrap();
    }

    const WRITES: u64 = 45;
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let w = writers[i as usize % writers.len()].clone();
            tokio::spawn(async move {
                w.write("PromoteForTest", &subjects::topo_shard("ks", "0"), |t| {
                    let shard = t.shard("ks", "0").ok_or_else(|| TopoError::NotFound("shard".into()))?;
                    Ok(vec![TopoEvent::ShardPrimaryChanged {
                        keyspace: "ks".into(),
                        shard: "0".into(),
                        primary: Some(format!("zone1-{i:010}")),
                        term: shard.primary_term + 1,
                    }])
                })
                .await
            })
        })
        .collect();
    let mut retried = 0;
    for t in tasks {
        let applied = t.await.unwrap().expect("write succeeds");
        retried += u32::from(applied.attempts > 1);
    }
    let topo = writers[0].store().load(None).await.unwrap();
    assert_eq!(topo.shard("ks", "0").unwrap().primary_term, WRITES, "a read-modify-write was lost");
    assert!(retried > 0, "the race should have caused at least one retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_creates_of_one_keyspace_exactly_one_wins() {
    let nats = NatsServer::start();
    let _n1 = NodeProc::start(&nats.url, "n1");
    let _n2 = NodeProc::start(&nats.url, "n2");
    let admin = AdminClient::new(nats.client().await, Duration::from_secs(30));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .request(&AdminRequest::CreateKeyspace { name: "dup".into(), durability_policy: String::new() })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}"),
        }
    }
    assert_eq!(ok, 1);
}
