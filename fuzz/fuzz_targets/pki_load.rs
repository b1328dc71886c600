#![no_main]
//! pki loaders: certificates, CRLs, private and public keys (PEM or DER),
//! RFC 3110 sigkeys, ID payloads and AUTH data. None may panic; what loads
//! is exercised further (verification, identity matching, re-encoding).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sel, body) = match data.split_first() {
        Some((s, b)) => (*s, b),
        None => return,
    };
    match sel % 6 {
        0 => {
            if let Ok(certs) = pki::Certificate::all_from_pem_or_der(body) {
                for c in &certs {
                    let _ = c.is_self_signed();
                    let _ = c.names();
                    let _ = pki::Identity::parse("@moon.strongswan.org").map(|i| i.check_cert(c));
                    let store = pki::TrustStore::new(certs.clone(), vec![]);
                    let _ = store.verify(c, &certs, 1_700_000_000, &pki::Policy::default());
                }
            }
        }
        1 => {
            if let Ok(crls) = pki::Crl::all_from_pem_or_der(body) {
                for c in &crls {
                    let _ = c.find(&[1, 2, 3]);
                }
            }
        }
        2 => {
            let _ = pki::PrivateKey::from_pem_or_der(body, Some(b"pass"));
        }
        3 => {
            if let Ok(k) = pki::PublicKey::from_pem_or_der(body) {
                let _ = pki::PublicKey::from_spki(&k.to_spki());
                let _ = k.keyid();
            }
            let _ = pki::PublicKey::from_rfc3110(body);
            let _ = pki::PublicKey::from_sigkey(&String::from_utf8_lossy(body));
        }
        4 => {
            if let Some((&t, rest)) = body.split_first() {
                if let Ok(id) = pki::Identity::from_wire(t, rest) {
                    let _ = id.to_wire();
                    let _ = id.to_string();
                }
            }
            let _ = pki::Identity::parse(&String::from_utf8_lossy(body));
            let _ = pki::Dn::parse(&String::from_utf8_lossy(body));
        }
        _ => {
            let key = pki::PublicKey::Ed25519([7u8; 32]);
            if let Some((&m, rest)) = body.split_first() {
                let _ = pki::verify_auth(&key, m, rest, b"octets");
            }
            let _ = pki::sigalg::scheme_from_algorithm_identifier(body);
            let _ = pki::auth::decode_hash_algorithms(body);
            let _ = pki::certreq::parse_certreq(body);
        }
    }
});
