//! Routing rules as users write them, in Vitess's JSON: `ApplyRoutingRules` (where a table is
//! served) and `ApplyKeyspaceRoutingRules` (where every table of a keyspace is served), each
//! `from` optionally suffixed `@replica`/`@rdonly` for reads of that tablet type. Parsed
//! strictly (unknown fields refused) and checked against the topology.

use serde::Deserialize;

use crate::protocol::topology::TabletType;
use crate::protocol::workflow::{KeyspaceRoutingRule, RoutingRule};
use crate::topo::state::Topology;
use crate::topo::TopoError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules<T> {
    #[serde(default = "Vec::new")]
    rules: Vec<T>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableRule {
    from_table: String,
    to_tables: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyspaceRule {
    from_keyspace: String,
    to_keyspace: String,
}

fn invalid(m: String) -> TopoError {
    TopoError::Invalid(m)
}

/// `name[@type]`: the name and the tablet type (primary when none is given).
fn with_type(from: &str) -> Result<(&str, TabletType), TopoError> {
    match from.split_once('@') {
        None => Ok((from, TabletType::Primary)),
        Some((name, t)) => {
            let tt = t.parse::<TabletType>().map_err(|e| invalid(format!("routing rule `{from}`: {e}")))?;
            Ok((name, tt))
        }
    }
}

fn keyspace_exists(topo: &Topology, ks: &str, rule: &str) -> Result<(), TopoError> {
    match topo.keyspaces.contains_key(ks) {
        true => Ok(()),
        false => Err(invalid(format!("routing rule `{rule}` sends to keyspace `{ks}`, which does not exist"))),
    }
}

/// Table routing rules: `{"rules": [{"from_table": "[ks.]t[@type]", "to_tables": ["ks2.t"]}]}`.
/// A rule sends a table to another keyspace under the same name (tessera does not rename).
pub fn parse_table_rules(json: &str, topo: &Topology) -> Result<Vec<RoutingRule>, TopoError> {
    let parsed: Rules<TableRule> =
        serde_json::from_str(json).map_err(|e| invalid(format!("routing rules JSON: {e}")))?;
    let mut out = Vec::with_capacity(parsed.rules.len());
    for r in parsed.rules {
        let (from, tablet_type) = with_type(&r.from_table)?;
        let table = from.rsplit('.').next().unwrap_or(from);
        let [to] = r.to_tables.as_slice() else {
            return Err(invalid(format!(
                "routing rule `{}` lists {} tables in to_tables; give exactly one `keyspace.table`",
                r.from_table,
                r.to_tables.len()
            )));
        };
        let Some((to_ks, to_table)) = to.split_once('.') else {
            return Err(invalid(format!("routing rule `{}`: `{to}` must be `keyspace.table`", r.from_table)));
        };
        if to_table != table {
            return Err(invalid(format!(
                "routing rule `{}` renames the table to `{to_table}`; tessera routes a table to another keyspace under its own name",
                r.from_table
            )));
        }
        keyspace_exists(topo, to_ks, &r.from_table)?;
        out.push(RoutingRule { from: from.to_string(), tablet_type, to_keyspace: to_ks.to_string() });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Keyspace routing rules: `{"rules": [{"from_keyspace": "ks[@type]", "to_keyspace": "ks2"}]}`.
pub fn parse_keyspace_rules(json: &str, topo: &Topology) -> Result<Vec<KeyspaceRoutingRule>, TopoError> {
    let parsed: Rules<KeyspaceRule> =
        serde_json::from_str(json).map_err(|e| invalid(format!("keyspace routing rules JSON: {e}")))?;
    let mut out = Vec::with_capacity(parsed.rules.len());
    for r in parsed.rules {
        let (from, tablet_type) = with_type(&r.from_keyspace)?;
        if from == r.to_keyspace {
            return Err(invalid(format!("keyspace routing rule `{}` sends a keyspace to itself", r.from_keyspace)));
        }
        keyspace_exists(topo, &r.to_keyspace, &r.from_keyspace)?;
        out.push(KeyspaceRoutingRule { from_keyspace: from.to_string(), tablet_type, to_keyspace: r.to_keyspace });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Table rules in Vitess's JSON, as `GetRoutingRules` prints them.
pub fn table_rules_json(rules: &[RoutingRule]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let table = r.from.rsplit('.').next().unwrap_or(&r.from);
            serde_json::json!({"from_table": suffixed(&r.from, r.tablet_type), "to_tables": [format!("{}.{table}", r.to_keyspace)]})
        })
        .collect();
    serde_json::json!({ "rules": rules })
}

/// Keyspace rules in Vitess's JSON.
pub fn keyspace_rules_json(rules: &[KeyspaceRoutingRule]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| serde_json::json!({"from_keyspace": suffixed(&r.from_keyspace, r.tablet_type), "to_keyspace": r.to_keyspace}))
        .collect();
    serde_json::json!({ "rules": rules })
}

fn suffixed(name: &str, tt: TabletType) -> String {
    match tt {
        TabletType::Primary => name.to_string(),
        other => format!("{name}@{}", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        let mut t = Topology::default();
        for ks in ["commerce", "customer"] {
            t.keyspaces.insert(ks.into(), crate::topo::state::Keyspace { name: ks.into(), ..Default::default() });
        }
        t
    }

    #[test]
    fn table_rules_parse_with_tablet_types_and_print_back() {
        let json = r#"{"rules": [
            {"from_table": "customer", "to_tables": ["commerce.customer"]},
            {"from_table": "commerce.customer@replica", "to_tables": ["customer.customer"]}]}"#;
        let rules = parse_table_rules(json, &topo()).unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules.contains(&RoutingRule {
            from: "commerce.customer".into(),
            tablet_type: TabletType::Replica,
            to_keyspace: "customer".into()
        }));
        let back = table_rules_json(&rules).to_string();
        assert_eq!(parse_table_rules(&back, &topo()).unwrap(), rules);
    }

    #[test]
    fn keyspace_rules_parse_and_bad_ones_say_why() {
        let rules =
            parse_keyspace_rules(r#"{"rules": [{"from_keyspace": "old@rdonly", "to_keyspace": "customer"}]}"#, &topo())
                .unwrap();
        assert_eq!(
            rules,
            vec![KeyspaceRoutingRule {
                from_keyspace: "old".into(),
                tablet_type: TabletType::Rdonly,
                to_keyspace: "customer".into()
            }]
        );
        assert_eq!(parse_keyspace_rules(&keyspace_rules_json(&rules).to_string(), &topo()).unwrap(), rules);
        let t = topo();
        let bad = |json: &str| parse_keyspace_rules(json, &t).unwrap_err().to_string();
        assert!(bad(r#"{"rules": [{"from_keyspace": "a", "to_keyspace": "nope"}]}"#)
            .contains("`nope`, which does not exist"));
        assert!(bad(r#"{"rules": [{"from_keyspace": "a@nope", "to_keyspace": "customer"}]}"#).contains("a@nope"));
        assert!(bad(r#"{"rulez": []}"#).contains("unknown field"));
        let bad = |json: &str| parse_table_rules(json, &t).unwrap_err().to_string();
        assert!(bad(r#"{"rules": [{"from_table": "t", "to_tables": ["customer.u"]}]}"#).contains("renames"));
        assert!(bad(r#"{"rules": [{"from_table": "t", "to_tables": ["a.t", "b.t"]}]}"#).contains("exactly one"));
        assert!(parse_table_rules(r#"{"rules": []}"#, &t).unwrap().is_empty());
    }
}
