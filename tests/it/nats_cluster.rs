//! The control plane on a three-server NATS cluster: streams kept in three copies, and admin
//! commands carrying on when the server leading the topology stream is killed.

use std::time::Duration;

use crate::harness::nats::cluster;
use crate::harness::node::{ctl, ctl_ok, NodeProc};

async fn topo_stream(url: &str) -> async_nats::jetstream::stream::Info {
    let js = async_nats::jetstream::new(async_nats::connect(url.split(',').collect::<Vec<_>>()).await.unwrap());
    let mut s = js.get_stream("TESSERA_TOPO").await.unwrap();
    s.info().await.unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_server_cluster_keeps_three_copies_and_survives_losing_the_leader() {
    let mut servers = cluster(3);
    let urls = servers.iter().map(|s| s.url.clone()).collect::<Vec<_>>().join(",");
    let node = NodeProc::start(&urls, "n1");
    node.wait_healthy(Duration::from_secs(30));
    ctl_ok(&urls, &["CreateKeyspace", "ks"]);

    let info = topo_stream(&servers[0].url).await;
    assert_eq!(info.config.num_replicas, 3, "three servers: three copies");
    let leader = info.cluster.and_then(|c| c.leader).expect("a stream leader");
    let i: usize = leader.trim_start_matches('n').parse::<usize>().unwrap() - 1;

    // Kill the leader: admin writes go on once the others elect a new one.
    servers[i].stop();
    let others = servers.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s.url.clone()).collect::<Vec<_>>();
    let others = others.join(",");
    let start = std::time::Instant::now();
    while !ctl(&others, &["CreateShard", "ks/-80"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(30), "no topology write within 30 s of losing the leader");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(ctl_ok(&others, &["FindAllShardsInKeyspace", "ks"]).contains("-80"));
    let new_leader = topo_stream(&others).await.cluster.and_then(|c| c.leader).unwrap_or_default();
    assert!(!new_leader.is_empty() && new_leader != leader, "a new leader: {new_leader}");

    // The killed server comes back and catches up: its copy has the write made without it.
    servers[i].start_again();
    let back = servers[i].url.clone();
    let start = std::time::Instant::now();
    loop {
        let info = topo_stream(&urls).await;
        let current =
            info.cluster.as_ref().is_some_and(|c| c.replicas.len() == 2 && c.replicas.iter().all(|r| r.current));
        if current {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the restarted server did not catch up: {:?}", info.cluster);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ctl_ok(&back, &["FindAllShardsInKeyspace", "ks"]).contains("-80"));

    // A changed replica count is applied to the existing streams.
    let client = async_nats::connect(urls.split(',').collect::<Vec<_>>()).await.unwrap();
    tessera::topo::store::TopoStore::open_with_replicas(client.clone(), "test", 1).await.unwrap();
    assert_eq!(topo_stream(&urls).await.config.num_replicas, 1);
    tessera::topo::store::TopoStore::open_with_replicas(client, "test", 3).await.unwrap();
    assert_eq!(topo_stream(&urls).await.config.num_replicas, 3);
    assert!(ctl_ok(&urls, &["FindAllShardsInKeyspace", "ks"]).contains("-80"), "nothing lost in the changes");
}
