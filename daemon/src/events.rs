//! The daemon's one event pump: the card's event ring has one consumer, so
//! every part of the daemon that follows TCB changes — the sink, and through
//! it the replication primary; `holdback conns`, the metrics and the pair
//! through the card's TCB mirror — goes through [`EventPump`].
//!
//! [`EventPump::pump`] takes the card's new event records
//! ([`CardHandle::poll_events`]: the mirror is updated, the consumer count
//! handed back) and adds the changed connection ids to every
//! [`ChangeFeed`]. Whoever needs fresh changes pumps: the sink before each
//! pass, the service loop once a second (so a daemon without a sink — a
//! standby — keeps the ring drained and its mirror current), a promotion
//! and a hand-over until the card has nothing more to say.
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use holdback_driver::{Bar, CardError, CardHandle};

type Pending = Mutex<BTreeSet<u16>>;

pub struct EventPump<B: Bar> {
    card: Arc<CardHandle<B>>,
    /// Every live feed's pending ids. Held across a poll and its fan-out,
    /// and across a new feed's start, so no change falls between them.
    feeds: Mutex<Vec<Weak<Pending>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Sets of ids: a panic while holding one leaves it usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<B: Bar> EventPump<B> {
    /// The pump of `card`, whose host memory is attached.
    pub fn new(card: Arc<CardHandle<B>>) -> Arc<EventPump<B>> {
        Arc::new(EventPump { card, feeds: Mutex::new(Vec::new()) })
    }

    pub fn card(&self) -> &Arc<CardHandle<B>> {
        &self.card
    }

    /// Takes the card's new records and fans the changed ids out. Returns
    /// how many records were taken.
    pub fn pump(&self) -> Result<usize, CardError> {
        let mut feeds = lock(&self.feeds);
        let ids = self.card.poll_events()?;
        Self::fan_out(&mut feeds, &ids);
        Ok(ids.len())
    }

    /// Pumps until the card has produced nothing more and its writer is
    /// idle: the mirror then holds every TCB as the card does now.
    pub fn settle(&self, timeout: Duration) -> Result<(), CardError> {
        let mut feeds = lock(&self.feeds);
        let ids = self.card.settle_events(timeout)?;
        Self::fan_out(&mut feeds, &ids);
        Ok(())
    }

    fn fan_out(feeds: &mut Vec<Weak<Pending>>, ids: &[u16]) {
        feeds.retain(|f| f.strong_count() > 0);
        if ids.is_empty() {
            return;
        }
        for feed in feeds.iter().filter_map(Weak::upgrade) {
            lock(&feed).extend(ids.iter().copied());
        }
    }

    /// A new feed of changed ids. It starts with every connection the
    /// mirror holds open: a follower that starts late (a sink started after
    /// a promotion, or restarted) learns of the connections that changed
    /// before it, as it would have from their records.
    pub fn subscribe(self: &Arc<Self>) -> Result<ChangeFeed<B>, CardError> {
        let mut feeds = lock(&self.feeds);
        let open: BTreeSet<u16> = self.card.open_connections()?.into_iter().map(|(id, _)| id).collect();
        let pending = Arc::new(Mutex::new(open));
        feeds.push(Arc::downgrade(&pending));
        Ok(ChangeFeed { pump: self.clone(), pending })
    }
}

/// One follower's view of the changes: the ids whose TCB changed since it
/// last took them (each once, however often it changed — the mirror has
/// the latest state).
pub struct ChangeFeed<B: Bar> {
    pump: Arc<EventPump<B>>,
    pending: Arc<Pending>,
}

impl<B: Bar> ChangeFeed<B> {
    /// Pumps, then takes every pending id, in id order.
    pub fn take(&self) -> Result<Vec<u16>, CardError> {
        self.pump.pump()?;
        Ok(std::mem::take(&mut *lock(&self.pending)).into_iter().collect())
    }

    pub fn card(&self) -> &Arc<CardHandle<B>> {
        self.pump.card()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcard::FakeCard;
    use holdback_regmap::{tcb, TcpState};

    #[test]
    fn every_feed_gets_every_change_once_and_a_late_feed_starts_with_the_open_connections() {
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let sink = pump.subscribe().unwrap();
        assert_eq!(sink.take().unwrap(), Vec::<u16>::new(), "a fresh card has nothing open");
        let open = |w: &mut [u32]| tcb::STATE.set(w, TcpState::Established as u32);
        fake.set_tcb(5, open);
        fake.set_tcb(2, open);
        fake.set_tcb(5, |w| tcb::RCV_NXT.set(w, 77));
        assert_eq!(pump.pump().unwrap(), 3);
        let other = pump.subscribe().unwrap();
        assert_eq!(*lock(&other.pending), BTreeSet::from([2, 5]), "pumped before it existed: it starts from the mirror");
        assert_eq!(other.take().unwrap(), vec![2, 5]);
        assert_eq!(sink.take().unwrap(), vec![2, 5], "two records of connection 5, one id");
        assert_eq!(fake.card.tcb(5).unwrap().rcv_nxt.0, 77, "the mirror holds the last record");
        assert_eq!(sink.take().unwrap(), Vec::<u16>::new());
        fake.set_tcb(2, |w| tcb::STATE.set(w, TcpState::Closed as u32));
        // One pump fans out to both.
        assert_eq!(pump.pump().unwrap(), 1);
        assert_eq!(other.take().unwrap(), vec![2]);
        assert_eq!(sink.take().unwrap(), vec![2]);
        assert!(!fake.card.tcb(2).unwrap().is_open());
        assert_eq!(fake.consumer_count(), 4, "EQ_CONS handed back");
        drop(other);
        fake.set_tcb(9, open);
        assert_eq!(sink.take().unwrap(), vec![9]);
        assert_eq!(lock(&pump.feeds).len(), 1, "a dropped feed is forgotten");
    }
}
