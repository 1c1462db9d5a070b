//! Frames and messages of the replication link (claims 27, 28).
//!
//! A frame on the TCP stream:
//!
//! ```text
//! len: u32 BE   bytes that follow (version .. mac), at most MAX_FRAME
//! version: u16 BE   the protocol version the frame is written in
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
//!
//! ## Versions (an upgrade meets an older and a newer daemon)
//!
//! Each build speaks a range of protocol versions, [`Versions::BUILT`]:
//! [`MIN_PROTOCOL_VERSION`]`..=`[`PROTOCOL_VERSION`]. The primary writes its
//! Hello in the highest version it speaks; the standby accepts a Hello in
//! any version it speaks and then the whole connection runs in that
//! version, both directions. A Hello in a version the standby does not
//! speak is refused: logged with both ranges, counted as `unknown_version`,
//! connection closed. A primary whose Hello was closed without a Welcome
//! tries its next lower version on the next connection, down to its
//! oldest, and then starts again from its newest, logging that no version
//! in common was found. So two daemons use the highest version both speak,
//! or never connect, with the reason in both logs and the standby's
//! `refused{reason="unknown_version"}`. Version 1 is the first one; version
//! 2 adds this negotiation (a version-1 primary's Hello is accepted by a
//! version-2 standby as version 1) and the stream bytes of a store per host
//! ([`Update::Data`], [`STREAM_BYTES_VERSION`]): a version-1 node has no
//! such store and cannot decode them, so a daemon with `store =
//! "replicated"` speaks only versions from 2 on (`Versions::for_store`) and
//! a version-1 session never carries them. Version 3 adds the standby's
//! promise not to take over ([`Msg::PromiseAsk`], [`Msg::Promise`],
//! [`PROMISE_VERSION`], docs/authority.md): a pair under the etcd authority
//! speaks only versions from 3 on (`Versions::for_authority`), since its
//! active node may speak on promises alone. Version 4 adds the transmit
//! ring's unacknowledged bytes ([`Update::Sent`], [`SEND_BYTES_VERSION`],
//! invariant 9): a daemon whose application sends speaks only versions from
//! 4 on (`Versions::for_sending`), since an older standby could not hold
//! what the card may send. Version 5 lets a TCB delta name fields 32 and up
//! (its mask a varint of up to 64 bits, [`WIDE_DELTA_VERSION`]); TS_OFFSET,
//! the 33rd field, changes only on connections with timestamps, so a daemon
//! with `[network] timestamps` speaks only versions from 5 on
//! (`Versions::for_timestamps`): an older standby would refuse the delta
//! that carries a new connection's TS_OFFSET, and without it a promoted card
//! would send TSvals the peer drops (invariant 7). Version 6 adds the send
//! limit of a relayed connection ([`Update::Limit`], [`LIMIT_VERSION`]): a
//! relay's transmit stream is its peer's receive ring, never shipped, so the
//! standby holds only how far the primary's card may send it; a daemon with
//! relays speaks only versions from 6 on (`Versions::for_relay`), since an
//! older standby would install a relayed TCB whose snd_max falls short of
//! what the old card sent (docs/relay.md, "Failover of both connections").
//! docs/upgrade.md is the procedure.
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt};

use holdback_driver::Tcb;

use super::delta::TcbDelta;

/// The newest protocol version this code speaks (its Hello goes out in it).
pub const PROTOCOL_VERSION: u16 = 6;
/// The oldest protocol version this code still speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// The first version whose sessions carry stream bytes ([`Update::Data`]).
pub const STREAM_BYTES_VERSION: u16 = 2;
/// The first version whose heartbeats carry the standby's promise not to
/// take over ([`Msg::PromiseAsk`], [`Msg::Promise`]).
pub const PROMISE_VERSION: u16 = 3;
/// The first version whose sessions carry the transmit ring's
/// unacknowledged bytes ([`Update::Sent`], invariant 9).
pub const SEND_BYTES_VERSION: u16 = 4;
/// The first version whose TCB deltas may name fields 32 and up (TS_OFFSET).
pub const WIDE_DELTA_VERSION: u16 = 5;
/// The first version whose sessions carry the send limit of a relayed
/// connection ([`Update::Limit`]).
pub const LIMIT_VERSION: u16 = 6;
/// Transmit-ring bytes one [`Update::Sent`] carries at most; the standby
/// refuses a longer one (it is far below [`MAX_FRAME`]).
pub const MAX_SENT_BYTES: usize = 64 << 10;

