//! INSERT into a sharded table: each row routed by its primary vindex value, auto-increment
//! columns filled from their sequence, owned lookup values collected, and the statement cut
//! around its rows so each shard gets its own. `INSERT ... SET` and rows without a column list
//! become the `INSERT (cols) VALUES` they stand for.

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Parens, SetExpr, Statement, Value as SqlValue};

use super::lookup;
use super::route::{literal, no_shards, primary};
use crate::plan::{AutoIncrement, GatewayError, InsertPlan, InsertRow, Plan};
use crate::protocol::topology::TabletType;
use crate::routing::RoutingView;
use crate::topo::state::Keyspace;

/// An `INSERT` without a column list with the table's `columns` named (in table order).
pub fn with_columns(sql: &str, columns: &[String]) -> Result<String, GatewayError> {
    let mut stmts = crate::sql::parse::parse(sql)?;
    let Some(Statement::Insert(ins)) = stmts.first_mut() else {
        return Err(GatewayError::Other("expected an INSERT".into()));
    };
    ins.columns = columns.iter().map(|c| ident_name(c)).collect();
    Ok(stmts.remove(0).to_string())
}

pub(super) fn plan_insert(
    view: &RoutingView,
    ks: &Keyspace,
    table: &str,
    mut stmt: sqlparser::ast::Insert,
) -> Result<Plan, GatewayError> {
    let (vcols, vindex) = primary(view, ks, table)?;
    let vcol = vcols[0].clone();
    if stmt.columns.is_empty() && !stmt.assignments.is_empty() {
        set_as_values(&mut stmt)?;
    }
    if stmt.columns.is_empty() {
        // The table's columns decide which value is the vindex column's: ask a tablet for
        // them, then plan the statement with them named.
        let shard =
            view.serving_shards(ks, TabletType::Primary).into_iter().next().ok_or_else(|| no_shards(&ks.name))?;
        return Ok(Plan::NeedColumns { keyspace: ks.name.clone(), shard, table: table.to_string() });
    }
    if !matches!(stmt.source.as_deref().map(|q| q.body.as_ref()), Some(SetExpr::Values(_))) {
        return insert_select(stmt, table);
    }
    let Some(SetExpr::Values(values)) = stmt.source.as_deref_mut().map(|q| q.body.as_mut()) else {
        return Err(GatewayError::Unsupported(format!("INSERT into sharded table `{table}` without VALUES")));
    };
    let mut rows = std::mem::take(&mut values.rows);
    let mut columns: Vec<String> = stmt.columns.iter().map(|c| c.to_string().trim_matches('`').to_string()).collect();
    for (i, row) in rows.iter().enumerate() {
        if row.len() != columns.len() {
            return Err(GatewayError::Syntax(format!(
                "row {} has {} values for {} columns",
                i + 1,
                row.len(),
                columns.len()
            )));
        }
    }
    let ai = ks.vschema.as_ref().and_then(|v| v.tables.get(table)).and_then(|t| t.auto_increment.as_ref());
    let mut auto_increment = None;
    if let Some(ai) = ai {
        let (seq_ks, seq_table) = match ai.sequence.split_once('.') {
            Some((k, t)) => (Some(k), t),
            None => (None, ai.sequence.as_str()),
        };
        let seq_keyspace = view.sequence_keyspace(seq_ks, seq_table).ok_or_else(|| GatewayError::Routing {
            keyspace: ks.name.clone(),
            message: format!("sequence `{}` of `{table}` is not a sequence table in any VSchema", ai.sequence),
        })?;
        let column_index = match columns.iter().position(|c| c.eq_ignore_ascii_case(&ai.column)) {
            Some(i) => i,
            None => {
                // Left out: added to the column list, to be filled for every row.
                stmt.columns.push(ident_name(&ai.column));
                columns.push(ai.column.clone());
                for row in rows.iter_mut() {
                    row.push(Expr::Value(SqlValue::Null.into()));
                }
                columns.len() - 1
            }
        };
        let missing =
            rows.iter().enumerate().filter(|(_, r)| is_null_or_default(&r[column_index])).map(|(i, _)| i).collect();
        auto_increment = Some(AutoIncrement {
            column_index,
            missing,
            is_vindex: ai.column.eq_ignore_ascii_case(&vcol),
            lookups: Vec::new(),
            seq_keyspace,
            seq_table: seq_table.to_string(),
        });
    }
    let Some(vindex_column) = columns.iter().position(|c| c.eq_ignore_ascii_case(&vcol)) else {
        return Err(GatewayError::Routing {
            keyspace: ks.name.clone(),
            message: format!("INSERT into `{table}` must give its primary vindex column `{vcol}`"),
        });
    };
    // The other columns of a multi-column primary vindex.
    let mut more_columns = Vec::new();
    for c in &vcols[1..] {
        more_columns.push(columns.iter().position(|x| x.eq_ignore_ascii_case(c)).ok_or_else(|| {
            GatewayError::Routing {
                keyspace: ks.name.clone(),
                message: format!("INSERT into `{table}` must give its primary vindex column `{c}`"),
            }
        })?);
    }
    let owned = lookup::owned(view, ks, table)?;
    // What a duplicate-key update or REPLACE changes must not be what routes the row.
    if let Some(sqlparser::ast::OnInsert::DuplicateKeyUpdate(set)) = &stmt.on {
        for a in set {
            let column = a.target.to_string();
            let column = column.rsplit('.').next().unwrap_or_default().trim_matches('`');
            if vcols.iter().any(|v| v.eq_ignore_ascii_case(column))
                || owned.iter().flat_map(|(cs, _)| cs).any(|c| c.eq_ignore_ascii_case(column))
            {
                return Err(GatewayError::Unsupported(format!(
                    "ON DUPLICATE KEY UPDATE of `{column}` in sharded table `{table}`: it decides where the row \
                     lives; delete the row and insert it anew"
                )));
            }
        }
    }
    if stmt.replace_into && !owned.is_empty() {
        // The rows it replaces are deleted first, lookup rows and all; then an INSERT.
        let shard =
            view.serving_shards(ks, TabletType::Primary).into_iter().next().ok_or_else(|| no_shards(&ks.name))?;
        let cells = rows.iter().map(|r| r.iter().map(ToString::to_string).collect()).collect();
        let mut insert = stmt.clone();
        insert.replace_into = false;
        if let Some(SetExpr::Values(values)) = insert.source.as_deref_mut().map(|q| q.body.as_mut()) {
            values.rows = rows.clone();
        }
        insert.table = sqlparser::ast::TableObject::TableName(sqlparser::ast::ObjectName::from(vec![
            sqlparser::ast::Ident::new(ks.name.clone()),
            sqlparser::ast::Ident::new(table),
        ]));
        let insert = Statement::Insert(insert).to_string();
        return Ok(super::replace::plan(&ks.name, shard, table, vcols.clone(), columns.clone(), cells, insert));
    }
    // Where each owned lookup's columns are among the statement's (`None`: left out).
    let lookup_cols: Vec<Vec<Option<usize>>> = owned
        .iter()
        .map(|(cs, _)| cs.iter().map(|c| columns.iter().position(|x| x.eq_ignore_ascii_case(c))).collect())
        .collect();
    if let Some(ai) = auto_increment.as_mut() {
        ai.lookups = lookup_cols
            .iter()
            .enumerate()
            .filter(|(_, cs)| cs.as_slice() == [Some(ai.column_index)])
            .map(|(i, _)| i)
            .collect();
    }
    let filled = |r: usize| auto_increment.as_ref().is_some_and(|a| a.missing.contains(&r));
    let mut plan_rows = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let vindex_value = match literal(&row[vindex_column]) {
            Some(v) => Some(v),
            None if filled(r) && auto_increment.as_ref().is_some_and(|a| a.is_vindex) => None,
            None => {
                return Err(GatewayError::Unsupported(format!(
                    "the primary vindex column `{vcol}` must be a literal (or NULL/omitted when a sequence fills it)"
                )))
            }
        };
        let mut more = Vec::with_capacity(more_columns.len());
        for (c, name) in more_columns.iter().zip(&vcols[1..]) {
            more.push(literal(&row[*c]).ok_or_else(|| {
                GatewayError::Unsupported(format!("the primary vindex column `{name}` must be a literal"))
            })?);
        }
        // A lookup value the gateway cannot read would leave the row without its mapping.
        let mut lookup_values = Vec::with_capacity(lookup_cols.len());
        for (i, cs) in lookup_cols.iter().enumerate() {
            let sequenced = filled(r) && auto_increment.as_ref().is_some_and(|a| a.lookups.contains(&i));
            // Every column's value, or none when one is NULL, left out or sequenced.
            let mut texts = Vec::with_capacity(cs.len());
            let mut first = None;
            for (c, name) in cs.iter().zip(&owned[i].0) {
                let Some(e) = c.map(|c| &row[c]) else { break };
                match lookup::insert_value(e) {
                    Some((text, value)) => {
                        first.get_or_insert(value);
                        texts.push(text);
                    }
                    None if sequenced || matches!(e, Expr::Value(v) if v.value == sqlparser::ast::Value::Null) => break,
                    None => {
                        return Err(GatewayError::Unsupported(format!(
                            "the value `{e}` of lookup vindex column `{name}`: insert the value itself"
                        )))
                    }
                }
            }
            lookup_values.push(first.filter(|_| texts.len() == cs.len()).map(|v| (texts, v)));
        }
        plan_rows.push(InsertRow {
            cells: row.iter().map(|e| e.to_string()).collect(),
            vindex_value,
            more,
            lookup_values,
        });
    }
    let (head, tail) = around_rows(stmt, table)?;
    Ok(Plan::Insert(Box::new(InsertPlan {
        keyspace: ks.name.clone(),
        head,
        rows: plan_rows,
        tail,
        vindex,
        auto_increment,
        lookups: owned.into_iter().map(|(_, l)| l).collect(),
    })))
}

