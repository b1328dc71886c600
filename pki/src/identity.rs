//! IKE identities (RFC 7296 section 3.5) and matching them against a
//! certificate's subject DN and subjectAltNames.
//!
//! This crate keeps its own identity type so that it stays a leaf (see
//! DESIGN.md); `Identity::parse` accepts the same syntax as `conf`'s
//! `leftid=`/`rightid=` values, so the daemon can convert by text or by case.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cert::{Certificate, San};
use crate::dn::Dn;
use crate::error::{Error, Rejection};

pub const ID_IPV4_ADDR: u8 = 1;
pub const ID_FQDN: u8 = 2;
pub const ID_RFC822_ADDR: u8 = 3;
pub const ID_IPV6_ADDR: u8 = 5;
pub const ID_DER_ASN1_DN: u8 = 9;
pub const ID_KEY_ID: u8 = 11;

/// An IKE identity, or a pattern for one (`%any`, `*` in FQDN/RFC822,
/// `CN=*` in DNs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Any,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
    Rfc822(String),
    Dn(Dn),
    KeyId(Vec<u8>),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Any => f.write_str("%any"),
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) | Identity::Rfc822(s) => f.write_str(s),
            Identity::Dn(d) => write!(f, "\"{d}\""),
            Identity::KeyId(k) => write!(f, "@#{}", hex::encode(k)),
        }
    }
}

impl Identity {
    /// strongSwan's identity syntax: `%any`, addresses, `@fqdn`, `@@user@fqdn`,
    /// `user@fqdn`, `@#hex` (KEY_ID), DNs (`C=CH, O=x, CN=y`), and the typed
    /// prefixes `fqdn:`, `email:`, `dn:`/`asn1dn:`, `keyid:`, `ipv4:`, `ipv6:`.
    pub fn parse(v: &str) -> Result<Identity, String> {
        let v = v.trim();
        if v.is_empty() {
            return Err("empty identity".into());
        }
        if matches!(v, "%any" | "%any6" | "*") {
            return Ok(Identity::Any);
        }
        if let Some((ty, rest)) = v.split_once(':') {
            let typed = match ty.to_ascii_lowercase().as_str() {
                "ipv4" | "ipv4_addr" => Some(
                    rest.parse()
                        .map(Identity::Ipv4)
                        .map_err(|_| format!("'{rest}' is not an IPv4 address")),
                ),
                "ipv6" | "ipv6_addr" => Some(
                    rest.parse()
                        .map(Identity::Ipv6)
                        .map_err(|_| format!("'{rest}' is not an IPv6 address")),
                ),
                "fqdn" => Some(Ok(Identity::Fqdn(rest.to_owned()))),
                "email" | "rfc822" | "userfqdn" | "user_fqdn" => {
                    Some(Ok(Identity::Rfc822(rest.to_owned())))
                }
                "dn" | "asn1dn" | "der_asn1_dn" => Some(Dn::parse(rest).map(Identity::Dn)),
                "keyid" | "key_id" => Some(
                    hex::decode(rest.trim_start_matches('#'))
                        .map(Identity::KeyId)
                        .map_err(|_| format!("keyid '{rest}' is not hex")),
                ),
                _ => None,
            };
            if let Some(t) = typed {
                return t;
            }
        }
        if let Ok(a) = v.parse::<IpAddr>() {
            return Ok(match a {
                IpAddr::V4(a) => Identity::Ipv4(a),
                IpAddr::V6(a) => Identity::Ipv6(a),
            });
        }
        if let Some(h) = v.strip_prefix("@#") {
            let h: String = h.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
            return hex::decode(h)
                .map(Identity::KeyId)
                .map_err(|_| format!("'{v}': KEY_ID after @# must be hex"));
        }
        if let Some(f) = v.strip_prefix("@@") {
            return Ok(Identity::Rfc822(f.to_owned()));
        }
        if let Some(f) = v.strip_prefix('@') {
            return Ok(Identity::Fqdn(f.to_owned()));
        }
        if v.contains('=') {
            return Dn::parse(v).map(Identity::Dn);
        }
        if v.contains('@') {
            return Ok(Identity::Rfc822(v.to_owned()));
        }
        Ok(Identity::Fqdn(v.to_owned()))
    }

