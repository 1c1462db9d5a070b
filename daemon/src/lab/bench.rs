//! `holdback bench`: the core's figures in one report — cycles per received
//! frame from 64 to 1518 bytes with the 10 GbE line-rate budget beside each
//! (with the event queue on and a host consuming it, as a driver runs the
//! card; the same with the event queue off beside it),
//! bytes per cycle, release-write to ACK, the simulator's speed, the core's
//! area from yosys, and the lab's goodput and card cycles per delivered byte
//! with holdback on and off, with the echo application against the sink,
//! and with 2 % of the frames lost both ways at the card's port against
//! none ([`LAB_RUNS`], one after the other in one bench). Cycles are the hardware's figure and the same on
//! every machine; goodput and cycles/s are the simulator's and are not.
use std::path::{Path, PathBuf};

use holdback_sim::bench::{self as core_bench, BenchError};
use serde::{Deserialize, Serialize};

use crate::lab::progress::Progress;
use crate::lab::{self, LabError, LabRunOptions};

/// What `holdback bench` measures.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Frames per frame size.
    pub frames: u64,
    /// Synthesize the core with yosys (about a minute).
    pub area: bool,
    /// Also synthesize the core for the other N it is generated for (64 and
    /// 4096 connections; several minutes more).
    pub area_sweep: bool,
    /// Run the lab with holdback on and off: (connections, bytes each).
    pub lab: Option<(usize, u64)>,
    pub plot: Option<PathBuf>,
    /// The `holdback` binary the lab's daemon runs (None: this executable).
    pub holdback_exe: Option<PathBuf>,
    /// Show each step's progress on a terminal (off under `--json`).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchRunError {
    #[error("measuring the core")]
    Core(#[from] BenchError),
    #[error("generating the core's Verilog for yosys")]
    Generate(#[from] holdback_hdl::generate::GenError),
    #[error("synthesizing the core: {0}")]
    Synth(String),
    #[error("the lab ({run}) for its goodput")]
    Lab {
        run: String,
        #[source]
        source: LabError,
    },
    #[error("the lab ({run}) did not deliver every stream intact: {errors:?}")]
    LabFailed { run: String, errors: Vec<String> },
    #[error("drawing {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
}

/// One frame size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RxRow {
    /// On the wire, FCS included.
    pub wire_bytes: usize,
    /// With the event queue on and the host consuming its records.
    pub cycles_per_frame: f64,
    /// The 10 GbE budget: (size + preamble + gap) / 8 bytes per cycle.
    pub line_rate_cycles: f64,
    /// With the event queue on.
    pub bytes_per_cycle: f64,
    /// The same frames with the event queue off (no change records written).
    #[serde(default)]
    pub cycles_per_frame_events_off: f64,
}

/// One yosys `synth_xilinx` run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Area {
    /// The module synthesized (`holdback_core`: the whole core).
    #[serde(default = "core_module")]
    pub module: String,
    /// Connections (TCBs) it is generated for.
    pub conns: usize,
    pub luts: u64,
    pub ffs: u64,
    /// In RAMB18 units (a RAMB36 counts two).
    pub bram18: u64,
    pub lutram: u64,
    /// Wall time of the synthesis, seconds.
    #[serde(default)]
    pub synth_s: f64,
}

fn core_module() -> String {
    CORE_MODULE.to_string()
}

const CORE_MODULE: &str = "holdback_core";

/// The core's area goal at N = 1024: the LUTs of fpga-network-stack's TOE
/// (13.6 k LUT for 10 k sessions, its buffers in DRAM).
pub const LUT_GOAL_1024: u64 = 13_600;

/// One lab run of the bench: holdback, the application, the impairment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabRun {
    pub holdback: bool,
    pub app: crate::app::AppKind,
    /// `--impair` of the run (both cards' port).
    pub impair: Option<&'static str>,
}

impl LabRun {
    fn describe(&self) -> String {
        format!(
            "holdback {}, {}{}",
            if self.holdback { "on" } else { "off" },
            self.app.name(),
            self.impair.map_or(String::new(), |i| format!(", {i}"))
        )
    }
}

/// The lab runs of `holdback bench`: holdback on against off; the echo
/// (the card sends the stream back) against the sink; 2 % loss in both
/// directions at the card's port (the card's retransmissions and the
/// peers') against none.
pub const LAB_RUNS: [LabRun; 4] = [
    LabRun { holdback: true, app: crate::app::AppKind::Sink, impair: None },
    LabRun { holdback: false, app: crate::app::AppKind::Sink, impair: None },
    LabRun { holdback: true, app: crate::app::AppKind::Echo, impair: None },
    LabRun { holdback: true, app: crate::app::AppKind::Sink, impair: Some(LOSS_BOTH_WAYS) },
];

