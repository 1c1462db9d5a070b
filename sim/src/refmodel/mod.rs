//! The sans-I/O reference model of the core's frame handling (the behaviour
//! docs/ describes). Time and frames are arguments; frames the core must
//! emit are return values. The Verilator tests feed the same inputs to the
//! model and the RTL and [`score`] the RTL's output against the model's.
//!
//! Two things are the core's own choice and are *learned*, not predicted: the
//! ISS (from the SYN-ACK the RTL emits: [`RefModel::learn_iss_from`] before
//! [`RefModel::on_frame`]) and nothing else — slots follow the core's allocator
//! (a FIFO of freed slots first, then never-used slots in order; see [`SlotAllocator`]).
//!
//! Segment handling follows RFC 9293 §3.10.7.4 as the core narrows it: an
//! *acceptability* check first, then the transition steps, each opening with
//! the step it implements.
//!
//! What the design fixes the model follows, so a difference is an RTL
//! finding. Where the design left a choice to the RTL, the model mirrors it:
//! - standby: frames dropped like CTRL.enable=0, no timer retransmissions, and
//!   a release only moves R (nothing sent);
//! - SYN-RECEIVED: any SYN gets the SYN-ACK again; an out-of-window RST is
//!   dropped uncounted; a bad ACK gets RST (RstSent only); no ACK/SYN/RST →
//!   DropUnsupported;
//! - synchronized: no ACK bit → DropUnsupported; an ACK outside
//!   [snd_una, snd_max] → ACK + DropOutOfWindow, segment dropped;
//! - a FIN beyond rcv_nxt is out of order like data (duplicate ACK,
//!   DropOutOfOrder), with or without holdback;
//! - our FIN|ACK carries the ACK (one frame, not ACK then FIN|ACK);
//! - retransmission backoff `RTO << retries` with the count *before* the
//!   increment; retries reset on reaching ESTABLISHED and when the FIN is sent;
//! - `gen` counts TCB write-backs (every handled segment except those dropped
//!   before the TCB is touched, every release, every timer action), and a
//!   reused slot continues its own `gen`;
//! - every segment sent records its ACK and right edge (ack_sent, rcv_adv),
//!   retransmitted FINs included (the regmap's definition of RCV_ADV);
//! - ICMP reply checksum 0x0000 is sent as 0xffff;
//! - card roles: PROMOTE on an enabled standby card
//!   sends a gratuitous ARP, then walks the TCBs in slot order; each open one
//!   gets rcv_adv := max(rcv_adv, rel + ring) and, unless SYN-RECEIVED,
//!   rcv_nxt := ack_sent := rel (a CLOSE-WAIT whose FIN lies above rel goes
//!   back to ESTABLISHED); SYN-RECEIVED and LAST-ACK timers are re-armed at
//!   now + RTO; then ESTABLISHED ones send 1 + 3 ACKs (CTRL bit3) and the
//!   others whatever a release would send; one write-back each;
//! - every write-back stamps the card's EPOCH into the TCB;
//! - hold-synack (CTRL bit4): R and ack_sent start at irs, no SYN-ACK until a
//!   release moves R (then it is sent and its timer starts), the peer's
//!   repeated SYN is dropped uncounted and the timer does not run.
use std::collections::HashMap;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use tracing::{debug, warn};

use crate::wire::{self, Endpoint, IcmpEchoRepr, MacAddr, SeqNum, TcpFlags, TcpRepr};

pub mod lockstep;
pub mod parse;
pub mod score;
pub mod tcb;
pub mod tx;
pub mod tx_peer;
pub mod tx_rtt;

pub use parse::{classify, Accepted, RxSegment};
pub use score::{score, Mismatch};
pub use tcb::{diff_tcb, Tcb};

/// MSS assumed when the SYN carries none (RFC 9293 §3.7.1).
pub const DEFAULT_PEER_MSS: u16 = 536;
/// Retransmissions of a SYN-ACK or FIN before the connection is dropped.
pub const MAX_RETRIES: u8 = 7;

/// What the host configured through the registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    /// Enabled listening ports (LISTEN0..3 with bit 16 set).
    pub listen: Vec<u16>,
    /// CTRL.enable.
    pub enable: bool,
    /// CTRL.holdback: holdback for connections opened from now on, to a
    /// port without a setting of its own in `port_holdback`.
    pub holdback: bool,
    /// Listening ports that decide holdback for their own connections
    /// (LISTENn bit 17, the value in bit 18); each is also in `listen`.
    pub port_holdback: Vec<(u16, bool)>,
    /// CTRL.standby: silent on the wire.
    pub standby: bool,
    /// Receive ring per connection in host memory (RX_RING_LOG2).
    pub ring_bytes: u32,
    /// Number of TCBs (generation parameter).
    pub conns: usize,
    /// OUR_MSS.
    pub our_mss: u16,
    /// RTO_US.
    pub rto_us: u32,
    /// CTRL bit3: 1 + 3 ACKs at R per ESTABLISHED connection after a promotion.
    pub dup_acks: bool,
    /// CTRL bit4: hold each new connection's SYN-ACK until released (claim 31).
    pub hold_synack: bool,
    /// The EPOCH register.
    pub epoch: u32,
}

