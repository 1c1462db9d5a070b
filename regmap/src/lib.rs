//! The one source of truth for holdback's host register map (PCIe BAR0) and the
//! layout of a TCP control block (TCB).
//!
//! The RTL decode (`holdback-hdl`), the driver's typed registers
//! (`holdback-driver`), the simulated card (`holdback-sim`) and the README table
//! are all derived from the tables in this crate; `tests` in each of those crates
//! check that they agree with it.
//!
//! Addresses are byte addresses into a 1 MiB BAR; every register is 32 bits wide
//! and accessed with aligned 32-bit reads and writes.
//!
//! The types every user of the map shares live here too, defined once: the
//! control block [`Tcb`], sequence numbers [`SeqNum`] (the RTL comparator's
//! rule), Ethernet addresses [`MacAddr`] and the TCP flag bits [`tcp_flags`].
#![forbid(unsafe_code)]

mod control_block;
pub mod event_queue;
mod mac;
mod seq;

pub use control_block::{state_name, Tcb, TcbError};
pub use mac::{MacAddr, MacParseError};
pub use seq::SeqNum;

/// Width of the register bus byte address (1 MiB BAR0).
pub const ADDR_BITS: usize = 20;

/// `"HLDB"` — the first word of the ID block.
pub const MAGIC: u32 = 0x484C_4442;
/// Bumped whenever a register or TCB field moves or changes meaning.
/// 2: card roles (EPOCH, PROMOTE, CTRL bits 3-4; the core stamps EPOCH into every TCB it writes).
/// 3: payload and TCB changes reach the host by DMA (receive rings and the event ring in host
/// memory: RX_RING_*, EQ_*, ID_EQ_ENTRIES, the `dma_errors` counter; ID_RING_BYTES is the largest ring).
/// 4: window scaling (RFC 7323 §2): TCB fields SND_WSCALE and RCV_WSCALE in word 14's former padding;
/// receive rings up to 1 MiB (RX_RING_LOG2 12..=20, ID_RING_BYTES 1 MiB).
/// 5: the sending side and connection life: RTO_MIN_US, CONN_CLOSE/CONN_ABORT, TIME_WAIT_US,
/// KEEPALIVE_*, IDLE_TIMEOUT_US, RX_REASM; the TCB states FIN-WAIT-1/2, CLOSING and TIME-WAIT
/// are used; retransmits also count data; new counters after tx_tail_refused.
/// 7: TCP timestamps (RFC 7323 §3-§5): TCB field TS_OK in word 14's padding, TS_RECENT in a new
/// word 20 (TCB_WORDS 20 -> 22, word 21 reserved for the per-connection TSval offset); TIMESTAMPS.
/// 8: relay mode (docs/relay.md): RELAY_IPn/PORTn/MAC_HIn/MAC_LOn per listening slot and
/// RELAY_CONNECT_US; the counter relay_connects_failed; TCB field CLOSE_ASKED in word 0's padding.
pub const VERSION: u32 = 8;

/// Generation parameters of the core. The Verilog is generated for one set of
/// these; the ID block reports them so the driver can adapt or refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreParams {
    /// Number of TCBs (connections) as a power of two: `1 << conn_bits`.
    pub conn_bits: usize,
    /// The largest per-connection receive ring the core supports, as a
    /// power of two in bytes (ID_RING_BYTES); the ring in use is RX_RING_LOG2's.
    pub ring_bits: usize,
}

impl CoreParams {
    pub const DEFAULT: CoreParams = CoreParams { conn_bits: 10, ring_bits: RX_RING_LOG2_MAX as usize };
    pub const fn conns(&self) -> usize {
        1 << self.conn_bits
    }
    pub const fn ring_bytes(&self) -> usize {
        1 << self.ring_bits
    }
}

impl Default for CoreParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How the host may access a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Ro,
    /// Read and write.
    Rw,
    /// Read only; reading has a side effect (pops a FIFO).
    RoPop,
}

/// One fixed 32-bit register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    pub name: &'static str,
    pub offset: u32,
    pub access: Access,
    pub doc: &'static str,
}

