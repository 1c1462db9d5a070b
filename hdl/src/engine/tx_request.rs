//! The transmit request the engine offers to the frame builder: one register
//! per field, loaded from two small commands, where to send (`TxAddressState`)
//! and which TCP segment (`TxSegmentState`). Every path that answers composes
//! its ACK, SYN-ACK, FIN or RST here, so the receive path, a release, the timer
//! scan and the promotion walk cannot drift apart in how they fill a reply.
//!
//! Sequential on purpose: the outputs are registers, so the engine may pick a
//! command from anything, its own Locals included, without a combinational
//! loop; a field loads on the same clock edge as the engine's own registers.
use crate::channels::TxReqSource;
use rust_hdl::prelude::*;

/// Where the request goes. Named `…State`, as every LogicState enum here:
/// rust-hdl copies the variants into each module as localparams (see `hdl/lint.vlt`).
#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum TxAddressState {
    /// The addressing fields hold their values.
    Keep,
    /// Gratuitous ARP to the broadcast address.
    Garp,
    /// ARP reply to the received frame's sender.
    ArpReply,
    /// ICMP echo reply to the received frame's sender.
    IcmpReply,
    /// TCP segment to the received segment's sender, ports swapped (no TCB).
    TcpToSender,
    /// TCP segment to the working TCB's recorded peer.
    TcpToPeer,
}

/// Which TCP segment; the five sequence/flag fields load together.
#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum TxSegmentState {
    /// The segment fields hold their values.
    Keep,
    /// Only the MSS option is cleared.
    NoMss,
    /// Only ACK and window are refreshed (the timer scan's default).
    AckWindow,
    /// ACK at `snd_nxt`, acknowledging `ack` with `window`.
    Ack,
    /// Our SYN-ACK again, from `iss`, offering the ring with the MSS option.
    SynAck,
    /// A passive open's first SYN-ACK: `new_iss`, acknowledging the SYN.
    SynAckNew,
    /// A SYN-ACK from a SYN cookie (docs/syn-cookies.md): as `SynAckNew`, its
    /// TSval `cookie_tsval` (the options in its low 6 bits), and Window Scale
    /// and SACK-permitted only with timestamps, where the ACK can return them.
    SynAckCookie,
    /// FIN|ACK at `snd_nxt` (the FIN takes that number).
    FinAck,
    /// Our FIN|ACK again, at `snd_nxt - 1`.
    FinAgain,
    /// RFC 9293 3.10.7.1/3.10.7.3: RST at the segment's ACK number.
    Rst,
    /// RFC 9293 3.10.7.1: RST|ACK acknowledging the segment (it had no ACK).
    RstAck,
    /// Payload staged by the transmit fetch: `data_len` bytes at `data_seq`,
    /// ACK (PSH too when `data_push`: the segment empties the ring).
    Data,
    /// Active open: our SYN from `iss`, offering the ring with the MSS option and
    /// always our Window Scale (`rcv_wscale`), first sent or again; with the
    /// Timestamps option when the SYN-SENT TCB has TS_OK (TSecr = TS.Recent, 0).
    Syn,
}

