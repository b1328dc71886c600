//! The IKE header, payload chains and whole messages.

use super::error::{Context, DecodeError, DecodeErrorKind, EncodeError};
use super::payload::{Payload, decode_body, encode_body};
use super::reader::Reader;
use super::types::{ExchangeType, Flags, PayloadType};
use super::{MAX_MESSAGE_SIZE, MAX_PAYLOADS};

/// Length of the IKE header.
pub const HEADER_LEN: usize = 28;
/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// The IKE header (RFC 7296 section 3.1), without the fields an encoder
/// derives (next payload, length). The major version is always 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: [u8; 8],
    /// Minor version (sent as 0, ignored on receipt).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

/// The raw IKE header fields, as read before anything else (for routing a
/// datagram by SPI, or answering INVALID_MAJOR_VERSION).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    /// The header's decoded fields.
    pub header: Header,
    /// Major version as received.
    pub major_version: u8,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Length field.
    pub length: u32,
}

impl RawHeader {
    /// Reads the first 28 octets. Checks nothing but their presence.
    pub fn peek(buf: &[u8]) -> Result<RawHeader, DecodeError> {
        let mut r = Reader::new(buf, 0, Context::Header);
        let spi_i = r.array()?;
        let spi_r = r.array()?;
        let next_payload = PayloadType(r.u8()?);
        let version = r.u8()?;
        let exchange = ExchangeType(r.u8()?);
        let flags = Flags(r.u8()?);
        let message_id = r.u32()?;
        let length = r.u32()?;
        Ok(RawHeader {
            header: Header {
                spi_i,
                spi_r,
                minor_version: version & 0x0f,
                exchange,
                flags,
                message_id,
            },
            major_version: version >> 4,
            next_payload,
            length,
        })
    }
}

/// A decoded payload chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// Payloads of known types, in order.
    pub payloads: Vec<Payload>,
    /// The first payload of an unknown type that had the critical bit set.
    /// The message must then be rejected with UNSUPPORTED_CRITICAL_PAYLOAD
    /// carrying this type (RFC 7296 section 2.5).
    pub unsupported_critical: Option<PayloadType>,
    /// Unknown non-critical payloads that were skipped.
    pub skipped: usize,
}

/// An IKE message: header and payloads. If the message is protected, its
/// last payload is [`Payload::Sk`] or [`Payload::Skf`], whose content is
/// decoded after decryption with [`decode_payloads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// Payloads in order (unknown non-critical ones skipped).
    pub payloads: Vec<Payload>,
    /// See [`Chain::unsupported_critical`].
    pub unsupported_critical: Option<PayloadType>,
}

impl Message {
    /// A message with no payloads yet.
    pub fn new(header: Header) -> Self {
        Message {
            header,
            payloads: Vec::new(),
            unsupported_critical: None,
        }
    }

    /// Decodes a whole datagram (without the non-ESP marker).
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let herr = |offset, kind| DecodeError {
            context: Context::Header,
            offset,
            kind,
        };
        if buf.len() > MAX_MESSAGE_SIZE {
            return Err(herr(0, DecodeErrorKind::TooLarge(buf.len())));
        }
        let raw = RawHeader::peek(buf)?;
        if raw.major_version != 2 {
            return Err(herr(
                17,
                DecodeErrorKind::InvalidMajorVersion(raw.major_version),
            ));
        }
        if usize::try_from(raw.length).ok() != Some(buf.len()) {
            return Err(herr(
                24,
                DecodeErrorKind::MessageLength {
                    header: raw.length,
                    actual: buf.len(),
                },
            ));
        }
        let body = buf.get(HEADER_LEN..).unwrap_or_default();
        let chain = decode_chain(raw.next_payload, body, HEADER_LEN, true)?;
        Ok(Message {
            header: raw.header,
            payloads: chain.payloads,
            unsupported_critical: chain.unsupported_critical,
        })
    }

    /// Encodes the message. An SK or SKF payload must be last.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let (first, body) = encode_chain(&self.payloads, true)?;
        let total = HEADER_LEN + body.len();
        if total > MAX_MESSAGE_SIZE {
            return Err(EncodeError {
                context: Context::Header,
                reason: "message exceeds the maximum size",
            });
        }
        let mut out = Vec::with_capacity(total);
        let h = &self.header;
        out.extend_from_slice(&h.spi_i);
        out.extend_from_slice(&h.spi_r);
        out.push(first.0);
        out.push(0x20 | (h.minor_version & 0x0f));
        out.push(h.exchange.0);
        out.push(h.flags.0);
        out.extend_from_slice(&h.message_id.to_be_bytes());
        // total <= MAX_MESSAGE_SIZE, which fits in u32.
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The first payload of the given type.
    pub fn find(&self, t: PayloadType) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.payload_type() == t)
    }
}

