//! Certificates, keys and signatures checked against strongSwan's `pki` and
//! `openssl`, with test PKIs generated at run time (see `common`).

mod common;

use common::{Alg, EE_DN, SwanPki, openssl, sh, sh_ok, swan};
use pki::auth::{self, OUR_HASHES};
use pki::trust::{EKU_CLIENT_AUTH, EKU_SERVER_AUTH};
use pki::{
    AuthMethod, Certificate, Crl, CrlPolicy, Error, Hash, Identity, IpsecD, Policy, PrivateKey,
    PublicKey, Rejection, Scheme, TrustStore,
};

fn now() -> i64 {
    pki::time::now()
}

fn cert(p: &SwanPki, f: &str) -> Certificate {
    let mut v = Certificate::all_from_pem_or_der(&p.read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(v.len(), 1, "{f}");
    v.remove(0)
}

fn crl(p: &SwanPki, f: &str) -> Crl {
    Crl::all_from_pem_or_der(&p.read(f))
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .remove(0)
}

fn verify(
    store: &TrustStore,
    end: &Certificate,
    inter: &[Certificate],
    policy: &Policy,
) -> Result<usize, Rejection> {
    store
        .verify(end, inter, now(), policy)
        .map(|c| c.certs.len())
}

/// Both the typed reason and its text (what operators read) are checked.
fn expect_reject(r: Result<usize, Rejection>, pred: impl Fn(&Rejection) -> bool, text: &[&str]) {
    let e = match r {
        Ok(n) => panic!("accepted a chain of {n} that must be rejected"),
        Err(e) => e,
    };
    assert!(pred(&e), "wrong reason: {e:?}");
    let msg = e.to_string();
    for t in text {
        assert!(msg.contains(t), "message {msg:?} lacks {t:?}");
    }
}

fn swan_chain(alg: Alg) {
    let p = swan(alg);
    let ca = cert(p, "ca.pem");
    let int = cert(p, "int.pem");
    let ee = cert(p, "ee.pem");
    let name = alg.name();
    let store = TrustStore::new(vec![ca.clone()], vec![crl(p, "int.crl")]);
    let strict = Policy {
        strict_crl: CrlPolicy::Yes,
        ..Policy::default()
    };
    // strictcrlpolicy=yes wants a CRL for the intermediate too.
    expect_reject(
        verify(&store, &ee, std::slice::from_ref(&int), &strict),
        |e| matches!(e, Rejection::RevocationUnknown { .. }),
        &[&format!(
            "no valid CRL for \"C=CH, O=iked test, CN={name} Intermediate CA\""
        )],
    );
    let store = TrustStore::new(vec![ca.clone()], vec![crl(p, "int.crl"), crl(p, "ca.crl")]);
    assert_eq!(
        verify(&store, &ee, std::slice::from_ref(&int), &strict),
        Ok(3)
    );
    // rightca=: any CA of the chain, by DN.
    let chain = store
        .verify(&ee, std::slice::from_ref(&int), now(), &strict)
        .unwrap();
    let dn = |s: &str| pki::Dn::parse(s).unwrap();
    assert!(chain.has_ca(&dn(&format!("C=CH, O=iked test, CN={name} Root CA"))));
    assert!(chain.has_ca(&dn(&format!(
        "C=CH, O=iked test, CN={name} Intermediate CA"
    ))));
    assert!(chain.has_ca(&dn("C=CH, O=iked test, CN=*")));
    assert!(!chain.has_ca(&dn(EE_DN)), "the end entity is not a CA");
    assert!(!chain.has_ca(&dn("C=CH, O=other, CN=*")));
    // Intermediate missing: the issuer is named.
    expect_reject(
        verify(&store, &ee, &[], &Policy::default()),
        |e| matches!(e, Rejection::IssuerNotFound { .. }),
        &["issuer not found", &format!("CN={name} Intermediate CA")],
    );
    // The same chain verified by openssl (certificates signed by strongSwan's pki).
    sh(
        &p.dir,
        "openssl verify -CAfile ca.pem -untrusted int.pem ee.pem",
    );
    // ... and by pki --verify itself.
    sh(
        &p.dir,
        "pki --verify --in ee.pem --cacert ca.pem --cacert int.pem 2>/dev/null",
    );

    // Identities.
    for id in [
        "@moon.strongswan.org",
        "moon.strongswan.org",
        "192.0.2.1",
        "2001:db8::1",
        "moon@strongswan.org",
        EE_DN,
        "C=CH, O=iked test, CN=*",
        "@*.strongswan.org",
        "%any",
    ] {
        let i = Identity::parse(id).unwrap();
        assert_eq!(i.check_cert(&ee), Ok(()), "{id}");
    }
    // KEY_ID: as strongSwan's `pki --keyid` computes it.
    let out = String::from_utf8_lossy(&sh(
        &p.dir,
        "pki --keyid --in ee.pem --type x509 2>/dev/null",
    ))
    .to_string();
    let hexes: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(':') && !l.contains(' '))
        .map(|l| l.replace(':', ""))
        .collect();
    assert_eq!(hexes.len(), 2, "{out}");
    assert_eq!(hexes[0], hex::encode(ee.public_key.keyid()));
    assert_eq!(hexes[1], hex::encode(ee.public_key.spki_sha1()));
    assert_eq!(
        Identity::parse(&format!("@#{}", hexes[0]))
            .unwrap()
            .check_cert(&ee),
        Ok(())
    );
    // Mismatches say what was wanted and what the certificate has.
    for (id, wanted) in [
        ("@sun.strongswan.org", "wanted sun.strongswan.org (FQDN)"),
        ("192.0.2.2", "wanted 192.0.2.2 (IPv4 address)"),
        (
            "C=CH, O=iked test, CN=sun.strongswan.org",
            "CN=sun.strongswan.org",
        ),
        ("C=CH, O=other, CN=*", "O=other"),
        ("@#00112233", "KEY_ID"),
    ] {
        let r = Identity::parse(id).unwrap().check_cert(&ee);
        let e = r.expect_err(id);
        let msg = e.to_string();
        assert!(matches!(e, Rejection::IdMismatch { .. }), "{id}");
        assert!(msg.starts_with("ID mismatch: wanted "), "{msg}");
        assert!(msg.contains(wanted), "{msg}");
        assert!(
            msg.contains("DNS:moon.strongswan.org") && msg.contains(EE_DN),
            "{msg}"
        );
    }
    let listing = ee.summary(now());
    assert!(
        listing.contains(&format!("subject:  \"{EE_DN}\"")),
        "{listing}"
    );
    assert!(listing.contains("altNames: DNS:moon.strongswan.org, IP:192.0.2.1, IP:2001:db8::1, email:moon@strongswan.org"), "{listing}");
    assert!(
        listing.contains(
            &hex::encode(ee.public_key.keyid())
                .chars()
                .take(2)
                .collect::<String>()
        )
    );
    assert!(cert(p, "expired.pem").summary(now()).contains("(expired)"));
    // Wildcards count only in configured IDs, not in received ones.
    let claimed = Identity::from_wire(
        9,
        &pki::Dn::parse("C=CH, O=iked test, CN=*").unwrap().to_der(),
    )
    .unwrap();
    assert!(claimed.check_cert(&ee).is_ok());
    assert!(matches!(
        claimed.check_cert_received(&ee),
        Err(Rejection::IdMismatch { .. })
    ));
    let claimed = Identity::from_wire(2, b"*.strongswan.org").unwrap();
    assert!(claimed.check_cert_received(&ee).is_err());
    let exact = Identity::from_wire(2, b"MOON.strongswan.org").unwrap();
    assert_eq!(exact.check_cert_received(&ee), Ok(()));
    let exact = Identity::from_wire(9, ee.subject_id_payload().1.as_slice()).unwrap();
    assert_eq!(exact.check_cert_received(&ee), Ok(()));
    // No CN fallback for FQDNs (as strongSwan): "expired" has no subjectAltName.
    let expired = cert(p, "expired.pem");
    assert!(
        Identity::parse("@expired")
            .unwrap()
            .check_cert(&expired)
            .is_err()
    );
    assert!(
        Identity::parse("C=CH, O=iked test, CN=expired")
            .unwrap()
            .check_cert(&expired)
            .is_ok()
    );
}

