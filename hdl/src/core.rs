//! The whole TCP offload core, `module holdback_core`: receive parser, protocol
//! engine with the TCB table, frame builder, the host-memory data path (the
//! payload DMA into the host's receive rings and the event writer, sharing
//! one DMA write engine through an arbiter; the transmit fetch reading segment
//! payload from the host's transmit rings through the DMA read engine) and the
//! host register block with the relay registers beside it,
//! wired together. Top-level ports are the ones the sim, the board wrapper rely on
//! (MAC-side 64-bit streams, a Wishbone-like register bus standing for BAR0,
//! an AXI4 write master and read master towards host memory (`m_axi_*`, docs/dma.md), a
//! microsecond tick input, `idle`).
use crate::regbus::{RegBus, LISTEN_PORTS, STAT_COUNT};
use crate::relay_regs::{RelayRegs, RELAY_SLOTS};
use crate::rx::RxParser;
use crate::channels::{HostOpSource, RingCopySource, RxDescSource, TxReqSource};
use crate::dma::{
    DmaRdCmdSource, DmaRdDataSource, DmaReader, DmaStreamSource, DmaWrCmdSource, DmaWriteArbiter, DmaWriter, EventQueueWriter,
    PayloadDma,
};
use crate::tx::TxFetch;
use crate::engine::TcbEngine;
use crate::tx_builder::TxBuilder;
use holdback_regmap::{CoreParams, Stat, MAX_RING_BITS};
use rust_hdl::prelude::*;

/// Connection-id bits of the default core (N = 1024 TCBs); [`verilog_for`]
/// generates the core for any of [`CONN_BITS_CHOICES`].
pub const CONN_BITS: usize = 10;
pub const NCONN: usize = 1 << CONN_BITS;
/// Bits of the engine's ring offset (the stream offset modulo 2^20): the
/// payload DMA reduces it to the ring size in use, RX_RING_LOG2 <= 20.
pub const RING_OFF_BITS: usize = MAX_RING_BITS;
/// Records in the event ring: 2N (`REF_BITS` of the core's parameters), so a
/// ring of records coalesced per connection (at most N waiting) never stalls
/// a host that keeps up.
pub const EQ_BITS: usize = CONN_BITS + 1;
/// The connection counts the core is generated for: N = 64, 1024 (the
/// default) and 4096 (each a const-generic instance of its own).
pub const CONN_BITS_CHOICES: [usize; 3] = crate::engine::CONN_BITS_CHOICES;
/// Burst limit of the DMA write engine, in 8-byte beats: an event record is
/// one burst.
pub const DMA_MAX_BEATS: u32 = 16;

#[derive(LogicBlock)]
/// `REF_BITS` is `CONN_BITS + 1` (2N hash buckets, 2N event records, a count
/// of 0..=N): a parameter because stable Rust cannot compute it.
pub struct HoldbackCore<const CONN_BITS: usize, const REF_BITS: usize> {
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
    // AXI4 write master towards host memory (AxSIZE = 3, INCR, ID 0 tied in the board wrapper).
    pub m_axi_awaddr: Signal<Out, Bits<64>>,
    pub m_axi_awlen: Signal<Out, Bits<8>>,
    pub m_axi_awvalid: Signal<Out, Bit>,
    pub m_axi_awready: Signal<In, Bit>,
    pub m_axi_wdata: Signal<Out, Bits<64>>,
    pub m_axi_wstrb: Signal<Out, Bits<8>>,
    pub m_axi_wlast: Signal<Out, Bit>,
    pub m_axi_wvalid: Signal<Out, Bit>,
    pub m_axi_wready: Signal<In, Bit>,
    pub m_axi_bresp: Signal<In, Bits<2>>,
    pub m_axi_bvalid: Signal<In, Bit>,
    pub m_axi_bready: Signal<Out, Bit>,
    // AXI4 read master towards host memory (AxSIZE = 3, INCR, ID 0): the transmit rings.
    pub m_axi_araddr: Signal<Out, Bits<64>>,
    pub m_axi_arlen: Signal<Out, Bits<8>>,
    pub m_axi_arvalid: Signal<Out, Bit>,
    pub m_axi_arready: Signal<In, Bit>,
    pub m_axi_rdata: Signal<In, Bits<64>>,
    pub m_axi_rresp: Signal<In, Bits<2>>,
    pub m_axi_rlast: Signal<In, Bit>,
    pub m_axi_rvalid: Signal<In, Bit>,
    pub m_axi_rready: Signal<Out, Bit>,
    pub idle: Signal<Out, Bit>,

