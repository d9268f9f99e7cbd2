//! Loading and bounds-checked access to the generated data file.
//!
//! `data/uloose.bin` is produced by `gen/gen_tables.py`. Layout (all
//! integers little-endian):
//!
//! ```text
//! "ULK1"
//! u32 x 11 header: lookup_offset, values_offset, variable_top,
//!                  n_values, n_lookup, n_expand, n_contract, n_ct,
//!                  n_prop_ranges, n_decomp, n_blob
//! u32 x n_values        collation trie values
//! u16 x n_lookup        collation trie index blocks
//! u32 x n_expand        expansion sequences (length-prefixed)
//! u32 x n_contract      collation elements for contractions
//! [u8;4] x n_ct         contraction trie nodes (lo, hi, n, index)
//! (u32,u32,u32) x n_prop_ranges   NFD properties: first, last, packed
//! (u32,u32,u32) x n_decomp        NFKD decompositions: cp, offset, len
//! u8 x n_blob           UTF-8 bytes of the decompositions
//! ```

use std::sync::OnceLock;

static RAW: &[u8] = include_bytes!("uloose.bin");

const BLOCK_SHIFT: usize = 6;

/// Offset used in the decomposition index to mark "no decomposition".
const NO_DECOMP: u32 = u32::MAX;

/// One node of the contraction trie.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CtNode {
    pub lo: u8,
    pub hi: u8,
    pub n: u8,
    pub index: u8,
}

/// Normalization (NFD) properties of one rune.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NormProps {
    /// Encoded length of the rune; 0 if the input was too short.
    pub size: usize,
    /// Canonical combining class of the first rune of the decomposition.
    pub lead_ccc: u8,
    /// Canonical combining class of the last rune of the decomposition.
    pub trail_ccc: u8,
    /// Number of leading non-starters (stream-safe bookkeeping).
    pub n_lead: u8,
    /// Number of trailing non-starters.
    pub n_trail: u8,
    /// The rune never interacts with its neighbours under normalization.
    pub inert: bool,
}

pub(crate) struct Tables {
    lookup_offset: usize,
    values_offset: usize,
    values: Vec<u32>,
    lookup: Vec<u16>,
    expand: Vec<u32>,
    contract: Vec<u32>,
    ct: Vec<CtNode>,
    props: Vec<(u32, u32, u32)>,
    decomp: Vec<(u32, u32, u32)>,
    blob: Vec<u8>,
}

