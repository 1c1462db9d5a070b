//! The TCP control block as one typed value: decoded from (and packed to) the
//! TCB window's words with the field table of [`crate::tcb`], so no offset is
//! repeated here.
//!
//! This one struct is what the driver reads from the card, what the
//! reference model keeps per connection, what the daemon shows in
//! `holdback conns --json` and what the replication link ships to the
//! standby (serde, stamped with the layout version). Member names are the
//! lower-cased field names of [`crate::tcb::FIELDS`], one to one (the driver's
//! `regmap_agreement` test checks it), so the JSON and the register map
//! cannot drift apart.
//!
//! Where the driver's and the model's former copies differed, this type
//! follows the RTL:
//! - `retries` is a `u8`: the RTL's field is 4 bits and it gives up after 7.
//! - the next-hop MAC is the two registers the RTL keeps (`remote_mac_hi`,
//!   `remote_mac_lo`); [`Tcb::remote_mac`] joins them into a [`MacAddr`].
//! - decoding is strict: a state code outside RFC 9293's eleven is refused
//!   ([`TcbError::UnknownState`]). The RTL has no meaning for codes 11-15 —
//!   such a slot is neither free nor in any state it handles — so a decoder
//!   that mapped them to CLOSED would describe a free slot the RTL treats as
//!   taken.
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{tcb, MacAddr, SeqNum, TcbField, TcpState, TCB_WORDS, VERSION};

/// Why TCB words could not be decoded or a [`Tcb`] not encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TcbError {
    #[error("TCB state code {code} is not an RFC 9293 state (expected 0..=10)")]
    UnknownState { code: u32 },
    #[error("TCB has {found} words, the layout needs {expected}")]
    WrongLength { found: usize, expected: usize },
    #[error("TCB is of layout version {found}, this build uses version {expected}")]
    WrongVersion { found: u32, expected: u32 },
}

