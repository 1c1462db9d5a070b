//! A stateright model of the etcd authority (docs/authority.md), with a
//! clock: two nodes, each a daemon with its card, and etcd. Node 0 starts
//! as the holder of epoch 1, node 1 as its standby. Every decision — when a
//! grant ends, when the standby may ask for the next epoch, when the winner
//! may speak, which epoch it asks for, what a newer epoch does — is the
//! daemon's own code ([`holdback_daemon::authority::rules::Rules`]); the
//! model adds the environment: time, the replication link (heartbeats out,
//! promises back, in any order and delay, lost when it is cut), etcd's
//! transactions applied in one order at a moment between request and
//! reply, cuts of either node from etcd, etcd down, a hung host (its daemon
//! stops, its card runs on its last lease), and an external detector that
//! may report the primary lost at any moment, rightly or not.
//!
//! The property is invariant 8 in every partition: no two cards speak at
//! the same moment, and a card whose node saw a newer epoch never speaks.
use std::collections::BTreeSet;
use std::fmt::Write as _;

use holdback_daemon::authority::rules::{Grants, Rules, SpeaksOn, Timing};
use stateright::{Model, Property};

/// One tick of the model's clock in microseconds: the heartbeat interval h.
pub const TICK_US: u64 = 1000;
/// The detector's time D = m·h, in ticks.
pub const DETECT_TICKS: u8 = 3;
/// P = 3h, C = h: a promise much longer than a confirmation, the setting
/// in which the standby's wait for its own promise matters (with C ≥ P, the
/// wait for C after winning already covers every promise; the model's
/// clock moves in whole ticks, so the difference must exceed one).
pub const TIMING: Timing = Timing { promise_us: 3 * TICK_US, confirm_us: TICK_US };
/// The clock stops here (bounds the states).
pub const LAST_TICK: u8 = 7;

/// Who is what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Answers heartbeats with promises.
    Standby,
    /// Its detector (or the external one) reported the primary lost: no
    /// more promises; it asks etcd for the next epoch when the rules allow.
    Campaigning,
    /// Took `epoch` in etcd; its card may speak from `speak_from_us` on,
    /// while a grant lasts.
    Holder { epoch: u8, speak_from_us: u64 },
    /// Saw a newer epoch: card silent for good.
    Fenced,
}

/// A confirmation on its way: sent at a tick, applied by etcd (with its
/// answer: was our epoch still current?) and then answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Confirm {
    sent: u8,
    /// `Some(newest epoch in etcd)` once applied.
    applied: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub role: Role,
    /// Highest epoch this node has seen.
    pub seen: u8,
    pub grants: Grants,
    /// Standby: the tick it last heard a heartbeat, and last sent a promise.
    last_heard: u8,
    last_promise_sent: Option<u8>,
    confirm: Option<Confirm>,
    /// The daemon stopped at this tick (its card runs on).
    pub hung_at: Option<u8>,
    pub reaches_etcd: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// From the holder to the standby, sent at a tick.
    Heartbeat { to: usize, sent: u8 },
    /// The standby's promise, answering the heartbeat sent at `echo`.
    Promise { to: usize, echo: u8 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub now: u8,
    pub nodes: [Node; 2],
    /// etcd: the current epoch and who wrote it.
    pub etcd_epoch: u8,
    pub etcd_holder: usize,
    pub etcd_up: bool,
    pub link_up: bool,
    pub net: BTreeSet<Msg>,
    faults_left: u8,
    external_left: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// One heartbeat interval passes: each running holder sends a
    /// heartbeat and (unless one is on its way) a confirmation request; a
    /// standby that heard nothing for D reports the primary lost.
    Tick,
    Deliver(Msg),
    ExternalDetectorFires(usize),
    Campaign(usize),
    EtcdAppliesConfirm(usize),
    ConfirmAnswered(usize),
    WatchSeesNewerEpoch(usize),
    CutLink,
    CutFromEtcd(usize),
    EtcdDown,
    Hang(usize),
}