fn swan_rejections(alg: Alg) {
    let p = swan(alg);
    let name = alg.name();
    let ca = cert(p, "ca.pem");
    let int = cert(p, "int.pem");
    let inter = std::slice::from_ref(&int);
    let no = Policy::default();
    let store = TrustStore::new(vec![ca.clone()], vec![crl(p, "int.crl")]);

    expect_reject(
        verify(&store, &cert(p, "expired.pem"), inter, &no),
        |e| matches!(e, Rejection::Expired { .. }),
        &["\"C=CH, O=iked test, CN=expired\" expired on 2021-01-01 00:00:00 UTC"],
    );
    expect_reject(
        verify(&store, &cert(p, "notyet.pem"), inter, &no),
        |e| matches!(e, Rejection::NotYetValid { .. }),
        &["not valid before 2040-01-01 00:00:00 UTC"],
    );
    // Wrong CA: signed by a root that isn't trusted.
    expect_reject(
        verify(&store, &cert(p, "wrongca-ee.pem"), inter, &no),
        |e| matches!(e, Rejection::IssuerNotFound { .. }),
        &[&format!(
            "issuer not found: \"C=CH, O=iked test, CN={name} Other Root CA\""
        )],
    );
    // Trusting only the other root: the real chain's root is not found.
    let other = TrustStore::new(vec![cert(p, "wrongca.pem")], vec![]);
    expect_reject(
        verify(&other, &cert(p, "ee.pem"), inter, &no),
        |e| matches!(e, Rejection::IssuerNotFound { .. }),
        &[&format!(
            "issuer not found: \"C=CH, O=iked test, CN={name} Root CA\""
        )],
    );
    // Revoked by the intermediate's CRL (made by pki --signcrl).
    expect_reject(
        verify(&store, &cert(p, "revoked.pem"), inter, &no),
        |e| {
            matches!(
                e,
                Rejection::Revoked {
                    revoked_at: 1_700_000_000,
                    ..
                }
            )
        },
        &[
            "\"C=CH, O=iked test, CN=revoked\"",
            "revoked on 2023-11-14 22:13:20 UTC",
            &format!("by CRL of \"C=CH, O=iked test, CN={name} Intermediate CA\""),
            "reason",
        ],
    );
    // strictcrlpolicy without any CRL.
    let bare = TrustStore::new(vec![ca.clone()], vec![]);
    let ee = cert(p, "ee.pem");
    let revoked = cert(p, "revoked.pem");
    let pol = |strict_crl| Policy {
        strict_crl,
        ..Policy::default()
    };
    assert_eq!(verify(&bare, &ee, inter, &pol(CrlPolicy::No)), Ok(3));
    expect_reject(
        verify(&bare, &ee, inter, &pol(CrlPolicy::Yes)),
        |e| matches!(e, Rejection::RevocationUnknown { stale: None, .. }),
        &["no valid CRL", "strictcrlpolicy=yes"],
    );
    // ifuri: ee names a CRL distribution point, "revoked" doesn't.
    expect_reject(
        verify(&bare, &ee, inter, &pol(CrlPolicy::IfUri)),
        |e| matches!(e, Rejection::RevocationUnknown { .. }),
        &["strictcrlpolicy=ifuri"],
    );
    assert_eq!(
        verify(&bare, &revoked, inter, &pol(CrlPolicy::IfUri)),
        Ok(3)
    );
    // A stale CRL: accepted unless strict, and the message says since when.
    let stale = TrustStore::new(vec![ca.clone()], vec![crl(p, "stale.crl")]);
    assert_eq!(verify(&stale, &ee, inter, &pol(CrlPolicy::No)), Ok(3));
    expect_reject(
        verify(&stale, &ee, inter, &pol(CrlPolicy::Yes)),
        |e| matches!(e, Rejection::RevocationUnknown { stale: Some(_), .. }),
        &["the CRL expired on 2020-01-02 00:00:00 UTC"],
    );
    // pathLen 0 on the root, one intermediate below it.
    let pl0 = TrustStore::new(vec![cert(p, "pl0.pem")], vec![]);
    expect_reject(
        verify(&pl0, &cert(p, "pl0-ee.pem"), &[cert(p, "pl0-int.pem")], &no),
        |e| matches!(e, Rejection::PathLenExceeded { path_len: 0, .. }),
        &["path length constraint", "Root pathlen 0"],
    );
    // An end entity used as an issuer.
    expect_reject(
        verify(
            &store,
            &cert(p, "notca-ee.pem"),
            &[cert(p, "notca.pem"), int.clone()],
            &no,
        ),
        |e| matches!(e, Rejection::NotCa { .. }),
        &["\"C=CH, O=iked test, CN=not a ca\" is not a CA"],
    );
    // A damaged signature.
    let mut der = ee.der().to_vec();
    if let Some(b) = der.last_mut() {
        *b ^= 1;
    }
    let bad = Certificate::from_der(&der).unwrap();
    expect_reject(
        verify(&store, &bad, inter, &no),
        |e| matches!(e, Rejection::BadSignature { .. }),
        &["does not verify with the key of its issuer"],
    );
    // EKU is checked only when asked: ee has serverAuth, not clientAuth.
    let want = |eku| Policy {
        required_eku: Some(eku),
        ..Policy::default()
    };
    assert_eq!(verify(&store, &ee, inter, &want(EKU_SERVER_AUTH)), Ok(3));
    expect_reject(
        verify(&store, &ee, inter, &want(EKU_CLIENT_AUTH)),
        |e| matches!(e, Rejection::ExtendedKeyUsageMissing { .. }),
        &["lacks clientAuth"],
    );
}

