//! Collation element generation, following the behaviour of
//! golang.org/x/text/internal/colltab (Table.AppendNext and Iter.Next).
//!
//! A collation element ("Elem") is a u32 in one of several encodings:
//!
//! * `01pp pppp pppp pppp pppp ppp0 ssss ssss`  primary + secondary
//! * `00pp pppp pppp pppp pppp ppps ssst tttt`  primary + secondary diff + tertiary
//! * `100t tttt cccc cccc pppp pppp pppp pppp`  tertiary + CCC + 16-bit primary
//! * `1010 cccc cccc ssss ssss ssss tttt tttt`  CCC + secondary + tertiary
//!
//! Values above 0xAFFF_FFFF are not elements but references: contraction
//! (up to 0xDFFF_FFFF), expansion (up to 0xEFFF_FFFF) and decomposition.

use super::tables::{decode_for_trie, Decoded, Tables};

const MAX_NORMAL: u32 = 0xAFFF_FFFF;
const MAX_CONTRACTION: u32 = 0xDFFF_FFFF;
const MAX_EXPANSION: u32 = 0xEFFF_FFFF;

const PRIMARY_MASK: u32 = 0x3FFF_FE00;
const PRIMARY_SHIFT: u32 = 9;
const DEFAULT_SECONDARY: u32 = 0x20;
const MIN_COMPACT_SECONDARY: u8 = (DEFAULT_SECONDARY - 4) as u8;
const MAX_TERTIARY: u8 = 0x1F;

/// Largest run of combining elements gathered into one segment.
const MAX_COMBINING: usize = 30;
/// Size of the buffer for runes skipped by a discontiguous contraction.
const SEGMENT_BUF: usize = 128;
/// Guard against unbounded recursion on corrupt tables.
const MAX_DEPTH: u32 = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Contraction,
    Expansion,
    Decompose,
}

fn kind(ce: u32) -> Kind {
    if ce <= MAX_NORMAL {
        Kind::Normal
    } else if ce <= MAX_CONTRACTION {
        Kind::Contraction
    } else if ce <= MAX_EXPANSION {
        Kind::Expansion
    } else {
        Kind::Decompose
    }
}

/// Primary weight of an element (0 for primary-ignorable ones).
pub(crate) fn primary(ce: u32) -> u32 {
    if ce >= 0x8000_0000 {
        if ce > 0xA000_0000 {
            0
        } else {
            ce & 0xFFFF
        }
    } else {
        (ce & PRIMARY_MASK) >> PRIMARY_SHIFT
    }
}

/// Canonical combining class carried by an element.
fn ccc(ce: u32) -> u8 {
    if ce & 0x8000_0000 == 0 {
        0
    } else if ce & 0xA000_0000 == 0x8000_0000 {
        (ce >> 16) as u8
    } else {
        (ce >> 20) as u8
    }
}

/// Replace the tertiary weight of an element (used for compatibility
/// decompositions). Mirrors x/text bit for bit, including its handling of
/// out-of-range secondaries when converting the compact form.
fn with_tertiary(ce: u32, t: u8) -> u32 {
    let base = if ce & 0xC000_0000 == 0x4000_0000 {
        let secondary_diff = (ce as u8).wrapping_sub(MIN_COMPACT_SECONDARY) as u32;
        (ce & PRIMARY_MASK) | (secondary_diff << 5)
    } else if ce & 0xE000_0000 == 0x8000_0000 {
        return (ce & !((MAX_TERTIARY as u32) << 24)) | ((t as u32) << 24);
    } else {
        ce & !(MAX_TERTIARY as u32)
    };
    base | t as u32
}

fn implicit_element(primary: u32) -> u32 {
    0x4000_0000 | (primary << PRIMARY_SHIFT) | DEFAULT_SECONDARY
}

/// Ideographic property ranges as used by Go's `unicode.Ideographic`
/// (Go 1.21+, Unicode 15.0.0).
const IDEOGRAPHIC: &[(u32, u32)] = &[
    (0x3006, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303A),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFA6D),
    (0xFA70, 0xFAD9),
    (0x16FE4, 0x16FE4),
    (0x17000, 0x187F7),
    (0x18800, 0x18CD5),
    (0x18D00, 0x18D08),
    (0x1B170, 0x1B2FB),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B739),
    (0x2B740, 0x2B81D),
    (0x2B820, 0x2CEA1),
    (0x2CEB0, 0x2EBE0),
    (0x2F800, 0x2FA1D),
    (0x30000, 0x3134A),
    (0x31350, 0x323AF),
];

