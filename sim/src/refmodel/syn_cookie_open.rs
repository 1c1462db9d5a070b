//! SYN cookies in the model (docs/syn-cookies.md), mirroring the engine's
//! `CookieWait` .. `CookieLoad` states:
//! - while SYN_COOKIES is on, a listening port's SYN is answered from a
//!   cookie when the half-open TCBs (SYN-RECEIVED) number at least the
//!   threshold or no slot is free: no TCB, `cookies_sent`. The SYN-ACK is
//!   the one a slot would send, its ISS the cookie; with timestamps its
//!   TSval carries the SYN's Window Scale and SACK-permitted in its low 6
//!   bits, and only then are those two offered (without timestamps the ACK
//!   could not return them);
//! - an ACK (no SYN, no RST) to a listening port with no TCB returns a
//!   cookie or not: valid, it takes a slot with the TCB the SYN would have
//!   made (irs = SEG.SEQ - 1, ISS = SEG.ACK - 1, the peer's MSS from the
//!   cookie's index, its options from the TSecr; nothing held for the SYN,
//!   which the cookie's SYN-ACK ACKed) and then takes the SYN-RECEIVED path
//!   (`cookies_accepted`, `conns_opened`); valid without a free slot it is
//!   dropped (`drop_tcb_full`, the peer's retransmission may still get in);
//!   invalid (or its TSecr claims ECN, which our SYN-ACKs never offer), it
//!   gets the RST any segment to no connection gets (`cookies_refused`).
use holdback_regmap::{Stat, TcpState};
use tracing::debug;

use super::syn_cookie::{cookie_check, cookie_generate, mss_index, ts_decode_options, ts_encode_options, CookieTuple, TsCookieOptions, MSS_TABLE};
use super::{ConnKey, RefModel, RxSegment};
use crate::wire::{SeqNum, TcpFlags};

impl RefModel {
    /// HALF_OPEN: the TCBs in SYN-RECEIVED.
    pub fn half_open(&self) -> usize {
        self.tcbs.iter().filter(|t| t.state == TcpState::SynReceived).count()
    }

    /// The cookie's time count: TS_CLOCK in periods of 2^16 ticks.
    fn cookie_count(&self) -> u8 {
        (self.cfg.ts_clock.ticks(self.now_us) >> 16) as u8
    }

    fn cookie_tuple(&self, seg: &RxSegment) -> CookieTuple {
        CookieTuple { peer_ip: seg.src_ip, our_ip: self.cfg.ip, peer_port: seg.src_port, our_port: seg.dst_port }
    }

    /// Whether a SYN to a listening port is answered from a cookie.
    pub(super) fn syn_takes_cookie(&self) -> bool {
        self.cfg.syn_cookies.is_some_and(|threshold| self.half_open() >= usize::from(threshold) || !self.slots.has_free())
    }

    pub(super) fn send_cookie_syn_ack(&mut self, key: ConnKey, seg: &RxSegment) {
        // No TCB will take this ISS: the harness's learned copy is not for a later open.
        self.learned_iss.remove(&key);
        let (key0, key1) = self.cfg.cookie_keys;
        let cookie = cookie_generate(key0, key1, &self.cookie_tuple(seg), seg.seq.0, self.cookie_count(), mss_index(seg.mss));
        let iss = SeqNum(cookie);
        // The SYN-ACK a slot would send for this SYN, with the cookie as ISS;
        // without timestamps the ACK could not return Window Scale or
        // SACK-permitted, so neither is offered.
        let mut t = self.passive_tcb(0, key, seg, iss, false);
        if !t.ts_ok {
            (t.snd_wscale, t.rcv_wscale, t.sack_ok) = (0, 0, false);
        }
        let options = TsCookieOptions { wscale: seg.wscale, sack_ok: t.sack_ok, ecn_ok: false };
        let tsval = ts_encode_options(self.cfg.ts_clock.ticks(self.now_us).wrapping_add(t.ts_offset), &options);
        let frame = self.syn_ack_frame(&t, tsval);
        debug!(peer = %seg.src_ip, port = seg.src_port, cookie, "SYN answered from a cookie");
        self.send(frame, Some(Stat::CookiesSent));
    }

    pub(super) fn cookie_ack(&mut self, key: ConnKey, seg: &RxSegment) {
        let (key0, key1) = self.cfg.cookie_keys;
        let checked = cookie_check(key0, key1, &self.cookie_tuple(seg), (seg.ack - 1).0, (seg.seq - 1).0, self.cookie_count());
        // Our cookie SYN-ACKs never offer ECN: a TSecr that says they did is not ours.
        let returned = seg.timestamps.filter(|_| self.cfg.timestamps).map(|(_, tsecr)| ts_decode_options(tsecr));
        let Some(index) = checked.filter(|_| !returned.is_some_and(|o| o.ecn_ok)) else {
            self.count(Stat::CookiesRefused);
            self.rst_for_no_connection(seg);
            return;
        };
        let Some(id) = self.slots.take() else {
            self.count(Stat::DropTcbFull);
            return;
        };
        self.count(Stat::CookiesAccepted);
        // The SYN as the cookie and the TSecr give it back.
        let syn = RxSegment {
            seq: seg.seq - 1,
            flags: TcpFlags::SYN,
            mss: MSS_TABLE[usize::from(index)],
            wscale: returned.and_then(|o| o.wscale),
            sack_permitted: returned.is_some_and(|o| o.sack_ok),
            payload: Vec::new(),
            ..seg.clone()
        };
        self.send_limits.clear(id);
        self.tcbs[id] = self.passive_tcb(self.tcbs[id].gen, key, &syn, seg.ack - 1, false);
        self.rings[id].fill(0);
        self.holes[id].clear();
        debug!(id, ?key, "a returned cookie opens the connection");
        self.count(Stat::ConnsOpened);
        self.syn_received(id, seg);
    }
}
