//! An open VFIO PCI device: container + group + device fd, region info,
//! config space, bus mastering, and the factories for BAR mappings, DMA
//! buffers and interrupt sets (which all keep the device open while alive).
use std::fs::OpenOptions;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::{
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_REGION_INFO_FLAG_MMAP,
    VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioOps};

use super::dma::DmaBuffer;
use super::error::{GroupMember, VfioError};
use super::irq::{Interrupts, IrqKind};
use super::regs::{BarMapping, RegValue};
use super::sysfs::{PciAddress, Sysfs};

/// PCI config space: the command register and its bits.
pub const PCI_COMMAND: u64 = 0x04;
pub const PCI_COMMAND_MEMORY: u16 = 1 << 1;
pub const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// The open device. Dropped last: every mapping, buffer and interrupt set
/// holds an `Arc` to it.
pub(crate) struct DeviceInner {
    pub(crate) addr: PciAddress,
    sysfs_path: PathBuf,
    /// ManuallyDrop: vfio-ioctls' Drop re-reads the sysfs node and panics if
    /// it is gone; we drop it only while the node exists (see Drop).
    device: ManuallyDrop<VfioDevice>,
    pub(crate) container: Arc<VfioContainer>,
}

impl DeviceInner {
    pub(crate) fn device(&self) -> &VfioDevice {
        &self.device
    }
}

impl Drop for DeviceInner {
    fn drop(&mut self) {
        if self.sysfs_path.join("iommu_group").exists() {
            // SAFETY: dropped exactly once, here; nothing else refers to the
            // device (every holder of an Arc<DeviceInner> is gone).
            unsafe { ManuallyDrop::drop(&mut self.device) };
            tracing::debug!(addr = %self.addr, "VFIO device closed");
        } else {
            // Dropping would panic inside vfio-ioctls; leaking the fd is the
            // lesser evil (the process still releases it at exit).
            tracing::error!(
                addr = %self.addr,
                "PCI device was removed while open; leaking its VFIO fd. Close the device before removing it"
            );
        }
    }
}

/// What the kernel reports about one region (BAR, ROM or config space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub index: u32,
    pub size: u64,
    /// Offset of the region in the device fd (for pread/pwrite/mmap).
    pub offset: u64,
    pub readable: bool,
    pub writable: bool,
    pub mappable: bool,
}

/// A PCI function owned through VFIO (type1 container), e.g. `0000:03:00.0`.
pub struct VfioPciDevice {
    inner: Arc<DeviceInner>,
    group: u32,
}

impl VfioPciDevice {
    /// Open the device at `addr` (see [`PciAddress::parse_card_spec`]).
    pub fn open(addr: &PciAddress) -> Result<VfioPciDevice, VfioError> {
        VfioPciDevice::open_in(&Sysfs::default(), addr)
    }

