//! Bind variables: `:name` placeholders replaced by escaped literals (Vitess's convention).
//!
//! The scanner skips string literals, quoted identifiers and comments, so a `:x` inside them is
//! left alone. `::` (a PostgreSQL-style cast) is not a placeholder either.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A bind variable's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BindValue {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Bytes, sent as a string literal.
    Bytes(Vec<u8>),
    /// A list, for `IN ::list`-style expansion: `(v1, v2, ...)`.
    List(Vec<BindValue>),
}

impl BindValue {
    /// The SQL literal for this value.
    pub fn to_sql(&self) -> String {
        match self {
            BindValue::Null => "NULL".into(),
            BindValue::Int(v) => v.to_string(),
            BindValue::UInt(v) => v.to_string(),
            BindValue::Float(v) if v.is_finite() => format!("{v:?}"),
            BindValue::Float(_) => "NULL".into(),
            BindValue::Bytes(b) => super::quote_bytes(b),
            BindValue::List(items) => {
                let parts: Vec<String> = items.iter().map(BindValue::to_sql).collect();
                format!("({})", parts.join(", "))
            }
        }
    }
}

/// Byte offsets of the `?` placeholders of `sql`, outside literals, identifiers and comments.
pub fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    super::code_offsets(sql).filter(|i| b[*i] == b'?').collect()
}

/// Replaces the `?` placeholders, in order, by SQL literals.
pub fn substitute_positional(sql: &str, literals: &[String]) -> Result<String, String> {
    let at = placeholders(sql);
    if at.len() != literals.len() {
        return Err(format!("the statement has {} placeholders but {} values were given", at.len(), literals.len()));
    }
    let mut out = String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut copied = 0;
    for (pos, lit) in at.into_iter().zip(literals) {
        out.push_str(&sql[copied..pos]);
        out.push_str(lit);
        copied = pos + 1;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// Replaces every `:name` in `sql` by its value. Unknown names are an error.
/// Without binds the statement is returned as it is, uncopied.
pub fn substitute<'a>(sql: &'a str, binds: &BTreeMap<String, BindValue>) -> Result<std::borrow::Cow<'a, str>, String> {
    if binds.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0;
    let mut offsets = super::code_offsets(sql).peekable();
    while let Some(i) = offsets.next() {
        if b[i] != b':' {
            continue;
        }
        if b.get(i + 1) == Some(&b':') {
            offsets.next(); // `::`, a cast, not a placeholder
            continue;
        }
        if !b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
            continue;
        }
        let end = (i + 1..b.len()).find(|j| !(b[*j].is_ascii_alphanumeric() || b[*j] == b'_')).unwrap_or(b.len());
        let name = &sql[i + 1..end];
        let value = binds.get(name).ok_or_else(|| format!("missing bind variable `{name}`"))?;
        out.push_str(&sql[copied..i]);
        out.push_str(&value.to_sql());
        copied = end;
        while offsets.peek().is_some_and(|j| *j < end) {
            offsets.next();
        }
    }
    out.push_str(&sql[copied..]);
    Ok(std::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binds(pairs: &[(&str, BindValue)]) -> BTreeMap<String, BindValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn positional_placeholders() {
        let sql = "select '?', `?` /* ? */, ? from t where a = ? -- ?";
        assert_eq!(placeholders(sql).len(), 2);
        assert_eq!(
            substitute_positional(sql, &["1".into(), "'x'".into()]).unwrap(),
            "select '?', `?` /* ? */, 1 from t where a = 'x' -- ?"
        );
        assert!(substitute_positional(sql, &["1".into()]).is_err());
    }

    #[test]
    fn substitutes_outside_quotes_and_comments() {
        let b = binds(&[
            ("id", BindValue::Int(-7)),
            ("name", BindValue::Bytes(b"o'hara".to_vec())),
            ("ids", BindValue::List(vec![BindValue::UInt(1), BindValue::Null])),
        ]);
        let sql = "select ':id', `:id` /* :id */ from t where id = :id and n = :name and x in :ids -- :id";
        assert_eq!(
            substitute(sql, &b).unwrap(),
            "select ':id', `:id` /* :id */ from t where id = -7 and n = 'o\\'hara' and x in (1, NULL) -- :id"
        );
        assert_eq!(substitute("select a::int, :id", &b).unwrap(), "select a::int, -7");
        assert!(substitute("select :nope", &b).unwrap_err().contains("nope"));
        assert_eq!(substitute("select 'it\\'s :id'", &b).unwrap(), "select 'it\\'s :id'");
        assert_eq!(substitute("select :id", &BTreeMap::new()).unwrap(), "select :id");
        assert_eq!(BindValue::Float(1.5).to_sql(), "1.5");
    }
}
