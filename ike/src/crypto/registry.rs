//! The transform registry: a provider value (in the manner of rustls'
//! `CryptoProvider`) listing the algorithms iked implements, mapping IANA
//! transform IDs to them, and resolving proposals, both the typed ones of
//! the `conf` crate (at configuration time) and the ones received on the
//! wire (at negotiation time). Protocol code asks a `Provider`, never a
//! global.

use std::fmt;

use super::{DhGroup, Encr, Integ, KeyLengths, Prf};
use crate::wire::{self, TransformType};

/// The algorithms one IKE SA (or CHILD SA) uses, one per transform type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// Encryption (AEAD or not).
    pub encr: Encr,
    /// Integrity; `None` with AEAD ciphers.
    pub integ: Option<Integ>,
    /// PRF (IKE SAs only; `None` for ESP).
    pub prf: Option<Prf>,
    /// Key exchange; `None` for a CHILD SA without PFS.
    pub dh: Option<DhGroup>,
    /// Extended sequence numbers (ESP only).
    pub esn: bool,
}

impl Suite {
    /// IKE SA key lengths (RFC 7296 section 2.14). `None` without a PRF.
    pub fn ike_key_lengths(&self) -> Option<KeyLengths> {
        Some(KeyLengths {
            prf_key: self.prf?.key_len(),
            integ_key: self.integ.map_or(0, Integ::key_len),
            encr_key: self.encr.key_len(),
        })
    }

    /// The transforms of this suite, as they go into a proposal.
    pub fn transforms(&self) -> Vec<wire::Transform> {
        let mut v = Vec::new();
        let mut e = wire::Transform::new(TransformType::ENCR, self.encr.iana_id());
        e.key_length = self.encr.key_length_attr();
        v.push(e);
        if let Some(p) = self.prf {
            v.push(wire::Transform::new(TransformType::PRF, p.iana_id()));
        }
        if let Some(i) = self.integ {
            v.push(wire::Transform::new(TransformType::INTEG, i.iana_id()));
        }
        if let Some(d) = self.dh {
            v.push(wire::Transform::new(TransformType::DH, d.iana_id()));
        }
        v
    }
}

/// A transform the registry cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Unsupported {
    /// Transform type.
    pub transform_type: TransformType,
    /// Transform ID.
    pub id: u16,
    /// Key length attribute, if any.
    pub key_length: Option<u16>,
    /// A configuration keyword, when known.
    pub name: Option<String>,
    /// Why.
    pub reason: &'static str,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported {} transform", self.transform_type)?;
        if let Some(n) = &self.name {
            write!(f, " '{n}'")?;
        }
        write!(f, " (id {}", self.id)?;
        if let Some(k) = self.key_length {
            write!(f, ", {k}-bit key")?;
        }
        write!(f, "): {}", self.reason)
    }
}

/// The protocol a proposal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// IKE SA proposals (encr, prf, integ unless AEAD, dh).
    Ike,
    /// ESP proposals (encr, integ unless AEAD, optional dh, esn).
    Esp,
}

/// A crypto provider: the algorithms available to the protocol code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// PRFs, in preference order.
    pub prfs: Vec<Prf>,
    /// Integrity algorithms.
    pub integs: Vec<Integ>,
    /// Encryption algorithms (each AES key size listed separately).
    pub encrs: Vec<Encr>,
    /// Key exchange groups.
    pub groups: Vec<DhGroup>,
}

impl Default for Provider {
    /// Everything this crate implements.
    fn default() -> Self {
        let mut encrs = Vec::new();
        for key_bits in [128, 192, 256] {
            encrs.push(Encr::AesCbc { key_bits });
            for icv_len in [8, 12, 16] {
                encrs.push(Encr::AesGcm { key_bits, icv_len });
            }
        }
        encrs.push(Encr::ChaCha20Poly1305);
        Provider {
            prfs: Prf::ALL.to_vec(),
            integs: Integ::ALL.to_vec(),
            encrs,
            groups: DhGroup::ALL.to_vec(),
        }
    }
}

