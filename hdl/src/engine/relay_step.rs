//! Relay mode's splice (docs/relay.md "The splice rule"), as two
//! combinational blocks computing exactly what the reference model's
//! `sim/src/refmodel/relay.rs` computes, so the engine can run one step per
//! changed TCB: [`RelayStep`] reads the changed connection `x` and says what
//! it asks of its peer `y` (`relay_step`), [`RelayApply`] reads `y` and
//! applies that request (`apply_follow`).
//!
//! A pair is two TCBs naming each other in `peer_link` (0xFFFF: no link).
//! Stream offset `o` of what `x` receives (`x.irs + 1 + o`) is offset `o` of
//! what `y` sends (`y.iss + 1 + o`), so:
//! - `y`'s send tail is `x.rcv_nxt - x.irs - 1`, less one once `x` received
//!   its peer's FIN (the FIN takes a sequence number that is not a byte);
//! - `y`'s R is `x.snd_una + x.seq_offset` (what `x`'s peer acknowledged,
//!   in `y`'s receive sequence space), a serial maximum with the R it has;
//! - `y.seq_offset = x.irs - y.iss`.
//!
//! State codes 11-15 are not RFC 9293 states (the register map refuses to
//! decode them, `holdback_regmap::TcbError::UnknownState`); the RTL gives
//! them no meaning, so here they count as not synchronized (no `follow`: a
//! TCB whose offsets cannot be trusted moves nothing in its peer) and not
//! sending (an apply moves no tail and asks no close). A reset still aborts
//! the peer whatever the state, as it does for every valid one.
//!
//! Sequence numbers and send-tail offsets are compared in serial-number order
//! ([`SeqCmp`], RFC 1982 / RFC 9293 §3.4), never with a plain `<`.
use super::st;
use crate::seq_cmp::SeqCmp;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

/// `peer_link` of a connection that relays nothing (the model's `NO_LINK`).
pub const NO_LINK: u64 = holdback_regmap::NO_PEER_LINK as u64;

/// What a change of `x` asks of its peer. At most one of `follow` and
/// `abort_peer` is set; neither when `x` has no link, or is not synchronized
/// (RFC 9293 §3.3.2: CLOSED, LISTEN, SYN-SENT, SYN-RECEIVED, or a code
/// outside 0..=10) and not reset.
///
/// `peer` is `peer_link` always. `tx_end`, `peer_rel` and `irs_out` are
/// computed always and mean something only with `follow`; `close` is set
/// only with `follow`.
#[derive(LogicBlock)]
pub struct RelayStep {
    /// `x.state` (`holdback_regmap::TcpState` code).
    pub state: Signal<In, Bits<4>>,
    pub peer_link: Signal<In, Bits<16>>,
    pub irs: Signal<In, Bits<32>>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub snd_una: Signal<In, Bits<32>>,
    pub seq_offset: Signal<In, Bits<32>>,
    /// `x` just ended abnormally (RST received or sent, give-up, abort).
    pub reset: Signal<In, Bit>,

    /// Update the peer (`PeerUpdate::Follow`).
    pub follow: Signal<Out, Bit>,
    /// Reset the peer (`PeerUpdate::Abort`). (Not `abort`: Verilator's
    /// SYMRSVDWORD refuses it, a C/C++ library name.)
    pub abort_peer: Signal<Out, Bit>,
    pub peer: Signal<Out, Bits<16>>,
    /// The peer's send tail: the transmit-stream offset up to which `x`
    /// received bytes.
    pub tx_end: Signal<Out, Bits<32>>,
    /// The peer's new R, before its serial maximum with the R it has.
    /// (Not named `release`: a SystemVerilog keyword, rejected by Verilator.)
    pub peer_rel: Signal<Out, Bits<32>>,
    /// `x.irs`, from which the peer derives its `seq_offset`.
    pub irs_out: Signal<Out, Bits<32>>,
    /// `x` received its peer's FIN: the peer closes after its tail.
    pub close: Signal<Out, Bit>,

    linked: Signal<Local, Bit>,
    synchronized: Signal<Local, Bit>,
    fin: Signal<Local, Bit>,
    /// `rcv_nxt - irs - 1`: offsets received, the FIN's place included.
    received: Signal<Local, Bits<32>>,
    no_link: Constant<Bits<16>>,
    one32: Constant<Bits<32>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_time_wait: Constant<Bits<4>>,
}

impl Default for RelayStep {
    fn default() -> Self {
        Self {
            state: Default::default(),
            peer_link: Default::default(),
            irs: Default::default(),
            rcv_nxt: Default::default(),
            snd_una: Default::default(),
            seq_offset: Default::default(),
            reset: Default::default(),
            follow: Default::default(),
            abort_peer: Default::default(),
            peer: Default::default(),
            tx_end: Default::default(),
            peer_rel: Default::default(),
            irs_out: Default::default(),
            close: Default::default(),
            linked: Default::default(),
            synchronized: Default::default(),
            fin: Default::default(),
            received: Default::default(),
            no_link: Constant::new(Bits::<16>::from(NO_LINK)),
            one32: Constant::new(Bits::<32>::from(1u64)),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_time_wait: st(TcpState::TimeWait),
        }
    }
}

