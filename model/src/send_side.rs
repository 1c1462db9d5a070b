//! A stateright model of the sending side of a pair: send holdback
//! (invariant 9 in docs/failover.md; docs/engine.md, "Send holdback").
//!
//! One connection whose host writes [`SEND_BYTES`] one-byte writes into the
//! primary's transmit ring. The primary ships its unacknowledged send window
//! to the standby over the replication link (which may lose a message), the
//! standby acknowledges what it holds, and the primary's host moves the
//! card's send limit L to what the standby acknowledged. The card sends a
//! byte only below L (its segmenter's tail is `min(tail, L)`); the peer
//! receives what the card sent, in order. The primary may die at any step;
//! the standby is then promoted and resends, from its copy, every byte from
//! the peer's acknowledgement up to what it holds.
//!
//! The property is the invariant: every byte the card sent, so every byte
//! the peer may have received, is one the standby holds (and a promoted
//! standby resending the whole stream is reachable). [`SendVariant`] names the one-line mutations the
//! checker must catch: a card that sends at or above L, and a host that
//! moves L before the standby's acknowledgement (what `sync = async`
//! risks).
use stateright::{Model, Property};

/// One-byte writes the host makes.
pub const SEND_BYTES: u8 = 3;

/// Which rules the model runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendVariant {
    /// Mutation: the card ignores L (sends every byte the host wrote).
    pub card_ignores_limit: bool,
    /// Mutation: the host moves L to its tail without waiting for the standby.
    pub limit_before_ack: bool,
}

impl SendVariant {
    pub const CORRECT: SendVariant = SendVariant { card_ignores_limit: false, limit_before_ack: false };
}

/// Everything the model tracks, in bytes of the stream (offsets from 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SendState {
    /// Bytes the host wrote into the primary's transmit ring (its tail).
    pub written: u8,
    /// The window the primary shipped last, up to this offset, on the link.
    pub shipped: Option<u8>,
    /// Bytes the standby holds in its own transmit ring.
    pub standby_holds: u8,
    /// The standby's acknowledgement on its way back, up to this offset.
    pub ack_on_link: Option<u8>,
    /// Bytes the primary's host knows the standby holds.
    pub acked: u8,
    /// The primary card's send limit L.
    pub limit: u8,
    /// One past the highest byte the primary card sent (snd_max).
    pub card_sent: u8,
    /// Bytes the peer received in order.
    pub peer_received: u8,
    pub primary_up: bool,
    /// The standby was promoted and speaks for the connection.
    pub promoted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendAction {
    HostWrites,
    Ship,
    LoseShipment,
    StandbyStores,
    AckArrives,
    MoveLimit,
    CardSends,
    PeerReceives,
    PrimaryDies,
    Promote,
    PromotedResends,
}

/// The model: the variant is the only parameter.
pub struct SendSideModel {
    pub variant: SendVariant,
}

impl Model for SendSideModel {
    type State = SendState;
    type Action = SendAction;

    fn init_states(&self) -> Vec<SendState> {
        vec![SendState {
            written: 0,
            shipped: None,
            standby_holds: 0,
            ack_on_link: None,
            acked: 0,
            limit: 0,
            card_sent: 0,
            peer_received: 0,
            primary_up: true,
            promoted: false,
        }]
    }

    fn actions(&self, s: &SendState, actions: &mut Vec<SendAction>) {
        use SendAction::*;
        if s.primary_up {
            if s.written < SEND_BYTES {
                actions.push(HostWrites);
            }
            if s.written > s.standby_holds && s.shipped.is_none() {
                actions.push(Ship);
            }
            if s.ack_on_link.is_some() {
                actions.push(AckArrives);
            }
            let target = if self.variant.limit_before_ack { s.written } else { s.acked };
            if target > s.limit {
                actions.push(MoveLimit);
            }
            let may_send = if self.variant.card_ignores_limit { s.written } else { s.written.min(s.limit) };
            if s.card_sent < may_send {
                actions.push(CardSends);
            }
            actions.push(PrimaryDies);
        } else if !s.promoted {
            actions.push(Promote);
        }
        if s.shipped.is_some() {
            actions.push(StandbyStores);
            actions.push(LoseShipment);
        }
        if !s.promoted && s.peer_received < s.card_sent {
            actions.push(PeerReceives);
        }
        if s.promoted && s.peer_received < s.standby_holds {
            actions.push(PromotedResends);
        }
    }

    fn next_state(&self, last: &SendState, action: SendAction) -> Option<SendState> {
        let mut s = last.clone();
        match action {
            SendAction::HostWrites => s.written += 1,
            SendAction::Ship => s.shipped = Some(s.written),
            SendAction::LoseShipment => s.shipped = None,
            SendAction::StandbyStores => {
                let upto = s.shipped.take()?;
                s.standby_holds = s.standby_holds.max(upto);
                s.ack_on_link = Some(s.standby_holds);
            }
            SendAction::AckArrives => s.acked = s.acked.max(s.ack_on_link.take()?),
            SendAction::MoveLimit => s.limit = if self.variant.limit_before_ack { s.written } else { s.acked },
            SendAction::CardSends => s.card_sent += 1,
            SendAction::PeerReceives => s.peer_received += 1,
            SendAction::PrimaryDies => s.primary_up = false,
            SendAction::Promote => s.promoted = true,
            // The standby resends from its copy, from the peer's acknowledgement on.
            SendAction::PromotedResends => s.peer_received += 1,
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            // Invariant 9: whatever the card sent (so whatever the peer may
            // have received), the standby can resend byte for byte.
            Property::always("every byte the peer may have received is held by the standby", |_, s: &SendState| {
                s.card_sent <= s.standby_holds
            }),
            Property::sometimes("a promoted standby resends bytes the peer had not received", |_, s: &SendState| {
                s.promoted && s.peer_received == SEND_BYTES
            }),
        ]
    }
}

/// Properties that are examples (must be reached), not invariants.
pub fn is_send_example(property: &str) -> bool {
    property.starts_with("a promoted standby")
}
