//! The unit tests of `js/ssehub.js` (the ES module for signals in plain
//! pages), run with Node's test runner so that `cargo test` runs them too:
//! `applyPatch` against RFC 6902, `signal()` against a fake `EventSource`, and
//! the size budget (under 4 KB minified by esbuild, `js/test.mjs`).
//!
//! Needs Node.js 20 or newer and npm. Installs js/'s dev-dependencies (esbuild,
//! pinned by `js/package-lock.json`) with `npm ci` when `js/node_modules` is
//! missing; `./scripts/test` installs them beforehand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context as _};

/// The `js/` directory at the root of the repository.
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../js")
}

/// Runs `program` with `args` in `dir`, failing with its output unless it
/// succeeds.
fn run(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<Output> {
    let what = format!("`{program} {}` in {}", args.join(" "), dir.display());
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run {what} (is Node.js 20+ with npm installed?)"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim_end(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(output)
}

#[test]
fn ssehub_js_unit_tests_pass_in_node() -> anyhow::Result<()> {
    let dir = js_dir();
    if !dir.join("node_modules/esbuild/package.json").is_file() {
        run(&dir, "npm", &["ci", "--no-audit", "--no-fund"])?;
    }
    // Without arguments, Node runs the test files under the current directory
    // (`*.test.mjs`, `test.mjs`; never node_modules).
    let output = run(&dir, "node", &["--test"])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let count = |name: &str| -> Option<u64> {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("# {name} ")))
            .and_then(|n| n.trim().parse().ok())
    };
    let (tests, pass) = (count("tests"), count("pass"));
    assert!(
        matches!((tests, pass), (Some(t), Some(p)) if t > 0 && t == p),
        "node --test ran {tests:?} tests, {pass:?} passed:\n{stdout}"
    );
    Ok(())
}