impl Logic for RelayStep {
    #[hdl_gen]
    fn update(&mut self) {
        self.linked.next = self.peer_link.val() != self.no_link.val();
        // The codes run CLOSED 0, LISTEN 1, SYN-SENT 2, SYN-RECEIVED 3, then the
        // synchronized ESTABLISHED 4 ..= TIME-WAIT 10; the FIN-received ones are
        // CLOSE-WAIT 7 ..= TIME-WAIT 10 (CLOSING, LAST-ACK between). State codes,
        // not sequence numbers: a plain compare is right here.
        self.synchronized.next = (self.state.val() >= self.st_established.val()) & (self.state.val() <= self.st_time_wait.val());
        self.fin.next = (self.state.val() >= self.st_close_wait.val()) & (self.state.val() <= self.st_time_wait.val());

        self.abort_peer.next = self.linked.val() & self.reset.val();
        self.follow.next = self.linked.val() & !self.reset.val() & self.synchronized.val();
        self.peer.next = self.peer_link.val();

        self.received.next = self.rcv_nxt.val() - self.irs.val() - self.one32.val();
        self.tx_end.next = self.received.val();
        if self.fin.val() {
            self.tx_end.next = self.received.val() - self.one32.val();
        }
        self.peer_rel.next = self.snd_una.val() + self.seq_offset.val();
        self.irs_out.next = self.irs.val();
        self.close.next = self.linked.val() & !self.reset.val() & self.fin.val();
    }
}

/// Applies a `follow` to the peer `y` (the model's `apply_follow`):
/// `seq_offset = follow_irs - iss`; R becomes `follow_rel` when R is
/// serially before it (`release_moved`), else stays; in ESTABLISHED and
/// CLOSE-WAIT (the states that send) the tail becomes `follow_tx_end` when
/// the tail is serially before it (`tail_moved`); in ESTABLISHED,
/// FIN-WAIT-1 and FIN-WAIT-2 (no FIN received yet) rcv_nxt becomes the new
/// R when it is serially before it (`rcv_jumped`: only on a promoted card,
/// docs/relay.md "Failover of both connections"); `close` asks the caller
/// to close `y` when `follow_close` and `y` sends. With `hold_synack`
/// (CTRL bit4) a SYN-RECEIVED `y` keeps its R: a relayed client's SYN-ACK
/// then waits for the host's release as well as the backend's accept
/// (docs/relay.md, "Setup across three parties").
#[derive(LogicBlock)]
pub struct RelayApply {
    /// `y.state` (`holdback_regmap::TcpState` code).
    pub state: Signal<In, Bits<4>>,
    pub iss: Signal<In, Bits<32>>,
    pub rel: Signal<In, Bits<32>>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub tx_end: Signal<In, Bits<32>>,
    /// `RelayStep`'s `tx_end`, `peer_rel`, `irs_out` and `close`.
    pub follow_tx_end: Signal<In, Bits<32>>,
    pub follow_rel: Signal<In, Bits<32>>,
    pub follow_irs: Signal<In, Bits<32>>,
    pub follow_close: Signal<In, Bit>,
    /// CTRL bit4: a SYN-RECEIVED `y`'s R is the host's to move.
    pub hold_synack: Signal<In, Bit>,

    pub seq_offset: Signal<Out, Bits<32>>,
    pub rel_out: Signal<Out, Bits<32>>,
    pub rcv_nxt_out: Signal<Out, Bits<32>>,
    pub tx_end_out: Signal<Out, Bits<32>>,
    pub release_moved: Signal<Out, Bit>,
    pub rcv_jumped: Signal<Out, Bit>,
    pub tail_moved: Signal<Out, Bit>,
    pub close: Signal<Out, Bit>,

    /// R before the requested R: a late or repeated step never moves it back.
    cmp_rel: SeqCmp,
    /// The tail before the requested tail (offsets wrap like sequence numbers).
    cmp_tail: SeqCmp,
    /// rcv_nxt before R and before the requested R; the new R picks one
    /// (compared from the inputs: R's own mux feeding a compare in this
    /// block would be a combinational loop to Verilator).
    cmp_rcv_rel: SeqCmp,
    cmp_rcv_follow: SeqCmp,
    /// R takes the requested R.
    rel_moves: Signal<Local, Bit>,
    sending: Signal<Local, Bit>,
    receiving: Signal<Local, Bit>,
    rcv_before_new_rel: Signal<Local, Bit>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_fin_wait1: Constant<Bits<4>>,
    st_fin_wait2: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
}

