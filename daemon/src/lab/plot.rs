//! `holdback lab --plot FILE.svg`: the run drawn from the cards' captures
//! (and, for a failover, the standby's log and status).
//!
//! A failover run shows, per connection, the bytes the cards acknowledged
//! over time (what the peer saw ACKed): over the whole run, then zoomed on
//! the failover with the primary's last frame, the standby's detection,
//! PROMOTE, the gratuitous ARP, the duplicate ACKs, every peer
//! retransmission, the moment each stream caught up and each client's
//! longest stall; the failover and wire-gap figures as brackets. A run
//! without a failover shows goodput and held-back bytes over time.
//!
//! Every annotated event is an SVG group `<g class="event"
//! data-event="NAME" data-t="MS">` whose `data-t` is the very f64 the
//! report's [`FailoverTimeline`] holds for it; a figure is a `<g
//! class="figure" data-figure="KEY" data-ms="VALUE">` carrying the report's
//! value. plotters draws the axes and curves; these groups are written
//! here at plotters' pixel coordinates and appended to its SVG, since
//! plotters' elements take no attributes of our own.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::control::PairStatus;
use crate::lab::capture::{FrameSeen, Seen};
use crate::lab::clients::ClientOutcome;
use crate::lab::pair::FailoverReport;
use crate::lab::progress::{Phase, Progress};
use crate::lab::report::LabReport;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 920;
/// Height of the upper panel (the whole run); the lower one gets the rest.
const UPPER: u32 = 380;
/// Points per curve and panel at most: one per pixel column is all an SVG shows.
const MAX_POINTS: usize = 1200;
/// Context shown around the failover in the zoomed panel, milliseconds.
const ZOOM_MARGIN_MS: f64 = 120.0;
/// The standby's log line when its heartbeat detector gives up on the primary.
const DETECTION_LOG: &str = "primary lost (heartbeats)";

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing the plot: {0}")]
    Draw(String),
    #[error("writing the plot to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the capture {0} holds no TCP segment: nothing to plot")]
    Empty(PathBuf),
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// When what happened in a failover, in milliseconds after `t0_unix_ms`
/// (the first frame either card captured). `holdback lab --plot` draws each
/// of these with this value as its `data-t`. Capture times run on the
/// simulated cards' clocks (wall-clock start + simulated time), detection
/// and PROMOTE on the host's wall clock: they can disagree by a few
/// milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FailoverTimeline {
    /// Wall-clock origin of every other time here, ms since the Unix epoch.
    pub t0_unix_ms: f64,
    /// The last frame the primary's card sent (the start of `failover_ms`).
    pub primary_last_frame_ms: Option<f64>,
    /// The last client data the primary received (the start of `wire_gap_ms`).
    pub primary_last_data_ms: Option<f64>,
    /// The standby's heartbeat detector declared the primary lost (its
    /// log). None with the external detector, whose decision is
    /// `holdback watch`'s.
    pub detection_ms: Option<f64>,
    /// The standby's card began PROMOTE (its status: promotion time minus
    /// the card's walk; millisecond resolution).
    pub promote_ms: Option<f64>,
    /// The first frame the standby's card sent (the end of `failover_ms`).
    pub standby_first_frame_ms: Option<f64>,
    /// The first client data the promoted standby received (the end of `wire_gap_ms`).
    pub standby_first_data_ms: Option<f64>,
    /// Gratuitous ARPs the standby's card sent.
    pub garps_ms: Vec<f64>,
    pub streams: Vec<StreamTimeline>,
}

/// One connection's part of a [`FailoverTimeline`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamTimeline {
    pub client_port: u16,
    /// The ACKs the promoted card sent before the peer's first segment
    /// reached it: PROMOTE's ACK at R and its duplicates.
    pub dup_acks_ms: Vec<f64>,
    /// Data segments the peer sent again (starting below the highest byte
    /// it had sent before), at either card.
    pub retransmits_ms: Vec<f64>,
    /// The promoted card acknowledged everything the peer had sent to the
    /// primary: the stream has caught up.
    pub caught_up_ms: Option<f64>,
    /// The start of the client application's longest wait to send
    /// (its length is the stream's `max_stall_ms`).
    pub max_stall_from_ms: Option<f64>,
}

/// Which card's capture a frame comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Card {
    Primary,
    Standby,
}

/// Milliseconds after the run's first frame.
#[derive(Clone, Copy, Debug)]
struct Clock {
    t0_us: i64,
}

impl Clock {
    fn ms(self, at: Duration) -> f64 {
        (at.as_micros() as i64 - self.t0_us) as f64 / 1e3
    }

    fn ms_from_us(self, unix_us: i64) -> f64 {
        (unix_us - self.t0_us) as f64 / 1e3
    }
}

