//! The sans-I/O reference model of the transmit side of one connection
//! (docs/tx.md): what the card sends from its transmit ring and how ACKs,
//! timeouts and the peer's window move its state. Time (`now_us`, the
//! engine's microsecond clock) and segments are arguments; what to send is a
//! return value. Nothing here is wired to the core yet: the RTL blocks of
//! `hdl/src/tx/` are scored against this model one event at a time.
//!
//! RFC 9293 for the send sequence space and the window, RFC 5681 for
//! congestion control, RFC 6582 (NewReno) for recovery, RFC 6298 for the
//! retransmission timer ([`super::tx_rtt`]), RFC 6675 with RFC 2018 for
//! resending only the holes the peer's SACK blocks leave (docs/sack-sender.md).
use crate::wire::SeqNum;

pub use super::sack_board::SackBoard;
pub use super::tx_rtt::{RtoSettings, RttEstimator, RttSample};

/// `dupacks` is 4 bits in the RTL and saturates.
pub const DUPACKS_MAX: u8 = 15;
/// RFC 5681 §3.2: the third duplicate ACK starts fast retransmit.
pub const DUPACK_THRESHOLD: u8 = 3;
/// cwnd stops growing once it reaches this (far beyond any window the peer
/// can advertise without scaling), so it can never wrap its 32 bits.
pub const CWND_CEILING: u32 = 1 << 24;
/// RFC 5681 §3.1: "arbitrarily high", here the largest unscaled window.
pub const INITIAL_SSTHRESH: u32 = 65_535;

/// Which timer of RFC 6298 / RFC 9293 §3.8.6.1 runs (one per connection,
/// as they never run together).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TxTimer {
    #[default]
    Off,
    /// Data is outstanding (RFC 6298 §5).
    Retransmit,
    /// Data waits behind a zero window with nothing in flight.
    Persist,
}

/// The fields of one ACK-bearing segment the ACK processor looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSegment {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub wnd: u16,
    /// The segment carries payload, SYN or FIN: then it is no duplicate ACK
    /// (RFC 5681 §2).
    pub occupies: bool,
}

/// What an ACK did (docs/tx.md, "ACK processing").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckVerdict {
    /// After snd_max: acknowledges what was never sent (answer with an ACK).
    TooNew,
    /// Before snd_una: ignored.
    Old,
    /// At snd_una but not a duplicate ACK (a window update, or data).
    NoProgress,
    /// A duplicate ACK that starts nothing.
    Duplicate,
    /// The third duplicate ACK: retransmit the segment at snd_una.
    FastRetransmit,
    /// New data acknowledged outside recovery.
    NewData,
    /// New data acknowledged during recovery, not up to `recover`:
    /// retransmit the segment at the new snd_una.
    PartialAck,
    /// Acknowledges `recover`: recovery ends.
    FullAck,
}

impl AckVerdict {
    /// The verdict asks for the segment at snd_una to be sent again.
    pub fn retransmits(self) -> bool {
        matches!(self, AckVerdict::FastRetransmit | AckVerdict::PartialAck)
    }
}

/// What an ACK did and whether the caller is to serve a resend with
/// [`TxTcb::retransmit_first`] ([`TxTcb::resend_asked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckOutcome {
    pub verdict: AckVerdict,
    pub resend: bool,
}

/// What the timer did when [`TxTcb::on_timer`] found it due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// The retransmission timer fired: send this segment again.
    Retransmit(Segment),
    /// The persist timer fired: send this one-byte zero-window probe.
    Probe(Segment),
    /// `MAX_RETRIES` timeouts without progress: drop the connection.
    GiveUp,
}

/// One segment to read from the ring and send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: SeqNum,
    pub len: u32,
    /// It starts below snd_max: bytes sent before.
    pub retransmission: bool,
}

/// The host moved its send tail where the ring cannot hold it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TailError {
    #[error("send tail {new} is before the current tail {old}: the host may only append")]
    Backwards { old: SeqNum, new: SeqNum },
    #[error("send tail {new} is more than the ring's {ring} bytes past snd_una {una}: it would overwrite unacknowledged bytes")]
    BeyondRing { new: SeqNum, una: SeqNum, ring: u32 },
}

