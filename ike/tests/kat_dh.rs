//! Key exchange: RFC 7748 X25519, RFC 5903 ECP groups, RFC 2409 / RFC 3526
//! MODP primes, and validation of peer values.

use ike::crypto::{DhGroup, SecretBytes};
use num_bigint::BigUint;
use rand_core::OsRng;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector hex")
}

// RFC 7748 section 6.1.
#[test]
fn x25519_rfc7748() {
    let alice = DhGroup::Curve25519
        .from_private_bytes(&h(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ))
        .expect("key");
    let bob = DhGroup::Curve25519
        .from_private_bytes(&h(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ))
        .expect("key");
    assert_eq!(
        alice.public_value(),
        h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        bob.public_value(),
        h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        alice
            .compute_shared(bob.public_value())
            .expect("dh")
            .as_slice(),
        shared
    );
    assert_eq!(
        bob.compute_shared(alice.public_value())
            .expect("dh")
            .as_slice(),
        shared
    );
}

#[test]
fn x25519_rejects_all_zero_shared_secret() {
    let k = DhGroup::Curve25519.generate(&mut OsRng).expect("gen");
    // The zero point and the order-1 point u=1 are low-order: all-zero output.
    assert!(k.compute_shared(&[0u8; 32]).is_err());
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(k.compute_shared(&one).is_err());
    assert!(k.compute_shared(&[0u8; 31]).is_err());
}

fn ecp_case(group: DhGroup, i: &str, r: &str, girx: &str) {
    let a = group.from_private_bytes(&h(i)).expect("i");
    let b = group.from_private_bytes(&h(r)).expect("r");
    assert_eq!(a.public_value().len(), group.public_len());
    let s1 = a.compute_shared(b.public_value()).expect("dh");
    let s2 = b.compute_shared(a.public_value()).expect("dh");
    assert_eq!(s1.as_slice(), h(girx), "{group:?}");
    assert_eq!(s1, s2);
}