/// One connection as the captures show it; offsets count stream bytes
/// (sequence number − ISN − 1).
#[derive(Debug, Default)]
struct ConnTrace {
    /// The peer's initial sequence number (its SYN).
    isn: u32,
    /// In-order bytes received: the card's rcv_nxt as the wire shows it.
    received: u64,
    /// Highest byte end any data segment reached.
    highest: u64,
    /// Highest byte end the primary received.
    primary_highest: u64,
    /// The last acknowledgment the cards sent.
    acked: u64,
    /// (ms, bytes acknowledged) for every ACK a card sent.
    acked_curve: Vec<(f64, f64)>,
    /// (ms, offset) of every retransmitted data segment.
    retransmits: Vec<(f64, f64)>,
    /// (ms, bytes acknowledged) of PROMOTE's ACKs.
    dup_acks: Vec<(f64, f64)>,
    standby_heard_peer: bool,
    caught_up: Option<(f64, f64)>,
}

/// Both captures (the standby's only from its first frame sent: before,
/// it is silent and sees at most flooded copies of the primary's frames),
/// per connection, plus the held-back total over time.
struct Traces {
    conns: BTreeMap<u16, ConnTrace>,
    /// (ms, Σ received − acknowledged over all connections).
    held_back: Vec<(f64, f64)>,
    /// (ms, Σ acknowledged over all connections).
    acked_total: Vec<(f64, f64)>,
    end_ms: f64,
}

impl Traces {
    fn read(frames: &[(Card, &FrameSeen)], clock: Clock) -> Traces {
        let mut conns: BTreeMap<u16, ConnTrace> = BTreeMap::new();
        let (mut held, mut acked_sum) = (0i64, 0i64);
        let mut held_back = Vec::new();
        let mut acked_total = Vec::new();
        let mut end_ms = 0.0f64;
        for (card, f) in frames {
            let Seen::Tcp(seg) = f.what else { continue };
            let ms = clock.ms(f.at);
            end_ms = end_ms.max(ms);
            if !f.sent && seg.syn && !seg.ack_flag {
                conns.insert(seg.peer_port, ConnTrace { isn: seg.seq, ..ConnTrace::default() });
                continue;
            }
            let Some(c) = conns.get_mut(&seg.peer_port) else { continue };
            let (received_before, acked_before) = (c.received as i64, c.acked as i64);
            if !f.sent {
                if *card == Card::Standby {
                    c.standby_heard_peer = true;
                }
                if seg.payload_len > 0 {
                    let off = u64::from(seg.seq.wrapping_sub(c.isn.wrapping_add(1)));
                    let end = off + u64::from(seg.payload_len);
                    if off < c.highest {
                        c.retransmits.push((ms, off as f64));
                    }
                    c.highest = c.highest.max(end);
                    if *card == Card::Primary {
                        c.primary_highest = c.primary_highest.max(end);
                    }
                    // The card takes segments in order only (it drops the rest).
                    if off <= c.received && end > c.received {
                        c.received = end;
                    }
                }
            } else if seg.ack_flag && !seg.syn {
                let acked = u64::from(seg.ack.wrapping_sub(c.isn.wrapping_add(1)));
                c.acked = acked;
                c.acked_curve.push((ms, acked as f64));
                if *card == Card::Standby {
                    let pure = seg.payload_len == 0 && !seg.fin && !seg.rst;
                    if pure && !c.standby_heard_peer {
                        c.dup_acks.push((ms, acked as f64));
                    }
                    if c.caught_up.is_none() && c.primary_highest > 0 && acked >= c.primary_highest {
                        c.caught_up = Some((ms, acked as f64));
                    }
                }
            }
            // ACKs past the FIN count it; held-back bytes are payload only.
            let (received_now, acked_now) = (c.received as i64, c.acked.min(c.received) as i64);
            held += (received_now - acked_now) - (received_before - acked_before.min(received_before));
            acked_sum += acked_now - acked_before.min(received_before);
            held_back.push((ms, held.max(0) as f64));
            acked_total.push((ms, acked_sum as f64));
        }
        Traces { conns, held_back, acked_total, end_ms }
    }
}

/// The standby's evidence of a failover, besides its capture.
pub struct PairEvidence<'a> {
    pub primary: &'a [FrameSeen],
    pub standby: &'a [FrameSeen],
    /// The standby daemon's log (its detection line).
    pub standby_log: &'a Path,
    /// The standby's pair status after the run (its promotion time).
    pub standby_pair: Option<&'a PairStatus>,
    pub outcomes: &'a [ClientOutcome],
    /// The primary was killed.
    pub killed: bool,
}

impl PairEvidence<'_> {
    /// Both captures in time order, the standby's from its first frame sent.
    fn frames(&self) -> Vec<(Card, &FrameSeen)> {
        let standby_from = self.standby.iter().find(|f| f.sent).map(|f| f.at);
        let mut all: Vec<(Card, &FrameSeen)> = self.primary.iter().map(|f| (Card::Primary, f)).collect();
        if let Some(from) = standby_from {
            all.extend(self.standby.iter().filter(|f| f.at >= from).map(|f| (Card::Standby, f)));
        }
        all.sort_by_key(|(_, f)| f.at);
        all
    }

    fn clock(&self) -> Option<Clock> {
        let first = self.primary.iter().chain(self.standby).map(|f| f.at).min()?;
        Some(Clock { t0_us: first.as_micros() as i64 })
    }
}

