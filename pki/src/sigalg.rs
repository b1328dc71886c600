//! Signature AlgorithmIdentifiers (X.509 and RFC 7427) to and from [`Scheme`].

use crate::der;
use crate::error::Error;
use crate::key::{Hash, OID_ED25519, OID_RSA_PSS, Scheme};

const OID_MGF1: &str = "1.2.840.113549.1.1.8";

fn rsa_pkcs1_oid(h: Hash) -> Option<&'static str> {
    Some(match h {
        Hash::Sha1 => "1.2.840.113549.1.1.5",
        Hash::Sha256 => "1.2.840.113549.1.1.11",
        Hash::Sha384 => "1.2.840.113549.1.1.12",
        Hash::Sha512 => "1.2.840.113549.1.1.13",
        Hash::Identity => return None,
    })
}

fn ecdsa_oid(h: Hash) -> Option<&'static str> {
    Some(match h {
        Hash::Sha1 => "1.2.840.10045.4.1",
        Hash::Sha256 => "1.2.840.10045.4.3.2",
        Hash::Sha384 => "1.2.840.10045.4.3.3",
        Hash::Sha512 => "1.2.840.10045.4.3.4",
        Hash::Identity => return None,
    })
}

const HASHES: [Hash; 4] = [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512];

/// Parses a DER AlgorithmIdentifier of a signature algorithm. ECDSA is
/// always the DER (ECDSA-Sig-Value) form here.
pub fn scheme_from_algorithm_identifier(alg: &[u8]) -> Result<Scheme, Error> {
    let bad = |m: &str| Error::BadAuthData(format!("signature AlgorithmIdentifier: {m}"));
    let (body, rest) = der::expect(alg, 0x30).ok_or_else(|| bad("not a SEQUENCE"))?;
    if !rest.is_empty() {
        return Err(bad("trailing data"));
    }
    let (oid, params) = der::expect(body, 0x06).ok_or_else(|| bad("no OID"))?;
    let oid = der::oid_to_string(oid).ok_or_else(|| bad("bad OID"))?;
    if let Some(h) = HASHES.into_iter().find(|&h| rsa_pkcs1_oid(h) == Some(&oid)) {
        // RFC 4055: NULL (some encoders omit it).
        if !params.is_empty() && params != [5, 0] {
            return Err(bad("RSA PKCS#1 parameters must be NULL"));
        }
        return Ok(Scheme::RsaPkcs1(h));
    }
    if !params.is_empty() && oid != OID_RSA_PSS {
        // RFC 5758 / RFC 8410: ECDSA and Ed25519 take no parameters.
        return Err(bad("unexpected parameters"));
    }
    if let Some(h) = HASHES.into_iter().find(|&h| ecdsa_oid(h) == Some(&oid)) {
        return Ok(Scheme::Ecdsa { hash: h, der: true });
    }
    if oid == OID_ED25519 {
        return Ok(Scheme::Ed25519);
    }
    if oid == OID_RSA_PSS {
        return pss_params(params);
    }
    Err(Error::Unsupported(format!("signature algorithm {oid}")))
}

/// RSASSA-PSS-params (RFC 4055): hash, MGF1 hash (must agree), salt length.
fn pss_params(params: &[u8]) -> Result<Scheme, Error> {
    let bad = |m: &str| Error::BadAuthData(format!("RSASSA-PSS parameters: {m}"));
    let (mut body, _) = der::expect(params, 0x30).ok_or_else(|| bad("not a SEQUENCE"))?;
    let mut hash = Hash::Sha1;
    let mut mgf_hash = Hash::Sha1;
    let mut salt_len: usize = 20;
    let hash_of = |alg: &[u8]| -> Result<Hash, Error> {
        let (b, _) = der::expect(alg, 0x30).ok_or_else(|| bad("hash AlgorithmIdentifier"))?;
        let (o, _) = der::expect(b, 0x06).ok_or_else(|| bad("hash OID"))?;
        let o = der::oid_to_string(o).unwrap_or_default();
        Hash::from_oid(&o).ok_or_else(|| Error::Unsupported(format!("RSA-PSS hash {o}")))
    };
    while !body.is_empty() {
        let (tag, c, rest) = der::read_tlv(body).ok_or_else(|| bad("malformed"))?;
        body = rest;
        match tag {
            0xa0 => hash = hash_of(c)?,
            0xa1 => {
                let (b, _) = der::expect(c, 0x30).ok_or_else(|| bad("MGF"))?;
                let (o, p) = der::expect(b, 0x06).ok_or_else(|| bad("MGF OID"))?;
                if der::oid_to_string(o).as_deref() != Some(OID_MGF1) {
                    return Err(Error::Unsupported(
                        "RSA-PSS mask generation other than MGF1".into(),
                    ));
                }
                mgf_hash = hash_of(p)?;
            }
            0xa2 => {
                let (i, _) = der::expect(c, 0x02).ok_or_else(|| bad("saltLength"))?;
                let m = der::uint_magnitude(i).ok_or_else(|| bad("saltLength"))?;
                if m.len() > 2 {
                    return Err(bad("saltLength too large"));
                }
                salt_len = m.iter().fold(0usize, |a, &b| a * 256 + usize::from(b));
            }
            0xa3 => {
                let (i, _) = der::expect(c, 0x02).ok_or_else(|| bad("trailerField"))?;
                if i != [1] {
                    return Err(bad("trailerField must be 1"));
                }
            }
            _ => return Err(bad("unknown field")),
        }
    }
    if hash != mgf_hash {
        return Err(Error::Unsupported(format!(
            "RSA-PSS with hash {hash:?} but MGF1 with {mgf_hash:?}"
        )));
    }
    Ok(Scheme::RsaPss { hash, salt_len })
}