/// `INSERT INTO sharded (cols) SELECT ... FROM <tables anywhere>`, which the router refused
/// (it names tables of several shards or keyspaces): `None` when it is not that.
pub(super) fn plan_cross_insert_select(
    stmt: &Statement,
    target: &crate::plan::Target,
    view: &RoutingView,
) -> Option<Result<Plan, GatewayError>> {
    let Statement::Insert(ins) = stmt else { return None };
    if matches!(ins.source.as_deref().map(|q| q.body.as_ref()), None | Some(SetExpr::Values(_))) {
        return None;
    }
    let sqlparser::ast::TableObject::TableName(name) = &ins.table else { return None };
    let tab = super::tables::resolve(name, None, target, view).ok()?;
    if !tab.sharded {
        return None;
    }
    if ins.columns.is_empty() {
        let ks = view.keyspace(&tab.keyspace)?;
        let shard = view.serving_shards(ks, TabletType::Primary).into_iter().next();
        return Some(match shard {
            Some(shard) => Ok(Plan::NeedColumns { keyspace: tab.keyspace.clone(), shard, table: tab.name.clone() }),
            None => Err(no_shards(&tab.keyspace)),
        });
    }
    Some(insert_select(ins.clone(), &tab.name))
}

/// `INSERT INTO t (cols) SELECT ...`: the SELECT runs first (planned like any query), then its
/// rows are inserted as VALUES, each routed by its vindex value.
fn insert_select(mut stmt: sqlparser::ast::Insert, table: &str) -> Result<Plan, GatewayError> {
    let Some(source) = stmt.source.take() else {
        return Err(GatewayError::Unsupported(format!("INSERT into sharded table `{table}` without rows")));
    };
    let select = source.to_string();
    let (head, tail) = around_rows(stmt, table)?;
    Ok(Plan::InsertSelect { head, select, tail })
}

