//! Management operations on the tablet's MySQL: replication, schema, DBA queries.

use mysql_async::Conn;

use super::dbconn::{exec, first_row, run};
use crate::protocol::tablet::{ReplicationStatus, TableDef, TabletError, TabletSchema};
use crate::sql::{quote_bytes, quote_ident};

/// Stops replicating and opens the server for writes; records the promotion. With
/// `semi_sync`, commits then wait for a replica's acknowledgement (enabled after the journal
/// row, so the promotion itself never waits for a replica that is not pointed here yet).
pub async fn make_primary(conn: &mut Conn, alias: &str, semi_sync: bool) -> Result<String, TabletError> {
    exec(conn, "STOP SLAVE").await?;
    exec(conn, "RESET SLAVE ALL").await?;
    set_semi_sync(conn, false, false).await?;
    exec(conn, "SET GLOBAL read_only = OFF").await?;
    let status = replication_status(conn).await?;
    let sql = format!(
        "INSERT INTO _tessera.reparent_journal (time_ms, action, primary_alias, position) VALUES ({}, 'MakePrimary', {}, {})",
        crate::protocol::envelope::now_ms(),
        quote_bytes(alias.as_bytes()),
        quote_bytes(status.position.as_bytes())
    );
    exec(conn, &sql).await?;
    set_semi_sync(conn, semi_sync, false).await?;
    Ok(status.position)
}

/// How long a semi-sync primary waits for an acknowledgement before it would fall back to
/// asynchronous replication: never, in practice (49 days), since falling back is exactly the
/// loss of acknowledged writes the policy exists to prevent.
const SEMI_SYNC_TIMEOUT_MS: u64 = 4_294_967_295;

/// MariaDB's built-in semi-synchronous replication: as primary, wait `AFTER_SYNC` for one
/// replica; as replica, acknowledge. The replica side takes effect when its IO thread starts.
pub async fn set_semi_sync(conn: &mut Conn, primary: bool, replica: bool) -> Result<(), TabletError> {
    let on = |b: bool| if b { "ON" } else { "OFF" };
    if primary {
        exec(conn, "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC").await?;
        exec(conn, &format!("SET GLOBAL rpl_semi_sync_master_timeout = {SEMI_SYNC_TIMEOUT_MS}")).await?;
    }
    exec(conn, &format!("SET GLOBAL rpl_semi_sync_master_enabled = {}", on(primary))).await?;
    exec(conn, &format!("SET GLOBAL rpl_semi_sync_slave_enabled = {}", on(replica))).await
}

/// Brings the semi-sync settings to what the tablet's role and the keyspace's durability
/// policy want, restarting the replica's IO thread when its side changed (it takes effect
/// only then). Whether anything changed.
pub async fn ensure_semi_sync(conn: &mut Conn, primary: bool, replica: bool) -> Result<bool, TabletError> {
    let row =
        first_row(conn, "SELECT @@GLOBAL.rpl_semi_sync_master_enabled AS m, @@GLOBAL.rpl_semi_sync_slave_enabled AS s")
            .await?
            .unwrap_or_default();
    let is_on = |name: &str| row.iter().any(|(n, v)| n == name && v.as_deref() == Some("1"));
    let (m, r) = (is_on("m"), is_on("s"));
    if m == primary && r == replica {
        return Ok(false);
    }
    set_semi_sync(conn, primary, replica).await?;
    if r != replica && first_row(conn, "SHOW SLAVE STATUS").await?.is_some() {
        exec(conn, "STOP SLAVE IO_THREAD").await?;
        exec(conn, "START SLAVE IO_THREAD").await?;
    }
    Ok(true)
}

/// The primary's half of a planned reparent, after the tablet holds writes: read-only, and
/// the position every write reached.
pub async fn demote_primary(conn: &mut Conn) -> Result<ReplicationStatus, TabletError> {
    exec(conn, "SET GLOBAL read_only = ON").await?;
    replication_status(conn).await
}

/// Writable again after a planned reparent that did not happen.
pub async fn undo_demote_primary(conn: &mut Conn) -> Result<(), TabletError> {
    exec(conn, "SET GLOBAL read_only = OFF").await
}

/// Waits until this server has applied every transaction of `position` (a GTID set).
pub async fn wait_for_position(conn: &mut Conn, position: &str, timeout_ms: u64) -> Result<(), TabletError> {
    let secs = (timeout_ms as f64 / 1000.0).max(0.001);
    let sql = format!("SELECT MASTER_GTID_WAIT({}, {secs}) AS w", quote_bytes(position.as_bytes()));
    let row = first_row(conn, &sql).await?.unwrap_or_default();
    match row.first().and_then(|(_, v)| v.as_deref()) {
        Some("0") => Ok(()),
        _ => {
            let now = replication_status(conn).await.map(|s| s.position).unwrap_or_default();
            Err(TabletError::Internal(format!(
                "did not reach position {position} within {timeout_ms} ms (it is at {now})"
            )))
        }
    }
}

