//! Table ACLs, as Vitess's: groups of tables, each with the users that may read, write or
//! administer them (`[gateway] table_acl_file`, JSON, re-read when it changes). A statement
//! touching a table outside the user's grants gets MySQL's `1142 ... command denied`.
//!
//! ```json
//! {"table_groups": [
//!   {"name": "orders", "table_names_or_prefixes": ["corder", "order_%"],
//!    "readers": ["report"], "writers": ["app"], "admins": ["dba"]}
//! ]}
//! ```
//! Roles nest: admins may write and read, writers may read. `%` in a user list is everyone. A
//! table no group names is open to all, unless `table_acl_strict` is set.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sqlparser::ast::{FromTable, ObjectName, Statement, TableFactor, TableObject};
use tracing::{info, warn};

/// What a statement does to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    Admin,
}

impl Access {
    /// The command name MySQL's 1142 message uses.
    fn command(self, kw: &str) -> String {
        match (self, kw) {
            (Access::Read, _) => "SELECT".into(),
            (_, kw) if !kw.is_empty() => kw.to_string(),
            (Access::Write, _) => "UPDATE".into(),
            (Access::Admin, _) => "ALTER".into(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    #[serde(default)]
    table_groups: Vec<TableGroup>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TableGroup {
    #[serde(default)]
    name: String,
    table_names_or_prefixes: Vec<String>,
    #[serde(default)]
    readers: Vec<String>,
    #[serde(default)]
    writers: Vec<String>,
    #[serde(default)]
    admins: Vec<String>,
}

/// A parsed ACL.
#[derive(Debug, Clone, Default)]
pub struct TableAcl {
    groups: Vec<TableGroup>,
    strict: bool,
}

impl TableAcl {
    pub fn parse(text: &str, strict: bool) -> Result<TableAcl, String> {
        let f: AclFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for g in &f.table_groups {
            if g.table_names_or_prefixes.iter().any(|t| t.is_empty()) {
                return Err(format!("table group `{}` names an empty table", g.name));
            }
        }
        Ok(TableAcl { groups: f.table_groups, strict })
    }

    /// Whether `user` may do `access` to `table` (`keyspace` is the table's, if known).
    pub fn allows(&self, user: &str, keyspace: Option<&str>, table: &str, access: Access) -> bool {
        let mut named = false;
        for g in &self.groups {
            if !g.table_names_or_prefixes.iter().any(|p| matches(p, keyspace, table)) {
                continue;
            }
            named = true;
            let has = |list: &[String]| list.iter().any(|u| u == user || u == "%");
            let ok = match access {
                Access::Read => has(&g.readers) || has(&g.writers) || has(&g.admins),
                Access::Write => has(&g.writers) || has(&g.admins),
                Access::Admin => has(&g.admins),
            };
            if ok {
                return true;
            }
        }
        !named && !self.strict
    }
}

/// `pattern` (`t`, `prefix%`, `ks.t`, `ks.prefix%`) against a table.
fn matches(pattern: &str, keyspace: Option<&str>, table: &str) -> bool {
    let (ks, name) = match pattern.split_once('.') {
        Some((ks, name)) => (Some(ks), name),
        None => (None, pattern),
    };
    if ks.is_some_and(|ks| Some(ks) != keyspace) {
        return false;
    }
    match name.strip_suffix('%') {
        Some(prefix) => table.starts_with(prefix),
        None => table == name,
    }
}

/// The tables a statement touches and how, or `None` when it cannot tell (unparsable).
pub fn accesses(sql: &str) -> Option<Vec<(Option<String>, String, Access)>> {
    let stmts = crate::sql::parse::parse(sql).ok()?;
    let kw = crate::sql::first_keyword(sql);
    let ddl = matches!(kw.as_str(), "CREATE" | "ALTER" | "DROP" | "TRUNCATE" | "RENAME");
    let mut out: Vec<(Option<String>, String, Access)> = Vec::new();
    let mut written: Vec<ObjectName> = Vec::new();
    let mut administered: Vec<ObjectName> = Vec::new();
    for stmt in &stmts {
        match stmt {
            Statement::AlterTable(a) => administered.push(a.name.clone()),
            Statement::Drop { names, .. } => administered.extend(names.iter().cloned()),
            Statement::CreateTable(c) => administered.push(c.name.clone()),
            Statement::CreateIndex(c) => administered.push(c.table_name.clone()),
            Statement::CreateView(c) => administered.push(c.name.clone()),
            Statement::Truncate(t) => administered.extend(t.table_names.iter().map(|t| t.name.clone())),
            Statement::RenameTable(r) => {
                administered.extend(r.iter().flat_map(|r| [r.old_name.clone(), r.new_name.clone()]))
            }
            Statement::Insert(i) => {
                if let TableObject::TableName(n) = &i.table {
                    written.push(n.clone());
                }
            }
            Statement::Update(u) => {
                written.extend(relation(&u.table.relation));
                written.extend(u.table.joins.iter().filter_map(|j| relation(&j.relation)));
            }
            Statement::Delete(d) => {
                let from = match &d.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
                };
                if d.tables.is_empty() {
                    written.extend(from.iter().filter_map(|t| relation(&t.relation)));
                } else {
                    written.extend(d.tables.iter().cloned());
                }
            }
            _ => {}
        }
    }
    let _ = sqlparser::ast::visit_relations(&stmts, |name| {
        let access = if ddl {
            Access::Admin
        } else if written.contains(name) {
            Access::Write
        } else {
            Access::Read
        };
        out.push(split(name, access));
        std::ops::ControlFlow::<()>::Continue(())
    });
    for (names, access) in [(&written, Access::Write), (&administered, Access::Admin)] {
        for n in names {
            let w = split(n, access);
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

fn relation(f: &TableFactor) -> Option<ObjectName> {
    match f {
        TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    }
}

fn split(name: &ObjectName, access: Access) -> (Option<String>, String, Access) {
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('`').to_string()).collect();
    match parts.as_slice() {
        [.., ks, t] => (Some(ks.clone()), t.clone(), access),
        [t] => (None, t.clone(), access),
        [] => (None, String::new(), access),
    }
}

/// The 1142 refusal of a statement by `user`@`host`, if the ACL refuses it. `keyspace` is the
/// session's, for unqualified tables.
pub fn check(acl: &TableAcl, sql: &str, user: &str, host: &str, keyspace: Option<&str>) -> Result<(), String> {
    let kw = crate::sql::first_keyword(sql);
    let Some(list) = accesses(sql) else {
        if matches!(
            kw.as_str(),
            "SELECT"
                | "WITH"
                | "INSERT"
                | "REPLACE"
                | "UPDATE"
                | "DELETE"
                | "CREATE"
                | "ALTER"
                | "DROP"
                | "TRUNCATE"
                | "RENAME"
                | "LOAD"
        ) {
            return Err(format!(
                "{kw} command denied to user '{user}'@'{host}': the table ACL is on and tessera cannot tell which tables this statement uses"
            ));
        }
        return Ok(());
    };
    for (ks, table, access) in list {
        let ks = ks.as_deref().or(keyspace);
        if !acl.allows(user, ks, &table, access) {
            let cmd = access.command(if access == Access::Read { "" } else { kw.as_str() });
            return Err(format!("{cmd} command denied to user '{user}'@'{host}' for table '{table}'"));
        }
    }
    Ok(())
}

/// The ACL of a gateway, re-read from its file when the file changes (checked every second);
/// a file that no longer parses keeps the last good ACL, with an error in the log.
#[derive(Debug, Default)]
pub struct AclSource {
    current: RwLock<Option<Arc<TableAcl>>>,
}

impl AclSource {
    /// No ACL: every table open to every user.
    pub fn none() -> Arc<AclSource> {
        Arc::new(AclSource::default())
    }

    /// Loads `path` (an error if it cannot be read or parsed) and follows its changes.
    pub fn from_file(path: &str, strict: bool) -> Result<Arc<AclSource>, String> {
        let path = PathBuf::from(path);
        let read = move |p: &PathBuf| -> Result<(TableAcl, Option<SystemTime>), String> {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("cannot read the table ACL {}: {e}", p.display()))?;
            let acl =
                TableAcl::parse(&text, strict).map_err(|e| format!("the table ACL {} is invalid: {e}", p.display()))?;
            Ok((acl, std::fs::metadata(p).and_then(|m| m.modified()).ok()))
        };
        let (acl, mut seen) = read(&path)?;
        let src = Arc::new(AclSource { current: RwLock::new(Some(Arc::new(acl))) });
        let weak = Arc::downgrade(&src);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(src) = weak.upgrade() else { return };
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                if modified == seen {
                    continue;
                }
                seen = modified;
                match read(&path) {
                    Ok((acl, _)) => {
                        *src.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(acl));
                        info!(file = %path.display(), "table ACL reloaded");
                    }
                    Err(e) => warn!(error = %e, "keeping the previous table ACL"),
                }
            }
        });
        Ok(src)
    }