impl Config {
    /// A config for the core generated with `params`; enabled, holdback off.
    pub fn new(params: &CoreParams, mac: MacAddr, ip: Ipv4Addr, listen: &[u16], our_mss: u16, rto_us: u32) -> Config {
        Config {
            mac,
            ip,
            listen: listen.to_vec(),
            enable: true,
            holdback: false,
            port_holdback: Vec::new(),
            standby: false,
            ring_bytes: params.ring_bytes() as u32,
            conns: params.conns(),
            our_mss,
            rto_us,
            dup_acks: false,
            hold_synack: false,
            epoch: 0,
        }
    }
    /// The port's own holdback setting, if it has one.
    pub fn own_holdback(&self, port: u16) -> Option<bool> {
        self.port_holdback.iter().find(|(p, _)| *p == port).map(|(_, on)| *on)
    }

    /// Whether a connection opened now to `port` holds its ACKs back: the
    /// port's own setting, else CTRL.holdback.
    pub fn holdback_for(&self, port: u16) -> bool {
        self.own_holdback(port).unwrap_or(self.holdback)
    }

    /// What the host ring holds beyond R, as a window: the ring's bytes
    /// capped at 65535 (no window scaling), as the register block derives it.
    pub fn ring_window(&self) -> u32 {
        self.ring_bytes.min(65535)
    }
    fn us(&self) -> Endpoint {
        Endpoint { mac: self.mac, ip: self.ip }
    }
}

/// Identifies a connection as the core's lookup does: (peer IP, peer port, our port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub remote_ip: Ipv4Addr,
    pub remote_port: u16,
    pub local_port: u16,
}

/// Which slot a passive open gets, as the core's connection index hands them
/// out (docs/engine.md, "Connection index"): the oldest freed slot first,
/// else the lowest never used since power-on; none when all N are open. A
/// promotion rebuilds it: every closed slot in slot order, none unused.
#[derive(Debug, Clone, Default)]
pub struct SlotAllocator {
    freed: std::collections::VecDeque<usize>,
    fresh: usize,
    conns: usize,
}

impl SlotAllocator {
    pub fn new(conns: usize) -> SlotAllocator {
        SlotAllocator { freed: Default::default(), fresh: 0, conns }
    }
    /// The slot the next passive open takes, if any.
    pub fn take(&mut self) -> Option<usize> {
        if let Some(id) = self.freed.pop_front() {
            return Some(id);
        }
        (self.fresh < self.conns).then(|| {
            self.fresh += 1;
            self.fresh - 1
        })
    }
    /// A connection closed: its slot is free again.
    pub fn free(&mut self, id: usize) {
        self.freed.push_back(id);
    }
    /// A promotion's rebuild from the TCB table: every closed slot, in order.
    pub fn rebuild(&mut self, closed: impl Iterator<Item = usize>) {
        self.freed = closed.collect();
        self.fresh = self.conns;
    }
}

/// Counter increments caused by one input, indexed by `Stat::index()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatDelta(pub [u32; Stat::COUNT]);

impl StatDelta {
    pub fn get(&self, s: Stat) -> u32 {
        self.0[s.index()]
    }
    /// Non-zero counters, for messages.
    pub fn nonzero(&self) -> Vec<(Stat, u32)> {
        Stat::ALL.iter().filter(|s| self.get(**s) != 0).map(|s| (*s, self.get(*s))).collect()
    }
}

/// What one input made the core do.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Frames the core must emit, in order.
    pub frames: Vec<Vec<u8>>,
    pub stats: StatDelta,
}

/// The reference model: configuration, TCB table, rings, counters.
#[derive(Debug, Clone)]
pub struct RefModel {
    pub cfg: Config,
    tcbs: Vec<Tcb>,
    slots: SlotAllocator,
    rings: Vec<Vec<u8>>,
    stats: [u32; Stat::COUNT],
    /// Change log: ids whose TCB was written back, each queued once until
    /// popped (the regbus FIFO with its dirty bits).
    change_log: std::collections::VecDeque<usize>,
    dirty: Vec<bool>,
    /// Every state each TCB was left in by an input since the host last took
    /// the event records ([`RefModel::forget_states`]): what an event record
    /// may carry.
    states: Vec<Vec<Tcb>>,
    /// The state each TCB was left in by the last input that wrote it back:
    /// what the last event record of it carries (a host TCB write in standby
    /// changes the TCB without a write-back, so without a record).
    last_written: Vec<Option<Tcb>>,
    /// TCBs written back by the input being handled.
    written: Vec<usize>,
    /// ISS values seen in the RTL's SYN-ACKs, by connection, not yet used.
    learned_iss: HashMap<ConnKey, SeqNum>,
    now_us: u32,
    /// The step being built by the current input.
    step: Step,
    /// The slot whose EPOCH word the host's last such write tried, refused:
    /// the core refuses the other words of that TCB until it takes an EPOCH word.
    tcb_refusing: Option<usize>,
}