/// One connection's transmit state: the receive TCB's send fields plus the
/// TX table's (docs/tx.md, "The TX control block"). `Clone`, not `Copy`: the
/// SACK scoreboard holds its ranges in a `Vec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxTcb {
    /// Initial send sequence number; stream offset `o` is `iss + 1 + o`.
    pub iss: SeqNum,
    /// Oldest unacknowledged sequence number; `snd_una <= snd_nxt`.
    pub snd_una: SeqNum,
    /// Next sequence number to send; `snd_nxt <= snd_max`.
    pub snd_nxt: SeqNum,
    /// One past the highest sequence number ever sent; never moves back.
    pub snd_max: SeqNum,
    /// End of the bytes the host wrote into the ring; `snd_max <= snd_tail`,
    /// `snd_tail - snd_una <= ring`.
    pub snd_tail: SeqNum,
    /// The peer's window (unscaled) and the seq/ack of the segment that set
    /// it (RFC 9293 §3.10.7.4).
    pub snd_wnd: u16,
    /// The peer's window-scale shift (RFC 7323 §2.3): the window in bytes is
    /// `snd_wnd << snd_wscale`; 0 without the option.
    pub snd_wscale: u8,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// The peer's MSS: SMSS of RFC 5681.
    pub smss: u16,
    /// Congestion window, bytes; at least SMSS except where RFC 5681 sets it
    /// (never below SMSS here).
    pub cwnd: u32,
    /// Slow-start threshold, bytes; at least 2 SMSS once set by a loss.
    pub ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    pub bytes_acked: u32,
    /// Duplicate ACKs in a row, saturating at [`DUPACKS_MAX`].
    pub dupacks: u8,
    /// RFC 6582: the highest sequence number sent when recovery began (or
    /// at the last timeout); starts at iss.
    pub recover: SeqNum,
    /// Fast recovery under way.
    pub in_recovery: bool,
    /// The first partial ACK of this recovery came (it alone resets the timer).
    pub partial_seen: bool,
    /// Which timer runs and when it fires (NOW_US, wrapping).
    pub timer: TxTimer,
    pub timer_due_us: u32,
    /// Retransmission timeouts since the last ACK of new data.
    pub retries: u8,
    pub rtt: RttEstimator,
    /// Timestamps were negotiated (RFC 7323 §3.2): a retransmission is timed
    /// by the TSval its ACK echoes ([`RttEstimator::on_send`]).
    pub ts_ok: bool,
    /// SACK was negotiated (RFC 2018 §2, the TCB's sack_ok): the ACKs' SACK
    /// blocks feed [`TxTcb::board`].
    pub sack_ok: bool,
    /// No Nagle: a short segment goes with bytes in flight too. A relayed
    /// connection (docs/relay.md) forwards what the other side sent as it
    /// arrives, as a proxy with TCP_NODELAY does: the sender at the far end
    /// already applied Nagle, and chunks smaller than this side's SMSS would
    /// otherwise go one per round trip.
    pub nodelay: bool,
    /// RFC 6675's HighRxt + 1 (§2, NextSeg rule 1.a): the first byte not yet
    /// resent in this recovery. Set to snd_una by fast retransmit, moved past
    /// each served resend; snd_una before it means the segment at snd_una
    /// was already resent in this recovery. Only read when a resend is
    /// asked, which happens only in a recovery fast retransmit began (and
    /// set it), so the serial compare never spans more than a window.
    pub rxt_next: SeqNum,
    /// The SACK scoreboard (RFC 6675 §3, docs/sack-sender.md): the ranges
    /// above snd_una the peer reported holding; empty without `sack_ok`.
    pub board: SackBoard,
}

/// RFC 5681 §3.1 equation (1): the initial window for a sender's SMSS.
pub fn initial_window(smss: u16) -> u32 {
    let smss = u32::from(smss);
    if smss > 2190 {
        2 * smss
    } else if smss > 1095 {
        3 * smss
    } else {
        4 * smss
    }
}

/// `now` has reached `due` on the wrapping microsecond clock.
pub fn timer_reached(now_us: u32, due_us: u32) -> bool {
    (now_us.wrapping_sub(due_us) as i32) >= 0
}

