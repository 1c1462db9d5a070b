//! Typed access to a holdback card through any [`Bar`]: ID block check,
//! configuration, TCBs, change log, receive rings, release registers, stats.
//!
//! Every address comes from `holdback_regmap`; nothing here knows an offset.
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use holdback_regmap::{self as regmap, CoreParams, Stat};
use serde::{Deserialize, Serialize};

use crate::bar::{Bar, BarError, BAR_SIZE};
use crate::stats::Stats;
use crate::{MacAddr, SeqNum, Tcb, TcbError};

/// Why [`CardHandle::open`] refused the BAR.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{bar} is not a holdback card: ID magic is {found:#010x}, expected {expected:#010x} (\"HLDB\"); \
         is the right bitstream loaded and the right device selected?"
    )]
    BadMagic { bar: String, found: u32, expected: u32 },
    #[error(
        "{bar} speaks register map version {found}, this driver speaks version {expected}; \
         load a bitstream built from the same holdback release as this binary"
    )]
    VersionMismatch { bar: String, found: u32, expected: u32 },
    #[error("{bar} reports {what} = {found}, but {requirement}")]
    BadParameter { bar: String, what: &'static str, found: u32, requirement: String },
    #[error("reading the ID block")]
    Bar(#[from] BarError),
}

/// Why an operation on an open card failed.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("{op}")]
    Bar {
        op: String,
        #[source]
        source: BarError,
    },
    #[error("connection id {id} does not exist: the card has {conns} TCBs")]
    NoSuchConnection { id: u16, conns: u32 },
    #[error("TCB {id}")]
    Tcb {
        id: u16,
        #[source]
        source: TcbError,
    },
    #[error("TCB {id} changed during each of {tries} consecutive reads; no consistent copy")]
    TcbUnstable { id: u16, tries: u32 },
    #[error("writing TCB {id} needs standby mode (CTRL.standby); the card is active")]
    NotStandby { id: u16 },
    #[error("reading {len} ring bytes of connection {id}: the ring holds only {ring_bytes}")]
    RingReadTooLong { id: u16, len: usize, ring_bytes: u32 },
    #[error("invalid card settings")]
    Settings(#[from] SettingsError),
    #[error("{reg} did not keep its value: wrote {wrote:#010x}, read back {read:#010x}")]
    NotApplied { reg: &'static str, wrote: u32, read: u32 },
    #[error("promoting to epoch {epoch} needs an enabled card in standby; CTRL is {ctrl:?}")]
    PromoteNotStandby { epoch: u32, ctrl: Ctrl },
    #[error("promoting to epoch {epoch}: a promotion is already under way")]
    PromoteBusy { epoch: u32 },
    #[error("promoting to epoch {epoch}: not done after {waited:?} (PROMOTE reads {status:#x})")]
    PromoteTimeout { epoch: u32, waited: Duration, status: u32 },
}

/// What is wrong with a [`CardSettings`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{count} listening ports given, the card has {slots} slots")]
    TooManyPorts { count: usize, slots: usize },
    #[error("listening port 0 is not a port")]
    PortZero,
    #[error("listening port {0} given twice")]
    DuplicatePort(u16),
    #[error("our_mss {0} is outside 64..=9000")]
    Mss(u16),
    #[error("rto_us must be > 0")]
    RtoZero,
}

trait Context<T> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T, CardError>;
}

impl<T> Context<T> for Result<T, BarError> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T, CardError> {
        self.map_err(|source| CardError::Bar { op: op(), source })
    }
}

/// The generation parameters the card reported in its ID block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    /// Register map / TCB layout version.
    pub version: u32,
    /// Number of TCBs N.
    pub conns: u32,
    /// Receive ring bytes per connection.
    pub ring_bytes: u32,
    /// 32-bit words per TCB.
    pub tcb_words: u32,
    /// Low 32 bits of the hash of the generated Verilog.
    pub build_id: u32,
}

impl CardInfo {
    pub fn params(&self) -> CoreParams {
        CoreParams {
            conn_bits: self.conns.trailing_zeros() as usize,
            ring_bits: self.ring_bytes.trailing_zeros() as usize,
        }
    }
}

