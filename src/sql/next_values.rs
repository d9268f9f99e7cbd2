//! `select next N values from <seq>` and `select next value from <seq>`: Vitess's sequence
//! syntax. sqlparser rejects the first and silently misparses the second, so it is recognised
//! here first.

/// A request for `count` ids from the sequence table `table` (optionally keyspace-qualified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextValues {
    pub keyspace: Option<String>,
    pub table: String,
    pub count: u64,
}

/// Recognises the sequence syntax; `None` for any other statement.
/// `Some(Err(..))` when it is the syntax but malformed (count of 0, junk after the table).
pub fn parse(sql: &str) -> Option<Result<NextValues, String>> {
    let words: Vec<&str> = super::skip_noise(sql).trim_end().trim_end_matches(';').split_whitespace().collect();
    let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
    if !(is(0, "select") && is(1, "next")) {
        return None;
    }
    let (count, from_at) = if is(2, "value") {
        (Ok(1), 3)
    } else if is(3, "values") {
        (words.get(2).and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| format!("`{}` is not a count", words[2])), 4)
    } else {
        return None;
    };
    if !is(from_at, "from") {
        return None;
    }
    let Some(name) = words.get(from_at + 1) else {
        return Some(Err("expected a sequence table after FROM".into()));
    };
    if words.len() > from_at + 2 {
        return Some(Err(format!("unexpected `{}` after the sequence table", words[from_at + 2])));
    }
    let count = match count {
        Ok(0) => return Some(Err("the count of values must be at least 1".into())),
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    let unquote = |s: &str| s.trim_matches('`').to_string();
    let (keyspace, table) = match name.split_once('.') {
        Some((ks, t)) => (Some(unquote(ks)), unquote(t)),
        None => (None, unquote(name)),
    };
    if table.is_empty() {
        return Some(Err("expected a sequence table after FROM".into()));
    }
    Some(Ok(NextValues { keyspace, table, count }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_forms() {
        assert_eq!(
            parse("select next 5 values from customer_seq"),
            Some(Ok(NextValues { keyspace: None, table: "customer_seq".into(), count: 5 }))
        );
        assert_eq!(
            parse("SELECT NEXT VALUE FROM `commerce`.`order_seq`;"),
            Some(Ok(NextValues { keyspace: Some("commerce".into()), table: "order_seq".into(), count: 1 }))
        );
        assert_eq!(parse("select next from t"), None);
        assert_eq!(parse("select * from t"), None);
        assert_eq!(parse("select next as value"), None);
        assert!(parse("select next 0 values from s").unwrap().is_err());
        assert!(parse("select next x values from s").unwrap().is_err());
        assert!(parse("select next 2 values from s where 1").unwrap().is_err());
    }
}