/// The text of an INSERT before and after its rows: printed with one marker row as its VALUES,
/// cut at it (`INSERT INTO t (a, b) VALUES `, ` ON DUPLICATE KEY UPDATE ...`).
fn around_rows(mut stmt: sqlparser::ast::Insert, table: &str) -> Result<(String, String), GatewayError> {
    let marker = "__tessera_rows__";
    set_as_values_source(&mut stmt, vec![Expr::Value(SqlValue::Placeholder(marker.into()).into())])?;
    let printed = Statement::Insert(stmt).to_string();
    let (head, tail) = printed
        .split_once(&format!("({marker})"))
        .ok_or_else(|| GatewayError::Other(format!("INSERT into `{table}` could not be split at its rows")))?;
    Ok((head.to_string(), tail.to_string()))
}

/// Gives the statement a VALUES source of one row, as the parser makes one.
fn set_as_values_source(stmt: &mut sqlparser::ast::Insert, row: Vec<Expr>) -> Result<(), GatewayError> {
    let mut shape = crate::sql::parse::parse("insert into t (a) values (1)")?;
    let Some(Statement::Insert(template)) = shape.pop() else {
        return Err(GatewayError::Other("INSERT template did not parse".into()));
    };
    let mut source = template.source.ok_or_else(|| GatewayError::Other("INSERT template has no VALUES".into()))?;
    if let SetExpr::Values(values) = source.body.as_mut() {
        values.rows = vec![Parens::with_empty_span(row)];
    }
    stmt.source = Some(source);
    Ok(())
}

/// `INSERT INTO t SET a = 1, b = 2` as `INSERT INTO t (a, b) VALUES (1, 2)`.
fn set_as_values(stmt: &mut sqlparser::ast::Insert) -> Result<(), GatewayError> {
    use sqlparser::ast::AssignmentTarget;
    let mut row = Vec::with_capacity(stmt.assignments.len());
    for a in std::mem::take(&mut stmt.assignments) {
        let AssignmentTarget::ColumnName(name) = a.target else {
            return Err(GatewayError::Unsupported("INSERT ... SET (a, b) = ... into a sharded table".into()));
        };
        let column = name.0.last().map(|p| p.to_string()).unwrap_or_default();
        stmt.columns.push(ident_name(column.trim_matches('`')));
        row.push(a.value);
    }
    set_as_values_source(stmt, row)
}

/// A column name for an ObjectName built from one identifier.
pub fn ident_name(name: &str) -> ObjectName {
    ObjectName(vec![ObjectNamePart::Identifier(sqlparser::ast::Ident::new(name))])
}

/// `NULL` or `DEFAULT` in a row of VALUES: the sequence fills the auto-increment column.
fn is_null_or_default(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, SqlValue::Null),
        Expr::Identifier(i) => i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"),
        _ => false,
    }
}