#[derive(LogicBlock)]
pub struct TxRequest {
    pub clock: Signal<In, Clock>,
    pub address: Signal<In, TxAddressState>,
    pub segment: Signal<In, TxSegmentState>,
    // The received segment (from the parser's descriptor).
    pub sender_mac: Signal<In, Bits<48>>,
    pub sender_ip: Signal<In, Bits<32>>,
    pub sender_port: Signal<In, Bits<16>>,
    pub sender_dst_port: Signal<In, Bits<16>>,
    pub seg_seq: Signal<In, Bits<32>>,
    pub seg_ack: Signal<In, Bits<32>>,
    /// SEG.LEN of the received segment (SYN and FIN count).
    pub seg_len: Signal<In, Bits<32>>,
    // The working TCB.
    pub peer_mac: Signal<In, Bits<48>>,
    pub peer_ip: Signal<In, Bits<32>>,
    pub local_port: Signal<In, Bits<16>>,
    pub remote_port: Signal<In, Bits<16>>,
    pub snd_nxt: Signal<In, Bits<32>>,
    pub iss: Signal<In, Bits<32>>,
    /// The ISS a connection opened now gets.
    pub new_iss: Signal<In, Bits<32>>,
    /// The TSval of a SYN-ACK from a cookie (`SynAckCookie`).
    pub cookie_tsval: Signal<In, Bits<32>>,
    /// The ACK number and window to send (holdback applied).
    pub ack: Signal<In, Bits<32>>,
    pub window: Signal<In, Bits<16>>,
    /// The host receive ring's bytes: a SYN-ACK offers all of it, at most
    /// 65535 (its window is never scaled, RFC 7323 §2.2).
    pub syn_window: Signal<In, Bits<32>>,
    /// Window scaling: the shifts of the working TCB (a SYN-ACK again) and of
    /// the TCB a SYN opens now; a SYN-ACK carries our Window Scale unless both
    /// shifts are 0 (the SYN had none, or neither side scales: the same).
    pub snd_wscale: Signal<In, Bits<4>>,
    pub rcv_wscale: Signal<In, Bits<4>>,
    pub new_snd_wscale: Signal<In, Bits<4>>,
    pub new_rcv_wscale: Signal<In, Bits<4>>,
    /// SACK (RFC 2018): the working TCB's and the new TCB's negotiation (a
    /// SYN-ACK offers SACK-permitted), and the blocks an ACK carries
    /// (`sack.rs`: zero past the count, the count 0 without SACK).
    pub sack_ok: Signal<In, Bit>,
    pub new_sack_ok: Signal<In, Bit>,
    pub sack_count: Signal<In, Bits<3>>,
    pub sack_blocks: Signal<In, Bits<256>>,
    /// Timestamps (RFC 7323 §3.2): the timestamp clock, and the working TCB's
    /// and the new TCB's negotiation, TS_OFFSET and TS.Recent. Every segment
    /// of a TS_OK connection but a RST carries TSval = clock + offset and
    /// TSecr = TS.Recent (RST: §3.2 recommends none).
    pub ts_ticks: Signal<In, Bits<32>>,
    pub ts_ok: Signal<In, Bit>,
    pub ts_offset: Signal<In, Bits<32>>,
    pub ts_recent: Signal<In, Bits<32>>,
    pub new_ts_ok: Signal<In, Bit>,
    pub new_ts_offset: Signal<In, Bits<32>>,
    pub new_ts_recent: Signal<In, Bits<32>>,

    /// Offer the request (the engine's `TxSend`).
    pub send: Signal<In, Bit>,
    /// The echo request's message in the frame buffer, and its checksum (ICMP replies).
    pub icmp_off: Signal<In, Bits<11>>,
    pub icmp_len: Signal<In, Bits<11>>,
    pub icmp_csum: Signal<In, Bits<16>>,
    /// A data segment: where it starts, its length, whether it reaches the
    /// send tail, and its payload's sum (passed through: the fetch holds it
    /// while the segment waits).
    pub data_seq: Signal<In, Bits<32>>,
    pub data_len: Signal<In, Bits<16>>,
    pub data_push: Signal<In, Bit>,
    pub data_sum: Signal<In, Bits<16>>,

    /// The request on its way to the frame builder (the engine's `tx`, linked through).
    pub tx: TxReqSource,
    /// The builder took the request this cycle.
    pub sent: Signal<Out, Bit>,
    /// The builder is ready and no longer reads the frame buffer (an echo's payload).
    pub builder_idle: Signal<Out, Bit>,

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
    t_data_len: DFF<Bits<16>>,
    t_with_ws: DFF<Bit>,
    t_ws: DFF<Bits<4>>,
    t_with_sackp: DFF<Bit>,
    t_sack_count: DFF<Bits<3>>,
    t_sack_blocks: DFF<Bits<256>>,
    t_with_ts: DFF<Bit>,
    t_tsval: DFF<Bits<32>>,
    t_tsecr: DFF<Bits<32>>,
    no_sack_count: Constant<Bits<3>>,
    no_sack_blocks: Constant<Bits<256>>,
    ws_on: Signal<Local, Bit>,
    syn_window16: Signal<Local, Bits<16>>,
    new_ws_on: Signal<Local, Bit>,

    kind_tcp: Constant<Bits<2>>,
    kind_arp: Constant<Bits<2>>,
    kind_icmp: Constant<Bits<2>>,
    kind_garp: Constant<Bits<2>>,
    bcast_mac: Constant<Bits<48>>,
    flags_ack: Constant<Bits<8>>,
    flags_syn_ack: Constant<Bits<8>>,
    flags_fin_ack: Constant<Bits<8>>,
    flags_rst: Constant<Bits<8>>,
    flags_rst_ack: Constant<Bits<8>>,
    flags_psh_ack: Constant<Bits<8>>,
    flags_syn: Constant<Bits<8>>,
}