impl RefModel {
    pub fn new(cfg: Config) -> RefModel {
        let (n, ring) = (cfg.conns, cfg.ring_bytes as usize);
        RefModel {
            cfg,
            tcbs: vec![Tcb::default(); n],
            slots: SlotAllocator::new(n),
            rings: vec![vec![0; ring]; n],
            stats: [0; Stat::COUNT],
            change_log: std::collections::VecDeque::new(),
            dirty: vec![false; n],
            states: vec![Vec::new(); n],
            last_written: vec![None; n],
            written: Vec::new(),
            learned_iss: HashMap::new(),
            now_us: 0,
            step: Step::default(),
            tcb_refusing: None,
        }
    }

    pub fn tcb(&self, id: usize) -> &Tcb {
        &self.tcbs[id]
    }
    pub fn tcbs(&self) -> &[Tcb] {
        &self.tcbs
    }
    /// Connection `id`'s receive ring (byte at stream offset o is at o % ring_bytes).
    pub fn ring(&self, id: usize) -> &[u8] {
        &self.rings[id]
    }
    /// Cumulative counters since `new`, indexed by `Stat::index()`.
    pub fn stats(&self) -> &[u32; Stat::COUNT] {
        &self.stats
    }
    pub fn stat(&self, s: Stat) -> u32 {
        self.stats[s.index()]
    }
    /// Start the counters from the device's values (they are never reset).
    pub fn set_stats(&mut self, stats: [u32; Stat::COUNT]) {
        self.stats = stats;
    }

    /// The slot of the open (not CLOSED) connection `key`, if any.
    pub fn lookup(&self, key: ConnKey) -> Option<usize> {
        (0..self.tcbs.len()).find(|&id| {
            let t = &self.tcbs[id];
            t.state != TcpState::Closed
                && t.remote_ip == key.remote_ip
                && t.remote_port == key.remote_port
                && t.local_port == key.local_port
        })
    }

    /// Remember the ISS of every SYN-ACK in `core_frames` (what the RTL
    /// emitted for the input about to be given to `on_frame`), so a TCB the
    /// model creates for that input uses the RTL's ISS.
    pub fn learn_iss_from(&mut self, core_frames: &[Vec<u8>]) {
        for f in core_frames {
            let Ok(frame) = wire::Frame::parse(f) else { continue };
            let Some((ip, tcp, _)) = frame.tcp() else { continue };
            if tcp.flags.syn() && tcp.flags.ack() && ip.src == self.cfg.ip {
                let key = ConnKey { remote_ip: ip.dst, remote_port: tcp.dst_port, local_port: tcp.src_port };
                self.learned_iss.insert(key, tcp.seq);
            }
        }
    }

    /// One frame from the MAC at `now_us` (the core's NOW_US).
    pub fn on_frame(&mut self, now_us: u32, frame: &[u8]) -> Step {
        self.now_us = now_us;
        self.count(Stat::RxFrames);
        // CTRL.enable=0 or CTRL.standby: popped and dropped, only RxFrames counts.
        if self.cfg.enable && !self.cfg.standby {
            match classify(frame, self.cfg.mac, self.cfg.ip) {
                Err(reason) => self.count(reason),
                Ok(Accepted::ArpRequest { sha, spa }) => {
                    let reply = wire::arp_reply(self.cfg.us(), Endpoint { mac: sha, ip: spa });
                    self.send(reply, Some(Stat::ArpReplies));
                }
                Ok(Accepted::IcmpEcho { src_mac, src_ip, message }) => self.icmp_echo(src_mac, src_ip, &message),
                Ok(Accepted::Tcp(seg)) => self.on_segment(&seg),
            }
        }
        self.finish()
    }

    /// The host writes `RELEASE[id] = value` at `now_us`.
    pub fn on_release(&mut self, now_us: u32, id: usize, value: u32) -> Step {
        self.now_us = now_us;
        let t = &mut self.tcbs[id];
        // R only moves forward: replaced when it is before the value (cmp_newrel).
        t.rel = t.rel.latest(SeqNum(value));
        // In standby the card is silent: R moves, nothing is sent or changed.
        if !self.cfg.standby {
            self.reply(id);
        }
        // A release always writes the TCB back (rel may not even have moved).
        self.writeback(id);
        self.finish()
    }

    /// The host writes TCB word `word` of `id` (applied only in standby, as the core does).
    pub fn on_tcb_write(&mut self, id: usize, word: usize, value: u32) {
        if !self.cfg.standby || word >= holdback_regmap::TCB_WORDS {
            return;
        }
        let mut w = self.tcbs[id].to_words();
        w[word] = value;
        // EPOCH only grows (docs/authority.md): a TCB that would carry an
        // older epoch than the card's is refused, counted once per TCB.
        let epoch_word = holdback_regmap::tcb::EPOCH.word as usize;
        let rest_of_refused = self.tcb_refusing == Some(id) && word != epoch_word;
        let refused = w[epoch_word] < self.cfg.epoch || rest_of_refused;
        if refused && !rest_of_refused {
            self.count_outside_step(Stat::StaleEpochRefused);
        }
        if word == epoch_word {
            self.tcb_refusing = refused.then_some(id);
        }
        if refused {
            return;
        }
        match Tcb::decode(&w) {
            Ok(t) => self.tcbs[id] = t,
            // The core stores the code and treats the slot as taken but in no
            // state it handles; a `Tcb` cannot say that, so the model keeps
            // its TCB and the scorer's word-by-word comparison shows the write.
            Err(e) => warn!(id, word, value, "host TCB write the model cannot follow: {e}"),
        }
    }