impl Default for RelayApply {
    fn default() -> Self {
        Self {
            state: Default::default(),
            iss: Default::default(),
            rel: Default::default(),
            rcv_nxt: Default::default(),
            tx_end: Default::default(),
            follow_tx_end: Default::default(),
            follow_rel: Default::default(),
            follow_irs: Default::default(),
            follow_close: Default::default(),
            hold_synack: Default::default(),
            seq_offset: Default::default(),
            rel_out: Default::default(),
            rcv_nxt_out: Default::default(),
            tx_end_out: Default::default(),
            release_moved: Default::default(),
            rcv_jumped: Default::default(),
            tail_moved: Default::default(),
            close: Default::default(),
            cmp_rel: Default::default(),
            cmp_tail: Default::default(),
            cmp_rcv_rel: Default::default(),
            cmp_rcv_follow: Default::default(),
            sending: Default::default(),
            receiving: Default::default(),
            rcv_before_new_rel: Default::default(),
            rel_moves: Default::default(),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_fin_wait1: st(TcpState::FinWait1),
            st_fin_wait2: st(TcpState::FinWait2),
            st_syn_rcvd: st(TcpState::SynReceived),
        }
    }
}

impl Logic for RelayApply {
    #[hdl_gen]
    fn update(&mut self) {
        self.seq_offset.next = self.follow_irs.val() - self.iss.val();

        self.cmp_rel.a.next = self.rel.val();
        self.cmp_rel.b.next = self.follow_rel.val();
        self.rel_moves.next = self.cmp_rel.a_before_b.val()
            & !(self.hold_synack.val() & (self.state.val() == self.st_syn_rcvd.val()));
        self.release_moved.next = self.rel_moves.val();
        self.rel_out.next = self.rel.val();
        if self.rel_moves.val() {
            self.rel_out.next = self.follow_rel.val();
        }

        // R passes rcv_nxt only on a promoted card: the peer already had an
        // ACK from the old card for bytes this one never received.
        self.receiving.next = (self.state.val() == self.st_established.val())
            | (self.state.val() == self.st_fin_wait1.val())
            | (self.state.val() == self.st_fin_wait2.val());
        self.cmp_rcv_rel.a.next = self.rcv_nxt.val();
        self.cmp_rcv_rel.b.next = self.rel.val();
        self.cmp_rcv_follow.a.next = self.rcv_nxt.val();
        self.cmp_rcv_follow.b.next = self.follow_rel.val();
        self.rcv_before_new_rel.next = self.cmp_rcv_rel.a_before_b.val();
        if self.rel_moves.val() {
            self.rcv_before_new_rel.next = self.cmp_rcv_follow.a_before_b.val();
        }
        self.rcv_jumped.next = self.receiving.val() & self.rcv_before_new_rel.val();
        self.rcv_nxt_out.next = self.rcv_nxt.val();
        if self.receiving.val() & self.rcv_before_new_rel.val() {
            self.rcv_nxt_out.next = self.rel_out.val();
        }

        self.sending.next = (self.state.val() == self.st_established.val()) | (self.state.val() == self.st_close_wait.val());
        self.cmp_tail.a.next = self.tx_end.val();
        self.cmp_tail.b.next = self.follow_tx_end.val();
        self.tail_moved.next = self.sending.val() & self.cmp_tail.a_before_b.val();
        self.tx_end_out.next = self.tx_end.val();
        if self.sending.val() & self.cmp_tail.a_before_b.val() {
            self.tx_end_out.next = self.follow_tx_end.val();
        }
        self.close.next = self.follow_close.val() & self.sending.val();
    }
}

/// `RelayStep` alone, for its lint/synthesis check and its Verilator testbench.
pub fn step_verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut RelayStep::default(), "relay_step")
}

/// `RelayApply` alone, for its lint/synthesis check and its Verilator testbench.
pub fn apply_verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut RelayApply::default(), "relay_apply")
}

/// Both blocks as Verilator models for `sim/tests/block_relay_step.rs`.
pub fn test_models() -> Result<Vec<crate::generate::ModelSource>, crate::generate::GenError> {
    Ok(vec![
        crate::generate::ModelSource { name: "relay_step", verilog: step_verilog()? },
        crate::generate::ModelSource { name: "relay_apply", verilog: apply_verilog()? },
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn relay_step_lints_clean_and_synthesizes() {
        let v = super::step_verilog().expect("generates");
        crate::check::lint("relay_step", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("relay_step", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("relay_step area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.ffs, 0, "combinational: {area:?}");
    }

    #[test]
    fn relay_apply_lints_clean_and_synthesizes() {
        let v = super::apply_verilog().expect("generates");
        crate::check::lint("relay_apply", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("relay_apply", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("relay_apply area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.ffs, 0, "combinational: {area:?}");
    }
}
