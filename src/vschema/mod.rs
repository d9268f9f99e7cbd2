//! The VSchema: Vitess's JSON format, parsed strictly and validated.
//!
//! `ApplyVSchema` takes the JSON a Vitess user already has. Field names are Vitess's
//! (`column_vindexes`, `auto_increment`, ...; the camelCase spelling protojson also accepts is
//! read too). Unknown fields are refused, so a typo is an error rather than a silently ignored
//! setting.

mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use validate::{parse_and_validate, SequenceResolver, VSchemaError};

/// The VSchema of one keyspace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyspaceVSchema {
    #[serde(default, skip_serializing_if = "is_false")]
    pub sharded: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vindexes: BTreeMap<String, VindexDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, TableDef>,
    #[serde(default, skip_serializing_if = "is_false", alias = "requireExplicitRouting")]
    pub require_explicit_routing: bool,
    #[serde(default, skip_serializing_if = "String::is_empty", alias = "foreignKeyMode")]
    pub foreign_key_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "multiTenantSpec")]
    pub multi_tenant_spec: Option<MultiTenantSpec>,
}

/// A named vindex: its type, parameters and (for lookup vindexes) owner table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VindexDef {
    #[serde(rename = "type")]
    pub vindex_type: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// A table's routing: its type, column vindexes (the first is the primary vindex) and sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// `""` (normal), `sequence` or `reference`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub table_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "columnVindexes")]
    pub column_vindexes: Vec<ColumnVindex>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "autoIncrement")]
    pub auto_increment: Option<AutoIncrement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnDef>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pinned: String,
    #[serde(default, skip_serializing_if = "is_false", alias = "columnListAuthoritative")]
    pub column_list_authoritative: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// One column vindex of a table: a vindex name applied to one column or several.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnVindex {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub column: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    pub name: String,
}

impl ColumnVindex {
    /// The columns this vindex reads, whichever spelling the JSON used.
    pub fn column_list(&self) -> Vec<&str> {
        if self.column.is_empty() {
            self.columns.iter().map(String::as_str).collect()
        } else {
            vec![self.column.as_str()]
        }
    }
}

/// Where an auto-increment column's values come from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoIncrement {
    pub column: String,
    /// The sequence table, optionally qualified: `seq` or `commerce.seq`.
    pub sequence: String,
}

/// A declared column, as Vitess's VSchema describes it (used when the column list is
/// authoritative; kept and shown as given).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub column_type: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub invisible: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
    #[serde(default, skip_serializing_if = "String::is_empty", alias = "collationName")]
    pub collation_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    /// The values of an ENUM or SET column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Vitess's multi-tenant keyspace description (accepted and kept).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTenantSpec {
    #[serde(default, alias = "tenantIdColumnName")]
    pub tenant_id_column_name: String,
    #[serde(default, alias = "tenantIdColumnType")]
    pub tenant_id_column_type: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What tessera knows about a vindex type: whether it is unique, whether it is a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VindexKind {
    pub name: &'static str,
    pub unique: bool,
    pub lookup: bool,
}

/// The vindex types tessera implements (a subset of Vitess's, byte-identical where present).
pub const SUPPORTED_VINDEXES: &[VindexKind] = &[
    VindexKind { name: "hash", unique: true, lookup: false },
    VindexKind { name: "xxhash", unique: true, lookup: false },
    VindexKind { name: "numeric", unique: true, lookup: false },
    VindexKind { name: "binary", unique: true, lookup: false },
    VindexKind { name: "binary_md5", unique: true, lookup: false },
    VindexKind { name: "reverse_bits", unique: true, lookup: false },
    VindexKind { name: "null", unique: true, lookup: false },
    VindexKind { name: "unicode_loose_md5", unique: true, lookup: false },
    VindexKind { name: "unicode_loose_xxhash", unique: true, lookup: false },
    VindexKind { name: "multicol", unique: true, lookup: false },
    VindexKind { name: "region_experimental", unique: true, lookup: false },
    VindexKind { name: "region_json", unique: true, lookup: false },
    VindexKind { name: "lookup", unique: false, lookup: true },
    VindexKind { name: "lookup_unique", unique: true, lookup: true },
    VindexKind { name: "lookup_hash", unique: false, lookup: true },
    VindexKind { name: "lookup_hash_unique", unique: true, lookup: true },
    VindexKind { name: "consistent_lookup", unique: false, lookup: true },
    VindexKind { name: "consistent_lookup_unique", unique: true, lookup: true },
];

/// Vitess vindex types that tessera recognises but does not implement.
pub const UNSUPPORTED_VITESS_VINDEXES: &[&str] =
    &["numeric_static_map", "cfc", "lookup_unicodeloosemd5_hash", "lookup_unicodeloosemd5_hash_unique"];

/// Looks up a supported vindex type by name.
pub fn vindex_kind(name: &str) -> Option<VindexKind> {
    SUPPORTED_VINDEXES.iter().copied().find(|k| k.name == name)
}