    rx: RxParser,
    tx: TxBuilder,
    payload: PayloadDma<CONN_BITS>,
    engine: TcbEngine<CONN_BITS, REF_BITS>,
    regs: RegBus<CONN_BITS>,
    relay: RelayRegs,
    events: EventQueueWriter<CONN_BITS, REF_BITS, REF_BITS>,
    arbiter: DmaWriteArbiter,
    dma: DmaWriter,
    fetch: TxFetch,
    reader: DmaReader,
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
    m_dma_errors: Constant<Bits<STAT_COUNT>>,
}

impl<const CONN_BITS: usize, const REF_BITS: usize> HoldbackCore<CONN_BITS, REF_BITS> {
    pub fn new(build_id: u32) -> Self {
        let params = Self::params();
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
            m_axi_awaddr: Default::default(),
            m_axi_awlen: Default::default(),
            m_axi_awvalid: Default::default(),
            m_axi_awready: Default::default(),
            m_axi_wdata: Default::default(),
            m_axi_wstrb: Default::default(),
            m_axi_wlast: Default::default(),
            m_axi_wvalid: Default::default(),
            m_axi_wready: Default::default(),
            m_axi_bresp: Default::default(),
            m_axi_bvalid: Default::default(),
            m_axi_bready: Default::default(),
            m_axi_araddr: Default::default(),
            m_axi_arlen: Default::default(),
            m_axi_arvalid: Default::default(),
            m_axi_arready: Default::default(),
            m_axi_rdata: Default::default(),
            m_axi_rresp: Default::default(),
            m_axi_rlast: Default::default(),
            m_axi_rvalid: Default::default(),
            m_axi_rready: Default::default(),
            idle: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            payload: PayloadDma::new(),
            engine: TcbEngine::new(RING_OFF_BITS),
            regs: RegBus::new(params, 1 << REF_BITS, build_id),
            relay: Default::default(),
            events: EventQueueWriter::new(),
            arbiter: Default::default(),
            dma: DmaWriter::new(DMA_MAX_BEATS),
            fetch: Default::default(),
            reader: DmaReader::new(DMA_MAX_BEATS),
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
            m_dma_errors: Constant::new(Bits::<STAT_COUNT>::from(1u64 << Stat::DmaErrors.index())),
        }
    }

    /// The parameters this core is generated with, as the ID block reports them.
    pub fn params() -> CoreParams {
        CoreParams { conn_bits: CONN_BITS, ring_bits: MAX_RING_BITS }
    }
}

