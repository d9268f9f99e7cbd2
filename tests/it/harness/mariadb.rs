//! A plain MariaDB, the oracle gateway answers are compared with.

use std::time::Duration;

use super::node::template_dir;

/// A plain MariaDB from the tablets' template (same version and settings), killed on drop.
pub struct Plain {
    _dir: tempfile::TempDir,
    mysqld: tessera::mysqld::Mysqld,
    _child: tokio::process::Child,
}

impl Plain {
    pub async fn start() -> Plain {
        let dir = tempfile::tempdir().unwrap();
        let template = tessera::mysqld::ensure_template(&template_dir()).await.expect("template");
        let m = tessera::mysqld::Mysqld::new(dir.path().join("direct"), crate::harness::free_port(), 9999);
        m.prepare(&template).await.expect("prepare");
        let mut child = m.spawn().expect("spawn mariadbd");
        m.wait_ready(Some(&mut child), Duration::from_secs(60)).await.expect("plain MariaDB ready");
        Plain { _dir: dir, mysqld: m, _child: child }
    }

    pub fn pool(&self, db: Option<&str>) -> mysql_async::Pool {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.mysqld.port)
            .user(Some("root"))
            .db_name(db.map(str::to_string))
            .prefer_socket(false);
        mysql_async::Pool::new(opts)
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        if let Some(pid) = self.mysqld.running_pid() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}