macro_rules! regs {
    ($( $ident:ident = $off:literal, $acc:ident, $doc:literal; )*) => {
        $( #[doc = $doc] pub const $ident: Reg = Reg { name: stringify!($ident), offset: $off, access: Access::$acc, doc: $doc }; )*
        /// Every fixed register, in address order.
        pub const FIXED_REGS: &[Reg] = &[$($ident),*];
    };
}

regs! {
    ID_MAGIC      = 0x0000, Ro, "Magic 0x484C4442 (\"HLDB\"); the driver checks it before anything else.";
    ID_VERSION    = 0x0004, Ro, "Register-map/TCB-layout version (regmap::VERSION).";
    ID_CONNS      = 0x0008, Ro, "Number of TCBs N (generation parameter).";
    ID_RING_BYTES = 0x000C, Ro, "Largest per-connection receive ring the core supports, in bytes (1 MiB); the size in use is RX_RING_LOG2's.";
    ID_TCB_WORDS  = 0x0010, Ro, "32-bit words per TCB in the TCB window.";
    ID_BUILD      = 0x0014, Ro, "Build id: low 32 bits of the hash of the generated Verilog.";
    ID_EQ_ENTRIES = 0x0018, Ro, "Records in the event ring (generation parameter, at least N).";
    CTRL          = 0x0100, Rw, "bit0 enable (core drops everything while 0); bit1 holdback on for new connections; bit2 standby (silent on the wire: received frames dropped, no timers, TCB writes allowed; cleared by a finished PROMOTE); bit3 after a PROMOTE, send one ACK at R and three identical duplicates on each ESTABLISHED connection (peers fast-retransmit); bit4 hold each new connection's SYN-ACK until its release moves R past irs (replicate = at-setup, claim 31, invariant 6).";
    MAC_HI        = 0x0104, Rw, "Our MAC address, bytes 0-1 (big-endian in bits 15:0).";
    MAC_LO        = 0x0108, Rw, "Our MAC address, bytes 2-5 (big-endian).";
    IPV4_ADDR     = 0x010C, Rw, "Our IPv4 address (big-endian: 198.18.0.2 = 0xC6120002).";
    LISTEN0       = 0x0110, Rw, "Listening port slot 0: bit16 enable, bits 15:0 TCP port; bit17 the slot sets holdback for its connections (else CTRL bit1 does), bit18 that holdback (copied into each new connection's TCB at its SYN).";
    LISTEN1       = 0x0114, Rw, "Listening port slot 1 (as LISTEN0).";
    LISTEN2       = 0x0118, Rw, "Listening port slot 2 (as LISTEN0).";
    LISTEN3       = 0x011C, Rw, "Listening port slot 3 (as LISTEN0).";
    OUR_MSS       = 0x0120, Rw, "MSS we announce in SYN-ACKs (bits 15:0).";
    RTO_US        = 0x0124, Rw, "Retransmission timeout for our SYN-ACK and FIN, and each data connection's RTO before its first RTT sample (RFC 6298 §2.1), in microseconds.";
    STATUS        = 0x0128, Ro, "bit0 idle (nothing in flight); bits 31:16 connections not CLOSED.";
    NOW_US        = 0x012C, Ro, "The core's microsecond clock (advanced by the tick input).";
    EPOCH         = 0x0130, Rw, "The card's failover epoch (invariant 8): stamped into the EPOCH field of every TCB the core writes. PROMOTE sets it; the host writes it when the card joins as standby. Only grows: a write below it is refused and counted (STAT_STALE_EPOCH_REFUSED).";
    PROMOTE       = 0x0134, Rw, "Write the new epoch to promote a standby card (CTRL bit0 and bit2 set, the epoch above EPOCH; ignored otherwise, and counted in STAT_STALE_EPOCH_REFUSED when not above EPOCH): EPOCH := value, a gratuitous ARP, then every open TCB resumes from R (rcv_nxt := ack_sent := R, invariant 3), timers re-armed on this card's clock, right edge kept (invariant 5); then CTRL.standby clears. Read: bit0 in progress, bit1 done (the last PROMOTE finished).";
    RX_RING_BASE_LO = 0x0140, Rw, "Host address (IOVA) of connection 0's receive ring, bits 31:0; 4 KiB aligned (bits 11:0 read as 0). Connection id's ring is at base + (id << RX_RING_LOG2).";
    RX_RING_BASE_HI = 0x0144, Rw, "Host address of connection 0's receive ring, bits 63:32.";
    RX_RING_LOG2  = 0x0148, Rw, "log2 of the bytes of every receive ring, 12..=20 (default 16: 64 KiB); other values are refused (the register keeps its value). Write it while CTRL.enable is 0.";
    EQ_BASE_LO    = 0x0150, Rw, "Host address of the event ring's slot 0, bits 31:0; 4 KiB aligned (bits 11:0 read as 0).";
    EQ_BASE_HI    = 0x0154, Rw, "Host address of the event ring's slot 0, bits 63:32.";
    EQ_CTRL       = 0x0158, Rw, "bit0 enable: the event writer writes records while set; a rise starts a fresh ring (record 0, phase 1). Read: bit1 the writer is reading or writing a record.";
    EQ_CONS       = 0x015C, Rw, "Records the host has consumed from the event ring (16 bits, wrapping): the writer never overwrites a record beyond it.";
    EQ_PROD       = 0x0160, Ro, "Records the event writer has written and host memory acknowledged since EQ_CTRL.enable rose (16 bits, wrapping).";
    LEASE_UNTIL_US = 0x0170, Rw, "The NOW_US time until which the card may speak (invariant 8, docs/authority.md): from that time on it is as silent as in standby (received frames dropped, no timers, nothing sent) until the host writes a later one, whatever the host does meanwhile. Compared in serial arithmetic (within 2^31 us of NOW_US). 0: no lease (the check is off).";
    TX_RING_BASE_LO = 0x0180, Rw, "Host address (IOVA) of connection 0's transmit ring, bits 31:0; 4 KiB aligned (bits 11:0 read as 0). Connection id's ring is at base + (id << TX_RING_LOG2).";
    TX_RING_BASE_HI = 0x0184, Rw, "Host address of connection 0's transmit ring, bits 63:32.";
    TX_RING_LOG2  = 0x0188, Rw, "log2 of the bytes of every transmit ring, 12..=16 (default 16: 64 KiB); other values are refused (the register keeps its value). Write it while CTRL.enable is 0.";
    RTO_MIN_US    = 0x0190, Rw, "RTO floor of every data connection, in microseconds (RFC 6298 §2.4; default 1 s, a lab may lower it the way Linux does to 200 ms). RTO_US is the RTO before a connection's first RTT sample (§2.1).";
    CONN_CLOSE    = 0x01A0, Rw, "Write a connection id to close our side (RFC 9293 §3.10.4 CLOSE): ESTABLISHED goes to FIN-WAIT-1 and the FIN follows the last byte below the send tail; in CLOSE-WAIT the FIN follows once everything is released and sent (LAST-ACK). Ignored in other states. Reads 0.";
    CONN_ABORT    = 0x01A4, Rw, "Write a connection id to abort it (RFC 9293 §3.10.5 ABORT): a RST at snd_nxt, and the slot is free. Ignored for a closed slot and in standby. Reads 0.";
    TIME_WAIT_US  = 0x01A8, Rw, "How long TIME-WAIT holds a slot (2 MSL), in microseconds; also how long FIN-WAIT-2 waits for the peer's FIN before freeing the slot. Default 60 000 000 (60 s, as Linux; RFC 9293's 2 MSL of 240 s is a setting away).";
    KEEPALIVE_IDLE_US = 0x01AC, Rw, "Keep-alive (RFC 9293 §3.8.4): a connection in ESTABLISHED or CLOSE-WAIT with nothing unacknowledged and no ACK from the peer for this long is probed (an ACK at snd_nxt - 1, no data). 0 (default): keep-alive off.";
    KEEPALIVE_INTVL_US = 0x01B0, Rw, "Keep-alive: the wait between unanswered probes, in microseconds. Default 75 000 000 (75 s, as Linux).";
    KEEPALIVE_PROBES = 0x01B4, Rw, "Keep-alive: unanswered probes after which the connection is reset (RST) and its slot freed, 1..=15 (bits 3:0). Default 9, as Linux.";
    IDLE_TIMEOUT_US = 0x01B8, Rw, "Without keep-alive: a connection in ESTABLISHED or CLOSE-WAIT with nothing unacknowledged and no ACK from the peer for this long is reset (RST) and its slot freed. 0 (default): off.";
    RX_REASM      = 0x01C0, Rw, "bit0: out-of-order reassembly on (default off): in-window segments beyond rcv_nxt are written into the receive ring at their offset and held, up to four ranges per connection (not replicated; docs/engine.md, Reassembly and SACK); off, they are dropped and answered by a duplicate ACK. bit1: SACK (RFC 2018, only with bit0): a SYN-ACK answering a SYN with SACK-permitted offers it, and the connection's ACKs carry SACK blocks of the held ranges.";
    TIMESTAMPS    = 0x01C4, Rw, "bit0: TCP timestamps (RFC 7323, default off): a connection whose SYN carried the Timestamps option, or one the card opens (CONNECT: our SYN offers it, with TSecr 0), records it (TCB TS_OK) and the peer's TSval (TS_RECENT), and then sends the option on every segment but a RST (§3.2): the SYN-ACK and every later segment carry TSval = TS_CLOCK + the TCB's TS_OFFSET and TSecr = TS_RECENT. The §4.3 update rule and PAWS: see docs/engine.md.";
    TS_CLOCK      = 0x01C8, Rw, "The timestamp clock (RFC 7323 §5.4): a 32-bit count of 1024-us ticks, one each time NOW_US crosses a multiple of 1024 (bit 10 toggles); its own counter, it does not wrap with NOW_US. A write sets it (the host writes its wall clock in 1024-us units, so the two cards of a pair tick in step); 0 at reset. Every TSval sent is this plus the connection's TS_OFFSET.";
    CONNECT_IP    = 0x01D0, Rw, "Active open (RFC 9293 §3.10.1 OPEN, active): the remote IPv4 address of the next CONNECT (big-endian, as IPV4_ADDR).";
    CONNECT_PORTS = 0x01D4, Rw, "Active open: bits 31:16 the remote port, bits 15:0 our (local) port of the next CONNECT. The host picks a local port no open connection and no LISTEN slot uses: the core does not look for a duplicate tuple.";
    CONNECT_MAC_LO = 0x01D8, Rw, "Active open: the next hop's MAC address, bytes 2-5 (big-endian, as MAC_LO); the core has no ARP cache.";
    CONNECT       = 0x01DC, Rw, "Write the next hop's MAC bytes 0-1 (bits 15:0) to open a connection to CONNECT_IP/CONNECT_PORTS: a free slot enters SYN-SENT and our SYN (MSS, Window Scale) goes out, retransmitted at RTO_US << retries and given up after seven. Read: the slot id the last CONNECT took, or 0xFFFFFFFF when it was refused (no free slot, CTRL.enable clear, standby).";
    SEND_HOLDBACK = 0x01E0, Rw, "Send holdback (invariant 9) for new connections, copied into each connection's TCB (SEND_HOLD) at its SYN: bit0 on for connections of listening slots without a setting of their own; bit (1+n) slot n has its own setting, bit (5+n) that setting. While a connection's send holdback is on, nothing at or above its SEND_LIMIT leaves the card.";
    SYN_COOKIES   = 0x01E4, Rw, "SYN cookies (RFC 4987 §3.6, docs/syn-cookies.md): bit31 on (default off); bits 15:0 the half-open threshold. While on, a listening port's SYN is answered by a SYN-ACK whose ISS is a cookie, and takes no TCB, when HALF_OPEN is at or above the threshold or no TCB is free (threshold 0: every SYN); the ACK that returns a valid cookie opens the connection in ESTABLISHED. Keys: COOKIE_KEY0..7.";
    HALF_OPEN     = 0x01E8, Ro, "TCBs in SYN-RECEIVED (half-open entries), counted where the core writes a TCB's state (bits 15:0).";
    HOST_STATUS   = 0x0304, Ro, "Reserved for the host-op engine: bit0 host op in progress.";
    COOKIE_KEY0   = 0x0340, Rw, "SYN cookie key0 bits 31:0 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY1   = 0x0344, Rw, "SYN cookie key0 bits 63:32 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY2   = 0x0348, Rw, "SYN cookie key0 bits 95:64 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY3   = 0x034C, Rw, "SYN cookie key0 bits 127:96 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY4   = 0x0350, Rw, "SYN cookie key1 bits 31:0 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY5   = 0x0354, Rw, "SYN cookie key1 bits 63:32 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY6   = 0x0358, Rw, "SYN cookie key1 bits 95:64 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    COOKIE_KEY7   = 0x035C, Rw, "SYN cookie key1 bits 127:96 (SipHash-2-4 key, docs/syn-cookies.md): key0 hashes the connection's tuple, key1 the tuple and the time count. The daemon derives both from the pair's shared secret, so both cards of a pair accept each other's cookies. Reads 0.";
    RELAY_IP0     = 0x0380, Rw, "Relay mode (docs/relay.md): the backend server's IPv4 address (big-endian, as IPV4_ADDR) for clients of LISTEN0, used while RELAY_PORT0 bit16 is set.";
    RELAY_PORT0   = 0x0384, Rw, "Relay mode: bit16 LISTEN0 relays (a client SYN on it takes two TCBs: the client side, held, and the server side, which connects to the backend from local port 49152 + its slot id); bits 15:0 the backend's TCP port.";
    RELAY_MAC_HI0 = 0x0388, Rw, "Relay mode: the next hop's MAC toward LISTEN0's backend, bytes 0-1 (bits 15:0); the core has no ARP cache.";
    RELAY_MAC_LO0 = 0x038C, Rw, "Relay mode: the next hop's MAC toward LISTEN0's backend, bytes 2-5 (big-endian).";
    RELAY_IP1     = 0x0390, Rw, "Relay mode: LISTEN1's backend address (as RELAY_IP0).";
    RELAY_PORT1   = 0x0394, Rw, "Relay mode: LISTEN1 relays (bit16) and its backend's port (as RELAY_PORT0).";
    RELAY_MAC_HI1 = 0x0398, Rw, "Relay mode: LISTEN1's next-hop MAC bytes 0-1 (as RELAY_MAC_HI0).";
    RELAY_MAC_LO1 = 0x039C, Rw, "Relay mode: LISTEN1's next-hop MAC bytes 2-5 (as RELAY_MAC_LO0).";
    RELAY_IP2     = 0x03A0, Rw, "Relay mode: LISTEN2's backend address (as RELAY_IP0).";
    RELAY_PORT2   = 0x03A4, Rw, "Relay mode: LISTEN2 relays (bit16) and its backend's port (as RELAY_PORT0).";
    RELAY_MAC_HI2 = 0x03A8, Rw, "Relay mode: LISTEN2's next-hop MAC bytes 0-1 (as RELAY_MAC_HI0).";
    RELAY_MAC_LO2 = 0x03AC, Rw, "Relay mode: LISTEN2's next-hop MAC bytes 2-5 (as RELAY_MAC_LO0).";
    RELAY_IP3     = 0x03B0, Rw, "Relay mode: LISTEN3's backend address (as RELAY_IP0).";
    RELAY_PORT3   = 0x03B4, Rw, "Relay mode: LISTEN3 relays (bit16) and its backend's port (as RELAY_PORT0).";
    RELAY_MAC_HI3 = 0x03B8, Rw, "Relay mode: LISTEN3's next-hop MAC bytes 0-1 (as RELAY_MAC_HI0).";
    RELAY_MAC_LO3 = 0x03BC, Rw, "Relay mode: LISTEN3's next-hop MAC bytes 2-5 (as RELAY_MAC_LO0).";
    RELAY_CONNECT_US = 0x03C0, Rw, "Relay mode: how long a client's SYN-ACK waits for the backend to accept, in microseconds (default 3 000 000); past it the client gets a RST|ACK and relay_connects_failed counts it.";
}

/// Counters in the stats block, one 32-bit register each at
/// `STATS_BASE + 4 * index`, wrapping. Drop reasons are named `Drop*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stat {
    RxFrames = 0,
    TxFrames = 1,
    DropBadIpChecksum = 2,
    DropBadTcpChecksum = 3,
    DropTruncated = 4,
    DropBadIpHeader = 5,
    DropIpFragment = 6,
    DropUnknownEthertype = 7,
    DropNotOurAddress = 8,
    DropTcbFull = 9,
    DropOutOfOrder = 10,
    DropOutOfWindow = 11,
    DropNoConnection = 12,
    DropUnsupported = 13,
    ArpReplies = 14,
    IcmpEchoReplies = 15,
    RstSent = 16,
    RxPayloadBytes = 17,
    Retransmits = 18,
    ConnsOpened = 19,
    DropOversize = 20,
    DmaErrors = 21,
    StaleEpochRefused = 22,
    TxTailRefused = 23,
    FastRetransmits = 24,
    RtoBackoffs = 25,
    TimeWaitEntered = 26,
    GiveUpResets = 27,
    HostAborts = 28,
    KeepaliveProbes = 29,
    KeepaliveDrops = 30,
    IdleDrops = 31,
    RxOooHeld = 32,
    RxOooHolesFilled = 33,
    DropOooOverLimit = 34,
    ActiveOpens = 35,
    ConnectsRefused = 36,
    DropPaws = 37,
    CookiesSent = 38,
    CookiesAccepted = 39,
    CookiesRefused = 40,
    SackDsackBlocks = 41,
    SackBogusBlocks = 42,
    SackRangesDropped = 43,
    RelayConnectsFailed = 44,
}

