//! The engine's kernel: defaults first, then one `match` on the state; the
//! state groups and field prefixes are listed in the module's legend.
use super::{EngineState, TcbEngine, TCB_W};
use crate::regbus::LISTEN_PORTS;
use rust_hdl::prelude::*;

impl<const CONN_BITS: usize> Logic for TcbEngine<CONN_BITS> {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, tx_next, wb_next, cur_id,
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

        self.timebase.clock.next = self.clock.val();
        self.timebase.tick_us.next = self.tick_us.val();
        self.timebase.scan_step.next = false;

        // Segment facts, all from the descriptor and the working TCB.
        self.f_fin.next = self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.f_syn.next = self.desc.flags.val().get_bit(self.bit_syn.val().index());
        self.f_rst.next = self.desc.flags.val().get_bit(self.bit_rst.val().index());
        self.f_ack.next = self.desc.flags.val().get_bit(self.bit_ack.val().index());
        self.seg.seq.next = self.desc.seq.val();
        self.seg.payload_len.next = self.desc.payload_len.val();
        // Children's inputs come from ports, registers and children's outputs only,
        // never from this kernel's Locals: Verilator would see a combinational loop.
        self.seg.syn.next = self.desc.flags.val().get_bit(self.bit_syn.val().index());
        self.seg.fin.next = self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.seg.rcv_nxt.next = self.w_rcv_nxt.q.val();
        self.seg.rcv_adv.next = self.w_rcv_adv.q.val();
        self.seg.rel.next = self.w_rel.q.val();
        self.seg.holdback.next = self.w_holdback.q.val().any();
        self.seg.ack_sent.next = self.w_ack_sent.q.val();
        // Stream offset of rcv_nxt (first payload byte is irs+1), modulo the ring size.
        self.ring_pos.next = (self.w_rcv_nxt.q.val().get_bits::<16>(0) - self.w_irs.q.val().get_bits::<16>(0) - 1_u16.to_bits()) & self.ring_mask.val();
        self.ack_minus_una.next = self.desc.ack.val() - self.w_snd_una.q.val();
        self.nxt_minus_una.next = self.w_snd_nxt.q.val() - self.w_snd_una.q.val();
        self.max_minus_una.next = self.w_snd_max.q.val() - self.w_snd_una.q.val();
        self.cmp_newrel.a.next = self.w_rel.q.val();
        self.cmp_newrel.b.next = self.hop.wdata.val();
        self.cmp_timer.a.next = self.timebase.now_us.val();
        self.cmp_timer.b.next = self.w_timer_due.q.val();
        self.backoff.next = self.rto_us.val() << self.w_retries.q.val();

        self.lookup.src_ip.next = self.desc.src_ip.val();
        self.lookup.src_port.next = self.desc.src_port.val();
        self.lookup.dst_port.next = self.desc.dst_port.val();
        for i in 0..LISTEN_PORTS {
            self.lookup.listen_ports[i].next = self.listen_ports[i].val();
        }
        self.lookup.now_us.next = self.timebase.now_us.val();
        self.lookup.slot_state.next = self.tcb_ram.read_data.val().get_bits::<4>(self.o_state.val().index());
        self.lookup.slot_remote_ip.next = self.tcb_ram.read_data.val().get_bits::<32>(self.o_remote_ip.val().index());
        self.lookup.slot_remote_port.next = self.tcb_ram.read_data.val().get_bits::<16>(self.o_remote_port.val().index());
        self.lookup.slot_local_port.next = self.tcb_ram.read_data.val().get_bits::<16>(self.o_local_port.val().index());
        self.word_shift.next = bit_cast::<10, 5>(self.hop.word.val()) << 5;

        // Computed in 32 bits: inside the 640-bit pack the carry would spill into the next field.
        self.gen_next.next = self.w_gen.q.val() + 1_u32.to_bits();
        // Standby is silent, except for the promotion walk that ends it.
        self.silent.next = self.standby.val() & !self.prom_active.q.val();
        // SYN-RECEIVED with nothing ACKed yet: its SYN-ACK is held until the host releases the SYN.
        self.synack_held.next = self.w_ack_sent.q.val() == self.w_irs.q.val();
        // Wide (640-bit) work happens only in the states that need it: Verilator runs
        // the kernel as written, so unconditional wide logic costs every cycle.
        self.tcb_ram.write_data.next = self.raw.q.val();