/// The authority model; `rules` are the production ones or a broken variant.
pub struct AuthorityModel {
    pub rules: Rules,
    /// Faults in one run (cuts, etcd down, hangs), and external detector reports.
    pub faults: u8,
    pub external_reports: u8,
}

fn us(tick: u8) -> u64 {
    u64::from(tick) * TICK_US
}

impl AuthorityModel {
    /// Does `n`'s card speak at this moment?
    pub fn speaks(&self, s: &State, n: usize) -> bool {
        let node = &s.nodes[n];
        match node.role {
            Role::Holder { speak_from_us, .. } => {
                let now = us(s.now);
                now >= speak_from_us && self.rules.speaks_on(node.grants, now) != SpeaksOn::Nothing
            }
            _ => false,
        }
    }

    fn acts(s: &State, n: usize) -> bool {
        s.nodes[n].hung_at.is_none()
    }

    fn fence(node: &mut Node, seen: u8) {
        node.seen = node.seen.max(seen);
        node.role = Role::Fenced;
        node.grants = Grants::default();
    }
}

impl Model for AuthorityModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let holder = Node {
            role: Role::Holder { epoch: 1, speak_from_us: 0 },
            seen: 1,
            // It has just been confirmed and promised.
            grants: Grants { promise_until_us: Some(self.rules.promise_until(TIMING, 0)), confirmed_until_us: Some(self.rules.confirmed_until(TIMING, 0)) },
            last_heard: 0,
            last_promise_sent: None,
            confirm: None,
            hung_at: None,
            reaches_etcd: true,
        };
        let standby = Node {
            role: Role::Standby,
            seen: 1,
            grants: Grants::default(),
            last_heard: 0,
            last_promise_sent: Some(0),
            confirm: None,
            hung_at: None,
            reaches_etcd: true,
        };
        vec![State {
            now: 0,
            nodes: [holder, standby],
            etcd_epoch: 1,
            etcd_holder: 0,
            etcd_up: true,
            link_up: true,
            net: BTreeSet::new(),
            faults_left: self.faults,
            external_left: self.external_reports,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        if s.now < LAST_TICK {
            actions.push(Action::Tick);
        }
        for &m in &s.net {
            actions.push(Action::Deliver(m));
        }
        if s.faults_left > 0 {
            if s.link_up {
                actions.push(Action::CutLink);
            }
            if s.etcd_up {
                actions.push(Action::EtcdDown);
            }
        }
        for n in 0..2 {
            let node = &s.nodes[n];
            if s.faults_left > 0 {
                if node.reaches_etcd {
                    actions.push(Action::CutFromEtcd(n));
                }
                if node.hung_at.is_none() {
                    actions.push(Action::Hang(n));
                }
            }
            if !Self::acts(s, n) {
                continue;
            }
            let etcd = s.etcd_up && node.reaches_etcd;
            match node.role {
                Role::Standby => {
                    if s.external_left > 0 {
                        actions.push(Action::ExternalDetectorFires(n));
                    }
                }
                Role::Campaigning => {
                    if etcd && self.rules.may_campaign(TIMING, us(s.now), true, node.last_promise_sent.map(us)).is_ok() {
                        actions.push(Action::Campaign(n));
                    }
                }
                Role::Holder { .. } => {
                    match node.confirm {
                        None => {}
                        Some(Confirm { applied: None, .. }) if etcd => actions.push(Action::EtcdAppliesConfirm(n)),
                        Some(Confirm { applied: Some(_), .. }) => actions.push(Action::ConfirmAnswered(n)),
                        Some(_) => {}
                    }
                }
                Role::Fenced => {}
            }
            if etcd && self.rules.silences_on(u32::from(held_epoch(node)), u32::from(s.etcd_epoch)) && node.role != Role::Fenced {
                actions.push(Action::WatchSeesNewerEpoch(n));
            }
        }
    }

    fn next_state(&self, s: &State, action: Action) -> Option<State> {
        let mut s = s.clone();
        match action {
            Action::Tick => {
                // Every heartbeat interval each running daemon does its
                // periodic work; only when the messages and etcd's answers
                // arrive is left to the checker.
                s.now += 1;
                for n in 0..2 {
                    if !Self::acts(&s, n) {
                        continue;
                    }
                    let node = &mut s.nodes[n];
                    match node.role {
                        Role::Holder { .. } => {
                            if s.link_up {
                                send(&mut s.net, Msg::Heartbeat { to: 1 - n, sent: s.now });
                            }
                            if node.confirm.is_none() {
                                node.confirm = Some(Confirm { sent: s.now, applied: None });
                            }
                        }
                        Role::Standby if s.now >= node.last_heard + DETECT_TICKS => node.role = Role::Campaigning,
                        _ => {}
                    }
                }
            }
            Action::Deliver(m) => {
                s.net.remove(&m);
                match m {
                    Msg::Heartbeat { to, sent } => {
                        if !Self::acts(&s, to) {
                            return Some(s);
                        }
                        let node = &mut s.nodes[to];
                        // A heartbeat heard again resets the detector, as long as
                        // the standby has not asked for the epoch yet.
                        if matches!(node.role, Role::Standby | Role::Campaigning) {
                            node.role = Role::Standby;
                            node.last_heard = s.now;
                            node.last_promise_sent = Some(s.now);
                            if s.link_up {
                                send(&mut s.net, Msg::Promise { to: 1 - to, echo: sent });
                            }
                        }
                    }
                    Msg::Promise { to, echo } => {
                        if !Self::acts(&s, to) {
                            return Some(s);
                        }
                        let node = &mut s.nodes[to];
                        if matches!(node.role, Role::Holder { .. }) {
                            let until = self.rules.promise_until(TIMING, us(echo));
                            node.grants.promise_until_us = Some(node.grants.promise_until_us.unwrap_or(0).max(until));
                        }
                    }
                }
            }
            Action::ExternalDetectorFires(n) => {
                s.external_left -= 1;
                s.nodes[n].role = Role::Campaigning;
            }
            Action::Campaign(n) => {
                // One transaction, applied now: etcd's epoch only grows.
                let epoch = self.rules.next_epoch(u32::from(s.etcd_epoch), u32::from(s.nodes[n].seen)) as u8;
                s.etcd_epoch = epoch;
                s.etcd_holder = n;
                let node = &mut s.nodes[n];
                node.seen = epoch;
                node.role = Role::Holder { epoch, speak_from_us: self.rules.speaks_after_winning(TIMING, us(s.now)) };
                // The winning transaction confirms the epoch like any other.
                node.grants = Grants { promise_until_us: None, confirmed_until_us: Some(self.rules.confirmed_until(TIMING, us(s.now))) };
                node.confirm = None;
            }
            Action::EtcdAppliesConfirm(n) => {
                let current = s.etcd_epoch;
                if let Some(c) = s.nodes[n].confirm.as_mut() {
                    c.applied = Some(current);
                }
            }
            Action::ConfirmAnswered(n) => {
                let node = &mut s.nodes[n];
                let Some(Confirm { sent, applied: Some(current) }) = node.confirm.take() else { return None };
                // A reply from a node cut from etcd never arrives; the
                // next confirmation is another request.
                if !(s.etcd_up && node.reaches_etcd) {
                    return Some(s);
                }
                if self.rules.silences_on(u32::from(held_epoch(node)), u32::from(current)) {
                    Self::fence(node, current);
                } else {
                    let until = self.rules.confirmed_until(TIMING, us(sent));
                    node.grants.confirmed_until_us = Some(node.grants.confirmed_until_us.unwrap_or(0).max(until));
                }
            }
            Action::WatchSeesNewerEpoch(n) => {
                let e = s.etcd_epoch;
                Self::fence(&mut s.nodes[n], e);
            }
            Action::CutLink => {
                s.faults_left -= 1;
                s.link_up = false;
                s.net.clear();
            }
            Action::CutFromEtcd(n) => {
                s.faults_left -= 1;
                s.nodes[n].reaches_etcd = false;
            }
            Action::EtcdDown => {
                s.faults_left -= 1;
                s.etcd_up = false;
            }
            Action::Hang(n) => {
                s.faults_left -= 1;
                s.nodes[n].hung_at = Some(s.now);
                s.net.retain(|m| !matches!(m, Msg::Heartbeat { to, .. } | Msg::Promise { to, .. } if *to == n));
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no two cards speak at the same moment", |m: &AuthorityModel, s: &State| !(m.speaks(s, 0) && m.speaks(s, 1))),
            Property::always("a card whose node saw a newer epoch never speaks", |m: &AuthorityModel, s: &State| {
                (0..2).all(|n| !m.speaks(s, n) || s.nodes[n].seen <= held_epoch(&s.nodes[n]))
            }),
            Property::always("a hung host's card falls silent within max(P, C)", |m: &AuthorityModel, s: &State| {
                (0..2).all(|n| match s.nodes[n].hung_at {
                    Some(h) => !m.speaks(s, n) || us(s.now) < us(h) + TIMING.promise_us.max(TIMING.confirm_us),
                    None => true,
                })
            }),
            Property::sometimes("example: the standby takes over from a hung primary", |m: &AuthorityModel, s: &State| {
                s.nodes[0].hung_at.is_some() && m.speaks(s, 1)
            }),
            Property::sometimes("example: the standby takes over while the old primary lives, link cut", |m: &AuthorityModel, s: &State| {
                !s.link_up && s.nodes[0].hung_at.is_none() && m.speaks(s, 1)
            }),
            Property::sometimes("example: etcd down, the pair keeps serving to the end", |m: &AuthorityModel, s: &State| {
                !s.etcd_up && s.now == LAST_TICK && m.speaks(s, 0)
            }),
        ]
    }
}

/// The link keeps at most one message of each kind per direction in
/// flight: a newer heartbeat or promise replaces the older one, which is
/// then lost (bounds the states; an older one carries the weaker grant).
fn send(net: &mut BTreeSet<Msg>, m: Msg) {
    net.retain(|old| std::mem::discriminant(old) != std::mem::discriminant(&m));
    net.insert(m);
}

fn held_epoch(node: &Node) -> u8 {
    match node.role {
        Role::Holder { epoch, .. } => epoch,
        _ => node.seen,
    }
}

/// The properties that are examples to reach, not failures.
pub fn is_example(property: &str) -> bool {
    property.starts_with("example:")
}

/// One line per node, etcd and the link.
pub fn describe(m: &AuthorityModel, s: &State) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  t = {} h", s.now);
    for (n, node) in s.nodes.iter().enumerate() {
        let ms = |v: Option<u64>| v.map_or("-".to_string(), |u| format!("{:.2}h", u as f64 / TICK_US as f64));
        let _ = writeln!(
            out,
            "  node{n}: {:?}, seen epoch {}{}, promise until {}, confirmed until {}, card {}{}{}",
            node.role,
            node.seen,
            match (node.role, node.last_promise_sent) {
                (Role::Standby | Role::Campaigning, Some(t)) => format!(", last promised at {t} h"),
                _ => String::new(),
            },
            ms(node.grants.promise_until_us),
            ms(node.grants.confirmed_until_us),
            if m.speaks(s, n) { "SPEAKS" } else { "silent" },
            if node.reaches_etcd { "" } else { ", cut from etcd" },
            node.hung_at.map_or(String::new(), |h| format!(", daemon hung at {h} h")),
        );
    }
    let _ = writeln!(
        out,
        "  etcd: {} epoch {} (node{}); link {}; in flight {:?}",
        if s.etcd_up { "up," } else { "DOWN," },
        s.etcd_epoch,
        s.etcd_holder,
        if s.link_up { "up" } else { "cut" },
        s.net
    );
    out
}

/// A counterexample as numbered steps, each with the state after it.
pub fn trace(m: &AuthorityModel, path: &stateright::Path<State, Action>) -> String {
    let steps = path.clone().into_vec();
    let mut out = String::new();
    if let Some((first, _)) = steps.first() {
        let _ = write!(out, "initial state:\n{}", describe(m, first));
    }
    for (i, pair) in steps.windows(2).enumerate() {
        if let Some(action) = pair[0].1 {
            let _ = write!(out, "step {}: {action:?}\n{}", i + 1, describe(m, &pair[1].0));
        }
    }
    out
}
