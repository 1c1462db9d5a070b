//! The protocol engine: the TCB table in block RAM and the state machine that
//! applies RFC 9293 segment processing (passive open, data, passive close) to
//! each parsed frame, serves the host's TCB and release operations, runs the
//! retransmission timer of our SYN-ACK and FIN, and walks every TCB when a
//! standby card is promoted.
//!
//! ACK holdback: every ACK the engine sends carries `min(rcv_nxt, rel)` while
//! the connection's holdback bit is set, where `rel` (R) only moves forward
//! through the host's release register. The advertised right edge is
//! `max(rcv_adv, rel + ring)` (`ring`: what the host's receive ring holds, at
//! most what the window field says with the connection's scale, `65535 <<
//! rcv_wscale`, and rounded to what the peer sees), so it never moves left and
//! unreleased bytes keep occupying the ring ([`seg_check`] computes both).
//!
//! Card roles: in standby the engine is silent (frames dropped, no timers, a
//! release only moves R) and takes the host's TCB writes. PROMOTE sends a
//! gratuitous ARP, then walks every slot: each open TCB resumes from R
//! (rcv_nxt := ack_sent := R: bytes above R were never ACKed and come again),
//! keeps its right edge, gets its timer re-armed on this card's clock, and
//! sends what a release would — or, with CTRL bit3, one ACK at R plus three
//! duplicates when ESTABLISHED, so the peer retransmits from R at once. Every
//! write-back stamps the EPOCH register. With CTRL bit4 a new connection's R
//! and ack_sent start at irs and its SYN-ACK waits for the release that moves
//! R past irs: nothing, not even the SYN, is ACKed before the host has it.
//!
//! # Reading the engine
//!
//! One FSM ([`EngineState`]) serialises four jobs because they share one TCB
//! table read port, one working copy of a TCB and one transmit request; each
//! job is a group of states that ends in the shared tail.
//!
//! | States | Job |
//! |---|---|
//! | `Idle` | picks the next job: a relay visit, a host operation, then promotion, then a frame, then a due timer scan step and the send queue, taking turns when both wait |
//! | `RxDispatch` … `TcpFin`, `IcmpWait`, `PopFrame` | the receive path: ARP/ICMP replies, connection lookup (`ProbeCheck` walks the bucket's chain; `NotFound` = passive open into a free slot (`OpenSlot`) or RST), RFC 9293 §3.10.7.4 checks and ACK processing in one cycle (`TcpCheck`; `TcpAccept` after a handshake's ACK), the payload copy issued there (`CopyIssue` only while the ring writer is busy) and overlapped with FIN, reply and write-back, the pop once the copy is `done` (`PopFrame`) |
//! | `Hop*` | host operations from the register block: TCB word read/write, release write/read |
//! | `Scan*` | the timer scan, one slot per visit (cursor in [`timebase`]): SYN-ACK / FIN retransmission, data in flight back to snd_una with the TX table's loss response (the send queue resends), a zero-window probe when the persist timer runs out, give-up after seven |
//! | `Tx*` | the send path, one segment per visit: a connection waits in the send queue (`txq`) after a send-tail doorbell (`HopTail`), an ACK that took the peer's window while bytes wait, and each segment sent; `TxLoad` reads its TCB and its TX table entry ([`tx_table`]: cwnd, RTT estimate, timer) and its SACK board, `TxQuery` waits for the SACK store's registered answer ([`sack_store`]), `TxDecide` asks the segmenter ([`crate::tx::TxSegmenter`]) for the next segment (or the resend / zero-window probe an ACK or timer asked for), `TxStart`/`TxStaged` have the transmit fetch stage its payload from the host's transmit ring, then the data segment goes out (`TxSend`) and snd_nxt/snd_max are written back |
//! | `HopClose`, `HopAbort`, `CloseFin` | connection life ([`close`]): the host's close (FIN-WAIT-1, the FIN now or after the data) and abort (RST, slot freed), and the send queue's FIN once every byte below the send tail is sent |
//! | `HopConnect`, `ConnSlot`, `ConnOpen`, `ConnSynced` | active open ([`active_open`]): CONNECT takes a free slot, reads its generation while the index hashes the tuple, links it and sends our SYN (SYN-SENT); a SYN in SYN-SENT is answered from the synchronized TCB (ACK into ESTABLISHED, or SYN-ACK on a simultaneous open) |
//! | `Prom*` | the promotion walk over every slot (it also rebuilds the connection index: `PromIndex`) |
//! | `Relay*` | relay mode (docs/relay.md, docs/engine.md "Relay"): a relay slot's SYN opens a pair (`RelayWait`, `RelayOpenC`, then `RelayConnect` into CONNECT's states); each write-back of a linked TCB queues a visit (`rq`) that applies its step to the peer (`RelayStepX`, `RelayApplyY`, through `Reply` and `RelayClose`) and then the peer's back (`RelayPull`) |
//! | `Reply`, `TxSend`, `WriteBack` | the shared tail: the ACK / FIN / SYN-ACK a change calls for (its TCB is written back from the next cycle on, once the segment's payload copy is done, overlapping `TxSend` or `wb_next`), offering the transmit request (then `tx_next`), writing the TCB back (then `wb_next`) |
//!
//! Field prefixes:
//! - `desc`, `tx`, `ring`, `hop`: the channels (bundles of `crate::channels`) from the
//!   parser (the frame being handled, popped by `desc.ready`), to the frame builder, to
//!   the ring writer, and from the register block;
//! - `w`: the working copy of the current TCB, one [`TcbFields`] register whose packing is
//!   the table word's: loaded from the table in one place (`load_tcb`), stored back in `WriteBack`;
//! - `txr`: the transmit request presented on `tx`, loaded by where-to (`TxAddressState`)
//!   and which-segment (`TxSegmentState`) commands (see [`tx_request`]);
//! - `f_*`: the received segment's flags;
//! - `st_*`: TCP state codes (`holdback_regmap::TcpState`); `m_*`: one-hot statistics masks
//!   (`holdback_regmap::Stat`); `bit_*`: TCP flag bit indices (`holdback_regmap::tcp_flags`);
//!   `kind_*`: frame kinds of the descriptor;
//! - `hop`: host operation; `prom`: the promotion walk; `cmp_*`: serial-number comparators.
//!
//! Combinational helpers, each its own block: [`seg_check`] (segment acceptability,
//! ACK value, window), [`seg_accept`] (RFC 9293 §3.10.7.4 steps 1-6 decided at once,
//! applied in `TcpCheck`), [`lookup`] (slot match, listening ports, ISS),
//! and, each computing a whole new working TCB that its state loads in one step and
//! wired together behind [`tcb_updates`],
//! [`passive_open`] (the TCB a SYN creates), [`reply`] (what a change calls for:
//! `Reply`), [`retransmit`] (the timer scan's decision: `ScanDecide`) and
//! [`promote_fix`] (what a promotion does to a replicated TCB: `PromFix`). The
//! sequential ones are [`conn_index`] (which slot holds a tuple's connection: a
//! hash index of 2N chained buckets, and the free-slot queue), [`timebase`] (time
//! and the timer-scan cursor) and
//! [`tx_request`] (the transmit request's registers, composed from a command, and
//! the `tx` channel they drive).
//! [`tcb_fields`] is the TCB's packed layout, shared by the table and all of these.
use crate::coalesce::Coalescer;
use active_open::ActiveOpen;
use close::CloseSteps;
use keepalive::KeepAlive;
use crate::seq_cmp::SeqCmp;
use crate::tx::{TxAck, TxRtt, TxSegmenter};
use crate::channels::{HostOpSink, RingCopySource, RxDescSink, TxReqSource, HOP_KIND_BITS, HOP_SEND_LIMIT};
use crate::regbus::{LISTEN_BITS, LISTEN_PORTS, SEND_HOLDBACK_BITS, STAT_COUNT};
use holdback_regmap::{tcp_flags, Stat, TcpState, RELAY_PORT_BITS, TCB_BITS};
use conn_index::ConnIndex;
use lookup::ConnLookup;
use reassembly::{HoleMerge, HOLE_META_BITS, HOLE_SLOTS};
use rust_hdl::prelude::*;
use seg_accept::SegAccept;
use seg_check::SegCheck;
use tcb_fields::TcbFields;
use tcb_updates::TcbUpdates;
use timebase::TimeBase;
use tx_request::TxRequest;
use tx_table::TxTable;

