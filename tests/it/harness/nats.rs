//! A real `nats-server -js` on a free port with a temp store.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    dir: TempDir,
    /// In a cluster: this server's config file (name, cluster port and routes).
    config: Option<PathBuf>,
}

/// A JetStream cluster of `n` servers on loopback (named `n1`..), each with its own store.
pub fn cluster(n: usize) -> Vec<NatsServer> {
    let cluster_ports: Vec<u16> = (0..n).map(|_| super::free_port()).collect();
    let routes: Vec<String> = cluster_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
    let mut servers: Vec<NatsServer> = (0..n)
        .map(|i| {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = super::free_port();
            let config = dir.path().join("nats.conf");
            let text = format!(
                "server_name: n{}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\ncluster {{ name: tc, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                i + 1,
                dir.path().join("store").display(),
                cluster_ports[i],
                routes.join(", ")
            );
            std::fs::write(&config, text).expect("nats config");
            NatsServer { child: None, port, url: format!("nats://127.0.0.1:{port}"), dir, config: Some(config) }
        })
        .collect();
    for s in &mut servers {
        s.spawn();
    }
    servers
}

impl NatsServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let mut s = NatsServer { child: None, port, url: format!("nats://127.0.0.1:{port}"), dir, config: None };
        s.spawn();
        s
    }

    /// A single server whose config adds `extra` (e.g. an `authorization` block).
    pub fn start_with_config(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let config = dir.path().join("nats.conf");
        let text = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n{extra}\n",
            dir.path().join("store").display()
        );
        std::fs::write(&config, text).expect("nats config");
        let mut s =
            NatsServer { child: None, port, url: format!("nats://127.0.0.1:{port}"), dir, config: Some(config) };
        s.spawn();
        s
    }

    /// Rewrites a [`NatsServer::start_with_config`] server's config with `extra` in place of
    /// the old extra settings and has it reload (SIGHUP): changed users take effect at once.
    pub fn reload_with_config(&self, extra: &str) {
        let config = self.config.as_ref().expect("a server started with a config");
        let text = format!(
            "listen: 127.0.0.1:{}\njetstream {{ store_dir: \"{}\" }}\n{extra}\n",
            self.port,
            self.dir.path().join("store").display()
        );
        std::fs::write(config, text).expect("nats config");
        let pid = self.child.as_ref().expect("a running server").id() as i32;
        // SAFETY: kill(2) of the server this harness started.
        unsafe { libc::kill(pid, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(500));
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))
            .expect("nats log");
        // `TESSERA_NATS_SERVER` runs the suite on another release (CI: 2.9.10 and 2.15).
        let mut cmd = Command::new(std::env::var("TESSERA_NATS_SERVER").unwrap_or_else(|_| "nats-server".into()));
        match &self.config {
            Some(c) => cmd.arg("-c").arg(c),
            None => cmd.args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"]).arg(self.store_dir()),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("nats-server must be installed (apt-get install nats-server)");
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "nats-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a stopped server again (same port, store and config).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Stops and starts again on the same port with the same store.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.spawn();
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url).await.expect("connect to test NATS")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
