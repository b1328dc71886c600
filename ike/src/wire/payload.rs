//! Payload bodies (RFC 7296 section 3.3 to 3.16, RFC 7383 section 2.5):
//! typed values and their encoding and decoding.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{Context, DecodeError, DecodeErrorKind, EncodeError};
use super::reader::Reader;
use super::types::*;

/// Most proposals accepted in one SA payload.
pub const MAX_PROPOSALS: usize = 64;
/// Most attributes accepted in one transform or one CP payload.
pub const MAX_ATTRIBUTES: usize = 256;

/// Transform attribute type Key Length (RFC 7296 section 3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

/// One payload of an IKE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association (33).
    Sa(SaPayload),
    /// Key Exchange (34).
    Ke(KePayload),
    /// Identification - Initiator (35).
    IdI(Identification),
    /// Identification - Responder (36).
    IdR(Identification),
    /// Certificate (37).
    Cert(CertPayload),
    /// Certificate Request (38).
    CertReq(CertPayload),
    /// Authentication (39).
    Auth(AuthPayload),
    /// Nonce, Ni or Nr (40): 16 to 256 octets.
    Nonce(Vec<u8>),
    /// Notify (41).
    Notify(Notify),
    /// Delete (42).
    Delete(Delete),
    /// Vendor ID (43).
    VendorId(Vec<u8>),
    /// Traffic Selector - Initiator (44).
    TsI(Vec<TrafficSelector>),
    /// Traffic Selector - Responder (45).
    TsR(Vec<TrafficSelector>),
    /// Encrypted and Authenticated (46): must be the last payload.
    Sk(Encrypted),
    /// Configuration (47).
    Cp(ConfigPayload),
    /// Extensible Authentication (48).
    Eap(EapMessage),
    /// Encrypted and Authenticated Fragment (53): must be the last payload.
    Skf(EncryptedFragment),
}

impl Payload {
    /// The payload type number.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Skf(_) => PayloadType::SKF,
        }
    }

    /// Whether this crate decodes payloads of this type.
    pub fn is_known(t: PayloadType) -> bool {
        matches!(t.0, 33..=48 | 53)
    }
}

/// Security Association payload: one or more proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    /// Proposals, in order of preference.
    pub proposals: Vec<Proposal>,
}

/// One proposal (RFC 7296 section 3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1 for the first, +1 for each next; a reply echoes the chosen one).
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol_id: ProtocolId,
    /// SPI: empty in IKE_SA_INIT, 8 octets for IKE rekeying, 4 for AH/ESP.
    pub spi: Vec<u8>,
    /// Transforms.
    pub transforms: Vec<Transform>,
}

/// One transform (RFC 7296 section 3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// ENCR, PRF, INTEG, DH or ESN.
    pub transform_type: TransformType,
    /// Transform ID (see [`transform_id`]).
    pub id: u16,
    /// Key Length attribute in bits, if present.
    pub key_length: Option<u16>,
    /// Any other attribute, kept so that a proposal with one can be refused.
    pub other_attributes: Vec<TransformAttribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Transform {
            transform_type,
            id,
            key_length: None,
            other_attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute.
    pub fn with_key_length(transform_type: TransformType, id: u16, bits: u16) -> Self {
        Transform {
            key_length: Some(bits),
            ..Transform::new(transform_type, id)
        }
    }
}

/// A transform attribute other than Key Length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformAttribute {
    /// Attribute type (15 bits).
    pub attr_type: u16,
    /// Value, in TV (short) or TLV (long) form.
    pub value: AttributeValue,
}

/// Attribute value forms (RFC 7296 section 3.3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// AF=1: a two-octet value.
    Tv(u16),
    /// AF=0: variable length.
    Tlv(Vec<u8>),
}

/// Key Exchange payload (RFC 7296 section 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// Diffie-Hellman group number.
    pub group: u16,
    /// Public value.
    pub data: Vec<u8>,
}

/// Identification payload body (RFC 7296 section 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// ID type.
    pub id_type: IdType,
    /// Identification data.
    pub data: Vec<u8>,
}

impl Identification {
    /// The payload body (ID type, three reserved octets, data): the
    /// RestOfIDPayload that AUTH computations MAC (RFC 7296 section 2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        v.extend_from_slice(&[self.id_type.0, 0, 0, 0]);
        v.extend_from_slice(&self.data);
        v
    }
}

/// Certificate or Certificate Request payload body (RFC 7296 sections 3.6, 3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPayload {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data, or for CERTREQ the concatenated CA key hashes.
    pub data: Vec<u8>,
}