    /// The host writes PROMOTE = `epoch` at `now_us` (ignored unless the card
    /// is enabled and in standby). See the module notes for the walk.
    pub fn on_promote(&mut self, now_us: u32, epoch: u32) -> Step {
        self.now_us = now_us;
        // Only into a newer epoch (docs/authority.md), whatever else holds.
        if epoch <= self.cfg.epoch {
            self.count(Stat::StaleEpochRefused);
            return self.finish();
        }
        if !(self.cfg.enable && self.cfg.standby) {
            return self.finish();
        }
        self.cfg.epoch = epoch;
        // The walk speaks; the card is active once it ends.
        self.cfg.standby = false;
        let us = self.cfg.us();
        self.send(wire::gratuitous_arp(us), None);
        let closed: Vec<usize> = (0..self.tcbs.len()).filter(|&id| self.tcbs[id].state == TcpState::Closed).collect();
        self.slots.rebuild(closed.into_iter());
        let ring_window = self.cfg.ring_window();
        for id in 0..self.tcbs.len() {
            let t = &mut self.tcbs[id];
            if t.state == TcpState::Closed {
                continue;
            }
            // Invariant 5: advertise at least up to the replicated right edge.
            t.rcv_adv = ack_and_edge(t, ring_window).1;
            if t.state == TcpState::SynReceived {
                t.timer_due = now_us.wrapping_add(self.cfg.rto_us);
            } else {
                // Invariant 3: resume from R, not from the primary's rcv_nxt.
                let fin_above_r = !t.rcv_nxt.not_after(t.rel);
                t.rcv_nxt = t.rel;
                t.ack_sent = t.rel;
                if t.state == TcpState::CloseWait && fin_above_r {
                    t.state = TcpState::Established;
                    t.fin_rcvd = false;
                }
                if t.state == TcpState::LastAck {
                    t.timer_due = now_us.wrapping_add(self.cfg.rto_us);
                }
            }
            if self.cfg.dup_acks && self.tcbs[id].state == TcpState::Established {
                for _ in 0..=holdback_regmap::PROMOTE_DUP_ACKS {
                    self.send_ack(id);
                }
            } else {
                self.reply(id);
            }
            self.writeback(id);
        }
        self.finish()
    }

    /// The core's timer scan ran at `now_us` (it runs whenever bit 10 of
    /// NOW_US toggles, i.e. every 1024 µs; in standby it sends nothing).
    pub fn on_time(&mut self, now_us: u32) -> Step {
        self.now_us = now_us;
        if self.cfg.standby {
            return self.finish();
        }
        for id in 0..self.tcbs.len() {
            let t = &self.tcbs[id];
            if !matches!(t.state, TcpState::SynReceived | TcpState::LastAck) || (now_us.wrapping_sub(t.timer_due) as i32) < 0 {
                continue;
            }
            if synack_held(t) {
                // The timer starts when the held SYN-ACK goes out.
                continue;
            }
            if t.retries >= MAX_RETRIES {
                // Give up: the peer never answered our SYN-ACK / FIN.
                self.set_state(id, TcpState::Closed);
            } else {
                // Back off: the wait after the n-th retransmission is RTO << (n-1).
                let backoff = self.cfg.rto_us.wrapping_shl(u32::from(t.retries));
                if t.state == TcpState::SynReceived {
                    self.send_syn_ack(id);
                } else {
                    self.send_fin(id, true);
                }
                let t = &mut self.tcbs[id];
                t.retries += 1;
                t.timer_due = now_us.wrapping_add(backoff);
                self.count(Stat::Retransmits);
            }
            self.writeback(id);
        }
        self.finish()
    }

    // ------------------------------------------------------------ segments

    fn on_segment(&mut self, seg: &RxSegment) {
        let key = ConnKey { remote_ip: seg.src_ip, remote_port: seg.src_port, local_port: seg.dst_port };
        let Some(id) = self.lookup(key) else {
            self.no_connection(key, seg);
            return;
        };
        match self.tcbs[id].state {
            TcpState::SynReceived => self.syn_received(id, seg),
            TcpState::Established | TcpState::CloseWait | TcpState::LastAck => self.synchronized(id, seg),
            other => warn!(id, state = other.rfc_name(), "segment for a TCB in a state the core never enters"),
        }
    }

