//! Host driver for the holdback card.
//!
//! - [`Bar`]: aligned 32-bit register access; backends: [`SimBar`] (feature
//!   `sim`, the Verilated card), [`MemBar`] (plain memory, for tests) and
//!   [`MmioBar`] (volatile access to a mapped region: the VFIO backend maps
//!   BAR0 and hands it over).
//! - [`CardHandle`]: the typed layer over any `Bar`, every address taken from
//!   `holdback_regmap`: ID block check, configuration, TCBs, change log,
//!   receive rings, release registers, stats.
//! - [`Tcb`]: one decoded control block (serde, versioned); [`SeqNum`]:
//!   wrap-aware sequence numbers; [`Stats`]: every counter by name.
// Unsafe is confined to `mmio` (volatile MMIO), which opts back in.
#![deny(unsafe_code)]

pub mod bar;
pub mod card;
pub mod mmio;
pub mod seq;
#[cfg(feature = "sim")]
pub mod sim_bar;
pub mod stats;
pub mod tcb;
#[cfg(feature = "vfio")]
pub mod vfio;

pub use bar::{Bar, BarError, MemBar, BAR_SIZE};
pub use card::{CardError, CardHandle, CardInfo, CardSettings, CardStatus, Ctrl, OpenError, PromoteReport, Promotion, SettingsError};
pub use holdback_regmap as regmap;
pub use mmio::MmioBar;
pub use seq::SeqNum;
#[cfg(feature = "sim")]
pub use sim_bar::{CoreSimBar, SimBar};
pub use stats::Stats;
pub use tcb::{Tcb, TcbError};