    /// From an ID payload: its type and identification data.
    pub fn from_wire(id_type: u8, data: &[u8]) -> Result<Identity, Error> {
        let bad = |m: &str| Error::BadAuthData(format!("ID payload: {m}"));
        let text = || {
            std::str::from_utf8(data)
                .map(str::to_owned)
                .map_err(|_| bad("name is not UTF-8"))
        };
        Ok(match id_type {
            ID_IPV4_ADDR => Identity::Ipv4(
                <[u8; 4]>::try_from(data)
                    .map_err(|_| bad("IPv4 address not 4 bytes"))?
                    .into(),
            ),
            ID_IPV6_ADDR => Identity::Ipv6(
                <[u8; 16]>::try_from(data)
                    .map_err(|_| bad("IPv6 address not 16 bytes"))?
                    .into(),
            ),
            ID_FQDN => Identity::Fqdn(text()?),
            ID_RFC822_ADDR => Identity::Rfc822(text()?),
            ID_DER_ASN1_DN => {
                Identity::Dn(Dn::from_der(data).ok_or_else(|| bad("malformed DER_ASN1_DN"))?)
            }
            ID_KEY_ID => Identity::KeyId(data.to_vec()),
            t => return Err(Error::Unsupported(format!("ID type {t}"))),
        })
    }

    /// The ID payload type and data; `None` for `%any`.
    pub fn to_wire(&self) -> Option<(u8, Vec<u8>)> {
        Some(match self {
            Identity::Any => return None,
            Identity::Ipv4(a) => (ID_IPV4_ADDR, a.octets().to_vec()),
            Identity::Ipv6(a) => (ID_IPV6_ADDR, a.octets().to_vec()),
            Identity::Fqdn(s) => (ID_FQDN, s.as_bytes().to_vec()),
            Identity::Rfc822(s) => (ID_RFC822_ADDR, s.as_bytes().to_vec()),
            Identity::Dn(d) => (ID_DER_ASN1_DN, d.to_der()),
            Identity::KeyId(k) => (ID_KEY_ID, k.clone()),
        })
    }

    /// Does this identity (a pattern, as configured) match the concrete `other`?
    pub fn matches(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Any, _) => true,
            (Identity::Fqdn(p), Identity::Fqdn(s)) | (Identity::Rfc822(p), Identity::Rfc822(s)) => {
                glob(p, s)
            }
            (Identity::Dn(p), Identity::Dn(d)) => p.matches(d),
            (a, b) => a == b,
        }
    }

    /// Checks that `cert` carries this identity (as configured: wildcards
    /// allowed) in its subject DN, a subjectAltName or, for KEY_ID, its
    /// public key ID / subjectKeyIdentifier. As in strongSwan, an FQDN or
    /// email is never matched against the CN: it must be a subjectAltName.
    pub fn check_cert(&self, cert: &Certificate) -> Result<(), Rejection> {
        self.check(cert, true)
    }

    /// Like [`Identity::check_cert`] for an identity *received* in an ID
    /// payload: `*` is an ordinary character there, so a peer cannot claim
    /// `CN=*` or `*.example.org` and have it match its certificate.
    pub fn check_cert_received(&self, cert: &Certificate) -> Result<(), Rejection> {
        self.check(cert, false)
    }

    fn check(&self, cert: &Certificate, wild: bool) -> Result<(), Rejection> {
        if self.cert_has(cert, wild) {
            Ok(())
        } else {
            Err(Rejection::IdMismatch {
                wanted: format!("{} ({})", self, self.kind()),
                has: cert.names(),
            })
        }
    }

    fn cert_has(&self, cert: &Certificate, wild: bool) -> bool {
        let text = |p: &str, s: &str| {
            if wild {
                glob(p, s)
            } else {
                p.eq_ignore_ascii_case(s)
            }
        };
        let dn = |p: &Dn, d: &Dn| if wild { p.matches(d) } else { p == d };
        match self {
            Identity::Any => wild,
            Identity::Dn(p) => {
                dn(p, &cert.subject)
                    || cert
                        .sans
                        .iter()
                        .any(|s| matches!(s, San::Dn(d) if dn(p, d)))
            }
            Identity::Fqdn(p) => cert
                .sans
                .iter()
                .any(|s| matches!(s, San::Dns(d) if text(p, d))),
            Identity::Rfc822(p) => cert
                .sans
                .iter()
                .any(|s| matches!(s, San::Email(d) if text(p, d))),
            Identity::Ipv4(a) => cert.sans.contains(&San::Ip(IpAddr::V4(*a))),
            Identity::Ipv6(a) => cert.sans.contains(&San::Ip(IpAddr::V6(*a))),
            Identity::KeyId(k) => {
                k.as_slice() == cert.public_key.keyid()
                    || k.as_slice() == cert.public_key.spki_sha1()
                    || cert.subject_key_id.as_deref() == Some(k.as_slice())
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Identity::Any => "any",
            Identity::Ipv4(_) => "IPv4 address",
            Identity::Ipv6(_) => "IPv6 address",
            Identity::Fqdn(_) => "FQDN",
            Identity::Rfc822(_) => "RFC822 email",
            Identity::Dn(_) => "DN",
            Identity::KeyId(_) => "KEY_ID",
        }
    }
}