/// Authentication payload body (RFC 7296 section 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    /// Auth method.
    pub method: AuthMethod,
    /// Authentication data.
    pub data: Vec<u8>,
}

/// Notify payload (RFC 7296 section 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol of the SA the notification is about (0 if none).
    pub protocol_id: ProtocolId,
    /// SPI of that SA (may be empty).
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notification about no particular SA.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol_id: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }
}

/// Delete payload (RFC 7296 section 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE, AH or ESP.
    pub protocol_id: ProtocolId,
    /// Size of each SPI (0 for IKE, 4 for AH/ESP).
    pub spi_size: u8,
    /// SPIs to delete, each `spi_size` octets.
    pub spis: Vec<Vec<u8>>,
}

/// One traffic selector (RFC 7296 section 3.13.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4 {
        /// IP protocol (0 = any).
        ip_protocol: u8,
        /// First port.
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    Ipv6 {
        /// IP protocol (0 = any).
        ip_protocol: u8,
        /// First port.
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
    /// Any other type: the octets after the selector length.
    Other {
        /// TS type (not 7 or 8).
        ts_type: TsType,
        /// Remaining octets of the selector.
        body: Vec<u8>,
    },
}

/// Encrypted payload (RFC 7296 section 3.14): IV, ciphertext and ICV.
#[derive(Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// Type of the first payload inside.
    pub inner_first: PayloadType,
    /// IV || encrypted (payloads || padding || pad length) || ICV.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("inner_first", &self.inner_first)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Encrypted fragment payload (RFC 7383 section 2.5).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Fragment number, from 1.
    pub number: u16,
    /// Total number of fragments.
    pub total: u16,
    /// Type of the first inner payload (in fragment 1; 0 in the others).
    pub inner_first: PayloadType,
    /// IV || encrypted content || ICV.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for EncryptedFragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedFragment")
            .field("number", &self.number)
            .field("total", &self.total)
            .field("inner_first", &self.inner_first)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Configuration payload (RFC 7296 section 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPayload {
    /// Request, reply, set or ack.
    pub cfg_type: CfgType,
    /// Attributes.
    pub attributes: Vec<CfgAttribute>,
}

/// Configuration attribute (RFC 7296 section 3.15.1). `None` is the empty
/// (requesting) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfgAttribute {
    /// INTERNAL_IP4_ADDRESS (1).
    InternalIp4Address(Option<Ipv4Addr>),
    /// INTERNAL_IP4_NETMASK (2).
    InternalIp4Netmask(Option<Ipv4Addr>),
    /// INTERNAL_IP4_DNS (3).
    InternalIp4Dns(Option<Ipv4Addr>),
    /// INTERNAL_IP4_NBNS (4).
    InternalIp4Nbns(Option<Ipv4Addr>),
    /// INTERNAL_IP4_DHCP (6).
    InternalIp4Dhcp(Option<Ipv4Addr>),
    /// APPLICATION_VERSION (7).
    ApplicationVersion(Vec<u8>),
    /// INTERNAL_IP6_ADDRESS (8): address and prefix length.
    InternalIp6Address(Option<(Ipv6Addr, u8)>),
    /// INTERNAL_IP6_DNS (10).
    InternalIp6Dns(Option<Ipv6Addr>),
    /// INTERNAL_IP6_DHCP (12).
    InternalIp6Dhcp(Option<Ipv6Addr>),
    /// INTERNAL_IP4_SUBNET (13): address and netmask.
    InternalIp4Subnet(Option<(Ipv4Addr, Ipv4Addr)>),
    /// SUPPORTED_ATTRIBUTES (14).
    SupportedAttributes(Vec<u16>),
    /// INTERNAL_IP6_SUBNET (15): address and prefix length.
    InternalIp6Subnet(Option<(Ipv6Addr, u8)>),
    /// Any other attribute type.
    Other {
        /// Attribute type (15 bits, not one of the typed ones above).
        attr_type: u16,
        /// Value.
        value: Vec<u8>,
    },
}

