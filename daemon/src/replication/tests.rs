//! Loopback tests of the replication link.
