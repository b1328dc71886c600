#![forbid(unsafe_code)]
//! IKEv2 protocol core (sans-IO) and the iked daemon.
//!
//! - [`wire`]: message and payload codec.
//! - [`crypto`]: PRF, prf+, key derivation, integrity, encryption, key
//!   exchange and SK payload protection.
//! - [`crypto::registry`]: the transform registry ("provider") that maps IANA
//!   transform IDs to implementations.

pub mod cli;
pub mod creds;
pub mod crypto;
pub mod daemon;
pub mod eap;
pub mod sa;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod ts;
pub mod updown;
pub mod wire;
