//! The simulated card's register bus as a [`Bar`].
use holdback_sim::card::RegPort;

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
