//! A bare MySQL protocol client for tests that must send what no client library would:
//! lying packet headers, unbounded long data, a handshake never completed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    /// Connects and reads the greeting, without answering it.
    pub fn greeted(addr: SocketAddr) -> (Raw, Vec<u8>) {
        let stream = TcpStream::connect(addr).expect("connect to the gateway");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Raw { stream };
        let (_, greeting) = raw.recv().expect("greeting");
        (raw, greeting)
    }

    /// Logs in as `user` with an empty password (protocol 4.1, no database).
    pub fn login(addr: SocketAddr, user: &str) -> Result<Raw, Vec<u8>> {
        let (mut raw, _) = Raw::greeted(addr);
        // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_LONG_PASSWORD
        let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1;
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&(16u32 << 20).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(0); // empty auth response
        p.extend_from_slice(b"mysql_native_password\0");
        raw.send(1, &p);
        match raw.recv() {
            Some((_, ok)) if ok.first() == Some(&0) => Ok(raw),
            Some((_, other)) => Err(other),
            None => Err(Vec::new()),
        }
    }

    pub fn send(&mut self, seq: u8, payload: &[u8]) {
        let len = (payload.len() as u32).to_le_bytes();
        let mut packet = vec![len[0], len[1], len[2], seq];
        packet.extend_from_slice(payload);
        self.stream.write_all(&packet).expect("send");
    }

    /// One packet, or `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).ok()?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).ok()?;
        Some((header[3], payload))
    }

    /// Sends a command (sequence 0) and returns the first packet of the answer.
    pub fn command(&mut self, cmd: u8, body: &[u8]) -> Option<Vec<u8>> {
        self.send(0, &[&[cmd][..], body].concat());
        self.recv().map(|(_, p)| p)
    }

    /// The error number of an ERR packet.
    pub fn errno(packet: &[u8]) -> Option<u16> {
        (packet.first() == Some(&0xff) && packet.len() >= 3).then(|| u16::from_le_bytes([packet[1], packet[2]]))
    }

    /// True when the server has closed the connection (read returns end of file).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0))
    }
}