/// The impaired run's `--impair`: 2 % of the frames lost each way.
pub const LOSS_BOTH_WAYS: &str = "loss 2% dir both";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabFigure {
    pub holdback: bool,
    /// The application behind the card.
    #[serde(default)]
    pub app: crate::app::AppKind,
    /// The impairment at the card's port, if any.
    #[serde(default)]
    pub impair: Option<String>,
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub goodput_mbps: f64,
    /// The card's simulated cycles over the bytes delivered: what the whole
    /// data path (frames, register reads of the ring, releases) costs.
    pub card_cycles_per_byte: f64,
    /// Register operations over the bytes delivered.
    pub reg_ops_per_byte: f64,
}

/// `holdback bench --json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    pub frames_per_size: u64,
    pub rx: Vec<RxRow>,
    /// 60-byte pure ACKs (64 on the wire), all queued at once.
    pub min_frame_cycles: f64,
    pub release_to_ack_median_cycles: u64,
    pub release_to_ack_max_cycles: u64,
    /// Relay mode (docs/relay.md): a segment's push to the first beat of the
    /// segment relaying it, client to server and server to client (medians).
    pub relay_up_median_cycles: u64,
    pub relay_down_median_cycles: u64,
    /// Median over the frame sizes' runs.
    pub sim_cycles_per_second: f64,
    pub area: Vec<Area>,
    pub lab: Vec<LabFigure>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn run(opts: &BenchOptions) -> Result<BenchReport, BenchRunError> {
    let steps = if opts.progress { Progress::spinner_on_terminal("bench ") } else { Progress::hidden() };
    let result = measure(opts, &steps);
    steps.finish();
    result
}

fn measure(opts: &BenchOptions, steps: &Progress) -> Result<BenchReport, BenchRunError> {
    let mut rx = Vec::new();
    let mut speeds = Vec::new();
    for size in core_bench::FRAME_SIZES {
        steps.step(&format!("receive throughput, {size}-byte frames"));
        tracing::info!(size, frames = opts.frames, "receive throughput");
        let f = core_bench::rx_frames(size, opts.frames, true, core_bench::EventQueue::On)?;
        let off = core_bench::rx_frames(size, opts.frames, true, core_bench::EventQueue::Off)?;
        speeds.push(f.sim_cycles_per_second);
        rx.push(RxRow {
            wire_bytes: f.wire_bytes,
            cycles_per_frame: f.cycles_per_frame,
            line_rate_cycles: f.line_rate_cycles,
            bytes_per_cycle: f.bytes_per_cycle,
            cycles_per_frame_events_off: off.cycles_per_frame,
        });
    }
    steps.step("cycles per minimum frame");
    let min_frame_cycles = core_bench::min_frame_cycles(opts.frames)?;
    steps.step("release write to ACK");
    let lat = core_bench::release_to_ack(50)?;
    steps.step("relayed segment in to out");
    let relay = core_bench::relay_latency(20)?;
    let mut area = Vec::new();
    for conn_bits in holdback_hdl::core::CONN_BITS_CHOICES {
        let default = conn_bits == holdback_hdl::core::CONN_BITS;
        if (default && opts.area) || (!default && opts.area_sweep) {
            steps.step(&format!("synthesizing the core for {} connections with yosys", 1usize << conn_bits));
            area.push(synthesize_core(conn_bits)?);
        }
    }
    steps.finish();
    let mut labs = Vec::new();
    if let Some((conns, bytes)) = opts.lab {
        for run in LAB_RUNS {
            let progress = if opts.progress { Progress::on_terminal(&format!("bench: lab, {} ", run.describe())) } else { Progress::hidden() };
            labs.push(lab_figure(conns, bytes, run, opts.holdback_exe.clone(), progress)?);
        }
    }
    let report = BenchReport {
        frames_per_size: opts.frames,
        rx,
        min_frame_cycles,
        release_to_ack_median_cycles: lat[lat.len() / 2],
        release_to_ack_max_cycles: lat[lat.len() - 1],
        relay_up_median_cycles: relay.up[relay.up.len() / 2],
        relay_down_median_cycles: relay.down[relay.down.len() / 2],
        sim_cycles_per_second: median(speeds),
        area,
        lab: labs,
    };
    if let Some(path) = &opts.plot {
        plot(&report, path).map_err(|reason| BenchRunError::Plot { path: path.clone(), reason })?;
    }
    Ok(report)
}

/// The core for N = 2^`conn_bits`.
fn synthesize_core(conn_bits: usize) -> Result<Area, BenchRunError> {
    synthesize(CORE_MODULE, 1 << conn_bits, &holdback_hdl::core::verilog_for(conn_bits)?)
}

fn synthesize(module: &str, conns: usize, verilog: &str) -> Result<Area, BenchRunError> {
    tracing::info!(module, conns, "synthesizing with yosys");
    let started = std::time::Instant::now();
    let a = holdback_hdl::check::synth(module, verilog).map_err(BenchRunError::Synth)?;
    let synth_s = started.elapsed().as_secs_f64();
    tracing::info!(module, conns, luts = a.luts, synth_s, "synthesized");
    Ok(Area { module: module.to_string(), conns, luts: a.luts, ffs: a.ffs, bram18: a.bram18, lutram: a.lutram, synth_s })
}