impl Stat {
    pub const ALL: [Stat; 45] = [
        Stat::RxFrames,
        Stat::TxFrames,
        Stat::DropBadIpChecksum,
        Stat::DropBadTcpChecksum,
        Stat::DropTruncated,
        Stat::DropBadIpHeader,
        Stat::DropIpFragment,
        Stat::DropUnknownEthertype,
        Stat::DropNotOurAddress,
        Stat::DropTcbFull,
        Stat::DropOutOfOrder,
        Stat::DropOutOfWindow,
        Stat::DropNoConnection,
        Stat::DropUnsupported,
        Stat::ArpReplies,
        Stat::IcmpEchoReplies,
        Stat::RstSent,
        Stat::RxPayloadBytes,
        Stat::Retransmits,
        Stat::ConnsOpened,
        Stat::DropOversize,
        Stat::DmaErrors,
        Stat::StaleEpochRefused,
        Stat::TxTailRefused,
        Stat::FastRetransmits,
        Stat::RtoBackoffs,
        Stat::TimeWaitEntered,
        Stat::GiveUpResets,
        Stat::HostAborts,
        Stat::KeepaliveProbes,
        Stat::KeepaliveDrops,
        Stat::IdleDrops,
        Stat::RxOooHeld,
        Stat::RxOooHolesFilled,
        Stat::DropOooOverLimit,
        Stat::ActiveOpens,
        Stat::ConnectsRefused,
        Stat::DropPaws,
        Stat::CookiesSent,
        Stat::CookiesAccepted,
        Stat::CookiesRefused,
        Stat::SackDsackBlocks,
        Stat::SackBogusBlocks,
        Stat::SackRangesDropped,
        Stat::RelayConnectsFailed,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub const fn index(self) -> usize {
        self as usize
    }
    pub const fn offset(self) -> u32 {
        STATS_BASE + 4 * self as u32
    }
    /// snake_case name used in JSON, metrics and the README.
    pub const fn name(self) -> &'static str {
        match self {
            Stat::RxFrames => "rx_frames",
            Stat::TxFrames => "tx_frames",
            Stat::DropBadIpChecksum => "drop_bad_ip_checksum",
            Stat::DropBadTcpChecksum => "drop_bad_tcp_checksum",
            Stat::DropTruncated => "drop_truncated",
            Stat::DropBadIpHeader => "drop_bad_ip_header",
            Stat::DropIpFragment => "drop_ip_fragment",
            Stat::DropUnknownEthertype => "drop_unknown_ethertype",
            Stat::DropNotOurAddress => "drop_not_our_address",
            Stat::DropTcbFull => "drop_tcb_full",
            Stat::DropOutOfOrder => "drop_out_of_order",
            Stat::DropOutOfWindow => "drop_out_of_window",
            Stat::DropNoConnection => "drop_no_connection",
            Stat::DropUnsupported => "drop_unsupported",
            Stat::ArpReplies => "arp_replies",
            Stat::IcmpEchoReplies => "icmp_echo_replies",
            Stat::RstSent => "rst_sent",
            Stat::RxPayloadBytes => "rx_payload_bytes",
            Stat::Retransmits => "retransmits",
            Stat::ConnsOpened => "conns_opened",
            Stat::DropOversize => "drop_oversize",
            Stat::DmaErrors => "dma_errors",
            Stat::StaleEpochRefused => "stale_epoch_refused",
            Stat::TxTailRefused => "tx_tail_refused",
            Stat::FastRetransmits => "fast_retransmits",
            Stat::RtoBackoffs => "rto_backoffs",
            Stat::TimeWaitEntered => "time_wait_entered",
            Stat::GiveUpResets => "give_up_resets",
            Stat::HostAborts => "host_aborts",
            Stat::KeepaliveProbes => "keepalive_probes",
            Stat::KeepaliveDrops => "keepalive_drops",
            Stat::IdleDrops => "idle_drops",
            Stat::RxOooHeld => "rx_ooo_held",
            Stat::RxOooHolesFilled => "rx_ooo_holes_filled",
            Stat::DropOooOverLimit => "drop_ooo_over_limit",
            Stat::ActiveOpens => "active_opens",
            Stat::ConnectsRefused => "connects_refused",
            Stat::DropPaws => "drop_paws",
            Stat::CookiesSent => "cookies_sent",
            Stat::CookiesAccepted => "cookies_accepted",
            Stat::CookiesRefused => "cookies_refused",
            Stat::SackDsackBlocks => "sack_dsack_blocks",
            Stat::SackBogusBlocks => "sack_bogus_blocks",
            Stat::SackRangesDropped => "sack_ranges_dropped",
            Stat::RelayConnectsFailed => "relay_connects_failed",
        }
    }
    pub const fn doc(self) -> &'static str {
        match self {
            Stat::RxFrames => "Frames accepted from the MAC.",
            Stat::TxFrames => "Frames sent to the MAC.",
            Stat::DropBadIpChecksum => "Dropped: IPv4 header checksum wrong.",
            Stat::DropBadTcpChecksum => "Dropped: TCP checksum (with pseudo-header) wrong.",
            Stat::DropTruncated => "Dropped: frame shorter than its headers or its IPv4 total length.",
            Stat::DropBadIpHeader => "Dropped: IPv4 version not 4, IHL < 5, total length < header, or TCP data offset < 5.",
            Stat::DropIpFragment => "Dropped: IPv4 fragment (MF set or fragment offset non-zero).",
            Stat::DropUnknownEthertype => "Dropped: ethertype neither IPv4 nor ARP (IPv6 noise lands here).",
            Stat::DropNotOurAddress => "Dropped: destination MAC or IPv4 (or ARP target) not ours.",
            Stat::DropTcbFull => "Dropped: SYN for a listening port with no free TCB (with SYN cookies on, an ACK returning a valid cookie while no TCB is free).",
            Stat::DropOutOfOrder => "Dropped: in-window segment beyond rcv_nxt (answered by a duplicate ACK).",
            Stat::DropOutOfWindow => "Dropped: segment failing the RFC 9293 acceptability test (answered by an ACK).",
            Stat::DropNoConnection => "Dropped: segment for no connection (answered by RST unless it was one).",
            Stat::DropUnsupported => "Dropped: IPv4 protocol or ICMP type the core does not serve.",
            Stat::ArpReplies => "ARP replies sent.",
            Stat::IcmpEchoReplies => "ICMP echo replies sent.",
            Stat::RstSent => "RST segments sent.",
            Stat::RxPayloadBytes => "Payload bytes written to receive rings: in-order ones, and out-of-order ones held for reassembly.",
            Stat::Retransmits => "SYN-ACK or FIN retransmissions on their timer, and data segments sent again (after a timeout, a fast retransmit or a partial ACK).",
            Stat::FastRetransmits => "Data segments resent without a timeout: RFC 5681 fast retransmit on the third duplicate ACK, and RFC 6582 partial ACKs in recovery (also counted in retransmits).",
            Stat::RtoBackoffs => "Data timer expiries that doubled the RTO (RFC 6298 §5.5): retransmission timeouts and persist-timer expiries (zero-window probes).",
            Stat::ConnsOpened => "Connections that reached SYN-RECEIVED.",
            Stat::DropOversize => "Dropped: frame longer than the 2048-byte frame buffer.",
            Stat::TxTailRefused => "Send-tail doorbell writes refused: the tail went backwards or past snd_una + the transmit ring (it would overwrite unacknowledged bytes).",
            Stat::DmaErrors => "DMA writes (payload or event record) whose write response was not OKAY: host memory outside the bridge's window.",
            Stat::TimeWaitEntered => "Connections that entered TIME-WAIT (we closed first, or both at once).",
            Stat::GiveUpResets => "RSTs sent when a retransmission went unanswered seven times and the connection was dropped (RFC 9293 §3.8.3, R2).",
            Stat::HostAborts => "Connections the host aborted through CONN_ABORT (each sent a RST).",
            Stat::KeepaliveProbes => "Keep-alive probes sent (KEEPALIVE_IDLE_US).",
            Stat::KeepaliveDrops => "Connections reset after KEEPALIVE_PROBES unanswered keep-alive probes.",
            Stat::IdleDrops => "Connections reset by the idle timeout (IDLE_TIMEOUT_US).",
            Stat::StaleEpochRefused => "Refused: a write of EPOCH older than the card's, a PROMOTE not newer than it, or a TCB-window write whose TCB would carry an older EPOCH (once per refused TCB).",
            Stat::RxOooHeld => "Out-of-order segments whose new bytes were written into the receive ring and held (reassembly, RX_REASM).",
            Stat::RxOooHolesFilled => "Times rcv_nxt jumped over a held out-of-order range because the bytes before it arrived.",
            Stat::DropOooOverLimit => "Dropped: out-of-order segment that would need a fifth held range (answered by a duplicate ACK).",
            Stat::ActiveOpens => "Connections the host opened through CONNECT (each entered SYN-SENT and sent a SYN).",
            Stat::ConnectsRefused => "Active opens that ended in SYN-SENT: the peer answered our SYN with a RST (nobody listening), or CONNECT found no free slot.",
            Stat::DropPaws => "Dropped by PAWS (RFC 7323 §5.3): a non-RST segment whose TSval is older than the connection's TS.Recent (answered by an ACK, like an unacceptable segment).",
            Stat::CookiesSent => "SYN-ACKs sent from a SYN cookie (SYN_COOKIES): the SYN took no TCB.",
            Stat::CookiesAccepted => "ACKs that returned a valid SYN cookie and opened a connection in ESTABLISHED.",
            Stat::CookiesRefused => "ACKs to a listening port with no connection whose cookie was not valid (or whose TSecr claims ECN, never offered), answered by a RST.",
            Stat::SackDsackBlocks => "SACK blocks our sending side took no information from because they start below snd_una: D-SACK reports of duplicates (RFC 2883) or stale blocks (docs/sack-sender.md).",
            Stat::SackBogusBlocks => "SACK blocks our sending side ignored as impossible: empty, inverted, or ending beyond snd_max (bytes never sent).",
            Stat::SackRangesDropped => "SACKed ranges the sender's scoreboard could not keep (a fifth disjoint range drops the highest; those bytes may be resent).",
            Stat::RelayConnectsFailed => "Relay clients reset because the connection to their backend failed before their SYN-ACK was sent: refused, given up, timed out (the relay connect timeout), reset or aborted (docs/relay.md).",
        }
    }
}

