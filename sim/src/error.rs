//! Errors of the simulated card.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no Verilated model named `{0}` (built: {1})")]
    NoSuchModel(String, String),
    #[error("model `{model}` has no port `{port}`")]
    NoSuchPort { model: String, port: String },
}