/// One connection's control block. Each member is the register-map field of
/// the same name; sequence-space relations hold in wrapping order
/// ([`SeqNum`]). The invariants are those the core keeps (as the field docs
/// of [`crate::tcb`] state them); a TCB read mid-update or written by a host
/// may break them, which is why they are stated, not enforced, here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcb {
    /// Layout version ([`VERSION`]) the words were decoded with or are meant
    /// for; [`Tcb::encode`] refuses any other.
    pub version: u32,
    /// RFC 9293 state; `Closed` means the slot is free. Serialised as its RFC
    /// name ("SYN-RECEIVED").
    #[serde(with = "state_name")]
    pub state: TcpState,
    /// ACK holdback on: every ACK sent is `min(rcv_nxt, rel)` (invariant 1).
    pub holdback: bool,
    /// The peer's FIN was received in order; `rcv_nxt` counts it.
    pub fin_rcvd: bool,
    /// Send holdback on: nothing at or above the connection's send limit
    /// (SEND_LIMIT) leaves the card (invariant 9). Absent in a TCB from an
    /// older peer: off.
    #[serde(default)]
    pub send_hold: bool,
    /// Relay mode: the spliced peer received its FIN, so this side may
    /// close; a linked CLOSE-WAIT sends its FIN only then. Absent in a TCB
    /// from an older peer: off.
    #[serde(default)]
    pub close_asked: bool,
    /// Retransmissions of our SYN-ACK or FIN since the last progress;
    /// at most 7 (the core then gives up), 4 bits in the RTL.
    pub retries: u8,
    /// MSS the peer announced, 536 if its SYN carried none.
    pub peer_mss: u16,
    /// Our TCP port (one of the listening ports).
    pub local_port: u16,
    /// The peer's TCP port.
    pub remote_port: u16,
    /// The peer's IPv4 address.
    pub remote_ip: Ipv4Addr,
    /// Next-hop MAC bytes 2-5, big-endian (from the SYN's source MAC); see
    /// [`Tcb::remote_mac`].
    pub remote_mac_lo: u32,
    /// Next-hop MAC bytes 0-1, big-endian.
    pub remote_mac_hi: u16,
    /// Relay mode: id of the spliced connection; 0xFFFF when none (the
    /// passive-open engine always sets none).
    pub peer_link: u16,
    /// Initial receive sequence number; stream offset `o` is at `irs + 1 + o`.
    pub irs: SeqNum,
    /// Next sequence number expected; every byte before it is in the ring;
    /// `rcv_nxt <= rcv_adv`.
    pub rcv_nxt: SeqNum,
    /// Released point R: the highest ACK the host allows. Only moves forward.
    pub rel: SeqNum,
    /// Right edge of the window last advertised; never moves left
    /// (RFC 9293 §3.8.6, invariant 5).
    pub rcv_adv: SeqNum,
    /// A: the highest ACK put on the wire; `ack_sent <= rel` while holdback
    /// is on (invariant 1).
    pub ack_sent: SeqNum,
    /// Initial send sequence number (the core's choice).
    pub iss: SeqNum,
    /// Oldest unacknowledged sequence number we sent;
    /// `iss <= snd_una <= snd_nxt`.
    pub snd_una: SeqNum,
    /// Next sequence number to send; `snd_nxt <= snd_max`.
    pub snd_nxt: SeqNum,
    /// Highest sequence number sent (replicated so a standby accepts ACKs up
    /// to it, invariant 4).
    pub snd_max: SeqNum,
    /// The peer's advertised window as last seen, as it sent it: in bytes
    /// it is `snd_wnd << snd_wscale` (RFC 7323 §2.3).
    pub snd_wnd: u16,
    /// The peer's window-scale shift (at most 14); 0 unless both SYNs
    /// carried the option.
    pub snd_wscale: u8,
    /// Our window-scale shift: the windows we send after the SYN-ACK are
    /// `(right edge - ack) >> rcv_wscale`; 0 unless both SYNs carried it.
    pub rcv_wscale: u8,
    /// SACK (RFC 2018) negotiated: our ACKs carry SACK blocks of the held
    /// out-of-order ranges.
    pub sack_ok: bool,
    /// Timestamps (RFC 7323 §3) negotiated: the peer's SYN carried the option
    /// and TIMESTAMPS bit0 was set.
    pub ts_ok: bool,
    /// TS.Recent (RFC 7323 §4.3): the peer's TSval to echo; 0 unless `ts_ok`.
    pub ts_recent: u32,
    /// Timestamps (RFC 7323 §5.4): TSval = TS_CLOCK + `ts_offset` on every
    /// segment sent; the ISS with its halves swapped at the open, 0 unless `ts_ok`.
    pub ts_offset: u32,
    /// NOW_US value at which the retransmission timer fires (SYN-RECEIVED
    /// once its SYN-ACK is sent, LAST-ACK); in the writing card's clock.
    pub timer_due: u32,
    /// Relay mode: fixed offset between this connection's and its peer
    /// link's sequence space.
    pub seq_offset: u32,
    /// Relay mode: stream offset up to which the host filled the transmit ring.
    pub tx_end: u32,
    /// Change generation: +1 on every TCB write-back by the core (wrapping);
    /// replication orders copies by it.
    pub gen: u32,
    /// Failover epoch of the card that last wrote this TCB (invariant 8).
    pub epoch: u32,
}

impl Default for Tcb {
    /// A free (CLOSED, all-zero) TCB of this layout.
    fn default() -> Tcb {
        Tcb::closed()
    }
}

impl Tcb {
    /// A free (CLOSED, all-zero) TCB of this layout.
    pub fn closed() -> Tcb {
        Tcb::decode(&[0; TCB_WORDS]).expect("all-zero words decode (state 0 is CLOSED)")
    }