impl TxTcb {
    /// The transmit state of a connection that just reached ESTABLISHED: our
    /// SYN (at `iss`) is acknowledged, the peer's last segment was `seq`/`ack`
    /// with window `wnd`, the host has written nothing yet.
    pub fn established(iss: SeqNum, peer_mss: u16, seq: SeqNum, wnd: u16) -> TxTcb {
        let una = iss + 1;
        TxTcb {
            iss,
            snd_una: una,
            snd_nxt: una,
            snd_max: una,
            snd_tail: una,
            snd_wnd: wnd,
            snd_wscale: 0,
            snd_wl1: seq,
            snd_wl2: una,
            smss: peer_mss,
            cwnd: initial_window(peer_mss),
            ssthresh: INITIAL_SSTHRESH,
            bytes_acked: 0,
            dupacks: 0,
            recover: iss,
            in_recovery: false,
            partial_seen: false,
            timer: TxTimer::Off,
            timer_due_us: 0,
            retries: 0,
            rtt: RttEstimator::default(),
            ts_ok: false,
            sack_ok: false,
            nodelay: false,
            rxt_next: una,
            board: SackBoard::default(),
        }
    }

    /// The peer's window in bytes (RFC 7323 §2.3).
    pub fn window_bytes(&self) -> u32 {
        u32::from(self.snd_wnd) << self.snd_wscale
    }

    /// Bytes sent and not yet acknowledged: RFC 5681's FlightSize.
    pub fn flight_size(&self) -> u32 {
        self.snd_max.0.wrapping_sub(self.snd_una.0)
    }

    /// The host wrote bytes up to stream offset `tx_end` and rang the
    /// doorbell (docs/tx.md, "The transmit ring").
    pub fn set_tail(&mut self, tx_end: u32, ring_bytes: u32) -> Result<(), TailError> {
        let new = self.iss + 1 + tx_end;
        if new.before(self.snd_tail) {
            return Err(TailError::Backwards { old: self.snd_tail, new });
        }
        if new.bytes_since(self.snd_una) > ring_bytes {
            return Err(TailError::BeyondRing { new, una: self.snd_una, ring: ring_bytes });
        }
        self.snd_tail = new;
        Ok(())
    }

    /// An acceptable segment with ACK arrived: the RTT sample first (its RTO
    /// is the one the restarted timer uses), then [`TxTcb::ack_update`]. When
    /// the verdict [`AckVerdict::retransmits`], the caller sends
    /// [`TxTcb::retransmit_first`].
    pub fn on_ack(&mut self, seg: &AckSegment, now_us: u32, s: &RtoSettings) -> AckVerdict {
        self.on_ack_echoing(seg, None, now_us, s)
    }

    /// [`TxTcb::on_ack`] for an ACK with a Timestamps option whose TSecr is
    /// `echo_age` ticks old ([`RttEstimator::on_ack`]); `None` without one.
    /// An ACK without SACK blocks: it asks for a resend exactly when the
    /// verdict [`AckVerdict::retransmits`].
    pub fn on_ack_echoing(&mut self, seg: &AckSegment, echo_age: Option<u32>, now_us: u32, s: &RtoSettings) -> AckVerdict {
        self.on_ack_with_sack(seg, echo_age, &[], now_us, s).verdict
    }

    /// [`TxTcb::on_ack_echoing`] for an ACK carrying the SACK blocks
    /// `blocks` (RFC 2018 §3, in option order, at most four), and whether
    /// it asks for a resend ([`TxTcb::resend_asked`]).
    ///
    /// With `sack_ok`, every ACK that is neither too new nor old feeds its
    /// blocks to the scoreboard after snd_una moved (docs/sack-sender.md,
    /// "Wiring into the engine" item 3): the board trims at the new snd_una
    /// even for an ACK without blocks, so it never holds acknowledged bytes.
    pub fn on_ack_with_sack(
        &mut self,
        seg: &AckSegment,
        echo_age: Option<u32>,
        blocks: &[(SeqNum, SeqNum)],
        now_us: u32,
        s: &RtoSettings,
    ) -> AckOutcome {
        if self.snd_una.before(seg.ack) && seg.ack.not_after(self.snd_max) {
            self.rtt.on_ack(seg.ack, now_us, echo_age, s);
        }
        let verdict = self.ack_update(seg, now_us, self.rtt.rto_us);
        if self.sack_ok && !matches!(verdict, AckVerdict::TooNew | AckVerdict::Old) {
            self.board.on_ack(self.snd_una, self.snd_max, blocks);
        }
        AckOutcome { verdict, resend: self.resend_asked(verdict, !blocks.is_empty()) }
    }

