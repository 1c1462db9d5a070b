//! Typed access to a holdback card through any [`Bar`]: ID block check,
//! configuration, release registers, stats over registers; payload and TCB
//! state from host memory the card writes by DMA ([`CardHandle::attach_host_memory`]).
//!
//! Every address comes from `holdback_regmap`; nothing here knows an offset.
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use holdback_regmap::event_queue::{EventQueueConsumer, EventQueueError, EventRecordError, EventRing};
use holdback_regmap::{self as regmap, Stat};
use serde::{Deserialize, Serialize};

use crate::bar::{Bar, BarError};
use crate::host_mem::{DmaAllocator, DmaMemError, HostRings, RingLayout, MAX_RX_RING_BYTES, MIN_RX_RING_BYTES};
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
    #[error("writing TCB {id} needs standby mode (CTRL.standby); the card is active")]
    NotStandby { id: u16 },
    #[error("reading {len} ring bytes of connection {id}: the ring holds only {ring_bytes}")]
    RingReadTooLong { id: u16, len: usize, ring_bytes: u32 },
    #[error("writing {len} bytes into the transmit ring of connection {id}: the ring holds only {ring_bytes}")]
    TxRingWriteTooLong { id: u16, len: usize, ring_bytes: u32 },
    #[error("invalid card settings")]
    Settings(#[from] SettingsError),
    #[error("{reg} did not keep its value: wrote {wrote:#010x}, read back {read:#010x}")]
    NotApplied { reg: &'static str, wrote: u32, read: u32 },
    #[error(
        "the card has no relay mode: {reg} did not keep its value (wrote {wrote:#010x}, read back {read:#010x}); \
         load a core built with relay mode (docs/relay.md) or remove the relay mappings"
    )]
    NoRelayMode { reg: &'static str, wrote: u32, read: u32 },
    #[error("promoting to epoch {epoch} needs an enabled card in standby; CTRL is {ctrl:?}")]
    PromoteNotStandby { epoch: u32, ctrl: Ctrl },
    #[error("promoting to epoch {epoch}: a promotion is already under way")]
    PromoteBusy { epoch: u32 },
    #[error("promoting to epoch {epoch}: not done after {waited:?} (PROMOTE reads {status:#x})")]
    PromoteTimeout { epoch: u32, waited: Duration, status: u32 },
    #[error("the card's host memory")]
    HostMemory(#[from] DmaMemError),
    #[error("no host memory attached: the rings and the event queue are set up by attach_host_memory")]
    NoHostMemory,
    #[error("receive rings of {bytes} bytes: the card takes a power of two in {MIN_RX_RING_BYTES}..={max}")]
    RxRingBytes { bytes: u32, max: u32 },
    #[error("host memory must be attached while the card is disabled (RX_RING_LOG2 is written with CTRL.enable 0)")]
    AttachWhileEnabled,
    #[error("the event queue's writer stayed active {waited:?} after EQ_CTRL.enable fell")]
    EventQueueBusy { waited: Duration },
    #[error("the event queue did not settle within {waited:?}: produced {produced}, consumed {consumed}")]
    EventQueueUnsettled { waited: Duration, produced: u16, consumed: u16 },
    #[error("reading the event ring")]
    EventRing(#[source] EventQueueError),
    #[error("an event ring of ID_EQ_ENTRIES records")]
    EventRingGeometry(#[source] EventRecordError),
    #[error("the card refused to connect to {remote} from port {local_port}: no free TCB, or the card is disabled or standby")]
    ConnectRefused { remote: std::net::SocketAddrV4, local_port: u16 },
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
    #[error("port {0} has a holdback setting of its own but is not a listening port")]
    HoldbackForUnknownPort(u16),
    #[error("port {0} has two holdback settings of its own")]
    DuplicateHoldback(u16),
    #[error("port {0} has a relay backend but is not a listening port")]
    RelayForUnknownPort(u16),
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
    /// The largest receive ring per connection the card supports (the ring
    /// in use is [`CardHandle::rx_ring_bytes`]).
    pub ring_bytes: u32,
    /// Records in the event ring (at least N).
    #[serde(default)]
    pub eq_entries: u32,
    /// 32-bit words per TCB.
    pub tcb_words: u32,
    /// Low 32 bits of the hash of the generated Verilog.
    pub build_id: u32,
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
    /// ACK holdback on for new connections (to ports not in `port_holdback`).
    pub holdback: bool,
    /// Listening ports that set holdback for their own connections,
    /// whatever `holdback` says (LISTENn bits 17-18).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_holdback: Vec<PortHoldback>,
    /// MSS announced in our SYN-ACKs.
    pub our_mss: u16,
    /// Retransmission timeout for our SYN-ACK and FIN, microseconds.
    pub rto_us: u32,
    /// Out-of-order reassembly (RX_REASM): in-window segments beyond rcv_nxt
    /// are held in the receive ring instead of dropped.
    #[serde(default = "reassembly_default")]
    pub reassembly: bool,
    /// SACK (RX_REASM bit1, RFC 2018): with reassembly, offered to peers
    /// whose SYN permits it, and the held ranges go out as SACK blocks. Off
    /// by default: in the lab Linux peers resent more with it (README).
    #[serde(default)]
    pub sack: bool,
    /// TCP timestamps (TIMESTAMPS, RFC 7323): offered to peers whose SYN
    /// carries the option; PAWS and TS.Recent on those connections
    /// (docs/engine.md, Timestamps).
    #[serde(default)]
    pub timestamps: bool,
    /// SYN cookies (SYN_COOKIES, RFC 4987 §3.6, docs/syn-cookies.md): the
    /// half-open count at or above which a SYN is answered by a cookie
    /// instead of a TCB (0: every SYN); None: off, the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_cookies: Option<u16>,
    /// The cookies' SipHash keys (COOKIE_KEY0..7). Never serialized: the
    /// daemon derives them at card setup (from the pair's shared secret, so
    /// both cards of a pair check each other's cookies).
    #[serde(skip)]
    pub cookie_keys: CookieKeys,
}

/// The two SipHash-2-4 keys of the SYN cookies (docs/syn-cookies.md): key0
/// hashes the connection's tuple, key1 the tuple and the time count. As
/// u128s whose `to_le_bytes()` are SipHash's key bytes; COOKIE_KEY0 holds
/// key0's bits 31:0, COOKIE_KEY4 key1's.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct CookieKeys {
    pub key0: u128,
    pub key1: u128,
}

/// The keys are secrets shared by the pair: logs show neither.
impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKeys(..)")
    }
}

