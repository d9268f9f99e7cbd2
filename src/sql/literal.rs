//! String literals as MariaDB's lexer reads them, and the one function that writes them.
//!
//! The gateway never re-prints a client's literal through a lossy printer. A literal is read
//! with the client session's rules ([`Escapes`], from its `sql_mode`) into the exact bytes it
//! stands for, and written for the tablets with [`quote`] (tablet connections always run with
//! backslash escapes). Inside the gateway's syntax trees a string literal's text is its
//! *escaped body* ([`escape_body`]): what sqlparser prints between the quotes is then exactly
//! what MariaDB must read. Read such a body back as bytes with [`body_value`].

/// How backslashes in string literals are read: MariaDB's default, or `NO_BACKSLASH_ESCAPES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escapes {
    #[default]
    Backslash,
    /// `sql_mode` has `NO_BACKSLASH_ESCAPES`: a backslash is an ordinary character and only a
    /// doubled quote escapes a quote.
    NoBackslash,
}

impl Escapes {
    /// The rules a session with this `sql_mode` reads literals by.
    pub fn from_sql_mode(sql_mode: &str) -> Escapes {
        let nbe = sql_mode.split(',').any(|m| m.trim().eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES"));
        if nbe {
            Escapes::NoBackslash
        } else {
            Escapes::Backslash
        }
    }
}

/// The bytes a string literal's body (the text between its quotes) stands for, as MariaDB's
/// lexer reads it (`Lex_input_stream::unescape`): a doubled `quote` is one quote; with backslash
/// escapes, `\0 \b \n \r \t \Z` are control bytes, `\%` and `\_` keep their backslash (they are
/// LIKE escapes), and a backslash before anything else stands for that thing.
pub fn unescape(body: &[u8], quote: u8, esc: Escapes) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'\\' && esc == Escapes::Backslash && i + 1 < body.len() {
            let n = body[i + 1];
            match n {
                b'0' => out.push(0),
                b'b' => out.push(8),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'Z' => out.push(0x1a),
                b'%' | b'_' => out.extend_from_slice(&[b'\\', n]),
                other => out.push(other),
            }
            i += 2;
        } else if c == quote && body.get(i + 1) == Some(&quote) {
            out.push(quote);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The one escaping function: `bytes` as a MariaDB string literal, quotes included, readable
/// under `esc`. Bytes that are not UTF-8 become a hex literal (`X'..'`), which MariaDB reads as
/// the same bytes in any mode.
pub fn quote(bytes: &[u8], esc: Escapes) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return hex_literal(bytes);
    };
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    match esc {
        Escapes::Backslash => push_escaped(&mut out, text),
        Escapes::NoBackslash => {
            for c in text.chars() {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
        }
    }
    out.push('\'');
    out
}

/// `bytes` as a hex literal (`X'00ff'`): a binary string.
pub fn hex_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("X'");
    out.push_str(&hex::encode(bytes));
    out.push('\'');
    out
}

/// The escaped body (no quotes) of `text` under backslash escapes: every quote, backslash and
/// control byte MariaDB would misread is escaped, so every `'` in it follows a backslash (which
/// sqlparser's printer then leaves alone).
pub fn escape_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
}

/// The bytes of an escaped body as the gateway's syntax trees hold it.
pub fn body_value(body: &str) -> Vec<u8> {
    unescape(body.as_bytes(), b'\'', Escapes::Backslash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_literals_as_mariadb_does() {
        let b = Escapes::Backslash;
        assert_eq!(unescape(br"back\slash", b'\'', b), b"backslash");
        assert_eq!(unescape(br"a\\b", b'\'', b), br"a\b");
        assert_eq!(unescape(br"it\'s", b'\'', b), b"it's");
        assert_eq!(unescape(b"it''s", b'\'', b), b"it's");
        assert_eq!(unescape(br#"say \"hi\""#, b'"', b), br#"say "hi""#);
        assert_eq!(unescape(br#"say ""hi"""#, b'"', b), br#"say "hi""#);
        assert_eq!(unescape(br"\0\b\n\r\t\Z", b'\'', b), [0, 8, b'\n', b'\r', b'\t', 0x1a]);
        assert_eq!(unescape(br"50\% a\_b", b'\'', b), br"50\% a\_b", "LIKE escapes keep their backslash");
        assert_eq!(unescape(br"\x\y", b'\'', b), b"xy");
        assert_eq!(unescape("\\é".as_bytes(), b'\'', b), "é".as_bytes());
        assert_eq!(unescape(br"trailing\", b'\'', b), br"trailing\");
        let n = Escapes::NoBackslash;
        assert_eq!(unescape(br"C:\path\n", b'\'', n), br"C:\path\n");
        assert_eq!(unescape(br"it''s \'", b'\'', n), br"it's \'");
    }

    #[test]
    fn quotes_so_that_the_reader_gets_the_bytes_back() {
        let samples: [&[u8]; 12] = [
            b"",
            b"plain",
            br"back\slash",
            br"\\",
            br"\'",
            b"''",
            br"x\",
            br"\\'",
            b"\0\n\r\x1a\t\x08",
            "é'ü\\".as_bytes(),
            br"50\% a\_b",
            b" or 1=1 -- ",
        ];
        for esc in [Escapes::Backslash, Escapes::NoBackslash] {
            for s in samples {
                let q = quote(s, esc);
                let body = &q.as_bytes()[1..q.len() - 1];
                assert_eq!(unescape(body, b'\'', esc), s, "{esc:?} {q}");
            }
        }
        assert_eq!(quote(&[0xff, 0x00], Escapes::Backslash), "X'ff00'");
        assert_eq!(quote(br"a\b'c", Escapes::NoBackslash), r"'a\b''c'");
        assert_eq!(body_value(&escape_body("a'b\\c\"d\n")), b"a'b\\c\"d\n");
        assert_eq!(Escapes::from_sql_mode("STRICT_TRANS_TABLES,no_backslash_escapes"), Escapes::NoBackslash);
        assert_eq!(Escapes::from_sql_mode("STRICT_TRANS_TABLES"), Escapes::Backslash);
    }
}
