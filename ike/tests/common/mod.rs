//! What the certificate tests share: a test PKI that `openssl` makes at
//! run time, a core endpoint from ipsec.conf text, and a pump between two.
#![allow(dead_code)] // each test file uses its own part

use ike::creds::Credentials;
use ike::crypto::Provider;
use ike::sa::{Endpoint, Event};
use ike::testing::{CountingSpis, TestRng};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

pub fn openssl(dir: &Path, args: &[&str]) {
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

pub fn make_ca(dir: &Path, cn: &str) {
    let subj = format!("/C=CH/O=iked test/CN={cn}");
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
            &subj,
            "-days",
            "3",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// ipsec.d folders with a CA (shared, or its own "iked Partner CA" when
/// `other_ca`), and a certificate + key for `name` with the given
/// subjectAltName.
pub fn pki_dir(
    tag: &str,
    key_alg: &str,
    name: &str,
    san: &str,
    days: &str,
    other_ca: bool,
) -> PathBuf {
    pki_dir_ext(tag, key_alg, name, san, days, other_ca, "")
}

/// [`pki_dir`] with more lines for the end certificate's extension file
/// (e.g. `certificatePolicies=...`); `key_alg` `rsa`, `rsa4096`, `ec`, `ec384`.
pub fn pki_dir_ext(
    tag: &str,
    key_alg: &str,
    name: &str,
    san: &str,
    days: &str,
    other_ca: bool,
    ext: &str,
) -> PathBuf {
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
            make_ca(&p, "iked Test CA");
            p
        })
        .clone();
    let ca_dir = if other_ca {
        make_ca(&d, "iked Partner CA");
        d.clone()
    } else {
        shared_ca.clone()
    };
    let subj = format!("/C=CH/O=iked test/CN={name}");
    let mut args = vec![
        "req", "-new", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", &subj,
    ];
    match key_alg {
        "rsa" => args.extend(["-newkey", "rsa:2048"]),
        "ec384" => args.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
        _ => args.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    }
    openssl(&d, &args);
    std::fs::write(
        d.join("ext.cnf"),
        format!("subjectAltName={san}\nkeyUsage=digitalSignature\n{ext}\n"),
    )
    .unwrap();
    let ca_pem = ca_dir.join("ca.pem");
    let ca_key = ca_dir.join("ca.key");
    // A serial of its own (not -CAcreateserial: parallel tests sharing the
    // CA raced on its serial file).
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let serial = format!(
        "{}{:06}",
        std::process::id(),
        SERIAL.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
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
            "-set_serial",
            &serial,
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

pub fn endpoint(conf_text: &str, secrets: &str, dir: &Path, addr: &str, seed: u64) -> Endpoint {
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
pub fn run(
    a: &mut Endpoint,
    b: &mut Endpoint,
    now: Instant,
) -> (Vec<Event>, Vec<Event>, Vec<usize>) {
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
