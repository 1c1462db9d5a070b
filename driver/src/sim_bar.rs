//! The simulated card's register bus as a [`Bar`]: [`SimBar`] for the
//! threaded card (wall-clock time, TAP), [`CoreSimBar`] for the
//! deterministic single-threaded core.
use holdback_sim::card::RegPort;
use holdback_sim::core_sim::CoreSim;

use crate::bar::{Bar, BarError};

/// BAR backed by the simulated card's register port: every access is a
/// register-bus transaction on the Verilated core, served by its clock thread.
#[derive(Clone)]
pub struct SimBar {
    port: RegPort,
}

impl SimBar {
    pub fn new(port: RegPort) -> SimBar {
        SimBar { port }
    }

    fn err(&self, offset: u32, e: holdback_sim::SimError) -> BarError {
        BarError::Backend { bar: self.describe(), offset, source: Box::new(e) }
    }
}

impl Bar for SimBar {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        self.port.read32(offset).map_err(|e| self.err(offset, e))
    }
    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        self.port.write32(offset, value).map_err(|e| self.err(offset, e))
    }
    /// One round trip to the clock thread for the whole block.
    fn read_block(&self, offset: u32, out: &mut [u32]) -> Result<(), BarError> {
        self.port.read_block(offset, out).map_err(|e| self.err(offset, e))
    }
    fn write_block(&self, offset: u32, values: &[u32]) -> Result<(), BarError> {
        self.port.write_block(offset, values).map_err(|e| self.err(offset, e))
    }
    fn describe(&self) -> String {
        "simulated card".to_string()
    }
}

/// BAR over a deterministic, single-threaded [`CoreSim`]: register accesses
/// clock the core until `reg_ack`, nothing else runs in between. Tests use it
/// to drive the RTL through the typed layer cycle-exactly (push frames and
/// advance time through [`CoreSimBar::with_sim`]).
pub struct CoreSimBar {
    sim: std::sync::Mutex<CoreSim>,
}

impl CoreSimBar {
    pub fn new(sim: CoreSim) -> CoreSimBar {
        CoreSimBar { sim: std::sync::Mutex::new(sim) }
    }

    /// Run `f` on the simulation (push frames, pop TX frames, advance time).
    pub fn with_sim<R>(&self, f: impl FnOnce(&mut CoreSim) -> R) -> R {
        // A panic in another test thread while holding the lock leaves the
        // simulation itself intact; keep using it.
        let mut sim = self.sim.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut sim)
    }

    pub fn into_inner(self) -> CoreSim {
        self.sim.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, offset: u32, e: holdback_sim::SimError) -> BarError {
        BarError::Backend { bar: self.describe(), offset, source: Box::new(e) }
    }
}

impl Bar for CoreSimBar {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        self.with_sim(|s| s.reg_read(offset)).map_err(|e| self.err(offset, e))
    }
    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        self.with_sim(|s| s.reg_write(offset, value)).map_err(|e| self.err(offset, e))
    }
    fn describe(&self) -> String {
        "cycle-exact core simulation".to_string()
    }
}
