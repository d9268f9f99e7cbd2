//! MariaDB users of managed tablets, one per purpose as in Vitess: `tessera_dba` (tablet
//! management, schema changes, `ExecuteFetchAsDba`), `tessera_repl` (replicas reading a
//! primary's binlog), `tessera_vrepl` (VReplication streams and workflow commands reading and
//! writing other tablets), besides the query service's `tessera_app` (made per tablet, see
//! the tablet's lifecycle). Their passwords are the cluster's (see [`crate::secrets`]), so a
//! tablet on any node can reach a MariaDB on any other. Once a tablet has made them, `root`
//! may log in only as the OS's root through the unix socket: no passwordless `root` over TCP.

use mysql_async::prelude::Queryable;

use crate::sql::quote_bytes;

pub const DBA_USER: &str = "tessera_dba";
pub const REPL_USER: &str = "tessera_repl";
pub const VREPL_USER: &str = "tessera_vrepl";

/// A user and its password (never printed: `Debug` shows the user only).
#[derive(Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential {{ user: {:?}, password: <redacted> }}", self.user)
    }
}

/// The cluster's MariaDB credentials of managed tablets.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MysqlCredentials {
    pub dba: Credential,
    pub repl: Credential,
    pub vrepl: Credential,
}

impl MysqlCredentials {
    /// Fresh credentials: each password 256 random bits.
    pub fn generate() -> MysqlCredentials {
        let secret = || format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let cred = |user: &str| Credential { user: user.into(), password: secret() };
        MysqlCredentials { dba: cred(DBA_USER), repl: cred(REPL_USER), vrepl: cred(VREPL_USER) }
    }

    /// Whether every user has a name and a password.
    pub fn complete(&self) -> bool {
        [&self.dba, &self.repl, &self.vrepl].iter().all(|c| !c.user.is_empty() && !c.password.is_empty())
    }
}

/// Creates (or re-keys) the three users with their grants on the server `conn` is on, then
/// takes `root`'s TCP login away (`root@localhost` keeps the unix socket, for the OS's root).
/// Not written to the binlog: every tablet of a shard makes its own.
pub async fn secure(conn: &mut mysql_async::Conn, creds: &MysqlCredentials) -> Result<(), String> {
    let mut sql = vec!["SET SESSION sql_log_bin = 0".to_string()];
    let grants = [
        (&creds.dba, "ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION"),
        (&creds.repl, "REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {}"),
        (
            &creds.vrepl,
            "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, LOCK TABLES, RELOAD, PROCESS, \
             REPLICATION SLAVE, REPLICATION CLIENT, SHOW VIEW, TRIGGER, CREATE VIEW, EVENT ON *.* TO {}",
        ),
    ];
    for (cred, grant) in grants {
        let user = format!("{}@'%'", quote_bytes(cred.user.as_bytes()));
        let pw = quote_bytes(cred.password.as_bytes());
        sql.push(format!("CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {pw}"));
        sql.push(format!("ALTER USER {user} IDENTIFIED BY {pw}"));
        sql.push(format!("GRANT {}", grant.replace("{}", &user)));
    }
    sql.push("ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED VIA unix_socket".into());
    for s in sql {
        conn.query_drop(&s).await.map_err(|e| format!("{s}: {e}"))?;
    }
    // Every other root account (`%`, 127.0.0.1, ::1, the host's name) goes.
    let hosts: Vec<String> = conn
        .query("SELECT host FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
        .await
        .map_err(|e| format!("listing root accounts: {e}"))?;
    for host in hosts {
        let s = format!("DROP USER 'root'@{}", quote_bytes(host.as_bytes()));
        conn.query_drop(&s).await.map_err(|e| format!("{s}: {e}"))?;
    }
    Ok(())
}