/// The protocol versions a node speaks, a contiguous range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub min: u16,
    pub max: u16,
}

impl Versions {
    /// What this build speaks.
    pub const BUILT: Versions = Versions { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };

    /// What this build speaks with a store of its own: only versions that
    /// carry stream bytes, because a session without them would leave the
    /// standby's store without the bytes below R (invariant 3).
    pub const fn for_store(replicated: bool) -> Versions {
        if replicated {
            Versions { min: STREAM_BYTES_VERSION, max: PROTOCOL_VERSION }
        } else {
            Versions::BUILT
        }
    }

    /// What this build speaks under the etcd authority: only versions whose
    /// heartbeats carry promises, because the active node may speak on a
    /// promise alone while etcd is away (docs/authority.md).
    pub const fn for_authority(self, promises: bool) -> Versions {
        if promises && self.min < PROMISE_VERSION {
            Versions { min: PROMISE_VERSION, max: self.max }
        } else {
            self
        }
    }

    /// What this build speaks when its application sends (the echo): only
    /// versions that carry the transmit ring's bytes, because the send
    /// limit moves only once the standby holds them (invariant 9).
    pub const fn for_sending(self, sends: bool) -> Versions {
        if sends && self.min < SEND_BYTES_VERSION {
            Versions { min: SEND_BYTES_VERSION, max: self.max }
        } else {
            self
        }
    }

    /// What this build speaks with timestamps on the card: only versions
    /// whose deltas carry TS_OFFSET, because a promoted card without it
    /// would send TSvals the peer drops by PAWS (invariant 7).
    pub const fn for_timestamps(self, timestamps: bool) -> Versions {
        if timestamps && self.min < WIDE_DELTA_VERSION {
            Versions { min: WIDE_DELTA_VERSION, max: self.max }
        } else {
            self
        }
    }

    /// What this build speaks with `[[relay]]` pairs on the card: only
    /// versions that carry a relayed connection's send limit, because the
    /// primary moves that limit only once the standby holds it, and a
    /// promoted card must know how far the old one may have sent
    /// (docs/relay.md, "Failover of both connections").
    pub const fn for_relay(self, relays: bool) -> Versions {
        if relays && self.min < LIMIT_VERSION {
            Versions { min: LIMIT_VERSION, max: self.max }
        } else {
            self
        }
    }

    /// Exactly one version (a connection after its handshake).
    pub const fn only(version: u16) -> Versions {
        Versions { min: version, max: version }
    }

    pub fn contains(self, version: u16) -> bool {
        (self.min..=self.max).contains(&version)
    }

    /// The version a primary tries after `tried` was closed without a
    /// Welcome: the next lower one, or `None` below the oldest.
    pub fn below(self, tried: u16) -> Option<u16> {
        tried.checked_sub(1).filter(|v| self.contains(*v))
    }
}

impl std::fmt::Display for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}
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
    /// Transmit-stream bytes `[offset, offset + bytes.len())` of the
    /// connection in TCB `id` (named by our initial sequence number `iss`):
    /// bytes its application queued in the primary's transmit ring that
    /// the peer has not acknowledged, at most [`MAX_SENT_BYTES`]. They
    /// travel after a copy of `id` and before the copy whose R covers the
    /// input they answer; the standby writes them into its own transmit
    /// ring at their offset before acknowledging, and the primary moves
    /// the connection's send limit L past them only after that
    /// acknowledgement (invariant 9). From [`SEND_BYTES_VERSION`] on.
    Sent { id: u16, iss: u32, offset: u64, bytes: Vec<u8> },
    /// The primary's card may send the transmit stream of the relayed
    /// connection in TCB `id` (named by our initial sequence number `iss`)
    /// below stream offset `limit` (mod 2^32, as the send tail), and its
    /// FIN when `limit` is one past the stream's end. The bytes are in the
    /// relay peer's receive ring, not shipped. Travels after a copy of `id`;
    /// the primary writes the card's send limit only after the standby
    /// acknowledged it, so a promoted card's snd_max covers everything the
    /// old card may have sent. From [`LIMIT_VERSION`] on.
    Limit { id: u16, iss: u32, limit: u32 },
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
    /// Primary → standby, every heartbeat interval from version 3 on, in
    /// place of a Heartbeat: `sent_us` is the primary's own monotonic clock
    /// when it sent this, echoed in the promise that answers it.
    PromiseAsk { epoch: u32, sent_us: u64 },
    /// Standby → primary, answering a [`Msg::PromiseAsk`]: "I will not take
    /// over for `promise_us` from my answer". The primary counts it from
    /// `sent_us`, before the standby answered (docs/authority.md, Clocks).
    Promise { epoch: u32, sent_us: u64, promise_us: u64 },
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
    #[error("protocol version {found} is outside the versions this node speaks ({speaks})")]
    UnknownVersion { found: u16, speaks: Versions },
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
    /// The version frames are written in.
    version: u16,
    /// The versions a frame read may carry.
    accepts: Versions,
    /// The version of the last frame read.
    last_read: Option<u16>,
}

