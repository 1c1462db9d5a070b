//! The simulated card: a clock thread owns a [`CoreSim`] and connects it to a
//! TAP (frames), the wall clock (tick_us) and a register port for the host.
//!
//! The loop runs the core in batches of [`BATCH_CYCLES`]; between batches it
//! drains the TAP (nonblocking), sends what the core emitted, feeds the wall
//! time elapsed since the last batch, and serves register requests. When the
//! core is idle and nothing is pending it sleeps in `poll()` on the TAP fd and
//! an eventfd that [`RegPort`] signals, for at most [`IDLE_SLEEP`], then feeds
//! the microseconds that passed, so the core's timers follow wall-clock time.
use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    core_sim::CoreSim,
    host_mem::{HostMemory, DEFAULT_HOST_MEM_BYTES, DEFAULT_HOST_MEM_IOVA},
    impair::{ImpairCounts, PortImpairer, Resent},
    tap::Tap,
    SimError,
};

pub use crate::tap::TapSpec;

/// Cycles run between two looks at the TAP, the clock and the register queue
/// (~60 µs of wall time at ~4 M cycles/s; an idle TAP read costs ~235 ns).
pub const BATCH_CYCLES: u64 = 256;

/// Cycles run after waking from an idle sleep with nothing to do but feed
/// the elapsed time: enough for the tick to land and `idle` to be re-sampled,
/// so an idle card costs little even when the core simulates slowly.
pub const IDLE_BATCH_CYCLES: u64 = 8;

/// Longest idle sleep: bounds the latency of noticing wall time for the core's timers.
pub const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Frames taken from the TAP per look, so a flood cannot starve the register port.
const MAX_RX_PER_LOOK: usize = 64;

/// Register ops of one block request served between two looks at the TAP.
const OPS_PER_LOOK: usize = 64;

#[derive(Clone, Debug)]
pub struct CardConfig {
    /// The card's Ethernet port; None = no network (register-only card).
    pub tap: Option<TapSpec>,
    /// Record the port's frames (both directions) to this classic pcap file.
    pub pcap: Option<PathBuf>,
    /// VCD waveform of the core (needs the `vcd` feature; big: ~1 KB per cycle,
    /// and the idle card still runs ~256 cycles per ms).
    pub vcd: Option<PathBuf>,
    /// Seeded loss/reordering of the port's frames, arriving, leaving or
    /// both ([`crate::impair`]).
    pub impair: Option<crate::impair::Impairment>,
    /// Bytes of simulated host DMA memory at [`DEFAULT_HOST_MEM_IOVA`]: the
    /// driver places every connection's receive ring and the event ring in it.
    pub host_mem_bytes: usize,
}

impl Default for CardConfig {
    fn default() -> CardConfig {
        CardConfig { tap: None, pcap: None, vcd: None, impair: None, host_mem_bytes: DEFAULT_HOST_MEM_BYTES }
    }
}

/// What the card did, returned by [`Card::shutdown`].
#[derive(Clone, Debug, Default)]
pub struct CardReport {
    pub cycles: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Frames the kernel refused on TAP write (interface down, queue full).
    pub frames_out_dropped: u64,
    /// What the impairment did to frames arriving at the card.
    pub impaired_in: ImpairCounts,
    /// What the impairment did to frames the card sent (after its pcap).
    pub impaired_out: ImpairCounts,
    /// TCP payload bytes the card sent again: bytes below the highest
    /// sequence number it had sent on the connection ([`Resent`]), counted
    /// before the outbound impairment, beside `impaired_out`'s lost bytes.
    pub resent_payload_bytes: u64,
    pub reg_ops: u64,
    /// Microseconds fed to the core's tick input.
    pub sim_us: u64,
    pub wall: Duration,
    /// Time spent sleeping in poll() while the core was idle.
    pub idle_wall: Duration,
}

impl CardReport {
    /// Simulated cycles per second of wall time spent running (not sleeping).
    pub fn cycles_per_busy_second(&self) -> f64 {
        let busy = self.wall.saturating_sub(self.idle_wall).as_secs_f64();
        if busy > 0.0 {
            self.cycles as f64 / busy
        } else {
            0.0
        }
    }
}

