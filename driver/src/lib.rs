//! Host driver for the holdback card.
//!
//! - [`Bar`]: aligned 32-bit register access; backends: [`SimBar`] (feature
//!   `sim`, the Verilated card), [`MemBar`] (plain memory, for tests) and
//!   `vfio::VfioBar` (feature `vfio`: BAR0 mapped from the VFIO device).
//! - [`CardHandle`]: the typed layer over any `Bar`, every address taken from
//!   `holdback_regmap`: ID block check, configuration, release registers,
//!   stats; with host memory attached, the receive rings and the event
//!   queue the card writes by DMA, and the TCB mirror built from the events.
//! - [`host_mem`]: DMA memory ([`DmaMemory`]: the simulator's shared host
//!   memory, VFIO DMA buffers, a fake for tests) and the card layer's
//!   allocation of the rings in it ([`HostRings`]).
//! - [`Stats`]: every counter by name. The control block [`Tcb`], sequence
//!   numbers [`SeqNum`] and [`MacAddr`] are the register map's own types,
//!   re-exported.
// Unsafe is confined to `vfio` (mappings, DMA, ioctls), which opts back in.
#![deny(unsafe_code)]

pub mod bar;
pub mod card;
pub mod event_queue;
pub mod host_mem;
#[cfg(feature = "sim")]
pub mod sim_bar;
pub mod stats;
#[cfg(feature = "vfio")]
pub mod vfio;

pub use bar::{Bar, BarError, MemBar, BAR_SIZE};
pub use host_mem::{DmaAllocator, DmaMemError, DmaMemory, FakeDmaMemory, HostRings, RingLayout, DEFAULT_RX_RING_BYTES};
pub use card::{CardError, CardHandle, CardInfo, CardSettings, CardStatus, CookieKeys, Ctrl, OpenError, PortHoldback, PromoteReport, Promotion, RelayTarget, SettingsError};
pub use holdback_regmap as regmap;
#[cfg(feature = "sim")]
pub use sim_bar::{CoreSimBar, SimBar};
pub use stats::Stats;
pub use holdback_regmap::{MacAddr, MacParseError, SeqNum, Tcb, TcbError};
