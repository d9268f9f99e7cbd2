//! A result's rows, kept as MySQL writes them to a client.
//!
//! A tablet reads rows from MySQL and appends each straight into one buffer as a text-row
//! payload (length-encoded values, `0xFB` for NULL) behind its length (u32, little endian);
//! that buffer is what crosses NATS. A gateway that only forwards a result (one shard, no
//! merge, the text protocol) writes those payloads to the client as they are
//! ([`Rows::payloads`]), so no row is ever built for it. Anything that looks at values
//! (a merge, a sort, the binary protocol, the engine) reads them through `Deref` to
//! `Vec<Row>`, which decodes the buffer once, on first use.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// A row: each value in MySQL's text form, `None` for NULL.
pub type Row = Vec<Option<Vec<u8>>>;

const NULL: u8 = 0xfb;

/// Rows, packed (as read from MySQL) or decoded (as the engine builds them).
#[derive(Default)]
pub struct Rows {
    /// Empty, or the row count (u64, little endian) then the framed text-row payloads: the
    /// serialized form as it is. Emptied once decoded rows have been changed.
    packed: Vec<u8>,
    /// How many rows `packed` holds.
    count: usize,
    /// The rows as values: set from `packed` on first look, or given.
    decoded: OnceLock<Vec<Row>>,
}

/// Bytes of the row count in front of the packed rows.
const HEADER: usize = 8;

impl Rows {
    pub fn new() -> Rows {
        Rows::default()
    }

    /// The number of rows (without decoding them).
    pub fn len(&self) -> usize {
        match self.decoded.get() {
            Some(rows) => rows.len(),
            None => self.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a row from its values, in MySQL's text form.
    pub fn push_values<I, V>(&mut self, values: I)
    where
        I: IntoIterator<Item = Option<V>>,
        V: AsRef<[u8]>,
    {
        if self.decoded.get().is_some() {
            // As any change to decoded rows: the packed form no longer matches them.
            self.push(values.into_iter().map(|v| v.map(|v| v.as_ref().to_vec())).collect());
            return;
        }
        if self.packed.is_empty() {
            self.packed.extend_from_slice(&[0; HEADER]);
        }
        let start = self.packed.len();
        self.packed.extend_from_slice(&[0; 4]);
        for v in values {
            match v {
                None => self.packed.push(NULL),
                Some(v) => put_lenenc_bytes(&mut self.packed, v.as_ref()),
            }
        }
        // A row is at most MySQL's max_allowed_packet (1 GiB), so its length fits.
        let len = u32::try_from(self.packed.len() - start - 4).unwrap_or(u32::MAX);
        self.packed[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.set_count(self.count + 1);
    }

    fn set_count(&mut self, count: usize) {
        self.count = count;
        if let Some(head) = self.packed.get_mut(..HEADER) {
            head.copy_from_slice(&(count as u64).to_le_bytes());
        }
    }

    /// The framed payloads, without the count in front.
    fn frames(&self) -> &[u8] {
        self.packed.get(HEADER..).unwrap_or_default()
    }

    /// The rows' text-row payloads as they came from the tablet, when nothing has decoded
    /// them: what a gateway writes to a text-protocol client as they are.
    pub fn payloads(&self) -> Option<Payloads<'_>> {
        self.decoded.get().is_none().then_some(Payloads { rest: self.frames() })
    }

    /// Appends `other`'s rows; packed ones stay packed.
    pub fn append(&mut self, other: Rows) {
        if self.decoded.get().is_none() && other.decoded.get().is_none() {
            if self.packed.is_empty() {
                *self = other;
            } else {
                self.packed.extend_from_slice(other.frames());
                self.set_count(self.count + other.count);
            }
        } else {
            self.extend(other.into_vec());
        }
    }

    /// The rows as values.
    pub fn into_vec(self) -> Vec<Row> {
        match self.decoded.into_inner() {
            Some(rows) => rows,
            None => decode(self.packed.get(HEADER..).unwrap_or_default(), self.count),
        }
    }

    /// The serialized form: the packed buffer (made from the rows when they were changed).
    fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.decoded.get() {
            None => std::borrow::Cow::Borrowed(&self.packed),
            Some(rows) => {
                let mut packed = Rows::new();
                for row in rows {
                    packed.push_values(row.iter().map(|v| v.as_deref()));
                }
                std::borrow::Cow::Owned(packed.packed)
            }
        }
    }

    /// Rows from their serialized form, every row's framing checked.
    fn from_bytes(packed: Vec<u8>) -> Result<Rows, &'static str> {
        if packed.is_empty() {
            return Ok(Rows::new());
        }
        let head = packed.get(..HEADER).ok_or("packed rows are shorter than their count")?;
        let mut le = [0u8; HEADER];
        le.copy_from_slice(head);
        let count = usize::try_from(u64::from_le_bytes(le)).map_err(|_| "the row count is out of range")?;
        validate(&packed[HEADER..], count)?;
        Ok(Rows { packed, count, decoded: OnceLock::new() })
    }
}