    /// Decode the words of one TCB as read from the TCB window.
    pub fn decode(words: &[u32]) -> Result<Tcb, TcbError> {
        if words.len() != TCB_WORDS {
            return Err(TcbError::WrongLength {
                found: words.len(),
                expected: TCB_WORDS,
            });
        }
        let code = tcb::STATE.get(words);
        let state = TcpState::from_code(code).ok_or(TcbError::UnknownState { code })?;
        let seq = |f: TcbField| SeqNum(f.get(words));
        Ok(Tcb {
            version: VERSION,
            state,
            holdback: tcb::HOLDBACK.get(words) != 0,
            fin_rcvd: tcb::FIN_RCVD.get(words) != 0,
            send_hold: tcb::SEND_HOLD.get(words) != 0,
            close_asked: tcb::CLOSE_ASKED.get(words) != 0,
            retries: tcb::RETRIES.get(words) as u8,
            peer_mss: tcb::PEER_MSS.get(words) as u16,
            local_port: tcb::LOCAL_PORT.get(words) as u16,
            remote_port: tcb::REMOTE_PORT.get(words) as u16,
            remote_ip: Ipv4Addr::from(tcb::REMOTE_IP.get(words)),
            remote_mac_lo: tcb::REMOTE_MAC_LO.get(words),
            remote_mac_hi: tcb::REMOTE_MAC_HI.get(words) as u16,
            peer_link: tcb::PEER_LINK.get(words) as u16,
            irs: seq(tcb::IRS),
            rcv_nxt: seq(tcb::RCV_NXT),
            rel: seq(tcb::REL),
            rcv_adv: seq(tcb::RCV_ADV),
            ack_sent: seq(tcb::ACK_SENT),
            iss: seq(tcb::ISS),
            snd_una: seq(tcb::SND_UNA),
            snd_nxt: seq(tcb::SND_NXT),
            snd_max: seq(tcb::SND_MAX),
            snd_wnd: tcb::SND_WND.get(words) as u16,
            snd_wscale: tcb::SND_WSCALE.get(words) as u8,
            rcv_wscale: tcb::RCV_WSCALE.get(words) as u8,
            sack_ok: tcb::SACK_OK.get(words) != 0,
            ts_ok: tcb::TS_OK.get(words) != 0,
            ts_recent: tcb::TS_RECENT.get(words),
            ts_offset: tcb::TS_OFFSET.get(words),
            timer_due: tcb::TIMER_DUE.get(words),
            seq_offset: tcb::SEQ_OFFSET.get(words),
            tx_end: tcb::TX_END.get(words),
            gen: tcb::GEN.get(words),
            epoch: tcb::EPOCH.get(words),
        })
    }

    /// Encode into TCB window words. Refuses a TCB of another layout version
    /// (e.g. received from a standby running other firmware): its fields may
    /// not mean what this layout says.
    pub fn encode(&self) -> Result<[u32; TCB_WORDS], TcbError> {
        if self.version != VERSION {
            return Err(TcbError::WrongVersion {
                found: self.version,
                expected: VERSION,
            });
        }
        Ok(self.to_words())
    }

    /// The words of this TCB in this build's layout, whatever `version` says
    /// (for TCBs made here, like the reference model's; [`Tcb::encode`] is the
    /// checked form for TCBs from elsewhere).
    pub fn to_words(&self) -> [u32; TCB_WORDS] {
        let mut w = [0u32; TCB_WORDS];
        tcb::STATE.set(&mut w, self.state as u32);
        tcb::HOLDBACK.set(&mut w, self.holdback as u32);
        tcb::FIN_RCVD.set(&mut w, self.fin_rcvd as u32);
        tcb::SEND_HOLD.set(&mut w, self.send_hold as u32);
        tcb::CLOSE_ASKED.set(&mut w, self.close_asked as u32);
        tcb::RETRIES.set(&mut w, self.retries as u32);
        tcb::PEER_MSS.set(&mut w, self.peer_mss as u32);
        tcb::LOCAL_PORT.set(&mut w, self.local_port as u32);
        tcb::REMOTE_PORT.set(&mut w, self.remote_port as u32);
        tcb::REMOTE_IP.set(&mut w, u32::from(self.remote_ip));
        tcb::REMOTE_MAC_LO.set(&mut w, self.remote_mac_lo);
        tcb::REMOTE_MAC_HI.set(&mut w, self.remote_mac_hi as u32);
        tcb::PEER_LINK.set(&mut w, self.peer_link as u32);
        tcb::IRS.set(&mut w, self.irs.0);
        tcb::RCV_NXT.set(&mut w, self.rcv_nxt.0);
        tcb::REL.set(&mut w, self.rel.0);
        tcb::RCV_ADV.set(&mut w, self.rcv_adv.0);
        tcb::ACK_SENT.set(&mut w, self.ack_sent.0);
        tcb::ISS.set(&mut w, self.iss.0);
        tcb::SND_UNA.set(&mut w, self.snd_una.0);
        tcb::SND_NXT.set(&mut w, self.snd_nxt.0);
        tcb::SND_MAX.set(&mut w, self.snd_max.0);
        tcb::SND_WND.set(&mut w, self.snd_wnd as u32);
        tcb::SND_WSCALE.set(&mut w, self.snd_wscale as u32);
        tcb::RCV_WSCALE.set(&mut w, self.rcv_wscale as u32);
        tcb::SACK_OK.set(&mut w, u32::from(self.sack_ok));
        tcb::TS_OK.set(&mut w, u32::from(self.ts_ok));
        tcb::TS_RECENT.set(&mut w, self.ts_recent);
        tcb::TS_OFFSET.set(&mut w, self.ts_offset);
        tcb::TIMER_DUE.set(&mut w, self.timer_due);
        tcb::SEQ_OFFSET.set(&mut w, self.seq_offset);
        tcb::TX_END.set(&mut w, self.tx_end);
        tcb::GEN.set(&mut w, self.gen);
        tcb::EPOCH.set(&mut w, self.epoch);
        w
    }