    /// No TCB: open on a SYN to a listening port, else answer with RST
    /// (RFC 9293 §3.10.7.1) unless the segment is one.
    fn no_connection(&mut self, key: ConnKey, seg: &RxSegment) {
        if seg.flags.rst() {
            self.count(Stat::DropNoConnection);
            return;
        }
        if seg.flags.syn() && !seg.flags.ack() && self.cfg.listen.contains(&seg.dst_port) {
            let Some(id) = self.slots.take() else {
                self.count(Stat::DropTcbFull);
                return;
            };
            self.open(id, key, seg);
            return;
        }
        self.count(Stat::DropNoConnection);
        let to = Endpoint { mac: seg.src_mac, ip: seg.src_ip };
        let rst = if seg.flags.ack() {
            TcpRepr::new(seg.dst_port, seg.src_port, seg.ack, SeqNum(0), TcpFlags::RST, 0)
        } else {
            TcpRepr::new(seg.dst_port, seg.src_port, SeqNum(0), seg.seq + seg.seq_len(), TcpFlags::RST | TcpFlags::ACK, 0)
        };
        self.send(wire::tcp_frame(self.cfg.us(), to, &rst, &[]), Some(Stat::RstSent));
    }

    /// Passive open: LISTEN → SYN-RECEIVED, answer SYN-ACK.
    fn open(&mut self, id: usize, key: ConnKey, seg: &RxSegment) {
        // A held SYN-ACK (claim 31) goes out later: its ISS is learned then.
        let iss = self.learned_iss.remove(&key).unwrap_or_else(|| {
            if !self.cfg.hold_synack {
                warn!(?key, "no SYN-ACK from the core to learn the ISS from; using 0");
            }
            SeqNum(0)
        });
        let gen = self.tcbs[id].gen;
        // Claim 31: with hold-synack R starts at irs and nothing is ACKed yet.
        let rel = if self.cfg.hold_synack { seg.seq } else { seg.seq + 1 };
        let (remote_mac_hi, remote_mac_lo) = seg.src_mac.to_words();
        self.tcbs[id] = Tcb {
            version: holdback_regmap::VERSION,
            state: TcpState::SynReceived,
            holdback: self.cfg.holdback_for(key.local_port),
            fin_rcvd: false,
            retries: 0,
            peer_mss: if seg.mss == 0 { DEFAULT_PEER_MSS } else { seg.mss },
            local_port: key.local_port,
            remote_port: key.remote_port,
            remote_ip: key.remote_ip,
            remote_mac_lo,
            remote_mac_hi,
            peer_link: 0xffff,
            irs: seg.seq,
            rcv_nxt: seg.seq + 1,
            rel,
            rcv_adv: seg.seq + 1 + self.cfg.ring_window(),
            ack_sent: rel,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            snd_max: iss + 1,
            snd_wnd: seg.window,
            timer_due: self.now_us.wrapping_add(self.cfg.rto_us),
            seq_offset: 0,
            tx_end: 0,
            gen,
            epoch: 0,
        };
        self.rings[id].fill(0);
        debug!(id, ?key, "CLOSED => SYN-RECEIVED");
        self.count(Stat::ConnsOpened);
        if !self.cfg.hold_synack {
            self.send_syn_ack(id);
        }
        self.writeback(id);
    }

    /// SYN-RECEIVED. Where the design left a choice to the RTL it is mirrored:
    /// an out-of-window RST is dropped uncounted, any SYN (not only seq == irs)
    /// gets the SYN-ACK again, a segment without SYN/RST/ACK is DropUnsupported.
    fn syn_received(&mut self, id: usize, seg: &RxSegment) {
        let t = &self.tcbs[id];
        if seg.flags.rst() {
            // RFC 9293 §3.10.7.4 step 2: an in-window RST closes; others are dropped.
            if in_window(t, seg.seq) {
                self.set_state(id, TcpState::Closed);
                self.writeback(id);
            }
            return;
        }
        if seg.flags.syn() {
            // A retransmitted SYN: our SYN-ACK was lost, send it again —
            // unless it is still held (invariant 1 for the SYN-ACK).
            if !synack_held(t) {
                self.send_syn_ack(id);
            }
            return;
        }
        if !seg.flags.ack() {
            self.count(Stat::DropUnsupported);
            return;
        }
        if seg.ack != t.iss + 1 {
            // RFC 9293 §3.10.7.4 step 5 (SYN-RECEIVED): unacceptable ACK → RST.
            let t = t.clone();
            let rst = TcpRepr::new(t.local_port, t.remote_port, seg.ack, SeqNum(0), TcpFlags::RST, 0);
            let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
            self.send(wire::tcp_frame(self.cfg.us(), to, &rst, &[]), Some(Stat::RstSent));
            return;
        }
        // The handshake completes; the rest of the segment is processed as ESTABLISHED.
        self.tcbs[id].snd_una = seg.ack;
        self.tcbs[id].retries = 0;
        self.set_state(id, TcpState::Established);
        self.synchronized(id, seg);
    }

