//! The TX table (docs/tx.md, "The TX control block"): each connection's
//! congestion and timer state beside its TCB, in block RAM like the TCB
//! table, and not replicated (a promoted standby starts it afresh).
//!
//! One simple dual-port RAM per field, read at `read_slot` (the slot the
//! engine's TCB table reads, so an entry arrives with its TCB) and written at
//! `write_slot` when `we`. A write stores one of three entries:
//!
//! - `init`: a new connection's (a passive open's, or a promoted one's): cwnd
//!   at RFC 5681 §3.1 eq. 1's initial window for SMSS (`peer_mss` clamped to
//!   1460, less 12 with timestamps), ssthresh 65535, RTO `init_rto_us` with no sample yet (RFC 6298
//!   §2.1), `recover` and SND.WL1/WL2 as given, nothing timed, no recovery;
//! - `timeout`: the entry read, after its retransmission timer fired (RFC 5681
//!   §3.1 eq. 4 and the loss window, RFC 6582 §3.2 step 4): ssthresh
//!   `max(flight / 2, 2 SMSS)` on the first timeout of a segment only, cwnd
//!   one SMSS, recovery over with `recover = snd_max - 1`, the RTO backed off
//!   to `w_rto_us` and the measurement cancelled (Karn), the segment at
//!   snd_una to be resent by the send path;
//! - otherwise the `w_*` fields as given.
//!
//! The narrow fields share one 16-bit word (`dupacks` 3:0, `in_recovery` 4,
//! `partial_seen` 5, `measured` 6, `timing` 7, `timer` 9:8, `resend` 10,
//! `probe` 11, `by_echo` 12: the timed segment is measured by the TSval its
//! ACK echoes, `hdl/src/tx/rtt.rs`). `resend` asks the send path for the first unacknowledged
//! segment again (fast retransmit, a partial ACK, a timeout); `probe` for a
//! zero-window probe (the persist timer fired).
use super::MAX_SEGMENT;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TxTable<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub read_slot: Signal<In, Bits<CONN_BITS>>,
    pub write_slot: Signal<In, Bits<CONN_BITS>>,
    pub we: Signal<In, Bit>,
    pub init: Signal<In, Bit>,
    pub timeout: Signal<In, Bit>,
    /// The peer's MSS as the TCB holds it (SMSS once clamped to 1460). Only
    /// the writes use it: no output depends on an input, so the engine may
    /// feed this block from anything without a combinational loop.
    pub peer_mss: Signal<In, Bits<16>>,
    /// Timestamps were negotiated: every segment carries the 12-byte option,
    /// so SMSS is 12 bytes less (RFC 6691 §2).
    pub ts_ok: Signal<In, Bit>,
    /// `init`: the first RTO, and where `recover`, SND.WL1 and SND.WL2 start.
    pub init_rto_us: Signal<In, Bits<32>>,
    pub init_recover: Signal<In, Bits<32>>,
    pub init_wl1: Signal<In, Bits<32>>,
    pub init_wl2: Signal<In, Bits<32>>,
    pub init_timer: Signal<In, Bits<2>>,
    /// `timeout`: FlightSize, snd_max, and whether this is the segment's first timeout.
    pub flight: Signal<In, Bits<32>>,
    pub snd_max: Signal<In, Bits<32>>,
    pub first_timeout: Signal<In, Bit>,

    pub w_cwnd: Signal<In, Bits<32>>,
    pub w_ssthresh: Signal<In, Bits<32>>,
    pub w_bytes_acked: Signal<In, Bits<32>>,
    pub w_recover: Signal<In, Bits<32>>,
    pub w_srtt8: Signal<In, Bits<32>>,
    pub w_rttvar4: Signal<In, Bits<32>>,
    pub w_rto_us: Signal<In, Bits<32>>,
    pub w_rtt_seq: Signal<In, Bits<32>>,
    pub w_rtt_start_us: Signal<In, Bits<32>>,
    pub w_wl1: Signal<In, Bits<32>>,
    pub w_wl2: Signal<In, Bits<32>>,
    pub w_dupacks: Signal<In, Bits<4>>,
    pub w_in_recovery: Signal<In, Bit>,
    pub w_partial_seen: Signal<In, Bit>,
    pub w_measured: Signal<In, Bit>,
    pub w_timing: Signal<In, Bit>,
    pub w_by_echo: Signal<In, Bit>,
    pub w_timer: Signal<In, Bits<2>>,
    pub w_resend: Signal<In, Bit>,
    pub w_probe: Signal<In, Bit>,

    pub cwnd: Signal<Out, Bits<32>>,
    pub ssthresh: Signal<Out, Bits<32>>,
    pub bytes_acked: Signal<Out, Bits<32>>,
    pub recover: Signal<Out, Bits<32>>,
    pub srtt8: Signal<Out, Bits<32>>,
    pub rttvar4: Signal<Out, Bits<32>>,
    pub rto_us: Signal<Out, Bits<32>>,
    pub rtt_seq: Signal<Out, Bits<32>>,
    pub rtt_start_us: Signal<Out, Bits<32>>,
    pub wl1: Signal<Out, Bits<32>>,
    pub wl2: Signal<Out, Bits<32>>,
    pub dupacks: Signal<Out, Bits<4>>,
    pub in_recovery: Signal<Out, Bit>,
    pub partial_seen: Signal<Out, Bit>,
    pub measured: Signal<Out, Bit>,
    pub timing: Signal<Out, Bit>,
    pub by_echo: Signal<Out, Bit>,
    pub timer: Signal<Out, Bits<2>>,
    pub resend: Signal<Out, Bit>,
    pub probe: Signal<Out, Bit>,

    cwnd_ram: RAM<Bits<32>, CONN_BITS>,
    ssthresh_ram: RAM<Bits<32>, CONN_BITS>,
    bytes_acked_ram: RAM<Bits<32>, CONN_BITS>,
    recover_ram: RAM<Bits<32>, CONN_BITS>,
    srtt8_ram: RAM<Bits<32>, CONN_BITS>,
    rttvar4_ram: RAM<Bits<32>, CONN_BITS>,
    rto_ram: RAM<Bits<32>, CONN_BITS>,
    rtt_seq_ram: RAM<Bits<32>, CONN_BITS>,
    rtt_start_ram: RAM<Bits<32>, CONN_BITS>,
    wl1_ram: RAM<Bits<32>, CONN_BITS>,
    wl2_ram: RAM<Bits<32>, CONN_BITS>,
    flags_ram: RAM<Bits<16>, CONN_BITS>,

    mss_clamped: Signal<Local, Bits<16>>,
    smss16: Signal<Local, Bits<16>>,
    ts_option_bytes: Constant<Bits<16>>,
    smss32: Signal<Local, Bits<32>>,
    iw: Signal<Local, Bits<32>>,
    loss_ssthresh: Signal<Local, Bits<32>>,
    flags_w: Signal<Local, Bits<16>>,
    max_seg: Constant<Bits<16>>,
    iw_1095: Constant<Bits<16>>,
    initial_ssthresh: Constant<Bits<32>>,
    timer_retransmit_flags: Constant<Bits<16>>,
}

