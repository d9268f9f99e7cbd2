//! `INSERT INTO sharded (cols) SELECT ...`: the SELECT's rows (read whole first, as MariaDB does
//! when a statement reads the table it writes, bounded by `max_rows`) inserted as VALUES in
//! batches, each row routed by its vindex value, all in one transaction: the session's, or one
//! begun for the statement and committed after its last batch (rolled back on any error).

use super::execute::{execute, value_literal, Services};
use crate::engine::exec::Answer;
use crate::engine::session::SessionState;
use crate::plan::GatewayError;

/// Rows per INSERT sent to the planner.
const BATCH: usize = 500;

pub async fn run(
    svc: &Services,
    s: &mut SessionState,
    head: &str,
    select: &str,
    tail: &str,
) -> Result<Answer, GatewayError> {
    let rows = Box::pin(execute(svc, s, select))
        .await?
        .rows(svc.max_rows)
        .await?
        .ok_or_else(|| GatewayError::Other("the SELECT of INSERT ... SELECT returned no result".into()))?;
    if rows.rows.is_empty() {
        return Ok(Answer::ok());
    }
    // Autocommit: a transaction of the statement's own. Autocommit off: the session's, which
    // this statement opens if none is.
    let own = super::dml_input::begin_statement(s);
    let result = insert_batches(svc, s, head, tail, &rows).await;
    super::dml_input::end_statement(svc, s, own, result).await
}

async fn insert_batches(
    svc: &Services,
    s: &mut SessionState,
    head: &str,
    tail: &str,
    rows: &crate::protocol::tablet::QueryResult,
) -> Result<Answer, GatewayError> {
    let (mut affected, mut first_id) = (0, 0);
    for batch in rows.rows.chunks(BATCH) {
        let values: Vec<String> = batch
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&rows.fields)
                    .map(|(cell, field)| {
                        cell.as_deref().map_or_else(|| "NULL".to_string(), |b| value_literal(field, b))
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        let sql = format!("{head}{}{tail}", values.join(", "));
        if let Answer::Ok { affected: a, last_insert_id, .. } = Box::pin(execute(svc, s, &sql)).await? {
            affected += a;
            if first_id == 0 {
                first_id = last_insert_id;
            }
        }
    }
    Ok(Answer::Ok { affected, last_insert_id: first_id, info: String::new() })
}
