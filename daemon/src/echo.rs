//! The echo application: every byte a peer sends is written back to it.
//! A pass reads each connection's new bytes, queues as many as its
//! transmit ring takes, and commits exactly those: the card acknowledges
//! a byte only once its echo is queued, and what did not fit is read again
//! in a later pass, when the peer's acknowledgements freed ring space.
//!
//! It is written on the application interface alone ([`crate::app`]), as
//! a program outside the daemon would be.
use crate::app::{AppError, AppIo, Application, Conn};

/// The built-in echo (`[app] kind = "echo"`).
#[derive(Debug, Default)]
pub struct Echo {
    /// The bytes of one read, copied out so the write can borrow the card.
    scratch: Vec<u8>,
}

impl Application for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn accept(&mut self, conn: &Conn) -> Result<Option<std::path::PathBuf>, AppError> {
        tracing::debug!(id = conn.id, peer = %format!("{}:{}", conn.remote_ip(), conn.remote_port()), "echo accepts");
        Ok(None)
    }

    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        for conn in io.readable() {
            let Some(chunk) = io.read(conn.id)? else { continue };
            let offset = chunk.offset;
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk.bytes);
            if self.scratch.is_empty() {
                continue;
            }
            let queued = io.write(conn.id, &self.scratch)?;
            io.commit(conn.id, offset + queued as u64)?;
        }
        Ok(())
    }
}