fn swan_keys(alg: Alg) {
    let p = swan(alg);
    let ee = cert(p, "ee.pem");
    // pki --gen writes DER: PKCS#1 (RSA), SEC1 (ECDSA), PKCS#8 (Ed25519).
    let key = PrivateKey::from_pem_or_der(&p.read("ee.der"), None).unwrap();
    assert_eq!(key.public_key(), &ee.public_key);
    assert!(format!("{key:?}").contains("<redacted>"));
    // pki --gen --outform pem.
    let pem = sh(
        &p.dir,
        &format!(
            "pki --gen {} --outform pem 2>/dev/null",
            match alg {
                Alg::Rsa2048 | Alg::Rsa4096 => "--type rsa --size 2048",
                Alg::P256 => "--type ecdsa --size 256",
                Alg::P384 => "--type ecdsa --size 384",
                Alg::P521 => "--type ecdsa --size 521",
                Alg::Ed25519 => "--type ed25519",
            }
        ),
    );
    PrivateKey::from_pem_or_der(&pem, None).unwrap();
    assert_eq!(
        PublicKey::from_pem_or_der(&p.read("ee.pub.pem")).unwrap(),
        ee.public_key
    );
    let der_pub = sh(&p.dir, "pki --pub --in ee.pem --type x509 2>/dev/null");
    assert_eq!(PublicKey::from_pem_or_der(&der_pub).unwrap(), ee.public_key);
    // leftsigkey=0s<DER> (no prefix: DER first) and ssh:0s<blob> as
    // `pki --outform sshkey` writes it (the blob in base64, 'AAAAB3Nza...').
    assert_eq!(PublicKey::from_key_blob(&der_pub).unwrap(), ee.public_key);
    let ssh = sh(
        &p.dir,
        "pki --pub --in ee.der --type priv --outform sshkey 2>/dev/null",
    );
    let ssh = String::from_utf8_lossy(&ssh);
    let blob = ssh.split_whitespace().last().expect("sshkey: base64");
    use base64::Engine as _;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    assert_eq!(PublicKey::from_ssh(&blob).unwrap(), ee.public_key);
    if matches!(alg, Alg::Rsa2048 | Alg::Rsa4096) {
        // leftrsasigkey=0s... : RFC 3110 as pki --outform dnskey writes it.
        let dnskey = sh(
            &p.dir,
            "pki --pub --in ee.der --type rsa --outform dnskey 2>/dev/null",
        );
        let s = format!("0s{}", String::from_utf8_lossy(&dnskey).trim());
        let k = PublicKey::from_sigkey(&s).unwrap();
        assert_eq!(k, ee.public_key);
        let rt = k.to_rfc3110().unwrap();
        assert_eq!(
            PublicKey::from_sigkey(&format!("0x{}", hex::encode(rt))).unwrap(),
            k
        );
    }
}