fn is_ideographic(cp: u32) -> bool {
    let i = IDEOGRAPHIC.partition_point(|&(_, hi)| hi < cp);
    matches!(IDEOGRAPHIC.get(i), Some(&(lo, _)) if lo <= cp)
}

/// Primary weight for a code point that has no entry in the table.
fn implicit_primary(cp: u32) -> u32 {
    if is_ideographic(cp) {
        if (0x4E00..=0x9FFF).contains(&cp) || (0xF900..=0xFAFF).contains(&cp) {
            cp + 0x10000
        } else {
            cp + 0x20000
        }
    } else {
        cp + 0x50000
    }
}

/// First rune of `s` as Go's utf8.DecodeRune reports it (U+FFFD if invalid).
fn first_rune(s: &[u8]) -> u32 {
    match decode_for_trie(s, 0xC2) {
        Decoded::Rune(cp, _) => cp,
        Decoded::Invalid(_) => 0xFFFD,
    }
}

const HANGUL_FIRST: u32 = 0xAC00;
const HANGUL_LAST: u32 = 0xD7A3;

/// Canonical decomposition of a precomposed Hangul syllable, UTF-8 encoded.
fn hangul_jamo(cp: u32) -> ([u8; 9], usize) {
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let s = cp - HANGUL_FIRST;
    let l = 0x1100 + s / N_COUNT;
    let v = 0x1161 + (s % N_COUNT) / T_COUNT;
    let t = s % T_COUNT;
    let mut out = [0u8; 9];
    let mut n = 0;
    for jamo in [l, v, 0x11A7 + t].into_iter().take(if t == 0 { 2 } else { 3 }) {
        // Jamo are all in U+1100..U+11FF: three UTF-8 bytes each.
        out[n] = 0xE0 | (jamo >> 12) as u8;
        out[n + 1] = 0x80 | ((jamo >> 6) & 0x3F) as u8;
        out[n + 2] = 0x80 | (jamo & 0x3F) as u8;
        n += 3;
    }
    (out, n)
}

/// Stateful matcher over the contraction trie.
struct Scanner {
    /// Absolute index of the current node list in the trie.
    states: usize,
    /// Number of nodes in the current list.
    n: usize,
    /// Length of the prefix of the suffix that may be scanned.
    limit: usize,
    /// Contraction element offset of the longest match so far.
    index: usize,
    /// Bytes consumed by the longest match so far.
    consumed: usize,
    done: bool,
}

impl Scanner {
    /// Match as far as possible from byte `p`; returns the position after the
    /// last fully matched rune (or after a final match).
    fn scan(&mut self, t: &Tables, text: &[u8], mut p: usize) -> Result<usize, String> {
        let s = text.get(..self.limit).unwrap_or(text);
        let mut rune_end = p;
        let mut states = self.states;
        let mut n = self.n;
        let mut i = 0;
        while i < n && p < s.len() {
            let node = t.ct_node(states + i)?;
            let c = s[p];
            if c >= node.lo {
                if c == node.lo {
                    p += 1;
                    if node.index != 0xFF {
                        self.index = node.index as usize;
                        self.consumed = p;
                    }
                    if node.n == 0 {
                        self.done = true;
                        return Ok(p);
                    }
                    states += node.hi as usize + n;
                    n = node.n as usize;
                    i = 0;
                    if p >= s.len() || s[p] & 0xC0 != 0x80 {
                        self.states = states;
                        self.n = n;
                        rune_end = p;
                    }
                    continue;
                } else if node.n == 0 && c <= node.hi {
                    p += 1;
                    self.done = true;
                    self.index = (c - node.lo) as usize + node.index as usize;
                    self.consumed = p;
                    return Ok(p);
                }
            }
            i += 1;
        }
        Ok(rune_end)
    }
}

/// Stream-safe boundary search: position of the first segment boundary in
/// `b`, or None if `b` may continue a segment past its end.
fn first_boundary(t: &Tables, b: &[u8]) -> Option<usize> {
    let mut i = b.iter().position(|&c| c & 0xC0 != 0x80)?;
    let mut non_starters: u32 = 0;
    loop {
        let props = t.norm_props(&b[i..]);
        if props.size == 0 {
            return None;
        }
        let lead = props.n_lead as u32;
        non_starters += lead;
        if non_starters > MAX_COMBINING as u32 {
            return Some(i);
        }
        if lead == 0 {
            return Some(i);
        }
        i += props.size;
        if i >= b.len() {
            if !props.inert && non_starters != MAX_COMBINING as u32 {
                return None;
            }
            return Some(b.len());
        }
    }
}

