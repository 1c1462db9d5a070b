//! The SACK scoreboard of a sender (RFC 6675 §2-§4, docs/sack-sender.md):
//! up to four SACKed ranges above snd_una for the connection the engine is
//! working on. The engine's `sack_store.rs` keeps one per connection; the reference is
//! `sim/src/refmodel/sack_board.rs` and `sim/tests/block_sack_board.rs`
//! scores this block against it.
//!
//! State: four ranges `[st_left[i], st_right[i])` with `st_valid` bit i set,
//! a prefix, sorted, disjoint and never touching, all inside
//! `[snd_una, snd_max]`. The board's registers are the working copy; the
//! engine keeps the copy of every connection beside its TCB and loads it
//! (`load`, the `ld_*` bundle) before working on a connection, writing
//! `st_*` back after. Clearing is a load of `ld_valid` = 0.
//!
//! Input stream (`in_valid`/`in_ready`, one element a cycle, never ready in
//! a load cycle): one element per SACK block of an ACK (`in_blk`), or one
//! without a block for an ACK that carries none; each carries the ACK's
//! snd_una (after the ACK) and snd_max. An element first trims the ranges
//! at `in_una` (ranges ending at or below it go, one straddling it starts
//! there), then merges its block. A block is SACK information only inside
//! `[snd_una, snd_max]`: one whose left edge is before snd_una is a D-SACK
//! (RFC 2883 §4) or stale and is ignored (`ign_dsack`); any other block not
//! a non-empty range ending at or below snd_max is ignored (`ign_beyond`).
//! A fifth disjoint range drops the highest of the five (`overflow`): the
//! lowest ones decide NextSeg.
//!
//! Queries, combinational on the registers, for `q_una` (which must be the
//! snd_una of the last element), `q_from` (HighRxt + 1: the first byte not
//! retransmitted in this recovery) and `q_smss`: `sacked_bytes` (SetPipe,
//! §4), `lost_bytes` (the holes IsLost says are lost), `first_lost` (IsLost
//! of the first unSACKed byte), and the gap at `q_from` (`gap_seq`: the
//! first unSACKed byte at or above it; `gap_room`: its bytes up to the next
//! SACKed range, none when `gap_top`; `gap_lost`: IsLost of it). A hole is
//! lost or not as a whole and a higher hole has no more above it, so the
//! gap when `gap_lost` is NextSeg rule 1. IsLost (§4, DupThresh 3): three
//! SACKed ranges above, or more than 2 × SMSS SACKed bytes above. Every
//! comparison is between offsets from snd_una (serial-number arithmetic).
use rust_hdl::prelude::*;

/// SACKed ranges the board holds.
pub const BOARD_SLOTS: usize = 4;

#[derive(LogicBlock, Default)]
pub struct SackBoard {
    pub clock: Signal<In, Clock>,
    /// Load the board from `ld_*` (a connection's stored copy).
    pub load: Signal<In, Bit>,
    pub ld_left: [Signal<In, Bits<32>>; BOARD_SLOTS],
    pub ld_right: [Signal<In, Bits<32>>; BOARD_SLOTS],
    pub ld_valid: [Signal<In, Bit>; BOARD_SLOTS],
    // The stream of an ACK's blocks.
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    pub in_una: Signal<In, Bits<32>>,
    pub in_snd_max: Signal<In, Bits<32>>,
    pub in_blk: Signal<In, Bit>,
    pub in_left: Signal<In, Bits<32>>,
    pub in_right: Signal<In, Bits<32>>,
    /// With an accepted element: its block was ignored, or dropped a range.
    pub ign_dsack: Signal<Out, Bit>,
    pub ign_beyond: Signal<Out, Bit>,
    pub overflow: Signal<Out, Bit>,
    // The board, to store per connection.
    pub st_left: [Signal<Out, Bits<32>>; BOARD_SLOTS],
    pub st_right: [Signal<Out, Bits<32>>; BOARD_SLOTS],
    pub st_valid: [Signal<Out, Bit>; BOARD_SLOTS],
    // Queries.
    pub q_una: Signal<In, Bits<32>>,
    pub q_from: Signal<In, Bits<32>>,
    pub q_smss: Signal<In, Bits<16>>,
    pub sacked_bytes: Signal<Out, Bits<32>>,
    pub lost_bytes: Signal<Out, Bits<32>>,
    pub first_lost: Signal<Out, Bit>,
    /// The first unSACKed byte at or above `q_from` (`q_una` if before it).
    pub gap_seq: Signal<Out, Bits<32>>,
    /// Its bytes up to the next SACKed range; none when `gap_top`.
    pub gap_room: Signal<Out, Bits<32>>,
    /// The gap lies above every SACKed range.
    pub gap_top: Signal<Out, Bit>,
    /// IsLost holds for the gap (never with `gap_top`): NextSeg rule 1.
    pub gap_lost: Signal<Out, Bit>,