/// The replica's half of an emergency reparent: fetch nothing more from the (lost) primary,
/// apply what was already fetched (up to `wait_ms`), stop. Answers the position reached.
pub async fn stop_replication_and_get_status(conn: &mut Conn, wait_ms: u64) -> Result<ReplicationStatus, TabletError> {
    if first_row(conn, "SHOW SLAVE STATUS").await?.is_some() {
        exec(conn, "STOP SLAVE IO_THREAD").await?;
        let slave = first_row(conn, "SHOW SLAVE STATUS").await?.unwrap_or_default();
        let get = |name: &str| slave.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone()).unwrap_or_default();
        let received = get("Gtid_IO_Pos");
        if !received.is_empty() && get("Slave_SQL_Running") == "Yes" {
            // The relay log's transactions: acknowledged by this replica, so they must survive.
            let _ = wait_for_position(conn, &received, wait_ms).await;
        }
        exec(conn, "STOP SLAVE").await?;
    }
    replication_status(conn).await
}

/// Points the server at a primary with MariaDB GTID and starts replicating, read-only.
/// `from_own_position`: the server was a primary, so its own binlog, not its (stale) replica
/// position, says where it is. `semi_sync`: acknowledge the primary's commits.
pub async fn replicate_from(
    conn: &mut Conn,
    host: &str,
    port: u16,
    (user, password): (&str, &str),
    from_own_position: bool,
    semi_sync: bool,
) -> Result<(), TabletError> {
    exec(conn, "SET GLOBAL read_only = ON").await?;
    exec(conn, "STOP SLAVE").await?;
    set_semi_sync(conn, false, semi_sync).await?;
    if from_own_position {
        exec(conn, "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos").await?;
    }
    let sql = format!(
        "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {port}, MASTER_USER = {}, MASTER_PASSWORD = {}, \
         MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
        quote_bytes(host.as_bytes()),
        quote_bytes(user.as_bytes()),
        quote_bytes(password.as_bytes())
    );
    exec(conn, &sql).await?;
    exec(conn, "START SLAVE").await
}

/// Positions and, on a replica, the replication threads and lag.
/// `@@version` and `@@version_comment` (what the gateway tells its clients it is).
pub async fn server_version(conn: &mut Conn) -> Option<(String, String)> {
    let row = first_row(conn, "SELECT @@version AS v, @@version_comment AS c").await.ok()??;
    let get = |name: &str| row.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone()).unwrap_or_default();
    Some((get("v"), get("c")))
}

pub async fn replication_status(conn: &mut Conn) -> Result<ReplicationStatus, TabletError> {
    let pos = first_row(conn, "SELECT @@GLOBAL.gtid_current_pos AS cur, @@GLOBAL.gtid_binlog_pos AS bin")
        .await?
        .unwrap_or_default();
    let get = |row: &[(String, Option<String>)], name: &str| {
        row.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone()).unwrap_or_default()
    };
    let mut status =
        ReplicationStatus { position: get(&pos, "cur"), binlog_position: get(&pos, "bin"), ..Default::default() };
    if let Some(slave) = first_row(conn, "SHOW SLAVE STATUS").await? {
        let host = get(&slave, "Master_Host");
        if !host.is_empty() {
            status.source = Some(format!("{host}:{}", get(&slave, "Master_Port")));
        }
        status.io_running = get(&slave, "Slave_IO_Running") == "Yes";
        status.sql_running = get(&slave, "Slave_SQL_Running") == "Yes";
        status.lag_secs = get(&slave, "Seconds_Behind_Master").parse().ok();
        let errors: Vec<String> =
            ["Last_IO_Error", "Last_SQL_Error"].iter().map(|n| get(&slave, n)).filter(|e| !e.is_empty()).collect();
        status.last_error = (!errors.is_empty()).then(|| errors.join("; "));
    }
    Ok(status)
}

/// Tables and views of the current database, with their definitions.
pub async fn schema(conn: &mut Conn) -> Result<TabletSchema, TabletError> {
    let db = first_row(conn, "SELECT DATABASE() AS db").await?.and_then(|r| r.into_iter().next()).and_then(|(_, v)| v);
    let db = db.unwrap_or_default();
    let list = run(
        conn,
        "SELECT table_name, table_type, COALESCE(table_rows, 0) FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY table_name",
        100_000,
    )
    .await?;
    let text = |v: &Option<Vec<u8>>| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let mut tables = Vec::with_capacity(list.rows.len());
    for row in &list.rows {
        let name = text(&row[0]);
        let kind = text(&row[1]);
        let rows = text(&row[2]).parse().unwrap_or(0);
        let show = if kind == "VIEW" { "SHOW CREATE VIEW" } else { "SHOW CREATE TABLE" };
        let def = run(conn, &format!("{show} {}", quote_ident(&name)), 10).await?;
        let create = def.rows.first().and_then(|r| r.get(1)).map(text).unwrap_or_default();
        tables.push(TableDef { name, kind, rows, create: normalize_create(&create) });
    }
    Ok(TabletSchema { database: db, tables })
}

/// Drops the `AUTO_INCREMENT=N` table option, which differs between copies of one table.
pub fn normalize_create(create: &str) -> String {
    let mut out = String::with_capacity(create.len());
    let mut rest = create;
    while let Some(i) = rest.find(" AUTO_INCREMENT=") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " AUTO_INCREMENT=".len()..];
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalizes_auto_increment() {
        let c = "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB AUTO_INCREMENT=17 DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            super::normalize_create(c),
            "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
    }
}
