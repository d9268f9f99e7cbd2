//! MySQL wire encoding: packets, length-encoded values, OK/ERR/EOF, column definitions, rows.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::tablet::Field;

/// The largest payload of one physical packet; longer payloads continue in the next one.
pub const MAX_CHUNK: usize = 0xff_ffff;

/// Server status flags.
pub const STATUS_IN_TRANS: u16 = 0x0001;
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;
pub const STATUS_MORE_RESULTS: u16 = 0x0008;

/// Reads one logical packet (joining continuation packets). Returns the sequence id of the
/// last physical packet. A payload above `max` is refused without reading it all, and memory
/// grows with the bytes that actually arrive, not with the length a header announces.
pub async fn read_packet<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> io::Result<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 4];
        r.read_exact(&mut header).await?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        if payload.len() + len > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("packet of {} bytes exceeds max_allowed_packet ({max})", payload.len() + len),
            ));
        }
        // Grow by doubling as bytes arrive, never past the packet's end.
        let end = payload.len() + len;
        while payload.len() < end {
            if payload.len() == payload.capacity() {
                let cap = (payload.capacity() * 2).max(64 << 10).min(end);
                payload.reserve_exact(cap - payload.len());
            }
            let room = (end - payload.len()).min(payload.capacity() - payload.len());
            if (&mut *r).take(room as u64).read_buf(&mut payload).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection mid-packet",
                ));
            }
        }
        if len < MAX_CHUNK {
            return Ok((header[3], payload));
        }
    }
}

/// Writes one logical packet (splitting it into physical packets); returns the next sequence id.
pub async fn write_packet<W: AsyncWrite + Unpin>(w: &mut W, mut seq: u8, payload: &[u8]) -> io::Result<u8> {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        let len = (n as u32).to_le_bytes();
        w.write_all(&[len[0], len[1], len[2], seq]).await?;
        w.write_all(&rest[..n]).await?;
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            return Ok(seq);
        }
    }
}

pub use crate::protocol::rows::{put_lenenc_bytes, put_lenenc_int};

/// A cursor over a received payload; every read checks bounds.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "packet is shorter than its fields")
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(short)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> io::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn lenenc_int(&mut self) -> io::Result<u64> {
        match self.u8()? {
            0xfc => Ok(self.u16()? as u64),
            0xfd => {
                let b = self.take(3)?;
                Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64)
            }
            0xfe => self.u64(),
            v => Ok(v as u64),
        }
    }

    pub fn lenenc_bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).map_err(|_| short())?;
        self.take(n)
    }

    /// A NUL-terminated string (without the NUL); the rest if there is no NUL.
    pub fn null_str(&mut self) -> io::Result<&'a [u8]> {
        let rest = self.remaining();
        match rest.iter().position(|b| *b == 0) {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => {
                self.pos = self.buf.len();
                Ok(rest)
            }
        }
    }
}

/// An OK packet (`header` 0x00, or 0xfe when it ends a result set under CLIENT_DEPRECATE_EOF).
pub fn ok_packet(header: u8, affected: u64, last_insert_id: u64, status: u16, warnings: u16, info: &str) -> Vec<u8> {
    let mut b = vec![header];
    put_lenenc_int(&mut b, affected);
    put_lenenc_int(&mut b, last_insert_id);
    b.extend_from_slice(&status.to_le_bytes());
    b.extend_from_slice(&warnings.to_le_bytes());
    // MySQL's and MariaDB's client libraries read the info as a length-encoded string (the
    // protocol documents string<EOF> without CLIENT_SESSION_TRACK, but libmysqlclient and
    // libmariadb read a length first).
    if !info.is_empty() {
        put_lenenc_int(&mut b, info.len() as u64);
        b.extend_from_slice(info.as_bytes());
    }
    b
}

/// An ERR packet.
pub fn err_packet(code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut b = vec![0xff];
    b.extend_from_slice(&code.to_le_bytes());
    b.push(b'#');
    let mut st = state.as_bytes().to_vec();
    st.resize(5, b'0');
    b.extend_from_slice(&st[..5]);
    b.extend_from_slice(message.as_bytes());
    b
}

