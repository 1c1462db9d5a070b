//! EPOCH only grows (docs/authority.md), on the Verilated core: a host write
//! of an older EPOCH, a PROMOTE not newer than the card's EPOCH, and a TCB
//! written through the TCB window that would carry an older EPOCH are
//! refused and counted in `stale_epoch_refused`; an equal EPOCH (a copy from
//! a primary in the card's own epoch) and a newer one are taken.
//!
//! Needs verilator (the sim crate's build verilates the core).
use holdback_regmap as map;
use holdback_regmap::{SeqNum, Stat, Tcb, TcpState, TCB_WORDS};
use holdback_sim::core_sim::CoreSim;
use std::net::Ipv4Addr;

const EPOCH_WORD: u32 = map::tcb::EPOCH.word;

/// An enabled standby card in epoch `epoch`.
fn standby_card(epoch: u32) -> CoreSim {
    let mut sim = CoreSim::new().expect("core model (needs verilator: apt-get install verilator)");
    sim.reg_write(map::MAC_HI.offset, 0x0200).unwrap();
    sim.reg_write(map::MAC_LO.offset, 0x5e00_0002).unwrap();
    sim.reg_write(map::IPV4_ADDR.offset, u32::from(Ipv4Addr::new(198, 18, 0, 2))).unwrap();
    sim.reg_write(map::CTRL.offset, map::CTRL_ENABLE | map::CTRL_STANDBY).unwrap();
    sim.reg_write(map::EPOCH.offset, epoch).unwrap();
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), epoch);
    sim
}

fn refused(sim: &mut CoreSim) -> u32 {
    sim.reg_read(Stat::StaleEpochRefused.offset()).unwrap()
}

/// An established connection's copy as a primary in `epoch` would ship it.
fn copy(epoch: u32, rcv_nxt: u32) -> [u32; TCB_WORDS] {
    let tcb = Tcb {
        state: TcpState::Established,
        remote_ip: Ipv4Addr::new(198, 18, 0, 9),
        remote_port: 40000,
        local_port: 5001,
        rcv_nxt: SeqNum(rcv_nxt),
        ack_sent: SeqNum(rcv_nxt),
        rel: SeqNum(rcv_nxt),
        gen: 7,
        epoch,
        ..Tcb::closed()
    };
    tcb.encode().expect("encodes")
}

/// The host's TCB write as the driver does it: the EPOCH word first.
fn write_tcb(sim: &mut CoreSim, id: u32, words: &[u32; TCB_WORDS]) {
    sim.reg_write(map::tcb_word_addr(id, EPOCH_WORD), words[EPOCH_WORD as usize]).unwrap();
    for (w, v) in words.iter().enumerate().filter(|(w, _)| *w as u32 != EPOCH_WORD) {
        sim.reg_write(map::tcb_word_addr(id, w as u32), *v).unwrap();
    }
}

fn read_tcb(sim: &mut CoreSim, id: u32) -> [u32; TCB_WORDS] {
    let mut words = [0u32; TCB_WORDS];
    for (w, v) in words.iter_mut().enumerate() {
        *v = sim.reg_read(map::tcb_word_addr(id, w as u32)).unwrap();
    }
    words
}

#[test]
fn the_epoch_register_refuses_an_older_epoch_and_takes_an_equal_or_newer_one() {
    let mut sim = standby_card(5);
    assert_eq!(refused(&mut sim), 0);
    sim.reg_write(map::EPOCH.offset, 4).unwrap();
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), 5, "an older EPOCH is refused");
    assert_eq!(refused(&mut sim), 1, "and counted");
    sim.reg_write(map::EPOCH.offset, 5).unwrap();
    assert_eq!(refused(&mut sim), 1, "the same EPOCH again is no refusal");
    sim.reg_write(map::EPOCH.offset, 9).unwrap();
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), 9, "a newer EPOCH is taken");
    // Plain, not serial, order: 9 + 2^31 + 1 is newer, and nothing returns below it.
    let far = 9 + (1 << 31) + 1;
    sim.reg_write(map::EPOCH.offset, far).unwrap();
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), far);
    sim.reg_write(map::EPOCH.offset, 9).unwrap();
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), far, "epochs never wrap back");
    assert_eq!(refused(&mut sim), 2);
}