/// SYN_COOKIES bit31: cookies on (bits 15:0 the half-open threshold).
pub const SYN_COOKIES_ON: u32 = 1 << 31;

/// The SYN_COOKIES word for a threshold (None: cookies off).
pub fn syn_cookies_value(threshold: Option<u16>) -> u32 {
    threshold.map_or(0, |t| SYN_COOKIES_ON | u32::from(t))
}

/// COOKIE_KEY0..7 in order: key0's bits 31:0 .. 127:96, then key1's.
pub const COOKIE_KEYS: [Reg; 8] = [COOKIE_KEY0, COOKIE_KEY1, COOKIE_KEY2, COOKIE_KEY3, COOKIE_KEY4, COOKIE_KEY5, COOKIE_KEY6, COOKIE_KEY7];

/// The words of [`COOKIE_KEYS`] for the two keys (u128s whose
/// `to_le_bytes()` are SipHash's key bytes).
pub fn cookie_key_words(key0: u128, key1: u128) -> [u32; 8] {
    core::array::from_fn(|i| ((if i < 4 { key0 } else { key1 }) >> (32 * (i % 4))) as u32)
}

/// One listening slot's relay registers (docs/relay.md, "Relay slots").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelaySlotRegs {
    pub ip: Reg,
    pub port: Reg,
    pub mac_hi: Reg,
    pub mac_lo: Reg,
}