/// What the host configures before enabling the card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSettings {
    /// Our MAC address.
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub ip: Ipv4Addr,
    /// Up to 4 listening TCP ports.
    pub listen_ports: Vec<u16>,
    /// ACK holdback on for new connections.
    pub holdback: bool,
    /// MSS announced in our SYN-ACKs.
    pub our_mss: u16,
    /// Retransmission timeout for our SYN-ACK and FIN, microseconds.
    pub rto_us: u32,
}

impl CardSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let slots = regmap::LISTEN_SLOTS.len();
        if self.listen_ports.len() > slots {
            return Err(SettingsError::TooManyPorts { count: self.listen_ports.len(), slots });
        }
        for (i, p) in self.listen_ports.iter().enumerate() {
            if *p == 0 {
                return Err(SettingsError::PortZero);
            }
            if self.listen_ports[..i].contains(p) {
                return Err(SettingsError::DuplicatePort(*p));
            }
        }
        if !(64..=9000).contains(&self.our_mss) {
            return Err(SettingsError::Mss(self.our_mss));
        }
        if self.rto_us == 0 {
            return Err(SettingsError::RtoZero);
        }
        Ok(())
    }
}

/// The CTRL register, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ctrl {
    pub enabled: bool,
    pub holdback: bool,
    pub standby: bool,
    /// After a promotion: one ACK at R plus three duplicates per connection.
    pub dup_acks: bool,
    /// New connections' SYN-ACKs wait for their release (claim 31).
    pub hold_synack: bool,
}

impl Ctrl {
    fn from_bits(v: u32) -> Ctrl {
        Ctrl {
            enabled: v & regmap::CTRL_ENABLE != 0,
            holdback: v & regmap::CTRL_HOLDBACK != 0,
            standby: v & regmap::CTRL_STANDBY != 0,
            dup_acks: v & regmap::CTRL_PROMOTE_DUP_ACKS != 0,
            hold_synack: v & regmap::CTRL_HOLD_SYNACK != 0,
        }
    }
}

/// The PROMOTE register, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// A promotion was requested or the card is walking its TCBs.
    pub busy: bool,
    /// The last promotion finished (the card is active in its epoch).
    pub done: bool,
}

/// What [`CardHandle::promote`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromoteReport {
    /// The card's epoch now (the one asked for).
    pub epoch: u32,
    /// From the PROMOTE write to PROMOTE.done.
    pub took: Duration,
    /// PROMOTE reads until done.
    pub polls: u32,
}

/// Pause between PROMOTE reads while a promotion runs (the walk over N TCBs
/// takes microseconds on hardware, longer on the simulated card).
const PROMOTE_POLL: Duration = Duration::from_micros(200);

/// A snapshot of the card's status registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardStatus {
    /// Nothing in flight (no frame, no host op, engine idle).
    pub idle: bool,
    /// Connections not CLOSED.
    pub open_conns: u16,
    /// The core's microsecond clock.
    pub now_us: u32,
    pub ctrl: Ctrl,
}

/// Upper bound on change-log pops per drain, as a multiple of N. The log is
/// deduplicated by a dirty bit, so at most N ids are pending when a drain
/// starts; the engine can add more while we pop. Bounding keeps a wedged
/// FIFO (valid stuck at 1) from hanging the service loop; ids left behind
/// are picked up by the next drain.
const CHLOG_DRAIN_FACTOR: usize = 2;

/// Block reads [`CardHandle::read_tcb_stable`] tries before giving up: a TCB
/// changing on every one of them means a connection busier than the bus.
pub const TCB_STABLE_TRIES: u32 = 8;

/// An opened card: the BAR plus what its ID block said.
pub struct CardHandle<B: Bar> {
    bar: B,
    info: CardInfo,
}