enum RegRequest {
    Read { addr: u32, words: usize, reply: mpsc::SyncSender<Result<Vec<u32>, SimError>> },
    Write { addr: u32, vals: Vec<u32>, reply: mpsc::SyncSender<Result<Vec<u32>, SimError>> },
}

/// An eventfd the register port writes to wake the clock thread from poll().
#[derive(Debug)]
struct Wake(OwnedFd);

impl Wake {
    fn new() -> Result<Wake, SimError> {
        // SAFETY: plain syscall with flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(SimError::Io { what: "creating the card's eventfd".into(), source: io::Error::last_os_error() });
        }
        // SAFETY: `fd` is a fresh eventfd nothing else owns.
        Ok(Wake(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A failure can only
        // be EAGAIN at counter overflow, when the thread is awake anyway.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (not signalled) is fine.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// The host's handle on the card's register bus. Cloneable, `Send + Sync`.
/// Each call is one round trip to the clock thread; `read_block`/`write_block`
/// do many bus ops in one trip.
#[derive(Clone, Debug)]
pub struct RegPort {
    tx: mpsc::Sender<RegRequest>,
    wake: Arc<Wake>,
    exit_reason: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for RegRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegRequest::Read { addr, words, .. } => write!(f, "Read {addr:#x} x{words}"),
            RegRequest::Write { addr, vals, .. } => write!(f, "Write {addr:#x} x{}", vals.len()),
        }
    }
}

impl RegPort {
    pub fn read32(&self, addr: u32) -> Result<u32, SimError> {
        let mut v = [0u32];
        self.read_block(addr, &mut v)?;
        Ok(v[0])
    }

    pub fn write32(&self, addr: u32, v: u32) -> Result<(), SimError> {
        self.write_block(addr, &[v])
    }