impl<const CONN_BITS: usize> Default for TxTable<CONN_BITS> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            read_slot: Default::default(),
            write_slot: Default::default(),
            we: Default::default(),
            init: Default::default(),
            timeout: Default::default(),
            peer_mss: Default::default(),
            ts_ok: Default::default(),
            init_rto_us: Default::default(),
            init_recover: Default::default(),
            init_wl1: Default::default(),
            init_wl2: Default::default(),
            init_timer: Default::default(),
            flight: Default::default(),
            snd_max: Default::default(),
            first_timeout: Default::default(),
            w_cwnd: Default::default(),
            w_ssthresh: Default::default(),
            w_bytes_acked: Default::default(),
            w_recover: Default::default(),
            w_srtt8: Default::default(),
            w_rttvar4: Default::default(),
            w_rto_us: Default::default(),
            w_rtt_seq: Default::default(),
            w_rtt_start_us: Default::default(),
            w_wl1: Default::default(),
            w_wl2: Default::default(),
            w_dupacks: Default::default(),
            w_in_recovery: Default::default(),
            w_partial_seen: Default::default(),
            w_measured: Default::default(),
            w_timing: Default::default(),
            w_by_echo: Default::default(),
            w_timer: Default::default(),
            w_resend: Default::default(),
            w_probe: Default::default(),
            cwnd: Default::default(),
            ssthresh: Default::default(),
            bytes_acked: Default::default(),
            recover: Default::default(),
            srtt8: Default::default(),
            rttvar4: Default::default(),
            rto_us: Default::default(),
            rtt_seq: Default::default(),
            rtt_start_us: Default::default(),
            wl1: Default::default(),
            wl2: Default::default(),
            dupacks: Default::default(),
            in_recovery: Default::default(),
            partial_seen: Default::default(),
            measured: Default::default(),
            timing: Default::default(),
            by_echo: Default::default(),
            timer: Default::default(),
            resend: Default::default(),
            probe: Default::default(),
            cwnd_ram: Default::default(),
            ssthresh_ram: Default::default(),
            bytes_acked_ram: Default::default(),
            recover_ram: Default::default(),
            srtt8_ram: Default::default(),
            rttvar4_ram: Default::default(),
            rto_ram: Default::default(),
            rtt_seq_ram: Default::default(),
            rtt_start_ram: Default::default(),
            wl1_ram: Default::default(),
            wl2_ram: Default::default(),
            flags_ram: Default::default(),
            mss_clamped: Default::default(),
            smss16: Default::default(),
            ts_option_bytes: Constant::new(Bits::<16>::from(12u64)),
            smss32: Default::default(),
            iw: Default::default(),
            loss_ssthresh: Default::default(),
            flags_w: Default::default(),
            max_seg: Constant::new(Bits::<16>::from(u64::from(MAX_SEGMENT))),
            iw_1095: Constant::new(Bits::<16>::from(1095u64)),
            initial_ssthresh: Constant::new(Bits::<32>::from(65_535u64)),
            timer_retransmit_flags: Constant::new(Bits::<16>::from(crate::tx::TIMER_RETRANSMIT << 8)),
        }
    }
}