fn unsupported(t: &wire::Transform, reason: &'static str) -> Unsupported {
    Unsupported {
        transform_type: t.transform_type,
        id: t.id,
        key_length: t.key_length,
        name: None,
        reason,
    }
}

/// One transform resolved to an implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Encryption.
    Encr(Encr),
    /// PRF.
    Prf(Prf),
    /// Integrity (`None` = the NONE transform, id 0).
    Integ(Option<Integ>),
    /// Key exchange (`None` = the NONE transform, id 0).
    Dh(Option<DhGroup>),
    /// Extended sequence numbers on or off.
    Esn(bool),
}

impl Provider {
    /// The PRF with this ID, if provided.
    pub fn prf(&self, id: u16) -> Option<Prf> {
        Prf::from_iana(id).filter(|p| self.prfs.contains(p))
    }

    /// The integrity algorithm with this ID, if provided.
    pub fn integ(&self, id: u16) -> Option<Integ> {
        Integ::from_iana(id).filter(|p| self.integs.contains(p))
    }

    /// The cipher with this ID and key length, if provided.
    pub fn encr(&self, id: u16, key_bits: Option<u16>) -> Option<Encr> {
        Encr::from_iana(id, key_bits).filter(|p| self.encrs.contains(p))
    }

    /// The key exchange group with this number, if provided.
    pub fn group(&self, id: u16) -> Option<DhGroup> {
        DhGroup::from_iana(id).filter(|p| self.groups.contains(p))
    }

    /// Resolves one transform; unknown attributes make it unsupported
    /// (RFC 7296 section 3.3.6).
    pub fn resolve(&self, t: &wire::Transform) -> Result<Resolved, Unsupported> {
        if !t.other_attributes.is_empty() {
            return Err(unsupported(t, "unknown transform attribute"));
        }
        let no_key_len = |r: Resolved| {
            if t.key_length.is_some() {
                Err(unsupported(t, "key length attribute not allowed"))
            } else {
                Ok(r)
            }
        };
        match t.transform_type {
            TransformType::ENCR => self
                .encr(t.id, t.key_length)
                .map(Resolved::Encr)
                .ok_or_else(|| unsupported(t, "cipher or key length not implemented")),
            TransformType::PRF => match self.prf(t.id) {
                Some(p) => no_key_len(Resolved::Prf(p)),
                None => Err(unsupported(t, "PRF not implemented")),
            },
            TransformType::INTEG if t.id == wire::transform_id::integ::NONE => {
                no_key_len(Resolved::Integ(None))
            }
            TransformType::INTEG => match self.integ(t.id) {
                Some(i) => no_key_len(Resolved::Integ(Some(i))),
                None => Err(unsupported(t, "integrity algorithm not implemented")),
            },
            TransformType::DH if t.id == wire::transform_id::dh::NONE => {
                no_key_len(Resolved::Dh(None))
            }
            TransformType::DH => match self.group(t.id) {
                Some(g) => no_key_len(Resolved::Dh(Some(g))),
                None => Err(unsupported(t, "key exchange method not implemented")),
            },
            TransformType::ESN => match t.id {
                0 => no_key_len(Resolved::Esn(false)),
                1 => no_key_len(Resolved::Esn(true)),
                _ => Err(unsupported(t, "unknown ESN value")),
            },
            _ => Err(unsupported(t, "unknown transform type")),
        }
    }