    r_left: [DFF<Bits<32>>; BOARD_SLOTS],
    r_right: [DFF<Bits<32>>; BOARD_SLOTS],
    r_valid: [DFF<Bit>; BOARD_SLOTS],
    idx: [Signal<Local, Bits<8>>; 5],
    // Merge: offsets from in_una of the trimmed ranges and the block.
    ms_raw: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    me_raw: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    keep: [Signal<Local, Bit>; BOARD_SLOTS],
    ts: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    lo: Signal<Local, Bits<32>>,
    ro: Signal<Local, Bits<32>>,
    mo: Signal<Local, Bits<32>>,
    below: Signal<Local, Bit>,
    beyond: Signal<Local, Bit>,
    bv: Signal<Local, Bit>,
    absorbed: [Signal<Local, Bit>; BOARD_SLOTS],
    mstart: Signal<Local, Bits<32>>,
    mend: Signal<Local, Bits<32>>,
    sv: [Signal<Local, Bit>; BOARD_SLOTS],
    /// Survivors before old range i, each survivor's rank and the merged range's.
    cnt: [Signal<Local, Bits<8>>; BOARD_SLOTS],
    rank: [Signal<Local, Bits<8>>; BOARD_SLOTS],
    mrank: Signal<Local, Bits<8>>,
    // Queries: offsets from q_una.
    qs: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    qe: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    qv: [Signal<Local, Bit>; 6],
    len: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    /// SACKed bytes in ranges i and above.
    suf: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    two_smss: Signal<Local, Bits<32>>,
    smss32: Signal<Local, Bits<32>>,
    hs: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    ex: [Signal<Local, Bit>; BOARD_SLOTS],
    lost: [Signal<Local, Bit>; BOARD_SLOTS],
    fo: Signal<Local, Bits<32>>,
    c: [Signal<Local, Bits<32>>; BOARD_SLOTS],
    cand: [Signal<Local, Bit>; BOARD_SLOTS],
    found: Signal<Local, Bit>,
    top: Signal<Local, Bits<32>>,
}

impl Logic for SackBoard {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..BOARD_SLOTS {
            self.r_valid[i].clock.next = self.clock.val();
            self.r_valid[i].d.next = self.r_valid[i].q.val();
            self.st_valid[i].next = self.r_valid[i].q.val();
            self.r_left[i].clock.next = self.clock.val();
            self.r_right[i].clock.next = self.clock.val();
            self.r_left[i].d.next = self.r_left[i].q.val();
            self.r_right[i].d.next = self.r_right[i].q.val();
            self.st_left[i].next = self.r_left[i].q.val();
            self.st_right[i].next = self.r_right[i].q.val();
        }
        self.idx[0].next = 0_u8.to_bits();
        self.idx[1].next = 1_u8.to_bits();
        self.idx[2].next = 2_u8.to_bits();
        self.idx[3].next = 3_u8.to_bits();
        self.idx[4].next = 4_u8.to_bits();