/// Fills `report.timeline` (a run whose primary was killed) and, with
/// `plot`, draws the run there.
pub fn finish_pair_report(report: &mut FailoverReport, ev: &PairEvidence<'_>, plot: Option<&Path>, progress: &Progress) -> Result<(), PlotError> {
    let Some(clock) = ev.clock() else {
        return match plot {
            Some(_) => Err(PlotError::Empty(report.work_dir.join("primary.pcap"))),
            None => Ok(()),
        };
    };
    if plot.is_some() {
        progress.phase(Phase::Plotting);
    }
    let frames = ev.frames();
    let traces = Traces::read(&frames, clock);
    if ev.killed {
        report.timeline = Some(failover_timeline(ev, &traces, clock));
    }
    let Some(path) = plot else { return Ok(()) };
    let svg = match &report.timeline {
        Some(timeline) => failover_svg(report, timeline, &traces)?,
        None => goodput_svg(
            &format!("holdback pair lab, no failover: {} connections × {}", report.conns, size(report.bytes_per_conn)),
            report.goodput_mbps,
            &traces,
        )?,
    };
    std::fs::write(path, svg).map_err(|source| PlotError::Write { path: path.to_path_buf(), source })
}

/// `holdback lab --plot` for a single card: goodput and held-back bytes over time.
pub fn plot_single(path: &Path, report: &LabReport, frames: &[FrameSeen], capture: &Path) -> Result<(), PlotError> {
    let first = frames.iter().map(|f| f.at).min().ok_or_else(|| PlotError::Empty(capture.to_path_buf()))?;
    let clock = Clock { t0_us: first.as_micros() as i64 };
    let tagged: Vec<(Card, &FrameSeen)> = frames.iter().map(|f| (Card::Primary, f)).collect();
    let traces = Traces::read(&tagged, clock);
    if traces.conns.is_empty() {
        return Err(PlotError::Empty(capture.to_path_buf()));
    }
    let title = format!(
        "holdback lab: {} connections × {}, holdback {}",
        report.conns,
        size(report.bytes_per_conn),
        if report.holdback { "on" } else { "off" }
    );
    let svg = goodput_svg(&title, report.goodput_mbps, &traces)?;
    std::fs::write(path, svg).map_err(|source| PlotError::Write { path: path.to_path_buf(), source })
}

fn failover_timeline(ev: &PairEvidence<'_>, traces: &Traces, clock: Clock) -> FailoverTimeline {
    let last = |frames: &[FrameSeen], pick: &dyn Fn(&FrameSeen) -> bool| frames.iter().rev().find(|f| pick(f)).map(|f| clock.ms(f.at));
    let is_data_in = |f: &FrameSeen| !f.sent && matches!(f.what, Seen::Tcp(s) if s.payload_len > 0);
    let standby_first = ev.standby.iter().find(|f| f.sent).map(|f| f.at);
    let standby_first_data = standby_first
        .and_then(|from| ev.standby.iter().find(|f| f.at >= from && is_data_in(f)))
        .map(|f| clock.ms(f.at));
    let promote_ms = ev.standby_pair.and_then(|p| {
        let done_us = p.promoted_unix_ms? as i64 * 1000;
        Some(clock.ms_from_us(done_us - p.promote_took_us? as i64))
    });
    let streams = ev
        .outcomes
        .iter()
        .filter(|o| o.local_port != 0)
        .map(|o| {
            let trace = traces.conns.get(&o.local_port);
            StreamTimeline {
                client_port: o.local_port,
                dup_acks_ms: trace.map(|t| t.dup_acks.iter().map(|p| p.0).collect()).unwrap_or_default(),
                retransmits_ms: trace.map(|t| t.retransmits.iter().map(|p| p.0).collect()).unwrap_or_default(),
                caught_up_ms: trace.and_then(|t| t.caught_up.map(|p| p.0)),
                max_stall_from_ms: o.max_stall_from_unix_us.map(|us| clock.ms_from_us(us as i64)),
            }
        })
        .collect();
    FailoverTimeline {
        t0_unix_ms: clock.t0_us as f64 / 1e3,
        primary_last_frame_ms: last(ev.primary, &|f| f.sent),
        primary_last_data_ms: last(ev.primary, &is_data_in),
        detection_ms: detection_in_log(ev.standby_log).map(|at| clock.ms(at)),
        promote_ms,
        standby_first_frame_ms: standby_first.map(|at| clock.ms(at)),
        standby_first_data_ms: standby_first_data,
        garps_ms: ev.standby.iter().filter(|f| f.sent && f.what == Seen::GratuitousArp).map(|f| clock.ms(f.at)).collect(),
        streams,
    }
}

