//! Parsing and planning a mixed corpus of statements against the example VSchema: the cost
//! every statement pays without the plan cache, and with it.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::plan::Target;
use tessera::planner::cache::PlanCache;
use tessera::planner::plan;
use tessera::routing::example_view;

const CORPUS: [&str; 12] = [
    "SELECT c FROM sbtest1 WHERE id=4711",
    "select * from customer where customer_id = 5",
    "select email from customer where customer_id in (1, 2, 3)",
    "select * from corder order by price desc, order_id limit 10",
    "select sku, count(*), sum(price), avg(price) from corder group by sku having count(*) > 2 order by 2 desc",
    "select distinct sku from corder",
    "select c.customer_id, o.order_id from customer c join corder o on c.customer_id = o.customer_id where c.customer_id = 7",
    "select o.order_id, p.description from corder o join commerce.product p on o.sku = p.sku where o.price > 100",
    "select * from customer where customer_id in (select customer_id from corder where price > 450)",
    "select customer_id from customer union select customer_id from corder order by customer_id limit 10",
    "select count(*) from (select distinct sku from corder) t",
    "insert into corder (order_id, customer_id, sku, price) values (1, 2, 'x', 3), (4, 5, 'y', 6)",
];

fn bench(c: &mut Criterion) {
    let view = example_view();
    let target = Target::parse("customer").expect("target");
    let mut g = c.benchmark_group("plan");
    g.bench_function("mixed corpus, no cache (12 statements)", |b| {
        b.iter(|| {
            for sql in CORPUS {
                let _ = black_box(plan(black_box(sql), &target, &view));
            }
        })
    });
    g.bench_function("point select, no cache", |b| {
        b.iter(|| black_box(plan(black_box("select * from customer where customer_id = 5"), &target, &view)))
    });
    let cache = PlanCache::new(1024);
    g.bench_function("mixed corpus, cache hits (12 statements)", |b| {
        b.iter(|| {
            for sql in CORPUS {
                let _ = black_box(cache.plan(black_box(sql), &target, &view));
            }
        })
    });
    g.bench_function("point select, cache hit (new literal each time)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let sql = format!("select * from customer where customer_id = {}", i % 1000);
            black_box(cache.plan(&sql, &target, &view))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
