//! The register map and TCB layout table in hdl/README.md is the one this crate
//! generates: the docs cannot drift from the RTL, driver and sim, which all
//! take their numbers from here.
use holdback_regmap::{markdown_table, CoreParams};

#[test]
fn hdl_readme_carries_the_generated_register_map() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hdl/README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let table = markdown_table(&CoreParams::DEFAULT);
    assert!(
        readme.contains(&table),
        "{path} does not contain the generated register map; replace its table with:\n\n{table}"
    );
}