/// Signs `data` with the openssl CLI and the key file `key` (any format it reads).
fn openssl_sign(p: &SwanPki, key: &str, opts: &str) -> Vec<u8> {
    if p.alg == Alg::Ed25519 {
        sh(
            &p.dir,
            &format!("openssl pkeyutl -sign -rawin -inkey {key} -in data.bin -out osig.bin"),
        );
    } else {
        sh(
            &p.dir,
            &format!("openssl dgst {opts} -sign {key} -out osig.bin data.bin"),
        );
    }
    p.read("osig.bin")
}

fn openssl_verifies(p: &SwanPki, pubkey: &str, sig: &[u8], opts: &str) -> bool {
    std::fs::write(p.path("msig.bin"), sig).unwrap();
    if p.alg == Alg::Ed25519 {
        sh_ok(
            &p.dir,
            &format!(
                "openssl pkeyutl -verify -pubin -inkey {pubkey} -rawin -in data.bin -sigfile msig.bin"
            ),
        )
    } else {
        sh_ok(
            &p.dir,
            &format!("openssl dgst {opts} -verify {pubkey} -signature msig.bin data.bin"),
        )
    }
}

/// Raw r|s to a DER ECDSA-Sig-Value (test helper for openssl).
fn rs_to_der(rs: &[u8]) -> Vec<u8> {
    let (r, s) = rs.split_at(rs.len() / 2);
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        let mut c = if v.first().is_none_or(|&b| b & 0x80 != 0) {
            vec![0]
        } else {
            vec![]
        };
        c.extend(v);
        let mut o = vec![2u8, c.len() as u8];
        o.extend(c);
        o
    };
    let body = [int(r), int(s)].concat();
    let mut o = vec![0x30u8];
    if body.len() >= 128 {
        o.push(0x81);
    }
    o.push(body.len() as u8);
    o.extend(body);
    o
}