/// An EOF packet (pre-CLIENT_DEPRECATE_EOF clients).
pub fn eof_packet(status: u16, warnings: u16) -> Vec<u8> {
    let mut b = vec![0xfe];
    b.extend_from_slice(&warnings.to_le_bytes());
    b.extend_from_slice(&status.to_le_bytes());
    b
}

/// A column definition (Protocol::ColumnDefinition41).
pub fn column_def(f: &Field) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    put_lenenc_bytes(&mut b, b"def");
    put_lenenc_bytes(&mut b, f.schema.as_bytes());
    put_lenenc_bytes(&mut b, f.table.as_bytes());
    put_lenenc_bytes(&mut b, f.org_table.as_bytes());
    put_lenenc_bytes(&mut b, f.name.as_bytes());
    put_lenenc_bytes(&mut b, f.org_name.as_bytes());
    b.push(0x0c);
    b.extend_from_slice(&f.charset.to_le_bytes());
    b.extend_from_slice(&f.column_length.to_le_bytes());
    b.push(f.column_type);
    b.extend_from_slice(&f.flags.to_le_bytes());
    b.push(f.decimals);
    b.extend_from_slice(&[0, 0]);
    b
}

/// A text-protocol row.
pub fn text_row(row: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut b = Vec::with_capacity(row.iter().map(|v| v.as_ref().map_or(1, |v| v.len() + 3)).sum());
    for v in row {
        match v {
            None => b.push(0xfb),
            Some(v) => put_lenenc_bytes(&mut b, v),
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trip() {
        for v in [0u64, 250, 251, 0xffff, 0x1_0000, 0xff_ffff, 0x100_0000, u64::MAX] {
            let mut b = Vec::new();
            put_lenenc_int(&mut b, v);
            assert_eq!(Reader::new(&b).lenenc_int().unwrap(), v);
        }
        let mut r = Reader::new(&[0xfc, 0x01]);
        assert!(r.lenenc_int().is_err(), "short input is an error, not a panic");
        assert!(Reader::new(&[5, b'a']).lenenc_bytes().is_err());
    }

    #[tokio::test]
    async fn packets_split_and_join() {
        let big = vec![7u8; MAX_CHUNK + 10];
        let mut wire = Vec::new();
        let next = write_packet(&mut wire, 3, &big).await.unwrap();
        assert_eq!(next, 5);
        assert_eq!(wire.len(), big.len() + 8);
        let (seq, back) = read_packet(&mut wire.as_slice(), 64 << 20).await.unwrap();
        assert_eq!((seq, back.len()), (4, big.len()));
        let err = read_packet(&mut wire.as_slice(), 1024).await.unwrap_err();
        assert!(err.to_string().contains("max_allowed_packet"));
        // A header announcing 16 MiB followed by 10 bytes: an error, and no 16 MiB buffer.
        let short = [&[0xff, 0xff, 0xff, 0][..], &[1u8; 10]].concat();
        let err = read_packet(&mut short.as_slice(), 64 << 20).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // Exactly MAX_CHUNK needs an empty trailing packet.
        let mut wire = Vec::new();
        write_packet(&mut wire, 0, &vec![1u8; MAX_CHUNK]).await.unwrap();
        assert_eq!(wire.len(), MAX_CHUNK + 8);
    }

    #[test]
    fn err_and_ok_layout() {
        assert_eq!(err_packet(1064, "42000", "x"), [0xff, 0x28, 0x04, b'#', b'4', b'2', b'0', b'0', b'0', b'x']);
        assert_eq!(ok_packet(0, 1, 0, 2, 0, ""), [0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(
            ok_packet(0, 1, 0, 2, 0, "Rows matched: 1"),
            [&[0, 1, 0, 2, 0, 0, 0, 15][..], b"Rows matched: 1"].concat()
        );
    }
}
