//! Classic pcap (libpcap 2.4, microsecond timestamps, LINKTYPE_ETHERNET) of the
//! frames on the card's port, readable by tshark/wireshark while it grows:
//! every record is flushed as it is written.
use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::SimError;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65535;

pub struct PcapWriter {
    path: PathBuf,
    out: BufWriter<File>,
    frames: u64,
}

impl PcapWriter {
    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> Result<PcapWriter, SimError> {
        let err = |source| SimError::Pcap { path: path.to_path_buf(), source };
        let file = File::create(path).map_err(err)?;
        let mut out = BufWriter::new(file);
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        hdr.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
        hdr.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        hdr.extend_from_slice(&SNAPLEN.to_le_bytes());
        hdr.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&hdr).and_then(|()| out.flush()).map_err(err)?;
        Ok(PcapWriter { path: path.to_path_buf(), out, frames: 0 })
    }

    /// Appends one Ethernet frame (no FCS) stamped `at` (time since the Unix epoch).
    pub fn write(&mut self, at: Duration, frame: &[u8]) -> Result<(), SimError> {
        let incl = frame.len().min(SNAPLEN as usize);
        let mut rec = Vec::with_capacity(16 + incl);
        // Classic pcap has 32-bit seconds: fine until 2106.
        rec.extend_from_slice(&(at.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&at.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&(incl as u32).to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(&frame[..incl]);
        self.out
            .write_all(&rec)
            .and_then(|()| self.out.flush())
            .map_err(|source| SimError::Pcap { path: self.path.clone(), source })?;
        self.frames += 1;
        Ok(())
    }

    /// Appends a frame stamped with the current wall-clock time.
    pub fn write_now(&mut self, frame: &[u8]) -> Result<(), SimError> {
        self.write(unix_now(), frame)
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Wall-clock time since the Unix epoch (zero if the clock is before 1970).
pub fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Reads back a classic little-endian microsecond pcap: (timestamp, frame) records.
/// For tests and tools; rejects other formats and a truncated record.
pub fn read_all(path: &Path) -> Result<Vec<(Duration, Vec<u8>)>, SimError> {
    let (records, truncated) = read_complete_records(path)?;
    if truncated {
        return Err(SimError::Pcap {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, "truncated record"),
        });
    }
    Ok(records)
}

/// One captured frame: its wall-clock stamp (since the Unix epoch) and bytes.
pub type PcapRecord = (Duration, Vec<u8>);

/// Like [`read_all`], but a capture whose writer was killed mid-record (a
/// SIGKILLed card in a failover lab) yields its complete records and `true`.
pub fn read_complete_records(path: &Path) -> Result<(Vec<PcapRecord>, bool), SimError> {
    let err = |source| SimError::Pcap { path: path.to_path_buf(), source };
    let data = std::fs::read(path).map_err(err)?;
    let bad = |what: &str| err(io::Error::new(io::ErrorKind::InvalidData, what.to_string()));
    let u32_at = |off: usize| -> Option<u32> { Some(u32::from_le_bytes(data.get(off..off + 4)?.try_into().ok()?)) };
    if data.len() < 24 || u32_at(0) != Some(MAGIC_MICROS) || u32_at(20) != Some(LINKTYPE_ETHERNET) {
        return Err(bad("not a little-endian microsecond Ethernet pcap"));
    }
    let mut off = 24;
    let mut out = Vec::new();
    while off < data.len() {
        let (Some(sec), Some(usec), Some(incl)) = (u32_at(off), u32_at(off + 4), u32_at(off + 8)) else {
            return Ok((out, true));
        };
        if incl > SNAPLEN {
            return Err(bad("record longer than the snap length"));
        }
        let start = off + 16;
        let Some(frame) = data.get(start..start + incl as usize) else {
            return Ok((out, true));
        };
        out.push((Duration::new(sec as u64, usec.saturating_mul(1000)), frame.to_vec()));
        off = start + incl as usize;
    }
    Ok((out, false))
}