fn signatures(alg: Alg) {
    let p = swan(alg);
    let ee = cert(p, "ee.pem");
    let key = PrivateKey::from_pem_or_der(&p.read("ee.der"), None).unwrap();
    let octets: Vec<u8> = (0..517u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(p.path("data.bin"), &octets).unwrap();
    // ee.der is in pki's DER form; openssl reads it as well.
    sh(
        &p.dir,
        "openssl pkey -inform DER -in ee.der -out ee.key.pem",
    );
    let md = alg.openssl_md();

    // RFC 7427 (method 14) with the scheme negotiated from our own hash list.
    let (m, scheme) = auth::choose_scheme(&ee.public_key, Some(&OUR_HASHES), false).unwrap();
    assert_eq!(m, AuthMethod::DigitalSignature);
    let data = auth::sign_auth(&key, m, scheme, &octets).unwrap();
    assert_eq!(
        auth::verify_auth(&ee.public_key, 14, &data, &octets).ok(),
        Some(scheme)
    );
    let mut tampered = octets.clone();
    tampered[100] ^= 1;
    assert!(auth::verify_auth(&ee.public_key, 14, &data, &tampered).is_err());
    // Our signature, verified by openssl.
    let alg_len = usize::from(data[0]);
    let sig = &data[1 + alg_len..];
    assert!(
        openssl_verifies(p, "ee.pub.pem", sig, md),
        "openssl rejects our {scheme}"
    );
    // openssl's signature, verified here under RFC 7427.
    let osig = openssl_sign(p, "ee.key.pem", md);
    ee.public_key.verify(scheme, &octets, &osig).unwrap();
    let mut wire = vec![alg_len as u8];
    wire.extend_from_slice(&data[1..1 + alg_len]);
    wire.extend_from_slice(&osig);
    assert_eq!(
        auth::verify_auth(&ee.public_key, 14, &wire, &octets).ok(),
        Some(scheme)
    );

    match alg {
        Alg::P256 | Alg::P384 | Alg::P521 => {
            // Classic ECDSA methods (RFC 4754): raw r|s.
            let (m, s) = auth::choose_scheme(&ee.public_key, None, false).unwrap();
            let (method, len) = match alg {
                Alg::P256 => (9, 64),
                Alg::P384 => (10, 96),
                _ => (11, 132),
            };
            assert_eq!(m.to_u8(), method);
            let raw = auth::sign_auth(&key, m, s, &octets).unwrap();
            assert_eq!(raw.len(), len);
            assert!(auth::verify_auth(&ee.public_key, m.to_u8(), &raw, &octets).is_ok());
            assert!(auth::verify_auth(&ee.public_key, m.to_u8(), &raw, &tampered).is_err());
            // The wrong method number for the curve is refused.
            let other = if alg == Alg::P256 { 10 } else { 9 };
            assert!(auth::verify_auth(&ee.public_key, other, &raw, &octets).is_err());
            assert!(openssl_verifies(p, "ee.pub.pem", &rs_to_der(&raw), md));
            // A peer without SHA-384 support gets no RFC 7427 ECDSA P-384 signature.
            if alg == Alg::P384 {
                let (m, _) =
                    auth::choose_scheme(&ee.public_key, Some(&[Hash::Sha256]), false).unwrap();
                assert_eq!(m, AuthMethod::EcdsaSha384P384);
            }
        }
        Alg::Rsa2048 | Alg::Rsa4096 => {
            // Method 1 (no SIGNATURE_HASH_ALGORITHMS from the peer): made,
            // byte for byte what `openssl dgst -sha1 -sign` makes (PKCS#1
            // v1.5 is deterministic), and openssl's verified.
            let osig = openssl_sign(p, "ee.key.pem", "-sha1");
            assert_eq!(
                auth::verify_auth(&ee.public_key, 1, &osig, &octets).ok(),
                Some(Scheme::RsaPkcs1(Hash::Sha1))
            );
            let (m, s) = auth::choose_scheme(&ee.public_key, None, false).unwrap();
            assert_eq!((m, s), (AuthMethod::RsaSig, Scheme::RsaPkcs1(Hash::Sha1)));
            let ours = auth::sign_auth(&key, m, s, &octets).unwrap();
            assert_eq!(hex::encode(&ours), hex::encode(&osig));
            assert!(openssl_verifies(p, "ee.pub.pem", &ours, "-sha1"));
            assert!(auth::verify_auth(&ee.public_key, 1, &ours, &tampered).is_err());
            // Method 1 data is never accepted as RFC 7427 data, nor the reverse.
            assert!(auth::verify_auth(&ee.public_key, 14, &ours, &octets).is_err());
            // Every SHA-2 with PKCS#1 v1.5 and PSS, both directions.
            for h in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
                let dg = format!("-sha{}", h.output_len() * 8);
                let pss =
                    format!("{dg} -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest");
                for (s, opts) in [
                    (Scheme::RsaPkcs1(h), dg.clone()),
                    (
                        Scheme::RsaPss {
                            hash: h,
                            salt_len: h.output_len(),
                        },
                        pss,
                    ),
                ] {
                    let data =
                        auth::sign_auth(&key, AuthMethod::DigitalSignature, s, &octets).unwrap();
                    assert_eq!(
                        auth::verify_auth(&ee.public_key, 14, &data, &octets).ok(),
                        Some(s)
                    );
                    let sig = &data[1 + usize::from(data[0])..];
                    assert!(
                        openssl_verifies(p, "ee.pub.pem", sig, &opts),
                        "openssl rejects our {s}"
                    );
                    let osig = openssl_sign(p, "ee.key.pem", &opts);
                    ee.public_key.verify(s, &octets, &osig).unwrap();
                }
            }
            let (m, s) =
                auth::choose_scheme(&ee.public_key, Some(&[Hash::Sha512, Hash::Sha384]), true)
                    .unwrap();
            assert_eq!(
                (m, s),
                (
                    AuthMethod::DigitalSignature,
                    Scheme::RsaPss {
                        hash: Hash::Sha384,
                        salt_len: 48
                    }
                )
            );
            // A certificate signed with RSA-PSS by pki.
            sh(
                &p.dir,
                r#"pki --issue --in ee.pub.pem --cacert int.pem --cakey int.der --dn "C=CH, O=iked test, CN=pss" --rsa-padding pss --lifetime 30 --outform pem > pss.pem 2>/dev/null"#,
            );
            let pss = cert(p, "pss.pem");
            assert!(
                matches!(pss.signature_scheme(), Ok(Scheme::RsaPss { .. })),
                "{:?}",
                pss.signature_scheme()
            );
            let store = TrustStore::new(vec![cert(p, "ca.pem")], vec![]);
            assert_eq!(
                verify(&store, &pss, &[cert(p, "int.pem")], &Policy::default()),
                Ok(3)
            );
        }
        Alg::Ed25519 => {
            assert_eq!(scheme, Scheme::Ed25519);
            // No Identity hash from the peer: Ed25519 can't be used.
            assert!(auth::choose_scheme(&ee.public_key, Some(&[Hash::Sha256]), false).is_err());
        }
    }
}

