//! Schema changes: which statements `ApplySchema` accepts, and whether they apply.
//!
//! Statements are split on `;` (outside quotes and comments), each parsed with sqlparser's
//! MySQL dialect to learn what it does, and sent to MySQL as the user wrote it. Before anything
//! runs, every statement is checked against every shard's current tables in order (a CREATE
//! then an ALTER of the same table is fine), so a batch either passes everywhere or runs
//! nowhere.

use std::collections::BTreeMap;

use sqlparser::ast::{ObjectName, ObjectType, Statement};

/// What a DDL statement does to the set of tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlOp {
    CreateTable { name: String, if_not_exists: bool },
    AlterTable { name: String, if_exists: bool },
    DropTables { names: Vec<String>, if_exists: bool },
    CreateView { name: String, or_replace: bool },
    DropViews { names: Vec<String>, if_exists: bool },
    Rename { pairs: Vec<(String, String)> },
    Truncate { names: Vec<String> },
}

/// One statement: its text, as given, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ddl {
    pub sql: String,
    pub op: DdlOp,
}

/// A table as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub is_view: bool,
    pub rows: u64,
}

/// Splits `sql` into statements and accepts only DDL on tables and views of `keyspace`.
pub fn parse(sql: &str, keyspace: &str) -> Result<Vec<Ddl>, String> {
    let mut out = Vec::new();
    for (i, text) in split_statements(sql).into_iter().enumerate() {
        let n = i + 1;
        let stmts = crate::sql::parse::parse(&text).map_err(|e| format!("statement {n}: {e}"))?;
        let [stmt] = stmts.as_slice() else {
            return Err(format!("statement {n}: expected one statement"));
        };
        let name = |o: &ObjectName| table_name(o, keyspace).map_err(|e| format!("statement {n}: {e}"));
        let op = match stmt {
            Statement::CreateTable(c) => DdlOp::CreateTable { name: name(&c.name)?, if_not_exists: c.if_not_exists },
            Statement::AlterTable(a) => DdlOp::AlterTable { name: name(&a.name)?, if_exists: a.if_exists },
            Statement::Drop { object_type: ObjectType::Table, if_exists, names, .. } => {
                DdlOp::DropTables { names: names.iter().map(name).collect::<Result<_, _>>()?, if_exists: *if_exists }
            }
            Statement::Drop { object_type: ObjectType::View, if_exists, names, .. } => {
                DdlOp::DropViews { names: names.iter().map(name).collect::<Result<_, _>>()?, if_exists: *if_exists }
            }
            Statement::CreateView(v) => DdlOp::CreateView { name: name(&v.name)?, or_replace: v.or_replace },
            Statement::RenameTable(pairs) => DdlOp::Rename {
                pairs: pairs
                    .iter()
                    .map(|p| Ok((name(&p.old_name)?, name(&p.new_name)?)))
                    .collect::<Result<_, String>>()?,
            },
            Statement::Truncate(t) => {
                DdlOp::Truncate { names: t.table_names.iter().map(|t| name(&t.name)).collect::<Result<_, _>>()? }
            }
            other => {
                let kind = other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                return Err(format!(
                    "statement {n} (`{kind} ...`) is not DDL: ApplySchema accepts CREATE/ALTER/DROP/RENAME/TRUNCATE TABLE \
                     and CREATE/DROP VIEW; run data changes through the gateway"
                ));
            }
        };
        out.push(Ddl { sql: text, op });
    }
    if out.is_empty() {
        return Err("no statement given".into());
    }
    Ok(out)
}

fn table_name(o: &ObjectName, keyspace: &str) -> Result<String, String> {
    let parts: Vec<String> = o.0.iter().map(|p| p.to_string().trim_matches('`').to_string()).collect();
    match parts.as_slice() {
        [t] => Ok(t.clone()),
        [db, t] if db == keyspace => Ok(t.clone()),
        _ => Err(format!("`{o}` names another database; ApplySchema works in keyspace `{keyspace}`")),
    }
}

