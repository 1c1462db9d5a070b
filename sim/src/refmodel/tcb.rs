//! The model's TCP control block: the fields of `regmap::tcb` with RFC 9293
//! names, packed to and from the TCB window's words by the regmap table (no
//! offsets are repeated here).
use std::net::Ipv4Addr;

use holdback_regmap::{tcb, TcbField, TcpState, TCB_WORDS};

use crate::wire::{MacAddr, SeqNum};

/// One connection's control block. Sequence-space invariants hold in
/// wrapping order (`SeqNum`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcb {
    /// RFC 9293 state; `Closed` means the slot is free.
    pub state: TcpState,
    /// ACK holdback: every ACK sent is `min(rcv_nxt, rel)`.
    pub holdback: bool,
    /// The peer's FIN was received in order and `rcv_nxt` counts it.
    pub fin_rcvd: bool,
    /// Retransmissions of our SYN-ACK or FIN since the last progress (≤ 7 sent).
    pub retries: u32,
    /// MSS the peer announced, 536 if absent.
    pub peer_mss: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub remote_ip: Ipv4Addr,
    /// Next-hop MAC, from the SYN's Ethernet source.
    pub remote_mac: MacAddr,
    /// Relay link (0xFFFF none) — not driven by the passive-open engine.
    pub peer_link: u16,
    /// Initial receive sequence number; stream offset `o` is at `irs + 1 + o`.
    pub irs: SeqNum,
    /// Next sequence number expected; every byte below it is in the ring.
    pub rcv_nxt: SeqNum,
    /// Released point R; only moves forward.
    pub rel: SeqNum,
    /// Right edge last advertised; never moves left; `rcv_nxt <= rcv_adv`.
    pub rcv_adv: SeqNum,
    /// Highest ACK put on the wire; `ack_sent <= rel` while holdback is on.
    pub ack_sent: SeqNum,
    pub iss: SeqNum,
    /// `iss <= snd_una <= snd_nxt`.
    pub snd_una: SeqNum,
    /// `snd_nxt <= snd_max`.
    pub snd_nxt: SeqNum,
    pub snd_max: SeqNum,
    /// The peer's window as last seen (unscaled).
    pub snd_wnd: u16,
    /// NOW_US at which the retransmission timer fires (SYN-RECEIVED, LAST-ACK).
    pub timer_due: u32,
    pub seq_offset: u32,
    pub tx_end: u32,
    /// Incremented on every TCB change by the engine.
    pub gen: u32,
    pub epoch: u32,
}

impl Default for Tcb {
    fn default() -> Tcb {
        Tcb::from_words(&[0; TCB_WORDS])
    }
}

impl Tcb {
    /// The TCB window's words for this TCB.
    pub fn to_words(&self) -> [u32; TCB_WORDS] {
        let mut w = [0u32; TCB_WORDS];
        let mac = self.remote_mac.to_u64();
        let vals: [(TcbField, u32); 25] = [
            (tcb::STATE, self.state as u32),
            (tcb::HOLDBACK, u32::from(self.holdback)),
            (tcb::FIN_RCVD, u32::from(self.fin_rcvd)),
            (tcb::RETRIES, self.retries),
            (tcb::PEER_MSS, u32::from(self.peer_mss)),
            (tcb::LOCAL_PORT, u32::from(self.local_port)),
            (tcb::REMOTE_PORT, u32::from(self.remote_port)),
            (tcb::REMOTE_IP, u32::from(self.remote_ip)),
            (tcb::REMOTE_MAC_LO, mac as u32),
            (tcb::REMOTE_MAC_HI, (mac >> 32) as u32),
            (tcb::PEER_LINK, u32::from(self.peer_link)),
            (tcb::IRS, self.irs.0),
            (tcb::RCV_NXT, self.rcv_nxt.0),
            (tcb::REL, self.rel.0),
            (tcb::RCV_ADV, self.rcv_adv.0),
            (tcb::ACK_SENT, self.ack_sent.0),
            (tcb::ISS, self.iss.0),
            (tcb::SND_UNA, self.snd_una.0),
            (tcb::SND_NXT, self.snd_nxt.0),
            (tcb::SND_MAX, self.snd_max.0),
            (tcb::SND_WND, u32::from(self.snd_wnd)),
            (tcb::TIMER_DUE, self.timer_due),
            (tcb::SEQ_OFFSET, self.seq_offset),
            (tcb::TX_END, self.tx_end),
            (tcb::GEN, self.gen),
        ];
        for (f, v) in vals {
            f.set(&mut w, v);
        }
        tcb::EPOCH.set(&mut w, self.epoch);
        w
    }

