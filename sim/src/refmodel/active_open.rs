//! Active open in the model (docs/engine.md, "Active open"; RFC 9293 §3.10.1
//! OPEN, active, and §3.10.7.3 SYN-SENT), mirroring `hdl/src/engine/active_open.rs`:
//! - CONNECT takes a slot as a passive open does (or is refused and counted in
//!   `connects_refused` when none is free or the card may not speak), enters
//!   SYN-SENT and sends our SYN: our MSS, always our Window Scale (the shift
//!   for the ring), the window `min(ring, 65535)`; the ISS is the core's,
//!   learned from that SYN;
//! - the SYN is timed like a SYN-ACK (`RTO << retries`, given up after seven
//!   with a RST at snd_nxt);
//! - in SYN-SENT an ACK other than iss + 1 gets a RST at it (unless it is a
//!   RST); a RST with the right ACK frees the slot (`connects_refused`), one
//!   without ACK is dropped uncounted; a SYN sets irs, rcv_nxt, R, the peer's
//!   MSS and shifts and goes to ESTABLISHED with an ACK (our SYN ACKed) or to
//!   SYN-RECEIVED with our SYN-ACK (simultaneous open); anything else is
//!   `drop_unsupported`. The SYN-ACK's unscaled window is kept as
//!   `window >> snd_wscale`;
//! - timestamps (RFC 7323 §3.2): with TIMESTAMPS on, the SYN-SENT TCB has
//!   TS_OK and TS_OFFSET = `ts_offset_for(iss)`, so our SYN and its
//!   retransmissions lead with TSval = TS_CLOCK + TS_OFFSET and TSecr 0; the
//!   peer's SYN (or SYN-ACK) keeps TS_OK and gives TS.Recent its TSval when it
//!   carries the option, else clears TS_OK and TS_OFFSET.
use std::net::Ipv4Addr;

use holdback_regmap::{Stat, TcpState};
use tracing::{debug, warn};

use super::{ts_offset_for, ConnKey, RefModel, RxSegment, Step, Tcb, DEFAULT_PEER_MSS};
use crate::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};

/// What the host writes to open a connection: CONNECT_IP, CONNECT_PORTS and the next hop's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect {
    pub remote_ip: Ipv4Addr,
    pub remote_port: u16,
    pub local_port: u16,
    pub next_hop: MacAddr,
}

impl Connect {
    pub fn key(&self) -> ConnKey {
        ConnKey { remote_ip: self.remote_ip, remote_port: self.remote_port, local_port: self.local_port }
    }
    /// CONNECT_PORTS: the remote port in bits 31:16, ours in 15:0.
    pub fn ports_word(&self) -> u32 {
        (u32::from(self.remote_port) << 16) | u32::from(self.local_port)
    }
}

impl RefModel {
    /// Remember the ISS of every SYN (without ACK) in `core_frames`: the core's
    /// own choice for a connection it opens, as for a SYN-ACK.
    pub fn learn_connect_iss_from(&mut self, core_frames: &[Vec<u8>]) {
        for f in core_frames {
            let Ok(frame) = wire::Frame::parse(f) else { continue };
            let Some((ip, tcp, _)) = frame.tcp() else { continue };
            if tcp.flags.syn() && !tcp.flags.ack() && ip.src == self.cfg.ip {
                let key = ConnKey { remote_ip: ip.dst, remote_port: tcp.dst_port, local_port: tcp.src_port };
                self.learned_iss.insert(key, tcp.seq);
            }
        }
    }

    /// The host writes CONNECT at `now_us`: the slot the connection took, or
    /// `None` when refused.
    pub fn on_connect(&mut self, now_us: u32, c: &Connect) -> (Step, Option<usize>) {
        self.now_us = now_us;
        let slot = if self.cfg.enable && !self.cfg.standby { self.slots.take() } else { None };
        let Some(id) = slot else {
            self.count(Stat::ConnectsRefused);
            return (self.finish(), None);
        };
        let key = c.key();
        let iss = self.learned_iss.remove(&key).unwrap_or_else(|| {
            warn!(?key, "no SYN from the core to learn the ISS from; using 0");
            SeqNum(0)
        });
        self.tcbs[id] = self.active_tcb(self.tcbs[id].gen, c, iss);
        self.rings[id].fill(0);
        self.holes[id].clear();
        self.send_limits.clear(id);
        debug!(id, ?key, "CLOSED => SYN-SENT");
        self.count(Stat::ActiveOpens);
        self.send_syn(id);
        self.writeback(id);
        (self.finish(), Some(id))
    }

