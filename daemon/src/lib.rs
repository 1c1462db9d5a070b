//! The holdback daemon library: lab, control socket, sink, CLI plumbing.
