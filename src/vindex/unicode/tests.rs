//! Known answers: Vitess's test vectors, its golden file, and the loose equivalences.

use super::{go_quote, loose_key, unicode_loose_md5, unicode_loose_xxhash};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key_hex(s: &str) -> String {
    hex(&loose_key(s.as_bytes()).expect("valid input"))
}

/// (input, key, md5, xxhash) reference vectors from Go's x/text + Vitess.
const VECTORS: &[(&str, &str, &str, &str)] = &[
    ("Test", "1816164c17f31816", "0b5edbb401fd7524393690491d64f1f5", "42d21361087a4c07"),
    ("Bést", "1605164c17f31816", "c2b2332e4f73d00741026249706f2fb6", "926975b9ce2ec316"),
    (" Test", "01091816164c17f31816", "a2e3515c7e8df1ffd2ccfc11c6b19dd1", "4fcb8be34ec05775"),
    ("Test\t", "1816164c17f318160100", "82456dd87a9c7a02b1c2056b5abaa272", "20af87fc36e3fd51"),
    ("TéstLooong", "1816164c17f318161711177117711771174f1691", "9683e12b80430cd453f5dfdfba81c9a5", "d3ea873942b484a7"),
    ("T", "1816", "ac0f9179f51db87fe8ecc0cf40cab97a", "f81c3be2d501fe18"),
    ("", "", "d41d8cd98f00b204e9800998ecf8427e", "99e9d85137db46ef"),
];

#[test]
fn reference_vectors() {
    for &(input, key, md5, xx) in VECTORS {
        assert_eq!(key_hex(input), key, "key of {input:?}");
        assert_eq!(hex(&unicode_loose_md5(input.as_bytes()).unwrap()), md5, "md5 of {input:?}");
        assert_eq!(hex(&unicode_loose_xxhash(input.as_bytes()).unwrap()), xx, "xxhash of {input:?}");
    }
}

#[test]
fn loose_equivalents() {
    for s in ["TEST", "TEst", "Te\u{301}st", "Tést", "Test ", "Test   ", "tEsT"] {
        assert_eq!(key_hex(s), "1816164c17f31816", "{s:?}");
    }
    // Only 0x20 is trimmed.
    assert_eq!(key_hex("Test\t"), "1816164c17f318160100");
    assert_ne!(key_hex("Test\u{a0}"), "1816164c17f31816");
    assert_eq!(key_hex("   "), "");
}

#[test]
fn invalid_utf8_is_rejected() {
    for bad in [&b"\xff"[..], b"Te\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"ok\xf4\x90\x80\x80"] {
        let err = loose_key(bad).unwrap_err();
        assert!(err.starts_with("cannot normalize string containing invalid UTF-8"), "{err}");
        assert!(unicode_loose_md5(bad).is_err());
        assert!(unicode_loose_xxhash(bad).is_err());
    }
    assert_eq!(loose_key(b"a\xffb").unwrap_err(), "cannot normalize string containing invalid UTF-8: \"a\\xffb\"");
}

#[test]
fn implicit_weights() {
    // Unified ideograph: cp + 0x10000, three-byte form.
    assert_eq!(key_hex("中"), "814e2d");
    // Extension B ideograph: cp + 0x20000.
    assert_eq!(key_hex("\u{20000}"), "840000");
    // Unassigned in Unicode 6.2 and not ideographic: cp + 0x50000.
    assert_eq!(key_hex("\u{1F9FF}"), "86f9ff");
}

#[test]
fn hangul_decomposes_to_jamo() {
    // A precomposed syllable weighs the same as its conjoining jamo.
    assert_eq!(key_hex("\u{AC00}"), key_hex("\u{1100}\u{1161}"));
    assert_eq!(key_hex("\u{D7A3}"), key_hex("\u{1112}\u{1175}\u{11C2}"));
    assert!(!key_hex("\u{AC00}").is_empty());
}

#[test]
fn compatibility_decompositions() {
    // Loose collation ignores width and compatibility variants.
    assert_eq!(key_hex("\u{FF34}\u{FF45}\u{FF53}\u{FF54}"), key_hex("Test")); // fullwidth
    assert_eq!(key_hex("\u{FB01}"), key_hex("fi")); // ligature
    assert_eq!(key_hex("\u{2460}"), key_hex("1")); // circled digit one
}