    /// ESTABLISHED, CLOSE-WAIT, LAST-ACK (RFC 9293 §3.10.7.4, steps numbered
    /// as below). Where the design left a choice to the RTL it is mirrored: a
    /// segment without ACK is DropUnsupported; an ACK outside [snd_una, snd_max]
    /// (beyond what we sent, or older than snd_una — RFC 5961 §5.2 with no
    /// data sent) is answered by an ACK and dropped (DropOutOfWindow).
    fn synchronized(&mut self, id: usize, seg: &RxSegment) {
        let (ring, ring_window) = (self.cfg.ring_bytes, self.cfg.ring_window());
        let t = &self.tcbs[id];
        // Step 1: acceptability test against RCV.WND = rcv_adv - rcv_nxt.
        if !acceptable(t, seg) {
            self.count(Stat::DropOutOfWindow);
            if !seg.flags.rst() {
                self.send_ack(id);
                self.writeback(id);
            }
            return;
        }
        // Step 2: RST — exactly at rcv_nxt closes, elsewhere in the window a challenge ACK (RFC 5961).
        if seg.flags.rst() {
            if seg.seq == t.rcv_nxt {
                self.set_state(id, TcpState::Closed);
            } else {
                self.send_ack(id);
            }
            self.writeback(id);
            return;
        }
        // Step 3: SYN in a synchronized state — challenge ACK, drop.
        if seg.flags.syn() {
            self.send_ack(id);
            self.writeback(id);
            return;
        }
        // Step 4: segments without ACK are dropped; a new ACK advances snd_una.
        if !seg.flags.ack() {
            self.count(Stat::DropUnsupported);
            return;
        }
        if seg.ack.diff(t.snd_una) as u32 > t.snd_max.diff(t.snd_una) as u32 {
            // RFC 5961 §5.2: an unacceptable ACK value is answered and dropped.
            self.count(Stat::DropOutOfWindow);
            self.send_ack(id);
            self.writeback(id);
            return;
        }
        let t = &mut self.tcbs[id];
        if seg.ack > t.snd_una && seg.ack.not_after(t.snd_nxt) {
            t.snd_una = seg.ack;
        }
        t.snd_wnd = seg.window;
        if t.state == TcpState::LastAck && seg.ack == t.snd_nxt {
            // Our FIN is acknowledged.
            self.set_state(id, TcpState::Closed);
            self.writeback(id);
            return;
        }
        let established = t.state == TcpState::Established;
        // Step 5: data (or a FIN) beyond rcv_nxt is dropped with a duplicate ACK.
        if established && (!seg.payload.is_empty() || seg.flags.fin()) && seg.seq > t.rcv_nxt {
            self.count(Stat::DropOutOfOrder);
            self.send_ack(id);
            self.writeback(id);
            return;
        }
        if established && !seg.payload.is_empty() {
            let (skip, take) = in_order_span(t, seg);
            let offset = t.rcv_nxt.diff(t.irs + 1) as u32;
            for (i, b) in seg.payload[skip..skip + take as usize].iter().enumerate() {
                self.rings[id][(offset.wrapping_add(i as u32) % ring) as usize] = *b;
            }
            t.rcv_nxt += take;
            self.stats[Stat::RxPayloadBytes.index()] = self.stats[Stat::RxPayloadBytes.index()].wrapping_add(take);
            self.step.stats.0[Stat::RxPayloadBytes.index()] += take;
        }
        // Step 6: a FIN counts once all of the segment's data was taken.
        let t = &mut self.tcbs[id];
        if established && seg.flags.fin() && t.rcv_nxt == seg.seq + seg.payload.len() as u32 {
            t.rcv_nxt += 1;
            t.fin_rcvd = true;
            self.set_state(id, TcpState::CloseWait);
        }
        // Step 7 without holdback: every segment with data or FIN is ACKed,
        // even when (ack, right edge) did not move (an out-of-order FIN).
        let t = &self.tcbs[id];
        let must_ack = established && !t.holdback && (!seg.payload.is_empty() || seg.flags.fin());
        if must_ack && !(t.state == TcpState::CloseWait && t.rcv_nxt.not_after(t.rel)) {
            let (ack, right) = ack_and_edge(t, ring_window);
            if (ack, right) == (t.ack_sent, t.rcv_adv) {
                self.send_ack(id);
            }
        }
        // Steps 7 and 8.
        self.reply(id);
        self.writeback(id);
    }