    /// Reads `out.len()` registers at `addr`, `addr + 4`, ...
    pub fn read_block(&self, addr: u32, out: &mut [u32]) -> Result<(), SimError> {
        if out.is_empty() {
            return Ok(());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        let vals = self.call(RegRequest::Read { addr, words: out.len(), reply }, rx)?;
        out.copy_from_slice(&vals);
        Ok(())
    }

    /// Writes `vals` to `addr`, `addr + 4`, ... in order.
    pub fn write_block(&self, addr: u32, vals: &[u32]) -> Result<(), SimError> {
        if vals.is_empty() {
            return Ok(());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.call(RegRequest::Write { addr, vals: vals.to_vec(), reply }, rx).map(|_| ())
    }

    fn call(
        &self,
        req: RegRequest,
        rx: mpsc::Receiver<Result<Vec<u32>, SimError>>,
    ) -> Result<Vec<u32>, SimError> {
        self.tx.send(req).map_err(|_| self.stopped())?;
        self.wake.signal();
        rx.recv().map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> SimError {
        let reason = self.exit_reason.lock().ok().and_then(|g| g.clone());
        SimError::CardStopped { reason }
    }
}

pub struct Card {
    thread: Option<JoinHandle<Result<CardReport, SimError>>>,
    stop: Arc<AtomicBool>,
    regs: RegPort,
    tap_name: Option<String>,
    host_mem: HostMemory,
}

impl Card {
    /// Builds the core, opens the TAP (and pcap), and starts the clock thread.
    pub fn start(cfg: CardConfig) -> Result<Card, SimError> {
        let host_mem = HostMemory::new(DEFAULT_HOST_MEM_IOVA, cfg.host_mem_bytes);
        let mut sim = match &cfg.vcd {
            Some(vcd) => CoreSim::new_traced(vcd, host_mem.clone())?,
            None => CoreSim::with_host_memory(host_mem.clone())?,
        };
        if let Some(path) = &cfg.pcap {
            sim.record_pcap(path)?;
        }
        let tap = cfg.tap.as_ref().map(Tap::open).transpose()?;
        let tap_name = tap.as_ref().map(|t| t.name().to_string());
        let wake = Arc::new(Wake::new()?);
        let stop = Arc::new(AtomicBool::new(false));
        let exit_reason = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel();
        let mut clock = ClockLoop {
            sim,
            tap,
            requests: rx,
            wake: wake.clone(),
            stop: stop.clone(),
            frames_out_dropped: 0,
            idle_wall: Duration::ZERO,
            rx_buf: vec![0u8; 65536],
            impair: cfg.impair.map(PortImpairer::new),
            resent: Resent::default(),
        };
        let reason = exit_reason.clone();
        let thread = std::thread::Builder::new()
            .name("holdback-card".into())
            .spawn(move || {
                let r = clock.run();
                if let Err(e) = &r {
                    tracing::error!("card clock thread stopped: {e}");
                    if let Ok(mut g) = reason.lock() {
                        *g = Some(e.to_string());
                    }
                }
                r
            })
            .map_err(SimError::Thread)?;
        tracing::info!(tap = ?tap_name, pcap = ?cfg.pcap, "simulated card started");
        Ok(Card { thread: Some(thread), stop, regs: RegPort { tx, wake, exit_reason }, tap_name, host_mem })
    }

    /// A handle on the register bus (clone it freely).
    pub fn regs(&self) -> RegPort {
        self.regs.clone()
    }

    /// The host's DMA memory the card writes payload and event records into
    /// (a shared handle; the clock thread writes while the host reads).
    pub fn host_memory(&self) -> HostMemory {
        self.host_mem.clone()
    }

    /// The TAP interface name, if the card has a port.
    pub fn tap_name(&self) -> Option<&str> {
        self.tap_name.as_deref()
    }

    /// Whether the clock thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the clock thread and returns what the card did (or why it stopped early).
    pub fn shutdown(mut self) -> Result<CardReport, SimError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<CardReport, SimError> {
        self.stop.store(true, Ordering::Release);
        self.regs.wake.signal();
        match self.thread.take() {
            Some(t) => t.join().map_err(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                SimError::ThreadPanicked(msg)
            })?,
            None => Err(SimError::CardStopped { reason: Some("already shut down".into()) }),
        }
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.stop_and_join() {
                tracing::warn!("card dropped without shutdown: {e}");
            }
        }
    }
}

struct ClockLoop {
    sim: CoreSim,
    tap: Option<Tap>,
    requests: mpsc::Receiver<RegRequest>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    frames_out_dropped: u64,
    idle_wall: Duration,
    rx_buf: Vec<u8>,
    impair: Option<PortImpairer>,
    /// Payload bytes the card resent, counted on every frame it emits to the TAP.
    resent: Resent,
}

impl ClockLoop {
    fn run(&mut self) -> Result<CardReport, SimError> {
        let start = Instant::now();
        let mut fed_us: u64 = 0;
        let mut requests_open = true;
        while !self.stop.load(Ordering::Acquire) {
            let was_quiet = self.sim.is_quiescent();
            // Feed the wall time that passed since the last look.
            let wall_us = start.elapsed().as_micros() as u64;
            if wall_us > fed_us {
                // advance_us takes u32: at most ~71 min per call, far above one loop turn.
                let d = (wall_us - fed_us).min(u32::MAX as u64);
                self.sim.advance_us(d as u32);
                fed_us += d;
            }
            self.service_io()?;
            let mut served = false;
            while requests_open {
                match self.requests.try_recv() {
                    Ok(req) => {
                        self.serve(req)?;
                        served = true;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    // All RegPorts gone: keep running the network side until shutdown.
                    Err(mpsc::TryRecvError::Disconnected) => requests_open = false,
                }
            }
            let batch = if was_quiet && !served && self.sim.rx_pending() == 0 { IDLE_BATCH_CYCLES } else { BATCH_CYCLES };
            self.sim.run(batch);
            self.send_tx()?;
            if !served && self.sim.is_quiescent() {
                self.idle_sleep()?;
            }
        }
        let c = self.sim.counters();
        Ok(CardReport {
            cycles: self.sim.cycles(),
            frames_in: c.frames_in,
            frames_out: c.frames_out,
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            frames_out_dropped: self.frames_out_dropped,
            impaired_in: self.impair.as_ref().map_or_else(ImpairCounts::default, PortImpairer::inbound_counts),
            impaired_out: self.impair.as_ref().map_or_else(ImpairCounts::default, PortImpairer::outbound_counts),
            resent_payload_bytes: self.resent.bytes,
            reg_ops: c.reg_ops,
            sim_us: self.sim.now_us(),
            wall: start.elapsed(),
            idle_wall: self.idle_wall,
        })
    }

    /// TAP → RX queue, emitted frames → TAP.
    fn service_io(&mut self) -> Result<(), SimError> {
        if let Some(tap) = &self.tap {
            let mut arrived = 0;
            for _ in 0..MAX_RX_PER_LOOK {
                match tap.recv(&mut self.rx_buf)? {
                    Some(0) | None => break,
                    Some(n) => {
                        arrived += 1;
                        let (sim, frame) = (&mut self.sim, &self.rx_buf[..n]);
                        match self.impair.as_mut().and_then(|p| p.inbound.as_mut()) {
                            Some(imp) => imp.arrive(frame, &mut |f| sim.push_frame(f)),
                            None => sim.push_frame(frame),
                        }
                    }
                }
            }
            if arrived == 0 {
                if let Some(imp) = self.impair.as_mut().and_then(|p| p.inbound.as_mut()) {
                    let sim = &mut self.sim;
                    imp.flush(&mut |f| sim.push_frame(f));
                }
            }
        }
        self.send_tx()
    }

    /// Emitted frames → (outbound impairment) → TAP.
    fn send_tx(&mut self) -> Result<(), SimError> {
        let Some(tap) = &self.tap else {
            while self.sim.pop_tx_frame().is_some() {}
            return Ok(());
        };
        let mut refused = 0u64;
        let mut failure: Option<SimError> = None;
        let mut send = |frame: &[u8]| match tap.send(frame) {
            Ok(true) => {}
            Ok(false) => {
                refused += 1;
                tracing::debug!(len = frame.len(), "TAP refused a frame (interface down or queue full)");
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        };
        let outbound = self.impair.as_mut().and_then(|p| p.outbound.as_mut());
        let mut emitted = 0;
        match outbound {
            Some(imp) => {
                while let Some(frame) = self.sim.pop_tx_frame() {
                    emitted += 1;
                    // Before the impairment: a resend the wire loses again was still sent.
                    self.resent.sent(&frame);
                    imp.arrive(&frame, &mut send);
                }
                // No frame followed the held one in this look: let it go now.
                if emitted == 0 {
                    imp.flush(&mut send);
                }
            }
            None => {
                while let Some(frame) = self.sim.pop_tx_frame() {
                    self.resent.sent(&frame);
                    send(&frame);
                }
            }
        }
        self.frames_out_dropped += refused;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn serve(&mut self, req: RegRequest) -> Result<(), SimError> {
        let (result, reply) = match req {
            RegRequest::Read { addr, words, reply } => {
                let mut vals = Vec::with_capacity(words);
                let mut r = Ok(());
                for i in 0..words {
                    if i > 0 && i % OPS_PER_LOOK == 0 {
                        self.service_io()?;
                    }
                    match self.sim.reg_read(addr.wrapping_add(4 * i as u32)) {
                        Ok(v) => vals.push(v),
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                (r.map(|()| vals), reply)
            }
            RegRequest::Write { addr, vals, reply } => {
                let mut r = Ok(Vec::new());
                for (i, v) in vals.iter().enumerate() {
                    if i > 0 && i % OPS_PER_LOOK == 0 {
                        self.service_io()?;
                    }
                    if let Err(e) = self.sim.reg_write(addr.wrapping_add(4 * i as u32), *v) {
                        r = Err(e);
                        break;
                    }
                }
                (r, reply)
            }
        };
        // The caller may have given up (dropped its receiver): nothing to do then.
        let _ = reply.send(result);
        Ok(())
    }

    /// Blocks until a frame arrives, a register request is signalled, or IDLE_SLEEP passes.
    fn idle_sleep(&mut self) -> Result<(), SimError> {
        let mut fds = [
            libc::pollfd { fd: self.wake.0.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.tap.as_ref().map_or(-1, |t| t.as_raw_fd()), events: libc::POLLIN, revents: 0 },
        ];
        let t0 = Instant::now();
        // SAFETY: `fds` is a live array of 2 pollfds (a negative fd is ignored by poll).
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, IDLE_SLEEP.as_millis() as libc::c_int) };
        self.idle_wall += t0.elapsed();
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(SimError::Io { what: "poll() in the card's idle sleep".into(), source: e });
            }
        }
        if fds[0].revents != 0 {
            self.wake.clear();
        }
        Ok(())
    }
}
