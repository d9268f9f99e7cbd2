//! The differential corpus: queries over the example schema (customer, corder, review in the
//! sharded `customer` keyspace; product in the unsharded `commerce`), written by hand and
//! generated from a small grammar. Queries with LIMIT order completely (ties broken by a
//! unique key); results of unordered queries are compared as multisets.

use crate::differential::Lcg;

pub fn queries() -> Vec<String> {
    let mut q: Vec<String> = Vec::new();
    // Routing.
    for s in [
        "select * from customer where customer_id = 5",
        "select * from customer where customer_id in (1, 7, 33, 40)",
        "select * from customer",
        "select customer_id, email from customer where email is null",
        "select * from corder where customer_id = 12",
        "select order_id, price from corder where price > 300",
        "select order_id from corder where sku = 'sku3' and price < 100",
        "select count(*) from customer where customer_id = 9",
        "select * from review where customer_id in (3, 4)",
        "select review_id, body from review where body = 'great'",
        "select review_id, body from review where body like 'g%'",
        "select review_id from review where created >= '2026-06-01'",
        "select review_id, rating from review where rating between 1 and 2.5",
        "select customer_id, email from customer where email like '%example%' and customer_id > 30",
        // BINARY binds to its operand only (Django's `LIKE BINARY %s AND ...`), also where the
        // gateway prints the query itself (merge-sorted by position).
        "select customer_id from customer where (email like binary 'user1%' and customer_id >= 5) order by 1 desc",
        "select customer_id from customer where binary email = 'user12@example.com' or customer_id < 3 order by customer_id",
        "select * from commerce.product",
        "select sku, price from commerce.product where price > 300",
        // GROUP_CONCAT with ORDER BY: every value to the gateway, sorted there.
        "select group_concat(sku order by sku) from corder",
        "select customer_id, group_concat(order_id order by price desc, order_id separator ';') from corder group by customer_id order by customer_id",
        "select group_concat(distinct sku order by sku desc) from corder",
        "select customer_id, group_concat(body order by body, review_id) from review group by customer_id order by customer_id",
        "select group_concat(price order by price, order_id) from corder where price < 100",
        "select group_concat(email order by email desc separator ' | ') from customer",
        "select sku, group_concat(distinct customer_id order by customer_id) as who from corder group by sku order by sku",
        // Multi-column vindexes: a prefix of the columns routes to a key range.
        "select * from visit where region = 1 order by visitor_id",
        "select * from visit where region = 200 and visitor_id = 4",
        "select region, count(*), sum(hits) from visit group by region order by region",
        "select * from visit where region in (2, 250) and visitor_id in (3, 5, 17) order by region, visitor_id",
        "select visitor_id, max(hits) from visit where visitor_id < 6 group by visitor_id order by visitor_id",
        "select v.page, d.title from visit v join doc d on d.doc_id = v.visitor_id + 99 where v.region = 3 order by 1, 2",
        "select tenant_id, count(*) from doc group by tenant_id order by tenant_id",
        "select * from doc where tenant_id = 3 order by doc_id",
        "select * from doc where tenant_id = 2 and doc_id in (101, 106, 111) order by doc_id",
        "select title from doc where doc_id = 120",
        // unicode_loose_xxhash: a name routes where its case- and accent-insensitive twins do.
        "select * from person where name = 'JOSE'",
        "select * from person where name = 'zoe'",
        "select * from person where name = 'ANGSTROM '",
        "select * from person where name in ('nunez', 'ANNE', 'bjork')",
        "select * from person order by name",
        "select count(*) from person where name = 'José'",
        // Parenthesised UNION parts with their own ORDER BY and LIMIT.
        "(select order_id from corder order by order_id limit 3) union (select order_id from corder order by order_id desc limit 3)",
        "(select customer_id from corder order by price desc, order_id limit 4) union all (select customer_id from customer order by customer_id limit 2) order by 1 desc",
        // Functions the gateway evaluates over rows of several routes.
        "select o.order_id, upper(concat(o.sku, p.description)), lower(concat(p.description, o.sku)) from corder o join commerce.product p on o.sku = p.sku order by o.order_id limit 25",
        "select o.order_id, length(concat(o.sku, p.description)), char_length(concat(p.description, 'é')) from corder o join commerce.product p on o.sku = p.sku order by o.order_id limit 25",
        "select o.order_id, floor(o.price / p.price * 10), ceil(o.price / p.price * 10), ceiling(p.price - o.price / 3) from corder o join commerce.product p on o.sku = p.sku order by o.order_id limit 40",
        "select r.review_id, year(r.created) + o.order_id, month(r.created) * o.customer_id, day(r.created) - o.order_id from review r join corder o on o.order_id = r.review_id order by r.review_id limit 40",
        "select year(r.created), count(*) from review r join corder o on o.order_id = r.review_id group by year(r.created) order by 1",
        "select lcase(p.description), count(*) from corder o join commerce.product p on o.sku = p.sku group by lcase(p.description) order by 1",
        "select o.order_id, floor(o.price * 1.5 + p.price / 7) from corder o join commerce.product p on o.sku = p.sku where o.price is not null order by 1 limit 20",
        // Derived tables joined with other tables: run first, their rows joined as literals.
        "select d.customer_id, d.n, c.email from (select customer_id, count(*) as n from corder group by customer_id) d join customer c on c.customer_id = d.customer_id order by d.customer_id",
        "select c.email, d.total from customer c join (select customer_id, sum(price) as total from corder group by customer_id) d on d.customer_id = c.customer_id where d.total > 500 order by c.email, d.total",
        "select p.sku, d.cnt from commerce.product p left join (select sku, count(*) as cnt from corder group by sku) d on d.sku = p.sku order by p.sku",
        "select d.customer_id, count(o.order_id) from (select customer_id from customer where customer_id < 10) d left join corder o on o.customer_id = d.customer_id group by d.customer_id order by 1",
        "select c.email from customer c join (select customer_id from corder where price > 100000) d on d.customer_id = c.customer_id",
        "select d.sku, d.top, r.body from (select sku, max(price) as top from corder group by sku) d join review r on r.review_id = d.top % 120 order by 1",
        "select count(*) from (select customer_id from corder where price > 300) a join (select customer_id from review where rating > 3) b on a.customer_id = b.customer_id",
        // Window functions partitioned by the sharding column: each shard computes its own.
        "select order_id, customer_id, row_number() over (partition by customer_id order by order_id) as rn from corder order by rn, order_id",
        "select customer_id, order_id, sum(price) over (partition by customer_id order by order_id) as running from corder order by customer_id, order_id",
        "select review_id, rank() over (partition by customer_id order by rating desc) as r from review order by review_id",
        "select customer_id, order_id, lag(order_id) over (partition by customer_id order by order_id) as prev from corder order by customer_id, order_id limit 30",
        "select order_id, count(*) over (partition by customer_id) as n from corder where price > 100 order by n desc, order_id limit 10",
        "with recursive r as (select 1 as n union all select n + 1 from r where n < 5) select * from r",
        // Aggregates the gateway does not merge: MariaDB evaluates them over the table's rows.
        "select std(price), variance(price), stddev_samp(price) from corder",
        "select sku, var_pop(price), bit_or(order_id), bit_and(customer_id) from corder group by sku order by sku",
        "select rating, json_arrayagg(review_id order by review_id) from review where review_id < 30 and rating is not null group by rating order by rating",
        // The last resort: every table read back, MariaDB evaluates the statement on one shard.
        "select o.order_id from corder o where o.sku in (select p.sku from commerce.product p where p.price > o.price)",
        "select o.order_id, (select max(p.price) from commerce.product p where p.price < o.price) as below from corder o",
        "select o.order_id from corder o right join customer c using (customer_id)",
        "select c.email, o.order_id from customer c join corder o using (customer_id)",
        "select c.customer_id, o.order_id from customer c natural join corder o",
        "select sku from corder except select sku from commerce.product",
        "select sku from corder intersect select sku from commerce.product",
        "select o.order_id, rank() over (order by p.price, o.order_id) as r from corder o join commerce.product p on o.sku = p.sku",
        "select group_concat(p.description order by p.sku, o.order_id) from corder o join commerce.product p on o.sku = p.sku",
        "select o.order_id, md5(concat(o.sku, p.description)) from corder o join commerce.product p on o.sku = p.sku",
        "select std(o.price), variance(p.price) from corder o join commerce.product p on o.sku = p.sku",
        // Other windows: the rows come to the gateway, MariaDB evaluates the windows over them.
        "select order_id, row_number() over (order by price, order_id) as rn from corder order by rn",
        "select sku, order_id, rank() over (partition by sku order by price desc) as r from corder order by sku, order_id",
        "select order_id, sum(price) over (order by order_id rows between 2 preceding and current row) as s from corder order by order_id",
        "select review_id, lag(body) over (order by created, review_id) as prev from review order by review_id",
        "select customer_id, count(*), row_number() over (order by count(*) desc, customer_id) as rn from corder group by customer_id order by customer_id",
        "select review_id, dense_rank() over (order by body) as d from review where body is not null order by review_id",
        "select review_id, year(created) as y, avg(score) over (partition by year(created)) as a from review where rating > 1 order by review_id",
        "select region, visitor_id, ntile(4) over (order by hits, region, visitor_id) as q from visit order by region, visitor_id",
        // A reference table: a copy on every shard, joined where the other table's rows are.
        "select * from rating_label order by floor_rating",
        "select count(*), max(label) from rating_label",
        "select r.review_id, l.label from review r join rating_label l on l.floor_rating = floor(r.rating) order by r.review_id",
        "select l.label, count(*) from review r join rating_label l on l.floor_rating = floor(r.rating) group by l.label order by l.label",
        "select l.label, count(r.review_id) from rating_label l left join review r on l.floor_rating = floor(r.rating) group by l.label order by l.label",
        "select l.label, r.review_id from rating_label l join review r on l.floor_rating = floor(r.rating) where r.customer_id = 7 order by 2",
        "select c.customer_id, l.label from customer c join review r on r.customer_id = c.customer_id join rating_label l on l.floor_rating = floor(r.rating) where c.customer_id between 3 and 9 order by 1, 2",
        "select label from rating_label where floor_rating in (select floor(rating) from review where review_id < 10) order by label",
        "select r.review_id, l.label from review r left join rating_label l on l.floor_rating = r.rating order by r.review_id",
    ] {
        q.push(s.to_string());
    }
    // ORDER BY and LIMIT across shards.
    let corder_orders = [
        "order_id",
        "order_id desc",
        "price, order_id",
        "price desc, order_id",
        "sku, order_id desc",
        "sku desc, price desc, order_id",
        "price is null, price, order_id",
        "price * 2 + order_id, order_id",
        "customer_id desc, order_id",
        "-price, order_id",
    ];
    let limits = ["", " limit 5", " limit 10 offset 3", " limit 3, 4", " limit 0", " limit 1000"];
    for o in corder_orders {
        for l in limits {
            q.push(format!("select order_id, customer_id, price from corder order by {o}{l}"));
        }
    }
    for l in limits {
        q.push(format!("select * from corder order by order_id{l}"));
        q.push(format!("select order_id, price * 2 as p2 from corder order by p2 desc, order_id{l}"));
        q.push(format!("select sku, order_id from corder order by 1, 2 desc{l}"));
        q.push(format!("select review_id, body from review order by body, review_id{l}"));
        q.push(format!("select review_id, body from review order by body desc, review_id desc{l}"));
        q.push(format!("select review_id, rating, score from review order by rating desc, score, review_id{l}"));
        q.push(format!("select review_id, created from review order by created, review_id{l}"));
        q.push(format!("select customer_id, email from customer order by email, customer_id{l}"));
        q.push(format!("select customer_id from customer order by email desc, customer_id{l}"));
        q.push(format!("select order_id from corder where price > 100 order by customer_id, order_id{l}"));
    }
    // Aggregates, whole-table.
    let cols = [
        ("corder", "price"),
        ("corder", "order_id"),
        ("review", "rating"),
        ("review", "score"),
        ("customer", "customer_id"),
    ];
    let aggs = ["count(*)", "count(C)", "sum(C)", "min(C)", "max(C)", "avg(C)", "count(distinct C)", "sum(distinct C)"];
    for (t, c) in cols {
        for a in aggs {
            q.push(format!("select {} from {t}", a.replace('C', c)));
        }
        q.push(format!("select count(*), sum({c}), avg({c}), min({c}), max({c}) from {t}"));
        q.push(format!("select sum({c}) / count({c}), max({c}) - min({c}), count(*) + 1 from {t}"));
        q.push(format!("select count(*), sum({c}) from {t} where 1 = 0"));
    }
    for s in [
        "select count(distinct sku) from corder",
        "select count(distinct email) from customer",
        "select count(distinct body) from review",
        "select min(email), max(email) from customer",
        "select min(created), max(created) from review",
        "select min(sku), max(sku), count(distinct customer_id) from corder",
        "select avg(distinct price) from corder",
        "select count(*) from corder where price is null",
        "select sum(price) from corder where customer_id = 3",
    ] {
        q.push(s.to_string());
    }
    // GROUP BY, HAVING.
    for s in [
        "select sku, count(*), sum(price), min(price), max(price), avg(price) from corder group by sku",
        "select sku, count(*) from corder group by sku order by sku",
        "select sku, count(*) as n from corder group by sku order by n desc, sku",
        "select sku, count(*) from corder group by sku order by count(*) desc, sku limit 3",
        "select sku, sum(price) from corder group by sku having sum(price) > 3000",
        "select sku, avg(price) a from corder group by sku having a > 200 order by a desc",
        "select sku, count(*) from corder group by sku having count(*) > 20 order by 2 desc, 1",
        "select sku, max(price) - min(price) as spread from corder group by sku order by spread, sku",
        "select customer_id, count(*), sum(price) from corder group by customer_id",
        "select customer_id, count(*) as n from corder group by customer_id order by n desc, customer_id limit 5",
        "select customer_id, sum(price) from corder group by customer_id having sum(price) > 1000 order by customer_id",
        "select customer_id, count(distinct sku) from corder group by customer_id order by customer_id",
        "select sku, count(distinct customer_id) from corder group by sku order by sku",
        "select sku, customer_id, count(*) from corder group by sku, customer_id order by sku, customer_id",
        "select price is null, count(*) from corder group by price is null",
        "select price > 200, count(*) from corder group by 1",
        "select count(*) from review group by body",
        "select min(review_id), count(*) from review group by body",
        "select rating, count(*) from review group by rating order by rating",
        "select year(created), month(created), count(*) from review group by year(created), month(created) order by 1, 2",
        "select floor(score / 100), count(*), sum(score) from review group by floor(score / 100) order by 1",
        "select count(*), sku from corder group by sku order by sku limit 2 offset 1",
        "select sku, count(*) from corder where price > 100 group by sku having count(*) >= 5 order by sku",
        "select sku, sum(price) from corder group by sku having sum(price) is not null order by sku",
        "select sku from corder group by sku having min(price) < 10 order by sku",
        "select email, count(*) from customer group by email order by email",
        "select rating, avg(score), count(score) from review group by rating order by rating",
    ] {
        q.push(s.to_string());
    }
    // DISTINCT.
    for s in [
        "select distinct sku from corder",
        "select distinct sku from corder order by sku",
        "select distinct sku from corder order by sku desc limit 3",
        "select distinct customer_id from corder",
        "select distinct customer_id from corder order by customer_id limit 5",
        "select distinct sku, customer_id from corder",
        "select distinct price > 250 from corder",
        "select distinct email from customer",
        "select distinct rating from review order by rating",
        "select distinct customer_id, sku from corder where price > 300 order by customer_id, sku",
    ] {
        q.push(s.to_string());
    }
    // Joins on the vindex column: pushed down whole.
    for s in [
        "select c.customer_id, c.email, o.order_id, o.price from customer c join corder o on c.customer_id = o.customer_id",
        "select c.customer_id, o.order_id from customer c left join corder o on c.customer_id = o.customer_id",
        "select c.customer_id, count(o.order_id) from customer c left join corder o on c.customer_id = o.customer_id group by c.customer_id",
        "select c.customer_id, count(*) n from customer c join corder o on c.customer_id = o.customer_id group by c.customer_id order by n desc, c.customer_id limit 5",
        "select c.email, sum(o.price) from customer c join corder o on c.customer_id = o.customer_id group by c.email order by c.email",
        "select c.customer_id, o.order_id, r.review_id from customer c join corder o on c.customer_id = o.customer_id join review r on r.customer_id = c.customer_id where o.price > 400 and r.rating > 3",
        "select c.customer_id, o.order_id from customer c, corder o where c.customer_id = o.customer_id and o.price > 450",
        "select o.order_id, r.review_id from corder o join review r on o.customer_id = r.customer_id where o.customer_id = 7",
        "select count(*) from customer c join corder o on c.customer_id = o.customer_id",
        "select c.customer_id, o.order_id from customer c join corder o on c.customer_id = o.customer_id order by o.order_id limit 7",
        "select c.customer_id from customer c left join corder o on c.customer_id = o.customer_id where o.order_id is null",
    ] {
        q.push(s.to_string());
    }
    // Joins across routes: nested loops in the gateway.
    for s in [
        "select o.order_id, p.description from corder o join commerce.product p on o.sku = p.sku",
        "select o.order_id, p.description from corder o left join commerce.product p on o.sku = p.sku",
        "select * from (select sku, price from corder where price > 100) as t",
        "select t.* from (select customer_id, email from customer) t where customer_id > 30",
        // WITH across shards: each CTE is the derived table it names.
        "with t as (select sku from corder) select * from t",
        // CTE column lists; WITH RECURSIVE over sharded tables (their rows read back).
        "with t(s) as (select sku from corder) select s from t",
        "with t(c, n) as (select customer_id, count(*) from corder group by customer_id) select c, n from t where n > 1",
        "with t(a, b) as (select customer_id, email from customer union select order_id, sku from corder) select a, b from t",
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r",
        "with recursive r as (select min(customer_id) as id from customer union all select (select min(c.customer_id) from customer c where c.customer_id > r.id) from r where r.id is not null) select id from r where id is not null",
        "with recursive r(id, depth) as (select customer_id, 1 from customer where customer_id < 5 union all select id + 100, depth + 1 from r where depth < 3) select * from r",
        "with recursive r as (select sku, price from corder where price > 100 union all select sku, price - 100 from r where price > 150) select sku, count(*), sum(price) from r group by sku",
        "with big as (select customer_id, price from corder where price > 200) select customer_id, count(*), sum(price) from big group by customer_id",
        "with c as (select customer_id from customer where customer_id < 20), o as (select customer_id from c where customer_id > 5) select count(*) from o",
        "with t as (select sku, price from corder) select sku, max(price) from t group by sku order by sku",
        // RIGHT JOIN across shards: the same rows as the LEFT JOIN the other way round.
        "select o.order_id, c.customer_id from corder o right join customer c on o.customer_id = c.customer_id",
        "select * from corder o right join customer c on o.customer_id = c.customer_id and o.price > 300",
        "select p.sku, o.order_id from corder o right join commerce.product p on o.sku = p.sku order by p.sku, o.order_id",
        "select c.customer_id, count(o.order_id) from corder o right join customer c on c.customer_id = o.customer_id group by c.customer_id",
        "select o.order_id, p.price, o.price from corder o join commerce.product p on o.sku = p.sku where p.price > 300 and o.price < 200",
        "select o.order_id, o.price + p.price as total from corder o join commerce.product p on o.sku = p.sku order by total desc, o.order_id limit 5",
        "select p.description, count(*), sum(o.price) from corder o join commerce.product p on o.sku = p.sku group by p.description order by p.description",
        "select p.sku, o.order_id from commerce.product p join corder o on o.sku = p.sku where o.customer_id < 10",
        "select p.sku, o.order_id from commerce.product p left join corder o on o.sku = p.sku and o.price > 450",
        "select p.sku, c.email from commerce.product p join customer c on c.customer_id = p.price / 50",
        "select p.sku, c.customer_id from commerce.product p join customer c on c.customer_id = (p.price - 50) / 100",
        "select o.order_id, r.review_id from corder o join review r on o.order_id = r.review_id where o.price > 400",
        "select o.order_id, r.review_id from corder o join review r on o.price = r.review_id",
        "select o.order_id, r.review_id from corder o left join review r on o.order_id = r.review_id and r.rating > 2 where o.order_id < 30",
        "select o.order_id, r.review_id from corder o join review r on o.order_id = r.review_id and o.price > r.score",
        "select o.order_id, p.sku from corder o, commerce.product p where o.sku = p.sku and o.customer_id = 4",
        "select o.order_id, p.sku from corder o join commerce.product p on o.price > p.price where o.order_id < 8",
        "select count(*) from corder o join commerce.product p on o.sku = p.sku",
        "select count(*), count(p.sku) from corder o left join commerce.product p on o.sku = p.sku",
        "select distinct p.description from corder o join commerce.product p on o.sku = p.sku where o.price > 300",
        "select c.email, p.description from customer c join corder o on c.customer_id = o.customer_id join commerce.product p on p.sku = o.sku where c.customer_id < 6",
        "select o.*, p.description from corder o join commerce.product p on o.sku = p.sku where o.order_id < 20",
        "select * from corder o join commerce.product p on o.sku = p.sku where o.order_id < 15",
        "select o.order_id, p.sku from corder o left join commerce.product p on o.sku = p.sku where p.sku is null",
        "select o.sku, max(p.price), min(o.price) from corder o join commerce.product p on o.sku = p.sku group by o.sku having min(o.price) > 0 order by o.sku",
        "select r.review_id, o.order_id from review r join corder o on r.rating = o.order_id where r.review_id < 40",
    ] {
        q.push(s.to_string());
    }
    // Subqueries.
    for s in [
        "select * from customer where customer_id in (select customer_id from corder where price > 450)",
        "select customer_id from customer where customer_id not in (select customer_id from corder)",
        "select order_id from corder where price not in (select price from corder where sku = 'sku1')",
        "select order_id from corder where price not in (select price from corder where sku = 'sku1' and price is not null)",
        "select order_id, price from corder where price > (select avg(price) from corder)",
        "select order_id from corder where price = (select max(price) from corder)",
        "select (select count(*) from customer) as n",
        "select (select max(price) from corder) - (select min(price) from corder)",
        "select count(*) from customer where exists (select 1 from corder where price > 490)",
        "select count(*) from customer where not exists (select 1 from corder where price > 10000)",
        "select order_id from corder where sku in (select sku from commerce.product where price > 300)",
        "select sku, description from commerce.product where sku in (select sku from corder where price > 470)",
        "select sku from commerce.product where sku not in (select sku from corder where customer_id = 3)",
        "select c.customer_id from customer c where exists (select 1 from corder o where o.customer_id = c.customer_id and o.price > 400)",
        "select c.customer_id from customer c where not exists (select 1 from corder o where o.customer_id = c.customer_id)",
        "select c.customer_id, (select count(*) from corder o where o.customer_id = c.customer_id) as n from customer c",
        "select c.customer_id from customer c where (select sum(o.price) from corder o where o.customer_id = c.customer_id) > 1000",
        "select count(*) from (select distinct sku from corder) t",
        "select t.sku, t.n from (select sku, count(*) as n from corder group by sku) t where t.n > 20",
        "select max(n), min(n), sum(n) from (select customer_id, count(*) n from corder group by customer_id) t",
        "select t.customer_id from (select customer_id, sum(price) s from corder group by customer_id) t where t.s > 1500 order by t.customer_id",
        "select sku, n from (select sku, count(*) n from corder group by sku) as t order by n desc, sku limit 3",
        "select avg(p) from (select price p from corder where price is not null order by price desc limit 10) d",
        "select order_id from corder where customer_id in (select customer_id from customer where email = 'user3@example.com')",
        "select order_id from corder where customer_id = (select min(customer_id) from customer)",
        "select review_id from review where rating > (select avg(rating) from review) order by review_id limit 10",
        "select o.order_id from corder o where exists (select 1 from review r where r.review_id = o.order_id and r.rating > 3)",
        "select o.order_id from corder o where not exists (select 1 from review r where r.review_id = o.order_id)",
        "select o.order_id, exists (select 1 from commerce.product p where p.sku = o.sku) from corder o where o.customer_id < 10",
        "select p.sku from commerce.product p where exists (select 1 from corder o where o.sku = p.sku and o.price > 400)",
        "select p.sku from commerce.product p where not exists (select 1 from corder o where o.sku = p.sku and o.customer_id = 3)",
        "select count(*) from corder o where o.price is null or not exists (select 1 from review r where r.rating = o.price)",
        "select o.order_id from corder o where o.price > (select avg(o2.price) from corder o2 where o2.sku = o.sku)",
        "select o.order_id, (select count(*) from corder o2 where o2.sku = o.sku and o2.price > 400) as n from corder o where o.customer_id < 12",
        "select p.sku, (select max(o.price) from corder o where o.sku = p.sku) from commerce.product p",
        "select p.sku, (select count(*) from corder o where o.sku = p.sku) as n from commerce.product p order by n desc, p.sku",
        "select r.review_id from review r where r.rating < (select min(o.price) from corder o where o.order_id = r.review_id)",
        "select c.customer_id, (select sum(r.score) from review r where r.rating = c.customer_id) from customer c where c.customer_id < 6",
    ] {
        q.push(s.to_string());
    }
    // UNION.
    for s in [
        "select customer_id from customer union select customer_id from corder",
        "select customer_id from customer union all select customer_id from corder",
        "select customer_id from customer union select customer_id from corder order by customer_id limit 10",
        "select sku from corder union select sku from commerce.product order by sku",
        "select sku from corder union all select sku from commerce.product",
        "select customer_id, email from customer where customer_id < 5 union select customer_id, sku from corder where customer_id < 3",
        "select count(*) from corder union all select count(*) from customer",
        "select max(price) from corder union select max(price) from commerce.product",
        "select order_id from corder where price > 480 union select review_id from review where rating > 4 order by 1 desc",
        "select customer_id from customer union select customer_id from corder union all select customer_id from review",
    ] {
        q.push(s.to_string());
    }
    // No tables.
    for s in [
        "select 1 + 1",
        "select concat('a', 'b'), upper('abc'), lower('ABC')",
        "select 7 / 2, 7 div 2, 7 % 3",
        "select null is null, 1 = null, null <=> null",
        "select cast('12' as unsigned) + 1",
        "select coalesce(null, 3), ifnull(null, 'x'), if(1 > 2, 'a', 'b')",
        "select 'a' = 'A', 'a' = 'a '",
        "select round(2.5), round(3.14159, 2), truncate(3.999, 1)",
        "select 1e3, 0.1 + 0.2, 10 / 3",
        "select date('2026-11-21 10:00:00'), year('2026-11-21')",
        "select length('héllo'), char_length('héllo')",
        "select greatest(1, 5, 3), least('b', 'a')",
    ] {
        q.push(s.to_string());
    }
    q
}

