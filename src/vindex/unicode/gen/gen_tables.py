#!/usr/bin/env python3
"""Generate data/uloose.bin for the uloose crate.

Reads the Go sources of golang.org/x/text (collate/tables.go and
unicode/norm/tables13.0.0.go) and writes a compact little-endian binary file
holding everything the Rust collation-key code needs:

  * the collation trie, expansion, contraction tables of the x/text "main"
    table (Unicode 6.2.0 / CLDR 23), copied verbatim;
  * the per-code-point NFD properties that the contraction matcher consults
    (leading/trailing CCC, leading/trailing non-starter counts, inert flag),
    derived by evaluating x/text's own norm trie for every code point;
  * the NFKD decompositions (from the same norm tables) of every code point
    that the collation table marks as "decompose".

Usage: gen_tables.py [XTEXT_DIR] [OUT_FILE]
  XTEXT_DIR defaults to /tmp/xtext/root/usr/share/gocode/src/golang.org/x/text
  OUT_FILE  defaults to ../data/uloose.bin relative to this script.
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
XTEXT = sys.argv[1] if len(sys.argv) > 1 else \
    '/tmp/xtext/root/usr/share/gocode/src/golang.org/x/text'
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, '..', 'uloose.bin')

COLL_SRC = os.path.join(XTEXT, 'collate', 'tables.go')
NORM_SRC = os.path.join(XTEXT, 'unicode', 'norm', 'tables13.0.0.go')


# ---------------------------------------------------------------- Go parsing
def strip_comments(s):
    return re.sub(r'//[^\n]*', '', s)


def go_body(txt, name):
    """Return the text between the braces of `var name = ...{ ... }`."""
    m = re.search(r'\nvar %s = [^{]*\{' % re.escape(name), txt)
    if not m:
        raise SystemExit('array %s not found' % name)
    start = m.end()
    depth = 1
    i = start
    while depth:
        c = txt[i]
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
        elif c == '/' and txt[i + 1] == '/':
            i = txt.index('\n', i) - 1
        i += 1
    return txt[start:i - 1]


def go_int_array(txt, name):
    """Parse a Go array literal of integers, keyed or positional."""
    head = re.search(r'\nvar %s = \[(\d*|\.\.\.)\]' % re.escape(name), txt)
    size = int(head.group(1)) if head and head.group(1).isdigit() else None
    body = strip_comments(go_body(txt, name))
    vals = {}
    pos = 0
    for tok in body.replace('\n', ' ').split(','):
        tok = tok.strip()
        if not tok:
            continue
        if ':' in tok:
            k, v = tok.split(':')
            pos = int(k.strip(), 0)
            tok = v.strip()
        vals[pos] = int(tok, 0)
        pos += 1
    n = size if size is not None else (max(vals) + 1 if vals else 0)
    out = [0] * n
    for k, v in vals.items():
        out[k] = v
    return out


def go_const(txt, name):
    m = re.search(r'\n\s*(?:const\s+)?%s\s*=\s*(0x[0-9A-Fa-f]+|\d+)' % re.escape(name), txt)
    if not m:
        raise SystemExit('const %s not found' % name)
    return int(m.group(1), 0)


coll = open(COLL_SRC).read()
norm = open(NORM_SRC).read()

unicode_version = re.search(r'const UnicodeVersion = "([^"]+)"', coll).group(1)
cldr_version = re.search(r'const CLDRVersion = "([^"]+)"', coll).group(1)
norm_version = re.search(r'Version = "([^"]+)"', norm).group(1)

main_values = go_int_array(coll, 'mainValues')
main_lookup = go_int_array(coll, 'mainLookup')
main_expand = go_int_array(coll, 'mainExpandElem')
main_contract = go_int_array(coll, 'mainContractElem')
_ct_head = re.search(r'\nvar mainCTEntries = \[\d+\]struct\{ L, H, N, I uint8 \}\{', coll)
ct_body = strip_comments(coll[_ct_head.end():coll.index('\n}', _ct_head.end())])
main_ct = [tuple(int(x, 0) for x in t) for t in
           re.findall(r'\{\s*(0x[0-9A-Fa-f]+|\d+),\s*(0x[0-9A-Fa-f]+|\d+),\s*(0x[0-9A-Fa-f]+|\d+),\s*(0x[0-9A-Fa-f]+|\d+)\s*\}', ct_body)]
n_ct = int(re.search(r'var mainCTEntries = \[(\d+)\]', coll).group(1))
assert len(main_ct) == n_ct, (len(main_ct), n_ct)
var_top = go_const(coll, 'varTop')

# Locale "en" (language.English); it shares the root ("und") offsets.
avail = re.search(r'var availableLocales = "([^"]+)"', coll).group(1).split(',')
loc_body = go_body(coll, 'locales')
offs = re.findall(r'lookupOffset:\s*(0x[0-9a-f]+|\d+),\s*valuesOffset:\s*(0x[0-9a-f]+|\d+)', loc_body)
assert len(offs) == len(avail)
en = avail.index('en')
LOOKUP_OFF, VALUES_OFF = (int(x, 0) for x in offs[en])

# ------------------------------------------------------- collation trie (py)
BLOCK = 64


def coll_lookup(s):
    """Mirror of colltab.Trie.lookup for the en table; returns (ce, size)."""
    c0 = s[0]
    idx0 = LOOKUP_OFF * BLOCK
    val0 = VALUES_OFF * BLOCK
    if c0 < 0x80:
        return main_values[val0 + c0], 1
    if c0 < 0xC0:
        return 0, 1
    need = 2 if c0 < 0xE0 else 3 if c0 < 0xF0 else 4 if c0 < 0xF8 else 0
    if need == 0:
        return 0, 1
    if len(s) < need:
        return 0, 0
    i = main_lookup[idx0 + c0]
    for k in range(1, need):
        c = s[k]
        if c < 0x80 or c >= 0xC0:
            return 0, k
        if k == need - 1:
            return main_values[(i << 6) + c], need
        i = main_lookup[(i << 6) + c]
    raise AssertionError


def ctype(ce):
    if ce <= 0xAFFFFFFF:
        return 0
    if ce <= 0xDFFFFFFF:
        return 1
    if ce <= 0xEFFFFFFF:
        return 2
    return 3


# ------------------------------------------------------------ norm trie (py)
ccc_tab = go_int_array(norm, 'ccc')
decomps = go_int_array(norm, 'decomps')
firstCCC = go_const(norm, 'firstCCC')
firstLeadingCCC = go_const(norm, 'firstLeadingCCC')
firstStarterWithNLead = go_const(norm, 'firstStarterWithNLead')


def sparse_values(name):
    body = strip_comments(go_body(norm, name))
    out = []
    for m in re.finditer(r'\{value:\s*(0x[0-9a-f]+)(?:,\s*lo:\s*(0x[0-9a-f]+))?(?:,\s*hi:\s*(0x[0-9a-f]+))?\}', body):
        out.append(tuple(int(g, 0) if g else 0 for g in m.groups()))
    return out


class NormTrie:
    def __init__(self, prefix):
        self.values = go_int_array(norm, prefix + 'Values')
        self.index = go_int_array(norm, prefix + 'Index')
        self.soff = go_int_array(norm, prefix + 'SparseOffset')
        self.svals = sparse_values(prefix + 'SparseValues')
        m = re.search(r'func \(t \*%sTrie\) lookupValue\(n uint32, b byte\) uint16 \{\s*switch \{\s*case n < (\d+):' % prefix, norm)
        self.cutoff = int(m.group(1))

    def sparse(self, n, b):
        off = self.soff[n]
        stride = self.svals[off][0]
        lo = off + 1
        hi = lo + self.svals[off][1]
        while lo < hi:
            m = lo + (hi - lo) // 2
            v, rlo, rhi = self.svals[m]
            if rlo <= b <= rhi:
                return (v + (b - rlo) * stride) & 0xFFFF
            if b < rlo:
                hi = m
            else:
                lo = m + 1
        return 0

    def value(self, n, b):
        if n < self.cutoff:
            return self.values[(n << 6) + b]
        return self.sparse(n - self.cutoff, b)

    def lookup(self, s):
        c0 = s[0]
        if c0 < 0x80:
            return self.values[c0], 1
        if c0 < 0xC2:
            return 0, 1
        need = 2 if c0 < 0xE0 else 3 if c0 < 0xF0 else 4 if c0 < 0xF8 else 0
        if need == 0:
            return 0, 1
        if len(s) < need:
            return 0, 0
        i = self.index[c0]
        for k in range(1, need):
            c = s[k]
            if c < 0x80 or c >= 0xC0:
                return 0, k
            if k == need - 1:
                return self.value(i, c), need
            i = self.index[(i << 6) + c]
        raise AssertionError


def comp_info(v):
    """Mirror of norm.compInfo: returns dict of the fields we need."""
    if v == 0:
        return dict(ccc=0, tccc=0, nlead=0, flags=0, index=0)
    if v >= 0x8000:
        ccc = v & 0xFF
        flags = (v >> 8) & 0xFF
        nlead = flags & 3 if (ccc > 0 or flags & 0x8) else 0
        return dict(ccc=ccc, tccc=ccc, nlead=nlead, flags=flags, index=0)
    h = decomps[v]
    flags = ((h & 0xC0) >> 2) | 0x4
    p = dict(ccc=0, tccc=0, nlead=0, flags=flags, index=v)
    if v >= firstCCC:
        v += (h & 0x3F) + 1
        c = decomps[v]
        p['tccc'] = c >> 2
        p['flags'] |= c & 0x3
        if v >= firstLeadingCCC:
            p['nlead'] = c & 0x3
            if v >= firstStarterWithNLead:
                p['flags'] &= 0x03
                p['index'] = 0
                return p
            p['ccc'] = decomps[v + 1]
    return p


def decomposition(p):
    if p['index'] == 0:
        return None
    i = p['index']
    n = decomps[i] & 0x3F
    return bytes(decomps[i + 1:i + 1 + n])


nfc = NormTrie('nfc')
nfkc = NormTrie('nfkc')

# Packed NFD properties: lead ccc | trail ccc << 8 | nlead << 16 |
# ntrail << 18 | inert << 20.
DEFAULT_PROPS = 1 << 20
prop_ranges = []     # (first, last, packed)
decomp_entries = []  # (cp, bytes or None)
stats = dict(contract=0, expand=0, decompose=0, ccc_primary=[])

for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    b = chr(cp).encode('utf-8')
    v, sz = nfc.lookup(b)
    assert sz == len(b)
    p = comp_info(v)
    lead = ccc_tab[p['ccc']]
    trail = ccc_tab[p['tccc']]
    inert = 1 if ((p['flags'] & 0x3F) == 0 and p['ccc'] == 0) else 0
    packed = lead | (trail << 8) | (p['nlead'] << 16) | ((p['flags'] & 3) << 18) | (inert << 20)
    if packed != DEFAULT_PROPS:
        if prop_ranges and prop_ranges[-1][1] == cp - 1 and prop_ranges[-1][2] == packed:
            prop_ranges[-1][1] = cp
        else:
            prop_ranges.append([cp, cp, packed])

    ce, csz = coll_lookup(b)
    assert csz == len(b)
    t = ctype(ce)
    if t == 1:
        stats['contract'] += 1
    elif t == 2:
        stats['expand'] += 1
    elif t == 3:
        stats['decompose'] += 1
        v2, _ = nfkc.lookup(b)
        decomp_entries.append((cp, decomposition(comp_info(v2))))
    elif ce >= 0x80000000 and (ce & 0xA0000000) == 0x80000000 and ((ce >> 16) & 0xFF) and (ce & 0xFFFF):
        stats['ccc_primary'].append(cp)


# ------------------------------------------------------------------ output
def u32s(a):
    return struct.pack('<%dI' % len(a), *a)


def u16s(a):
    return struct.pack('<%dH' % len(a), *a)


blob = bytearray()
dec_index = []
for cp, d in decomp_entries:
    if d is None:
        dec_index.append((cp, 0xFFFFFFFF, 0))
    else:
        dec_index.append((cp, len(blob), len(d)))
        blob += d

out = bytearray(b'ULK1')
hdr = [LOOKUP_OFF, VALUES_OFF, var_top,
       len(main_values), len(main_lookup), len(main_expand), len(main_contract),
       len(main_ct), len(prop_ranges), len(dec_index), len(blob)]
out += u32s(hdr)
out += u32s(main_values)
out += u16s(main_lookup)
out += u32s(main_expand)
out += u32s(main_contract)
for e in main_ct:
    out += bytes(e)
for r in prop_ranges:
    out += u32s(r)
for e in dec_index:
    out += u32s(e)
out += blob

os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
with open(OUT, 'wb') as f:
    f.write(out)

print('collation tables: Unicode %s, CLDR %s; norm tables: Unicode %s' %
      (unicode_version, cldr_version, norm_version))
print('en offsets: lookup 0x%x values 0x%x, varTop 0x%x' % (LOOKUP_OFF, VALUES_OFF, var_top))
print('values %d lookup %d expand %d contract %d ct %d' %
      (len(main_values), len(main_lookup), len(main_expand), len(main_contract), len(main_ct)))
print('norm prop ranges %d, decompose entries %d (%d without decomposition), blob %d bytes' %
      (len(prop_ranges), len(dec_index), sum(1 for e in dec_index if e[1] == 0xFFFFFFFF), len(blob)))
print('code points: contraction starters %d, expansions %d, decompose %d' %
      (stats['contract'], stats['expand'], stats['decompose']))
print('non-starters with primary weight: %d, e.g. %s' %
      (len(stats['ccc_primary']), ' '.join('%04X' % c for c in stats['ccc_primary'][:20])))
print('wrote %s (%d bytes)' % (OUT, len(out)))
