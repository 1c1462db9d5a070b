//! The card's DMA master: the core writes and reads host memory through it,
//! and it speaks an AXI4 master towards the PCIe IP (docs/dma.md says which
//! IP and how the ports map onto it).
//!
//! Request side (the core): a write is a command (64-bit host byte address,
//! byte length) plus a stream of 64-bit beats carrying the bytes in order,
//! stream byte `i` of beat `k` in bits `8(i-8k)+7 : 8(i-8k)` (byte 0 in the
//! low lane, as AXI-Stream); `done` strobes once every burst of the command
//! has its write response. A read is a command; the bytes come back as the
//! same kind of stream, `last` on its final beat.
//!
//! Master side (the PCIe IP): AXI4 channels AW/W/B and AR/R, 64-bit data,
//! INCR bursts of 8-byte beats (AxSIZE = 3, AxBURST = INCR are implied and
//! tied off in the board wrapper), at most `max_beats` beats per burst (a
//! generation parameter, 1..=256) and never across a 4 KiB boundary. An
//! unaligned start or end is handled with byte strobes, always contiguous
//! (the AXI bridge for PCIe refuses holes), and the stream is shifted onto the
//! bus lanes: host byte `A` travels in lane `A & 7`.
//!
//! Writes are pipelined: a write command is accepted once the previous one's
//! last data beat has left for the bus, while its responses may still be
//! owed (up to 32 bursts, all with one AXI ID, so the slave answers and
//! completes them in issue order), and `done` strobes per command in the order
//! the commands came. A read command is accepted once the previous read's last
//! beat has been taken from the bus. Bursts inside a command overlap (the next
//! address goes out while the data of the current burst still flows).
use rust_hdl::prelude::*;

pub mod arbiter;
pub mod burst;
pub mod event_queue;
pub mod order;
pub mod payload;
pub mod read;
pub mod write;

pub use burst::{BurstIssuer, BurstSplit, CmdBeats};
pub use arbiter::DmaWriteArbiter;
pub use event_queue::{EventQueueOverDma, EventQueueWriter};
pub use payload::PayloadDma;
pub use read::DmaReader;
pub use write::DmaWriter;

/// Width of a request's byte length: a command moves 0..=65535 bytes
/// (0 completes at once and touches nothing).
pub const LEN_BITS: usize = 16;
/// Bus beats a command can span: ceil((7 + 65535) / 8) = 8193 < 2^14.
pub const BEAT_BITS: usize = 14;

/// AXI4 AW or AR: one burst of `len + 1` beats of 8 bytes from `addr`.
#[derive(LogicInterface, Default)]
#[join = "AxiAddrSink"]
pub struct AxiAddrSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    /// Byte address; only the first burst of a command may be unaligned.
    pub addr: Signal<Out, Bits<64>>,
    /// Beats minus one (AxLEN).
    pub len: Signal<Out, Bits<8>>,
}

#[derive(LogicInterface, Default)]
#[join = "AxiAddrSource"]
pub struct AxiAddrSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub addr: Signal<In, Bits<64>>,
    pub len: Signal<In, Bits<8>>,
}

/// AXI4 W: one beat of write data; `strb` bit `l` enables lane `l`.
#[derive(LogicInterface, Default)]
#[join = "AxiWSink"]
pub struct AxiWSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub data: Signal<Out, Bits<64>>,
    pub strb: Signal<Out, Bits<8>>,
    pub last: Signal<Out, Bit>,
}

#[derive(LogicInterface, Default)]
#[join = "AxiWSource"]
pub struct AxiWSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub data: Signal<In, Bits<64>>,
    pub strb: Signal<In, Bits<8>>,
    pub last: Signal<In, Bit>,
}

/// AXI4 B: one write response per burst (`resp` 0 = OKAY).
#[derive(LogicInterface, Default)]
#[join = "AxiBSink"]
pub struct AxiBSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub resp: Signal<Out, Bits<2>>,
}

#[derive(LogicInterface, Default)]
#[join = "AxiBSource"]
pub struct AxiBSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub resp: Signal<In, Bits<2>>,
}

/// AXI4 R: one beat of read data (`resp` 0 = OKAY, `last` ends a burst).
#[derive(LogicInterface, Default)]
#[join = "AxiRSink"]
pub struct AxiRSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub data: Signal<Out, Bits<64>>,
    pub resp: Signal<Out, Bits<2>>,
    pub last: Signal<Out, Bit>,
}

#[derive(LogicInterface, Default)]
#[join = "AxiRSource"]
pub struct AxiRSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub data: Signal<In, Bits<64>>,
    pub resp: Signal<In, Bits<2>>,
    pub last: Signal<In, Bit>,
}

/// Core -> DMA master: write `len` bytes at host address `addr`. The bytes
/// follow on a [`DmaStreamSource`]; `done` strobes (with `err` = some burst
/// got a non-OKAY response) when the host acknowledged every burst.
#[derive(LogicInterface, Default)]
#[join = "DmaWrCmdSink"]
pub struct DmaWrCmdSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub addr: Signal<Out, Bits<64>>,
    pub len: Signal<Out, Bits<LEN_BITS>>,
    pub done: Signal<In, Bit>,
    pub err: Signal<In, Bit>,
}

#[derive(LogicInterface, Default)]
#[join = "DmaWrCmdSource"]
pub struct DmaWrCmdSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub addr: Signal<In, Bits<64>>,
    pub len: Signal<In, Bits<LEN_BITS>>,
    pub done: Signal<Out, Bit>,
    pub err: Signal<Out, Bit>,
}

