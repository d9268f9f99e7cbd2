//! Parsing and validating a keyspace VSchema, with errors that point at the line.

use super::{vindex_kind, KeyspaceVSchema, SUPPORTED_VINDEXES, UNSUPPORTED_VITESS_VINDEXES};

/// A VSchema that was refused, with the line of the JSON it concerns (1-based, when known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct VSchemaError {
    pub line: Option<usize>,
    pub message: String,
}

/// Answers whether a sequence table exists in some keyspace's VSchema.
pub trait SequenceResolver {
    /// `keyspace` is `None` for an unqualified name; returns the keyspace that has it.
    fn find_sequence(&self, keyspace: Option<&str>, table: &str) -> Option<String>;
}

/// Parses `json` and checks it: known vindex types, table vindexes that exist, a unique primary
/// vindex for every table of a sharded keyspace, sequences that resolve.
pub fn parse_and_validate(json: &str, resolver: &dyn SequenceResolver) -> Result<KeyspaceVSchema, VSchemaError> {
    let vs: KeyspaceVSchema = serde_json::from_str(json).map_err(|e| VSchemaError {
        line: (e.line() > 0).then_some(e.line()),
        message: format!("invalid VSchema JSON: {e}"),
    })?;
    let err = |path: &[&str], message: String| VSchemaError { line: locate(json, path), message };

    for (name, def) in &vs.vindexes {
        if vindex_kind(&def.vindex_type).is_none() {
            let supported: Vec<&str> = SUPPORTED_VINDEXES.iter().map(|k| k.name).collect();
            let why = if UNSUPPORTED_VITESS_VINDEXES.contains(&def.vindex_type.as_str()) {
                "is a Vitess vindex type that tessera does not implement"
            } else {
                "is not a known vindex type"
            };
            return Err(err(
                &["vindexes", name, "type"],
                format!("vindex `{name}`: type `{}` {why}; supported: {}", def.vindex_type, supported.join(", ")),
            ));
        }
        if let Some(kind) = vindex_kind(&def.vindex_type) {
            if kind.lookup {
                for p in ["table", "from", "to"] {
                    if def.params.get(p).is_none_or(|v| v.is_empty()) {
                        return Err(err(&["vindexes", name], format!("lookup vindex `{name}` needs the param `{p}`")));
                    }
                }
                if !def.owner.is_empty() && !vs.tables.contains_key(&def.owner) {
                    return Err(err(
                        &["vindexes", name, "owner"],
                        format!("vindex `{name}` is owned by table `{}`, which is not in `tables`", def.owner),
                    ));
                }
            }
        }
        if !vs.sharded {
            return Err(err(
                &["vindexes", name],
                format!("keyspace is unsharded (`\"sharded\": false`) but defines vindex `{name}`"),
            ));
        }
    }

    for (table, def) in &vs.tables {
        match def.table_type.as_str() {
            "" => {}
            "reference" => {
                if !def.column_vindexes.is_empty() {
                    return Err(err(
                        &["tables", table, "column_vindexes"],
                        format!(
                            "table `{table}` is a reference table (a copy on every shard); it takes no column_vindexes"
                        ),
                    ));
                }
                if !def.source.is_empty() && def.source.split('.').filter(|p| !p.is_empty()).count() != 2 {
                    return Err(err(
                        &["tables", table, "source"],
                        format!("table `{table}`: source `{}` must be `keyspace.table`", def.source),
                    ));
                }
            }
            "sequence" => {
                if vs.sharded {
                    return Err(err(
                        &["tables", table, "type"],
                        format!("table `{table}` is a sequence; sequences must live in an unsharded keyspace"),
                    ));
                }
            }
            other => {
                return Err(err(
                    &["tables", table, "type"],
                    format!("table `{table}`: unknown table type `{other}` (expected `sequence` or `reference`)"),
                ))
            }
        }
        for (i, cv) in def.column_vindexes.iter().enumerate() {
            if !vs.sharded {
                return Err(err(
                    &["tables", table, "column_vindexes"],
                    format!("table `{table}` has column_vindexes but the keyspace is unsharded"),
                ));
            }
            let Some(vdef) = vs.vindexes.get(&cv.name) else {
                return Err(err(
                    &["tables", table, &cv.name],
                    format!("table `{table}` names vindex `{}`, which is not defined in `vindexes`", cv.name),
                ));
            };
            if cv.column_list().is_empty() || (!cv.column.is_empty() && !cv.columns.is_empty()) {
                return Err(err(
                    &["tables", table, &cv.name],
                    format!("table `{table}`, vindex `{}`: give exactly one of `column` or `columns`", cv.name),
                ));
            }
            // Multi-column vindexes read exactly their columns.
            let wanted = match vdef.vindex_type.as_str() {
                "multicol" => vdef.params.get("column_count").and_then(|c| c.trim().parse::<usize>().ok()),
                "region_experimental" | "region_json" => Some(2),
                _ => None,
            };
            if let Some(n) = wanted {
                if cv.column_list().len() != n {
                    return Err(err(
                        &["tables", table, &cv.name],
                        format!(
                            "table `{table}`, vindex `{}` of type `{}` reads {n} columns; list them in `columns`",
                            cv.name, vdef.vindex_type
                        ),
                    ));
                }
            }
            if i == 0 {
                let unique = vindex_kind(&vdef.vindex_type).is_some_and(|k| k.unique);
                if !unique {
                    return Err(err(
                        &["tables", table, &cv.name],
                        format!(
                            "table `{table}`: primary vindex `{}` is of type `{}`, which is not unique; the first column vindex must be unique",
                            cv.name, vdef.vindex_type
                        ),
                    ));
                }
                // A row's keyspace id cannot come from the mapping its own insert writes.
                if vdef.owner == *table {
                    return Err(err(
                        &["tables", table, &cv.name],
                        format!(
                            "table `{table}`: primary vindex `{}` cannot be owned by the table; a lookup primary vindex maps values some other table owns",
                            cv.name
                        ),
                    ));
                }
            }
        }
        let needs_primary = vs.sharded && def.table_type.is_empty() && def.pinned.is_empty();
        if needs_primary && def.column_vindexes.is_empty() {
            return Err(err(
                &["tables", table],
                format!("table `{table}` is in a sharded keyspace but has no column_vindexes (a primary vindex is required)"),
            ));
        }
        if !def.pinned.is_empty() && hex::decode(&def.pinned).is_err() {
            return Err(err(
                &["tables", table, "pinned"],
                format!("table `{table}`: pinned `{}` is not hex", def.pinned),
            ));
        }
        if let Some(ai) = &def.auto_increment {
            if ai.column.is_empty() || ai.sequence.is_empty() {
                return Err(err(
                    &["tables", table, "auto_increment"],
                    format!("table `{table}`: auto_increment needs `column` and `sequence`"),
                ));
            }
            let (ks, seq) = match ai.sequence.split_once('.') {
                Some((ks, seq)) => (Some(ks), seq),
                None => (None, ai.sequence.as_str()),
            };
            let local = ks.is_none() && vs.tables.get(seq).is_some_and(|t| t.table_type == "sequence");
            if !local && resolver.find_sequence(ks, seq).is_none() {
                return Err(err(
                    &["tables", table, "auto_increment"],
                    format!(
                        "table `{table}`: sequence `{}` is not a `sequence` table in this or any other keyspace's VSchema; apply the VSchema that declares it first",
                        ai.sequence
                    ),
                ));
            }
        }
    }
    Ok(vs)
}