fn corrupt(what: &str) -> String {
    format!("uloose: malformed collation data ({what})")
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or_else(|| corrupt("size overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| corrupt("truncated file"))?;
        self.pos = end;
        Ok(s)
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| corrupt("size overflow"))?)?;
        Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn u16s(&mut self, n: usize) -> Result<Vec<u16>, String> {
        let bytes = self.take(n.checked_mul(2).ok_or_else(|| corrupt("size overflow"))?)?;
        Ok(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
    }

    fn triples(&mut self, n: usize) -> Result<Vec<(u32, u32, u32)>, String> {
        let flat = self.u32s(n.checked_mul(3).ok_or_else(|| corrupt("size overflow"))?)?;
        Ok(flat.chunks_exact(3).map(|t| (t[0], t[1], t[2])).collect())
    }
}

impl Tables {
    fn parse(raw: &[u8]) -> Result<Tables, String> {
        let mut r = Reader { buf: raw, pos: 0 };
        if r.take(4)? != b"ULK1" {
            return Err(corrupt("bad magic"));
        }
        let h = r.u32s(11)?;
        let n = |i: usize| h[i] as usize;
        let values = r.u32s(n(3))?;
        let lookup = r.u16s(n(4))?;
        let expand = r.u32s(n(5))?;
        let contract = r.u32s(n(6))?;
        let ct = r
            .take(n(7).checked_mul(4).ok_or_else(|| corrupt("size overflow"))?)?
            .chunks_exact(4)
            .map(|c| CtNode { lo: c[0], hi: c[1], n: c[2], index: c[3] })
            .collect();
        let props = r.triples(n(8))?;
        let decomp = r.triples(n(9))?;
        let blob = r.take(n(10))?.to_vec();
        if r.pos != raw.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(Tables {
            lookup_offset: n(0) << BLOCK_SHIFT,
            values_offset: n(1) << BLOCK_SHIFT,
            values,
            lookup,
            expand,
            contract,
            ct,
            props,
            decomp,
            blob,
        })
    }

    /// The lazily parsed, process-wide tables.
    pub(crate) fn get() -> Result<&'static Tables, String> {
        static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
        TABLES.get_or_init(|| Tables::parse(RAW)).as_ref().map_err(Clone::clone)
    }

    fn value(&self, i: usize) -> Result<u32, String> {
        self.values.get(i).copied().ok_or_else(|| corrupt("trie value index"))
    }

    fn index(&self, i: usize) -> Result<usize, String> {
        self.lookup.get(i).map(|&v| v as usize).ok_or_else(|| corrupt("trie block index"))
    }

    /// Collation element for the first UTF-8 sequence of `s` and the number
    /// of bytes it covers (0 when `s` ends in the middle of a sequence).
    /// Malformed bytes yield element 0, like the x/text trie.
    pub(crate) fn trie_lookup(&self, s: &[u8]) -> Result<(u32, usize), String> {
        let c0 = match s.first() {
            Some(&c) => c,
            None => return Ok((0, 0)),
        };
        let len = match c0 {
            0x00..=0x7F => return Ok((self.value(self.values_offset + c0 as usize)?, 1)),
            0x80..=0xBF => return Ok((0, 1)),
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return Ok((0, 1)),
        };
        if s.len() < len {
            return Ok((0, 0));
        }
        let mut block = self.index(self.lookup_offset + c0 as usize)?;
        for (k, &c) in s.iter().enumerate().take(len).skip(1) {
            if !(0x80..0xC0).contains(&c) {
                return Ok((0, k));
            }
            let slot = (block << BLOCK_SHIFT) + c as usize;
            if k == len - 1 {
                return Ok((self.value(slot)?, len));
            }
            block = self.index(slot)?;
        }
        Ok((0, 1))
    }

    /// The length-prefixed expansion sequence starting at `i`.
    pub(crate) fn expansion(&self, i: usize) -> Result<&[u32], String> {
        let n = *self.expand.get(i).ok_or_else(|| corrupt("expansion index"))? as usize;
        self.expand.get(i + 1..i + 1 + n).ok_or_else(|| corrupt("expansion length"))
    }

    pub(crate) fn contract_elem(&self, i: usize) -> Result<u32, String> {
        self.contract.get(i).copied().ok_or_else(|| corrupt("contraction element index"))
    }

    pub(crate) fn ct_node(&self, i: usize) -> Result<CtNode, String> {
        self.ct.get(i).copied().ok_or_else(|| corrupt("contraction trie index"))
    }

    fn props_of(&self, cp: u32) -> u32 {
        let i = self.props.partition_point(|&(_, last, _)| last < cp);
        match self.props.get(i) {
            Some(&(first, _, packed)) if first <= cp => packed,
            _ => 1 << 20,
        }
    }

    /// NFD properties of the first rune in `s`, following x/text's norm trie
    /// conventions for malformed or truncated input.
    pub(crate) fn norm_props(&self, s: &[u8]) -> NormProps {
        let plain = |size: usize| NormProps { size, lead_ccc: 0, trail_ccc: 0, n_lead: 0, n_trail: 0, inert: true };
        let (cp, size) = match decode_for_trie(s, 0xC2) {
            Decoded::Rune(cp, size) => (cp, size),
            Decoded::Invalid(size) => return plain(size),
        };
        let packed = self.props_of(cp);
        NormProps {
            size,
            lead_ccc: packed as u8,
            trail_ccc: (packed >> 8) as u8,
            n_lead: ((packed >> 16) & 3) as u8,
            n_trail: ((packed >> 18) & 3) as u8,
            inert: (packed >> 20) & 1 == 1,
        }
    }

    /// NFKD decomposition recorded for `cp` (empty if there is none).
    pub(crate) fn decomposition(&self, cp: u32) -> Result<&[u8], String> {
        let i = match self.decomp.binary_search_by_key(&cp, |&(c, _, _)| c) {
            Ok(i) => i,
            Err(_) => return Ok(&[]),
        };
        let (_, off, len) = self.decomp[i];
        if off == NO_DECOMP {
            return Ok(&[]);
        }
        let (off, len) = (off as usize, len as usize);
        self.blob.get(off..off + len).ok_or_else(|| corrupt("decomposition range"))
    }
}