    /// The TCB CONNECT `c` makes in SYN-SENT with our `iss`, in a slot whose
    /// change generation is `gen`.
    pub(super) fn active_tcb(&self, gen: u32, c: &Connect, iss: SeqNum) -> Tcb {
        let (remote_mac_hi, remote_mac_lo) = c.next_hop.to_words();
        Tcb {
            version: holdback_regmap::VERSION,
            state: TcpState::SynSent,
            holdback: self.cfg.holdback,
            // No listening slot is involved: SEND_HOLDBACK's default.
            send_hold: super::send_limit::send_hold_for(self.cfg.send_holdback, &[], 0),
            close_asked: false,
            fin_rcvd: false,
            retries: 0,
            peer_mss: DEFAULT_PEER_MSS,
            snd_wscale: 0,
            rcv_wscale: holdback_regmap::wscale_for_ring(self.cfg.ring_bytes),
            // RFC 2018 §2: our SYN offers SACK-permitted; the peer's SYN decides.
            sack_ok: self.cfg.reassembly && self.cfg.sack,
            // RFC 7323 §3.2: our SYN offers timestamps with TSecr 0; the peer's SYN decides.
            ts_ok: self.cfg.timestamps,
            ts_recent: 0,
            ts_offset: if self.cfg.timestamps { ts_offset_for(iss) } else { 0 },
            local_port: c.local_port,
            remote_port: c.remote_port,
            remote_ip: c.remote_ip,
            remote_mac_lo,
            remote_mac_hi,
            peer_link: super::relay::NO_LINK,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rel: SeqNum(0),
            rcv_adv: SeqNum(0),
            ack_sent: SeqNum(0),
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            snd_max: iss + 1,
            snd_wnd: 0,
            timer_due: self.now_us.wrapping_add(self.cfg.rto_us),
            seq_offset: 0,
            tx_end: 0,
            gen,
            epoch: 0,
        }
    }

    /// Our SYN, first or again: from iss, the Timestamps option when offered
    /// (TSecr 0), our MSS, always our Window Scale, SACK-permitted when offered.
    pub(super) fn send_syn(&mut self, id: usize) {
        let t = &self.tcbs[id];
        let seg = TcpRepr::new(t.local_port, t.remote_port, t.iss, SeqNum(0), TcpFlags::SYN, self.cfg.syn_window() as u16);
        let seg = self
            .with_timestamps(id, seg)
            .with_mss(self.cfg.our_mss)
            .with_wscale(t.rcv_wscale);
        let seg = if t.sack_ok { seg.with_sack_permitted() } else { seg };
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        self.send(wire::tcp_frame(self.cfg.us(), to, &seg, &[]), None);
    }

    /// A segment to a TCB in SYN-SENT (RFC 9293 §3.10.7.3).
    pub(super) fn syn_sent(&mut self, id: usize, seg: &RxSegment) {
        let t = &self.tcbs[id];
        let ack_ok = seg.ack == t.snd_nxt;
        if seg.flags.ack() && !ack_ok {
            if !seg.flags.rst() {
                let rst = TcpRepr::new(t.local_port, t.remote_port, seg.ack, SeqNum(0), TcpFlags::RST, 0);
                let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
                self.send(wire::tcp_frame(self.cfg.us(), to, &rst, &[]), Some(Stat::RstSent));
            }
            return;
        }
        if seg.flags.rst() {
            if seg.flags.ack() {
                // Refused: nobody listens at the remote port.
                self.count(Stat::ConnectsRefused);
                self.set_state(id, TcpState::Closed);
                self.writeback(id);
            }
            return;
        }
        if !seg.flags.syn() {
            self.count(Stat::DropUnsupported);
            return;
        }
        let (now, rto, syn_window) = (self.now_us, self.cfg.rto_us, self.cfg.syn_window());
        let t = &mut self.tcbs[id];
        t.irs = seg.seq;
        t.rcv_nxt = seg.seq + 1;
        t.rel = seg.seq + 1;
        t.ack_sent = seg.seq + 1;
        t.rcv_adv = seg.seq + 1 + syn_window;
        t.peer_mss = if seg.mss == 0 { DEFAULT_PEER_MSS } else { seg.mss };
        match seg.wscale {
            Some(shift) => {
                // A SYN-ACK's window is never scaled (RFC 7323 §2.2): keep what it says in units of the shift.
                t.snd_wnd = seg.window >> shift;
                t.snd_wscale = shift;
            }
            None => {
                t.snd_wnd = seg.window;
                t.snd_wscale = 0;
                t.rcv_wscale = 0;
            }
        }
        // RFC 7323 §3.2: timestamps only when both SYNs carried the option.
        match seg.timestamps {
            Some((tsval, _)) if t.ts_ok => t.ts_recent = tsval,
            _ => (t.ts_ok, t.ts_offset) = (false, 0),
        }
        t.sack_ok &= seg.sack_permitted;
        t.retries = 0;
        t.timer_due = now.wrapping_add(rto);
        if seg.flags.ack() {
            t.snd_una = seg.ack;
            self.set_state(id, TcpState::Established);
            self.keepalive_rearm(id);
            self.send_ack(id);
        } else {
            // Simultaneous open: both SYNs crossed.
            self.set_state(id, TcpState::SynReceived);
            self.send_syn_ack(id);
        }
        self.writeback(id);
    }
}