mod fsm;
pub mod active_open;
pub mod close;
pub mod conn_index;
pub mod dsack;
pub mod keepalive;
pub mod lookup;
pub mod passive_open;
pub mod reassembly;
pub mod relay_step;
pub mod sack;
pub mod sack_store;
pub mod promote_fix;
pub mod reply;
pub mod retransmit;
pub mod send_limit;
pub mod syn_cookie;
pub mod syn_cookie_ts;
pub mod seg_accept;
pub mod seg_check;
pub mod tcb_fields;
pub mod tcb_updates;
pub mod timebase;
pub mod tuple_hash;
pub mod tx_request;
pub mod tx_table;

/// Engine sequencing. Named uniquely: rust-hdl emits one localparam per variant.
#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum EngineState {
    Idle,
    RxDispatch,
    ProbeCheck,
    NotFound,
    OpenSlot,
    TcpCheck,
    TcpAccept,
    CopyIssue,
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
    HopTail,
    TxLoad,
    TxQuery,
    TxDecide,
    TxStart,
    TxStaged,
    PromLoad,
    PromFix,
    PromIndex,
    PromSend,
    PromDup,
    PromNext,
    PromEnd,
    // Connection life (close.rs): the host's close and abort, and our FIN after the data.
    HopClose,
    HopAbort,
    CloseFin,
    /// Reassembly: an out-of-order segment's copy waits for the ring writer.
    OooIssue,
    // Active open (active_open.rs): CONNECT takes a slot, reads its generation
    // and hashes the tuple, then links it and sends our SYN; a SYN-ACK in
    // SYN-SENT is answered from the synchronized TCB.
    HopConnect,
    ConnSlot,
    ConnOpen,
    ConnSynced,
    // SYN cookies (docs/syn-cookies.md): a listening port's SYN or ACK with
    // no TCB waits for the cookie block; a SYN is answered from the cookie
    // (no slot), a valid returned cookie takes a slot, whose TX table and
    // hole entries are written before the ACK takes the SYN-RECEIVED path.
    CookieWait,
    CookieSynAck,
    CookieOpen,
    CookieLoad,
    // Relay mode (docs/relay.md, "The engine's part"): a client SYN on a
    // relaying slot takes the client side (held, linked; RelayWait lets the
    // free queue show the next slot) and then the server side through
    // CONNECT's states; every write-back of a linked TCB queues a relay
    // visit, which applies its step to the peer and then the peer's back.
    RelayWait,
    RelayOpenC,
    RelayConnect,
    RelayLoadX,
    RelayStepX,
    RelayLoadY,
    RelayApplyY,
    RelayClose,
    RelayPull,
    RelayNext,
}

pub const TCB_W: usize = TCB_BITS;
/// The largest payload the card puts in one segment: an Ethernet MTU of 1500
/// less the IPv4 and TCP headers (the staging buffer and the frame builder
/// hold 2 KiB frames; a peer MSS above this is clamped to it).
pub const MAX_SEGMENT: u32 = 1460;
/// Request kinds on the `tx` channel (the descriptor's `kind` uses the same codes).
const KIND_TCP: u64 = 0;
const KIND_ARP: u64 = 1;
const KIND_ICMP: u64 = 2;