impl<const CONN_BITS: usize> Logic for TxTable<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        self.cwnd_ram.read_clock.next = self.clock.val();
        self.cwnd_ram.write_clock.next = self.clock.val();
        self.ssthresh_ram.read_clock.next = self.clock.val();
        self.ssthresh_ram.write_clock.next = self.clock.val();
        self.bytes_acked_ram.read_clock.next = self.clock.val();
        self.bytes_acked_ram.write_clock.next = self.clock.val();
        self.recover_ram.read_clock.next = self.clock.val();
        self.recover_ram.write_clock.next = self.clock.val();
        self.srtt8_ram.read_clock.next = self.clock.val();
        self.srtt8_ram.write_clock.next = self.clock.val();
        self.rttvar4_ram.read_clock.next = self.clock.val();
        self.rttvar4_ram.write_clock.next = self.clock.val();
        self.rto_ram.read_clock.next = self.clock.val();
        self.rto_ram.write_clock.next = self.clock.val();
        self.rtt_seq_ram.read_clock.next = self.clock.val();
        self.rtt_seq_ram.write_clock.next = self.clock.val();
        self.rtt_start_ram.read_clock.next = self.clock.val();
        self.rtt_start_ram.write_clock.next = self.clock.val();
        self.wl1_ram.read_clock.next = self.clock.val();
        self.wl1_ram.write_clock.next = self.clock.val();
        self.wl2_ram.read_clock.next = self.clock.val();
        self.wl2_ram.write_clock.next = self.clock.val();
        self.flags_ram.read_clock.next = self.clock.val();
        self.flags_ram.write_clock.next = self.clock.val();

        self.cwnd_ram.read_address.next = self.read_slot.val();
        self.ssthresh_ram.read_address.next = self.read_slot.val();
        self.bytes_acked_ram.read_address.next = self.read_slot.val();
        self.recover_ram.read_address.next = self.read_slot.val();
        self.srtt8_ram.read_address.next = self.read_slot.val();
        self.rttvar4_ram.read_address.next = self.read_slot.val();
        self.rto_ram.read_address.next = self.read_slot.val();
        self.rtt_seq_ram.read_address.next = self.read_slot.val();
        self.rtt_start_ram.read_address.next = self.read_slot.val();
        self.wl1_ram.read_address.next = self.read_slot.val();
        self.wl2_ram.read_address.next = self.read_slot.val();
        self.flags_ram.read_address.next = self.read_slot.val();

        self.cwnd_ram.write_address.next = self.write_slot.val();
        self.ssthresh_ram.write_address.next = self.write_slot.val();
        self.bytes_acked_ram.write_address.next = self.write_slot.val();
        self.recover_ram.write_address.next = self.write_slot.val();
        self.srtt8_ram.write_address.next = self.write_slot.val();
        self.rttvar4_ram.write_address.next = self.write_slot.val();
        self.rto_ram.write_address.next = self.write_slot.val();
        self.rtt_seq_ram.write_address.next = self.write_slot.val();
        self.rtt_start_ram.write_address.next = self.write_slot.val();
        self.wl1_ram.write_address.next = self.write_slot.val();
        self.wl2_ram.write_address.next = self.write_slot.val();
        self.flags_ram.write_address.next = self.write_slot.val();

        self.cwnd_ram.write_enable.next = self.we.val();
        self.ssthresh_ram.write_enable.next = self.we.val();
        self.bytes_acked_ram.write_enable.next = self.we.val();
        self.recover_ram.write_enable.next = self.we.val();
        self.srtt8_ram.write_enable.next = self.we.val();
        self.rttvar4_ram.write_enable.next = self.we.val();
        self.rto_ram.write_enable.next = self.we.val();
        self.rtt_seq_ram.write_enable.next = self.we.val();
        self.rtt_start_ram.write_enable.next = self.we.val();
        self.wl1_ram.write_enable.next = self.we.val();
        self.wl2_ram.write_enable.next = self.we.val();
        self.flags_ram.write_enable.next = self.we.val();

        // SMSS and the values an init or a timeout writes.
        self.mss_clamped.next = self.peer_mss.val();
        if self.peer_mss.val() > self.max_seg.val() {
            self.mss_clamped.next = self.max_seg.val();
        }
        self.smss16.next = self.mss_clamped.val();
        if self.ts_ok.val() {
            self.smss16.next = self.mss_clamped.val() - self.ts_option_bytes.val();
        }
        self.smss32.next = bit_cast::<32, 16>(self.smss16.val());
        // RFC 5681 §3.1 eq. 1 (the 2-segment case, SMSS > 2190, lies above the clamp).
        self.iw.next = self.smss32.val() << 2;
        if self.smss16.val() > self.iw_1095.val() {
            self.iw.next = (self.smss32.val() << 1) + self.smss32.val();
        }
        self.loss_ssthresh.next = self.flight.val() >> 1;
        if (self.flight.val() >> 1) < (self.smss32.val() << 1) {
            self.loss_ssthresh.next = self.smss32.val() << 1;
        }

        self.flags_w.next = bit_cast::<16, 4>(self.w_dupacks.val()) | (bit_cast::<16, 2>(self.w_timer.val()) << 8);
        if self.w_in_recovery.val() {
            self.flags_w.next = self.flags_w.val() | 0x10_u16.to_bits();
        }
        if self.w_partial_seen.val() {
            self.flags_w.next = self.flags_w.val() | 0x20_u16.to_bits();
        }
        if self.w_measured.val() {
            self.flags_w.next = self.flags_w.val() | 0x40_u16.to_bits();
        }
        if self.w_timing.val() {
            self.flags_w.next = self.flags_w.val() | 0x80_u16.to_bits();
        }
        if self.w_by_echo.val() {
            self.flags_w.next = self.flags_w.val() | 0x1000_u16.to_bits();
        }
        if self.w_resend.val() {
            self.flags_w.next = self.flags_w.val() | 0x400_u16.to_bits();
        }
        if self.w_probe.val() {
            self.flags_w.next = self.flags_w.val() | 0x800_u16.to_bits();
        }

        self.cwnd_ram.write_data.next = self.w_cwnd.val();
        self.ssthresh_ram.write_data.next = self.w_ssthresh.val();
        self.bytes_acked_ram.write_data.next = self.w_bytes_acked.val();
        self.recover_ram.write_data.next = self.w_recover.val();
        self.srtt8_ram.write_data.next = self.w_srtt8.val();
        self.rttvar4_ram.write_data.next = self.w_rttvar4.val();
        self.rto_ram.write_data.next = self.w_rto_us.val();
        self.rtt_seq_ram.write_data.next = self.w_rtt_seq.val();
        self.rtt_start_ram.write_data.next = self.w_rtt_start_us.val();
        self.wl1_ram.write_data.next = self.w_wl1.val();
        self.wl2_ram.write_data.next = self.w_wl2.val();
        self.flags_ram.write_data.next = self.flags_w.val();
        if self.init.val() {
            self.cwnd_ram.write_data.next = self.iw.val();
            self.ssthresh_ram.write_data.next = self.initial_ssthresh.val();
            self.bytes_acked_ram.write_data.next = 0_u32.to_bits();
            self.recover_ram.write_data.next = self.init_recover.val();
            self.srtt8_ram.write_data.next = 0_u32.to_bits();
            self.rttvar4_ram.write_data.next = 0_u32.to_bits();
            self.rto_ram.write_data.next = self.init_rto_us.val();
            self.rtt_seq_ram.write_data.next = 0_u32.to_bits();
            self.rtt_start_ram.write_data.next = 0_u32.to_bits();
            self.wl1_ram.write_data.next = self.init_wl1.val();
            self.wl2_ram.write_data.next = self.init_wl2.val();
            self.flags_ram.write_data.next = bit_cast::<16, 2>(self.init_timer.val()) << 8;
        } else if self.timeout.val() {
            // The read entry, with the loss response of RFC 5681 §3.1 / RFC 6582 §3.2 step 4.
            self.cwnd_ram.write_data.next = self.smss32.val();
            self.ssthresh_ram.write_data.next = self.ssthresh_ram.read_data.val();
            if self.first_timeout.val() {
                self.ssthresh_ram.write_data.next = self.loss_ssthresh.val();
            }
            self.bytes_acked_ram.write_data.next = 0_u32.to_bits();
            self.recover_ram.write_data.next = self.snd_max.val() - 1_u32.to_bits();
            self.srtt8_ram.write_data.next = self.srtt8_ram.read_data.val();
            self.rttvar4_ram.write_data.next = self.rttvar4_ram.read_data.val();
            self.rto_ram.write_data.next = self.w_rto_us.val();
            self.rtt_seq_ram.write_data.next = self.rtt_seq_ram.read_data.val();
            self.rtt_start_ram.write_data.next = self.rtt_start_ram.read_data.val();
            self.wl1_ram.write_data.next = self.wl1_ram.read_data.val();
            self.wl2_ram.write_data.next = self.wl2_ram.read_data.val();
            // dupacks 0, out of recovery, not timing; measured kept; the retransmission
            // timer runs on; the first unacknowledged segment is to be sent again.
            self.flags_ram.write_data.next =
                (self.flags_ram.read_data.val() & 0x40_u16.to_bits()) | self.timer_retransmit_flags.val() | 0x400_u16.to_bits();
        }

        self.cwnd.next = self.cwnd_ram.read_data.val();
        self.ssthresh.next = self.ssthresh_ram.read_data.val();
        self.bytes_acked.next = self.bytes_acked_ram.read_data.val();
        self.recover.next = self.recover_ram.read_data.val();
        self.srtt8.next = self.srtt8_ram.read_data.val();
        self.rttvar4.next = self.rttvar4_ram.read_data.val();
        self.rto_us.next = self.rto_ram.read_data.val();
        self.rtt_seq.next = self.rtt_seq_ram.read_data.val();
        self.rtt_start_us.next = self.rtt_start_ram.read_data.val();
        self.wl1.next = self.wl1_ram.read_data.val();
        self.wl2.next = self.wl2_ram.read_data.val();
        self.dupacks.next = self.flags_ram.read_data.val().get_bits::<4>(0);
        self.in_recovery.next = self.flags_ram.read_data.val().get_bit(4);
        self.partial_seen.next = self.flags_ram.read_data.val().get_bit(5);
        self.measured.next = self.flags_ram.read_data.val().get_bit(6);
        self.timing.next = self.flags_ram.read_data.val().get_bit(7);
        self.by_echo.next = self.flags_ram.read_data.val().get_bit(12);
        self.timer.next = self.flags_ram.read_data.val().get_bits::<2>(8);
        self.resend.next = self.flags_ram.read_data.val().get_bit(10);
        self.probe.next = self.flags_ram.read_data.val().get_bit(11);
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxTable::<10>::default(), "tx_table")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_table_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_table", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_table", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_table (N = 1024) area: {area:?}");
        assert!(area.bram18 >= 12, "every field in block RAM: {area:?}");
    }
}
