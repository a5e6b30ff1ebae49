//! The scripts the hub serves (`GET /ssehub.js`, `GET /ssehub-htmx.js`) are
//! compiled in from `assets/`, inside this crate, so that the published
//! package holds them; `js/` at the workspace root stays their source (the
//! JS tests run there). The copies must equal it byte for byte.

use std::path::Path;

#[test]
fn the_served_scripts_are_the_files_of_js() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let js = crate_dir.join("../../js");
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
