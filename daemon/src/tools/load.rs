//! `holdback load`: put a bitstream on a PCIe FPGA board and hand the card to
//! `vfio-pci`, the way the daemon expects to find it.
//!
//! The PCIe dance, in order (every step is printed by `--dry-run` with the
//! exact command or sysfs write, and nothing is touched):
//!
//! 1. preflight: the bitstream file exists, the programmer is installed;
//! 2. if the card is enumerated (an FPGA that already holds a design):
//!    unbind it from its driver (`.../driver/unbind`) and remove it from the
//!    bus (`.../remove`), so the kernel does not see the endpoint vanish
//!    under a live driver while the FPGA reconfigures;
//! 3. program the FPGA over JTAG with `openFPGALoader` (volatile, SRAM).
//!    Vendor alternative, if openFPGALoader does not know the cable: Vivado's
//!    hardware manager in batch mode, see [`vivado_program_tcl`];
//! 4. wait for the new PCIe endpoint to train its link, then rescan the bus
//!    (`/sys/bus/pci/rescan`) and wait for the card's vendor:device ID;
//! 5. bind it to `vfio-pci`: `modprobe vfio-pci` if the driver is missing,
//!    unbind whatever driver the rescan attached, write `vfio-pci` to
//!    `driver_override` and the address to `/sys/bus/pci/drivers_probe`;
//! 6. check the ID block (magic, version) through holdback-driver's VFIO
//!    backend (`open_card`), then close the device again for the daemon.
//!
//! Stop the daemon first (`systemctl stop holdback`): unbinding a device from
//! vfio-pci blocks until every process holding it open lets go.
//!
//! Limits, stated plainly: no step here has run against real hardware on this
//! project's machines. Some hosts need a secondary-bus reset of the upstream
//! bridge, or a reboot, before a reprogrammed endpoint enumerates; a rescan
//! that does not find the card says so and names those remedies.
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use holdback_driver::vfio::{PciAddress, Sysfs};

/// Arguments of `holdback load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Bitstream to program (Vivado `.bit` for the board's FPGA).
    #[arg(long, value_name = "FILE")]
    pub bitstream: PathBuf,
    /// Board the bitstream is for; `kcu105` (Xilinx KCU105, PCIe Gen3 x8 + SFP+).
    #[arg(long, value_name = "NAME")]
    pub board: String,
    /// PCI address of the card, `DDDD:BB:DD.F` or `BB:DD.F` (domain 0000).
    /// Default: the one device with the board's vendor:device ID, found in
    /// sysfs before programming (or after the rescan if the FPGA was blank).
    #[arg(long, value_name = "BDF")]
    pub pci: Option<String>,
    /// Print every step with the exact command or sysfs write, and change
    /// nothing. Problems a real run would stop at are listed, not fatal.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not program the FPGA (it was loaded another way, e.g. with Vivado's
    /// hardware manager using the script `--dry-run` prints); do the rest of
    /// the dance: unbind, remove, rescan, bind to vfio-pci, check.
    #[arg(long)]
    pub no_program: bool,
    /// Root of sysfs (tests point it at a scratch tree).
    #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
    pub sysfs_root: PathBuf,
}

/// One supported board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    pub name: &'static str,
    pub description: &'static str,
    /// Vivado part of the FPGA.
    pub part: &'static str,
    /// PCI IDs the bitstream's endpoint presents (set in the board's build.tcl).
    pub vendor_id: u16,
    pub device_id: u16,
    /// openFPGALoader arguments selecting the board's JTAG cable.
    pub programmer_args: &'static [&'static str],
    /// Time the endpoint needs after configuration before a rescan finds it.
    pub link_settle: Duration,
}

/// The boards `--board` accepts.
pub const BOARDS: &[Board] = &[Board {
    name: "kcu105",
    description: "Xilinx KCU105 (XCKU040, PCIe Gen3 x8, SFP+ 10GbE); hdl/boards/kcu105",
    part: "xcku040-ffva1156-2-e",
    // Xilinx's vendor ID with a device ID of our own (hdl/boards/kcu105/build.tcl
    // sets it), so Xilinx's own xdma driver never claims the card.
    vendor_id: 0x10ee,
    device_id: 0x4842,
    // The KCU105's on-board USB-JTAG is a Digilent FT2232H module.
    programmer_args: &["--cable", "digilent"],
    // PCIe allows 100 ms from reset to link-up; leave room for the GT PLLs.
    link_settle: Duration::from_millis(1000),
}];

/// How long to wait for the card to appear after the rescan.
const ENUMERATE_TIMEOUT: Duration = Duration::from_secs(5);
const PROGRAMMER: &str = "openFPGALoader";