    /// Open through a given sysfs root (tests use a fake one).
    pub fn open_in(sysfs: &Sysfs, addr: &PciAddress) -> Result<VfioPciDevice, VfioError> {
        let addr = *addr;
        let pre = sysfs.preflight(&addr)?;
        let group = pre.group;
        let group_node = sysfs.group_node(group);
        // Open the group node once ourselves: the kernel's errno here is the
        // clearest sign of permission/module problems. Closed again at once
        // (a group can be open only once).
        if let Err(e) = OpenOptions::new().read(true).write(true).open(&group_node) {
            return Err(match e.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EPERM) => VfioError::GroupPermission { addr, group, path: group_node },
                Some(libc::ENOENT) => VfioError::GroupNodeMissing { addr, group, path: group_node },
                Some(libc::EBUSY) => VfioError::GroupBusy { addr, group, path: group_node },
                _ => VfioError::GroupOpen { path: group_node, source: e },
            });
        }
        let container = VfioContainer::new(None).map_err(|e| match e {
            vfio_ioctls::VfioError::OpenContainer(source) => {
                VfioError::NoContainer { path: PathBuf::from("/dev/vfio/vfio"), source }
            }
            source => VfioError::Ioctl { addr, op: "setting up the VFIO container", source },
        })?;
        let container = Arc::new(container);
        let ops: Arc<dyn VfioOps> = container.clone();
        let device = VfioDevice::new(&pre.device_path, ops, false).map_err(|e| match e {
            vfio_ioctls::VfioError::GroupViable => VfioError::GroupNotViable {
                addr,
                group,
                others: group_members(sysfs, group, &addr),
            },
            vfio_ioctls::VfioError::OpenGroup(source, _) => VfioError::GroupOpen { path: group_node.clone(), source },
            source => VfioError::Ioctl { addr, op: "opening the device through its VFIO group", source },
        })?;
        tracing::info!(%addr, group, "VFIO device open");
        let inner = DeviceInner { addr, sysfs_path: pre.device_path, device: ManuallyDrop::new(device), container };
        Ok(VfioPciDevice { inner: Arc::new(inner), group })
    }

    pub fn addr(&self) -> PciAddress {
        self.inner.addr
    }

    pub fn iommu_group(&self) -> u32 {
        self.group
    }

    /// Region info as reported by VFIO_DEVICE_GET_REGION_INFO (indices:
    /// 0-5 BARs, 6 ROM, 7 config space).
    pub fn region(&self, index: u32) -> Result<RegionInfo, VfioError> {
        let dev = self.inner.device();
        let size = dev.get_region_size(index);
        if size == 0 {
            return Err(self.region_err(index, "is absent (size 0)"));
        }
        let flags = dev.get_region_flags(index);
        Ok(RegionInfo {
            index,
            size,
            offset: dev.get_region_offset(index),
            readable: flags & VFIO_REGION_INFO_FLAG_READ != 0,
            writable: flags & VFIO_REGION_INFO_FLAG_WRITE != 0,
            mappable: flags & VFIO_REGION_INFO_FLAG_MMAP != 0,
        })
    }

    fn region_err(&self, index: u32, problem: impl Into<String>) -> VfioError {
        let name = match index {
            0..=5 => format!("BAR{index}"),
            6 => "ROM".to_string(),
            7 => "config space".to_string(),
            _ => format!("region {index}"),
        };
        VfioError::Region { addr: self.inner.addr, index, name, problem: problem.into() }
    }

    /// Read a config-space register (pread on the device fd; verified length).
    pub fn config_read<T: RegValue + FromBytes>(&self, offset: u64) -> Result<T, VfioError> {
        let region = self.region(VFIO_PCI_CONFIG_REGION_INDEX)?;
        let mut buf = [0u8; 8];
        let width = T::WIDTH as usize;
        self.check_config(&region, offset, width)?;
        let fd = self.inner.device().as_raw_fd();
        // SAFETY: `buf` is a live 8-byte buffer and we ask for width <= 8
        // bytes; the fd is the open device fd (kept open by `self`).
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), width, (region.offset + offset) as libc::off_t) };
        if n != width as isize {
            return Err(self.os_err(format!("reading {width} bytes of config space at {offset:#x}")));
        }
        Ok(T::from_le(&buf[..width]))
    }

    /// Write a config-space register (pwrite on the device fd).
    pub fn config_write<T: RegValue + FromBytes>(&self, offset: u64, value: T) -> Result<(), VfioError> {
        let region = self.region(VFIO_PCI_CONFIG_REGION_INDEX)?;
        let width = T::WIDTH as usize;
        self.check_config(&region, offset, width)?;
        let bytes = value.to_le();
        let fd = self.inner.device().as_raw_fd();
        // SAFETY: `bytes` holds at least `width` initialised bytes; the fd is
        // the open device fd.
        let n = unsafe { libc::pwrite(fd, bytes.as_ptr().cast(), width, (region.offset + offset) as libc::off_t) };
        if n != width as isize {
            return Err(self.os_err(format!("writing {width} bytes of config space at {offset:#x}")));
        }
        Ok(())
    }

    fn check_config(&self, region: &RegionInfo, offset: u64, width: usize) -> Result<(), VfioError> {
        super::regs::check_access("config space", offset, width as u32, region.size)
            .map_err(|source| VfioError::Register { addr: self.inner.addr, source })
    }

    fn os_err(&self, op: String) -> VfioError {
        VfioError::Os { addr: self.inner.addr, op, source: std::io::Error::last_os_error() }
    }

    /// Enable memory decoding and bus mastering (vfio-ioctls does not; a
    /// device without bus mastering silently never DMAs). Verified by
    /// reading the command register back.
    pub fn enable_bus_master(&self) -> Result<(), VfioError> {
        let cmd: u16 = self.config_read(PCI_COMMAND)?;
        let want = cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
        if want != cmd {
            self.config_write(PCI_COMMAND, want)?;
        }
        let read: u16 = self.config_read(PCI_COMMAND)?;
        if read & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) != PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER {
            return Err(VfioError::NotApplied {
                addr: self.inner.addr,
                what: "PCI_COMMAND memory + bus master",
                wrote: want as u64,
                read: read as u64,
            });
        }
        Ok(())
    }

    /// Map BAR `index` (0-5) from the device fd.
    pub fn map_bar(&self, index: u32) -> Result<BarMapping, VfioError> {
        if index > 5 {
            return Err(self.region_err(index, "is not a BAR (BARs are 0-5)"));
        }
        let region = self.region(index)?;
        if !region.mappable {
            return Err(self.region_err(index, "cannot be mmap'ed (an I/O-port BAR, or the kernel refuses)"));
        }
        let prot = if region.writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
        let fd = self.inner.device().as_raw_fd();
        // SAFETY: a fresh shared mapping chosen by the kernel (addr null), of
        // the region's size at the region's offset in the device fd; it
        // aliases no Rust memory.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), region.size as usize, prot, libc::MAP_SHARED, fd, region.offset as libc::off_t)
        };
        if p == libc::MAP_FAILED {
            return Err(self.os_err(format!("mmap of BAR{index} ({:#x} bytes)", region.size)));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| self.region_err(index, "was mapped at address 0"))?;
        tracing::debug!(addr = %self.inner.addr, index, size = region.size, "BAR mapped");
        // SAFETY: `base` is the live page-aligned mapping of `region.size`
        // bytes just made, handed over to the BarMapping which unmaps it.
        Ok(unsafe { BarMapping::new(base, region.size, index, self.inner.clone()) })
    }

    /// Allocate `len` bytes (rounded up to pages) of zeroed memory and map it
    /// for device DMA at `iova` through the container's IOMMU.
    pub fn dma_alloc(&self, iova: u64, len: usize) -> Result<DmaBuffer, VfioError> {
        DmaBuffer::new(self.inner.clone(), iova, len)
    }

    /// Route `count` MSI (`IrqKind::Msi`) or MSI-X vectors to eventfds.
    pub fn enable_interrupts(&self, kind: IrqKind, count: u32) -> Result<Interrupts, VfioError> {
        let index = match kind {
            IrqKind::Msi => VFIO_PCI_MSI_IRQ_INDEX,
            IrqKind::Msix => VFIO_PCI_MSIX_IRQ_INDEX,
        };
        let available = self.inner.device().get_irq_info(index).map(|i| i.count).unwrap_or(0);
        if count == 0 || count > available {
            return Err(VfioError::Interrupt {
                addr: self.inner.addr,
                kind: kind.name(),
                vector: count.saturating_sub(1),
                problem: format!("asked for {count} vectors, the device offers {available}"),
            });
        }
        Interrupts::new(self.inner.clone(), kind, index, count)
    }

    /// Close the device now: call this before removing or reprogramming it.
    /// Fails while BAR mappings, DMA buffers or interrupt sets still hold it
    /// (the device then closes when the last of them is dropped).
    pub fn close(self) -> Result<(), VfioError> {
        let addr = self.inner.addr;
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                drop(inner);
                Ok(())
            }
            Err(inner) => {
                // The other holders keep it open; it closes when the last
                // one is dropped. Say so instead of pretending it is closed.
                let holders = Arc::strong_count(&inner) - 1;
                drop(inner);
                Err(VfioError::StillInUse { addr, holders })
            }
        }
    }
}