/// One relay mapping as the card takes it (docs/relay.md, "Relay slots"):
/// clients of listening port `listen` are relayed to `backend`, whose
/// frames go to `next_hop` (the card has no ARP cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayTarget {
    pub listen: u16,
    pub backend: std::net::SocketAddrV4,
    pub next_hop: MacAddr,
}

/// TS_CLOCK ticks every 1024 us: about this many per second.
const TS_TICKS_PER_S: u32 = 1_000_000 / 1024;

/// The wall clock in TS_CLOCK's 1024-us ticks, modulo 2^32 (RFC 7323 §5.4:
/// TSvals only need to increase, in serial order).
pub fn wall_clock_ts_ticks() -> u32 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (since_epoch.as_micros() >> 10) as u32
}

/// Reassembly is on unless a config turns it off.
fn reassembly_default() -> bool {
    true
}

/// A listening port's own holdback setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortHoldback {
    pub port: u16,
    pub holdback: bool,
}

impl CardSettings {
    /// The holdback a connection to `port` gets: the port's own, else the default.
    pub fn holdback_for(&self, port: u16) -> bool {
        self.own_holdback(port).unwrap_or(self.holdback)
    }

    /// The port's own holdback setting, if it has one.
    pub fn own_holdback(&self, port: u16) -> Option<bool> {
        self.port_holdback.iter().find(|p| p.port == port).map(|p| p.holdback)
    }

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
        for (i, p) in self.port_holdback.iter().enumerate() {
            if !self.listen_ports.contains(&p.port) {
                return Err(SettingsError::HoldbackForUnknownPort(p.port));
            }
            if self.port_holdback[..i].iter().any(|q| q.port == p.port) {
                return Err(SettingsError::DuplicateHoldback(p.port));
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

/// Longest the event queue's writer may stay active after its enable fell
/// (one record in flight).
const EQ_STOP_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between register reads while waiting on the event queue.
const EQ_POLL: Duration = Duration::from_micros(50);

/// The host's half of the DMA data path: the rings in host memory, the
/// event ring's consumer, and the mirror of every TCB the records built.
struct HostPath {
    rings: HostRings,
    consumer: EventQueueConsumer,
    /// Connection `id`'s latest TCB as its last record (or the host's own
    /// write, on a standby) carried it: whole, never torn.
    mirror: Vec<Tcb>,
}

/// An opened card: the BAR plus what its ID block said, and (once attached)
/// its host memory.
pub struct CardHandle<B: Bar> {
    bar: B,
    info: CardInfo,
    host: Mutex<Option<HostPath>>,
    /// CONNECT is four register writes and a read: one caller at a time.
    connect_lock: Mutex<()>,
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
            eq_entries: bar.read32(regmap::ID_EQ_ENTRIES.offset)?,
            tcb_words: bar.read32(regmap::ID_TCB_WORDS.offset)?,
            build_id: bar.read32(regmap::ID_BUILD.offset)?,
        };
        let bad = |what, found, requirement: String| OpenError::BadParameter { bar: bar.describe(), what, found, requirement };
        let max_conns = (regmap::TCB_BASE - regmap::RELEASE_BASE) / 4;
        if !info.conns.is_power_of_two() || info.conns > max_conns || info.conns > 1 << 16 {
            return Err(bad("ID_CONNS", info.conns, format!("N must be a power of two ≤ {max_conns}")));
        }
        if !info.ring_bytes.is_power_of_two() || !(MIN_RX_RING_BYTES..=MAX_RX_RING_BYTES).contains(&info.ring_bytes) {
            return Err(bad(
                "ID_RING_BYTES",
                info.ring_bytes,
                format!("the largest ring must be a power of two in {MIN_RX_RING_BYTES}..={MAX_RX_RING_BYTES}"),
            ));
        }
        if !info.eq_entries.is_power_of_two()
            || info.eq_entries < info.conns
            || info.eq_entries > 1 << regmap::event_queue::MAX_EVENT_RING_BITS
        {
            return Err(bad(
                "ID_EQ_ENTRIES",
                info.eq_entries,
                format!("the event ring must hold a power of two of records, at least N = {} and at most 2^{}", info.conns, regmap::event_queue::MAX_EVENT_RING_BITS),
            ));
        }
        if info.tcb_words != regmap::TCB_WORDS as u32 {
            return Err(bad("ID_TCB_WORDS", info.tcb_words, format!("layout version {version} has {} words", regmap::TCB_WORDS)));
        }
        if regmap::TCB_BASE as u64 + regmap::TCB_STRIDE as u64 * info.conns as u64 > crate::bar::BAR_SIZE as u64 {
            return Err(bad("ID_CONNS", info.conns, format!("{} TCBs do not fit the BAR", info.conns)));
        }
        tracing::info!(bar = %bar.describe(), ?info, "opened holdback card");
        Ok(CardHandle { bar, info, host: Mutex::new(None), connect_lock: Mutex::new(()) })
    }

    fn host(&self) -> MutexGuard<'_, Option<HostPath>> {
        // The mirror is plain data, updated record by record: a panic while
        // holding the lock leaves it as consistent as the records were.
        self.host.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets up the DMA data path: allocates the receive rings
    /// (`rx_ring_bytes` each), the transmit rings (as large) and the event
    /// ring from `alloc`, programs their addresses and the ring sizes, and (re)starts the event queue
    /// as docs/dma.md says: enable low, wait until the writer is idle, a
    /// zeroed ring, consumer count 0, enable high. The TCB mirror starts
    /// from one read of the TCB window while the card is disabled (so no
    /// read can tear), then follows the event records. Call before
    /// [`CardHandle::enable`].
    pub fn attach_host_memory(&self, alloc: &dyn DmaAllocator, rx_ring_bytes: u32) -> Result<(), CardError> {
        if !rx_ring_bytes.is_power_of_two() || !(MIN_RX_RING_BYTES..=self.info.ring_bytes).contains(&rx_ring_bytes) {
            return Err(CardError::RxRingBytes { bytes: rx_ring_bytes, max: self.info.ring_bytes });
        }
        if self.ctrl()?.enabled {
            return Err(CardError::AttachWhileEnabled);
        }
        let event_ring = EventRing::new(self.info.eq_entries.trailing_zeros()).map_err(CardError::EventRingGeometry)?;
        let layout = RingLayout::new(self.info.conns, rx_ring_bytes, event_ring)?;
        let mut host = self.host();
        *host = None;
        self.stop_event_queue()?;
        let rings = HostRings::allocate(alloc, layout)?;
        let (rx, tx, eq) = (rings.rx_ring_iova(), rings.tx_ring_iova(), rings.event_ring_iova());
        self.write_checked(regmap::RX_RING_BASE_LO, rx as u32)?;
        self.write_checked(regmap::RX_RING_BASE_HI, (rx >> 32) as u32)?;
        self.write_checked(regmap::RX_RING_LOG2, layout.rx_ring_log2())?;
        self.write_checked(regmap::TX_RING_BASE_LO, tx as u32)?;
        self.write_checked(regmap::TX_RING_BASE_HI, (tx >> 32) as u32)?;
        self.write_checked(regmap::TX_RING_LOG2, layout.tx_ring_log2())?;
        self.write_checked(regmap::EQ_BASE_LO, eq as u32)?;
        self.write_checked(regmap::EQ_BASE_HI, (eq >> 32) as u32)?;
        let mut mirror = Vec::with_capacity(self.info.conns as usize);
        for id in 0..self.info.conns {
            mirror.push(self.read_tcb(id as u16)?);
        }
        self.write(regmap::EQ_CONS, 0)?;
        self.write(regmap::EQ_CTRL, regmap::EQ_CTRL_ENABLE)?;
        tracing::info!(memory = %rings.memory().describe(), rx_rings = format_args!("{rx:#x}"), rx_ring_bytes,
            tx_rings = format_args!("{tx:#x}"), tx_ring_bytes = layout.tx_ring_bytes,
            event_ring = format_args!("{eq:#x}"), records = event_ring.entries(), "host memory attached: receive and transmit rings, event queue");
        *host = Some(HostPath { rings, consumer: EventQueueConsumer::new(event_ring), mirror });
        Ok(())
    }

    /// Drops EQ_CTRL.enable and waits until the writer has no record in flight.
    fn stop_event_queue(&self) -> Result<(), CardError> {
        self.write(regmap::EQ_CTRL, 0)?;
        let start = Instant::now();
        while self.read(regmap::EQ_CTRL)? & regmap::EQ_CTRL_ACTIVE != 0 {
            if start.elapsed() >= EQ_STOP_TIMEOUT {
                return Err(CardError::EventQueueBusy { waited: start.elapsed() });
            }
            std::thread::sleep(EQ_POLL);
        }
        Ok(())
    }

    /// Bytes of every connection's receive ring in host memory.
    pub fn rx_ring_bytes(&self) -> Result<u32, CardError> {
        Ok(self.host().as_ref().ok_or(CardError::NoHostMemory)?.rings.layout().rx_ring_bytes)
    }

    /// The rings in host memory (a test writes into them as the card would).
    pub fn host_rings(&self) -> Option<HostRings> {
        self.host().as_ref().map(|h| h.rings.clone())
    }

    /// Takes every event record the card has finished, folds each into the
    /// TCB mirror, and hands the consumer count back (`EQ_CONS`, one
    /// register write per call that took something). Returns the ids of the
    /// connections whose TCB changed, in record order. The event ring has
    /// one consumer: the daemon's event pump. A record that does not decode
    /// is skipped and logged; the connection's next change repairs the mirror.
    pub fn poll_events(&self) -> Result<Vec<u16>, CardError> {
        let mut guard = self.host();
        let host = guard.as_mut().ok_or(CardError::NoHostMemory)?;
        let before = host.consumer.consumed();
        let mut ids = Vec::new();
        // Bounded by one ring's worth: the writer cannot have more waiting.
        for _ in 0..host.consumer.ring().entries() {
            match host.consumer.poll(&host.rings.event_memory()) {
                Ok(None) => break,
                Ok(Some(rec)) => {
                    let Some(slot) = host.mirror.get_mut(rec.conn as usize) else {
                        tracing::warn!(conn = rec.conn, conns = self.info.conns, "event record names no connection; skipped");
                        continue;
                    };
                    *slot = rec.tcb;
                    ids.push(rec.conn);
                }
                Err(e @ EventQueueError::BadRecord { .. }) => {
                    tracing::warn!(error = %e, "event record skipped");
                }
                Err(e) => return Err(CardError::EventRing(e)),
            }
        }
        let consumed = host.consumer.consumed();
        if consumed != before {
            self.write(regmap::EQ_CONS, consumed as u32)?;
        }
        Ok(ids)
    }

    /// [`CardHandle::poll_events`] until the card has nothing more to say:
    /// every record it produced is consumed and its writer is idle (or
    /// `timeout`). For a picture of every TCB as the card holds it now
    /// (after a promotion's walk, before a hand-over's final copies).
    pub fn settle_events(&self, timeout: Duration) -> Result<Vec<u16>, CardError> {
        let start = Instant::now();
        let mut ids = Vec::new();
        loop {
            ids.extend(self.poll_events()?);
            let produced = self.read(regmap::EQ_PROD)? as u16;
            let active = self.read(regmap::EQ_CTRL)? & regmap::EQ_CTRL_ACTIVE != 0;
            let consumed = self.host().as_ref().ok_or(CardError::NoHostMemory)?.consumer.consumed();
            if produced == consumed && !active {
                return Ok(ids);
            }
            if start.elapsed() >= timeout {
                return Err(CardError::EventQueueUnsettled { waited: start.elapsed(), produced, consumed });
            }
            std::thread::sleep(EQ_POLL);
        }
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
            let v = s.listen_ports.get(i).map_or(0, |p| regmap::listen_value(*p, s.own_holdback(*p)));
            self.write_checked(*slot, v)?;
        }
        self.write_checked(regmap::OUR_MSS, s.our_mss as u32)?;
        self.write_checked(regmap::RTO_US, s.rto_us)?;
        self.write_checked(regmap::RX_REASM, u32::from(s.reassembly) | (u32::from(s.sack) << 1))?;
        self.write_checked(regmap::TIMESTAMPS, u32::from(s.timestamps))?;
        // Invariant 7 (docs/failover.md): the timestamp clock starts at this
        // host's wall clock, so both cards of a pair send TSvals from one
        // base. Only on a card not yet enabled: moving a running card's
        // clock could send a TSval behind one it already sent.
        if self.read(regmap::CTRL)? & regmap::CTRL_ENABLE == 0 {
            self.set_ts_clock(wall_clock_ts_ticks())?;
        }
        // The same value floors the RTO the card estimates for data (RFC 6298
        // §2.4 asks for 1 s; Linux, and so the configured 200 ms default, use
        // less), so recovery after a sample is as quick as before one.
        self.write_checked(regmap::RTO_MIN_US, s.rto_us)?;
        // The keys before the switch, so cookies never go out under old keys.
        // They read 0 (secrets): nothing to check them against.
        for (reg, w) in regmap::COOKIE_KEYS.into_iter().zip(regmap::cookie_key_words(s.cookie_keys.key0, s.cookie_keys.key1)) {
            self.bar.write32(reg.offset, w).ctx(|| format!("writing {} (a SYN cookie key word)", reg.name))?;
        }
        self.write_checked(regmap::SYN_COOKIES, regmap::syn_cookies_value(s.syn_cookies))?;
        let ctrl = self.read(regmap::CTRL)?;
        let ctrl = if s.holdback { ctrl | regmap::CTRL_HOLDBACK } else { ctrl & !regmap::CTRL_HOLDBACK };
        self.write_checked(regmap::CTRL, ctrl)?;
        tracing::info!(ip = %s.ip, ports = ?s.listen_ports, holdback = s.holdback, port_holdback = ?s.port_holdback, reassembly = s.reassembly, sack = s.sack, timestamps = s.timestamps, syn_cookies = ?s.syn_cookies, "card configured");
        Ok(())
    }

