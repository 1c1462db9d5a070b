//! The TCB as the engine holds it: one packed struct whose layout is the
//! register map's (`holdback_regmap::tcb`), bit for bit, unused bits included.
//! Because the packing is the table word's, the block RAM stores it as is and
//! loading or writing back a TCB is one assignment; the engine names fields
//! (`w.q.val().rcv_nxt`) instead of bit offsets. A test below checks every
//! field's offset and width against the register map.
//!
//! The struct implements by hand what `#[derive(LogicStruct)]` would, with one
//! difference: `#[hdl_gen]` emits a field access as a part select whose offset
//! is whatever `get_my_offset_<field>()` returns, and the derive returns a
//! `usize` (a 64-bit Verilog constant, which `verilator -Wall` flags on every
//! access to a 640-bit vector). Here the offsets are `Bits` of the index width.
use holdback_regmap::TCB_BITS;
use rust_hdl::prelude::*;

const fn index_bits(n: usize) -> usize {
    let mut bits = 0;
    while (1 << bits) < n {
        bits += 1;
    }
    bits
}

/// Width of a bit index into a TCB (Verilator wants exactly this).
const OFFSET_BITS: usize = index_bits(TCB_BITS);

macro_rules! tcb_fields {
    ($( $(#[$doc:meta])* $name:ident [$offset_fn:ident, $width_fn:ident]: $width:literal, )*) => {
        /// One TCB, first field at bit 0 (packed from the LSB up, as the
        /// register map numbers TCB bits).
        #[derive(Copy, Clone, PartialEq, Debug, Default)]
        pub struct TcbFields {
            $( $(#[$doc])* pub $name: Bits<$width>, )*
        }

        impl TcbFields {
            const LAYOUT: &'static [(&'static str, usize)] = &[$( (stringify!($name), $width), )*];

            fn offset_of(name: &str) -> usize {
                Self::LAYOUT.iter().take_while(|(n, _)| *n != name).map(|(_, w)| w).sum()
            }

            $(
                pub fn $offset_fn(&self) -> Bits<OFFSET_BITS> {
                    Bits::from(Self::offset_of(stringify!($name)) as u64)
                }
                pub fn $width_fn(&self) -> usize {
                    $width
                }
            )*
        }

        impl Synth for TcbFields {
            const BITS: usize = 0 $( + $width )*;

            fn descriptor() -> TypeDescriptor {
                TypeDescriptor {
                    name: "TcbFields".to_string(),
                    kind: TypeKind::Composite(vec![$(
                        Box::new(TypeField { fieldname: stringify!($name).to_string(), kind: <Bits<$width>>::descriptor() }),
                    )*]),
                }
            }

            fn vcd(self) -> VCDValue {
                VCDValue::Composite(vec![$( Box::new(self.$name.vcd()), )*])
            }

            fn verilog(self) -> VerilogLiteral {
                Bits::<TCB_BITS>::from(self).into()
            }
        }

        impl From<TcbFields> for Bits<TCB_BITS> {
            #[allow(unused_assignments)]
            fn from(t: TcbFields) -> Self {
                let (mut word, mut at) = (Bits::<TCB_BITS>::default(), 0);
                $( word = word | (bit_cast::<TCB_BITS, $width>(t.$name) << (at as LiteralType)); at += $width; )*
                word
            }
        }

        /// A table word read as a TCB (in Verilog a plain assignment: both are the same bits).
        impl From<Bits<TCB_BITS>> for TcbFields {
            #[allow(unused_assignments)]
            fn from(word: Bits<TCB_BITS>) -> Self {
                let mut at = 0;
                $( let $name = word.get_bits::<$width>(at); at += $width; )*
                Self { $( $name, )* }
            }
        }
    };
}

tcb_fields! {
    /// RFC 9293 state code; CLOSED means the slot is free.
    state [get_my_offset_state, get_my_width_state]: 4,
    holdback [get_my_offset_holdback, get_my_width_holdback]: 1,
    fin_rcvd [get_my_offset_fin_rcvd, get_my_width_fin_rcvd]: 1,
    /// Send holdback on: nothing at or above the connection's send limit leaves (send_limit.rs).
    send_hold [get_my_offset_send_hold, get_my_width_send_hold]: 1,
    /// Relay mode: the spliced peer received its FIN (a linked CLOSE-WAIT's FIN waits for it).
    close_asked [get_my_offset_close_asked, get_my_width_close_asked]: 1,
    retries [get_my_offset_retries, get_my_width_retries]: 4,
    /// Word 0 bits 15:12, no field: written as zero.
    pad_w0_12 [get_my_offset_pad_w0_12, get_my_width_pad_w0_12]: 4,
    peer_mss [get_my_offset_peer_mss, get_my_width_peer_mss]: 16,
    local_port [get_my_offset_local_port, get_my_width_local_port]: 16,
    remote_port [get_my_offset_remote_port, get_my_width_remote_port]: 16,
    remote_ip [get_my_offset_remote_ip, get_my_width_remote_ip]: 32,
    /// REMOTE_MAC_LO (bits 31:0 here) and REMOTE_MAC_HI (47:32) are adjacent,
    /// so the engine keeps the next-hop MAC as one 48-bit field.
    remote_mac [get_my_offset_remote_mac, get_my_width_remote_mac]: 48,
    peer_link [get_my_offset_peer_link, get_my_width_peer_link]: 16,
    irs [get_my_offset_irs, get_my_width_irs]: 32,
    rcv_nxt [get_my_offset_rcv_nxt, get_my_width_rcv_nxt]: 32,
    rel [get_my_offset_rel, get_my_width_rel]: 32,
    rcv_adv [get_my_offset_rcv_adv, get_my_width_rcv_adv]: 32,
    ack_sent [get_my_offset_ack_sent, get_my_width_ack_sent]: 32,
    iss [get_my_offset_iss, get_my_width_iss]: 32,
    snd_una [get_my_offset_snd_una, get_my_width_snd_una]: 32,
    snd_nxt [get_my_offset_snd_nxt, get_my_width_snd_nxt]: 32,
    snd_max [get_my_offset_snd_max, get_my_width_snd_max]: 32,
    snd_wnd [get_my_offset_snd_wnd, get_my_width_snd_wnd]: 16,
    /// The peer's window-scale shift (RFC 7323 §2.3); 0 when not negotiated.
    snd_wscale [get_my_offset_snd_wscale, get_my_width_snd_wscale]: 4,
    /// Ours: windows after the SYN-ACK are sent as (edge - ack) >> rcv_wscale.
    rcv_wscale [get_my_offset_rcv_wscale, get_my_width_rcv_wscale]: 4,
    /// SACK (RFC 2018) negotiated: ACKs carry the held ranges as SACK blocks.
    sack_ok [get_my_offset_sack_ok, get_my_width_sack_ok]: 1,
    /// Timestamps (RFC 7323 §3) negotiated.
    ts_ok [get_my_offset_ts_ok, get_my_width_ts_ok]: 1,
    /// Word 14 bits 31:26, no field: written as zero.
    pad_w14_26 [get_my_offset_pad_w14_26, get_my_width_pad_w14_26]: 6,
    timer_due [get_my_offset_timer_due, get_my_width_timer_due]: 32,
    seq_offset [get_my_offset_seq_offset, get_my_width_seq_offset]: 32,
    tx_end [get_my_offset_tx_end, get_my_width_tx_end]: 32,
    gen [get_my_offset_gen, get_my_width_gen]: 32,
    epoch [get_my_offset_epoch, get_my_width_epoch]: 32,
    /// TS.Recent (RFC 7323 §4.3): the peer's TSval to echo.
    ts_recent [get_my_offset_ts_recent, get_my_width_ts_recent]: 32,
    /// Timestamps (RFC 7323 §5.4): TSval = the TS clock + this offset.
    ts_offset [get_my_offset_ts_offset, get_my_width_ts_offset]: 32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_regmap::{tcb, TcbField};

    #[test]
    fn layout_is_the_register_maps() {
        assert_eq!(TcbFields::BITS, TCB_BITS);
        let t = TcbFields::default();
        let ours: [(TcbField, usize, usize); 34] = [
            (tcb::STATE, t.get_my_offset_state().index(), t.get_my_width_state()),
            (tcb::HOLDBACK, t.get_my_offset_holdback().index(), t.get_my_width_holdback()),
            (tcb::FIN_RCVD, t.get_my_offset_fin_rcvd().index(), t.get_my_width_fin_rcvd()),
            (tcb::SEND_HOLD, t.get_my_offset_send_hold().index(), t.get_my_width_send_hold()),
            (tcb::CLOSE_ASKED, t.get_my_offset_close_asked().index(), t.get_my_width_close_asked()),
            (tcb::RETRIES, t.get_my_offset_retries().index(), t.get_my_width_retries()),
            (tcb::PEER_MSS, t.get_my_offset_peer_mss().index(), t.get_my_width_peer_mss()),
            (tcb::LOCAL_PORT, t.get_my_offset_local_port().index(), t.get_my_width_local_port()),
            (tcb::REMOTE_PORT, t.get_my_offset_remote_port().index(), t.get_my_width_remote_port()),
            (tcb::REMOTE_IP, t.get_my_offset_remote_ip().index(), t.get_my_width_remote_ip()),
            (tcb::REMOTE_MAC_LO, t.get_my_offset_remote_mac().index(), 32),
            (tcb::REMOTE_MAC_HI, t.get_my_offset_remote_mac().index() + 32, t.get_my_width_remote_mac() - 32),
            (tcb::PEER_LINK, t.get_my_offset_peer_link().index(), t.get_my_width_peer_link()),
            (tcb::IRS, t.get_my_offset_irs().index(), t.get_my_width_irs()),
            (tcb::RCV_NXT, t.get_my_offset_rcv_nxt().index(), t.get_my_width_rcv_nxt()),
            (tcb::REL, t.get_my_offset_rel().index(), t.get_my_width_rel()),
            (tcb::RCV_ADV, t.get_my_offset_rcv_adv().index(), t.get_my_width_rcv_adv()),
            (tcb::ACK_SENT, t.get_my_offset_ack_sent().index(), t.get_my_width_ack_sent()),
            (tcb::ISS, t.get_my_offset_iss().index(), t.get_my_width_iss()),
            (tcb::SND_UNA, t.get_my_offset_snd_una().index(), t.get_my_width_snd_una()),
            (tcb::SND_NXT, t.get_my_offset_snd_nxt().index(), t.get_my_width_snd_nxt()),
            (tcb::SND_MAX, t.get_my_offset_snd_max().index(), t.get_my_width_snd_max()),
            (tcb::SND_WND, t.get_my_offset_snd_wnd().index(), t.get_my_width_snd_wnd()),
            (tcb::SND_WSCALE, t.get_my_offset_snd_wscale().index(), t.get_my_width_snd_wscale()),
            (tcb::RCV_WSCALE, t.get_my_offset_rcv_wscale().index(), t.get_my_width_rcv_wscale()),
            (tcb::SACK_OK, t.get_my_offset_sack_ok().index(), t.get_my_width_sack_ok()),
            (tcb::TS_OK, t.get_my_offset_ts_ok().index(), t.get_my_width_ts_ok()),
            (tcb::TIMER_DUE, t.get_my_offset_timer_due().index(), t.get_my_width_timer_due()),
            (tcb::SEQ_OFFSET, t.get_my_offset_seq_offset().index(), t.get_my_width_seq_offset()),
            (tcb::TX_END, t.get_my_offset_tx_end().index(), t.get_my_width_tx_end()),
            (tcb::GEN, t.get_my_offset_gen().index(), t.get_my_width_gen()),
            (tcb::EPOCH, t.get_my_offset_epoch().index(), t.get_my_width_epoch()),
            (tcb::TS_RECENT, t.get_my_offset_ts_recent().index(), t.get_my_width_ts_recent()),
            (tcb::TS_OFFSET, t.get_my_offset_ts_offset().index(), t.get_my_width_ts_offset()),
        ];
        assert_eq!(ours.len(), tcb::FIELDS.len(), "every register-map field has a place here");
        for (field, offset, width) in ours {
            assert_eq!((offset, width), (field.bit(), field.width as usize), "{}", field.name);
        }
        // The padding fields cover exactly the bits no register-map field uses.
        let mut used = vec![false; TCB_BITS];
        for f in tcb::FIELDS {
            used[f.bit()..f.bit() + f.width as usize].iter_mut().for_each(|b| *b = true);
        }
        let pads = [
            (t.get_my_offset_pad_w0_12().index(), t.get_my_width_pad_w0_12()),
            (t.get_my_offset_pad_w14_26().index(), t.get_my_width_pad_w14_26()),
        ];
        let mut padded = vec![false; TCB_BITS];
        for (offset, width) in pads {
            padded[offset..offset + width].iter_mut().for_each(|b| *b = true);
        }
        for bit in 0..TCB_BITS {
            assert_ne!(used[bit], padded[bit], "bit {bit} must be either a field or padding");
        }
    }

    #[test]
    fn bits_and_fields_convert_both_ways() {
        let t = TcbFields {
            state: 4.into(),
            holdback: 1.into(),
            retries: 7.into(),
            peer_mss: 1460.into(),
            remote_mac: 0x0200_5e00_0009_u64.into(),
            rcv_nxt: 0xffff_fff0_u64.into(),
            snd_wnd: 0xfedc.into(),
            epoch: 0x8000_0001_u64.into(),
            ..Default::default()
        };
        let word: Bits<TCB_BITS> = t.into();
        assert_eq!(word.get_bits::<16>(tcb::PEER_MSS.bit()), Bits::<16>::from(1460));
        assert_eq!(word.get_bits::<32>(tcb::RCV_NXT.bit()), Bits::<32>::from(0xffff_fff0));
        assert_eq!(word.get_bits::<16>(tcb::REMOTE_MAC_HI.bit()), Bits::<16>::from(0x0200));
        assert_eq!(TcbFields::from(word), t);
    }
}
