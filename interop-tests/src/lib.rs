//! The interop lab: network namespaces, real peers, a QEMU guest runner.
//!
//! - [`topology::Topology`]: two network namespaces joined by a veth pair, on
//!   documentation prefixes only, IPv4 and IPv6, inner addresses on `lo`,
//!   routes; removed on drop (also when a test panics), unique names per run.
//! - [`peer`]: real IKE daemons, each a process in its namespace with its own
//!   configuration, sockets, log and PID (ended by PID): strongSwan driven by
//!   `swanctl` over its own vici socket ([`peer::StrongSwan`]), strongSwan
//!   started from a literal `ipsec.conf` by `ipsec start` in a private mount
//!   namespace ([`peer::Starter`]), libreswan's pluto extracted from its
//!   Debian package ([`peer::Libreswan`]), and `iked` ([`peer::Iked`]).
//! - [`check`]: proof that a tunnel carries traffic, which a clear-text ping
//!   cannot fake: SAs and policies in the kernel, both peers' own status, and
//!   inbound ESP packet counters that rise by the pings sent.
//! - [`scenario`]: the scenario list (host-only and guest).
//! - [`vici`]: a VICI client (commands, streamed lists, an event listener)
//!   on iked's own codec, for iked's socket and strongSwan's alike.
//! - [`conformance`]: strongSwan's own ikev2-stroke scenarios (from the
//!   corpus beside the checkout) run unchanged, strongSwan or iked on a host.
//! - [`guest`]: boots Debian's kernel once under QEMU (virtme-ng, TCG) and runs
//!   every guest scenario in that one boot.
#![forbid(unsafe_code)]

pub mod check;
pub mod cmd;
pub mod conformance;
pub mod daemon_lab;
pub mod flood;
pub mod guest;
pub mod ipsec_conf;
pub mod peer;
pub mod probe;
pub mod scenario;
pub mod topology;
pub mod vici;

use std::path::PathBuf;

/// Every failure of the lab: a message that says what was tried and what was seen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step of the lab failed.
    #[error("{0}")]
    Lab(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
}

/// The lab's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error::Lab`] from a format string.
#[macro_export]
macro_rules! lab_err {
    ($($arg:tt)*) => { $crate::Error::Lab(format!($($arg)*)) };
}

/// Writes a file, creating its parent folder.
pub fn write_file(path: &std::path::Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, contents).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Creates a folder and its parents.
pub fn make_dir(path: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Where the lab's installed extras live (the extracted libreswan, the
/// virtme-ng venv): `$LAB_CACHE`, default `/var/cache/iked-lab`.
pub fn lab_cache() -> PathBuf {
    std::env::var_os("LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/iked-lab"))
}

/// The repository's root (this crate's parent folder).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// True when running as root (the lab needs it for namespaces and XFRM).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
