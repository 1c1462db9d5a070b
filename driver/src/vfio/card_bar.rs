//! The card layer's [`Bar`] over BAR0 of a VFIO device.
use crate::bar::{Bar, BarError};
use crate::card::{CardHandle, OpenError};

use super::device::VfioPciDevice;
use super::error::{RegisterError, VfioError};
use super::regs::BarMapping;
use super::sysfs::{PciAddress, Sysfs};

/// BAR0 of a holdback card owned through VFIO.
pub struct VfioBar {
    // Field order matters: the mapping is dropped before the device.
    bar0: BarMapping,
    device: VfioPciDevice,
}

impl VfioBar {
    /// Open `vfio:DDDD:BB:DD.F` (or a bare address), enable memory decoding
    /// and bus mastering, and map BAR0. The ID block is not checked here:
    /// [`CardHandle::open`] (or [`open_card`]) does that.
    pub fn open(spec: &str) -> Result<VfioBar, VfioError> {
        VfioBar::open_in(&Sysfs::default(), spec)
    }

    pub fn open_in(sysfs: &Sysfs, spec: &str) -> Result<VfioBar, VfioError> {
        let addr = PciAddress::parse_card_spec(spec)?;
        VfioBar::from_device(VfioPciDevice::open_in(sysfs, &addr)?)
    }

    pub fn from_device(device: VfioPciDevice) -> Result<VfioBar, VfioError> {
        device.enable_bus_master()?;
        let bar0 = device.map_bar(0)?;
        if bar0.len() < crate::BAR_SIZE as u64 {
            tracing::warn!(
                bar = bar0.name(),
                size = bar0.len(),
                expected = crate::BAR_SIZE,
                "BAR0 is smaller than the register map; accesses beyond it will fail"
            );
        }
        Ok(VfioBar { bar0, device })
    }

    /// The generic device (DMA buffers and interrupts for later rings).
    pub fn device(&self) -> &VfioPciDevice {
        &self.device
    }

    /// Unmap BAR0 and close the device (before removing it from the bus).
    pub fn close(self) -> Result<(), VfioError> {
        let VfioBar { bar0, device } = self;
        drop(bar0);
        device.close()
    }

    fn bar_err(&self, e: RegisterError) -> BarError {
        let bar = self.describe();
        match e {
            RegisterError::Unaligned { offset, .. } => BarError::Unaligned { bar, offset: offset as u32 },
            RegisterError::OutOfRange { offset, width, size, .. } => {
                BarError::OutOfRange { bar, offset: offset as u32, len: width, size: size.min(u32::MAX as u64) as u32 }
            }
        }
    }
}

impl Bar for VfioBar {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        self.bar0.read32(offset as u64).map_err(|e| self.bar_err(e))
    }

    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        self.bar0.write32(offset as u64, value).map_err(|e| self.bar_err(e))
    }

    fn describe(&self) -> String {
        self.bar0.name().to_string()
    }
}

/// The IOVA of the card's host memory (receive rings, event ring): the
/// bottom of the window the board's AXI BAR aperture translates one to one
/// (docs/dma.md), above the low 4 GiB that 32-bit devices compete for.
pub const CARD_DMA_IOVA: u64 = 0x1_0000_0000;

/// Why [`open_card`] failed: the VFIO side or the ID block.
#[derive(Debug, thiserror::Error)]
pub enum OpenCardError {
    #[error("opening the card through VFIO")]
    Vfio(#[from] VfioError),
    #[error("checking the card's ID block")]
    IdBlock(#[from] OpenError),
}

/// Open `vfio:DDDD:BB:DD.F` and check its ID block (magic, version,
/// parameters) before anything else touches it.
pub fn open_card(spec: &str) -> Result<CardHandle<VfioBar>, OpenCardError> {
    let bar = VfioBar::open(spec)?;
    Ok(CardHandle::open(bar)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vfio:` on a PCI address that does not exist
    /// gives the documented error, without root, hardware or QEMU.
    #[test]
    fn vfio_open_of_a_missing_pci_address_names_the_remedy() {
        // Bus ff, device 1f, function 7 of domain ffff: no machine has it.
        let spec = "vfio:ffff:ff:1f.7";
        let e = match open_card(spec) {
            Err(OpenCardError::Vfio(e)) => e,
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("{spec} opened"),
        };
        assert!(matches!(e, VfioError::NoSuchDevice { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("no PCI device ffff:ff:1f.7: /sys/bus/pci/devices/ffff:ff:1f.7 does not exist"), "{msg}");
        assert!(msg.contains("lspci -D"), "{msg}");
    }

    #[test]
    fn malformed_card_spec_is_refused_before_sysfs() {
        let e = VfioBar::open("vfio:03:00").err().expect("must fail");
        assert!(matches!(e, VfioError::BadAddress { .. }), "{e}");
    }
}
