//! Errors that say what is wrong.

use std::io;

/// Everything that can go wrong talking to the kernel's XFRM subsystem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel has XFRM netlink but no ESP implementation for this family.
    #[error(
        "kernel lacks ESP support (CONFIG_INET_ESP / CONFIG_INET6_ESP, module esp4/esp6) while installing {what}"
    )]
    NoEsp {
        /// The object being installed.
        what: String,
    },
    /// The kernel does not know (or cannot load) an algorithm.
    #[error("kernel does not support algorithm {name:?} ({role}) while installing {what}")]
    UnknownAlgorithm {
        /// The kernel (crypto API) name, e.g. `rfc4106(gcm(aes))`.
        name: String,
        /// `aead`, `encryption` or `integrity`.
        role: &'static str,
        /// The object being installed.
        what: String,
    },
    /// EEXIST: the SA or policy is already installed.
    #[error("already exists: {what}")]
    Exists {
        /// The object.
        what: String,
    },
    /// ENOENT (or ESRCH): no such SA or policy.
    #[error("not found: {what}")]
    NotFound {
        /// The object.
        what: String,
    },
    /// EPERM / EACCES.
    #[error("permission denied for {what}: CAP_NET_ADMIN is required")]
    PermissionDenied {
        /// The object.
        what: String,
    },
    /// A request rejected before it was sent (this crate's own validation).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Any other kernel error, with the kernel's extended-ack message if it sent one.
    #[error("kernel rejected {what}: {}{}", io::Error::from_raw_os_error(*errno), .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        /// The object.
        what: String,
        /// Positive errno.
        errno: i32,
        /// The kernel's extack message, if any.
        message: Option<String>,
    },
    /// The kernel did not answer a request (should not happen: XFRM replies synchronously).
    #[error("no reply from the kernel for {what}")]
    NoReply {
        /// The object.
        what: String,
    },
    /// A kernel reply this crate could not decode.
    #[error("malformed kernel reply: {0}")]
    Malformed(String),
    /// The kernel's event queue overflowed (ENOBUFS): some events were lost.
    #[error("kernel event queue overflowed: XFRM events were lost")]
    EventsLost,
    /// Socket-level failure.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// True for [`Error::Exists`].
    pub fn is_exists(&self) -> bool {
        matches!(self, Error::Exists { .. })
    }
    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
    /// True for [`Error::NoEsp`].
    pub fn is_no_esp(&self) -> bool {
        matches!(self, Error::NoEsp { .. })
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