/// `DDDD:BB:DD.F` or `BB:DD.F` (hex, any case), with the driver's parser.
pub fn parse_pci(s: &str) -> Result<PciAddress, LoadError> {
    s.parse().map_err(|e: holdback_driver::vfio::VfioError| LoadError::BadPciAddress { given: s.to_string(), why: e.to_string() })
}

/// Everything `holdback load` can fail at; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("unknown board `{given}`; supported boards: {}", board_list())]
    UnknownBoard { given: String },
    #[error("bitstream {}: {why}", path.display())]
    Bitstream { path: PathBuf, why: String },
    #[error("PCI address `{given}`: {why}")]
    BadPciAddress { given: String, why: String },
    #[error("`{program}` is not installed or not on PATH: {remedy}")]
    ToolMissing { program: String, remedy: String },
    #[error("no PCI device {vendor:04x}:{device:04x} ({board}) in {}; {remedy}", sysfs.display())]
    CardNotFound { board: &'static str, vendor: u16, device: u16, sysfs: PathBuf, remedy: String },
    #[error("several {vendor:04x}:{device:04x} devices ({}); choose one with --pci", found.join(", "))]
    AmbiguousCard { vendor: u16, device: u16, found: Vec<String> },
    #[error("{pci} is {found}, not the {board}'s {vendor:04x}:{device:04x}; check --pci")]
    WrongDevice { pci: PciAddress, found: String, board: &'static str, vendor: u16, device: u16 },
    #[error("writing `{value}` to {}", path.display())]
    SysfsWrite {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("running {command}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    CommandFailed { command: String, status: String, stderr: String },
    #[error("after the rescan {pci} did not appear within {}s; {remedy}", timeout.as_secs())]
    NotEnumerated { pci: String, timeout: Duration, remedy: String },
    #[error("{pci} is bound to `{driver}` instead of vfio-pci after drivers_probe; is vfio-pci loaded and the IOMMU on (intel_iommu=on / amd_iommu=on)?")]
    NotBoundToVfio { pci: PciAddress, driver: String },
    #[error("{pci} is bound to vfio-pci but its ID block check failed")]
    IdCheck {
        pci: PciAddress,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

fn board_list() -> String {
    BOARDS.iter().map(|b| format!("{} ({})", b.name, b.description)).collect::<Vec<_>>().join(", ")
}

/// Looks a board up by name (case-insensitive).
pub fn find_board(name: &str) -> Result<&'static Board, LoadError> {
    BOARDS
        .iter()
        .find(|b| b.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| LoadError::UnknownBoard { given: name.to_string() })
}

/// What one step does to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The bitstream must be a non-empty regular file (checked while planning).
    CheckFile { path: PathBuf },
    /// Write `value` to a sysfs attribute. `only_if` names a path that must
    /// exist at run time (e.g. the `driver` link), else the step is skipped.
    SysfsWrite { path: PathBuf, value: String, only_if: Option<PathBuf> },
    /// Run a program (inherits stdout/stderr so progress bars show).
    Run { program: String, args: Vec<String>, only_if_missing: Option<PathBuf> },
    /// Let the endpoint come up before touching the bus.
    Sleep(Duration),
    /// Wait until the card shows up in sysfs with the board's IDs.
    WaitForCard { vendor: u16, device: u16, timeout: Duration },
    /// Unbind whatever driver is bound now, unless it is vfio-pci already
    /// (`device_dir` is the card's sysfs directory, `<BDF>` until known).
    UnbindForeignDriver { device_dir: PathBuf },
    /// Confirm the card ended up on vfio-pci.
    ExpectVfio { device_dir: PathBuf },
    /// Read the ID block through VFIO.
    CheckIdBlock,
}

/// One numbered step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub action: Action,
}

/// Where the card is known to be while planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardAt {
    /// Given with --pci or found by its IDs before programming.
    Known(PciAddress),
    /// Not enumerated now (blank FPGA): found by its IDs after the rescan.
    AfterRescan,
}

/// The full sequence for one `holdback load`, plus problems a real run
/// would stop at (only collected in dry-run mode; fatal otherwise).
#[derive(Debug, Clone)]
pub struct Plan {
    pub board: &'static Board,
    pub bitstream: PathBuf,
    pub card: CardAt,
    /// The card is enumerated now (steps to unbind and remove it apply).
    pub present: bool,
    pub steps: Vec<Step>,
    pub problems: Vec<String>,
}

fn write_cmd(path: &Path, value: &str) -> String {
    format!("echo {value} > {}", path.display())
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        match &self.action {
            Action::CheckFile { path } => write!(f, "\n      $ test -s {}", path.display())?,
            Action::SysfsWrite { path, value, only_if } => {
                write!(f, "\n      $ {}", write_cmd(path, value))?;
                if let Some(cond) = only_if {
                    write!(f, "\n      (only if {} exists)", cond.display())?;
                }
            }
            Action::Run { program, args, only_if_missing } => {
                write!(f, "\n      $ {program} {}", args.join(" "))?;
                if let Some(cond) = only_if_missing {
                    write!(f, "\n      (only if {} is missing)", cond.display())?;
                }
            }
            Action::Sleep(d) => write!(f, "\n      (sleep {} ms)", d.as_millis())?,
            Action::WaitForCard { vendor, device, timeout } => write!(
                f,
                "\n      (poll /sys/bus/pci/devices/*/{{vendor,device}} for {vendor:04x}:{device:04x}, up to {} s)",
                timeout.as_secs()
            )?,
            Action::UnbindForeignDriver { device_dir } => write!(
                f,
                "\n      $ echo <BDF> > {}/driver/unbind   (if a driver other than vfio-pci is bound)",
                device_dir.display()
            )?,
            Action::ExpectVfio { device_dir } => {
                write!(f, "\n      (readlink {}/driver must end in vfio-pci)", device_dir.display())?
            }
            Action::CheckIdBlock => write!(
                f,
                "\n      (open vfio:<BDF>, map BAR0, read ID_MAGIC at 0x0 == 0x{:08x} and ID_VERSION at 0x4 == {})",
                holdback_regmap::MAGIC,
                holdback_regmap::VERSION
            )?,
        }
        Ok(())
    }
}

