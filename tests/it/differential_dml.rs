//! The differential test's writes: UPDATE and DELETE shapes that need the gateway to find rows
//! across shards first (ORDER BY ... LIMIT over the whole table, several tables, several
//! keyspaces, correlated subqueries, a vindex column changed), run on the gateway and on one
//! MariaDB with the same rows. After each, the affected-row counts and every table's rows must
//! be the same.

use mysql_async::prelude::Queryable;

/// The statements, in order (each sees the rows the ones before left).
pub fn statements() -> Vec<&'static str> {
    vec![
        // ORDER BY ... LIMIT across shards: the first n rows over the whole table.
        "delete from corder order by price desc, order_id limit 3",
        "update corder set price = price + 1 order by price, order_id limit 5",
        "update review set body = 'top' order by score desc, review_id limit 4",
        "delete from review where rating < 1 order by created limit 2",
        "update customer set email = concat('last', customer_id) order by customer_id desc limit 2",
        "delete from customer where customer_id > 30 order by customer_id limit 2",
        // A vindex column changed: rows move to the shard of their new value.
        "update review set customer_id = customer_id + 100 where review_id in (1, 2, 3)",
        "update review set customer_id = 7, body = 'moved' where review_id = 10",
        "update corder set customer_id = 41 where customer_id = 3",
        "update corder set customer_id = customer_id + 1 where order_id between 20 and 40",
        "update corder set customer_id = customer_id where order_id = 50",
        // Several tables, and several keyspaces.
        "delete o from corder o join customer c on c.customer_id = o.customer_id where c.email like 'user1%'",
        "delete corder from corder join review on review.customer_id = corder.customer_id where review.rating < 1",
        "update corder o join customer c on o.customer_id = c.customer_id set o.sku = concat('x', c.customer_id) where c.customer_id between 5 and 9",
        "update review r join customer c on r.customer_id = c.customer_id set r.body = 'joined', c.email = concat('r', r.review_id, '@x') where r.review_id = 30",
        "update corder o join commerce.product p on o.sku = p.sku set o.price = p.price where p.sku = 'sku2'",
        "delete o, r from corder o join review r on r.customer_id = o.customer_id where o.order_id = 77",
        "delete from corder using corder join customer on customer.customer_id = corder.customer_id where customer.customer_id = 12",
        "delete r from review r left join corder o on o.customer_id = r.customer_id where o.order_id is null",
        // Correlated and self-referencing subqueries.
        "delete from review where exists (select 1 from corder o where o.customer_id = review.customer_id and o.price > 450)",
        "update review set rating = 9.5 where customer_id in (select customer_id from corder where price < 0)",
        "delete from corder where order_id in (select order_id from corder where price > 400)",
        "update corder set price = 0 where not exists (select 1 from review r where r.customer_id = corder.customer_id)",
        // Multi-column vindexes: rows found by prefix, moved when a vindex column changes.
        "update visit set hits = hits + 1 where region = 1",
        "update visit set region = 130 where region = 2 and visitor_id < 5",
        "update visit set visitor_id = visitor_id + 1000 where region = 250 and visitor_id = 9",
        "delete from visit where region = 3 order by visitor_id desc limit 2",
        "update doc set tenant_id = 9 where doc_id in (100, 105)",
        "delete from doc where tenant_id = 4 and doc_id > 120",
        "update visit set page = 'capped' order by hits desc, region, visitor_id limit 3",
        // A reference table: every copy changes.
        "update rating_label set label = 'mediocre' where floor_rating = 2",
        "insert into rating_label (floor_rating, label) values (4, 'fine')",
        "delete from rating_label where floor_rating = 0",
        "update review r join rating_label l on l.floor_rating = floor(r.rating) set r.body = l.label where r.review_id < 60",
    ]
}

/// What each side's tables hold, in key order.
const CHECKS: &[&str] = &[
    "select order_id, customer_id, sku, price from corder order by order_id",
    "select review_id, customer_id, body, rating, score, created from review order by review_id",
    "select customer_id, email from customer order by customer_id",
    "select floor_rating, label from rating_label order by floor_rating",
    "select region, visitor_id, page, hits from visit order by region, visitor_id",
    "select tenant_id, doc_id, title from doc order by tenant_id, doc_id",
];

async fn rows(c: &mut mysql_async::Conn, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                    Some(mysql_async::Value::NULL) | None => None,
                    Some(other) => Some(format!("{other:?}")),
                })
                .collect()
        })
        .collect())
}

async fn write(c: &mut mysql_async::Conn, sql: &str) -> Result<u64, String> {
    c.query_drop(sql).await.map_err(|e| e.to_string())?;
    Ok(c.affected_rows())
}

/// Runs every statement on both sides; returns how many matched and what did not.
pub async fn compare(g: &mut mysql_async::Conn, d: &mut mysql_async::Conn) -> (usize, Vec<String>) {
    let mut matched = 0;
    let mut mismatched = Vec::new();
    for sql in statements() {
        let (a, b) = (write(g, sql).await, write(d, sql).await);
        if a != b {
            mismatched.push(format!("{sql}\n    gateway: {a:?}\n    mariadb: {b:?}"));
            continue;
        }
        let mut same = true;
        for check in CHECKS {
            let (x, y) = (rows(g, check).await, rows(d, check).await);
            if x != y {
                same = false;
                let diff: Vec<_> = match (&x, &y) {
                    (Ok(x), Ok(y)) => x.iter().filter(|r| !y.contains(r)).take(4).collect(),
                    _ => Vec::new(),
                };
                mismatched.push(format!(
                    "after `{sql}`: `{check}` differs ({} vs {} rows; gateway has {diff:?}; errors {:?} {:?})",
                    x.as_ref().map_or(0, Vec::len),
                    y.as_ref().map_or(0, Vec::len),
                    x.as_ref().err(),
                    y.as_ref().err()
                ));
            }
        }
        if same {
            matched += 1;
        }
    }
    (matched, mismatched)
}
