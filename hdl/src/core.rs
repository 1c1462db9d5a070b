//! The whole TCP offload core, `module holdback_core`: receive parser, protocol
//! engine with the TCB table, receive-ring writer, frame builder and the host
//! register block, wired together. Top-level ports are the ones the sim, the
//! board wrapper rely on (MAC-side 64-bit streams, a Wishbone-like
//! register bus standing for BAR0, a microsecond tick input, `idle`).
use crate::regbus::{RegBus, LISTEN_PORTS, STAT_COUNT};
use crate::ring_writer::RingWriter;
use crate::rx::RxParser;
use crate::channels::{HostOpSource, RingCopySource, RxDescSource, TxReqSource};
use crate::engine::TcbEngine;
use crate::tx_builder::TxBuilder;
use holdback_regmap::{CoreParams, Stat};
use rust_hdl::prelude::*;

/// Connection-id bits of the generated core (N = 64 TCBs).
pub const CONN_BITS: usize = 6;
pub const NCONN: usize = 1 << CONN_BITS;
/// Receive ring of 8 KiB per connection.
pub const RING_BITS: usize = 13;
/// Byte-lane row address bits of the ring memory, and its 32-bit word index bits.
pub const RING_ROW_BITS: usize = CONN_BITS + RING_BITS - 3;
pub const RING_WORD_BITS: usize = CONN_BITS + RING_BITS - 2;

#[derive(LogicBlock)]
pub struct HoldbackCore {
    pub clock: Signal<In, Clock>,
    pub tick_us: Signal<In, Bits<16>>,
    pub s_tdata: Signal<In, Bits<64>>,
    pub s_tkeep: Signal<In, Bits<8>>,
    pub s_tvalid: Signal<In, Bit>,
    pub s_tlast: Signal<In, Bit>,
    pub s_tready: Signal<Out, Bit>,
    pub m_tdata: Signal<Out, Bits<64>>,
    pub m_tkeep: Signal<Out, Bits<8>>,
    pub m_tvalid: Signal<Out, Bit>,
    pub m_tlast: Signal<Out, Bit>,
    pub m_tready: Signal<In, Bit>,
    pub reg_addr: Signal<In, Bits<20>>,
    pub reg_wdata: Signal<In, Bits<32>>,
    pub reg_we: Signal<In, Bit>,
    pub reg_re: Signal<In, Bit>,
    pub reg_rdata: Signal<Out, Bits<32>>,
    pub reg_ack: Signal<Out, Bit>,
    pub idle: Signal<Out, Bit>,

    rx: RxParser,
    tx: TxBuilder,
    ring: RingWriter<CONN_BITS, RING_BITS, RING_ROW_BITS, RING_WORD_BITS>,
    engine: TcbEngine<CONN_BITS, { CONN_BITS + 1 }>,
    regs: RegBus<CONN_BITS, NCONN, RING_WORD_BITS>,
    tx_frame_done: Signal<Local, Bit>,
    rx_frame_in: Signal<Local, Bit>,
    rx_frame_out: Signal<Local, Bit>,
    /// Frames whose last beat entered the parser but whose descriptor the engine
    /// has not consumed yet: the parser is still verifying checksums.
    rx_in_flight: DFF<Bits<8>>,
    // Host-side inputs registered at the core boundary: the engine and register
    // block then depend on no top-level input combinationally, which Verilator
    // rewards (their logic runs once per cycle instead of on every input change)
    // and which costs one cycle of bus latency and of tick delay.
    tick_r: DFF<Bits<16>>,
    reg_addr_r: DFF<Bits<20>>,
    reg_wdata_r: DFF<Bits<32>>,
    reg_we_r: DFF<Bit>,
    reg_re_r: DFF<Bit>,
    one8: Constant<Bits<8>>,
    m_tx_frames: Constant<Bits<STAT_COUNT>>,
}