impl FrameCodec {
    pub fn new(key: &[u8; 32], direction: Direction) -> FrameCodec {
        FrameCodec {
            mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
            direction,
            next_seq: 0,
            version: PROTOCOL_VERSION,
            accepts: Versions::BUILT,
            last_read: None,
        }
    }

    /// Writes in `version` and reads only frames in it (a connection whose
    /// version is settled, or a primary's Hello attempt in that version).
    pub fn in_version(mut self, version: u16) -> FrameCodec {
        self.set_version(version);
        self
    }

    /// Reads frames in any of `versions` (a standby waiting for a Hello).
    pub fn accepting(mut self, versions: Versions) -> FrameCodec {
        self.accepts = versions;
        self
    }

    /// Settle the connection's version: written and the only one read.
    pub fn set_version(&mut self, version: u16) {
        self.version = version;
        self.accepts = Versions::only(version);
    }

    /// The version of the last frame read (the Hello's: the connection's).
    pub fn last_read_version(&self) -> Option<u16> {
        self.last_read
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
        let tag = self.tag(len, self.version, seq, &payload).finalize().into_bytes();
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
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
        if !self.accepts.contains(version) {
            return Err(FrameError::UnknownVersion { found: version, speaks: self.accepts });
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
        self.last_read = Some(version);
        let msg = postcard::from_bytes(payload).map_err(FrameError::Garbled)?;
        Ok((msg, LEN_BYTES + len as usize))
    }
}

#[cfg(test)]
mod tests {
    //! An older and a newer daemon meet during every upgrade: the link ends
    //! of two builds, played by giving each end the versions it speaks
    //! (`LinkConfig::versions`), over loopback.
    use std::time::{Duration, Instant};

    use super::*;
    use crate::replication::{HookError, LinkConfig, LinkState, Primary, Standby, StoreHook};

    const SECRET: &[u8] = b"holdback version test secret";

    struct Discard;

    impl StoreHook for Discard {
        fn install(&mut self, _id: u16, _tcb: &Tcb) -> Result<(), HookError> {
            Ok(())
        }
        fn remove(&mut self, _id: u16) -> Result<(), HookError> {
            Ok(())
        }
    }

    fn config(node_id: u64, versions: Versions) -> LinkConfig {
        LinkConfig {
            heartbeat_interval: Duration::from_millis(50),
            handshake_timeout: Duration::from_secs(1),
            reconnect_delay: Duration::from_millis(30),
            versions,
            ..LinkConfig::new(SECRET, node_id)
        }
    }

    /// A standby speaking `standby`, a primary speaking `primary` dialling it;
    /// waits up to `within` for the primary to replicate. Returns both ends
    /// and their event receivers (kept, so no event is lost).
    async fn meet(
        primary: Versions,
        standby: Versions,
        within: Duration,
    ) -> (Primary, Standby, Vec<tokio::sync::mpsc::Receiver<crate::replication::LinkEvent>>) {
        let addr = "127.0.0.1:0".parse().expect("loopback address");
        let (s, sev) = Standby::bind(config(2, standby), addr, 1, Discard).await.expect("standby listens");
        let (p, pev) = Primary::start(config(1, primary), s.local_addr(), 1).expect("primary starts");
        let started = Instant::now();
        while p.state() != LinkState::Replicating && started.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (p, s, vec![sev, pev])
    }

    fn refused_unknown_version(s: &Standby) -> u64 {
        s.stats().refused.get("unknown_version").copied().unwrap_or(0)
    }