impl<const CONN_BITS: usize, const REF_BITS: usize> Logic for HoldbackCore<CONN_BITS, REF_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, rx, tx, payload, engine, regs, relay, events, arbiter, dma, fetch, reader);
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
        self.engine.our_ip.next = self.regs.our_ip.val();

        // The internal channels, one bundle each.
        RxDescSource::join(&mut self.rx.desc, &mut self.engine.desc);
        TxReqSource::join(&mut self.engine.tx, &mut self.tx.req);
        RingCopySource::<CONN_BITS>::join(&mut self.engine.ring, &mut self.payload.cmd);
        HostOpSource::<CONN_BITS>::join(&mut self.regs.hop, &mut self.engine.hop);

        // The frame buffer's one read port: the payload DMA while copying payload,
        // the frame builder otherwise (ICMP echo payload).
        self.rx.fb_raddr.next = self.tx.fb_raddr.val();
        if self.engine.fb_sel_ring.val() {
            self.rx.fb_raddr.next = self.payload.fb_raddr.val();
        }
        self.tx.fb_rdata.next = self.rx.fb_rdata.val();
        self.payload.fb_rdata.next = self.rx.fb_rdata.val();

        // The send path: the engine's segment reads go through the transmit fetch to the
        // DMA read engine; the builder takes the staged payload from the fetch's buffer.
        self.engine.tx_ring_base.next = self.regs.tx_ring_base.val();
        self.engine.tx_ring_log2.next = self.regs.tx_ring_log2.val();
        self.engine.rx_ring_base.next = self.regs.rx_ring_base.val();
        self.engine.rx_ring_log2.next = self.regs.rx_ring_log2.val();
        self.engine.rto_min_us.next = self.regs.rto_min_us.val();
        self.fetch.start.next = self.engine.fetch_start.val();
        self.fetch.addr0.next = self.engine.fetch_addr0.val();
        self.fetch.len0.next = self.engine.fetch_len0.val();
        self.fetch.addr1.next = self.engine.fetch_addr1.val();
        self.fetch.len1.next = self.engine.fetch_len1.val();
        self.engine.fetch_idle.next = self.fetch.idle.val();
        self.engine.fetch_staged.next = self.fetch.staged.val();
        self.engine.fetch_err.next = self.fetch.err.val();
        self.engine.fetch_sum.next = self.fetch.sum.val();
        DmaRdCmdSource::join(&mut self.fetch.cmd, &mut self.reader.cmd);
        DmaRdDataSource::join(&mut self.reader.out, &mut self.fetch.data);
        self.fetch.rd_addr.next = self.tx.pl_raddr.val();
        self.tx.pl_rdata.next = self.fetch.rd_data.val();
        self.m_axi_araddr.next = self.reader.ar.addr.val();
        self.m_axi_arlen.next = self.reader.ar.len.val();
        self.m_axi_arvalid.next = self.reader.ar.valid.val();
        self.reader.ar.ready.next = self.m_axi_arready.val();
        self.reader.r.data.next = self.m_axi_rdata.val();
        self.reader.r.resp.next = self.m_axi_rresp.val();
        self.reader.r.last.next = self.m_axi_rlast.val();
        self.reader.r.valid.next = self.m_axi_rvalid.val();
        self.m_axi_rready.next = self.reader.r.ready.val();

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
        // The relay registers decode the same registered bus; regbus answers
        // reads of them with their data (relay_regs.rs).
        self.relay.reg_addr.next = self.reg_addr_r.q.val();
        self.relay.reg_wdata.next = self.reg_wdata_r.q.val();
        self.relay.reg_we.next = self.reg_we_r.q.val();
        self.regs.ext_hit.next = self.relay.hit.val();
        self.regs.ext_rdata.next = self.relay.rdata.val();
        for i in 0..RELAY_SLOTS {
            self.engine.relay_ports[i].next = self.relay.relay_ports[i].val();
            self.engine.relay_ips[i].next = self.relay.relay_ips[i].val();
            self.engine.relay_macs[i].next = self.relay.relay_macs[i].val();
        }
        self.engine.relay_connect_us.next = self.relay.relay_connect_us.val();
        self.engine.tick_us.next = self.tick_r.q.val();
        self.engine.enable.next = self.regs.enable.val();
        self.engine.standby.next = self.regs.standby.val();
        self.engine.holdback_default.next = self.regs.holdback_default.val();
        for i in 0..LISTEN_PORTS {
            self.engine.listen_ports[i].next = self.regs.listen_ports[i].val();
        }
        self.engine.rto_us.next = self.regs.rto_us.val();
        self.engine.time_wait_us.next = self.regs.time_wait_us.val();
        self.engine.ka_idle_us.next = self.regs.ka_idle_us.val();
        self.engine.ka_intvl_us.next = self.regs.ka_intvl_us.val();
        self.engine.ka_probes.next = self.regs.ka_probes.val();
        self.engine.idle_timeout_us.next = self.regs.idle_timeout_us.val();
        self.engine.dup_acks.next = self.regs.dup_acks.val();
        self.engine.hold_synack.next = self.regs.hold_synack.val();
        self.engine.reassembly.next = self.regs.reassembly.val();
        self.engine.send_holdback.next = self.regs.send_holdback.val();
        self.engine.connect_ip.next = self.regs.connect_ip.val();
        self.engine.connect_ports.next = self.regs.connect_ports.val();
        self.engine.connect_mac_lo.next = self.regs.connect_mac_lo.val();
        self.engine.sack.next = self.regs.sack.val();
        self.engine.timestamps.next = self.regs.timestamps.val();
        self.engine.syn_cookies.next = self.regs.syn_cookies.val();
        self.engine.cookie_threshold.next = self.regs.cookie_threshold.val();
        self.engine.cookie_key0.next = self.regs.cookie_key0.val();
        self.engine.cookie_key1.next = self.regs.cookie_key1.val();
        self.regs.half_open.next = self.engine.half_open.val();
        self.engine.ts_clock_load.next = self.regs.ts_clock_load.val();
        self.engine.ts_clock_wdata.next = self.regs.ts_clock_wdata.val();
        self.regs.ts_ticks.next = self.engine.ts_ticks.val();
        self.engine.epoch.next = self.regs.epoch.val();
        self.engine.ring_window.next = self.regs.ring_window.val();
        self.engine.promote_req.next = self.regs.promote_req.val();
        self.regs.promote_start.next = self.engine.promote_start.val();
        self.regs.promote_end.next = self.engine.promote_end.val();
        self.regs.promoting.next = self.engine.promoting.val();
        self.regs.stat_inc.next = self.engine.stat_inc.val();
        // One write command completes per cycle at most: the two error strobes never coincide.
        if self.tx_frame_done.val() & (self.events.dma_err.val() | self.payload.err.val()) {
            self.regs.stat_inc.next = self.engine.stat_inc.val() | self.m_tx_frames.val() | self.m_dma_errors.val();
        } else if self.tx_frame_done.val() {
            self.regs.stat_inc.next = self.engine.stat_inc.val() | self.m_tx_frames.val();
        } else if self.events.dma_err.val() | self.payload.err.val() {
            self.regs.stat_inc.next = self.engine.stat_inc.val() | self.m_dma_errors.val();
        }
        self.regs.stat_bytes.next = self.engine.stat_bytes.val();
        self.regs.now_us.next = self.engine.now_us.val();
        self.regs.open_conns.next = self.engine.open_conns.val();
        // Event writer: one record per TCB change, the whole TCB from its copy of the table.
        self.events.changed.next = self.engine.chlog_push.val();
        self.events.changed_conn.next = self.engine.chlog_id.val();
        self.events.tcb_we.next = self.engine.tcb_we.val();
        self.events.tcb_waddr.next = self.engine.tcb_waddr.val();
        self.events.tcb_wdata.next = self.engine.tcb_wdata.val();
        self.events.enable.next = self.regs.eq_enable.val();
        self.events.ring_base.next = self.regs.eq_base.val();
        self.events.cons_idx.next = self.regs.eq_cons.val();
        self.regs.eq_prod.next = self.events.prod_idx.val();
        self.regs.eq_active.next = self.events.active.val();

        // Payload into the host's receive rings.
        self.payload.ring_base.next = self.regs.rx_ring_base.val();
        self.payload.ring_log2.next = self.regs.rx_ring_log2.val();

        // One DMA write engine for both, a whole command at a time: a segment's
        // payload is in host memory before the record of the TCB write that follows it.
        DmaWrCmdSource::join(&mut self.payload.wr, &mut self.arbiter.req0_cmd);
        DmaStreamSource::join(&mut self.payload.data, &mut self.arbiter.req0_data);
        DmaWrCmdSource::join(&mut self.events.dma, &mut self.arbiter.req1_cmd);
        DmaStreamSource::join(&mut self.events.data, &mut self.arbiter.req1_data);
        self.arbiter.req0_queued.next = self.payload.queued.val();
        self.arbiter.req1_snap.next = self.events.snap.val();
        DmaWrCmdSource::join(&mut self.arbiter.cmd, &mut self.dma.cmd);
        DmaStreamSource::join(&mut self.arbiter.data, &mut self.dma.data);

        // The DMA write engine's AXI4 master, flattened to the top-level port names.
        self.m_axi_awaddr.next = self.dma.aw.addr.val();
        self.m_axi_awlen.next = self.dma.aw.len.val();
        self.m_axi_awvalid.next = self.dma.aw.valid.val();
        self.dma.aw.ready.next = self.m_axi_awready.val();
        self.m_axi_wdata.next = self.dma.w.data.val();
        self.m_axi_wstrb.next = self.dma.w.strb.val();
        self.m_axi_wlast.next = self.dma.w.last.val();
        self.m_axi_wvalid.next = self.dma.w.valid.val();
        self.dma.w.ready.next = self.m_axi_wready.val();
        self.dma.b.resp.next = self.m_axi_bresp.val();
        self.dma.b.valid.next = self.m_axi_bvalid.val();
        self.m_axi_bready.next = self.dma.b.ready.val();


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
            & self.fetch.idle.val()
            & !self.rx_in_flight.q.val().any()
            & !self.tx.req.busy.val()
            & self.payload.idle.val()
            & self.events.idle.val()
            & self.dma.quiet.val();
        self.idle.next = self.engine.idle.val()
            & self.fetch.idle.val()
            & !self.rx_in_flight.q.val().any()
            & !self.tx.req.busy.val()
            & self.payload.idle.val()
            & self.events.idle.val()
            & self.dma.quiet.val()
            & self.regs.idle.val();
    }
}

