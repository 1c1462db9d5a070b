//! PCI addresses and the sysfs checks made before any VFIO ioctl.
//!
//! The kernel's own answers to a misconfigured device are bare errnos
//! (EINVAL, EPERM, ENOENT); reading sysfs first lets the error say which of
//! the usual mistakes it is and print the fix. The sysfs root is a parameter
//! so the checks are tested here on a fake tree.
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::{bind_commands, GroupMember, VfioError};

/// A PCI function address, `DDDD:BB:DD.F`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciAddress {
    pub domain: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl PciAddress {
    /// Parse `vfio:0000:03:00.0`, `0000:03:00.0` or `03:00.0` (domain 0).
    pub fn parse_card_spec(spec: &str) -> Result<PciAddress, VfioError> {
        spec.strip_prefix("vfio:").unwrap_or(spec).parse()
    }
}

impl FromStr for PciAddress {
    type Err = VfioError;

    fn from_str(input: &str) -> Result<PciAddress, VfioError> {
        let bad = |reason| VfioError::BadAddress { input: input.to_string(), reason };
        let (rest, function) = input.rsplit_once('.').ok_or_else(|| bad("no '.' before the function number"))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [d, b, s] => (*d, *b, *s),
            [b, s] => ("0000", *b, *s),
            _ => return Err(bad("expected [domain:]bus:device.function")),
        };
        let hex = |s: &str, max_len: usize, what| {
            if s.is_empty() || s.len() > max_len {
                return Err(bad(what));
            }
            u32::from_str_radix(s, 16).map_err(|_| bad(what))
        };
        let domain = hex(domain, 4, "domain is not 1-4 hex digits")? as u16;
        let bus = hex(bus, 2, "bus is not 1-2 hex digits")? as u8;
        let device = hex(device, 2, "device is not 1-2 hex digits")?;
        if device > 0x1f {
            return Err(bad("device number is above 1f"));
        }
        let function = hex(function, 1, "function is not one digit 0-7")?;
        if function > 7 {
            return Err(bad("function number is above 7"));
        }
        Ok(PciAddress { domain, bus, device: device as u8, function: function as u8 })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

/// Where sysfs is mounted (`/sys`) and where the VFIO group nodes live
/// (`/dev/vfio`); temporary trees in tests.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
    dev_vfio: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Sysfs {
        Sysfs { root: PathBuf::from("/sys"), dev_vfio: PathBuf::from("/dev/vfio") }
    }
}

/// Drivers that may hold a device of a group without making it unviable:
/// vfio-pci itself, pci-stub, and the port driver of bridges (the kernel
/// allows those, see vfio_dev_driver_allowed).
const HARMLESS_DRIVERS: [&str; 3] = ["vfio-pci", "pci-stub", "pcieport"];

/// What the sysfs checks established about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The device's sysfs directory (what vfio-ioctls opens it by).
    pub device_path: PathBuf,
    pub group: u32,
}