fn lab_figure(conns: usize, bytes: u64, run: LabRun, holdback_exe: Option<PathBuf>, progress: Progress) -> Result<LabFigure, BenchRunError> {
    tracing::info!(conns, bytes, run = %run.describe(), "lab goodput");
    let opts = LabRunOptions {
        conns,
        bytes,
        holdback: run.holdback,
        app: run.app,
        impair: run.impair.map(str::to_string),
        holdback_exe,
        progress,
        ..LabRunOptions::default()
    };
    let r = lab::run_lab(&opts).map_err(|source| BenchRunError::Lab { run: run.describe(), source })?;
    if !r.passed() {
        return Err(BenchRunError::LabFailed { run: run.describe(), errors: r.errors });
    }
    let delivered = r.bytes_delivered.max(1) as f64;
    Ok(LabFigure {
        holdback: run.holdback,
        app: run.app,
        impair: run.impair.map(str::to_string),
        conns,
        bytes_per_conn: bytes,
        goodput_mbps: r.goodput_mbps,
        card_cycles_per_byte: r.card.cycles as f64 / delivered,
        reg_ops_per_byte: r.card.reg_ops as f64 / delivered,
    })
}

/// Cycles per frame against frame size, with the line-rate budget drawn in.
fn plot(report: &BenchReport, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let top = report.rx.iter().map(|r| r.cycles_per_frame.max(r.line_rate_cycles)).fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("holdback core: cycles per received frame (holdback on)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..1600.0, 0.0..top.max(1.0))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("frame size on the wire, FCS included (bytes)")
        .y_desc("core cycles per frame (64 bit, 156.25 MHz)")
        .draw()
        .map_err(|x| e(&x))?;
    let line_rate: Vec<(f64, f64)> = (64..=1518).step_by(2).map(|s| (s as f64, core_bench::line_rate_cycles(s))).collect();
    chart
        .draw_series(LineSeries::new(line_rate, RED.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label("10 GbE line rate (fewer cycles is faster)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    let measured: Vec<(f64, f64)> = report.rx.iter().map(|r| (r.wire_bytes as f64, r.cycles_per_frame)).collect();
    chart
        .draw_series(LineSeries::new(measured.clone(), BLUE.stroke_width(2)))
        .map_err(|x| e(&x))?
        .label("measured on the Verilated core (event queue on)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart.draw_series(measured.into_iter().map(|p| Circle::new(p, 4, BLUE.filled()))).map_err(|x| e(&x))?;
    let events_off: Vec<(f64, f64)> = report.rx.iter().map(|r| (r.wire_bytes as f64, r.cycles_per_frame_events_off)).collect();
    chart
        .draw_series(LineSeries::new(events_off, GREEN.stroke_width(1)))
        .map_err(|x| e(&x))?
        .label("event queue off")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}

impl BenchReport {
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "holdback bench: {} frames per size, holdback on, event queue on (off beside it)", self.frames_per_size);
        let _ = writeln!(s, "  frame (B)  cycles/frame  line rate  bytes/cycle  event queue off");
        for r in &self.rx {
            let mark = if r.cycles_per_frame <= r.line_rate_cycles { "" } else { "  (slower than line rate)" };
            let _ = writeln!(
                s,
                "  {:>9}  {:>12.1}  {:>9.2}  {:>11.2}  {:>15.1}{mark}",
                r.wire_bytes, r.cycles_per_frame, r.line_rate_cycles, r.bytes_per_cycle, r.cycles_per_frame_events_off
            );
        }
        let _ = writeln!(s, "  60-byte pure ACKs: {:.1} cycles/frame", self.min_frame_cycles);
        let _ = writeln!(
            s,
            "  release write -> first ACK beat: median {} cycles, max {}",
            self.release_to_ack_median_cycles, self.release_to_ack_max_cycles
        );
        let _ = writeln!(
            s,
            "  relay, segment in -> first beat of the relayed segment out: median {} cycles client to server, {} server to client",
            self.relay_up_median_cycles, self.relay_down_median_cycles
        );
        let _ = writeln!(s, "  simulator: {:.2} M cycles/s", self.sim_cycles_per_second / 1e6);
        for a in &self.area {
            let goal = if a.module == CORE_MODULE && a.conns == 1024 {
                format!(", goal {} LUT: {}", LUT_GOAL_1024, if a.luts <= LUT_GOAL_1024 { "met" } else { "MISSED" })
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  area of {}, {} connections: {} LUT, {} FF, {} RAMB18, {} LUTRAM (yosys synth_xilinx, {:.0} s){goal}",
                a.module, a.conns, a.luts, a.ffs, a.bram18, a.lutram, a.synth_s
            );
        }
        for l in &self.lab {
            let _ = writeln!(
                s,
                "  lab {} x {} B, holdback {}, {}{}: {:.1} Mbit/s, {:.3} card cycles and {:.3} register operations per delivered byte",
                l.conns,
                l.bytes_per_conn,
                if l.holdback { "on" } else { "off" },
                l.app.name(),
                l.impair.as_deref().map_or(String::new(), |i| format!(", {i}")),
                l.goodput_mbps,
                l.card_cycles_per_byte,
                l.reg_ops_per_byte
            );
        }
        s
    }
}
