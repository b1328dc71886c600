//! X.509 certificates and CRLs, parsed once (x509-parser) into owned values.

use std::fmt;
use std::net::IpAddr;

use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::der;
use crate::dn::Dn;
use crate::error::Error;
use crate::key::{PublicKey, Scheme};
use crate::pem;
use crate::sigalg;

/// A subjectAltName entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Email(String),
    Ip(IpAddr),
    Dn(Dn),
    Uri(String),
    /// Any other form, kept only for display.
    Other(String),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(s) => write!(f, "DNS:{s}"),
            San::Email(s) => write!(f, "email:{s}"),
            San::Ip(a) => write!(f, "IP:{a}"),
            San::Dn(d) => write!(f, "DN:{d}"),
            San::Uri(u) => write!(f, "URI:{u}"),
            San::Other(o) => f.write_str(o),
        }
    }
}

/// One nameConstraints subtree (RFC 5280 4.2.1.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameConstraint {
    Dns(String),
    Email(String),
    /// Address and mask, both 4 or both 16 bytes.
    Ip {
        addr: Vec<u8>,
        mask: Vec<u8>,
    },
    Dn(Dn),
    /// A form this crate does not enforce (kept for display).
    Other(String),
}

impl fmt::Display for NameConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameConstraint::Dns(s) => write!(f, "DNS:{s}"),
            NameConstraint::Email(s) => write!(f, "email:{s}"),
            NameConstraint::Ip { addr, mask } => {
                let ip = |b: &[u8]| match b.len() {
                    4 => <[u8; 4]>::try_from(b)
                        .map(|a| IpAddr::from(a).to_string())
                        .unwrap_or_default(),
                    _ => <[u8; 16]>::try_from(b)
                        .map(|a| IpAddr::from(a).to_string())
                        .unwrap_or_default(),
                };
                let bits: u32 = mask.iter().map(|b| b.count_ones()).sum();
                write!(f, "IP:{}/{bits}", ip(addr))
            }
            NameConstraint::Dn(d) => write!(f, "DN:{d}"),
            NameConstraint::Other(o) => f.write_str(o),
        }
    }
}

impl NameConstraint {
    fn from_general_name(g: &GeneralName) -> NameConstraint {
        match g {
            GeneralName::DNSName(s) => NameConstraint::Dns(s.to_ascii_lowercase()),
            GeneralName::RFC822Name(s) => NameConstraint::Email(s.to_ascii_lowercase()),
            GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
                let (addr, mask) = b.split_at(b.len() / 2);
                NameConstraint::Ip {
                    addr: addr.to_vec(),
                    mask: mask.to_vec(),
                }
            }
            GeneralName::DirectoryName(n) => match Dn::from_der(n.as_raw()) {
                Some(d) => NameConstraint::Dn(d),
                None => NameConstraint::Other("DN:?".into()),
            },
            other => NameConstraint::Other(format!("{other:?}")),
        }
    }

    /// `Some(matches)` if `name` is of this constraint's type, else `None`.
    pub fn applies(&self, name: &San) -> Option<bool> {
        Some(match (self, name) {
            (NameConstraint::Dns(c), San::Dns(n)) => {
                let n = n.to_ascii_lowercase();
                if c.is_empty() {
                    true
                } else if c.starts_with('.') {
                    n.ends_with(c.as_str())
                } else {
                    n == *c || n.ends_with(&format!(".{c}"))
                }
            }
            (NameConstraint::Email(c), San::Email(n)) => {
                let n = n.to_ascii_lowercase();
                let host = n.rsplit_once('@').map_or(n.as_str(), |(_, h)| h);
                if c.contains('@') {
                    n == *c
                } else if c.starts_with('.') {
                    host.ends_with(c.as_str())
                } else {
                    host == c
                }
            }
            (NameConstraint::Ip { addr, mask }, San::Ip(ip)) => {
                let b = match ip {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                };
                b.len() == addr.len()
                    && b.iter()
                        .zip(addr)
                        .zip(mask)
                        .all(|((x, a), m)| x & m == a & m)
            }
            (NameConstraint::Dn(c), San::Dn(d)) => {
                c.avas.len() <= d.avas.len()
                    && c.avas
                        .iter()
                        .zip(&d.avas)
                        .all(|(a, b)| a.oid == b.oid && a.value.eq_ignore_ascii_case(&b.value))
            }
            _ => return None,
        })
    }
}

/// nameConstraints of a CA certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraints {
    pub permitted: Vec<NameConstraint>,
    pub excluded: Vec<NameConstraint>,
}

/// keyUsage bits this crate looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub digital_signature: bool,
    pub non_repudiation: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