impl TxRequest {
    /// `kind_*` are the frame builder's request kinds.
    pub fn new(kinds: [u64; 4]) -> Self {
        use holdback_regmap::tcp_flags::{ACK, FIN, PSH, RST, SYN};
        let flags = |f: u8| Constant::new(Bits::<8>::from(u64::from(f)));
        let kind = |k: u64| Constant::new(Bits::<2>::from(k));
        Self {
            clock: Default::default(),
            address: Default::default(),
            segment: Default::default(),
            sender_mac: Default::default(),
            sender_ip: Default::default(),
            sender_port: Default::default(),
            sender_dst_port: Default::default(),
            seg_seq: Default::default(),
            seg_ack: Default::default(),
            seg_len: Default::default(),
            peer_mac: Default::default(),
            peer_ip: Default::default(),
            local_port: Default::default(),
            remote_port: Default::default(),
            snd_nxt: Default::default(),
            iss: Default::default(),
            new_iss: Default::default(),
            cookie_tsval: Default::default(),
            ack: Default::default(),
            window: Default::default(),
            syn_window: Default::default(),
            snd_wscale: Default::default(),
            rcv_wscale: Default::default(),
            new_snd_wscale: Default::default(),
            new_rcv_wscale: Default::default(),
            sack_ok: Default::default(),
            new_sack_ok: Default::default(),
            sack_count: Default::default(),
            sack_blocks: Default::default(),
            ts_ticks: Default::default(),
            ts_ok: Default::default(),
            ts_offset: Default::default(),
            ts_recent: Default::default(),
            new_ts_ok: Default::default(),
            new_ts_offset: Default::default(),
            new_ts_recent: Default::default(),
            send: Default::default(),
            icmp_off: Default::default(),
            icmp_len: Default::default(),
            icmp_csum: Default::default(),
            data_seq: Default::default(),
            data_len: Default::default(),
            data_push: Default::default(),
            data_sum: Default::default(),
            tx: Default::default(),
            sent: Default::default(),
            builder_idle: Default::default(),
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
            t_data_len: Default::default(),
            t_with_ws: Default::default(),
            t_ws: Default::default(),
            t_with_sackp: Default::default(),
            t_sack_count: Default::default(),
            t_sack_blocks: Default::default(),
            t_with_ts: Default::default(),
            t_tsval: Default::default(),
            t_tsecr: Default::default(),
            no_sack_count: Constant::new(Bits::<3>::from(0u64)),
            no_sack_blocks: Constant::new(Bits::<256>::default()),
            ws_on: Default::default(),
            syn_window16: Default::default(),
            new_ws_on: Default::default(),
            kind_tcp: kind(kinds[0]),
            kind_arp: kind(kinds[1]),
            kind_icmp: kind(kinds[2]),
            kind_garp: kind(kinds[3]),
            bcast_mac: Constant::new(Bits::<48>::from(0xFFFF_FFFF_FFFFu64)),
            flags_ack: flags(ACK),
            flags_syn_ack: flags(SYN | ACK),
            flags_fin_ack: flags(FIN | ACK),
            flags_rst: flags(RST),
            flags_rst_ack: flags(RST | ACK),
            flags_psh_ack: flags(PSH | ACK),
            flags_syn: flags(SYN),

        }
    }
}