impl CfgAttribute {
    /// The attribute type number.
    pub fn attr_type(&self) -> u16 {
        use cfg_attr::*;
        match self {
            CfgAttribute::InternalIp4Address(_) => INTERNAL_IP4_ADDRESS,
            CfgAttribute::InternalIp4Netmask(_) => INTERNAL_IP4_NETMASK,
            CfgAttribute::InternalIp4Dns(_) => INTERNAL_IP4_DNS,
            CfgAttribute::InternalIp4Nbns(_) => INTERNAL_IP4_NBNS,
            CfgAttribute::InternalIp4Dhcp(_) => INTERNAL_IP4_DHCP,
            CfgAttribute::ApplicationVersion(_) => APPLICATION_VERSION,
            CfgAttribute::InternalIp6Address(_) => INTERNAL_IP6_ADDRESS,
            CfgAttribute::InternalIp6Dns(_) => INTERNAL_IP6_DNS,
            CfgAttribute::InternalIp6Dhcp(_) => INTERNAL_IP6_DHCP,
            CfgAttribute::InternalIp4Subnet(_) => INTERNAL_IP4_SUBNET,
            CfgAttribute::SupportedAttributes(_) => SUPPORTED_ATTRIBUTES,
            CfgAttribute::InternalIp6Subnet(_) => INTERNAL_IP6_SUBNET,
            CfgAttribute::Other { attr_type, .. } => *attr_type,
        }
    }

    /// Whether `t` is decoded into a typed variant.
    pub fn is_typed(t: u16) -> bool {
        matches!(t, 1..=4 | 6..=8 | 10 | 12..=15)
    }
}

/// EAP message carried in an EAP payload (RFC 3748 section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapMessage {
    /// Code: 1 request, 2 response, 3 success, 4 failure.
    pub code: u8,
    /// Identifier.
    pub identifier: u8,
    /// Type and type data (empty for success and failure).
    pub data: Vec<u8>,
}