/// The outer SEQUENCE of a signed object: (tbs, signatureAlgorithm, signature bits).
fn split_signed(d: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (body, rest) = der::expect(d, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let tbs = der::first_tlv(body)?;
    let rest = body.get(tbs.len()..)?;
    let alg = der::first_tlv(rest)?;
    let rest = rest.get(alg.len()..)?;
    let (bits, _) = der::expect(rest, 0x03)?;
    let (&unused, sig) = bits.split_first()?;
    // RFC 5280 4.1.1.2 / 5.1.1.2: the unsigned outer algorithm must be the
    // signed one inside the tbs (the first SEQUENCE in it).
    let (mut inner, _) = der::expect(tbs, 0x30)?;
    let signed_alg = loop {
        let (tag, _, rest) = der::read_tlv(inner)?;
        if tag == 0x30 {
            break der::first_tlv(inner)?;
        }
        inner = rest;
    };
    (unused == 0 && signed_alg == alg).then_some((tbs, alg, sig))
}

/// An X.509 certificate.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    sig_alg: Vec<u8>,
    signature: Vec<u8>,
    pub subject: Dn,
    pub subject_der: Vec<u8>,
    pub issuer: Dn,
    /// Serial number, big-endian, as encoded.
    pub serial: Vec<u8>,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// basicConstraints: `Some((ca, pathLen))` if present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    pub key_usage: Option<KeyUsage>,
    /// extendedKeyUsage OIDs, if the extension is present.
    pub ext_key_usage: Option<Vec<String>>,
    pub sans: Vec<San>,
    pub public_key: PublicKey,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// CRL distribution point URIs (empty if none or not URIs); `has_crl_dp`
    /// says whether the extension is present at all.
    pub crl_uris: Vec<String>,
    pub has_crl_dp: bool,
    pub name_constraints: Option<NameConstraints>,
    /// certificatePolicies OIDs (dotted), for `rightcertpolicy=`.
    pub policies: Vec<String>,
    /// Critical extensions this crate does not understand.
    pub unknown_critical: Vec<String>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject.to_string())
            .field("issuer", &self.issuer.to_string())
            .field("serial", &self.serial_hex())
            .field("key", &self.public_key.describe())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(d: &[u8]) -> Result<Certificate, Error> {
        let bad = |m: String| Error::BadCertificate(m);
        let (tbs, sig_alg, signature) =
            split_signed(d).ok_or_else(|| bad("not a DER Certificate SEQUENCE".into()))?;
        let (rest, x) = x509_parser::certificate::X509Certificate::from_der(d)
            .map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad("trailing data after certificate".into()));
        }
        let t = &x.tbs_certificate;
        let subject_der = t.subject.as_raw().to_vec();
        let subject = Dn::from_der(&subject_der).ok_or_else(|| bad("malformed subject".into()))?;
        let issuer =
            Dn::from_der(t.issuer.as_raw()).ok_or_else(|| bad("malformed issuer".into()))?;
        let public_key = PublicKey::from_spki(t.subject_pki.raw)?;
        let mut c = Certificate {
            der: d.to_vec(),
            tbs: tbs.to_vec(),
            sig_alg: sig_alg.to_vec(),
            signature: signature.to_vec(),
            subject,
            subject_der,
            issuer,
            serial: t.raw_serial().to_vec(),
            not_before: t.validity.not_before.timestamp(),
            not_after: t.validity.not_after.timestamp(),
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            sans: Vec::new(),
            public_key,
            subject_key_id: None,
            authority_key_id: None,
            crl_uris: Vec::new(),
            has_crl_dp: false,
            name_constraints: None,
            policies: Vec::new(),
            unknown_critical: Vec::new(),
        };
        for ext in t.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(b) => {
                    c.basic_constraints = Some((b.ca, b.path_len_constraint));
                }
                ParsedExtension::KeyUsage(k) => {
                    c.key_usage = Some(KeyUsage {
                        digital_signature: k.digital_signature(),
                        non_repudiation: k.non_repudiation(),
                        key_cert_sign: k.key_cert_sign(),
                        crl_sign: k.crl_sign(),
                    });
                }
                ParsedExtension::ExtendedKeyUsage(_) => {
                    c.ext_key_usage = Some(
                        parse_eku(ext.value)
                            .ok_or_else(|| bad("malformed extendedKeyUsage".into()))?,
                    );
                }
                ParsedExtension::SubjectAlternativeName(s) => {
                    c.sans = s.general_names.iter().map(san_from).collect();
                }
                ParsedExtension::SubjectKeyIdentifier(k) => c.subject_key_id = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    c.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                ParsedExtension::CRLDistributionPoints(p) => {
                    c.has_crl_dp = true;
                    for dp in p.points.iter() {
                        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point
                        {
                            for n in names {
                                if let GeneralName::URI(u) = n {
                                    c.crl_uris.push((*u).to_owned());
                                }
                            }
                        }
                    }
                }
                ParsedExtension::NameConstraints(nc) => {
                    let conv = |v: &Option<Vec<x509_parser::extensions::GeneralSubtree>>| {
                        v.iter()
                            .flatten()
                            .map(|s| NameConstraint::from_general_name(&s.base))
                            .collect::<Vec<_>>()
                    };
                    c.name_constraints = Some(NameConstraints {
                        permitted: conv(&nc.permitted_subtrees),
                        excluded: conv(&nc.excluded_subtrees),
                    });
                }
                ParsedExtension::ParseError { error } => {
                    return Err(bad(format!("extension {}: {error}", ext.oid)));
                }
                ParsedExtension::CertificatePolicies(p) => {
                    c.policies = p.iter().map(|i| i.policy_id.to_id_string()).collect();
                }
                ParsedExtension::PolicyConstraints(_)
                | ParsedExtension::PolicyMappings(_)
                | ParsedExtension::InhibitAnyPolicy(_) => {}
                _ if ext.critical => c.unknown_critical.push(ext.oid.to_id_string()),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Every certificate in a PEM input (all `CERTIFICATE` blocks) or the
    /// one DER certificate.
    pub fn all_from_pem_or_der(input: &[u8]) -> Result<Vec<Certificate>, Error> {
        if pem::is_pem(input) {
            let blocks = pem::parse_blocks(input).map_err(Error::BadCertificate)?;
            let certs = blocks
                .iter()
                .filter(|b| {
                    matches!(
                        b.label.as_str(),
                        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
                    )
                })
                .map(|b| Certificate::from_der(&b.contents))
                .collect::<Result<Vec<_>, _>>()?;
            if certs.is_empty() {
                return Err(Error::Empty);
            }
            return Ok(certs);
        }
        Ok(vec![Certificate::from_der(input)?])
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Our ID payload when no `leftid=` is set: the subject DN, byte for
    /// byte as in the certificate (ID_DER_ASN1_DN = 9).
    pub fn subject_id_payload(&self) -> (u8, Vec<u8>) {
        (crate::identity::ID_DER_ASN1_DN, self.subject_der.clone())
    }

    /// The signature scheme the issuer used.
    pub fn signature_scheme(&self) -> Result<Scheme, Error> {
        sigalg::scheme_from_algorithm_identifier(&self.sig_alg)
    }

    /// Checks this certificate's signature with `issuer_key`.
    pub fn verify_signature(&self, issuer_key: &PublicKey) -> Result<(), Error> {
        issuer_key.verify(self.signature_scheme()?, &self.tbs, &self.signature)
    }

    pub fn is_self_signed(&self) -> bool {
        self.subject == self.issuer && self.verify_signature(&self.public_key).is_ok()
    }

    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// `01:23:ab` form.
    pub fn serial_hex(&self) -> String {
        hex_colons(&self.serial)
    }

    /// A multi-line listing in the spirit of `ipsec listcerts`, for
    /// `ikectl list-certs`.
    pub fn summary(&self, now: i64) -> String {
        use crate::time::fmt_utc;
        let mut out = format!("  subject:  \"{}\"\n", self.subject);
        if !self.sans.is_empty() {
            let sans: Vec<String> = self.sans.iter().map(|x| x.to_string()).collect();
            out.push_str(&format!("  altNames: {}\n", sans.join(", ")));
        }
        out.push_str(&format!("  issuer:   \"{}\"\n", self.issuer));
        out.push_str(&format!("  serial:   {}\n", self.serial_hex()));
        let state = if now < self.not_before {
            "not valid yet"
        } else if now > self.not_after {
            "expired"
        } else {
            "ok"
        };
        out.push_str(&format!(
            "  validity: not before {}\n            not after  {} ({state})\n",
            fmt_utc(self.not_before),
            fmt_utc(self.not_after)
        ));
        if let Some((ca, pl)) = self.basic_constraints {
            if ca {
                let pl = pl.map(|p| format!(", pathLen {p}")).unwrap_or_default();
                out.push_str(&format!("  flags:    CA{pl}\n"));
            }
        }
        out.push_str(&format!("  pubkey:   {}\n", self.public_key.describe()));
        out.push_str(&format!(
            "  keyid:    {}\n",
            hex_colons(&self.public_key.spki_sha1())
        ));
        out.push_str(&format!(
            "  subjkey:  {}\n",
            hex_colons(&self.public_key.keyid())
        ));
        out
    }

    /// A one-line description of the names a certificate carries: its subject
    /// and subjectAltNames (for "ID mismatch" messages).
    pub fn names(&self) -> String {
        let mut s = format!("subject \"{}\"", self.subject);
        if !self.sans.is_empty() {
            let sans: Vec<String> = self.sans.iter().map(|x| x.to_string()).collect();
            s.push_str(&format!(" and subjectAltNames {}", sans.join(", ")));
        } else {
            s.push_str(" and no subjectAltNames");
        }
        s
    }
}

