//! Certificate authentication between two cores, with a test PKI that
//! `openssl` makes at run time (RSA-2048 and ECDSA P-256, ID from the SAN).

mod common;

use common::{endpoint, pki_dir, pki_dir_ext, run};
use ike::creds::Credentials;
use ike::sa::{Endpoint, Event, IkeState};
use ike::testing::TestRng;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const MOON: &str = "conn net\n  left=192.0.2.1\n  leftcert=cert.pem\n  leftid=@moon.strongswan.org\n  leftsubnet=10.1.0.0/16\n  right=192.0.2.2\n  rightid=carol@strongswan.org\n  rightsubnet=10.2.0.0/16\n  auto=add\n";
const CAROL: &str = "conn net\n  right=192.0.2.1\n  rightid=@moon.strongswan.org\n  rightsubnet=10.1.0.0/16\n  left=192.0.2.2\n  leftcert=cert.pem\n  leftid=carol@strongswan.org\n  leftsubnet=10.2.0.0/16\n  auto=add\n";

#[test]
fn rsa_and_ecdsa_certificates_authenticate_both_ways() {
    let moon_d = pki_dir(
        "moon",
        "rsa",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    let carol_d = pki_dir(
        "carol",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    let mut a = endpoint(MOON, ": RSA key.pem\n", &moon_d, "192.0.2.1", 1);
    let mut b = endpoint(CAROL, ": ECDSA key.pem\n", &carol_d, "192.0.2.2", 2);
    let now = Instant::now();
    a.initiate(now, "net").unwrap();
    let (ea, eb, sizes) = run(&mut a, &mut b, now);
    let installs = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::InstallChild(_)))
            .count()
    };
    assert_eq!((installs(&ea), installs(&eb)), (1, 1), "{ea:?}\n{eb:?}");
    assert_eq!(a.status(now)[0].state, IkeState::Established);
    assert_eq!(a.status(now)[0].remote_id, "carol@strongswan.org");
    // The IKE_AUTH messages carry certificates: fragmented (RFC 7383), none above 1280 octets.
    assert!(sizes.len() > 4, "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= 1280), "{sizes:?}");
    let _ = std::fs::remove_dir_all(moon_d);
    let _ = std::fs::remove_dir_all(carol_d);
}