#[derive(LogicBlock)]
pub struct TcbEngine<const CONN_BITS: usize, const REF_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Parsed frames from the receive parser.
    pub desc: RxDescSink,
    /// Frames to send, to the frame builder.
    pub tx: TxReqSource,
    /// Payload copies into the receive rings.
    pub ring: RingCopySource<CONN_BITS>,
    /// TCB and release operations from the register block.
    pub hop: HostOpSink<CONN_BITS>,
    pub tick_us: Signal<In, Bits<16>>,
    // Configuration from the register block.
    pub enable: Signal<In, Bit>,
    pub standby: Signal<In, Bit>,
    pub holdback_default: Signal<In, Bit>,
    /// The LISTEN registers: bit 16 enables the slot, bits 15:0 are the port, bits 18:17 its own holdback.
    pub listen_ports: [Signal<In, Bits<LISTEN_BITS>>; LISTEN_PORTS],
    pub rto_us: Signal<In, Bits<32>>,
    /// TIME_WAIT_US: how long TIME-WAIT and an unanswered FIN-WAIT-2 hold a slot.
    pub time_wait_us: Signal<In, Bits<32>>,
    /// Keep-alive and the idle timeout ([`keepalive`]; 0 = off).
    pub ka_idle_us: Signal<In, Bits<32>>,
    pub ka_intvl_us: Signal<In, Bits<32>>,
    pub ka_probes: Signal<In, Bits<4>>,
    pub idle_timeout_us: Signal<In, Bits<32>>,
    /// CTRL bit3: after a promotion, an ACK at R plus three duplicates per connection.
    pub dup_acks: Signal<In, Bit>,
    /// CTRL bit4: hold a new connection's SYN-ACK until R passes irs.
    pub hold_synack: Signal<In, Bit>,
    /// EPOCH register: stamped into every TCB the engine writes back.
    pub epoch: Signal<In, Bits<32>>,
    /// What the host's receive ring holds beyond R: its size (RX_RING_LOG2);
    /// each connection advertises at most `65535 << rcv_wscale` of it.
    pub ring_window: Signal<In, Bits<32>>,
    /// A PROMOTE write is pending (held until `promote_start`).
    pub promote_req: Signal<In, Bit>,
    /// The walk took the request (one cycle).
    pub promote_start: Signal<Out, Bit>,
    /// The walk finished: every TCB resumed from R (one cycle).
    pub promote_end: Signal<Out, Bit>,
    /// The walk is running.
    pub promoting: Signal<Out, Bit>,
    // The descriptor, transmit-request, ring and host-operation channels are
    // the bundles in crate::channels, declared above.
    /// Frame-buffer read port goes to the ring writer (else to the TX builder).
    pub fb_sel_ring: Signal<Out, Bit>,
    // Statistics, change log, status.
    pub stat_inc: Signal<Out, Bits<STAT_COUNT>>,
    pub stat_bytes: Signal<Out, Bits<16>>,
    pub chlog_push: Signal<Out, Bit>,
    pub chlog_id: Signal<Out, Bits<CONN_BITS>>,
    pub now_us: Signal<Out, Bits<32>>,
    pub open_conns: Signal<Out, Bits<16>>,
    pub idle: Signal<Out, Bit>,
    /// The TCB table's write port, for copies of the table (the event
    /// writer's): every table write, as it happens.
    pub tcb_we: Signal<Out, Bit>,
    pub tcb_waddr: Signal<Out, Bits<CONN_BITS>>,
    pub tcb_wdata: Signal<Out, Bits<TCB_W>>,
    /// TX_RING_BASE and TX_RING_LOG2: connection id's transmit ring is at
    /// `tx_ring_base + (id << tx_ring_log2)`.
    pub tx_ring_base: Signal<In, Bits<64>>,
    pub tx_ring_log2: Signal<In, Bits<5>>,
    /// RX_RING_BASE and RX_RING_LOG2: a relayed connection sends from its
    /// peer's receive ring (docs/relay.md, "One copy of each byte").
    pub rx_ring_base: Signal<In, Bits<64>>,
    pub rx_ring_log2: Signal<In, Bits<5>>,
    /// The transmit fetch ([`crate::tx::TxFetch`]): one segment's reads from
    /// the ring (the second, at the ring's start, when it wraps).
    pub fetch_start: Signal<Out, Bit>,
    pub fetch_addr0: Signal<Out, Bits<64>>,
    pub fetch_len0: Signal<Out, Bits<16>>,
    pub fetch_addr1: Signal<Out, Bits<64>>,
    pub fetch_len1: Signal<Out, Bits<16>>,
    pub fetch_idle: Signal<In, Bit>,
    pub fetch_staged: Signal<In, Bit>,
    pub fetch_err: Signal<In, Bit>,
    pub fetch_sum: Signal<In, Bits<16>>,
    /// RTO_MIN_US: the RTO floor of data connections (RFC 6298 §2.4).
    pub rto_min_us: Signal<In, Bits<32>>,
    /// Active open: CONNECT_IP, CONNECT_PORTS and CONNECT_MAC_LO (the MAC's
    /// bytes 0-1 come with the CONNECT op's `wdata`).
    pub connect_ip: Signal<In, Bits<32>>,
    pub connect_ports: Signal<In, Bits<32>>,
    pub connect_mac_lo: Signal<In, Bits<32>>,
    /// Relay slots (docs/relay.md, "Relay slots"), one per LISTEN slot:
    /// RELAY_PORTn (bit 16 the slot relays, bits 15:0 the backend's port),
    /// RELAY_IPn and the next hop's MAC (RELAY_MAC_HIn bits 15:0 above RELAY_MAC_LOn).
    pub relay_ports: [Signal<In, Bits<RELAY_PORT_BITS>>; LISTEN_PORTS],
    pub relay_ips: [Signal<In, Bits<32>>; LISTEN_PORTS],
    pub relay_macs: [Signal<In, Bits<48>>; LISTEN_PORTS],
    /// RELAY_CONNECT_US: how long a relayed client's SYN-ACK waits for the backend.
    pub relay_connect_us: Signal<In, Bits<32>>,
    aopen: ActiveOpen,
    hop_connect: Constant<Bits<HOP_KIND_BITS>>,
    connect_refused: Constant<Bits<32>>,
    st_syn_sent: Constant<Bits<4>>,
    m_active_opens: Constant<Bits<STAT_COUNT>>,
    m_connects_refused: Constant<Bits<STAT_COUNT>>,

    tcb_ram: RAM<TcbFields, CONN_BITS>,
    seg: SegCheck,
    acc: SegAccept,
    lookup: ConnLookup,
    index: ConnIndex<CONN_BITS, REF_BITS>,
    timebase: TimeBase<CONN_BITS>,
    txr: TxRequest,
    upd: TcbUpdates,
    close: CloseSteps,
    ka: KeepAlive,
    cmp_newrel: SeqCmp,
    /// The send tail the host wrote against the TCB's (it may only move forward).
    cmp_tail: SeqCmp,
    txseg: TxSegmenter,
    /// Each connection's congestion and timer state (docs/tx.md, "The TX
    /// control block"), read with its TCB; the ACK processor and the RTT
    /// estimator compute an entry's next value from it.
    txt: TxTable<CONN_BITS>,
    txack: TxAck,
    txrtt: TxRtt,
    /// Connections with bytes to send, each waiting at most once.
    txq: Coalescer<CONN_BITS, REF_BITS>,
    /// Relayed connections written back since their last relay visit, each once.
    rq: Coalescer<CONN_BITS, REF_BITS>,
    /// The splice rule (relay_step.rs): the step of the working TCB, and its
    /// application to the working TCB as the peer.
    rstep: relay_step::RelayStep,
    rapply: relay_step::RelayApply,
    /// A relay open is under way (NotFound to PopFrame): the passive open is
    /// held and linked, CONNECT's states take the relay slot's backend.
    relaying: DFF<Bit>,
    /// The open's client side; in a visit, the side whose step is applied.
    relay_x: DFF<Bits<CONN_BITS>>,
    /// The visit's second half: the peer's step back to `relay_x`'s peer.
    pulling: DFF<Bit>,
    /// The step latched from the source TCB (RelayStepX).
    step_follow: DFF<Bit>,
    step_abort: DFF<Bit>,
    /// The source was freed after both FINs crossed: its last step, then the link goes.
    step_unlink: DFF<Bit>,
    step_tx_end: DFF<Bits<32>>,
    step_rel: DFF<Bits<32>>,
    step_irs: DFF<Bits<32>>,
    step_close: DFF<Bit>,
    /// The target is ESTABLISHED and the step closes it (after the release's reply).
    relay_closing: DFF<Bit>,
    /// The target of a visit names the source back and is open.
    relay_paired: Signal<Local, Bit>,
    /// The step asks a CLOSE-WAIT target to close: its FIN may go (the half-close).
    relay_asks_cw: Signal<Local, Bit>,
    /// The apply changed something the model writes back for.
    relay_changed: Signal<Local, Bit>,
    /// What follows the target's update: the pull, or the end of the visit.
    relay_after: Signal<Local, EngineState>,
    /// A held, linked client side whose connect timeout ran out.
    relay_conn_due: Signal<Local, Bit>,
    /// `now - timer_due`: below 2^31, the timer is due (serial order).
    relay_due_gap: Signal<Local, Bits<32>>,
    sign32: Constant<Bits<32>>,
    /// The peer whose receive ring a relayed connection sends from.
    tx_peer_link: Signal<Local, Bits<16>>,
    /// The promotion walk's TCB is one synchronized side of a pair: it probes its peer first.
    prom_poke: Signal<Local, Bit>,
    no_link: Constant<Bits<16>>,
    relay_port_base: Constant<Bits<32>>,
    two32: Constant<Bits<32>>,
    st_time_wait: Constant<Bits<4>>,
    m_relay_failed: Constant<Bits<STAT_COUNT>>,
    /// With both the timer scan and the send queue waiting, they take turns:
    /// a scan that is always due (a card, or a simulation, behind its clock)
    /// must not starve sending, nor sending the timers.
    tx_turn: DFF<Bit>,
    /// log2 of the ring `TxQuery` chose (the peer's receive ring when relayed).
    tx_conn_log2: DFF<Bits<5>>,

    state: DFF<EngineState>,
    tx_next: DFF<EngineState>,
    wb_next: DFF<EngineState>,
    cur_id: DFF<Bits<CONN_BITS>>,
    take: DFF<Bits<11>>,
    open_count: DFF<Bits<16>>,
    prom_active: DFF<Bit>,
    dup_left: DFF<Bits<2>>,
    hop_result: DFF<Bits<32>>,
    raw: DFF<Bits<TCB_W>>,
    /// Working copy of the current TCB.
    w: DFF<TcbFields>,
    /// A payload copy was issued and its `done` has not come yet: the frame stays.
    copy_busy: DFF<Bit>,
    /// `Reply` changed the working TCB: it is written back once the copy is done.
    wb_pending: DFF<Bit>,
    /// The host's last TCB-window write of an EPOCH word, to slot
    /// `refusing_id`, was refused: the other words of that TCB are refused
    /// too, until an EPOCH word is taken.
    tcb_refusing: DFF<Bit>,
    refusing_id: DFF<Bits<CONN_BITS>>,
    /// The EPOCH of the TCB a host TCB-window write would leave in the slot.
    written_epoch: Signal<Local, Bits<32>>,
    /// The peer's window in bytes (snd_wnd scaled by snd_wscale) for the segmenter.
    tx_peer_window: Signal<Local, Bits<32>>,
    tx_wnd_field: Signal<Local, Bits<16>>,
    tx_wnd_shift: Signal<Local, Bits<4>>,
    /// This host TCB-window write is refused (EPOCH only grows, docs/authority.md).
    stale_tcb_write: Signal<Local, Bit>,
    epoch_word: Constant<Bits<5>>,
    epoch_shift: Constant<Bits<10>>,
    m_stale_epoch: Constant<Bits<STAT_COUNT>>,
    /// The connection `TxLoad` read: its transmit ring.
    tx_conn_base: DFF<Bits<64>>,

    // Combinational intermediates.
    rd: Signal<Local, Bits<TCB_W>>,
    /// Segment checks and ACK processing of a synchronized TCB run this cycle.
    accept_now: Signal<Local, Bit>,
    /// The payload copy is offered to the ring writer this cycle, with this length.
    copy_req: Signal<Local, Bit>,
    copy_len: Signal<Local, Bits<11>>,
    /// No payload copy is in flight after this cycle.
    copy_settled: Signal<Local, Bit>,
    /// The working TCB goes to the table this cycle.
    write_back: Signal<Local, Bit>,
    /// The TCB slot read this cycle (the index reads its links alongside).
    rd_slot: Signal<Local, Bits<CONN_BITS>>,
    stats: Signal<Local, Bits<STAT_COUNT>>,
    open_inc: Signal<Local, Bit>,
    open_dec: Signal<Local, Bit>,
    load_tcb: Signal<Local, Bit>,
    /// The segment being sent records its ACK and right edge in the TCB.
    advertise: Signal<Local, Bit>,
    f_syn: Signal<Local, Bit>,
    f_rst: Signal<Local, Bit>,
    f_ack: Signal<Local, Bit>,
    ring_pos: Signal<Local, Bits<32>>,
    word_shift: Signal<Local, Bits<10>>,
    gen_next: Signal<Local, Bits<32>>,
    synack_held: Signal<Local, Bit>,
    /// Send-tail doorbell check: how far past snd_una the new tail ends.
    tail_span: Signal<Local, Bits<32>>,
    tx_ring_bytes: Signal<Local, Bits<32>>,
    /// Bytes written and not yet sent: the connection belongs in the send queue.
    tx_pending: Signal<Local, Bit>,
    /// SMSS of the working TCB: the peer's MSS clamped to [`MAX_SEGMENT`].
    tx_mss_clamped: Signal<Local, Bits<16>>,
    tx_smss: Signal<Local, Bits<16>>,
    /// The Timestamps option's 10 bytes and its 2 of padding.
    ts_option_bytes: Constant<Bits<16>>,

    // Constants from the one register map.
    st_closed: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    st_fin_wait1: Constant<Bits<4>>,
    tcb_words: Constant<Bits<5>>,
    ring_mask: Constant<Bits<32>>,
    one_slot: Constant<Bits<CONN_BITS>>,
    word_ones: Constant<Bits<TCB_W>>,
    zero_slot: Constant<Bits<CONN_BITS>>,
    zero4: Constant<Bits<4>>,
    bit_fin: Constant<Bits<3>>,
    bit_syn: Constant<Bits<3>>,
    bit_rst: Constant<Bits<3>>,
    bit_ack: Constant<Bits<3>>,
    kind_tcp: Constant<Bits<2>>,
    kind_arp: Constant<Bits<2>>,
    kind_icmp: Constant<Bits<2>>,
    dup_count: Constant<Bits<2>>,
    zero2: Constant<Bits<2>>,
    zero6: Constant<Bits<6>>,
    one2: Constant<Bits<2>>,
    hop_tcb_read: Constant<Bits<HOP_KIND_BITS>>,
    hop_tcb_write: Constant<Bits<HOP_KIND_BITS>>,
    hop_release: Constant<Bits<HOP_KIND_BITS>>,
    hop_tail: Constant<Bits<HOP_KIND_BITS>>,
    /// The largest segment the frame buffers hold: 2048 - 54 bytes of headers
    /// would do, 1460 (an Ethernet MTU of 1500) is what the card sends.
    max_seg: Constant<Bits<16>>,
    /// RFC 6298 §2.5's RTO ceiling (60 s) and the timer's granularity G
    /// (the scan visits each connection every 1024 us).
    rto_max: Constant<Bits<32>>,
    rto_granularity: Constant<Bits<32>>,
    ev_none: Constant<Bits<2>>,
    ev_send: Constant<Bits<2>>,
    ev_ack: Constant<Bits<2>>,
    ev_timeout: Constant<Bits<2>>,
    timer_retransmit: Constant<Bits<2>>,
    timer_persist: Constant<Bits<2>>,
    /// The first ACK-processor verdict that acknowledges new data.
    verdict_new_data: Constant<Bits<3>>,
    verdict_no_progress: Constant<Bits<3>>,
    verdict_duplicate: Constant<Bits<3>>,
    verdict_fast_retransmit: Constant<Bits<3>>,
    /// The end of the segment the send path stages (HighRxt + 1 after a resend).
    tx_seg_end: Signal<Local, Bits<32>>,
    /// A duplicate ACK in SACK recovery asks for a resend.
    sack_resend: Signal<Local, Bit>,
    m_fast_retransmits: Constant<Bits<STAT_COUNT>>,
    m_rto_backoffs: Constant<Bits<STAT_COUNT>>,
    one32: Constant<Bits<32>>,
    timer_off: Constant<Bits<2>>,
    no_stats: Constant<Bits<STAT_COUNT>>,
    m_one: Constant<Bits<STAT_COUNT>>,
    m_payload: Constant<Bits<STAT_COUNT>>,
    m_rx_frames: Constant<Bits<STAT_COUNT>>,
    m_tcb_full: Constant<Bits<STAT_COUNT>>,
    m_cookies_sent: Constant<Bits<STAT_COUNT>>,
    m_cookies_accepted: Constant<Bits<STAT_COUNT>>,
    m_cookies_refused: Constant<Bits<STAT_COUNT>>,
    m_sack_dsack: Constant<Bits<STAT_COUNT>>,
    m_sack_bogus: Constant<Bits<STAT_COUNT>>,
    m_sack_dropped: Constant<Bits<STAT_COUNT>>,
    /// What the SACK store counts this cycle.
    sack_counts: Signal<Local, Bits<STAT_COUNT>>,
    m_no_connection: Constant<Bits<STAT_COUNT>>,
    m_unsupported: Constant<Bits<STAT_COUNT>>,
    m_arp_replies: Constant<Bits<STAT_COUNT>>,
    m_icmp_replies: Constant<Bits<STAT_COUNT>>,
    m_rst_sent: Constant<Bits<STAT_COUNT>>,
    m_retransmits: Constant<Bits<STAT_COUNT>>,
    m_conns_opened: Constant<Bits<STAT_COUNT>>,
    m_tail_refused: Constant<Bits<STAT_COUNT>>,
    m_dma_errors: Constant<Bits<STAT_COUNT>>,
    m_time_wait: Constant<Bits<STAT_COUNT>>,
    m_give_up_resets: Constant<Bits<STAT_COUNT>>,
    m_host_aborts: Constant<Bits<STAT_COUNT>>,
    m_ka_probes: Constant<Bits<STAT_COUNT>>,
    m_ka_drops: Constant<Bits<STAT_COUNT>>,
    m_idle_drops: Constant<Bits<STAT_COUNT>>,
    hop_close: Constant<Bits<HOP_KIND_BITS>>,
    hop_abort: Constant<Bits<HOP_KIND_BITS>>,

    // Out-of-order reassembly (reassembly.rs): the held ranges, read with the
    // TCB at the same address, are their own block RAM, not part of the TCB.
    /// RX_REASM bit0: out-of-order segments are held.
    pub reassembly: Signal<In, Bit>,
    /// RX_REASM bit1 with bit0: SACK-permitted is offered, SACK blocks sent (sack.rs).
    pub sack: Signal<In, Bit>,
    /// TIMESTAMPS bit0: a SYN's Timestamps option is taken (TS_OK, TS.Recent; RFC 7323 §3.2).
    pub timestamps: Signal<In, Bit>,
    /// TS_CLOCK (timebase.rs): a host write loads the timestamp clock; `ts_ticks` is its count.
    pub ts_clock_load: Signal<In, Bit>,
    pub ts_clock_wdata: Signal<In, Bits<32>>,
    /// SYN_COOKIES (docs/syn-cookies.md): bit31 on, bits 15:0 the half-open threshold.
    pub syn_cookies: Signal<In, Bit>,
    pub cookie_threshold: Signal<In, Bits<16>>,
    /// COOKIE_KEY0..3 and COOKIE_KEY4..7: SipHash keys (syn_cookie.rs).
    pub cookie_key0: Signal<In, Bits<128>>,
    pub cookie_key1: Signal<In, Bits<128>>,
    /// HALF_OPEN: TCBs in SYN-RECEIVED.
    pub half_open: Signal<Out, Bits<16>>,
    /// IPV4_ADDR: our address, hashed into the cookie with the peer's.
    pub our_ip: Signal<In, Bits<32>>,
    syncookie: syn_cookie::SynCookie,
    cookie_ts: syn_cookie_ts::SynCookieTs,
    /// One bit per slot: the TCB stored there is in SYN-RECEIVED. Kept at
    /// the TCB table's write port, so every way a TCB is written (the
    /// receive path, the host's installs, the timer scan, the promotion
    /// walk) moves HALF_OPEN by the difference.
    half_bits: RAM<Bit, CONN_BITS>,
    half_count: DFF<Bits<16>>,
    /// The returned TSecr claims ECN, which a cookie SYN-ACK of ours never offers.
    ecn_claimed: Signal<Local, Bit>,
    /// The written TCB is half-open (from the table's write data).
    half_new: Signal<Local, Bit>,
    /// The MSS a valid returned cookie encodes (Linux's table, docs/syn-cookies.md).
    cookie_mss: DFF<Bits<16>>,
    mss_table: [Constant<Bits<16>>; 4],
    mss_index: [Constant<Bits<2>>; 4],
    pub ts_ticks: Signal<Out, Bits<32>>,
    hmerge: HoleMerge,
    /// SACK blocks for the ACK being composed (sack.rs).
    sacks: sack::SackSource,
    /// D-SACK (dsack.rs): the segment's duplicate run, found in the accept
    /// step; kept for the ACK the `Reply` state composes for it, cleared in `Idle`.
    dups: dsack::DupRange,
    dsack_on: DFF<Bit>,
    dsack_start: DFF<Bits<32>>,
    dsack_end: DFF<Bits<32>>,
    hole_start: [RAM<Bits<32>, CONN_BITS>; HOLE_SLOTS],
    hole_end: [RAM<Bits<32>, CONN_BITS>; HOLE_SLOTS],
    hole_meta: RAM<Bits<HOLE_META_BITS>, CONN_BITS>,
    /// The payload copy offered this cycle is an out-of-order one: rcv_nxt stays.
    copy_ooo: Signal<Local, Bit>,
    /// A new connection or a promotion: the slot's held ranges are forgotten.
    holes_clear: Signal<Local, Bit>,
    /// Stream offset of an out-of-order copy's first byte, modulo the largest ring.
    ooo_pos: Signal<Local, Bits<32>>,
    no_holes: Constant<Bits<HOLE_META_BITS>>,
    m_ooo_held: Constant<Bits<STAT_COUNT>>,
    m_holes_filled: Constant<Bits<STAT_COUNT>>,

    // Send holdback (send_limit.rs): each connection's send limit L, its own
    // block RAM read with the TCB, and what it lets the send path emit.
    /// SEND_HOLDBACK: the bit a new connection takes into its TCB (send_hold).
    pub send_holdback: Signal<In, Bits<SEND_HOLDBACK_BITS>>,
    sendlim: send_limit::SendLimit<CONN_BITS>,
    /// The SACK sender's boards and HighRxt + 1 (docs/sack-sender.md).
    sndsack: sack_store::SackStore<CONN_BITS>,
    hop_send_limit: Constant<Bits<HOP_KIND_BITS>>,
}