/// When the standby's log says its heartbeat detector gave up on the
/// primary: the first such line's timestamp (tracing's RFC 3339 UTC, the
/// wall clock the captures use).
fn detection_in_log(log: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().filter(|l| l.contains(DETECTION_LOG)).find_map(|l| log_line_time(&strip_ansi(l)))
}

/// The timestamp a tracing line starts with.
fn log_line_time(line: &str) -> Option<Duration> {
    let stamp = line.split_whitespace().next()?;
    humantime::parse_rfc3339_weak(stamp).ok()?.duration_since(std::time::UNIX_EPOCH).ok()
}

/// A log line without its terminal colour sequences (ESC [ … letter).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// At most [`MAX_POINTS`] of `points` inside `x`: the last of each
/// horizontal bucket, so a monotone curve keeps its shape.
fn thin(points: &[(f64, f64)], x: &Range<f64>) -> Vec<(f64, f64)> {
    let width = (x.end - x.start).max(1e-9);
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut last_bucket = None;
    for &(t, v) in points.iter().filter(|(t, _)| x.contains(t)) {
        let bucket = ((t - x.start) / width * MAX_POINTS as f64) as usize;
        if last_bucket == Some(bucket) {
            if let Some(p) = out.last_mut() {
                *p = (t, v);
            }
        } else {
            out.push((t, v));
            last_bucket = Some(bucket);
        }
    }
    out
}

/// `points` as the step function they are (an acknowledgment holds until
/// the next), in MiB.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((t, points[i - 1].1 / MIB));
        }
        out.push((t, v / MIB));
    }
    out
}

/// "8 MiB", "512 KiB" or "1000 B".
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// The largest of `values`, at least `floor`.
fn top(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    values.fold(floor, f64::max)
}

const MIB: f64 = 1048576.0;

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn conn_color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The groups written over plotters' drawing, each carrying its data.
#[derive(Default)]
struct Overlay {
    svg: String,
}

impl Overlay {
    /// `<g class=CLASS data-…>BODY</g>`.
    fn group(&mut self, class: &str, attrs: &[(&str, String)], body: &str) {
        let _ = write!(self.svg, "<g class=\"{class}\"");
        for (k, v) in attrs {
            let _ = write!(self.svg, " {k}=\"{}\"", xml_escape(v));
        }
        let _ = writeln!(self.svg, ">{body}</g>");
    }