        // Output defaults.
        self.desc.ready.next = false;
        self.tx.valid.next = false;
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
        self.tx.icmp_off.next = self.desc.payload_off.val();
        self.tx.icmp_len.next = self.desc.payload_len.val();
        self.tx.icmp_csum.next = self.desc.icmp_csum.val();
        self.ring.valid.next = false;
        // The part of the segment below rcv_nxt (a retransmission overlap) is skipped; it is < 2048.
        self.ring.fb_off.next = self.desc.payload_off.val() + self.seg.skip.val();
        self.ring.len.next = self.take.q.val();
        self.ring.conn.next = self.cur_id.q.val();
        self.ring.ring_off.next = self.ring_pos.val();
        self.fb_sel_ring.next = false;
        self.hop.done.next = false;
        self.hop.rdata.next = self.hop_result.q.val();
        self.stats.next = self.no_stats.val();
        self.stat_bytes.next = 0_u16.to_bits();
        self.chlog_push.next = false;
        self.chlog_id.next = self.cur_id.q.val();
        self.open_inc.next = false;
        self.open_dec.next = false;
        self.load_tcb.next = false;
        self.to_peer.next = false;
        self.promote_start.next = false;
        self.promote_end.next = false;
        self.promoting.next = self.prom_active.q.val();