impl Plan {
    /// The plan as printed by `--dry-run`: numbered steps with commands.
    pub fn render(&self) -> String {
        let (card, card_note) = match &self.card {
            CardAt::Known(a) => (a.to_string(), a.to_string()),
            CardAt::AfterRescan => (
                "$BDF".to_string(),
                format!(
                    "$BDF = the {:04x}:{:04x} device found after the rescan (not enumerated now)",
                    self.board.vendor_id, self.board.device_id
                ),
            ),
        };
        let mut out = format!(
            "holdback load plan: board {} ({}), bitstream {}, card {card_note}\n",
            self.board.name,
            self.board.part,
            self.bitstream.display()
        );
        for (i, step) in self.steps.iter().enumerate() {
            let text = step.to_string().replace("<BDF>", &card.to_string());
            out.push_str(&format!("  {:>2}. {text}\n", i + 1));
        }
        let program_step =
            self.steps.iter().position(|s| matches!(&s.action, Action::Run { program, .. } if program == PROGRAMMER));
        let alternative = match program_step {
            Some(i) => format!("vendor alternative to step {}", i + 1),
            None => "FPGA programming skipped (--no-program); program it first, e.g.".to_string(),
        };
        out.push_str(&format!(
            "  {alternative}: Vivado's hardware manager (hw_server), with this program.tcl, then `holdback load --no-program`:\n      $ vivado -mode batch -source program.tcl\n"
        ));
        for line in vivado_program_tcl(self.board, &self.bitstream).lines() {
            out.push_str(&format!("        {line}\n"));
        }
        if self.problems.is_empty() {
            out.push_str("dry run: nothing was changed\n");
        } else {
            out.push_str("dry run: nothing was changed; a real run would stop at:\n");
            for p in &self.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        out
    }
}

fn dev_dir(sysfs: &Path, pci: &PciAddress) -> PathBuf {
    Sysfs::at(sysfs).device_path(pci)
}

fn read_id(path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    u16::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The devices in sysfs with the given vendor:device ID, sorted.
pub fn find_cards(sysfs: &Path, vendor: u16, device: u16) -> Vec<PciAddress> {
    let Ok(entries) = std::fs::read_dir(sysfs.join("bus/pci/devices")) else { return Vec::new() };
    let mut found: Vec<PciAddress> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            read_id(&e.path().join("vendor")) == Some(vendor) && read_id(&e.path().join("device")) == Some(device)
        })
        .filter_map(|e| parse_pci(&e.file_name().to_string_lossy()).ok())
        .collect();
    found.sort_by_key(|a| a.to_string());
    found
}

