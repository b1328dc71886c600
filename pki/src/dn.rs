//! Distinguished names in strongSwan's string syntax
//! (`C=CH, O=strongSwan, CN=moon.strongswan.org`), parsed from DER or text,
//! compared case-insensitively, with `*` as a whole-value wildcard.

use std::fmt;

use crate::der;

/// Attribute short names, as strongSwan prints and parses them.
const NAMES: &[(&str, &str)] = &[
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("CN", "2.5.4.3"),
    ("S", "2.5.4.4"),
    ("SN", "2.5.4.5"),
    ("T", "2.5.4.12"),
    ("D", "2.5.4.13"),
    ("N", "2.5.4.41"),
    ("G", "2.5.4.42"),
    ("I", "2.5.4.43"),
    ("ID", "2.5.4.45"),
    ("dnQualifier", "2.5.4.46"),
    ("pseudonym", "2.5.4.65"),
    ("street", "2.5.4.9"),
    ("postalCode", "2.5.4.17"),
    ("E", "1.2.840.113549.1.9.1"),
    ("UN", "1.2.840.113549.1.9.2"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

/// Aliases accepted when parsing (case-insensitive), beside [`NAMES`].
const ALIASES: &[(&str, &str)] = &[
    ("serialNumber", "2.5.4.5"),
    ("Email", "1.2.840.113549.1.9.1"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
    ("surname", "2.5.4.4"),
    ("GN", "2.5.4.42"),
    ("givenName", "2.5.4.42"),
    ("title", "2.5.4.12"),
    ("commonName", "2.5.4.3"),
    ("countryName", "2.5.4.6"),
    ("organizationName", "2.5.4.10"),
    ("organizationalUnitName", "2.5.4.11"),
    ("localityName", "2.5.4.7"),
    ("stateOrProvinceName", "2.5.4.8"),
    ("unstructuredName", "1.2.840.113549.1.9.2"),
];

/// One attribute: its OID (dotted) and value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ava {
    pub oid: String,
    pub value: String,
}

/// A distinguished name as a flat, ordered list of attributes.
#[derive(Clone, Debug, Default, Eq)]
pub struct Dn {
    pub avas: Vec<Ava>,
}

impl PartialEq for Dn {
    /// Same attribute types in the same order, values equal ignoring ASCII case.
    fn eq(&self, other: &Self) -> bool {
        self.avas.len() == other.avas.len()
            && self
                .avas
                .iter()
                .zip(&other.avas)
                .all(|(a, b)| a.oid == b.oid && a.value.eq_ignore_ascii_case(&b.value))
    }
}

impl Dn {
    /// Parses strongSwan's text form: `C=CH, O=strongSwan, CN=moon` or
    /// `/C=CH/O=strongSwan/CN=moon`. `\,` escapes a separator; values may be
    /// double-quoted; unknown attribute types may be given as dotted OIDs.
    pub fn parse(s: &str) -> Result<Dn, String> {
        let s = s.trim();
        let (sep, body) = match s.strip_prefix('/') {
            Some(b) => ('/', b),
            None => (',', s),
        };
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = body.chars();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                '"' => quoted = !quoted,
                c if !quoted && (c == sep || c == '+' || (sep == ',' && c == ';')) => {
                    parts.push(std::mem::take(&mut cur));
                }
                c => cur.push(c),
            }
        }
        parts.push(cur);
        let mut avas = Vec::new();
        for p in parts {
            let p = p.trim();
            if p.is_empty() {
                if sep == '/' {
                    continue;
                }
                return Err(format!("DN '{s}' has an empty component"));
            }
            let Some((k, v)) = p.split_once('=') else {
                return Err(format!("DN component '{p}' lacks '='"));
            };
            let k = k.trim();
            let oid = name_to_oid(k).ok_or_else(|| format!("unknown DN attribute type '{k}'"))?;
            avas.push(Ava {
                oid,
                value: v.trim().to_owned(),
            });
        }
        if avas.is_empty() {
            return Err("empty DN".into());
        }
        Ok(Dn { avas })
    }

    /// Parses a DER `Name` (SEQUENCE OF RelativeDistinguishedName).
    pub fn from_der(der_name: &[u8]) -> Option<Dn> {
        let (content, rest) = der::expect(der_name, 0x30)?;
        if !rest.is_empty() {
            return None;
        }
        let mut avas = Vec::new();
        let mut rdns = content;
        while !rdns.is_empty() {
            let (set, r) = der::expect(rdns, 0x31)?;
            rdns = r;
            let mut atvs = set;
            while !atvs.is_empty() {
                let (atv, r) = der::expect(atvs, 0x30)?;
                atvs = r;
                let (oid, vrest) = der::expect(atv, 0x06)?;
                let (tag, val, _) = der::read_tlv(vrest)?;
                avas.push(Ava {
                    oid: der::oid_to_string(oid)?,
                    value: decode_string(tag, val),
                });
            }
        }
        Some(Dn { avas })
    }

    /// The DER `Name` (PrintableString where the value allows it, IA5String
    /// for E/DC, UTF8String otherwise).
    pub fn to_der(&self) -> Vec<u8> {
        let mut rdns = Vec::new();
        for a in &self.avas {
            let tag = if a.oid == "1.2.840.113549.1.9.1" || a.oid == "0.9.2342.19200300.100.1.25" {
                0x16
            } else if a.value.chars().all(is_printable) {
                0x13
            } else {
                0x0c
            };
            let atv = der::seq(&[&der::oid(&a.oid), &der::encode(tag, a.value.as_bytes())]);
            rdns.extend(der::encode(0x31, &atv));
        }
        der::encode(0x30, &rdns)
    }

    /// Does `self` (possibly with `*` values) match the concrete DN `other`?
    /// Types must agree in order; a `*` value matches any value.
    pub fn matches(&self, other: &Dn) -> bool {
        self.avas.len() == other.avas.len()
            && self.avas.iter().zip(&other.avas).all(|(w, h)| {
                w.oid == h.oid && (w.value == "*" || w.value.eq_ignore_ascii_case(&h.value))
            })
    }

    /// The text form with `,`, `+`, `;`, `"` and `\` in values escaped, so
    /// that [`Dn::parse`] gives this DN back (Display prints values as they are).
    pub fn to_escaped_string(&self) -> String {
        let mut out = String::new();
        for (i, a) in self.avas.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(oid_name(&a.oid));
            out.push('=');
            for c in a.value.chars() {
                if matches!(c, ',' | '+' | ';' | '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out
    }

    pub fn has_wildcard(&self) -> bool {
        self.avas.iter().any(|a| a.value == "*")
    }

    /// Values of the attribute `oid` (dotted), e.g. CN = "2.5.4.3".
    pub fn values<'a>(&'a self, oid: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.avas
            .iter()
            .filter(move |a| a.oid == oid)
            .map(|a| a.value.as_str())
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.avas.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", oid_name(&a.oid), a.value)?;
        }
        Ok(())
    }
}