/// Finds the line of the JSON text where the path of keys leads, searching each quoted key
/// after the previous one. Best effort: `None` when a key cannot be found.
fn locate(json: &str, path: &[&str]) -> Option<usize> {
    let mut offset = 0;
    let mut found = None;
    for key in path {
        let needle = format!("\"{key}\"");
        match json[offset..].find(&needle) {
            Some(pos) => {
                offset += pos + needle.len();
                found = Some(offset);
            }
            None => break,
        }
    }
    found.map(|o| json[..o].bytes().filter(|b| *b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seqs(Vec<(&'static str, &'static str)>);
    impl SequenceResolver for Seqs {
        fn find_sequence(&self, keyspace: Option<&str>, table: &str) -> Option<String> {
            self.0.iter().find(|(ks, t)| *t == table && keyspace.is_none_or(|k| k == *ks)).map(|(ks, _)| ks.to_string())
        }
    }

    fn check(json: &str) -> Result<KeyspaceVSchema, VSchemaError> {
        parse_and_validate(json, &Seqs(vec![("commerce", "customer_seq")]))
    }

    const CUSTOMER: &str = r#"{
  "sharded": true,
  "vindexes": {
    "hash": { "type": "hash" }
  },
  "tables": {
    "customer": {
      "column_vindexes": [ { "column": "customer_id", "name": "hash" } ],
      "auto_increment": { "column": "customer_id", "sequence": "customer_seq" }
    }
  }
}"#;

    #[test]
    fn accepts_the_customer_example() {
        let vs = check(CUSTOMER).unwrap();
        assert!(vs.sharded);
        assert_eq!(vs.tables["customer"].column_vindexes[0].column_list(), vec!["customer_id"]);
    }

    #[test]
    fn accepts_every_field_of_vitess_vschema() {
        let full = r#"{
  "sharded": true,
  "require_explicit_routing": true,
  "foreign_key_mode": "unmanaged",
  "multi_tenant_spec": {"tenant_id_column_name": "tenant", "tenant_id_column_type": "INT64"},
  "vindexes": {
    "hash": {"type": "hash"},
    "lu": {"type": "consistent_lookup_unique", "params": {"table": "lkp", "from": "a,b", "to": "keyspace_id", "ignore_nulls": "true"}, "owner": "t"}
  },
  "tables": {
    "t": {
      "column_vindexes": [{"column": "id", "name": "hash"}, {"columns": ["a", "b"], "name": "lu"}],
      "auto_increment": {"column": "id", "sequence": "customer_seq"},
      "columns": [
        {"name": "id", "type": "INT64", "nullable": false},
        {"name": "a", "type": "VARCHAR", "size": 64, "collation_name": "utf8mb4_general_ci", "default": "x"},
        {"name": "b", "type": "ENUM", "values": ["'x'", "'y'"], "invisible": true},
        {"name": "c", "type": "DECIMAL", "size": 10, "scale": 2}
      ],
      "column_list_authoritative": true
    },
    "r": {"type": "reference", "source": "commerce.r"}
  }
}"#;
        let vs = check(full).unwrap();
        assert!(vs.tables["t"].columns[2].invisible);
        assert_eq!(vs.tables["t"].columns[2].values.len(), 2);
        assert_eq!(vs.tables["t"].column_vindexes[1].column_list(), vec!["a", "b"]);
        let typo = check(&full.replace("\"invisible\"", "\"invisibel\"")).unwrap_err();
        assert!(typo.message.contains("invisibel"), "{typo}");
    }

    #[test]
    fn accepts_camel_case_and_unsharded() {
        let vs = check(r#"{"tables": {"customer_seq": {"type": "sequence"}, "product": {}}}"#).unwrap();
        assert!(!vs.sharded);
        let camel = CUSTOMER.replace("column_vindexes", "columnVindexes");
        assert!(check(&camel).is_ok());
    }

    #[test]
    fn unknown_vindex_type_names_the_line() {
        let bad = CUSTOMER.replace(r#""type": "hash""#, r#""type": "hsh""#);
        let e = check(&bad).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("`hsh` is not a known vindex type"), "{e}");
        let vitess_only = CUSTOMER.replace(r#""type": "hash""#, r#""type": "numeric_static_map""#);
        assert!(check(&vitess_only).unwrap_err().message.contains("does not implement"));
    }

    #[test]
    fn undefined_vindex_names_the_line() {
        let bad = CUSTOMER.replace(r#""name": "hash""#, r#""name": "nope""#);
        let e = check(&bad).unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("vindex `nope`, which is not defined"), "{e}");
    }

    #[test]
    fn sharded_table_needs_primary_vindex() {
        let e = check(r#"{"sharded": true, "tables": {"t": {}}}"#).unwrap_err();
        assert!(e.message.contains("no column_vindexes"), "{e}");
        let lookup_first = r#"{"sharded": true,
            "vindexes": {"l": {"type": "lookup", "params": {"table": "lt", "from": "a", "to": "keyspace_id"}}},
            "tables": {"t": {"column_vindexes": [{"column": "a", "name": "l"}]}}}"#;
        assert!(check(lookup_first).unwrap_err().message.contains("not unique"));
        let owned_primary = r#"{"sharded": true,
            "vindexes": {"l": {"type": "lookup_unique", "params": {"table": "lt", "from": "a", "to": "keyspace_id"}, "owner": "t"}},
            "tables": {"t": {"column_vindexes": [{"column": "a", "name": "l"}]}}}"#;
        assert!(check(owned_primary).unwrap_err().message.contains("cannot be owned"));
        assert!(check(&owned_primary.replace(r#", "owner": "t""#, "")).is_ok());
    }

    #[test]
    fn other_refusals() {
        assert!(check("{ not json").unwrap_err().message.contains("invalid VSchema JSON"));
        let typo = check(r#"{"sharded": true, "tabels": {}}"#).unwrap_err();
        assert!(typo.message.contains("unknown field `tabels`"), "{typo}");
        assert_eq!(typo.line, Some(1));
        let seq_in_sharded = r#"{"sharded": true, "tables": {"s": {"type": "sequence"}}}"#;
        assert!(check(seq_in_sharded).unwrap_err().message.contains("unsharded keyspace"));
        let missing_seq = CUSTOMER.replace("customer_seq", "nope_seq");
        assert!(check(&missing_seq).unwrap_err().message.contains("`nope_seq`"));
        let lookup_no_params = r#"{"sharded": true, "vindexes": {"l": {"type": "lookup_unique"}}}"#;
        assert!(check(lookup_no_params).unwrap_err().message.contains("needs the param `table`"));
        let reference_vindex = r#"{"sharded": true, "vindexes": {"h": {"type": "hash"}},
            "tables": {"r": {"type": "reference", "column_vindexes": [{"column": "a", "name": "h"}]}}}"#;
        assert!(check(reference_vindex).unwrap_err().message.contains("reference table"));
        let bad_source = r#"{"sharded": true, "tables": {"r": {"type": "reference", "source": "nodot"}}}"#;
        assert!(check(bad_source).unwrap_err().message.contains("keyspace.table"));
        let vindex_unsharded = r#"{"vindexes": {"h": {"type": "hash"}}}"#;
        assert!(check(vindex_unsharded).unwrap_err().message.contains("unsharded"));
    }
}
