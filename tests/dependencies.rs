//! Every crate of the workspace uses each of its normal dependencies: an unused one costs
//! build time on every machine and hides what a crate really depends on. A dependency counts as
//! used when its library name appears in the crate's sources (`name::`, `use name`).

use std::path::Path;

fn sources(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

#[test]
fn no_crate_lists_a_dependency_it_does_not_use() {
    let root: toml::Table = toml::from_str(include_str!("../Cargo.toml")).expect("workspace manifest");
    let members = root["workspace"]["members"].as_array().expect("members").clone();
    let mut crates: Vec<String> = members.iter().filter_map(|m| m.as_str().map(String::from)).collect();
    crates.push(".".into());
    let mut unused = Vec::new();
    for dir in &crates {
        let dir = Path::new(dir);
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("crate manifest");
        let manifest: toml::Table = toml::from_str(&text).expect("crate manifest parses");
        let Some(deps) = manifest.get("dependencies").and_then(|d| d.as_table()) else { continue };
        let mut code = String::new();
        sources(&dir.join("src"), &mut code);
        for name in deps.keys() {
            let lib = name.replace('-', "_");
            if !(code.contains(&format!("{lib}::")) || code.contains(&format!("use {lib}"))) {
                unused.push(format!("{}: {name}", dir.display()));
            }
        }
    }
    assert!(unused.is_empty(), "dependencies never used: {unused:?}");
}

/// The product binary is built from the product's crates only: the lab depends on it, never
/// the other way round.
#[test]
fn the_binary_does_not_depend_on_the_lab() {
    let root: toml::Table = toml::from_str(include_str!("../Cargo.toml")).expect("workspace manifest");
    let deps = root["dependencies"].as_table().expect("the binary's dependencies");
    assert!(!deps.contains_key("dalal-benches"), "{:?}", deps.keys().collect::<Vec<_>>());
}