    /// Decode TCB window words (an unknown state code decodes as `Closed`;
    /// `score::diff_tcb` compares raw words, so it is still reported).
    pub fn from_words(w: &[u32; TCB_WORDS]) -> Tcb {
        let g = |f: TcbField| f.get(w);
        let mac = (u64::from(g(tcb::REMOTE_MAC_HI)) << 32) | u64::from(g(tcb::REMOTE_MAC_LO));
        Tcb {
            state: TcpState::from_code(g(tcb::STATE)).unwrap_or(TcpState::Closed),
            holdback: g(tcb::HOLDBACK) != 0,
            fin_rcvd: g(tcb::FIN_RCVD) != 0,
            retries: g(tcb::RETRIES),
            peer_mss: g(tcb::PEER_MSS) as u16,
            local_port: g(tcb::LOCAL_PORT) as u16,
            remote_port: g(tcb::REMOTE_PORT) as u16,
            remote_ip: Ipv4Addr::from(g(tcb::REMOTE_IP)),
            remote_mac: MacAddr::from_u64(mac),
            peer_link: g(tcb::PEER_LINK) as u16,
            irs: SeqNum(g(tcb::IRS)),
            rcv_nxt: SeqNum(g(tcb::RCV_NXT)),
            rel: SeqNum(g(tcb::REL)),
            rcv_adv: SeqNum(g(tcb::RCV_ADV)),
            ack_sent: SeqNum(g(tcb::ACK_SENT)),
            iss: SeqNum(g(tcb::ISS)),
            snd_una: SeqNum(g(tcb::SND_UNA)),
            snd_nxt: SeqNum(g(tcb::SND_NXT)),
            snd_max: SeqNum(g(tcb::SND_MAX)),
            snd_wnd: g(tcb::SND_WND) as u16,
            timer_due: g(tcb::TIMER_DUE),
            seq_offset: g(tcb::SEQ_OFFSET),
            tx_end: g(tcb::TX_END),
            gen: g(tcb::GEN),
            epoch: g(tcb::EPOCH),
        }
    }
}

/// Fields whose value depends on when the core's timer scan ran or how often
/// it wrote the TCB back, not on the segments: `score::diff_tcb` skips them
/// unless asked.
pub const TIMING_FIELDS: &[TcbField] = &[tcb::TIMER_DUE, tcb::GEN];

/// Field-by-field differences between the model's TCB and the core's words,
/// skipping `skip`; empty when they agree.
pub fn diff_tcb(model: &Tcb, core: &[u32; TCB_WORDS], skip: &[TcbField]) -> Vec<String> {
    let mw = model.to_words();
    tcb::FIELDS
        .iter()
        .filter(|f| !skip.iter().any(|s| s.name == f.name))
        .filter_map(|f| {
            let (m, c) = (f.get(&mw), f.get(core));
            (m != c).then(|| {
                if *f == tcb::STATE {
                    let name = |v: u32| TcpState::from_code(v).map_or(format!("code {v}"), |s| s.rfc_name().to_string());
                    format!("{}: model {} core {}", f.name, name(m), name(c))
                } else {
                    format!("{}: model {m} ({m:#x}) core {c} ({c:#x}) diff {}", f.name, c.wrapping_sub(m) as i32)
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_every_field() {
        let t = Tcb {
            state: TcpState::CloseWait,
            holdback: true,
            fin_rcvd: true,
            retries: 7,
            peer_mss: 1460,
            local_port: 5001,
            remote_port: 40000,
            remote_ip: Ipv4Addr::new(198, 18, 0, 1),
            remote_mac: MacAddr([2, 0, 0, 0, 0xab, 0xcd]),
            peer_link: 0xffff,
            irs: SeqNum(0xffff_fff0),
            rcv_nxt: SeqNum(5),
            rel: SeqNum(3),
            rcv_adv: SeqNum(8000),
            ack_sent: SeqNum(3),
            iss: SeqNum(77),
            snd_una: SeqNum(78),
            snd_nxt: SeqNum(79),
            snd_max: SeqNum(79),
            snd_wnd: 64240,
            timer_due: 123_456,
            seq_offset: 9,
            tx_end: 10,
            gen: 11,
            epoch: 12,
        };
        let w = t.to_words();
        assert_eq!(Tcb::from_words(&w), t);
        assert!(diff_tcb(&t, &w, &[]).is_empty());
        let mut other = w;
        tcb::RCV_NXT.set(&mut other, 6);
        assert_eq!(diff_tcb(&t, &other, &[]).len(), 1);
        assert!(diff_tcb(&t, &other, &[tcb::RCV_NXT]).is_empty());
    }
}