    /// plotters' SVG with these groups added last (drawn on top).
    fn into_svg(self, plotters_svg: &str) -> String {
        match plotters_svg.rfind("</svg>") {
            Some(end) => format!("{}<g id=\"holdback-annotations\">\n{}</g>\n</svg>\n", &plotters_svg[..end], self.svg),
            None => format!("{plotters_svg}{}", self.svg),
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn line(x1: i32, y1: i32, x2: i32, y2: i32, color: &str, dashed: bool) -> String {
    format!(
        "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"{color}\" stroke-width=\"1.5\"{}/>",
        if dashed { " stroke-dasharray=\"5,3\"" } else { "" }
    )
}

fn text(x: i32, y: i32, color: &str, anchor: &str, s: &str) -> String {
    format!(
        "<text x=\"{x}\" y=\"{y}\" fill=\"{color}\" font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"{anchor}\">{}</text>",
        xml_escape(s)
    )
}

/// A vertical event line across a panel, labelled at row `row` of the panel's top.
fn vertical_event(o: &mut Overlay, chart: &Chart<'_, '_>, event: &str, t: f64, label: &str, color: &str, row: i32) {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (x, _) = chart.backend_coord(&(t, 0.0));
    let y_label = yr.start + 14 + row * 14;
    let anchor = if x > (xr.start + xr.end) / 2 { "end" } else { "start" };
    let dx = if anchor == "end" { -4 } else { 4 };
    let body = format!("{}{}", line(x, yr.start, x, yr.end, color, true), text(x + dx, y_label, color, anchor, label));
    o.group("event", &[("data-event", event.into()), ("data-t", t.to_string())], &body);
}

/// A horizontal bracket from `from` to `from + ms` at pixel row `y`, for a figure of the report.
fn bracket(o: &mut Overlay, chart: &Chart<'_, '_>, figure: &str, (from, ms): (f64, f64), y: i32, label: &str, color: &str) {
    let (x1, _) = chart.backend_coord(&(from, 0.0));
    let (x2, _) = chart.backend_coord(&(from + ms, 0.0));
    let body = format!(
        "{}{}{}{}",
        line(x1, y, x2, y, color, false),
        line(x1, y - 5, x1, y + 5, color, false),
        line(x2, y - 5, x2, y + 5, color, false),
        text((x1 + x2) / 2, y - 7, color, "middle", label)
    );
    o.group("figure", &[("data-figure", figure.into()), ("data-t", from.to_string()), ("data-ms", ms.to_string())], &body);
}

/// A marker of one connection's event: `shape` at (t, bytes).
#[allow(clippy::too_many_arguments)]
fn point_event(o: &mut Overlay, chart: &Chart<'_, '_>, event: &str, port: u16, t: f64, bytes: f64, shape: Shape, color: &str) {
    let (x, y) = chart.backend_coord(&(t, bytes / MIB));
    let body = match shape {
        Shape::Cross => format!("{}{}", line(x - 4, y - 4, x + 4, y + 4, color, false), line(x - 4, y + 4, x + 4, y - 4, color, false)),
        Shape::Triangle => {
            format!("<path d=\"M{} {} L{} {} L{} {} Z\" fill=\"{color}\"/>", x - 5, y - 9, x + 5, y - 9, x, y - 1)
        }
        Shape::Circle => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>"),
    };
    o.group("event", &[("data-event", event.into()), ("data-port", port.to_string()), ("data-t", t.to_string())], &body);
}

#[derive(Clone, Copy)]
enum Shape {
    Cross,
    Triangle,
    Circle,
}

/// The bytes `curve` had reached at `t` (its last point at or before it).
fn value_at(curve: &[(f64, f64)], t: f64) -> f64 {
    curve.iter().take_while(|(ct, _)| *ct <= t).last().map_or(0.0, |p| p.1)
}

/// The window of the zoomed panel: from a little before the primary's
/// last frame to a little after the last stream caught up.
fn zoom_window(tl: &FailoverTimeline) -> Range<f64> {
    let start = [tl.primary_last_frame_ms, tl.primary_last_data_ms].into_iter().flatten().fold(f64::INFINITY, f64::min);
    let ends = [tl.detection_ms, tl.promote_ms, tl.standby_first_frame_ms, tl.standby_first_data_ms]
        .into_iter()
        .flatten()
        .chain(tl.garps_ms.iter().copied())
        .chain(tl.streams.iter().filter_map(|s| s.caught_up_ms))
        .chain(tl.streams.iter().flat_map(|s| s.dup_acks_ms.iter().copied()));
    let end = ends.fold(f64::NEG_INFINITY, f64::max);
    let start = if start.is_finite() { start } else { 0.0 };
    let end = if end.is_finite() && end > start { end } else { start + 1.0 };
    let margin = ZOOM_MARGIN_MS.max((end - start) * 0.15);
    (start - margin).max(0.0)..end + margin
}

fn failover_svg(report: &FailoverReport, tl: &FailoverTimeline, traces: &Traces) -> Result<String, PlotError> {
    let mut svg = String::new();
    let mut o = Overlay::default();
    let ports: Vec<u16> = tl.streams.iter().map(|s| s.client_port).collect();
    let run_ms = traces.end_ms.max(1.0);
    let most = top(traces.conns.values().flat_map(|c| c.acked_curve.iter().map(|p| p.1 / MIB)), 0.001) * 1.08;
    let zoom = zoom_window(tl);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (upper, lower) = root.split_vertically(UPPER);

        // The whole run: each connection's acknowledged bytes; the zoom window shaded.
        let title = format!(
            "holdback failover lab: {} connections × {}, primary killed at {:.0} %, detector {}, dup-ACKs {}",
            report.conns,
            size(report.bytes_per_conn),
            report.failover_at.unwrap_or(0.0) * 100.0,
            format!("{:?}", report.detector).to_lowercase(),
            if report.dup_acks { "on" } else { "off" }
        );
        let mut whole = ChartBuilder::on(&upper)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..run_ms, 0.0..most)
            .map_err(draw_err)?;
        whole
            .configure_mesh()
            .x_desc("ms since the first frame")
            .y_desc("acknowledged (MiB)")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        whole
            .draw_series(std::iter::once(Rectangle::new([(zoom.start, 0.0), (zoom.end, most)], RGBColor(230, 80, 60).mix(0.15).filled())))
            .map_err(draw_err)?;
        for (i, port) in ports.iter().enumerate() {
            let Some(c) = traces.conns.get(port) else { continue };
            let color = conn_color(i);
            let curve = steps(&thin(&c.acked_curve, &(0.0..run_ms + 1.0)));
            whole
                .draw_series(LineSeries::new(curve, color.stroke_width(2)))
                .map_err(draw_err)?
                .label(format!("port {port}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        whole
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(draw_err)?;

        // The failover, zoomed.
        let in_zoom = |t: f64| zoom.contains(&t);
        let most_in_zoom = top(
            traces.conns.values().flat_map(|c| thin(&c.acked_curve, &zoom).into_iter().map(|p| p.1 / MIB)).chain(
                traces.conns.values().flat_map(|c| c.retransmits.iter().filter(|p| in_zoom(p.0)).map(|p| p.1 / MIB)),
            ),
            0.001,
        );
        let least_in_zoom = traces
            .conns
            .values()
            .map(|c| value_at(&c.acked_curve, zoom.start) / MIB)
            .fold(most_in_zoom, f64::min);
        let span = (most_in_zoom - least_in_zoom).max(0.01);
        let y_range = (least_in_zoom - span * 0.05).max(0.0)..most_in_zoom + span * 0.45;
        let mut near = ChartBuilder::on(&lower)
            .caption(
                format!(
                    "the failover: failover {} ms, wire gap {} ms, max stall {} ms",
                    report.failover_ms.map_or("-".into(), |v| format!("{v:.1}")),
                    report.wire_gap_ms.map_or("-".into(), |v| format!("{v:.1}")),
                    report.max_stall_ms
                ),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(zoom.clone(), y_range.clone())
            .map_err(draw_err)?;
        near.configure_mesh()
            .x_desc("ms since the first frame")
            .y_desc("acknowledged (MiB)")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        for (i, port) in ports.iter().enumerate() {
            let Some(c) = traces.conns.get(port) else { continue };
            // Each curve enters at the left edge and, if it goes on, leaves at the right.
            let mut points = vec![(zoom.start, value_at(&c.acked_curve, zoom.start))];
            points.extend(thin(&c.acked_curve, &zoom));
            if c.acked_curve.last().is_some_and(|p| p.0 > zoom.end) {
                points.push((zoom.end, value_at(&c.acked_curve, zoom.end)));
            }
            near.draw_series(LineSeries::new(steps(&points), conn_color(i).stroke_width(2))).map_err(draw_err)?;
        }

        // The moments of the pair, as lines across the zoomed panel.
        let mut row = 0;
        let mut mark = |o: &mut Overlay, event: &str, t: Option<f64>, label: &str, color: &str| {
            if let Some(t) = t {
                let chart = if in_zoom(t) { &near } else { &whole };
                vertical_event(o, chart, event, t, &format!("{label} {t:.1} ms"), color, row);
                row += 1;
            }
        };
        mark(&mut o, "primary_last_frame", tl.primary_last_frame_ms, "primary's last frame", "#c0392b");
        mark(&mut o, "detection", tl.detection_ms, "detection", "#8e44ad");
        mark(&mut o, "promote", tl.promote_ms, "PROMOTE", "#2c3e50");
        for &garp in &tl.garps_ms {
            mark(&mut o, "garp", Some(garp), "GARP", "#16a085");
        }

        // The report's figures as brackets under the pair's moments.
        let (_, yr) = near.plotting_area().get_pixel_range();
        let figure_row = yr.start + 14 * (row + 2);
        if let (Some(from), Some(ms)) = (tl.primary_last_frame_ms, report.failover_ms) {
            bracket(&mut o, &near, "failover_ms", (from, ms), figure_row, &format!("failover {ms:.1} ms"), "#c0392b");
        }
        if let (Some(from), Some(ms)) = (tl.primary_last_data_ms, report.wire_gap_ms) {
            bracket(&mut o, &near, "wire_gap_ms", (from, ms), figure_row + 30, &format!("wire gap {ms:.1} ms"), "#d35400");
        }

        // Each connection's own events, on its curve.
        for (i, s) in tl.streams.iter().enumerate() {
            let Some(c) = traces.conns.get(&s.client_port) else { continue };
            let color = hex(conn_color(ports.iter().position(|p| *p == s.client_port).unwrap_or(i)));
            for &(t, bytes) in &c.dup_acks {
                point_event(&mut o, if in_zoom(t) { &near } else { &whole }, "dup_ack", s.client_port, t, bytes, Shape::Triangle, &color);
            }
            for &(t, off) in &c.retransmits {
                point_event(&mut o, if in_zoom(t) { &near } else { &whole }, "retransmit", s.client_port, t, off, Shape::Cross, &color);
            }
            if let Some((t, bytes)) = c.caught_up {
                point_event(&mut o, if in_zoom(t) { &near } else { &whole }, "caught_up", s.client_port, t, bytes, Shape::Circle, &color);
            }
            let stream_stall = report.streams.iter().find(|r| r.client_port == s.client_port).map(|r| r.max_stall_ms);
            if let (Some(from), Some(ms)) = (s.max_stall_from_ms, stream_stall) {
                let chart = if in_zoom(from) { &near } else { &whole };
                let (xr, _) = chart.plotting_area().get_pixel_range();
                let (x1, y) = chart.backend_coord(&(from, value_at(&c.acked_curve, from) / MIB));
                let (x2, _) = chart.backend_coord(&(from + ms as f64, 0.0));
                let (x1, x2) = (x1.clamp(xr.start, xr.end), x2.clamp(xr.start, xr.end));
                let body = format!(
                    "<rect x=\"{x1}\" y=\"{}\" width=\"{}\" height=\"6\" fill=\"{color}\" fill-opacity=\"0.35\"/>",
                    y - 3,
                    (x2 - x1).max(1)
                );
                o.group(
                    "event",
                    &[("data-event", "stall".into()), ("data-port", s.client_port.to_string()), ("data-t", from.to_string()), ("data-ms", ms.to_string())],
                    &body,
                );
            }
        }

        // The legend of the markers and the client's longest stall as a
        // figure, in the whole run's lower right, which the rising curves leave empty.
        let (xr, yr) = whole.plotting_area().get_pixel_range();
        let lx = xr.end - 390;
        let ly = yr.end - 62;
        let legend = [
            "▼ PROMOTE's ACK and duplicates (per connection)",
            "× a peer's retransmission",
            "○ the stream caught up (all it had sent ACKed again)",
            "▬ the client application's longest wait to send",
        ];
        let mut body = format!(
            "<rect x=\"{}\" y=\"{}\" width=\"384\" height=\"80\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>",
            lx - 6,
            ly - 28
        );
        for (k, l) in legend.iter().enumerate() {
            body.push_str(&text(lx, ly + 14 * k as i32, "#333333", "start", l));
        }
        o.group("legend", &[], &body);
        let stall_label = format!("max stall {} ms (client application)", report.max_stall_ms);
        o.group(
            "figure",
            &[("data-figure", "max_stall_ms".into()), ("data-ms", report.max_stall_ms.to_string())],
            &text(lx, ly - 14, "#333333", "start", &stall_label),
        );
        root.present().map_err(draw_err)?;
    }
    Ok(o.into_svg(&svg))
}

/// Goodput and held-back bytes over the run (no failover).
fn goodput_svg(title: &str, goodput_mbps: f64, traces: &Traces) -> Result<String, PlotError> {
    let mut svg = String::new();
    let mut o = Overlay::default();
    let run_s = (traces.end_ms / 1e3).max(0.001);
    // Goodput per bin: acknowledged bytes over the bin's length.
    let bins = 100usize.min((traces.end_ms / 20.0).ceil().max(1.0) as usize);
    let bin_s = run_s / bins as f64;
    let mut goodput = Vec::with_capacity(bins);
    for b in 0..bins {
        let (from, to) = (b as f64 * bin_s * 1e3, (b + 1) as f64 * bin_s * 1e3);
        let bytes = value_at(&traces.acked_total, to) - value_at(&traces.acked_total, from);
        goodput.push(((b as f64 + 0.5) * bin_s, bytes * 8.0 / bin_s / 1e6));
    }
    let held: Vec<(f64, f64)> = thin(&traces.held_back, &(0.0..traces.end_ms + 1.0)).into_iter().map(|(t, v)| (t / 1e3, v / 1024.0)).collect();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT * 3 / 4)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (upper, lower) = root.split_vertically(HEIGHT * 3 / 8);
        let most = top(goodput.iter().map(|p| p.1), goodput_mbps).max(0.1) * 1.15;
        let mut rate = ChartBuilder::on(&upper)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..run_s, 0.0..most)
            .map_err(draw_err)?;
        rate.configure_mesh()
            .x_desc("s since the first frame")
            .y_desc("goodput (Mbit/s, ACKed)")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        rate.draw_series(LineSeries::new(goodput, conn_color(0).stroke_width(2))).map_err(draw_err)?;
        let (xr, _) = rate.plotting_area().get_pixel_range();
        let (_, y) = rate.backend_coord(&(0.0, goodput_mbps));
        let label = format!("the run's goodput {goodput_mbps:.2} Mbit/s (delivered bytes over the clients' wall time)");
        let body = format!("{}{}", line(xr.start, y, xr.end, y, "#c0392b", true), text(xr.end - 4, y - 5, "#c0392b", "end", &label));
        o.group("figure", &[("data-figure", "goodput_mbps".into()), ("data-mbps", goodput_mbps.to_string())], &body);

        let most_held = top(held.iter().map(|p| p.1), 1.0) * 1.15;
        let mut back = ChartBuilder::on(&lower)
            .caption("held back: bytes the card received in order but has not ACKed (Σ over connections)", ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..run_s, 0.0..most_held)
            .map_err(draw_err)?;
        back.configure_mesh()
            .x_desc("s since the first frame")
            .y_desc("held back (KiB)")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        back.draw_series(LineSeries::new(held, conn_color(1).stroke_width(2))).map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(o.into_svg(&svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::capture::Segment;

    const PORT: u16 = 40000;
    const ISN: u32 = 0xffff_ff00; // straddles the wrap: offsets must not care

    fn at(ms: u64) -> Duration {
        Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn seg(seq_off: u32, ack_off: u32, len: u32, from_peer: bool) -> Seen {
        Seen::Tcp(Segment {
            peer_port: PORT,
            seq: if from_peer { ISN.wrapping_add(1).wrapping_add(seq_off) } else { 7 },
            ack: ISN.wrapping_add(1).wrapping_add(ack_off),
            syn: false,
            fin: false,
            rst: false,
            ack_flag: true,
            payload_len: len,
            sack: [(0, 0); 4],
            sack_count: 0,
            tsval: None,
        })
    }

    fn syn() -> Seen {
        Seen::Tcp(Segment { peer_port: PORT, seq: ISN, ack: 0, syn: true, fin: false, rst: false, ack_flag: false, payload_len: 0, sack: [(0, 0); 4], sack_count: 0, tsval: None })
    }

    /// A primary that took 3000 bytes and ACKed 2000, died; a standby
    /// that sent a GARP, ACK + 3 duplicates at 2000, got bytes 2000.. again
    /// and ACKed 3000 (caught up).
    #[test]
    fn a_failover_is_read_from_both_captures() {
        let f = |ms, sent, what| FrameSeen { at: at(ms), sent, what };
        let primary = vec![
            f(0, false, syn()),
            f(1, false, seg(0, 0, 1000, true)),
            f(2, false, seg(1000, 0, 1000, true)),
            f(3, true, seg(0, 2000, 0, false)),
            f(4, false, seg(2000, 0, 1000, true)),
        ];
        let standby = vec![
            // A flooded copy before the standby speaks: not the standby's.
            f(2, false, seg(1000, 0, 1000, true)),
            f(200, true, Seen::GratuitousArp),
            f(201, true, seg(0, 2000, 0, false)),
            f(201, true, seg(0, 2000, 0, false)),
            f(201, true, seg(0, 2000, 0, false)),
            f(201, true, seg(0, 2000, 0, false)),
            f(230, false, seg(2000, 0, 1000, true)),
            f(231, true, seg(0, 3000, 0, false)),
        ];
        let outcomes = [ClientOutcome { local_port: PORT, max_stall_from_unix_us: Some(at(4).as_micros() as u64), ..ClientOutcome::default() }];
        let log = std::env::temp_dir().join(format!("holdback-plot-test-{}.log", std::process::id()));
        std::fs::write(
            &log,
            "\u{1b}[2m2023-11-14T22:13:20.150000Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m holdback_daemon::pair: primary lost (heartbeats): promoting silent_for=150ms\n",
        )
        .unwrap();
        let pair = PairStatus { promoted_unix_ms: Some(1_700_000_000_000 + 201), promote_took_us: Some(1500), ..PairStatus::default() };
        let ev = PairEvidence { primary: &primary, standby: &standby, standby_log: &log, standby_pair: Some(&pair), outcomes: &outcomes, killed: true };
        let clock = ev.clock().unwrap();
        let traces = Traces::read(&ev.frames(), clock);
        let tl = failover_timeline(&ev, &traces, clock);
        let _ = std::fs::remove_file(&log);
        assert_eq!(tl.t0_unix_ms, 1_700_000_000_000.0);
        assert_eq!(tl.primary_last_frame_ms, Some(3.0));
        assert_eq!(tl.primary_last_data_ms, Some(4.0));
        assert_eq!(tl.detection_ms, Some(150.0));
        assert_eq!(tl.promote_ms, Some(199.5));
        assert_eq!(tl.standby_first_frame_ms, Some(200.0));
        assert_eq!(tl.standby_first_data_ms, Some(230.0));
        assert_eq!(tl.garps_ms, vec![200.0]);
        let s = &tl.streams[0];
        assert_eq!(s.dup_acks_ms, vec![201.0; 4]);
        assert_eq!(s.retransmits_ms, vec![230.0], "the flooded copy at the silent standby is no retransmission");
        assert_eq!(s.caught_up_ms, Some(231.0));
        assert_eq!(s.max_stall_from_ms, Some(4.0));
        // Held back: 2000 received before any ACK; 3000 received, 2000 ACKed
        // when the primary died; 0 once the standby ACKed 3000.
        assert_eq!(value_at(&traces.held_back, 2.0), 2000.0);
        assert_eq!(value_at(&traces.held_back, 100.0), 1000.0);
        assert_eq!(traces.held_back.last().map(|p| p.1), Some(0.0));
        assert_eq!(traces.acked_total.last().map(|p| p.1), Some(3000.0));
    }

    #[test]
    fn log_timestamps_parse_with_and_without_colour() {
        let t = log_line_time(&strip_ansi("\u{1b}[2m2026-12-05T20:12:50.123456Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x")).unwrap();
        assert_eq!(t, Duration::new(1_796_501_570, 123_456_000));
        assert_eq!(log_line_time("2026-12-05T20:12:50.123456Z  INFO x"), Some(t));
        assert_eq!(log_line_time("garbage"), None);
    }

    #[test]
    fn thinning_keeps_the_last_point_of_each_column_and_the_window() {
        let points: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64 / 10.0, i as f64)).collect();
        let thinned = thin(&points, &(0.0..10_000.0));
        assert!(thinned.len() <= MAX_POINTS + 1, "{}", thinned.len());
        assert_eq!(thinned.last(), Some(&(9999.9, 99_999.0)));
        assert!(thin(&points, &(20_000.0..30_000.0)).is_empty());
    }
}