/// The short name of an attribute type, else its dotted OID.
fn oid_name(oid: &str) -> &str {
    NAMES
        .iter()
        .find(|(_, o)| *o == oid)
        .map(|(n, _)| *n)
        .unwrap_or(oid)
}

fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn name_to_oid(k: &str) -> Option<String> {
    if let Some((_, o)) = NAMES
        .iter()
        .chain(ALIASES)
        .find(|(n, _)| n.eq_ignore_ascii_case(k))
    {
        return Some((*o).to_owned());
    }
    // A dotted OID.
    let ok = !k.is_empty()
        && k.split('.').count() >= 2
        && k.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| k.to_owned())
}

fn decode_string(tag: u8, val: &[u8]) -> String {
    match tag {
        // UTF8String, PrintableString, T61String (treated as Latin-1 if not UTF-8), IA5String, VisibleString
        0x0c | 0x13 | 0x16 | 0x1a | 0x14 => match std::str::from_utf8(val) {
            Ok(s) => s.to_owned(),
            Err(_) => val.iter().map(|&b| char::from(b)).collect(),
        },
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = val
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UTF-32BE
        0x1c => val
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => format!("#{}", hex::encode(val)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        let d = Dn::parse("C=CH, O=strongSwan, CN=moon.strongswan.org").unwrap();
        assert_eq!(d.to_string(), "C=CH, O=strongSwan, CN=moon.strongswan.org");
        let slash = Dn::parse("/C=CH/O=strongSwan/CN=moon.strongswan.org").unwrap();
        assert_eq!(d, slash);
        let der = d.to_der();
        assert_eq!(Dn::from_der(&der).unwrap(), d);
        let e = Dn::parse("C=CH, emailAddress=a@b.c, SN=42, 2.5.4.99=x").unwrap();
        assert_eq!(e.to_string(), "C=CH, E=a@b.c, SN=42, 2.5.4.99=x");
        assert!(Dn::parse("C=CH, foo=bar").is_err());
        assert!(Dn::parse("C=CH,, O=x").is_err());
        assert!(Dn::parse("CN").is_err());
    }

    #[test]
    fn escaped_and_quoted_separators() {
        let d = Dn::parse(r#"O=Acme\, Inc., CN="a, b""#).unwrap();
        assert_eq!(d.avas[0].value, "Acme, Inc.");
        assert_eq!(d.avas[1].value, "a, b");
    }

    #[test]
    fn wildcard_matching() {
        let want = Dn::parse("C=CH, O=strongSwan, CN=*").unwrap();
        let moon = Dn::parse("C=CH, O=strongswan, CN=moon.strongswan.org").unwrap();
        assert!(want.matches(&moon));
        let other = Dn::parse("C=DE, O=strongSwan, CN=moon").unwrap();
        assert!(!want.matches(&other));
        let longer = Dn::parse("C=CH, O=strongSwan, OU=x, CN=moon").unwrap();
        assert!(!want.matches(&longer));
        assert!(!moon.matches(&want));
    }

    #[test]
    fn from_der_rejects_garbage() {
        assert!(Dn::from_der(&[0x30, 0x03, 0x31, 0x01, 0x30]).is_none());
        assert!(Dn::from_der(&[]).is_none());
    }
}
