//! `holdback verilog --out DIR` (the one generator command) writes every
//! model, and what it writes passes `verilator --lint-only -Wall` with the
//! waivers of `hdl/lint.vlt` and nothing else.
use std::path::Path;
use std::process::Command;

use holdback_tests::{holdback_ok, require_tool};

#[test]
fn generated_files_lint_clean_with_only_the_project_waivers() {
    require_tool("verilator", "verilator");
    let out = std::env::temp_dir().join(format!("holdback-verilog-cmd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let printed = holdback_ok(&["verilog", "--out", out.to_str().expect("UTF-8 temp path")]);
    let models = holdback_hdl::generate::all_models().expect("models generate");
    let waivers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hdl/lint.vlt");
    for m in &models {
        let file = out.join(format!("{}.v", m.name));
        assert!(printed.contains(&file.display().to_string()), "{} not listed in:\n{printed}", file.display());
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(text, m.verilog, "{} differs from the generator's text", file.display());
        let lint = Command::new("verilator")
            .args(["--lint-only", "-Wall", "--top-module", m.name])
            .arg(&waivers)
            .arg(&file)
            .output()
            .expect("running verilator");
        let msgs = String::from_utf8_lossy(&lint.stderr);
        assert!(
            lint.status.success() && !msgs.contains("%Warning") && !msgs.contains("%Error"),
            "verilator -Wall on {}:\n{msgs}",
            file.display()
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