impl<B: Bar> CardHandle<B> {
    /// Check the ID block — magic first, then version — before touching any
    /// other register, then read and sanity-check the generation parameters.
    pub fn open(bar: B) -> Result<CardHandle<B>, OpenError> {
        let magic = bar.read32(regmap::ID_MAGIC.offset)?;
        if magic != regmap::MAGIC {
            return Err(OpenError::BadMagic { bar: bar.describe(), found: magic, expected: regmap::MAGIC });
        }
        let version = bar.read32(regmap::ID_VERSION.offset)?;
        if version != regmap::VERSION {
            return Err(OpenError::VersionMismatch { bar: bar.describe(), found: version, expected: regmap::VERSION });
        }
        let info = CardInfo {
            version,
            conns: bar.read32(regmap::ID_CONNS.offset)?,
            ring_bytes: bar.read32(regmap::ID_RING_BYTES.offset)?,
            tcb_words: bar.read32(regmap::ID_TCB_WORDS.offset)?,
            build_id: bar.read32(regmap::ID_BUILD.offset)?,
        };
        let bad = |what, found, requirement: String| OpenError::BadParameter { bar: bar.describe(), what, found, requirement };
        let max_conns = (regmap::TCB_BASE - regmap::RELEASE_BASE) / 4;
        if !info.conns.is_power_of_two() || info.conns > max_conns || info.conns > 1 << 16 {
            return Err(bad("ID_CONNS", info.conns, format!("N must be a power of two ≤ {max_conns}")));
        }
        let max_ring = 1u32 << regmap::MAX_RING_BITS;
        if !info.ring_bytes.is_power_of_two() || info.ring_bytes < 8 || info.ring_bytes > max_ring {
            return Err(bad("ID_RING_BYTES", info.ring_bytes, format!("the ring must be a power of two in 8..={max_ring}")));
        }
        if info.tcb_words != regmap::TCB_WORDS as u32 {
            return Err(bad("ID_TCB_WORDS", info.tcb_words, format!("layout version {version} has {} words", regmap::TCB_WORDS)));
        }
        if regmap::TCB_BASE + regmap::TCB_STRIDE * info.conns > regmap::RING_BASE
            || regmap::RING_BASE as u64 + info.conns as u64 * info.ring_bytes as u64 > BAR_SIZE as u64
        {
            return Err(bad("ID_CONNS", info.conns, format!("{} rings of {} bytes do not fit the BAR", info.conns, info.ring_bytes)));
        }
        tracing::info!(bar = %bar.describe(), ?info, "opened holdback card");
        Ok(CardHandle { bar, info })
    }

    pub fn info(&self) -> &CardInfo {
        &self.info
    }

    pub fn bar(&self) -> &B {
        &self.bar
    }

    /// Give the BAR back (e.g. to close a VFIO device before its removal).
    pub fn into_bar(self) -> B {
        self.bar
    }

    fn read(&self, reg: regmap::Reg) -> Result<u32, CardError> {
        self.bar.read32(reg.offset).ctx(|| format!("reading {}", reg.name))
    }

    fn write(&self, reg: regmap::Reg, value: u32) -> Result<(), CardError> {
        self.bar.write32(reg.offset, value).ctx(|| format!("writing {} = {value:#x}", reg.name))
    }

    /// Write and read back: a register that does not keep its value means the
    /// BAR is not the card we think (or the bus is broken); find out now.
    fn write_checked(&self, reg: regmap::Reg, value: u32) -> Result<(), CardError> {
        self.write(reg, value)?;
        let read = self.read(reg)?;
        if read != value {
            return Err(CardError::NotApplied { reg: reg.name, wrote: value, read });
        }
        Ok(())
    }

    fn check_id(&self, id: u16) -> Result<(), CardError> {
        if id as u32 >= self.info.conns {
            return Err(CardError::NoSuchConnection { id, conns: self.info.conns });
        }
        Ok(())
    }

    /// Program addresses, listening ports, MSS, RTO and the holdback default.
    /// Leaves enable/standby as they are; call [`CardHandle::enable`] after.
    pub fn configure(&self, s: &CardSettings) -> Result<(), CardError> {
        s.validate()?;
        let (mac_hi, mac_lo) = s.mac.to_words();
        self.write_checked(regmap::MAC_HI, u32::from(mac_hi))?;
        self.write_checked(regmap::MAC_LO, mac_lo)?;
        self.write_checked(regmap::IPV4_ADDR, u32::from(s.ip))?;
        for (i, slot) in regmap::LISTEN_SLOTS.iter().enumerate() {
            let v = s.listen_ports.get(i).map_or(0, |p| regmap::LISTEN_ENABLE | *p as u32);
            self.write_checked(*slot, v)?;
        }
        self.write_checked(regmap::OUR_MSS, s.our_mss as u32)?;
        self.write_checked(regmap::RTO_US, s.rto_us)?;
        let ctrl = self.read(regmap::CTRL)?;
        let ctrl = if s.holdback { ctrl | regmap::CTRL_HOLDBACK } else { ctrl & !regmap::CTRL_HOLDBACK };
        self.write_checked(regmap::CTRL, ctrl)?;
        tracing::info!(ip = %s.ip, ports = ?s.listen_ports, holdback = s.holdback, "card configured");
        Ok(())
    }