    /// Whether the ACK just processed, with verdict `verdict` and carrying
    /// at least one SACK block when `had_blocks`, asks for a resend
    /// ([`TxTcb::retransmit_first`]). Fast retransmit and a partial ACK do,
    /// as in NewReno (RFC 6582 §3.2); with SACK a duplicate ACK in recovery
    /// does too when it brings blocks: RFC 6675 §5 step (C) lets each ACK
    /// in recovery send NextSeg, and a duplicate ACK's blocks are what may
    /// have made another hole lost. `in_recovery` is read after the ACK: a
    /// duplicate verdict leaves it as it was, and the duplicate that starts
    /// recovery is the FastRetransmit verdict, not this case.
    pub fn resend_asked(&self, verdict: AckVerdict, had_blocks: bool) -> bool {
        verdict.retransmits() || (verdict == AckVerdict::Duplicate && self.in_recovery && self.sack_ok && had_blocks)
    }

    /// Serve a resend that fast retransmit, a partial ACK or a duplicate ACK
    /// in SACK recovery asked for ([`TxTcb::resend_asked`]).
    ///
    /// With nothing outstanding the request was overtaken by an ACK of
    /// everything sent: it lapses and the next new segment goes instead
    /// ([`TxTcb::next_segment`], `None` when there is none) — taking nothing
    /// for it would leave bytes waiting with no timer running and no ACK to
    /// come.
    ///
    /// Otherwise the first gap of the scoreboard at or above `rxt_next`
    /// (snd_una when snd_una was not resent in this recovery) is resent,
    /// up to the next SACKed range, at most SMSS, and `rxt_next` moves past
    /// it (RFC 6675 §4 NextSeg rule 1, §5 step (C)), when either snd_una was
    /// not yet resent in this recovery — the unconditional first
    /// retransmission of RFC 6675 §5 step 4.3 and NewReno's partial ACK
    /// (RFC 6582 §3.2 step 3) — or IsLost holds for the gap. Bytes already
    /// resent or not judged lost are not sent again here (RFC 6675 §5: a
    /// lost retransmission is the timer's); the request then lapses and
    /// returns `None`: the caller's next [`TxTcb::next_segment`] sends new
    /// data under the usual rules (the engine visits the connection again
    /// without the request). Without SACK the board is empty and
    /// no gap is lost, so this is NewReno's resend at snd_una, except that
    /// a partial ACK leaving snd_una before `rxt_next` (it acknowledged
    /// part of the segment just resent) resends nothing.
    pub fn retransmit_first(&mut self, now_us: u32) -> Option<Segment> {
        if self.snd_una == self.snd_max {
            return self.next_segment(now_us);
        }
        let resent = self.snd_una.before(self.rxt_next);
        let from = if resent { self.rxt_next } else { self.snd_una };
        let g = self.board.gap(self.snd_una, from, self.smss);
        if resent && !g.lost {
            // Nothing lost to resend: the request lapses and sends nothing;
            // the send from snd_nxt ([`TxTcb::next_segment`]) comes next.
            return None;
        }
        // Never past the tail: the ring holds no byte beyond it (a promoted
        // relayed connection's snd_max may, docs/relay.md).
        let mut len = u32::from(self.smss).min(self.snd_max.bytes_since(g.seq)).min(self.snd_tail.bytes_since(g.seq));
        if let Some(room) = g.room {
            len = len.min(room);
        }
        if len == 0 {
            return None;
        }
        let seg = Segment { seq: g.seq, len, retransmission: true };
        self.sent(seg, now_us);
        self.rxt_next = seg.seq + len;
        // Resending snd_una (fast retransmit, a partial ACK) restarts the
        // retransmission timer, as Linux does: armed by the last ACK of new
        // data, it would otherwise fire about when this resend's ACK is due
        // back, a spurious timeout that goes back to snd_una and resends what
        // is in flight. A timeout's own resend (retries > 0) keeps the timer
        // the timeout set.
        if seg.seq == self.snd_una && self.retries == 0 {
            self.timer = TxTimer::Retransmit;
            self.timer_due_us = now_us.wrapping_add(self.rtt.rto_us);
        }
        Some(seg)
    }