impl Sysfs {
    /// Sysfs at `root`, group nodes still under /dev/vfio.
    pub fn at(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into(), ..Sysfs::default() }
    }

    /// Look for group nodes under `dir` instead of /dev/vfio.
    pub fn with_dev_vfio(mut self, dir: impl Into<PathBuf>) -> Sysfs {
        self.dev_vfio = dir.into();
        self
    }

    /// `/dev/vfio/<group>`.
    pub fn group_node(&self, group: u32) -> PathBuf {
        self.dev_vfio.join(group.to_string())
    }

    pub fn device_path(&self, addr: &PciAddress) -> PathBuf {
        self.root.join("bus/pci/devices").join(addr.to_string())
    }

    /// The IOMMU group number of `addr`, if it has one.
    pub fn iommu_group(&self, addr: &PciAddress) -> Result<Option<u32>, VfioError> {
        let link = self.device_path(addr).join("iommu_group");
        match fs::read_link(&link) {
            Ok(target) => {
                let n = target.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok());
                match n {
                    Some(n) => Ok(Some(n)),
                    None => Err(VfioError::Sysfs {
                        path: link,
                        source: io::Error::new(io::ErrorKind::InvalidData, format!("odd group link {target:?}")),
                    }),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(VfioError::Sysfs { path: link, source }),
        }
    }

    /// The driver bound to the device at `device_dir`, if any.
    fn driver_of(&self, device_dir: &Path) -> Result<Option<String>, VfioError> {
        let link = device_dir.join("driver");
        match fs::read_link(&link) {
            Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(VfioError::Sysfs { path: link, source }),
        }
    }

    /// Every check that can be made without opening anything: the device
    /// exists, has an IOMMU group, is bound to vfio-pci, and nothing else in
    /// its group is bound to a host driver.
    pub fn preflight(&self, addr: &PciAddress) -> Result<Preflight, VfioError> {
        let device_path = self.device_path(addr);
        if !device_path.exists() {
            return Err(VfioError::NoSuchDevice { addr: *addr, path: device_path });
        }
        let group = self.iommu_group(addr)?.ok_or(VfioError::NoIommuGroup { addr: *addr })?;
        let driver = self.driver_of(&device_path)?;
        if driver.as_deref() != Some("vfio-pci") {
            let commands = bind_commands(addr, driver.as_deref());
            return Err(VfioError::NotBoundToVfioPci { addr: *addr, driver, commands });
        }
        let members_dir = self.root.join("kernel/iommu_groups").join(group.to_string()).join("devices");
        let entries = fs::read_dir(&members_dir).map_err(|source| VfioError::Sysfs { path: members_dir.clone(), source })?;
        let mut others = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| VfioError::Sysfs { path: members_dir.clone(), source })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == addr.to_string() {
                continue;
            }
            let member_driver = self.driver_of(&entry.path())?;
            if member_driver.as_deref().is_some_and(|d| !HARMLESS_DRIVERS.contains(&d)) {
                others.push(GroupMember { addr: name, driver: member_driver });
            }
        }
        if !others.is_empty() {
            others.sort_by(|a, b| a.addr.cmp(&b.addr));
            return Err(VfioError::GroupNotViable { addr: *addr, group, others });
        }
        Ok(Preflight { device_path, group })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn addresses_parse_and_print() {
        let a: PciAddress = "0000:03:00.0".parse().unwrap();
        assert_eq!(a, PciAddress { domain: 0, bus: 3, device: 0, function: 0 });
        assert_eq!(PciAddress::parse_card_spec("vfio:0001:af:1f.7").unwrap().to_string(), "0001:af:1f.7");
        assert_eq!(PciAddress::parse_card_spec("04.0").ok(), None);
        assert_eq!("00:04.0".parse::<PciAddress>().unwrap().to_string(), "0000:00:04.0");
        for bad in ["", "0000:03:00", "0000:03:20.0", "0000:03:00.8", "00000:03:00.0", "0000:g3:00.0", "1:2:3:4.0"] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert!(matches!(e, VfioError::BadAddress { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("DDDD:BB:DD.F"), "{e}");
        }
    }

    /// A throw-away sysfs tree: devices, drivers and one IOMMU group.
    struct FakeSysfs {
        root: PathBuf,
    }

    impl FakeSysfs {
        fn new(tag: &str) -> FakeSysfs {
            let root = std::env::temp_dir().join(format!("holdback-fake-sysfs-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("bus/pci/devices")).unwrap();
            FakeSysfs { root }
        }
        fn device(&self, addr: &str, group: Option<u32>, driver: Option<&str>) {
            let dir = self.root.join("devices/pci0000:00").join(addr);
            fs::create_dir_all(&dir).unwrap();
            symlink(&dir, self.root.join("bus/pci/devices").join(addr)).unwrap();
            if let Some(g) = group {
                let gdir = self.root.join("kernel/iommu_groups").join(g.to_string());
                fs::create_dir_all(gdir.join("devices")).unwrap();
                symlink(&gdir, dir.join("iommu_group")).unwrap();
                symlink(&dir, gdir.join("devices").join(addr)).unwrap();
            }
            if let Some(d) = driver {
                let ddir = self.root.join("bus/pci/drivers").join(d);
                fs::create_dir_all(&ddir).unwrap();
                symlink(&ddir, dir.join("driver")).unwrap();
            }
        }
        fn sysfs(&self) -> Sysfs {
            Sysfs::at(&self.root)
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn missing_device_names_lspci_and_rescan() {
        let fake = FakeSysfs::new("missing");
        let addr: PciAddress = "0000:03:00.0".parse().unwrap();
        let e = fake.sysfs().preflight(&addr).unwrap_err();
        assert!(matches!(e, VfioError::NoSuchDevice { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("0000:03:00.0") && msg.contains("lspci -D") && msg.contains("rescan"), "{msg}");
    }

    #[test]
    fn no_iommu_group_names_the_kernel_options() {
        let fake = FakeSysfs::new("nogroup");
        fake.device("0000:03:00.0", None, Some("vfio-pci"));
        let e = fake.sysfs().preflight(&"0000:03:00.0".parse().unwrap()).unwrap_err();
        assert!(matches!(e, VfioError::NoIommuGroup { .. }), "{e}");
        assert!(e.to_string().contains("intel_iommu=on"), "{e}");
    }

    #[test]
    fn wrong_driver_prints_the_bind_commands() {
        let fake = FakeSysfs::new("wrongdrv");
        fake.device("0000:03:00.0", Some(7), Some("xdma"));
        let e = fake.sysfs().preflight(&"0000:03:00.0".parse().unwrap()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bound to xdma"), "{msg}");
        assert!(msg.contains("echo vfio-pci > /sys/bus/pci/devices/0000:03:00.0/driver_override"), "{msg}");
        assert!(msg.contains("echo 0000:03:00.0 > /sys/bus/pci/devices/0000:03:00.0/driver/unbind"), "{msg}");
        assert!(msg.contains("echo 0000:03:00.0 > /sys/bus/pci/drivers_probe"), "{msg}");

        let fake = FakeSysfs::new("nodrv");
        fake.device("0000:03:00.0", Some(7), None);
        let msg = fake.sysfs().preflight(&"0000:03:00.0".parse().unwrap()).unwrap_err().to_string();
        assert!(msg.contains("not bound to any driver") && !msg.contains("unbind"), "{msg}");
    }

    #[test]
    fn unviable_group_lists_the_other_devices() {
        let fake = FakeSysfs::new("unviable");
        fake.device("0000:03:00.0", Some(9), Some("vfio-pci"));
        fake.device("0000:03:00.1", Some(9), Some("snd_hda_intel"));
        fake.device("0000:00:01.0", Some(9), Some("pcieport"));
        fake.device("0000:03:00.2", Some(9), None);
        let e = fake.sysfs().preflight(&"0000:03:00.0".parse().unwrap()).unwrap_err();
        match &e {
            VfioError::GroupNotViable { group: 9, others, .. } => {
                assert_eq!(others, &[GroupMember { addr: "0000:03:00.1".into(), driver: Some("snd_hda_intel".into()) }]);
            }
            other => panic!("wrong error: {other}"),
        }
        assert!(e.to_string().contains("0000:03:00.1 (bound to snd_hda_intel)"), "{e}");
    }

    #[test]
    fn viable_group_passes_preflight() {
        let fake = FakeSysfs::new("viable");
        fake.device("0000:03:00.0", Some(4), Some("vfio-pci"));
        fake.device("0000:03:00.1", Some(4), Some("vfio-pci"));
        let p = fake.sysfs().preflight(&"0000:03:00.0".parse().unwrap()).unwrap();
        assert_eq!(p.group, 4);
    }
}
