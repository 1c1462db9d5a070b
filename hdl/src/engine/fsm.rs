//! The engine's kernel: defaults first, then one `match` on the state; the
//! state groups and field prefixes are listed in the module's legend.
use super::tx_request::{TxAddressState, TxSegmentState};
use super::{EngineState, TcbEngine, TCB_W};
use crate::channels::TxReqSource;
use crate::regbus::LISTEN_PORTS;
use rust_hdl::prelude::*;

impl<const CONN_BITS: usize, const REF_BITS: usize> Logic for TcbEngine<CONN_BITS, REF_BITS> {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, tx_next, wb_next, cur_id,
            take, open_count, prom_active, dup_left, hop_result, raw, w, copy_busy, wb_pending,
            tx_conn_base, tx_smss, tx_cwnd
        );
        self.tcb_ram.read_clock.next = self.clock.val();
        self.tcb_ram.write_clock.next = self.clock.val();
        self.rd_slot.next = self.cur_id.q.val();
        self.tcb_ram.write_address.next = self.cur_id.q.val();
        self.tcb_ram.write_enable.next = false;
        self.rd.next = self.tcb_ram.read_data.val().into();

        // The send path: the segmenter sees the working TCB (snd_tail is where the
        // host's bytes end) and what TxLoad registered: the connection's ring, the
        // peer's MSS clamped to what a frame holds, the initial window as cwnd
        // (RFC 5681 §3.1 eq. 1) and no timer yet.
        self.slot_mss.next = self.tcb_ram.read_data.val().peer_mss;
        if self.tcb_ram.read_data.val().peer_mss > self.max_seg.val() {
            self.slot_mss.next = self.max_seg.val();
        }
        self.slot_mss32.next = bit_cast::<32, 16>(self.slot_mss.val());
        self.txseg.iss.next = self.w.q.val().iss;
        self.txseg.snd_una.next = self.w.q.val().snd_una;
        self.txseg.snd_nxt.next = self.w.q.val().snd_nxt;
        self.txseg.snd_max.next = self.w.q.val().snd_max;
        self.txseg.snd_tail.next = self.w.q.val().iss + self.one32.val() + self.w.q.val().tx_end;
        // The peer's window in bytes is snd_wnd << snd_wscale (RFC 7323 §2.3);
        // the segmenter's window is 16 bits, and cwnd (the initial window) is
        // far below 65535, so saturating there never shrinks what may be sent.
        self.tx_wnd_field.next = self.w.q.val().snd_wnd;
        self.tx_wnd_shift.next = self.w.q.val().snd_wscale;
        self.tx_peer_window.next = bit_cast::<32, 16>(self.tx_wnd_field.val()) << self.tx_wnd_shift.val();
        self.txseg.snd_wnd.next = self.tx_peer_window.val().get_bits::<16>(0);
        if self.tx_peer_window.val().get_bits::<16>(16).any() {
            self.txseg.snd_wnd.next = 0xFFFF_u16.to_bits();
        }
        self.txseg.smss.next = self.tx_smss.q.val();
        self.txseg.cwnd.next = self.tx_cwnd.q.val();
        self.txseg.timer.next = self.timer_off.val();
        self.txseg.timer_due_us.next = 0_u32.to_bits();
        self.txseg.rto_us.next = self.rto_us.val();
        self.txseg.now_us.next = self.timebase.now_us.val();
        self.txseg.resend_first.next = false;
        self.txseg.ring_base.next = self.tx_conn_base.q.val();
        self.txseg.ring_mask.next = (self.one32.val() << self.tx_ring_log2.val()) - self.one32.val();
        self.txq.clock.next = self.clock.val();
        self.txq.push.next = false;
        self.txq.push_id.next = self.cur_id.q.val();
        self.txq.pop.next = false;
        self.fetch_start.next = false;
        // From TxDecide to TxStaged the working TCB stands still, so the
        // segmenter's answer does too: the fetch and the request take it as is.
        self.fetch_addr0.next = self.txseg.rd0_addr.val();
        self.fetch_len0.next = self.txseg.rd0_len.val();
        self.fetch_addr1.next = self.tx_conn_base.q.val();
        self.fetch_len1.next = self.txseg.rd1_len.val();
        self.txr.data_seq.next = self.txseg.seg_seq.val();
        self.txr.data_len.next = self.txseg.seg_len.val();
        self.txr.data_push.next = self.txseg.new_snd_nxt.val() == (self.w.q.val().iss + self.one32.val() + self.w.q.val().tx_end);
        self.txr.data_sum.next = self.fetch_sum.val();
        self.tx_ring_bytes.next = self.one32.val() << self.tx_ring_log2.val();
        self.cmp_tail.a.next = self.hop.wdata.val();
        self.cmp_tail.b.next = self.w.q.val().tx_end;
        self.tail_span.next = self.w.q.val().iss + self.one32.val() + self.hop.wdata.val() - self.w.q.val().snd_una;
        self.tx_pending.next = self.w.q.val().snd_nxt != (self.w.q.val().iss + self.one32.val() + self.w.q.val().tx_end);

        self.timebase.clock.next = self.clock.val();
        self.timebase.tick_us.next = self.tick_us.val();
        self.timebase.scan_step.next = false;

        self.txr.clock.next = self.clock.val();
        self.txr.address.next = TxAddressState::Keep;
        self.txr.segment.next = TxSegmentState::Keep;
        self.txr.sender_mac.next = self.desc.src_mac.val();
        self.txr.sender_ip.next = self.desc.src_ip.val();
        self.txr.sender_port.next = self.desc.src_port.val();
        self.txr.sender_dst_port.next = self.desc.dst_port.val();
        self.txr.seg_seq.next = self.desc.seq.val();
        self.txr.seg_ack.next = self.desc.ack.val();
        self.txr.seg_len.next = self.seg.seg_len.val();
        self.txr.peer_mac.next = self.w.q.val().remote_mac;
        self.txr.peer_ip.next = self.w.q.val().remote_ip;
        self.txr.local_port.next = self.w.q.val().local_port;
        self.txr.remote_port.next = self.w.q.val().remote_port;
        self.txr.snd_nxt.next = self.w.q.val().snd_nxt;
        self.txr.iss.next = self.w.q.val().iss;
        self.txr.new_iss.next = self.lookup.iss.val();
        self.txr.ack.next = self.seg.ack.val();
        self.txr.window.next = self.seg.window.val();
        // The host ring's size (RX_RING_LOG2); the SYN-ACK offers at most 65535 of it.
        self.txr.syn_window.next = self.ring_window.val();
        self.seg.ring_window.next = self.ring_window.val();
        // Window scaling: the shifts of the working TCB and of the TCB a SYN opens.
        self.seg.rcv_wscale.next = self.w.q.val().rcv_wscale;
        self.txr.snd_wscale.next = self.w.q.val().snd_wscale;
        self.txr.rcv_wscale.next = self.w.q.val().rcv_wscale;
        self.txr.new_snd_wscale.next = self.upd.opened.val().snd_wscale;
        self.txr.new_rcv_wscale.next = self.upd.opened.val().rcv_wscale;
        self.upd.ring_window.next = self.ring_window.val();

        // Segment facts, all from the descriptor and the working TCB.
        self.f_syn.next = self.desc.flags.val().get_bit(self.bit_syn.val().index());
        self.f_rst.next = self.desc.flags.val().get_bit(self.bit_rst.val().index());
        self.f_ack.next = self.desc.flags.val().get_bit(self.bit_ack.val().index());
        self.seg.seq.next = self.desc.seq.val();
        self.seg.payload_len.next = self.desc.payload_len.val();
        // Children's inputs come from ports, registers and children's outputs only,
        // never from this kernel's Locals: Verilator would see a combinational loop.
        self.seg.syn.next = self.desc.flags.val().get_bit(self.bit_syn.val().index());
        self.seg.fin.next = self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.seg.rcv_nxt.next = self.w.q.val().rcv_nxt;
        self.seg.rcv_adv.next = self.w.q.val().rcv_adv;
        self.seg.rel.next = self.w.q.val().rel;
        self.seg.holdback.next = self.w.q.val().holdback.any();
        self.seg.ack_sent.next = self.w.q.val().ack_sent;
        // Stream offset of rcv_nxt (first payload byte is irs+1), modulo the ring size.
        self.ring_pos.next = (self.w.q.val().rcv_nxt - self.w.q.val().irs - 1_u32.to_bits()) & self.ring_mask.val();
        self.acc.state.next = self.w.q.val().state;
        self.acc.snd_una.next = self.w.q.val().snd_una;
        self.acc.snd_nxt.next = self.w.q.val().snd_nxt;
        self.acc.snd_max.next = self.w.q.val().snd_max;
        self.acc.seg_ack.next = self.desc.ack.val();
        self.acc.payload_len.next = self.desc.payload_len.val();
        self.acc.fin.next = self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.acc.syn.next = self.desc.flags.val().get_bit(self.bit_syn.val().index());
        self.acc.rst.next = self.desc.flags.val().get_bit(self.bit_rst.val().index());
        self.acc.ack.next = self.desc.flags.val().get_bit(self.bit_ack.val().index());
        self.acc.acceptable.next = self.seg.acceptable.val();
        self.acc.at_rcv_nxt.next = self.seg.at_rcv_nxt.val();
        self.acc.out_of_order.next = self.seg.out_of_order.val();
        self.acc.take.next = self.seg.take.val();
        self.acc.ring_ready.next = self.ring.ready.val();
        self.cmp_newrel.a.next = self.w.q.val().rel;
        self.cmp_newrel.b.next = self.hop.wdata.val();

        self.lookup.src_ip.next = self.desc.src_ip.val();
        self.lookup.src_port.next = self.desc.src_port.val();
        self.lookup.dst_port.next = self.desc.dst_port.val();
        self.lookup.hash.next = self.index.hash.val();
        self.index.clock.next = self.clock.val();
        self.index.rx_ip.next = self.desc.src_ip.val();
        self.index.rx_remote_port.next = self.desc.src_port.val();
        self.index.rx_local_port.next = self.desc.dst_port.val();
        self.index.tcb_ip.next = self.w.q.val().remote_ip;
        self.index.tcb_remote_port.next = self.w.q.val().remote_port;
        self.index.tcb_local_port.next = self.w.q.val().local_port;
        // The timer scan and the promotion walk index the working TCB's tuple, the receive path the segment's.
        self.index.by_tcb.next = self.prom_active.q.val() | (self.state.q.val() == EngineState::ScanDecide);
        self.index.take.next = false;
        self.index.insert.next = (self.state.q.val() == EngineState::OpenSlot) | (self.state.q.val() == EngineState::PromIndex);
        // The promotion walk gives closed slots back to the free queue.
        self.index.recycle.next = (self.state.q.val() == EngineState::PromFix) & !self.upd.prom_open.val();
        for i in 0..LISTEN_PORTS {
            self.lookup.listen_ports[i].next = self.listen_ports[i].val();
        }
        self.lookup.now_us.next = self.timebase.now_us.val();
        self.lookup.slot_state.next = self.tcb_ram.read_data.val().state;
        self.lookup.slot_remote_ip.next = self.tcb_ram.read_data.val().remote_ip;
        self.lookup.slot_remote_port.next = self.tcb_ram.read_data.val().remote_port;
        self.lookup.slot_local_port.next = self.tcb_ram.read_data.val().local_port;
        self.word_shift.next = bit_cast::<10, 5>(self.hop.word.val()) << 5;
        // A host TCB write is refused when the TCB it leaves would carry an
        // EPOCH older than the card's (plain compare: epochs only grow; equal
        // is a copy from a primary in this epoch), and after a refused EPOCH
        // word to that slot until the next one is taken (the driver writes it first).
        self.tcb_refusing.clock.next = self.clock.val();
        self.tcb_refusing.d.next = self.tcb_refusing.q.val();
        self.refusing_id.clock.next = self.clock.val();
        self.refusing_id.d.next = self.refusing_id.q.val();
        self.written_epoch.next = self.raw.q.val().get_bits::<32>(self.epoch_shift.val().index());
        if self.hop.word.val() == self.epoch_word.val() {
            self.written_epoch.next = self.hop.wdata.val();
        }
        self.stale_tcb_write.next = (self.written_epoch.val() < self.epoch.val())
            | (self.tcb_refusing.q.val() & (self.hop.conn.val() == self.refusing_id.q.val()) & (self.hop.word.val() != self.epoch_word.val()));
        self.upd.tcb.next = self.w.q.val();
        self.upd.now_us.next = self.timebase.now_us.val();
        self.upd.rto_us.next = self.rto_us.val();
        self.upd.standby.next = self.standby.val();
        self.upd.promoting.next = self.prom_active.q.val();
        self.upd.all_released.next = self.seg.all_released.val();
        self.upd.changed.next = self.seg.changed.val();
        self.upd.ack.next = self.seg.ack.val();
        self.upd.right.next = self.seg.right.val();
        self.upd.syn_mac.next = self.desc.src_mac.val();
        self.upd.syn_ip.next = self.desc.src_ip.val();
        self.upd.syn_port.next = self.desc.src_port.val();
        self.upd.syn_dst_port.next = self.desc.dst_port.val();
        self.upd.syn_seq.next = self.desc.seq.val();
        self.upd.syn_window.next = self.desc.window.val();
        self.upd.syn_mss.next = self.desc.mss.val();
        self.upd.syn_ws_ok.next = self.desc.ws_ok.val();
        self.upd.syn_ws.next = self.desc.ws.val();
        self.upd.iss.next = self.lookup.iss.val();
        // The listening port's own holdback setting, else CTRL's.
        self.lookup.holdback_default.next = self.holdback_default.val();
        self.upd.holdback.next = self.lookup.holdback.val();
        self.upd.hold_synack.next = self.hold_synack.val();
        self.upd.slot_gen.next = self.tcb_ram.read_data.val().gen;

        // The write-back stores it in the table and in the working copy.
        self.gen_next.next = self.w.q.val().gen + 1_u32.to_bits();
        // SYN-RECEIVED with nothing ACKed yet: its SYN-ACK is held until the host releases the SYN.
        self.synack_held.next = self.w.q.val().ack_sent == self.w.q.val().irs;
        // Wide (640-bit) work happens only in the states that need it: Verilator runs
        // the kernel as written, so unconditional wide logic costs every cycle.
        self.tcb_ram.write_data.next = self.raw.q.val().into();

        // Output defaults.
        self.desc.ready.next = false;
        TxReqSource::link(&mut self.tx, &mut self.txr.tx);
        self.txr.send.next = self.state.q.val() == EngineState::TxSend;
        self.txr.icmp_off.next = self.desc.payload_off.val();
        self.txr.icmp_len.next = self.desc.payload_len.val();
        self.txr.icmp_csum.next = self.desc.icmp_csum.val();
        self.copy_req.next = false;
        self.copy_len.next = self.take.q.val();
        // The part of the segment below rcv_nxt (a retransmission overlap) is skipped; it is < 2048.
        self.ring.fb_off.next = self.desc.payload_off.val() + self.seg.skip.val();
        self.ring.conn.next = self.cur_id.q.val();
        self.ring.ring_off.next = self.ring_pos.val();
        self.hop.done.next = false;
        self.hop.rdata.next = self.hop_result.q.val();
        self.stats.next = self.no_stats.val();
        self.stat_bytes.next = 0_u16.to_bits();
        self.chlog_push.next = false;
        self.chlog_id.next = self.cur_id.q.val();
        self.open_inc.next = false;
        self.open_dec.next = false;
        self.load_tcb.next = false;
        self.advertise.next = false;
        self.promote_start.next = false;
        self.promote_end.next = false;
        self.promoting.next = self.prom_active.q.val();

        self.accept_now.next = (self.state.q.val() == EngineState::TcpAccept)
            | ((self.state.q.val() == EngineState::TcpCheck) & (self.w.q.val().state != self.st_syn_rcvd.val()));
        // Reply's TCB goes to the table once the segment's payload copy is done, so
        // whoever reads the table after it (a change record) finds the bytes below
        // rcv_nxt already on their way ahead of it.
        self.copy_settled.next = !self.copy_busy.q.val() | self.ring.done.val();
        self.write_back.next = (self.state.q.val() == EngineState::WriteBack) | (self.wb_pending.q.val() & self.copy_settled.val());
        if self.write_back.val() {
            self.wb_pending.d.next = false;
        }
        match self.state.q.val() {
            EngineState::Idle => {
                if self.hop.valid.val() {
                    self.cur_id.d.next = self.hop.conn.val();
                    self.rd_slot.next = self.hop.conn.val();
                    self.state.d.next = EngineState::HopLoad;
                } else if self.promote_req.val() & !self.prom_active.q.val() {
                    // PROMOTE: announce the service address first (gratuitous ARP,
                    // so the peers' and the switch's tables move to this card),
                    // then walk every TCB from slot 0.
                    self.promote_start.next = true;
                    self.prom_active.d.next = true;
                    // The host's TCB writes did not count: the walk recounts open TCBs
                    // and rebuilds the connection index from them.
                    self.open_count.d.next = 0_u16.to_bits();
                    self.cur_id.d.next = self.zero_slot.val();
                    self.txr.address.next = TxAddressState::Garp;
                    self.tx_next.d.next = EngineState::PromLoad;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.valid.val() {
                    self.state.d.next = EngineState::RxDispatch;
                } else if self.timebase.scan_due.val() {
                    self.cur_id.d.next = self.timebase.scan_slot.val();
                    self.rd_slot.next = self.timebase.scan_slot.val();
                    self.state.d.next = EngineState::ScanLoad;
                } else if self.txq.head_valid.val() {
                    // A silent (disabled or standby) card forgets who had bytes to send.
                    self.txq.pop.next = true;
                    if self.enable.val() & !self.standby.val() {
                        self.cur_id.d.next = self.txq.head_id.val();
                        self.rd_slot.next = self.txq.head_id.val();
                        self.state.d.next = EngineState::TxLoad;
                    }
                }
            }
            EngineState::RxDispatch => {
                // Every frame counts once; its drop reason (if any) counts too.
                self.stats.next = self.m_rx_frames.val();
                if !self.enable.val() | self.standby.val() {
                    self.state.d.next = EngineState::PopFrame;
                } else if self.desc.reason.val().any() {
                    self.stats.next = self.m_rx_frames.val() | (self.m_one.val() << self.desc.reason.val());
                    self.state.d.next = EngineState::PopFrame;
                } else if self.desc.kind.val() == self.kind_arp.val() {
                    self.stats.next = self.m_rx_frames.val() | self.m_arp_replies.val();
                    self.txr.address.next = TxAddressState::ArpReply;
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.kind.val() == self.kind_icmp.val() {
                    self.stats.next = self.m_rx_frames.val() | self.m_icmp_replies.val();
                    self.txr.address.next = TxAddressState::IcmpReply;
                    self.tx_next.d.next = EngineState::IcmpWait;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.kind.val() == self.kind_tcp.val() {
                    // The bucket's first TCB (if any) is read now; ProbeCheck sees it next cycle.
                    self.state.d.next = EngineState::NotFound;
                    if self.index.head_valid.val() {
                        self.cur_id.d.next = self.index.head_slot.val();
                        self.rd_slot.next = self.index.head_slot.val();
                        self.state.d.next = EngineState::ProbeCheck;
                    }
                } else {
                    self.stats.next = self.m_rx_frames.val() | self.m_unsupported.val();
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::ProbeCheck => {
                // Follow the bucket's chain until a TCB holds this segment's connection.
                if self.lookup.tuple_match.val() {
                    self.state.d.next = EngineState::TcpCheck;
                } else if self.index.next_valid.val() {
                    self.cur_id.d.next = self.index.next_slot.val();
                    self.rd_slot.next = self.index.next_slot.val();
                } else {
                    self.state.d.next = EngineState::NotFound;
                }
                // Load the working copy from whatever slot was read; only a match uses it.
                self.load_tcb.next = true;
            }
            EngineState::NotFound => {
                self.txr.address.next = TxAddressState::TcpToSender;
                self.txr.segment.next = TxSegmentState::NoMss;
                if self.f_rst.val() {
                    // RFC 9293 3.10.7.1: an incoming RST to no connection is discarded.
                    self.stats.next = self.m_no_connection.val();
                    self.state.d.next = EngineState::PopFrame;
                } else if self.f_syn.val() & !self.f_ack.val() & self.lookup.listening.val() {
                    if self.index.can_alloc.val() {
                        // Passive open into a free slot; its generation is read first (OpenSlot).
                        self.cur_id.d.next = self.index.alloc_slot.val();
                        self.rd_slot.next = self.index.alloc_slot.val();
                        self.index.take.next = true;
                        self.state.d.next = EngineState::OpenSlot;
                    } else {
                        self.stats.next = self.m_tcb_full.val();
                        self.state.d.next = EngineState::PopFrame;
                    }
                } else {
                    // RFC 9293 3.10.7.1: anything else to no connection is answered by RST.
                    self.stats.next = self.m_no_connection.val() | self.m_rst_sent.val();
                    self.txr.segment.next = TxSegmentState::RstAck;
                    if self.f_ack.val() {
                        self.txr.segment.next = TxSegmentState::Rst;
                    }
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::OpenSlot => {
                // A new TCB in SYN-RECEIVED, first in its bucket, answered by SYN-ACK; a
                // reused slot keeps counting its own generation (the opener reads it).
                self.stats.next = self.m_conns_opened.val();
                self.open_inc.next = true;
                self.w.d.next = self.upd.opened.val();
                self.txr.segment.next = TxSegmentState::SynAckNew;
                self.wb_next.d.next = EngineState::PopFrame;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::TxSend;
                if self.hold_synack.val() {
                    // The SYN-ACK waits for the release that covers the SYN (Reply).
                    self.state.d.next = EngineState::WriteBack;
                }
            }
            EngineState::TcpCheck => {
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::Ack;
                self.wb_next.d.next = EngineState::PopFrame;
                if self.w.q.val().state == self.st_syn_rcvd.val() {
                    if self.f_rst.val() {
                        if self.seg.in_window.val() {
                            self.w.d.next.state = self.st_closed.val();
                            self.open_dec.next = true;
                            self.state.d.next = EngineState::WriteBack;
                        } else {
                            self.state.d.next = EngineState::PopFrame;
                        }
                    } else if self.f_syn.val() & self.synack_held.val() {
                        // The SYN-ACK is held until released (no ACK before R): nothing to repeat.
                        self.state.d.next = EngineState::PopFrame;
                    } else if self.f_syn.val() {
                        // Our SYN-ACK was lost: the peer's SYN again gets it again.
                        self.txr.segment.next = TxSegmentState::SynAck;
                        self.tx_next.d.next = EngineState::PopFrame;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.f_ack.val() {
                        if self.desc.ack.val() == self.w.q.val().snd_nxt {
                            self.w.d.next.state = self.st_established.val();
                            self.w.d.next.snd_una = self.desc.ack.val();
                            self.w.d.next.retries = self.zero4.val();
                            self.state.d.next = EngineState::TcpAccept;
                        } else {
                            self.stats.next = self.m_rst_sent.val();
                            self.txr.segment.next = TxSegmentState::Rst;
                            self.tx_next.d.next = EngineState::PopFrame;
                            self.state.d.next = EngineState::TxSend;
                        }
                    } else {
                        self.stats.next = self.m_unsupported.val();
                        self.state.d.next = EngineState::PopFrame;
                    }
                }
                // Any other state takes the accept step below in this same cycle.
            }
            EngineState::TcpAccept => {
                // The accept step below the match.
            }
            EngineState::CopyIssue => {
                // The ring writer was still busy when the segment was accepted.
                self.copy_req.next = true;
                if self.ring.ready.val() {
                    self.state.d.next = EngineState::TcpFin;
                }
            }
            EngineState::TcpFin => {
                if self.seg.fin_at_rcv_nxt.val() & (self.w.q.val().state == self.st_established.val()) {
                    self.w.d.next.rcv_nxt = self.w.q.val().rcv_nxt + 1_u32.to_bits();
                    self.w.d.next.fin_rcvd = true.into();
                    self.w.d.next.state = self.st_close_wait.val();
                }
                self.state.d.next = EngineState::Reply;
            }
            EngineState::Reply => {
                // Every way here (TcpCheck, HopRelease, PromSend) already cleared the MSS option,
                // so loading a plain ACK, or the reply block's choice, keeps it cleared.
                // The TCB is written back from the next cycle on, whatever state that is.
                self.txr.segment.next = self.upd.reply_segment.val();
                self.w.d.next = self.upd.replied.val();
                self.wb_pending.d.next = true;
                self.tx_next.d.next = self.wb_next.q.val();
                self.state.d.next = self.wb_next.q.val();
                if self.upd.reply_send.val() {
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::TxSend => {
                if self.txr.sent.val() {
                    self.state.d.next = self.tx_next.q.val();
                }
            }
            EngineState::WriteBack => {
                // The write itself is below the match (`write_back`).
                self.state.d.next = self.wb_next.q.val();
            }
            EngineState::IcmpWait => {
                // The echo payload is read from the frame buffer: keep it until sent.
                if self.txr.builder_idle.val() {
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::PopFrame => {
                // The payload copy reads the frame buffer until its `done`.
                if self.copy_settled.val() {
                    self.desc.ready.next = true;
                    self.state.d.next = EngineState::Idle;
                }
            }
            EngineState::HopLoad => {
                self.raw.d.next = self.rd.val();
                self.hop_result.d.next = 0_u32.to_bits();
                if self.hop.word.val() < self.tcb_words.val() {
                    self.hop_result.d.next = self.rd.val().get_bits::<32>(self.word_shift.val().index());
                }
                self.load_tcb.next = true;
                if self.hop.kind.val() == self.hop_tcb_read.val() {
                    self.state.d.next = EngineState::HopDone;
                } else if self.hop.kind.val() == self.hop_tcb_write.val() {
                    if self.standby.val() & (self.hop.word.val() < self.tcb_words.val()) {
                        self.state.d.next = EngineState::HopWrite;
                    } else {
                        self.state.d.next = EngineState::HopDone;
                    }
                } else if self.hop.kind.val() == self.hop_release.val() {
                    self.state.d.next = EngineState::HopRelease;
                } else if self.hop.kind.val() == self.hop_tail.val() {
                    self.state.d.next = EngineState::HopTail;
                } else {
                    self.hop_result.d.next = self.tcb_ram.read_data.val().rel;
                    self.state.d.next = EngineState::HopDone;
                }
            }
            EngineState::HopRelease => {
                // R only moves forward (serial compare); the ACK and window follow in Reply.
                if self.cmp_newrel.a_before_b.val() {
                    self.w.d.next.rel = self.hop.wdata.val();
                }
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::NoMss;
                self.wb_next.d.next = EngineState::HopDone;
                self.state.d.next = EngineState::Reply;
            }
            EngineState::HopTail => {
                // The host filled the transmit ring up to stream offset wdata. It may only
                // append, and never past snd_una + the ring (bytes not yet ACKed stay).
                if (self.w.q.val().state == self.st_closed.val())
                    | self.cmp_tail.a_before_b.val()
                    | (self.tail_span.val() > self.tx_ring_bytes.val())
                {
                    self.stats.next = self.m_tail_refused.val();
                    self.state.d.next = EngineState::HopDone;
                } else {
                    self.w.d.next.tx_end = self.hop.wdata.val();
                    self.txq.push.next = true;
                    self.wb_next.d.next = EngineState::HopDone;
                    self.state.d.next = EngineState::WriteBack;
                }
            }
            EngineState::TxLoad => {
                self.load_tcb.next = true;
                self.tx_conn_base.d.next =
                    self.tx_ring_base.val() + (bit_cast::<64, CONN_BITS>(self.cur_id.q.val()) << self.tx_ring_log2.val());
                self.tx_smss.d.next = self.slot_mss.val();
                self.tx_cwnd.d.next = self.slot_mss32.val() << 2;
                if self.slot_mss.val() > self.iw_1095.val() {
                    self.tx_cwnd.d.next = (self.slot_mss32.val() << 1) + self.slot_mss32.val();
                }
                self.state.d.next = EngineState::TxDecide;
            }
            EngineState::TxDecide => {
                // Synchronized states send; the staging buffer is free once the
                // builder sent the last segment read from it.
                self.state.d.next = EngineState::Idle;
                if ((self.w.q.val().state == self.st_established.val()) | (self.w.q.val().state == self.st_close_wait.val()))
                    & self.txseg.send.val()
                {
                    self.state.d.next = EngineState::TxDecide;
                    if self.fetch_idle.val() & self.txr.builder_idle.val() {
                        self.state.d.next = EngineState::TxStart;
                    }
                }
            }
            EngineState::TxStart => {
                self.fetch_start.next = true;
                self.state.d.next = EngineState::TxStaged;
            }
            EngineState::TxStaged => {
                if self.fetch_staged.val() {
                    if self.fetch_err.val() {
                        // Host memory refused a read: nothing is sent, snd_nxt stays.
                        self.stats.next = self.m_dma_errors.val();
                        self.state.d.next = EngineState::Idle;
                    } else {
                        self.w.d.next.snd_nxt = self.txseg.new_snd_nxt.val();
                        self.w.d.next.snd_max = self.txseg.new_snd_max.val();
                        // RFC 6298 §5.1: the first byte in flight starts the timer.
                        if self.w.q.val().snd_una == self.w.q.val().snd_max {
                            self.w.d.next.timer_due = self.timebase.now_us.val() + self.rto_us.val();
                        }
                        self.txr.address.next = TxAddressState::TcpToPeer;
                        self.txr.segment.next = TxSegmentState::Data;
                        self.advertise.next = true;
                        // Come back for the next segment.
                        self.txq.push.next = true;
                        self.wb_next.d.next = EngineState::Idle;
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                    }
                }
            }
            EngineState::HopWrite => {
                // Standby: the host installs a replicated TCB word by word (no change-log entry).
                if self.stale_tcb_write.val() {
                    // Counted once per refused TCB: at its EPOCH word, or at a
                    // lone word into a slot of an older epoch.
                    if (self.hop.word.val() == self.epoch_word.val())
                        | !self.tcb_refusing.q.val()
                        | (self.hop.conn.val() != self.refusing_id.q.val())
                    {
                        self.stats.next = self.m_stale_epoch.val();
                    }
                } else {
                    self.tcb_ram.write_enable.next = true;
                    self.tcb_ram.write_data.next = ((self.raw.q.val() & !(self.word_ones.val() << self.word_shift.val()))
                        | (bit_cast::<TCB_W, 32>(self.hop.wdata.val()) << self.word_shift.val()))
                    .into();
                }
                if self.hop.word.val() == self.epoch_word.val() {
                    self.tcb_refusing.d.next = self.stale_tcb_write.val();
                    self.refusing_id.d.next = self.hop.conn.val();
                }
                self.state.d.next = EngineState::HopDone;
            }
            EngineState::HopDone => {
                self.hop.done.next = true;
                if !self.hop.valid.val() {
                    self.state.d.next = EngineState::Idle;
                }
            }
            EngineState::ScanLoad => {
                self.load_tcb.next = true;
                self.state.d.next = EngineState::ScanDecide;
            }
            EngineState::ScanDecide => {
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::AckWindow;
                self.wb_next.d.next = EngineState::ScanNext;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::ScanNext;
                if self.upd.retx_give_up.val() {
                    // The peer is gone: give the slot back.
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.state.d.next = EngineState::WriteBack;
                } else if self.upd.retx_due.val() & self.upd.retx_data.val() {
                    // Data: back to snd_una; the send queue sends the segment again.
                    self.stats.next = self.m_retransmits.val();
                    self.w.d.next = self.upd.retransmitted.val();
                    self.txq.push.next = true;
                    self.state.d.next = EngineState::WriteBack;
                } else if self.upd.retx_due.val() {
                    self.stats.next = self.m_retransmits.val();
                    self.w.d.next = self.upd.retransmitted.val();
                    self.txr.segment.next = self.upd.retx_segment.val();
                    // A FIN|ACK advertises the current edge (a SYN-ACK always offers the ring).
                    self.advertise.next = self.w.q.val().state == self.st_last_ack.val();
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::PromLoad => {
                // The index is cleared first (2N cycles from PROMOTE).
                if !self.index.busy.val() {
                    self.load_tcb.next = true;
                    self.state.d.next = EngineState::PromFix;
                }
            }
            EngineState::PromFix => {
                self.state.d.next = EngineState::PromNext;
                if self.upd.prom_open.val() {
                    self.open_inc.next = true;
                    self.w.d.next = self.upd.promoted.val();
                    self.state.d.next = EngineState::PromIndex;
                }
            }
            EngineState::PromIndex => {
                // The bucket of the TCB's tuple was read in PromFix: the TCB goes first in it.
                self.state.d.next = EngineState::PromSend;
            }
            EngineState::PromSend => {
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::Ack;
                self.wb_next.d.next = EngineState::PromNext;
                if self.dup_acks.val() & (self.w.q.val().state == self.st_established.val()) {
                    // One ACK at R, then three identical ones, so the peer fast-retransmits
                    // from R instead of waiting for its RTO.
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
                self.rd_slot.next = self.cur_id.q.val() + self.one_slot.val();
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
                self.timebase.scan_step.next = true;
                self.state.d.next = EngineState::Idle;
            }
            _ => {
                self.state.d.next = EngineState::Idle;
            }
        }

        // RFC 9293 3.10.7.4 steps 1-6 in one cycle: TcpCheck of a synchronized TCB,
        // or TcpAccept after the ACK that completed a handshake. The transmit request
        // already holds TcpCheck's plain ACK; a segment sent from here is written back.
        if self.accept_now.val() {
            self.tx_next.d.next = EngineState::WriteBack;
            self.state.d.next = self.acc.goto.val();
            self.stats.next = self.acc.stats.val();
            self.advertise.next = self.acc.advertise.val();
            self.open_dec.next = self.acc.close.val();
            if self.acc.close.val() {
                self.w.d.next.state = self.st_closed.val();
            }
            if self.acc.una_moves.val() {
                self.w.d.next.snd_una = self.desc.ack.val();
                // RFC 6298 §5.3: new data acknowledged restarts the timer, without back-off.
                if (self.w.q.val().state == self.st_established.val()) | (self.w.q.val().state == self.st_close_wait.val()) {
                    self.w.d.next.timer_due = self.timebase.now_us.val() + self.rto_us.val();
                    self.w.d.next.retries = self.zero4.val();
                }
            }
            if self.acc.ack_taken.val() {
                self.w.d.next.snd_wnd = self.desc.window.val();
                // The ACK may have opened the window for bytes that wait.
                self.txq.push.next = self.tx_pending.val();
            }
            self.copy_req.next = self.acc.copy.val();
            self.copy_len.next = self.acc.take_len.val();
            self.take.d.next = self.acc.take_len.val();
        }
        // The copy runs while the FIN step, the reply and the write-back go on; the
        // frame is popped only after its `done` (PopFrame). fb_off skips the part of
        // the segment below rcv_nxt.
        self.ring.valid.next = self.copy_req.val();
        self.ring.len.next = self.copy_len.val();
        self.fb_sel_ring.next = self.copy_busy.q.val() | self.copy_req.val();
        if self.copy_req.val() & self.ring.ready.val() {
            self.stats.next = self.m_payload.val();
            self.stat_bytes.next = bit_cast::<16, 11>(self.copy_len.val());
            self.w.d.next.rcv_nxt = self.w.q.val().rcv_nxt + bit_cast::<32, 11>(self.copy_len.val());
            self.copy_busy.d.next = true;
        } else if self.ring.done.val() {
            self.copy_busy.d.next = false;
        }
        if self.write_back.val() {
            self.tcb_ram.write_enable.next = true;
            // Padding is stored as zero; `gen` counts this write; EPOCH stamps the writer.
            self.tcb_ram.write_data.next = self.w.q.val();
            self.tcb_ram.write_data.next.pad_w0_6 = self.zero2.val();
            self.tcb_ram.write_data.next.pad_w0_12 = self.zero4.val();
            self.tcb_ram.write_data.next.pad_w14_24 = 0_u8.to_bits(); // window scaling: word 14 bits 23:16 are the shifts
            self.tcb_ram.write_data.next.gen = self.gen_next.val();
            self.tcb_ram.write_data.next.epoch = self.epoch.val();
            self.w.d.next.gen = self.gen_next.val();
            self.chlog_push.next = true;
        }
        // One place loads the working TCB from the block RAM's read data.
        self.tcb_ram.read_address.next = self.rd_slot.val();
        self.index.slot.next = self.rd_slot.val();
        // A connection that closes leaves the index, and its slot is free again.
        self.index.remove.next = self.open_dec.val();
        self.index.rebuild.next = self.promote_start.val();
        if self.load_tcb.val() {
            self.w.d.next = self.tcb_ram.read_data.val();
        }
        // Every segment sent records the ACK and right edge it carries (the edge never moves left).
        if self.advertise.val() {
            self.w.d.next.ack_sent = self.seg.ack.val();
            self.w.d.next.rcv_adv = self.seg.right.val();
        }
        if self.open_inc.val() & !self.open_dec.val() {
            self.open_count.d.next = self.open_count.q.val() + 1_u16.to_bits();
        } else if self.open_dec.val() & !self.open_inc.val() {
            self.open_count.d.next = self.open_count.q.val() - 1_u16.to_bits();
        }
        self.stat_inc.next = self.stats.val();
        self.now_us.next = self.timebase.now_us.val();
        self.open_conns.next = self.open_count.q.val();
        self.idle.next = (self.state.q.val() == EngineState::Idle)
            & !self.timebase.scan_due.val()
            & !self.desc.valid.val()
            & !self.hop.valid.val()
            & !self.promote_req.val()
            & !self.txq.head_valid.val()
            & self.txq.settled.val();
        // Every table write, for the event writer's copy of the table.
        self.tcb_we.next = self.tcb_ram.write_enable.val();
        self.tcb_waddr.next = self.tcb_ram.write_address.val();
        self.tcb_wdata.next = self.tcb_ram.write_data.val().into();
    }
}