pub(crate) enum Decoded {
    /// A scalar value and its encoded length.
    Rune(u32, usize),
    /// No scalar value; the number of bytes a trie walk would consume.
    Invalid(usize),
}

/// Decode the first sequence of `s` the way the x/text tries walk it: only
/// the lead byte and the continuation-byte pattern are checked. `min_lead`
/// is the smallest accepted multi-byte lead byte (0xC0 or 0xC2). Sequences
/// that pass the trie's checks but do not encode a scalar value (overlong
/// forms, surrogates, values above U+10FFFF) are reported as `Invalid` with
/// their full length; the key code never sees them because its input is
/// validated first.
pub(crate) fn decode_for_trie(s: &[u8], min_lead: u8) -> Decoded {
    let c0 = match s.first() {
        Some(&c) => c,
        None => return Decoded::Invalid(0),
    };
    if c0 < 0x80 {
        return Decoded::Rune(c0 as u32, 1);
    }
    let (len, init) = match c0 {
        _ if c0 < min_lead || c0 < 0xC0 => return Decoded::Invalid(1),
        0xC0..=0xDF => (2, (c0 & 0x1F) as u32),
        0xE0..=0xEF => (3, (c0 & 0x0F) as u32),
        0xF0..=0xF7 => (4, (c0 & 0x07) as u32),
        _ => return Decoded::Invalid(1),
    };
    if s.len() < len {
        return Decoded::Invalid(0);
    }
    let mut cp = init;
    for (k, &c) in s.iter().enumerate().take(len).skip(1) {
        if !(0x80..0xC0).contains(&c) {
            return Decoded::Invalid(k);
        }
        cp = (cp << 6) | (c & 0x3F) as u32;
    }
    match char::from_u32(cp) {
        Some(ch) if ch.len_utf8() == len => Decoded::Rune(cp, len),
        _ => Decoded::Invalid(len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_data_parses() {
        let t = Tables::get().expect("embedded data");
        assert_eq!(t.trie_lookup(b"a").map(|(_, n)| n), Ok(1));
    }

    #[test]
    fn malformed_data_is_an_error() {
        assert!(Tables::parse(b"").is_err());
        assert!(Tables::parse(b"XXXX").is_err());
        assert!(Tables::parse(&RAW[..RAW.len() - 1]).is_err());
        let mut extra = RAW.to_vec();
        extra.push(0);
        assert!(Tables::parse(&extra).is_err());
    }

    #[test]
    fn out_of_range_indices_are_errors() {
        // Header claiming empty tables: every lookup must fail cleanly.
        let mut raw = b"ULK1".to_vec();
        raw.extend_from_slice(&[0u8; 44]);
        let t = Tables::parse(&raw).expect("empty tables parse");
        assert!(t.trie_lookup(b"a").is_err());
        assert!(t.trie_lookup("é".as_bytes()).is_err());
        assert!(t.expansion(5).is_err());
        assert!(t.contract_elem(0).is_err());
        assert!(t.ct_node(0).is_err());
        assert_eq!(t.decomposition(0x41), Ok(&[][..]));
    }
}
