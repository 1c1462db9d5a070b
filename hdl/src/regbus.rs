//! The host register block standing for PCIe BAR0: address decode, the
//! self-describing ID block, control registers, the host-memory data path's
//! registers (receive rings and event ring), wrapping statistics counters,
//! and forwarding of TCB / release accesses to the engine.
//!
//! Every address and bit position comes from `holdback_regmap` through
//! `Constant` fields; a Verilated test reads each register back through the
//! driver's view of the same map.
//!
//! Bus handshake (Wishbone-like): the host holds `reg_re` or `reg_we` with a
//! stable address until it sees `reg_ack`, then drops the request for at least
//! one cycle. Latency is variable: TCB and release accesses wait for the engine.
use crate::channels::{HostOpSource, HOP_KIND_BITS, HOP_SEND_LIMIT};
use holdback_regmap as map;
use holdback_regmap::Stat;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum RegBusState {
    Idle,
    HopWait,
    Ack,
    Release,
}

pub const STAT_COUNT: usize = Stat::COUNT;
/// Listening-port slots (the LISTEN0..3 registers).
pub const LISTEN_PORTS: usize = map::LISTEN_SLOTS.len();
/// Bits of a LISTEN register that exist (port, enable, own holdback,
/// holdback). Kernels slice with the literal 19, which this pins.
pub const LISTEN_BITS: usize = map::LISTEN_BITS;
const _: () = assert!(LISTEN_BITS == 19, "the kernels' LISTEN slices say 19 bits");
/// Bits of the SEND_HOLDBACK register that exist (default, own settings, settings).
pub const SEND_HOLDBACK_BITS: usize = map::SEND_HOLDBACK_BITS;

