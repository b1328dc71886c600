//! VICI, strongSwan's control protocol, so that `swanctl`, the Prometheus
//! exporters and the `vici` client libraries talk to iked.
//!
//! - [`codec`]: packets and messages on the wire (strict, never panics).
//! - [`server`]: the Unix socket (`charon.plugins.vici.socket`, by default
//!   `unix:///var/run/charon.vici`), one task per client, event registration.
//! - [`commands`]: the answers, built from the daemon's status snapshot and
//!   configuration.
//!
//! The daemon loop stays the only owner of the core: a client's task sends a
//! [`Query`] into the loop (the control socket's own requests, or a request
//! for a [`Snapshot`]) and builds its answer from what comes back.

pub mod codec;
pub mod commands;
pub mod server;

use super::control::{Request, Response};
use super::status::StatusReport;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What a VICI client's task asks of the daemon loop.
#[derive(Debug)]
pub enum Query {
    /// A control-socket request (`up`, `down`, `reload`): the path ikectl's take.
    Control(Request, oneshot::Sender<Response>),
    /// The status (with kernel counters) and the configuration.
    Snapshot(oneshot::Sender<Snapshot>),
}

/// The daemon's state as the VICI answers need it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub report: StatusReport,
    pub config: Arc<conf::Config>,
    pub addrs: Vec<IpAddr>,
    /// Timed jobs: pending retries and commands waiting for an outcome.
    pub scheduled: usize,
}

/// Errors of a VICI connection (each ends that connection, logged).
#[derive(Debug, thiserror::Error)]
pub enum ViciError {
    #[error("vici socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed packet: {0}")]
    Decode(#[from] codec::DecodeError),
    #[error("answer not encodable: {0}")]
    Encode(#[from] codec::EncodeError),
    #[error("unexpected {0} packet from a client")]
    Unexpected(&'static str),
    #[error("iked is shutting down")]
    Gone,
}

/// The path of a `unix://` socket URI (None for other schemes, e.g. `tcp://`).
pub fn unix_path(uri: &str) -> Option<std::path::PathBuf> {
    let p = uri.strip_prefix("unix://")?;
    (!p.is_empty()).then(|| p.into())
}

#[cfg(test)]
mod tests;
