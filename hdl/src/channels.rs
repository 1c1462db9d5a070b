//! The core's internal channels, each one rust-hdl interface bundle with one
//! name on both sides: the producer holds the `*Source` half, the consumer
//! the mirrored `*Sink` half, and `core.rs` joins the two in one line.
//! valid/ready as everywhere: a transfer happens when both are high.
use rust_hdl::prelude::*;

/// Parser -> engine: the descriptor of one received frame, stable while
/// `valid`; `ready` pops it. `reason` is the drop reason (a `Stat` index,
/// 0 = accepted); the header fields are those of `kind`.
#[derive(LogicInterface, Default)]
#[join = "RxDescSink"]
pub struct RxDescSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub reason: Signal<Out, Bits<5>>,
    pub kind: Signal<Out, Bits<2>>,
    pub src_mac: Signal<Out, Bits<48>>,
    pub src_ip: Signal<Out, Bits<32>>,
    pub src_port: Signal<Out, Bits<16>>,
    pub dst_port: Signal<Out, Bits<16>>,
    pub seq: Signal<Out, Bits<32>>,
    pub ack: Signal<Out, Bits<32>>,
    pub flags: Signal<Out, Bits<8>>,
    pub window: Signal<Out, Bits<16>>,
    /// MSS option value, 0 when absent.
    pub mss: Signal<Out, Bits<16>>,
    /// Window scaling: the segment carried a Window Scale option, and its shift capped at 14.
    pub ws_ok: Signal<Out, Bit>,
    pub ws: Signal<Out, Bits<4>>,
    /// The segment carried a SACK-permitted option (RFC 2018 §2).
    pub sack_ok: Signal<Out, Bit>,
    /// The segment carried a Timestamps option (RFC 7323 §3.2), and its TSval and TSecr.
    pub ts_ok: Signal<Out, Bit>,
    pub tsval: Signal<Out, Bits<32>>,
    pub tsecr: Signal<Out, Bits<32>>,
    /// SACK (RFC 2018 §3): the blocks of the segment's first SACK option of
    /// length 2 + 8n (n = 1..4) lying wholly inside the TCP header, when the
    /// segment has ACK set (the blocks qualify its cumulative ACK); 0 blocks
    /// otherwise. Same layout as the transmit request's: block i's left edge
    /// in bits 255-64i..224-64i and its right edge below it, network order;
    /// blocks past the count are zero. The engine takes them when the
    /// scoreboard (`tx::sack_board`) is wired (docs/sack-sender.md).
    pub sack_count: Signal<Out, Bits<3>>,
    pub sack_blocks: Signal<Out, Bits<256>>,
    /// Frame-buffer byte offset and length of the TCP payload (or ICMP message).
    pub payload_off: Signal<Out, Bits<11>>,
    pub payload_len: Signal<Out, Bits<11>>,
    pub icmp_csum: Signal<Out, Bits<16>>,
}

#[derive(LogicInterface, Default)]
#[join = "RxDescSource"]
pub struct RxDescSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub reason: Signal<In, Bits<5>>,
    pub kind: Signal<In, Bits<2>>,
    pub src_mac: Signal<In, Bits<48>>,
    pub src_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    pub seq: Signal<In, Bits<32>>,
    pub ack: Signal<In, Bits<32>>,
    pub flags: Signal<In, Bits<8>>,
    pub window: Signal<In, Bits<16>>,
    pub mss: Signal<In, Bits<16>>,
    pub ws_ok: Signal<In, Bit>,
    pub ws: Signal<In, Bits<4>>,
    pub sack_ok: Signal<In, Bit>,
    pub ts_ok: Signal<In, Bit>,
    pub tsval: Signal<In, Bits<32>>,
    pub tsecr: Signal<In, Bits<32>>,
    pub sack_count: Signal<In, Bits<3>>,
    pub sack_blocks: Signal<In, Bits<256>>,
    pub payload_off: Signal<In, Bits<11>>,
    pub payload_len: Signal<In, Bits<11>>,
    pub icmp_csum: Signal<In, Bits<16>>,
}

/// Engine -> frame builder: one frame to send. `busy` is high while the
/// builder still reads the frame buffer (an ICMP echo's payload).
#[derive(LogicInterface, Default)]
#[join = "TxReqSink"]
pub struct TxReqSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub busy: Signal<In, Bit>,
    /// 0 TCP, 1 ARP reply, 2 ICMP echo reply, 3 gratuitous ARP.
    pub kind: Signal<Out, Bits<2>>,
    pub dst_mac: Signal<Out, Bits<48>>,
    pub dst_ip: Signal<Out, Bits<32>>,
    pub src_port: Signal<Out, Bits<16>>,
    pub dst_port: Signal<Out, Bits<16>>,
    pub seq: Signal<Out, Bits<32>>,
    pub ack: Signal<Out, Bits<32>>,
    pub flags: Signal<Out, Bits<8>>,
    pub window: Signal<Out, Bits<16>>,
    /// Append the MSS option (SYN-ACK).
    pub with_mss: Signal<Out, Bit>,
    /// Window scaling: append NOP + Window Scale `ws` after the MSS option (a SYN-ACK to a SYN that carried one).
    pub with_ws: Signal<Out, Bit>,
    pub ws: Signal<Out, Bits<4>>,
    /// SACK (RFC 2018): a SYN-ACK appends NOP, NOP, SACK-permitted; an ACK
    /// carries `sack_count` blocks (0-4) of `sack_blocks`, block i's left
    /// edge in bits 255-64i..224-64i and its right edge below it (network
    /// order, as they go on the wire); blocks past the count are zero.
    pub with_sackp: Signal<Out, Bit>,
    pub sack_count: Signal<Out, Bits<3>>,
    pub sack_blocks: Signal<Out, Bits<256>>,
    /// Timestamps (RFC 7323 §3.2): the option (NOP, NOP, kind 8, length 10,
    /// TSval, TSecr) first after the TCP header; with it an ACK carries at most 3 SACK blocks.
    pub with_ts: Signal<Out, Bit>,
    pub tsval: Signal<Out, Bits<32>>,
    pub tsecr: Signal<Out, Bits<32>>,
    /// The echo request's message in the frame buffer, and its checksum.
    pub icmp_off: Signal<Out, Bits<11>>,
    pub icmp_len: Signal<Out, Bits<11>>,
    pub icmp_csum: Signal<Out, Bits<16>>,
    /// A TCP segment's payload bytes (0: a control segment), staged by the
    /// transmit fetch, and their one's-complement sum (folded, not complemented).
    pub data_len: Signal<Out, Bits<16>>,
    pub data_sum: Signal<Out, Bits<16>>,
}