fn tool_on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// Builds the plan. Bad arguments (unknown board, malformed address) are
/// errors in both modes; facts about this machine (missing bitstream, missing
/// programmer, no card) are errors for a real run and listed problems for a
/// dry run, so `--dry-run` always shows the whole sequence.
pub fn plan(args: &LoadArgs) -> Result<Plan, LoadError> {
    let board = find_board(&args.board)?;
    let given = args.pci.as_deref().map(parse_pci).transpose()?;
    let sysfs = args.sysfs_root.as_path();
    let mut problems = Vec::new();
    let mut problem = |e: LoadError| -> Result<(), LoadError> {
        if args.dry_run {
            problems.push(e.to_string());
            Ok(())
        } else {
            Err(e)
        }
    };

    match std::fs::metadata(&args.bitstream) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        Ok(m) if m.is_file() => {
            problem(LoadError::Bitstream { path: args.bitstream.clone(), why: "file is empty".into() })?
        }
        Ok(_) => problem(LoadError::Bitstream { path: args.bitstream.clone(), why: "not a regular file".into() })?,
        Err(e) => problem(LoadError::Bitstream { path: args.bitstream.clone(), why: e.to_string() })?,
    }
    if !args.no_program && !tool_on_path(PROGRAMMER) {
        problem(LoadError::ToolMissing {
            program: PROGRAMMER.into(),
            remedy: "`apt-get install openfpgaloader`; or program with Vivado (`vivado -mode batch -source program.tcl`, the script `--dry-run` prints) and run `holdback load --no-program` for the rest".into(),
        })?;
    }

    // Where is the card now?
    let (card, present) = match given {
        Some(pci) => {
            let dir = dev_dir(sysfs, &pci);
            let present = dir.exists();
            if present {
                let ids = (read_id(&dir.join("vendor")), read_id(&dir.join("device")));
                if ids != (Some(board.vendor_id), Some(board.device_id)) {
                    // A different design (or the golden image) may present other
                    // IDs before the first load: warn, since the address was explicit.
                    let found = match ids {
                        (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
                        _ => "unreadable".to_string(),
                    };
                    tracing::warn!(%pci, %found, "device at --pci does not have the board's IDs; reprogramming it anyway");
                }
            }
            (CardAt::Known(pci), present)
        }
        None => {
            let found = find_cards(sysfs, board.vendor_id, board.device_id);
            match found.len() {
                0 => (CardAt::AfterRescan, false),
                1 => (CardAt::Known(found[0]), true),
                _ => {
                    return Err(LoadError::AmbiguousCard {
                        vendor: board.vendor_id,
                        device: board.device_id,
                        found: found.iter().map(|a| a.to_string()).collect(),
                    })
                }
            }
        }
    };

    let mut steps = Vec::new();
    steps.push(Step {
        what: format!("check the bitstream {} is a non-empty file for {}", args.bitstream.display(), board.part),
        action: Action::CheckFile { path: args.bitstream.clone() },
    });
    if let (CardAt::Known(pci), true) = (&card, present) {
        let dir = dev_dir(sysfs, pci);
        steps.push(Step {
            what: format!(
                "unbind {pci} from its current driver (stop `holdback daemon` first: a vfio-pci unbind waits for it)"
            ),
            action: Action::SysfsWrite {
                path: dir.join("driver/unbind"),
                value: pci.to_string(),
                only_if: Some(dir.join("driver")),
            },
        });
        steps.push(Step {
            what: format!("remove {pci} from the PCI bus before the FPGA reconfigures"),
            action: Action::SysfsWrite { path: dir.join("remove"), value: "1".into(), only_if: None },
        });
    }
    if !args.no_program {
        let mut programmer_args: Vec<String> = board.programmer_args.iter().map(|s| s.to_string()).collect();
        programmer_args.push(args.bitstream.display().to_string());
        steps.push(Step {
            what: format!("program the FPGA ({}) over JTAG, volatile (SRAM)", board.part),
            action: Action::Run { program: PROGRAMMER.into(), args: programmer_args, only_if_missing: None },
        });
    }
    steps.push(Step {
        what: "let the new PCIe endpoint train its link".into(),
        action: Action::Sleep(board.link_settle),
    });
    steps.push(Step {
        what: "rescan the PCI bus".into(),
        action: Action::SysfsWrite { path: sysfs.join("bus/pci/rescan"), value: "1".into(), only_if: None },
    });
    steps.push(Step {
        what: format!("wait for the card ({:04x}:{:04x}) to enumerate", board.vendor_id, board.device_id),
        action: Action::WaitForCard { vendor: board.vendor_id, device: board.device_id, timeout: ENUMERATE_TIMEOUT },
    });
    let vfio_driver_dir = sysfs.join("bus/pci/drivers/vfio-pci");
    steps.push(Step {
        what: "load vfio-pci".into(),
        action: Action::Run {
            program: "modprobe".into(),
            args: vec!["vfio-pci".into()],
            only_if_missing: Some(vfio_driver_dir),
        },
    });
    let bdf_dir = sysfs.join("bus/pci/devices/<BDF>");
    steps.push(Step {
        what: "release the card from any driver the rescan attached".into(),
        action: Action::UnbindForeignDriver { device_dir: bdf_dir.clone() },
    });
    steps.push(Step {
        what: "make vfio-pci the only driver that may claim the card".into(),
        action: Action::SysfsWrite { path: bdf_dir.join("driver_override"), value: "vfio-pci".into(), only_if: None },
    });
    steps.push(Step {
        what: "ask the kernel to probe the card again (binds vfio-pci)".into(),
        action: Action::SysfsWrite { path: sysfs.join("bus/pci/drivers_probe"), value: "<BDF>".into(), only_if: None },
    });
    steps.push(Step {
        what: "confirm the card is bound to vfio-pci".into(),
        action: Action::ExpectVfio { device_dir: bdf_dir },
    });
    steps.push(Step { what: "check the card's ID block through VFIO".into(), action: Action::CheckIdBlock });

    Ok(Plan { board, bitstream: args.bitstream.clone(), card, present, steps, problems })
}