/// Core -> DMA master: the bytes of a write, 8 per beat, byte 0 in bits 7:0;
/// `ceil(len / 8)` beats per command, the last one's unused lanes ignored.
#[derive(LogicInterface, Default)]
#[join = "DmaStreamSink"]
pub struct DmaStreamSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub data: Signal<Out, Bits<64>>,
}

#[derive(LogicInterface, Default)]
#[join = "DmaStreamSource"]
pub struct DmaStreamSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub data: Signal<In, Bits<64>>,
}

/// Core -> DMA master: read `len` bytes from host address `addr`.
#[derive(LogicInterface, Default)]
#[join = "DmaRdCmdSink"]
pub struct DmaRdCmdSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub addr: Signal<Out, Bits<64>>,
    pub len: Signal<Out, Bits<LEN_BITS>>,
}

#[derive(LogicInterface, Default)]
#[join = "DmaRdCmdSource"]
pub struct DmaRdCmdSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub addr: Signal<In, Bits<64>>,
    pub len: Signal<In, Bits<LEN_BITS>>,
}

/// DMA master -> core: the bytes read, as [`DmaStreamSource`] does them;
/// `last` on the command's final beat, `err` with it when some burst got a
/// non-OKAY response or a misplaced RLAST (the data is then not to be trusted).
#[derive(LogicInterface, Default)]
#[join = "DmaRdDataSink"]
pub struct DmaRdDataSource {
    pub valid: Signal<Out, Bit>,
    pub ready: Signal<In, Bit>,
    pub data: Signal<Out, Bits<64>>,
    pub last: Signal<Out, Bit>,
    pub err: Signal<Out, Bit>,
}

#[derive(LogicInterface, Default)]
#[join = "DmaRdDataSource"]
pub struct DmaRdDataSink {
    pub valid: Signal<In, Bit>,
    pub ready: Signal<Out, Bit>,
    pub data: Signal<In, Bits<64>>,
    pub last: Signal<In, Bit>,
    pub err: Signal<In, Bit>,
}

/// The write and the read engine side by side: the whole memory port.
#[derive(LogicBlock)]
pub struct DmaMaster {
    pub clock: Signal<In, Clock>,
    pub wr_cmd: DmaWrCmdSink,
    pub wr_data: DmaStreamSink,
    pub rd_cmd: DmaRdCmdSink,
    pub rd_data: DmaRdDataSource,
    pub aw: AxiAddrSource,
    pub w: AxiWSource,
    pub b: AxiBSink,
    pub ar: AxiAddrSource,
    pub r: AxiRSink,
    /// Every write taken so far is complete ([`DmaWriter::quiet`]).
    pub wr_quiet: Signal<Out, Bit>,
    writer: DmaWriter,
    reader: DmaReader,
}

impl DmaMaster {
    /// A master whose bursts carry at most `max_beats` 8-byte beats.
    ///
    /// # Panics
    /// If `max_beats` is not in 1..=256 (AXI4's AxLEN): a build-time
    /// configuration error.
    pub fn new(max_beats: u32) -> DmaMaster {
        DmaMaster {
            clock: Default::default(),
            wr_cmd: Default::default(),
            wr_data: Default::default(),
            rd_cmd: Default::default(),
            rd_data: Default::default(),
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
            ar: Default::default(),
            r: Default::default(),
            wr_quiet: Default::default(),
            writer: DmaWriter::new(max_beats),
            reader: DmaReader::new(max_beats),
        }
    }
}

impl Logic for DmaMaster {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, writer, reader);
        DmaWrCmdSink::link(&mut self.wr_cmd, &mut self.writer.cmd);
        DmaStreamSink::link(&mut self.wr_data, &mut self.writer.data);
        AxiAddrSource::link(&mut self.aw, &mut self.writer.aw);
        AxiWSource::link(&mut self.w, &mut self.writer.w);
        AxiBSink::link(&mut self.b, &mut self.writer.b);
        self.wr_quiet.next = self.writer.quiet.val();
        DmaRdCmdSink::link(&mut self.rd_cmd, &mut self.reader.cmd);
        DmaRdDataSource::link(&mut self.rd_data, &mut self.reader.out);
        AxiAddrSource::link(&mut self.ar, &mut self.reader.ar);
        AxiRSink::link(&mut self.r, &mut self.reader.r);
    }
}

/// The Verilated test instances, `module dma_master_b<N>` with N-beat
/// bursts: two beats (many bursts per command), a PCIe-sized 128 bytes, and
/// AXI4's maximum of 256 beats (then only the 4 KiB rule splits).
pub const TEST_INSTANCES: [(u32, &str); 3] = [(2, "dma_master_b2"), (16, "dma_master_b16"), (256, "dma_master_b256")];

/// The Verilog of every test instance.
pub fn test_models() -> Result<Vec<crate::generate::ModelSource>, crate::generate::GenError> {
    TEST_INSTANCES
        .iter()
        .map(|&(max_beats, name)| {
            let verilog = crate::generate::verilog_named(&mut DmaMaster::new(max_beats), name)?;
            Ok(crate::generate::ModelSource { name, verilog })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dma_master_lints_clean_and_synthesizes() {
        for m in super::test_models().expect("generates") {
            crate::check::lint(m.name, &m.verilog).unwrap_or_else(|e| panic!("lint:\n{e}"));
            // Area barely depends on the burst limit (one constant): one synthesis run.
            if m.name == "dma_master_b16" {
                let area = crate::check::synth(m.name, &m.verilog).unwrap_or_else(|e| panic!("{e}"));
                eprintln!("{} area: {area:?}", m.name);
                assert!(area.luts > 0);
            }
        }
    }
}
