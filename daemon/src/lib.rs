//! The holdback daemon library. Its layers, each using only those above it:
//!
//! - the daemon (`holdback daemon --config`): [`config`] (the validated
//!   file), [`service`] (the card's service loop), [`sink`] (commit, then
//!   release ACKs), [`pair`] / [`pair_epoch`] / [`replication`] (the
//!   failover pair), [`control`] / [`tables`] (the control socket and its
//!   output), [`metrics`] (Prometheus), [`cli`], and [`error`] / [`sys`]
//!   (shared errors; the one module with system calls);
//! - operator tools: [`watch`] (external failure detector), [`load`]
//!   (bitstream → vfio-pci), `verilog_cmd` (`holdback verilog`, feature
//!   `verilog`);
//! - the lab (feature `lab`): `netns` (namespaces, bridge, TAPs), `clients`
//!   (Linux TCP clients), `lab` (the single-card run), `lab_up` (`lab up` /
//!   `lab down`), `lab_failover` (the pair), `capture` and `report`. The lab
//!   runs the daemon as a process from a generated [`config::Config`]; the
//!   daemon's modules never name it (a test keeps it so).
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub mod error;
pub mod metrics;
pub mod pair;
pub mod pair_epoch;
pub mod replication;
pub mod service;
pub mod sink;
#[allow(unsafe_code)]
pub mod sys;
pub mod tables;

pub mod load;
#[cfg(feature = "verilog")]
pub mod verilog_cmd;
pub mod watch;

#[cfg(feature = "lab")]
pub mod capture;
#[cfg(feature = "lab")]
pub mod clients;
#[cfg(feature = "lab")]
pub mod lab;
#[cfg(feature = "lab")]
pub mod lab_failover;
#[cfg(feature = "lab")]
pub mod lab_up;
#[cfg(feature = "lab")]
pub mod netns;
#[cfg(feature = "lab")]
pub mod report;
