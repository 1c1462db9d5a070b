//! Why opening or using a VFIO device failed — every variant says what to do.
//!
//! Operators meet these first when a card is new, so each message names the
//! device, what the kernel said and the command that fixes it.
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::PciAddress;

/// Another device that shares the IOMMU group and keeps it from being viable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub addr: String,
    /// Kernel driver bound to it (None: no driver).
    pub driver: Option<String>,
}

impl fmt::Display for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.driver {
            Some(d) => write!(f, "{} (bound to {d})", self.addr),
            None => write!(f, "{} (no driver)", self.addr),
        }
    }
}

/// The shell commands that bind `addr` to vfio-pci (printed in errors).
pub fn bind_commands(addr: &PciAddress, current_driver: Option<&str>) -> String {
    let mut s = String::from("  modprobe vfio-pci\n");
    s += &format!("  echo vfio-pci > /sys/bus/pci/devices/{addr}/driver_override\n");
    if current_driver.is_some() {
        s += &format!("  echo {addr} > /sys/bus/pci/devices/{addr}/driver/unbind\n");
    }
    s += &format!("  echo {addr} > /sys/bus/pci/drivers_probe");
    s
}

fn list(members: &[GroupMember]) -> String {
    members.iter().map(|m| format!("  {m}")).collect::<Vec<_>>().join("\n")
}

/// Opening a device, mapping its BARs, DMA or interrupts failed.
#[derive(Debug, thiserror::Error)]
pub enum VfioError {
    #[error("{input:?} is not a PCI address: {reason}; expected DDDD:BB:DD.F (e.g. 0000:03:00.0) or vfio:DDDD:BB:DD.F")]
    BadAddress { input: String, reason: &'static str },

    #[error(
        "no PCI device {addr}: {path} does not exist. List devices with `lspci -D`; \
         after loading a bitstream, rescan with `echo 1 > /sys/bus/pci/rescan`"
    )]
    NoSuchDevice { addr: PciAddress, path: PathBuf },

    #[error(
        "PCI device {addr} has no IOMMU group, so VFIO cannot own it: the kernel runs without an IOMMU. \
         Enable VT-d (Intel) or AMD-Vi in the firmware, boot with `intel_iommu=on iommu=pt` \
         (or `amd_iommu=on`), and check `dmesg | grep -i -e DMAR -e IOMMU`"
    )]
    NoIommuGroup { addr: PciAddress },

    #[error(
        "PCI device {addr} is {}, not to vfio-pci; bind it with:\n{commands}",
        match driver { Some(d) => format!("bound to {d}"), None => "not bound to any driver".to_string() }
    )]
    NotBoundToVfioPci { addr: PciAddress, driver: Option<String>, commands: String },

    #[error(
        "IOMMU group {group} of {addr} is not viable: every device in a group must be bound to vfio-pci \
         (or have no driver) before any of them can be used. Other devices in the group:\n{}\n\
         Bind them to vfio-pci too (same driver_override + drivers_probe commands), or move the card \
         to a slot with its own group",
        list(others)
    )]
    GroupNotViable { addr: PciAddress, group: u32, others: Vec<GroupMember> },

    #[error(
        "cannot open the VFIO container {path}: {source}. Load the driver with `modprobe vfio-pci` \
         and check the node exists"
    )]
    NoContainer { path: PathBuf, source: io::Error },

    #[error(
        "permission denied opening {path} (IOMMU group {group} of {addr}): run as root, or give the \
         service user the node (`chown holdback {path}`, a udev rule, or systemd `DeviceAllow={path} rw`)"
    )]
    GroupPermission { addr: PciAddress, group: u32, path: PathBuf },

    #[error(
        "{path} (IOMMU group {group} of {addr}) does not exist although the device is bound to vfio-pci; \
         is the vfio module loaded (`modprobe vfio-pci`) and devtmpfs mounted on /dev?"
    )]
    GroupNodeMissing { addr: PciAddress, group: u32, path: PathBuf },

    #[error("{path} (IOMMU group {group} of {addr}) is already open in another process: stop it first (`fuser -v {path}`)")]
    GroupBusy { addr: PciAddress, group: u32, path: PathBuf },

    #[error("opening {path}: {source}")]
    GroupOpen { path: PathBuf, source: io::Error },

    #[error("reading {path}: {source}")]
    Sysfs { path: PathBuf, source: io::Error },

    #[error(
        "cannot pin {requested} bytes for DMA: the locked-memory limit is {limit} and pinning failed. \
         Raise it: `ulimit -l unlimited` in the shell, or `LimitMEMLOCK=infinity` in the systemd unit"
    )]
    MemlockTooLow { requested: usize, limit: String },

    #[error("{addr}: {op}")]
    Ioctl {
        addr: PciAddress,
        op: &'static str,
        #[source]
        source: vfio_ioctls::VfioError,
    },

    #[error("{addr}: region {index} ({name}) {problem}")]
    Region { addr: PciAddress, index: u32, name: String, problem: String },

    #[error("{addr}: {op} failed: {source}")]
    Os {
        addr: PciAddress,
        op: String,
        #[source]
        source: io::Error,
    },

    #[error("{addr}: {what} did not take effect: wrote {wrote:#x}, read back {read:#x}")]
    NotApplied { addr: PciAddress, what: &'static str, wrote: u64, read: u64 },

    #[error("{addr}: {source}")]
    Register { addr: PciAddress, #[source] source: RegisterError },

    #[error("{addr}: cannot close: {holders} BAR mappings, DMA buffers or interrupt sets still use the device; drop them first")]
    StillInUse { addr: PciAddress, holders: usize },

    #[error("{addr}: interrupt {kind} vector {vector}: {problem}")]
    Interrupt { addr: PciAddress, kind: &'static str, vector: u32, problem: String },
}

/// A register or DMA-buffer access outside what was mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("{region}: offset {offset:#x} is not aligned to the {width}-byte access")]
    Unaligned { region: String, offset: u64, width: u32 },
    #[error("{region}: offset {offset:#x} (+{width} bytes) is outside the {size:#x}-byte mapping")]
    OutOfRange { region: String, offset: u64, width: u32, size: u64 },
}
