//! Frames and messages of the replication link (claims 27, 28).
//!
//! A frame on the TCP stream:
//!
//! ```text
//! len: u32 BE   bytes that follow (version .. mac), at most MAX_FRAME
//! version: u16 BE   PROTOCOL_VERSION
//! seq: u64 BE   frame number on this connection and direction: 0, 1, 2, ...
//! payload       postcard-encoded `Msg`
//! mac: [u8; 32] HMAC-SHA256(key, direction || len || version || seq || payload)
//! ```
//!
//! The length is checked against [`MAX_FRAME`] before a buffer is allocated.
//! Every frame carries an HMAC. The first frame of a connection (the
//! primary's [`Hello`]) is keyed with a key derived from the shared secret
//! alone, the standby's [`Welcome`] with one bound to the primary's nonce,
//! every later frame with a per-connection key derived from the secret and
//! both sides' nonces, so frames recorded on one connection fail the MAC
//! on any other, and the strict frame numbering refuses a frame replayed
//! within a connection. The direction byte stops a frame from being reflected
//! back to its sender.
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt};

use holdback_driver::Tcb;

use super::delta::TcbDelta;

/// The protocol this code speaks. A peer announcing any other is refused.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest frame accepted (bytes after the length prefix). A full-sync chunk
/// of 32 TCBs is about 3 KiB; the limit leaves room and bounds what a peer
/// can make us allocate.
pub const MAX_FRAME: u32 = 256 * 1024;
/// Bytes of the length prefix.
pub const LEN_BYTES: usize = 4;
/// Bytes of version and frame number.
pub const HEADER_BYTES: usize = 2 + 8;
/// Bytes of the HMAC-SHA256 tag.
pub const MAC_BYTES: usize = 32;
/// Smallest valid value of the length prefix (empty payload).
const MIN_FRAME: u32 = (HEADER_BYTES + MAC_BYTES) as u32;

type HmacSha256 = Hmac<Sha256>;

/// Who sent a frame; part of the MAC input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    PrimaryToStandby = 0,
    StandbyToPrimary = 1,
}

/// Role a node announces in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Primary,
    Standby,
}

/// Where the standby stands in a replication session: the primary resumes
/// from `applied + 1` when it still holds those messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// The primary's session (random, one per primary lifetime).
    pub session: u64,
    /// The primary's epoch during that session.
    pub epoch: u32,
    /// Highest replication sequence the standby stored (hook succeeded).
    pub applied: u64,
}

/// Primary → standby, first frame (keyed with the hello key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: u64,
    pub epoch: u32,
    pub role: Role,
    /// TCB layout version (`holdback_regmap::VERSION`): deltas are by field of
    /// that layout, so both sides must agree.
    pub layout: u32,
    pub session: u64,
    pub nonce: [u8; 32],
}

/// Standby → primary (keyed with the connection key, which proves the
/// standby knows the secret and answers this very Hello).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub node_id: u64,
    pub epoch: u32,
    pub role: Role,
    pub nonce: [u8; 32],
    /// `None`: the standby holds nothing usable; it needs a full sync.
    pub resume: Option<ResumePoint>,
}

/// How the primary continues after the handshake (connection key: proves the
/// primary knows the secret and answers this very Welcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Updates follow from replication sequence `from`.
    Resume { from: u64 },
    /// A full sync (claim 33) follows.
    FullSync,
}

/// One replicated change, numbered by the primary's replication sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Update {
    /// A full sync begins: `count` TCBs follow in chunks (claim 33).
    SyncBegin { count: u32 },
    SyncChunk { tcbs: Vec<(u16, Tcb)> },
    /// The full sync is complete: the standby drops ids it did not receive.
    SyncEnd,
    /// The first copy of a TCB the stream has not carried yet.
    Full { id: u16, tcb: Tcb },
    /// Only the fields that changed since the last copy sent (claims 34, 35).
    Delta { id: u16, delta: TcbDelta },
    /// Stream bytes `[offset, offset + bytes.len())` of the connection in
    /// TCB `id` (its peer's initial sequence number `irs` names it, as a
    /// slot is reused): committed bytes for a standby that keeps its own
    /// store (`store = "replicated"`). They travel after a copy of `id`
    /// whose rcv_nxt covers them and before the copy whose R does, and the
    /// standby writes them at their offset and fsyncs before acknowledging.
    Data { id: u16, irs: u32, offset: u64, bytes: Vec<u8> },
}

/// Everything that travels on the link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Hello(Hello),
    Welcome(Welcome),
    Start(Start),
    Update { rseq: u64, update: Update },
    /// Cumulative: the standby stored everything up to `applied`.
    Ack { applied: u64 },
    /// Both directions, every heartbeat interval, and at once when a side's
    /// epoch changes (the epoch notice).
    Heartbeat { epoch: u32 },
}

