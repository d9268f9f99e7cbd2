//! `tessera up` twice starts once; `tessera down` stops what it started.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::free_port;
use crate::harness::node::{ctl_ok, BIN};

struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BIN).arg("down").arg("--home").arg(&self.0).output();
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tessera {args:?} failed:\n{text}");
    text
}

#[test]
fn up_twice_starts_once_and_down_stops_it() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap().to_string();
    let _guard = Down(home.path().to_path_buf());
    let (nats_port, http_port) = (free_port(), free_port());
    let (np, hp) = (nats_port.to_string(), http_port.to_string());
    let args = ["up", "--home", &home_s, "--nats-port", &np, "--http-port", &hp];

    let first = run(&args);
    assert!(first.contains("(started, pid"), "{first}");
    assert!(first.contains("ctl CreateKeyspace customer"), "{first}");
    let second = run(&args);
    assert_eq!(second.matches("already running").count(), 2, "{second}");

    let url = format!("nats://127.0.0.1:{nats_port}");
    assert!(ctl_ok(&url, &["GetCellInfoNames"]).contains("zone1"));
    assert!(ctl_ok(&url, &["GetNodes"]).contains("zone1-local"));

    let down = run(&["down", "--home", &home_s]);
    assert!(down.contains("stopped tessera") && down.contains("stopped nats-server"), "{down}");
    assert!(TcpStream::connect(("127.0.0.1", nats_port)).is_err(), "NATS still listening");
    assert!(TcpStream::connect(("127.0.0.1", http_port)).is_err(), "node still listening");
    assert!(run(&["down", "--home", &home_s]).contains("nothing to stop"));
}