        // ---- Trim at in_una: what is left of each range, as offsets. ----
        for i in 0..BOARD_SLOTS {
            self.ms_raw[i].next = self.r_left[i].q.val() - self.in_una.val();
            self.me_raw[i].next = self.r_right[i].q.val() - self.in_una.val();
            self.keep[i].next =
                self.r_valid[i].q.val() & !self.me_raw[i].val().get_bit(31) & self.me_raw[i].val().any();
            self.ts[i].next = self.ms_raw[i].val();
            if self.ms_raw[i].val().get_bit(31) {
                self.ts[i].next = 0_u32.to_bits();
            }
        }
        // ---- The block: SACK information only inside [una, snd_max]. ----
        self.lo.next = self.in_left.val() - self.in_una.val();
        self.ro.next = self.in_right.val() - self.in_una.val();
        self.mo.next = self.in_snd_max.val() - self.in_una.val();
        self.below.next = self.in_blk.val() & self.lo.val().get_bit(31);
        self.beyond.next = self.in_blk.val()
            & !self.lo.val().get_bit(31)
            & (!(self.lo.val() < self.ro.val()) | (self.mo.val() < self.ro.val()));
        self.bv.next = self.in_blk.val() & !self.below.val() & !self.beyond.val();
        // It absorbs every range it overlaps or touches.
        self.mstart.next = self.lo.val();
        self.mend.next = self.ro.val();
        for i in 0..BOARD_SLOTS {
            self.absorbed[i].next = self.keep[i].val()
                & self.bv.val()
                & !(self.ro.val() < self.ts[i].val())
                & !(self.me_raw[i].val() < self.lo.val());
            if self.absorbed[i].val() & (self.ts[i].val() < self.mstart.val()) {
                self.mstart.next = self.ts[i].val();
            }
            if self.absorbed[i].val() & (self.mend.val() < self.me_raw[i].val()) {
                self.mend.next = self.me_raw[i].val();
            }
            self.sv[i].next = self.keep[i].val() & !self.absorbed[i].val();
        }
        // Each survivor's place: survivors before it, the merged range if before it.
        self.cnt[0].next = 0_u8.to_bits();
        self.mrank.next = 0_u8.to_bits();
        for i in 0..3 {
            self.cnt[i + 1].next = self.cnt[i].val();
            if self.sv[i].val() {
                self.cnt[i + 1].next = self.cnt[i].val() + 1_u8.to_bits();
            }
        }
        for i in 0..BOARD_SLOTS {
            self.rank[i].next = self.cnt[i].val();
            if self.bv.val() & (self.mstart.val() < self.ts[i].val()) {
                self.rank[i].next = self.cnt[i].val() + 1_u8.to_bits();
            }
            if self.sv[i].val() & (self.ts[i].val() < self.mstart.val()) {
                self.mrank.next = self.mrank.val() + 1_u8.to_bits();
            }
        }
        // A fifth range: the highest of the five (rank 4) has no slot.
        self.overflow.next = self.in_valid.val() & !self.load.val() & self.bv.val() & (self.mrank.val() == self.idx[4].val());
        for i in 0..BOARD_SLOTS {
            if self.sv[i].val() & (self.rank[i].val() == self.idx[4].val()) {
                self.overflow.next = self.in_valid.val() & !self.load.val();
            }
        }
        self.in_ready.next = !self.load.val();
        self.ign_dsack.next = self.in_valid.val() & !self.load.val() & self.below.val();
        self.ign_beyond.next = self.in_valid.val() & !self.load.val() & self.beyond.val();

        if self.load.val() {
            for i in 0..BOARD_SLOTS {
                self.r_left[i].d.next = self.ld_left[i].val();
                self.r_right[i].d.next = self.ld_right[i].val();
                self.r_valid[i].d.next = self.ld_valid[i].val();
            }
        } else if self.in_valid.val() {
            for j in 0..BOARD_SLOTS {
                self.r_left[j].d.next = 0_u32.to_bits();
                self.r_right[j].d.next = 0_u32.to_bits();
                self.r_valid[j].d.next = false;
                for i in 0..BOARD_SLOTS {
                    if self.sv[i].val() & (self.rank[i].val() == self.idx[j].val()) {
                        self.r_left[j].d.next = self.in_una.val() + self.ts[i].val();
                        self.r_right[j].d.next = self.in_una.val() + self.me_raw[i].val();
                        self.r_valid[j].d.next = true;
                    }
                }
                if self.bv.val() & (self.mrank.val() == self.idx[j].val()) {
                    self.r_left[j].d.next = self.in_una.val() + self.mstart.val();
                    self.r_right[j].d.next = self.in_una.val() + self.mend.val();
                    self.r_valid[j].d.next = true;
                }
            }
        }