    pub fn get(&self) -> Option<Arc<TableAcl>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"table_groups": [
        {"name": "orders", "table_names_or_prefixes": ["corder", "order_%"], "readers": ["report"], "writers": ["app"], "admins": ["dba"]},
        {"name": "open", "table_names_or_prefixes": ["product"], "readers": ["%"]}
    ]}"#;

    #[test]
    fn roles_nest_and_unnamed_tables_follow_strictness() {
        let acl = TableAcl::parse(FILE, false).unwrap();
        assert!(acl.allows("report", None, "corder", Access::Read));
        assert!(!acl.allows("report", None, "corder", Access::Write));
        assert!(acl.allows("app", None, "order_items", Access::Read));
        assert!(!acl.allows("app", None, "order_items", Access::Admin));
        assert!(acl.allows("dba", None, "corder", Access::Admin));
        assert!(acl.allows("anyone", None, "product", Access::Read));
        assert!(!acl.allows("anyone", None, "product", Access::Write));
        assert!(acl.allows("anyone", None, "customer", Access::Write), "not named: open");
        assert!(!TableAcl::parse(FILE, true).unwrap().allows("anyone", None, "customer", Access::Read), "strict");
        assert!(TableAcl::parse(r#"{"groups": []}"#, false).is_err(), "unknown fields are refused");
    }

    #[test]
    fn statements_name_their_tables_and_how() {
        let a = accesses("insert into corder select * from customer.customer").unwrap();
        assert!(a.contains(&(None, "corder".into(), Access::Write)), "{a:?}");
        assert!(a.contains(&(Some("customer".into()), "customer".into(), Access::Read)), "{a:?}");
        let a = accesses("update corder set price = 1 where customer_id in (select id from vip)").unwrap();
        assert!(a.contains(&(None, "corder".into(), Access::Write)) && a.contains(&(None, "vip".into(), Access::Read)));
        let a = accesses("delete from corder where order_id = 1").unwrap();
        assert_eq!(a, vec![(None, "corder".into(), Access::Write)]);
        let a = accesses("alter table corder add column x int").unwrap();
        assert_eq!(a, vec![(None, "corder".into(), Access::Admin)]);
        let a = accesses("drop table corder").unwrap();
        assert_eq!(a, vec![(None, "corder".into(), Access::Admin)]);
    }

    #[test]
    fn refusals_read_like_mysql() {
        let acl = TableAcl::parse(FILE, false).unwrap();
        let e = check(&acl, "select * from corder", "app2", "10.0.0.1", Some("customer")).unwrap_err();
        assert_eq!(e, "SELECT command denied to user 'app2'@'10.0.0.1' for table 'corder'");
        let e = check(&acl, "delete from corder", "report", "h", None).unwrap_err();
        assert!(e.starts_with("DELETE command denied"), "{e}");
        assert!(check(&acl, "select * from corder", "report", "h", None).is_ok());
        assert!(check(&acl, "set autocommit = 1", "report", "h", None).is_ok());
    }
}