    /// The slot holds a connection (any state but CLOSED).
    pub fn is_open(&self) -> bool {
        self.state != TcpState::Closed
    }

    /// The next-hop MAC address.
    pub fn remote_mac(&self) -> MacAddr {
        MacAddr::from_words(self.remote_mac_hi, self.remote_mac_lo)
    }

    /// The ACK value the core puts on the wire now: `min(rcv_nxt, rel)` in
    /// sequence space with holdback on (invariant 1), `rcv_nxt` with it off.
    pub fn ack_value(&self) -> SeqNum {
        if self.holdback {
            self.rcv_nxt.earliest(self.rel)
        } else {
            self.rcv_nxt
        }
    }

    /// Bytes received (rcv_nxt) but not yet released (R), which the peer still
    /// holds because they are not ACKed. 0 with holdback off: the core ACKs on
    /// receipt. Counts the peer's FIN as one byte once received.
    pub fn held_back_bytes(&self) -> u32 {
        if self.holdback {
            self.rcv_nxt.bytes_since(self.rel)
        } else {
            0
        }
    }

    /// Window last put on the wire: right edge minus the ACK it went with.
    pub fn advertised_window(&self) -> u32 {
        self.rcv_adv.bytes_since(self.ack_sent)
    }

    /// Sequence number of stream offset `offset` (first payload byte: 0).
    pub fn seq_of_offset(&self, offset: u64) -> SeqNum {
        self.irs + 1 + offset as u32
    }

    /// Stream offset (mod 2^32) of sequence number `seq`.
    pub fn offset_of_seq(&self, seq: SeqNum) -> u32 {
        seq.0.wrapping_sub(self.irs.0).wrapping_sub(1)
    }

    /// Stream bytes in the ring: received, counted from the first payload
    /// byte, mod 2^32 (the daemon extends it to 64 bits as it follows the
    /// connection). Excludes a received FIN.
    pub fn received_bytes(&self) -> u32 {
        self.offset_of_seq(self.rcv_nxt)
            .wrapping_sub(self.fin_rcvd as u32)
    }
}

