//! Classic pcap (libpcap 2.4, microsecond timestamps, LINKTYPE_ETHERNET) of the
//! frames on the card's port, through the `pcap-file` crate. Readable by
//! tshark/wireshark while it grows: the writer does not buffer, so every
//! record is in the file once [`PcapWriter::write`] returns.
use std::{
    fs::File,
    io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use crate::SimError;

const SNAPLEN: u32 = 65535;

pub struct PcapWriter {
    path: PathBuf,
    out: pcap_file::pcap::PcapWriter<File>,
    frames: u64,
}

/// A pcap-file error as the I/O error [`SimError::Pcap`] carries.
fn io_error(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl PcapWriter {
    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> Result<PcapWriter, SimError> {
        let err = |source| SimError::Pcap { path: path.to_path_buf(), source };
        let file = File::create(path).map_err(err)?;
        // Little-endian and microseconds: what tshark and the lab's readers
        // have always been given (the crate's default is the host's order).
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        let out = pcap_file::pcap::PcapWriter::with_header(file, header).map_err(|e| err(io_error(e)))?;
        Ok(PcapWriter { path: path.to_path_buf(), out, frames: 0 })
    }

    /// Appends one Ethernet frame (no FCS) stamped `at` (time since the Unix
    /// epoch; classic pcap has 32-bit seconds: fine until 2106). A frame
    /// longer than the snap length is cut to it, its original length kept.
    pub fn write(&mut self, at: Duration, frame: &[u8]) -> Result<(), SimError> {
        let incl = frame.len().min(SNAPLEN as usize);
        let packet = PcapPacket::new(at, frame.len() as u32, &frame[..incl]);
        self.out
            .write_packet(&packet)
            .map_err(|e| SimError::Pcap { path: self.path.clone(), source: io_error(e) })?;
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

/// Reads back a classic Ethernet pcap: (timestamp, frame) records.
/// For tests and tools; rejects other link types and a truncated record.
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
    let (mut rest, parser) = PcapParser::new(&data).map_err(|e| err(io_error(e)))?;
    if parser.header().datalink != DataLink::ETHERNET {
        return Err(err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("link type {:?}, not Ethernet", parser.header().datalink),
        )));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        match parser.next_packet(rest) {
            Ok((next, packet)) => {
                out.push((packet.timestamp, packet.data.into_owned()));
                rest = next;
            }
            // The writer died between a record's header and its end.
            Err(PcapError::IncompleteBuffer) => return Ok((out, true)),
            Err(e) => return Err(err(io_error(e))),
        }
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_reported() {
        let path = std::env::temp_dir().join(format!("holdback-pcap-{}.pcap", std::process::id()));
        let mut w = PcapWriter::create(&path).unwrap();
        let frames = [vec![0xaa; 60], vec![0x55; 1514]];
        let stamps = [Duration::new(1_700_000_000, 123_000), Duration::new(1_700_000_001, 999_999_000)];
        for (at, f) in stamps.iter().zip(&frames) {
            w.write(*at, f).unwrap();
        }
        assert_eq!(w.frames(), 2);
        let bytes = std::fs::read(&path).unwrap();
        // The classic little-endian microsecond magic tshark expects.
        assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        let back = read_all(&path).unwrap();
        assert_eq!(back, stamps.iter().copied().zip(frames.iter().cloned()).collect::<Vec<_>>());

        // A record header promising more bytes than were written.
        let mut torn = bytes.clone();
        torn.extend_from_slice(&[0u8, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &torn).unwrap();
        let (records, truncated) = read_complete_records(&path).unwrap();
        assert_eq!((records.len(), truncated), (2, true));
        assert!(read_all(&path).is_err());

        std::fs::write(&path, b"not a pcap at all, longer than a header").unwrap();
        assert!(read_complete_records(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
