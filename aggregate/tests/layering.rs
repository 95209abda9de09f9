//! The crate's modules form layers, and imports only point down (issue #19): a module may
//! name (`crate::module`) only modules of a lower layer. Test modules are exempt (they build
//! aggregators to test a concern through the protocol).

use std::collections::BTreeMap;
use std::path::Path;

/// Every module, by layer, the top first: the calling sequence, the concerns (pods below the
/// concerns that take its days), what they share, the leaves.
const LAYERS: &[&[&str]] = &[
    &["lib"],
    &["testing"],
    &["scan"],
    &["aggregator"],
    &["finished", "storage", "unallocated"],
    &["pods"],
    &["labels"],
    &["roles"],
    &["interner"],
    &["order", "input"],
    &["output"],
    &["config"],
    &["strings", "units"],
    &["exact", "groups", "like", "schema"],
    &["error"],
];

fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut layers = BTreeMap::new();
    for (i, modules) in LAYERS.iter().enumerate() {
        for m in *modules {
            layers.insert(*m, LAYERS.len() - i);
        }
    }
    layers
}

/// The `crate::name` paths in the code of `source` (comments and the test module left out).
fn crate_paths(source: &str) -> Vec<String> {
    let code = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut names = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

#[test]
fn imports_point_only_down() {
    let layers = layer_of();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_str().unwrap().to_string();
        let Some(&layer) = layers.get(module.as_str()) else {
            panic!("{}: a module of no layer; add it to LAYERS", path.display());
        };
        seen.push(module.clone());
        for name in crate_paths(&std::fs::read_to_string(&path).unwrap()) {
            match layers.get(name.as_str()) {
                Some(&to) if to < layer => {}
                Some(_) => wrong.push(format!("{module} imports {name}, not below it")),
                None => wrong.push(format!(
                    "{module} names crate::{name}: name its module, not a re-export"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(seen.len(), layers.len(), "every layered module exists");
}

#[test]
fn the_check_sees_an_upward_import() {
    let source = "use crate::error::Result;\nuse crate::aggregator::Aggregator;\n// crate::pods\n#[cfg(test)]\nmod tests {\n    use crate::testing::x;\n}\n";
    assert_eq!(crate_paths(source), ["error", "aggregator"]);
}
