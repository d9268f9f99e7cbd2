//! The query path's layers depend one way only (docs/ARCHITECTURE.md, "The query path, as
//! layers"): this reads `crate::` paths out of each layer's source files (outside their
//! `#[cfg(test)]` items and test-only modules) and fails on any dependency the table below does not allow, which
//! also rules out every import cycle between these folders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each layer and the layers it may use.
const ALLOWED: [(&str, &[&str]); 6] = [
    ("frontend", &["planner", "engine", "plan", "routing"]),
    ("planner", &["plan", "routing"]),
    ("engine", &["plan", "routing"]),
    ("backend", &["engine", "plan"]),
    ("routing", &["plan"]),
    ("plan", &[]),
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's code without its `#[cfg(test)]` items (a `mod x;` line, or an item with a body,
/// skipped to its closing brace), and the names of the test-only modules it declares.
fn non_test(text: &str) -> (String, Vec<String>) {
    let mut code = Vec::new();
    let mut test_mods = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            code.push(line);
            continue;
        }
        let Some(item) = lines.next() else { break };
        if item.trim_end().ends_with(';') {
            let decl = item.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            if let Some(name) = decl.strip_prefix("mod ").map(|n| n.trim_end_matches(';').trim()) {
                test_mods.push(name.to_string());
            }
            continue;
        }
        let mut depth = item.matches('{').count() as i64 - item.matches('}').count() as i64;
        while depth > 0 {
            let Some(l) = lines.next() else { break };
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
        }
    }
    (code.join("\n"), test_mods)
}

/// The layers a file's non-test code names (`crate::<layer>`).
fn uses(code: &str, layers: &BTreeSet<&str>) -> BTreeSet<String> {
    // Comments (docs link other layers freely) do not count.
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if layers.contains(name.as_str()) {
            found.insert(name);
        }
    }
    found
}

#[test]
fn layers_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: BTreeSet<&str> = ALLOWED.iter().map(|(l, _)| *l).collect();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (layer, allowed) in ALLOWED {
        let mut files = Vec::new();
        sources(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no sources for layer {layer}");
        let parsed: Vec<_> = files.iter().map(|f| (f, non_test(&std::fs::read_to_string(f).unwrap()))).collect();
        // Files of test-only modules (`#[cfg(test)] mod tests;`) are tests as a whole.
        let test_files: BTreeSet<std::path::PathBuf> =
            parsed.iter().flat_map(|(f, (_, mods))| mods.iter().map(|m| f.with_file_name(format!("{m}.rs")))).collect();
        for (f, (code, _)) in parsed {
            if test_files.contains(f.as_path()) {
                continue;
            }
            for used in uses(&code, &layers) {
                if used != layer && !allowed.contains(&used.as_str()) {
                    wrong.push(format!("{} uses crate::{used}", f.strip_prefix(&src).unwrap().display()));
                }
                graph.entry(layer).or_default().insert(used);
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the layering:\n{}", wrong.join("\n"));
    // The table itself must be acyclic (so the layers are).
    fn visit<'a>(n: &'a str, seen: &mut Vec<&'a str>) {
        assert!(!seen.contains(&n), "cycle through {n}: {seen:?}");
        seen.push(n);
        for (l, allowed) in ALLOWED {
            if l == n {
                for a in allowed {
                    visit(a, seen);
                }
            }
        }
        seen.pop();
    }
    for (l, _) in ALLOWED {
        visit(l, &mut Vec::new());
    }
    eprintln!("layer dependencies: {graph:?}");
}