fn openssl_chain(alg: Alg) {
    let p = openssl(alg);
    let ca = cert(p, "ca.pem");
    let int = cert(p, "int.pem");
    let ee = cert(p, "ee.pem");
    let store = TrustStore::new(vec![ca], vec![]);
    // Certificates signed by openssl, verified here and by strongSwan's pki.
    assert_eq!(
        verify(&store, &ee, std::slice::from_ref(&int), &Policy::default()),
        Ok(3)
    );
    sh(
        &p.dir,
        "pki --verify --in ee.pem --cacert ca.pem --cacert int.pem 2>/dev/null",
    );
    assert_eq!(
        Identity::parse("@moon.strongswan.org")
            .unwrap()
            .check_cert(&ee),
        Ok(())
    );
    expect_reject(
        verify(
            &store,
            &cert(p, "noku.pem"),
            std::slice::from_ref(&int),
            &Policy::default(),
        ),
        |e| {
            matches!(
                e,
                Rejection::KeyUsageMissing {
                    usage: "digitalSignature",
                    ..
                }
            )
        },
        &[
            "key usage missing: \"C=CH, O=iked openssl, CN=moon.strongswan.org\" lacks digitalSignature",
        ],
    );
    // Keys as openssl writes them: PKCS#8 PEM, encrypted PKCS#8.
    let k = PrivateKey::from_pem_or_der(&p.read("ee.key"), None).unwrap();
    assert_eq!(k.public_key(), &ee.public_key);
    let enc = p.read("ee-enc.pem");
    let k = PrivateKey::from_pem_or_der(&enc, Some(b"test passphrase")).unwrap();
    assert_eq!(k.public_key(), &ee.public_key);
    assert!(matches!(
        PrivateKey::from_pem_or_der(&enc, None),
        Err(Error::NeedPassphrase)
    ));
    assert!(matches!(
        PrivateKey::from_pem_or_der(&enc, Some(b"wrong")),
        Err(Error::BadPassphrase)
    ));
    match alg {
        Alg::Rsa2048 | Alg::Rsa4096 => {
            sh(
                &p.dir,
                "openssl rsa -in ee.key -traditional -out ee.pkcs1.pem 2>/dev/null",
            );
            let k = PrivateKey::from_pem_or_der(&p.read("ee.pkcs1.pem"), None).unwrap();
            assert_eq!(k.public_key(), &ee.public_key);
            // Legacy OpenSSL PEM encryption (openssl genrsa -aes256 before OpenSSL 3).
            for c in ["aes128", "aes192", "aes256", "des3"] {
                sh(
                    &p.dir,
                    &format!(
                        "openssl rsa -in ee.key -traditional -{c} -passout pass:x -out ee.legacy.pem 2>/dev/null"
                    ),
                );
                let pem = p.read("ee.legacy.pem");
                assert!(String::from_utf8_lossy(&pem).contains("Proc-Type: 4,ENCRYPTED"));
                let k = PrivateKey::from_pem_or_der(&pem, Some(b"x")).unwrap();
                assert_eq!(k.public_key(), &ee.public_key, "{c}");
                assert!(
                    matches!(
                        PrivateKey::from_pem_or_der(&pem, Some(b"y")),
                        Err(Error::BadPassphrase)
                    ),
                    "{c}"
                );
                assert!(
                    matches!(
                        PrivateKey::from_pem_or_der(&pem, None),
                        Err(Error::NeedPassphrase)
                    ),
                    "{c}"
                );
            }
            sh(
                &p.dir,
                "openssl rsa -in ee.key -pubout -RSAPublicKey_out -out ee.rsapub.pem 2>/dev/null",
            );
            assert_eq!(
                PublicKey::from_pem_or_der(&p.read("ee.rsapub.pem")).unwrap(),
                ee.public_key
            );
        }
        Alg::P256 | Alg::P384 | Alg::P521 => {
            sh(&p.dir, "openssl ec -in ee.key -out ee.sec1.pem 2>/dev/null");
            let k = PrivateKey::from_pem_or_der(&p.read("ee.sec1.pem"), None).unwrap();
            assert_eq!(k.public_key(), &ee.public_key);
            sh(
                &p.dir,
                "openssl ec -in ee.key -aes256 -passout pass:x -out ee.sec1.enc.pem 2>/dev/null",
            );
            let k = PrivateKey::from_pem_or_der(&p.read("ee.sec1.enc.pem"), Some(b"x")).unwrap();
            assert_eq!(k.public_key(), &ee.public_key);
            sh(
                &p.dir,
                "openssl ec -in ee.key -outform DER -out ee.sec1.der 2>/dev/null",
            );
            let k = PrivateKey::from_pem_or_der(&p.read("ee.sec1.der"), None).unwrap();
            assert_eq!(k.public_key(), &ee.public_key);
        }
        Alg::Ed25519 => {}
    }
    assert_eq!(
        PublicKey::from_pem_or_der(&p.read("ee.pub.pem")).unwrap(),
        ee.public_key
    );
}

