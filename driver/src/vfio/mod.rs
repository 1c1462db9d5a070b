//! VFIO backend, in two layers.
//!
//! - Generic VFIO PCI device layer, nothing holdback-specific:
//!   [`VfioPciDevice`] (open by PCI address with sysfs preflight checks whose
//!   errors name the fix, region info, config space, bus mastering),
//!   [`BarMapping`] (BAR mmap'ed from the device fd, typed 8/16/32/64-bit
//!   `volatile` registers), [`DmaBuffer`] (memory mapped through the
//!   container's IOMMU) and [`Interrupts`] (MSI / MSI-X to eventfds).
//!   The QEMU guest test drives exactly this layer against `edu` and
//!   virtio-rng.
//! - [`VfioBar`]: the card layer's [`crate::Bar`] over BAR0, so
//!   [`crate::CardHandle`] (ID block, register map, TCBs) runs over a real
//!   card with no VFIO knowledge; [`open_card`] does both steps.
//!
//! Lifetimes: mappings, buffers and interrupt sets keep the device open;
//! [`VfioPciDevice::close`] / [`VfioBar::close`] close it and fail while any
//! of them remains — close before removing the device from the bus.
#![allow(unsafe_code)]

mod card_bar;
mod device;
mod dma;
mod error;
mod irq;
mod regs;
mod sysfs;

pub use card_bar::{open_card, OpenCardError, VfioBar, CARD_DMA_IOVA};
pub use device::{FromBytes, RegionInfo, VfioPciDevice, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY};
pub use dma::DmaBuffer;
pub use error::{bind_commands, GroupMember, RegisterError, VfioError};
pub use irq::{Interrupts, IrqKind};
pub use regs::{BarMapping, RegValue};
pub use sysfs::{PciAddress, Preflight, Sysfs};
