//! IKE identities on the wire (RFC 7296 §3.5) <-> `conf` identities. DNs go
//! through the one DN type, `pki::Dn` (DER, strongSwan's text syntax, and
//! structural comparison: attribute by attribute, never by splitting text).

use crate::wire::{IdType, Identification};
use conf::values::Identity;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Peer-supplied text (IDs, EAP identities, DNs) for logs, status and
/// scripts: control characters become '?', as strongSwan prints them, so a
/// newline in an ID cannot forge a log line nor break an updown script.
pub fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Our ID payload for an identity (`None`/`%any` -> the local address).
pub fn to_wire(id: &Identity, addr: IpAddr) -> Identification {
    let (id_type, data) = match id {
        Identity::Ipv4(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
        Identity::Ipv6(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
        Identity::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
        Identity::UserFqdn(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
        Identity::Dn(s) => match pki::Dn::parse(s) {
            Ok(d) => (IdType::DER_ASN1_DN, d.to_der()),
            Err(_) => (IdType::FQDN, s.as_bytes().to_vec()),
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
        IdType::DER_ASN1_DN => Identity::Dn(pki::Dn::from_der(&id.data)?.to_escaped_string()),
        IdType::KEY_ID => Identity::KeyId(id.data.clone()),
        _ => return None,
    })
}

/// Does the configured `pattern` (wildcards allowed) match the peer's `id`?
/// DNs are compared structurally with `pki::Dn`; the rest as `conf` does.
pub fn id_matches(pattern: &Identity, id: &Identity) -> bool {
    match (pattern, id) {
        (Identity::Dn(p), Identity::Dn(s)) => match (pki::Dn::parse(p), pki::Dn::parse(s)) {
            (Ok(p), Ok(s)) => p.matches(&s),
            _ => false,
        },
        _ => conf::secrets::id_matches(pattern, id),
    }
}

/// Whether a configured identity holds wildcards (`%any`, `*`).
pub fn has_wildcard(id: &Identity) -> bool {
    match id {
        Identity::Dn(s) => pki::Dn::parse(s).map_or(s.contains('*'), |d| d.has_wildcard()),
        other => other.has_wildcard(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_round_trip_and_structural_match() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let cfg = Identity::Dn(r#"C=CH, O="Acme, Inc.", CN=moon.strongswan.org"#.into());
        let wire = to_wire(&cfg, a);
        assert_eq!(wire.id_type, IdType::DER_ASN1_DN);
        let back = from_wire(&wire).unwrap();
        // Three attributes, the quoted comma stays inside O.
        let d = match &back {
            Identity::Dn(s) => pki::Dn::parse(s).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(d.avas.len(), 3);
        assert_eq!(d.avas[1].value, "Acme, Inc.");
        assert!(id_matches(&cfg, &back));
        assert!(id_matches(
            &Identity::Dn("C=CH, O=*, CN=moon.strongswan.org".into()),
            &back
        ));
        assert!(!id_matches(
            &Identity::Dn("C=CH, O=Acme, CN=moon.strongswan.org".into()),
            &back
        ));
        assert!(has_wildcard(&Identity::Dn("C=CH, O=*, CN=x".into())));
        assert!(!has_wildcard(&cfg));
        assert!(
            from_wire(&Identification {
                id_type: IdType::DER_ASN1_DN,
                data: vec![0x30, 0x85]
            })
            .is_none()
        );
    }

    #[test]
    fn peer_text_cannot_forge_log_lines() {
        assert_eq!(
            printable(b"carol\n2026 INFO ike: forged\0"),
            "carol?2026 INFO ike: forged?"
        );
        assert_eq!(printable("müller".as_bytes()), "müller");
    }

    #[test]
    fn sn_is_the_serial_number_like_strongswan() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let w = to_wire(&Identity::Dn("CN=carol, SN=0042".into()), a);
        let d = pki::Dn::from_der(&w.data).unwrap();
        assert_eq!(
            d.values("2.5.4.5").collect::<Vec<_>>(),
            ["0042"],
            "serialNumber, not surname"
        );
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