    /// The relay registers of every listening slot: slot `i` (LISTENi, port
    /// `listen_ports[i]` as [`CardHandle::configure`] wrote it) relays to
    /// the target naming its port, and every other slot is cleared, so a
    /// card that relayed under other settings stops. With any target,
    /// RELAY_CONNECT_US := `connect_us` too (without one it has no effect
    /// and is left alone). Each write is read back: a core without relay
    /// mode keeps none of them, and that is found here, before the card is
    /// enabled. Call after `configure`, before `enable`.
    pub fn set_relays(&self, listen_ports: &[u16], targets: &[RelayTarget], connect_us: u32) -> Result<(), CardError> {
        for t in targets {
            if !listen_ports.contains(&t.listen) {
                return Err(CardError::Settings(SettingsError::RelayForUnknownPort(t.listen)));
            }
        }
        let write = |reg: regmap::Reg, value: u32| match self.write_checked(reg, value) {
            Err(CardError::NotApplied { reg, wrote, read }) => Err(CardError::NoRelayMode { reg, wrote, read }),
            other => other,
        };
        for (i, slot) in regmap::RELAY_SLOTS.iter().enumerate() {
            let target = listen_ports.get(i).and_then(|p| targets.iter().find(|t| t.listen == *p));
            let (ip, port, mac_hi, mac_lo) = match target {
                Some(t) => {
                    let (hi, lo) = t.next_hop.to_words();
                    (u32::from(*t.backend.ip()), regmap::RELAY_ENABLE | u32::from(t.backend.port()), u32::from(hi), lo)
                }
                None => (0, 0, 0, 0),
            };
            // The enable last: the slot never relays to a half-written backend.
            write(slot.port, 0)?;
            write(slot.ip, ip)?;
            write(slot.mac_hi, mac_hi)?;
            write(slot.mac_lo, mac_lo)?;
            write(slot.port, port)?;
        }
        if !targets.is_empty() {
            write(regmap::RELAY_CONNECT_US, connect_us)?;
        }
        tracing::info!(targets = ?targets, connect_us, "relay slots set");
        Ok(())
    }