#[derive(LogicInterface, Default)]
#[join = "TxReqSource"]
pub struct TxReqSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub kind: Signal<In, Bits<2>>,
    pub dst_mac: Signal<In, Bits<48>>,
    pub dst_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    pub seq: Signal<In, Bits<32>>,
    pub ack: Signal<In, Bits<32>>,
    pub flags: Signal<In, Bits<8>>,
    pub window: Signal<In, Bits<16>>,
    pub with_mss: Signal<In, Bit>,
    pub with_ws: Signal<In, Bit>,
    pub ws: Signal<In, Bits<4>>,
    pub with_sackp: Signal<In, Bit>,
    pub sack_count: Signal<In, Bits<3>>,
    pub sack_blocks: Signal<In, Bits<256>>,
    pub with_ts: Signal<In, Bit>,
    pub tsval: Signal<In, Bits<32>>,
    pub tsecr: Signal<In, Bits<32>>,
    pub icmp_off: Signal<In, Bits<11>>,
    pub icmp_len: Signal<In, Bits<11>>,
    pub icmp_csum: Signal<In, Bits<16>>,
    pub data_len: Signal<In, Bits<16>>,
    pub data_sum: Signal<In, Bits<16>>,
}

/// Engine -> ring writer: copy `len` payload bytes from frame-buffer offset
/// `fb_off` into connection `conn`'s receive ring at `ring_off`; `done`
/// pulses when the last byte is written.
#[derive(LogicInterface, Default)]
#[join = "RingCopySink"]
pub struct RingCopySource<const CONN_BITS: usize> {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub done: Signal<In, Bit>,
    pub fb_off: Signal<Out, Bits<11>>,
    pub len: Signal<Out, Bits<11>>,
    pub conn: Signal<Out, Bits<CONN_BITS>>,
    /// The stream offset (window scaling: rings up to 1 MiB; the payload DMA reduces it to the ring in use).
    pub ring_off: Signal<Out, Bits<32>>,
}

#[derive(LogicInterface, Default)]
#[join = "RingCopySource"]
pub struct RingCopySink<const CONN_BITS: usize> {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub fb_off: Signal<In, Bits<11>>,
    pub len: Signal<In, Bits<11>>,
    pub conn: Signal<In, Bits<CONN_BITS>>,
    pub ring_off: Signal<In, Bits<32>>,
}

/// Width of a host operation's kind.
pub const HOP_KIND_BITS: usize = 4;
/// Host operation kinds, one number each for the register block and the engine.
pub const HOP_TCB_READ: u64 = 0;
pub const HOP_TCB_WRITE: u64 = 1;
pub const HOP_RELEASE_WRITE: u64 = 2;
pub const HOP_RELEASE_READ: u64 = 3;
pub const HOP_TAIL_WRITE: u64 = 4;
pub const HOP_CLOSE: u64 = 5;
pub const HOP_ABORT: u64 = 6;
/// Host operation kind 8: the host's SEND_LIMIT write (`wdata` is the send limit L, a stream offset).
pub const HOP_SEND_LIMIT: u64 = 8;
/// Host operation 7: CONNECT, an active open (the engine answers with the slot or CONNECT_REFUSED).
pub const HOP_CONNECT: u64 = 7;

/// Register block -> engine: one host operation on one TCB, held while
/// `valid`; the engine raises `done` with `rdata` until `valid` drops.
#[derive(LogicInterface, Default)]
#[join = "HostOpSink"]
pub struct HostOpSource<const CONN_BITS: usize> {
    pub valid: Signal<Out, Bit>,
    /// 0 TCB word read, 1 TCB word write (standby only), 2 release write, 3 release read,
    /// 4 send-tail write (`wdata` is the stream offset the host filled the transmit ring to),
    /// 5 close, 6 abort (CONN_CLOSE, CONN_ABORT: `conn` is the id written), 7 connect
    /// ([`HOP_CONNECT`]: `wdata` bits 15:0 are the next hop's MAC bytes 0-1), 8 send limit.
    pub kind: Signal<Out, Bits<HOP_KIND_BITS>>,
    pub conn: Signal<Out, Bits<CONN_BITS>>,
    pub word: Signal<Out, Bits<5>>,
    pub wdata: Signal<Out, Bits<32>>,
    pub done: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<32>>,
}

#[derive(LogicInterface, Default)]
#[join = "HostOpSource"]
pub struct HostOpSink<const CONN_BITS: usize> {
    pub valid: Signal<In, Bit>,
    pub kind: Signal<In, Bits<HOP_KIND_BITS>>,
    pub conn: Signal<In, Bits<CONN_BITS>>,
    pub word: Signal<In, Bits<5>>,
    pub wdata: Signal<In, Bits<32>>,
    pub done: Signal<Out, Bit>,
    pub rdata: Signal<Out, Bits<32>>,
}
