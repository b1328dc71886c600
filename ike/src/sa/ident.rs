//! IKE identities on the wire (RFC 7296 §3.5) <-> `conf` identities, including
//! DER distinguished names (RFC 5280 Name: SEQUENCE OF SET OF AttributeTypeAndValue).

use crate::wire::{IdType, Identification};
use conf::values::Identity;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ATTRS: &[(&str, &[u8])] = &[
    ("CN", &[0x55, 0x04, 0x03]),
    ("SN", &[0x55, 0x04, 0x04]),
    ("serialNumber", &[0x55, 0x04, 0x05]),
    ("C", &[0x55, 0x04, 0x06]),
    ("L", &[0x55, 0x04, 0x07]),
    ("ST", &[0x55, 0x04, 0x08]),
    ("O", &[0x55, 0x04, 0x0a]),
    ("OU", &[0x55, 0x04, 0x0b]),
    ("T", &[0x55, 0x04, 0x0c]),
    ("G", &[0x55, 0x04, 0x2a]),
    ("E", &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
    (
        "DC",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
    ),
];

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    der_len(body.len(), &mut v);
    v.extend_from_slice(body);
    v
}

/// DER for a DN string in strongSwan's syntax (`C=CH, O=strongSwan, CN=moon`).
pub fn dn_to_der(dn: &str) -> Option<Vec<u8>> {
    let mut rdns = Vec::new();
    for part in dn.split(", ") {
        let (k, v) = part.split_once('=')?;
        let oid = ATTRS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k.trim()))?
            .1;
        // PrintableString for C, IA5String for E/DC, UTF8String otherwise (as X.509 tools do).
        let tag = match k.trim() {
            "C" => 0x13,
            "E" | "DC" => 0x16,
            _ => 0x0c,
        };
        let atv = tlv(
            0x30,
            &[tlv(0x06, oid), tlv(tag, v.trim().as_bytes())].concat(),
        );
        rdns.push(tlv(0x31, &atv));
    }
    Some(tlv(0x30, &rdns.concat()))
}

struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = match l0 {
            0..=0x7f => (usize::from(l0), rest),
            0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
            0x82 => (
                usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
                rest.get(2..)?,
            ),
            _ => return None,
        };
        let body = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some((tag, body))
    }
}

/// A DER DN as a string (`C=CH, O=strongSwan, CN=moon`); unknown OIDs as dotted hex.
pub fn der_to_dn(der: &[u8]) -> Option<String> {
    let mut outer = Der(der);
    let (0x30, seq) = outer.next()? else {
        return None;
    };
    let mut rdns = Der(seq);
    let mut parts = Vec::new();
    while !rdns.0.is_empty() {
        let (0x31, set) = rdns.next()? else {
            return None;
        };
        let mut atvs = Der(set);
        while !atvs.0.is_empty() {
            let (0x30, atv) = atvs.next()? else {
                return None;
            };
            let mut f = Der(atv);
            let (0x06, oid) = f.next()? else { return None };
            let (_, val) = f.next()?;
            let name = ATTRS
                .iter()
                .find(|(_, o)| *o == oid)
                .map(|(n, _)| (*n).to_owned())
                .unwrap_or_else(|| format!("oid:{}", hex::encode(oid)));
            parts.push(format!("{name}={}", String::from_utf8_lossy(val)));
        }
    }
    Some(parts.join(", "))
}

/// Our ID payload for an identity (`None`/`%any` -> the local address).
pub fn to_wire(id: &Identity, addr: IpAddr) -> Identification {
    let (id_type, data) = match id {
        Identity::Ipv4(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
        Identity::Ipv6(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
        Identity::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
        Identity::UserFqdn(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
        Identity::Dn(s) => match dn_to_der(s) {
            Some(d) => (IdType::DER_ASN1_DN, d),
            None => (IdType::FQDN, s.as_bytes().to_vec()),
        },
        Identity::KeyId(k) => (IdType::KEY_ID, k.clone()),
        Identity::Any => return to_wire(&Identity::from_addr(addr), addr),
    };
    Identification { id_type, data }
}

/// A received ID payload as a `conf` identity, for matching against configuration.
pub fn from_wire(id: &Identification) -> Option<Identity> {
    Some(match id.id_type {
        IdType::IPV4_ADDR => Identity::Ipv4(Ipv4Addr::from(
            <[u8; 4]>::try_from(id.data.as_slice()).ok()?,
        )),
        IdType::IPV6_ADDR => Identity::Ipv6(Ipv6Addr::from(
            <[u8; 16]>::try_from(id.data.as_slice()).ok()?,
        )),
        IdType::FQDN => Identity::Fqdn(String::from_utf8(id.data.clone()).ok()?),
        IdType::RFC822_ADDR => Identity::UserFqdn(String::from_utf8(id.data.clone()).ok()?),
        IdType::DER_ASN1_DN => Identity::Dn(der_to_dn(&id.data)?),
        IdType::KEY_ID => Identity::KeyId(id.data.clone()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_round_trip() {
        let s = "C=CH, O=strongSwan, CN=moon.strongswan.org";
        let der = dn_to_der(s).unwrap();
        assert_eq!(der_to_dn(&der).unwrap(), s);
        assert_eq!(der[0], 0x30);
        assert!(der_to_dn(&der[..der.len() - 1]).is_none());
        assert!(der_to_dn(&[0x30, 0x85]).is_none());
    }

    #[test]
    fn ids() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let w = to_wire(&Identity::Any, a);
        assert_eq!(
            (w.id_type, w.data.clone()),
            (IdType::IPV4_ADDR, vec![192, 0, 2, 1])
        );
        assert_eq!(
            from_wire(&w),
            Some(Identity::Ipv4("192.0.2.1".parse().unwrap()))
        );
        let f = to_wire(&Identity::Fqdn("moon".into()), a);
        assert_eq!(f.body(), vec![2, 0, 0, 0, b'm', b'o', b'o', b'n']);
    }
}