fn st(s: TcpState) -> Constant<Bits<4>> {
    Constant::new(Bits::<4>::from(s as u64))
}
fn flag_bit(bit: usize) -> Constant<Bits<3>> {
    Constant::new(Bits::<3>::from(bit as u64))
}
fn mask(s: Stat) -> Constant<Bits<STAT_COUNT>> {
    Constant::new(Bits::<STAT_COUNT>::from(1u64 << s.index()))
}

impl<const CONN_BITS: usize, const REF_BITS: usize> TcbEngine<CONN_BITS, REF_BITS> {
    /// `ring_off_bits`: the payload copies' `ring_off` is the stream offset
    /// modulo `2^ring_off_bits` (the copier reduces it to the ring in use).
    pub fn new(ring_off_bits: usize) -> Self {
        assert!(ring_off_bits <= 31, "ring_off is a 32-bit field");
        let ring = 1u64 << ring_off_bits;
        Self {
            clock: Default::default(),
            desc: Default::default(),
            tx: Default::default(),
            ring: Default::default(),
            hop: Default::default(),
            tick_us: Default::default(),
            enable: Default::default(),
            standby: Default::default(),
            holdback_default: Default::default(),
            listen_ports: Default::default(),
            rto_us: Default::default(),
            time_wait_us: Default::default(),
            ka_idle_us: Default::default(),
            ka_intvl_us: Default::default(),
            ka_probes: Default::default(),
            idle_timeout_us: Default::default(),
            dup_acks: Default::default(),
            hold_synack: Default::default(),
            epoch: Default::default(),
            ring_window: Default::default(),
            promote_req: Default::default(),
            promote_start: Default::default(),
            promote_end: Default::default(),
            promoting: Default::default(),
            fb_sel_ring: Default::default(),
            stat_inc: Default::default(),
            stat_bytes: Default::default(),
            chlog_push: Default::default(),
            chlog_id: Default::default(),
            now_us: Default::default(),
            open_conns: Default::default(),
            idle: Default::default(),
            tcb_we: Default::default(),
            tcb_waddr: Default::default(),
            tcb_wdata: Default::default(),
            tx_ring_base: Default::default(),
            tx_ring_log2: Default::default(),
            rx_ring_base: Default::default(),
            rx_ring_log2: Default::default(),
            fetch_start: Default::default(),
            fetch_addr0: Default::default(),
            fetch_len0: Default::default(),
            fetch_addr1: Default::default(),
            fetch_len1: Default::default(),
            fetch_idle: Default::default(),
            fetch_staged: Default::default(),
            fetch_err: Default::default(),
            fetch_sum: Default::default(),
            rto_min_us: Default::default(),
            connect_ip: Default::default(),
            connect_ports: Default::default(),
            connect_mac_lo: Default::default(),
            relay_ports: Default::default(),
            relay_ips: Default::default(),
            relay_macs: Default::default(),
            relay_connect_us: Default::default(),
            aopen: Default::default(),
            hop_connect: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_CONNECT)),
            connect_refused: Constant::new(Bits::<32>::from(holdback_regmap::CONNECT_REFUSED as u64)),
            st_syn_sent: st(TcpState::SynSent),
            m_active_opens: mask(Stat::ActiveOpens),
            m_connects_refused: mask(Stat::ConnectsRefused),
            tcb_ram: Default::default(),
            seg: Default::default(),
            acc: Default::default(),
            lookup: Default::default(),
            index: Default::default(),
            timebase: Default::default(),
            upd: Default::default(),
            close: Default::default(),
            ka: Default::default(),
            txr: TxRequest::new([KIND_TCP, KIND_ARP, KIND_ICMP, crate::tx_builder::KIND_GARP]),
            cmp_newrel: Default::default(),
            txseg: Default::default(),
            txt: Default::default(),
            txack: Default::default(),
            txrtt: Default::default(),
            txq: Coalescer::new(),
            rq: Coalescer::new(),
            rstep: Default::default(),
            rapply: Default::default(),
            relaying: Default::default(),
            relay_x: Default::default(),
            pulling: Default::default(),
            step_follow: Default::default(),
            step_abort: Default::default(),
            step_unlink: Default::default(),
            step_tx_end: Default::default(),
            step_rel: Default::default(),
            step_irs: Default::default(),
            step_close: Default::default(),
            relay_closing: Default::default(),
            relay_paired: Default::default(),
            prom_poke: Default::default(),
            relay_changed: Default::default(),
            relay_asks_cw: Default::default(),
            relay_after: Default::default(),
            relay_conn_due: Default::default(),
            relay_due_gap: Default::default(),
            sign32: Constant::new(Bits::<32>::from(0x8000_0000u64)),
            tx_peer_link: Default::default(),
            no_link: Constant::new(Bits::<16>::from(relay_step::NO_LINK)),
            relay_port_base: Constant::new(Bits::<32>::from(u64::from(holdback_regmap::RELAY_LOCAL_PORT_BASE))),
            two32: Constant::new(Bits::<32>::from(2u64)),
            st_time_wait: st(TcpState::TimeWait),
            m_relay_failed: mask(Stat::RelayConnectsFailed),
            tx_conn_log2: Default::default(),
            tx_turn: Default::default(),
            state: Default::default(),
            tx_next: Default::default(),
            wb_next: Default::default(),
            cur_id: Default::default(),
            take: Default::default(),
            open_count: Default::default(),
            prom_active: Default::default(),
            dup_left: Default::default(),
            hop_result: Default::default(),
            raw: Default::default(),
            w: Default::default(),
            copy_busy: Default::default(),
            wb_pending: Default::default(),
            tx_conn_base: Default::default(),
            cmp_tail: Default::default(),
            tail_span: Default::default(),
            tx_ring_bytes: Default::default(),
            tx_pending: Default::default(),
            tx_mss_clamped: Default::default(),
            tx_smss: Default::default(),
            ts_option_bytes: Constant::new(Bits::<16>::from(12u64)),
                                                                                            rd: Default::default(),
            rd_slot: Default::default(),
            accept_now: Default::default(),
            copy_req: Default::default(),
            copy_len: Default::default(),
            copy_settled: Default::default(),
            write_back: Default::default(),
            stats: Default::default(),
            open_inc: Default::default(),
            open_dec: Default::default(),
            load_tcb: Default::default(),
            advertise: Default::default(),
            f_syn: Default::default(),
            f_rst: Default::default(),
            f_ack: Default::default(),
            ring_pos: Default::default(),
            word_shift: Default::default(),
            gen_next: Default::default(),
            synack_held: Default::default(),
            word_ones: Constant::new(Bits::<TCB_W>::from(0xFFFF_FFFFu64)),
            tcb_refusing: Default::default(),
            refusing_id: Default::default(),
            written_epoch: Default::default(),
            tx_peer_window: Default::default(),
            tx_wnd_field: Default::default(),
            tx_wnd_shift: Default::default(),
            stale_tcb_write: Default::default(),
            epoch_word: Constant::new(Bits::<5>::from(holdback_regmap::tcb::EPOCH.word as u64)),
            epoch_shift: Constant::new(Bits::<10>::from(32 * holdback_regmap::tcb::EPOCH.word as u64 + holdback_regmap::tcb::EPOCH.shift as u64)),
            m_stale_epoch: mask(Stat::StaleEpochRefused),
            st_closed: st(TcpState::Closed),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_last_ack: st(TcpState::LastAck),
            st_fin_wait1: st(TcpState::FinWait1),
            tcb_words: Constant::new(Bits::<5>::from(holdback_regmap::TCB_WORDS as u64)),
            ring_mask: Constant::new(Bits::<32>::from(ring - 1)),
                    one_slot: Constant::new(Bits::<CONN_BITS>::from(1u64)),
            zero_slot: Constant::new(Bits::<CONN_BITS>::from(0u64)),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            bit_fin: flag_bit(tcp_flags::FIN_BIT),
            bit_syn: flag_bit(tcp_flags::SYN_BIT),
            bit_rst: flag_bit(tcp_flags::RST_BIT),
            bit_ack: flag_bit(tcp_flags::ACK_BIT),
                                                    kind_tcp: Constant::new(Bits::<2>::from(KIND_TCP)),
            kind_arp: Constant::new(Bits::<2>::from(KIND_ARP)),
            kind_icmp: Constant::new(Bits::<2>::from(KIND_ICMP)),
                            dup_count: Constant::new(Bits::<2>::from(holdback_regmap::PROMOTE_DUP_ACKS as u64)),
            zero2: Constant::new(Bits::<2>::from(0u64)),
            zero6: Constant::new(Bits::<6>::from(0u64)),
            one2: Constant::new(Bits::<2>::from(1u64)),
            hop_tcb_read: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TCB_READ)),
            hop_tcb_write: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TCB_WRITE)),
            hop_release: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_RELEASE_WRITE)),
            hop_tail: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_TAIL_WRITE)),
            max_seg: Constant::new(Bits::<16>::from(MAX_SEGMENT as u64)),
            rto_max: Constant::new(Bits::<32>::from(60_000_000u64)),
            rto_granularity: Constant::new(Bits::<32>::from(1024u64)),
            ev_none: Constant::new(Bits::<2>::from(crate::tx::rtt::EV_NONE)),
            ev_send: Constant::new(Bits::<2>::from(crate::tx::rtt::EV_SEND)),
            ev_ack: Constant::new(Bits::<2>::from(crate::tx::rtt::EV_ACK)),
            ev_timeout: Constant::new(Bits::<2>::from(crate::tx::rtt::EV_TIMEOUT)),
            timer_retransmit: Constant::new(Bits::<2>::from(crate::tx::TIMER_RETRANSMIT)),
            timer_persist: Constant::new(Bits::<2>::from(crate::tx::TIMER_PERSIST)),
            verdict_new_data: Constant::new(Bits::<3>::from(crate::tx::ack::VERDICT_NEW_DATA)),
            verdict_no_progress: Constant::new(Bits::<3>::from(crate::tx::ack::VERDICT_NO_PROGRESS)),
            verdict_duplicate: Constant::new(Bits::<3>::from(crate::tx::ack::VERDICT_DUPLICATE)),
            verdict_fast_retransmit: Constant::new(Bits::<3>::from(crate::tx::ack::VERDICT_FAST_RETRANSMIT)),
            tx_seg_end: Default::default(),
            sack_resend: Default::default(),
            m_fast_retransmits: mask(Stat::FastRetransmits),
            m_rto_backoffs: mask(Stat::RtoBackoffs),
            one32: Constant::new(Bits::<32>::from(1u64)),
            timer_off: Constant::new(Bits::<2>::from(crate::tx::TIMER_OFF)),
            no_stats: Constant::new(Bits::<STAT_COUNT>::from(0u64)),
            m_one: Constant::new(Bits::<STAT_COUNT>::from(1u64)),
            m_payload: mask(Stat::RxPayloadBytes),
            m_rx_frames: mask(Stat::RxFrames),
            m_tcb_full: mask(Stat::DropTcbFull),
            m_cookies_sent: mask(Stat::CookiesSent),
            m_cookies_accepted: mask(Stat::CookiesAccepted),
            m_cookies_refused: mask(Stat::CookiesRefused),
            m_sack_dsack: mask(Stat::SackDsackBlocks),
            m_sack_bogus: mask(Stat::SackBogusBlocks),
            m_sack_dropped: mask(Stat::SackRangesDropped),
            sack_counts: Default::default(),
            m_no_connection: mask(Stat::DropNoConnection),
            m_unsupported: mask(Stat::DropUnsupported),
            m_arp_replies: mask(Stat::ArpReplies),
            m_icmp_replies: mask(Stat::IcmpEchoReplies),
            m_rst_sent: mask(Stat::RstSent),
            m_retransmits: mask(Stat::Retransmits),
            m_conns_opened: mask(Stat::ConnsOpened),
            m_tail_refused: mask(Stat::TxTailRefused),
            m_dma_errors: mask(Stat::DmaErrors),
            m_time_wait: mask(Stat::TimeWaitEntered),
            m_give_up_resets: mask(Stat::GiveUpResets),
            m_host_aborts: mask(Stat::HostAborts),
            m_ka_probes: mask(Stat::KeepaliveProbes),
            m_ka_drops: mask(Stat::KeepaliveDrops),
            m_idle_drops: mask(Stat::IdleDrops),
            hop_close: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_CLOSE)),
            hop_abort: Constant::new(Bits::<HOP_KIND_BITS>::from(crate::channels::HOP_ABORT)),
            reassembly: Default::default(),
            sack: Default::default(),
            timestamps: Default::default(),
            ts_clock_load: Default::default(),
            ts_clock_wdata: Default::default(),
            syn_cookies: Default::default(),
            cookie_threshold: Default::default(),
            cookie_key0: Default::default(),
            cookie_key1: Default::default(),
            half_open: Default::default(),
            our_ip: Default::default(),
            syncookie: Default::default(),
            cookie_ts: Default::default(),
            half_bits: RAM::from((0..1usize << CONN_BITS).map(|_| false)),
            half_count: Default::default(),
            ecn_claimed: Default::default(),
            half_new: Default::default(),
            cookie_mss: Default::default(),
            mss_table: syn_cookie::MSS_TABLE.map(|m| Constant::new(Bits::<16>::from(u64::from(m)))),
            mss_index: std::array::from_fn(|i| Constant::new(Bits::<2>::from(i as u64))),
            ts_ticks: Default::default(),
            sacks: Default::default(),
            dups: Default::default(),
            dsack_on: Default::default(),
            dsack_start: Default::default(),
            dsack_end: Default::default(),
            hmerge: Default::default(),
            hole_start: Default::default(),
            hole_end: Default::default(),
            // Nothing held at power-on (opening a connection clears its entry too).
            hole_meta: RAM::from((0..1usize << CONN_BITS).map(|_| Bits::<HOLE_META_BITS>::from(0u64))),
            copy_ooo: Default::default(),
            holes_clear: Default::default(),
            ooo_pos: Default::default(),
            no_holes: Constant::new(Bits::<HOLE_META_BITS>::from(0u64)),
            m_ooo_held: mask(Stat::RxOooHeld),
            m_holes_filled: mask(Stat::RxOooHolesFilled),
            send_holdback: Default::default(),
            sendlim: Default::default(),
            sndsack: Default::default(),
            hop_send_limit: Constant::new(Bits::<HOP_KIND_BITS>::from(HOP_SEND_LIMIT)),
        }
    }
}