/// What a finished load reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub pci: PciAddress,
    pub board: &'static str,
    pub id: IdBlock,
}

/// The ID block fields `holdback load` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBlock {
    pub magic: u32,
    pub version: u32,
    pub build: u32,
}

/// What `run` did: the printed plan for a dry run, or the loaded card.
#[derive(Debug)]
pub enum Outcome {
    DryRun(Plan),
    Loaded(Loaded),
}

/// `holdback load`: plan, then (unless `--dry-run`) execute step by step.
pub fn run(args: &LoadArgs) -> Result<Outcome, LoadError> {
    let plan = plan(args)?;
    if args.dry_run {
        return Ok(Outcome::DryRun(plan));
    }
    execute(&plan, &args.sysfs_root).map(Outcome::Loaded)
}

fn execute(plan: &Plan, sysfs: &Path) -> Result<Loaded, LoadError> {
    let board = plan.board;
    let mut pci: Option<PciAddress> = match &plan.card {
        CardAt::Known(a) => Some(*a),
        CardAt::AfterRescan => None,
    };
    let substitute = |p: &Path, pci: &Option<PciAddress>| -> PathBuf {
        match pci {
            Some(a) => PathBuf::from(p.display().to_string().replace("<BDF>", &a.to_string())),
            None => p.to_path_buf(),
        }
    };
    for (i, step) in plan.steps.iter().enumerate() {
        tracing::info!(step = i + 1, what = %step.what, "holdback load");
        match &step.action {
            // Checked while planning: a real run never gets here without it.
            Action::CheckFile { .. } => {}
            Action::SysfsWrite { path, value, only_if } => {
                if let Some(cond) = only_if {
                    if !substitute(cond, &pci).exists() {
                        tracing::info!(step = i + 1, "skipped: {} does not exist", cond.display());
                        continue;
                    }
                }
                let path = substitute(path, &pci);
                let value = match &pci {
                    Some(a) => value.replace("<BDF>", &a.to_string()),
                    None => value.clone(),
                };
                sysfs_write(&path, &value)?;
            }
            Action::Run { program, args, only_if_missing } => {
                if let Some(cond) = only_if_missing {
                    if cond.exists() {
                        continue;
                    }
                }
                run_command(program, args)?;
            }
            Action::Sleep(d) => std::thread::sleep(*d),
            Action::WaitForCard { vendor, device, timeout } => {
                pci = Some(wait_for_card(sysfs, pci.as_ref(), board, *vendor, *device, *timeout)?);
            }
            Action::UnbindForeignDriver { .. } => {
                let a = pci.as_ref().expect("the card was found before this step");
                if let Some(driver) = bound_driver(sysfs, a) {
                    if driver != "vfio-pci" {
                        sysfs_write(&dev_dir(sysfs, a).join("driver/unbind"), &a.to_string())?;
                    }
                }
            }
            Action::ExpectVfio { .. } => {
                let a = pci.as_ref().expect("the card was found before this step");
                match bound_driver(sysfs, a) {
                    Some(d) if d == "vfio-pci" => {}
                    other => {
                        return Err(LoadError::NotBoundToVfio {
                            pci: *a,
                            driver: other.unwrap_or_else(|| "no driver".into()),
                        })
                    }
                }
            }
            Action::CheckIdBlock => {
                let a = pci.expect("the card was found before this step");
                let id = check_id_block_via_vfio(&a)?;
                return Ok(Loaded { pci: a, board: board.name, id });
            }
        }
    }
    unreachable!("every plan ends with the ID block check")
}

