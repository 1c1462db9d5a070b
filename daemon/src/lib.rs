//! The holdback daemon library: lab, control socket, sink, CLI plumbing.
//!
//! - [`cli`]: the `holdback` command line.
//! - [`netns`]: the lab network (namespaces, bridge, veths, TAP), removed on drop.
//! - [`lab`]: card + sink + clients in that network, and the run's verdict ([`report`]).
//! - [`lab_up`]: a lab left running in the background (`lab up` / `lab down`).
//! - [`sink`]: the application that commits received bytes, then releases ACKs.
//! - [`capture`]: the failover lab's per-card captures (failover time, RSTs).
//! - [`clients`]: Linux TCP clients sending seeded streams, with TCP_INFO.
//! - [`control`] / [`tables`]: the control-socket protocol and its output.
//! - [`config`] / [`service`] / [`metrics`]: `holdback daemon --config`: the
//!   validated config file, the card's service loop, the Prometheus endpoint.
//! - [`verilog_cmd`]: `holdback verilog`; [`load`]: `holdback load` (bitstream → vfio-pci).
pub mod capture;
pub mod cli;
pub mod clients;
pub mod config;
pub mod control;
pub mod lab;
pub mod lab_failover;
pub mod lab_up;
pub mod load;
pub mod metrics;
pub mod netns;
pub mod pair;
pub mod pair_epoch;
pub mod replication;
pub mod report;
pub mod service;
pub mod sink;
pub mod tables;
pub mod verilog_cmd;
pub mod watch;
