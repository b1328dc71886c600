//! Known-answer tests for the PRFs, prf+ and integrity transforms.

use ike::crypto::{Integ, Prf};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test vector hex")
}

// RFC 4231 section 4.2 (test case 1), 4.3 (test case 2) and 4.7 (test case 6).
// RFC 4868 section 2.7.1 uses these same cases for PRF-HMAC-SHA-256/384/512.
#[test]
fn rfc4231_hmac_sha2_prf() {
    let tc1_key = [0x0b; 20];
    let tc1_data = b"Hi There";
    let tc2_key = b"Jefe";
    let tc2_data = b"what do ya want for nothing?";
    let tc6_key = [0xaa; 131];
    let tc6_data = b"Test Using Larger Than Block-Size Key - Hash Key First";
    let cases: [(Prf, &[u8], &[u8], &str); 7] = [
        (
            Prf::HmacSha256,
            &tc1_key,
            tc1_data,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            Prf::HmacSha384,
            &tc1_key,
            tc1_data,
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
        ),
        (
            Prf::HmacSha512,
            &tc1_key,
            tc1_data,
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        (
            Prf::HmacSha256,
            tc2_key,
            tc2_data,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            Prf::HmacSha384,
            tc2_key,
            tc2_data,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            Prf::HmacSha512,
            tc2_key,
            tc2_data,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        (
            Prf::HmacSha256,
            &tc6_key,
            tc6_data,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (prf, key, data, want) in cases {
        assert_eq!(prf.compute(key, &[data]).as_slice(), h(want), "{prf:?}");
        // Split input gives the same output (prf over a concatenation).
        let (a, b) = data.split_at(3);
        assert_eq!(
            prf.compute(key, &[a, b]).as_slice(),
            h(want),
            "{prf:?} split"
        );
    }
}

// RFC 2202 section 3, test case 1 (HMAC-SHA-1), for PRF_HMAC_SHA1.
#[test]
fn rfc2202_hmac_sha1_prf() {
    let out = Prf::HmacSha1.compute(&[0x0b; 20], &[b"Hi There"]);
    assert_eq!(
        out.as_slice(),
        h("b617318655057264e28bc0b6fb378c8ef146be00")
    );
}

// RFC 4868 section 2.7.2.1, test case AUTH256-1: a 32-octet key of 0x0b and
// "Hi There"; HMAC-SHA-256-128 is the first 128 bits of the full MAC.
#[test]
fn rfc4868_auth_truncation() {
    let full = "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7";
    let key = [0x0b; 32];
    let icv = Integ::HmacSha256_128
        .compute(&key, b"Hi There")
        .expect("key length");
    assert_eq!(icv, h(&full[..32]));
    assert_eq!(
        Prf::HmacSha256.compute(&key, &[b"Hi There"]).as_slice(),
        h(full)
    );
    assert!(
        Integ::HmacSha256_128
            .verify(&key, b"Hi There", &icv)
            .is_ok()
    );
    let mut bad = icv.clone();
    bad[15] ^= 1;
    assert!(
        Integ::HmacSha256_128
            .verify(&key, b"Hi There", &bad)
            .is_err()
    );
    assert!(
        Integ::HmacSha256_128
            .verify(&key, b"Hi There", &icv[..12])
            .is_err()
    );
    // Keys of the wrong length are refused rather than silently used.
    assert!(Integ::HmacSha256_128.compute(&[0x0b; 20], b"x").is_err());
}

#[test]
fn integ_lengths_match_rfc4868_and_rfc2404() {
    let expect = [
        (Integ::HmacSha1_96, 20, 12),
        (Integ::AesXcbc96, 16, 12),
        (Integ::HmacSha256_128, 32, 16),
        (Integ::HmacSha384_192, 48, 24),
        (Integ::HmacSha512_256, 64, 32),
    ];
    for (i, k, icv) in expect {
        assert_eq!((i.key_len(), i.icv_len()), (k, icv), "{i:?}");
        assert_eq!(i.compute(&vec![1; k], b"abc").expect("len").len(), icv);
        assert_eq!(Integ::from_iana(i.iana_id()), Some(i));
    }
}

// RFC 3566 section 4: AES-XCBC-MAC test cases 1-7 (key 000102..0f); the
// -96 variant is the leading 12 octets.
#[test]
fn rfc3566_aes_xcbc_mac() {
    let key = h("000102030405060708090a0b0c0d0e0f");
    let msg: Vec<u8> = (0u8..=0x21).collect();
    let cases: [(&[u8], &str); 6] = [
        (&[], "75f0251d528ac01c4573dfd584d79f29"),
        (&msg[..3], "5b376580ae2f19afe7219ceef172756f"),
        (&msg[..16], "d2a246fa349b68a79998a4394ff7a263"),
        (&msg[..20], "47f51b4564966215b8985c63055ed308"),
        (&msg[..32], "f54f0ec8d2b9f3d36807734bd5283fd4"),
        (&msg[..34], "becbb3bccdb518a30677d5481fb6b4d8"),
    ];
    for (m, want) in cases {
        // With a 16-octet key the PRF is the plain MAC.
        assert_eq!(
            Prf::Aes128Xcbc.compute(&key, &[m]).as_slice(),
            h(want),
            "len {}",
            m.len()
        );
        let icv = Integ::AesXcbc96.compute(&key, m).expect("key");
        assert_eq!(icv, h(&want[..24]), "96 len {}", m.len());
    }
    // Test case 7: 1000 zero octets.
    let zeros = vec![0u8; 1000];
    assert_eq!(
        Prf::Aes128Xcbc.compute(&key, &[&zeros]).as_slice(),
        h("f0dafee895db30253761103b5d84528f")
    );
}

// RFC 4434 section 2.1: AES-XCBC-PRF-128 with keys of 16, 10 and 18 octets.
#[test]
fn rfc4434_aes_xcbc_prf_key_lengths() {
    let msg = h("000102030405060708090a0b0c0d0e0f10111213");
    let cases = [
        (
            "000102030405060708090a0b0c0d0e0f",
            "47f51b4564966215b8985c63055ed308",
        ),
        ("00010203040506070809", "0fa087af7d866e7653434e602fdde835"),
        (
            "000102030405060708090a0b0c0d0e0fedcb",
            "8cd3c93ae598a9803006ffb67c40e9e4",
        ),
    ];
    for (k, want) in cases {
        assert_eq!(
            Prf::Aes128Xcbc.compute(&h(k), &[&msg]).as_slice(),
            h(want),
            "key {k}"
        );
    }
}

#[test]
fn prf_plus_structure_and_limit() {
    // prf+ block 1 is prf(K, S | 0x01), block 2 is prf(K, T1 | S | 0x02).
    let k = b"key";
    let s = b"seed";
    let out = Prf::HmacSha256.prf_plus(k, &[s], 40).expect("len");
    let t1 = Prf::HmacSha256.compute(k, &[s, &[1]]);
    let t2 = Prf::HmacSha256.compute(k, &[t1.as_slice(), s, &[2]]);
    assert_eq!(&out.as_slice()[..32], t1.as_slice());
    assert_eq!(&out.as_slice()[32..], &t2.as_slice()[..8]);
    // 255 blocks is the maximum.
    assert!(Prf::HmacSha1.prf_plus(k, &[s], 255 * 20).is_ok());
    assert!(Prf::HmacSha1.prf_plus(k, &[s], 255 * 20 + 1).is_err());
}

#[test]
fn secret_debug_is_redacted() {
    let s = Prf::HmacSha256.compute(b"k", &[b"d"]);
    let dbg = format!("{s:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    assert!(!dbg.contains(&hex::encode(s.as_slice())[..8]), "{dbg}");
}

// RFC 4493 section 4 (AES-CMAC, examples 1-4) through PRF_AES128_CMAC,
// which is plain AES-CMAC for a 16-octet key.
#[test]
fn rfc4493_aes_cmac() {
    let key = h("2b7e151628aed2a6abf7158809cf4f3c");
    let msg = h(concat!(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    ));
    for (len, want) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        assert_eq!(
            Prf::Aes128Cmac.compute(&key, &[&msg[..len]]).as_slice(),
            h(want),
            "len {len}"
        );
    }
}

// RFC 4615 section 4: AES-CMAC-PRF-128 with keys of 18, 16 and 10 octets.
#[test]
fn rfc4615_aes_cmac_prf_key_lengths() {
    let msg = h("000102030405060708090a0b0c0d0e0f10111213");
    for (k, want) in [
        (
            "000102030405060708090a0b0c0d0e0fedcb",
            "84a348a4a45d235babfffc0d2b4da09a",
        ),
        (
            "000102030405060708090a0b0c0d0e0f",
            "980ae87b5f4c9c5214f5b6a8455e4c2d",
        ),
        ("00010203040506070809", "290d9e112edb09ee141fcf64c0b72f3d"),
    ] {
        assert_eq!(
            Prf::Aes128Cmac.compute(&h(k), &[&msg]).as_slice(),
            h(want),
            "key {k}"
        );
    }
    assert!(Prf::Aes128Cmac.has_fixed_key());
    assert_eq!(Prf::from_iana(8), Some(Prf::Aes128Cmac));
}
