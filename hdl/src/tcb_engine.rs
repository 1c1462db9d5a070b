//! The protocol engine: the TCB table in block RAM and the state machine that
//! applies RFC 9293 segment processing (passive open, data, passive close) to
//! each parsed frame, serves the host's TCB / release operations, and runs the
//! retransmission timer for our SYN-ACK and FIN.
//!
//! ACK holdback (claims 1, 11, 18; invariant 1 of `failover.md`): every ACK the
//! engine sends carries `min(rcv_nxt, rel)` while the connection's holdback bit
//! is set, where `rel` only moves forward through the host's release register.
//! The advertised right edge is `max(rcv_adv, rel + ring)`, so it never moves
//! left (invariant 5) and unreleased bytes keep occupying the ring.
//!
//! Card roles (issue 4; failover.md): in standby the engine is silent (frames
//! dropped, no timers, a release only moves R) and takes the host's TCB
//! writes. PROMOTE sends a gratuitous ARP, then walks every slot: each open
//! TCB resumes from R (rcv_nxt := ack_sent := R, invariant 3), keeps its
//! right edge (invariant 5), gets its timer re-armed on this card's clock, and
//! sends what a release would — or, with CTRL bit3, one ACK at R plus three
//! duplicates when ESTABLISHED. Every write-back stamps the EPOCH register.
//! With CTRL bit4 a new connection's R and ack_sent start at irs and its
//! SYN-ACK waits for the release that moves R past irs (claim 31).
//!
//! Field positions inside the 640-bit TCB word come from `holdback_regmap::tcb`
//! as `Constant` offsets, so the RTL, the driver and the docs share one layout.
use crate::seq_cmp::SeqCmp;
use crate::regbus::STAT_COUNT;
use holdback_regmap::{tcb, Stat, TcpState, TCB_BITS};
use rust_hdl::prelude::*;

/// Engine sequencing. Named uniquely: rust-hdl emits one localparam per variant.
#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum EngineState {
    Idle,
    RxDispatch,
    ProbeCheck,
    NotFound,
    TcpCheck,
    TcpAccept,
    TcpData,
    CopyIssue,
    CopyWait,
    TcpFin,
    Reply,
    WriteBack,
    TxSend,
    IcmpWait,
    PopFrame,
    HopLoad,
    HopRelease,
    HopWrite,
    HopDone,
    ScanLoad,
    ScanDecide,
    ScanNext,
    PromLoad,
    PromFix,
    PromSend,
    PromDup,
    PromNext,
    PromEnd,
}

pub const TCB_W: usize = TCB_BITS;

