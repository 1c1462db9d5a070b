//! Host driver for the holdback card.
//!
//! - [`Bar`]: aligned 32-bit register access; backends: [`SimBar`] (feature
//!   `sim`, the Verilated card), [`MemBar`] (plain memory, for tests) and
//!   [`MmioBar`] (volatile access to a mapped region: the VFIO backend maps
//!   BAR0 and hands it over).
//! - [`CardHandle`]: the typed layer over any `Bar`, every address taken from
//!   `holdback_regmap`: ID block check, configuration, TCBs, change log,
//!   receive rings, release registers, stats.
//! - [`Stats`]: every counter by name. The control block [`Tcb`], sequence
//!   numbers [`SeqNum`] and [`MacAddr`] are the register map's own types,
//!   re-exported.
// Unsafe is confined to `mmio` (volatile MMIO), which opts back in.
#![deny(unsafe_code)]

pub mod bar;
pub mod card;
pub mod mmio;
#[cfg(feature = "sim")]
pub mod sim_bar;
pub mod stats;
#[cfg(feature = "vfio")]
pub mod vfio;

pub use bar::{Bar, BarError, MemBar, BAR_SIZE};
pub use card::{CardError, CardHandle, CardInfo, CardSettings, CardStatus, Ctrl, OpenError, PromoteReport, Promotion, SettingsError};
pub use holdback_regmap as regmap;
pub use mmio::MmioBar;
#[cfg(feature = "sim")]
pub use sim_bar::{CoreSimBar, SimBar};
pub use stats::Stats;
pub use holdback_regmap::{MacAddr, MacParseError, SeqNum, Tcb, TcbError};