impl HoldbackCore {
    pub fn new(build_id: u32) -> Self {
        let params = CoreParams { conn_bits: CONN_BITS, ring_bits: RING_BITS };
        Self {
            clock: Default::default(),
            tick_us: Default::default(),
            s_tdata: Default::default(),
            s_tkeep: Default::default(),
            s_tvalid: Default::default(),
            s_tlast: Default::default(),
            s_tready: Default::default(),
            m_tdata: Default::default(),
            m_tkeep: Default::default(),
            m_tvalid: Default::default(),
            m_tlast: Default::default(),
            m_tready: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_we: Default::default(),
            reg_re: Default::default(),
            reg_rdata: Default::default(),
            reg_ack: Default::default(),
            idle: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            ring: Default::default(),
            engine: TcbEngine::new(RING_BITS),
            regs: RegBus::new(params, build_id),
            tx_frame_done: Default::default(),
            rx_frame_in: Default::default(),
            rx_frame_out: Default::default(),
            rx_in_flight: Default::default(),
            tick_r: Default::default(),
            reg_addr_r: Default::default(),
            reg_wdata_r: Default::default(),
            reg_we_r: Default::default(),
            reg_re_r: Default::default(),
            one8: Constant::new(Bits::<8>::from(1u64)),
            m_tx_frames: Constant::new(Bits::<STAT_COUNT>::from(1u64 << Stat::TxFrames.index())),
        }
    }

    /// The parameters this core is generated with, as the ID block reports them.
    pub fn params() -> CoreParams {
        CoreParams { conn_bits: CONN_BITS, ring_bits: RING_BITS }
    }
}