    #[test]
    fn a_frame_is_read_in_any_version_accepted_and_refused_outside_them() {
        let key = [7u8; 32];
        let mut buf = Vec::new();
        FrameCodec::new(&key, Direction::PrimaryToStandby).in_version(1).encode(&Msg::Heartbeat { epoch: 1 }, &mut buf).unwrap();
        let mut reader = FrameCodec::new(&key, Direction::PrimaryToStandby).accepting(Versions { min: 1, max: 2 });
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (msg, _) = rt.block_on(reader.read(&mut buf.as_slice())).unwrap();
        assert_eq!((msg, reader.last_read_version()), (Msg::Heartbeat { epoch: 1 }, Some(1)));
        let mut newer = Vec::new();
        FrameCodec::new(&key, Direction::PrimaryToStandby).in_version(3).encode(&Msg::Heartbeat { epoch: 1 }, &mut newer).unwrap();
        let mut reader = FrameCodec::new(&key, Direction::PrimaryToStandby).accepting(Versions { min: 1, max: 2 });
        match rt.block_on(reader.read(&mut newer.as_slice())) {
            Err(e @ FrameError::UnknownVersion { found: 3, .. }) => {
                assert_eq!(e.to_string(), "protocol version 3 is outside the versions this node speaks (1..=2)")
            }
            other => panic!("a version-3 frame must be refused by a 1..=2 reader: {other:?}"),
        }
        assert_eq!(Versions { min: 1, max: 3 }.below(3), Some(2));
        assert_eq!(Versions { min: 2, max: 3 }.below(2), None);
    }