pub(crate) struct Weigher<'t> {
    t: &'t Tables,
}

impl<'t> Weigher<'t> {
    pub(crate) fn new(t: &'t Tables) -> Self {
        Weigher { t }
    }

    fn push_expansion(&self, w: &mut Vec<u32>, ce: u32) -> Result<(), String> {
        w.extend_from_slice(self.t.expansion((ce & 0xFFFF) as usize)?);
        Ok(())
    }

    /// Feed `bytes` completely through `append_next`.
    fn append_all(&self, w: &mut Vec<u32>, mut bytes: &[u8], depth: u32) -> Result<(), String> {
        while !bytes.is_empty() {
            let used = self.append_next(w, bytes, depth + 1)?;
            bytes = match bytes.get(used..) {
                Some(rest) if used > 0 => rest,
                _ => return Err("uloose: collation made no progress".to_string()),
            };
        }
        Ok(())
    }

    /// Append the elements of the next rune or contraction of `src`; returns
    /// the number of bytes consumed (0 only for a truncated sequence).
    pub(crate) fn append_next(&self, w: &mut Vec<u32>, src: &[u8], depth: u32) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err("uloose: collation recursion too deep".to_string());
        }
        let (ce, size) = self.t.trie_lookup(src)?;
        match kind(ce) {
            Kind::Normal if ce != 0 => w.push(ce),
            Kind::Normal => {
                let cp = first_rune(src);
                if (HANGUL_FIRST..=HANGUL_LAST).contains(&cp) {
                    let (jamo, n) = hangul_jamo(cp);
                    let mut rest = &jamo[..n];
                    while !rest.is_empty() {
                        let (jce, jsize) = self.t.trie_lookup(rest)?;
                        w.push(jce);
                        rest = match rest.get(jsize..) {
                            Some(r) if jsize > 0 => r,
                            _ => return Err("uloose: bad jamo lookup".to_string()),
                        };
                    }
                    return Ok(size);
                }
                w.push(implicit_element(implicit_primary(cp)));
            }
            Kind::Expansion => self.push_expansion(w, ce)?,
            Kind::Contraction => {
                let rest = src.get(size..).unwrap_or(&[]);
                let used = self.match_contraction(w, ce, rest, depth)?;
                return Ok(size + used);
            }
            Kind::Decompose => {
                let t1 = ce as u8;
                let t2 = (ce >> 8) as u8;
                let start = w.len();
                let decomposed = self.t.decomposition(first_rune(src))?;
                self.append_all(w, decomposed, depth)?;
                let first = w.get_mut(start).ok_or_else(|| "uloose: empty compatibility decomposition".to_string())?;
                *first = with_tertiary(*first, t1);
                for (k, e) in w[start + 1..].iter_mut().enumerate() {
                    *e = with_tertiary(*e, if k == 0 { t2 } else { MAX_TERTIARY });
                }
            }
        }
        Ok(size)
    }

    /// Match a contraction whose first rune mapped to `ce`, against the text
    /// `suffix` that follows that rune. Runes skipped over by a discontiguous
    /// match are weighed after the contraction. Returns bytes of `suffix` used.
    fn match_contraction(&self, w: &mut Vec<u32>, ce: u32, suffix: &[u8], depth: u32) -> Result<usize, String> {
        let n = (ce & 0xF) as usize;
        let trie_index = ((ce >> 4) & 0xFFF) as usize;
        let offset = ((ce >> 16) & 0x1FFF) as usize;

        let mut scan = Scanner { states: trie_index, n, limit: suffix.len(), index: 0, consumed: 0, done: false };
        let mut skipped = [0u8; SEGMENT_BUF];
        let mut skipped_used = 0;
        let mut p = scan.scan(self.t, suffix, 0)?;

        if !scan.done && p < suffix.len() && suffix[p] >= 0x80 {
            // A non-starter follows: try to extend the match across
            // unblocked combining marks of the final segment.
            let mut gap_start = p;
            let mut skipped_len = 0;
            let props = self.t.norm_props(&suffix[p..]);
            p += props.size;
            if props.lead_ccc != 0 {
                let mut prev_cc = props.trail_ccc;
                if let Some(end) = first_boundary(self.t, &suffix[p..]) {
                    scan.limit = p + end;
                }
                while p < suffix.len() && !scan.done && suffix[p] >= 0x80 {
                    let props = self.t.norm_props(&suffix[p..]);
                    let cc = props.lead_ccc;
                    if cc == 0 || prev_cc >= cc {
                        break;
                    }
                    if props.size == 0 {
                        return Err("uloose: truncated rune in contraction".to_string());
                    }
                    prev_cc = props.trail_ccc;
                    let next = scan.scan(self.t, suffix, p)?;
                    if next != p {
                        let gap = &suffix[gap_start..p];
                        let room = SEGMENT_BUF - skipped_len;
                        let k = gap.len().min(room);
                        skipped[skipped_len..skipped_len + k].copy_from_slice(&gap[..k]);
                        skipped_len += k;
                        if scan.consumed == next {
                            skipped_used = skipped_len;
                        }
                        p = next;
                        gap_start = next;
                    } else {
                        p += props.size;
                    }
                }
            }
        }

        let ce = self.t.contract_elem(scan.index + offset)?;
        if kind(ce) == Kind::Normal {
            w.push(ce);
        } else {
            self.push_expansion(w, ce)?;
        }
        self.append_all(w, &skipped[..skipped_used], depth)?;
        Ok(scan.consumed)
    }
}

