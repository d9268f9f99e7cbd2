//! The per-statement work on the query path outside MySQL and the sockets: routing a value
//! through the `hash` vindex, framing the request for the tablet (and, for comparison, the
//! envelope control messages use), and the tablet's reply with one row.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::protocol::envelope::Envelope;
use tessera::protocol::tablet::{
    decode_query_reply, decode_query_request, encode_query_reply, encode_query_request, Field, QueryReply,
    QueryRequest, QueryResponse, QueryResult,
};
use tessera::vindex::functional::hash_u64;

fn point_select() -> QueryRequest {
    QueryRequest::Execute {
        sql: "SELECT c FROM sbtest1 WHERE id = 4711".into(),
        binds: Default::default(),
        transaction_id: None,
        options: tessera::protocol::tablet::ExecOptions { query_id: 12345, stream: true, ..Default::default() },
    }
}

fn one_row() -> QueryReply {
    let field = Field {
        name: "c".into(),
        org_name: "c".into(),
        table: "sbtest1".into(),
        org_table: "sbtest1".into(),
        schema: "vt_bench".into(),
        column_type: 254,
        column_length: 480,
        ..Default::default()
    };
    Ok(QueryResponse::Result {
        result: QueryResult {
            fields: vec![field],
            rows: vec![vec![Some(vec![b'7'; 119])]],
            rows_affected: 0,
            last_insert_id: 0,
            warnings: 0,
            info: String::new(),
        },
        cursor: None,
        tablet: "zone1-0000000200".into(),
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("query_path");
    let mut id = 0u64;
    g.bench_function("hash vindex (DES of a uint64)", |b| {
        b.iter(|| {
            id += 1;
            black_box(hash_u64(black_box(id)))
        })
    });
    let req = point_select();
    g.bench_function("request: frame + encode", |b| b.iter(|| black_box(encode_query_request(&req).unwrap())));
    let bytes = encode_query_request(&req).unwrap();
    g.bench_function("request: decode", |b| b.iter(|| black_box(decode_query_request(&bytes).unwrap())));
    g.bench_function("request in an envelope (before): encode", |b| {
        b.iter(|| black_box(Envelope::new("gateway-1", &req).encode().unwrap()))
    });
    let env = Envelope::new("gateway-1", &req).encode().unwrap();
    g.bench_function("request in an envelope (before): decode", |b| {
        b.iter(|| black_box(Envelope::<QueryRequest>::decode(&env).unwrap()))
    });
    let reply = one_row();
    g.bench_function("reply, one row: encode", |b| b.iter(|| black_box(encode_query_reply(&reply))));
    let bytes = encode_query_reply(&reply);
    g.bench_function("reply, one row: decode", |b| {
        b.iter(|| black_box(decode_query_reply::<QueryReply>(&bytes).unwrap()))
    });
    // What the gateway does per statement for observability (metrics, query log, queryz).
    let m = tessera::metrics::metrics();
    g.bench_function("per statement: metrics + query log", |b| {
        b.iter(|| {
            let labels = tessera::metrics::StatementLabels {
                kind: "select",
                plan: "single_shard",
                keyspace: black_box("bench").to_string(),
            };
            m.statements.get_or_create(&labels).inc();
            m.statement_seconds.get_or_create(&tessera::metrics::PlanLabels { plan: "single_shard" }).observe(0.0005);
            tessera::frontend::querylog::hub().record(
                7,
                "root",
                "bench",
                black_box("SELECT c FROM sbtest1 WHERE id=4711"),
                "single_shard",
                std::time::Duration::from_micros(500),
                1,
                None,
            );
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