/// Queries from a small grammar over the schema (deterministic).
pub fn generated(n: usize) -> Vec<String> {
    struct T {
        name: &'static str,
        key: &'static str,
        nums: &'static [&'static str],
        groups: &'static [&'static str],
        preds: &'static [&'static str],
    }
    let tables = [
        T {
            name: "corder",
            key: "order_id",
            nums: &["price", "order_id", "customer_id"],
            groups: &["sku", "customer_id", "price > 200"],
            preds: &[
                "price > 250",
                "price is null",
                "sku in ('sku1', 'sku4')",
                "customer_id < 20",
                "order_id between 30 and 90",
                "price < 100 or sku = 'sku2'",
            ],
        },
        T {
            name: "review",
            key: "review_id",
            nums: &["rating", "score", "review_id"],
            groups: &["rating", "customer_id", "year(created)"],
            preds: &[
                "rating >= 2",
                "score < 0",
                "body = 'ok'",
                "created < '2026-07-01'",
                "rating is null",
                "customer_id in (1, 2, 3, 30)",
            ],
        },
        T {
            name: "customer",
            key: "customer_id",
            nums: &["customer_id"],
            groups: &["email", "customer_id % 3"],
            preds: &[
                "customer_id > 20",
                "email is not null",
                "email like 'user1%'",
                "customer_id in (2, 4, 8, 16, 32)",
            ],
        },
        T {
            name: "visit",
            key: "region, visitor_id",
            nums: &["hits", "visitor_id", "region"],
            groups: &["region", "page", "hits > 50"],
            preds: &[
                "region = 1",
                "region in (2, 250)",
                "hits > 40",
                "visitor_id < 8",
                "page = 'page3'",
                "region = 130 and visitor_id = 4",
            ],
        },
        T {
            name: "doc",
            key: "tenant_id, doc_id",
            nums: &["doc_id", "tenant_id"],
            groups: &["tenant_id", "title"],
            preds: &["tenant_id = 3", "doc_id > 120", "title like 'Doc 1%'", "tenant_id in (1, 5)"],
        },
    ];
    let aggs = ["count(*)", "count(C)", "sum(C)", "min(C)", "max(C)", "avg(C)", "count(distinct C)"];
    let mut r = Lcg(7);
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut attempts = 0;
    while out.len() < n && attempts < n * 20 {
        attempts += 1;
        let t = &tables[r.below(tables.len() as u64) as usize];
        let pred = if r.below(3) == 0 { String::new() } else { format!(" where {}", r.pick(t.preds)) };
        let limit = match r.below(4) {
            0 => " limit 4".to_string(),
            1 => format!(" limit {} offset {}", 1 + r.below(6), r.below(5)),
            _ => String::new(),
        };
        let q = match r.below(5) {
            4 => join_query(&mut r),
            0 | 1 => {
                let k = 1 + r.below(t.nums.len() as u64) as usize;
                let cols: Vec<&str> = (0..k).map(|_| *r.pick(t.nums)).collect();
                let dir = if r.below(2) == 0 { "" } else { " desc" };
                let order = if limit.is_empty() && r.below(2) == 0 {
                    String::new()
                } else {
                    format!(" order by {}{dir}, {}", cols[0], t.key)
                };
                let distinct = if order.is_empty() && r.below(4) == 0 { "distinct " } else { "" };
                format!(
                    "select {distinct}{} from {}{pred}{order}{}",
                    cols.join(", "),
                    t.name,
                    if order.is_empty() { "" } else { &limit }
                )
            }
            2 => {
                let g = *r.pick(t.groups);
                let a1 = {
                    let c = *r.pick(t.nums);
                    r.pick(&aggs).replace('C', c)
                };
                let a2 = {
                    let c = *r.pick(t.nums);
                    r.pick(&aggs).replace('C', c)
                };
                let having = if r.below(3) == 0 { format!(" having {a1} > {}", r.below(50)) } else { String::new() };
                format!("select {g}, {a1}, {a2} from {}{pred} group by {g}{having} order by 1{limit}", t.name)
            }
            _ => {
                let a1 = {
                    let c = *r.pick(t.nums);
                    r.pick(&aggs).replace('C', c)
                };
                let a2 = {
                    let c = *r.pick(t.nums);
                    r.pick(&aggs).replace('C', c)
                };
                format!("select {a1}, {a2} from {}{pred}", t.name)
            }
        };
        if seen.insert(q.clone()) {
            out.push(q);
        }
    }
    out
}