macro_rules! per_alg {
    ($($name:ident => $f:ident($alg:expr);)*) => { $( #[test] fn $name() { $f($alg) } )* };
}

per_alg! {
    swan_chain_rsa2048 => swan_chain(Alg::Rsa2048);
    swan_chain_rsa4096 => swan_chain(Alg::Rsa4096);
    swan_chain_p256 => swan_chain(Alg::P256);
    swan_chain_p384 => swan_chain(Alg::P384);
    swan_chain_p521 => swan_chain(Alg::P521);
    swan_chain_ed25519 => swan_chain(Alg::Ed25519);
    swan_rejections_rsa2048 => swan_rejections(Alg::Rsa2048);
    swan_rejections_rsa4096 => swan_rejections(Alg::Rsa4096);
    swan_rejections_p256 => swan_rejections(Alg::P256);
    swan_rejections_p384 => swan_rejections(Alg::P384);
    swan_rejections_p521 => swan_rejections(Alg::P521);
    swan_rejections_ed25519 => swan_rejections(Alg::Ed25519);
    swan_keys_rsa2048 => swan_keys(Alg::Rsa2048);
    swan_keys_rsa4096 => swan_keys(Alg::Rsa4096);
    swan_keys_p256 => swan_keys(Alg::P256);
    swan_keys_p384 => swan_keys(Alg::P384);
    swan_keys_p521 => swan_keys(Alg::P521);
    swan_keys_ed25519 => swan_keys(Alg::Ed25519);
    signatures_rsa2048 => signatures(Alg::Rsa2048);
    signatures_rsa4096 => signatures(Alg::Rsa4096);
    signatures_p256 => signatures(Alg::P256);
    signatures_p384 => signatures(Alg::P384);
    signatures_p521 => signatures(Alg::P521);
    signatures_ed25519 => signatures(Alg::Ed25519);
    openssl_chain_rsa2048 => openssl_chain(Alg::Rsa2048);
    openssl_chain_rsa4096 => openssl_chain(Alg::Rsa4096);
    openssl_chain_p256 => openssl_chain(Alg::P256);
    openssl_chain_p384 => openssl_chain(Alg::P384);
    openssl_chain_p521 => openssl_chain(Alg::P521);
    openssl_chain_ed25519 => openssl_chain(Alg::Ed25519);
}

/// strongSwan's ipsec.d layout, leftcert=/secrets-style paths, CERTREQ data.
#[test]
fn ipsec_d_layout() {
    use pki::certreq::{self, SendCert};
    let p = swan(Alg::P256);
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    for sub in ["cacerts", "certs", "private", "crls"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    let cp = |from: &str, to: &str| std::fs::copy(p.path(from), d.join(to)).unwrap();
    cp("ca.pem", "cacerts/ca.pem");
    cp("wrongca.pem", "cacerts/other.pem");
    std::fs::write(
        d.join("cacerts/broken.pem"),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    cp("ee.pem", "certs/moon.pem");
    let bundle = [p.read("ee.pem"), p.read("int.pem")].concat();
    std::fs::write(d.join("certs/bundle.pem"), bundle).unwrap();
    cp("ee.der", "private/moon.der");
    cp("int.crl", "crls/int.crl");

    let s = IpsecD::load(d);
    assert_eq!(s.trust.anchors.len(), 2);
    assert_eq!(s.trust.crls.len(), 1);
    assert_eq!(s.certs.len(), 3, "moon.pem + the two of bundle.pem");
    assert_eq!(s.errors.len(), 1);
    assert!(
        s.errors[0].to_string().contains("broken.pem"),
        "{}",
        s.errors[0]
    );

    let own = s.load_cert("bundle.pem").unwrap();
    assert_eq!(own.len(), 2);
    assert_eq!(own[0].subject.to_string(), EE_DN);
    let abs = d.join("certs/moon.pem");
    assert_eq!(s.load_cert(abs.to_str().unwrap()).unwrap()[0], own[0]);
    let key = s.load_private_key("moon.der", None).unwrap();
    assert_eq!(
        s.cert_for_key(&key).map(|c| &c.subject),
        Some(&own[0].subject)
    );
    let e = s.load_private_key("missing.pem", None).unwrap_err();
    assert!(e.to_string().contains("private/missing.pem"), "{e}");
    let e = s.load_cert("../cacerts/broken.pem").unwrap_err();
    assert!(e.to_string().contains("broken.pem"), "{e}");

    // The chain verifies with what the peer would send (ee + int).
    let chain = s
        .trust
        .verify(&own[0], &own[1..], now(), &Policy::default())
        .unwrap();
    assert_eq!(
        chain.anchor().map(|c| c.subject.to_string()),
        Some(format!("C=CH, O=iked test, CN={} Root CA", "p256"))
    );

    // CERTREQ: SHA-1 of each trusted CA's subjectPublicKeyInfo, as pki --keyid prints.
    let req = certreq::certreq_data(&s.trust);
    assert_eq!(req.len(), 40);
    let out = String::from_utf8_lossy(&sh(
        &p.dir,
        "pki --keyid --in ca.pem --type x509 2>/dev/null",
    ))
    .to_string();
    let spki_hash = out
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(':') && !l.contains(' '))
        .nth(1)
        .unwrap()
        .replace(':', "");
    let hashes = certreq::parse_certreq(&req);
    assert!(hashes.iter().any(|h| hex::encode(h) == spki_hash));
    // leftsendcert=
    assert_eq!(
        certreq::certs_to_send(SendCert::Never, Some(&hashes), &own).len(),
        0
    );
    assert_eq!(
        certreq::certs_to_send(SendCert::IfAsked, None, &own).len(),
        0
    );
    assert_eq!(
        certreq::certs_to_send(SendCert::IfAsked, Some(&[]), &own).len(),
        2
    );
    assert_eq!(
        certreq::certs_to_send(SendCert::Always, None, &own).len(),
        2
    );
    assert_eq!(SendCert::parse("ifasked"), Some(SendCert::IfAsked));
    // Our cert is chosen for a CERTREQ naming our intermediate's key.
    let other_only = [s.trust.anchors[1].public_key.spki_sha1()];
    let want_int = [own[1].public_key.spki_sha1()];
    let cands = vec![s.certs[0].clone()];
    assert_eq!(
        certreq::select_cert(&cands, &want_int, &s.trust),
        Some(&cands[0])
    );
    assert_eq!(
        certreq::select_cert(&cands, &other_only, &s.trust),
        Some(&cands[0])
    );
}

/// Every single-byte change to a real certificate either fails to parse or
/// fails verification: nothing outside the signature is trusted.
#[test]
fn every_byte_of_a_certificate_matters() {
    for alg in [Alg::P256, Alg::Rsa2048] {
        let p = swan(alg);
        let ee = cert(p, "ee.pem");
        let int = cert(p, "int.pem");
        let store = TrustStore::new(vec![cert(p, "ca.pem")], vec![]);
        let der = ee.der().to_vec();
        let mut parsed = 0;
        for i in 0..der.len() {
            let mut m = der.clone();
            m[i] ^= 0x01;
            if let Ok(c) = Certificate::from_der(&m) {
                parsed += 1;
                let r = store.verify(&c, std::slice::from_ref(&int), now(), &Policy::default());
                assert!(
                    r.is_err(),
                    "{}: flipping byte {i} of {} still verifies",
                    alg.name(),
                    der.len()
                );
            }
        }
        assert!(
            parsed > der.len() / 2,
            "most mutants should parse ({parsed}/{})",
            der.len()
        );
    }
}

/// A peer sending a mesh of cross-signed, same-named CA certificates cannot
/// make chain building explode: the search gives up after MAX_TRIES issuers.
#[test]
fn cross_signed_mesh_is_bounded() {
    common::require("pki");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        r#"
for i in 0 1 2 3 4; do
  pki --gen --type ecdsa --size 256 > k$i.der 2>/dev/null
  pki --pub --in k$i.der --type priv > p$i.der 2>/dev/null
  pki --self --in k$i.der --type ecdsa --dn "CN=mesh" --ca --lifetime 30 > self$i.der 2>/dev/null
done
for i in 0 1 2 3 4; do for j in 0 1 2 3 4; do [ $i = $j ] && continue
  pki --issue --in p$i.der --cacert self$j.der --cakey k$j.der --dn "CN=mesh" --ca --lifetime 30 > c$i$j.der 2>/dev/null
done; done
pki --gen --type ecdsa --size 256 > root.der 2>/dev/null
pki --self --in root.der --type ecdsa --dn "CN=unrelated root" --ca --lifetime 30 > root.crt 2>/dev/null
pki --issue --in p1.der --cacert self0.der --cakey k0.der --dn "CN=leaf" --lifetime 30 > leaf.der 2>/dev/null
"#,
    );
    let read = |f: &str| Certificate::from_der(&std::fs::read(d.join(f)).unwrap()).unwrap();
    let mut pool = Vec::new();
    for i in 0..5 {
        pool.push(read(&format!("self{i}.der")));
        for j in 0..5 {
            if i != j {
                pool.push(read(&format!("c{i}{j}.der")));
            }
        }
    }
    let store = TrustStore::new(vec![read("root.crt")], vec![]);
    let start = std::time::Instant::now();
    let r = store.verify(&read("leaf.der"), &pool, now(), &Policy::default());
    let e = r.expect_err("no path to the unrelated root");
    assert!(e.to_string().contains("gave up building a chain"), "{e}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// nameConstraints are enforced, with the offending name and constraint in
/// the message. (openssl makes this CA: strongSwan 5.9.8's `pki --nc-excluded
/// 192.0.2.0/24` writes an empty GeneralSubtree that openssl can't parse.)
#[test]
fn name_constraints() {
    common::require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sh(
        d,
        r#"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ee.key 2>/dev/null
cat > x.cnf <<'X'
[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
nameConstraints=critical,permitted;DNS:strongswan.org,permitted;dirName:ncdn,excluded;IP:192.0.2.0/255.255.255.0
[ncdn]
C=CH
O=nc
[good]
subjectAltName=DNS:moon.strongswan.org,IP:198.51.100.1
[baddns]
subjectAltName=DNS:moon.example.com
[badip]
subjectAltName=DNS:moon.strongswan.org,IP:192.0.2.7
[baddn]
subjectAltName=DNS:sun.strongswan.org
X
openssl req -x509 -new -key ca.key -subj "/C=CH/O=nc/CN=NC Root" -days 30 -config x.cnf -extensions ca -outform DER -out ca.crt
iss() { openssl req -new -key ee.key -subj "$2" 2>/dev/null | openssl x509 -req -CA ca.crt -CAform DER -CAkey ca.key -set_serial $RANDOM -days 30 -extfile x.cnf -extensions $1 -outform DER -out $1.crt 2>/dev/null; }
iss good "/C=CH/O=nc/CN=moon"
iss baddns "/C=CH/O=nc/CN=evil"
iss badip "/C=CH/O=nc/CN=ip"
iss baddn "/C=DE/O=nc/CN=dn"
"#,
    );
    let read = |f: &str| Certificate::from_der(&std::fs::read(d.join(f)).unwrap()).unwrap();
    let ca = read("ca.crt");
    assert!(ca.name_constraints.is_some(), "pki wrote nameConstraints");
    let store = TrustStore::new(vec![ca], vec![]);
    let v = |f: &str| {
        store
            .verify(&read(f), &[], now(), &Policy::default())
            .map(|c| c.certs.len())
    };
    assert_eq!(v("good.crt"), Ok(2));
    expect_reject(
        v("baddns.crt"),
        |e| matches!(e, Rejection::NameConstraint { .. }),
        &[
            "DNS:moon.example.com of \"C=CH, O=nc, CN=evil\" is not within the permitted DNS:strongswan.org",
        ],
    );
    expect_reject(
        v("badip.crt"),
        |e| matches!(e, Rejection::NameConstraint { .. }),
        &["IP:192.0.2.7", "excluded by IP:192.0.2.0/24"],
    );
    expect_reject(
        v("baddn.crt"),
        |e| matches!(e, Rejection::NameConstraint { .. }),
        &[
            "DN:C=DE, O=nc, CN=dn",
            "not within the permitted DN:C=CH, O=nc",
        ],
    );
}