impl Logic for HoldbackCore {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, rx, tx, ring, engine, regs);
        dff_setup!(self, clock, rx_in_flight, tick_r, reg_addr_r, reg_wdata_r, reg_we_r, reg_re_r);
        self.tick_r.d.next = self.tick_us.val();
        self.reg_addr_r.d.next = self.reg_addr.val();
        self.reg_wdata_r.d.next = self.reg_wdata.val();
        self.reg_we_r.d.next = self.reg_we.val();
        self.reg_re_r.d.next = self.reg_re.val();

        // MAC receive side -> parser.
        self.rx.s_tdata.next = self.s_tdata.val();
        self.rx.s_tkeep.next = self.s_tkeep.val();
        self.rx.s_tvalid.next = self.s_tvalid.val();
        self.rx.s_tlast.next = self.s_tlast.val();
        self.s_tready.next = self.rx.s_tready.val();
        self.rx.our_mac.next = self.regs.our_mac.val();
        self.rx.our_ip.next = self.regs.our_ip.val();

        // The internal channels, one bundle each.
        RxDescSource::join(&mut self.rx.desc, &mut self.engine.desc);
        TxReqSource::join(&mut self.engine.tx, &mut self.tx.req);
        RingCopySource::<CONN_BITS>::join(&mut self.engine.ring, &mut self.ring.cmd);
        HostOpSource::<CONN_BITS>::join(&mut self.regs.hop, &mut self.engine.hop);

        // The frame buffer's one read port: the ring writer while copying payload,
        // the frame builder otherwise (ICMP echo payload).
        self.rx.fb_raddr.next = self.tx.fb_raddr.val();
        if self.engine.fb_sel_ring.val() {
            self.rx.fb_raddr.next = self.ring.fb_raddr.val();
        }
        self.tx.fb_rdata.next = self.rx.fb_rdata.val();
        self.ring.fb_rdata.next = self.rx.fb_rdata.val();

        // Frame builder -> MAC transmit side.
        self.tx.our_mac.next = self.regs.our_mac.val();
        self.tx.our_ip.next = self.regs.our_ip.val();
        self.tx.our_mss.next = self.regs.our_mss.val();
        self.m_tdata.next = self.tx.m_tdata.val();
        self.m_tkeep.next = self.tx.m_tkeep.val();
        self.m_tvalid.next = self.tx.m_tvalid.val();
        self.m_tlast.next = self.tx.m_tlast.val();
        self.tx.m_tready.next = self.m_tready.val();
        self.tx_frame_done.next = self.tx.m_tvalid.val() & self.m_tready.val() & self.tx.m_tlast.val();

        // Register block: configuration, statistics, change log, host operations.
        self.regs.reg_addr.next = self.reg_addr_r.q.val();
        self.regs.reg_wdata.next = self.reg_wdata_r.q.val();
        self.regs.reg_we.next = self.reg_we_r.q.val();
        self.regs.reg_re.next = self.reg_re_r.q.val();
        self.reg_rdata.next = self.regs.reg_rdata.val();
        self.reg_ack.next = self.regs.reg_ack.val();
        self.engine.tick_us.next = self.tick_r.q.val();
        self.engine.enable.next = self.regs.enable.val();
        self.engine.standby.next = self.regs.standby.val();
        self.engine.holdback_default.next = self.regs.holdback_default.val();
        for i in 0..LISTEN_PORTS {
            self.engine.listen_ports[i].next = self.regs.listen_ports[i].val();
        }
        self.engine.rto_us.next = self.regs.rto_us.val();
        self.engine.dup_acks.next = self.regs.dup_acks.val();
        self.engine.hold_synack.next = self.regs.hold_synack.val();
        self.engine.epoch.next = self.regs.epoch.val();
        self.engine.promote_req.next = self.regs.promote_req.val();
        self.regs.promote_start.next = self.engine.promote_start.val();
        self.regs.promote_end.next = self.engine.promote_end.val();
        self.regs.promoting.next = self.engine.promoting.val();
        self.regs.stat_inc.next = self.engine.stat_inc.val();
        if self.tx_frame_done.val() {
            self.regs.stat_inc.next = self.engine.stat_inc.val() | self.m_tx_frames.val();
        }
        self.regs.stat_bytes.next = self.engine.stat_bytes.val();
        self.regs.now_us.next = self.engine.now_us.val();
        self.regs.open_conns.next = self.engine.open_conns.val();
        self.regs.chlog_push.next = self.engine.chlog_push.val();
        self.regs.chlog_id.next = self.engine.chlog_id.val();
        self.ring.host_raddr.next = self.regs.ring_raddr.val();
        self.regs.ring_rdata.next = self.ring.host_rdata.val();

        // Idle: nothing in flight anywhere, so the simulator may sleep until the next
        // frame, register access or tick. The register block's own state is left out
        // of STATUS.idle to keep the status path free of a combinational loop.
        // Every frame, dropped or not, ends as one descriptor the engine pops.
        self.rx_frame_in.next = self.s_tvalid.val() & self.rx.s_tready.val() & self.s_tlast.val();
        self.rx_frame_out.next = self.rx.desc.valid.val() & self.engine.desc.ready.val();
        if self.rx_frame_in.val() & !self.rx_frame_out.val() {
            self.rx_in_flight.d.next = self.rx_in_flight.q.val() + self.one8.val();
        } else if self.rx_frame_out.val() & !self.rx_frame_in.val() {
            self.rx_in_flight.d.next = self.rx_in_flight.q.val() - self.one8.val();
        }
        self.regs.core_idle.next = self.engine.idle.val()
            & !self.rx_in_flight.q.val().any()
            & !self.tx.req.busy.val()
            & self.ring.cmd.ready.val();
        self.idle.next = self.engine.idle.val()
            & !self.rx_in_flight.q.val().any()
            & !self.tx.req.busy.val()
            & self.ring.cmd.ready.val()
            & self.regs.idle.val();
    }
}

fn generate(build_id: u32) -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut HoldbackCore::new(build_id), "holdback_core")
}

/// The core's Verilog. ID_BUILD carries the hash of the text generated with a
/// zero build id, so two different cores report different ids.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    let id = crate::generate::build_id(&generate(0)?);
    generate(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn holdback_core_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("holdback_core", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("holdback_core", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("holdback_core area: {area:?}");
        assert!(area.ffs > 0);
    }
}