/// A join from a small grammar: pushed down on the vindex column, or nested loops across
/// keyspaces and non-vindex columns; INNER or LEFT; plain, ordered with a limit, or grouped.
fn join_query(r: &mut Lcg) -> String {
    let joins = [
        ("corder o join commerce.product p on o.sku = p.sku", "o.order_id", "p.price"),
        ("corder o left join commerce.product p on o.sku = p.sku", "o.order_id", "p.price"),
        ("commerce.product p join corder o on o.sku = p.sku", "o.order_id", "p.price"),
        ("corder o join review r on r.customer_id = o.customer_id", "o.order_id, r.review_id", "r.rating"),
        ("corder o left join review r on r.review_id = o.order_id", "o.order_id", "r.rating"),
        ("customer c join corder o on c.customer_id = o.customer_id", "o.order_id", "c.customer_id"),
        ("review r join corder o on o.order_id = r.review_id", "r.review_id", "o.price"),
    ];
    let (from, key, other) = *r.pick(&joins);
    let preds =
        ["o.price > 200", "o.customer_id < 15", "o.sku in ('sku2', 'sku5', 'sku7')", "o.order_id between 20 and 120"];
    let pred = if r.below(3) == 0 { String::new() } else { format!(" where {}", r.pick(&preds)) };
    match r.below(3) {
        0 => format!("select {key}, {other} from {from}{pred}"),
        1 => {
            let dir = if r.below(2) == 0 { "" } else { " desc" };
            format!("select {key}, {other} from {from}{pred} order by {key}{dir} limit {}", 1 + r.below(8))
        }
        _ => {
            let agg = r.pick(&["count(*)", "sum(o.price)", "max(o.price)", "count(distinct o.sku)", "avg(o.price)"]);
            format!("select {other}, {agg} from {from}{pred} group by {other} order by 1")
        }
    }
}