/// The relay registers of LISTEN0..3, in slot order.
pub const RELAY_SLOTS: [RelaySlotRegs; 4] = [
    RelaySlotRegs { ip: RELAY_IP0, port: RELAY_PORT0, mac_hi: RELAY_MAC_HI0, mac_lo: RELAY_MAC_LO0 },
    RelaySlotRegs { ip: RELAY_IP1, port: RELAY_PORT1, mac_hi: RELAY_MAC_HI1, mac_lo: RELAY_MAC_LO1 },
    RelaySlotRegs { ip: RELAY_IP2, port: RELAY_PORT2, mac_hi: RELAY_MAC_HI2, mac_lo: RELAY_MAC_LO2 },
    RelaySlotRegs { ip: RELAY_IP3, port: RELAY_PORT3, mac_hi: RELAY_MAC_HI3, mac_lo: RELAY_MAC_LO3 },
];
/// TCB field PEER_LINK of a connection that relays nothing (any other value
/// names the pair's other TCB, docs/relay.md).
pub const NO_PEER_LINK: u16 = 0xFFFF;
/// RELAY_PORTn: the slot relays to its backend.
pub const RELAY_ENABLE: u32 = 1 << 16;
/// RELAY_PORTn bits that exist (port and enable); the rest read 0.
pub const RELAY_PORT_BITS: usize = 17;
/// RELAY_CONNECT_US at reset: 3 s.
pub const RELAY_CONNECT_US_DEFAULT: u32 = 3_000_000;
/// Relay mode reserves local ports `RELAY_LOCAL_PORT_BASE + id` for the
/// server side in slot `id` (the IANA dynamic range, RFC 6335 §6): unique
/// per slot without a search, for up to 16384 slots. Nothing else may use
/// them while a slot relays.
pub const RELAY_LOCAL_PORT_BASE: u16 = 49152;

pub const STATS_BASE: u32 = 0x0200;

/// Per-connection release registers: writing `RELEASE_BASE + 4*id` sets the
/// released point R of connection `id` (ACK holdback,
/// invariant 1); R only moves forward (wrapping compare). Reading returns R.
/// R also frees receive-ring space: the advertised right edge is
/// `R + ring` (the ring being RX_RING_LOG2's; at most 65535 bytes for a
/// connection that does not scale its window).
pub const RELEASE_BASE: u32 = 0x1_0000;

/// Per-connection send limits L (send holdback, invariant 9): writing
/// `SEND_LIMIT_BASE + 4*id` sets the transmit-stream offset (32-bit,
/// wrapping, the TX_TAIL's units) below which connection `id` may send
/// while its send holdback (TCB SEND_HOLD) is on: no payload byte at or
/// above it and no FIN whose sequence number is not below it. An active
/// card keeps the serial maximum of the writes, a standby the value
/// written; opening a connection sets 0. Write-only (reads are unmapped).
/// Between the release registers and the send-tail doorbells (N = 4096 fills it).
pub const SEND_LIMIT_BASE: u32 = 0x1_4000;

/// Per-connection send-tail doorbells: writing `TX_TAIL_BASE + 4*id` sets the
/// stream offset (32-bit, wrapping) up to which the host filled connection
/// `id`'s transmit ring (the TCB's TX_END). Stream offset `o` is sequence
/// `iss + 1 + o` and ring byte `o mod ring`, the ring being TX_RING_LOG2's.
/// A tail that goes backwards or past snd_una + ring is refused and counted.
/// Between the release window and the TCB window: the TCB window of the
/// largest core (N = 4096) reaches past 0x3_0000.
pub const TX_TAIL_BASE: u32 = 0x1_8000;

/// TCB window: word `w` of connection `id` at `TCB_BASE + id*TCB_STRIDE + 4*w`.
/// Readable always; writable while the card is in standby (CTRL bit2).
pub const TCB_BASE: u32 = 0x2_0000;
/// Bytes between consecutive TCBs in the window (room for growth).
pub const TCB_STRIDE: u32 = 0x80;

