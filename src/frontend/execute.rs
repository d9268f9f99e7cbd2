//! One statement of one session: plan, then answer locally, change the session, or execute.

use std::collections::HashMap;
use std::sync::Arc;

use super::local;
use crate::engine::exec::{self, Answer};
use crate::engine::session::SessionState;
use crate::engine::shards::ShardsRef;
use crate::plan::GatewayError;
use crate::plan::{Local, Plan, SessionItem};
use crate::protocol::tablet::TabletHealth;
use crate::routing::Router;

/// What every session shares.
#[derive(Clone)]
pub struct Services {
    pub router: Router,
    pub tablets: ShardsRef,
    /// Rows the gateway may hold for one statement (merges, joins, aggregation).
    pub max_rows: usize,
    pub plans: Arc<crate::planner::cache::PlanCache>,
    pub health: Arc<dyn Fn() -> futures::future::BoxFuture<'static, HashMap<String, TabletHealth>> + Send + Sync>,
    /// How long a write to a shard being switched is held before it fails.
    pub hold_writes: std::time::Duration,
    /// Every session of this gateway (KILL), and the ids of client statements.
    pub sessions: Arc<super::sessions::Sessions>,
    /// What the gateway says it is (handshake, `@@version`).
    pub identity: Arc<super::identity::IdentitySource>,
    /// The table ACL (`[gateway] table_acl_file`), if any.
    pub acl: Arc<super::acl::AclSource>,
    /// Sessions' `transaction_mode` until they set one (`[gateway] transaction_mode`).
    pub transaction_mode: crate::twopc::TxMode,
}

impl Services {
    /// The server identity clients see.
    pub async fn identity(&self) -> super::identity::Identity {
        let health = if self.identity.learned() { Default::default() } else { (self.health)().await };
        self.identity.get(&health)
    }
}

