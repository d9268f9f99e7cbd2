//! Topology fold, envelope codec and key-range parsing: the costs every node pays on replay.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::protocol::envelope::Envelope;
use tessera::protocol::topology::{TabletRecord, TabletType, TopoCommit, TopoEvent};
use tessera::topo::state::{project_commit, Topology};
use tessera::vindex::keyrange::KeyRange;

/// A history of `n` commits over 16 keyspaces of 4 shards with tablets and primary changes.
fn history(n: usize) -> Vec<TopoCommit> {
    let mut commits = Vec::with_capacity(n);
    for ks in 0..16 {
        commits.push(TopoCommit {
            command: "CreateKeyspace".into(),
            events: vec![TopoEvent::KeyspaceCreated { keyspace: format!("ks{ks}"), durability_policy: "none".into() }],
        });
        for shard in ["-40", "40-80", "80-c0", "c0-"] {
            commits.push(TopoCommit {
                command: "CreateShard".into(),
                events: vec![TopoEvent::ShardCreated {
                    keyspace: format!("ks{ks}"),
                    shard: shard.into(),
                    is_primary_serving: true,
                }],
            });
        }
    }
    let mut i = 0u64;
    while commits.len() < n {
        i += 1;
        let ks = format!("ks{}", i % 16);
        let shard = ["-40", "40-80", "80-c0", "c0-"][(i % 4) as usize].to_string();
        let alias = format!("zone1-{:010}", i % 512);
        commits.push(TopoCommit {
            command: "Test".into(),
            events: if i % 2 == 0 {
                vec![TopoEvent::TabletRegistered {
                    tablet: TabletRecord {
                        alias,
                        cell: "zone1".into(),
                        keyspace: ks,
                        shard,
                        tablet_type: TabletType::Replica,
                        node_id: "n1".into(),
                        hostname: "h".into(),
                        mysql_host: "127.0.0.1".into(),
                        mysql_port: 3306,
                        managed: false,
                    },
                }]
            } else {
                vec![TopoEvent::ShardPrimaryChanged { keyspace: ks, shard, primary: Some(alias), term: i }]
            },
        });
    }
    commits
}

fn benches(c: &mut Criterion) {
    let commits = history(2_000);
    c.bench_function("fold 2000 commits", |b| {
        b.iter(|| {
            let mut t = Topology::default();
            for (i, commit) in commits.iter().enumerate() {
                project_commit(&mut t, i as u64 + 1, commit);
            }
            black_box(t.seq)
        })
    });

    let encoded: Vec<Vec<u8>> = commits.iter().map(|c| Envelope::new("bench", c).encode().unwrap()).collect();
    c.bench_function("decode+fold 2000 envelopes", |b| {
        b.iter(|| {
            let mut t = Topology::default();
            for (i, bytes) in encoded.iter().enumerate() {
                let env: Envelope<TopoCommit> = Envelope::decode(bytes).unwrap();
                project_commit(&mut t, i as u64 + 1, &env.body);
            }
            black_box(t.seq)
        })
    });

    let one = &commits[100];
    c.bench_function("envelope encode", |b| b.iter(|| black_box(Envelope::new("bench", one).encode().unwrap())));
    let bytes = Envelope::new("bench", one).encode().unwrap();
    c.bench_function("envelope decode", |b| b.iter(|| black_box(Envelope::<TopoCommit>::decode(&bytes).unwrap())));

    c.bench_function("parse shard name", |b| {
        b.iter(|| black_box(KeyRange::parse_shard_name(black_box("40-80")).unwrap()))
    });

    let vschema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/commerce/vschema_commerce.json"))
            .unwrap();
    struct NoSeq;
    impl tessera::vschema::SequenceResolver for NoSeq {
        fn find_sequence(&self, _: Option<&str>, _: &str) -> Option<String> {
            None
        }
    }
    c.bench_function("validate commerce vschema", |b| {
        b.iter(|| black_box(tessera::vschema::parse_and_validate(&vschema, &NoSeq).unwrap()))
    });
}

criterion_group!(topology, benches);
criterion_main!(topology);
