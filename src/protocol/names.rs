//! Validation of names that become NATS subject tokens and MySQL identifiers.

/// Checks a keyspace, cell or node name: 1-64 characters of `[A-Za-z0-9_-]`.
pub fn validate(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name cannot be empty"));
    }
    if name.len() > 64 {
        return Err(format!("{kind} name `{name}` is longer than 64 characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!("{kind} name `{name}` contains `{c}`; use letters, digits, `_` and `-` only"));
    }
    Ok(())
}

/// A keyspace is one MySQL database of the same name on its tablets (what clients see as
/// their database): it cannot be one of the server's own.
pub fn validate_keyspace_database(name: &str) -> Result<(), String> {
    const SYSTEM: [&str; 5] = ["mysql", "information_schema", "performance_schema", "sys", "_tessera"];
    if SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return Err(format!("keyspace name `{name}` is a database MariaDB or tessera uses itself; choose another"));
    }
    Ok(())
}

/// The MySQL database that holds a keyspace's tables on its tablets: the keyspace's name, so
/// `DATABASE()`, `information_schema` and error messages say what clients call it.
pub fn keyspace_database(keyspace: &str) -> String {
    keyspace.to_string()
}

/// The database name earlier versions used (`vt_<keyspace>`, as Vitess); tablets move its
/// tables into [`keyspace_database`] when they find it.
pub fn legacy_keyspace_database(keyspace: &str) -> String {
    format!("vt_{keyspace}")
}

/// Checks a tablet alias `<cell>-<uid>` with a uid of up to 10 digits, and returns it
/// normalised to Vitess's form (uid zero-padded to 10 digits).
pub fn normalize_tablet_alias(alias: &str) -> Result<String, String> {
    let bad = || format!("tablet alias `{alias}` is not `<cell>-<uid>` (like `zone1-0000000100`)");
    let (cell, uid) = alias.rsplit_once('-').ok_or_else(bad)?;
    validate("cell", cell).map_err(|_| bad())?;
    if uid.is_empty() || uid.len() > 10 || !uid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    Ok(format!("{cell}-{uid:010}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate("keyspace", "customer").is_ok());
        assert!(validate("keyspace", "cust_2-a").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", "ä"] {
            assert!(validate("keyspace", bad).is_err(), "{bad}");
        }
        assert!(validate("keyspace", &"x".repeat(65)).is_err());
    }

    #[test]
    fn aliases() {
        assert_eq!(normalize_tablet_alias("zone1-100").unwrap(), "zone1-0000000100");
        assert_eq!(normalize_tablet_alias("zone1-0000000100").unwrap(), "zone1-0000000100");
        for bad in ["zone1", "zone1-", "-100", "zone1-abc", "zone1-12345678901", "zo.ne-1"] {
            assert!(normalize_tablet_alias(bad).is_err(), "{bad}");
        }
    }
}
