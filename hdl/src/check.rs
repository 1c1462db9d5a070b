//! The real tools as judges of generated Verilog: `verilator --lint-only -Wall`
//! with the waivers in `hdl/lint.vlt`, and `yosys synth_xilinx` for area.
//! Both fail loudly, with the install command, when the tool is missing.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The waiver file, next to this crate's manifest.
pub fn lint_waivers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lint.vlt")
}

fn scratch(name: &str) -> PathBuf {
    // Tests of one binary run in parallel and may check the same module
    // (the engine at two sizes): each call gets a directory of its own.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("holdback-check-{}-{}-{}", name, std::process::id(), call));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

fn require(tool: &str, package: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("`{tool}` is not installed: run `apt-get install -y {package}`")),
    }
}

/// Run `verilator --lint-only -Wall hdl/lint.vlt <file>`; Err holds every warning.
pub fn lint(name: &str, verilog: &str) -> Result<(), String> {
    require("verilator", "verilator")?;
    let dir = scratch(name);
    let file = dir.join(format!("{name}.v"));
    std::fs::write(&file, verilog).map_err(|e| e.to_string())?;
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--top-module", name])
        .arg(lint_waivers())
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() && !text.contains("%Warning") && !text.contains("%Error") {
        Ok(())
    } else {
        Err(text)
    }
}

/// Area of a synthesized model (`synth_xilinx -flatten -noiopad`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Area {
    pub luts: u64,
    pub ffs: u64,
    /// RAMB18E1 count plus twice the RAMB36E1 count.
    pub bram18: u64,
    pub lutram: u64,
    pub dsp: u64,
}

/// Synthesize with yosys and count cells.
pub fn synth(name: &str, verilog: &str) -> Result<Area, String> {
    require("yosys", "yosys")?;
    let dir = scratch(name);
    let file = dir.join(format!("{name}.v"));
    std::fs::write(&file, verilog).map_err(|e| e.to_string())?;
    let script = format!("read_verilog {}; synth_xilinx -flatten -noiopad -top {name}; stat", file.display());
    let out = Command::new("yosys").args(["-q", "-p", &script, "-l"]).arg(dir.join("yosys.log")).output().map_err(|e| e.to_string())?;
    let log = std::fs::read_to_string(dir.join("yosys.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(format!("yosys failed:\n{}\n{}", String::from_utf8_lossy(&out.stderr), log));
    }
    Ok(parse_stat(&log))
}

fn parse_stat(log: &str) -> Area {
    // synth_xilinx prints its own statistics and our `stat` prints them again:
    // count only the last report.
    let last = log.rfind("Printing statistics.").map_or(log, |i| &log[i..]);
    let mut a = Area::default();
    for line in last.lines() {
        let mut it = line.split_whitespace();
        let (Some(cell), Some(n)) = (it.next(), it.next()) else { continue };
        let Ok(n) = n.parse::<u64>() else { continue };
        match cell {
            c if c.starts_with("LUT") && c.len() == 4 => a.luts += n,
            "FDRE" | "FDSE" | "FDCE" | "FDPE" => a.ffs += n,
            "RAMB18E1" | "RAMB18E2" => a.bram18 += n,
            "RAMB36E1" | "RAMB36E2" => a.bram18 += 2 * n,
            c if c.starts_with("RAM32") || c.starts_with("RAM64") || c.starts_with("RAM128") || c.starts_with("RAM256") => a.lutram += n,
            c if c.starts_with("DSP48") => a.dsp += n,
            _ => {}
        }
    }
    a
}