/// Case-insensitive glob with `*` matching any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let s: Vec<char> = s.to_lowercase().chars().collect();
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if Some(c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(Identity::parse("%any").unwrap(), Identity::Any);
        assert_eq!(
            Identity::parse("192.0.2.1").unwrap(),
            Identity::Ipv4("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            Identity::parse("2001:db8::1").unwrap(),
            Identity::Ipv6("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            Identity::parse("@moon.strongswan.org").unwrap(),
            Identity::Fqdn("moon.strongswan.org".into())
        );
        assert_eq!(
            Identity::parse("carol@strongswan.org").unwrap(),
            Identity::Rfc822("carol@strongswan.org".into())
        );
        assert_eq!(
            Identity::parse("@@carol").unwrap(),
            Identity::Rfc822("carol".into())
        );
        assert_eq!(
            Identity::parse("@#0a:0b").unwrap(),
            Identity::KeyId(vec![10, 11])
        );
        assert_eq!(
            Identity::parse("keyid:#0a0b").unwrap(),
            Identity::KeyId(vec![10, 11])
        );
        let dn = Identity::parse("C=CH, O=strongSwan, CN=moon").unwrap();
        assert_eq!(dn.to_string(), "\"C=CH, O=strongSwan, CN=moon\"");
        assert!(Identity::parse("@#zz").is_err());
        assert!(Identity::parse("ipv4:nope").is_err());
    }

    #[test]
    fn wire_round_trip() {
        for s in [
            "192.0.2.1",
            "2001:db8::1",
            "@moon",
            "a@b",
            "C=CH, CN=x",
            "@#0102",
        ] {
            let id = Identity::parse(s).unwrap();
            let (t, d) = id.to_wire().unwrap();
            assert_eq!(Identity::from_wire(t, &d).unwrap(), id, "{s}");
        }
        assert!(Identity::from_wire(1, &[1, 2, 3]).is_err());
        assert!(Identity::from_wire(9, &[0x30, 0x01]).is_err());
        assert!(Identity::from_wire(2, &[0xff]).is_err());
        assert!(Identity::from_wire(10, &[]).is_err());
    }

    #[test]
    fn globbing() {
        assert!(glob("*.strongswan.org", "moon.strongswan.org"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("*.strongswan.org", "strongswan.org"));
        assert!(!glob("moon", "moon2"));
        assert!(
            Identity::parse("*@strongswan.org")
                .unwrap()
                .matches(&Identity::Rfc822("Carol@strongSwan.org".into()))
        );
        assert!(
            Identity::parse("C=CH, CN=*")
                .unwrap()
                .matches(&Identity::parse("C=CH, CN=moon").unwrap())
        );
        assert!(
            !Identity::parse("@moon")
                .unwrap()
                .matches(&Identity::parse("@sun").unwrap())
        );
    }
}