    /// Steps 7 and 8 after a segment or a release: in CLOSE-WAIT with
    /// everything released (rel ≥ rcv_nxt) our FIN|ACK (which carries the
    /// ACK); else in ESTABLISHED / CLOSE-WAIT an ACK when (ack, right edge)
    /// moved since last sent.
    fn reply(&mut self, id: usize) {
        let t = &self.tcbs[id];
        if t.state == TcpState::SynReceived && synack_held(t) && t.rel != t.irs {
            // Claim 31: R covers the SYN now, so the held SYN-ACK may go; its timer starts.
            let ack = ack_and_edge(t, self.cfg.ring_window()).0;
            let key = ConnKey { remote_ip: t.remote_ip, remote_port: t.remote_port, local_port: t.local_port };
            if let Some(iss) = self.learned_iss.remove(&key) {
                let t = &mut self.tcbs[id];
                (t.iss, t.snd_una, t.snd_nxt, t.snd_max) = (iss, iss, iss + 1, iss + 1);
            }
            self.send_syn_ack(id);
            let t = &mut self.tcbs[id];
            t.ack_sent = ack;
            t.timer_due = self.now_us.wrapping_add(self.cfg.rto_us);
            t.retries = 0;
        } else if t.state == TcpState::CloseWait && t.rcv_nxt.not_after(t.rel) {
            self.send_fin(id, false);
            let t = &mut self.tcbs[id];
            t.snd_nxt += 1;
            t.snd_max = t.snd_nxt;
            t.retries = 0;
            t.timer_due = self.now_us.wrapping_add(self.cfg.rto_us);
            self.set_state(id, TcpState::LastAck);
        } else if matches!(t.state, TcpState::Established | TcpState::CloseWait) {
            let (ack, right) = ack_and_edge(t, self.cfg.ring_window());
            if (ack, right) != (t.ack_sent, t.rcv_adv) {
                self.send_ack(id);
            }
        }
    }

    // ------------------------------------------------------------ output

    fn send_syn_ack(&mut self, id: usize) {
        let t = &self.tcbs[id];
        let window = self.cfg.ring_window() as u16;
        let seg = TcpRepr::new(t.local_port, t.remote_port, t.iss, t.irs + 1, TcpFlags::SYN | TcpFlags::ACK, window)
            .with_mss(self.cfg.our_mss);
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        self.send(wire::tcp_frame(self.cfg.us(), to, &seg, &[]), None);
    }

    /// An ACK at snd_nxt carrying the current ack value and window; records
    /// them as sent (ack_sent, rcv_adv).
    fn send_ack(&mut self, id: usize) {
        self.send_with_flags(id, self.tcbs[id].snd_nxt, TcpFlags::ACK);
    }

    /// Our FIN|ACK: at snd_nxt when first sent, at snd_nxt - 1 when retransmitted.
    fn send_fin(&mut self, id: usize, retransmit: bool) {
        let t = &self.tcbs[id];
        let seq = if retransmit { t.snd_nxt - 1 } else { t.snd_nxt };
        self.send_with_flags(id, seq, TcpFlags::FIN | TcpFlags::ACK);
    }

    fn send_with_flags(&mut self, id: usize, seq: SeqNum, flags: TcpFlags) {
        let ring_window = self.cfg.ring_window();
        let t = &mut self.tcbs[id];
        let (ack, right) = ack_and_edge(t, ring_window);
        let window = right.diff(ack).clamp(0, 65535) as u16;
        t.ack_sent = ack;
        t.rcv_adv = right;
        let seg = TcpRepr::new(t.local_port, t.remote_port, seq, ack, flags, window);
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        let f = wire::tcp_frame(self.cfg.us(), to, &seg, &[]);
        self.send(f, None);
    }

    fn icmp_echo(&mut self, src_mac: MacAddr, src_ip: Ipv4Addr, message: &[u8]) {
        let f = icmp_reply_frame(self.cfg.us(), Endpoint { mac: src_mac, ip: src_ip }, message);
        self.send(f, Some(Stat::IcmpEchoReplies));
    }

    /// Emit `frame` (unless in standby) and count it.
    fn send(&mut self, frame: Vec<u8>, what: Option<Stat>) {
        if self.cfg.standby {
            return;
        }
        if let Some(s) = what {
            self.count(s);
        }
        self.count(Stat::TxFrames);
        self.step.frames.push(frame);
    }

    fn count(&mut self, s: Stat) {
        self.stats[s.index()] = self.stats[s.index()].wrapping_add(1);
        self.step.stats.0[s.index()] += 1;
    }

    fn set_state(&mut self, id: usize, new: TcpState) {
        let old = self.tcbs[id].state;
        debug!(id, "{} => {}", old.rfc_name(), new.rfc_name());
        self.tcbs[id].state = new;
        if new == TcpState::Closed && old != TcpState::Closed {
            self.slots.free(id);
        }
    }

    /// The engine writes the TCB back to its table: `gen` counts every write
    /// (the RTL writes back after each handled segment, release and timer
    /// action, whether or not a field changed).
    fn writeback(&mut self, id: usize) {
        self.tcbs[id].gen = self.tcbs[id].gen.wrapping_add(1);
        self.tcbs[id].epoch = self.cfg.epoch;
        if !self.dirty[id] {
            self.dirty[id] = true;
            self.change_log.push_back(id);
        }
        if !self.written.contains(&id) {
            self.written.push(id);
        }
    }

    /// Whether connection `id`'s TCB was ever `tcb` since the last
    /// [`RefModel::forget_states`] (its current state included): an event
    /// record must be one of these.
    pub fn had_state(&self, id: usize, tcb: &Tcb) -> bool {
        self.tcbs.get(id) == Some(tcb) || self.states.get(id).is_some_and(|s| s.contains(tcb))
    }