fn sysfs_write(path: &Path, value: &str) -> Result<(), LoadError> {
    tracing::debug!(path = %path.display(), value, "sysfs write");
    std::fs::write(path, value).map_err(|source| LoadError::SysfsWrite {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

fn run_command(program: &str, args: &[String]) -> Result<(), LoadError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| LoadError::Spawn { command: command.clone(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let text = if stderr.trim().is_empty() { stdout } else { stderr };
        Err(LoadError::CommandFailed { command, status: out.status.to_string(), stderr: text.trim().to_string() })
    }
}

fn bound_driver(sysfs: &Path, pci: &PciAddress) -> Option<String> {
    let link = std::fs::read_link(dev_dir(sysfs, pci).join("driver")).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn wait_for_card(
    sysfs: &Path,
    expected: Option<&PciAddress>,
    board: &'static Board,
    vendor: u16,
    device: u16,
    timeout: Duration,
) -> Result<PciAddress, LoadError> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = find_cards(sysfs, vendor, device);
        let hit = match expected {
            Some(a) => found.iter().find(|f| *f == a).cloned(),
            None if found.len() == 1 => Some(found[0]),
            None if found.len() > 1 => {
                return Err(LoadError::AmbiguousCard {
                    vendor,
                    device,
                    found: found.iter().map(|a| a.to_string()).collect(),
                })
            }
            None => None,
        };
        if let Some(a) = hit {
            return Ok(a);
        }
        if Instant::now() >= deadline {
            let remedy = "check the FPGA's DONE LED and the programmer output; some hosts need a secondary-bus reset of the upstream bridge (`setpci` on its BRIDGE_CONTROL) or a warm reboot before a reprogrammed endpoint enumerates; the bitstream's PCI IDs must match the board table".to_string();
            return match expected {
                Some(a) => Err(LoadError::NotEnumerated { pci: a.to_string(), timeout, remedy }),
                None => Err(LoadError::CardNotFound {
                    board: board.name,
                    vendor,
                    device,
                    sysfs: sysfs.to_path_buf(),
                    remedy,
                }),
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads and checks the ID block of the card bound to vfio-pci at `pci`
/// through holdback-driver's VFIO backend: `open_card` maps BAR0 and
/// `CardHandle::open` refuses a wrong magic or version. The device is closed
/// again before returning, so the daemon can open it next.
pub fn check_id_block_via_vfio(pci: &PciAddress) -> Result<IdBlock, LoadError> {
    let spec = format!("vfio:{pci}");
    let card = holdback_driver::vfio::open_card(&spec)
        .map_err(|source| LoadError::IdCheck { pci: *pci, source: Box::new(source) })?;
    let info = *card.info();
    card.into_bar().close().map_err(|source| LoadError::IdCheck { pci: *pci, source: Box::new(source) })?;
    Ok(IdBlock { magic: holdback_regmap::MAGIC, version: info.version, build: info.build_id })
}

/// A Vivado batch script that programs the board's FPGA: the vendor
/// alternative to openFPGALoader (`vivado -mode batch -source program.tcl`;
/// needs hw_server, started by `open_hw_manager` + `connect_hw_server`).
pub fn vivado_program_tcl(board: &Board, bitstream: &Path) -> String {
    let part_prefix = board.part.split('-').next().unwrap_or(board.part);
    format!(
        "# Program {name} ({part}) with {bit}\n\
         open_hw_manager\n\
         connect_hw_server -allow_non_jtag\n\
         open_hw_target\n\
         set dev [lindex [get_hw_devices {part_prefix}*] 0]\n\
         current_hw_device $dev\n\
         set_property PROGRAM.FILE {{{bit}}} $dev\n\
         program_hw_devices $dev\n\
         close_hw_target\n\
         disconnect_hw_server\n\
         close_hw_manager\n",
        name = board.name,
        part = board.part,
        bit = bitstream.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A scratch sysfs tree: /bus/pci/{devices,drivers/<d>}, rescan, drivers_probe.
    struct FakeSysfs {
        root: PathBuf,
    }

    impl FakeSysfs {
        fn new(tag: &str) -> FakeSysfs {
            let root = std::env::temp_dir().join(format!("holdback-load-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("bus/pci/devices")).unwrap();
            std::fs::create_dir_all(root.join("bus/pci/drivers")).unwrap();
            std::fs::write(root.join("bus/pci/rescan"), "").unwrap();
            std::fs::write(root.join("bus/pci/drivers_probe"), "").unwrap();
            FakeSysfs { root }
        }

        fn add_device(&self, bdf: &str, vendor: u16, device: u16, driver: Option<&str>) {
            let dir = self.root.join("bus/pci/devices").join(bdf);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("vendor"), format!("0x{vendor:04x}\n")).unwrap();
            std::fs::write(dir.join("device"), format!("0x{device:04x}\n")).unwrap();
            std::fs::write(dir.join("remove"), "").unwrap();
            std::fs::write(dir.join("driver_override"), "(null)\n").unwrap();
            if let Some(d) = driver {
                let ddir = self.root.join("bus/pci/drivers").join(d);
                std::fs::create_dir_all(&ddir).unwrap();
                std::fs::write(ddir.join("unbind"), "").unwrap();
                symlink(&ddir, dir.join("driver")).unwrap();
            }
        }

        /// Every file under the tree with its content, to prove a dry run
        /// changed nothing.
        fn snapshot(&self) -> Vec<(PathBuf, String)> {
            fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
                let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
                entries.sort();
                for p in entries {
                    let meta = std::fs::symlink_metadata(&p).unwrap();
                    if meta.file_type().is_symlink() {
                        out.push((p.clone(), format!("-> {}", std::fs::read_link(&p).unwrap().display())));
                    } else if meta.is_dir() {
                        walk(&p, out);
                    } else {
                        out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
                    }
                }
            }
            let mut out = Vec::new();
            walk(&self.root, &mut out);
            out
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    /// A scratch bitstream file, removed when the test ends (passed or failed).
    struct ScratchBit(PathBuf);

    impl std::ops::Deref for ScratchBit {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    impl AsRef<Path> for ScratchBit {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchBit {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn bitstream(tag: &str) -> ScratchBit {
        let p = std::env::temp_dir().join(format!("holdback-load-{tag}-{}.bit", std::process::id()));
        std::fs::write(&p, b"\x00\x09\x0f\xf0 not a real bitstream").unwrap();
        ScratchBit(p)
    }

    fn args(bit: &Path, sysfs: &Path, pci: Option<&str>, dry_run: bool) -> LoadArgs {
        LoadArgs {
            bitstream: bit.to_path_buf(),
            board: "kcu105".into(),
            pci: pci.map(str::to_string),
            dry_run,
            no_program: false,
            sysfs_root: sysfs.to_path_buf(),
        }
    }

    #[test]
    fn pci_addresses_parse_and_normalise() {
        assert_eq!(parse_pci("0000:03:00.0").unwrap().to_string(), "0000:03:00.0");
        assert_eq!(parse_pci("3:0.1").unwrap().to_string(), "0000:03:00.1");
        assert_eq!(parse_pci("0001:AF:1f.7").unwrap().to_string(), "0001:af:1f.7");
        for bad in ["", "03:00", "0000:03:00:0", "zz:00.0", "03:20.0", "03:00.8", "00000:03:00.0", "03:00."] {
            assert!(matches!(parse_pci(bad), Err(LoadError::BadPciAddress { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_board_lists_the_boards() {
        let fs = FakeSysfs::new("unknown");
        let bit = bitstream("unknown");
        let mut a = args(&bit, &fs.root, None, true);
        a.board = "zcu999".into();
        let e = plan(&a).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, LoadError::UnknownBoard { .. }));
        assert!(text.contains("zcu999") && text.contains("kcu105"), "{text}");
    }

    #[test]
    fn board_names_are_case_insensitive() {
        assert_eq!(find_board("KCU105").unwrap().name, "kcu105");
    }

    #[test]
    fn missing_bitstream_is_an_error_for_a_real_run() {
        let fs = FakeSysfs::new("missing-real");
        let a = args(Path::new("/nonexistent/holdback/x.bit"), &fs.root, Some("0000:03:00.0"), false);
        let e = plan(&a).unwrap_err();
        assert!(matches!(e, LoadError::Bitstream { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/holdback/x.bit"));
    }

    #[test]
    fn dry_run_with_missing_bitstream_still_prints_everything_and_names_the_problem() {
        let fs = FakeSysfs::new("missing-dry");
        let a = args(Path::new("x.bit"), &fs.root, None, true);
        let p = plan(&a).unwrap();
        let text = p.render();
        assert!(text.contains("a real run would stop at"), "{text}");
        assert!(text.contains("bitstream x.bit"), "{text}");
        assert!(text.contains("openFPGALoader --cable digilent x.bit"), "{text}");
    }

    #[test]
    fn bad_pci_address_is_an_error_even_in_dry_run() {
        let fs = FakeSysfs::new("badpci");
        let bit = bitstream("badpci");
        let a = args(&bit, &fs.root, Some("03-00-0"), true);
        assert!(matches!(plan(&a), Err(LoadError::BadPciAddress { .. })));
    }

    #[test]
    fn dry_run_plan_for_a_programmed_card_has_the_full_dance_in_order() {
        let fs = FakeSysfs::new("full");
        fs.add_device("0000:03:00.0", 0x10ee, 0x4842, Some("xdma"));
        let bit = bitstream("full");
        let a = args(&bit, &fs.root, None, true);
        let p = plan(&a).unwrap();
        assert_eq!(p.card, CardAt::Known(parse_pci("0000:03:00.0").unwrap()));
        assert!(p.present);
        let text = p.render();
        let r = fs.root.display();
        let expected_in_order = [
            format!("check the bitstream {}", bit.display()),
            format!("$ echo 0000:03:00.0 > {r}/bus/pci/devices/0000:03:00.0/driver/unbind"),
            format!("$ echo 1 > {r}/bus/pci/devices/0000:03:00.0/remove"),
            format!("$ openFPGALoader --cable digilent {}", bit.display()),
            "(sleep 1000 ms)".to_string(),
            format!("$ echo 1 > {r}/bus/pci/rescan"),
            "10ee:4842".to_string(),
            "$ modprobe vfio-pci".to_string(),
            "driver/unbind   (if a driver other than vfio-pci is bound)".to_string(),
            format!("$ echo vfio-pci > {r}/bus/pci/devices/0000:03:00.0/driver_override"),
            format!("$ echo 0000:03:00.0 > {r}/bus/pci/drivers_probe"),
            "must end in vfio-pci".to_string(),
            "read ID_MAGIC at 0x0 == 0x484c4442".to_string(),
            "program_hw_devices".to_string(),
        ];
        let mut at = 0;
        for want in &expected_in_order {
            let Some(pos) = text[at..].find(want.as_str()) else {
                panic!("`{want}` missing or out of order in the plan:\n{text}");
            };
            at += pos + want.len();
        }
        assert!(!text.contains("<BDF>"), "unresolved placeholder:\n{text}");
    }

    #[test]
    fn blank_fpga_plan_skips_unbind_and_finds_the_card_after_rescan() {
        let fs = FakeSysfs::new("blank");
        fs.add_device("0000:00:1f.0", 0x8086, 0x1234, Some("lpc_ich"));
        let bit = bitstream("blank");
        let p = plan(&args(&bit, &fs.root, None, true)).unwrap();
        assert_eq!(p.card, CardAt::AfterRescan);
        assert!(!p.present);
        assert!(!p.steps.iter().any(|s| s.what.starts_with("unbind") || s.what.starts_with("remove")));
        let text = p.render();
        assert!(text.contains("$BDF = the 10ee:4842 device found after the rescan"), "{text}");
        assert!(text.contains("/bus/pci/devices/$BDF/driver_override"), "{text}");
    }

    #[test]
    fn explicit_pci_not_present_plans_no_unbind() {
        let fs = FakeSysfs::new("explicit");
        let bit = bitstream("explicit");
        let p = plan(&args(&bit, &fs.root, Some("0000:65:00.0"), true)).unwrap();
        assert!(!p.present);
        assert_eq!(p.card, CardAt::Known(parse_pci("65:00.0").unwrap()));
        assert!(p.render().contains("drivers_probe"));
    }

    #[test]
    fn no_program_skips_the_programmer_and_its_check() {
        let fs = FakeSysfs::new("noprog");
        fs.add_device("0000:03:00.0", 0x10ee, 0x4842, Some("vfio-pci"));
        let bit = bitstream("noprog");
        let mut a = args(&bit, &fs.root, None, true);
        a.no_program = true;
        let p = plan(&a).unwrap();
        assert!(!p.steps.iter().any(|s| matches!(&s.action, Action::Run { program, .. } if program == PROGRAMMER)));
        assert!(p.problems.iter().all(|pr| !pr.contains(PROGRAMMER)), "{:?}", p.problems);
        let text = p.render();
        assert!(text.contains("skipped (--no-program)") && text.contains("drivers_probe"), "{text}");
    }

    #[test]
    fn two_matching_cards_without_pci_is_an_error() {
        let fs = FakeSysfs::new("two");
        fs.add_device("0000:03:00.0", 0x10ee, 0x4842, None);
        fs.add_device("0000:04:00.0", 0x10ee, 0x4842, None);
        let bit = bitstream("two");
        let e = plan(&args(&bit, &fs.root, None, true)).unwrap_err();
        assert!(matches!(e, LoadError::AmbiguousCard { .. }), "{e}");
        assert!(e.to_string().contains("0000:03:00.0, 0000:04:00.0"));
    }

    #[test]
    fn dry_run_touches_nothing() {
        let fs = FakeSysfs::new("untouched");
        fs.add_device("0000:03:00.0", 0x10ee, 0x4842, Some("xdma"));
        let before = fs.snapshot();
        let bit = bitstream("untouched");
        let out = run(&args(&bit, &fs.root, None, true)).unwrap();
        assert!(matches!(out, Outcome::DryRun(_)));
        assert_eq!(before, fs.snapshot());
    }

    #[test]
    fn id_check_of_a_missing_device_is_an_error_naming_it() {
        let e = check_id_block_via_vfio(&parse_pci("ffff:ff:1f.7").unwrap()).unwrap_err();
        assert!(matches!(e, LoadError::IdCheck { .. }));
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            chain.push_str(&format!(": {s}"));
            src = s.source();
        }
        assert!(chain.contains("ffff:ff:1f.7"), "{chain}");
    }

    #[test]
    fn vivado_script_programs_the_right_part() {
        let tcl = vivado_program_tcl(find_board("kcu105").unwrap(), Path::new("/tmp/top.bit"));
        assert!(tcl.contains("get_hw_devices xcku040*"));
        assert!(tcl.contains("set_property PROGRAM.FILE {/tmp/top.bit}"));
        assert!(tcl.contains("program_hw_devices"));
    }
}
