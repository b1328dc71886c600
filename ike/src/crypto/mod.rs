//! IKEv2 cryptography: PRF and prf+, key derivation (RFC 7296 sections
//! 2.13, 2.14, 2.17, 2.18), integrity, encryption and AEAD, key exchange,
//! SK payload protection, and the transform registry. Primitives come from
//! RustCrypto and dalek crates; nothing here does I/O or reads a clock, and
//! randomness is passed in.

pub mod auth;
pub mod cipher;
pub mod dh;
pub mod integ;
pub mod kdf;
mod modp_primes;
pub mod prf;
pub mod registry;
pub mod sk;
mod xcbc;

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use cipher::Encr;
pub use dh::{DhGroup, DhSecret};
pub use integ::Integ;
pub use kdf::{ChildKeys, IkeSaKeys, KeyLengths};
pub use prf::Prf;
pub use registry::{Provider, Suite};
pub use sk::SkCrypto;

/// Key material: zeroed on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps octets (they are zeroed when this value drops).
    pub fn new(v: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(v))
    }

    /// Copies octets.
    pub fn from_slice(s: &[u8]) -> Self {
        SecretBytes::new(s.to_vec())
    }

    /// The octets.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Number of octets.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no octets.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} octets redacted>)", self.0.len())
    }
}

/// Errors of the cryptographic layer. Deliberately coarse where detail
/// would help an attacker (an ICV failure says nothing more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key of the wrong length was supplied.
    #[error("invalid key length {0}")]
    KeyLength(usize),
    /// prf+ was asked for more than 255 blocks.
    #[error("prf+ output of {0} octets exceeds 255 iterations")]
    PrfPlusTooLong(usize),
    /// The peer's key exchange value is malformed or unsafe.
    #[error("invalid key exchange value: {0}")]
    InvalidPublicValue(&'static str),
    /// The key exchange produced an unusable shared secret.
    #[error("key exchange produced an invalid shared secret")]
    InvalidSharedSecret,
    /// The group or algorithm is not implemented.
    #[error("unsupported algorithm: {0}")]
    Unsupported(&'static str),
    /// Integrity check or AEAD tag verification failed.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// Ciphertext length, IV or padding malformed.
    #[error("malformed encrypted payload: {0}")]
    Malformed(&'static str),
    /// No encrypted payload where one was required.
    #[error("message has no encrypted payload")]
    NotEncrypted,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Encoding the protected message failed.
    #[error(transparent)]
    Encode(#[from] crate::wire::EncodeError),
    /// Decoding the decrypted payloads failed.
    #[error(transparent)]
    Decode(#[from] crate::wire::DecodeError),
}

/// Constant-time equality of two octet strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