pub(crate) fn hex_colons(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse_eku(v: &[u8]) -> Option<Vec<String>> {
    let (mut body, _) = der::expect(v, 0x30)?;
    let mut out = Vec::new();
    while !body.is_empty() {
        let (oid, rest) = der::expect(body, 0x06)?;
        out.push(der::oid_to_string(oid)?);
        body = rest;
    }
    Some(out)
}

fn san_from(g: &GeneralName) -> San {
    match g {
        GeneralName::DNSName(s) => San::Dns((*s).to_owned()),
        GeneralName::RFC822Name(s) => San::Email((*s).to_owned()),
        GeneralName::URI(s) => San::Uri((*s).to_owned()),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b)
                .map(|a| San::Ip(IpAddr::from(a)))
                .unwrap_or_else(|_| San::Other("IP:?".into())),
            16 => <[u8; 16]>::try_from(*b)
                .map(|a| San::Ip(IpAddr::from(a)))
                .unwrap_or_else(|_| San::Other("IP:?".into())),
            _ => San::Other(format!("IP:#{}", hex::encode(b))),
        },
        GeneralName::DirectoryName(n) => match Dn::from_der(n.as_raw()) {
            Some(d) => San::Dn(d),
            None => San::Other("DN:?".into()),
        },
        other => San::Other(format!("{other:?}")),
    }
}