    /// The ACK processor without the RTT estimate (the RTL block
    /// `hdl/src/tx/ack.rs` computes exactly this): window, duplicate ACKs,
    /// cwnd/ssthresh, NewReno recovery, `rxt_next` at fast retransmit and
    /// the retransmission timer, with `rto_us` the RTO the timer restarts
    /// with. The scoreboard is not touched here ([`TxTcb::on_ack_with_sack`]).
    pub fn ack_update(&mut self, seg: &AckSegment, now_us: u32, rto_us: u32) -> AckVerdict {
        let ack = seg.ack;
        let smss = u32::from(self.smss);
        // RFC 9293 §3.10.7.4: an ACK of something not yet sent, or an old one.
        if self.snd_max.before(ack) {
            return AckVerdict::TooNew;
        }
        if ack.before(self.snd_una) {
            return AckVerdict::Old;
        }
        // RFC 9293 §3.10.7.4: the window update, from the newest segment.
        let window_changed = seg.wnd != self.snd_wnd;
        if self.snd_wl1.before(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.not_after(ack)) {
            self.snd_wnd = seg.wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
        }
        let flight = self.flight_size();
        let verdict = if ack == self.snd_una {
            // RFC 5681 §2: a duplicate ACK has data outstanding, carries
            // nothing, leaves the window as it was; an answer to a zero-window
            // probe is no loss signal (docs/tx.md).
            if flight == 0 || seg.occupies || window_changed || self.timer == TxTimer::Persist {
                AckVerdict::NoProgress
            } else {
                self.dupacks = (self.dupacks + 1).min(DUPACKS_MAX);
                if self.in_recovery {
                    // RFC 5681 §3.2 step 4: inflate by one SMSS per duplicate.
                    self.grow_cwnd(smss);
                    AckVerdict::Duplicate
                } else if self.dupacks == DUPACK_THRESHOLD && self.recover.before(ack) {
                    // RFC 6582 §3.2 step 2 and RFC 5681 §3.2 steps 2-3.
                    self.ssthresh = (flight >> 1).max(2 * smss);
                    self.recover = self.snd_max - 1;
                    self.cwnd = self.ssthresh + 3 * smss;
                    self.in_recovery = true;
                    self.partial_seen = false;
                    self.bytes_acked = 0;
                    // RFC 6675 §5 step 4.1 / §2: HighRxt starts below
                    // snd_una, nothing of this recovery is resent yet. Here
                    // rather than in on_ack so that the ACK processor alone
                    // gives the whole state an ACK leaves.
                    self.rxt_next = self.snd_una;
                    AckVerdict::FastRetransmit
                } else {
                    AckVerdict::Duplicate
                }
            }
        } else {
            let acked = ack.0.wrapping_sub(self.snd_una.0);
            let first_partial = !self.partial_seen;
            self.snd_una = ack;
            if self.snd_nxt.before(ack) {
                self.snd_nxt = ack;
            }
            self.dupacks = 0;
            self.retries = 0;
            let verdict = if self.in_recovery {
                if self.recover.before(ack) {
                    // RFC 6582 §3.2 step 3, full acknowledgment, option (1).
                    let flight_after = self.snd_max.0.wrapping_sub(ack.0);
                    self.cwnd = self.ssthresh.min(flight_after.max(smss) + smss);
                    self.in_recovery = false;
                    AckVerdict::FullAck
                } else {
                    // RFC 6582 §3.2 step 3, partial acknowledgment: deflate
                    // by what was acknowledged, add one SMSS back if that was
                    // at least one SMSS; never below one SMSS.
                    let back = if acked >= smss { smss } else { 0 };
                    self.cwnd = (self.cwnd.saturating_sub(acked) + back).max(smss);
                    self.partial_seen = true;
                    AckVerdict::PartialAck
                }
            } else if self.cwnd < self.ssthresh {
                // RFC 5681 §3.1 equation (2): slow start.
                self.grow_cwnd(acked.min(smss));
                AckVerdict::NewData
            } else {
                // RFC 5681 §3.1: congestion avoidance by byte counting, one
                // SMSS per cwnd of acknowledged bytes.
                self.bytes_acked = self.bytes_acked.saturating_add(acked);
                if self.bytes_acked >= self.cwnd {
                    self.bytes_acked -= self.cwnd;
                    self.grow_cwnd(smss);
                }
                AckVerdict::NewData
            };
            // `recover` follows the ACKs that pass it, so it stays within
            // [snd_una - 1, snd_max - 1]: left at the ISS, after 2 GiB the
            // serial "ack after recover" of RFC 6582 §3.2 step 2 would turn
            // and hold fast retransmit back. Where it is ahead (after a
            // loss) it stays, as the RFC's protection needs.
            if self.recover.before(ack) {
                self.recover = ack - 1;
            }
            // RFC 6298 §5.2 / §5.3, and RFC 6582 §3.2 step 3: only the first
            // partial ACK resets the timer.
            if ack == self.snd_max {
                self.timer = TxTimer::Off;
            } else if !(verdict == AckVerdict::PartialAck && !first_partial) {
                self.timer = TxTimer::Retransmit;
                self.timer_due_us = now_us.wrapping_add(rto_us);
            }
            verdict
        };
        // RFC 9293 §3.8.6.1: an opened window ends the persist state.
        if self.timer == TxTimer::Persist && self.snd_wnd != 0 {
            if self.snd_una == self.snd_max {
                self.timer = TxTimer::Off;
            } else {
                self.timer = TxTimer::Retransmit;
                self.timer_due_us = now_us.wrapping_add(rto_us);
            }
        }
        verdict
    }

