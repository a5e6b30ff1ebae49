//! What the published crates hold, checked against the workspace they are
//! made from (`cargo package` itself runs in `scripts/test`, step
//! "package"):
//!
//! - the scripts the hub serves are copies of `js/`;
//! - every published crate carries the workspace's license files;
//! - every published crate's `rust-version` is true of its dependencies.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The scripts the hub serves (`GET /ssehub.js`, `GET /ssehub-htmx.js`)
/// are compiled in from `assets/`, inside this crate, so that the published
/// package holds them; `js/` at the workspace root stays their source (the
/// JS tests run there). The copies must equal it byte for byte.
#[test]
fn the_served_scripts_are_the_files_of_js() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let js = workspace().join("js");
    for file in ["ssehub.js", "ssehub-htmx.js"] {
        let source = std::fs::read(js.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", js.join(file).display()));
        let copy = std::fs::read(crate_dir.join("assets").join(file)).unwrap();
        assert!(
            copy == source,
            "crates/ssehub-server/assets/{file} differs from js/{file}; \
             after changing js/, run: cp js/{file} crates/ssehub-server/assets/"
        );
    }
}

/// The cargo that runs the tests (`CARGO`), else the one on the `PATH`.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The workspace members that are published (no `publish = false`).
fn published(metadata: &Value) -> Vec<&Value> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let published: Vec<&Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()) && p["publish"].is_null())
        .collect();
    let names: Vec<&str> = published
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        6,
        "expected the six published crates, found {names:?}"
    );
    published
}

fn metadata() -> Value {
    serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--locked"])).unwrap()
}

/// Each published crate holds `LICENSE-MIT` and `LICENSE-APACHE`, equal to
/// the workspace root's (copies, not symlinks, which `cargo package` does
/// not reliably follow).
#[test]
fn every_published_crate_holds_the_license_files() {
    let metadata = metadata();
    for package in published(&metadata) {
        let dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap();
        assert_eq!(package["license"], "MIT OR Apache-2.0", "{}", dir.display());
        for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
            let root = std::fs::read(workspace().join(file)).unwrap();
            let copy = std::fs::read(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            assert!(
                copy == root,
                "{} differs from the workspace's {file}",
                dir.join(file).display()
            );
        }
    }
}

/// `1.85`, `1.89.0` as comparable numbers.
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap());
    let major = parts.next().unwrap();
    (major, parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The highest `rust-version` among the packages that `package` builds
/// with `features` (and its default ones), normal and build dependencies on
/// every target (wasm32 and Windows too): what `cargo tree` resolves from
/// Cargo.lock for that package alone. Returns it with the package that
/// declares it.
fn floor(
    package: &str,
    features: &[&str],
    declared: &HashMap<(String, String), String>,
) -> Option<((u64, u64, u64), String)> {
    let features = features.join(",");
    let mut args = vec![
        "tree",
        "--locked",
        "-p",
        package,
        "-e",
        "normal,build",
        "--target",
        "all",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    cargo(&args)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.trim_start_matches('v');
            if name == package {
                return None;
            }
            let rust = declared.get(&(name.to_owned(), version.to_owned()))?;
            Some((
                self::version(rust),
                format!("{name} {version} (rust-version {rust})"),
            ))
        })
        .max()
}

/// A published crate's `rust-version` must be at least the `rust-version`
/// of every package it builds, so that an older Rust fails with cargo's
/// clear "requires rustc X" on our crate, never deep inside a dependency;
/// this test fails when a dependency's update (Cargo.lock) or a new
/// dependency raises the floor.
///
/// Decision on optional features: a crate's `rust-version` covers its
/// default features and every optional feature, except those listed under
/// `[package.metadata.ssehub.feature-rust-version]` in its Cargo.toml
/// (today `ssehub`'s `actix`, 1.89, and `salvo`, 1.95: those frameworks
/// need a newer Rust than the hub, and raising `ssehub`'s own
/// `rust-version` to 1.95 would raise it for every user and every crate
/// that depends on it, `ssehub-redis` and `ssehub-server` included, which do
/// not use them). For each listed feature the test checks the listed
/// version against that feature's floor, and that the crate's README states
/// it in its feature table; the README also names the crate's own
/// `rust-version`. With every feature, the floor is thus the highest of the
/// declared and listed versions.
#[test]
fn rust_versions_cover_the_dependencies() {
    let metadata = metadata();
    let declared: HashMap<(String, String), String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let rust = p["rust_version"].as_str()?;
            Some((
                (
                    p["name"].as_str()?.to_owned(),
                    p["version"].as_str()?.to_owned(),
                ),
                rust.to_owned(),
            ))
        })
        .collect();
    let mut wrong = Vec::new();
    for package in published(&metadata) {
        let name = package["name"].as_str().unwrap();
        let rust = package["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} declares no rust-version"));
        let listed: BTreeMap<&str, &str> = package["metadata"]["ssehub"]["feature-rust-version"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(f, v)| (f.as_str(), v.as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let features: Vec<&str> = package["features"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|f| *f != "default" && !listed.contains_key(f))
            .collect();
        let dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        if !readme.contains(rust) {
            wrong.push(format!(
                "{name}: README.md does not state its rust-version {rust}"
            ));
        }
        if let Some((needed, by)) = floor(name, &features, &declared) {
            if version(rust) < needed {
                wrong.push(format!(
                    "{name}: rust-version {rust}, but with features {features:?} it builds {by}"
                ));
            }
        }
        for (feature, listed) in &listed {
            if version(listed) <= version(rust) {
                wrong.push(format!(
                    "{name}: feature {feature} is listed at {listed}, not above the crate's {rust}: remove it from the list"
                ));
            }
            if let Some((needed, by)) = floor(name, &[feature], &declared) {
                if version(listed) < needed {
                    wrong.push(format!(
                        "{name}: feature {feature} listed at {listed}, but it builds {by}"
                    ));
                }
            }
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{feature}` |")));
            if !row.is_some_and(|row| row.contains(listed)) {
                wrong.push(format!(
                    "{name}: README.md's feature table does not give `{feature}` Rust {listed}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
