//! IKEv2 wire codec: the IKE header and every RFC 7296 payload, plus the
//! RFC 7383 encrypted fragment. Decoding never panics and allocates at most
//! in proportion to its input; errors name the structure and the offset.
//!
//! Protected messages decode in two steps: [`Message::decode`] yields the
//! SK (or SKF) payload's encrypted octets; after `crypto::sk` has
//! authenticated and decrypted them, [`decode_payloads`] decodes the inner
//! chain, starting from the type in [`Encrypted::inner_first`].

mod error;
mod message;
mod payload;
mod reader;
mod types;

pub use error::{Context, DecodeError, DecodeErrorKind, EncodeError};
pub use message::{
    Chain, GENERIC_HEADER_LEN, HEADER_LEN, Header, Message, RawHeader, decode_payloads,
    encode_payloads,
};
pub use payload::*;
pub use types::*;

/// Largest message accepted or produced (the largest UDP payload).
pub const MAX_MESSAGE_SIZE: usize = 65_535;
/// Most payloads accepted in one chain.
pub const MAX_PAYLOADS: usize = 512;