/// Produces collation elements for a whole input, restoring canonical order
/// of combining elements the way x/text's Iter does.
pub(crate) struct Iter<'a, 't> {
    weigher: Weigher<'t>,
    text: &'a [u8],
    next_pos: usize,
    pub(crate) elems: Vec<u32>,
    /// Elements before this index are final.
    settled: usize,
}

impl<'a, 't> Iter<'a, 't> {
    pub(crate) fn new(t: &'t Tables, text: &'a [u8]) -> Self {
        Iter { weigher: Weigher::new(t), text, next_pos: 0, elems: Vec::with_capacity(text.len() + 8), settled: 0 }
    }

    fn append_next(&mut self) -> Result<bool, String> {
        let rest = match self.text.get(self.next_pos..) {
            Some(r) if !r.is_empty() => r,
            _ => return Ok(false),
        };
        let used = self.weigher.append_next(&mut self.elems, rest, 0)?;
        self.next_pos += used.max(1);
        Ok(true)
    }

    fn ccc_at(&self, i: usize) -> Result<u8, String> {
        self.elems.get(i).map(|&e| ccc(e)).ok_or_else(|| "uloose: element index out of range".to_string())
    }

    /// Advance by one segment; false once the input is exhausted.
    pub(crate) fn next(&mut self) -> Result<bool, String> {
        if self.settled == self.elems.len() && !self.append_next()? {
            return Ok(false);
        }
        let last =
            self.elems.len().checked_sub(1).ok_or_else(|| "uloose: no collation elements produced".to_string())?;
        let mut prev_ccc = self.ccc_at(last)?;
        if prev_ccc == 0 {
            self.settled = self.elems.len();
            return Ok(true);
        }
        if self.ccc_at(self.settled)? == 0 {
            self.settled += 1;
            while self.settled < self.elems.len() && ccc(self.elems[self.settled]) == 0 {
                self.settled += 1;
            }
            return Ok(true);
        }
        // The pending elements start with combining marks: collect the whole
        // run of them and put it in canonical order.
        loop {
            let block_start = self.elems.len();
            if !self.append_next()? {
                break;
            }
            let cc = self.ccc_at(block_start)?;
            if cc == 0 || self.elems.len() - self.settled > MAX_COMBINING {
                self.settled = block_start;
                return Ok(true);
            } else if cc < prev_ccc {
                self.reorder(block_start, cc);
            } else {
                prev_ccc = cc;
            }
        }
        let progressed = self.elems.len() != self.settled;
        self.settled = self.elems.len();
        Ok(progressed)
    }

    /// Move the block starting at `block_start` in front of the preceding
    /// elements with a higher combining class (x/text's doNorm).
    fn reorder(&mut self, block_start: usize, cc: u8) {
        let mut p = block_start - 1;
        while p > self.settled && cc < ccc(self.elems[p - 1]) {
            p -= 1;
        }
        self.elems[p..].rotate_left(block_start - p);
    }
}
