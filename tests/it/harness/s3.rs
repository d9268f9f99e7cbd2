//! A real S3-compatible server on loopback for backup tests: moto's `moto_server` (PyPI
//! `moto[s3]`; scripts/test.sh installs it and sets `TESSERA_MOTO_SERVER`), killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct S3Server {
    child: Child,
    pub port: u16,
}

/// The moto_server binary: `TESSERA_MOTO_SERVER`, or the venv scripts/test.sh makes.
fn binary() -> String {
    if let Ok(p) = std::env::var("TESSERA_MOTO_SERVER") {
        return p;
    }
    let home = std::env::var("XDG_CACHE_HOME")
        .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
    let p = format!("{home}/tessera-moto-venv/bin/moto_server");
    assert!(
        std::path::Path::new(&p).exists(),
        "no S3 test server at {p}: run scripts/test.sh (it installs PyPI moto[s3] there) or set TESSERA_MOTO_SERVER"
    );
    p
}

impl S3Server {
    pub fn start() -> Self {
        let port = super::free_port();
        let child = Command::new(binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let s = S3Server { child, port };
        let start = Instant::now();
        while s.http("GET", "/").is_none() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto accepts unsigned bucket requests).
    pub fn create_bucket(&self, name: &str) {
        let status = self.http("PUT", &format!("/{name}")).expect("moto_server answers");
        assert_eq!(status, 200, "creating bucket {name}");
    }

    /// One plain HTTP/1.1 request; the status code.
    fn http(&self, method: &str, path: &str) -> Option<u16> {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let req =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        c.write_all(req.as_bytes()).ok()?;
        let mut head = [0u8; 12];
        c.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
