//! `holdback verilog`: the one generator command. Writes every model of
//! `holdback_hdl::generate::all_models()` (the core first, then each block on
//! its own) to `<out>/<name>.v`.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VerilogError {
    #[error("generating Verilog")]
    Generate(#[from] holdback_hdl::generate::GenError),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

/// One written file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    pub model: &'static str,
    pub path: PathBuf,
    pub bytes: usize,
    /// ID_BUILD the core reports for this text (low 32 bits of its hash).
    pub build_id: u32,
}

/// Generates every model into `out` (created if missing).
pub fn write_all(out: &Path) -> Result<Vec<Written>, VerilogError> {
    let models = holdback_hdl::generate::all_models()?;
    std::fs::create_dir_all(out)
        .map_err(|source| VerilogError::Io(crate::error::IoError { what: "creating output directory", path: out.to_path_buf(), source }))?;
    let mut written = Vec::with_capacity(models.len());
    for m in models {
        let path = out.join(format!("{}.v", m.name));
        std::fs::write(&path, &m.verilog)
            .map_err(|source| VerilogError::Io(crate::error::IoError { what: "writing", path: path.clone(), source }))?;
        written.push(Written {
            model: m.name,
            path,
            bytes: m.verilog.len(),
            build_id: holdback_hdl::generate::build_id(&m.verilog),
        });
    }
    Ok(written)
}