#[derive(LogicBlock)]
pub struct TcbEngine<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub tick_us: Signal<In, Bits<16>>,
    // Configuration from the register block.
    pub enable: Signal<In, Bit>,
    pub standby: Signal<In, Bit>,
    pub holdback_default: Signal<In, Bit>,
    pub listen0: Signal<In, Bits<17>>,
    pub listen1: Signal<In, Bits<17>>,
    pub listen2: Signal<In, Bits<17>>,
    pub listen3: Signal<In, Bits<17>>,
    pub rto_us: Signal<In, Bits<32>>,
    /// CTRL bit3: after a promotion, an ACK at R plus three duplicates per connection.
    pub dup_acks: Signal<In, Bit>,
    /// CTRL bit4: hold a new connection's SYN-ACK until R passes irs (claim 31).
    pub hold_synack: Signal<In, Bit>,
    /// EPOCH register: stamped into every TCB the engine writes back.
    pub epoch: Signal<In, Bits<32>>,
    /// A PROMOTE write is pending (held until `promote_start`).
    pub promote_req: Signal<In, Bit>,
    /// The walk took the request (one cycle).
    pub promote_start: Signal<Out, Bit>,
    /// The walk finished: every TCB resumed from R (one cycle).
    pub promote_end: Signal<Out, Bit>,
    /// The walk is running.
    pub promoting: Signal<Out, Bit>,
    // Parsed frame descriptor (stable while d_valid; d_pop releases it).
    pub d_valid: Signal<In, Bit>,
    pub d_pop: Signal<Out, Bit>,
    pub d_reason: Signal<In, Bits<5>>,
    pub d_kind: Signal<In, Bits<2>>,
    pub d_src_mac: Signal<In, Bits<48>>,
    pub d_src_ip: Signal<In, Bits<32>>,
    pub d_src_port: Signal<In, Bits<16>>,
    pub d_dst_port: Signal<In, Bits<16>>,
    pub d_seq: Signal<In, Bits<32>>,
    pub d_ack: Signal<In, Bits<32>>,
    pub d_flags: Signal<In, Bits<8>>,
    pub d_window: Signal<In, Bits<16>>,
    pub d_mss: Signal<In, Bits<16>>,
    pub d_payload_off: Signal<In, Bits<11>>,
    pub d_payload_len: Signal<In, Bits<11>>,
    pub d_icmp_csum: Signal<In, Bits<16>>,
    // Transmit requests to the frame builder.
    pub tx_valid: Signal<Out, Bit>,
    pub tx_ready: Signal<In, Bit>,
    pub tx_busy: Signal<In, Bit>,
    pub tx_kind: Signal<Out, Bits<2>>,
    pub tx_dst_mac: Signal<Out, Bits<48>>,
    pub tx_dst_ip: Signal<Out, Bits<32>>,
    pub tx_src_port: Signal<Out, Bits<16>>,
    pub tx_dst_port: Signal<Out, Bits<16>>,
    pub tx_seq: Signal<Out, Bits<32>>,
    pub tx_ack: Signal<Out, Bits<32>>,
    pub tx_flags: Signal<Out, Bits<8>>,
    pub tx_window: Signal<Out, Bits<16>>,
    pub tx_with_mss: Signal<Out, Bit>,
    pub tx_icmp_off: Signal<Out, Bits<11>>,
    pub tx_icmp_len: Signal<Out, Bits<11>>,
    pub tx_icmp_csum: Signal<Out, Bits<16>>,
    // Payload copies into the receive rings.
    pub rw_valid: Signal<Out, Bit>,
    pub rw_ready: Signal<In, Bit>,
    pub rw_done: Signal<In, Bit>,
    pub rw_fb_off: Signal<Out, Bits<11>>,
    pub rw_len: Signal<Out, Bits<11>>,
    pub rw_conn: Signal<Out, Bits<CONN_BITS>>,
    pub rw_ring_off: Signal<Out, Bits<16>>,
    /// Frame-buffer read port goes to the ring writer (else to the TX builder).
    pub fb_sel_ring: Signal<Out, Bit>,
    // Host operations forwarded by the register block.
    pub hop_valid: Signal<In, Bit>,
    /// 0 TCB word read, 1 TCB word write (standby only), 2 release write, 3 release read.
    pub hop_kind: Signal<In, Bits<2>>,
    pub hop_conn: Signal<In, Bits<CONN_BITS>>,
    pub hop_word: Signal<In, Bits<5>>,
    pub hop_wdata: Signal<In, Bits<32>>,
    pub hop_done: Signal<Out, Bit>,
    pub hop_rdata: Signal<Out, Bits<32>>,
    // Statistics, change log, status.
    pub stat_inc: Signal<Out, Bits<STAT_COUNT>>,
    pub stat_bytes: Signal<Out, Bits<16>>,
    pub chlog_push: Signal<Out, Bit>,
    pub chlog_id: Signal<Out, Bits<CONN_BITS>>,
    pub now_us: Signal<Out, Bits<32>>,
    pub open_conns: Signal<Out, Bits<16>>,
    pub idle: Signal<Out, Bit>,

    tcb_ram: RAM<Bits<TCB_W>, CONN_BITS>,
    cmp_ack: SeqCmp,
    cmp_right: SeqCmp,
    cmp_rel: SeqCmp,
    cmp_newrel: SeqCmp,
    cmp_timer: SeqCmp,

    state: DFF<EngineState>,
    tx_next: DFF<EngineState>,
    wb_next: DFF<EngineState>,
    now: DFF<Bits<32>>,
    last_ms_bit: DFF<Bit>,
    scan_pending: DFF<Bit>,
    scan_id: DFF<Bits<CONN_BITS>>,
    cur_id: DFF<Bits<CONN_BITS>>,
    probe_slot: DFF<Bits<CONN_BITS>>,
    probe_left: DFF<Bits<4>>,
    free_found: DFF<Bit>,
    free_slot: DFF<Bits<CONN_BITS>>,
    free_gen: DFF<Bits<32>>,
    take: DFF<Bits<11>>,
    open_count: DFF<Bits<16>>,
    prom_active: DFF<Bit>,
    dup_left: DFF<Bits<2>>,
    hop_result: DFF<Bits<32>>,
    raw: DFF<Bits<TCB_W>>,
    // Working copy of the current TCB, one register per regmap field.
    w_state: DFF<Bits<4>>,
    w_holdback: DFF<Bits<1>>,
    w_fin_rcvd: DFF<Bits<1>>,
    w_retries: DFF<Bits<4>>,
    w_peer_mss: DFF<Bits<16>>,
    w_local_port: DFF<Bits<16>>,
    w_remote_port: DFF<Bits<16>>,
    w_remote_ip: DFF<Bits<32>>,
    w_mac_lo: DFF<Bits<32>>,
    w_mac_hi: DFF<Bits<16>>,
    w_peer_link: DFF<Bits<16>>,
    w_irs: DFF<Bits<32>>,
    w_rcv_nxt: DFF<Bits<32>>,
    w_rel: DFF<Bits<32>>,
    w_rcv_adv: DFF<Bits<32>>,
    w_ack_sent: DFF<Bits<32>>,
    w_iss: DFF<Bits<32>>,
    w_snd_una: DFF<Bits<32>>,
    w_snd_nxt: DFF<Bits<32>>,
    w_snd_max: DFF<Bits<32>>,
    w_snd_wnd: DFF<Bits<16>>,
    w_timer_due: DFF<Bits<32>>,
    w_seq_offset: DFF<Bits<32>>,
    w_tx_end: DFF<Bits<32>>,
    w_gen: DFF<Bits<32>>,
    // The transmit request being offered.
    t_kind: DFF<Bits<2>>,
    t_dst_mac: DFF<Bits<48>>,
    t_dst_ip: DFF<Bits<32>>,
    t_src_port: DFF<Bits<16>>,
    t_dst_port: DFF<Bits<16>>,
    t_seq: DFF<Bits<32>>,
    t_ack: DFF<Bits<32>>,
    t_flags: DFF<Bits<8>>,
    t_window: DFF<Bits<16>>,
    t_with_mss: DFF<Bit>,

    // Combinational intermediates.
    rd: Signal<Local, Bits<TCB_W>>,
    stats: Signal<Local, Bits<STAT_COUNT>>,
    open_inc: Signal<Local, Bit>,
    open_dec: Signal<Local, Bit>,
    load_tcb: Signal<Local, Bit>,
    f_fin: Signal<Local, Bit>,
    f_syn: Signal<Local, Bit>,
    f_rst: Signal<Local, Bit>,
    f_ack: Signal<Local, Bit>,
    len32: Signal<Local, Bits<32>>,
    seg_len: Signal<Local, Bits<32>>,
    rcv_wnd: Signal<Local, Bits<32>>,
    off_start: Signal<Local, Bits<32>>,
    off_end: Signal<Local, Bits<32>>,
    avail: Signal<Local, Bits<32>>,
    skip: Signal<Local, Bits<11>>,
    take_calc: Signal<Local, Bits<32>>,
    acceptable: Signal<Local, Bit>,
    out_of_order: Signal<Local, Bit>,
    ack_minus_una: Signal<Local, Bits<32>>,
    nxt_minus_una: Signal<Local, Bits<32>>,
    max_minus_una: Signal<Local, Bits<32>>,
    ack_val: Signal<Local, Bits<32>>,
    right: Signal<Local, Bits<32>>,
    wnd_full: Signal<Local, Bits<32>>,
    wnd_val: Signal<Local, Bits<16>>,
    changed: Signal<Local, Bit>,
    end_seq: Signal<Local, Bits<32>>,
    ring_pos: Signal<Local, Bits<16>>,
    hash32: Signal<Local, Bits<32>>,
    hash16: Signal<Local, Bits<16>>,
    listening: Signal<Local, Bit>,
    tuple_match: Signal<Local, Bit>,
    slot_free: Signal<Local, Bit>,
    word_shift: Signal<Local, Bits<10>>,
    backoff: Signal<Local, Bits<32>>,
    iss_gen: Signal<Local, Bits<32>>,
    gen_next: Signal<Local, Bits<32>>,
    silent: Signal<Local, Bit>,
    synack_held: Signal<Local, Bit>,

    // Constants from the one register map / TCB layout.
    o_state: Constant<Bits<10>>,
    o_holdback: Constant<Bits<10>>,
    o_fin_rcvd: Constant<Bits<10>>,
    o_retries: Constant<Bits<10>>,
    o_peer_mss: Constant<Bits<10>>,
    o_local_port: Constant<Bits<10>>,
    o_remote_port: Constant<Bits<10>>,
    o_remote_ip: Constant<Bits<10>>,
    o_mac_lo: Constant<Bits<10>>,
    o_mac_hi: Constant<Bits<10>>,
    o_peer_link: Constant<Bits<10>>,
    o_irs: Constant<Bits<10>>,
    o_rcv_nxt: Constant<Bits<10>>,
    o_rel: Constant<Bits<10>>,
    o_rcv_adv: Constant<Bits<10>>,
    o_ack_sent: Constant<Bits<10>>,
    o_iss: Constant<Bits<10>>,
    o_snd_una: Constant<Bits<10>>,
    o_snd_nxt: Constant<Bits<10>>,
    o_snd_max: Constant<Bits<10>>,
    o_snd_wnd: Constant<Bits<10>>,
    o_timer_due: Constant<Bits<10>>,
    o_seq_offset: Constant<Bits<10>>,
    o_tx_end: Constant<Bits<10>>,
    o_gen: Constant<Bits<10>>,
    o_epoch: Constant<Bits<10>>,
    st_closed: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    max_retries: Constant<Bits<4>>,
    tcb_words: Constant<Bits<5>>,
    ring_bytes: Constant<Bits<32>>,
    ring_mask: Constant<Bits<16>>,
    syn_window: Constant<Bits<16>>,
    one_slot: Constant<Bits<CONN_BITS>>,
    word_ones: Constant<Bits<TCB_W>>,
    zero_slot: Constant<Bits<CONN_BITS>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    kind_tcp: Constant<Bits<2>>,
    kind_arp: Constant<Bits<2>>,
    kind_icmp: Constant<Bits<2>>,
    kind_garp: Constant<Bits<2>>,
    bcast_mac: Constant<Bits<48>>,
    dup_count: Constant<Bits<2>>,
    zero2: Constant<Bits<2>>,
    one2: Constant<Bits<2>>,
    hop_tcb_read: Constant<Bits<2>>,
    hop_tcb_write: Constant<Bits<2>>,
    hop_release: Constant<Bits<2>>,
    probes: Constant<Bits<4>>,
    default_mss: Constant<Bits<16>>,
    no_link: Constant<Bits<16>>,
    no_stats: Constant<Bits<STAT_COUNT>>,
    m_one: Constant<Bits<STAT_COUNT>>,
    m_payload: Constant<Bits<STAT_COUNT>>,
    m_rx_frames: Constant<Bits<STAT_COUNT>>,
    m_tcb_full: Constant<Bits<STAT_COUNT>>,
    m_out_of_order: Constant<Bits<STAT_COUNT>>,
    m_out_of_window: Constant<Bits<STAT_COUNT>>,
    m_no_connection: Constant<Bits<STAT_COUNT>>,
    m_unsupported: Constant<Bits<STAT_COUNT>>,
    m_arp_replies: Constant<Bits<STAT_COUNT>>,
    m_icmp_replies: Constant<Bits<STAT_COUNT>>,
    m_rst_sent: Constant<Bits<STAT_COUNT>>,
    m_retransmits: Constant<Bits<STAT_COUNT>>,
    m_conns_opened: Constant<Bits<STAT_COUNT>>,
}

fn off(f: holdback_regmap::TcbField) -> Constant<Bits<10>> {
    Constant::new(Bits::<10>::from(f.bit() as u64))
}
fn st(s: TcpState) -> Constant<Bits<4>> {
    Constant::new(Bits::<4>::from(s as u64))
}
fn mask(s: Stat) -> Constant<Bits<STAT_COUNT>> {
    Constant::new(Bits::<STAT_COUNT>::from(1u64 << s.index()))
}