#[test]
fn contractions_contiguous_and_discontiguous() {
    // Cyrillic short i: U+0418 + U+0306 is a contraction equal to U+0419.
    let short_i = key_hex("\u{419}");
    assert_ne!(short_i, key_hex("\u{418}"));
    assert_eq!(key_hex("\u{418}\u{306}"), short_i);
    // A combining mark of lower class (U+0316, ccc 220) in between does not
    // block the breve (ccc 230): the match is discontiguous.
    assert_eq!(key_hex("\u{418}\u{316}\u{306}"), short_i);
    // The same mark after the breve is just an ignorable addition.
    assert_eq!(key_hex("\u{418}\u{306}\u{316}"), short_i);
    // A mark with the same class (U+0301, ccc 230) blocks the breve.
    assert_eq!(key_hex("\u{418}\u{301}\u{306}"), key_hex("\u{418}"));
}

#[test]
fn canonical_reordering_of_weighted_marks() {
    // U+094D (ccc 9), U+0E38 (ccc 103) and U+0363 (ccc 230) are combining
    // marks that carry primary weights, so their order shows in the key.
    // Out-of-order input is put back into canonical order.
    let canonical = key_hex("a\u{94D}\u{E38}\u{363}");
    assert_eq!(canonical, key_hex("a\u{363}\u{E38}\u{94D}"));
    assert_eq!(canonical, key_hex("a\u{E38}\u{363}\u{94D}"));
    assert_eq!(canonical, key_hex("a\u{363}\u{94D}\u{E38}"));
    assert_ne!(canonical, key_hex("a\u{363}\u{94D}"));
    assert_eq!(key_hex("\u{36D}\u{F74}\u{F71}"), "258b25901816");
}

#[test]
fn behaviour_traced_from_x_text() {
    // Expected values derived by tracing x/text's Iter/appendNext code (and
    // an independent transliteration of it); they pin down cases where
    // x/text is not canonically closed.
    // U+0F71 U+0F74 contracts to the weight of U+0F75 ...
    assert_eq!(key_hex("\u{F71}\u{F74}"), key_hex("\u{F75}"));
    assert_eq!(key_hex("\u{F75}"), "2591");
    // ... but in the reverse (non-canonical) order the marks are only
    // reordered, not contracted.
    assert_eq!(key_hex("\u{F74}\u{F71}"), "258b2590");
    // A mark of higher class before a lower one stops the discontiguous
    // contraction search (U+04E8 + U+0308 would give U+04EA).
    assert_eq!(key_hex("\u{4E8}\u{308}"), key_hex("\u{4EA}"));
    assert_eq!(key_hex("\u{4E8}\u{353}\u{315}\u{34D}\u{308}"), key_hex("\u{4E8}"));
}

#[test]
fn long_and_odd_inputs_do_not_fail() {
    let marks = "\u{301}\u{316}\u{E48}\u{E38}".repeat(40);
    for s in [
        format!("a{marks}b"),
        format!("\u{418}{marks}\u{306}"),
        "\u{0}\u{1}\u{7f}\u{FFFF}\u{10FFFF}".to_string(),
        "\u{E40}\u{E01}\u{E48}".to_string(),
        "x".repeat(10_000),
    ] {
        loose_key(s.as_bytes()).expect("valid input must not fail");
    }
}

// Every entry of Vitess's go/vt/vtgate/vindexes/testdata/unicode_hash_golden.json.

const GOLDEN: &str = include_str!("testdata/unicode_hash_golden.json");

fn b64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 char {c}"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The string value following `"field": "` after position `from`.
fn field<'a>(text: &'a str, from: usize, name: &str) -> Option<(&'a str, usize)> {
    let tag = format!("\"{name}\": \"");
    let start = text[from..].find(&tag)? + from + tag.len();
    let end = text[start..].find('"')? + start;
    Some((&text[start..end], end))
}

#[test]
fn golden_file() {
    let mut pos = 0;
    let mut total = 0;
    let mut failures = Vec::new();
    while let Some((input, p)) = field(GOLDEN, pos, "Input") {
        let (xx, p) = field(GOLDEN, p, "XXHash").expect("XXHash");
        let (md5, p) = field(GOLDEN, p, "MD5").expect("MD5");
        pos = p;
        let input = b64(input);
        let got_md5 = unicode_loose_md5(&input).expect("md5");
        let got_xx = unicode_loose_xxhash(&input).expect("xxhash");
        if got_md5[..] != b64(md5)[..] || got_xx[..] != b64(xx)[..] {
            failures.push(total);
        }
        total += 1;
    }
    assert_eq!(total, 28, "entries parsed");
    assert!(failures.is_empty(), "failing golden entries: {failures:?} of {total}");
    println!("golden: {total} of {total} entries match");
}

#[test]
fn quoting() {
    assert_eq!(go_quote(b"a\xffb"), "\"a\\xffb\"");
    assert_eq!(go_quote(b"\"x\"\n"), "\"\\\"x\\\"\\n\"");
    assert_eq!(go_quote("é\u{1}".as_bytes()), "\"é\\x01\"");
    assert_eq!(go_quote(b"\xe2\x82"), "\"\\xe2\\x82\"");
}