/// The engine alone, for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    verilog_for(holdback_regmap::CoreParams::DEFAULT.conn_bits)
}

/// The connection counts the engine is generated for (N = 2^bits: 64, 1024, 4096).
pub const CONN_BITS_CHOICES: [usize; 3] = [6, 10, 12];

/// The engine for N = 2^`conn_bits` connections (one of [`CONN_BITS_CHOICES`]:
/// each needs its own const-generic instance).
pub fn verilog_for(conn_bits: usize) -> Result<String, crate::generate::GenError> {
    let ring_bits = holdback_regmap::CoreParams::DEFAULT.ring_bits;
    match conn_bits {
        6 => crate::generate::verilog_named(&mut TcbEngine::<6, 7>::new(ring_bits), "tcb_engine"),
        10 => crate::generate::verilog_named(&mut TcbEngine::<10, 11>::new(ring_bits), "tcb_engine"),
        12 => crate::generate::verilog_named(&mut TcbEngine::<12, 13>::new(ring_bits), "tcb_engine"),
        _ => Err(crate::generate::GenError {
            block: "tcb_engine",
            cause: format!("no instance for {conn_bits} connection-id bits (generated: {CONN_BITS_CHOICES:?})"),
        }),
    }
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

    /// N = 4096: the TCB table and the connection index are block RAM, and the
    /// flops do not grow with N (only counters and slot numbers get wider: the
    /// engine at N = 64 had 2264 FFs, its 64 TCBs in LUT RAM). The bound is
    /// fewer flops than connections: one TCB in flops alone would be 640.
    #[test]
    fn tcb_engine_for_4096_connections_keeps_per_connection_state_in_block_ram() {
        let v = super::verilog_for(12).expect("generates");
        crate::check::lint("tcb_engine", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let big = crate::check::synth("tcb_engine", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tcb_engine (N = 4096) area: {big:?}");
        // 4096 TCBs of 640 bits: 2.6 Mbit, at least 72 RAMB36 (144 RAMB18).
        assert!(big.bram18 >= 144, "{big:?}");
        assert_eq!(big.lutram, 0, "{big:?}");
        assert!(big.ffs < 4096, "{big:?}");
    }
}
