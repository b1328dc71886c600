//! Loaders and parsers never panic, whatever the input; damaged real
//! structures are rejected.

use pki::{Certificate, Crl, Dn, Identity, PrivateKey, PublicKey};
use proptest::prelude::*;

fn dn_der() -> Vec<u8> {
    Dn::parse("C=CH, O=strongSwan, CN=moon.strongswan.org")
        .unwrap()
        .to_der()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::all_from_pem_or_der(&data);
        let _ = Crl::all_from_pem_or_der(&data);
        let _ = PrivateKey::from_pem_or_der(&data, Some(b"pw"));
        let _ = PublicKey::from_pem_or_der(&data);
        let _ = PublicKey::from_rfc3110(&data);
        let _ = PublicKey::from_ssh(&data);
        let _ = PublicKey::from_key_blob(&data);
        let _ = Dn::from_der(&data);
        let _ = pki::sigalg::scheme_from_algorithm_identifier(&data);
        if let Some((&t, rest)) = data.split_first() {
            let _ = Identity::from_wire(t, rest);
        }
    }

    #[test]
    fn pem_wrapped_garbage(data in proptest::collection::vec(any::<u8>(), 0..300), label in "(CERTIFICATE|X509 CRL|PRIVATE KEY|ENCRYPTED PRIVATE KEY|RSA PRIVATE KEY|EC PRIVATE KEY|PUBLIC KEY)") {
        use base64::Engine;
        let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(&data));
        prop_assert!(Certificate::all_from_pem_or_der(pem.as_bytes()).is_err() || label == "CERTIFICATE");
        let _ = Crl::all_from_pem_or_der(pem.as_bytes());
        let _ = PrivateKey::from_pem_or_der(pem.as_bytes(), Some(b"pw"));
        let _ = PublicKey::from_pem_or_der(pem.as_bytes());
    }

    #[test]
    fn mutated_dn(pos in 0usize..64, val in any::<u8>()) {
        let mut d = dn_der();
        let i = pos % d.len();
        d[i] = val;
        let _ = Dn::from_der(&d);
    }

    #[test]
    fn dn_text_round_trip(cn in "[a-zA-Z0-9 .-]{1,20}", o in "[a-zA-Z0-9]{1,10}") {
        let text = format!("C=CH, O={o}, CN={}", cn.trim());
        prop_assume!(!cn.trim().is_empty());
        let d = Dn::parse(&text).unwrap();
        prop_assert_eq!(d.to_string(), text);
        prop_assert_eq!(Dn::from_der(&d.to_der()).unwrap(), d);
    }

    #[test]
    fn sigkey_text(s in "0[sx][ -~]{0,80}") {
        let _ = PublicKey::from_sigkey(&s);
        let _ = Identity::parse(&s);
    }
}

#[test]
fn rfc3110_forms() {
    // 1-byte exponent length.
    let k = PublicKey::from_rfc3110(&[3, 1, 0, 1, 0xc5, 0x01, 0x02]).unwrap();
    assert_eq!(
        k,
        PublicKey::Rsa {
            n: vec![0xc5, 1, 2],
            e: vec![1, 0, 1]
        }
    );
    // 3-byte form (0, then a 16-bit length).
    assert_eq!(
        PublicKey::from_rfc3110(&[0, 0, 3, 1, 0, 1, 0xc5, 0x01, 0x02]).unwrap(),
        k
    );
    assert_eq!(
        PublicKey::from_rfc3110(&k.to_rfc3110().unwrap()).unwrap(),
        k
    );
    // Exponent longer than the data, no modulus, empty.
    assert!(PublicKey::from_rfc3110(&[9, 1, 0, 1]).is_err());
    assert!(PublicKey::from_rfc3110(&[3, 1, 0, 1]).is_err());
    assert!(PublicKey::from_rfc3110(&[]).is_err());
    assert!(PublicKey::from_sigkey("0sAwEAAcUBAg==").is_ok());
    assert!(PublicKey::from_sigkey("0s!!").is_err());
    assert!(PublicKey::from_sigkey("AwEAAcUBAg==").is_err());
}