#[test]
fn untrusted_or_mismatched_certificates_are_rejected() {
    let moon_d = pki_dir(
        "moon2",
        "ec",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    // carol's certificate names someone else.
    let wrong_id = pki_dir(
        "carol-wrong",
        "ec",
        "dave",
        "email:dave@strongswan.org",
        "2",
        false,
    );
    // dave's certificate is from another CA that moon does not trust.
    let other_ca = pki_dir(
        "carol-otherca",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        true,
    );
    for (dir, why) in [
        (&wrong_id, "ID mismatch: wanted carol@strongswan.org"),
        (&other_ca, "issuer not found"),
    ] {
        let mut a = endpoint(MOON, ": ECDSA key.pem\n", &moon_d, "192.0.2.1", 3);
        let mut b = endpoint(CAROL, ": ECDSA key.pem\n", dir, "192.0.2.2", 4);
        let now = Instant::now();
        // carol initiates; moon must reject carol's certificate.
        b.initiate(now, "net").unwrap();
        let (ea, eb, _) = run(&mut a, &mut b, now);
        assert!(
            ea.iter().all(|e| !matches!(e, Event::InstallChild(_))),
            "{ea:?}"
        );
        assert!(
            ea.iter()
                .any(|e| matches!(e, Event::IkeDown { reason, .. } if reason.contains(why))),
            "{why}: {ea:?}"
        );
        assert!(eb.iter().any(|e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("AUTHENTICATION_FAILED"))), "{why}: {eb:?}");
        assert!(a.status(now).is_empty());
    }
    for d in [moon_d, wrong_id, other_ca] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// moon trusts two CAs (its own and a partner's) and serves conns that name
/// which CA their peers must come from.
fn moon_two_cas(tag: &str) -> (PathBuf, PathBuf) {
    let moon_d = pki_dir(
        tag,
        "ec",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    // The partner's CA signs carol's certificate, and moon trusts it too.
    let partner = pki_dir(
        &format!("{tag}-partner"),
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        true,
    );
    std::fs::copy(partner.join("ca.pem"), moon_d.join("cacerts/partner.pem")).unwrap();
    (moon_d, partner)
}

const CAROL_ANY: &str = "conn net\n  right=192.0.2.1\n  rightid=@moon.strongswan.org\n  rightsubnet=10.1.0.0/16\n  left=192.0.2.2\n  leftcert=cert.pem\n  leftid=carol@strongswan.org\n  leftsubnet=10.2.0.0/16\n  auto=add\n";

/// moon's conn for the staff CA only, with `rightid=%any`.
const MOON_STAFF: &str = "conn staff\n  left=192.0.2.1\n  leftcert=cert.pem\n  leftid=@moon.strongswan.org\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightca=\"C=CH, O=iked test, CN=iked Test CA\"\n  rightsubnet=10.2.0.0/16\n  auto=add\n";

fn refused(ea: &[Event], why: &str) -> bool {
    ea.iter().all(|e| !matches!(e, Event::InstallChild(_)))
        && ea
            .iter()
            .any(|e| matches!(e, Event::IkeDown { reason, .. } if reason.contains(why)))
}

#[test]
fn a_partner_ca_certificate_cannot_enter_a_conn_for_another_ca() {
    let (moon_d, partner) = moon_two_cas("rightca");
    let mut a = endpoint(MOON_STAFF, ": ECDSA key.pem\n", &moon_d, "192.0.2.1", 5);
    let mut b = endpoint(CAROL_ANY, ": ECDSA key.pem\n", &partner, "192.0.2.2", 6);
    let now = Instant::now();
    b.initiate(now, "net").unwrap();
    let (ea, eb, _) = run(&mut a, &mut b, now);
    assert!(
        refused(
            &ea,
            "peer not authenticated by CA 'C=CH, O=iked test, CN=iked Test CA'"
        ),
        "{ea:?}"
    );
    assert!(
        eb.iter().any(|e| matches!(e, Event::IkeDown { reason, .. } if reason.contains("AUTHENTICATION_FAILED"))),
        "{eb:?}"
    );
    assert!(a.status(now).is_empty());

    // A conn for the partner CA after it: the partner's peer is switched to
    // it (never to the staff conn), and gets only the partner conn's subnet.
    let both = format!(
        "{MOON_STAFF}conn partner\n  left=192.0.2.1\n  leftcert=cert.pem\n  leftid=@moon.strongswan.org\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightca=\"C=CH, O=iked test, CN=iked Partner CA\"\n  rightsubnet=10.2.0.0/16\n  auto=add\n"
    );
    let mut a = endpoint(&both, ": ECDSA key.pem\n", &moon_d, "192.0.2.1", 7);
    let mut b = endpoint(CAROL_ANY, ": ECDSA key.pem\n", &partner, "192.0.2.2", 8);
    b.initiate(now, "net").unwrap();
    let (ea, _, _) = run(&mut a, &mut b, now);
    let st = a.status(now);
    assert_eq!(st.len(), 1, "{ea:?}");
    assert_eq!(st[0].conn, "partner");
    assert_eq!(st[0].state, IkeState::Established);
    for d in [moon_d, partner] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn the_staff_ca_certificate_still_enters_its_conn() {
    let (moon_d, partner) = moon_two_cas("rightca-ok");
    let carol = pki_dir(
        "rightca-ok-carol",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    let mut a = endpoint(MOON_STAFF, ": ECDSA key.pem\n", &moon_d, "192.0.2.1", 9);
    let mut b = endpoint(CAROL_ANY, ": ECDSA key.pem\n", &carol, "192.0.2.2", 10);
    let now = Instant::now();
    b.initiate(now, "net").unwrap();
    let (ea, _, _) = run(&mut a, &mut b, now);
    let st = a.status(now);
    assert_eq!(st.len(), 1, "{ea:?}");
    assert_eq!(
        (st[0].conn.as_str(), st[0].state),
        ("staff", IkeState::Established)
    );
    for d in [moon_d, partner, carol] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_weaker_key_or_a_missing_certificate_policy_is_refused() {
    let moon_d = pki_dir(
        "strength-moon",
        "ec",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    let carol = pki_dir_ext(
        "strength-carol",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
        "certificatePolicies=1.3.6.1.4.1.36906.1.1",
    );
    let conn = |auth: &str, policy: &str| {
        format!(
            "conn net\n  left=192.0.2.1\n  leftcert=cert.pem\n  leftid=@moon.strongswan.org\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightauth={auth}\n{policy}  rightsubnet=10.2.0.0/16\n  auto=add\n"
        )
    };
    let now = Instant::now();
    for (i, (auth, policy, want)) in [
        ("ecdsa-384", "", Some("at least 384 bits")),
        ("rsa", "", Some("the conn demands Rsa")),
        (
            "ecdsa-256-sha384",
            "",
            Some("signed AUTH with ECDSA with Sha256"),
        ),
        (
            "ecdsa-256",
            "  rightcertpolicy=1.3.6.1.4.1.36906.1.2\n",
            Some("lacks certificate policy 1.3.6.1.4.1.36906.1.2"),
        ),
        // What carol has passes.
        (
            "ecdsa-256-sha256",
            "  rightcertpolicy=1.3.6.1.4.1.36906.1.1\n",
            None,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 20 + 2 * i as u64;
        let mut a = endpoint(
            &conn(auth, policy),
            ": ECDSA key.pem\n",
            &moon_d,
            "192.0.2.1",
            seed,
        );
        let mut b = endpoint(
            CAROL_ANY,
            ": ECDSA key.pem\n",
            &carol,
            "192.0.2.2",
            seed + 1,
        );
        b.initiate(now, "net").unwrap();
        let (ea, _, _) = run(&mut a, &mut b, now);
        match want {
            Some(why) => {
                assert!(refused(&ea, why), "rightauth={auth} {policy}: {ea:?}");
                assert!(a.status(now).is_empty());
            }
            None => assert_eq!(a.status(now)[0].state, IkeState::Established, "{ea:?}"),
        }
    }
    for d in [moon_d, carol] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_psk_peer_cannot_use_a_conn_that_demands_a_ca() {
    let conf_moon = "conn staff\n  left=192.0.2.1\n  leftid=@moon.strongswan.org\n  leftauth=psk\n  leftsubnet=10.1.0.0/16\n  right=%any\n  rightid=%any\n  rightauth=psk\n  rightca=\"C=CH, O=iked test, CN=iked Test CA\"\n  rightsubnet=10.2.0.0/16\n  auto=add\n";
    let conf_carol = "conn net\n  right=192.0.2.1\n  rightid=@moon.strongswan.org\n  rightsubnet=10.1.0.0/16\n  left=192.0.2.2\n  leftid=carol@strongswan.org\n  authby=psk\n  leftsubnet=10.2.0.0/16\n  auto=add\n";
    let secrets = ": PSK \"a-long-enough-test-psk\"\n";
    let dir = std::env::temp_dir().join(format!("iked-pk-{}-psk-ca", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut a = endpoint(conf_moon, secrets, &dir, "192.0.2.1", 40);
    let mut b = endpoint(conf_carol, secrets, &dir, "192.0.2.2", 41);
    let now = Instant::now();
    b.initiate(now, "net").unwrap();
    let (ea, _, _) = run(&mut a, &mut b, now);
    assert!(refused(&ea, "no conn for peer identity"), "{ea:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A log sink for one thread: what both cores logged while `f` ran.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let w = sink.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (out, text)
}

/// Whether the first datagram `from` sends (its IKE_SA_INIT) carries
/// SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4).
fn init_announces_hashes(from: &mut Endpoint) -> (bool, ike::sa::Transmit) {
    let t = from.poll_transmit().expect("an IKE_SA_INIT");
    let m = ike::wire::Message::decode(&t.data).unwrap();
    let has = m.payloads.iter().any(|p| {
        matches!(p, ike::wire::Payload::Notify(n)
            if n.notify_type == ike::wire::NotifyType::SIGNATURE_HASH_ALGORITHMS)
    });
    (has, t)
}

/// Windows' native client sends no SIGNATURE_HASH_ALGORITHMS, so an RSA
/// gateway must sign with AUTH method 1 (RSA PKCS#1 v1.5 with SHA-1, RFC
/// 7296), which it can verify; the client signs with the classic method of
/// its key (9 for ECDSA P-256). A client that announces RFC 7427 hashes (like
/// strongSwan and Android) gets method 14 with PKCS#1 v1.5 and SHA-256, never
/// RSASSA-PSS.
#[test]
fn a_peer_without_rfc7427_gets_auth_method_1_from_an_rsa_gateway() {
    let moon_d = pki_dir(
        "moon-m1",
        "rsa",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    let carol_d = pki_dir(
        "carol-m1",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    for windows in [true, false] {
        let mut moon = endpoint(MOON, ": RSA key.pem\n", &moon_d, "192.0.2.1", 5);
        let mut carol = endpoint(CAROL, ": ECDSA key.pem\n", &carol_d, "192.0.2.2", 6);
        carol.set_settings(ike::sa::CoreSettings {
            signature_authentication: !windows,
            ..Default::default()
        });
        let now = Instant::now();
        let ((ea, eb), log) = logged(|| {
            carol.initiate(now, "net").unwrap();
            let (has, t) = init_announces_hashes(&mut carol);
            assert_eq!(has, !windows, "client's IKE_SA_INIT");
            moon.handle_datagram(now, t.remote, t.local, &t.data);
            let (has, t) = init_announces_hashes(&mut moon);
            assert!(has, "the gateway announces RFC 7427 to everyone");
            carol.handle_datagram(now, t.remote, t.local, &t.data);
            let (ec, em, _) = run(&mut carol, &mut moon, now);
            (ec, em)
        });
        let installs = |e: &[Event]| {
            e.iter()
                .filter(|e| matches!(e, Event::InstallChild(_)))
                .count()
        };
        assert_eq!((installs(&ea), installs(&eb)), (1, 1), "{log}");
        let (gateway, client) = if windows {
            (
                "signing AUTH with RSA PKCS#1 v1.5 with Sha1 (method 1)",
                "signing AUTH with ECDSA with Sha256 (r|s) (method 9)",
            )
        } else {
            (
                "signing AUTH with RSA PKCS#1 v1.5 with Sha256 (method 14)",
                "signing AUTH with ECDSA with Sha256 (DER) (method 14)",
            )
        };
        assert!(log.contains(gateway), "{gateway}:\n{log}");
        assert!(log.contains(client), "{client}:\n{log}");
        assert!(!log.contains("RSA-PSS"), "{log}");
        let verified = if windows {
            "authentication of 'moon.strongswan.org' with RSA PKCS#1 v1.5 with Sha1 (method 1, certificate"
        } else {
            "authentication of 'moon.strongswan.org' with RSA PKCS#1 v1.5 with Sha256 (method 14, certificate"
        };
        assert!(log.contains(verified), "{verified}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(moon_d);
    let _ = std::fs::remove_dir_all(carol_d);
}

/// macOS and iOS send no CERTREQ (here: the emulated client's IKE_AUTH has
/// its CERTREQ removed before encryption); a gateway with the default
/// `leftsendcert=ifasked` sends its certificate anyway, or the client could
/// not verify it.
#[test]
fn a_client_that_sends_no_certreq_still_gets_the_gateways_certificate() {
    let moon_d = pki_dir(
        "moon-nocr",
        "rsa",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    let carol_d = pki_dir(
        "carol-nocr",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    let mut moon = endpoint(MOON, ": RSA key.pem\n", &moon_d, "192.0.2.1", 7);
    let mut carol = endpoint(CAROL, ": ECDSA key.pem\n", &carol_d, "192.0.2.2", 8);
    let removed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = removed.clone();
    carol.set_rewrite(move |x, response, payloads| {
        if x == ike::wire::ExchangeType::IKE_AUTH && !response {
            let before = payloads.len();
            payloads.retain(|p| !matches!(p, ike::wire::Payload::CertReq(_)));
            r.fetch_add(before - payloads.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let now = Instant::now();
    carol.initiate(now, "net").unwrap();
    let ((ec, em), log) = logged(|| {
        let (ec, em, _) = run(&mut carol, &mut moon, now);
        (ec, em)
    });
    assert!(removed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let installs = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::InstallChild(_)))
            .count()
    };
    assert_eq!((installs(&ec), installs(&em)), (1, 1), "{log}");
    assert!(
        log.contains("authentication of 'moon.strongswan.org' with RSA PKCS#1 v1.5 with Sha256 (method 14, certificate"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(moon_d);
    let _ = std::fs::remove_dir_all(carol_d);
}

/// The CERTREQ moon's IKE_SA_INIT response carries, for a conn like `conf`.
fn moon_certreq(conf: &str, moon_d: &Path, partner: &Path) -> Vec<u8> {
    let mut moon = endpoint(conf, ": ECDSA key.pem\n", moon_d, "192.0.2.1", 11);
    let mut carol = endpoint(CAROL_ANY, ": ECDSA key.pem\n", partner, "192.0.2.2", 12);
    let now = Instant::now();
    carol.initiate(now, "net").unwrap();
    let init = carol.poll_transmit().expect("carol's IKE_SA_INIT");
    moon.handle_datagram(now, init.remote, init.local, &init.data);
    let answer = moon.poll_transmit().expect("moon's answer");
    let m = ike::wire::Message::decode(&answer.data).unwrap();
    m.payloads
        .iter()
        .find_map(|p| match p {
            ike::wire::Payload::CertReq(c) => Some(c.data.clone()),
            _ => None,
        })
        .expect("a CERTREQ")
}

/// moon trusts two CAs; a conn with `rightca=` asks the peer for a
/// certificate from that CA only (one hash in the CERTREQ), a conn without
/// it for any of them (two).
#[test]
fn a_conn_with_rightca_asks_for_that_cas_certificate_only() {
    let (moon_d, partner) = moon_two_cas("certreq");
    let narrowed = moon_certreq(MOON_STAFF, &moon_d, &partner);
    let any = moon_certreq(
        &MOON_STAFF.replace("  rightca=\"C=CH, O=iked test, CN=iked Test CA\"\n", ""),
        &moon_d,
        &partner,
    );
    assert_eq!(narrowed.len(), 20, "one CA asked for");
    assert_eq!(any.len(), 40, "both trusted CAs asked for");
    assert!(any.chunks(20).any(|h| h == narrowed.as_slice()));
    for d in [moon_d, partner] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A certificate + EAP gateway signs its AUTH in its first IKE_AUTH answer,
/// before the client has proven anything: with the daemon's workers
/// (`offload_key_exchanges`) that signature waits for a worker, not the
/// event loop; a retransmitted request meanwhile is not answered twice, and
/// the answer that follows carries a signature the client verifies.
#[test]
fn an_eap_gateways_first_signature_is_made_off_the_event_loop() {
    let moon_d = pki_dir(
        "eap-sign-moon",
        "rsa",
        "moon.strongswan.org",
        "DNS:moon.strongswan.org",
        "2",
        false,
    );
    let carol_d = pki_dir(
        "eap-sign-carol",
        "ec",
        "carol",
        "email:carol@strongswan.org",
        "2",
        false,
    );
    let gw = MOON.replace("  auto=add\n", "  rightauth=eap-mschapv2\n  auto=add\n");
    let mut moon = endpoint(
        &gw,
        ": RSA key.pem\ncarol@strongswan.org : EAP \"carol-password\"\n",
        &moon_d,
        "192.0.2.1",
        21,
    );
    moon.offload_key_exchanges(true);
    let mut carol = endpoint(CAROL, ": ECDSA key.pem\n", &carol_d, "192.0.2.2", 22);
    // carol asks for EAP: no AUTH in her IKE_AUTH request
    carol.set_rewrite(|x, response, payloads| {
        if x == ike::wire::ExchangeType::IKE_AUTH && !response {
            payloads.retain(|p| !matches!(p, ike::wire::Payload::Auth(_)));
        }
    });
    let now = Instant::now();
    let mut rng = TestRng(23);
    let mut jobs = 0;
    let mut work = |ep: &mut Endpoint| {
        while let Some(j) = ep.poll_key_job() {
            jobs += 1;
            ep.key_job_done(j.run(&mut rng));
        }
    };
    carol.initiate(now, "net").unwrap();
    let init = carol.poll_transmit().unwrap();
    moon.handle_datagram(now, init.remote, init.local, &init.data);
    assert!(
        moon.poll_transmit().is_none(),
        "the key exchange waits for a worker"
    );
    work(&mut moon);
    let answer = moon.poll_transmit().expect("IKE_SA_INIT answer");
    carol.handle_datagram(now, answer.remote, answer.local, &answer.data);
    let auth = carol.poll_transmit().expect("carol's IKE_AUTH");
    let ((), log) = logged(|| {
        moon.handle_datagram(now, auth.remote, auth.local, &auth.data);
        assert!(
            moon.poll_transmit().is_none(),
            "the signature waits for a worker"
        );
        moon.handle_datagram(now, auth.remote, auth.local, &auth.data);
        assert!(
            moon.poll_transmit().is_none(),
            "a retransmit is not answered meanwhile"
        );
        work(&mut moon);
        let first = moon.poll_transmit().expect("the first EAP answer");
        assert!(moon.poll_transmit().is_none(), "answered once");
        carol.handle_datagram(now, first.remote, first.local, &first.data);
    });
    assert_eq!(jobs, 2, "a key exchange and a signature");
    assert!(
        log.contains("authenticating 'carol@strongswan.org' with EAP-MSCHAPv2"),
        "{log}"
    );
    assert!(log.contains("its answer waits for our signature"), "{log}");
    assert!(
        log.contains("authentication of 'moon.strongswan.org' with RSA"),
        "carol verified moon's signature: {log}"
    );
    for d in [moon_d, carol_d] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// `leftca=` names the authority our own certificate must come from: a
/// `leftcert=` from another CA is reported at load, naming both.
#[test]
fn a_leftcert_from_another_ca_than_leftca_is_reported_at_load() {
    let (moon_d, partner) = moon_two_cas("leftca");
    let load = |leftca: &str| {
        let text = MOON.replace(
            "  auto=add\n",
            &format!("  leftca=\"{leftca}\"\n  auto=add\n"),
        );
        let src = conf::MemSource::default()
            .with("/etc/ipsec.conf", &text)
            .with("/etc/ipsec.secrets", ": ECDSA key.pem\n");
        let cfg = conf::load_from(
            &src,
            Path::new("/etc/ipsec.conf"),
            Some(Path::new("/etc/ipsec.secrets")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Credentials::load(&cfg, &moon_d).errors
    };
    assert!(load("C=CH, O=iked test, CN=iked Test CA").is_empty());
    let errs = load("C=CH, O=iked test, CN=iked Partner CA");
    assert!(
        errs.iter().any(|e| e.contains(
            "leftcert cert.pem: not issued by CA 'C=CH, O=iked test, CN=iked Partner CA'"
        ) && e.contains("its issuer is")),
        "{errs:?}"
    );
    for d in [moon_d, partner] {
        let _ = std::fs::remove_dir_all(d);
    }
}
