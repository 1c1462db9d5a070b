//! The holdback daemon library: lab, control socket, sink, CLI plumbing.
pub mod control;
pub mod tables;