    fn update_ctrl(&self, set: u32, clear: u32) -> Result<Ctrl, CardError> {
        let old = self.read(regmap::CTRL)?;
        let new = (old | set) & !clear;
        self.write(regmap::CTRL, new)?;
        Ok(Ctrl::from_bits(new))
    }

    /// Start processing frames (CTRL.enable).
    pub fn enable(&self) -> Result<(), CardError> {
        self.update_ctrl(regmap::CTRL_ENABLE, 0)?;
        tracing::info!("card enabled");
        Ok(())
    }

    /// Stop processing frames: the core drops everything it receives.
    pub fn disable(&self) -> Result<(), CardError> {
        self.update_ctrl(0, regmap::CTRL_ENABLE)?;
        tracing::info!("card disabled");
        Ok(())
    }

    /// The card's failover epoch (EPOCH register, invariant 8).
    pub fn epoch(&self) -> Result<u32, CardError> {
        self.read(regmap::EPOCH)
    }

    /// Set the card's epoch: when it joins as standby, or when the host learns
    /// of a newer epoch (then also [`CardHandle::set_standby`]`(true)`: a card
    /// that knows a newer epoch stops transmitting, invariant 8).
    pub fn set_epoch(&self, epoch: u32) -> Result<(), CardError> {
        self.write_checked(regmap::EPOCH, epoch)?;
        tracing::info!(epoch, "card epoch set");
        Ok(())
    }

    /// Hold each new connection's SYN-ACK until its release moves R past irs
    /// (`replicate = at-setup`, claim 31, invariant 6); off: SYN-ACK at once.
    pub fn set_hold_synack(&self, on: bool) -> Result<(), CardError> {
        if on {
            self.update_ctrl(regmap::CTRL_HOLD_SYNACK, 0)?;
        } else {
            self.update_ctrl(0, regmap::CTRL_HOLD_SYNACK)?;
        }
        tracing::info!(on, "hold SYN-ACK until released");
        Ok(())
    }

    /// PROMOTE's status bits.
    pub fn promotion(&self) -> Result<Promotion, CardError> {
        let v = self.read(regmap::PROMOTE)?;
        Ok(Promotion { busy: v & regmap::PROMOTE_BUSY != 0, done: v & regmap::PROMOTE_DONE != 0 })
    }

    /// Promote this standby card to active in `epoch` and wait (up to
    /// `timeout`) until it is done: the card sends a gratuitous ARP, resumes
    /// every connection from its released point R (invariant 3) and leaves
    /// standby. With `dup_acks` it also sends one ACK at R and three
    /// duplicates on each established connection, so the peers
    /// fast-retransmit (CTRL bit3 is set or cleared to match).
    pub fn promote(&self, epoch: u32, dup_acks: bool, timeout: Duration) -> Result<PromoteReport, CardError> {
        let ctrl = self.ctrl()?;
        if !(ctrl.enabled && ctrl.standby) {
            return Err(CardError::PromoteNotStandby { epoch, ctrl });
        }
        if self.promotion()?.busy {
            return Err(CardError::PromoteBusy { epoch });
        }
        if dup_acks {
            self.update_ctrl(regmap::CTRL_PROMOTE_DUP_ACKS, 0)?;
        } else {
            self.update_ctrl(0, regmap::CTRL_PROMOTE_DUP_ACKS)?;
        }
        let start = Instant::now();
        self.write(regmap::PROMOTE, epoch)?;
        let mut polls = 0;
        loop {
            let status = self.read(regmap::PROMOTE)?;
            polls += 1;
            if status & regmap::PROMOTE_DONE != 0 && status & regmap::PROMOTE_BUSY == 0 {
                let took = start.elapsed();
                let now = self.epoch()?;
                if now != epoch {
                    return Err(CardError::NotApplied { reg: "EPOCH", wrote: epoch, read: now });
                }
                tracing::info!(epoch, dup_acks, ?took, "card promoted to active");
                return Ok(PromoteReport { epoch, took, polls });
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(CardError::PromoteTimeout { epoch, waited, status });
            }
            std::thread::sleep(PROMOTE_POLL);
        }
    }

