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
//! - synchronized: no ACK bit → DropUnsupported; an ACK after snd_max → ACK +
//!   DropOutOfWindow, segment dropped; an ACK before snd_una is ignored and
//!   the segment's text processed (RFC 9293 §3.10.7.4);
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
//!   repeated SYN is dropped uncounted and the timer does not run;
//! - window scaling (RFC 7323 §2): a SYN with a Window Scale option gives
//!   SND_WSCALE (its shift, at most 14) and RCV_WSCALE (ours, the smallest
//!   that fits the ring: `wscale_for_ring`); the SYN-ACK carries NOP + Window
//!   Scale after the MSS unless both shifts are 0 (then the option would
//!   change nothing), and its window is `min(ring, 65535)`, unscaled. Later
//!   windows are `(edge - ack) >> rcv_wscale`, the edge rounded to what the
//!   peer sees (see [`advertise`]); SND_WND is stored as the peer sent it;
//! - relay mode (`Config::relay`): the open of a spliced pair, the relay
//!   visit after each write-back of one, and the ends of a pair follow the
//!   notes of `relay_open.rs`.
use std::collections::HashMap;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use tracing::{debug, warn};

use crate::wire::{self, Endpoint, IcmpEchoRepr, MacAddr, SeqNum, TcpFlags, TcpRepr};

pub mod active_open;
pub mod close;
pub mod lockstep;
pub mod holes;
pub mod parse;
pub mod relay;
mod relay_open;
pub mod sack_board;
pub mod score;
pub mod send_limit;
pub mod syn_cookie;
mod syn_cookie_open;
pub mod tcb;
pub mod tx;
pub mod tx_peer;
pub mod tx_rtt;