/// Why a frame was not accepted. Each refuses the connection it came on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("reading a frame: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame length {len} exceeds the limit of {MAX_FRAME} bytes")]
    Oversized { len: u32 },
    #[error("frame length {len} is shorter than header and MAC ({MIN_FRAME} bytes)")]
    TooShort { len: u32 },
    #[error("protocol version {found} is not the version {PROTOCOL_VERSION} this node speaks")]
    UnknownVersion { found: u16 },
    #[error("HMAC does not verify (wrong secret, a frame from another connection, or corruption)")]
    BadMac,
    #[error("frame number {found}, expected {expected} (replayed or reordered frame)")]
    OutOfOrder { expected: u64, found: u64 },
    #[error("payload does not decode as a message: {0}")]
    Garbled(postcard::Error),
    #[error("encoding a message: {0}")]
    Encode(postcard::Error),
}

/// The key of the first frame: derived from the shared secret only.
pub fn hello_key(secret: &[u8]) -> [u8; 32] {
    derive(secret, &[b"holdback-repl hello"])
}

/// The key of the standby's Welcome: bound to the primary's fresh nonce, so a
/// Welcome recorded on another connection does not verify.
pub fn welcome_key(secret: &[u8], primary_nonce: &[u8; 32]) -> [u8; 32] {
    derive(secret, &[b"holdback-repl welcome", primary_nonce])
}

/// The key of every frame after the Welcome: secret and both nonces.
pub fn connection_key(secret: &[u8], primary_nonce: &[u8; 32], standby_nonce: &[u8; 32]) -> [u8; 32] {
    derive(secret, &[b"holdback-repl connection", primary_nonce, standby_nonce])
}

fn derive(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// One direction of one connection: the key and the next frame number.
#[derive(Clone)]
pub struct FrameCodec {
    mac: HmacSha256,
    direction: Direction,
    next_seq: u64,
}

impl FrameCodec {
    pub fn new(key: &[u8; 32], direction: Direction) -> FrameCodec {
        FrameCodec {
            mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
            direction,
            next_seq: 0,
        }
    }

    /// Switch to a new key, keeping the frame numbering.
    pub fn rekey(&mut self, key: &[u8; 32]) {
        self.mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    }

    fn tag(&self, len: u32, version: u16, seq: u64, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&[self.direction as u8]);
        mac.update(&len.to_be_bytes());
        mac.update(&version.to_be_bytes());
        mac.update(&seq.to_be_bytes());
        mac.update(payload);
        mac
    }

    /// Append the frame of `msg` to `out`; returns its size in bytes.
    pub fn encode(&mut self, msg: &Msg, out: &mut Vec<u8>) -> Result<usize, FrameError> {
        let payload = postcard::to_allocvec(msg).map_err(FrameError::Encode)?;
        let len = (HEADER_BYTES + payload.len() + MAC_BYTES) as u32;
        if len > MAX_FRAME {
            return Err(FrameError::Oversized { len });
        }
        let seq = self.next_seq;
        let tag = self.tag(len, PROTOCOL_VERSION, seq, &payload).finalize().into_bytes();
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&tag);
        self.next_seq += 1;
        Ok(LEN_BYTES + len as usize)
    }

    /// Read one frame and check, in this order and before allocating for the
    /// body: length within limits, protocol version; then the HMAC, the
    /// frame number, and last the payload's decoding.
    /// Returns the message and the frame's size on the wire.
    pub async fn read<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<(Msg, usize), FrameError> {
        let mut head = [0u8; LEN_BYTES + HEADER_BYTES];
        match r.read_exact(&mut head[..LEN_BYTES]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > MAX_FRAME {
            return Err(FrameError::Oversized { len });
        }
        if len < MIN_FRAME {
            return Err(FrameError::TooShort { len });
        }
        r.read_exact(&mut head[LEN_BYTES..]).await?;
        let version = u16::from_be_bytes([head[4], head[5]]);
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnknownVersion { found: version });
        }
        let seq = u64::from_be_bytes(head[6..14].try_into().expect("8 header bytes"));
        let mut body = vec![0u8; len as usize - HEADER_BYTES];
        r.read_exact(&mut body).await?;
        let (payload, tag) = body.split_at(body.len() - MAC_BYTES);
        self.tag(len, version, seq, payload).verify_slice(tag).map_err(|_| FrameError::BadMac)?;
        if seq != self.next_seq {
            return Err(FrameError::OutOfOrder { expected: self.next_seq, found: seq });
        }
        self.next_seq += 1;
        let msg = postcard::from_bytes(payload).map_err(FrameError::Garbled)?;
        Ok((msg, LEN_BYTES + len as usize))
    }
}