#[derive(LogicBlock)]
pub struct RegBus<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub reg_addr: Signal<In, Bits<20>>,
    pub reg_wdata: Signal<In, Bits<32>>,
    pub reg_we: Signal<In, Bit>,
    pub reg_re: Signal<In, Bit>,
    pub reg_rdata: Signal<Out, Bits<32>>,
    pub reg_ack: Signal<Out, Bit>,
    // Configuration outputs.
    pub enable: Signal<Out, Bit>,
    pub standby: Signal<Out, Bit>,
    pub holdback_default: Signal<Out, Bit>,
    pub our_mac: Signal<Out, Bits<48>>,
    pub our_ip: Signal<Out, Bits<32>>,
    /// The LISTEN registers, one per slot: port, enable, own holdback, holdback.
    pub listen_ports: [Signal<Out, Bits<LISTEN_BITS>>; LISTEN_PORTS],
    pub our_mss: Signal<Out, Bits<16>>,
    pub rto_us: Signal<Out, Bits<32>>,
    /// TIME_WAIT_US: how long TIME-WAIT (and an unanswered FIN-WAIT-2) holds a slot.
    pub time_wait_us: Signal<Out, Bits<32>>,
    /// Keep-alive and the idle timeout (KEEPALIVE_*, IDLE_TIMEOUT_US; 0 = off).
    pub ka_idle_us: Signal<Out, Bits<32>>,
    pub ka_intvl_us: Signal<Out, Bits<32>>,
    pub ka_probes: Signal<Out, Bits<4>>,
    pub idle_timeout_us: Signal<Out, Bits<32>>,
    pub dup_acks: Signal<Out, Bit>,
    pub hold_synack: Signal<Out, Bit>,
    /// RX_REASM bit0: out-of-order reassembly.
    pub reassembly: Signal<Out, Bit>,
    /// SEND_HOLDBACK: the send-holdback default and the slots' own settings.
    pub send_holdback: Signal<Out, Bits<SEND_HOLDBACK_BITS>>,
    /// RX_REASM bit1 (with bit0): SACK offered and sent (RFC 2018).
    pub sack: Signal<Out, Bit>,
    /// TIMESTAMPS bit0: TCP timestamps (RFC 7323).
    pub timestamps: Signal<Out, Bit>,
    /// TS_CLOCK: a write loads the engine's timestamp clock (one cycle); reads return it.
    pub ts_clock_load: Signal<Out, Bit>,
    pub ts_clock_wdata: Signal<Out, Bits<32>>,
    pub ts_ticks: Signal<In, Bits<32>>,
    /// The EPOCH register.
    pub epoch: Signal<Out, Bits<32>>,
    /// RX_RING_BASE: host address of connection 0's receive ring.
    pub rx_ring_base: Signal<Out, Bits<64>>,
    /// RX_RING_LOG2: log2 of every receive ring's bytes (12..=16).
    pub rx_ring_log2: Signal<Out, Bits<5>>,
    /// TX_RING_BASE: host address of connection 0's transmit ring.
    pub tx_ring_base: Signal<Out, Bits<64>>,
    /// TX_RING_LOG2: log2 of every transmit ring's bytes (12..=16).
    pub tx_ring_log2: Signal<Out, Bits<5>>,
    /// RTO_MIN_US: the RTO floor of data connections (RFC 6298 §2.4).
    pub rto_min_us: Signal<Out, Bits<32>>,
    /// SYN_COOKIES bit31: answer SYNs with cookies (RFC 4987 §3.6, docs/syn-cookies.md).
    pub syn_cookies: Signal<Out, Bit>,
    /// SYN_COOKIES bits 15:0: the half-open count at which cookies start.
    pub cookie_threshold: Signal<Out, Bits<16>>,
    /// The SipHash keys: COOKIE_KEY3..0 (key0) and COOKIE_KEY7..4 (key1), the
    /// lower-numbered register in the lower bits.
    pub cookie_key0: Signal<Out, Bits<128>>,
    pub cookie_key1: Signal<Out, Bits<128>>,
    /// The engine's count of TCBs in SYN-RECEIVED (HALF_OPEN).
    pub half_open: Signal<In, Bits<16>>,
    /// What a receive ring holds: `1 << RX_RING_LOG2`, capped at
    /// ID_RING_BYTES (window scaling lets the engine advertise all of it). Registered.
    pub ring_window: Signal<Out, Bits<32>>,
    /// EQ_BASE, EQ_CTRL.enable, EQ_CONS: the event writer's configuration.
    pub eq_base: Signal<Out, Bits<64>>,
    pub eq_enable: Signal<Out, Bit>,
    pub eq_cons: Signal<Out, Bits<16>>,
    /// The event writer's state: EQ_PROD and EQ_CTRL's active bit.
    pub eq_prod: Signal<In, Bits<16>>,
    pub eq_active: Signal<In, Bit>,
    // Promotion handshake with the engine: the request stays up until taken.
    pub promote_req: Signal<Out, Bit>,
    pub promote_start: Signal<In, Bit>,
    pub promote_end: Signal<In, Bit>,
    pub promoting: Signal<In, Bit>,
    // Events and status from the datapath.
    pub stat_inc: Signal<In, Bits<STAT_COUNT>>,
    pub stat_bytes: Signal<In, Bits<16>>,
    pub now_us: Signal<In, Bits<32>>,
    pub open_conns: Signal<In, Bits<16>>,
    pub core_idle: Signal<In, Bit>,
    /// Host operations executed by the engine.
    pub hop: HostOpSource<CONN_BITS>,
    /// Active open (CONNECT_*): the remote address, ports and next hop's MAC
    /// bytes 2-5 of the next CONNECT; its bytes 0-1 travel in the op's `wdata`.
    pub connect_ip: Signal<Out, Bits<32>>,
    pub connect_ports: Signal<Out, Bits<32>>,
    pub connect_mac_lo: Signal<Out, Bits<32>>,
    /// Registers of a block that decodes the bus itself (the relay slots,
    /// relay_regs.rs): a read of an address it claims returns its data. Its
    /// writes need nothing from here: it takes them from the bus directly.
    pub ext_hit: Signal<In, Bit>,
    pub ext_rdata: Signal<In, Bits<32>>,
    pub idle: Signal<Out, Bit>,

    state: DFF<RegBusState>,
    rdata: DFF<Bits<32>>,
    ctrl: DFF<Bits<32>>,
    mac_hi: DFF<Bits<16>>,
    mac_lo: DFF<Bits<32>>,
    ipv4: DFF<Bits<32>>,
    listen: [DFF<Bits<32>>; LISTEN_PORTS],
    mss: DFFWithInit<Bits<32>>,
    rto: DFFWithInit<Bits<32>>,
    time_wait: DFFWithInit<Bits<32>>,
    ka_idle: DFF<Bits<32>>,
    ka_intvl: DFFWithInit<Bits<32>>,
    ka_probes_r: DFFWithInit<Bits<4>>,
    idle_timeout: DFF<Bits<32>>,
    reasm: DFF<Bits<32>>,
    ts_r: DFF<Bit>,
    send_hold_r: DFF<Bits<SEND_HOLDBACK_BITS>>,
    epoch_r: DFF<Bits<32>>,
    rx_base_lo: DFF<Bits<32>>,
    rx_base_hi: DFF<Bits<32>>,
    rx_log2: DFFWithInit<Bits<5>>,
    tx_base_lo: DFF<Bits<32>>,
    tx_base_hi: DFF<Bits<32>>,
    tx_log2: DFFWithInit<Bits<5>>,
    rto_min: DFFWithInit<Bits<32>>,
    /// SYN_COOKIES as written, masked to the bits that exist (31 and 15:0).
    syn_cookies_r: DFF<Bits<32>>,
    /// COOKIE_KEY0..7, one word each.
    cookie_key: [DFF<Bits<32>>; 8],
    window_r: DFF<Bits<32>>,
    eq_base_lo: DFF<Bits<32>>,
    eq_base_hi: DFF<Bits<32>>,
    eq_ctrl: DFF<Bit>,
    eq_cons_r: DFF<Bits<16>>,
    lease_r: DFF<Bits<32>>,
    prom_req: DFF<Bit>,
    prom_done: DFF<Bit>,
    hop_kind_r: DFF<Bits<HOP_KIND_BITS>>,
    hop_conn_r: DFF<Bits<CONN_BITS>>,
    hop_word_r: DFF<Bits<5>>,
    connect_ip_r: DFF<Bits<32>>,
    connect_ports_r: DFF<Bits<32>>,
    connect_mac_lo_r: DFF<Bits<32>>,
    /// The slot the last CONNECT took, or CONNECT_REFUSED.
    connect_result: DFFWithInit<Bits<32>>,
    a_connect_ip: Constant<Bits<20>>,
    a_connect_ports: Constant<Bits<20>>,
    a_connect_mac_lo: Constant<Bits<20>>,
    a_connect: Constant<Bits<20>>,
    hop_connect: Constant<Bits<HOP_KIND_BITS>>,
    stat: [DFF<Bits<32>>; STAT_COUNT],

    fixed_rdata: Signal<Local, Bits<32>>,
    ctrl_next: Signal<Local, Bits<32>>,
    prom_busy: Signal<Local, Bit>,
    lease_age: Signal<Local, Bits<32>>,
    lease_over: Signal<Local, Bit>,
    /// This cycle takes a write of EPOCH older than the card's, or a PROMOTE
    /// not newer: refused and counted (EPOCH only grows, docs/authority.md).
    stale_epoch_write: Signal<Local, Bit>,
    m_stale_epoch: Constant<Bits<STAT_COUNT>>,
    stat_index: Signal<Local, Bits<20>>,
    stat_sel: Signal<Local, Bits<STAT_COUNT>>,
    rel_off: Signal<Local, Bits<20>>,
    tcb_off: Signal<Local, Bits<20>>,

    a_magic: Constant<Bits<20>>,
    a_version: Constant<Bits<20>>,
    a_conns: Constant<Bits<20>>,
    a_ring_bytes: Constant<Bits<20>>,
    a_tcb_words: Constant<Bits<20>>,
    a_build: Constant<Bits<20>>,
    a_ctrl: Constant<Bits<20>>,
    a_mac_hi: Constant<Bits<20>>,
    a_mac_lo: Constant<Bits<20>>,
    a_ipv4: Constant<Bits<20>>,
    listen_mask: Constant<Bits<32>>,
    a_listen0: Constant<Bits<20>>,
    a_listen1: Constant<Bits<20>>,
    a_listen2: Constant<Bits<20>>,
    a_listen3: Constant<Bits<20>>,
    a_mss: Constant<Bits<20>>,
    a_reasm: Constant<Bits<20>>,
    a_timestamps: Constant<Bits<20>>,
    a_ts_clock: Constant<Bits<20>>,
    a_send_holdback: Constant<Bits<20>>,
    a_send_limit: Constant<Bits<20>>,
    send_limit_off: Signal<Local, Bits<20>>,
    a_rto: Constant<Bits<20>>,
    a_status: Constant<Bits<20>>,
    a_now: Constant<Bits<20>>,
    a_epoch: Constant<Bits<20>>,
    a_promote: Constant<Bits<20>>,
    a_eq_entries: Constant<Bits<20>>,
    a_rx_base_lo: Constant<Bits<20>>,
    a_rx_base_hi: Constant<Bits<20>>,
    a_rx_log2: Constant<Bits<20>>,
    a_tx_base_lo: Constant<Bits<20>>,
    a_tx_base_hi: Constant<Bits<20>>,
    a_tx_log2: Constant<Bits<20>>,
    a_rto_min: Constant<Bits<20>>,
    a_syn_cookies: Constant<Bits<20>>,
    syn_cookies_mask: Constant<Bits<32>>,
    a_half_open: Constant<Bits<20>>,
    a_cookie_key: Constant<Bits<20>>,
    /// The key registers' span in bytes (8 words).
    cookie_key_span: Constant<Bits<20>>,
    one8: Constant<Bits<8>>,
    cookie_key_off: Signal<Local, Bits<20>>,
    cookie_key_hit: Signal<Local, Bit>,
    cookie_key_sel: Signal<Local, Bits<8>>,
    a_eq_base_lo: Constant<Bits<20>>,
    a_eq_base_hi: Constant<Bits<20>>,
    a_eq_ctrl: Constant<Bits<20>>,
    a_eq_cons: Constant<Bits<20>>,
    a_eq_prod: Constant<Bits<20>>,
    v_eq_entries: Constant<Bits<32>>,
    v_log2_min: Constant<Bits<32>>,
    v_log2_max: Constant<Bits<32>>,
    v_tx_log2_min: Constant<Bits<32>>,
    v_tx_log2_max: Constant<Bits<32>>,
    page_mask: Constant<Bits<32>>,
    one32: Constant<Bits<32>>,
    window_cap: Constant<Bits<32>>,
    ring_bytes: Signal<Local, Bits<32>>,
    a_lease: Constant<Bits<20>>,
    half_clock: Constant<Bits<32>>,
    v_not_standby: Constant<Bits<32>>,
    a_host_status: Constant<Bits<20>>,
    a_stats: Constant<Bits<20>>,
    stats_span: Constant<Bits<20>>,
    a_release: Constant<Bits<20>>,
    release_span: Constant<Bits<20>>,
    a_tcb: Constant<Bits<20>>,
    tcb_span: Constant<Bits<20>>,
    tcb_stride_shift: Constant<Bits<5>>,
    v_magic: Constant<Bits<32>>,
    v_version: Constant<Bits<32>>,
    v_conns: Constant<Bits<32>>,
    v_ring_bytes: Constant<Bits<32>>,
    v_tcb_words: Constant<Bits<32>>,
    v_build: Constant<Bits<32>>,
    v_unmapped: Constant<Bits<32>>,
    bytes_stat: Constant<Bits<STAT_COUNT>>,
    one_stat: Constant<Bits<STAT_COUNT>>,
    zero_word: Constant<Bits<5>>,
    hop_tcb_read: Constant<Bits<HOP_KIND_BITS>>,
    hop_tcb_write: Constant<Bits<HOP_KIND_BITS>>,
    hop_release_write: Constant<Bits<HOP_KIND_BITS>>,
    hop_release_read: Constant<Bits<HOP_KIND_BITS>>,
    hop_tail_write: Constant<Bits<HOP_KIND_BITS>>,
    /// Host close and abort (CONN_CLOSE, CONN_ABORT): the connection id is the written value.
    hop_close: Constant<Bits<HOP_KIND_BITS>>,
    hop_abort: Constant<Bits<HOP_KIND_BITS>>,
    hop_send_limit: Constant<Bits<HOP_KIND_BITS>>,
    a_conn_close: Constant<Bits<20>>,
    a_conn_abort: Constant<Bits<20>>,
    a_time_wait: Constant<Bits<20>>,
    a_ka_idle: Constant<Bits<20>>,
    a_ka_intvl: Constant<Bits<20>>,
    a_ka_probes: Constant<Bits<20>>,
    a_idle_timeout: Constant<Bits<20>>,
    a_tx_tail: Constant<Bits<20>>,
    tx_tail_span: Constant<Bits<20>>,
    tail_off: Signal<Local, Bits<20>>,
}

