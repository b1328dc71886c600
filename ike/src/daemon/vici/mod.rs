//! VICI, strongSwan's control protocol, so that `swanctl`, the Prometheus
//! exporters and the `vici` client libraries talk to iked.
//!
//! - [`codec`]: packets and messages on the wire (strict, never panics).
//! - [`server`]: the Unix socket (`charon.plugins.vici.socket`, by default
//!   `unix:///var/run/charon.vici`), one task per client, event registration.
//! - [`commands`]: the answers, built from the daemon's status snapshot and
//!   configuration.
//! - [`events`]: SA events, `log` and `control-log`.
//!
//! The daemon loop stays the only owner of the core: a client's task sends a
//! [`Query`] into the loop (the control socket's own requests, or a request
//! for a [`Snapshot`]) and builds its answer from what comes back.

pub mod certs;
pub mod codec;
pub mod commands;
pub mod events;
pub mod rekey;
pub mod server;
pub mod terminate;

use super::control::{Request, Response};
use super::status::StatusReport;
use codec::{Message, Packet};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// What a VICI client's task asks of the daemon loop.
#[derive(Debug)]
pub enum Query {
    /// A control-socket request (`up`, `down`, `reload`): the path ikectl's take.
    Control(Request, oneshot::Sender<Response>),
    /// The status (with kernel counters) and the configuration.
    Snapshot(oneshot::Sender<Snapshot>),
    /// Rekey these SAs now; one answer each (Err: why it was not started).
    Rekey(Vec<rekey::Target>, oneshot::Sender<Vec<Result<(), String>>>),
}

/// The daemon's state as the VICI answers need it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub report: StatusReport,
    pub config: Arc<conf::Config>,
    pub addrs: Vec<IpAddr>,
    /// Timed jobs: pending retries and commands waiting for an outcome.
    pub scheduled: usize,
    /// Virtual-IP pools (`rightsourceip=`), in config order.
    pub pools: Vec<PoolView>,
    /// The public halves of the private keys iked holds (`has_privkey`).
    pub key_publics: Arc<Vec<pki::PublicKey>>,
}

/// A virtual-IP pool as `get-pools` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolView {
    /// The `rightsourceip=` text (`10.3.0.0/24`, `10.3.0.10-10.3.0.20`).
    pub name: String,
    /// Its first address.
    pub base: std::net::IpAddr,
    pub size: usize,
    pub online: usize,
    pub offline: usize,
    /// (address, identity, online), by address.
    pub leases: Vec<(IpAddr, String, bool)>,
}

/// A client's way out: its packets in order (one writer task drains them),
/// and the events it registered for.
#[derive(Debug, Clone)]
pub struct Out {
    tx: mpsc::Sender<Packet>,
    registered: Arc<Mutex<HashSet<String>>>,
}

impl Out {
    pub fn new(tx: mpsc::Sender<Packet>) -> Self {
        Out {
            tx,
            registered: Arc::default(),
        }
    }

    fn names(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A panic elsewhere cannot leave the set half-changed: take it as is.
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_registered(&self, name: &str) -> bool {
        self.names().contains(name)
    }

    /// Registers `name`; false if it already was.
    pub fn register(&self, name: &str) -> bool {
        self.names().insert(name.to_owned())
    }

    /// Unregisters `name`; false if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.names().remove(name)
    }

    /// Whether any of `names` is registered.
    pub fn any_registered(&self, names: &[&str]) -> bool {
        let r = self.names();
        names.iter().any(|n| r.contains(*n))
    }

    pub async fn send(&self, p: Packet) -> Result<(), ViciError> {
        self.tx.send(p).await.map_err(|_| ViciError::Closed)
    }

    /// Sends an event if the client registered for it.
    pub async fn event(&self, name: &str, message: Message) -> Result<(), ViciError> {
        if !self.is_registered(name) {
            return Ok(());
        }
        self.send(Packet::Event {
            name: name.into(),
            message,
        })
        .await
    }
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
    #[error("client connection closed")]
    Closed,
}

/// The path of a `unix://` socket URI (None for other schemes, e.g. `tcp://`).
pub fn unix_path(uri: &str) -> Option<std::path::PathBuf> {
    let p = uri.strip_prefix("unix://")?;
    (!p.is_empty()).then(|| p.into())
}

#[cfg(test)]
mod tests;