/// Checks the statements in order against `tables`; returns every problem found.
/// `large` is the row count above which an ALTER needs `allow_large`.
pub fn check(ddls: &[Ddl], tables: &BTreeMap<String, TableInfo>, large: u64, allow_large: bool) -> Vec<String> {
    let mut t = tables.clone();
    let mut problems = Vec::new();
    for (i, d) in ddls.iter().enumerate() {
        let n = i + 1;
        match &d.op {
            DdlOp::CreateTable { name, if_not_exists } => {
                if t.contains_key(name) && !if_not_exists {
                    problems.push(format!("statement {n}: table `{name}` already exists (use IF NOT EXISTS)"));
                }
                t.entry(name.clone()).or_insert(TableInfo { is_view: false, rows: 0 });
            }
            DdlOp::AlterTable { name, if_exists } => match t.get(name) {
                None if !if_exists => problems.push(format!("statement {n}: ALTER of table `{name}`, which does not exist")),
                Some(info) if info.rows > large && !allow_large => problems.push(format!(
                    "statement {n}: `{name}` has about {} rows, above the limit of {large} for ALTER; pass --allow-large to run it anyway",
                    info.rows
                )),
                _ => {}
            },
            DdlOp::DropTables { names, if_exists } | DdlOp::DropViews { names, if_exists } => {
                for name in names {
                    if t.remove(name).is_none() && !if_exists {
                        problems.push(format!("statement {n}: DROP of `{name}`, which does not exist (use IF EXISTS)"));
                    }
                }
            }
            DdlOp::CreateView { name, or_replace } => {
                if t.contains_key(name) && !or_replace {
                    problems.push(format!("statement {n}: `{name}` already exists (use CREATE OR REPLACE VIEW)"));
                }
                t.insert(name.clone(), TableInfo { is_view: true, rows: 0 });
            }
            DdlOp::Rename { pairs } => {
                for (from, to) in pairs {
                    match t.remove(from) {
                        None => problems.push(format!("statement {n}: RENAME of `{from}`, which does not exist")),
                        Some(info) => {
                            if t.contains_key(to) {
                                problems.push(format!("statement {n}: RENAME to `{to}`, which already exists"));
                            }
                            t.insert(to.clone(), info);
                        }
                    }
                }
            }
            DdlOp::Truncate { names } => {
                for name in names {
                    if !t.contains_key(name) {
                        problems.push(format!("statement {n}: TRUNCATE of `{name}`, which does not exist"));
                    }
                }
            }
        }
    }
    problems
}

/// Splits on `;` outside quotes and comments; drops empty statements.
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in crate::sql::code_offsets(sql).filter(|i| b[*i] == b';') {
        out.push(sql[start..i].to_string());
        start = i + 1;
    }
    out.push(sql[start..].to_string());
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !crate::sql::skip_noise(s).is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(list: &[(&str, u64)]) -> BTreeMap<String, TableInfo> {
        list.iter().map(|(n, r)| (n.to_string(), TableInfo { is_view: false, rows: *r })).collect()
    }

    #[test]
    fn splits_and_classifies() {
        let ddl = parse(
            "create table t (id int primary key, s varchar(10) default ';'); -- a;comment\n\
             alter table t add column c int; drop table if exists x, y; create view v as select 1;\n\
             rename table t to t2; truncate table t2; drop view v",
            "ks",
        )
        .unwrap();
        assert_eq!(ddl.len(), 7);
        assert_eq!(ddl[0].op, DdlOp::CreateTable { name: "t".into(), if_not_exists: false });
        assert!(ddl[0].sql.contains("default ';'"));
        assert_eq!(ddl[2].op, DdlOp::DropTables { names: vec!["x".into(), "y".into()], if_exists: true });
        assert_eq!(ddl[4].op, DdlOp::Rename { pairs: vec![("t".into(), "t2".into())] });
        assert!(check(&ddl, &tables(&[]), 100, false).is_empty());
    }

    #[test]
    fn refuses_dml_and_garbage() {
        assert!(parse("insert into t values (1)", "ks").unwrap_err().contains("not DDL"));
        assert!(parse("create table t (", "ks").unwrap_err().starts_with("statement 1"));
        assert!(parse("create table a (x int); delete from a", "ks").unwrap_err().starts_with("statement 2"));
        assert!(parse("  ;  ", "ks").unwrap_err().contains("no statement"));
        assert!(parse("create table other.t (x int)", "ks").unwrap_err().contains("another database"));
        assert!(parse("create table ks.t (x int)", "ks").is_ok());
    }

    #[test]
    fn checks_against_existing_tables() {
        let existing = tables(&[("big", 5000), ("t", 1)]);
        let check_one = |sql: &str, allow| check(&parse(sql, "ks").unwrap(), &existing, 1000, allow);
        assert!(check_one("alter table missing add c int", false)[0].contains("does not exist"));
        assert!(check_one("alter table if exists missing add c int", false).is_empty());
        assert!(check_one("drop table missing", false)[0].contains("IF EXISTS"));
        assert!(check_one("create table t (a int)", false)[0].contains("already exists"));
        assert!(check_one("create table if not exists t (a int)", false).is_empty());
        assert!(check_one("alter table big add c int", false)[0].contains("--allow-large"));
        assert!(check_one("alter table big add c int", true).is_empty());
        assert!(check_one("create table n (a int); alter table n add b int", false).is_empty());
        assert!(check_one("drop table t; alter table t add b int", false)[0].contains("statement 2"));
    }
}
