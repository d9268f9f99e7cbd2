//! The per-statement work on the query path outside MySQL and the sockets: routing a value
//! through the `hash` vindex, framing the request for the tablet (and, for comparison, the
//! envelope control messages use), the tablet's reply with one row, and a result's whole
//! way from MySQL's values to the client's packets, rows packed as MySQL text rows (now)
//! against rows as values (before).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::frontend::codec::text_row;
use tessera::protocol::envelope::Envelope;
use tessera::protocol::tablet::{
    decode_query_reply, decode_query_request, encode_query_reply, encode_query_request, Field, QueryReply,
    QueryRequest, QueryResponse, QueryResult,
};
use tessera::protocol::tablet::{Row, Rows};
use tessera::vindex::functional::hash_u64;

/// The reply as it travelled before rows were packed: each value a serde sequence of bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct ValuesReply {
    fields: Vec<Field>,
    rows: Vec<Row>,
    rows_affected: u64,
    last_insert_id: u64,
    warnings: u16,
    info: String,
}

/// What mysql_async hands the tablet for a sysbench row: `id`, `k`, `c`, `pad`.
fn mysql_values(n: usize) -> Vec<Vec<Option<Vec<u8>>>> {
    (0..n)
        .map(|i| {
            vec![Some(i.to_string().into_bytes()), Some(b"49871".to_vec()), Some(vec![b'7'; 119]), Some(vec![b'3'; 59])]
        })
        .collect()
}

/// A client packet, as the gateway's connection writes it.
fn frame(out: &mut Vec<u8>, seq: u8, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(payload);
}

/// Tablet to client with rows as values: build them, serialize, deserialize, encode each.
fn values_path(values: Vec<Vec<Option<Vec<u8>>>>, out: &mut Vec<u8>) {
    let reply = ValuesReply {
        fields: Vec::new(),
        rows: values,
        rows_affected: 0,
        last_insert_id: 0,
        warnings: 0,
        info: String::new(),
    };
    let wire = bincode::serialize(&reply).unwrap();
    let back: ValuesReply = bincode::deserialize(&wire).unwrap();
    for (i, row) in back.rows.iter().enumerate() {
        frame(out, i as u8, &text_row(row));
    }
}

/// The same with packed rows: pushed as read, serialized, checked, forwarded as they are.
fn packed_path(values: Vec<Vec<Option<Vec<u8>>>>, out: &mut Vec<u8>) {
    let mut rows = Rows::new();
    for row in values {
        rows.push_values(row);
    }
    let result = QueryResult { rows, ..Default::default() };
    let wire = bincode::serialize(&result).unwrap();
    let back: QueryResult = bincode::deserialize(&wire).unwrap();
    for (i, payload) in back.rows.payloads().into_iter().flatten().enumerate() {
        frame(out, i as u8, payload);
    }
}

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
            rows: vec![vec![Some(vec![b'7'; 119])]].into(),
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
    for n in [1usize, 100] {
        let (mut before, mut now) = (Vec::new(), Vec::new());
        values_path(mysql_values(n), &mut before);
        packed_path(mysql_values(n), &mut now);
        assert_eq!(before, now, "both paths write the same packets");
        let mut out = Vec::with_capacity(64 * 1024);
        g.bench_function(format!("result of {n} rows, MySQL values to client packets: rows as values (before)"), |b| {
            b.iter_batched(
                || mysql_values(n),
                |v| {
                    out.clear();
                    values_path(v, &mut out);
                    black_box(out.len())
                },
                criterion::BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("result of {n} rows, MySQL values to client packets: packed rows"), |b| {
            b.iter_batched(
                || mysql_values(n),
                |v| {
                    out.clear();
                    packed_path(v, &mut out);
                    black_box(out.len())
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
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