impl Logic for TxRequest {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, t_kind, t_dst_mac, t_dst_ip, t_src_port, t_dst_port, t_seq, t_ack, t_flags, t_window, t_with_mss, t_data_len, t_with_ws, t_ws, t_with_sackp, t_sack_count, t_sack_blocks, t_with_ts, t_tsval, t_tsecr);
        self.syn_window16.next = self.syn_window.val().get_bits::<16>(0);
        if self.syn_window.val().get_bits::<16>(16).any() {
            self.syn_window16.next = 0xFFFF_u16.to_bits();
        }
        self.ws_on.next = self.snd_wscale.val().any() | self.rcv_wscale.val().any();
        self.new_ws_on.next = self.new_snd_wscale.val().any() | self.new_rcv_wscale.val().any();
        match self.address.val() {
            TxAddressState::Garp => {
                self.t_kind.d.next = self.kind_garp.val();
                self.t_dst_mac.d.next = self.bcast_mac.val();
            }
            TxAddressState::ArpReply => {
                self.t_kind.d.next = self.kind_arp.val();
                self.t_dst_mac.d.next = self.sender_mac.val();
                self.t_dst_ip.d.next = self.sender_ip.val();
            }
            TxAddressState::IcmpReply => {
                self.t_kind.d.next = self.kind_icmp.val();
                self.t_dst_mac.d.next = self.sender_mac.val();
                self.t_dst_ip.d.next = self.sender_ip.val();
            }
            TxAddressState::TcpToSender => {
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = self.sender_mac.val();
                self.t_dst_ip.d.next = self.sender_ip.val();
                self.t_src_port.d.next = self.sender_dst_port.val();
                self.t_dst_port.d.next = self.sender_port.val();
            }
            TxAddressState::TcpToPeer => {
                self.t_kind.d.next = self.kind_tcp.val();
                self.t_dst_mac.d.next = self.peer_mac.val();
                self.t_dst_ip.d.next = self.peer_ip.val();
                self.t_src_port.d.next = self.local_port.val();
                self.t_dst_port.d.next = self.remote_port.val();
            }
            _ => {}
        }
        // Every segment command but `Data` (and `Keep`) composes a control segment.
        if (self.segment.val() != TxSegmentState::Keep) & (self.segment.val() != TxSegmentState::Data) {
            self.t_data_len.d.next = 0_u16.to_bits();
        }
        // SACK options only where set below: SACK-permitted in a SYN-ACK, blocks in an ACK.
        if self.segment.val() != TxSegmentState::Keep {
            self.t_with_sackp.d.next = false;
            self.t_sack_count.d.next = self.no_sack_count.val();
            self.t_sack_blocks.d.next = self.no_sack_blocks.val();
        }
        // Timestamps: from the working TCB for every segment command; the new
        // TCB's for a passive open's SYN-ACK; none for a RST (or NoMss, the
        // first half of a RST to a sender without a TCB), below.
        if self.segment.val() != TxSegmentState::Keep {
            self.t_with_ts.d.next = self.ts_ok.val();
            self.t_tsval.d.next = self.ts_ticks.val() + self.ts_offset.val();
            self.t_tsecr.d.next = self.ts_recent.val();
        }
        match self.segment.val() {
            TxSegmentState::NoMss => {
                self.t_with_ts.d.next = false;
                self.t_with_mss.d.next = false;
            }
            TxSegmentState::AckWindow => {
                self.t_ack.d.next = self.ack.val();
                self.t_window.d.next = self.window.val();
            }
            TxSegmentState::Ack => {
                self.t_seq.d.next = self.snd_nxt.val();
                self.t_ack.d.next = self.ack.val();
                self.t_flags.d.next = self.flags_ack.val();
                self.t_window.d.next = self.window.val();
                self.t_with_mss.d.next = false;
                self.t_sack_count.d.next = self.sack_count.val();
                self.t_sack_blocks.d.next = self.sack_blocks.val();
            }
            TxSegmentState::SynAck => {
                self.t_seq.d.next = self.iss.val();
                self.t_ack.d.next = self.ack.val();
                self.t_flags.d.next = self.flags_syn_ack.val();
                self.t_window.d.next = self.syn_window16.val();
                self.t_with_mss.d.next = true;
                self.t_with_ws.d.next = self.ws_on.val();
                self.t_ws.d.next = self.rcv_wscale.val();
                self.t_with_sackp.d.next = self.sack_ok.val();
            }
            TxSegmentState::SynAckNew => {
                self.t_seq.d.next = self.new_iss.val();
                self.t_ack.d.next = self.seg_seq.val() + 1_u32.to_bits();
                self.t_flags.d.next = self.flags_syn_ack.val();
                self.t_window.d.next = self.syn_window16.val();
                self.t_with_mss.d.next = true;
                self.t_with_ws.d.next = self.new_ws_on.val();
                self.t_ws.d.next = self.new_rcv_wscale.val();
                self.t_with_sackp.d.next = self.new_sack_ok.val();
                self.t_with_ts.d.next = self.new_ts_ok.val();
                self.t_tsval.d.next = self.ts_ticks.val() + self.new_ts_offset.val();
                self.t_tsecr.d.next = self.new_ts_recent.val();
            }
            TxSegmentState::SynAckCookie => {
                self.t_seq.d.next = self.new_iss.val();
                self.t_ack.d.next = self.seg_seq.val() + 1_u32.to_bits();
                self.t_flags.d.next = self.flags_syn_ack.val();
                self.t_window.d.next = self.syn_window16.val();
                self.t_with_mss.d.next = true;
                self.t_with_ws.d.next = self.new_ws_on.val() & self.new_ts_ok.val();
                self.t_ws.d.next = self.new_rcv_wscale.val();
                self.t_with_sackp.d.next = self.new_sack_ok.val() & self.new_ts_ok.val();
                self.t_with_ts.d.next = self.new_ts_ok.val();
                self.t_tsval.d.next = self.cookie_tsval.val();
                self.t_tsecr.d.next = self.new_ts_recent.val();
            }
            TxSegmentState::FinAck => {
                self.t_seq.d.next = self.snd_nxt.val();
                self.t_ack.d.next = self.ack.val();
                self.t_flags.d.next = self.flags_fin_ack.val();
                self.t_window.d.next = self.window.val();
                self.t_with_mss.d.next = false;
            }
            TxSegmentState::FinAgain => {
                self.t_seq.d.next = self.snd_nxt.val() - 1_u32.to_bits();
                self.t_ack.d.next = self.ack.val();
                self.t_flags.d.next = self.flags_fin_ack.val();
                self.t_window.d.next = self.window.val();
                self.t_with_mss.d.next = false;
            }
            TxSegmentState::Rst => {
                self.t_seq.d.next = self.seg_ack.val();
                self.t_ack.d.next = 0_u32.to_bits();
                self.t_flags.d.next = self.flags_rst.val();
                self.t_window.d.next = 0_u16.to_bits();
                self.t_with_mss.d.next = false;
                self.t_with_ts.d.next = false;
            }
            TxSegmentState::RstAck => {
                self.t_seq.d.next = 0_u32.to_bits();
                self.t_ack.d.next = self.seg_seq.val() + self.seg_len.val();
                self.t_flags.d.next = self.flags_rst_ack.val();
                self.t_window.d.next = 0_u16.to_bits();
                self.t_with_mss.d.next = false;
                self.t_with_ts.d.next = false;
            }
            TxSegmentState::Syn => {
                self.t_seq.d.next = self.iss.val();
                self.t_ack.d.next = 0_u32.to_bits();
                self.t_flags.d.next = self.flags_syn.val();
                self.t_window.d.next = self.syn_window16.val();
                self.t_with_mss.d.next = true;
                self.t_with_ws.d.next = true;
                self.t_ws.d.next = self.rcv_wscale.val();
                self.t_with_sackp.d.next = self.sack_ok.val();
            }
            TxSegmentState::Data => {
                self.t_seq.d.next = self.data_seq.val();
                self.t_ack.d.next = self.ack.val();
                self.t_flags.d.next = self.flags_ack.val();
                if self.data_push.val() {
                    self.t_flags.d.next = self.flags_psh_ack.val();
                }
                self.t_window.d.next = self.window.val();
                self.t_with_mss.d.next = false;
                self.t_data_len.d.next = self.data_len.val();
            }
            _ => {}
        }
        self.tx.valid.next = self.send.val();
        self.tx.kind.next = self.t_kind.q.val();
        self.tx.dst_mac.next = self.t_dst_mac.q.val();
        self.tx.dst_ip.next = self.t_dst_ip.q.val();
        self.tx.src_port.next = self.t_src_port.q.val();
        self.tx.dst_port.next = self.t_dst_port.q.val();
        self.tx.seq.next = self.t_seq.q.val();
        self.tx.ack.next = self.t_ack.q.val();
        self.tx.flags.next = self.t_flags.q.val();
        self.tx.window.next = self.t_window.q.val();
        self.tx.with_mss.next = self.t_with_mss.q.val();
        self.tx.with_ws.next = self.t_with_ws.q.val();
        self.tx.ws.next = self.t_ws.q.val();
        self.tx.with_sackp.next = self.t_with_sackp.q.val();
        self.tx.sack_count.next = self.t_sack_count.q.val();
        self.tx.sack_blocks.next = self.t_sack_blocks.q.val();
        self.tx.with_ts.next = self.t_with_ts.q.val();
        self.tx.tsval.next = self.t_tsval.q.val();
        self.tx.tsecr.next = self.t_tsecr.q.val();
        self.tx.icmp_off.next = self.icmp_off.val();
        self.tx.icmp_len.next = self.icmp_len.val();
        self.tx.icmp_csum.next = self.icmp_csum.val();
        self.tx.data_len.next = self.t_data_len.q.val();
        self.tx.data_sum.next = self.data_sum.val();
        self.sent.next = self.send.val() & self.tx.ready.val();
        self.builder_idle.next = !self.tx.busy.val() & self.tx.ready.val();
    }
}