    /// The state connection `id`'s last write-back left, if any.
    pub fn last_written(&self, id: usize) -> Option<&Tcb> {
        self.last_written.get(id)?.as_ref()
    }

    /// The core's ISS of a connection it opened, as its event record shows
    /// it (a held SYN-ACK puts none on the wire to learn it from).
    pub fn learn_iss(&mut self, key: ConnKey, iss: SeqNum) {
        self.learned_iss.insert(key, iss);
    }

    /// The host took every event record: older states can no longer appear.
    pub fn forget_states(&mut self) {
        for s in &mut self.states {
            s.clear();
        }
    }

    /// Pop the change log (CHLOG_POP): the oldest id whose TCB changed.
    pub fn pop_change_log(&mut self) -> Option<usize> {
        let id = self.change_log.pop_front()?;
        self.dirty[id] = false;
        Some(id)
    }

    /// The host writes EPOCH = `epoch`: taken unless older than the card's.
    pub fn on_epoch_write(&mut self, epoch: u32) {
        if epoch < self.cfg.epoch {
            self.count_outside_step(Stat::StaleEpochRefused);
        } else {
            self.cfg.epoch = epoch;
        }
    }

    /// A counter a host register write moved: no step is being built.
    fn count_outside_step(&mut self, s: Stat) {
        self.stats[s.index()] = self.stats[s.index()].wrapping_add(1);
    }

    fn finish(&mut self) -> Step {
        for id in std::mem::take(&mut self.written) {
            self.states[id].push(self.tcbs[id].clone());
            self.last_written[id] = Some(self.tcbs[id].clone());
        }
        std::mem::take(&mut self.step)
    }
}

/// The echo reply the core sends for the ICMP echo request `message` (the
/// whole ICMP message as received): a fresh IPv4 header (ID 0, DF, TTL 64)
/// and the message with type 0 and the checksum adjusted incrementally.
/// Built field by field (not via `IcmpEchoRepr`) so a request with a wrong
/// checksum yields the same adjusted, still-wrong checksum the core sends.
pub fn icmp_reply_frame(us: Endpoint, to: Endpoint, message: &[u8]) -> Vec<u8> {
    let reply = parse::icmp_reply_message(message);
    let mut f = wire::icmp_echo_frame(us, to, &IcmpEchoRepr { request: false, ident: 0, seq_no: 0, data: vec![] });
    f.truncate(wire::ETH_HEADER_LEN + wire::IPV4_HEADER_LEN);
    f.extend_from_slice(&reply);
    let total = (wire::IPV4_HEADER_LEN + reply.len()) as u16;
    let mut ip = wire::Ipv4Packet::new_unchecked(&mut f[wire::ETH_HEADER_LEN..]);
    ip.set_total_len(total);
    ip.fill_checksum();
    f
}

/// Step 7: the ACK value (holdback: min(rcv_nxt, rel)) and the right
/// edge max(rcv_adv, rel + ring_window) — the edge never moves left.
pub fn ack_and_edge(t: &Tcb, ring_window: u32) -> (SeqNum, SeqNum) {
    let ack = if t.holdback { t.rcv_nxt.earliest(t.rel) } else { t.rcv_nxt };
    (ack, t.rcv_adv.latest(t.rel + ring_window))
}

/// SYN-RECEIVED whose SYN-ACK was never sent: nothing ACKed (ack_sent == irs).
fn synack_held(t: &Tcb) -> bool {
    t.state == TcpState::SynReceived && t.ack_sent == t.irs
}

/// `seq` inside [rcv_nxt, rcv_adv).
pub fn in_window(t: &Tcb, seq: SeqNum) -> bool {
    seq >= t.rcv_nxt && seq.before(t.rcv_adv)
}

/// RFC 9293 §3.10.7.4 acceptability: the four cases of segment length and
/// receive window (RCV.WND = rcv_adv - rcv_nxt).
pub fn acceptable(t: &Tcb, seg: &RxSegment) -> bool {
    let wnd = t.rcv_adv.diff(t.rcv_nxt).max(0) as u32;
    let len = seg.seq_len();
    match (len, wnd) {
        (0, 0) => seg.seq == t.rcv_nxt,
        (0, _) => in_window(t, seg.seq),
        (_, 0) => false,
        (_, _) => in_window(t, seg.seq) || in_window(t, seg.seq + (len - 1)),
    }
}

/// The in-order part of an acceptable segment's payload, `[rcv_nxt,
/// min(seq + len, rcv_adv))`: how many leading bytes lie below rcv_nxt
/// (`skip`) and how many follow them into the ring (`take`).
pub fn in_order_span(t: &Tcb, seg: &RxSegment) -> (usize, u32) {
    let end = (seg.seq + seg.payload.len() as u32).earliest(t.rcv_adv);
    let skip = (t.rcv_nxt.diff(seg.seq).max(0) as usize).min(seg.payload.len());
    let take = (end.diff(t.rcv_nxt).max(0) as u32).min((seg.payload.len() - skip) as u32);
    (skip, take)
}

#[cfg(test)]
mod tests;