impl std::fmt::Debug for VfioPciDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VfioPciDevice({}, group {})", self.inner.addr, self.group)
    }
}

/// Every other device of `group` with its driver (for the not-viable error).
fn group_members(sysfs: &Sysfs, group: u32, addr: &PciAddress) -> Vec<GroupMember> {
    match sysfs.preflight(addr) {
        Err(VfioError::GroupNotViable { others, .. }) => others,
        _ => {
            tracing::warn!(%addr, group, "kernel says group not viable but sysfs shows no foreign driver");
            Vec::new()
        }
    }
}

/// Little-endian conversion for config-space values.
pub trait FromBytes: Sized {
    fn from_le(bytes: &[u8]) -> Self;
    fn to_le(self) -> [u8; 8];
}

macro_rules! from_bytes {
    ($($t:ty),*) => {$(
        impl FromBytes for $t {
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
            fn to_le(self) -> [u8; 8] {
                let mut out = [0u8; 8];
                out[..std::mem::size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
                out
            }
        }
    )*};
}
from_bytes!(u8, u16, u32, u64);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Bound to vfio-pci, viable group, but no /dev/vfio/<group> node: the
    /// error says to load the module / mount devtmpfs (checked before any
    /// ioctl, so it runs here without VFIO).
    #[test]
    fn missing_group_node_is_reported_before_any_ioctl() {
        let root = std::env::temp_dir().join(format!("holdback-fake-devvfio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dev = root.join("sys/devices/pci0000:00/0000:03:00.0");
        let group = root.join("sys/kernel/iommu_groups/12");
        let driver = root.join("sys/bus/pci/drivers/vfio-pci");
        for d in [&dev, &group.join("devices"), &driver, &root.join("sys/bus/pci/devices"), &root.join("dev/vfio")] {
            std::fs::create_dir_all(d).unwrap();
        }
        symlink(&dev, root.join("sys/bus/pci/devices/0000:03:00.0")).unwrap();
        symlink(&group, dev.join("iommu_group")).unwrap();
        symlink(&dev, group.join("devices/0000:03:00.0")).unwrap();
        symlink(&driver, dev.join("driver")).unwrap();
        let sysfs = Sysfs::at(root.join("sys")).with_dev_vfio(root.join("dev/vfio"));
        let e = VfioPciDevice::open_in(&sysfs, &"0000:03:00.0".parse().unwrap()).unwrap_err();
        let _ = std::fs::remove_dir_all(&root);
        assert!(matches!(e, VfioError::GroupNodeMissing { group: 12, .. }), "{e}");
        assert!(e.to_string().contains("modprobe vfio-pci"), "{e}");
    }

    #[test]
    fn permission_and_memlock_errors_name_the_fix() {
        let addr: PciAddress = "0000:03:00.0".parse().unwrap();
        let e = VfioError::GroupPermission { addr, group: 5, path: PathBuf::from("/dev/vfio/5") };
        let msg = e.to_string();
        assert!(msg.contains("permission denied opening /dev/vfio/5") && msg.contains("DeviceAllow=/dev/vfio/5 rw"), "{msg}");
        let msg = VfioError::MemlockTooLow { requested: 1 << 20, limit: "65536 bytes".into() }.to_string();
        assert!(msg.contains("ulimit -l unlimited") && msg.contains("LimitMEMLOCK=infinity"), "{msg}");
    }
}
