//! Bad input and faults: garbage on subjects, NATS restarts, killed and stopped nodes.

use std::time::Duration;

use futures::StreamExt;
use tessera::client::{subscribe_events, AdminClient, EventsFrom, ReceivedEvent};
use tessera::protocol::admin::{AdminRequest, AdminResponse, ErrorCode};
use tessera::protocol::envelope::Envelope;
use tessera::protocol::subjects;

use crate::harness::eventually;
use crate::harness::nats::NatsServer;
use crate::harness::node::{ctl, ctl_ok, http_get, NodeProc};

#[tokio::test(flavor = "multi_thread")]
async fn garbage_gets_typed_errors_and_the_node_keeps_serving() {
    let nats = NatsServer::start();
    let mut node = NodeProc::start(&nats.url, "n1");
    let client = nats.client().await;
    let admin = AdminClient::new(client.clone(), Duration::from_secs(10));

    let code = |r: Result<AdminResponse, tessera::protocol::admin::RemoteError>| r.expect_err("must fail").code;

    let garbage = admin.request_raw(&subjects::admin("CreateKeyspace"), b"\x00\xffgarbage".to_vec()).await;
    assert_eq!(code(garbage), ErrorCode::BadRequest);
    let empty = admin.request_raw(&subjects::admin("GetKeyspaces"), Vec::new()).await;
    assert_eq!(code(empty), ErrorCode::BadRequest);

    let mut env = Envelope::new("test", AdminRequest::GetKeyspaces);
    env.v = 9;
    let old = admin.request_raw(&subjects::admin("GetKeyspaces"), env.encode().unwrap()).await;
    assert_eq!(code(old), ErrorCode::UnsupportedVersion);

    let valid = Envelope::new("test", AdminRequest::GetKeyspaces).encode().unwrap();
    let unknown = admin.request_raw(&subjects::admin("FlyToTheMoon"), valid.clone()).await;
    let e = unknown.unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownCommand);
    assert!(e.message.contains("FlyToTheMoon"), "{e}");

    let crossed =
        Envelope::new("test", AdminRequest::CreateKeyspace { name: "x".into(), durability_policy: String::new() });
    let crossed = admin.request_raw(&subjects::admin("GetKeyspaces"), crossed.encode().unwrap()).await;
    assert_eq!(code(crossed), ErrorCode::BadRequest);

    #[derive(serde::Serialize)]
    struct MissingName {
        command: &'static str,
    }
    let missing = Envelope::new("test", MissingName { command: "CreateKeyspace" }).encode().unwrap();
    let missing = admin.request_raw(&subjects::admin("CreateKeyspace"), missing).await;
    assert_eq!(code(missing), ErrorCode::BadRequest);

    // Publishes that do not decode are dropped with a warning naming the subject.
    client.publish(subjects::node("intruder", "heartbeat"), "not msgpack".into()).await.unwrap();
    client.publish(subjects::node("intruder", "left"), "\u{1}".into()).await.unwrap();
    // Even a garbage message inside the topology stream is skipped, not fatal.
    let js = async_nats::jetstream::new(client.clone());
    js.publish(subjects::topo_keyspace("zzz"), "junk".into()).await.unwrap().await.unwrap();
    client.flush().await.unwrap();

    ctl_ok(&nats.url, &["CreateKeyspace", "zzz"]);
    let out = ctl_ok(&nats.url, &["GetKeyspaces"]);
    assert!(out.contains("zzz"), "{out}");
    assert!(node.running(), "node must survive garbage");
    let log = eventually(Duration::from_secs(5), "warnings in the node log", || {
        let log = node.log();
        let found =
            log.contains("dropping heartbeat that does not decode") && log.contains("tessera.node.intruder.heartbeat");
        async move { found.then_some(log) }
    })
    .await;
    assert!(log.contains("skipping topology message that does not decode"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_restart_keeps_the_topology_and_ctl_works_again() {
    let mut nats = NatsServer::start();
    let node = NodeProc::start(&nats.url, "n1");
    ctl_ok(&nats.url, &["CreateKeyspace", "customer"]);
    ctl_ok(&nats.url, &["CreateShard", "customer/-80"]);

    nats.restart(Duration::from_millis(500));

    let url = nats.url.clone();
    eventually(Duration::from_secs(30), "ctl works after the NATS restart", || {
        let ok = ctl(&url, &["--timeout", "3", "CreateShard", "customer/80-"]).status.success();
        async move { ok.then_some(()) }
    })
    .await;
    let out = ctl_ok(&nats.url, &["FindAllShardsInKeyspace", "customer"]);
    assert!(out.contains("-80") && out.contains("80-"), "{out}");
    let topo: serde_json::Value = serde_json::from_str(&ctl_ok(&nats.url, &["--json", "GetTopology"])).unwrap();
    assert_eq!(topo["topology"]["keyspaces"]["customer"]["serving"]["primary"], serde_json::json!(["-80", "80-"]));
    let (code, _) = http_get(node.http, "/healthz").unwrap();
    assert_eq!(code, 200);
}

async fn next_event(
    events: &mut (impl futures::Stream<Item = Result<ReceivedEvent, String>> + Unpin),
    timeout: Duration,
) -> Option<ReceivedEvent> {
    match tokio::time::timeout(timeout, events.next()).await {
        Ok(Some(Ok(ev))) => Some(ev),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_node_is_lost_and_stopped_node_left() {
    let nats = NatsServer::start();
    let events =
        subscribe_events(nats.client().await, EventsFrom::Now, subjects::events_filter("node", None)).await.unwrap();
    let mut events = Box::pin(events);
    let n1 = NodeProc::start(&nats.url, "n1");
    let mut n2 = NodeProc::start(&nats.url, "n2");
    let admin = AdminClient::new(nats.client().await, Duration::from_secs(10));
    eventually(Duration::from_secs(10), "n1 and n2 see each other", || {
        let admin = admin.clone();
        async move {
            match admin.request(&AdminRequest::GetNodes).await {
                Ok(AdminResponse::Nodes { nodes }) if nodes.len() == 2 => Some(()),
                _ => None,
            }
        }
    })
    .await;

    n2.kill9();
    let mut seen = Vec::new();
    let lost = loop {
        let ev = next_event(&mut events, Duration::from_secs(15)).await.expect("NodeLost within 15s");
        seen.push(format!("{} {}", ev.event.name, ev.event.summary));
        if ev.event.name == "NodeLost" {
            break ev;
        }
    };
    let node = lost.event.node.as_ref().map(|n| n.node().id.clone());
    assert_eq!(node.as_deref(), Some("n2"), "{seen:?}");
    assert!(lost.event.summary.contains("reported by n1"), "{}", lost.event.summary);

    let mut n3 = NodeProc::start(&nats.url, "n3");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(n3.terminate(), Some(0), "clean exit on SIGTERM");
    let mut names = Vec::new();
    while let Some(ev) = next_event(&mut events, Duration::from_secs(4)).await {
        names.push((ev.event.name.clone(), ev.event.node.map(|n| n.node().id.clone()).unwrap_or_default()));
    }
    assert!(names.contains(&("NodeJoined".into(), "n3".into())), "{names:?}");
    assert!(names.contains(&("NodeLeft".into(), "n3".into())), "{names:?}");
    assert!(!names.contains(&("NodeLost".into(), "n3".into())), "a node that left is not lost: {names:?}");
    drop(n1);
}