fn addr(a: u32) -> Constant<Bits<20>> {
    Constant::new(Bits::<20>::from(a as u64))
}
fn word(v: u64) -> Constant<Bits<32>> {
    Constant::new(Bits::<32>::from(v))
}

impl<const CONN_BITS: usize> RegBus<CONN_BITS> {
    /// `eq_entries`: records in the event ring (ID_EQ_ENTRIES).
    pub fn new(params: map::CoreParams, eq_entries: u32, build_id: u32) -> Self {
        assert_eq!(params.conn_bits, CONN_BITS);
        let conns = params.conns() as u32;
        Self {
            clock: Default::default(),
            hop: Default::default(),
            connect_ip: Default::default(),
            connect_ports: Default::default(),
            connect_mac_lo: Default::default(),
            ext_hit: Default::default(),
            ext_rdata: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_we: Default::default(),
            reg_re: Default::default(),
            reg_rdata: Default::default(),
            reg_ack: Default::default(),
            enable: Default::default(),
            standby: Default::default(),
            holdback_default: Default::default(),
            our_mac: Default::default(),
            our_ip: Default::default(),
            listen_ports: Default::default(),
            our_mss: Default::default(),
            reassembly: Default::default(),
            sack: Default::default(),
            timestamps: Default::default(),
            ts_clock_load: Default::default(),
            ts_clock_wdata: Default::default(),
            ts_ticks: Default::default(),
            reasm: Default::default(),
            ts_r: Default::default(),
            send_holdback: Default::default(),
            send_hold_r: Default::default(),
            rto_us: Default::default(),
            time_wait_us: Default::default(),
            ka_idle_us: Default::default(),
            ka_intvl_us: Default::default(),
            ka_probes: Default::default(),
            idle_timeout_us: Default::default(),
            dup_acks: Default::default(),
            hold_synack: Default::default(),
            epoch: Default::default(),
            rx_ring_base: Default::default(),
            rx_ring_log2: Default::default(),
            tx_ring_base: Default::default(),
            tx_ring_log2: Default::default(),
            rto_min_us: Default::default(),
            syn_cookies: Default::default(),
            cookie_threshold: Default::default(),
            cookie_key0: Default::default(),
            cookie_key1: Default::default(),
            half_open: Default::default(),
            ring_window: Default::default(),
            eq_base: Default::default(),
            eq_enable: Default::default(),
            eq_cons: Default::default(),
            eq_prod: Default::default(),
            eq_active: Default::default(),
            promote_req: Default::default(),
            promote_start: Default::default(),
            promote_end: Default::default(),
            promoting: Default::default(),
            stat_inc: Default::default(),
            stat_bytes: Default::default(),
            now_us: Default::default(),
            open_conns: Default::default(),
            core_idle: Default::default(),
            idle: Default::default(),
            state: Default::default(),
            rdata: Default::default(),
            ctrl: Default::default(),
            mac_hi: Default::default(),
            mac_lo: Default::default(),
            ipv4: Default::default(),
            listen: Default::default(),
            // Safe values until the host configures the card.
            mss: DFFWithInit::new(Bits::<32>::from(1460u64)),
            rto: DFFWithInit::new(Bits::<32>::from(200_000u64)),
            time_wait: DFFWithInit::new(Bits::<32>::from(map::TIME_WAIT_US_DEFAULT as u64)),
            ka_idle: Default::default(),
            ka_intvl: DFFWithInit::new(Bits::<32>::from(map::KEEPALIVE_INTVL_US_DEFAULT as u64)),
            ka_probes_r: DFFWithInit::new(Bits::<4>::from(map::KEEPALIVE_PROBES_DEFAULT as u64)),
            idle_timeout: Default::default(),
            epoch_r: Default::default(),
            rx_base_lo: Default::default(),
            rx_base_hi: Default::default(),
            rx_log2: DFFWithInit::new(Bits::<5>::from(map::RX_RING_LOG2_DEFAULT as u64)),
            tx_base_lo: Default::default(),
            tx_base_hi: Default::default(),
            tx_log2: DFFWithInit::new(Bits::<5>::from(map::TX_RING_LOG2_DEFAULT as u64)),
            rto_min: DFFWithInit::new(Bits::<32>::from(u64::from(map::RTO_MIN_US_DEFAULT))),
            // Off until the host configures it (docs/syn-cookies.md).
            syn_cookies_r: Default::default(),
            cookie_key: Default::default(),
            window_r: Default::default(),
            ring_bytes: Default::default(),
            eq_base_lo: Default::default(),
            eq_base_hi: Default::default(),
            eq_ctrl: Default::default(),
            eq_cons_r: Default::default(),
            lease_r: Default::default(),
            prom_req: Default::default(),
            prom_done: Default::default(),
            hop_kind_r: Default::default(),
            hop_conn_r: Default::default(),
            hop_word_r: Default::default(),
            connect_ip_r: Default::default(),
            connect_ports_r: Default::default(),
            connect_mac_lo_r: Default::default(),
            connect_result: DFFWithInit::new(Bits::<32>::from(map::CONNECT_REFUSED as u64)),
            a_connect_ip: addr(map::CONNECT_IP.offset),
            a_connect_ports: addr(map::CONNECT_PORTS.offset),
            a_connect_mac_lo: addr(map::CONNECT_MAC_LO.offset),
            a_connect: addr(map::CONNECT.offset),
            hop_connect: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_CONNECT)),
            // More counters than `Default` covers for arrays (32).
            stat: std::array::from_fn(|_| Default::default()),
            fixed_rdata: Default::default(),
            ctrl_next: Default::default(),
            prom_busy: Default::default(),
            lease_age: Default::default(),
            lease_over: Default::default(),
            stale_epoch_write: Default::default(),
            m_stale_epoch: Constant::new(Bits::<STAT_COUNT>::from(1u64 << Stat::StaleEpochRefused.index())),
            stat_index: Default::default(),
            stat_sel: Default::default(),
            rel_off: Default::default(),
            tcb_off: Default::default(),
            a_magic: addr(map::ID_MAGIC.offset),
            a_version: addr(map::ID_VERSION.offset),
            a_conns: addr(map::ID_CONNS.offset),
            a_ring_bytes: addr(map::ID_RING_BYTES.offset),
            a_tcb_words: addr(map::ID_TCB_WORDS.offset),
            a_build: addr(map::ID_BUILD.offset),
            a_ctrl: addr(map::CTRL.offset),
            a_mac_hi: addr(map::MAC_HI.offset),
            a_mac_lo: addr(map::MAC_LO.offset),
            a_ipv4: addr(map::IPV4_ADDR.offset),
            listen_mask: Constant::new(Bits::<32>::from((1u64 << LISTEN_BITS) - 1)),
            a_listen0: addr(map::LISTEN0.offset),
            a_listen1: addr(map::LISTEN1.offset),
            a_listen2: addr(map::LISTEN2.offset),
            a_listen3: addr(map::LISTEN3.offset),
            a_mss: addr(map::OUR_MSS.offset),
            a_reasm: addr(map::RX_REASM.offset),
            a_timestamps: addr(map::TIMESTAMPS.offset),
            a_ts_clock: addr(map::TS_CLOCK.offset),
            a_send_holdback: addr(map::SEND_HOLDBACK.offset),
            a_send_limit: addr(map::SEND_LIMIT_BASE),
            send_limit_off: Default::default(),
            a_rto: addr(map::RTO_US.offset),
            a_status: addr(map::STATUS.offset),
            a_now: addr(map::NOW_US.offset),
            a_epoch: addr(map::EPOCH.offset),
            a_promote: addr(map::PROMOTE.offset),
            a_eq_entries: addr(map::ID_EQ_ENTRIES.offset),
            a_rx_base_lo: addr(map::RX_RING_BASE_LO.offset),
            a_rx_base_hi: addr(map::RX_RING_BASE_HI.offset),
            a_rx_log2: addr(map::RX_RING_LOG2.offset),
            a_tx_base_lo: addr(map::TX_RING_BASE_LO.offset),
            a_tx_base_hi: addr(map::TX_RING_BASE_HI.offset),
            a_tx_log2: addr(map::TX_RING_LOG2.offset),
            a_rto_min: addr(map::RTO_MIN_US.offset),
            a_syn_cookies: addr(map::SYN_COOKIES.offset),
            syn_cookies_mask: word(0x8000_FFFF),
            a_half_open: addr(map::HALF_OPEN.offset),
            a_cookie_key: addr(map::COOKIE_KEY0.offset),
            cookie_key_span: addr(map::COOKIE_KEY7.offset + 4 - map::COOKIE_KEY0.offset),
            one8: Constant::new(Bits::<8>::from(1u64)),
            cookie_key_off: Default::default(),
            cookie_key_hit: Default::default(),
            cookie_key_sel: Default::default(),
            a_eq_base_lo: addr(map::EQ_BASE_LO.offset),
            a_eq_base_hi: addr(map::EQ_BASE_HI.offset),
            a_eq_ctrl: addr(map::EQ_CTRL.offset),
            a_eq_cons: addr(map::EQ_CONS.offset),
            a_eq_prod: addr(map::EQ_PROD.offset),
            v_eq_entries: word(eq_entries as u64),
            v_log2_min: word(map::RX_RING_LOG2_MIN as u64),
            v_log2_max: word(map::RX_RING_LOG2_MAX as u64),
            v_tx_log2_min: word(map::TX_RING_LOG2_MIN as u64),
            v_tx_log2_max: word(map::TX_RING_LOG2_MAX as u64),
            page_mask: word(!(map::HOST_RING_ALIGN as u32 - 1) as u64),
            one32: word(1),
            window_cap: word(params.ring_bytes() as u64),
            a_lease: addr(map::LEASE_UNTIL_US.offset),
            half_clock: word(1 << 31),
            v_not_standby: word(!map::CTRL_STANDBY as u64),
            a_host_status: addr(map::HOST_STATUS.offset),
            a_stats: addr(map::STATS_BASE),
            stats_span: addr(Stat::COUNT as u32),
            a_release: addr(map::RELEASE_BASE),
            release_span: addr(4 * conns),
            a_tcb: addr(map::TCB_BASE),
            tcb_span: addr(map::TCB_STRIDE * conns),
            tcb_stride_shift: Constant::new(Bits::<5>::from(map::TCB_STRIDE.trailing_zeros() as u64)),
            v_magic: word(map::MAGIC as u64),
            v_version: word(map::VERSION as u64),
            v_conns: word(conns as u64),
            v_ring_bytes: word(params.ring_bytes() as u64),
            v_tcb_words: word(map::TCB_WORDS as u64),
            v_build: word(build_id as u64),
            v_unmapped: word(0xFFFF_FFFF),
            bytes_stat: Constant::new(Bits::<STAT_COUNT>::from(1u64 << Stat::RxPayloadBytes.index())),
            one_stat: Constant::new(Bits::<STAT_COUNT>::from(1u64)),
            zero_word: Constant::new(Bits::<5>::from(0u64)),
            hop_tcb_read: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TCB_READ)),
            hop_tcb_write: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TCB_WRITE)),
            hop_release_write: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_RELEASE_WRITE)),
            hop_release_read: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_RELEASE_READ)),
            hop_tail_write: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TAIL_WRITE)),
            hop_close: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_CLOSE)),
            hop_abort: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_ABORT)),
            hop_send_limit: Constant::new(Bits::<HOP_KIND_BITS>::from(HOP_SEND_LIMIT)),
            a_conn_close: addr(map::CONN_CLOSE.offset),
            a_conn_abort: addr(map::CONN_ABORT.offset),
            a_time_wait: addr(map::TIME_WAIT_US.offset),
            a_ka_idle: addr(map::KEEPALIVE_IDLE_US.offset),
            a_ka_intvl: addr(map::KEEPALIVE_INTVL_US.offset),
            a_ka_probes: addr(map::KEEPALIVE_PROBES.offset),
            a_idle_timeout: addr(map::IDLE_TIMEOUT_US.offset),
            a_tx_tail: addr(map::TX_TAIL_BASE),
            tx_tail_span: addr(4 * conns),
            tail_off: Default::default(),
        }
    }
}

