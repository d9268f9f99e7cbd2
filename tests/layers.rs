//! The query path's layers depend one way only (docs/ARCHITECTURE.md, "The query path, as
//! layers"): this reads `crate::` paths out of each layer's source files (outside their
//! `#[cfg(test)]` parts) and fails on any dependency the table below does not allow, which
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

/// The layers a file's non-test code names (`crate::<layer>`).
fn uses(text: &str, layers: &BTreeSet<&str>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
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
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for used in uses(&text, &layers) {
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
