//! Guest half of tests/qemu/vfio-guest.sh: drives holdback's GENERIC VFIO
//! layer (`holdback_driver::vfio`, no raw ioctls) against QEMU's `edu` device
//! and a virtio-rng device inside a q35 guest with an emulated IOMMU.
//!
//! One line per check (`ok N - …` / `FAIL N - …`), then `P passed, F failed`;
//! exit status 0 only if nothing failed.
//!
//! `HOLDBACK_TEST=no-iommu`: the guest has no IOMMU; opening must fail with
//! the documented "no IOMMU group" error (not a panic).
use std::process::ExitCode;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use holdback_driver::event_queue::{EventQueueConsumer, EventRecord, EventRing};
use holdback_driver::host_mem::{HostRings, RingLayout, VfioDmaAllocator, MIN_RX_RING_BYTES};
use holdback_driver::regmap::event_queue::EVENT_RECORD_BYTES;
use holdback_driver::Tcb;
use holdback_driver::vfio::{
    open_card, BarMapping, DmaBuffer, IrqKind, OpenCardError, PciAddress, VfioError, VfioPciDevice,
};
use holdback_driver::regmap::{SeqNum, TcpState};

const EDU: &str = "0000:00:04.0";
const RNG: &str = "0000:00:05.0";

// edu registers (QEMU docs/specs/edu.rst).
const EDU_ID: u64 = 0x00;
const EDU_LIVENESS: u64 = 0x04;
const EDU_IRQ_STATUS: u64 = 0x24;
const EDU_IRQ_RAISE: u64 = 0x60;
const EDU_IRQ_ACK: u64 = 0x64;
const EDU_DMA_SRC: u64 = 0x80;
const EDU_DMA_DST: u64 = 0x88;
const EDU_DMA_COUNT: u64 = 0x90;
const EDU_DMA_CMD: u64 = 0x98;
const EDU_DMA_START: u64 = 1;
const EDU_DMA_TO_RAM: u64 = 2;
/// edu's internal DMA buffer, in its own address space.
const EDU_BUFFER: u64 = 0x40000;

// IOVAs: below 256 MiB (edu's default 28-bit DMA mask).
const IOVA_ROUND_TRIP: u64 = 0x10_0000;
const IOVA_UNMAPPED: u64 = 0x20_0000;
const IOVA_VIRTQ: u64 = 0x30_0000;
const IOVA_EVENT_RING: u64 = 0x40_0000;
const IOVA_EVENT_STAGE: u64 = 0x50_0000;
const DMA_LEN: usize = 1024;
const PATTERN_SEED: u64 = 0x005e_ed0f_b01d;

type Check = Result<String, String>;

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s += &format!(": {inner}");
        src = inner.source();
    }
    s
}

fn err(e: VfioError) -> String {
    chain(&e)
}

/// Deterministic bytes (xorshift64*) so a failure can be replayed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

struct Report {
    n: usize,
    passed: usize,
    failed: usize,
}

impl Report {
    fn record(&mut self, name: &str, r: Check) {
        self.n += 1;
        match r {
            Ok(detail) => {
                self.passed += 1;
                println!("ok {} - {name}: {detail}", self.n);
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL {} - {name}: {why}", self.n);
            }
        }
    }
}

fn open(bdf: &str) -> Result<VfioPciDevice, String> {
    let addr: PciAddress = bdf.parse().map_err(err)?;
    let dev = VfioPciDevice::open(&addr).map_err(err)?;
    dev.enable_bus_master().map_err(err)?;
    Ok(dev)
}