        // ---- Queries on the registers, as offsets from q_una. ----
        self.qv[4].next = false;
        self.qv[5].next = false;
        for i in 0..BOARD_SLOTS {
            self.qv[i].next = self.r_valid[i].q.val();
            self.qs[i].next = self.r_left[i].q.val() - self.q_una.val();
            self.qe[i].next = self.r_right[i].q.val() - self.q_una.val();
            self.len[i].next = 0_u32.to_bits();
            if self.qv[i].val() {
                self.len[i].next = self.qe[i].val() - self.qs[i].val();
            }
        }
        self.suf[3].next = self.len[3].val();
        self.suf[2].next = self.len[2].val() + self.suf[3].val();
        self.suf[1].next = self.len[1].val() + self.suf[2].val();
        self.suf[0].next = self.len[0].val() + self.suf[1].val();
        self.sacked_bytes.next = self.suf[0].val();
        self.smss32.next = bit_cast::<32, 16>(self.q_smss.val());
        self.two_smss.next = self.smss32.val() << 1;
        // Hole i lies below range i; it is lost when DupThresh (3) ranges lie
        // above it (ranges i..i+2) or more than 2 SMSS SACKed bytes do.
        self.fo.next = self.q_from.val() - self.q_una.val();
        if self.fo.val().get_bit(31) {
            self.fo.next = 0_u32.to_bits();
        }
        self.hs[0].next = 0_u32.to_bits();
        for i in 0..3 {
            self.hs[i + 1].next = self.qe[i].val();
        }
        self.lost_bytes.next = 0_u32.to_bits();
        self.found.next = false;
        self.gap_seq.next = 0_u32.to_bits();
        self.gap_room.next = 0_u32.to_bits();
        self.gap_lost.next = false;
        // Above every range: q_from, or the highest range's end when q_from lies below it.
        self.top.next = self.fo.val();
        for i in 0..BOARD_SLOTS {
            if self.qv[i].val() & (self.top.val() < self.qe[i].val()) {
                self.top.next = self.qe[i].val();
            }
        }
        for i in 0..BOARD_SLOTS {
            self.ex[i].next = self.qv[i].val() & (self.hs[i].val() < self.qs[i].val());
            self.lost[i].next = self.qv[i].val() & (self.qv[i + 2].val() | (self.two_smss.val() < self.suf[i].val()));
            if self.ex[i].val() & self.lost[i].val() {
                self.lost_bytes.next = self.lost_bytes.val() + (self.qs[i].val() - self.hs[i].val());
            }
            // The part of hole i (below range i) at or above q_from.
            self.c[i].next = self.hs[i].val();
            if self.hs[i].val() < self.fo.val() {
                self.c[i].next = self.fo.val();
            }
            self.cand[i].next = self.qv[i].val() & (self.c[i].val() < self.qs[i].val());
            if self.cand[i].val() & !self.found.val() {
                self.found.next = true;
                self.gap_seq.next = self.q_una.val() + self.c[i].val();
                self.gap_room.next = self.qs[i].val() - self.c[i].val();
                self.gap_lost.next = self.lost[i].val();
            }
        }
        self.gap_top.next = !self.found.val();
        if !self.found.val() {
            self.gap_seq.next = self.q_una.val() + self.top.val();
        }
        self.first_lost.next = self.lost[1].val();
        if self.ex[0].val() {
            self.first_lost.next = self.lost[0].val();
        }
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SackBoard::default(), "sack_board")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sack_board_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("sack_board", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("sack_board", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("sack_board area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.dsp, 0, "compares and adds only");
    }
}
