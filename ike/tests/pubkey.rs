//! Certificate authentication between two cores, with a test PKI that
//! `openssl` makes at run time (RSA-2048 and ECDSA P-256, ID from the SAN).

use ike::creds::Credentials;
use ike::crypto::Provider;
use ike::sa::{Endpoint, Event, IkeState};
use ike::testing::{CountingSpis, TestRng};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/C=CH/O=iked test/CN=iked Test CA",
            "-days",
            "3",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// ipsec.d folders with a CA (shared, or its own when `other_ca`), and a
/// certificate + key for `name` with the given subjectAltName.
fn pki_dir(tag: &str, key_alg: &str, name: &str, san: &str, days: &str, other_ca: bool) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iked-pk-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["cacerts", "certs", "private"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    // The shared CA is made once (tests run in parallel).
    static SHARED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let shared_ca = SHARED
        .get_or_init(|| {
            let p = std::env::temp_dir().join(format!("iked-pk-ca-{}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            make_ca(&p);
            p
        })
        .clone();
    let ca_dir = if other_ca {
        make_ca(&d);
        d.clone()
    } else {
        shared_ca.clone()
    };
    let subj = format!("/C=CH/O=iked test/CN={name}");
    let mut args = vec![
        "req", "-new", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", &subj,
    ];
    if key_alg == "rsa" {
        args.extend(["-newkey", "rsa:2048"]);
    } else {
        args.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    openssl(&d, &args);
    std::fs::write(
        d.join("ext.cnf"),
        format!("subjectAltName={san}\nkeyUsage=digitalSignature\n"),
    )
    .unwrap();
    let ca_pem = ca_dir.join("ca.pem");
    let ca_key = ca_dir.join("ca.key");
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            ca_pem.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-CAcreateserial",
            "-out",
            "certs/cert.pem",
            "-days",
            days,
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::rename(d.join("key.pem"), d.join("private/key.pem")).unwrap();
    // Every side trusts the shared CA only.
    std::fs::copy(shared_ca.join("ca.pem"), d.join("cacerts/ca.pem")).unwrap();
    d
}

fn endpoint(conf_text: &str, secrets: &str, dir: &Path, addr: &str, seed: u64) -> Endpoint {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", conf_text)
        .with("/etc/ipsec.secrets", secrets);
    let cfg = Arc::new(
        conf::load_from(
            &src,
            Path::new("/etc/ipsec.conf"),
            Some(Path::new("/etc/ipsec.secrets")),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let creds = Credentials::load(&cfg, dir);
    assert!(creds.errors.is_empty(), "{:?}", creds.errors);
    let mut ep = Endpoint::new(
        cfg,
        vec![addr.parse().unwrap()],
        Provider::default(),
        Box::new(TestRng(seed)),
        Box::new(CountingSpis(seed as u32 * 1000)),
    );
    ep.set_credentials(Arc::new(creds));
    ep
}

/// Runs the exchange; returns both sides' events and the datagram sizes.
fn run(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> (Vec<Event>, Vec<Event>, Vec<usize>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let mut sizes = Vec::new();
    // The kernel accepts every CHILD_SA (a responder answers only after that).
    let drain = |ep: &mut Endpoint, into: &mut Vec<Event>| {
        while let Some(e) = ep.poll_event() {
            if let Event::InstallChild(c) = &e {
                ep.child_installed(now, c.child_id, Ok(()));
            }
            into.push(e);
        }
    };
    for _ in 0..20 {
        while let Some(t) = a.poll_transmit() {
            sizes.push(t.data.len());
            b.handle_datagram(now, t.remote, t.local, &t.data);
        }
        drain(&mut *b, &mut eb);
        while let Some(t) = b.poll_transmit() {
            sizes.push(t.data.len());
            a.handle_datagram(now, t.remote, t.local, &t.data);
        }
        drain(&mut *a, &mut ea);
    }
    (ea, eb, sizes)
}

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
