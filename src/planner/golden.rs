//! Golden plans: each statement of `testdata/*.txt` planned against a fixed topology, its
//! `explain format=vitess` lines compared with the file. A case is a block of lines: the
//! statement, then `| ` plan lines (or `! errno: message`). `@target <target>` and
//! `@view example|music` set what the next cases plan against. `TESSERA_BLESS=1 cargo test
//! golden` rewrites the files with the planner's current answers (review the diff).

use std::path::Path;

use crate::plan::Target;
use crate::routing::{view_of, RoutingView};

/// commerce (unsharded: products, sequences, lookup tables) and customer (`-80`, `80-`).
fn example() -> RoutingView {
    crate::routing::example_view()
}

/// `main` (unsharded: sequences and the lookup table) and `music` over four shards: `user`
/// and `user_extra` by hash on the user id, `music` by hash on user_id with an owned lookup
/// on `music_id`, `tracks` by xxhash on `track_id`, `events` by numeric on `id`; `genres` a
/// reference table copied from `main`, `countries` one without a source; `visits` by
/// region_experimental on (region, visitor_id), `docs` by multicol on (tenant_id, doc_id).
fn music() -> RoutingView {
    const MAIN: &str = r#"{"tables": {"user_seq": {"type": "sequence"}, "music_seq": {"type": "sequence"},
        "music_lookup": {}, "genres": {}}}"#;
    const MUSIC: &str = r#"{
      "sharded": true,
      "vindexes": {
        "hash": {"type": "hash"},
        "xxhash": {"type": "xxhash"},
        "numeric": {"type": "numeric"},
        "region_vdx": {"type": "region_experimental", "params": {"region_bytes": "1"}},
        "tenant_vdx": {"type": "multicol", "params": {"column_count": "2", "column_bytes": "1,7"}},
        "music_lookup": {"type": "lookup", "params": {"table": "main.music_lookup", "from": "music_id", "to": "keyspace_id"}, "owner": "music"}
      },
      "tables": {
        "user": {"column_vindexes": [{"column": "id", "name": "hash"}], "auto_increment": {"column": "id", "sequence": "main.user_seq"}},
        "user_extra": {"column_vindexes": [{"column": "user_id", "name": "hash"}]},
        "music": {"column_vindexes": [{"column": "user_id", "name": "hash"}, {"column": "music_id", "name": "music_lookup"}],
                  "auto_increment": {"column": "music_id", "sequence": "main.music_seq"}},
        "tracks": {"column_vindexes": [{"column": "track_id", "name": "xxhash"}]},
        "events": {"column_vindexes": [{"column": "id", "name": "numeric"}]},
        "genres": {"type": "reference", "source": "main.genres"},
        "visits": {"column_vindexes": [{"columns": ["region", "visitor_id"], "name": "region_vdx"}]},
        "docs": {"column_vindexes": [{"columns": ["tenant_id", "doc_id"], "name": "tenant_vdx"}]},
        "countries": {"type": "reference"}
      }
    }"#;
    view_of(&[("main", &["0"], MAIN), ("music", &["-40", "40-80", "80-c0", "c0-"], MUSIC)])
}

/// The plan of one statement as the golden files write it.
fn render(sql: &str, target: &Target, view: &RoutingView) -> Vec<String> {
    match super::plan(sql, target, view) {
        Ok(p) => super::explain::render(&p).into_iter().map(|l| format!("| {l}")).collect(),
        Err(e) => vec![format!("! {}: {e}", e.mysql_code().0)],
    }
}

/// Plans every case of one file; returns the file as it should read and the mismatches.
fn check(text: &str) -> (String, Vec<String>, usize) {
    let mut out = String::new();
    let mut wrong = Vec::new();
    let mut cases = 0;
    let mut view = example();
    let mut target = Target::default();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block.lines().collect();
        let mut kept = Vec::new();
        let mut sql: Option<String> = None;
        let mut expected = Vec::new();
        for l in &lines {
            if let Some(v) = l.strip_prefix("@view ") {
                view = if v.trim() == "music" { music() } else { example() };
                kept.push(l.to_string());
            } else if let Some(t) = l.strip_prefix("@target") {
                target = Target::parse(t.trim()).unwrap_or_default();
                kept.push(l.to_string());
            } else if l.starts_with('#') {
                kept.push(l.to_string());
            } else if l.starts_with("| ") || l.starts_with("! ") {
                expected.push(l.to_string());
            } else if !l.trim().is_empty() {
                sql = Some(l.to_string());
                kept.push(l.to_string());
            }
        }
        if let Some(sql) = sql {
            cases += 1;
            let got = render(&sql, &target, &view);
            if got != expected {
                wrong.push(format!(
                    "{sql}\n  expected:\n    {}\n  got:\n    {}",
                    expected.join("\n    "),
                    got.join("\n    ")
                ));
            }
            kept.extend(got);
        }
        if !kept.is_empty() {
            out.push_str(&kept.join("\n"));
            out.push_str("\n\n");
        }
    }
    (out, wrong, cases)
}

#[test]
fn golden_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/planner/testdata");
    let bless = std::env::var("TESSERA_BLESS").is_ok_and(|v| v == "1");
    let mut total = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "txt")) {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (fixed, wrong, cases) = check(&text);
        total += cases;
        if bless {
            std::fs::write(f, fixed.trim_end().to_string() + "\n").unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        } else {
            failures.extend(wrong.into_iter().map(|w| format!("{}: {w}", f.display())));
        }
    }
    assert!(failures.is_empty(), "{} plan(s) differ from the golden files:\n{}", failures.len(), failures.join("\n"));
    assert!(total >= 150, "only {total} golden plans");
}