    /// Standby: silent on the wire, TCB writes allowed.
    pub fn set_standby(&self, standby: bool) -> Result<(), CardError> {
        if standby {
            self.update_ctrl(regmap::CTRL_STANDBY, 0)?;
        } else {
            self.update_ctrl(0, regmap::CTRL_STANDBY)?;
        }
        tracing::info!(standby, "card standby changed");
        Ok(())
    }

    pub fn ctrl(&self) -> Result<Ctrl, CardError> {
        Ok(Ctrl::from_bits(self.read(regmap::CTRL)?))
    }

    /// Our IPv4 address as programmed (the local half of every 4-tuple).
    pub fn our_ip(&self) -> Result<Ipv4Addr, CardError> {
        Ok(Ipv4Addr::from(self.read(regmap::IPV4_ADDR)?))
    }

    /// STATUS, NOW_US and CTRL.
    pub fn status(&self) -> Result<CardStatus, CardError> {
        let status = self.read(regmap::STATUS)?;
        Ok(CardStatus {
            idle: status & 1 != 0,
            open_conns: (status >> 16) as u16,
            now_us: self.read(regmap::NOW_US)?,
            ctrl: self.ctrl()?,
        })
    }

    /// Decode TCB `id`, read in one block from the TCB window.
    pub fn read_tcb(&self, id: u16) -> Result<Tcb, CardError> {
        self.check_id(id)?;
        let mut words = [0u32; regmap::TCB_WORDS];
        self.bar
            .read_block(regmap::tcb_word_addr(id as u32, 0), &mut words)
            .ctx(|| format!("reading TCB {id}"))?;
        Tcb::decode(&words).map_err(|source| CardError::Tcb { id, source })
    }

    /// Read TCB `id` until two consecutive block reads agree word for word
    /// (at most `TCB_STABLE_TRIES` reads). The TCB window is read one bus
    /// word at a time, so a read racing the engine can mix two versions of a
    /// TCB (new rcv_nxt, old rel); replication must not ship such a copy.
    pub fn read_tcb_stable(&self, id: u16) -> Result<Tcb, CardError> {
        self.check_id(id)?;
        let addr = regmap::tcb_word_addr(id as u32, 0);
        let mut prev = [0u32; regmap::TCB_WORDS];
        self.bar.read_block(addr, &mut prev).ctx(|| format!("reading TCB {id}"))?;
        for _ in 1..TCB_STABLE_TRIES {
            let mut next = [0u32; regmap::TCB_WORDS];
            self.bar.read_block(addr, &mut next).ctx(|| format!("reading TCB {id}"))?;
            if next == prev {
                return Tcb::decode(&next).map_err(|source| CardError::Tcb { id, source });
            }
            prev = next;
        }
        Err(CardError::TcbUnstable { id, tries: TCB_STABLE_TRIES })
    }

    /// Every TCB not CLOSED, by id.
    pub fn open_connections(&self) -> Result<Vec<(u16, Tcb)>, CardError> {
        let mut out = Vec::new();
        for id in 0..self.info.conns {
            let tcb = self.read_tcb(id as u16)?;
            if tcb.is_open() {
                out.push((id as u16, tcb));
            }
        }
        Ok(out)
    }

    /// Overwrite TCB `id` (the standby installing a replicated copy). The card
    /// accepts TCB writes only in standby, so this checks CTRL first rather
    /// than writing into a live engine.
    pub fn write_tcb(&self, id: u16, tcb: &Tcb) -> Result<(), CardError> {
        self.check_id(id)?;
        let words = tcb.encode().map_err(|source| CardError::Tcb { id, source })?;
        if !self.ctrl()?.standby {
            return Err(CardError::NotStandby { id });
        }
        self.bar
            .write_block(regmap::tcb_word_addr(id as u32, 0), &words)
            .ctx(|| format!("writing TCB {id}"))
    }