pub const CTRL_ENABLE: u32 = 1 << 0;
pub const CTRL_HOLDBACK: u32 = 1 << 1;
pub const CTRL_STANDBY: u32 = 1 << 2;
/// After a PROMOTE: one ACK at R plus [`PROMOTE_DUP_ACKS`] duplicates per synchronised connection.
pub const CTRL_PROMOTE_DUP_ACKS: u32 = 1 << 3;
/// Hold a new connection's SYN-ACK until the host's release moves R to irs+1 (claim 31).
pub const CTRL_HOLD_SYNACK: u32 = 1 << 4;
/// Duplicate ACKs sent after the first ACK at R when [`CTRL_PROMOTE_DUP_ACKS`] is set:
/// three duplicates trigger the peer's fast retransmit instead of waiting for its RTO.
pub const PROMOTE_DUP_ACKS: u32 = 3;
/// PROMOTE read: a promotion was requested or is walking the TCBs.
pub const PROMOTE_BUSY: u32 = 1 << 0;
/// PROMOTE read: the last promotion finished (cleared by the next PROMOTE write).
pub const PROMOTE_DONE: u32 = 1 << 1;
pub const LISTEN_ENABLE: u32 = 1 << 16;
/// What CONNECT reads after a refused connect (no free slot, card disabled or standby).
pub const CONNECT_REFUSED: u32 = 0xFFFF_FFFF;
/// LISTENn: this slot decides holdback for the connections it accepts
/// ([`LISTEN_HOLDBACK`]); without it they take CTRL bit1 ([`CTRL_HOLDBACK`]).
pub const LISTEN_OWN_HOLDBACK: u32 = 1 << 17;
/// LISTENn: holdback on for the slot's connections, when [`LISTEN_OWN_HOLDBACK`] is set.
pub const LISTEN_HOLDBACK: u32 = 1 << 18;
/// LISTENn bits that exist (port, enable, own holdback, holdback); the rest read 0.
pub const LISTEN_BITS: usize = 19;

/// The LISTENn value for `port` (enabled): holdback `Some(on)` of its own,
/// or `None` to follow CTRL bit1.
pub fn listen_value(port: u16, holdback: Option<bool>) -> u32 {
    let own = match holdback {
        None => 0,
        Some(false) => LISTEN_OWN_HOLDBACK,
        Some(true) => LISTEN_OWN_HOLDBACK | LISTEN_HOLDBACK,
    };
    LISTEN_ENABLE | own | u32::from(port)
}
/// EQ_CTRL: the event writer writes records (a rise starts a fresh ring).
pub const EQ_CTRL_ENABLE: u32 = 1 << 0;
/// EQ_CTRL read: a record is being read or written.
pub const EQ_CTRL_ACTIVE: u32 = 1 << 1;
/// RX_RING_LOG2's range and reset value: rings of 4 KiB to 1 MiB (window
/// scaling advertises more than 64 KiB), 64 KiB by default.
pub const RX_RING_LOG2_MIN: u32 = 12;
pub const RX_RING_LOG2_MAX: u32 = 20;
pub const RX_RING_LOG2_DEFAULT: u32 = 16;
/// TX_RING_LOG2's range and reset value: the receive rings' (4 KiB to 64 KiB).
pub const TX_RING_LOG2_MIN: u32 = 12;
pub const TX_RING_LOG2_MAX: u32 = 16;
pub const TX_RING_LOG2_DEFAULT: u32 = 16;
/// RTO_MIN_US at reset: RFC 6298 §2.4's one second.
pub const RTO_MIN_US_DEFAULT: u32 = 1_000_000;
/// TIME_WAIT_US's reset value: 60 s, Linux's TIME-WAIT (RFC 9293 §3.4.2
/// asks 2 MSL = 240 s, impractical for a table of N slots and for tests).
pub const TIME_WAIT_US_DEFAULT: u32 = 60_000_000;
/// KEEPALIVE_INTVL_US's and KEEPALIVE_PROBES's reset values, Linux's
/// (`tcp_keepalive_intvl`, `tcp_keepalive_probes`).
pub const KEEPALIVE_INTVL_US_DEFAULT: u32 = 75_000_000;
pub const KEEPALIVE_PROBES_DEFAULT: u32 = 9;
/// Alignment of the host addresses in RX_RING_BASE and EQ_BASE: one page, so
/// every ring starts a 4 KiB page (bursts never cross one anyway).
pub const HOST_RING_ALIGN: u64 = 4096;
pub const LISTEN_SLOTS: [Reg; 4] = [LISTEN0, LISTEN1, LISTEN2, LISTEN3];

/// TCP header flags (RFC 9293 §3.1): masks of the flags byte, and the bit
/// index of each for the RTL, which tests one bit of that byte at a time.
pub mod tcp_flags {
    pub const FIN: u8 = 1 << FIN_BIT;
    pub const SYN: u8 = 1 << SYN_BIT;
    pub const RST: u8 = 1 << RST_BIT;
    pub const PSH: u8 = 1 << PSH_BIT;
    pub const ACK: u8 = 1 << ACK_BIT;
    pub const URG: u8 = 1 << URG_BIT;
    /// ECN-Echo and Congestion Window Reduced (RFC 3168 §6.1): the core
    /// neither sets nor honours them; named so frames showing them can be.
    pub const ECE: u8 = 1 << 6;
    pub const CWR: u8 = 1 << 7;
    pub const FIN_BIT: usize = 0;
    pub const SYN_BIT: usize = 1;
    pub const RST_BIT: usize = 2;
    pub const PSH_BIT: usize = 3;
    pub const ACK_BIT: usize = 4;
    pub const URG_BIT: usize = 5;
}

/// RFC 9293 connection states as the core encodes them in TCB `state`.
/// The core opens passively only, so SYN-SENT is a reserved code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    Closed = 0,
    Listen = 1,
    SynSent = 2,
    SynReceived = 3,
    Established = 4,
    FinWait1 = 5,
    FinWait2 = 6,
    CloseWait = 7,
    Closing = 8,
    LastAck = 9,
    TimeWait = 10,
}

impl TcpState {
    pub const fn from_code(code: u32) -> Option<TcpState> {
        Some(match code {
            0 => TcpState::Closed,
            1 => TcpState::Listen,
            2 => TcpState::SynSent,
            3 => TcpState::SynReceived,
            4 => TcpState::Established,
            5 => TcpState::FinWait1,
            6 => TcpState::FinWait2,
            7 => TcpState::CloseWait,
            8 => TcpState::Closing,
            9 => TcpState::LastAck,
            10 => TcpState::TimeWait,
            _ => return None,
        })
    }
    /// The RFC 9293 name, as used in logs, tables and JSON.
    pub const fn rfc_name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }
}

/// One field of the TCB. The TCB is `TCB_WORDS` 32-bit words; in the RTL it is
/// one `TCB_BITS`-wide block-RAM word where TCB word `w` is bits `32w+31:32w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbField {
    pub name: &'static str,
    pub word: u32,
    /// Lowest bit inside the word.
    pub shift: u32,
    pub width: u32,
    pub doc: &'static str,
}

impl TcbField {
    /// Bit position inside the whole TCB.
    pub const fn bit(&self) -> usize {
        (self.word * 32 + self.shift) as usize
    }
    pub const fn mask(&self) -> u32 {
        if self.width == 32 { u32::MAX } else { ((1u32 << self.width) - 1) << self.shift }
    }
    /// Extract this field from the TCB words.
    pub fn get(&self, words: &[u32]) -> u32 {
        (words[self.word as usize] & self.mask()) >> self.shift
    }
    pub fn set(&self, words: &mut [u32], value: u32) {
        let w = &mut words[self.word as usize];
        *w = (*w & !self.mask()) | ((value << self.shift) & self.mask());
    }
}

