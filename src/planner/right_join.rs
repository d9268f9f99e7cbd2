//! `A RIGHT JOIN B ON c` across shards, planned as `B LEFT JOIN A ON c` (the same rows), with
//! `SELECT *` spelled `A.*, B.*` so the columns keep MariaDB's order.

use sqlparser::ast::{
    JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, TableFactor,
};

/// The name a table is referred to by in the query: its alias, else its name as written.
fn reference(f: &TableFactor) -> Option<ObjectName> {
    match f {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(ObjectName(vec![ObjectNamePart::Identifier(a.name.clone())]))
        }
        TableFactor::Table { name, alias: None, .. } => Some(name.clone()),
        _ => None,
    }
}

/// The query with its one `RIGHT JOIN ... ON` turned into a `LEFT JOIN`, or `None` when it has
/// no such join (or one this does not rewrite: several joins, USING, NATURAL).
pub(super) fn as_left_join(q: &Query) -> Option<Query> {
    let SetExpr::Select(sel) = q.body.as_ref() else { return None };
    let [twj] = sel.from.as_slice() else { return None };
    let [j] = twj.joins.as_slice() else { return None };
    let on = match &j.join_operator {
        JoinOperator::Right(c @ JoinConstraint::On(_)) | JoinOperator::RightOuter(c @ JoinConstraint::On(_)) => {
            c.clone()
        }
        _ => return None,
    };
    let (left, right) = (reference(&twj.relation)?, reference(&j.relation)?);
    let mut out = q.clone();
    let SetExpr::Select(sel) = out.body.as_mut() else { return None };
    let mut projection = Vec::with_capacity(sel.projection.len() + 1);
    for item in sel.projection.drain(..) {
        match item {
            SelectItem::Wildcard(opts) => {
                for t in [&left, &right] {
                    projection.push(SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(t.clone()),
                        opts.clone(),
                    ));
                }
            }
            other => projection.push(other),
        }
    }
    sel.projection = projection;
    let from = &mut sel.from[0];
    let join = &mut from.joins[0];
    std::mem::swap(&mut from.relation, &mut join.relation);
    join.join_operator = JoinOperator::Left(on);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Option<String> {
        let stmt = crate::sql::parse::parse(sql).unwrap().remove(0);
        let sqlparser::ast::Statement::Query(q) = stmt else { panic!() };
        as_left_join(&q).map(|q| q.to_string())
    }

    #[test]
    fn right_joins_become_left_joins_with_columns_in_order() {
        assert_eq!(
            rewritten("select * from customer c right join corder o on c.customer_id = o.customer_id").as_deref(),
            Some("SELECT c.*, o.* FROM corder o LEFT JOIN customer c ON c.customer_id = o.customer_id")
        );
        assert_eq!(
            rewritten("select o.order_id, email from customer right outer join corder o on customer.customer_id = o.customer_id").as_deref(),
            Some("SELECT o.order_id, email FROM corder o LEFT JOIN customer ON customer.customer_id = o.customer_id")
        );
        assert!(rewritten("select * from customer c left join corder o on c.customer_id = o.customer_id").is_none());
        assert!(rewritten("select * from customer c right join corder o using (customer_id)").is_none());
    }
}
