//! Known-answer tests for the SK payload ciphers.

use ike::crypto::Encr;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector hex")
}

#[test]
fn aes_cbc_rfc3602_and_sp800_38a() {
    // RFC 3602 section 4, cases 1 and 2 (AES-128);
    // NIST SP 800-38A F.2.3 and F.2.5, first two blocks (AES-192, AES-256).
    let cases = [
        (
            128,
            "06a9214036b8a15b512e03d534120006",
            "3dafba429d9eb430b422da802c9fac41",
            hex::encode(b"Single block msg"),
            "e353779c1079aeb82708942dbe77181a",
        ),
        (
            128,
            "c286696d887c9aa0611bbb3e2025a45a",
            "562e17996d093d28ddb3ba695a2e6f58",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".to_string(),
            "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
        ),
        (
            192,
            "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51".to_string(),
            "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a",
        ),
        (
            256,
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51".to_string(),
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
        ),
    ];
    for (bits, key, iv, pt, ct) in cases {
        let e = Encr::AesCbc { key_bits: bits };
        let mut buf = h(&pt);
        e.cbc_encrypt(&h(key), &h(iv), &mut buf).expect("encrypt");
        assert_eq!(buf, h(ct), "AES-{bits}-CBC encrypt");
        e.cbc_decrypt(&h(key), &h(iv), &mut buf).expect("decrypt");
        assert_eq!(buf, h(&pt), "AES-{bits}-CBC decrypt");
    }
    // Unaligned input and wrong key sizes are errors, not panics.
    let e = Encr::AesCbc { key_bits: 128 };
    assert!(e.cbc_encrypt(&[0; 16], &[0; 16], &mut [0u8; 15]).is_err());
    assert!(e.cbc_encrypt(&[0; 15], &[0; 16], &mut [0u8; 16]).is_err());
    assert!(e.cbc_decrypt(&[0; 16], &[0; 15], &mut [0u8; 16]).is_err());
}

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test
// cases 4 (AES-128) and 16 (AES-256), used RFC 4106 / RFC 5282 style: the
// first 4 octets of the 96-bit IV are the salt at the end of the key
// material, the last 8 are the explicit IV carried in the payload.
// Truncated ICVs (ENCR_AES_GCM_8/12) are the leading octets of the tag.
#[test]
fn aes_gcm_mcgrew_viega_rfc5282_split() {
    let p = h(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let a = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let salt = "cafebabe";
    let iv = h("facedbaddecaf888");
    let cases = [
        (
            128,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (bits, key, c, t) in cases {
        let km = h(&format!("{key}{salt}"));
        for icv_len in [8u8, 12, 16] {
            let e = Encr::AesGcm {
                key_bits: bits,
                icv_len,
            };
            assert_eq!(e.key_len(), km.len());
            let mut buf = p.clone();
            let icv = e.aead_seal(&km, &iv, &a, &mut buf).expect("seal");
            assert_eq!(buf, h(c), "AES-{bits}-GCM-{icv_len} ciphertext");
            assert_eq!(
                icv,
                h(t)[..usize::from(icv_len)],
                "AES-{bits}-GCM-{icv_len} ICV"
            );
            e.aead_open(&km, &iv, &a, &mut buf, &icv).expect("open");
            assert_eq!(buf, p);

            // Any flipped bit in ciphertext, AAD or ICV fails, and the
            // buffer does not leak unauthenticated plaintext.
            let mut bad = h(c);
            bad[7] ^= 0x01;
            assert!(e.aead_open(&km, &iv, &a, &mut bad, &icv).is_err());
            assert!(bad.iter().all(|&b| b == 0));
            let mut bad_icv = icv.clone();
            bad_icv[0] ^= 0x80;
            let mut buf = h(c);
            assert!(e.aead_open(&km, &iv, &a, &mut buf, &bad_icv).is_err());
            let mut bad_aad = a.clone();
            bad_aad[0] ^= 1;
            let mut buf = h(c);
            assert!(e.aead_open(&km, &iv, &bad_aad, &mut buf, &icv).is_err());
        }
    }
}

// RFC 8439 section 2.8.2 (AEAD_CHACHA20_POLY1305 test vector), read with
// the RFC 7634 section 2 nonce layout: salt (last 4 octets of the key
// material) = 07000000, IV (in the payload) = 4041424344454647.
#[test]
fn chacha20_poly1305_rfc8439_with_rfc7634_nonce() {
    let key = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
    let km = h(&format!("{key}07000000"));
    let iv = h("4041424344454647");
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let e = Encr::ChaCha20Poly1305;
    assert_eq!(e.key_len(), 36);
    let mut buf = pt.to_vec();
    let icv = e.aead_seal(&km, &iv, &aad, &mut buf).expect("seal");
    assert_eq!(
        buf,
        h(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
        )
    );
    assert_eq!(icv, h("1ae10b594f09e26a7e902ecbd0600691"));
    e.aead_open(&km, &iv, &aad, &mut buf, &icv).expect("open");
    assert_eq!(buf, pt);
    let mut bad = icv.clone();
    bad[15] ^= 1;
    let mut buf2 = pt.to_vec();
    e.aead_seal(&km, &iv, &aad, &mut buf2).expect("seal");
    assert!(e.aead_open(&km, &iv, &aad, &mut buf2, &bad).is_err());
}

#[test]
fn encr_registry_numbers() {
    use ike::wire::transform_id::encr;
    assert_eq!(
        Encr::from_iana(encr::AES_CBC, Some(256)),
        Some(Encr::AesCbc { key_bits: 256 })
    );
    assert_eq!(
        Encr::from_iana(encr::AES_CBC, None),
        None,
        "AES needs a key length"
    );
    assert_eq!(Encr::from_iana(encr::AES_CBC, Some(100)), None);
    assert_eq!(
        Encr::from_iana(encr::AES_GCM_8, Some(128)),
        Some(Encr::AesGcm {
            key_bits: 128,
            icv_len: 8
        })
    );
    assert_eq!(
        Encr::from_iana(encr::CHACHA20_POLY1305, None),
        Some(Encr::ChaCha20Poly1305)
    );
    assert_eq!(Encr::from_iana(encr::CHACHA20_POLY1305, Some(256)), None);
    assert_eq!(Encr::from_iana(encr::DES3, None), None);
    for e in [
        Encr::AesCbc { key_bits: 192 },
        Encr::AesGcm {
            key_bits: 256,
            icv_len: 12,
        },
        Encr::ChaCha20Poly1305,
    ] {
        assert_eq!(Encr::from_iana(e.iana_id(), e.key_length_attr()), Some(e));
    }
}