    fn grow_cwnd(&mut self, by: u32) {
        if self.cwnd < CWND_CEILING {
            self.cwnd += by;
        }
    }

    /// The segment at snd_una that fast retransmit, a partial ACK or a
    /// timeout sends again: at most one SMSS of what is outstanding.
    pub fn first_unacked_segment(&self) -> Segment {
        Segment {
            seq: self.snd_una,
            len: self.flight_size().min(u32::from(self.smss)),
            retransmission: true,
        }
    }

    /// The DMA reads that fetch `seg` from the transmit ring at `ring_base`
    /// (`ring_bytes` a power of two): stream byte `o` = sequence number
    /// `iss + 1 + o` is at ring byte `o mod ring_bytes`, so a segment that
    /// crosses the ring's end is two reads, the second from the ring's start
    /// (its length 0 when there is no crossing). docs/tx.md, "The transmit ring".
    pub fn ring_reads(&self, seg: &Segment, ring_base: u64, ring_bytes: u32) -> [(u64, u32); 2] {
        let offset = seg.seq.0.wrapping_sub(self.iss.0).wrapping_sub(1) & (ring_bytes - 1);
        let first = seg.len.min(ring_bytes - offset);
        [(ring_base + u64::from(offset), first), (ring_base, seg.len - first)]
    }

    /// The timer, if due at `now_us`, fires.
    ///
    /// Retransmission (RFC 6298 §5.4-§5.6, RFC 5681 §3.1, RFC 6582 §3.2
    /// step 4, RFC 6675 §5.1): back off, retransmit the first
    /// unacknowledged segment and go back to send from after it, ssthresh
    /// from FlightSize on the first timeout only, cwnd to one SMSS,
    /// recovery ends. The scoreboard is cleared first (RFC 2018 §8: the
    /// receiver may have reneged, so SACKed bytes are not trusted past a
    /// timeout), so the segment is always snd_una's; later ACKs refill it.
    /// Persist (RFC 9293 §3.8.6.1): back off and send a one-byte probe; no
    /// retry is counted.
    pub fn on_timer(&mut self, now_us: u32, s: &RtoSettings, max_retries: u8) -> Option<TimerAction> {
        if self.timer == TxTimer::Off || !timer_reached(now_us, self.timer_due_us) {
            return None;
        }
        let smss = u32::from(self.smss);
        match self.timer {
            TxTimer::Retransmit => {
                if self.retries >= max_retries {
                    self.timer = TxTimer::Off;
                    return Some(TimerAction::GiveUp);
                }
                if self.retries == 0 {
                    self.ssthresh = (self.flight_size() >> 1).max(2 * smss);
                }
                self.retries += 1;
                self.cwnd = smss;
                self.bytes_acked = 0;
                self.dupacks = 0;
                self.recover = self.snd_max - 1;
                self.in_recovery = false;
                self.board = SackBoard::default();
                self.rtt.on_timeout(s);
                let seg = self.first_unacked_segment();
                // Karn's rule keeps it untimed, unless timestamps time it.
                self.rtt.on_send(seg.seq, true, now_us, self.ts_ok);
                self.snd_nxt = seg.seq + seg.len;
                // The engine serves its timeout as a resend of snd_una: HighRxt
                // + 1 ends up past it, as after any resend.
                self.rxt_next = seg.seq + seg.len;
                self.timer_due_us = now_us.wrapping_add(self.rtt.rto_us);
                Some(TimerAction::Retransmit(seg))
            }
            TxTimer::Persist => {
                self.rtt.on_timeout(s);
                self.timer_due_us = now_us.wrapping_add(self.rtt.rto_us);
                if self.snd_una != self.snd_max {
                    // The last probe's byte is still unacknowledged: send it again.
                    return Some(TimerAction::Probe(Segment { seq: self.snd_una, len: 1, retransmission: true }));
                }
                if self.snd_nxt.before(self.snd_tail) {
                    let seg = Segment { seq: self.snd_nxt, len: 1, retransmission: false };
                    self.snd_nxt += 1;
                    self.snd_max = self.snd_nxt;
                    return Some(TimerAction::Probe(seg));
                }
                self.timer = TxTimer::Off;
                None
            }
            TxTimer::Off => None,
        }
    }