/// Shapes the gateway refuses across shards, and a word its error must contain.
pub fn refused() -> Vec<(&'static str, &'static str)> {
    vec![
        ("with t(s) as (select * from corder) select s from t for update", "with"),
        (
            "select o.order_id, rank() over (order by p.price) from corder o join commerce.product p on o.sku = p.sku for update",
            "window",
        ),
    ]
}

/// UNIONs across shards whose parts have different types: compared with MariaDB by column
/// type, decimals and exact text (the column takes MariaDB's combined type, and an integer in
/// a DECIMAL(_, 1) column is `5.0`).
pub fn typed() -> Vec<&'static str> {
    vec![
        "select customer_id from customer union all select rating from review",
        "select rating from review where review_id < 20 union select customer_id from customer where customer_id < 10",
        "select created from review union all select customer_id from customer",
        "select null from customer union all select rating from review",
        "select customer_id from customer union all select customer_id from corder",
        "select score from review union all select rating from review",
    ]
}

/// GROUP_CONCAT across shards (separator `|`): the order inside a list is not defined without
/// ORDER BY, so each list is compared as the set of its items.
pub fn concatenated() -> Vec<&'static str> {
    vec![
        "select group_concat(sku separator '|') from corder",
        "select group_concat(distinct sku separator '|') from corder",
        "select sku, group_concat(customer_id separator '|') from corder group by sku",
        "select price > 200, count(*), group_concat(distinct sku separator '|') from corder group by price > 200",
        "select group_concat(email separator '|') from customer where customer_id < 0",
    ]
}
