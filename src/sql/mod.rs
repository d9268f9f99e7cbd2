//! Small, fast SQL text helpers used on the query path, before or instead of a full parse.
//!
//! - [`classify`]: what kind of statement a text is (read, write, DDL, ...), from its first
//!   keyword, so a replica can refuse writes without parsing.
//! - [`next_values`]: recognises `select next N values from seq` (sqlparser cannot).
//! - [`binds`]: substitutes `:name` bind variables with escaped literals.
//! - [`literal`]: string literals as MariaDB reads them, and the one function that writes them.
//! - [`parse`]: the one way to parse SQL (bounded nesting, literals kept exact).

pub mod binds;
pub mod comments;
pub mod dialect;
pub mod literal;
pub mod next_values;
pub mod parse;
pub mod set;
pub mod sysvars;
pub mod uservars;

/// What a statement does, judged by its first keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// SELECT, SHOW, DESCRIBE, EXPLAIN, WITH ... SELECT.
    Read,
    /// INSERT, UPDATE, DELETE, REPLACE, LOAD.
    Write,
    /// CREATE, ALTER, DROP, RENAME, TRUNCATE.
    Ddl,
    /// BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT.
    Transaction,
    /// SET, USE.
    Session,
    /// Anything else (GRANT, FLUSH, CALL, ...): treated as a write where writes are refused.
    Other,
}

impl StatementKind {
    /// True when the statement may change data or schema.
    pub fn is_write(self) -> bool {
        matches!(self, StatementKind::Write | StatementKind::Ddl | StatementKind::Other)
    }
}

/// The first keyword of `sql`, upper-cased, skipping whitespace, comments and `(`.
pub fn first_keyword(sql: &str) -> Keyword {
    let word = skip_noise(sql).bytes().take_while(|c| c.is_ascii_alphabetic() || *c == b'_');
    let mut k = Keyword { buf: [0; KEYWORD_MAX], len: 0 };
    for (i, c) in word.enumerate() {
        if i == KEYWORD_MAX {
            // Longer than any keyword: no keyword at all.
            k.len = 0;
            break;
        }
        k.buf[i] = c.to_ascii_uppercase();
        k.len = i + 1;
    }
    k
}

const KEYWORD_MAX: usize = 16;

/// A statement's first keyword, upper-cased, held inline (the statement path reads it for
/// every statement; it allocates nothing). Empty when the statement starts with no word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    buf: [u8; KEYWORD_MAX],
    len: usize,
}

impl Keyword {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and `_` are ever stored.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq<&str> for Keyword {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Skips leading whitespace, `-- `/`#` line comments, `/* */` comments and opening parentheses.
pub fn skip_noise(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        if let Some(r) = t.strip_prefix("/*") {
            s = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else if t.starts_with("-- ") || t.starts_with("--\n") || t.starts_with('#') {
            s = t.find('\n').map_or("", |i| &t[i + 1..]);
        } else if let Some(r) = t.strip_prefix('(') {
            s = r;
        } else {
            return t;
        }
    }
}

/// Classifies a statement by its first keyword.
pub fn classify(sql: &str) -> StatementKind {
    match first_keyword(sql).as_str() {
        "SELECT" | "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN" | "WITH" | "VALUES" | "TABLE" | "HELP" => {
            StatementKind::Read
        }
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" => StatementKind::Write,
        "CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE" => StatementKind::Ddl,
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => StatementKind::Transaction,
        "SET" | "USE" => StatementKind::Session,
        _ => StatementKind::Other,
    }
}

/// The byte offsets of `sql` that are code: outside string literals, quoted identifiers and
/// comments (`-- ` to end of line, `#` to end of line, `/* ... */`). An unterminated literal or
/// comment runs to the end. The one scanner every text helper here shares.
pub fn code_offsets(sql: &str) -> CodeOffsets<'_> {
    CodeOffsets { b: sql.as_bytes(), i: 0, executable: false }
}

/// Like [`code_offsets`], but the body of an executable comment (`/*! ... */`, `/*!50100 ...`,
/// `/*M! ...`) is code, as MariaDB runs it.
pub fn code_offsets_as_run(sql: &str) -> CodeOffsets<'_> {
    CodeOffsets { b: sql.as_bytes(), i: 0, executable: true }
}

/// Iterator of [`code_offsets`].
pub struct CodeOffsets<'a> {
    b: &'a [u8],
    i: usize,
    executable: bool,
}

impl Iterator for CodeOffsets<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let b = self.b;
        loop {
            let i = self.i;
            let c = *b.get(i)?;
            let to_line_end =
                |from: usize| b[from..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| from + p + 1);
            match c {
                b'\'' | b'"' | b'`' => {
                    let mut j = i + 1;
                    while j < b.len() && b[j] != c {
                        if b[j] == b'\\' && c != b'`' {
                            j += 1;
                        }
                        j += 1;
                    }
                    self.i = j + 1;
                }
                b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|x| x.is_ascii_whitespace()) => {
                    self.i = to_line_end(i);
                }
                b'#' => self.i = to_line_end(i),
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let body = &b[i + 2..];
                    let bang = match body {
                        [b'!', ..] => Some(1),
                        [b'M', b'!', ..] => Some(2),
                        _ => None,
                    };
                    match bang {
                        Some(n) if self.executable => {
                            // Past `/*!` and its version number; the body is scanned as code.
                            let digits = body[n..].iter().take_while(|c| c.is_ascii_digit()).count();
                            self.i = i + 2 + n + digits;
                        }
                        _ => {
                            self.i = body.windows(2).position(|w| w == b"*/").map_or(b.len(), |p| i + 2 + p + 2);
                        }
                    }
                }
                _ => {
                    self.i = i + 1;
                    return Some(i);
                }
            }
        }
    }
}