/// The default core: N = 1024.
pub type DefaultCore = HoldbackCore<CONN_BITS, EQ_BITS>;

fn generate(conn_bits: usize, build_id: u32) -> Result<String, crate::generate::GenError> {
    use crate::generate::verilog_named;
    match conn_bits {
        6 => verilog_named(&mut HoldbackCore::<6, 7>::new(build_id), "holdback_core"),
        10 => verilog_named(&mut HoldbackCore::<10, 11>::new(build_id), "holdback_core"),
        12 => verilog_named(&mut HoldbackCore::<12, 13>::new(build_id), "holdback_core"),
        _ => Err(crate::generate::GenError {
            block: "holdback_core",
            cause: format!("no instance for {conn_bits} connection-id bits (generated: {CONN_BITS_CHOICES:?})"),
        }),
    }
}

/// The default core's Verilog (N = 1024).
pub fn verilog() -> Result<String, crate::generate::GenError> {
    verilog_for(CONN_BITS)
}

/// The core's Verilog for N = 2^`conn_bits` (one of [`CONN_BITS_CHOICES`]).
/// ID_BUILD carries the hash of the text generated with a zero build id, so
/// two different cores report different ids; ID_CONNS reports N.
pub fn verilog_for(conn_bits: usize) -> Result<String, crate::generate::GenError> {
    let id = crate::generate::build_id(&generate(conn_bits, 0)?);
    generate(conn_bits, id)
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