/// Decodes an inner payload chain (the plaintext of an SK payload, or the
/// reassembled plaintext of SKF fragments). `base_offset` is added to offsets
/// in errors. SK/SKF payloads are refused inside.
pub fn decode_payloads(
    first: PayloadType,
    buf: &[u8],
    base_offset: usize,
) -> Result<Chain, DecodeError> {
    decode_chain(first, buf, base_offset, false)
}

/// Encodes an inner payload chain: returns the first payload's type (for the
/// SK header) and the octets to encrypt.
pub fn encode_payloads(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    encode_chain(payloads, false)
}

fn decode_chain(
    first: PayloadType,
    buf: &[u8],
    base: usize,
    allow_encrypted: bool,
) -> Result<Chain, DecodeError> {
    let mut chain = Chain::default();
    let mut next = first;
    let mut pos = 0usize;
    let mut count = 0usize;
    while next != PayloadType::NONE {
        let offset = base.saturating_add(pos);
        let err = |kind| DecodeError {
            context: Context::Payload(next),
            offset,
            kind,
        };
        count += 1;
        if count > MAX_PAYLOADS {
            return Err(err(DecodeErrorKind::TooMany("payloads")));
        }
        let rest = buf.get(pos..).unwrap_or_default();
        let mut r = Reader::new(rest, offset, Context::Payload(next));
        let this_next = PayloadType(r.u8()?);
        let critical = r.u8()? & 0x80 != 0;
        let len = usize::from(r.u16()?);
        if len < GENERIC_HEADER_LEN || len > rest.len() {
            return Err(DecodeError {
                offset: offset + 2,
                ..err(DecodeErrorKind::BadLength(len))
            });
        }
        let body = rest.get(GENERIC_HEADER_LEN..len).unwrap_or_default();
        let body_offset = offset + GENERIC_HEADER_LEN;
        if next == PayloadType::SK || next == PayloadType::SKF {
            if !allow_encrypted {
                return Err(err(DecodeErrorKind::NestedEncrypted));
            }
            if len != rest.len() {
                return Err(err(DecodeErrorKind::EncryptedNotLast));
            }
            chain
                .payloads
                .push(decode_body(next, this_next, body, body_offset)?);
            return Ok(chain);
        }
        if Payload::is_known(next) {
            chain
                .payloads
                .push(decode_body(next, this_next, body, body_offset)?);
        } else if critical {
            chain.unsupported_critical.get_or_insert(next);
        } else {
            chain.skipped += 1;
        }
        pos += len;
        next = this_next;
    }
    if pos != buf.len() {
        return Err(DecodeError {
            context: Context::Payload(PayloadType::NONE),
            offset: base.saturating_add(pos),
            kind: DecodeErrorKind::Trailing(buf.len() - pos),
        });
    }
    Ok(chain)
}

fn encode_chain(
    payloads: &[Payload],
    allow_encrypted: bool,
) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(EncodeError {
            context: Context::Header,
            reason: "too many payloads",
        });
    }
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let t = p.payload_type();
        let is_last = i + 1 == payloads.len();
        let next = match p {
            Payload::Sk(e) => e.inner_first,
            Payload::Skf(f) => f.inner_first,
            _ => payloads
                .get(i + 1)
                .map_or(PayloadType::NONE, Payload::payload_type),
        };
        if matches!(p, Payload::Sk(_) | Payload::Skf(_)) {
            let reason = if !allow_encrypted {
                Some("encrypted payload inside encrypted content")
            } else if !is_last {
                Some("encrypted payload must be last")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(EncodeError {
                    context: Context::Payload(t),
                    reason,
                });
            }
        }
        let start = out.len();
        out.extend_from_slice(&[next.0, 0, 0, 0]);
        encode_body(p, &mut out)?;
        let len = u16::try_from(out.len() - start).map_err(|_| EncodeError {
            context: Context::Payload(t),
            reason: "payload longer than 65535 octets",
        })?;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    let first = payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    Ok((first, out))
}