    /// TS_CLOCK := `ticks`. The clock runs on, so the read-back may be
    /// ahead, by less than a second.
    fn set_ts_clock(&self, ticks: u32) -> Result<(), CardError> {
        self.write(regmap::TS_CLOCK, ticks)?;
        let read = self.read(regmap::TS_CLOCK)?;
        if read.wrapping_sub(ticks) >= TS_TICKS_PER_S {
            return Err(CardError::NotApplied { reg: regmap::TS_CLOCK.name, wrote: ticks, read });
        }
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

    /// TCBs in SYN-RECEIVED (HALF_OPEN), the count SYN_COOKIES compares
    /// with its threshold.
    pub fn half_open(&self) -> Result<u16, CardError> {
        Ok((self.read(regmap::HALF_OPEN)? & 0xFFFF) as u16)
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

    /// The card's microsecond clock (NOW_US), the clock of its lease.
    pub fn now_us(&self) -> Result<u32, CardError> {
        self.read(regmap::NOW_US)
    }

    /// Let the card speak until NOW_US reaches `until_us` (LEASE_UNTIL_US,
    /// docs/authority.md): past it the card is as silent as a standby,
    /// whatever its host does. 0 turns the check off.
    pub fn set_lease_until(&self, until_us: u32) -> Result<(), CardError> {
        self.write(regmap::LEASE_UNTIL_US, until_us)
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

    /// Send holdback (SEND_HOLDBACK, invariant 9) for connections opened
    /// from now on: `on` for every listening slot (none keeps a setting of
    /// its own). Each connection copies it at its SYN; with it on the card
    /// sends nothing at or above the connection's send limit
    /// ([`CardHandle::set_send_limit`]), which starts at 0.
    pub fn set_send_holdback(&self, on: bool) -> Result<(), CardError> {
        let v = regmap::send_holdback_value(on, [None; regmap::LISTEN_SLOTS.len()]);
        self.bar
            .write32(regmap::SEND_HOLDBACK.offset, v)
            .ctx(|| format!("setting SEND_HOLDBACK to {v:#x}"))?;
        tracing::info!(on, "send holdback for new connections");
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

    /// The timestamp clock (TS_CLOCK, 1024-us ticks): every TSval the card
    /// sends is this plus the connection's TS_OFFSET.
    pub fn ts_clock(&self) -> Result<u32, CardError> {
        self.read(regmap::TS_CLOCK)
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

    /// Decode TCB `id` from the TCB window, for diagnostics and the
    /// mirror's start: the window is read one bus word at a time, so on an
    /// enabled card a read can mix two versions of a busy TCB. In operation
    /// the host uses [`CardHandle::tcb`].
    pub fn read_tcb(&self, id: u16) -> Result<Tcb, CardError> {
        self.check_id(id)?;
        let mut words = [0u32; regmap::TCB_WORDS];
        self.bar
            .read_block(regmap::tcb_word_addr(id as u32, 0), &mut words)
            .ctx(|| format!("reading TCB {id}"))?;
        Tcb::decode(&words).map_err(|source| CardError::Tcb { id, source })
    }

    /// TCB `id` as the mirror holds it: the last record the card wrote for
    /// it (taken by [`CardHandle::poll_events`]), whole.
    pub fn tcb(&self, id: u16) -> Result<Tcb, CardError> {
        self.check_id(id)?;
        let host = self.host();
        Ok(host.as_ref().ok_or(CardError::NoHostMemory)?.mirror[id as usize].clone())
    }

    /// Every TCB of the mirror not CLOSED, by id.
    pub fn open_connections(&self) -> Result<Vec<(u16, Tcb)>, CardError> {
        let host = self.host();
        let host = host.as_ref().ok_or(CardError::NoHostMemory)?;
        Ok(host.mirror.iter().enumerate().filter(|(_, t)| t.is_open()).map(|(id, t)| (id as u16, t.clone())).collect())
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
        // The EPOCH word first: the card judges every word by the epoch the
        // TCB carries after it, and refuses a TCB older than its own EPOCH
        // (docs/authority.md).
        let epoch_word = regmap::tcb::EPOCH.word as usize;
        self.bar
            .write32(regmap::tcb_word_addr(id as u32, epoch_word as u32), words[epoch_word])
            .ctx(|| format!("writing TCB {id}'s EPOCH word"))?;
        for (start, part) in [(0, &words[..epoch_word]), (epoch_word + 1, &words[epoch_word + 1..])] {
            if !part.is_empty() {
                self.bar
                    .write_block(regmap::tcb_word_addr(id as u32, start as u32), part)
                    .ctx(|| format!("writing TCB {id}"))?;
            }
        }
        // The host knows what it wrote; the mirror has it before any record
        // of the card's (a later record carries the same or a newer state).
        if let Some(host) = self.host().as_mut() {
            host.mirror[id as usize] = tcb.clone();
        }
        Ok(())
    }

    /// Copy `buf.len()` bytes of connection `id`'s receive stream starting at
    /// `stream_offset` (0 = first payload byte) out of its ring in host
    /// memory, across the wrap. The caller knows which bytes are valid
    /// (below rcv_nxt in a record already taken — the card writes the
    /// payload before the record — and at most one ring above the released
    /// point).
    pub fn read_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), CardError> {
        self.check_id(id)?;
        let rings = self.host().as_ref().ok_or(CardError::NoHostMemory)?.rings.clone();
        let ring = rings.layout().rx_ring_bytes;
        if buf.len() > ring as usize {
            return Err(CardError::RingReadTooLong { id, len: buf.len(), ring_bytes: ring });
        }
        Ok(rings.read_ring(id, stream_offset, buf)?)
    }

    /// Bytes of every connection's transmit ring in host memory.
    pub fn tx_ring_bytes(&self) -> Result<u32, CardError> {
        Ok(self.host().as_ref().ok_or(CardError::NoHostMemory)?.rings.layout().tx_ring_bytes)
    }

    /// Copy `data` into connection `id`'s transmit ring at stream offset
    /// `stream_offset` (0 = the first byte the host sends), across the
    /// wrap. The caller keeps within snd_una + one ring (bytes below the
    /// peer's acknowledgement may be overwritten, the others not) and then
    /// moves the send tail ([`CardHandle::send_tail`]).
    pub fn write_tx_ring(&self, id: u16, stream_offset: u64, data: &[u8]) -> Result<(), CardError> {
        self.check_id(id)?;
        let rings = self.host().as_ref().ok_or(CardError::NoHostMemory)?.rings.clone();
        let ring = rings.layout().tx_ring_bytes;
        if data.len() > ring as usize {
            return Err(CardError::TxRingWriteTooLong { id, len: data.len(), ring_bytes: ring });
        }
        Ok(rings.write_tx_ring(id, stream_offset, data)?)
    }

    /// The send-tail doorbell: the host filled connection `id`'s transmit
    /// ring up to stream offset `stream_offset` (mod 2^32, the TCB's
    /// TX_END); the card sends the bytes below it. The card refuses (and
    /// counts) a tail that goes backwards or past snd_una + the ring.
    pub fn send_tail(&self, id: u16, stream_offset: u32) -> Result<(), CardError> {
        self.check_id(id)?;
        self.bar
            .write32(regmap::tx_tail_addr(id as u32), stream_offset)
            .ctx(|| format!("moving connection {id}'s send tail to {stream_offset}"))?;
        tracing::trace!(id, stream_offset, "send tail");
        Ok(())
    }

    /// Move connection `id`'s send limit L (SEND_LIMIT[id], send holdback,
    /// invariant 9) to transmit-stream offset `limit` (mod 2^32, the units
    /// of [`CardHandle::send_tail`]). With the connection's send holdback on
    /// (TCB `send_hold`, from SEND_HOLDBACK at its SYN) the card sends no
    /// byte at or above L — new data, retransmissions, zero-window probes —
    /// and its FIN only once L is past it (`limit` = tail + 1); with it off L
    /// is ignored. A new connection starts at 0 (nothing may go); an active
    /// card keeps the serial maximum of the writes, so a stale one is
    /// harmless, while a standby takes the value as written. A daemon with
    /// the `replica` gate writes L once the standby holds the bytes below it.
    pub fn set_send_limit(&self, id: u16, limit: u32) -> Result<(), CardError> {
        self.check_id(id)?;
        self.bar
            .write32(regmap::send_limit_addr(u32::from(id)), limit)
            .ctx(|| format!("moving connection {id}'s send limit to {limit}"))?;
        tracing::trace!(id, limit, "send limit");
        Ok(())
    }

    /// Close our side of connection `id` (CONN_CLOSE, RFC 9293 §3.10.4): from
    /// ESTABLISHED the card goes to FIN-WAIT-1 and sends its FIN after every
    /// byte below the send tail; in CLOSE-WAIT the FIN follows the release of
    /// the peer's FIN as always. Other states ignore it.
    pub fn close(&self, id: u16) -> Result<(), CardError> {
        self.check_id(id)?;
        self.bar
            .write32(regmap::CONN_CLOSE.offset, u32::from(id))
            .ctx(|| format!("closing connection {id}"))?;
        tracing::debug!(id, "close");
        Ok(())
    }

    /// Abort connection `id` (CONN_ABORT, RFC 9293 §3.10.5): the card sends a
    /// RST at snd_nxt and frees the slot. A free slot ignores it.
    pub fn abort(&self, id: u16) -> Result<(), CardError> {
        self.check_id(id)?;
        self.bar
            .write32(regmap::CONN_ABORT.offset, u32::from(id))
            .ctx(|| format!("aborting connection {id}"))?;
        tracing::debug!(id, "abort");
        Ok(())
    }

    /// Open a connection to `remote` from our `local_port` (CONNECT, RFC 9293
    /// §3.10.1 active OPEN): the card takes a free slot, enters SYN-SENT and
    /// sends its SYN to `next_hop` (the card has no ARP cache). Returns the
    /// connection id; its event records then say how the handshake goes
    /// (ESTABLISHED, or CLOSED when refused or given up). The caller picks a
    /// `local_port` no open connection and no listening port uses.
    pub fn connect(&self, remote: std::net::SocketAddrV4, local_port: u16, next_hop: MacAddr) -> Result<u16, CardError> {
        let _one_at_a_time = self.connect_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mac_hi, mac_lo) = next_hop.to_words();
        let ports = (u32::from(remote.port()) << 16) | u32::from(local_port);
        let what = || format!("connecting to {remote} from port {local_port}");
        self.bar.write32(regmap::CONNECT_IP.offset, u32::from(*remote.ip())).ctx(what)?;
        self.bar.write32(regmap::CONNECT_PORTS.offset, ports).ctx(what)?;
        self.bar.write32(regmap::CONNECT_MAC_LO.offset, mac_lo).ctx(what)?;
        self.bar.write32(regmap::CONNECT.offset, u32::from(mac_hi)).ctx(what)?;
        let taken = self.bar.read32(regmap::CONNECT.offset).ctx(what)?;
        if taken == regmap::CONNECT_REFUSED || taken >= self.info.conns {
            return Err(CardError::ConnectRefused { remote, local_port });
        }
        tracing::debug!(id = taken, %remote, local_port, "connect");
        Ok(taken as u16)
    }

    /// RTO_MIN_US: the floor of every data connection's RTO once it has an
    /// RTT sample (RFC 6298 §2.4); before one its RTO is RTO_US (§2.1).
    pub fn set_rto_min_us(&self, us: u32) -> Result<(), CardError> {
        self.bar
            .write32(regmap::RTO_MIN_US.offset, us)
            .ctx(|| format!("setting RTO_MIN_US to {us}"))
    }

    /// TIME_WAIT_US: how long TIME-WAIT (and an unanswered FIN-WAIT-2) holds a slot.
    pub fn set_time_wait_us(&self, us: u32) -> Result<(), CardError> {
        self.bar
            .write32(regmap::TIME_WAIT_US.offset, us)
            .ctx(|| format!("setting TIME_WAIT_US to {us}"))
    }

    /// Keep-alive (RFC 9293 §3.8.4): probe a quiet connection after `idle_us`
    /// without an ACK (0: off), every `intvl_us`, and reset it after
    /// `probes` (1..=15) unanswered probes.
    pub fn set_keepalive(&self, idle_us: u32, intvl_us: u32, probes: u8) -> Result<(), CardError> {
        for (reg, v) in [
            (regmap::KEEPALIVE_INTVL_US, intvl_us),
            (regmap::KEEPALIVE_PROBES, u32::from(probes.clamp(1, 15))),
            (regmap::KEEPALIVE_IDLE_US, idle_us),
        ] {
            self.bar.write32(reg.offset, v).ctx(|| format!("setting {} to {v}", reg.name))?;
        }
        Ok(())
    }

    /// Without keep-alive: reset a connection that had no ACK from its peer
    /// and nothing in flight for `us` (0: off).
    pub fn set_idle_timeout_us(&self, us: u32) -> Result<(), CardError> {
        self.bar
            .write32(regmap::IDLE_TIMEOUT_US.offset, us)
            .ctx(|| format!("setting IDLE_TIMEOUT_US to {us}"))
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