#[test]
fn promote_takes_only_a_newer_epoch() {
    let mut sim = standby_card(5);
    for stale in [5, 4, 0] {
        sim.reg_write(map::PROMOTE.offset, stale).unwrap();
        sim.run(200);
        let status = sim.reg_read(map::PROMOTE.offset).unwrap();
        assert_eq!(status & (map::PROMOTE_BUSY | map::PROMOTE_DONE), 0, "PROMOTE {stale} in epoch 5 started nothing");
        assert_ne!(sim.reg_read(map::CTRL.offset).unwrap() & map::CTRL_STANDBY, 0, "still a standby");
        assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), 5);
    }
    assert_eq!(refused(&mut sim), 3, "each stale PROMOTE counted");
    assert_eq!(std::iter::from_fn(|| sim.pop_tx_frame()).count(), 0, "no gratuitous ARP");

    sim.reg_write(map::PROMOTE.offset, 6).unwrap();
    sim.run_until_idle(100_000).expect("the walk settles");
    let status = sim.reg_read(map::PROMOTE.offset).unwrap();
    assert_eq!(status & (map::PROMOTE_BUSY | map::PROMOTE_DONE), map::PROMOTE_DONE, "PROMOTE 6 in epoch 5 ran");
    assert_eq!(sim.reg_read(map::EPOCH.offset).unwrap(), 6);
    assert_eq!(sim.reg_read(map::CTRL.offset).unwrap() & map::CTRL_STANDBY, 0, "active");
    assert_eq!(refused(&mut sim), 3, "a newer PROMOTE is no refusal");
}

#[test]
fn tcb_writes_older_than_the_cards_epoch_are_refused_whole_and_counted_once() {
    let mut sim = standby_card(5);
    let empty = read_tcb(&mut sim, 3);

    // A copy from an older primary: not one of its words lands.
    write_tcb(&mut sim, 3, &copy(4, 1000));
    assert_eq!(read_tcb(&mut sim, 3), empty, "a TCB in epoch 4 is refused in epoch 5");
    assert_eq!(refused(&mut sim), 1, "counted once for the whole TCB");

    // A copy from a primary in the card's own epoch, then a newer one: taken.
    write_tcb(&mut sim, 3, &copy(5, 2000));
    assert_eq!(read_tcb(&mut sim, 3), copy(5, 2000), "an equal epoch is taken");
    write_tcb(&mut sim, 3, &copy(6, 3000));
    assert_eq!(read_tcb(&mut sim, 3), copy(6, 3000), "a newer epoch is taken");
    assert_eq!(refused(&mut sim), 1);

    // A stale copy over a slot of a current epoch: its EPOCH word is refused,
    // and so is every other word of it, though each alone would leave the
    // slot in epoch 6.
    write_tcb(&mut sim, 3, &copy(4, 4000));
    assert_eq!(read_tcb(&mut sim, 3), copy(6, 3000), "nothing of the stale TCB landed");
    assert_eq!(refused(&mut sim), 2);

    // A single word into a slot whose TCB is older than the card (slot 4 is
    // all zero: epoch 0) is refused too; into a current one it is taken.
    sim.reg_write(map::tcb_word_addr(4, map::tcb::RCV_NXT.word), 77).unwrap();
    assert_eq!(read_tcb(&mut sim, 4), empty, "a lone word cannot make an epoch-0 slot a TCB");
    assert_eq!(refused(&mut sim), 3);
    write_tcb(&mut sim, 3, &copy(6, 5000));
    sim.reg_write(map::tcb_word_addr(3, map::tcb::RCV_NXT.word), 5001).unwrap();
    let mut want = copy(6, 5000);
    map::tcb::RCV_NXT.set(&mut want, 5001);
    assert_eq!(read_tcb(&mut sim, 3), want, "a lone word into a slot of epoch 6 is taken");

    // A cleared slot stamped with the card's epoch is taken (the daemon's
    // clears carry it).
    let closed = Tcb { epoch: 5, ..Tcb::closed() }.encode().unwrap();
    write_tcb(&mut sim, 3, &closed);
    assert_eq!(read_tcb(&mut sim, 3), closed);
    assert_eq!(refused(&mut sim), 3);
}