    /// What to send next from snd_nxt (docs/tx.md, "Sizing a segment"), and
    /// its effect on the state as it is sent; `None` when nothing may go.
    /// With a zero window, data waiting and nothing in flight, this arms the
    /// persist timer instead.
    ///
    /// Going back after a timeout (snd_nxt before snd_max) with ranges on
    /// the scoreboard, the walk starts at the first gap at or above snd_nxt
    /// and stops at the next SACKed range: bytes the peer reported holding
    /// since the timeout are not sent again (RFC 6675 §5.1, docs/sack-sender.md).
    pub fn next_segment(&mut self, now_us: u32) -> Option<Segment> {
        if self.timer == TxTimer::Persist {
            return None;
        }
        let (base, room) = if self.snd_nxt.before(self.snd_max) && !self.board.ranges().is_empty() {
            let g = self.board.gap(self.snd_una, self.snd_nxt, self.smss);
            (g.seq, g.room)
        } else {
            (self.snd_nxt, None)
        };
        let available = self.snd_tail.bytes_since(base);
        let idle = self.snd_una == self.snd_max;
        if available > 0 && self.snd_wnd == 0 && idle && base == self.snd_una {
            self.timer = TxTimer::Persist;
            self.timer_due_us = now_us.wrapping_add(self.rtt.rto_us);
            return None;
        }
        let window_end = self.snd_una + self.window_bytes().min(self.cwnd);
        let usable = window_end.bytes_since(base);
        let mut len = u32::from(self.smss).min(usable).min(available);
        if let Some(room) = room {
            len = len.min(room);
        }
        if len == 0 {
            return None;
        }
        let retransmission = base.before(self.snd_max);
        // RFC 9293 §3.8.6.2.1 (Nagle, sender-side SWS avoidance): a short
        // segment only when nothing is in flight, or when resending.
        if len < u32::from(self.smss) && !idle && !retransmission && !self.nodelay {
            return None;
        }
        let seg = Segment { seq: base, len, retransmission };
        self.sent(seg, now_us);
        Some(seg)
    }

    /// `seg` went out: move snd_nxt/snd_max (a resend below snd_nxt leaves
    /// it, a walked segment starts at or after it), time it (RFC 6298 §3), start
    /// the retransmission timer if it is not running (RFC 6298 §5.1).
    /// [`TxTcb::on_timer`] accounts for the segments it returns itself.
    fn sent(&mut self, seg: Segment, now_us: u32) {
        let end = seg.seq + seg.len;
        if self.snd_nxt.before(end) {
            self.snd_nxt = end;
        }
        if self.snd_max.before(end) {
            self.snd_max = end;
        }
        self.rtt.on_send(seg.seq, seg.retransmission, now_us, self.ts_ok);
        if self.timer == TxTimer::Off {
            self.timer = TxTimer::Retransmit;
            self.timer_due_us = now_us.wrapping_add(self.rtt.rto_us);
        }
    }
}

#[cfg(test)]
#[path = "tx_tests.rs"]
mod tests;