impl<const CONN_BITS: usize> TcbEngine<CONN_BITS> {
    pub fn new(ring_bits: usize) -> Self {
        assert!(ring_bits <= holdback_regmap::MAX_RING_BITS);
        let ring = 1u64 << ring_bits;
        Self {
            clock: Default::default(),
            tick_us: Default::default(),
            enable: Default::default(),
            standby: Default::default(),
            holdback_default: Default::default(),
            listen0: Default::default(),
            listen1: Default::default(),
            listen2: Default::default(),
            listen3: Default::default(),
            rto_us: Default::default(),
            dup_acks: Default::default(),
            hold_synack: Default::default(),
            epoch: Default::default(),
            promote_req: Default::default(),
            promote_start: Default::default(),
            promote_end: Default::default(),
            promoting: Default::default(),
            d_valid: Default::default(),
            d_pop: Default::default(),
            d_reason: Default::default(),
            d_kind: Default::default(),
            d_src_mac: Default::default(),
            d_src_ip: Default::default(),
            d_src_port: Default::default(),
            d_dst_port: Default::default(),
            d_seq: Default::default(),
            d_ack: Default::default(),
            d_flags: Default::default(),
            d_window: Default::default(),
            d_mss: Default::default(),
            d_payload_off: Default::default(),
            d_payload_len: Default::default(),
            d_icmp_csum: Default::default(),
            tx_valid: Default::default(),
            tx_ready: Default::default(),
            tx_busy: Default::default(),
            tx_kind: Default::default(),
            tx_dst_mac: Default::default(),
            tx_dst_ip: Default::default(),
            tx_src_port: Default::default(),
            tx_dst_port: Default::default(),
            tx_seq: Default::default(),
            tx_ack: Default::default(),
            tx_flags: Default::default(),
            tx_window: Default::default(),
            tx_with_mss: Default::default(),
            tx_icmp_off: Default::default(),
            tx_icmp_len: Default::default(),
            tx_icmp_csum: Default::default(),
            rw_valid: Default::default(),
            rw_ready: Default::default(),
            rw_done: Default::default(),
            rw_fb_off: Default::default(),
            rw_len: Default::default(),
            rw_conn: Default::default(),
            rw_ring_off: Default::default(),
            fb_sel_ring: Default::default(),
            hop_valid: Default::default(),
            hop_kind: Default::default(),
            hop_conn: Default::default(),
            hop_word: Default::default(),
            hop_wdata: Default::default(),
            hop_done: Default::default(),
            hop_rdata: Default::default(),
            stat_inc: Default::default(),
            stat_bytes: Default::default(),
            chlog_push: Default::default(),
            chlog_id: Default::default(),
            now_us: Default::default(),
            open_conns: Default::default(),
            idle: Default::default(),
            tcb_ram: Default::default(),
            cmp_ack: Default::default(),
            cmp_right: Default::default(),
            cmp_rel: Default::default(),
            cmp_newrel: Default::default(),
            cmp_timer: Default::default(),
            state: Default::default(),
            tx_next: Default::default(),
            wb_next: Default::default(),
            now: Default::default(),
            last_ms_bit: Default::default(),
            scan_pending: Default::default(),
            scan_id: Default::default(),
            cur_id: Default::default(),
            probe_slot: Default::default(),
            probe_left: Default::default(),
            free_found: Default::default(),
            free_slot: Default::default(),
            free_gen: Default::default(),
            take: Default::default(),
            open_count: Default::default(),
            prom_active: Default::default(),
            dup_left: Default::default(),
            hop_result: Default::default(),
            raw: Default::default(),
            w_state: Default::default(),
            w_holdback: Default::default(),
            w_fin_rcvd: Default::default(),
            w_retries: Default::default(),
            w_peer_mss: Default::default(),
            w_local_port: Default::default(),
            w_remote_port: Default::default(),
            w_remote_ip: Default::default(),
            w_mac_lo: Default::default(),
            w_mac_hi: Default::default(),
            w_peer_link: Default::default(),
            w_irs: Default::default(),
            w_rcv_nxt: Default::default(),
            w_rel: Default::default(),
            w_rcv_adv: Default::default(),
            w_ack_sent: Default::default(),
            w_iss: Default::default(),
            w_snd_una: Default::default(),
            w_snd_nxt: Default::default(),
            w_snd_max: Default::default(),
            w_snd_wnd: Default::default(),
            w_timer_due: Default::default(),
            w_seq_offset: Default::default(),
            w_tx_end: Default::default(),
            w_gen: Default::default(),
            t_kind: Default::default(),
            t_dst_mac: Default::default(),
            t_dst_ip: Default::default(),
            t_src_port: Default::default(),
            t_dst_port: Default::default(),
            t_seq: Default::default(),
            t_ack: Default::default(),
            t_flags: Default::default(),
            t_window: Default::default(),
            t_with_mss: Default::default(),
            rd: Default::default(),
            stats: Default::default(),
            open_inc: Default::default(),
            open_dec: Default::default(),
            load_tcb: Default::default(),
            f_fin: Default::default(),
            f_syn: Default::default(),
            f_rst: Default::default(),
            f_ack: Default::default(),
            len32: Default::default(),
            seg_len: Default::default(),
            rcv_wnd: Default::default(),
            off_start: Default::default(),
            off_end: Default::default(),
            avail: Default::default(),
            skip: Default::default(),
            take_calc: Default::default(),
            acceptable: Default::default(),
            out_of_order: Default::default(),
            ack_minus_una: Default::default(),
            nxt_minus_una: Default::default(),
            max_minus_una: Default::default(),
            ack_val: Default::default(),
            right: Default::default(),
            wnd_full: Default::default(),
            wnd_val: Default::default(),
            changed: Default::default(),
            end_seq: Default::default(),
            ring_pos: Default::default(),
            hash32: Default::default(),
            hash16: Default::default(),
            listening: Default::default(),
            tuple_match: Default::default(),
            slot_free: Default::default(),
            word_shift: Default::default(),
            backoff: Default::default(),
            iss_gen: Default::default(),
            gen_next: Default::default(),
            silent: Default::default(),
            synack_held: Default::default(),
            word_ones: Constant::new(Bits::<TCB_W>::from(0xFFFF_FFFFu64)),
            o_state: off(tcb::STATE),
            o_holdback: off(tcb::HOLDBACK),
            o_fin_rcvd: off(tcb::FIN_RCVD),
            o_retries: off(tcb::RETRIES),
            o_peer_mss: off(tcb::PEER_MSS),
            o_local_port: off(tcb::LOCAL_PORT),
            o_remote_port: off(tcb::REMOTE_PORT),
            o_remote_ip: off(tcb::REMOTE_IP),
            o_mac_lo: off(tcb::REMOTE_MAC_LO),
            o_mac_hi: off(tcb::REMOTE_MAC_HI),
            o_peer_link: off(tcb::PEER_LINK),
            o_irs: off(tcb::IRS),
            o_rcv_nxt: off(tcb::RCV_NXT),
            o_rel: off(tcb::REL),
            o_rcv_adv: off(tcb::RCV_ADV),
            o_ack_sent: off(tcb::ACK_SENT),
            o_iss: off(tcb::ISS),
            o_snd_una: off(tcb::SND_UNA),
            o_snd_nxt: off(tcb::SND_NXT),
            o_snd_max: off(tcb::SND_MAX),
            o_snd_wnd: off(tcb::SND_WND),
            o_timer_due: off(tcb::TIMER_DUE),
            o_seq_offset: off(tcb::SEQ_OFFSET),
            o_tx_end: off(tcb::TX_END),
            o_gen: off(tcb::GEN),
            o_epoch: off(tcb::EPOCH),
            st_closed: st(TcpState::Closed),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_last_ack: st(TcpState::LastAck),
            max_retries: Constant::new(Bits::<4>::from(7u64)),
            tcb_words: Constant::new(Bits::<5>::from(holdback_regmap::TCB_WORDS as u64)),
            ring_bytes: Constant::new(Bits::<32>::from(ring)),
            ring_mask: Constant::new(Bits::<16>::from(ring - 1)),
            syn_window: Constant::new(Bits::<16>::from(ring.min(65535))),
            one_slot: Constant::new(Bits::<CONN_BITS>::from(1u64)),
            zero_slot: Constant::new(Bits::<CONN_BITS>::from(0u64)),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            one4: Constant::new(Bits::<4>::from(1u64)),
            kind_tcp: Constant::new(Bits::<2>::from(0u64)),
            kind_arp: Constant::new(Bits::<2>::from(1u64)),
            kind_icmp: Constant::new(Bits::<2>::from(2u64)),
            kind_garp: Constant::new(Bits::<2>::from(crate::tx_builder::KIND_GARP)),
            bcast_mac: Constant::new(Bits::<48>::from(0xFFFF_FFFF_FFFFu64)),
            dup_count: Constant::new(Bits::<2>::from(holdback_regmap::PROMOTE_DUP_ACKS as u64)),
            zero2: Constant::new(Bits::<2>::from(0u64)),
            one2: Constant::new(Bits::<2>::from(1u64)),
            hop_tcb_read: Constant::new(Bits::<2>::from(0u64)),
            hop_tcb_write: Constant::new(Bits::<2>::from(1u64)),
            hop_release: Constant::new(Bits::<2>::from(2u64)),
            probes: Constant::new(Bits::<4>::from(8u64)),
            default_mss: Constant::new(Bits::<16>::from(536u64)),
            no_link: Constant::new(Bits::<16>::from(0xFFFFu64)),
            no_stats: Constant::new(Bits::<STAT_COUNT>::from(0u64)),
            m_one: Constant::new(Bits::<STAT_COUNT>::from(1u64)),
            m_payload: mask(Stat::RxPayloadBytes),
            m_rx_frames: mask(Stat::RxFrames),
            m_tcb_full: mask(Stat::DropTcbFull),
            m_out_of_order: mask(Stat::DropOutOfOrder),
            m_out_of_window: mask(Stat::DropOutOfWindow),
            m_no_connection: mask(Stat::DropNoConnection),
            m_unsupported: mask(Stat::DropUnsupported),
            m_arp_replies: mask(Stat::ArpReplies),
            m_icmp_replies: mask(Stat::IcmpEchoReplies),
            m_rst_sent: mask(Stat::RstSent),
            m_retransmits: mask(Stat::Retransmits),
            m_conns_opened: mask(Stat::ConnsOpened),
        }
    }
}