/// Serialises [`TcpState`] as its RFC 9293 name ("CLOSE-WAIT") — the same
/// string the logs and tables use.
pub mod state_name {
    use crate::TcpState;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(state: &TcpState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(state.rfc_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TcpState, D::Error> {
        let name = String::deserialize(d)?;
        from_rfc_name(&name)
            .ok_or_else(|| D::Error::custom(format!("`{name}` is not an RFC 9293 state name")))
    }

    /// The state with RFC name `name`, if any.
    pub fn from_rfc_name(name: &str) -> Option<TcpState> {
        (0..=15)
            .filter_map(TcpState::from_code)
            .find(|s| s.rfc_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tcb {
        Tcb {
            state: TcpState::CloseWait,
            holdback: true,
            fin_rcvd: true,
            send_hold: true,
            close_asked: true,
            retries: 3,
            peer_mss: 1460,
            local_port: 5001,
            remote_port: 40000,
            remote_ip: Ipv4Addr::new(198, 18, 0, 1),
            remote_mac_lo: 0x0304_0506,
            remote_mac_hi: 0x0102,
            peer_link: crate::NO_PEER_LINK,
            irs: SeqNum(0xFFFF_FF00),
            rcv_nxt: SeqNum(0x0000_0101),
            rel: SeqNum(0xFFFF_FFF0),
            rcv_adv: SeqNum(0x0000_2000),
            ack_sent: SeqNum(0xFFFF_FFF0),
            iss: SeqNum(1000),
            snd_una: SeqNum(1001),
            snd_nxt: SeqNum(1001),
            snd_max: SeqNum(1001),
            snd_wnd: 64240,
            snd_wscale: 7,
            rcv_wscale: 5,
            sack_ok: true,
            ts_ok: true,
            ts_recent: 0xFEDC_BA98,
            ts_offset: 0x1234_5678,
            timer_due: 123_456,
            seq_offset: 0,
            tx_end: 0,
            gen: 42,
            epoch: 1,
            version: VERSION,
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let t = sample();
        let words = t.encode().unwrap();
        assert_eq!(Tcb::decode(&words).unwrap(), t);
        assert_eq!(tcb::STATE.get(&words), TcpState::CloseWait as u32);
        assert_eq!(tcb::REL.get(&words), 0xFFFF_FFF0);
    }

    #[test]
    fn words_round_trip_every_field() {
        let t = Tcb {
            retries: 7,
            remote_mac_hi: 0x0200,
            remote_mac_lo: 0x0000_abcd,
            irs: SeqNum(0xffff_fff0),
            rcv_nxt: SeqNum(5),
            rel: SeqNum(3),
            rcv_adv: SeqNum(8000),
            ack_sent: SeqNum(3),
            iss: SeqNum(77),
            snd_una: SeqNum(78),
            snd_nxt: SeqNum(79),
            snd_max: SeqNum(79),
            seq_offset: 9,
            tx_end: 10,
            gen: 11,
            epoch: 12,
            ..sample()
        };
        let w = t.to_words();
        assert_eq!(Tcb::decode(&w).unwrap(), t);
        assert_eq!(t.remote_mac(), MacAddr([2, 0, 0, 0, 0xab, 0xcd]));
    }

    #[test]
    fn derived_views_straddle_the_wrap() {
        let t = sample();
        // rel = irs + 0xF0; rcv_nxt = irs + 1 + 0x1FF bytes + FIN.
        assert_eq!(t.held_back_bytes(), 0x111);
        assert_eq!(t.ack_value(), t.rel);
        assert_eq!(t.advertised_window(), 0x2010);
        assert_eq!(t.received_bytes(), 0x1FF);
        assert_eq!(t.offset_of_seq(t.rel), 0xEF);
        assert_eq!(t.seq_of_offset(0xEF), t.rel);
        assert_eq!(t.remote_mac(), MacAddr([1, 2, 3, 4, 5, 6]));
        let off = Tcb {
            holdback: false,
            ..t
        };
        assert_eq!(off.held_back_bytes(), 0);
        assert_eq!(off.ack_value(), off.rcv_nxt);
    }

    #[test]
    fn json_uses_rfc_state_names_and_round_trips() {
        let t = sample();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["state"], "CLOSE-WAIT");
        assert_eq!(json["remote_ip"], "198.18.0.1");
        let back: Tcb = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        let bad = serde_json::json!({"state": "ESTABLISHED-ISH"});
        assert!(serde_json::from_value::<Tcb>(bad).is_err());
    }

    #[test]
    fn decode_refuses_unknown_state_and_wrong_length() {
        let mut w = [0u32; TCB_WORDS];
        tcb::STATE.set(&mut w, 14);
        assert!(matches!(
            Tcb::decode(&w),
            Err(TcbError::UnknownState { code: 14 })
        ));
        assert!(matches!(
            Tcb::decode(&w[..3]),
            Err(TcbError::WrongLength { found: 3, .. })
        ));
    }

    #[test]
    fn encode_refuses_other_layout_version() {
        let t = Tcb {
            version: VERSION + 1,
            ..sample()
        };
        assert!(matches!(t.encode(), Err(TcbError::WrongVersion { .. })));
    }

    #[test]
    fn every_rfc_name_parses_back() {
        for code in 0..=10 {
            let s = TcpState::from_code(code).unwrap();
            assert_eq!(state_name::from_rfc_name(s.rfc_name()), Some(s));
        }
    }
}