/// Refuses text that holds more than one statement: a `;` in code (executable comments count
/// as code) followed by anything but whitespace and `;`. Tablet connections accept
/// multi-statements (the client library always asks for them), so the query service checks.
pub fn check_single(sql: &str) -> Result<(), String> {
    let b = sql.as_bytes();
    let mut ended = false;
    for i in code_offsets_as_run(sql) {
        match b[i] {
            b';' => ended = true,
            c if ended && !c.is_ascii_whitespace() => {
                return Err("one statement per request: the text goes on after a `;`".into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Quotes `bytes` as a string literal for a tablet connection (backslash escapes; bytes that
/// are not UTF-8 as a hex literal): [`literal::quote`] in the tablets' mode.
pub fn quote_bytes(bytes: &[u8]) -> String {
    literal::quote(bytes, literal::Escapes::Backslash)
}

/// The table names (last part, unquoted) a statement names, or `None` when it does not parse.
pub fn tables_of(sql: &str) -> Option<Vec<String>> {
    use sqlparser::ast::visit_relations;
    let stmts = parse::parse(sql).ok()?;
    let mut out = Vec::new();
    let _ = visit_relations(&stmts, |name| {
        if let Some(last) = name.0.last() {
            out.push(last.to_string().trim_matches('`').to_string());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Some(out)
}

/// Quotes an identifier with backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_keywords() {
        assert_eq!(first_keyword(" /* x */ (sElEcT 1)"), "SELECT");
        assert_eq!(first_keyword("drop_me_now"), "DROP_ME_NOW");
        assert_eq!(first_keyword("select_from_a_very_long_name"), "", "longer than any keyword");
        assert_eq!(first_keyword("1 + 1"), "");
        assert_eq!(first_keyword("é"), "");
        assert!(first_keyword("").is_empty());
        assert_eq!(first_keyword("use ks@replica").len(), 3);
    }

    #[test]
    fn classifies() {
        assert_eq!(classify("select 1"), StatementKind::Read);
        assert_eq!(classify("  /* hint */ SELECT * from t"), StatementKind::Read);
        assert_eq!(classify("(select 1) union (select 2)"), StatementKind::Read);
        assert_eq!(classify("-- c\ninsert into t values (1)"), StatementKind::Write);
        assert_eq!(classify("# c\nUPDATE t set a=1"), StatementKind::Write);
        assert_eq!(classify("replace into t values (1)"), StatementKind::Write);
        assert_eq!(classify("alter table t add c int"), StatementKind::Ddl);
        assert_eq!(classify("begin"), StatementKind::Transaction);
        assert_eq!(classify("set @a = 1"), StatementKind::Session);
        assert_eq!(classify("grant all on *.* to x"), StatementKind::Other);
        assert_eq!(classify(""), StatementKind::Other);
        assert!(classify("flush tables").is_write());
        assert!(!classify("show tables").is_write());
    }

    #[test]
    fn code_offsets_skip_literals_and_comments() {
        let sql = "a'b;'c\"d\"e`f`g/*h*/i#j\nk-- l\nm--n";
        let code: String = code_offsets(sql).map(|i| sql.as_bytes()[i] as char).collect();
        assert_eq!(code, "acegikm--n", "a line comment ends with its newline; `--` without a space is code");
        assert_eq!(code_offsets("'it\\'s' x").count(), 2, "escaped quote stays inside");
        assert_eq!(code_offsets("x /* open").count(), 2);
    }

    #[test]
    fn one_statement_per_request() {
        for ok in ["select 1", "select 1;", "select ';'; ", "select 1 -- ; drop\n", "select 1; /* ; x */", "select `;`"]
        {
            assert!(check_single(ok).is_ok(), "{ok}");
        }
        for bad in [
            "select 1; select 2",
            "select 1;select 2;",
            r"select 'a\\'; drop table t; -- '",
            "select 1 /*! ; drop table t */",
            "select 1 /*!50100 ; drop table t */",
            "select 1 /*M! ; kill 3 */",
        ] {
            assert!(check_single(bad).is_err(), "{bad}");
        }
        assert!(check_single(r"select 'a\'; drop'").is_ok(), "the `;` is inside the literal");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_bytes(b"it's"), "'it\\'s'");
        assert_eq!(quote_bytes(b"a\\b\n\0"), "'a\\\\b\\n\\0'");
        assert_eq!(quote_bytes("héllo'".as_bytes()), "'héllo\\''");
        assert_eq!(quote_bytes(&[0xff, 0x00]), "X'ff00'");
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }

    #[test]
    fn names_tables() {
        assert_eq!(
            tables_of("update `customer` set a = 1 where id in (select id from c.corder)").unwrap(),
            ["customer", "corder"]
        );
        assert!(tables_of("update (").is_none());
    }
}
