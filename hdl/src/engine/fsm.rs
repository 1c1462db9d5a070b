//! The engine's kernel: defaults first, then one `match` on the state; the
//! state groups and field prefixes are listed in the module's legend.
use super::tx_request::{TxAddressState, TxSegmentState};
use super::reassembly::HOLE_SLOTS;
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
            tx_conn_base, dsack_on, dsack_start, dsack_end, half_count, cookie_mss,
            relaying, relay_x, pulling, step_follow, step_abort, step_unlink, step_tx_end, step_rel,
            step_irs, step_close, relay_closing, tx_conn_log2, tx_turn
        );
        self.tcb_ram.read_clock.next = self.clock.val();
        self.tcb_ram.write_clock.next = self.clock.val();
        self.rd_slot.next = self.cur_id.q.val();
        self.tcb_ram.write_address.next = self.cur_id.q.val();
        self.tcb_ram.write_enable.next = false;
        self.rd.next = self.tcb_ram.read_data.val().into();

        // The send path: the segmenter sees the working TCB (snd_tail is where the
        // host's bytes end), the TX table's entry (read with the TCB: SMSS, cwnd,
        // timer, RTO, a resend or probe asked for) and the connection's ring.
        self.txseg.iss.next = self.w.q.val().iss;
        self.txseg.snd_una.next = self.w.q.val().snd_una;
        // The SACK store moves snd_nxt past SACKed bytes in the walk after a
        // timeout and answers where a resend starts and whether it goes.
        self.txseg.snd_nxt.next = self.sndsack.walk_nxt.val();
        self.txseg.rs_seq.next = self.sndsack.rs_seq.val();
        self.txseg.rs_ok.next = self.sndsack.rs_ok.val();
        self.txseg.cap.next = self.sndsack.cap.val();
        self.sndsack.snd_una.next = self.w.q.val().snd_una;
        self.sndsack.snd_nxt.next = self.w.q.val().snd_nxt;
        self.sndsack.snd_max.next = self.w.q.val().snd_max;
        self.sndsack.resend.next = self.txt.resend.val();
        self.sndsack.probe.next = self.txt.probe.val();
        self.sndsack.feed.next = false;
        self.sndsack.feed_una.next = self.txack.new_snd_una.val();
        self.sndsack.feed_snd_max.next = self.w.q.val().snd_max;
        self.sndsack.feed_count.next = self.desc.sack_count.val();
        self.sndsack.feed_blocks.next = self.desc.sack_blocks.val();
        self.sndsack.rxt_we.next = false;
        self.sndsack.rxt_value.next = self.w.q.val().snd_una;
        self.tx_seg_end.next = self.txseg.seg_seq.val() + bit_cast::<32, 16>(self.txseg.seg_len.val());
        self.sack_resend.next = (self.txack.verdict.val() == self.verdict_duplicate.val())
            & self.txt.in_recovery.val()
            & self.w.q.val().sack_ok.any()
            & self.desc.sack_count.val().any();
        self.txseg.snd_max.next = self.w.q.val().snd_max;
        // Send holdback: with the connection's send_hold set, bytes end at its send limit L.
        self.txseg.snd_tail.next = self.sendlim.snd_tail.val();
        // The peer's window in bytes is snd_wnd << snd_wscale (RFC 7323 §2.3).
        self.tx_wnd_field.next = self.w.q.val().snd_wnd;
        self.tx_wnd_shift.next = self.w.q.val().snd_wscale;
        self.tx_peer_window.next = bit_cast::<32, 16>(self.tx_wnd_field.val()) << self.tx_wnd_shift.val();
        self.txseg.snd_wnd.next = self.tx_peer_window.val();
        // SMSS: the peer's MSS clamped to what a 1514-byte frame holds, less
        // the Timestamps option every segment then carries (RFC 6691 §2).
        self.tx_mss_clamped.next = self.w.q.val().peer_mss;
        if self.w.q.val().peer_mss > self.max_seg.val() {
            self.tx_mss_clamped.next = self.max_seg.val();
        }
        self.tx_smss.next = self.tx_mss_clamped.val();
        if self.w.q.val().ts_ok.any() {
            self.tx_smss.next = self.tx_mss_clamped.val() - self.ts_option_bytes.val();
        }
        self.txseg.smss.next = self.tx_smss.val();
        // A relayed connection forwards each chunk as it arrives (no Nagle, docs/relay.md).
        self.txseg.nodelay.next = self.w.q.val().peer_link != self.no_link.val();
        self.sndsack.smss.next = self.tx_smss.val();
        self.txseg.cwnd.next = self.txt.cwnd.val();
        self.txseg.timer.next = self.txt.timer.val();
        self.txseg.timer_due_us.next = self.w.q.val().timer_due;
        self.txseg.rto_us.next = self.txt.rto_us.val();
        self.txseg.now_us.next = self.timebase.now_us.val();
        self.txseg.resend_first.next = self.txt.resend.val();
        if self.txt.probe.val() {
            // A zero-window probe (RFC 9293 §3.8.6.1): one byte beyond the
            // closed window, or the last probe's byte again while unacknowledged.
            self.txseg.snd_wnd.next = self.one32.val();
            self.txseg.timer.next = self.timer_off.val();
            self.txseg.resend_first.next = self.w.q.val().snd_una != self.w.q.val().snd_max;
            self.sndsack.resend.next = self.w.q.val().snd_una != self.w.q.val().snd_max;
        }
        self.txseg.ring_base.next = self.tx_conn_base.q.val();
        self.txseg.ring_mask.next = (self.one32.val() << self.tx_conn_log2.q.val()) - self.one32.val();
        self.txq.clock.next = self.clock.val();
        self.txq.push.next = false;
        self.txq.push_id.next = self.cur_id.q.val();
        self.txq.pop.next = false;
        // Relay mode (docs/relay.md): the relay queue, and the splice rule on the working TCB.
        self.rq.clock.next = self.clock.val();
        self.rq.push.next = false;
        self.rq.push_id.next = self.cur_id.q.val();
        self.rq.pop.next = false;
        // A TCB freed after both FINs crossed gives the step of the state it
        // left (TIME-WAIT and LAST-ACK give the same); freed any other way, it
        // resets its peer.
        self.rstep.state.next = self.w.q.val().state;
        if self.w.q.val().state == self.st_closed.val() {
            self.rstep.state.next = self.st_time_wait.val();
        }
        self.rstep.reset.next = (self.w.q.val().state == self.st_closed.val())
            & !(self.w.q.val().fin_rcvd.any()
                & (self.w.q.val().snd_una == (self.w.q.val().iss + self.w.q.val().tx_end + self.two32.val()))
                & (self.w.q.val().snd_max == (self.w.q.val().iss + self.w.q.val().tx_end + self.two32.val())));
        self.rstep.peer_link.next = self.w.q.val().peer_link;
        self.rstep.irs.next = self.w.q.val().irs;
        self.rstep.rcv_nxt.next = self.w.q.val().rcv_nxt;
        self.rstep.snd_una.next = self.w.q.val().snd_una;
        self.rstep.seq_offset.next = self.w.q.val().seq_offset;
        self.rapply.state.next = self.w.q.val().state;
        self.rapply.iss.next = self.w.q.val().iss;
        self.rapply.rel.next = self.w.q.val().rel;
        self.rapply.rcv_nxt.next = self.w.q.val().rcv_nxt;
        self.rapply.tx_end.next = self.w.q.val().tx_end;
        self.rapply.follow_tx_end.next = self.step_tx_end.q.val();
        self.rapply.follow_rel.next = self.step_rel.q.val();
        self.rapply.follow_irs.next = self.step_irs.q.val();
        self.rapply.follow_close.next = self.step_close.q.val();
        self.rapply.hold_synack.next = self.hold_synack.val();
        self.relay_paired.next = (self.w.q.val().state != self.st_closed.val())
            & (self.w.q.val().peer_link == bit_cast::<16, CONN_BITS>(self.relay_x.q.val()));
        self.relay_asks_cw.next = self.rapply.close.val()
            & (self.w.q.val().state == self.st_close_wait.val())
            & !self.w.q.val().close_asked.any();
        self.relay_changed.next = self.rapply.release_moved.val()
            | self.rapply.rcv_jumped.val()
            | self.relay_asks_cw.val()
            | self.rapply.tail_moved.val()
            | (self.rapply.close.val() & (self.w.q.val().state == self.st_established.val()))
            | self.step_unlink.q.val()
            | (self.rapply.seq_offset.val() != self.w.q.val().seq_offset);
        self.relay_after.next = EngineState::RelayPull;
        if self.pulling.q.val() | self.step_unlink.q.val() {
            self.relay_after.next = EngineState::RelayNext;
        }
        self.tx_peer_link.next = self.w.q.val().peer_link;
        self.prom_poke.next = (self.w.q.val().peer_link != self.no_link.val())
            & (self.w.q.val().state != self.st_syn_rcvd.val())
            & (self.w.q.val().state != self.st_syn_sent.val())
            & (self.w.q.val().state != self.st_time_wait.val())
            & (self.w.q.val().state != self.st_closed.val());
        self.relay_due_gap.next = self.timebase.now_us.val() - self.w.q.val().timer_due;
        // Never in standby: a standby is silent, and a TCB the host is still
        // installing word by word can look like a held, linked, due client side.
        self.relay_conn_due.next = !self.standby.val()
            & (self.w.q.val().state == self.st_syn_rcvd.val())
            & (self.w.q.val().ack_sent == self.w.q.val().irs)
            & (self.w.q.val().peer_link != self.no_link.val())
            & (self.relay_due_gap.val() < self.sign32.val());
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

        // The TX table: read with the TCB table (same slot, same cycle), written
        // at the current connection by the states below; by default a write
        // stores the entry as read, so each state names only what it changes.
        self.txt.clock.next = self.clock.val();
        self.txt.write_slot.next = self.cur_id.q.val();
        // Send holdback (send_limit.rs): L is read with the TCB and written at the
        // current connection (cleared by a passive open, set by the host's op).
        self.sendlim.clock.next = self.clock.val();
        self.sendlim.write_slot.next = self.cur_id.q.val();
        self.sendlim.clear.next = false;
        self.sendlim.host_we.next = false;
        self.sendlim.host_value.next = self.hop.wdata.val();
        self.sendlim.standby.next = self.standby.val();
        self.sendlim.send_hold.next = self.w.q.val().send_hold.any();
        self.sendlim.iss.next = self.w.q.val().iss;
        self.sendlim.tx_end.next = self.w.q.val().tx_end;
        self.sendlim.send_holdback.next = self.send_holdback.val();
        for i in 0..LISTEN_PORTS {
            self.sendlim.listen_ports[i].next = self.listen_ports[i].val();
        }
        self.sendlim.dst_port.next = self.desc.dst_port.val();
        self.txt.we.next = false;
        self.txt.init.next = false;
        self.txt.timeout.next = false;
        self.txt.peer_mss.next = self.w.q.val().peer_mss;
        self.txt.ts_ok.next = self.w.q.val().ts_ok.any();
        self.txt.init_rto_us.next = self.rto_us.val();
        // A promoted connection (no TX table copy on a standby): `recover` just
        // below snd_una, SND.WL1 below R, where the peer resumes sending.
        self.txt.init_recover.next = self.w.q.val().snd_una - 1_u32.to_bits();
        self.txt.init_wl1.next = self.upd.promoted.val().rcv_nxt - 1_u32.to_bits();
        self.txt.init_wl2.next = self.w.q.val().snd_una;
        self.txt.init_timer.next = self.timer_off.val();
        if self.w.q.val().snd_una != self.w.q.val().snd_max {
            self.txt.init_timer.next = self.timer_retransmit.val();
        }
        if (self.state.q.val() == EngineState::OpenSlot)
            | (self.state.q.val() == EngineState::CookieOpen)
            | (self.state.q.val() == EngineState::RelayOpenC)
        {
            // A passive open: RFC 6582 §3.2 starts `recover` at the ISS; the
            // SYN's sequence number is the first SND.WL1.
            self.txt.peer_mss.next = self.upd.opened.val().peer_mss;
            self.txt.ts_ok.next = self.upd.opened.val().ts_ok.any();
            self.txt.init_recover.next = self.upd.opened.val().iss;
            self.txt.init_wl1.next = self.upd.opened.val().irs;
            self.txt.init_wl2.next = self.upd.opened.val().snd_una;
            self.txt.init_timer.next = self.timer_off.val();
        }
        self.txt.flight.next = self.w.q.val().snd_max - self.w.q.val().snd_una;
        self.txt.snd_max.next = self.w.q.val().snd_max;
        self.txt.first_timeout.next = self.w.q.val().retries == self.zero4.val();
        self.txt.w_cwnd.next = self.txt.cwnd.val();
        self.txt.w_ssthresh.next = self.txt.ssthresh.val();
        self.txt.w_bytes_acked.next = self.txt.bytes_acked.val();
        self.txt.w_recover.next = self.txt.recover.val();
        self.txt.w_srtt8.next = self.txt.srtt8.val();
        self.txt.w_rttvar4.next = self.txt.rttvar4.val();
        self.txt.w_rto_us.next = self.txt.rto_us.val();
        self.txt.w_rtt_seq.next = self.txt.rtt_seq.val();
        self.txt.w_rtt_start_us.next = self.txt.rtt_start_us.val();
        self.txt.w_wl1.next = self.txt.wl1.val();
        self.txt.w_wl2.next = self.txt.wl2.val();
        self.txt.w_dupacks.next = self.txt.dupacks.val();
        self.txt.w_in_recovery.next = self.txt.in_recovery.val();
        self.txt.w_partial_seen.next = self.txt.partial_seen.val();
        self.txt.w_measured.next = self.txt.measured.val();
        self.txt.w_timing.next = self.txt.timing.val();
        self.txt.w_by_echo.next = self.txt.by_echo.val();
        self.txt.w_timer.next = self.txt.timer.val();
        self.txt.w_resend.next = self.txt.resend.val();
        self.txt.w_probe.next = self.txt.probe.val();
        // ACK processing (RFC 9293 §3.10.7.4 step 4, RFC 5681, RFC 6582) over
        // the working TCB's send fields, the TX table's entry and the segment.
        self.txack.snd_una.next = self.w.q.val().snd_una;
        self.txack.snd_nxt.next = self.w.q.val().snd_nxt;
        self.txack.snd_max.next = self.w.q.val().snd_max;
        self.txack.snd_wnd.next = self.w.q.val().snd_wnd;
        self.txack.snd_wl1.next = self.txt.wl1.val();
        self.txack.snd_wl2.next = self.txt.wl2.val();
        self.txack.smss.next = self.tx_smss.val();
        self.txack.cwnd.next = self.txt.cwnd.val();
        self.txack.ssthresh.next = self.txt.ssthresh.val();
        self.txack.bytes_acked.next = self.txt.bytes_acked.val();
        self.txack.dupacks.next = self.txt.dupacks.val();
        self.txack.recover.next = self.txt.recover.val();
        self.txack.in_recovery.next = self.txt.in_recovery.val();
        self.txack.partial_seen.next = self.txt.partial_seen.val();
        self.txack.timer.next = self.txt.timer.val();
        self.txack.timer_due_us.next = self.w.q.val().timer_due;
        self.txack.retries.next = self.w.q.val().retries;
        self.txack.seg_seq.next = self.desc.seq.val();
        self.txack.seg_ack.next = self.desc.ack.val();
        self.txack.seg_wnd.next = self.desc.window.val();
        self.txack.seg_occupies.next = self.desc.payload_len.val().any()
            | self.desc.flags.val().get_bit(self.bit_syn.val().index())
            | self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.txack.now_us.next = self.timebase.now_us.val();
        self.txack.rto_us.next = self.txrtt.new_rto_us.val();
        // The RTT estimator (RFC 6298): an ACK in the accept step, a segment
        // sent in TxStaged, a timer firing in ScanDecide.
        self.txrtt.srtt8.next = self.txt.srtt8.val();
        self.txrtt.rttvar4.next = self.txt.rttvar4.val();
        self.txrtt.rto_us.next = self.txt.rto_us.val();
        self.txrtt.measured.next = self.txt.measured.val();
        self.txrtt.timing.next = self.txt.timing.val();
        self.txrtt.rtt_seq.next = self.txt.rtt_seq.val();
        self.txrtt.rtt_start_us.next = self.txt.rtt_start_us.val();
        self.txrtt.by_echo.next = self.txt.by_echo.val();
        self.txrtt.event_kind.next = self.ev_none.val();
        self.txrtt.seq.next = self.desc.ack.val();
        if (self.state.q.val() == EngineState::TcpCheck) | (self.state.q.val() == EngineState::TcpAccept) {
            self.txrtt.event_kind.next = self.ev_ack.val();
        }
        if self.state.q.val() == EngineState::TxStaged {
            self.txrtt.event_kind.next = self.ev_send.val();
            self.txrtt.seq.next = self.txseg.seg_seq.val();
        }
        if self.state.q.val() == EngineState::ScanDecide {
            self.txrtt.event_kind.next = self.ev_timeout.val();
        }
        self.txrtt.retransmission.next = self.txseg.seg_retransmission.val();
        self.txrtt.now_us.next = self.timebase.now_us.val();
        // RFC 7323 §4.1: the echo's age is the connection's TSval now minus TSecr.
        self.txrtt.ts_ok.next = self.w.q.val().ts_ok.any();
        self.txrtt.echo_ok.next = self.desc.ts_ok.val();
        self.txrtt.echo_age.next = self.timebase.ts_ticks.val() + self.w.q.val().ts_offset - self.desc.tsecr.val();
        self.txrtt.rto_min_us.next = self.rto_min_us.val();
        self.txrtt.rto_max_us.next = self.rto_max.val();
        self.txrtt.granularity_us.next = self.rto_granularity.val();

        self.timebase.clock.next = self.clock.val();
        self.timebase.tick_us.next = self.tick_us.val();
        self.timebase.scan_step.next = false;
        // Timestamps (RFC 7323 §3.2, §5.4): TS_CLOCK, and the TSval/TSecr
        // inputs of each segment (the new TCB's for a passive open's SYN-ACK).
        self.timebase.ts_load.next = self.ts_clock_load.val();
        self.timebase.ts_wdata.next = self.ts_clock_wdata.val();
        self.ts_ticks.next = self.timebase.ts_ticks.val();
        self.txr.ts_ticks.next = self.timebase.ts_ticks.val();
        self.txr.ts_ok.next = self.w.q.val().ts_ok.any();
        self.txr.ts_offset.next = self.w.q.val().ts_offset;
        self.txr.ts_recent.next = self.w.q.val().ts_recent;
        self.txr.new_ts_ok.next = self.upd.opened.val().ts_ok.any();
        self.txr.new_ts_offset.next = self.upd.opened.val().ts_offset;
        self.txr.new_ts_recent.next = self.upd.opened.val().ts_recent;

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
        if self.state.q.val() == EngineState::CookieSynAck {
            self.txr.new_iss.next = self.syncookie.cookie.val();
        }
        self.txr.cookie_tsval.next = self.cookie_ts.tsval.val();
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
        // In-order bytes stop where held out-of-order ones start (reassembly).
        self.acc.take.next = self.hmerge.take_capped.val();
        self.acc.ring_ready.next = self.ring.ready.val();
        self.acc.rcv_open.next = self.close.rcv_open.val();
        // Reassembly (reassembly.rs): the connection's held ranges, read with
        // its TCB at the same address, against the segment. The entry is
        // written where the copy is taken (below) and cleared when a
        // connection opens in the slot or a promotion walks it.
        self.hmerge.enable.next = self.reassembly.val();
        // SACK (sack.rs): an out-of-order segment's duplicate ACK is loaded in the
        // accept step, where its range is inserted; every other ACK reads the entry.
        self.sacks.sack_ok.next = self.reassembly.val() & self.w.q.val().sack_ok.any();
        self.sacks.use_ins.next = self.acc.ooo_copy.val()
            & ((self.state.q.val() == EngineState::TcpCheck) | (self.state.q.val() == EngineState::TcpAccept));
        for i in 0..HOLE_SLOTS {
            self.sacks.rd_start[i].next = self.hole_start[i].read_data.val();
            self.sacks.rd_end[i].next = self.hole_end[i].read_data.val();
            self.sacks.ins_start[i].next = self.hmerge.ins_start[i].val();
            self.sacks.ins_end[i].next = self.hmerge.ins_end[i].val();
        }
        self.sacks.ack.next = self.seg.ack.val();
        self.sacks.rcv_nxt.next = self.w.q.val().rcv_nxt;
        // D-SACK (dsack.rs): a synchronized connection's segment without SYN
        // or RST; its run goes in the ACK loaded now (an answer from the
        // accept step) or, kept, in the one `Reply` composes for it.
        self.dups.enable.next = self.reassembly.val();
        self.dups.ent_held.next = self.hole_meta.read_data.val().get_bits::<HOLE_SLOTS>(0);
        for i in 0..HOLE_SLOTS {
            self.dups.ent_start[i].next = self.hole_start[i].read_data.val();
            self.dups.ent_end[i].next = self.hole_end[i].read_data.val();
        }
        self.dups.rcv_nxt.next = self.w.q.val().rcv_nxt;
        self.dups.seq.next = self.desc.seq.val();
        self.dups.payload_len.next = self.desc.payload_len.val();
        self.sacks.dup.next = self.dsack_on.q.val() & (self.state.q.val() == EngineState::Reply);
        self.sacks.dup_start.next = self.dsack_start.q.val();
        self.sacks.dup_end.next = self.dsack_end.q.val();
        if self.state.q.val() == EngineState::TcpCheck {
            self.sacks.dup.next = self.dups.dup.val()
                & (self.w.q.val().state != self.st_syn_rcvd.val())
                & (self.w.q.val().state != self.st_syn_sent.val())
                & !self.desc.flags.val().get_bit(self.bit_syn.val().index())
                & !self.desc.flags.val().get_bit(self.bit_rst.val().index());
            self.sacks.dup_start.next = self.dups.dup_start.val();
            self.sacks.dup_end.next = self.dups.dup_end.val();
            self.dsack_on.d.next = self.dups.dup.val()
                & (self.w.q.val().state != self.st_syn_rcvd.val())
                & (self.w.q.val().state != self.st_syn_sent.val())
                & !self.desc.flags.val().get_bit(self.bit_syn.val().index())
                & !self.desc.flags.val().get_bit(self.bit_rst.val().index());
            self.dsack_start.d.next = self.dups.dup_start.val();
            self.dsack_end.d.next = self.dups.dup_end.val();
        }
        if self.state.q.val() == EngineState::Idle {
            self.dsack_on.d.next = false;
        }
        self.upd.dsack.next = self.sacks.dsack.val();
        self.sacks.rd_meta.next = self.hole_meta.read_data.val();
        self.sacks.ins_meta.next = self.hmerge.ins_meta.val();
        self.txr.sack_count.next = self.sacks.count.val();
        self.txr.sack_blocks.next = self.sacks.blocks.val();
        self.txr.sack_ok.next = self.w.q.val().sack_ok.any();
        self.txr.new_sack_ok.next = self.upd.opened.val().sack_ok.any();
        for i in 0..HOLE_SLOTS {
            self.hole_start[i].read_clock.next = self.clock.val();
            self.hole_start[i].write_clock.next = self.clock.val();
            self.hole_start[i].write_address.next = self.cur_id.q.val();
            self.hole_start[i].write_enable.next = false;
            self.hole_start[i].write_data.next = self.hmerge.ins_start[i].val();
            self.hole_end[i].read_clock.next = self.clock.val();
            self.hole_end[i].write_clock.next = self.clock.val();
            self.hole_end[i].write_address.next = self.cur_id.q.val();
            self.hole_end[i].write_enable.next = false;
            self.hole_end[i].write_data.next = self.hmerge.ins_end[i].val();
            self.hmerge.ent_start[i].next = self.hole_start[i].read_data.val();
            self.hmerge.ent_end[i].next = self.hole_end[i].read_data.val();
        }
        self.hole_meta.read_clock.next = self.clock.val();
        self.hole_meta.write_clock.next = self.clock.val();
        self.hole_meta.write_address.next = self.cur_id.q.val();
        self.hole_meta.write_enable.next = false;
        self.hole_meta.write_data.next = self.hmerge.ins_meta.val();
        self.hmerge.ent_meta.next = self.hole_meta.read_data.val();
        self.hmerge.rcv_nxt.next = self.w.q.val().rcv_nxt;
        self.hmerge.rcv_adv.next = self.w.q.val().rcv_adv;
        self.hmerge.rel.next = self.w.q.val().rel;
        self.hmerge.ring_window.next = self.ring_window.val();
        self.hmerge.seq.next = self.desc.seq.val();
        self.hmerge.payload_len.next = self.desc.payload_len.val();
        self.hmerge.take.next = self.seg.take.val();
        self.acc.ooo_held.next = self.hmerge.held.val();
        self.acc.ooo_over.next = self.hmerge.over_limit.val();
        // Timestamps: PAWS and the TS.Recent rule (seg_accept.rs).
        self.acc.ts_ok.next = self.w.q.val().ts_ok.any();
        self.acc.ts_recent.next = self.w.q.val().ts_recent;
        self.acc.ack_sent.next = self.w.q.val().ack_sent;
        self.acc.seg_ts.next = self.desc.ts_ok.val();
        self.acc.seg_tsval.next = self.desc.tsval.val();
        self.acc.seg_seq.next = self.desc.seq.val();
        self.ooo_pos.next = (self.hmerge.new_start.val() - self.w.q.val().irs - 1_u32.to_bits()) & self.ring_mask.val();
        self.holes_clear.next = (self.state.q.val() == EngineState::OpenSlot)
            | (self.state.q.val() == EngineState::CookieOpen)
            | (self.state.q.val() == EngineState::PromFix)
            | (self.state.q.val() == EngineState::ConnOpen)
            | (self.state.q.val() == EngineState::RelayOpenC)
            // R passed rcv_nxt on a promoted card: the held ranges were offsets from the old one.
            | ((self.state.q.val() == EngineState::RelayApplyY)
                & self.relay_paired.val()
                & !self.step_abort.q.val()
                & self.step_follow.q.val()
                & self.rapply.rcv_jumped.val());
        self.copy_ooo.next = false;
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
        self.index.by_tcb.next = self.prom_active.q.val()
            | (self.state.q.val() == EngineState::ScanDecide)
            | (self.state.q.val() == EngineState::HopAbort)
            | (self.state.q.val() == EngineState::RelayApplyY)
            | (self.state.q.val() == EngineState::ConnSlot)
            | (self.state.q.val() == EngineState::ConnOpen);
        self.index.take.next = false;
        self.index.insert.next = (self.state.q.val() == EngineState::OpenSlot)
            | (self.state.q.val() == EngineState::CookieOpen)
            | (self.state.q.val() == EngineState::PromIndex)
            | (self.state.q.val() == EngineState::ConnOpen)
            | (self.state.q.val() == EngineState::RelayOpenC);
        // The promotion walk gives closed slots back to the free queue.
        self.index.recycle.next = (self.state.q.val() == EngineState::PromFix) & !self.upd.prom_open.val();
        for i in 0..LISTEN_PORTS {
            self.lookup.listen_ports[i].next = self.listen_ports[i].val();
            self.lookup.relay_ports[i].next = self.relay_ports[i].val();
            self.lookup.relay_ips[i].next = self.relay_ips[i].val();
            self.lookup.relay_macs[i].next = self.relay_macs[i].val();
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
        self.upd.tx_timer.next = self.txt.timer.val();
        self.upd.data_rto_us.next = self.txrtt.new_rto_us.val();
        self.upd.standby.next = self.standby.val();
        self.upd.promoting.next = self.prom_active.q.val();
        self.upd.all_released.next = self.seg.all_released.val();
        self.upd.fin_allowed.next = self.sendlim.fin_allowed.val();
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
        self.upd.syn_sack_ok.next = self.desc.sack_ok.val() & self.sack.val();
        self.upd.syn_ts_ok.next = self.desc.ts_ok.val() & self.timestamps.val();
        self.upd.syn_tsval.next = self.desc.tsval.val();
        self.upd.iss.next = self.lookup.iss.val();
        // The listening port's own holdback setting, else CTRL's.
        self.lookup.holdback_default.next = self.holdback_default.val();
        // A relayed client side always holds back (the `peer` gate) and its
        // SYN-ACK waits for the backend's (docs/relay.md, "The splice rule").
        self.upd.holdback.next = self.lookup.holdback.val() | self.relaying.q.val();
        self.upd.hold_synack.next = self.hold_synack.val() | self.relaying.q.val();
        self.upd.slot_gen.next = self.tcb_ram.read_data.val().gen;
        // SYN cookies (syn_cookie.rs, docs/syn-cookies.md), one block for both
        // directions: a SYN is hashed with its own sequence number, an ACK's
        // cookie (SEG.ACK - 1) checked against SEG.SEQ - 1, the SYN's number.
        self.syncookie.clock.next = self.clock.val();
        self.syncookie.start.next = false;
        self.syncookie.check.next = self.desc.flags.val().get_bit(self.bit_ack.val().index());
        self.syncookie.peer_ip.next = self.desc.src_ip.val();
        self.syncookie.our_ip.next = self.our_ip.val();
        self.syncookie.peer_port.next = self.desc.src_port.val();
        self.syncookie.our_port.next = self.desc.dst_port.val();
        self.syncookie.sseq.next = self.desc.seq.val();
        if self.desc.flags.val().get_bit(self.bit_ack.val().index()) {
            self.syncookie.sseq.next = self.desc.seq.val() - 1_u32.to_bits();
        }
        // A count of 2^16 timestamp ticks (about 67 s): both cards of a pair share TS_CLOCK.
        self.syncookie.now_count.next = self.timebase.ts_ticks.val().get_bits::<8>(16);
        self.syncookie.mss.next = self.desc.mss.val();
        self.syncookie.mss_index.next = self.syncookie.mss_index_for.val();
        self.syncookie.cookie_in.next = self.desc.ack.val() - 1_u32.to_bits();
        self.syncookie.key0.next = self.cookie_key0.val();
        self.syncookie.key1.next = self.cookie_key1.val();
        // The SYN-ACK's TSval carries the SYN's options (Linux's layout); the
        // ACK's TSecr returns them. The cookie's TS_OFFSET is the ISS's, swapped.
        self.cookie_ts.ts_now.next = self.timebase.ts_ticks.val() + self.upd.opened.val().ts_offset;
        self.cookie_ts.wscale_ok.next = self.desc.ws_ok.val();
        self.cookie_ts.wscale.next = self.desc.ws.val();
        self.cookie_ts.sack_ok.next = self.desc.sack_ok.val() & self.sack.val();
        self.cookie_ts.tsecr_opts.next = self.desc.tsecr.val().get_bits::<6>(0);
        // Our cookie SYN-ACKs never offer ECN: a TSecr that says they did is not ours.
        self.ecn_claimed.next = self.cookie_ts.dec_ecn_ok.val() & self.desc.ts_ok.val() & self.timestamps.val();
        if self.state.q.val() == EngineState::CookieSynAck {
            self.upd.iss.next = self.syncookie.cookie.val();
        }
        if self.state.q.val() == EngineState::CookieOpen {
            // The TCB the SYN would have made, rebuilt from the ACK: the SYN's
            // number, our cookie ISS, the MSS it encodes, and (only with
            // timestamps) the options the TSecr returns. The SYN was ACKed by
            // the cookie's SYN-ACK, so nothing is held for it.
            self.upd.syn_seq.next = self.desc.seq.val() - 1_u32.to_bits();
            self.upd.iss.next = self.desc.ack.val() - 1_u32.to_bits();
            self.upd.syn_mss.next = self.cookie_mss.q.val();
            self.upd.syn_ws_ok.next = self.cookie_ts.dec_wscale_ok.val() & self.desc.ts_ok.val() & self.timestamps.val();
            self.upd.syn_ws.next = self.cookie_ts.dec_wscale.val();
            self.upd.syn_sack_ok.next = self.cookie_ts.dec_sack_ok.val() & self.desc.ts_ok.val() & self.timestamps.val() & self.sack.val();
            self.upd.hold_synack.next = false;
        }
        // HALF_OPEN: at every TCB write, the slot's bit before and after.
        self.half_bits.read_clock.next = self.clock.val();
        self.half_bits.write_clock.next = self.clock.val();
        self.half_bits.read_address.next = self.cur_id.q.val();
        self.half_bits.write_address.next = self.cur_id.q.val();
        self.half_bits.write_enable.next = false;
        self.half_bits.write_data.next = false;
        self.half_open.next = self.half_count.q.val();
        // Connection life (close.rs): our FIN after the data, the peer's in FIN-WAIT, TIME-WAIT.
        self.close.tcb.next = self.w.q.val();
        self.close.now_us.next = self.timebase.now_us.val();
        self.close.rto_us.next = self.rto_us.val();
        self.close.time_wait_us.next = self.time_wait_us.val();
        self.close.standby.next = self.standby.val();
        self.close.fin_at_rcv_nxt.next = self.seg.fin_at_rcv_nxt.val();
        self.close.all_released.next = self.seg.all_released.val();
        self.close.seg_seq.next = self.desc.seq.val();
        self.close.seg_payload_len.next = self.desc.payload_len.val();
        self.close.seg_fin.next = self.desc.flags.val().get_bit(self.bit_fin.val().index());
        self.close.fin_allowed.next = self.sendlim.fin_allowed.val();
        // Active open (active_open.rs): CONNECT's TCB, and a segment to a TCB in SYN-SENT.
        self.aopen.connect_ip.next = self.connect_ip.val();
        self.aopen.connect_ports.next = self.connect_ports.val();
        self.aopen.connect_mac_lo.next = self.connect_mac_lo.val();
        self.aopen.connect_mac_hi.next = self.hop.wdata.val().get_bits::<16>(0);
        if self.relaying.q.val() {
            // The relay slot's backend, from the local port relay mode reserves
            // for the server side's slot (the one RelayConnect takes).
            self.aopen.connect_ip.next = self.lookup.relay_ip.val();
            self.aopen.connect_ports.next = (bit_cast::<32, 16>(self.lookup.relay_port.val()) << 16)
                | (self.relay_port_base.val() + bit_cast::<32, CONN_BITS>(self.cur_id.q.val()));
            if self.state.q.val() == EngineState::RelayConnect {
                self.aopen.connect_ports.next = (bit_cast::<32, 16>(self.lookup.relay_port.val()) << 16)
                    | (self.relay_port_base.val() + bit_cast::<32, CONN_BITS>(self.index.alloc_slot.val()));
            }
            self.aopen.connect_mac_lo.next = self.lookup.relay_mac.val().get_bits::<32>(0);
            self.aopen.connect_mac_hi.next = self.lookup.relay_mac.val().get_bits::<16>(32);
        }
        self.aopen.iss.next = self.lookup.iss.val();
        self.aopen.gen.next = self.tcb_ram.read_data.val().gen;
        self.aopen.holdback.next = self.holdback_default.val();
        self.aopen.now_us.next = self.timebase.now_us.val();
        self.aopen.rto_us.next = self.rto_us.val();
        self.aopen.ring_window.next = self.ring_window.val();
        self.aopen.tcb.next = self.w.q.val();
        self.aopen.seg_seq.next = self.desc.seq.val();
        self.aopen.seg_ack.next = self.desc.ack.val();
        self.aopen.seg_flags.next = self.desc.flags.val();
        self.aopen.seg_window.next = self.desc.window.val();
        self.aopen.seg_mss.next = self.desc.mss.val();
        self.aopen.seg_ws_ok.next = self.desc.ws_ok.val();
        self.aopen.seg_ws.next = self.desc.ws.val();
        self.aopen.timestamps.next = self.timestamps.val();
        self.aopen.seg_ts_ok.next = self.desc.ts_ok.val();
        self.aopen.seg_tsval.next = self.desc.tsval.val();
        self.aopen.sack.next = self.sack.val();
        self.aopen.seg_sack_ok.next = self.desc.sack_ok.val();
        self.ka.tcb.next = self.w.q.val();
        self.ka.now_us.next = self.timebase.now_us.val();
        self.ka.standby.next = self.standby.val();
        self.ka.idle_us.next = self.ka_idle_us.val();
        self.ka.intvl_us.next = self.ka_intvl_us.val();
        self.ka.probes.next = self.ka_probes.val();
        self.ka.idle_timeout_us.next = self.idle_timeout_us.val();
        self.ka.seg_ack.next = self.desc.ack.val();
        self.ka.una_moves.next = self.acc.una_moves.val();

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
            | ((self.state.q.val() == EngineState::TcpCheck)
                & (self.w.q.val().state != self.st_syn_rcvd.val())
                & (self.w.q.val().state != self.st_syn_sent.val()));
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
                self.relaying.d.next = false;
                self.relay_closing.d.next = false;
                if self.sndsack.busy.val() {
                    // An ACK's SACK blocks still go into its board (sack_store.rs):
                    // nothing may load or clear a board before it is written back.
                    self.state.d.next = EngineState::Idle;
                } else if self.rq.head_valid.val() {
                    // A relay visit: the model makes it right after the write-back
                    // that queued it. A silent card forgets who had one due.
                    self.rq.pop.next = true;
                    if self.enable.val() & !self.standby.val() {
                        self.cur_id.d.next = self.rq.head_id.val();
                        self.rd_slot.next = self.rq.head_id.val();
                        self.pulling.d.next = false;
                        self.state.d.next = EngineState::RelayLoadX;
                    }
                } else if self.hop.valid.val() {
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
                } else if self.timebase.scan_due.val() & !(self.txq.head_valid.val() & self.tx_turn.q.val()) {
                    self.cur_id.d.next = self.timebase.scan_slot.val();
                    self.rd_slot.next = self.timebase.scan_slot.val();
                    self.state.d.next = EngineState::ScanLoad;
                    self.tx_turn.d.next = true;
                } else if self.txq.head_valid.val() {
                    self.tx_turn.d.next = false;
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
                    if self.lookup.relay.val() {
                        // A relay open takes two slots or none (never a cookie).
                        if self.index.can_alloc2.val() {
                            self.cur_id.d.next = self.index.alloc_slot.val();
                            self.rd_slot.next = self.index.alloc_slot.val();
                            self.index.take.next = true;
                            self.relaying.d.next = true;
                            self.state.d.next = EngineState::RelayWait;
                        } else {
                            self.stats.next = self.m_tcb_full.val();
                            self.state.d.next = EngineState::PopFrame;
                        }
                    } else if self.syn_cookies.val()
                        & (!self.index.can_alloc.val() | (self.half_count.q.val() >= self.cookie_threshold.val()))
                    {
                        // RFC 4987 §3.6: past the threshold a SYN takes no slot, its SYN-ACK carries a cookie.
                        self.syncookie.start.next = true;
                        self.state.d.next = EngineState::CookieWait;
                    } else if self.index.can_alloc.val() {
                        // Passive open into a free slot; its generation is read first (OpenSlot).
                        self.cur_id.d.next = self.index.alloc_slot.val();
                        self.rd_slot.next = self.index.alloc_slot.val();
                        self.index.take.next = true;
                        self.state.d.next = EngineState::OpenSlot;
                    } else {
                        self.stats.next = self.m_tcb_full.val();
                        self.state.d.next = EngineState::PopFrame;
                    }
                } else if self.syn_cookies.val() & self.f_ack.val() & !self.f_syn.val() & self.lookup.listening.val() & !self.lookup.relay.val() {
                    // The ACK that completes a cookie's handshake finds no TCB: check it.
                    self.syncookie.start.next = true;
                    self.state.d.next = EngineState::CookieWait;
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
                self.w.d.next.send_hold = self.sendlim.syn_hold.val().into();
                self.sendlim.clear.next = true;
                self.txt.we.next = true;
                self.txt.init.next = true;
                self.txr.segment.next = TxSegmentState::SynAckNew;
                self.wb_next.d.next = EngineState::PopFrame;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::TxSend;
                if self.hold_synack.val() {
                    // The SYN-ACK waits for the release that covers the SYN (Reply).
                    self.state.d.next = EngineState::WriteBack;
                }
            }
            EngineState::CookieWait => {
                if self.syncookie.done.val() {
                    if !self.f_ack.val() {
                        self.state.d.next = EngineState::CookieSynAck;
                    } else if self.syncookie.valid.val() & !self.ecn_claimed.val() & self.index.can_alloc.val() {
                        // The slot's generation is read first, as for a SYN (OpenSlot).
                        self.stats.next = self.m_cookies_accepted.val();
                        self.cur_id.d.next = self.index.alloc_slot.val();
                        self.rd_slot.next = self.index.alloc_slot.val();
                        self.index.take.next = true;
                        for i in 0..4 {
                            if self.syncookie.mss_index_out.val() == self.mss_index[i].val() {
                                self.cookie_mss.d.next = self.mss_table[i].val();
                            }
                        }
                        self.state.d.next = EngineState::CookieOpen;
                    } else if self.syncookie.valid.val() & !self.ecn_claimed.val() {
                        // A good cookie but no free slot: dropped, so the peer's
                        // retransmission can still open it while the cookie lives.
                        self.stats.next = self.m_tcb_full.val();
                        self.state.d.next = EngineState::PopFrame;
                    } else {
                        // RFC 9293 3.10.7.1, as without cookies: the RST for an ACK to no connection.
                        self.stats.next = self.m_cookies_refused.val() | self.m_no_connection.val() | self.m_rst_sent.val();
                        self.txr.segment.next = TxSegmentState::Rst;
                        self.tx_next.d.next = EngineState::PopFrame;
                        self.state.d.next = EngineState::TxSend;
                    }
                }
            }
            EngineState::CookieSynAck => {
                self.stats.next = self.m_cookies_sent.val();
                self.txr.segment.next = TxSegmentState::SynAckCookie;
                self.tx_next.d.next = EngineState::PopFrame;
                self.state.d.next = EngineState::TxSend;
            }
            EngineState::CookieOpen => {
                // As OpenSlot, without a SYN-ACK: the returned cookie's TCB in
                // SYN-RECEIVED; its TX table, send limit and hole entries are
                // written now and read back in CookieLoad.
                self.stats.next = self.m_conns_opened.val();
                self.open_inc.next = true;
                self.w.d.next = self.upd.opened.val();
                self.w.d.next.send_hold = self.sendlim.syn_hold.val().into();
                self.sendlim.clear.next = true;
                self.txt.we.next = true;
                self.txt.init.next = true;
                self.state.d.next = EngineState::CookieLoad;
            }
            EngineState::CookieLoad => {
                // The ACK now finds its TCB in SYN-RECEIVED and establishes it, data and all.
                self.state.d.next = EngineState::TcpCheck;
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
                if self.w.q.val().state == self.st_syn_sent.val() {
                    // RFC 9293 §3.10.7.3 SYN-SENT (active_open.rs).
                    self.state.d.next = EngineState::PopFrame;
                    if self.aopen.rst_reply.val() {
                        self.stats.next = self.m_rst_sent.val();
                        self.txr.segment.next = TxSegmentState::Rst;
                        self.tx_next.d.next = EngineState::PopFrame;
                        self.state.d.next = EngineState::TxSend;
                    } else if self.aopen.refused.val() {
                        // Nobody listens there: the slot is free again.
                        self.stats.next = self.m_connects_refused.val();
                        self.w.d.next.state = self.st_closed.val();
                        self.open_dec.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    } else if self.aopen.syn_taken.val() {
                        self.w.d.next = self.aopen.synced.val();
                        self.state.d.next = EngineState::ConnSynced;
                    } else if !self.f_rst.val() {
                        self.stats.next = self.m_unsupported.val();
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
                } else if self.close.seg_moves.val() {
                    // FIN-WAIT-1/2 and CLOSING: the ACK of our FIN, the peer's FIN (close.rs).
                    self.w.d.next = self.close.seg_next.val();
                    if self.close.enters_time_wait.val() {
                        self.stats.next = self.m_time_wait.val();
                    }
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
                } else if self.hop.kind.val() == self.hop_close.val() {
                    self.state.d.next = EngineState::HopClose;
                } else if self.hop.kind.val() == self.hop_abort.val() {
                    self.state.d.next = EngineState::HopAbort;
                } else if self.hop.kind.val() == self.hop_send_limit.val() {
                    // A new send limit (send_limit.rs keeps the serial maximum while
                    // active): bytes it lets out go through the send queue.
                    self.sendlim.host_we.next = true;
                    self.txq.push.next = true;
                    self.state.d.next = EngineState::HopDone;
                } else if self.hop.kind.val() == self.hop_connect.val() {
                    self.state.d.next = EngineState::HopConnect;
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
                if !self.close.may_append.val()
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
                self.state.d.next = EngineState::TxQuery;
            }
            EngineState::TxQuery => {
                // The SACK store registers its answer on the loaded board. A
                // relayed connection sends from its peer's receive ring.
                self.tx_conn_log2.d.next = self.tx_ring_log2.val();
                if self.w.q.val().peer_link != self.no_link.val() {
                    self.tx_conn_base.d.next = self.rx_ring_base.val() + (bit_cast::<64, 16>(self.tx_peer_link.val()) << self.rx_ring_log2.val());
                    self.tx_conn_log2.d.next = self.rx_ring_log2.val();
                }
                self.state.d.next = EngineState::TxDecide;
            }
            EngineState::TxDecide => {
                // Synchronized states send; the staging buffer is free once the
                // builder sent the last segment read from it.
                self.state.d.next = EngineState::Idle;
                if self.close.data_allowed.val() & self.txseg.send.val() {
                    self.state.d.next = EngineState::TxDecide;
                    if self.fetch_idle.val() & self.txr.builder_idle.val() {
                        self.state.d.next = EngineState::TxStart;
                    }
                } else if self.close.fin_due.val() {
                    // Every byte below the send tail is sent: our FIN follows (RFC 9293 §3.10.4).
                    self.state.d.next = EngineState::CloseFin;
                } else if (self.w.q.val().state == self.st_established.val()) | (self.w.q.val().state == self.st_close_wait.val()) {
                    // Nothing goes: a resend or probe asked for lapses, and the
                    // persist timer may start (RFC 9293 §3.8.6.1: bytes wait
                    // behind a zero window with nothing in flight).
                    self.txt.we.next = true;
                    self.txt.w_resend.next = false;
                    self.txt.w_probe.next = false;
                    // A resend with nothing lost to resend (sack_store.rs): come back
                    // for the send from snd_nxt.
                    self.txq.push.next = self.txt.resend.val() & !self.sndsack.rs_ok.val() & (self.w.q.val().snd_una != self.w.q.val().snd_max);
                    self.txt.w_timer.next = self.txseg.new_timer.val();
                    if self.txseg.new_timer.val() != self.txt.timer.val() {
                        self.w.d.next.timer_due = self.txseg.new_timer_due_us.val();
                        self.wb_next.d.next = EngineState::Idle;
                        self.state.d.next = EngineState::WriteBack;
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
                        self.txt.we.next = true;
                        self.txt.w_resend.next = false;
                        self.txt.w_probe.next = false;
                        if !self.txt.probe.val() {
                            // RFC 6298 §5.1: the first byte in flight starts the timer
                            // (a probe leaves the persist timer running); §3: the
                            // segment is timed unless it is a retransmission (Karn).
                            self.txt.w_timer.next = self.txseg.new_timer.val();
                            if self.txseg.new_timer.val() != self.txt.timer.val() {
                                self.w.d.next.timer_due = self.txseg.new_timer_due_us.val();
                            }
                            self.txt.w_timing.next = self.txrtt.new_timing.val();
                            self.txt.w_rtt_seq.next = self.txrtt.new_rtt_seq.val();
                            self.txt.w_rtt_start_us.next = self.txrtt.new_rtt_start_us.val();
                            self.txt.w_by_echo.next = self.txrtt.new_by_echo.val();
                            if self.txseg.seg_retransmission.val() {
                                self.stats.next = self.m_retransmits.val();
                            }
                            // RFC 6675 §4: HighRxt moves past a resend.
                            if self.txseg.seg_resent.val() {
                                self.sndsack.rxt_we.next = true;
                                self.sndsack.rxt_value.next = self.tx_seg_end.val();
                            }
                            // Resending snd_una (fast retransmit, a partial ACK; not a
                            // timeout's, retries > 0) restarts the timer, or the one
                            // the last new ACK armed fires as this resend's ACK returns
                            // (docs/sack-sender.md, "The sender's rules", 5).
                            if self.txseg.seg_resent.val()
                                & (self.txseg.seg_seq.val() == self.w.q.val().snd_una)
                                & (self.w.q.val().retries == self.zero4.val())
                            {
                                self.txt.w_timer.next = self.timer_retransmit.val();
                                self.w.d.next.timer_due = self.timebase.now_us.val() + self.txt.rto_us.val();
                            }
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
                if self.close.timer_close.val() {
                    // TIME-WAIT (or FIN-WAIT-2 without the peer's FIN) ran its time: the slot is free.
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.state.d.next = EngineState::WriteBack;
                } else if self.relay_conn_due.val() {
                    // A relayed client side whose backend did not accept in time:
                    // the client gets what a closed port answers its SYN with
                    // (RFC 9293 §3.10.7.1); the write-back's visit frees the server side.
                    self.stats.next = self.m_rst_sent.val() | self.m_relay_failed.val();
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.txr.segment.next = TxSegmentState::RstAck;
                    self.txr.seg_seq.next = self.w.q.val().irs;
                    self.txr.seg_len.next = self.one32.val();
                    self.state.d.next = EngineState::TxSend;
                } else if self.upd.retx_give_up.val() {
                    // The peer is gone: tell it so (RFC 9293 §3.8.3, R2), give the slot back.
                    self.stats.next = self.m_rst_sent.val() | self.m_give_up_resets.val();
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.txr.segment.next = TxSegmentState::Rst;
                    self.txr.seg_ack.next = self.w.q.val().snd_nxt;
                    self.state.d.next = EngineState::TxSend;
                } else if self.ka.probe.val() & (self.txt.timer.val() == self.timer_off.val()) {
                    // RFC 9293 §3.8.4: a keep-alive probe, an ACK at snd_nxt - 1 without data.
                    self.stats.next = self.m_ka_probes.val();
                    self.w.d.next = self.ka.probed.val();
                    self.txr.segment.next = TxSegmentState::Ack;
                    self.txr.snd_nxt.next = self.w.q.val().snd_nxt - 1_u32.to_bits();
                    self.advertise.next = true;
                    self.state.d.next = EngineState::TxSend;
                } else if self.ka.expire.val() & (self.txt.timer.val() == self.timer_off.val()) {
                    // Unanswered probes, or the idle timeout: reset, free the slot.
                    self.stats.next = self.m_rst_sent.val() | self.m_ka_drops.val();
                    if self.ka.idle_expire.val() {
                        self.stats.next = self.m_rst_sent.val() | self.m_idle_drops.val();
                    }
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.txr.segment.next = TxSegmentState::Rst;
                    self.txr.seg_ack.next = self.w.q.val().snd_nxt;
                    self.state.d.next = EngineState::TxSend;
                } else if self.upd.retx_due.val() & self.upd.retx_data.val() {
                    // Data: back to snd_una with the loss response of the TX table's
                    // `timeout` entry and the RTO backed off; the send path resends.
                    self.stats.next = self.m_rto_backoffs.val();
                    self.w.d.next = self.upd.retransmitted.val();
                    self.txt.we.next = true;
                    self.txt.timeout.next = true;
                    self.txt.w_rto_us.next = self.txrtt.new_rto_us.val();
                    // The resend at snd_una goes (HighRxt + 1 back to it); the board is cleared.
                    self.sndsack.rxt_we.next = true;
                    self.txq.push.next = true;
                    self.state.d.next = EngineState::WriteBack;
                } else if self.upd.retx_due.val() & self.upd.retx_probe.val() {
                    // Persist: a zero-window probe is due, the RTO backs off.
                    self.stats.next = self.m_rto_backoffs.val();
                    self.w.d.next = self.upd.retransmitted.val();
                    self.txt.we.next = true;
                    self.txt.w_rto_us.next = self.txrtt.new_rto_us.val();
                    self.txt.w_timing.next = false;
                    self.txt.w_probe.next = true;
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
                    // No TX table copy reaches a standby: start afresh (docs/tx.md).
                    self.txt.we.next = true;
                    self.txt.init.next = true;
                    self.state.d.next = EngineState::PromIndex;
                }
            }
            EngineState::PromIndex => {
                // The bucket of the TCB's tuple was read in PromFix: the TCB goes first in it.
                self.state.d.next = EngineState::PromSend;
                if self.prom_poke.val() {
                    // A relayed connection first asks its peer where it stands: an ACK
                    // at snd_una - 1 is below what the peer received, which it answers
                    // with an ACK of all it has (RFC 9293 §3.10.7.4). The copy may be
                    // older than what the old card sent and the peer acknowledged, and
                    // only that ACK moves the other side's R (docs/relay.md).
                    self.txr.address.next = TxAddressState::TcpToPeer;
                    self.txr.segment.next = TxSegmentState::Ack;
                    self.txr.snd_nxt.next = self.w.q.val().snd_una - 1_u32.to_bits();
                    self.tx_next.d.next = EngineState::PromSend;
                    self.state.d.next = EngineState::TxSend;
                }
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
            EngineState::HopClose => {
                // RFC 9293 §3.10.4 CLOSE. ESTABLISHED: FIN-WAIT-1 at once, the FIN now if
                // every byte is sent and send holdback lets it out, else after them or
                // after the send limit passes it (the send queue's CloseFin).
                // CLOSE-WAIT: the FIN follows once everything is released and sent.
                // SYN-SENT (§3.10.4): delete the TCB; nothing was received, so no RST.
                // Any other state: nothing to do.
                self.state.d.next = EngineState::HopDone;
                self.wb_next.d.next = EngineState::HopDone;
                if (self.w.q.val().state == self.st_syn_sent.val()) & !self.standby.val() {
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.state.d.next = EngineState::WriteBack;
                } else if (self.w.q.val().state == self.st_established.val()) & !self.standby.val() {
                    if self.close.all_sent.val() & self.sendlim.fin_allowed.val() {
                        self.w.d.next = self.close.fin_sent.val();
                        self.advertise.next = true;
                        self.txr.address.next = TxAddressState::TcpToPeer;
                        self.txr.segment.next = TxSegmentState::FinAck;
                        self.tx_next.d.next = EngineState::WriteBack;
                        self.state.d.next = EngineState::TxSend;
                    } else {
                        self.w.d.next.state = self.st_fin_wait1.val();
                        self.txq.push.next = true;
                        self.state.d.next = EngineState::WriteBack;
                    }
                } else if self.w.q.val().state == self.st_close_wait.val() {
                    self.txq.push.next = true;
                }
            }
            EngineState::HopAbort => {
                // RFC 9293 §3.10.5 ABORT: a RST at snd_nxt, and the slot is free.
                self.state.d.next = EngineState::HopDone;
                if (self.w.q.val().state != self.st_closed.val()) & !self.standby.val() {
                    self.stats.next = self.m_rst_sent.val() | self.m_host_aborts.val();
                    self.w.d.next.state = self.st_closed.val();
                    self.open_dec.next = true;
                    self.txr.address.next = TxAddressState::TcpToPeer;
                    self.txr.segment.next = TxSegmentState::Rst;
                    self.txr.seg_ack.next = self.w.q.val().snd_nxt;
                    self.wb_next.d.next = EngineState::HopDone;
                    self.tx_next.d.next = EngineState::WriteBack;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::CloseFin => {
                // The send queue found every byte sent: our FIN|ACK at the tail.
                self.w.d.next = self.close.fin_sent.val();
                self.advertise.next = true;
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::FinAck;
                self.wb_next.d.next = EngineState::Idle;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::TxSend;
            }
            EngineState::HopConnect => {
                // CONNECT: a free slot, first read for its generation while the
                // index hashes the new tuple (ConnSlot); refused when none is free
                // or the card may not speak.
                self.hop_result.d.next = self.connect_refused.val();
                self.state.d.next = EngineState::HopDone;
                if self.enable.val() & !self.standby.val() & self.index.can_alloc.val() {
                    self.cur_id.d.next = self.index.alloc_slot.val();
                    self.rd_slot.next = self.index.alloc_slot.val();
                    self.index.take.next = true;
                    self.w.d.next = self.aopen.syn_sent.val();
                    self.state.d.next = EngineState::ConnSlot;
                } else {
                    self.stats.next = self.m_connects_refused.val();
                }
            }
            EngineState::ConnSlot => {
                // The slot's generation and the ISS of the hashed tuple.
                self.w.d.next = self.aopen.syn_sent.val();
                self.state.d.next = EngineState::ConnOpen;
            }
            EngineState::ConnOpen => {
                // Linked first in its bucket; SYN-SENT with our SYN on the wire. Send
                // holdback as SEND_HOLDBACK's default says (no listening slot is
                // involved), and L starts at 0 as for a passive open.
                self.stats.next = self.m_active_opens.val();
                self.w.d.next.send_hold = self.send_holdback.val().get_bit(0).into();
                self.sendlim.clear.next = true;
                self.open_inc.next = true;
                self.txt.we.next = true;
                self.txt.init.next = true;
                self.hop_result.d.next = bit_cast::<32, CONN_BITS>(self.cur_id.q.val());
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::Syn;
                self.wb_next.d.next = EngineState::HopDone;
                if self.relaying.q.val() {
                    // The server side of a relay open: linked to the client side,
                    // holding back, its offset from the client's SYN; then the frame goes.
                    self.hop_result.d.next = self.hop_result.q.val();
                    self.w.d.next.holdback = true.into();
                    self.w.d.next.peer_link = bit_cast::<16, CONN_BITS>(self.relay_x.q.val());
                    self.w.d.next.seq_offset = self.desc.seq.val() - self.w.q.val().iss;
                    self.wb_next.d.next = EngineState::PopFrame;
                }
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::TxSend;
            }
            EngineState::ConnSynced => {
                // The SYN-ACK's ACK (ESTABLISHED), or our SYN-ACK after a lone SYN
                // (simultaneous open). The sending side starts from here (docs/tx.md).
                self.txt.we.next = true;
                self.txt.init.next = true;
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::SynAck;
                if self.w.q.val().state == self.st_established.val() {
                    self.txr.segment.next = TxSegmentState::Ack;
                    self.advertise.next = true;
                    if self.ka.rearm.val() {
                        self.w.d.next.timer_due = self.ka.rearm_due.val();
                    }
                }
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::TxSend;
            }
            EngineState::OooIssue => {
                // The ring writer was busy when the out-of-order segment was
                // accepted; the entry and the TCB stand still until it is
                // taken, then the duplicate ACK goes out and is recorded.
                self.copy_req.next = true;
                self.copy_ooo.next = true;
                self.copy_len.next = self.hmerge.new_len.val();
                if self.ring.ready.val() {
                    self.advertise.next = true;
                    self.state.d.next = EngineState::TxSend;
                }
            }
            EngineState::RelayWait => {
                // The free queue shows the slot after the client side's (the
                // server side's, which the client side names).
                self.state.d.next = EngineState::RelayOpenC;
            }
            EngineState::RelayOpenC => {
                // The client side: the passive open's TCB, held (no SYN-ACK) and
                // holding back, linked to the next free slot, its timer at the
                // connect timeout. Written now; the server side follows.
                self.stats.next = self.m_conns_opened.val();
                self.open_inc.next = true;
                self.w.d.next = self.upd.opened.val();
                self.w.d.next.send_hold = self.sendlim.syn_hold.val().into();
                self.w.d.next.peer_link = bit_cast::<16, CONN_BITS>(self.index.alloc_slot.val());
                self.w.d.next.timer_due = self.timebase.now_us.val() + self.relay_connect_us.val();
                self.sendlim.clear.next = true;
                self.txt.we.next = true;
                self.txt.init.next = true;
                self.relay_x.d.next = self.cur_id.q.val();
                self.wb_next.d.next = EngineState::RelayConnect;
                self.state.d.next = EngineState::WriteBack;
            }
            EngineState::RelayConnect => {
                // The server side: CONNECT's states toward the slot's backend
                // (two slots were free at the SYN, so one still is).
                self.cur_id.d.next = self.index.alloc_slot.val();
                self.rd_slot.next = self.index.alloc_slot.val();
                self.index.take.next = true;
                self.w.d.next = self.aopen.syn_sent.val();
                self.state.d.next = EngineState::ConnSlot;
            }
            EngineState::RelayLoadX => {
                self.load_tcb.next = true;
                self.state.d.next = EngineState::RelayStepX;
            }
            EngineState::RelayStepX => {
                // The source's step (relay_step.rs), kept while the peer is read.
                self.step_follow.d.next = self.rstep.follow.val();
                self.step_abort.d.next = self.rstep.abort_peer.val();
                self.step_unlink.d.next = (self.w.q.val().state == self.st_closed.val()) & self.rstep.follow.val();
                self.step_tx_end.d.next = self.rstep.tx_end.val();
                self.step_rel.d.next = self.rstep.peer_rel.val();
                self.step_irs.d.next = self.rstep.irs_out.val();
                self.step_close.d.next = self.rstep.close.val();
                self.relay_x.d.next = self.cur_id.q.val();
                self.state.d.next = EngineState::RelayNext;
                if self.rstep.peer.val() != self.no_link.val() {
                    self.cur_id.d.next = self.rstep.peer.val().get_bits::<CONN_BITS>(0);
                    self.rd_slot.next = self.rstep.peer.val().get_bits::<CONN_BITS>(0);
                    self.state.d.next = EngineState::RelayLoadY;
                }
            }
            EngineState::RelayLoadY => {
                self.load_tcb.next = true;
                self.state.d.next = EngineState::RelayApplyY;
            }
            EngineState::RelayApplyY => {
                // The target, if it still names the source: aborted, unlinked, or
                // following the step (R, tail, offset; what a release sends; the
                // close it asks), written back only when something moved.
                self.txr.address.next = TxAddressState::TcpToPeer;
                self.txr.segment.next = TxSegmentState::NoMss;
                self.wb_next.d.next = EngineState::RelayNext;
                self.tx_next.d.next = EngineState::WriteBack;
                self.state.d.next = EngineState::RelayNext;
                if self.relay_paired.val() {
                    if self.step_abort.q.val() {
                        self.w.d.next.state = self.st_closed.val();
                        self.w.d.next.peer_link = self.no_link.val();
                        self.open_dec.next = true;
                        if (self.w.q.val().state == self.st_syn_rcvd.val()) & self.synack_held.val() {
                            // A held client side: the closed port's RST|ACK (seq 0, ACK irs + 1).
                            self.stats.next = self.m_rst_sent.val() | self.m_relay_failed.val();
                            self.txr.segment.next = TxSegmentState::RstAck;
                            self.txr.seg_seq.next = self.w.q.val().irs;
                            self.txr.seg_len.next = self.one32.val();
                            self.state.d.next = EngineState::TxSend;
                        } else if self.w.q.val().state == self.st_syn_sent.val() {
                            // CLOSE in SYN-SENT: nothing was received, nothing to tell.
                            self.state.d.next = EngineState::WriteBack;
                        } else {
                            // What CONN_ABORT sends: a RST at snd_nxt.
                            self.stats.next = self.m_rst_sent.val();
                            self.txr.segment.next = TxSegmentState::Rst;
                            self.txr.seg_ack.next = self.w.q.val().snd_nxt;
                            self.state.d.next = EngineState::TxSend;
                        }
                    } else if self.step_follow.q.val() & (self.w.q.val().state == self.st_syn_sent.val()) {
                        // No irs yet: the step means nothing here, only an unlink.
                        if self.step_unlink.q.val() {
                            self.w.d.next.peer_link = self.no_link.val();
                            self.state.d.next = EngineState::WriteBack;
                        }
                    } else if self.step_follow.q.val() {
                        self.w.d.next.seq_offset = self.rapply.seq_offset.val();
                        self.w.d.next.rel = self.rapply.rel_out.val();
                        self.w.d.next.rcv_nxt = self.rapply.rcv_nxt_out.val();
                        self.w.d.next.tx_end = self.rapply.tx_end_out.val();
                        if self.step_unlink.q.val() {
                            self.w.d.next.peer_link = self.no_link.val();
                        }
                        // The half-close: a CLOSE-WAIT's FIN waits for this (reply.rs).
                        if self.relay_asks_cw.val() {
                            self.w.d.next.close_asked = true.into();
                        }
                        self.txq.push.next = self.rapply.tail_moved.val();
                        self.relay_closing.d.next = self.rapply.close.val() & (self.w.q.val().state == self.st_established.val());
                        self.wb_next.d.next = self.relay_after.val();
                        self.state.d.next = self.relay_after.val();
                        if self.rapply.release_moved.val() | self.relay_asks_cw.val() {
                            // What a release sends (HopRelease's Reply), then the close.
                            if self.rapply.close.val() & (self.w.q.val().state == self.st_established.val()) {
                                self.wb_next.d.next = EngineState::RelayClose;
                            }
                            self.state.d.next = EngineState::Reply;
                        } else if self.rapply.close.val() & (self.w.q.val().state == self.st_established.val()) {
                            self.state.d.next = EngineState::RelayClose;
                        } else if self.relay_changed.val() {
                            self.state.d.next = EngineState::WriteBack;
                        }
                    } else {
                        // The source asks nothing yet (not synchronized): the pull.
                        self.state.d.next = self.relay_after.val();
                    }
                }
            }
            EngineState::RelayClose => {
                // CONN_CLOSE in ESTABLISHED (HopClose): the FIN now if every byte
                // below the new tail is sent and the send limit lets it out, else
                // FIN-WAIT-1 and the send queue's FIN after the bytes.
                self.wb_next.d.next = self.relay_after.val();
                self.relay_closing.d.next = false;
                if self.close.all_sent.val() & self.sendlim.fin_allowed.val() {
                    self.w.d.next = self.close.fin_sent.val();
                    self.advertise.next = true;
                    self.txr.address.next = TxAddressState::TcpToPeer;
                    self.txr.segment.next = TxSegmentState::FinAck;
                    self.tx_next.d.next = EngineState::WriteBack;
                    self.state.d.next = EngineState::TxSend;
                } else {
                    self.w.d.next.state = self.st_fin_wait1.val();
                    self.txq.push.next = true;
                    self.state.d.next = EngineState::WriteBack;
                }
            }
            EngineState::RelayPull => {
                // The target's own step back to the source: the same two halves,
                // with the roles swapped (the working TCB is the target, as written).
                self.pulling.d.next = true;
                self.state.d.next = EngineState::RelayStepX;
            }
            EngineState::RelayNext => {
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
            // TIME-WAIT: the peer's FIN again; the ACK goes out, 2 MSL start over (close.rs).
            if self.close.fin_again.val() {
                self.w.d.next.timer_due = self.close.time_wait_due.val();
            }
            if self.acc.ts_recent_take.val() {
                self.w.d.next.ts_recent = self.desc.tsval.val();
            }
            if self.acc.una_moves.val() {
                self.w.d.next.snd_una = self.desc.ack.val();
                if self.acc.nxt_moves.val() {
                    self.w.d.next.snd_nxt = self.desc.ack.val();
                }
                // RFC 6298 §5.3: new data acknowledged restarts the timer, without back-off.
                if self.close.ack_restarts_timer.val() {
                    self.w.d.next.timer_due = self.timebase.now_us.val() + self.rto_us.val();
                    self.w.d.next.retries = self.zero4.val();
                }
            }
            if self.acc.ack_taken.val() {
                self.w.d.next.snd_wnd = self.desc.window.val();
                // Nothing left in flight: the keep-alive / idle timer starts over (keepalive.rs).
                if self.ka.rearm.val() {
                    self.w.d.next.timer_due = self.ka.rearm_due.val();
                    self.w.d.next.retries = self.zero4.val();
                }
                // The ACK may have opened the window for bytes that wait.
                self.txq.push.next = self.tx_pending.val();
            }
            if (self.acc.ack_taken.val() | (self.acc.ack_only.val() & (self.txack.verdict.val() >= self.verdict_new_data.val())))
                & ((self.w.q.val().state == self.st_established.val()) | (self.w.q.val().state == self.st_close_wait.val()))
            {
                // The sending side's ACK processing (docs/tx.md): the ACK processor's
                // send fields and timer, its TX table entry, and the RTT sample of an
                // ACK of new data. Fast retransmit and partial ACKs resend the first
                // unacknowledged segment through the send queue.
                self.w.d.next.snd_una = self.txack.new_snd_una.val();
                self.w.d.next.snd_nxt = self.txack.new_snd_nxt.val();
                self.w.d.next.snd_wnd = self.txack.new_snd_wnd.val();
                self.w.d.next.timer_due = self.txack.new_timer_due_us.val();
                self.w.d.next.retries = self.txack.new_retries.val();
                self.txt.we.next = true;
                self.txt.w_cwnd.next = self.txack.new_cwnd.val();
                self.txt.w_ssthresh.next = self.txack.new_ssthresh.val();
                self.txt.w_bytes_acked.next = self.txack.new_bytes_acked.val();
                self.txt.w_recover.next = self.txack.new_recover.val();
                self.txt.w_wl1.next = self.txack.new_snd_wl1.val();
                self.txt.w_wl2.next = self.txack.new_snd_wl2.val();
                self.txt.w_dupacks.next = self.txack.new_dupacks.val();
                self.txt.w_in_recovery.next = self.txack.new_in_recovery.val();
                self.txt.w_partial_seen.next = self.txack.new_partial_seen.val();
                self.txt.w_timer.next = self.txack.new_timer.val();
                // With neither timer of the send side running, the keep-alive / idle
                // timer owns timer_due and retries (keepalive.rs); the persist timer
                // may run with nothing in flight, so it is asked, not snd_una.
                if self.ka.rearm.val() & (self.txack.new_timer.val() == self.timer_off.val()) {
                    self.w.d.next.timer_due = self.ka.rearm_due.val();
                    self.w.d.next.retries = self.zero4.val();
                }
                self.txt.w_probe.next = self.txt.probe.val() & (self.txack.new_timer.val() == self.timer_persist.val());
                // RFC 6675 §5 (C): in SACK recovery every duplicate ACK with SACK
                // information may resend the next lost hole (NextSeg).
                self.txt.w_resend.next = self.txt.resend.val() | self.txack.retransmit.val() | self.sack_resend.val();
                // The ACK's blocks go into the connection's board; fast retransmit
                // starts resending at snd_una (HighRxt + 1).
                self.sndsack.feed.next = self.w.q.val().sack_ok.any() & (self.txack.verdict.val() >= self.verdict_no_progress.val());
                if self.txack.verdict.val() == self.verdict_fast_retransmit.val() {
                    self.sndsack.rxt_we.next = true;
                    self.sndsack.rxt_value.next = self.txack.new_snd_una.val();
                }
                if self.txack.verdict.val() >= self.verdict_new_data.val() {
                    self.txt.w_srtt8.next = self.txrtt.new_srtt8.val();
                    self.txt.w_rttvar4.next = self.txrtt.new_rttvar4.val();
                    self.txt.w_rto_us.next = self.txrtt.new_rto_us.val();
                    self.txt.w_measured.next = self.txrtt.new_measured.val();
                    self.txt.w_timing.next = self.txrtt.new_timing.val();
                }
                if self.txack.retransmit.val() {
                    self.stats.next = self.acc.stats.val() | self.m_fast_retransmits.val();
                }
                self.txq.push.next = self.tx_pending.val() | self.txack.retransmit.val() | self.sack_resend.val();
            }
            self.copy_req.next = self.acc.copy.val() | self.acc.ooo_copy.val();
            self.copy_ooo.next = self.acc.ooo_copy.val();
            self.copy_len.next = self.acc.take_len.val();
            if self.acc.ooo_copy.val() {
                self.copy_len.next = self.hmerge.new_len.val();
            }
            self.take.d.next = self.acc.take_len.val();
        }
        // The copy runs while the FIN step, the reply and the write-back go on; the
        // frame is popped only after its `done` (PopFrame). fb_off skips the part of
        // the segment below rcv_nxt.
        self.ring.valid.next = self.copy_req.val();
        self.ring.len.next = self.copy_len.val();
        self.fb_sel_ring.next = self.copy_busy.q.val() | self.copy_req.val();
        if self.copy_ooo.val() {
            // Out of order: the new bytes at their own offset, skipping what is held.
            self.ring.fb_off.next = self.desc.payload_off.val() + self.hmerge.new_skip.val();
            self.ring.ring_off.next = self.ooo_pos.val();
        }
        if self.copy_req.val() & self.ring.ready.val() {
            self.stats.next = self.m_payload.val();
            self.stat_bytes.next = bit_cast::<16, 11>(self.copy_len.val());
            self.copy_busy.d.next = true;
            if self.copy_ooo.val() {
                // Held beyond rcv_nxt: rcv_nxt (what the host may read) stays.
                self.stats.next = self.m_payload.val() | self.m_ooo_held.val();
                self.hole_meta.write_enable.next = true;
                for i in 0..HOLE_SLOTS {
                    self.hole_start[i].write_enable.next = true;
                    self.hole_end[i].write_enable.next = true;
                }
            } else {
                self.w.d.next.rcv_nxt = self.w.q.val().rcv_nxt + bit_cast::<32, 11>(self.copy_len.val());
                if self.hmerge.jump.val() {
                    // The gap before the first held range is filled: rcv_nxt jumps over it.
                    self.w.d.next.rcv_nxt = self.hmerge.jump_to.val();
                    self.stats.next = self.m_payload.val() | self.m_holes_filled.val();
                    self.hole_meta.write_enable.next = true;
                    self.hole_meta.write_data.next = self.hmerge.adv_meta.val();
                    for i in 0..HOLE_SLOTS {
                        self.hole_start[i].write_enable.next = true;
                        self.hole_start[i].write_data.next = self.hmerge.adv_start[i].val();
                        self.hole_end[i].write_enable.next = true;
                        self.hole_end[i].write_data.next = self.hmerge.adv_end[i].val();
                    }
                }
            }
        } else if self.ring.done.val() {
            self.copy_busy.d.next = false;
        }
        if self.write_back.val() {
            self.tcb_ram.write_enable.next = true;
            // Padding is stored as zero; `gen` counts this write; EPOCH stamps the writer.
            self.tcb_ram.write_data.next = self.w.q.val();
            self.tcb_ram.write_data.next.pad_w0_12 = self.zero4.val();
            self.tcb_ram.write_data.next.pad_w14_26 = self.zero6.val(); // word 14 bits 23:16 the shifts, 24 SACK, 25 timestamps
            self.tcb_ram.write_data.next.gen = self.gen_next.val();
            self.tcb_ram.write_data.next.epoch = self.epoch.val();
            self.w.d.next.gen = self.gen_next.val();
            self.chlog_push.next = true;
            // Relay mode: every write of a linked TCB is followed by a visit.
            if (self.w.q.val().peer_link != self.no_link.val()) & !self.standby.val() {
                self.rq.push.next = true;
            }
        }
        // A release that a relay close follows is written once, after the close.
        if (self.state.q.val() == EngineState::Reply) & self.relay_closing.q.val() {
            self.wb_pending.d.next = false;
        }
        // HALF_OPEN follows the table's write port: the slot's bit as last
        // written (read at cur_id, which stands still before any write) against the new one.
        self.half_new.next = self.tcb_ram.write_data.val().state == self.st_syn_rcvd.val();
        if self.tcb_ram.write_enable.val() {
            self.half_bits.write_enable.next = true;
            self.half_bits.write_data.next = self.tcb_ram.write_data.val().state == self.st_syn_rcvd.val();
            if self.half_new.val() & !self.half_bits.read_data.val() {
                self.half_count.d.next = self.half_count.q.val() + 1_u16.to_bits();
            } else if !self.half_new.val() & self.half_bits.read_data.val() {
                self.half_count.d.next = self.half_count.q.val() - 1_u16.to_bits();
            }
        }
        // One place loads the working TCB from the block RAM's read data.
        self.tcb_ram.read_address.next = self.rd_slot.val();
        self.txt.read_slot.next = self.rd_slot.val();
        self.sendlim.read_slot.next = self.rd_slot.val();
        self.sndsack.clock.next = self.clock.val();
        self.sndsack.read_slot.next = self.rd_slot.val();
        self.sndsack.write_slot.next = self.cur_id.q.val();
        self.sndsack.load.next = self.load_tcb.val();
        // A new or promoted connection's TX entry, or a timeout's: an empty board.
        self.sndsack.clear.next = self.txt.we.val() & (self.txt.init.val() | self.txt.timeout.val());
        for i in 0..HOLE_SLOTS {
            self.hole_start[i].read_address.next = self.rd_slot.val();
            self.hole_end[i].read_address.next = self.rd_slot.val();
        }
        self.hole_meta.read_address.next = self.rd_slot.val();
        if self.holes_clear.val() {
            self.hole_meta.write_enable.next = true;
            self.hole_meta.write_data.next = self.no_holes.val();
        }
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
        // The SACK store counts in the background, beside whatever this cycle counts.
        self.sack_counts.next = self.no_stats.val();
        if self.sndsack.dsack_block.val() {
            self.sack_counts.next = self.m_sack_dsack.val();
        }
        if self.sndsack.bogus_block.val() {
            self.sack_counts.next = self.m_sack_bogus.val();
        }
        if self.sndsack.range_dropped.val() {
            // (Never with the other two: a block that drops a range was taken.)
            self.sack_counts.next = self.m_sack_dropped.val();
        }
        self.stat_inc.next = self.stats.val() | self.sack_counts.val();
        self.now_us.next = self.timebase.now_us.val();
        self.open_conns.next = self.open_count.q.val();
        self.idle.next = (self.state.q.val() == EngineState::Idle)
            & !self.sndsack.busy.val()
            & !self.timebase.scan_due.val()
            & !self.desc.valid.val()
            & !self.hop.valid.val()
            & !self.promote_req.val()
            & !self.txq.head_valid.val()
            & self.txq.settled.val()
            & !self.rq.head_valid.val()
            & self.rq.settled.val();
        // Every table write, for the event writer's copy of the table.
        self.tcb_we.next = self.tcb_ram.write_enable.val();
        self.tcb_waddr.next = self.tcb_ram.write_address.val();
        self.tcb_wdata.next = self.tcb_ram.write_data.val().into();
    }
}