    /// Pop the change log until its valid bit is clear: ids of connections
    /// whose TCB changed since they were last popped, in log order. Bounded to
    /// 2·N pops; ids beyond wait for the next drain. An id ≥ N (a corrupt
    /// entry) is logged and skipped, so the ids already popped are not lost.
    pub fn drain_change_log(&self) -> Result<Vec<u16>, CardError> {
        let bound = CHLOG_DRAIN_FACTOR * self.info.conns as usize;
        let mut ids = Vec::new();
        for _ in 0..bound {
            let v = self.read(regmap::CHLOG_POP)?;
            if v & regmap::CHLOG_VALID == 0 {
                return Ok(ids);
            }
            let id = (v & 0xFFFF) as u16;
            if id as u32 >= self.info.conns {
                tracing::warn!(entry = format_args!("{v:#010x}"), conns = self.info.conns, "change log entry names no connection; skipped");
                continue;
            }
            ids.push(id);
        }
        tracing::debug!(bound, "change log drain hit its bound; the rest waits for the next drain");
        Ok(ids)
    }

    /// Copy `buf.len()` bytes of connection `id`'s receive stream starting at
    /// `stream_offset` (0 = first payload byte) out of its ring. Handles the
    /// wrap and unaligned starts and ends with at most two block reads. The
    /// caller knows which bytes are valid (below rcv_nxt, not yet
    /// overwritten: at most one ring's worth above the released point).
    pub fn read_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), CardError> {
        self.check_id(id)?;
        let ring = self.info.ring_bytes;
        if buf.len() > ring as usize {
            return Err(CardError::RingReadTooLong { id, len: buf.len(), ring_bytes: ring });
        }
        let start = (stream_offset % ring as u64) as u32;
        let first = buf.len().min((ring - start) as usize);
        let (head, tail) = buf.split_at_mut(first);
        self.read_ring_contiguous(id, start, head)?;
        self.read_ring_contiguous(id, 0, tail)
    }

    /// Bytes [ring_byte, ring_byte + buf.len()) of the ring, not wrapping.
    fn read_ring_contiguous(&self, id: u16, ring_byte: u32, buf: &mut [u8]) -> Result<(), CardError> {
        if buf.is_empty() {
            return Ok(());
        }
        let aligned = ring_byte & !3;
        let end = ring_byte + buf.len() as u32;
        let words = (end - aligned).div_ceil(4) as usize;
        let mut tmp = vec![0u32; words];
        let addr = regmap::ring_addr(&self.info.params(), id as u32, aligned);
        self.bar
            .read_block(addr, &mut tmp)
            .ctx(|| format!("reading ring of connection {id} at ring byte {ring_byte}"))?;
        let skip = (ring_byte - aligned) as usize;
        let bytes = tmp.iter().flat_map(|w| w.to_le_bytes()).skip(skip);
        for (dst, src) in buf.iter_mut().zip(bytes) {
            *dst = src;
        }
        Ok(())
    }

    /// Set the released point R of connection `id` (the card keeps the
    /// serial maximum, so a stale value is harmless).
    pub fn release(&self, id: u16, seq: impl Into<SeqNum>) -> Result<(), CardError> {
        self.check_id(id)?;
        let seq = seq.into();
        self.bar
            .write32(regmap::release_addr(id as u32), seq.0)
            .ctx(|| format!("releasing connection {id} up to {seq}"))?;
        tracing::trace!(id, %seq, "released");
        Ok(())
    }

    /// Read back the released point R of connection `id`.
    pub fn released(&self, id: u16) -> Result<SeqNum, CardError> {
        self.check_id(id)?;
        let v = self
            .bar
            .read32(regmap::release_addr(id as u32))
            .ctx(|| format!("reading RELEASE[{id}]"))?;
        Ok(SeqNum(v))
    }

    /// Every counter of the stats block, in one block read.
    pub fn stats(&self) -> Result<Stats, CardError> {
        let mut values = [0u32; Stat::COUNT];
        self.bar
            .read_block(regmap::STATS_BASE, &mut values)
            .ctx(|| "reading the stats block".to_string())?;
        Ok(Stats::from_values(values))
    }
}