impl<const CONN_BITS: usize> Logic for RegBus<CONN_BITS> {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, rdata, ctrl, mac_hi, mac_lo, ipv4, mss, rto, time_wait, ka_idle, ka_intvl, ka_probes_r, idle_timeout, reasm, ts_r, send_hold_r, epoch_r, rx_base_lo, rx_base_hi, rx_log2,
            tx_base_lo, tx_base_hi, tx_log2, rto_min, syn_cookies_r,
            window_r, eq_base_lo, eq_base_hi, eq_ctrl, eq_cons_r, prom_req, prom_done, hop_kind_r, hop_conn_r, hop_word_r, lease_r,
            connect_ip_r, connect_ports_r, connect_mac_lo_r, connect_result
        );
        for i in 0..LISTEN_PORTS {
            self.listen[i].clock.next = self.clock.val();
            self.listen[i].d.next = self.listen[i].q.val();
        }
        for i in 0..8 {
            self.cookie_key[i].clock.next = self.clock.val();
            self.cookie_key[i].d.next = self.cookie_key[i].q.val();
        }
        // Epochs compare plainly (not serially): they start at 1 and only grow,
        // so the order must stay total and transitive (docs/authority.md).
        self.stale_epoch_write.next = (self.state.q.val() == RegBusState::Idle)
            & self.reg_we.val()
            & (((self.reg_addr.val() == self.a_epoch.val()) & (self.reg_wdata.val() < self.epoch_r.q.val()))
                | ((self.reg_addr.val() == self.a_promote.val()) & (self.reg_wdata.val() <= self.epoch_r.q.val())));
        // Wrapping event counters; rx_payload_bytes adds stat_bytes instead of one.
        for i in 0..STAT_COUNT {
            self.stat[i].clock.next = self.clock.val();
            self.stat[i].d.next = self.stat[i].q.val();
            if self.stat_inc.val().get_bit(i) | (self.stale_epoch_write.val() & self.m_stale_epoch.val().get_bit(i)) {
                if self.bytes_stat.val().get_bit(i) {
                    self.stat[i].d.next = self.stat[i].q.val() + bit_cast::<32, 16>(self.stat_bytes.val());
                } else {
                    self.stat[i].d.next = self.stat[i].q.val() + 1_u32.to_bits();
                }
            }
        }

        // Configuration outputs.
        self.enable.next = self.ctrl.q.val().get_bit(0);
        self.holdback_default.next = self.ctrl.q.val().get_bit(1);
        // A lease that ran out (NOW_US at or past it, serially) silences the
        // card exactly as CTRL.standby does, whatever its host does.
        self.lease_age.next = self.now_us.val() - self.lease_r.q.val();
        self.lease_over.next = self.lease_r.q.val().any() & (self.lease_age.val() < self.half_clock.val());
        self.standby.next = self.ctrl.q.val().get_bit(2) | self.lease_over.val();
        self.our_mac.next = (bit_cast::<48, 16>(self.mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.mac_lo.q.val());
        self.our_ip.next = self.ipv4.q.val();
        for i in 0..LISTEN_PORTS {
            self.listen_ports[i].next = self.listen[i].q.val().get_bits::<19>(0);
        }
        self.our_mss.next = self.mss.q.val().get_bits::<16>(0);
        self.reassembly.next = self.reasm.q.val().get_bit(0);
        self.send_holdback.next = self.send_hold_r.q.val();
        self.connect_ip.next = self.connect_ip_r.q.val();
        self.connect_ports.next = self.connect_ports_r.q.val();
        self.connect_mac_lo.next = self.connect_mac_lo_r.q.val();
        self.sack.next = self.reasm.q.val().get_bit(0) & self.reasm.q.val().get_bit(1);
        self.timestamps.next = self.ts_r.q.val();
        // TS_CLOCK is the engine's counter: a write goes straight to it, in the cycle it is taken.
        self.ts_clock_load.next =
            (self.state.q.val() == RegBusState::Idle) & self.reg_we.val() & (self.reg_addr.val() == self.a_ts_clock.val());
        self.ts_clock_wdata.next = self.reg_wdata.val();
        self.rto_us.next = self.rto.q.val();
        self.time_wait_us.next = self.time_wait.q.val();
        self.ka_idle_us.next = self.ka_idle.q.val();
        self.ka_intvl_us.next = self.ka_intvl.q.val();
        self.ka_probes.next = self.ka_probes_r.q.val();
        self.idle_timeout_us.next = self.idle_timeout.q.val();
        self.dup_acks.next = self.ctrl.q.val().get_bit(3);
        self.hold_synack.next = self.ctrl.q.val().get_bit(4);
        self.epoch.next = self.epoch_r.q.val();
        self.rx_ring_base.next = (bit_cast::<64, 32>(self.rx_base_hi.q.val()) << 32) | bit_cast::<64, 32>(self.rx_base_lo.q.val());
        self.rx_ring_log2.next = self.rx_log2.q.val();
        self.tx_ring_base.next = (bit_cast::<64, 32>(self.tx_base_hi.q.val()) << 32) | bit_cast::<64, 32>(self.tx_base_lo.q.val());
        self.tx_ring_log2.next = self.tx_log2.q.val();
        self.rto_min_us.next = self.rto_min.q.val();
        self.syn_cookies.next = self.syn_cookies_r.q.val().get_bit(31);
        self.cookie_threshold.next = self.syn_cookies_r.q.val().get_bits::<16>(0);
        self.cookie_key0.next = (bit_cast::<128, 32>(self.cookie_key[3].q.val()) << 96)
            | (bit_cast::<128, 32>(self.cookie_key[2].q.val()) << 64)
            | (bit_cast::<128, 32>(self.cookie_key[1].q.val()) << 32)
            | bit_cast::<128, 32>(self.cookie_key[0].q.val());
        self.cookie_key1.next = (bit_cast::<128, 32>(self.cookie_key[7].q.val()) << 96)
            | (bit_cast::<128, 32>(self.cookie_key[6].q.val()) << 64)
            | (bit_cast::<128, 32>(self.cookie_key[5].q.val()) << 32)
            | bit_cast::<128, 32>(self.cookie_key[4].q.val());
        self.ring_bytes.next = self.one32.val() << self.rx_log2.q.val();
        self.window_r.d.next = self.ring_bytes.val();
        if self.ring_bytes.val() > self.window_cap.val() {
            self.window_r.d.next = self.window_cap.val();
        }
        self.ring_window.next = self.window_r.q.val();
        self.eq_base.next = (bit_cast::<64, 32>(self.eq_base_hi.q.val()) << 32) | bit_cast::<64, 32>(self.eq_base_lo.q.val());
        self.eq_enable.next = self.eq_ctrl.q.val();
        self.eq_cons.next = self.eq_cons_r.q.val();
        self.promote_req.next = self.prom_req.q.val();
        self.ctrl_next.next = self.ctrl.q.val();
        self.prom_busy.next = self.prom_req.q.val() | self.promoting.val();

        // Decode.
        self.stat_index.next = (self.reg_addr.val() - self.a_stats.val()) >> 2;
        self.stat_sel.next = self.one_stat.val() << self.stat_index.val();
        self.rel_off.next = self.reg_addr.val() - self.a_release.val();
        self.tcb_off.next = self.reg_addr.val() - self.a_tcb.val();
        self.tail_off.next = self.reg_addr.val() - self.a_tx_tail.val();
        self.send_limit_off.next = self.reg_addr.val() - self.a_send_limit.val();
        self.cookie_key_off.next = self.reg_addr.val() - self.a_cookie_key.val();
        self.cookie_key_hit.next =
            (self.reg_addr.val() >= self.a_cookie_key.val()) & (self.cookie_key_off.val() < self.cookie_key_span.val());
        self.cookie_key_sel.next = self.one8.val() << self.cookie_key_off.val().get_bits::<3>(2);
        self.fixed_rdata.next = self.v_unmapped.val();
        if self.reg_addr.val() == self.a_magic.val() {
            self.fixed_rdata.next = self.v_magic.val();
        } else if self.reg_addr.val() == self.a_version.val() {
            self.fixed_rdata.next = self.v_version.val();
        } else if self.reg_addr.val() == self.a_conns.val() {
            self.fixed_rdata.next = self.v_conns.val();
        } else if self.reg_addr.val() == self.a_ring_bytes.val() {
            self.fixed_rdata.next = self.v_ring_bytes.val();
        } else if self.reg_addr.val() == self.a_tcb_words.val() {
            self.fixed_rdata.next = self.v_tcb_words.val();
        } else if self.reg_addr.val() == self.a_build.val() {
            self.fixed_rdata.next = self.v_build.val();
        } else if self.reg_addr.val() == self.a_ctrl.val() {
            self.fixed_rdata.next = self.ctrl.q.val();
        } else if self.reg_addr.val() == self.a_mac_hi.val() {
            self.fixed_rdata.next = bit_cast::<32, 16>(self.mac_hi.q.val());
        } else if self.reg_addr.val() == self.a_mac_lo.val() {
            self.fixed_rdata.next = self.mac_lo.q.val();
        } else if self.reg_addr.val() == self.a_ipv4.val() {
            self.fixed_rdata.next = self.ipv4.q.val();
        } else if self.reg_addr.val() == self.a_listen0.val() {
            self.fixed_rdata.next = self.listen[0].q.val();
        } else if self.reg_addr.val() == self.a_listen1.val() {
            self.fixed_rdata.next = self.listen[1].q.val();
        } else if self.reg_addr.val() == self.a_listen2.val() {
            self.fixed_rdata.next = self.listen[2].q.val();
        } else if self.reg_addr.val() == self.a_listen3.val() {
            self.fixed_rdata.next = self.listen[3].q.val();
        } else if self.reg_addr.val() == self.a_mss.val() {
            self.fixed_rdata.next = self.mss.q.val();
        } else if self.reg_addr.val() == self.a_rto.val() {
            self.fixed_rdata.next = self.rto.q.val();
        } else if self.reg_addr.val() == self.a_time_wait.val() {
            self.fixed_rdata.next = self.time_wait.q.val();
        } else if self.reg_addr.val() == self.a_ka_idle.val() {
            self.fixed_rdata.next = self.ka_idle.q.val();
        } else if self.reg_addr.val() == self.a_ka_intvl.val() {
            self.fixed_rdata.next = self.ka_intvl.q.val();
        } else if self.reg_addr.val() == self.a_ka_probes.val() {
            self.fixed_rdata.next = bit_cast::<32, 4>(self.ka_probes_r.q.val());
        } else if self.reg_addr.val() == self.a_idle_timeout.val() {
            self.fixed_rdata.next = self.idle_timeout.q.val();
        } else if (self.reg_addr.val() == self.a_conn_close.val()) | (self.reg_addr.val() == self.a_conn_abort.val()) {
            self.fixed_rdata.next = 0_u32.to_bits();
        } else if self.reg_addr.val() == self.a_reasm.val() {
            self.fixed_rdata.next = self.reasm.q.val();
        } else if self.reg_addr.val() == self.a_timestamps.val() {
            self.fixed_rdata.next = bit_cast::<32, 1>(self.ts_r.q.val().into());
        } else if self.reg_addr.val() == self.a_ts_clock.val() {
            self.fixed_rdata.next = self.ts_ticks.val();
        } else if self.reg_addr.val() == self.a_send_holdback.val() {
            self.fixed_rdata.next = bit_cast::<32, SEND_HOLDBACK_BITS>(self.send_hold_r.q.val());
        } else if self.reg_addr.val() == self.a_connect_ip.val() {
            self.fixed_rdata.next = self.connect_ip_r.q.val();
        } else if self.reg_addr.val() == self.a_connect_ports.val() {
            self.fixed_rdata.next = self.connect_ports_r.q.val();
        } else if self.reg_addr.val() == self.a_connect_mac_lo.val() {
            self.fixed_rdata.next = self.connect_mac_lo_r.q.val();
        } else if self.reg_addr.val() == self.a_connect.val() {
            self.fixed_rdata.next = self.connect_result.q.val();
        } else if self.reg_addr.val() == self.a_status.val() {
            self.fixed_rdata.next = (bit_cast::<32, 16>(self.open_conns.val()) << 16) | bit_cast::<32, 1>(self.core_idle.val().into());
        } else if self.reg_addr.val() == self.a_now.val() {
            self.fixed_rdata.next = self.now_us.val();
        } else if self.reg_addr.val() == self.a_epoch.val() {
            self.fixed_rdata.next = self.epoch_r.q.val();
        } else if self.reg_addr.val() == self.a_promote.val() {
            self.fixed_rdata.next = (bit_cast::<32, 1>(self.prom_done.q.val().into()) << 1)
                | bit_cast::<32, 1>(self.prom_busy.val().into());
        } else if self.reg_addr.val() == self.a_eq_entries.val() {
            self.fixed_rdata.next = self.v_eq_entries.val();
        } else if self.reg_addr.val() == self.a_rx_base_lo.val() {
            self.fixed_rdata.next = self.rx_base_lo.q.val();
        } else if self.reg_addr.val() == self.a_rx_base_hi.val() {
            self.fixed_rdata.next = self.rx_base_hi.q.val();
        } else if self.reg_addr.val() == self.a_rx_log2.val() {
            self.fixed_rdata.next = bit_cast::<32, 5>(self.rx_log2.q.val());
        } else if self.reg_addr.val() == self.a_tx_base_lo.val() {
            self.fixed_rdata.next = self.tx_base_lo.q.val();
        } else if self.reg_addr.val() == self.a_tx_base_hi.val() {
            self.fixed_rdata.next = self.tx_base_hi.q.val();
        } else if self.reg_addr.val() == self.a_tx_log2.val() {
            self.fixed_rdata.next = bit_cast::<32, 5>(self.tx_log2.q.val());
        } else if self.reg_addr.val() == self.a_rto_min.val() {
            self.fixed_rdata.next = self.rto_min.q.val();
        } else if self.reg_addr.val() == self.a_syn_cookies.val() {
            self.fixed_rdata.next = self.syn_cookies_r.q.val();
        } else if self.reg_addr.val() == self.a_half_open.val() {
            self.fixed_rdata.next = bit_cast::<32, 16>(self.half_open.val());
        } else if self.cookie_key_hit.val() {
            // The keys are secrets shared by the pair: they read 0 (docs/syn-cookies.md).
            self.fixed_rdata.next = 0_u32.to_bits();
        } else if self.reg_addr.val() == self.a_eq_base_lo.val() {
            self.fixed_rdata.next = self.eq_base_lo.q.val();
        } else if self.reg_addr.val() == self.a_eq_base_hi.val() {
            self.fixed_rdata.next = self.eq_base_hi.q.val();
        } else if self.reg_addr.val() == self.a_eq_ctrl.val() {
            self.fixed_rdata.next = (bit_cast::<32, 1>(self.eq_active.val().into()) << 1) | bit_cast::<32, 1>(self.eq_ctrl.q.val().into());
        } else if self.reg_addr.val() == self.a_eq_cons.val() {
            self.fixed_rdata.next = bit_cast::<32, 16>(self.eq_cons_r.q.val());
        } else if self.reg_addr.val() == self.a_eq_prod.val() {
            self.fixed_rdata.next = bit_cast::<32, 16>(self.eq_prod.val());
        } else if self.reg_addr.val() == self.a_lease.val() {
            self.fixed_rdata.next = self.lease_r.q.val();
        } else if self.reg_addr.val() == self.a_host_status.val() {
            self.fixed_rdata.next = 0_u32.to_bits();
        } else if self.ext_hit.val() {
            self.fixed_rdata.next = self.ext_rdata.val();
        } else if (self.reg_addr.val() >= self.a_stats.val()) & (self.stat_index.val() < self.stats_span.val()) {
            self.fixed_rdata.next = 0_u32.to_bits();
            for i in 0..STAT_COUNT {
                if self.stat_sel.val().get_bit(i) {
                    self.fixed_rdata.next = self.stat[i].q.val();
                }
            }
        }

        // Defaults.
        self.reg_ack.next = false;
        self.reg_rdata.next = self.rdata.q.val();
        self.hop.valid.next = false;
        self.hop.kind.next = self.hop_kind_r.q.val();
        self.hop.conn.next = self.hop_conn_r.q.val();
        self.hop.word.next = self.hop_word_r.q.val();
        self.hop.wdata.next = self.reg_wdata.val();

        match self.state.q.val() {
            RegBusState::Idle => {
                if self.reg_re.val() | self.reg_we.val() {
                    self.state.d.next = RegBusState::Ack;
                    self.rdata.d.next = self.fixed_rdata.val();
                    if (self.reg_addr.val() >= self.a_release.val()) & (self.rel_off.val() < self.release_span.val()) {
                        self.hop_conn_r.d.next = self.rel_off.val().get_bits::<CONN_BITS>(2);
                        self.hop_word_r.d.next = self.zero_word.val();
                        self.hop_kind_r.d.next = self.hop_release_read.val();
                        if self.reg_we.val() {
                            self.hop_kind_r.d.next = self.hop_release_write.val();
                        }
                        self.state.d.next = RegBusState::HopWait;
                    } else if (self.reg_addr.val() >= self.a_tx_tail.val())
                        & (self.tail_off.val() < self.tx_tail_span.val())
                        & self.reg_we.val()
                    {
                        // A send-tail doorbell; reads of the window are unmapped (the tail is the TCB's tx_end).
                        self.hop_conn_r.d.next = self.tail_off.val().get_bits::<CONN_BITS>(2);
                        self.hop_word_r.d.next = self.zero_word.val();
                        self.hop_kind_r.d.next = self.hop_tail_write.val();
                        self.state.d.next = RegBusState::HopWait;
                    } else if (self.reg_addr.val() >= self.a_send_limit.val())
                        & (self.send_limit_off.val() < self.tx_tail_span.val())
                        & self.reg_we.val()
                    {
                        // A send limit (send holdback); reads of the window are unmapped.
                        self.hop_conn_r.d.next = self.send_limit_off.val().get_bits::<CONN_BITS>(2);
                        self.hop_word_r.d.next = self.zero_word.val();
                        self.hop_kind_r.d.next = self.hop_send_limit.val();
                        self.state.d.next = RegBusState::HopWait;
                    } else if ((self.reg_addr.val() == self.a_conn_close.val()) | (self.reg_addr.val() == self.a_conn_abort.val()))
                        & self.reg_we.val()
                        & (self.reg_wdata.val() < self.v_conns.val())
                    {
                        // Close or abort the connection whose id is written (an id past N is ignored).
                        self.hop_conn_r.d.next = self.reg_wdata.val().get_bits::<CONN_BITS>(0);
                        self.hop_word_r.d.next = self.zero_word.val();
                        self.hop_kind_r.d.next = self.hop_close.val();
                        if self.reg_addr.val() == self.a_conn_abort.val() {
                            self.hop_kind_r.d.next = self.hop_abort.val();
                        }
                        self.state.d.next = RegBusState::HopWait;
                    } else if (self.reg_addr.val() == self.a_connect.val()) & self.reg_we.val() {
                        // Active open: the engine takes a slot and sends our SYN (its answer is the slot).
                        self.hop_word_r.d.next = self.zero_word.val();
                        self.hop_kind_r.d.next = self.hop_connect.val();
                        self.state.d.next = RegBusState::HopWait;
                    } else if (self.reg_addr.val() >= self.a_tcb.val()) & (self.tcb_off.val() < self.tcb_span.val()) {
                        self.hop_conn_r.d.next = self.tcb_off.val().get_bits::<CONN_BITS>(self.tcb_stride_shift.val().index());
                        self.hop_word_r.d.next = self.tcb_off.val().get_bits::<5>(2);
                        self.hop_kind_r.d.next = self.hop_tcb_read.val();
                        if self.reg_we.val() {
                            self.hop_kind_r.d.next = self.hop_tcb_write.val();
                        }
                        self.state.d.next = RegBusState::HopWait;
                    } else if self.reg_we.val() {
                        // Writes to read-only or unmapped addresses are ignored.
                        if self.reg_addr.val() == self.a_ctrl.val() {
                            self.ctrl_next.next = self.reg_wdata.val();
                        }
                        if (self.reg_addr.val() == self.a_epoch.val()) & !self.stale_epoch_write.val() {
                            self.epoch_r.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_lease.val() {
                            self.lease_r.d.next = self.reg_wdata.val();
                        }
                        // PROMOTE: only a standby, enabled card with no promotion under
                        // way, into a newer epoch.
                        if (self.reg_addr.val() == self.a_promote.val())
                            & !self.stale_epoch_write.val()
                            & self.ctrl.q.val().get_bit(0)
                            & self.ctrl.q.val().get_bit(2)
                            & !self.prom_req.q.val()
                            & !self.promoting.val()
                        {
                            self.epoch_r.d.next = self.reg_wdata.val();
                            self.prom_req.d.next = true;
                            self.prom_done.d.next = false;
                        }
                        if self.reg_addr.val() == self.a_mac_hi.val() {
                            self.mac_hi.d.next = self.reg_wdata.val().get_bits::<16>(0);
                        }
                        if self.reg_addr.val() == self.a_mac_lo.val() {
                            self.mac_lo.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_ipv4.val() {
                            self.ipv4.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_listen0.val() {
                            self.listen[0].d.next = self.reg_wdata.val() & self.listen_mask.val();
                        }
                        if self.reg_addr.val() == self.a_listen1.val() {
                            self.listen[1].d.next = self.reg_wdata.val() & self.listen_mask.val();
                        }
                        if self.reg_addr.val() == self.a_listen2.val() {
                            self.listen[2].d.next = self.reg_wdata.val() & self.listen_mask.val();
                        }
                        if self.reg_addr.val() == self.a_listen3.val() {
                            self.listen[3].d.next = self.reg_wdata.val() & self.listen_mask.val();
                        }
                        if self.reg_addr.val() == self.a_mss.val() {
                            self.mss.d.next = self.reg_wdata.val() & 0xFFFF_u32.to_bits();
                        }
                        if self.reg_addr.val() == self.a_rto.val() {
                            self.rto.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_time_wait.val() {
                            self.time_wait.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_ka_idle.val() {
                            self.ka_idle.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_ka_intvl.val() {
                            self.ka_intvl.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_ka_probes.val() {
                            self.ka_probes_r.d.next = self.reg_wdata.val().get_bits::<4>(0);
                        }
                        if self.reg_addr.val() == self.a_idle_timeout.val() {
                            self.idle_timeout.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_connect_ip.val() {
                            self.connect_ip_r.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_connect_ports.val() {
                            self.connect_ports_r.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_connect_mac_lo.val() {
                            self.connect_mac_lo_r.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_reasm.val() {
                            self.reasm.d.next = self.reg_wdata.val() & 3_u32.to_bits();
                        }
                        if self.reg_addr.val() == self.a_timestamps.val() {
                            self.ts_r.d.next = self.reg_wdata.val().get_bit(0);
                        }
                        if self.reg_addr.val() == self.a_send_holdback.val() {
                            self.send_hold_r.d.next = self.reg_wdata.val().get_bits::<SEND_HOLDBACK_BITS>(0);
                        }
                        // Host addresses are page aligned: the low bits are not stored.
                        if self.reg_addr.val() == self.a_rx_base_lo.val() {
                            self.rx_base_lo.d.next = self.reg_wdata.val() & self.page_mask.val();
                        }
                        if self.reg_addr.val() == self.a_rx_base_hi.val() {
                            self.rx_base_hi.d.next = self.reg_wdata.val();
                        }
                        // A ring size outside 4 KiB..64 KiB is refused: the register keeps its value.
                        if (self.reg_addr.val() == self.a_rx_log2.val())
                            & (self.reg_wdata.val() >= self.v_log2_min.val())
                            & (self.reg_wdata.val() <= self.v_log2_max.val())
                        {
                            self.rx_log2.d.next = self.reg_wdata.val().get_bits::<5>(0);
                        }
                        if self.reg_addr.val() == self.a_tx_base_lo.val() {
                            self.tx_base_lo.d.next = self.reg_wdata.val() & self.page_mask.val();
                        }
                        if self.reg_addr.val() == self.a_tx_base_hi.val() {
                            self.tx_base_hi.d.next = self.reg_wdata.val();
                        }
                        if (self.reg_addr.val() == self.a_tx_log2.val())
                            & (self.reg_wdata.val() >= self.v_tx_log2_min.val())
                            & (self.reg_wdata.val() <= self.v_tx_log2_max.val())
                        {
                            self.tx_log2.d.next = self.reg_wdata.val().get_bits::<5>(0);
                        }
                        if self.reg_addr.val() == self.a_rto_min.val() {
                            self.rto_min.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_syn_cookies.val() {
                            self.syn_cookies_r.d.next = self.reg_wdata.val() & self.syn_cookies_mask.val();
                        }
                        if self.cookie_key_hit.val() {
                            for i in 0..8 {
                                if self.cookie_key_sel.val().get_bit(i) {
                                    self.cookie_key[i].d.next = self.reg_wdata.val();
                                }
                            }
                        }
                        if self.reg_addr.val() == self.a_eq_base_lo.val() {
                            self.eq_base_lo.d.next = self.reg_wdata.val() & self.page_mask.val();
                        }
                        if self.reg_addr.val() == self.a_eq_base_hi.val() {
                            self.eq_base_hi.d.next = self.reg_wdata.val();
                        }
                        if self.reg_addr.val() == self.a_eq_ctrl.val() {
                            self.eq_ctrl.d.next = self.reg_wdata.val().get_bit(0);
                        }
                        if self.reg_addr.val() == self.a_eq_cons.val() {
                            self.eq_cons_r.d.next = self.reg_wdata.val().get_bits::<16>(0);
                        }
                    }
                }
            }
            RegBusState::HopWait => {
                self.hop.valid.next = true;
                if self.hop.done.val() {
                    self.rdata.d.next = self.hop.rdata.val();
                    if self.hop_kind_r.q.val() == self.hop_connect.val() {
                        self.connect_result.d.next = self.hop.rdata.val();
                    }
                    self.state.d.next = RegBusState::Ack;
                }
            }
            RegBusState::Ack => {
                self.reg_ack.next = true;
                self.state.d.next = RegBusState::Release;
            }
            RegBusState::Release => {
                if !self.reg_re.val() & !self.reg_we.val() {
                    self.state.d.next = RegBusState::Idle;
                }
            }
            _ => {
                self.state.d.next = RegBusState::Idle;
            }
        }
        // Promotion handshake: the request drops when the engine takes it; the
        // walk's end makes the card active (after any CTRL write of that cycle).
        if self.promote_start.val() {
            self.prom_req.d.next = false;
        }
        if self.promote_end.val() {
            self.prom_done.d.next = true;
            self.ctrl_next.next = self.ctrl_next.val() & self.v_not_standby.val();
        }
        self.ctrl.d.next = self.ctrl_next.val();
        self.idle.next = (self.state.q.val() == RegBusState::Idle) & !self.reg_re.val() & !self.reg_we.val();
    }
}

/// The register block alone, for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    let p = map::CoreParams { conn_bits: 6, ..map::CoreParams::DEFAULT };
    crate::generate::verilog_named(&mut RegBus::<6>::new(p, 128, 0), "regbus")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Bus = RegBus<6>;

    /// One bus access as the host makes it (hold until `reg_ack`, then drop
    /// for a cycle): a write of `wdata`, or a read; what `reg_rdata` held at the ack.
    fn access(sim: &mut Sim<Bus>, mut x: Box<Bus>, addr: u32, wdata: Option<u32>) -> std::result::Result<(Box<Bus>, u32), SimError> {
        x.reg_addr.next = Bits::<20>::from(u64::from(addr));
        match wdata {
            Some(v) => {
                x.reg_wdata.next = Bits::<32>::from(u64::from(v));
                x.reg_we.next = true;
            }
            None => x.reg_re.next = true,
        }
        x = sim.watch(|x| x.reg_ack.val(), x)?;
        let read = x.reg_rdata.val().index() as u32;
        wait_clock_cycle!(sim, clock, x);
        x.reg_we.next = false;
        x.reg_re.next = false;
        wait_clock_cycles!(sim, clock, x, 2);
        Ok((x, read))
    }

    /// SYN_COOKIES keeps bit31 and bits 15:0 and drives `syn_cookies` and
    /// `cookie_threshold`; the key words land in their 32 bits of
    /// `cookie_key0`/`cookie_key1` and read 0; HALF_OPEN reads the engine's count.
    #[test]
    fn syn_cookie_registers_drive_the_engine_and_keys_read_zero() {
        let p = map::CoreParams { conn_bits: 6, ..map::CoreParams::DEFAULT };
        let mut uut = Bus::new(p, 128, 0);
        uut.connect_all();
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<Bus>| x.clock.next = !x.clock.val());
        sim.add_testbench(move |mut sim: Sim<Bus>| {
            let mut x = sim.init()?;
            x.half_open.next = Bits::<16>::from(0x1234u64);
            wait_clock_cycles!(sim, clock, x, 2);
            let (mut x, r) = access(&mut sim, x, map::SYN_COOKIES.offset, None)?;
            sim_assert_eq!(sim, r, 0, x);
            sim_assert!(sim, !x.syn_cookies.val(), x);
            (x, _) = access(&mut sim, x, map::SYN_COOKIES.offset, Some(0xFFFF_FFFF))?;
            let r;
            (x, r) = access(&mut sim, x, map::SYN_COOKIES.offset, None)?;
            sim_assert_eq!(sim, r, 0x8000_FFFF_u32, x);
            (x, _) = access(&mut sim, x, map::SYN_COOKIES.offset, Some(0x0000_0040))?;
            sim_assert!(sim, !x.syn_cookies.val(), x);
            sim_assert_eq!(sim, x.cookie_threshold.val().index(), 0x40, x);
            (x, _) = access(&mut sim, x, map::SYN_COOKIES.offset, Some(0x8000_0007))?;
            sim_assert!(sim, x.syn_cookies.val(), x);
            sim_assert_eq!(sim, x.cookie_threshold.val().index(), 7, x);
            let regs = map::COOKIE_KEYS;
            for (i, reg) in regs.iter().enumerate() {
                (x, _) = access(&mut sim, x, reg.offset, Some(0x1000_0000 * (i as u32 + 1) + i as u32))?;
            }
            for reg in regs {
                let r;
                (x, r) = access(&mut sim, x, reg.offset, None)?;
                sim_assert_eq!(sim, r, 0, x);
            }
            for (key, base) in [(x.cookie_key0.val(), 0u32), (x.cookie_key1.val(), 4)] {
                for j in 0..4u32 {
                    let w = key.get_bits::<32>(32 * j as usize).index() as u32;
                    let i = base + j;
                    sim_assert_eq!(sim, w, 0x1000_0000 * (i + 1) + i, x);
                }
            }
            let r;
            (x, r) = access(&mut sim, x, map::HALF_OPEN.offset, None)?;
            sim_assert_eq!(sim, r, 0x1234, x);
            // The key writes touched nothing else.
            let r;
            (x, r) = access(&mut sim, x, map::SYN_COOKIES.offset, None)?;
            sim_assert_eq!(sim, r, 0x8000_0007_u32, x);
            sim.done(x)
        });
        sim.run(Box::new(uut), 1_000_000).expect("simulation passes");
    }

    #[test]
    fn regbus_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("regbus", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("regbus", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.ffs > 0);
    }
}