/// A revoked entry in a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    pub serial: Vec<u8>,
    pub date: i64,
    pub reason: Option<String>,
}

/// A certificate revocation list.
#[derive(Clone)]
pub struct Crl {
    tbs: Vec<u8>,
    sig_alg: Vec<u8>,
    signature: Vec<u8>,
    pub issuer: Dn,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked: Vec<Revoked>,
    pub authority_key_id: Option<Vec<u8>>,
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer.to_string())
            .field("revoked", &self.revoked.len())
            .finish()
    }
}

impl Crl {
    pub fn from_der(d: &[u8]) -> Result<Crl, Error> {
        let bad = |m: String| Error::BadCrl(m);
        let (tbs, sig_alg, signature) =
            split_signed(d).ok_or_else(|| bad("not a DER CertificateList SEQUENCE".into()))?;
        let (_, x) = x509_parser::revocation_list::CertificateRevocationList::from_der(d)
            .map_err(|e| bad(e.to_string()))?;
        let issuer = Dn::from_der(x.tbs_cert_list.issuer.as_raw())
            .ok_or_else(|| bad("malformed issuer".into()))?;
        let mut authority_key_id = None;
        for ext in x.extensions() {
            if let ParsedExtension::AuthorityKeyIdentifier(a) = ext.parsed_extension() {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
        }
        let revoked = x
            .iter_revoked_certificates()
            .map(|r| Revoked {
                serial: r.raw_serial().to_vec(),
                date: r.revocation_date.timestamp(),
                reason: r.reason_code().map(|(_, c)| c.to_string()),
            })
            .collect();
        Ok(Crl {
            tbs: tbs.to_vec(),
            sig_alg: sig_alg.to_vec(),
            signature: signature.to_vec(),
            issuer,
            this_update: x.last_update().timestamp(),
            next_update: x.next_update().map(|t| t.timestamp()),
            revoked,
            authority_key_id,
        })
    }

    /// Every CRL in a PEM input (`X509 CRL` blocks) or the one DER CRL.
    pub fn all_from_pem_or_der(input: &[u8]) -> Result<Vec<Crl>, Error> {
        if pem::is_pem(input) {
            let blocks = pem::parse_blocks(input).map_err(Error::BadCrl)?;
            let crls = blocks
                .iter()
                .filter(|b| b.label == "X509 CRL")
                .map(|b| Crl::from_der(&b.contents))
                .collect::<Result<Vec<_>, _>>()?;
            if crls.is_empty() {
                return Err(Error::Empty);
            }
            return Ok(crls);
        }
        Ok(vec![Crl::from_der(input)?])
    }

    pub fn verify_signature(&self, issuer_key: &PublicKey) -> Result<(), Error> {
        let scheme = sigalg::scheme_from_algorithm_identifier(&self.sig_alg)?;
        issuer_key.verify(scheme, &self.tbs, &self.signature)
    }

    /// The revocation entry for `serial`, if any (leading zeros ignored).
    pub fn find(&self, serial: &[u8]) -> Option<&Revoked> {
        let norm = |s: &[u8]| -> Vec<u8> { s.iter().skip_while(|&&b| b == 0).copied().collect() };
        let want = norm(serial);
        self.revoked.iter().find(|r| norm(&r.serial) == want)
    }
}