/// Runs one statement.
pub async fn execute(svc: &Services, s: &mut SessionState, sql: &str) -> Result<Answer, GatewayError> {
    use crate::sql::uservars;
    crate::failpoint::panic_if("session-panic", sql);
    if let Some(acl) = svc.acl.get() {
        super::acl::check(&acl, sql, &s.user, &s.host, s.target.keyspace.as_deref()).map_err(GatewayError::Denied)?;
    }
    let kw = crate::sql::first_keyword(sql);
    // SET before user variables are substituted: its targets are names, not values.
    if kw == "SET" {
        let rest = crate::sql::skip_noise(sql).trim()[3..].trim().trim_end_matches(';');
        if let Plan::Set(items) = crate::planner::system::plan_set(rest)? {
            super::setvars::run(svc, s, items).await?;
            return Ok(Answer::ok());
        }
    }
    if let Some(names) = uservars::select_of_vars(sql) {
        let mut r = crate::protocol::tablet::QueryResult::default();
        let mut row = Vec::with_capacity(names.len());
        for n in names {
            let (field, value) = match s.user_vars.get(&n[1..].to_ascii_lowercase()) {
                Some(v) => (v.field.clone(), v.value.clone()),
                // MySQL: an unset variable is a NULL of type MEDIUMBLOB.
                None => (crate::protocol::tablet::Field { column_type: 250, charset: 63, ..Default::default() }, None),
            };
            r.fields.push(crate::protocol::tablet::Field { name: n.clone(), org_name: String::new(), ..field });
            row.push(value);
        }
        r.rows.push(row);
        return Ok(Answer::Rows(r));
    }
    let substituted;
    // `use ks@replica` names a tablet type, not a variable.
    let sql = if kw != "USE" && uservars::mentions(sql) {
        let literals = s.user_vars.iter().map(|(k, v)| (k.clone(), v.literal.clone())).collect();
        substituted = uservars::substitute(sql, &literals);
        substituted.as_str()
    } else {
        sql
    };
    // A single-shard autocommit statement that a tablet refuses because its shard is being
    // switched (SwitchTraffic) or its primary replaced (a reparent: writes held, a tablet that
    // is no longer primary answering the primary's subject, or no primary at all during a
    // failover) is held and sent again, up to `hold_writes`, until the new primary takes it;
    // the client sees a pause, not an error.
    let deadline = std::time::Instant::now() + svc.hold_writes;
    loop {
        let may_hold = s.autocommit && !s.in_transaction;
        let mut single_shard = false;
        match run(svc, s, sql, &mut single_shard).await {
            Err(GatewayError::Tablet(e))
                if may_hold && single_shard && primary_changing(&e, s) && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Whether a tablet's refusal means the shard's primary is changing hands (so the same
/// statement will be taken once it has).
fn primary_changing(e: &crate::protocol::tablet::TabletError, s: &SessionState) -> bool {
    use crate::protocol::tablet::TabletError;
    match e {
        TabletError::WritesHeld { .. } | TabletError::NotPrimary { .. } => true,
        // A replica answering for the primary: it was demoted after it was routed to. Or no
        // primary answering at all (its node died; nothing ran): a failover may bring one.
        TabletError::ReadOnly { .. } | TabletError::NotServing { .. } => {
            s.target.tablet_type == crate::protocol::topology::TabletType::Primary
        }
        _ => false,
    }
}

/// True when a plan sends one statement to one shard (so it can be sent again as a whole).
fn single_shard(p: &Plan) -> bool {
    match p {
        Plan::Route { shards, .. } => shards.len() == 1,
        Plan::Insert(ip) => ip.rows.len() == 1 && ip.lookups.is_empty(),
        _ => false,
    }
}

async fn run(svc: &Services, s: &mut SessionState, sql: &str, single: &mut bool) -> Result<Answer, GatewayError> {
    let view = svc.router.current();
    let p = svc.plans.plan(sql, &s.target, &view)?;
    if s.plan_shape.is_empty() {
        s.plan_shape = p.shape();
    }
    *single = single_shard(&p);
    let tc = &svc.tablets;
    // Writes only go to primaries, whatever the plan.
    if s.target.tablet_type != crate::protocol::topology::TabletType::Primary
        && matches!(p, Plan::Insert(_) | Plan::NextValues { .. })
    {
        return Err(GatewayError::Tablet(crate::protocol::tablet::TabletError::ReadOnly {
            alias: format!("{}@{}", s.target.keyspace.clone().unwrap_or_default(), s.target.tablet_type),
            tablet_type: s.target.tablet_type,
        }));
    }
    // Autocommit off: the first statement opens the transaction.
    let starts_tx =
        !s.autocommit && !s.in_transaction && matches!(p, Plan::Route { .. } | Plan::Insert(_) | Plan::Lookup(_));
    if starts_tx {
        s.in_transaction = true;
    }
    // A statement of several steps inside a transaction fails as a whole, as in MariaDB.
    if !s.in_transaction || s.statement_savepoint || !several_steps(&p) {
        return dispatch(svc, s, sql, p, &view).await;
    }
    crate::engine::savepoint::begin_statement(tc, s).await?;
    let result = dispatch(svc, s, sql, p, &view).await;
    crate::engine::savepoint::end_statement(tc, s, result.is_err()).await;
    result
}

/// Whether a plan's statement may change rows in several steps or on several shards.
fn several_steps(p: &Plan) -> bool {
    match p {
        Plan::Route { shards, sql, .. } => shards.len() > 1 && crate::sql::classify(sql).is_write(),
        Plan::Insert(ip) => ip.rows.len() > 1 || !ip.lookups.is_empty(),
        Plan::Lookup(lp) => crate::sql::classify(&lp.sql).is_write(),
        Plan::InsertSelect { .. } | Plan::DmlInput(_) | Plan::Fanout { .. } => true,
        _ => false,
    }
}

/// Runs a plan.
async fn dispatch(
    svc: &Services,
    s: &mut SessionState,
    sql: &str,
    p: Plan,
    view: &crate::routing::RoutingView,
) -> Result<Answer, GatewayError> {
    let tc = &svc.tablets;
    match p {
        Plan::Local(l) => Ok(Answer::Rows(match l {
            Local::Databases => local::databases(&view.topo),
            Local::VitessKeyspaces => {
                local::text_result(&["Keyspaces"], view.topo.keyspaces.keys().map(|k| vec![Some(k.clone())]).collect())
            }
            Local::VitessShards => local::vitess_shards(&view.topo),
            Local::VitessTablets => local::vitess_tablets(&view.topo, &(svc.health)().await),
            Local::SessionSelect { items, tablet } => {
                let sql_mode = if items.iter().any(|(_, i)| *i == SessionItem::SqlMode) {
                    Some(session_sql_mode(svc, s).await?)
                } else {
                    None
                };
                let asks: Vec<(String, String, bool)> = items
                    .iter()
                    .filter_map(|(label, i)| match i {
                        SessionItem::Var { name, global } => Some((label.clone(), name.clone(), *global)),
                        _ => None,
                    })
                    .collect();
                let mut vars = super::setvars::select_vars(tc, s, tablet.as_ref(), &asks).await?.into_iter();
                let identity = svc.identity().await;
                let mut cells = Vec::with_capacity(items.len());
                for (name, item) in items {
                    let (value, int) = match item {
                        SessionItem::Var { name: var, .. } => {
                            let (field, value) = vars.next().unwrap_or_default();
                            let value = match svc.identity.endpoint_var(&var) {
                                Some(own) => Some(own.into_bytes()),
                                None => value,
                            };
                            cells.push((field, value));
                            continue;
                        }
                        SessionItem::Database => (s.target.display(), false),
                        SessionItem::Version => (Some(identity.version.clone()), false),
                        SessionItem::VersionComment => (Some(identity.comment.clone()), false),
                        SessionItem::ConnectionId => (Some(s.connection_id.to_string()), true),
                        SessionItem::LastInsertId => (Some(s.last_insert_id.to_string()), true),
                        SessionItem::FoundRows => (Some(s.found_rows.to_string()), true),
                        SessionItem::RowCount => (Some(s.row_count.to_string()), true),
                        SessionItem::User => (Some(format!("{}@{}", s.user, s.host)), false),
                        SessionItem::CurrentUser => (Some(format!("{}@%", s.user)), false),
                        SessionItem::Autocommit => (Some(u8::from(s.autocommit).to_string()), true),
                        SessionItem::SqlMode => (sql_mode.clone(), false),
                        SessionItem::Literal(v) => {
                            let int = v.parse::<i64>().is_ok();
                            (Some(v), int)
                        }
                    };
                    cells.push((local::value_field(&name, int), value.map(String::into_bytes)));
                }
                local::row_of(cells)
            }
            Local::EachKeyspace { tablets, sql, order, limit, sum_tables } => {
                let mut parts = Vec::with_capacity(tablets.len());
                for (keyspace, shard) in tablets {
                    let r = exec::run_on_shard(tc, s, &keyspace, &shard, s.target.tablet_type, &sql).await?;
                    parts.push((keyspace, r));
                }
                let one_keyspace = parts.windows(2).all(|w| w[0].0 == w[1].0);
                let mut r = if sum_tables { local::sum_tables(parts) } else { local::distinct_rows(parts) };
                match local::sort_rows(&mut r, &order) {
                    // One keyspace's shards list its tables in the statement's order already.
                    Err(_) if sum_tables && one_keyspace => {}
                    other => other?,
                }
                local::strip_keys(&mut r);
                if let Some(n) = limit {
                    r.rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                }
                r
            }
            Local::ShowVariables { keyspace, shard, sql, session } => {
                let mut r = exec::run_on_shard(tc, s, &keyspace, &shard, s.target.tablet_type, &sql).await?;
                if session {
                    super::setvars::patch_show(s, &mut r);
                }
                for row in &mut r.rows {
                    let own = row
                        .first()
                        .and_then(|n| n.as_ref())
                        .and_then(|n| svc.identity.endpoint_var(&String::from_utf8_lossy(n)));
                    if let (Some(own), Some(cell)) = (own, row.get_mut(1)) {
                        *cell = Some(own.into_bytes());
                    }
                }
                r
            }
            Local::ProcessList { full } => local::processlist(&svc.sessions.processlist(&s.user, full)),
            Local::ProcessListQuery { keyspace, shard, sql } => {
                let rows = local::processlist_table(&svc.sessions.processlist(&s.user, true));
                let sql = sql.replace(crate::planner::processlist::MARKER, &rows);
                exec::run_on_shard(tc, s, &keyspace, &shard, s.target.tablet_type, &sql).await?
            }
            Local::Explain(lines) => local::text_result(&["plan"], lines.into_iter().map(|l| vec![Some(l)]).collect()),
        })),
        Plan::Use(t) => {
            if s.in_transaction {
                return Err(GatewayError::Unsupported(
                    "changing the target inside a transaction; commit or roll back first".into(),
                ));
            }
            s.target = t;
            Ok(Answer::ok())
        }
        Plan::Kill { id, connection } => {
            svc.sessions.kill(id, &s.user, connection)?;
            Ok(Answer::ok())
        }
        Plan::Set(items) => {
            super::setvars::run(svc, s, items).await?;
            Ok(Answer::ok())
        }
        Plan::SetStatement { items, statement } => {
            // The session's variables as they were, whatever the statement does.
            let saved = (s.vars.statement.clone(), s.vars.local.clone(), s.sql_mode.clone());
            super::setvars::run(svc, s, items).await?;
            // A streamed answer's statement already runs on its tablets with the variables.
            let answer = Box::pin(execute(svc, s, &statement)).await;
            (s.vars.statement, s.vars.local, s.sql_mode) = saved;
            answer
        }
        Plan::Begin => {
            if s.in_transaction {
                // MySQL commits the open transaction on BEGIN.
                exec::commit(tc, s).await?;
            }
            s.in_transaction = true;
            Ok(Answer::ok())
        }
        Plan::Commit => {
            exec::commit(tc, s).await?;
            Ok(Answer::ok())
        }
        Plan::Rollback => {
            exec::rollback(tc, s).await;
            Ok(Answer::ok())
        }
        Plan::Savepoint { op, name } => {
            crate::engine::savepoint::run(tc, s, op, name).await?;
            Ok(Answer::ok())
        }
        Plan::Route { keyspace, shards, sql, tablet_type } => {
            if tablet_type != crate::protocol::topology::TabletType::Primary && crate::sql::classify(&sql).is_write() {
                return Err(GatewayError::Tablet(crate::protocol::tablet::TabletError::ReadOnly {
                    alias: format!("{keyspace}@{tablet_type}"),
                    tablet_type,
                }));
            }
            exec::run_route(tc, s, &keyspace, &shards, &sql, tablet_type).await
        }
        Plan::Insert(ip) => exec::run_insert(tc, view, s, *ip).await,
        Plan::Lookup(lp) => {
            if lp.tablet_type != crate::protocol::topology::TabletType::Primary
                && crate::sql::classify(&lp.sql).is_write()
            {
                return Err(GatewayError::Tablet(crate::protocol::tablet::TabletError::ReadOnly {
                    alias: format!("{}@{}", lp.keyspace, lp.tablet_type),
                    tablet_type: lp.tablet_type,
                }));
            }
            crate::engine::lookup::run(tc, view, s, *lp).await
        }
        Plan::Select(pipeline) => {
            if let Some(r) = crate::engine::pass_through_route(&pipeline) {
                return crate::engine::stream::merged_route(tc, s, r, &pipeline).await;
            }
            let cx = crate::engine::Ctx { tablets: tc, view, max_rows: svc.max_rows };
            Ok(Answer::Rows(crate::engine::run(&pipeline, &cx, s).await?))
        }
        Plan::Pullout(pp) => {
            let mut results = HashMap::new();
            for sub in &pp.subqueries {
                match Box::pin(execute(svc, s, sub)).await?.rows(svc.max_rows).await? {
                    Some(r) => {
                        if r.rows.len() > svc.max_rows {
                            return Err(GatewayError::Other(format!(
                                "subquery `{sub}` returned {} rows, more than the gateway's max_rows ({})",
                                r.rows.len(),
                                svc.max_rows
                            )));
                        }
                        results.insert(sub.clone(), r);
                    }
                    None => return Err(GatewayError::Other(format!("subquery `{sub}` returned no rows"))),
                }
            }
            let mut keyed = Vec::new();
            for k in &pp.keyed {
                match Box::pin(execute(svc, s, k)).await?.rows(svc.max_rows).await? {
                    Some(r) => keyed.push(r),
                    None => return Err(GatewayError::Other(format!("subquery `{k}` returned no rows"))),
                }
            }
            let q = pp.fill.fill(&results, &keyed)?;
            Box::pin(execute(svc, s, &q)).await
        }
        Plan::NeedColumns { keyspace, shard, table } => {
            let probe = format!("select * from {} limit 0", crate::sql::quote_ident(&table));
            let r =
                exec::run_on_shard(tc, s, &keyspace, &shard, crate::protocol::topology::TabletType::Primary, &probe)
                    .await?;
            let columns: Vec<String> = r.fields.into_iter().map(|f| f.name).collect();
            let named = crate::planner::insert::with_columns(sql, &columns)?;
            Box::pin(execute(svc, s, &named)).await
        }
        Plan::InsertSelect { head, select, tail } => super::insert_select::run(svc, s, &head, &select, &tail).await,
        Plan::DmlInput(d) => super::dml_input::run(svc, s, &d).await,
        Plan::Fanout { sql, targets } => super::dml_input::fanout(svc, s, &sql, &targets).await,
        Plan::FoundRows { query, count } => {
            let counted = Box::pin(execute(svc, s, &count)).await?.rows(svc.max_rows).await?;
            let n = counted
                .and_then(|r| r.rows.into_iter().next())
                .and_then(|row| row.into_iter().next().flatten())
                .and_then(|b| std::str::from_utf8(&b).ok().and_then(|t| t.parse::<u64>().ok()))
                .ok_or_else(|| GatewayError::Other(format!("`{count}` gave no count")))?;
            let answer = Box::pin(execute(svc, s, &query)).await?;
            s.calc_found_rows = Some(n);
            Ok(answer)
        }
        Plan::NextValues { keyspace, table, count } => {
            let first = exec::next_values(tc, view, &keyspace, &table, count).await?;
            Ok(Answer::Rows(local::single_row(vec![("nextval".into(), Some(first.to_string()), true)])))
        }
    }
}

/// The session's `sql_mode`: what it set, else the tablets' own.
async fn session_sql_mode(svc: &Services, s: &mut SessionState) -> Result<String, GatewayError> {
    if let Some(m) = &s.sql_mode {
        return Ok(m.clone());
    }
    let v = Box::pin(evaluate(svc, s, "@@global.sql_mode")).await?;
    Ok(v.value.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
}

/// `SET sql_mode = <expr>`: the expression evaluated with the session's current mode, then
/// checked and normalised by MariaDB itself (unknown modes are its error 1231; `ANSI` expands).
pub(super) async fn set_sql_mode(svc: &Services, s: &mut SessionState, expr: &str) -> Result<(), GatewayError> {
    if expr.eq_ignore_ascii_case("default") {
        s.sql_mode = None;
        return Ok(());
    }
    let v = Box::pin(evaluate(svc, s, expr)).await?;
    let Some(value) = v.value else {
        return Err(GatewayError::Tablet(crate::protocol::tablet::TabletError::Mysql {
            code: 1231,
            state: "42000".into(),
            message: "Variable 'sql_mode' can't be set to the value of 'NULL'".into(),
        }));
    };
    let raw = String::from_utf8_lossy(&value).into_owned();
    let nbe = crate::sql::literal::Escapes::from_sql_mode(&raw) == crate::sql::literal::Escapes::NoBackslash;
    let previous = s.sql_mode.replace(raw);
    // Not `select @@session.sql_mode`, which the gateway answers itself.
    let normal = match Box::pin(evaluate(svc, s, "concat(@@session.sql_mode)")).await {
        Ok(v) => v.value.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default(),
        Err(e) => {
            s.sql_mode = previous;
            return Err(e);
        }
    };
    // Modes that change how the gateway itself must read statements or evaluate expressions.
    if let Some(m) = normal.split(',').find(|m| UNFOLLOWED_MODES.contains(m)) {
        s.sql_mode = previous;
        return Err(GatewayError::Unsupported(format!(
            "sql_mode {m}: the gateway reads and evaluates statements with MariaDB's default syntax \
             (double quotes as strings, `||` as OR); leave it out of sql_mode"
        )));
    }
    let mut modes: Vec<&str> = normal.split(',').filter(|m| !m.is_empty()).collect();
    if nbe {
        modes.push("NO_BACKSLASH_ESCAPES");
    }
    s.sql_mode = Some(modes.join(","));
    Ok(())
}

/// `sql_mode` flags the gateway cannot follow (it would read or evaluate statements wrongly).
const UNFOLLOWED_MODES: [&str; 7] = ["ANSI_QUOTES", "PIPES_AS_CONCAT", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MAXDB"];

/// Evaluates the value of a user variable assignment: literals directly, anything else by
/// asking MySQL (`select <expr>`), with other user variables already substituted.
pub(super) async fn evaluate(
    svc: &Services,
    s: &mut SessionState,
    expr: &str,
) -> Result<crate::engine::session::UserVar, GatewayError> {
    let sql = format!("select {expr}");
    let answer = Box::pin(execute(svc, s, &sql)).await?;
    let Some(r) = answer.rows(svc.max_rows).await? else {
        return Err(GatewayError::Other(format!("`{expr}` has no value")));
    };
    let value = r.rows.first().and_then(|row| row.first().cloned()).flatten();
    let field = r.fields.into_iter().next().unwrap_or_default();
    let literal = match &value {
        None => "NULL".to_string(),
        Some(bytes) => value_literal(&field, bytes),
    };
    Ok(crate::engine::session::UserVar { literal, value, field })
}

/// A value of a result as a literal of the same type (see `planner::values::cell_literal`).
pub fn value_literal(field: &crate::protocol::tablet::Field, bytes: &[u8]) -> String {
    crate::planner::values::cell_literal(field, bytes)
}