impl<const CONN_BITS: usize> Logic for TcbEngine<CONN_BITS> {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, tx_next, wb_next, now, last_ms_bit, scan_pending, scan_id, cur_id,
            probe_slot, probe_left, free_found, free_slot, free_gen, take, open_count, prom_active, dup_left, hop_result, raw,
            w_state, w_holdback, w_fin_rcvd, w_retries, w_peer_mss, w_local_port, w_remote_port,
            w_remote_ip, w_mac_lo, w_mac_hi, w_peer_link, w_irs, w_rcv_nxt, w_rel, w_rcv_adv,
            w_ack_sent, w_iss, w_snd_una, w_snd_nxt, w_snd_max, w_snd_wnd, w_timer_due,
            w_seq_offset, w_tx_end, w_gen, t_kind, t_dst_mac, t_dst_ip, t_src_port,
            t_dst_port, t_seq, t_ack, t_flags, t_window, t_with_mss
        );
        self.tcb_ram.read_clock.next = self.clock.val();
        self.tcb_ram.write_clock.next = self.clock.val();
        self.tcb_ram.read_address.next = self.cur_id.q.val();
        self.tcb_ram.write_address.next = self.cur_id.q.val();
        self.tcb_ram.write_enable.next = false;
        self.rd.next = self.tcb_ram.read_data.val();

        // Time follows the tick input; a scan of all TCBs' timers starts every 1024 us.
        self.now.d.next = self.now.q.val() + bit_cast::<32, 16>(self.tick_us.val());
        self.last_ms_bit.d.next = self.now.q.val().get_bit(10);
        if self.now.q.val().get_bit(10) != self.last_ms_bit.q.val() {
            self.scan_pending.d.next = true;
        }

        // Segment facts, all from the descriptor and the working TCB.
        self.f_fin.next = self.d_flags.val().get_bit(0);
        self.f_syn.next = self.d_flags.val().get_bit(1);
        self.f_rst.next = self.d_flags.val().get_bit(2);
        self.f_ack.next = self.d_flags.val().get_bit(4);
        self.len32.next = bit_cast::<32, 11>(self.d_payload_len.val());
        self.seg_len.next = self.len32.val();
        if self.f_syn.val() & self.f_fin.val() {
            self.seg_len.next = self.len32.val() + 2_u32.to_bits();
        } else if self.f_syn.val() | self.f_fin.val() {
            self.seg_len.next = self.len32.val() + 1_u32.to_bits();
        }
        // RFC 9293 3.10.7.4 acceptability, as offsets from rcv_nxt so that
        // "rcv_nxt <= x < rcv_nxt + wnd" is one unsigned compare across the wrap.
        self.rcv_wnd.next = self.w_rcv_adv.q.val() - self.w_rcv_nxt.q.val();
        self.off_start.next = self.d_seq.val() - self.w_rcv_nxt.q.val();
        self.off_end.next = self.off_start.val() + self.seg_len.val() - 1_u32.to_bits();
        if self.seg_len.val() == 0_u32.to_bits() {
            if self.rcv_wnd.val() == 0_u32.to_bits() {
                self.acceptable.next = self.off_start.val() == 0_u32.to_bits();
            } else {
                self.acceptable.next = self.off_start.val() < self.rcv_wnd.val();
            }
        } else {
            self.acceptable.next = (self.rcv_wnd.val() != 0_u32.to_bits())
                & ((self.off_start.val() < self.rcv_wnd.val()) | (self.off_end.val() < self.rcv_wnd.val()));
        }
        self.out_of_order.next = (self.off_start.val() != 0_u32.to_bits()) & (self.off_start.val() < self.rcv_wnd.val());
        // In-order bytes of this segment beyond rcv_nxt, cut at the right edge.
        self.avail.next = self.off_start.val() + self.len32.val();
        self.take_calc.next = self.avail.val();
        if self.avail.val().get_bit(31) {
            self.take_calc.next = 0_u32.to_bits();
        } else if self.rcv_wnd.val() < self.avail.val() {
            self.take_calc.next = self.rcv_wnd.val();
        }
        self.end_seq.next = self.d_seq.val() + self.len32.val();
        // Stream offset of rcv_nxt (first payload byte is irs+1), modulo the ring size.
        self.ring_pos.next = (self.w_rcv_nxt.q.val().get_bits::<16>(0) - self.w_irs.q.val().get_bits::<16>(0) - 1_u16.to_bits()) & self.ring_mask.val();
        self.ack_minus_una.next = self.d_ack.val() - self.w_snd_una.q.val();
        self.nxt_minus_una.next = self.w_snd_nxt.q.val() - self.w_snd_una.q.val();
        self.max_minus_una.next = self.w_snd_max.q.val() - self.w_snd_una.q.val();

        // The ACK we may send: min(rcv_nxt, rel) under holdback (invariant 1).
        self.cmp_ack.a.next = self.w_rcv_nxt.q.val();
        self.cmp_ack.b.next = self.w_rel.q.val();
        self.ack_val.next = self.w_rcv_nxt.q.val();
        if self.w_holdback.q.val().any() {
            self.ack_val.next = self.cmp_ack.earlier.val();
        }
        // The right edge never moves left (invariant 5).
        self.cmp_right.a.next = self.w_rcv_adv.q.val();
        self.cmp_right.b.next = self.w_rel.q.val() + self.ring_bytes.val();
        self.right.next = self.w_rcv_adv.q.val();
        if self.cmp_right.a_before_b.val() {
            self.right.next = self.w_rel.q.val() + self.ring_bytes.val();
        }
        self.wnd_full.next = self.right.val() - self.ack_val.val();
        self.wnd_val.next = self.wnd_full.val().get_bits::<16>(0);
        if self.wnd_full.val().get_bits::<16>(16).any() {
            self.wnd_val.next = 0xFFFF_u16.to_bits();
        }
        self.changed.next = (self.ack_val.val() != self.w_ack_sent.q.val()) | (self.right.val() != self.w_rcv_adv.q.val());
        // CLOSE-WAIT closes once the host released past the peer's FIN.
        self.cmp_rel.a.next = self.w_rcv_nxt.q.val();
        self.cmp_rel.b.next = self.w_rel.q.val();
        self.cmp_newrel.a.next = self.w_rel.q.val();
        self.cmp_newrel.b.next = self.hop_wdata.val();
        self.cmp_timer.a.next = self.now.q.val();
        self.cmp_timer.b.next = self.w_timer_due.q.val();
        self.backoff.next = self.rto_us.val() << self.w_retries.q.val();

        // Lookup hash (PLAN: slot = fold16(src_ip ^ ports) mod N, 8 linear probes).
        self.hash32.next = self.d_src_ip.val()
            ^ ((bit_cast::<32, 16>(self.d_src_port.val()) << 16) | bit_cast::<32, 16>(self.d_dst_port.val()));
        self.hash16.next = self.hash32.val().get_bits::<16>(16) ^ self.hash32.val().get_bits::<16>(0);
        self.iss_gen.next = (self.now.q.val() << 2) ^ (bit_cast::<32, 16>(self.hash16.val()) << 16);
        self.listening.next = false;
        if self.listen0.val().get_bit(16) & (self.listen0.val().get_bits::<16>(0) == self.d_dst_port.val()) {
            self.listening.next = true;
        }
        if self.listen1.val().get_bit(16) & (self.listen1.val().get_bits::<16>(0) == self.d_dst_port.val()) {
            self.listening.next = true;
        }
        if self.listen2.val().get_bit(16) & (self.listen2.val().get_bits::<16>(0) == self.d_dst_port.val()) {
            self.listening.next = true;
        }
        if self.listen3.val().get_bit(16) & (self.listen3.val().get_bits::<16>(0) == self.d_dst_port.val()) {
            self.listening.next = true;
        }
        self.slot_free.next = self.rd.val().get_bits::<4>(self.o_state.val().index()) == self.st_closed.val();
        self.tuple_match.next = !self.slot_free.val()
            & (self.rd.val().get_bits::<32>(self.o_remote_ip.val().index()) == self.d_src_ip.val())
            & (self.rd.val().get_bits::<16>(self.o_remote_port.val().index()) == self.d_src_port.val())
            & (self.rd.val().get_bits::<16>(self.o_local_port.val().index()) == self.d_dst_port.val());
        self.word_shift.next = bit_cast::<10, 5>(self.hop_word.val()) << 5;

        // Computed in 32 bits: inside the 640-bit pack the carry would spill into the next field.
        self.gen_next.next = self.w_gen.q.val() + 1_u32.to_bits();
        // Standby is silent, except for the promotion walk that ends it.
        self.silent.next = self.standby.val() & !self.prom_active.q.val();
        // SYN-RECEIVED with nothing ACKed yet: its SYN-ACK is held (claim 31).
        self.synack_held.next = self.w_ack_sent.q.val() == self.w_irs.q.val();
        // Wide (640-bit) work happens only in the states that need it: Verilator runs
        // the kernel as written, so unconditional wide logic costs every cycle.
        self.tcb_ram.write_data.next = self.raw.q.val();

        // Output defaults.
        self.d_pop.next = false;
        self.tx_valid.next = false;
        self.tx_kind.next = self.t_kind.q.val();
        self.tx_dst_mac.next = self.t_dst_mac.q.val();
        self.tx_dst_ip.next = self.t_dst_ip.q.val();
        self.tx_src_port.next = self.t_src_port.q.val();
        self.tx_dst_port.next = self.t_dst_port.q.val();
        self.tx_seq.next = self.t_seq.q.val();
        self.tx_ack.next = self.t_ack.q.val();
        self.tx_flags.next = self.t_flags.q.val();
        self.tx_window.next = self.t_window.q.val();
        self.tx_with_mss.next = self.t_with_mss.q.val();
        self.tx_icmp_off.next = self.d_payload_off.val();
        self.tx_icmp_len.next = self.d_payload_len.val();
        self.tx_icmp_csum.next = self.d_icmp_csum.val();
        self.rw_valid.next = false;
        // The part of the segment below rcv_nxt (a retransmission overlap) is skipped; it is < 2048.
        self.skip.next = self.w_rcv_nxt.q.val().get_bits::<11>(0) - self.d_seq.val().get_bits::<11>(0);
        self.rw_fb_off.next = self.d_payload_off.val() + self.skip.val();
        self.rw_len.next = self.take.q.val();
        self.rw_conn.next = self.cur_id.q.val();
        self.rw_ring_off.next = self.ring_pos.val();
        self.fb_sel_ring.next = false;
        self.hop_done.next = false;
        self.hop_rdata.next = self.hop_result.q.val();
        self.stats.next = self.no_stats.val();
        self.stat_bytes.next = 0_u16.to_bits();
        self.chlog_push.next = false;
        self.chlog_id.next = self.cur_id.q.val();
        self.open_inc.next = false;
        self.open_dec.next = false;
        self.load_tcb.next = false;
        self.promote_start.next = false;
        self.promote_end.next = false;
        self.promoting.next = self.prom_active.q.val();

        match self.state.q.val() {
            EngineState::Idle => {
                if self.hop_valid.val() {
                    self.cur_id.d.next = self.hop_conn.val();
                    self.tcb_ram.read_address.next = self.hop_conn.val();
                    self.state.d.next = EngineState::HopLoad;
                } else if self.promote_req.val() & !self.prom_active.q.val() {
                    // PROMOTE (invariants 3, 5, 8): announce the service address
                    // first (gratuitous ARP), then walk every TCB from slot 0.
                    self.promote_start.next = true;
                    self.prom_active.d.next = true;
                    // The host's TCB writes did not count: the walk recounts open TCBs.
                    self.open_count.d.next = 0_u16.to_bits();
                    self.cur_id.d.next = self.zero_slot.val();
                    self.t_kind.d.next = self.kind_garp.val();
                    self.t_dst_mac.d.next = self.bcast_mac.val();
                    self.tx_next.d.next = EngineState::PromLoad;
                    self.state.d.next = EngineState::TxSend;
                } else if self.d_valid.val() {
                    self.state.d.next = EngineState::RxDispatch;
                } else if self.scan_pending.q.val() {
                    self.cur_id.d.next = self.scan_id.q.val();
                    self.tcb_ram.read_address.next = self.scan_id.q.val();
                    self.state.d.next = EngineState::ScanLoad;
                }
            }
            EngineState::RxDispatch => {
                // Every frame counts once; its drop reason (if any) counts too.
                self.stats.next = self.m_rx_frames.val();
                if !self.enable.val() | self.standby.val() {
                    self.state.d.next = EngineState::PopFrame;
                } else if self.d_reason.val().any() {
                    self.stats.next = self.m_rx_frames.val() | (self.m_one.val() << self.d_reason.val());
                    self.state.d.next = EngineState::PopFrame;
                } else if self.d_kind.val() == self.kind_arp.val() {
                    self.stats.next = self.m_rx_frames.val() | self.m_arp_replies.val();
                    self.t_kind.d.next = self.kind_arp.val();
                    self.t_dst_mac.d.next = self.d_src_mac.val();
                    self.t_dst_ip.d.next = self.d_src_ip.val();
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                } else if self.d_kind.val() == self.kind_icmp.val() {
                    self.stats.next = self.m_rx_frames.val() | self.m_icmp_replies.val();
                    self.t_kind.d.next = self.kind_icmp.val();
                    self.t_dst_mac.d.next = self.d_src_mac.val();
                    self.t_dst_ip.d.next = self.d_src_ip.val();
                    self.tx_next.d.next = EngineState::IcmpWait;
                    self.state.d.next = EngineState::TxSend;
                } else if self.d_kind.val() == self.kind_tcp.val() {
                    // Probe the first slot now; ProbeCheck sees its data next cycle.
                    self.probe_slot.d.next = self.hash16.val().get_bits::<CONN_BITS>(0);
                    self.cur_id.d.next = self.hash16.val().get_bits::<CONN_BITS>(0);
                    self.tcb_ram.read_address.next = self.hash16.val().get_bits::<CONN_BITS>(0);
                    self.probe_left.d.next = self.probes.val();
                    self.free_found.d.next = false;
                    self.state.d.next = EngineState::ProbeCheck;
                } else {
                    self.stats.next = self.m_rx_frames.val() | self.m_unsupported.val();
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::ProbeCheck => {
                if self.tuple_match.val() {
                    self.cur_id.d.next = self.probe_slot.q.val();
                    self.state.d.next = EngineState::TcpCheck;
                } else {
                    if self.slot_free.val() & !self.free_found.q.val() {
                        self.free_found.d.next = true;
                        self.free_slot.d.next = self.probe_slot.q.val();
                        // A reused slot keeps counting its own generation.
                        self.free_gen.d.next = self.rd.val().get_bits::<32>(self.o_gen.val().index());
                    }
                    self.probe_slot.d.next = self.probe_slot.q.val() + self.one_slot.val();
                    self.cur_id.d.next = self.probe_slot.q.val() + self.one_slot.val();
                    self.tcb_ram.read_address.next = self.probe_slot.q.val() + self.one_slot.val();
                    self.probe_left.d.next = self.probe_left.q.val() - self.one4.val();
                    if self.probe_left.q.val() == self.one4.val() {
                        self.state.d.next = EngineState::NotFound;
                    }
                }
                // Load the working copy from whatever slot was read; only a match uses it.
                self.load_tcb.next = true;
            }
            EngineState::NotFound => {
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = self.d_src_mac.val();
                self.t_dst_ip.d.next = self.d_src_ip.val();
                self.t_src_port.d.next = self.d_dst_port.val();
                self.t_dst_port.d.next = self.d_src_port.val();
                self.t_with_mss.d.next = false;
                if self.f_rst.val() {
                    // RFC 9293 3.10.7.1: an incoming RST to no connection is discarded.
                    self.stats.next = self.m_no_connection.val();
                    self.state.d.next = EngineState::PopFrame;
                } else if self.f_syn.val() & !self.f_ack.val() & self.listening.val() {
                    if self.free_found.q.val() {
                        // Passive open: a new TCB in SYN-RECEIVED, answered by SYN-ACK.
                        self.stats.next = self.m_conns_opened.val();
                        self.open_inc.next = true;
                        self.cur_id.d.next = self.free_slot.q.val();
                        self.w_state.d.next = self.st_syn_rcvd.val();
                        self.w_holdback.d.next = self.holdback_default.val().into();
                        self.w_fin_rcvd.d.next = false.into();
                        self.w_retries.d.next = self.zero4.val();
                        self.w_peer_mss.d.next = self.d_mss.val();
                        if !self.d_mss.val().any() {
                            self.w_peer_mss.d.next = self.default_mss.val();
                        }
                        self.w_local_port.d.next = self.d_dst_port.val();
                        self.w_remote_port.d.next = self.d_src_port.val();
                        self.w_remote_ip.d.next = self.d_src_ip.val();
                        self.w_mac_lo.d.next = self.d_src_mac.val().get_bits::<32>(0);
                        self.w_mac_hi.d.next = self.d_src_mac.val().get_bits::<16>(32);
                        self.w_peer_link.d.next = self.no_link.val();
                        self.w_irs.d.next = self.d_seq.val();
                        self.w_rcv_nxt.d.next = self.d_seq.val() + 1_u32.to_bits();
                        self.w_rel.d.next = self.d_seq.val() + 1_u32.to_bits();
                        self.w_rcv_adv.d.next = self.d_seq.val() + 1_u32.to_bits() + self.ring_bytes.val();
                        self.w_ack_sent.d.next = self.d_seq.val() + 1_u32.to_bits();
                        self.w_iss.d.next = self.iss_gen.val();
                        self.w_snd_una.d.next = self.iss_gen.val();
                        self.w_snd_nxt.d.next = self.iss_gen.val() + 1_u32.to_bits();
                        self.w_snd_max.d.next = self.iss_gen.val() + 1_u32.to_bits();
                        self.w_snd_wnd.d.next = self.d_window.val();
                        self.w_timer_due.d.next = self.now.q.val() + self.rto_us.val();
                        self.w_seq_offset.d.next = 0_u32.to_bits();
                        self.w_tx_end.d.next = 0_u32.to_bits();
                        self.w_gen.d.next = self.free_gen.q.val();
                        self.t_seq.d.next = self.iss_gen.val();
                        self.t_ack.d.next = self.d_seq.val() + 1_u32.to_bits();
                        self.t_flags.d.next = 0x12_u8.to_bits();
                        self.t_window.d.next = self.syn_window.val();
                        self.t_with_mss.d.next = true;
                        self.wb_next.d.next = EngineState::PopFrame;
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                        if self.hold_synack.val() {
                            // Claim 31, invariant 6: R starts at irs and nothing is ACKed;
                            // the SYN-ACK (which ACKs irs+1) waits for the release (Reply).
                            self.w_rel.d.next = self.d_seq.val();
                            self.w_ack_sent.d.next = self.d_seq.val();
                            self.state.d.next = EngineState::WriteBack;
                        }
                    } else {
                        self.stats.next = self.m_tcb_full.val();
                        self.state.d.next = EngineState::PopFrame;
                    }
                } else {
                    // RFC 9293 3.10.7.1: anything else to no connection is answered by RST.
                    self.stats.next = self.m_no_connection.val() | self.m_rst_sent.val();
                    if self.f_ack.val() {
                        self.t_seq.d.next = self.d_ack.val();
                        self.t_ack.d.next = 0_u32.to_bits();
                        self.t_flags.d.next = 0x04_u8.to_bits();
                    } else {
                        self.t_seq.d.next = 0_u32.to_bits();
                        self.t_ack.d.next = self.d_seq.val() + self.seg_len.val();
                        self.t_flags.d.next = 0x14_u8.to_bits();
                    }
                    self.t_window.d.next = 0_u16.to_bits();
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::TcpCheck => {
                // Replies to a known connection go to its recorded peer.
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = (bit_cast::<48, 16>(self.w_mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.w_mac_lo.q.val());
                self.t_dst_ip.d.next = self.w_remote_ip.q.val();
                self.t_src_port.d.next = self.w_local_port.q.val();
                self.t_dst_port.d.next = self.w_remote_port.q.val();
                self.t_with_mss.d.next = false;
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.ack_val.val();
                self.t_flags.d.next = 0x10_u8.to_bits();
                self.t_window.d.next = self.wnd_val.val();
                self.wb_next.d.next = EngineState::PopFrame;
                if self.w_state.q.val() == self.st_syn_rcvd.val() {
                    if self.f_rst.val() {
                        if self.off_start.val() < self.rcv_wnd.val() {
                            self.w_state.d.next = self.st_closed.val();
                            self.open_dec.next = true;
                            self.state.d.next = EngineState::WriteBack;
                        } else {
                            self.state.d.next = EngineState::PopFrame;
                        }
                    } else if self.f_syn.val() & self.synack_held.val() {
                        // The SYN-ACK is held until released (invariant 1): nothing to repeat.
                        self.state.d.next = EngineState::PopFrame;
                    } else if self.f_syn.val() {
                        // Our SYN-ACK was lost: the peer's SYN again gets it again.
                        self.t_seq.d.next = self.w_iss.q.val();
                        self.t_flags.d.next = 0x12_u8.to_bits();
                        self.t_window.d.next = self.syn_window.val();
                        self.t_with_mss.d.next = true;
                        self.tx_next.d.next = EngineState::PopFrame;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.f_ack.val() {
                        if self.d_ack.val() == self.w_snd_nxt.q.val() {
                            self.w_state.d.next = self.st_established.val();
                            self.w_snd_una.d.next = self.d_ack.val();
                            self.w_retries.d.next = self.zero4.val();
                            self.state.d.next = EngineState::TcpAccept;
                        } else {
                            self.stats.next = self.m_rst_sent.val();
                            self.t_seq.d.next = self.d_ack.val();
                            self.t_ack.d.next = 0_u32.to_bits();
                            self.t_flags.d.next = 0x04_u8.to_bits();
                            self.t_window.d.next = 0_u16.to_bits();
                            self.tx_next.d.next = EngineState::PopFrame;
                            self.state.d.next = EngineState::TxSend;
                        }
                    } else {
                        self.stats.next = self.m_unsupported.val();
                        self.state.d.next = EngineState::PopFrame;
                    }
                } else {
                    self.state.d.next = EngineState::TcpAccept;
                }
            }
            EngineState::TcpAccept => {
                // t_* already hold a plain ACK at (ack_val, wnd_val) from TcpCheck.
                self.tx_next.d.next = EngineState::WriteBack;
                if !self.acceptable.val() {
                    self.stats.next = self.m_out_of_window.val();
                    if self.f_rst.val() {
                        self.state.d.next = EngineState::PopFrame;
                    } else {
                        self.w_ack_sent.d.next = self.ack_val.val();
                        self.w_rcv_adv.d.next = self.right.val();
                        self.state.d.next = EngineState::TxSend;
                    }
                } else if self.f_rst.val() {
                    if self.off_start.val() == 0_u32.to_bits() {
                        self.w_state.d.next = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else {
                        // RFC 5961 3.2: an in-window RST not at rcv_nxt gets a challenge ACK.
                        self.w_ack_sent.d.next = self.ack_val.val();
                        self.w_rcv_adv.d.next = self.right.val();
                        self.state.d.next = EngineState::TxSend;
                    }
                } else if self.f_syn.val() {
                    // RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK.
                    self.w_ack_sent.d.next = self.ack_val.val();
                    self.w_rcv_adv.d.next = self.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else if !self.f_ack.val() {
                    self.stats.next = self.m_unsupported.val();
                    self.state.d.next = EngineState::PopFrame;
                } else if self.max_minus_una.val() < self.ack_minus_una.val() {
                    // ACK of something we never sent: answer with an ACK, drop.
                    self.stats.next = self.m_out_of_window.val();
                    self.w_ack_sent.d.next = self.ack_val.val();
                    self.w_rcv_adv.d.next = self.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else {
                    if (self.ack_minus_una.val() != 0_u32.to_bits()) & !(self.nxt_minus_una.val() < self.ack_minus_una.val()) {
                        self.w_snd_una.d.next = self.d_ack.val();
                    }
                    self.w_snd_wnd.d.next = self.d_window.val();
                    if (self.w_state.q.val() == self.st_last_ack.val()) & (self.d_ack.val() == self.w_snd_nxt.q.val()) {
                        self.w_state.d.next = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else {
                        self.state.d.next = EngineState::TcpData;
                    }
                }
            }
            EngineState::TcpData => {
                self.take.d.next = self.take_calc.val().get_bits::<11>(0);
                if (self.w_state.q.val() == self.st_established.val()) & (self.d_payload_len.val().any() | self.f_fin.val()) {
                    if self.out_of_order.val() {
                        // Data or FIN beyond rcv_nxt: drop it and repeat our ACK (a duplicate ACK).
                        self.stats.next = self.m_out_of_order.val();
                        self.w_ack_sent.d.next = self.ack_val.val();
                        self.w_rcv_adv.d.next = self.right.val();
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.take_calc.val().any() {
                        self.state.d.next = EngineState::CopyIssue;
                    } else {
                        self.state.d.next = EngineState::TcpFin;
                    }
                } else {
                    self.state.d.next = EngineState::TcpFin;
                }
            }
            EngineState::CopyIssue => {
                // rw_fb_off skips the part of the segment below rcv_nxt.
                self.fb_sel_ring.next = true;
                self.rw_valid.next = true;
                if self.rw_ready.val() {
                    self.stats.next = self.m_payload.val();
                    self.stat_bytes.next = bit_cast::<16, 11>(self.take.q.val());
                    self.w_rcv_nxt.d.next = self.w_rcv_nxt.q.val() + bit_cast::<32, 11>(self.take.q.val());
                    self.state.d.next = EngineState::CopyWait;
                }
            }
            EngineState::CopyWait => {
                self.fb_sel_ring.next = true;
                if self.rw_done.val() {
                    self.state.d.next = EngineState::TcpFin;
                }
            }
            EngineState::TcpFin => {
                if self.f_fin.val()
                    & (self.w_state.q.val() == self.st_established.val())
                    & (self.end_seq.val() == self.w_rcv_nxt.q.val())
                {
                    self.w_rcv_nxt.d.next = self.w_rcv_nxt.q.val() + 1_u32.to_bits();
                    self.w_fin_rcvd.d.next = true.into();
                    self.w_state.d.next = self.st_close_wait.val();
                }
                self.state.d.next = EngineState::Reply;
            }
            EngineState::Reply => {
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.ack_val.val();
                self.t_window.d.next = self.wnd_val.val();
                self.t_flags.d.next = 0x10_u8.to_bits();
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::WriteBack;
                if self.silent.val() {
                    // A standby card is silent on the wire (it only stores replicated state).
                    self.state.d.next = EngineState::WriteBack;
                } else if (self.w_state.q.val() == self.st_syn_rcvd.val()) & self.synack_held.val() & (self.w_rel.q.val() != self.w_irs.q.val()) {
                    // Claim 31: R now covers the peer's SYN, so the held SYN-ACK may ACK irs+1
                    // (invariant 1); its retransmission timer starts now.
                    self.t_seq.d.next = self.w_iss.q.val();
                    self.t_flags.d.next = 0x12_u8.to_bits();
                    self.t_window.d.next = self.syn_window.val();
                    self.t_with_mss.d.next = true;
                    self.w_ack_sent.d.next = self.ack_val.val();
                    self.w_timer_due.d.next = self.now.q.val() + self.rto_us.val();
                    self.w_retries.d.next = self.zero4.val();
                    self.state.d.next = EngineState::TxSend;
                } else if (self.w_state.q.val() == self.st_close_wait.val()) & self.cmp_rel.a_not_after_b.val() {
                    // Everything up to and including the peer's FIN is released: close our side.
                    self.t_flags.d.next = 0x11_u8.to_bits();
                    self.w_snd_nxt.d.next = self.w_snd_nxt.q.val() + 1_u32.to_bits();
                    self.w_snd_max.d.next = self.w_snd_nxt.q.val() + 1_u32.to_bits();
                    self.w_state.d.next = self.st_last_ack.val();
                    self.w_timer_due.d.next = self.now.q.val() + self.rto_us.val();
                    self.w_retries.d.next = self.zero4.val();
                    self.w_ack_sent.d.next = self.ack_val.val();
                    self.w_rcv_adv.d.next = self.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else if ((self.w_state.q.val() == self.st_established.val()) | (self.w_state.q.val() == self.st_close_wait.val()))
                    & self.changed.val()
                {
                    self.w_ack_sent.d.next = self.ack_val.val();
                    self.w_rcv_adv.d.next = self.right.val();
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::TxSend => {
                self.tx_valid.next = true;
                if self.tx_ready.val() {
                    self.state.d.next = self.tx_next.q.val();
                }
            }
            EngineState::WriteBack => {
                self.tcb_ram.write_enable.next = true;
                self.tcb_ram.write_data.next = (bit_cast::<TCB_W, 4>(self.w_state.q.val()) << self.o_state.val())
                    | (bit_cast::<TCB_W, 1>(self.w_holdback.q.val()) << self.o_holdback.val())
                    | (bit_cast::<TCB_W, 1>(self.w_fin_rcvd.q.val()) << self.o_fin_rcvd.val())
                    | (bit_cast::<TCB_W, 4>(self.w_retries.q.val()) << self.o_retries.val())
                    | (bit_cast::<TCB_W, 16>(self.w_peer_mss.q.val()) << self.o_peer_mss.val())
                    | (bit_cast::<TCB_W, 16>(self.w_local_port.q.val()) << self.o_local_port.val())
                    | (bit_cast::<TCB_W, 16>(self.w_remote_port.q.val()) << self.o_remote_port.val())
                    | (bit_cast::<TCB_W, 32>(self.w_remote_ip.q.val()) << self.o_remote_ip.val())
                    | (bit_cast::<TCB_W, 32>(self.w_mac_lo.q.val()) << self.o_mac_lo.val())
                    | (bit_cast::<TCB_W, 16>(self.w_mac_hi.q.val()) << self.o_mac_hi.val())
                    | (bit_cast::<TCB_W, 16>(self.w_peer_link.q.val()) << self.o_peer_link.val())
                    | (bit_cast::<TCB_W, 32>(self.w_irs.q.val()) << self.o_irs.val())
                    | (bit_cast::<TCB_W, 32>(self.w_rcv_nxt.q.val()) << self.o_rcv_nxt.val())
                    | (bit_cast::<TCB_W, 32>(self.w_rel.q.val()) << self.o_rel.val())
                    | (bit_cast::<TCB_W, 32>(self.w_rcv_adv.q.val()) << self.o_rcv_adv.val())
                    | (bit_cast::<TCB_W, 32>(self.w_ack_sent.q.val()) << self.o_ack_sent.val())
                    | (bit_cast::<TCB_W, 32>(self.w_iss.q.val()) << self.o_iss.val())
                    | (bit_cast::<TCB_W, 32>(self.w_snd_una.q.val()) << self.o_snd_una.val())
                    | (bit_cast::<TCB_W, 32>(self.w_snd_nxt.q.val()) << self.o_snd_nxt.val())
                    | (bit_cast::<TCB_W, 32>(self.w_snd_max.q.val()) << self.o_snd_max.val())
                    | (bit_cast::<TCB_W, 16>(self.w_snd_wnd.q.val()) << self.o_snd_wnd.val())
                    | (bit_cast::<TCB_W, 32>(self.w_timer_due.q.val()) << self.o_timer_due.val())
                    | (bit_cast::<TCB_W, 32>(self.w_seq_offset.q.val()) << self.o_seq_offset.val())
                    | (bit_cast::<TCB_W, 32>(self.w_tx_end.q.val()) << self.o_tx_end.val())
                    | (bit_cast::<TCB_W, 32>(self.gen_next.val()) << self.o_gen.val())
                    | (bit_cast::<TCB_W, 32>(self.epoch.val()) << self.o_epoch.val());
                self.w_gen.d.next = self.gen_next.val();
                self.chlog_push.next = true;
                self.state.d.next = self.wb_next.q.val();
            }
            EngineState::IcmpWait => {
                // The echo payload is read from the frame buffer: keep it until sent.
                if !self.tx_busy.val() & self.tx_ready.val() {
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::PopFrame => {
                self.d_pop.next = true;
                self.state.d.next = EngineState::Idle;
            }
            EngineState::HopLoad => {
                self.raw.d.next = self.rd.val();
                self.hop_result.d.next = 0_u32.to_bits();
                if self.hop_word.val() < self.tcb_words.val() {
                    self.hop_result.d.next = self.rd.val().get_bits::<32>(self.word_shift.val().index());
                }
                self.load_tcb.next = true;
                if self.hop_kind.val() == self.hop_tcb_read.val() {
                    self.state.d.next = EngineState::HopDone;
                } else if self.hop_kind.val() == self.hop_tcb_write.val() {
                    if self.standby.val() & (self.hop_word.val() < self.tcb_words.val()) {
                        self.state.d.next = EngineState::HopWrite;
                    } else {
                        self.state.d.next = EngineState::HopDone;
                    }
                } else if self.hop_kind.val() == self.hop_release.val() {
                    self.state.d.next = EngineState::HopRelease;
                } else {
                    self.hop_result.d.next = self.rd.val().get_bits::<32>(self.o_rel.val().index());
                    self.state.d.next = EngineState::HopDone;
                }
            }
            EngineState::HopRelease => {
                // R only moves forward (serial compare); the ACK and window follow in Reply.
                if self.cmp_newrel.a_before_b.val() {
                    self.w_rel.d.next = self.hop_wdata.val();
                }
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = (bit_cast::<48, 16>(self.w_mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.w_mac_lo.q.val());
                self.t_dst_ip.d.next = self.w_remote_ip.q.val();
                self.t_src_port.d.next = self.w_local_port.q.val();
                self.t_dst_port.d.next = self.w_remote_port.q.val();
                self.t_with_mss.d.next = false;
                self.wb_next.d.next = EngineState::HopDone;
                self.state.d.next = EngineState::Reply;
            }
            EngineState::HopWrite => {
                // Standby: the host installs a replicated TCB word by word (no change-log entry).
                self.tcb_ram.write_enable.next = true;
                self.tcb_ram.write_data.next = (self.raw.q.val() & !(self.word_ones.val() << self.word_shift.val()))
                    | (bit_cast::<TCB_W, 32>(self.hop_wdata.val()) << self.word_shift.val());
                self.state.d.next = EngineState::HopDone;
            }
            EngineState::HopDone => {
                self.hop_done.next = true;
                if !self.hop_valid.val() {
                    self.state.d.next = EngineState::Idle;
                }
            }
            EngineState::ScanLoad => {
                self.load_tcb.next = true;
                self.state.d.next = EngineState::ScanDecide;
            }
            EngineState::ScanDecide => {
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = (bit_cast::<48, 16>(self.w_mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.w_mac_lo.q.val());
                self.t_dst_ip.d.next = self.w_remote_ip.q.val();
                self.t_src_port.d.next = self.w_local_port.q.val();
                self.t_dst_port.d.next = self.w_remote_port.q.val();
                self.t_ack.d.next = self.ack_val.val();
                self.t_window.d.next = self.wnd_val.val();
                self.wb_next.d.next = EngineState::ScanNext;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::ScanNext;
                if ((self.w_state.q.val() == self.st_syn_rcvd.val()) | (self.w_state.q.val() == self.st_last_ack.val()))
                    & !self.cmp_timer.a_before_b.val()
                    & !self.standby.val()
                    & !((self.w_state.q.val() == self.st_syn_rcvd.val()) & self.synack_held.val())
                {
                    if self.max_retries.val() <= self.w_retries.q.val() {
                        // The peer is gone: give the slot back.
                        self.w_state.d.next = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else {
                        self.stats.next = self.m_retransmits.val();
                        self.w_retries.d.next = self.w_retries.q.val() + self.one4.val();
                        self.w_timer_due.d.next = self.now.q.val() + self.backoff.val();
                        if self.w_state.q.val() == self.st_syn_rcvd.val() {
                            // A SYN-ACK always offers the ring, as the first one did (rcv_adv).
                            self.t_seq.d.next = self.w_iss.q.val();
                            self.t_flags.d.next = 0x12_u8.to_bits();
                            self.t_window.d.next = self.syn_window.val();
                            self.t_with_mss.d.next = true;
                        } else {
                            self.t_seq.d.next = self.w_snd_nxt.q.val() - 1_u32.to_bits();
                            self.t_flags.d.next = 0x11_u8.to_bits();
                            self.t_with_mss.d.next = false;
                            // The FIN|ACK advertises the current edge: record it (invariant 5).
                            self.w_ack_sent.d.next = self.ack_val.val();
                            self.w_rcv_adv.d.next = self.right.val();
                        }
                        self.state.d.next = EngineState::TxSend;
                    }
                }
            }
            EngineState::PromLoad => {
                self.load_tcb.next = true;
                self.state.d.next = EngineState::PromFix;
            }
            EngineState::PromFix => {
                self.state.d.next = EngineState::PromNext;
                if self.w_state.q.val() != self.st_closed.val() {
                    self.open_inc.next = true;
                    // Invariant 5: advertise at least up to the replicated right edge.
                    self.w_rcv_adv.d.next = self.right.val();
                    if self.w_state.q.val() == self.st_syn_rcvd.val() {
                        // The primary's timer_due is in its own clock: re-arm on ours.
                        self.w_timer_due.d.next = self.now.q.val() + self.rto_us.val();
                    } else {
                        // Invariant 3: resume from the released point R, not the primary's
                        // rcv_nxt; bytes above R were never ACKed and come again.
                        self.w_rcv_nxt.d.next = self.w_rel.q.val();
                        self.w_ack_sent.d.next = self.w_rel.q.val();
                        if (self.w_state.q.val() == self.st_close_wait.val()) & !self.cmp_rel.a_not_after_b.val() {
                            // The peer's FIN lies above R: it comes again.
                            self.w_state.d.next = self.st_established.val();
                            self.w_fin_rcvd.d.next = false.into();
                        }
                        if self.w_state.q.val() == self.st_last_ack.val() {
                            self.w_timer_due.d.next = self.now.q.val() + self.rto_us.val();
                        }
                    }
                    self.state.d.next = EngineState::PromSend;
                }
            }
            EngineState::PromSend => {
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = (bit_cast::<48, 16>(self.w_mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.w_mac_lo.q.val());
                self.t_dst_ip.d.next = self.w_remote_ip.q.val();
                self.t_src_port.d.next = self.w_local_port.q.val();
                self.t_dst_port.d.next = self.w_remote_port.q.val();
                self.t_with_mss.d.next = false;
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.ack_val.val();
                self.t_flags.d.next = 0x10_u8.to_bits();
                self.t_window.d.next = self.wnd_val.val();
                self.wb_next.d.next = EngineState::PromNext;
                if self.dup_acks.val() & (self.w_state.q.val() == self.st_established.val()) {
                    // failover.md "Speed of recovery": one ACK at R, then three identical
                    // ones, so the peer fast-retransmits from R instead of waiting for its RTO.
                    self.dup_left.d.next = self.dup_count.val();
                    self.tx_next.d.next = EngineState::PromDup;
                    self.state.d.next = EngineState::TxSend;
                } else {
                    // Whatever a release would send now: a released FIN, a held SYN-ACK.
                    self.state.d.next = EngineState::Reply;
                }
            }
            EngineState::PromDup => {
                if self.dup_left.q.val() == self.zero2.val() {
                    self.state.d.next = EngineState::WriteBack;
                } else {
                    self.dup_left.d.next = self.dup_left.q.val() - self.one2.val();
                    self.tx_next.d.next = EngineState::PromDup;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::PromNext => {
                self.cur_id.d.next = self.cur_id.q.val() + self.one_slot.val();
                self.tcb_ram.read_address.next = self.cur_id.q.val() + self.one_slot.val();
                self.state.d.next = EngineState::PromLoad;
                if (self.cur_id.q.val() + self.one_slot.val()) == self.zero_slot.val() {
                    self.state.d.next = EngineState::PromEnd;
                }
            }
            EngineState::PromEnd => {
                // The register block clears CTRL.standby on this pulse.
                self.promote_end.next = true;
                self.prom_active.d.next = false;
                self.state.d.next = EngineState::Idle;
            }
            EngineState::ScanNext => {
                self.scan_id.d.next = self.scan_id.q.val() + self.one_slot.val();
                if (self.scan_id.q.val() + self.one_slot.val()) == self.zero_slot.val() {
                    self.scan_pending.d.next = false;
                }
                self.state.d.next = EngineState::Idle;
            }
            _ => {
                self.state.d.next = EngineState::Idle;
            }
        }

        // One place loads the working TCB from the block RAM's read data.
        if self.load_tcb.val() {
                    self.w_state.d.next = self.rd.val().get_bits::<4>(self.o_state.val().index());
                    self.w_holdback.d.next = self.rd.val().get_bits::<1>(self.o_holdback.val().index());
                    self.w_fin_rcvd.d.next = self.rd.val().get_bits::<1>(self.o_fin_rcvd.val().index());
                    self.w_retries.d.next = self.rd.val().get_bits::<4>(self.o_retries.val().index());
                    self.w_peer_mss.d.next = self.rd.val().get_bits::<16>(self.o_peer_mss.val().index());
                    self.w_local_port.d.next = self.rd.val().get_bits::<16>(self.o_local_port.val().index());
                    self.w_remote_port.d.next = self.rd.val().get_bits::<16>(self.o_remote_port.val().index());
                    self.w_remote_ip.d.next = self.rd.val().get_bits::<32>(self.o_remote_ip.val().index());
                    self.w_mac_lo.d.next = self.rd.val().get_bits::<32>(self.o_mac_lo.val().index());
                    self.w_mac_hi.d.next = self.rd.val().get_bits::<16>(self.o_mac_hi.val().index());
                    self.w_peer_link.d.next = self.rd.val().get_bits::<16>(self.o_peer_link.val().index());
                    self.w_irs.d.next = self.rd.val().get_bits::<32>(self.o_irs.val().index());
                    self.w_rcv_nxt.d.next = self.rd.val().get_bits::<32>(self.o_rcv_nxt.val().index());
                    self.w_rel.d.next = self.rd.val().get_bits::<32>(self.o_rel.val().index());
                    self.w_rcv_adv.d.next = self.rd.val().get_bits::<32>(self.o_rcv_adv.val().index());
                    self.w_ack_sent.d.next = self.rd.val().get_bits::<32>(self.o_ack_sent.val().index());
                    self.w_iss.d.next = self.rd.val().get_bits::<32>(self.o_iss.val().index());
                    self.w_snd_una.d.next = self.rd.val().get_bits::<32>(self.o_snd_una.val().index());
                    self.w_snd_nxt.d.next = self.rd.val().get_bits::<32>(self.o_snd_nxt.val().index());
                    self.w_snd_max.d.next = self.rd.val().get_bits::<32>(self.o_snd_max.val().index());
                    self.w_snd_wnd.d.next = self.rd.val().get_bits::<16>(self.o_snd_wnd.val().index());
                    self.w_timer_due.d.next = self.rd.val().get_bits::<32>(self.o_timer_due.val().index());
                    self.w_seq_offset.d.next = self.rd.val().get_bits::<32>(self.o_seq_offset.val().index());
                    self.w_tx_end.d.next = self.rd.val().get_bits::<32>(self.o_tx_end.val().index());
                    self.w_gen.d.next = self.rd.val().get_bits::<32>(self.o_gen.val().index());
        }
        if self.open_inc.val() & !self.open_dec.val() {
            self.open_count.d.next = self.open_count.q.val() + 1_u16.to_bits();
        } else if self.open_dec.val() & !self.open_inc.val() {
            self.open_count.d.next = self.open_count.q.val() - 1_u16.to_bits();
        }
        self.stat_inc.next = self.stats.val();
        self.now_us.next = self.now.q.val();
        self.open_conns.next = self.open_count.q.val();
        self.idle.next = (self.state.q.val() == EngineState::Idle)
            & !self.scan_pending.q.val()
            & !self.d_valid.val()
            & !self.hop_valid.val()
            & !self.promote_req.val();
    }
}

/// The engine alone, for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    let p = holdback_regmap::CoreParams::DEFAULT;
    assert_eq!(p.conn_bits, 6, "the default instance is generated for 64 connections");
    crate::generate::verilog_named(&mut TcbEngine::<6>::new(p.ring_bits), "tcb_engine")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tcb_engine_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tcb_engine", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tcb_engine", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.ffs > 0);
    }
}