pub use holes::HoleList;
pub use parse::{classify, Accepted, RxSegment};
pub use relay_open::{RelayBackend, RELAY_LOCAL_PORT_BASE};
pub use score::{score, Mismatch};
pub use tcb::{diff_tcb, ts_offset_for, Tcb, TsClock};

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
    /// TIME_WAIT_US: how long TIME-WAIT (and an unanswered FIN-WAIT-2) holds a slot.
    pub time_wait_us: u32,
    /// KEEPALIVE_IDLE_US (0: off), KEEPALIVE_INTVL_US, KEEPALIVE_PROBES, IDLE_TIMEOUT_US (0: off).
    pub keepalive_idle_us: u32,
    pub keepalive_intvl_us: u32,
    pub keepalive_probes: u8,
    pub idle_timeout_us: u32,
    /// RX_REASM bit0: out-of-order segments are held in the ring (reassembly).
    pub reassembly: bool,
    /// SEND_HOLDBACK: the send-holdback default and the listening slots' own settings.
    pub send_holdback: u32,
    /// RX_REASM bit1 (with bit0): SACK-permitted offered, SACK blocks sent.
    pub sack: bool,
    /// TIMESTAMPS bit0: a SYN's Timestamps option gives TS_OK and TS.Recent
    /// (RFC 7323 §3.2), and the connection's segments carry the option.
    pub timestamps: bool,
    /// TS_CLOCK: the timestamp clock every TSval counts on.
    pub ts_clock: tcb::TsClock,
    /// SYN_COOKIES: the half-open threshold while cookies are on.
    pub syn_cookies: Option<u16>,
    /// COOKIE_KEY0..3 and COOKIE_KEY4..7.
    pub cookie_keys: (u128, u128),
    /// Relay mode (docs/relay.md): listening ports whose clients are spliced
    /// to a backend; each is also in `listen`. Empty: no relaying.
    pub relay: Vec<(u16, RelayBackend)>,
    /// The relay connect timeout: how long a client's SYN-ACK waits for the
    /// backend's (relay_open.rs).
    pub relay_connect_us: u32,
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
            // RX_RING_LOG2's reset value (window scaling: the core takes rings up to ID_RING_BYTES).
            ring_bytes: (params.ring_bytes() as u32).min(1 << holdback_regmap::RX_RING_LOG2_DEFAULT),
            conns: params.conns(),
            our_mss,
            rto_us,
            dup_acks: false,
            hold_synack: false,
            epoch: 0,
            time_wait_us: holdback_regmap::TIME_WAIT_US_DEFAULT,
            keepalive_idle_us: 0,
            keepalive_intvl_us: holdback_regmap::KEEPALIVE_INTVL_US_DEFAULT,
            keepalive_probes: holdback_regmap::KEEPALIVE_PROBES_DEFAULT as u8,
            idle_timeout_us: 0,
            reassembly: false,
            send_holdback: 0,
            sack: false,
            timestamps: false,
            ts_clock: tcb::TsClock::default(),
            syn_cookies: None,
            cookie_keys: (0, 0),
            relay: Vec::new(),
            relay_connect_us: relay_open::RELAY_CONNECT_US_DEFAULT,
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

    /// The window a SYN-ACK offers: the whole ring, at most 65535 (a
    /// SYN-ACK's window is never scaled, RFC 7323 §2.2).
    pub fn syn_window(&self) -> u32 {
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
    /// Whether `take` would find a slot.
    pub fn has_free(&self) -> bool {
        !self.freed.is_empty() || self.fresh < self.conns
    }
    /// How many slots `take` would still find (a relay open needs two).
    pub fn free_count(&self) -> usize {
        self.freed.len() + (self.conns - self.fresh)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatDelta(pub [u32; Stat::COUNT]);

/// By hand: `Default` is derived for arrays of at most 32.
impl Default for StatDelta {
    fn default() -> Self {
        StatDelta([0; Stat::COUNT])
    }
}

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
    /// Out-of-order ranges held per connection (the hole table: not part of the TCB).
    holes: Vec<HoleList>,
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
    /// Every connection's send limit L (send_limit.rs: its own table, not the TCB).
    send_limits: send_limit::SendLimits,
    /// The duplicate run of the segment being handled (RFC 2883): reported
    /// by a D-SACK block in the plain ACK that answers it, and only there.
    dsack: Option<(SeqNum, SeqNum)>,
}

impl RefModel {
    pub fn new(cfg: Config) -> RefModel {
        let n = cfg.conns;
        RefModel {
            cfg,
            tcbs: vec![Tcb::default(); n],
            slots: SlotAllocator::new(n),
            // Window scaling: rings up to 1 MiB, so each is allocated when its slot first opens.
            rings: vec![Vec::new(); n],
            holes: vec![HoleList::default(); n],
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
            send_limits: send_limit::SendLimits::new(n),
            dsack: None,
        }
    }

    pub fn tcb(&self, id: usize) -> &Tcb {
        &self.tcbs[id]
    }
    pub fn tcbs(&self) -> &[Tcb] {
        &self.tcbs
    }
    /// Connection `id`'s receive ring (byte at stream offset o is at o %
    /// ring_bytes); empty until a connection used the slot.
    pub fn ring(&self, id: usize) -> &[u8] {
        &self.rings[id]
    }
    /// Connection `id`'s held out-of-order ranges.
    pub fn holes(&self, id: usize) -> &HoleList {
        &self.holes[id]
    }

    /// Connection `id`'s receive ring, allocated (zeroed) on first use.
    fn ring_mut(&mut self, id: usize) -> &mut Vec<u8> {
        let ring = self.cfg.ring_bytes as usize;
        let r = &mut self.rings[id];
        if r.len() != ring {
            r.resize(ring, 0);
        }
        r
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
        // The held ranges are not replicated: the promoted card resumes from R without them.
        for h in &mut self.holes {
            h.clear();
        }
        self.slots.rebuild(closed.into_iter());
        let ring_window = self.cfg.ring_bytes;
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
            let t = &self.tcbs[id];
            let synchronized = !matches!(t.state, TcpState::SynReceived | TcpState::SynSent | TcpState::TimeWait);
            if t.peer_link != relay::NO_LINK && synchronized {
                // A relayed connection first asks its peer where it stands: an
                // ACK below what the peer received is answered with an ACK of
                // all it has (RFC 9293 §3.10.7.4), which may move the other
                // side's R past this copy's (docs/relay.md).
                let probe = t.snd_una - 1;
                self.send_with_flags(id, probe, TcpFlags::ACK);
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
            if self.close_timer(id, now_us) || self.keepalive_timer(id, now_us) {
                continue;
            }
            let t = &self.tcbs[id];
            let timer_runs = matches!(t.state, TcpState::SynReceived | TcpState::SynSent) || close::fin_only_in_flight(t);
            if !timer_runs || (now_us.wrapping_sub(t.timer_due) as i32) < 0 {
                continue;
            }
            if synack_held(t) {
                // The timer starts when the held SYN-ACK goes out; a relayed
                // client's runs meanwhile as the connect timeout (relay_open.rs).
                if t.peer_link != relay::NO_LINK {
                    self.relay_connect_timeout(id);
                }
                continue;
            }
            if t.retries >= MAX_RETRIES {
                // Give up: the peer never answered our SYN-ACK / FIN.
                self.give_up(id);
            } else {
                // Back off: the wait after the n-th retransmission is RTO << (n-1).
                let backoff = self.cfg.rto_us.wrapping_shl(u32::from(t.retries));
                if t.state == TcpState::SynReceived {
                    self.send_syn_ack(id);
                } else if t.state == TcpState::SynSent {
                    self.send_syn(id);
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
            TcpState::SynSent => self.syn_sent(id, seg),
            TcpState::Established
            | TcpState::CloseWait
            | TcpState::LastAck
            | TcpState::FinWait1
            | TcpState::FinWait2
            | TcpState::Closing
            | TcpState::TimeWait => {
                // D-SACK (RFC 2883 §4): what of the segment the card holds
                // already, found before the segment is taken. Not for a SYN
                // or RST (a challenge ACK or none), nor without SACK.
                let t = &self.tcbs[id];
                self.dsack = (t.sack_ok && self.cfg.reassembly && !seg.flags.syn() && !seg.flags.rst())
                    .then(|| self.holes[id].duplicate(t.rcv_nxt, seg.seq, seg.payload.len() as u32))
                    .flatten();
                self.synchronized(id, seg);
                self.dsack = None;
            }
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
        let listening = self.cfg.listen.contains(&seg.dst_port);
        // A relay port never answers from a cookie nor takes one back (relay_open.rs).
        let relayed = listening.then(|| self.cfg.relay_backend(seg.dst_port)).flatten();
        if let Some(backend) = relayed {
            if seg.flags.syn() && !seg.flags.ack() {
                self.relay_open(key, seg, backend);
                return;
            }
        }
        if listening && relayed.is_none() && seg.flags.syn() && !seg.flags.ack() && self.syn_takes_cookie() {
            self.send_cookie_syn_ack(key, seg);
            return;
        }
        if listening && relayed.is_none() && seg.flags.ack() && !seg.flags.syn() && self.cfg.syn_cookies.is_some() {
            self.cookie_ack(key, seg);
            return;
        }
        if seg.flags.syn() && !seg.flags.ack() && listening {
            let Some(id) = self.slots.take() else {
                self.count(Stat::DropTcbFull);
                return;
            };
            self.open(id, key, seg);
            return;
        }
        self.rst_for_no_connection(seg);
    }

    /// RFC 9293 §3.10.7.1: the RST that answers a segment for no connection.
    fn rst_for_no_connection(&mut self, seg: &RxSegment) {
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
        self.send_limits.clear(id);
        self.tcbs[id] = self.passive_tcb(self.tcbs[id].gen, key, seg, iss, self.cfg.hold_synack);
        self.rings[id].fill(0);
        self.holes[id].clear();
        debug!(id, ?key, "CLOSED => SYN-RECEIVED");
        self.count(Stat::ConnsOpened);
        if !self.cfg.hold_synack {
            self.send_syn_ack(id);
        }
        self.writeback(id);
    }

    /// The TCB a passive open makes from `seg` (its SYN) with our `iss`, in
    /// a slot whose change generation is `gen`.
    fn passive_tcb(&self, gen: u32, key: ConnKey, seg: &RxSegment, iss: SeqNum, hold_synack: bool) -> Tcb {
        // Claim 31: with hold-synack R starts at irs and nothing is ACKed yet.
        let rel = if hold_synack { seg.seq } else { seg.seq + 1 };
        let (remote_mac_hi, remote_mac_lo) = seg.src_mac.to_words();
        Tcb {
            version: holdback_regmap::VERSION,
            state: TcpState::SynReceived,
            holdback: self.cfg.holdback_for(key.local_port),
            fin_rcvd: false,
            send_hold: send_limit::send_hold_for(self.cfg.send_holdback, &self.cfg.listen, key.local_port),
            close_asked: false,
            retries: 0,
            peer_mss: if seg.mss == 0 { DEFAULT_PEER_MSS } else { seg.mss },
            snd_wscale: seg.wscale.unwrap_or(0),
            rcv_wscale: seg.wscale.map_or(0, |_| holdback_regmap::wscale_for_ring(self.cfg.ring_bytes)),
            sack_ok: seg.sack_permitted && self.cfg.reassembly && self.cfg.sack,
            // RFC 7323 §3.2: TS.Recent starts at the SYN's TSval.
            ts_ok: self.cfg.timestamps && seg.timestamps.is_some(),
            ts_recent: seg.timestamps.filter(|_| self.cfg.timestamps).map_or(0, |(tsval, _)| tsval),
            // RFC 7323 §5.4: the connection's TSvals start at an offset as unpredictable as its ISS.
            ts_offset: if self.cfg.timestamps && seg.timestamps.is_some() { ts_offset_for(iss) } else { 0 },
            local_port: key.local_port,
            remote_port: key.remote_port,
            remote_ip: key.remote_ip,
            remote_mac_lo,
            remote_mac_hi,
            peer_link: relay::NO_LINK,
            irs: seg.seq,
            rcv_nxt: seg.seq + 1,
            rel,
            rcv_adv: seg.seq + 1 + self.cfg.syn_window(),
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
        }
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
    /// segment without ACK is DropUnsupported; an ACK beyond what we sent is
    /// answered by an ACK and dropped (DropOutOfWindow); an ACK older than
    /// snd_una is ignored and the segment's text still processed.
    fn synchronized(&mut self, id: usize, seg: &RxSegment) {
        let (ring, ring_window) = (self.cfg.ring_bytes, self.cfg.ring_bytes);
        let t = &self.tcbs[id];
        // Step 0: PAWS (RFC 7323 §5.3): a non-RST segment with a TSval older
        // than TS.Recent is answered like an unacceptable one and dropped.
        let ts_older = seg.timestamps.map(|(tsval, _)| (tsval.wrapping_sub(t.ts_recent) as i32) < 0);
        if t.ts_ok && ts_older == Some(true) && !seg.flags.rst() {
            self.count(Stat::DropPaws);
            self.send_ack(id);
            self.writeback(id);
            return;
        }
        // Step 1: acceptability test against RCV.WND = rcv_adv - rcv_nxt.
        if !acceptable(t, seg) {
            self.count(Stat::DropOutOfWindow);
            self.time_wait_fin_again(id, seg);
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
        // RFC 9293 §3.10.7.4: "If the ACK is a duplicate (SEG.ACK < SND.UNA),
        // it can be ignored" — the ACK, not the segment's data or FIN.
        let old_ack = seg.ack.before(t.snd_una);
        if !old_ack && seg.ack.diff(t.snd_una) as u32 > t.snd_max.diff(t.snd_una) as u32 {
            // RFC 5961 §5.2: an unacceptable ACK value is answered and dropped.
            self.count(Stat::DropOutOfWindow);
            self.send_ack(id);
            self.writeback(id);
            return;
        }
        // RFC 7323 §4.3: a TSval not older than TS.Recent, on a segment
        // starting at or before the last ACK sent, becomes TS.Recent.
        if t.ts_ok && ts_older == Some(false) && seg.seq.not_after(t.ack_sent) {
            self.tcbs[id].ts_recent = seg.timestamps.map_or(0, |(tsval, _)| tsval);
        }
        let (now, rto) = (self.now_us, self.cfg.rto_us);
        if !old_ack {
            let t = &mut self.tcbs[id];
            // Not beyond snd_max (answered above), RFC 9293's SND.NXT: after a
            // go-back-N the peer may acknowledge past snd_nxt (docs/engine.md, "Segment handling").
            if seg.ack > t.snd_una {
                t.snd_una = seg.ack;
                if seg.ack > t.snd_nxt {
                    t.snd_nxt = seg.ack;
                }
                // RFC 6298 §5.3: new data (or our FIN) acknowledged restarts the timer, without back-off.
                if close::ack_restarts_timer(t.state) {
                    t.timer_due = now.wrapping_add(rto);
                    t.retries = 0;
                }
            }
            t.snd_wnd = seg.window;
            // Nothing left in flight: the keep-alive / idle timer starts over (close.rs).
            self.keepalive_rearm(id);
        }
        let t = &mut self.tcbs[id];
        if t.state == TcpState::LastAck && seg.ack == t.snd_nxt {
            // Our FIN is acknowledged.
            self.set_state(id, TcpState::Closed);
            self.writeback(id);
            return;
        }
        // ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 take data (close.rs).
        let established = close::receives_data(t.state);
        // Step 5: data (or a FIN) beyond rcv_nxt gets a duplicate ACK. With
        // reassembly on, the new bytes of a data segment without FIN are
        // written at their offset and held (the first copy wins); else, or
        // when all are held already or a fifth range would be needed, dropped.
        if established && (!seg.payload.is_empty() || seg.flags.fin()) && seg.seq > t.rcv_nxt {
            let span = (self.cfg.reassembly && !seg.flags.fin())
                .then(|| holes::ooo_span(t.rcv_nxt, t.rcv_adv, t.rel, ring_window, seg.seq, seg.payload.len() as u32))
                .flatten();
            let rcv_nxt = t.rcv_nxt;
            let outcome = span.map(|(start, end)| self.holes[id].insert(rcv_nxt, start, end));
            match outcome {
                Some(holes::Insert::Held { start, end }) => {
                    let skip = start.diff(seg.seq) as usize;
                    let len = end.diff(start) as usize;
                    let offset = start.diff(self.tcbs[id].irs + 1) as u32;
                    let r = self.ring_mut(id);
                    for (i, b) in seg.payload[skip..skip + len].iter().enumerate() {
                        r[(offset.wrapping_add(i as u32) % ring) as usize] = *b;
                    }
                    self.count(Stat::RxOooHeld);
                    self.count_bytes(Stat::RxPayloadBytes, len as u32);
                }
                Some(holes::Insert::OverLimit) => self.count(Stat::DropOooOverLimit),
                Some(holes::Insert::Duplicate) | None => self.count(Stat::DropOutOfOrder),
            }
            // SACK: this ACK's first block is the range the segment went into.
            self.send_with_flags(id, self.tcbs[id].snd_nxt, TcpFlags::ACK);
            self.writeback(id);
            return;
        }
        // Window scaling: in-order data the ring has no room for (an edge
        // rounded up past its end) is dropped and answered by an ACK.
        let mut starved = false;
        if established && !seg.payload.is_empty() {
            let (skip, mut take) = in_order_span(t, seg, ring);
            starved = take == 0;
            // Reassembly: in-order bytes stop where held ones start (the first copy wins).
            if let Some(first) = self.holes[id].first_held() {
                take = take.min(first.0.wrapping_sub(t.rcv_nxt.0));
            }
            let offset = t.rcv_nxt.diff(t.irs + 1) as u32;
            let bytes = &seg.payload[skip..skip + take as usize];
            let r = self.ring_mut(id);
            for (i, b) in bytes.iter().enumerate() {
                r[(offset.wrapping_add(i as u32) % ring) as usize] = *b;
            }
            let t = &mut self.tcbs[id];
            t.rcv_nxt += take;
            self.count_bytes(Stat::RxPayloadBytes, take);
            // Reaching the first held range: rcv_nxt jumps to its end.
            if take > 0 {
                if let Some(end) = self.holes[id].advance(self.tcbs[id].rcv_nxt) {
                    self.tcbs[id].rcv_nxt = end;
                    self.count(Stat::RxOooHolesFilled);
                }
            }
        }
        // Step 6: a FIN counts once all of the segment's data was taken.
        let t = &mut self.tcbs[id];
        let fin_in_order = established && seg.flags.fin() && t.rcv_nxt == seg.seq + seg.payload.len() as u32;
        if fin_in_order && t.state == TcpState::Established {
            t.rcv_nxt += 1;
            t.fin_rcvd = true;
            self.set_state(id, TcpState::CloseWait);
        } else {
            // FIN-WAIT-1/2, CLOSING: the ACK of our FIN, the peer's FIN.
            self.close_segment_step(id, fin_in_order);
        }
        // Step 7 without holdback: every segment with data or FIN is ACKed,
        // even when (ack, right edge) did not move (an out-of-order FIN).
        let t = &self.tcbs[id];
        if starved {
            self.send_ack(id);
            self.writeback(id);
            return;
        }
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
            let ack = ack_and_edge(t, self.cfg.ring_bytes).0;
            self.learn_held_iss(id);
            self.send_syn_ack(id);
            let t = &mut self.tcbs[id];
            t.ack_sent = ack;
            t.timer_due = self.now_us.wrapping_add(self.cfg.rto_us);
            t.retries = 0;
        } else if t.state == TcpState::CloseWait
            && (t.peer_link == relay::NO_LINK || t.close_asked)
            && t.rcv_nxt.not_after(t.rel)
            && t.snd_nxt == close::fin_seq(t)
            && self.fin_allowed(id)
        {
            // Everything released, every byte the host wrote sent, L past the FIN: our FIN.
            self.send_our_fin(id);
        } else if close::acks_on_change(t.state) {
            let (ack, right) = ack_and_edge(t, self.cfg.ring_bytes);
            // A duplicate is answered even when nothing moved (held back):
            // its D-SACK block is what tells the peer (RFC 2883 §4).
            if (ack, right) != (t.ack_sent, t.rcv_adv) || self.sack_blocks_for(id, ack).1 {
                self.send_ack(id);
            }
        }
    }

    /// A held SYN-ACK's ISS, learned when it is about to go out (a held
    /// SYN-ACK put none on the wire before): ISS, the send sequence numbers
    /// and, with timestamps, the offset that follows from it.
    fn learn_held_iss(&mut self, id: usize) {
        let t = &self.tcbs[id];
        let key = ConnKey { remote_ip: t.remote_ip, remote_port: t.remote_port, local_port: t.local_port };
        if let Some(iss) = self.learned_iss.remove(&key) {
            let t = &mut self.tcbs[id];
            (t.iss, t.snd_una, t.snd_nxt, t.snd_max) = (iss, iss, iss + 1, iss + 1);
            if t.ts_ok {
                t.ts_offset = ts_offset_for(iss);
            }
        }
    }

    // ------------------------------------------------------------ output

    fn send_syn_ack(&mut self, id: usize) {
        let t = &self.tcbs[id];
        let tsval = self.cfg.ts_clock.ticks(self.now_us).wrapping_add(t.ts_offset);
        let frame = self.syn_ack_frame(t, tsval);
        self.send(frame, None);
    }

    /// The SYN-ACK of TCB `t` (its TSval `tsval` when it has timestamps):
    /// Timestamps, MSS, Window Scale when either side scales, SACK-permitted.
    fn syn_ack_frame(&self, t: &Tcb, tsval: u32) -> Vec<u8> {
        let window = self.cfg.syn_window() as u16;
        let mut seg = TcpRepr::new(t.local_port, t.remote_port, t.iss, t.irs + 1, TcpFlags::SYN | TcpFlags::ACK, window);
        if t.ts_ok {
            seg = seg.with_timestamps(tsval, t.ts_recent);
        }
        seg = seg.with_mss(self.cfg.our_mss);
        if (t.snd_wscale, t.rcv_wscale) != (0, 0) {
            seg = seg.with_wscale(t.rcv_wscale);
        }
        if t.sack_ok {
            seg = seg.with_sack_permitted();
        }
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        wire::tcp_frame(self.cfg.us(), to, &seg, &[])
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

    /// SACK (RFC 2018 §4): the blocks of a plain ACK of a connection that
    /// negotiated it: the held ranges, the latest segment's first. None while
    /// holdback keeps the ACK below rcv_nxt: a block for `[ack, rcv_nxt)`
    /// starts at the ACK, which a Linux sender discards (a block must start
    /// after SND.UNA), and blocks above rcv_nxt without it make the peer take
    /// `[ack, rcv_nxt)`, which we hold, for lost (RFC 6675 §4) and send it all
    /// again (docs/engine.md, "SACK"). A promotion clears the table and sets
    /// rcv_nxt := R, so a promoted card sends none until new out-of-order
    /// data arrives (RFC 2018 §8).
    ///
    /// The ACK that answers a duplicate leads with a D-SACK block (RFC 2883
    /// §4; `holes::HoleList::sack_blocks_with` says where, and returns
    /// whether one leads).
    fn sack_blocks_for(&self, id: usize, ack: SeqNum) -> (Vec<(SeqNum, SeqNum)>, bool) {
        let t = &self.tcbs[id];
        if !(t.sack_ok && self.cfg.reassembly) {
            return (Vec::new(), false);
        }
        self.holes[id].sack_blocks_with(t.rcv_nxt, ack, self.dsack)
    }

    /// Timestamps (RFC 7323 §3.2): a connection with TS_OK leads every
    /// segment's options but a RST's with TSval = TS_CLOCK + TS_OFFSET and
    /// TSecr = TS.Recent (tx_request.rs, tx_builder.rs).
    fn with_timestamps(&self, id: usize, seg: TcpRepr) -> TcpRepr {
        let t = &self.tcbs[id];
        if !t.ts_ok {
            return seg;
        }
        seg.with_timestamps(self.cfg.ts_clock.ticks(self.now_us).wrapping_add(t.ts_offset), t.ts_recent)
    }

    /// The host writes TS_CLOCK = `value` at `now_us`.
    pub fn on_ts_clock_write(&mut self, now_us: u32, value: u32) {
        self.cfg.ts_clock.write(now_us, value);
    }

    fn send_with_flags(&mut self, id: usize, seq: SeqNum, flags: TcpFlags) {
        let ring_window = self.cfg.ring_bytes;
        let t = &mut self.tcbs[id];
        let (ack, right, window) = advertise(t, ring_window);
        t.ack_sent = ack;
        t.rcv_adv = right;
        let seg = TcpRepr::new(t.local_port, t.remote_port, seq, ack, flags, window);
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        let ts_ok = t.ts_ok;
        let mut seg = self.with_timestamps(id, seg);
        // Only a plain ACK carries SACK blocks (not FIN|ACK, RST or data).
        if flags == TcpFlags::ACK {
            let (mut blocks, _) = self.sack_blocks_for(id, ack);
            // Beside timestamps the first 3 fit the 40 option bytes (RFC 2018 §3):
            // the D-SACK and the latest range lead (§4, RFC 2883 §4).
            if ts_ok {
                blocks.truncate(3);
            }
            if !blocks.is_empty() {
                seg = seg.with_sack_blocks(&blocks);
            }
            // Only the first ACK the duplicate triggers reports it (RFC 2883 §4).
            self.dsack = None;
        }
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
        self.count_bytes(s, 1);
    }

    /// A counter that moves by `n` (a byte count).
    fn count_bytes(&mut self, s: Stat, n: u32) {
        self.stats[s.index()] = self.stats[s.index()].wrapping_add(n);
        self.step.stats.0[s.index()] += n;
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
        // Relay mode: what this write asks of a spliced peer (relay_open.rs).
        self.relay_after_writeback(id);
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
/// edge max(rcv_adv, rel + ring) — the edge never moves left — as
/// [`advertise`] rounds it.
pub fn ack_and_edge(t: &Tcb, ring_bytes: u32) -> (SeqNum, SeqNum) {
    let (ack, right, _) = advertise(t, ring_bytes);
    (ack, right)
}

/// Window scaling: what connection `t` may offer of a ring of `ring_bytes`,
/// all of it up to what the window field says with its shift.
pub fn conn_ring(t: &Tcb, ring_bytes: u32) -> u32 {
    ring_bytes.min(0xFFFF << t.rcv_wscale)
}

/// Step 7 with window scaling (RFC 7323 §2.3): the ACK value, the right edge
/// the peer sees and the window field that says it. The unrounded edge is
/// `max(rcv_adv, rel + conn_ring)`; the field is `(edge - ack) >> rcv_wscale`
/// and the peer takes `ack + (field << rcv_wscale)` as the edge, so that is
/// the edge returned (and recorded in rcv_adv): rounded down, or up by less
/// than 2^rcv_wscale where down would put it left of rcv_adv (an ACK that
/// moved by less than one unit). A window the field cannot say (more than
/// 65535 units) keeps the unrounded edge and sends 65535, as without
/// scaling; with rcv_wscale 0 nothing is rounded.
pub fn advertise(t: &Tcb, ring_bytes: u32) -> (SeqNum, SeqNum, u16) {
    let ack = if t.holdback { t.rcv_nxt.earliest(t.rel) } else { t.rcv_nxt };
    let raw = t.rcv_adv.latest(t.rel + conn_ring(t, ring_bytes));
    let s = u32::from(t.rcv_wscale);
    let full = raw.0.wrapping_sub(ack.0);
    let floor = full >> s;
    let adv_off = t.rcv_adv.0.wrapping_sub(ack.0);
    let units = if (floor << s) < adv_off { floor + 1 } else { floor };
    if units > 0xFFFF {
        (ack, raw, 0xFFFF)
    } else {
        (ack, ack + (units << s), units as u16)
    }
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
/// min(seq + len, rcv_adv, rel + ring_bytes))`: how many leading bytes lie
/// below rcv_nxt (`skip`) and how many follow them into the ring (`take`).
/// The ring's end matters only for an edge window scaling rounded up.
pub fn in_order_span(t: &Tcb, seg: &RxSegment, ring_bytes: u32) -> (usize, u32) {
    let room = (t.rel + ring_bytes).0.wrapping_sub(t.rcv_nxt.0);
    let end = (seg.seq + seg.payload.len() as u32).earliest(t.rcv_adv);
    let skip = (t.rcv_nxt.diff(seg.seq).max(0) as usize).min(seg.payload.len());
    let take = (end.diff(t.rcv_nxt).max(0) as u32).min(room).min((seg.payload.len() - skip) as u32);
    (skip, take)
}

#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;