        match self.state.q.val() {
            EngineState::Idle => {
                if self.hop.valid.val() {
                    self.cur_id.d.next = self.hop.conn.val();
                    self.tcb_ram.read_address.next = self.hop.conn.val();
                    self.state.d.next = EngineState::HopLoad;
                } else if self.promote_req.val() & !self.prom_active.q.val() {
                    // PROMOTE: announce the service address first (gratuitous ARP,
                    // so the peers' and the switch's tables move to this card),
                    // then walk every TCB from slot 0.
                    self.promote_start.next = true;
                    self.prom_active.d.next = true;
                    // The host's TCB writes did not count: the walk recounts open TCBs.
                    self.open_count.d.next = 0_u16.to_bits();
                    self.cur_id.d.next = self.zero_slot.val();
                    self.t_kind.d.next = self.kind_garp.val();
                    self.t_dst_mac.d.next = self.bcast_mac.val();
                    self.tx_next.d.next = EngineState::PromLoad;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.valid.val() {
                    self.state.d.next = EngineState::RxDispatch;
                } else if self.timebase.scan_due.val() {
                    self.cur_id.d.next = self.timebase.scan_slot.val();
                    self.tcb_ram.read_address.next = self.timebase.scan_slot.val();
                    self.state.d.next = EngineState::ScanLoad;
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
                    self.t_kind.d.next = self.kind_arp.val();
                    self.t_dst_mac.d.next = self.desc.src_mac.val();
                    self.t_dst_ip.d.next = self.desc.src_ip.val();
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.kind.val() == self.kind_icmp.val() {
                    self.stats.next = self.m_rx_frames.val() | self.m_icmp_replies.val();
                    self.t_kind.d.next = self.kind_icmp.val();
                    self.t_dst_mac.d.next = self.desc.src_mac.val();
                    self.t_dst_ip.d.next = self.desc.src_ip.val();
                    self.tx_next.d.next = EngineState::IcmpWait;
                    self.state.d.next = EngineState::TxSend;
                } else if self.desc.kind.val() == self.kind_tcp.val() {
                    // Probe the first slot now; ProbeCheck sees its data next cycle.
                    self.probe_slot.d.next = self.lookup.first_slot.val();
                    self.cur_id.d.next = self.lookup.first_slot.val();
                    self.tcb_ram.read_address.next = self.lookup.first_slot.val();
                    self.probe_left.d.next = self.probes.val();
                    self.free_found.d.next = false;
                    self.state.d.next = EngineState::ProbeCheck;
                } else {
                    self.stats.next = self.m_rx_frames.val() | self.m_unsupported.val();
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::ProbeCheck => {
                if self.lookup.tuple_match.val() {
                    self.cur_id.d.next = self.probe_slot.q.val();
                    self.state.d.next = EngineState::TcpCheck;
                } else {
                    if self.lookup.slot_free.val() & !self.free_found.q.val() {
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
                self.t_dst_mac.d.next = self.desc.src_mac.val();
                self.t_dst_ip.d.next = self.desc.src_ip.val();
                self.t_src_port.d.next = self.desc.dst_port.val();
                self.t_dst_port.d.next = self.desc.src_port.val();
                self.t_with_mss.d.next = false;
                if self.f_rst.val() {
                    // RFC 9293 3.10.7.1: an incoming RST to no connection is discarded.
                    self.stats.next = self.m_no_connection.val();
                    self.state.d.next = EngineState::PopFrame;
                } else if self.f_syn.val() & !self.f_ack.val() & self.lookup.listening.val() {
                    if self.free_found.q.val() {
                        // Passive open: a new TCB in SYN-RECEIVED, answered by SYN-ACK.
                        self.stats.next = self.m_conns_opened.val();
                        self.open_inc.next = true;
                        self.cur_id.d.next = self.free_slot.q.val();
                        self.w_state.d.next = self.st_syn_rcvd.val();
                        self.w_holdback.d.next = self.holdback_default.val().into();
                        self.w_fin_rcvd.d.next = false.into();
                        self.w_retries.d.next = self.zero4.val();
                        self.w_peer_mss.d.next = self.desc.mss.val();
                        if !self.desc.mss.val().any() {
                            self.w_peer_mss.d.next = self.default_mss.val();
                        }
                        self.w_local_port.d.next = self.desc.dst_port.val();
                        self.w_remote_port.d.next = self.desc.src_port.val();
                        self.w_remote_ip.d.next = self.desc.src_ip.val();
                        self.w_mac_lo.d.next = self.desc.src_mac.val().get_bits::<32>(0);
                        self.w_mac_hi.d.next = self.desc.src_mac.val().get_bits::<16>(32);
                        self.w_peer_link.d.next = self.no_link.val();
                        self.w_irs.d.next = self.desc.seq.val();
                        self.w_rcv_nxt.d.next = self.desc.seq.val() + 1_u32.to_bits();
                        self.w_rel.d.next = self.desc.seq.val() + 1_u32.to_bits();
                        self.w_rcv_adv.d.next = self.desc.seq.val() + 1_u32.to_bits() + self.ring_bytes.val();
                        self.w_ack_sent.d.next = self.desc.seq.val() + 1_u32.to_bits();
                        self.w_iss.d.next = self.lookup.iss.val();
                        self.w_snd_una.d.next = self.lookup.iss.val();
                        self.w_snd_nxt.d.next = self.lookup.iss.val() + 1_u32.to_bits();
                        self.w_snd_max.d.next = self.lookup.iss.val() + 1_u32.to_bits();
                        self.w_snd_wnd.d.next = self.desc.window.val();
                        self.w_timer_due.d.next = self.timebase.now_us.val() + self.rto_us.val();
                        self.w_seq_offset.d.next = 0_u32.to_bits();
                        self.w_tx_end.d.next = 0_u32.to_bits();
                        self.w_gen.d.next = self.free_gen.q.val();
                        self.t_seq.d.next = self.lookup.iss.val();
                        self.t_ack.d.next = self.desc.seq.val() + 1_u32.to_bits();
                        self.t_flags.d.next = self.flags_syn_ack.val();
                        self.t_window.d.next = self.syn_window.val();
                        self.t_with_mss.d.next = true;
                        self.wb_next.d.next = EngineState::PopFrame;
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                        if self.hold_synack.val() {
                            // Hold-synack: R starts at irs and nothing is ACKed; the SYN-ACK
                            // (which ACKs irs+1) waits for the release that covers the SYN (Reply).
                            self.w_rel.d.next = self.desc.seq.val();
                            self.w_ack_sent.d.next = self.desc.seq.val();
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
                        self.t_seq.d.next = self.desc.ack.val();
                        self.t_ack.d.next = 0_u32.to_bits();
                        self.t_flags.d.next = self.flags_rst.val();
                    } else {
                        self.t_seq.d.next = 0_u32.to_bits();
                        self.t_ack.d.next = self.desc.seq.val() + self.seg.seg_len.val();
                        self.t_flags.d.next = self.flags_rst_ack.val();
                    }
                    self.t_window.d.next = 0_u16.to_bits();
                    self.tx_next.d.next = EngineState::PopFrame;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::TcpCheck => {
                self.to_peer.next = true;
                self.t_with_mss.d.next = false;
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.seg.ack.val();
                self.t_flags.d.next = self.flags_ack.val();
                self.t_window.d.next = self.seg.window.val();
                self.wb_next.d.next = EngineState::PopFrame;
                if self.w_state.q.val() == self.st_syn_rcvd.val() {
                    if self.f_rst.val() {
                        if self.seg.in_window.val() {
                            self.w_state.d.next = self.st_closed.val();
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
                        self.t_seq.d.next = self.w_iss.q.val();
                        self.t_flags.d.next = self.flags_syn_ack.val();
                        self.t_window.d.next = self.syn_window.val();
                        self.t_with_mss.d.next = true;
                        self.tx_next.d.next = EngineState::PopFrame;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.f_ack.val() {
                        if self.desc.ack.val() == self.w_snd_nxt.q.val() {
                            self.w_state.d.next = self.st_established.val();
                            self.w_snd_una.d.next = self.desc.ack.val();
                            self.w_retries.d.next = self.zero4.val();
                            self.state.d.next = EngineState::TcpAccept;
                        } else {
                            self.stats.next = self.m_rst_sent.val();
                            self.t_seq.d.next = self.desc.ack.val();
                            self.t_ack.d.next = 0_u32.to_bits();
                            self.t_flags.d.next = self.flags_rst.val();
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
                if !self.seg.acceptable.val() {
                    self.stats.next = self.m_out_of_window.val();
                    if self.f_rst.val() {
                        self.state.d.next = EngineState::PopFrame;
                    } else {
                        self.w_ack_sent.d.next = self.seg.ack.val();
                        self.w_rcv_adv.d.next = self.seg.right.val();
                        self.state.d.next = EngineState::TxSend;
                    }
                } else if self.f_rst.val() {
                    if self.seg.at_rcv_nxt.val() {
                        self.w_state.d.next = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else {
                        // RFC 5961 3.2: an in-window RST not at rcv_nxt gets a challenge ACK.
                        self.w_ack_sent.d.next = self.seg.ack.val();
                        self.w_rcv_adv.d.next = self.seg.right.val();
                        self.state.d.next = EngineState::TxSend;
                    }
                } else if self.f_syn.val() {
                    // RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK.
                    self.w_ack_sent.d.next = self.seg.ack.val();
                    self.w_rcv_adv.d.next = self.seg.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else if !self.f_ack.val() {
                    self.stats.next = self.m_unsupported.val();
                    self.state.d.next = EngineState::PopFrame;
                } else if self.max_minus_una.val() < self.ack_minus_una.val() {
                    // ACK of something we never sent: answer with an ACK, drop.
                    self.stats.next = self.m_out_of_window.val();
                    self.w_ack_sent.d.next = self.seg.ack.val();
                    self.w_rcv_adv.d.next = self.seg.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else {
                    if (self.ack_minus_una.val() != 0_u32.to_bits()) & !(self.nxt_minus_una.val() < self.ack_minus_una.val()) {
                        self.w_snd_una.d.next = self.desc.ack.val();
                    }
                    self.w_snd_wnd.d.next = self.desc.window.val();
                    if (self.w_state.q.val() == self.st_last_ack.val()) & (self.desc.ack.val() == self.w_snd_nxt.q.val()) {
                        self.w_state.d.next = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else {
                        self.state.d.next = EngineState::TcpData;
                    }
                }
            }
            EngineState::TcpData => {
                self.take.d.next = self.seg.take.val().get_bits::<11>(0);
                if (self.w_state.q.val() == self.st_established.val()) & (self.desc.payload_len.val().any() | self.f_fin.val()) {
                    if self.seg.out_of_order.val() {
                        // Data or FIN beyond rcv_nxt: drop it and repeat our ACK (a duplicate ACK).
                        self.stats.next = self.m_out_of_order.val();
                        self.w_ack_sent.d.next = self.seg.ack.val();
                        self.w_rcv_adv.d.next = self.seg.right.val();
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.seg.take.val().any() {
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
                self.ring.valid.next = true;
                if self.ring.ready.val() {
                    self.stats.next = self.m_payload.val();
                    self.stat_bytes.next = bit_cast::<16, 11>(self.take.q.val());
                    self.w_rcv_nxt.d.next = self.w_rcv_nxt.q.val() + bit_cast::<32, 11>(self.take.q.val());
                    self.state.d.next = EngineState::CopyWait;
                }
            }
            EngineState::CopyWait => {
                self.fb_sel_ring.next = true;
                if self.ring.done.val() {
                    self.state.d.next = EngineState::TcpFin;
                }
            }
            EngineState::TcpFin => {
                if self.seg.fin_at_rcv_nxt.val() & (self.w_state.q.val() == self.st_established.val()) {
                    self.w_rcv_nxt.d.next = self.w_rcv_nxt.q.val() + 1_u32.to_bits();
                    self.w_fin_rcvd.d.next = true.into();
                    self.w_state.d.next = self.st_close_wait.val();
                }
                self.state.d.next = EngineState::Reply;
            }
            EngineState::Reply => {
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.seg.ack.val();
                self.t_window.d.next = self.seg.window.val();
                self.t_flags.d.next = self.flags_ack.val();
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::WriteBack;
                if self.silent.val() {
                    // A standby card is silent on the wire (it only stores replicated state).
                    self.state.d.next = EngineState::WriteBack;
                } else if (self.w_state.q.val() == self.st_syn_rcvd.val()) & self.synack_held.val() & (self.w_rel.q.val() != self.w_irs.q.val()) {
                    // R now covers the peer's SYN, so the held SYN-ACK may ACK irs+1;
                    // its retransmission timer starts now.
                    self.t_seq.d.next = self.w_iss.q.val();
                    self.t_flags.d.next = self.flags_syn_ack.val();
                    self.t_window.d.next = self.syn_window.val();
                    self.t_with_mss.d.next = true;
                    self.w_ack_sent.d.next = self.seg.ack.val();
                    self.w_timer_due.d.next = self.timebase.now_us.val() + self.rto_us.val();
                    self.w_retries.d.next = self.zero4.val();
                    self.state.d.next = EngineState::TxSend;
                } else if (self.w_state.q.val() == self.st_close_wait.val()) & self.seg.all_released.val() {
                    // Everything up to and including the peer's FIN is released: close our side.
                    self.t_flags.d.next = self.flags_fin_ack.val();
                    self.w_snd_nxt.d.next = self.w_snd_nxt.q.val() + 1_u32.to_bits();
                    self.w_snd_max.d.next = self.w_snd_nxt.q.val() + 1_u32.to_bits();
                    self.w_state.d.next = self.st_last_ack.val();
                    self.w_timer_due.d.next = self.timebase.now_us.val() + self.rto_us.val();
                    self.w_retries.d.next = self.zero4.val();
                    self.w_ack_sent.d.next = self.seg.ack.val();
                    self.w_rcv_adv.d.next = self.seg.right.val();
                    self.state.d.next = EngineState::TxSend;
                } else if ((self.w_state.q.val() == self.st_established.val()) | (self.w_state.q.val() == self.st_close_wait.val()))
                    & self.seg.changed.val()
                {
                    self.w_ack_sent.d.next = self.seg.ack.val();
                    self.w_rcv_adv.d.next = self.seg.right.val();
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::TxSend => {
                self.tx.valid.next = true;
                if self.tx.ready.val() {
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
                if !self.tx.busy.val() & self.tx.ready.val() {
                    self.state.d.next = EngineState::PopFrame;
                }
            }
            EngineState::PopFrame => {
                self.desc.ready.next = true;
                self.state.d.next = EngineState::Idle;
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
                } else {
                    self.hop_result.d.next = self.rd.val().get_bits::<32>(self.o_rel.val().index());
                    self.state.d.next = EngineState::HopDone;
                }
            }
            EngineState::HopRelease => {
                // R only moves forward (serial compare); the ACK and window follow in Reply.
                if self.cmp_newrel.a_before_b.val() {
                    self.w_rel.d.next = self.hop.wdata.val();
                }
                self.to_peer.next = true;
                self.t_with_mss.d.next = false;
                self.wb_next.d.next = EngineState::HopDone;
                self.state.d.next = EngineState::Reply;
            }
            EngineState::HopWrite => {
                // Standby: the host installs a replicated TCB word by word (no change-log entry).
                self.tcb_ram.write_enable.next = true;
                self.tcb_ram.write_data.next = (self.raw.q.val() & !(self.word_ones.val() << self.word_shift.val()))
                    | (bit_cast::<TCB_W, 32>(self.hop.wdata.val()) << self.word_shift.val());
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
                self.to_peer.next = true;
                self.t_ack.d.next = self.seg.ack.val();
                self.t_window.d.next = self.seg.window.val();
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
                        self.w_timer_due.d.next = self.timebase.now_us.val() + self.backoff.val();
                        if self.w_state.q.val() == self.st_syn_rcvd.val() {
                            // A SYN-ACK always offers the ring, as the first one did (rcv_adv).
                            self.t_seq.d.next = self.w_iss.q.val();
                            self.t_flags.d.next = self.flags_syn_ack.val();
                            self.t_window.d.next = self.syn_window.val();
                            self.t_with_mss.d.next = true;
                        } else {
                            self.t_seq.d.next = self.w_snd_nxt.q.val() - 1_u32.to_bits();
                            self.t_flags.d.next = self.flags_fin_ack.val();
                            self.t_with_mss.d.next = false;
                            // The FIN|ACK advertises the current edge: record it (the edge never moves left).
                            self.w_ack_sent.d.next = self.seg.ack.val();
                            self.w_rcv_adv.d.next = self.seg.right.val();
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
                    self.w_rcv_adv.d.next = self.seg.right.val();
                    if self.w_state.q.val() == self.st_syn_rcvd.val() {
                        // The primary's timer_due is in its own clock: re-arm on ours.
                        self.w_timer_due.d.next = self.timebase.now_us.val() + self.rto_us.val();
                    } else {
                        // Invariant 3: resume from the released point R, not the primary's
                        // rcv_nxt; bytes above R were never ACKed and come again.
                        self.w_rcv_nxt.d.next = self.w_rel.q.val();
                        self.w_ack_sent.d.next = self.w_rel.q.val();
                        if (self.w_state.q.val() == self.st_close_wait.val()) & !self.seg.all_released.val() {
                            // The peer's FIN lies above R: it comes again.
                            self.w_state.d.next = self.st_established.val();
                            self.w_fin_rcvd.d.next = false.into();
                        }
                        if self.w_state.q.val() == self.st_last_ack.val() {
                            self.w_timer_due.d.next = self.timebase.now_us.val() + self.rto_us.val();
                        }
                    }
                    self.state.d.next = EngineState::PromSend;
                }
            }
            EngineState::PromSend => {
                self.to_peer.next = true;
                self.t_with_mss.d.next = false;
                self.t_seq.d.next = self.w_snd_nxt.q.val();
                self.t_ack.d.next = self.seg.ack.val();
                self.t_flags.d.next = self.flags_ack.val();
                self.t_window.d.next = self.seg.window.val();
                self.wb_next.d.next = EngineState::PromNext;
                if self.dup_acks.val() & (self.w_state.q.val() == self.st_established.val()) {
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
                self.timebase.scan_step.next = true;
                self.state.d.next = EngineState::Idle;
            }
            _ => {
                self.state.d.next = EngineState::Idle;
            }
        }

        // Replies on a known connection go to its recorded peer.
        if self.to_peer.val() {
            self.t_kind.d.next = self.kind_tcp.val();
            self.t_dst_mac.d.next = (bit_cast::<48, 16>(self.w_mac_hi.q.val()) << 32) | bit_cast::<48, 32>(self.w_mac_lo.q.val());
            self.t_dst_ip.d.next = self.w_remote_ip.q.val();
            self.t_src_port.d.next = self.w_local_port.q.val();
            self.t_dst_port.d.next = self.w_remote_port.q.val();
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
        self.now_us.next = self.timebase.now_us.val();
        self.open_conns.next = self.open_count.q.val();
        self.idle.next = (self.state.q.val() == EngineState::Idle)
            & !self.timebase.scan_due.val()
            & !self.desc.valid.val()
            & !self.hop.valid.val()
            & !self.promote_req.val();
    }
}