/// Run an edu DMA and wait (wall-clock bounded) for the device to finish.
fn edu_dma(bar: &BarMapping, src: u64, dst: u64, len: u64, to_ram: bool) -> Result<(), String> {
    let r = |e| format!("{e}");
    bar.write64(EDU_DMA_SRC, src).map_err(r)?;
    bar.write64(EDU_DMA_DST, dst).map_err(r)?;
    bar.write64(EDU_DMA_COUNT, len).map_err(r)?;
    fence(Ordering::SeqCst);
    let cmd = EDU_DMA_START | if to_ram { EDU_DMA_TO_RAM } else { 0 };
    bar.write64(EDU_DMA_CMD, cmd).map_err(r)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while bar.read64(EDU_DMA_CMD).map_err(r)? & EDU_DMA_START != 0 {
        if Instant::now() > deadline {
            return Err(format!("DMA {src:#x} -> {dst:#x} did not complete within 20 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    fence(Ordering::SeqCst);
    Ok(())
}

fn read_buf(buf: &DmaBuffer, offset: usize, len: usize) -> Result<Vec<u8>, String> {
    let mut v = vec![0u8; len];
    buf.read_bytes(offset, &mut v).map_err(err)?;
    Ok(v)
}

fn edu_checks(report: &mut Report) {
    let opened = open(EDU).and_then(|dev| {
        let bar = dev.map_bar(0).map_err(err)?;
        Ok((dev, bar))
    });
    let (dev, bar) = match opened {
        Ok(x) => x,
        Err(why) => {
            for name in ["edu identification", "edu liveness inversion", "edu 64-bit register", "edu DMA round trip",
                "edu DMA to an unmapped IOVA is blocked", "event ring in DMA memory, written by the device", "edu MSI"]
            {
                report.record(name, Err(format!("opening {EDU}: {why}")));
            }
            return;
        }
    };

    report.record("edu identification", (|| {
        let id = bar.read32(EDU_ID).map_err(|e| e.to_string())?;
        if id & 0xffff == 0x00ed {
            Ok(format!("{id:#010x} (edu v{}.{}), {} mapped from the device fd", id >> 24, (id >> 16) & 0xff, bar.name()))
        } else {
            Err(format!("read {id:#010x}, want 0x....00ed"))
        }
    })());

    report.record("edu liveness inversion", (|| {
        for v in [0x1234_5678u32, 0xdead_beef, 0] {
            bar.write32(EDU_LIVENESS, v).map_err(|e| e.to_string())?;
            let back = bar.read32(EDU_LIVENESS).map_err(|e| e.to_string())?;
            if back != !v {
                return Err(format!("wrote {v:#010x}, read {back:#010x}, want {:#010x}", !v));
            }
        }
        Ok("3 values read back inverted".into())
    })());

    report.record("edu 64-bit register", (|| {
        let v = 0x0123_4567_89ab_cdefu64;
        bar.write64(EDU_DMA_SRC, v).map_err(|e| e.to_string())?;
        let back = bar.read64(EDU_DMA_SRC).map_err(|e| e.to_string())?;
        if back == v {
            Ok(format!("DMA source register kept {back:#018x} through one 8-byte store and load"))
        } else {
            Err(format!("wrote {v:#018x}, read {back:#018x}"))
        }
    })());

    let data = pattern(PATTERN_SEED, DMA_LEN);
    let round_trip = (|| {
        let buf = dev.dma_alloc(IOVA_ROUND_TRIP, 0x2000).map_err(err)?;
        buf.write_bytes(0, &data).map_err(err)?;
        edu_dma(&bar, IOVA_ROUND_TRIP, EDU_BUFFER, DMA_LEN as u64, false)?;
        edu_dma(&bar, EDU_BUFFER, IOVA_ROUND_TRIP + 0x1000, DMA_LEN as u64, true)?;
        let back = read_buf(&buf, 0x1000, DMA_LEN)?;
        if back == data {
            Ok((buf, format!("{DMA_LEN} bytes (seed {PATTERN_SEED:#x}) RAM -> edu -> RAM through IOVA {IOVA_ROUND_TRIP:#x}")))
        } else {
            let first = back.iter().zip(&data).position(|(a, b)| a != b).unwrap_or(0);
            Err(format!("byte {first} came back {:#04x}, sent {:#04x}", back[first], data[first]))
        }
    })();
    let buf = match round_trip {
        Ok((buf, detail)) => {
            report.record("edu DMA round trip", Ok(detail));
            Some(buf)
        }
        Err(why) => {
            report.record("edu DMA round trip", Err(why));
            None
        }
    };

    report.record("edu DMA to an unmapped IOVA is blocked", (|| {
        let buf = buf.as_ref().ok_or("needs the round-trip buffer")?;
        // A buffer that WAS mapped and then unmapped: if the IOMMU let the
        // device through, the victim memory would change.
        let mut victim = dev.dma_alloc(IOVA_UNMAPPED, 0x1000).map_err(err)?;
        let victim_data = pattern(PATTERN_SEED ^ 0xffff, DMA_LEN);
        victim.write_bytes(0, &victim_data).map_err(err)?;
        victim.unmap().map_err(err)?;
        // edu's buffer still holds `data` from the round trip.
        edu_dma(&bar, EDU_BUFFER, IOVA_UNMAPPED, DMA_LEN as u64, true)?;
        if read_buf(&victim, 0, DMA_LEN)? != victim_data {
            return Err("device -> RAM DMA to the unmapped IOVA changed the memory behind it".into());
        }
        edu_dma(&bar, IOVA_UNMAPPED, EDU_BUFFER, DMA_LEN as u64, false)?;
        edu_dma(&bar, EDU_BUFFER, IOVA_ROUND_TRIP + 0x1000, DMA_LEN as u64, true)?;
        if read_buf(buf, 0x1000, DMA_LEN)? == victim_data {
            return Err("RAM -> device DMA from the unmapped IOVA read the memory behind it".into());
        }
        Ok(format!("write to and read from IOVA {IOVA_UNMAPPED:#x} (unmapped) left memory untouched and unread; device still completes DMAs"))
    })());
    drop(buf);

    report.record("event ring in DMA memory, written by the device", event_ring_check(&dev, &bar));

    report.record("edu MSI", (|| {
        let irqs = dev.enable_interrupts(IrqKind::Msi, 1).map_err(err)?;
        let e = |e: holdback_driver::vfio::RegisterError| e.to_string();
        let before = irqs.take(0).map_err(err)?;
        bar.write32(EDU_IRQ_RAISE, 0x1).map_err(e)?;
        let t = Instant::now();
        let n = irqs.wait(0, Duration::from_secs(10)).map_err(err)?;
        let status = bar.read32(EDU_IRQ_STATUS).map_err(e)?;
        bar.write32(EDU_IRQ_ACK, status).map_err(e)?;
        if status & 1 == 0 {
            return Err(format!("eventfd fired but edu's interrupt status is {status:#x}"));
        }
        Ok(format!("{n} interrupt(s) on the eventfd {:?} after raising (stale before: {before}), status {status:#x}", t.elapsed()))
    })());

    drop(bar);
    if let Err(e) = dev.close() {
        println!("# closing {EDU}: {}", err(e));
    }
}

/// The host's event ring as the card layer allocates it
/// (`HostRings::allocate`, the code `CardHandle::attach_host_memory` runs),
/// in VFIO DMA memory mapped through the IOMMU: edu writes each record into
/// its slot by DMA, as the card's event-queue writer would, and the
/// consumer must take records only by their phase bit, across a lap of a
/// two-slot ring.
fn event_ring_check(dev: &VfioPciDevice, bar: &BarMapping) -> Check {
    let ring = EventRing::new(1).map_err(|e| e.to_string())?;
    let layout = RingLayout::new(2, MIN_RX_RING_BYTES, ring).map_err(|e| chain(&e))?;
    let rings = HostRings::allocate(&VfioDmaAllocator { device: dev, iova: IOVA_EVENT_RING }, layout).map_err(|e| chain(&e))?;
    let mut consumer = EventQueueConsumer::new(ring);
    let stage = dev.dma_alloc(IOVA_EVENT_STAGE, 0x1000).map_err(err)?;
    let poll = |consumer: &mut EventQueueConsumer| consumer.poll(&rings.event_memory()).map_err(|e| e.to_string());
    for k in 0..3u16 {
        if let Some(r) = poll(&mut consumer)? {
            return Err(format!("record {k} taken before the device wrote it: {r:?}"));
        }
        let tcb = Tcb {
            state: TcpState::Established,
            holdback: true,
            fin_rcvd: k == 2,
            send_hold: false,
            close_asked: false,
            rcv_nxt: SeqNum(0xffff_fff0 + k as u32),
            rel: SeqNum(0xffff_ff00),
            ack_sent: SeqNum(0xffff_ff00),
            epoch: 7,
            gen: 100 + k as u32,
            ..Tcb::closed()
        };
        let rec = EventRecord { conn: k, tcb };
        stage.write_bytes(0, &rec.to_bytes(ring.phase(k))).map_err(err)?;
        edu_dma(bar, IOVA_EVENT_STAGE, EDU_BUFFER, EVENT_RECORD_BYTES as u64, false)?;
        edu_dma(bar, EDU_BUFFER, rings.event_ring_iova() + ring.offset(k) as u64, EVENT_RECORD_BYTES as u64, true)?;
        match poll(&mut consumer)? {
            Some(got) if got == rec => {}
            other => return Err(format!("after the device wrote record {k}: got {other:?}, want {rec:?}")),
        }
    }
    Ok(format!(
        "3 records DMA'd by the device into the {}-slot event ring the card layer allocated at IOVA {:#x}, each taken once by its phase bit (consumed {})",
        ring.entries(),
        rings.event_ring_iova(),
        consumer.consumed()
    ))
}

/// virtio-pci modern capability (virtio 1.x §4.1.4).
#[derive(Debug, Clone, Copy)]
struct VirtioCap {
    bar: u8,
    offset: u32,
    notify_mult: u32,
}

fn virtio_caps(dev: &VfioPciDevice) -> Result<[Option<VirtioCap>; 6], String> {
    let mut caps = [None; 6];
    let status: u16 = dev.config_read(0x06).map_err(err)?;
    if status & 0x10 == 0 {
        return Err("no PCI capability list".into());
    }
    let mut ptr: u8 = dev.config_read(0x34).map_err(err)?;
    let mut hops = 0;
    while ptr != 0 && hops < 48 {
        let p = ptr as u64 & !3;
        let id: u8 = dev.config_read(p).map_err(err)?;
        if id == 0x09 {
            let cfg_type: u8 = dev.config_read(p + 3).map_err(err)?;
            let bar: u8 = dev.config_read(p + 4).map_err(err)?;
            let offset: u32 = dev.config_read(p + 8).map_err(err)?;
            let notify_mult: u32 = if cfg_type == 2 { dev.config_read(p + 16).map_err(err)? } else { 0 };
            if (1..=5).contains(&cfg_type) && caps[cfg_type as usize].is_none() {
                caps[cfg_type as usize] = Some(VirtioCap { bar, offset, notify_mult });
            }
        }
        ptr = dev.config_read(p + 1).map_err(err)?;
        hops += 1;
    }
    Ok(caps)
}

fn rng_msix() -> Check {
    let dev = open(RNG)?;
    let caps = virtio_caps(&dev)?;
    let common = caps[1].ok_or("no virtio common-config capability")?;
    let notify = caps[2].ok_or("no virtio notify capability")?;
    if common.bar != notify.bar {
        return Err(format!("common config in BAR{} but notify in BAR{}: not supported here", common.bar, notify.bar));
    }
    let bar = dev.map_bar(common.bar as u32).map_err(err)?;
    let e = |e: holdback_driver::vfio::RegisterError| e.to_string();
    let c = common.offset as u64;
    // Reset, then ACKNOWLEDGE | DRIVER.
    bar.write::<u8>(c + 0x14, 0).map_err(e)?;
    let t = Instant::now();
    while bar.read::<u8>(c + 0x14).map_err(e)? != 0 {
        if t.elapsed() > Duration::from_secs(5) {
            return Err("virtio reset did not complete".into());
        }
    }
    bar.write::<u8>(c + 0x14, 1 | 2).map_err(e)?;
    // Features: VERSION_1 (32) and ACCESS_PLATFORM (33: DMA goes through the IOMMU).
    bar.write32(c, 1).map_err(e)?;
    let hi = bar.read32(c + 0x04).map_err(e)?;
    if hi & 1 == 0 {
        return Err(format!("device lacks VIRTIO_F_VERSION_1 (features[63:32] = {hi:#x})"));
    }
    bar.write32(c + 0x08, 1).map_err(e)?;
    bar.write32(c + 0x0c, hi & 0b11).map_err(e)?;
    bar.write32(c + 0x08, 0).map_err(e)?;
    bar.write32(c + 0x0c, 0).map_err(e)?;
    bar.write::<u8>(c + 0x14, 1 | 2 | 8).map_err(e)?;
    if bar.read::<u8>(c + 0x14).map_err(e)? & 8 == 0 {
        return Err("device refused FEATURES_OK".into());
    }
    // Vectors: 0 for config changes, 1 for queue 0.
    let irqs = dev.enable_interrupts(IrqKind::Msix, 2).map_err(err)?;
    bar.write::<u16>(c + 0x10, 0).map_err(e)?;
    bar.write::<u16>(c + 0x16, 0).map_err(e)?;
    let qmax = bar.read::<u16>(c + 0x18).map_err(e)?;
    let qsize = qmax.min(8);
    if qsize == 0 {
        return Err("queue 0 does not exist".into());
    }
    bar.write::<u16>(c + 0x18, qsize).map_err(e)?;
    bar.write::<u16>(c + 0x1a, 1).map_err(e)?;
    let vec = bar.read::<u16>(c + 0x1a).map_err(e)?;
    if vec != 1 {
        return Err(format!("queue MSI-X vector reads {vec:#x} after writing 1"));
    }
    // Split virtqueue in one DMA buffer: descriptors, avail ring, used ring, data.
    let q = dev.dma_alloc(IOVA_VIRTQ, 0x4000).map_err(err)?;
    let half = |v: u64, off: u64| -> Result<(), String> {
        bar.write32(c + off, v as u32).map_err(e)?;
        bar.write32(c + off + 4, (v >> 32) as u32).map_err(e)
    };
    half(IOVA_VIRTQ, 0x20)?;
    half(IOVA_VIRTQ + 0x1000, 0x28)?;
    half(IOVA_VIRTQ + 0x2000, 0x30)?;
    let notify_off = bar.read::<u16>(c + 0x1e).map_err(e)?;
    bar.write::<u16>(c + 0x1c, 1).map_err(e)?;
    bar.write::<u8>(c + 0x14, 1 | 2 | 8 | 4).map_err(e)?;
    // One device-writable 64-byte buffer.
    q.write::<u64>(0, IOVA_VIRTQ + 0x3000).map_err(err)?;
    q.write::<u32>(8, 64).map_err(err)?;
    q.write::<u16>(12, 2).map_err(err)?; // VIRTQ_DESC_F_WRITE
    q.write::<u16>(0x1004, 0).map_err(err)?; // avail.ring[0] = desc 0
    fence(Ordering::SeqCst);
    q.write::<u16>(0x1002, 1).map_err(err)?; // avail.idx
    fence(Ordering::SeqCst);
    let before = irqs.take(1).map_err(err)?;
    bar.write::<u16>(notify.offset as u64 + notify_off as u64 * notify.notify_mult as u64, 0).map_err(e)?;
    let t = Instant::now();
    let n = irqs.wait(1, Duration::from_secs(10)).map_err(err)?;
    let used_idx = q.read::<u16>(0x2002).map_err(err)?;
    let used_len = q.read::<u32>(0x2008).map_err(err)?;
    let bytes = read_buf(&q, 0x3000, 64)?;
    // Stop the device before its queue memory goes away.
    bar.write::<u8>(c + 0x14, 0).map_err(e)?;
    drop(irqs);
    drop(q);
    drop(bar);
    if let Err(e) = dev.close() {
        println!("# closing {RNG}: {}", err(e));
    }
    if used_idx != 1 || used_len == 0 || used_len > 64 {
        return Err(format!("MSI-X fired but used.idx = {used_idx}, used.len = {used_len}"));
    }
    if bytes[..used_len as usize].iter().all(|&b| b == 0) {
        return Err(format!("device reported {used_len} random bytes but the buffer is all zero"));
    }
    Ok(format!(
        "vector 1 fired {n}x after {:?} (stale before: {before}); {used_len} random bytes DMA'd through IOVA {:#x}",
        t.elapsed(),
        IOVA_VIRTQ + 0x3000
    ))
}

fn no_iommu_checks(report: &mut Report) {
    let addr: PciAddress = match EDU.parse() {
        Ok(a) => a,
        Err(e) => return report.record("address", Err(err(e))),
    };
    report.record("generic layer without an IOMMU: documented error", match VfioPciDevice::open(&addr) {
        Err(e @ VfioError::NoIommuGroup { .. }) => Ok(format!("error: {e}")),
        Err(other) => Err(format!("wrong error: {}", err(other))),
        Ok(_) => Err("opened a device with no IOMMU group".into()),
    });
    report.record("card layer without an IOMMU: documented error", match open_card(&format!("vfio:{EDU}")) {
        Err(OpenCardError::Vfio(VfioError::NoIommuGroup { .. })) => Ok("open_card reports NoIommuGroup".into()),
        Err(other) => Err(format!("wrong error: {}", chain(&other))),
        Ok(_) => Err("opened a card with no IOMMU group".into()),
    });
}

fn main() -> ExitCode {
    let mode = std::env::var("HOLDBACK_TEST").unwrap_or_else(|_| "iommu".into());
    println!("# holdback VFIO guest test, mode {mode}");
    let mut report = Report { n: 0, passed: 0, failed: 0 };
    if mode == "no-iommu" {
        no_iommu_checks(&mut report);
    } else {
        edu_checks(&mut report);
        report.record("virtio-rng MSI-X", rng_msix());
    }
    println!("{} passed, {} failed", report.passed, report.failed);
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