/// Even, so a TCB is a whole number of 64-bit words in host memory (the event record, DMA beats).
pub const TCB_WORDS: usize = 22;
pub const TCB_BITS: usize = TCB_WORDS * 32;

macro_rules! tcb_fields {
    ($( $ident:ident: word $w:literal, shift $s:literal, width $wd:literal, $doc:literal; )*) => {
        pub mod tcb {
            use super::TcbField;
            $( #[doc = $doc] pub const $ident: TcbField = TcbField { name: stringify!($ident), word: $w, shift: $s, width: $wd, doc: $doc }; )*
            /// Every TCB field in layout order.
            pub const FIELDS: &[TcbField] = &[$($ident),*];
        }
    };
}

tcb_fields! {
    STATE:       word 0,  shift 0,  width 4,  "RFC 9293 state (TcpState code). CLOSED means the slot is free.";
    HOLDBACK:    word 0,  shift 4,  width 1,  "ACK holdback on: every ACK sent is min(rcv_nxt, rel) (invariant 1).";
    FIN_RCVD:    word 0,  shift 5,  width 1,  "The peer's FIN was received in order (rcv_nxt counts it).";
    SEND_HOLD:   word 0,  shift 6,  width 1,  "Send holdback on: nothing at or above the connection's SEND_LIMIT leaves the card (invariant 9).";
    CLOSE_ASKED: word 0,  shift 7,  width 1,  "Relay mode: the spliced peer received its FIN, so this side may close; a linked CLOSE-WAIT sends its FIN only then (docs/relay.md, the half-close).";
    RETRIES:     word 0,  shift 8,  width 4,  "Retransmissions of our SYN-ACK, FIN or data since the last progress.";
    PEER_MSS:    word 0,  shift 16, width 16, "MSS the peer announced (536 if absent); honoured by the send side.";
    LOCAL_PORT:  word 1,  shift 0,  width 16, "Our TCP port.";
    REMOTE_PORT: word 1,  shift 16, width 16, "The peer's TCP port.";
    REMOTE_IP:   word 2,  shift 0,  width 32, "The peer's IPv4 address.";
    REMOTE_MAC_LO: word 3, shift 0, width 32, "Next-hop MAC bytes 2-5 (from the SYN's source MAC).";
    REMOTE_MAC_HI: word 4, shift 0, width 16, "Next-hop MAC bytes 0-1.";
    PEER_LINK:   word 4,  shift 16, width 16, "Relay mode: id of the spliced connection (0xFFFF: none).";
    IRS:         word 5,  shift 0,  width 32, "Initial receive sequence number; stream offset o is at seq irs+1+o.";
    RCV_NXT:     word 6,  shift 0,  width 32, "Next sequence number expected; every byte below it is in the ring.";
    REL:         word 7,  shift 0,  width 32, "Released point R: highest ACK allowed (holdback register). Only moves forward.";
    RCV_ADV:     word 8,  shift 0,  width 32, "Right edge of the window last advertised; never moves left (RFC 9293 3.8.6, invariant 5).";
    ACK_SENT:    word 9,  shift 0,  width 32, "A: highest ACK put on the wire; A <= R while holdback is on (invariant 1).";
    ISS:         word 10, shift 0,  width 32, "Initial send sequence number.";
    SND_UNA:     word 11, shift 0,  width 32, "Oldest unacknowledged sequence number we sent; snd_una <= snd_nxt.";
    SND_NXT:     word 12, shift 0,  width 32, "Next sequence number to send; snd_nxt <= snd_max.";
    SND_MAX:     word 13, shift 0,  width 32, "Highest sequence number sent (relay: replicated so the standby accepts ACKs up to it, invariant 4).";
    SND_WND:     word 14, shift 0,  width 16, "The peer's advertised window as it sent it; the window in bytes is snd_wnd << snd_wscale.";
    SND_WSCALE:  word 14, shift 16, width 4,  "The peer's window-scale shift (RFC 7323 §2.3, at most 14); 0 unless both SYNs carried the option.";
    RCV_WSCALE:  word 14, shift 20, width 4,  "Our window-scale shift: every window we send after the SYN-ACK is (right edge - ack) >> rcv_wscale; 0 unless both SYNs carried the option.";
    SACK_OK:     word 14, shift 24, width 1,  "SACK (RFC 2018): the peer's SYN carried SACK-permitted and RX_REASM bits 0-1 were set, so our SYN-ACK offered it and our ACKs carry SACK blocks.";
    TS_OK:       word 14, shift 25, width 1,  "Timestamps (RFC 7323 §3): the peer's SYN (or SYN-ACK, to a CONNECT) carried the option and TIMESTAMPS bit0 was set; in SYN-SENT: our SYN offers it.";
    TIMER_DUE:   word 15, shift 0,  width 32, "NOW_US value at which the retransmission timer fires (SYN-RECEIVED once its SYN-ACK is sent, LAST-ACK, data in flight); in this card's clock, so PROMOTE re-arms it (not yet for data).";
    SEQ_OFFSET:  word 16, shift 0,  width 32, "Relay mode: fixed offset between this connection's and its peer link's sequence space.";
    TX_END:      word 17, shift 0,  width 32, "Relay mode: stream offset up to which the host filled the transmit ring.";
    GEN:         word 18, shift 0,  width 32, "Change generation: incremented on every TCB write by the core; replication orders copies by it.";
    EPOCH:       word 19, shift 0,  width 32, "Failover epoch of the card that last wrote this TCB (its EPOCH register; a host write stores what the host wrote).";
    TS_RECENT:   word 20, shift 0,  width 32, "TS.Recent (RFC 7323 §4.3): the peer's TSval to echo in TSecr; from its SYN, 0 unless TS_OK.";
    TS_OFFSET:   word 21, shift 0,  width 32, "Timestamps (RFC 7323 §5.4): every TSval this connection sends is TS_CLOCK + TS_OFFSET; set at the open to the ISS with its 16-bit halves swapped (as unpredictable as the ISS), 0 unless TS_OK. Replicated with the TCB, so a promoted card sends the same TSvals on its own TS_CLOCK.";
}

/// The largest receive ring, as a power of two: 1 MiB. A connection whose
/// SYN carried a Window Scale option is offered all of it (shift 5); one
/// without gets at most 65535 bytes of it.
pub const MAX_RING_BITS: usize = RX_RING_LOG2_MAX as usize;

/// The largest window-scale shift (RFC 7323 §2.3): a larger one in a SYN is taken as 14.
pub const MAX_WSCALE: u8 = 14;

/// The window-scale shift the core offers for a receive ring of `ring_bytes`:
/// the smallest that makes the whole ring fit the 16-bit window field
/// (`ring_bytes >> shift <= 65535`), at most [`MAX_WSCALE`].
pub fn wscale_for_ring(ring_bytes: u32) -> u8 {
    (0..MAX_WSCALE).find(|&s| (u64::from(ring_bytes) >> s) <= 65535).unwrap_or(MAX_WSCALE)
}

/// Byte address of a TCB word, a release register.
pub fn tcb_word_addr(id: u32, word: u32) -> u32 {
    TCB_BASE + id * TCB_STRIDE + 4 * word
}
pub fn release_addr(id: u32) -> u32 {
    RELEASE_BASE + 4 * id
}
pub fn tx_tail_addr(id: u32) -> u32 {
    TX_TAIL_BASE + 4 * id
}
pub fn send_limit_addr(id: u32) -> u32 {
    SEND_LIMIT_BASE + 4 * id
}

/// SEND_HOLDBACK: send holdback on for connections of slots without a setting of their own.
pub const SEND_HOLDBACK_DEFAULT: u32 = 1 << 0;
/// SEND_HOLDBACK: slot `slot` decides send holdback for its connections itself.
pub const fn send_holdback_own(slot: usize) -> u32 {
    1 << (1 + slot)
}
/// SEND_HOLDBACK: slot `slot`'s own send holdback setting.
pub const fn send_holdback_on(slot: usize) -> u32 {
    1 << (5 + slot)
}
/// SEND_HOLDBACK bits that exist (default, four own bits, four settings); the rest read 0.
pub const SEND_HOLDBACK_BITS: usize = 9;

/// The SEND_HOLDBACK value for a default and per-slot settings of their own
/// (`None`: the slot follows the default).
pub fn send_holdback_value(default: bool, slots: [Option<bool>; 4]) -> u32 {
    let mut v = if default { SEND_HOLDBACK_DEFAULT } else { 0 };
    for (n, own) in slots.into_iter().enumerate() {
        match own {
            None => {}
            Some(false) => v |= send_holdback_own(n),
            Some(true) => v |= send_holdback_own(n) | send_holdback_on(n),
        }
    }
    v
}

/// Markdown table of the whole map, for the README (kept in sync by a test).
pub fn markdown_table(params: &CoreParams) -> String {
    let mut s = String::from("| offset | name | access | meaning |\n|---|---|---|---|\n");
    for r in FIXED_REGS {
        s += &format!("| 0x{:05X} | {} | {:?} | {} |\n", r.offset, r.name, r.access, r.doc);
    }
    for st in Stat::ALL {
        s += &format!("| 0x{:05X} | STAT_{} | Ro | {} |\n", st.offset(), st.name().to_uppercase(), st.doc());
    }
    let conns = params.conns();
    s += &format!(
        "| 0x{:05X} + 4·id | RELEASE[id] | Rw | Released point R of connection id < {conns} (ACK holdback); R + the ring is what the host ring may receive. |\n",
        RELEASE_BASE
    );
    s += &format!(
        "| 0x{:05X} + 4·id | SEND_LIMIT[id] | Wo | Send limit L of connection id < {conns}: the transmit-stream offset (TX_TAIL's units) below which the card sends while the connection's send holdback is on (no byte at or above it, a FIN only below it); an active card keeps the serial maximum, a new connection starts at 0. |\n",
        SEND_LIMIT_BASE
    );
    s += &format!(
        "| 0x{:05X} + 4·id | TX_TAIL[id] | Wo | Send tail of connection id < {conns}: the stream offset up to which the host filled its transmit ring (TCB tx_end); backwards or past snd_una + the ring is refused. |\n",
        TX_TAIL_BASE
    );
    s += &format!(
        "| 0x{:05X} + 0x{:X}·id + 4·w | TCB[id].word[w] | Ro (Rw in standby) | {} words per TCB of connection id < {conns}, fields below; for writes (standby) and diagnostics: in operation the host takes TCBs from the event records. |\n",
        TCB_BASE, TCB_STRIDE, TCB_WORDS
    );
    s += "\n| TCB field | word | bits | meaning |\n|---|---|---|---|\n";
    for f in tcb::FIELDS {
        s += &format!("| {} | {} | {}:{} | {} |\n", f.name.to_lowercase(), f.word, f.shift + f.width - 1, f.shift, f.doc);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_registers_are_aligned_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for r in FIXED_REGS {
            assert_eq!(r.offset % 4, 0, "{} unaligned", r.name);
            assert!(r.offset < STATS_BASE || r.offset >= STATS_BASE + 4 * Stat::COUNT as u32, "{} overlaps stats", r.name);
            assert!(seen.insert(r.offset), "{} shares an offset", r.name);
            assert!(r.offset < RELEASE_BASE);
        }
    }

    #[test]
    fn stats_are_dense_in_declaration_order() {
        for (i, s) in Stat::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn tcb_fields_do_not_overlap_and_fit() {
        let mut used = vec![false; TCB_BITS];
        for f in tcb::FIELDS {
            assert!(f.shift + f.width <= 32, "{} crosses a word", f.name);
            assert!((f.word as usize) < TCB_WORDS);
            for b in f.bit()..f.bit() + f.width as usize {
                assert!(!used[b], "{} overlaps at bit {b}", f.name);
                used[b] = true;
            }
        }
        assert!(TCB_WORDS as u32 * 4 <= TCB_STRIDE);
    }

    #[test]
    fn windows_fit_the_bar() {
        let p = CoreParams::DEFAULT;
        assert!(p.ring_bits <= MAX_RING_BITS);
        // N = 4096 must fit too: the largest core that still synthesizes.
        let most = 4096u32;
        assert!(RELEASE_BASE + 4 * most <= SEND_LIMIT_BASE);
        assert!(SEND_LIMIT_BASE + 4 * most <= TX_TAIL_BASE);
        assert!(TX_TAIL_BASE + 4 * most <= TCB_BASE);
        assert!(TCB_BASE as u64 + (TCB_STRIDE * most) as u64 <= 1 << ADDR_BITS);
        assert!(p.conns() as u32 <= most);
    }

    #[test]
    fn send_holdback_bits_are_dense() {
        assert_eq!(send_holdback_value(true, [Some(true); 4]), (1 << SEND_HOLDBACK_BITS) - 1);
        assert_eq!(send_holdback_value(false, [None; 4]), 0);
    }

    #[test]
    fn field_get_set_round_trip() {
        let mut w = [0u32; TCB_WORDS];
        tcb::PEER_MSS.set(&mut w, 1460);
        tcb::STATE.set(&mut w, TcpState::Established as u32);
        tcb::RCV_NXT.set(&mut w, 0xFFFF_FFFF);
        assert_eq!(tcb::PEER_MSS.get(&w), 1460);
        assert_eq!(TcpState::from_code(tcb::STATE.get(&w)), Some(TcpState::Established));
        assert_eq!(tcb::RCV_NXT.get(&w), 0xFFFF_FFFF);
        assert_eq!(w[0], (1460 << 16) | 4);
    }

    #[test]
    fn offered_window_scale_makes_the_ring_fit() {
        assert_eq!(wscale_for_ring(4096), 0);
        assert_eq!(wscale_for_ring(32768), 0);
        assert_eq!(wscale_for_ring(65536), 1);
        assert_eq!(wscale_for_ring(1 << 20), 5);
        for bits in 12..=30 {
            let s = wscale_for_ring(1 << bits);
            assert!((1u64 << bits) >> s <= 65535 || s == MAX_WSCALE);
            assert!(s == 0 || (1u64 << bits) >> (s - 1) > 65535, "{s} is the smallest shift for 2^{bits}");
        }
    }
}

/// The hash of a connection's tuple as the core's connection index and ISS
/// use it: the peer's IPv4 address XOR (peer port << 16 | our port), folded
/// to 16 bits. The RTL's `TupleHash` block is checked against this function.
pub fn conn_hash(remote_ip: u32, remote_port: u16, local_port: u16) -> u16 {
    let h = remote_ip ^ ((u32::from(remote_port) << 16) | u32::from(local_port));
    ((h >> 16) ^ (h & 0xffff)) as u16
}

/// The connection-index bucket of a tuple hash: its low `conn_bits + 1` bits
/// (the index has 2N buckets for N = 2^conn_bits connections).
pub fn conn_bucket(hash: u16, conn_bits: usize) -> usize {
    usize::from(hash) & ((2usize << conn_bits) - 1)
}