impl EapMessage {
    /// The EAP method type (requests and responses).
    pub fn eap_type(&self) -> Option<u8> {
        match self.code {
            1 | 2 => self.data.first().copied(),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding

fn invalid(r: &Reader<'_>, what: &'static str) -> DecodeError {
    r.err(DecodeErrorKind::Invalid(what))
}

/// Decodes the body of a known payload. `body_offset` is the offset of the
/// body (after the generic header) for error messages.
pub(crate) fn decode_body(
    t: PayloadType,
    next: PayloadType,
    body: &[u8],
    body_offset: usize,
) -> Result<Payload, DecodeError> {
    let mut r = Reader::new(body, body_offset, Context::Payload(t));
    let p = match t {
        PayloadType::SA => Payload::Sa(decode_sa(&mut r)?),
        PayloadType::KE => {
            let group = r.u16()?;
            r.take(2)?;
            Payload::Ke(KePayload {
                group,
                data: r.rest().to_vec(),
            })
        }
        PayloadType::IDI | PayloadType::IDR => {
            let id_type = IdType(r.u8()?);
            r.take(3)?;
            let id = Identification {
                id_type,
                data: r.rest().to_vec(),
            };
            if t == PayloadType::IDI {
                Payload::IdI(id)
            } else {
                Payload::IdR(id)
            }
        }
        PayloadType::CERT | PayloadType::CERTREQ => {
            let c = CertPayload {
                encoding: CertEncoding(r.u8()?),
                data: r.rest().to_vec(),
            };
            if t == PayloadType::CERT {
                Payload::Cert(c)
            } else {
                Payload::CertReq(c)
            }
        }
        PayloadType::AUTH => {
            let method = AuthMethod(r.u8()?);
            r.take(3)?;
            Payload::Auth(AuthPayload {
                method,
                data: r.rest().to_vec(),
            })
        }
        PayloadType::NONCE => {
            if !(16..=256).contains(&body.len()) {
                return Err(invalid(&r, "nonce must be 16 to 256 octets"));
            }
            Payload::Nonce(r.rest().to_vec())
        }
        PayloadType::NOTIFY => {
            let protocol_id = ProtocolId(r.u8()?);
            let spi_size = r.u8()?;
            let notify_type = NotifyType(r.u16()?);
            let spi = r.take(usize::from(spi_size))?.to_vec();
            Payload::Notify(Notify {
                protocol_id,
                spi,
                notify_type,
                data: r.rest().to_vec(),
            })
        }
        PayloadType::DELETE => Payload::Delete(decode_delete(&mut r)?),
        PayloadType::VENDOR_ID => Payload::VendorId(r.rest().to_vec()),
        PayloadType::TSI => Payload::TsI(decode_ts(&mut r)?),
        PayloadType::TSR => Payload::TsR(decode_ts(&mut r)?),
        PayloadType::SK => Payload::Sk(Encrypted {
            inner_first: next,
            data: r.rest().to_vec(),
        }),
        PayloadType::SKF => {
            let number = r.u16()?;
            let total = r.u16()?;
            if number == 0 || total == 0 || number > total {
                return Err(invalid(&r, "fragment number must be 1..=total"));
            }
            Payload::Skf(EncryptedFragment {
                number,
                total,
                inner_first: next,
                data: r.rest().to_vec(),
            })
        }
        PayloadType::CP => Payload::Cp(decode_cp(&mut r)?),
        PayloadType::EAP => Payload::Eap(decode_eap(&mut r)?),
        _ => return Err(invalid(&r, "payload type not decodable here")),
    };
    r.finish()?;
    Ok(p)
}

fn decode_sa(r: &mut Reader<'_>) -> Result<SaPayload, DecodeError> {
    let mut proposals = Vec::new();
    if r.remaining() == 0 {
        return Err(invalid(r, "SA payload without proposals"));
    }
    loop {
        let start = r.offset();
        let last = r.u8()?;
        r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 8 || len - 4 > r.remaining() {
            return Err(DecodeError {
                offset: start + 2,
                ..r.err(DecodeErrorKind::BadLength(len))
            });
        }
        let body = r.take(len - 4)?;
        let mut pr = Reader::new(body, start + 4, r.ctx());
        proposals.push(decode_proposal(&mut pr)?);
        if proposals.len() > MAX_PROPOSALS {
            return Err(r.err(DecodeErrorKind::TooMany("proposals")));
        }
        match last {
            0 => break,
            2 => {}
            _ => {
                return Err(DecodeError {
                    offset: start,
                    ..invalid(r, "proposal Last Substruc must be 0 or 2")
                });
            }
        }
    }
    Ok(SaPayload { proposals })
}

fn decode_proposal(r: &mut Reader<'_>) -> Result<Proposal, DecodeError> {
    let number = r.u8()?;
    let protocol_id = ProtocolId(r.u8()?);
    let spi_size = r.u8()?;
    let num_transforms = usize::from(r.u8()?);
    let spi = r.take(usize::from(spi_size))?.to_vec();
    let mut transforms = Vec::new();
    while r.remaining() > 0 {
        let start = r.offset();
        let last = r.u8()?;
        r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 8 || len - 4 > r.remaining() {
            return Err(DecodeError {
                offset: start + 2,
                ..r.err(DecodeErrorKind::BadLength(len))
            });
        }
        let body = r.take(len - 4)?;
        let mut tr = Reader::new(body, start + 4, r.ctx());
        transforms.push(decode_transform(&mut tr)?);
        let more = r.remaining() > 0;
        match (last, more) {
            (0, false) | (3, true) => {}
            (0, true) => {
                return Err(DecodeError {
                    offset: start,
                    ..invalid(r, "transform marked last is followed by more")
                });
            }
            (3, false) => {
                return Err(DecodeError {
                    offset: start,
                    ..invalid(r, "transform marked not-last ends the proposal")
                });
            }
            _ => {
                return Err(DecodeError {
                    offset: start,
                    ..invalid(r, "transform Last Substruc must be 0 or 3")
                });
            }
        }
    }
    if transforms.len() != num_transforms {
        return Err(r.err(DecodeErrorKind::CountMismatch {
            declared: num_transforms,
            found: transforms.len(),
        }));
    }
    Ok(Proposal {
        number,
        protocol_id,
        spi,
        transforms,
    })
}

fn decode_transform(r: &mut Reader<'_>) -> Result<Transform, DecodeError> {
    let transform_type = TransformType(r.u8()?);
    r.u8()?;
    let id = r.u16()?;
    let mut key_length = None;
    let mut other_attributes = Vec::new();
    while r.remaining() > 0 {
        let start = r.offset();
        let word = r.u16()?;
        let tv = word & 0x8000 != 0;
        let attr_type = word & 0x7fff;
        let value = if tv {
            AttributeValue::Tv(r.u16()?)
        } else {
            let len = usize::from(r.u16()?);
            AttributeValue::Tlv(r.take(len)?.to_vec())
        };
        if attr_type == ATTR_KEY_LENGTH {
            match (value, key_length) {
                (AttributeValue::Tv(v), None) => key_length = Some(v),
                (AttributeValue::Tv(_), Some(_)) => {
                    return Err(DecodeError {
                        offset: start,
                        ..invalid(r, "duplicate Key Length attribute")
                    });
                }
                (AttributeValue::Tlv(_), _) => {
                    return Err(DecodeError {
                        offset: start,
                        ..invalid(r, "Key Length attribute must be TV")
                    });
                }
            }
        } else {
            if other_attributes.len() >= MAX_ATTRIBUTES {
                return Err(r.err(DecodeErrorKind::TooMany("transform attributes")));
            }
            other_attributes.push(TransformAttribute { attr_type, value });
        }
    }
    Ok(Transform {
        transform_type,
        id,
        key_length,
        other_attributes,
    })
}

fn decode_delete(r: &mut Reader<'_>) -> Result<Delete, DecodeError> {
    let protocol_id = ProtocolId(r.u8()?);
    let spi_size = r.u8()?;
    let num = usize::from(r.u16()?);
    if spi_size == 0 && num != 0 {
        return Err(invalid(r, "SPIs listed with SPI size 0"));
    }
    let size = usize::from(spi_size);
    if size.checked_mul(num) != Some(r.remaining()) {
        return Err(r.err(DecodeErrorKind::CountMismatch {
            declared: num,
            found: r.remaining().checked_div(size).unwrap_or(0),
        }));
    }
    let mut spis = Vec::new();
    for _ in 0..num {
        spis.push(r.take(size)?.to_vec());
    }
    Ok(Delete {
        protocol_id,
        spi_size,
        spis,
    })
}

fn decode_ts(r: &mut Reader<'_>) -> Result<Vec<TrafficSelector>, DecodeError> {
    let num = usize::from(r.u8()?);
    r.take(3)?;
    if num == 0 {
        return Err(invalid(r, "traffic selector payload without selectors"));
    }
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let start = r.offset();
        let ts_type = TsType(r.u8()?);
        let ip_protocol = r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 4 || len - 4 > r.remaining() {
            return Err(DecodeError {
                offset: start + 2,
                ..r.err(DecodeErrorKind::BadLength(len))
            });
        }
        let body = r.take(len - 4)?;
        let mut b = Reader::new(body, start + 4, r.ctx());
        let ts = match ts_type {
            TsType::IPV4_ADDR_RANGE => {
                if len != 16 {
                    return Err(DecodeError {
                        offset: start + 2,
                        ..r.err(DecodeErrorKind::BadLength(len))
                    });
                }
                TrafficSelector::Ipv4 {
                    ip_protocol,
                    start_port: b.u16()?,
                    end_port: b.u16()?,
                    start: Ipv4Addr::from(b.array::<4>()?),
                    end: Ipv4Addr::from(b.array::<4>()?),
                }
            }
            TsType::IPV6_ADDR_RANGE => {
                if len != 40 {
                    return Err(DecodeError {
                        offset: start + 2,
                        ..r.err(DecodeErrorKind::BadLength(len))
                    });
                }
                TrafficSelector::Ipv6 {
                    ip_protocol,
                    start_port: b.u16()?,
                    end_port: b.u16()?,
                    start: Ipv6Addr::from(b.array::<16>()?),
                    end: Ipv6Addr::from(b.array::<16>()?),
                }
            }
            _ => {
                // Unknown selector types keep their protocol octet in the body.
                let mut v = Vec::with_capacity(body.len() + 1);
                v.push(ip_protocol);
                v.extend_from_slice(b.rest());
                TrafficSelector::Other { ts_type, body: v }
            }
        };
        b.finish()?;
        out.push(ts);
        if out.len() > num {
            break;
        }
    }
    if out.len() != num {
        return Err(r.err(DecodeErrorKind::CountMismatch {
            declared: num,
            found: out.len(),
        }));
    }
    Ok(out)
}

fn decode_cp(r: &mut Reader<'_>) -> Result<ConfigPayload, DecodeError> {
    use cfg_attr::*;
    let cfg_type = CfgType(r.u8()?);
    r.take(3)?;
    let mut attributes = Vec::new();
    while r.remaining() > 0 {
        let start = r.offset();
        let attr_type = r.u16()? & 0x7fff;
        let len = usize::from(r.u16()?);
        let value = r.take(len)?;
        let bad = || DecodeError {
            offset: start + 2,
            ..r.err(DecodeErrorKind::BadLength(len))
        };
        let v4 = |v: &[u8]| -> Result<Option<Ipv4Addr>, DecodeError> {
            match <[u8; 4]>::try_from(v) {
                Ok(a) => Ok(Some(Ipv4Addr::from(a))),
                Err(_) if v.is_empty() => Ok(None),
                Err(_) => Err(bad()),
            }
        };
        let v6 = |v: &[u8]| -> Result<Option<Ipv6Addr>, DecodeError> {
            match <[u8; 16]>::try_from(v) {
                Ok(a) => Ok(Some(Ipv6Addr::from(a))),
                Err(_) if v.is_empty() => Ok(None),
                Err(_) => Err(bad()),
            }
        };
        let v6p = |v: &[u8]| -> Result<Option<(Ipv6Addr, u8)>, DecodeError> {
            match <[u8; 17]>::try_from(v) {
                Ok(a) => {
                    let mut addr = [0u8; 16];
                    addr.copy_from_slice(&a[..16]);
                    let prefix = a[16];
                    if prefix > 128 {
                        return Err(DecodeError {
                            offset: start + 4 + 16,
                            ..invalid(r, "IPv6 prefix length above 128")
                        });
                    }
                    Ok(Some((Ipv6Addr::from(addr), prefix)))
                }
                Err(_) if v.is_empty() => Ok(None),
                Err(_) => Err(bad()),
            }
        };
        let a = match attr_type {
            INTERNAL_IP4_ADDRESS => CfgAttribute::InternalIp4Address(v4(value)?),
            INTERNAL_IP4_NETMASK => CfgAttribute::InternalIp4Netmask(v4(value)?),
            INTERNAL_IP4_DNS => CfgAttribute::InternalIp4Dns(v4(value)?),
            INTERNAL_IP4_NBNS => CfgAttribute::InternalIp4Nbns(v4(value)?),
            INTERNAL_IP4_DHCP => CfgAttribute::InternalIp4Dhcp(v4(value)?),
            APPLICATION_VERSION => CfgAttribute::ApplicationVersion(value.to_vec()),
            INTERNAL_IP6_ADDRESS => CfgAttribute::InternalIp6Address(v6p(value)?),
            INTERNAL_IP6_DNS => CfgAttribute::InternalIp6Dns(v6(value)?),
            INTERNAL_IP6_DHCP => CfgAttribute::InternalIp6Dhcp(v6(value)?),
            INTERNAL_IP4_SUBNET => CfgAttribute::InternalIp4Subnet(match value.len() {
                0 => None,
                8 => {
                    let mut a = [0u8; 4];
                    let mut m = [0u8; 4];
                    a.copy_from_slice(value.get(..4).unwrap_or(&[0; 4]));
                    m.copy_from_slice(value.get(4..8).unwrap_or(&[0; 4]));
                    Some((Ipv4Addr::from(a), Ipv4Addr::from(m)))
                }
                _ => return Err(bad()),
            }),
            SUPPORTED_ATTRIBUTES => {
                if value.len() % 2 != 0 {
                    return Err(bad());
                }
                CfgAttribute::SupportedAttributes(
                    value
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                )
            }
            INTERNAL_IP6_SUBNET => CfgAttribute::InternalIp6Subnet(v6p(value)?),
            _ => CfgAttribute::Other {
                attr_type,
                value: value.to_vec(),
            },
        };
        if attributes.len() >= MAX_ATTRIBUTES {
            return Err(r.err(DecodeErrorKind::TooMany("configuration attributes")));
        }
        attributes.push(a);
    }
    Ok(ConfigPayload {
        cfg_type,
        attributes,
    })
}

fn decode_eap(r: &mut Reader<'_>) -> Result<EapMessage, DecodeError> {
    let total = r.remaining();
    let code = r.u8()?;
    let identifier = r.u8()?;
    let len = usize::from(r.u16()?);
    if len != total {
        return Err(invalid(r, "EAP length does not match payload length"));
    }
    let data = r.rest().to_vec();
    match code {
        1 | 2 if data.is_empty() => Err(invalid(r, "EAP request/response without type")),
        3 | 4 if !data.is_empty() => Err(invalid(r, "EAP success/failure with data")),
        _ => Ok(EapMessage {
            code,
            identifier,
            data,
        }),
    }
}

// ---------------------------------------------------------------------------
// Encoding

fn enc_err(t: PayloadType, reason: &'static str) -> EncodeError {
    EncodeError {
        context: Context::Payload(t),
        reason,
    }
}

fn u16_len(t: PayloadType, n: usize) -> Result<u16, EncodeError> {
    u16::try_from(n).map_err(|_| enc_err(t, "length exceeds 65535"))
}

/// Appends the body of `p` (without the generic header) to `out`.
pub(crate) fn encode_body(p: &Payload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let t = p.payload_type();
    match p {
        Payload::Sa(sa) => encode_sa(sa, out)?,
        Payload::Ke(ke) => {
            out.extend_from_slice(&ke.group.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&ke.data);
        }
        Payload::IdI(id) | Payload::IdR(id) => {
            out.extend_from_slice(&[id.id_type.0, 0, 0, 0]);
            out.extend_from_slice(&id.data);
        }
        Payload::Cert(c) | Payload::CertReq(c) => {
            out.push(c.encoding.0);
            out.extend_from_slice(&c.data);
        }
        Payload::Auth(a) => {
            out.extend_from_slice(&[a.method.0, 0, 0, 0]);
            out.extend_from_slice(&a.data);
        }
        Payload::Nonce(n) => {
            if !(16..=256).contains(&n.len()) {
                return Err(enc_err(t, "nonce must be 16 to 256 octets"));
            }
            out.extend_from_slice(n);
        }
        Payload::Notify(n) => {
            let spi_size =
                u8::try_from(n.spi.len()).map_err(|_| enc_err(t, "SPI longer than 255"))?;
            out.extend_from_slice(&[n.protocol_id.0, spi_size]);
            out.extend_from_slice(&n.notify_type.0.to_be_bytes());
            out.extend_from_slice(&n.spi);
            out.extend_from_slice(&n.data);
        }
        Payload::Delete(d) => {
            if d.spis.iter().any(|s| s.len() != usize::from(d.spi_size)) {
                return Err(enc_err(t, "SPI length differs from SPI size"));
            }
            if d.spi_size == 0 && !d.spis.is_empty() {
                return Err(enc_err(t, "SPIs listed with SPI size 0"));
            }
            out.extend_from_slice(&[d.protocol_id.0, d.spi_size]);
            out.extend_from_slice(&u16_len(t, d.spis.len())?.to_be_bytes());
            for s in &d.spis {
                out.extend_from_slice(s);
            }
        }
        Payload::VendorId(v) => out.extend_from_slice(v),
        Payload::TsI(ts) | Payload::TsR(ts) => encode_ts(t, ts, out)?,
        Payload::Sk(e) => out.extend_from_slice(&e.data),
        Payload::Skf(f) => {
            if f.number == 0 || f.number > f.total {
                return Err(enc_err(t, "fragment number must be 1..=total"));
            }
            out.extend_from_slice(&f.number.to_be_bytes());
            out.extend_from_slice(&f.total.to_be_bytes());
            out.extend_from_slice(&f.data);
        }
        Payload::Cp(cp) => encode_cp(cp, out)?,
        Payload::Eap(e) => {
            match e.code {
                1 | 2 if e.data.is_empty() => {
                    return Err(enc_err(t, "EAP request/response without type"));
                }
                3 | 4 if !e.data.is_empty() => {
                    return Err(enc_err(t, "EAP success/failure with data"));
                }
                _ => {}
            }
            let len = u16_len(t, e.data.len() + 4)?;
            out.extend_from_slice(&[e.code, e.identifier]);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&e.data);
        }
    }
    Ok(())
}

fn encode_sa(sa: &SaPayload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let t = PayloadType::SA;
    if sa.proposals.is_empty() {
        return Err(enc_err(t, "SA payload without proposals"));
    }
    if sa.proposals.len() > MAX_PROPOSALS {
        return Err(enc_err(t, "too many proposals"));
    }
    for (i, p) in sa.proposals.iter().enumerate() {
        let start = out.len();
        let last = if i + 1 == sa.proposals.len() { 0 } else { 2 };
        out.extend_from_slice(&[last, 0, 0, 0]);
        let spi_size = u8::try_from(p.spi.len()).map_err(|_| enc_err(t, "SPI longer than 255"))?;
        let n = u8::try_from(p.transforms.len()).map_err(|_| enc_err(t, "over 255 transforms"))?;
        out.extend_from_slice(&[p.number, p.protocol_id.0, spi_size, n]);
        out.extend_from_slice(&p.spi);
        for (j, tr) in p.transforms.iter().enumerate() {
            let tstart = out.len();
            let tlast = if j + 1 == p.transforms.len() { 0 } else { 3 };
            out.extend_from_slice(&[tlast, 0, 0, 0, tr.transform_type.0, 0]);
            out.extend_from_slice(&tr.id.to_be_bytes());
            if let Some(kl) = tr.key_length {
                out.extend_from_slice(&(0x8000 | ATTR_KEY_LENGTH).to_be_bytes());
                out.extend_from_slice(&kl.to_be_bytes());
            }
            for a in &tr.other_attributes {
                if a.attr_type > 0x7fff || a.attr_type == ATTR_KEY_LENGTH {
                    return Err(enc_err(t, "invalid transform attribute type"));
                }
                match &a.value {
                    AttributeValue::Tv(v) => {
                        out.extend_from_slice(&(0x8000 | a.attr_type).to_be_bytes());
                        out.extend_from_slice(&v.to_be_bytes());
                    }
                    AttributeValue::Tlv(v) => {
                        out.extend_from_slice(&a.attr_type.to_be_bytes());
                        out.extend_from_slice(&u16_len(t, v.len())?.to_be_bytes());
                        out.extend_from_slice(v);
                    }
                }
            }
            let tlen = u16_len(t, out.len() - tstart)?;
            out[tstart + 2..tstart + 4].copy_from_slice(&tlen.to_be_bytes());
        }
        let plen = u16_len(t, out.len() - start)?;
        out[start + 2..start + 4].copy_from_slice(&plen.to_be_bytes());
    }
    Ok(())
}

fn encode_ts(t: PayloadType, ts: &[TrafficSelector], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if ts.is_empty() {
        return Err(enc_err(t, "traffic selector payload without selectors"));
    }
    let n = u8::try_from(ts.len()).map_err(|_| enc_err(t, "over 255 traffic selectors"))?;
    out.extend_from_slice(&[n, 0, 0, 0]);
    for s in ts {
        match s {
            TrafficSelector::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                out.extend_from_slice(&[TsType::IPV4_ADDR_RANGE.0, *ip_protocol, 0, 16]);
                out.extend_from_slice(&start_port.to_be_bytes());
                out.extend_from_slice(&end_port.to_be_bytes());
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            TrafficSelector::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                out.extend_from_slice(&[TsType::IPV6_ADDR_RANGE.0, *ip_protocol, 0, 40]);
                out.extend_from_slice(&start_port.to_be_bytes());
                out.extend_from_slice(&end_port.to_be_bytes());
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            TrafficSelector::Other { ts_type, body } => {
                if matches!(*ts_type, TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE) {
                    return Err(enc_err(t, "address range selector given as Other"));
                }
                let Some((proto, rest)) = body.split_first() else {
                    return Err(enc_err(t, "selector body lacks the protocol octet"));
                };
                out.extend_from_slice(&[ts_type.0, *proto]);
                out.extend_from_slice(&u16_len(t, rest.len() + 4)?.to_be_bytes());
                out.extend_from_slice(rest);
            }
        }
    }
    Ok(())
}

fn encode_cp(cp: &ConfigPayload, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let t = PayloadType::CP;
    out.extend_from_slice(&[cp.cfg_type.0, 0, 0, 0]);
    for a in &cp.attributes {
        let mut v = Vec::new();
        match a {
            CfgAttribute::InternalIp4Address(x)
            | CfgAttribute::InternalIp4Netmask(x)
            | CfgAttribute::InternalIp4Dns(x)
            | CfgAttribute::InternalIp4Nbns(x)
            | CfgAttribute::InternalIp4Dhcp(x) => {
                if let Some(x) = x {
                    v.extend_from_slice(&x.octets());
                }
            }
            CfgAttribute::ApplicationVersion(x) => v.extend_from_slice(x),
            CfgAttribute::InternalIp6Address(x) | CfgAttribute::InternalIp6Subnet(x) => {
                if let Some((addr, prefix)) = x {
                    if *prefix > 128 {
                        return Err(enc_err(t, "IPv6 prefix length above 128"));
                    }
                    v.extend_from_slice(&addr.octets());
                    v.push(*prefix);
                }
            }
            CfgAttribute::InternalIp6Dns(x) | CfgAttribute::InternalIp6Dhcp(x) => {
                if let Some(x) = x {
                    v.extend_from_slice(&x.octets());
                }
            }
            CfgAttribute::InternalIp4Subnet(x) => {
                if let Some((addr, mask)) = x {
                    v.extend_from_slice(&addr.octets());
                    v.extend_from_slice(&mask.octets());
                }
            }
            CfgAttribute::SupportedAttributes(list) => {
                for x in list {
                    v.extend_from_slice(&x.to_be_bytes());
                }
            }
            CfgAttribute::Other { attr_type, value } => {
                if *attr_type > 0x7fff || CfgAttribute::is_typed(*attr_type) {
                    return Err(enc_err(t, "Other attribute with a typed or invalid type"));
                }
                v.extend_from_slice(value);
            }
        }
        out.extend_from_slice(&a.attr_type().to_be_bytes());
        out.extend_from_slice(&u16_len(t, v.len())?.to_be_bytes());
        out.extend_from_slice(&v);
    }
    if cp.attributes.len() > MAX_ATTRIBUTES {
        return Err(enc_err(t, "too many attributes"));
    }
    Ok(())
}