    /// N = 2, N+1 = 3 (played by the ranges): the newer primary's Hello in 3 is
    /// refused by the older standby (counted), its next Hello in 2 is taken,
    /// and the link runs version 2 both ways.
    #[tokio::test]
    async fn a_newer_primary_and_an_older_standby_settle_on_the_highest_version_both_speak() {
        let (p, s, _events) = meet(Versions { min: 2, max: 3 }, Versions { min: 1, max: 2 }, Duration::from_secs(5)).await;
        assert_eq!(p.state(), LinkState::Replicating, "the link came up");
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(2), Some(2)));
        assert_eq!(refused_unknown_version(&s), 1, "the Hello in version 3 was refused once: {:?}", s.stats().refused);
    }

    /// The upgrade's first step: the standby is the newer build (1..=3),
    /// the primary an old one speaking version 1 only: version 1, at once.
    #[tokio::test]
    async fn an_older_primary_and_a_newer_standby_run_the_older_version_without_a_refusal() {
        let (p, s, _events) = meet(Versions::only(1), Versions { min: 1, max: 3 }, Duration::from_secs(5)).await;
        assert_eq!(p.state(), LinkState::Replicating, "the link came up");
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(1), Some(1)));
        assert_eq!(refused_unknown_version(&s), 0);
    }

    /// No version in common (a primary speaking only 3, a standby 1..=2):
    /// they never connect, every Hello is refused and counted by reason,
    /// and the primary keeps trying rather than giving up on the pair.
    #[tokio::test]
    async fn daemons_without_a_common_version_never_connect_and_count_why() {
        let (p, s, _events) = meet(Versions::only(3), Versions { min: 1, max: 2 }, Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert_eq!((p.protocol_version(), s.protocol_version()), (None, None));
        assert!(refused_unknown_version(&s) >= 2, "each Hello refused as unknown_version: {:?}", s.stats().refused);
        assert_eq!(s.stats().refused.keys().copied().collect::<Vec<_>>(), vec!["unknown_version"]);
    }

    /// A standby with a store of its own and a version-1 primary (which has
    /// none and cannot ship stream bytes): no session, counted, rather than
    /// a standby that would promote without the bytes below R.
    #[tokio::test]
    async fn a_standby_with_its_own_store_refuses_a_primary_that_cannot_ship_stream_bytes() {
        assert_eq!(Versions::for_store(true), Versions { min: STREAM_BYTES_VERSION, max: PROTOCOL_VERSION });
        assert_eq!(Versions::for_store(false), Versions::BUILT);
        let (p, s, _events) = meet(Versions::only(1), Versions::for_store(true), Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert!(refused_unknown_version(&s) >= 2, "each version-1 Hello refused as unknown_version: {:?}", s.stats().refused);
        let (p, s, _events) = meet(Versions::for_store(true), Versions::BUILT, Duration::from_secs(5)).await;
        // The highest version both speak, which carries stream bytes.
        const { assert!(PROTOCOL_VERSION >= STREAM_BYTES_VERSION) };
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(PROTOCOL_VERSION), Some(PROTOCOL_VERSION)));
    }

    /// A standby under the etcd authority (its primary may speak on its
    /// promises alone) refuses a primary whose heartbeats carry none.
    #[tokio::test]
    async fn a_pair_under_the_etcd_authority_speaks_only_versions_with_promises() {
        let etcd = Versions::for_store(true).for_authority(true);
        assert_eq!(etcd, Versions { min: PROMISE_VERSION, max: PROTOCOL_VERSION });
        assert_eq!(Versions::BUILT.for_authority(false), Versions::BUILT);
        let (p, s, _events) = meet(Versions { min: 1, max: 2 }, etcd, Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert!(refused_unknown_version(&s) >= 2, "each Hello without promises refused as unknown_version: {:?}", s.stats().refused);
        let (p, s, _events) = meet(Versions::BUILT, etcd, Duration::from_secs(5)).await;
        // The highest version both speak, which carries promises.
        const { assert!(PROTOCOL_VERSION >= PROMISE_VERSION) };
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(PROTOCOL_VERSION), Some(PROTOCOL_VERSION)));
    }

    /// A standby whose application sends (invariant 9) refuses a primary
    /// that cannot ship the transmit ring's bytes, and runs at least
    /// version 4 with one that can.
    #[tokio::test]
    async fn a_pair_whose_application_sends_speaks_only_versions_with_sent_bytes() {
        let sending = Versions::for_store(true).for_sending(true);
        assert_eq!(sending, Versions { min: SEND_BYTES_VERSION, max: PROTOCOL_VERSION });
        assert_eq!(Versions::BUILT.for_sending(false), Versions::BUILT);
        let (p, s, _events) = meet(Versions { min: 1, max: 3 }, sending, Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert!(refused_unknown_version(&s) >= 2, "each Hello without sent bytes refused as unknown_version: {:?}", s.stats().refused);
        let (p, s, _events) = meet(Versions::BUILT, sending, Duration::from_secs(5)).await;
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(PROTOCOL_VERSION), Some(PROTOCOL_VERSION)));
    }

    /// A standby with timestamps on refuses a primary whose deltas cannot
    /// carry TS_OFFSET, and runs at least version 5 with one whose can.
    #[tokio::test]
    async fn a_pair_with_timestamps_speaks_only_versions_with_wide_deltas() {
        let stamping = Versions::for_store(true).for_timestamps(true);
        assert_eq!(stamping, Versions { min: WIDE_DELTA_VERSION, max: PROTOCOL_VERSION });
        assert_eq!(Versions::BUILT.for_timestamps(false), Versions::BUILT);
        let (p, s, _events) = meet(Versions { min: 1, max: 4 }, stamping, Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert!(refused_unknown_version(&s) >= 2, "each Hello without wide deltas refused as unknown_version: {:?}", s.stats().refused);
        let (p, s, _events) = meet(Versions::BUILT, stamping, Duration::from_secs(5)).await;
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(PROTOCOL_VERSION), Some(PROTOCOL_VERSION)));
    }

    /// A standby with relays refuses a primary that cannot ship a relayed
    /// connection's send limit, and runs at least version 6 with one that can.
    #[tokio::test]
    async fn a_pair_with_relays_speaks_only_versions_with_send_limits() {
        let relaying = Versions::for_store(false).for_relay(true);
        assert_eq!(relaying, Versions { min: LIMIT_VERSION, max: PROTOCOL_VERSION });
        assert_eq!(Versions::BUILT.for_relay(false), Versions::BUILT);
        let (p, s, _events) = meet(Versions { min: 1, max: 5 }, relaying, Duration::from_millis(600)).await;
        assert_eq!(p.state(), LinkState::Down);
        assert!(refused_unknown_version(&s) >= 2, "each Hello without send limits refused as unknown_version: {:?}", s.stats().refused);
        let (p, s, _events) = meet(Versions::BUILT, relaying, Duration::from_secs(5)).await;
        assert_eq!((p.protocol_version(), s.protocol_version()), (Some(LIMIT_VERSION), Some(LIMIT_VERSION)));
    }
}