fn hash_alg_id(h: Hash) -> Vec<u8> {
    der::seq(&[&der::oid(h.oid().unwrap_or_default()), &[5, 0]])
}

/// The DER AlgorithmIdentifier for a scheme, as sent in RFC 7427 AUTH data.
/// Raw r|s ECDSA has none (it is auth methods 9-11).
pub fn algorithm_identifier(s: Scheme) -> Option<Vec<u8>> {
    Some(match s {
        Scheme::RsaPkcs1(h) => der::seq(&[&der::oid(rsa_pkcs1_oid(h)?), &[5, 0]]),
        Scheme::Ecdsa { hash, der: true } => der::seq(&[&der::oid(ecdsa_oid(hash)?)]),
        Scheme::Ecdsa { der: false, .. } => return None,
        Scheme::Ed25519 => der::seq(&[&der::oid(OID_ED25519)]),
        Scheme::RsaPss { hash, salt_len } => {
            hash.oid()?;
            let h = hash_alg_id(hash);
            let mgf = der::seq(&[&der::oid(OID_MGF1), &h]);
            let params = der::seq(&[
                &der::encode(0xa0, &h),
                &der::encode(0xa1, &mgf),
                &der::encode(0xa2, &der::uint(&(salt_len as u64).to_be_bytes())),
            ]);
            der::seq(&[&der::oid(OID_RSA_PSS), &params])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7427 Appendix A encodings.
    #[test]
    fn rfc7427_appendix_a() {
        let cases: &[(Scheme, &str)] = &[
            (
                Scheme::RsaPkcs1(Hash::Sha1),
                "300d06092a864886f70d0101050500",
            ),
            (
                Scheme::RsaPkcs1(Hash::Sha256),
                "300d06092a864886f70d01010b0500",
            ),
            (
                Scheme::RsaPkcs1(Hash::Sha384),
                "300d06092a864886f70d01010c0500",
            ),
            (
                Scheme::RsaPkcs1(Hash::Sha512),
                "300d06092a864886f70d01010d0500",
            ),
            (
                Scheme::Ecdsa {
                    hash: Hash::Sha256,
                    der: true,
                },
                "300a06082a8648ce3d040302",
            ),
            (
                Scheme::Ecdsa {
                    hash: Hash::Sha384,
                    der: true,
                },
                "300a06082a8648ce3d040303",
            ),
            (
                Scheme::Ecdsa {
                    hash: Hash::Sha512,
                    der: true,
                },
                "300a06082a8648ce3d040304",
            ),
            (Scheme::Ed25519, "300506032b6570"),
            // RFC 7427 A.4.3 RSASSA-PSS with SHA-256 (salt 32)
            (
                Scheme::RsaPss {
                    hash: Hash::Sha256,
                    salt_len: 32,
                },
                "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
            ),
        ];
        for (s, h) in cases {
            let enc = algorithm_identifier(*s).unwrap();
            assert_eq!(hex::encode(&enc), *h, "{s}");
            assert_eq!(scheme_from_algorithm_identifier(&enc).unwrap(), *s);
        }
    }

    #[test]
    fn pss_defaults_and_rejections() {
        // Empty params: SHA-1, MGF1-SHA-1, salt 20.
        let enc = der::seq(&[&der::oid(OID_RSA_PSS), &der::seq(&[])]);
        assert_eq!(
            scheme_from_algorithm_identifier(&enc).unwrap(),
            Scheme::RsaPss {
                hash: Hash::Sha1,
                salt_len: 20
            }
        );
        assert!(scheme_from_algorithm_identifier(&der::seq(&[&der::oid("1.2.3.4")])).is_err());
        assert!(scheme_from_algorithm_identifier(&[0x30, 0x02, 0x06]).is_err());
        // Parameters where none (or NULL) belong.
        let rsa_bad = der::seq(&[&der::oid("1.2.840.113549.1.1.11"), &[4, 0]]);
        assert!(scheme_from_algorithm_identifier(&rsa_bad).is_err());
        let rsa_absent = der::seq(&[&der::oid("1.2.840.113549.1.1.11")]);
        assert!(scheme_from_algorithm_identifier(&rsa_absent).is_ok());
        let ec_bad = der::seq(&[&der::oid("1.2.840.10045.4.3.2"), &[5, 0]]);
        assert!(scheme_from_algorithm_identifier(&ec_bad).is_err());
    }
}