/// Iterates over packed rows' payloads.
pub struct Payloads<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Payloads<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (payload, rest) = split_frame(self.rest)?;
        self.rest = rest;
        Some(payload)
    }
}

/// The first frame's payload and what follows it (checked when the buffer was received).
fn split_frame(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(len)?;
    Some((buf.get(4..end)?, buf.get(end..)?))
}

/// Appends a MySQL length-encoded integer.
pub fn put_lenenc_int(buf: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => buf.push(v as u8),
        251..=0xffff => {
            buf.push(0xfc);
            buf.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            buf.push(0xfd);
            buf.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            buf.push(0xfe);
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends a MySQL length-encoded string.
pub fn put_lenenc_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_lenenc_int(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// One length-encoded value of a payload: `Ok(None)` for NULL, and the rest.
fn split_value(p: &[u8]) -> Result<(Option<&[u8]>, &[u8]), &'static str> {
    let (&first, rest) = p.split_first().ok_or("a row ends inside a value")?;
    let (len, rest) = match first {
        NULL => return Ok((None, rest)),
        0..=250 => (first as u64, rest),
        0xfc..=0xfe => {
            let width = match first {
                0xfc => 2,
                0xfd => 3,
                _ => 8,
            };
            let head = rest.get(..width).ok_or("a row ends inside a value's length")?;
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(head);
            (u64::from_le_bytes(le), &rest[width..])
        }
        _ => return Err("a value starts with an invalid length byte"),
    };
    let len = usize::try_from(len).map_err(|_| "a value's length is out of range")?;
    if len > rest.len() {
        return Err("a value is longer than its row");
    }
    let (value, rest) = rest.split_at(len);
    Ok((Some(value), rest))
}

/// Checks that `packed` is `count` well-formed rows.
fn validate(packed: &[u8], count: usize) -> Result<(), &'static str> {
    let mut rest = packed;
    let mut seen = 0usize;
    while !rest.is_empty() {
        let (mut payload, next) = split_frame(rest).ok_or("a row is cut short")?;
        while !payload.is_empty() {
            payload = split_value(payload)?.1;
        }
        rest = next;
        seen += 1;
    }
    if seen != count {
        return Err("the row count does not match the rows");
    }
    Ok(())
}

/// Decodes validated packed rows.
fn decode(packed: &[u8], count: usize) -> Vec<Row> {
    let mut rows = Vec::with_capacity(count);
    for mut payload in (Payloads { rest: packed }) {
        let mut row = Row::new();
        while let Ok((value, rest)) = split_value(payload) {
            row.push(value.map(<[u8]>::to_vec));
            payload = rest;
            if payload.is_empty() {
                break;
            }
        }
        rows.push(row);
    }
    rows
}

impl Deref for Rows {
    type Target = Vec<Row>;

    fn deref(&self) -> &Vec<Row> {
        self.decoded.get_or_init(|| decode(self.frames(), self.count))
    }
}

impl DerefMut for Rows {
    /// Decodes the rows for good: the packed buffer would no longer match them.
    fn deref_mut(&mut self) -> &mut Vec<Row> {
        if self.decoded.get().is_none() {
            let rows = decode(self.frames(), self.count);
            self.decoded = OnceLock::from(rows);
        }
        self.packed = Vec::new();
        self.count = 0;
        self.decoded.get_or_init(Vec::new);
        match self.decoded.get_mut() {
            Some(rows) => rows,
            None => unreachable!("initialised just above"),
        }
    }
}

impl From<Vec<Row>> for Rows {
    fn from(rows: Vec<Row>) -> Rows {
        Rows { packed: Vec::new(), count: 0, decoded: OnceLock::from(rows) }
    }
}

impl FromIterator<Row> for Rows {
    fn from_iter<T: IntoIterator<Item = Row>>(iter: T) -> Rows {
        Rows::from(iter.into_iter().collect::<Vec<Row>>())
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Rows {
    type Item = &'a mut Row;
    type IntoIter = std::slice::IterMut<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl Clone for Rows {
    fn clone(&self) -> Rows {
        match self.decoded.get() {
            Some(rows) => Rows::from(rows.clone()),
            None => Rows { packed: self.packed.clone(), count: self.count, decoded: OnceLock::new() },
        }
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for Rows {
    /// Binary formats carry the packed buffer as one byte string; readable ones (JSON) the
    /// rows as arrays of values.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return (**self).serialize(s);
        }
        s.serialize_bytes(&self.bytes())
    }
}

impl<'de> Deserialize<'de> for Rows {
    /// Checks every row's framing, so a malformed reply is refused here and decoding later
    /// cannot fail.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        if d.is_human_readable() {
            // Readable formats, and serde's buffering inside internally tagged enums (which
            // calls itself readable even when the bytes were MessagePack): either form.
            return d.deserialize_any(EitherForm);
        }
        d.deserialize_byte_buf(EitherForm)
    }
}

/// Rows as arrays of values, or packed in a byte string.
struct EitherForm;

impl<'de> Visitor<'de> for EitherForm {
    type Value = Rows;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rows, as arrays of values or packed in bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Rows, E> {
        Rows::from_bytes(v.to_vec()).map_err(E::custom)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Rows, E> {
        Rows::from_bytes(v).map_err(E::custom)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Rows, A::Error> {
        Vec::<Row>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Rows::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Row> {
        vec![
            vec![Some(b"1".to_vec()), None, Some(Vec::new())],
            vec![Some(vec![b'x'; 300]), Some(vec![b'y'; 70_000]), None],
            vec![],
        ]
    }

    fn packed(rows: &[Row]) -> Rows {
        let mut r = Rows::new();
        for row in rows {
            r.push_values(row.iter().map(|v| v.as_deref()));
        }
        r
    }

    #[test]
    fn packed_rows_decode_to_what_was_pushed() {
        let r = packed(&sample());
        assert_eq!(r.len(), 3);
        assert!(r.payloads().is_some());
        assert_eq!(*r, sample());
        // Looking decodes; the payloads are then no longer forwarded as they are.
        assert!(r.payloads().is_none());
    }

    #[test]
    fn payloads_are_mysql_text_rows() {
        let r = packed(&sample()[..1]);
        let p: Vec<&[u8]> = r.payloads().into_iter().flatten().collect();
        assert_eq!(p, vec![&[1, b'1', NULL, 0][..]]);
    }

    #[test]
    fn bincode_and_msgpack_round_trip_packed_and_decoded() {
        for rows in [packed(&sample()), Rows::from(sample())] {
            let b = bincode::serialize(&rows).unwrap();
            let back: Rows = bincode::deserialize(&b).unwrap();
            assert!(back.payloads().is_some());
            assert_eq!(back, Rows::from(sample()));
            let m = rmp_serde::to_vec(&rows).unwrap();
            let back: Rows = rmp_serde::from_slice(&m).unwrap();
            assert_eq!(back, Rows::from(sample()));
            let j = serde_json::to_string(&rows).unwrap();
            let back: Rows = serde_json::from_str(&j).unwrap();
            assert_eq!(back, Rows::from(sample()));
        }
    }

    #[test]
    fn rows_inside_internally_tagged_enums_round_trip() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(tag = "type")]
        enum Tagged {
            Result { rows: Rows },
        }
        for rows in [packed(&sample()), Rows::from(sample())] {
            let t = Tagged::Result { rows };
            let m = rmp_serde::to_vec_named(&t).unwrap();
            assert_eq!(rmp_serde::from_slice::<Tagged>(&m).unwrap(), Tagged::Result { rows: Rows::from(sample()) });
            let m = rmp_serde::to_vec(&t).unwrap();
            assert_eq!(rmp_serde::from_slice::<Tagged>(&m).unwrap(), Tagged::Result { rows: Rows::from(sample()) });
            let j = serde_json::to_vec(&t).unwrap();
            assert_eq!(serde_json::from_slice::<Tagged>(&j).unwrap(), Tagged::Result { rows: Rows::from(sample()) });
        }
    }

    #[test]
    fn malformed_packed_rows_are_refused() {
        let good = bincode::serialize(&packed(&sample())).unwrap();
        // Every truncation and every corrupted byte either decodes to rows or is refused.
        for cut in 0..good.len() {
            let _ = bincode::deserialize::<Rows>(&good[..cut]);
        }
        for i in 0..good.len().min(64) {
            let mut bad = good.clone();
            bad[i] ^= 0xa5;
            if let Ok(r) = bincode::deserialize::<Rows>(&bad) {
                let _ = r.into_vec();
            }
        }
        let mut wrong_count = packed(&sample());
        wrong_count.set_count(2);
        assert!(Rows::from_bytes(wrong_count.packed).is_err());
        assert!(Rows::from_bytes(vec![1, 0, 0]).is_err());
        assert!(validate(&[5, 0, 0, 0, 0xfc, 1], 1).is_err());
        assert!(validate(&[2, 0, 0, 0, 0xff, 1], 1).is_err());
    }

    #[test]
    fn changing_rows_drops_the_packed_form_and_append_keeps_it() {
        let mut a = packed(&sample());
        a.append(packed(&sample()));
        assert_eq!(a.len(), 6);
        assert!(a.payloads().is_some());
        a.truncate(1);
        assert!(a.payloads().is_none());
        assert_eq!(a.len(), 1);
        let b = bincode::deserialize::<Rows>(&bincode::serialize(&a).unwrap()).unwrap();
        assert_eq!(b.len(), 1);
        let mut c = Rows::from(sample());
        c.append(packed(&sample()));
        assert_eq!(c.into_vec().len(), 6);
        let mut d = packed(&sample());
        d.push_values([Some("z")]);
        assert_eq!(d.len(), 4);
        let mut e = Rows::new();
        e.append(packed(&sample()));
        assert!(e.payloads().is_some());
        assert_eq!(bincode::deserialize::<Rows>(&bincode::serialize(&e).unwrap()).unwrap(), Rows::from(sample()));
        let none = bincode::deserialize::<Rows>(&bincode::serialize(&Rows::new()).unwrap()).unwrap();
        assert!(none.is_empty());
    }
}