// RFC 5903 section 8.1, 8.2, 8.3 (shared secret = x coordinate, section 7).
#[test]
fn ecp_rfc5903() {
    // Section 8.1 also gives g^i explicitly.
    let a = DhGroup::Ecp256
        .from_private_bytes(&h(
            "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        ))
        .expect("i");
    assert_eq!(
        a.public_value(),
        h(
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C37725811805271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
        )
    );
    let peer = h(
        "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF6356FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
    );
    assert_eq!(
        a.compute_shared(&peer).expect("dh").as_slice(),
        h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")
    );
    ecp_case(
        DhGroup::Ecp256,
        "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    );
    ecp_case(
        DhGroup::Ecp384,
        "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
        "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
        "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746",
    );
    ecp_case(
        DhGroup::Ecp521,
        "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A095AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D4A52",
        "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB151685EB9",
        "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3DDEA",
    );
}

#[test]
fn ecp_rejects_invalid_points() {
    for g in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Ecp521] {
        let k = g.generate(&mut OsRng).expect("gen");
        let mut p = k.public_value().to_vec();
        // Off the curve: change y.
        let last = p.len() - 1;
        p[last] ^= 1;
        assert!(k.compute_shared(&p).is_err(), "{g:?} off-curve");
        // All zeros (the "point at infinity" some encoders emit).
        assert!(
            k.compute_shared(&vec![0u8; g.public_len()]).is_err(),
            "{g:?} zero"
        );
        // Wrong lengths.
        assert!(k.compute_shared(&p[1..]).is_err(), "{g:?} short");
        // Coordinates >= p.
        assert!(
            k.compute_shared(&vec![0xffu8; g.public_len()]).is_err(),
            "{g:?} ff"
        );
    }
}

/// pi * 2^bits, by Machin's formula in fixed point.
fn pi_scaled(bits: u64) -> BigUint {
    let guard = 64;
    let one = BigUint::from(1u8) << (bits + guard);
    let arctan_inv = |x: u32| -> BigUint {
        // arctan(1/x) = sum (-1)^n / ((2n+1) x^(2n+1))
        let x = BigUint::from(x);
        let x2 = &x * &x;
        let mut term = &one / &x;
        let mut pos = term.clone();
        let mut neg = BigUint::from(0u8);
        let mut n = 1u32;
        loop {
            term /= &x2;
            if term == BigUint::from(0u8) {
                break;
            }
            let t = &term / BigUint::from(2 * n + 1);
            if n % 2 == 1 {
                neg += t;
            } else {
                pos += t;
            }
            n += 1;
        }
        pos - neg
    };
    let pi = (arctan_inv(5) * 16u32) - (arctan_inv(239) * 4u32);
    pi >> guard
}

// RFC 2409 section 6.2 and RFC 3526 sections 2-7: each prime is
// 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k), with the
// published k. Recomputing from pi checks every digit of the constants.
#[test]
fn modp_primes_match_their_definition() {
    let cases = [
        (DhGroup::Modp1024, 1024u64, 129093u64),
        (DhGroup::Modp1536, 1536, 741804),
        (DhGroup::Modp2048, 2048, 124476),
        (DhGroup::Modp3072, 3072, 1690314),
        (DhGroup::Modp4096, 4096, 240904),
        (DhGroup::Modp6144, 6144, 929484),
        (DhGroup::Modp8192, 8192, 4743158),
    ];
    let pi = pi_scaled(8192 - 130);
    let two = BigUint::from(2u8);
    for (g, n, k) in cases {
        let pi_n = &pi >> (8192 - n);
        let p = two.pow(n as u32) - two.pow((n - 64) as u32) - 1u8
            + (two.pow(64) * (pi_n + BigUint::from(k)));
        let got = BigUint::from_bytes_be(&g.modp_prime().expect("modp"));
        assert_eq!(got, p, "{g:?}");
        assert_eq!(got.bits(), n);
        assert_eq!(g.public_len() as u64 * 8, n);
    }
    // Group 14 is a safe prime: Fermat base 3 for p and q = (p-1)/2.
    let p = BigUint::from_bytes_be(&DhGroup::Modp2048.modp_prime().expect("modp"));
    let q = (&p - 1u8) >> 1;
    assert_eq!(
        BigUint::from(3u8).modpow(&(&p - 1u8), &p),
        BigUint::from(1u8)
    );
    assert_eq!(
        BigUint::from(3u8).modpow(&(&q - 1u8), &q),
        BigUint::from(1u8)
    );
}

fn modp_agree(g: DhGroup) {
    let a = g.generate(&mut OsRng).expect("gen");
    let b = g.generate(&mut OsRng).expect("gen");
    assert_eq!(a.public_value().len(), g.public_len());
    let s1: SecretBytes = a.compute_shared(b.public_value()).expect("dh");
    let s2 = b.compute_shared(a.public_value()).expect("dh");
    assert_eq!(s1.len(), g.public_len());
    assert_eq!(s1, s2, "{g:?}");
}

#[test]
fn modp_agreement_small_groups() {
    for g in [DhGroup::Modp1024, DhGroup::Modp1536, DhGroup::Modp2048] {
        modp_agree(g);
    }
}

#[test]
fn modp_agreement_large_groups() {
    for g in [
        DhGroup::Modp3072,
        DhGroup::Modp4096,
        DhGroup::Modp6144,
        DhGroup::Modp8192,
    ] {
        modp_agree(g);
    }
}

// A known answer computed independently with num-bigint: 2^x mod p and
// y^x mod p for a fixed exponent.
#[test]
fn modp_known_exponent_matches_bigint() {
    let g = DhGroup::Modp2048;
    let x = h("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    let k = g.from_private_bytes(&x).expect("key");
    let p = BigUint::from_bytes_be(&g.modp_prime().expect("modp"));
    let xb = BigUint::from_bytes_be(&x);
    let want = BigUint::from(2u8).modpow(&xb, &p);
    let mut want_bytes = want.to_bytes_be();
    while want_bytes.len() < 256 {
        want_bytes.insert(0, 0);
    }
    assert_eq!(k.public_value(), want_bytes.as_slice());
    let peer = k.public_value().to_vec();
    let shared = k.compute_shared(&peer).expect("dh");
    let mut want2 = want.modpow(&xb, &p).to_bytes_be();
    while want2.len() < 256 {
        want2.insert(0, 0);
    }
    assert_eq!(shared.as_slice(), want2.as_slice());
}

#[test]
fn modp_rejects_degenerate_values() {
    let g = DhGroup::Modp1024;
    let k = g.generate(&mut OsRng).expect("gen");
    let p = g.modp_prime().expect("modp");
    let mut zero = vec![0u8; 128];
    assert!(k.compute_shared(&zero).is_err(), "0");
    zero[127] = 1;
    assert!(k.compute_shared(&zero).is_err(), "1");
    let mut pm1 = p.clone();
    pm1[127] -= 1;
    assert!(k.compute_shared(&pm1).is_err(), "p-1");
    assert!(k.compute_shared(&p).is_err(), "p");
    assert!(k.compute_shared(&[0xff; 128]).is_err(), "> p");
    assert!(k.compute_shared(&[2u8; 127]).is_err(), "short");
    zero[127] = 2;
    assert!(k.compute_shared(&zero).is_ok(), "2 is a valid element");
}

#[test]
fn group_numbers_round_trip() {
    for g in DhGroup::ALL {
        assert_eq!(DhGroup::from_iana(g.iana_id()), Some(g));
    }
    assert_eq!(DhGroup::from_iana(32), None, "Curve448 is not implemented");
    assert_eq!(DhGroup::from_iana(1), None, "768-bit MODP is not offered");
}

#[test]
fn dh_secret_debug_hides_private_value() {
    let k = DhGroup::Curve25519
        .from_private_bytes(&[7u8; 32])
        .expect("key");
    let d = format!("{k:?}");
    assert!(!d.contains("0707"), "{d}");
}
