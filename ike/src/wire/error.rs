//! Decoding and encoding errors. Every decoding error names what was being
//! decoded and the octet offset (from the start of the message, or of the
//! decrypted plaintext for inner payloads) where the problem was found.

use std::fmt;

use super::PayloadType;

/// What was being decoded when an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The fixed 28-octet IKE header.
    Header,
    /// A payload of the given type (including its substructures).
    Payload(PayloadType),
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::Header => f.write_str("IKE header"),
            Context::Payload(t) => write!(f, "{t} payload"),
        }
    }
}

/// Why decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Fewer octets left than the structure needs.
    #[error("truncated: {needed} octets needed, {available} available")]
    Truncated {
        /// Octets the structure needs.
        needed: usize,
        /// Octets that are left.
        available: usize,
    },
    /// A length field is below the structure's minimum or runs past its container.
    #[error("invalid length field {0}")]
    BadLength(usize),
    /// The IKE header's length does not match the datagram.
    #[error("header length {header} does not match message size {actual}")]
    MessageLength {
        /// Length in the header.
        header: u32,
        /// Octets received.
        actual: usize,
    },
    /// The message exceeds [`super::MAX_MESSAGE_SIZE`].
    #[error("message of {0} octets exceeds the maximum of {max}", max = super::MAX_MESSAGE_SIZE)]
    TooLarge(usize),
    /// The major version is not 2 (answer with INVALID_MAJOR_VERSION).
    #[error("unsupported major version {0}")]
    InvalidMajorVersion(u8),
    /// Octets are left over after the structure.
    #[error("{0} trailing octets")]
    Trailing(usize),
    /// A field holds a value the RFC forbids.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
    /// More items than this implementation accepts.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// A count field disagrees with the items found.
    #[error("count field says {declared}, {found} found")]
    CountMismatch {
        /// Count in the field.
        declared: usize,
        /// Items actually present.
        found: usize,
    },
    /// An SK or SKF payload is followed by more octets.
    #[error("encrypted payload is not the last payload")]
    EncryptedNotLast,
    /// An SK or SKF payload inside decrypted content.
    #[error("nested encrypted payload")]
    NestedEncrypted,
}

/// A decoding failure: what, where, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context} at offset {offset}: {kind}")]
pub struct DecodeError {
    /// What was being decoded.
    pub context: Context,
    /// Octet offset where the problem was found.
    pub offset: usize,
    /// Why it failed.
    pub kind: DecodeErrorKind,
}

/// An encoding failure: a value cannot be represented on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {context}: {reason}")]
pub struct EncodeError {
    /// What was being encoded.
    pub context: Context,
    /// Why it cannot be encoded.
    pub reason: &'static str,
}