    /// Resolves a proposal that has exactly one transform of each type
    /// (a responder's choice, or one combination of ours) into a suite, and
    /// checks the combination: IKE needs ENCR, PRF, DH and (unless AEAD)
    /// INTEG; ESP needs ENCR and (unless AEAD) INTEG; AEAD forbids INTEG
    /// other than NONE.
    pub fn suite(
        &self,
        protocol: Protocol,
        transforms: &[wire::Transform],
    ) -> Result<Suite, Unsupported> {
        let mut encr = None;
        let mut prf = None;
        let mut integ: Option<Option<Integ>> = None;
        let mut dh: Option<Option<DhGroup>> = None;
        let mut esn = None;
        let dup = |t: &wire::Transform| Err(unsupported(t, "more than one transform of this type"));
        for t in transforms {
            match self.resolve(t)? {
                Resolved::Encr(e) if encr.is_none() => encr = Some(e),
                Resolved::Prf(p) if prf.is_none() => prf = Some(p),
                Resolved::Integ(i) if integ.is_none() => integ = Some(i),
                Resolved::Dh(d) if dh.is_none() => dh = Some(d),
                Resolved::Esn(e) if esn.is_none() => esn = Some(e),
                _ => return dup(t),
            }
        }
        let missing = |tt: TransformType, reason| Unsupported {
            transform_type: tt,
            id: 0,
            key_length: None,
            name: None,
            reason,
        };
        let encr = encr.ok_or_else(|| missing(TransformType::ENCR, "proposal lacks encryption"))?;
        let integ = integ.flatten();
        match (encr.is_aead(), integ) {
            (true, Some(i)) => {
                return Err(missing_id(
                    TransformType::INTEG,
                    i.iana_id(),
                    "integrity with an AEAD cipher",
                ));
            }
            (false, None) => {
                return Err(missing(TransformType::INTEG, "proposal lacks integrity"));
            }
            _ => {}
        }
        match protocol {
            Protocol::Ike => {
                if prf.is_none() {
                    return Err(missing(TransformType::PRF, "IKE proposal lacks a PRF"));
                }
                if dh.flatten().is_none() {
                    return Err(missing(
                        TransformType::DH,
                        "IKE proposal lacks a key exchange",
                    ));
                }
                if esn.is_some() {
                    return Err(missing(TransformType::ESN, "ESN in an IKE proposal"));
                }
            }
            Protocol::Esp => {
                if prf.is_some() {
                    return Err(missing(TransformType::PRF, "PRF in an ESP proposal"));
                }
            }
        }
        Ok(Suite {
            encr,
            integ,
            prf,
            dh: dh.flatten(),
            esn: esn.unwrap_or(false),
        })
    }

    /// Checks every transform of a configured proposal (from `conf`):
    /// returns all the ones this provider cannot serve, so a configuration
    /// that names one fails at load time.
    pub fn check_conf(&self, p: &conf::Proposal) -> Result<(), Vec<Unsupported>> {
        let errors: Vec<Unsupported> = p
            .transforms()
            .filter_map(|t| {
                let w = wire_transform(t);
                self.resolve(&w).err().map(|mut e| {
                    e.name = Some(t.name.to_string());
                    e
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The SA payload offering configured proposals (numbered from 1), after
    /// checking that every transform is served. `spi` is empty for the
    /// IKE_SA_INIT, the new SPI for rekeying and CHILD SAs.
    pub fn offer(
        &self,
        proposals: &[conf::Proposal],
        spi: &[u8],
    ) -> Result<wire::SaPayload, Vec<Unsupported>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (i, p) in proposals.iter().enumerate() {
            if let Err(e) = self.check_conf(p) {
                errors.extend(e);
            }
            let number = u8::try_from(i + 1).unwrap_or(u8::MAX);
            out.push(wire_proposal(p, number, spi.to_vec()));
        }
        if errors.is_empty() {
            Ok(wire::SaPayload { proposals: out })
        } else {
            Err(errors)
        }
    }
}

fn missing_id(tt: TransformType, id: u16, reason: &'static str) -> Unsupported {
    Unsupported {
        transform_type: tt,
        id,
        key_length: None,
        name: None,
        reason,
    }
}

/// A `conf` transform as a wire transform.
pub fn wire_transform(t: &conf::Transform) -> wire::Transform {
    wire::Transform {
        transform_type: TransformType(t.kind.iana()),
        id: t.id,
        key_length: t.key_len,
        other_attributes: Vec::new(),
    }
}

/// A `conf` proposal as a wire proposal with the given number and SPI.
pub fn wire_proposal(p: &conf::Proposal, number: u8, spi: Vec<u8>) -> wire::Proposal {
    let protocol_id = match p.protocol {
        conf::proposal::Protocol::Ike => wire::ProtocolId::IKE,
        conf::proposal::Protocol::Esp => wire::ProtocolId::ESP,
    };
    wire::Proposal {
        number,
        protocol_id,
        spi,
        transforms: p.transforms().map(wire_transform).collect(),
    }
}
