//! strongSwan's own `swanctl` against iked's VICI socket: one iked on
//! loopback (version, stats, list-conns, list-sas, initiate/terminate
//! errors, a malformed client), and two iked in two network namespaces this
//! test creates, whose IKE_SA `swanctl --list-sas` shows field by field
//! (the host kernel has no ESP: the CHILD_SA is not installed, the IKE_SA
//! still comes up).
//!
//! Needs `swanctl` (Debian's strongswan-swanctl) and, for the namespaces,
//! root. Missing either skips with a message, and fails under `CI`.

use std::io::Write;
use std::time::{Duration, Instant};

mod vici_lab;

use vici_lab::*;

const LOOP_CONF: &str = "conn net-net\n  left=127.0.0.1\n  leftsubnet=10.1.0.0/16\n  leftid=moon\n  right=198.51.100.251\n  rightsubnet=10.2.0.0/16\n  rightid=sun\n  rightsourceip=10.3.0.0/28\n  authby=psk\n  auto=add\n";

#[test]
fn swanctl_on_loopback() {
    if !have_swanctl() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("iked-vici-lo-{}", std::process::id()));
    let port = 40_000 + (std::process::id() % 2_000) as u16 * 2;
    let d = Iked::start(
        dir,
        None,
        LOOP_CONF,
        "moon sun : PSK \"vici-never-printed\"\n",
        (port, port + 1),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.vici()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "root-only like the control socket");

    let o = d.swanctl(&["--version", "--daemon"]);
    let v = text(&o);
    assert!(o.status.success(), "{v}");
    assert!(
        v.starts_with(&format!(
            "strongSwan {} iked (Linux, ",
            env!("CARGO_PKG_VERSION")
        )),
        "{v}"
    );

    let s = text(&d.swanctl(&["--stats"]));
    assert!(s.starts_with("uptime: "), "{s}");
    assert!(s.contains("\nIKE_SAs: 0 total, 0 half-open\n"), "{s}");
    assert!(s.contains("worker threads: 3 total, 2 idle"), "{s}");

    eprintln!("swanctl --version --daemon:\n{v}\nswanctl --stats:\n{s}");
    let c = text(&d.swanctl(&["--list-conns"]));
    eprintln!("swanctl --list-conns:\n{c}");
    assert_eq!(
        c,
        "net-net: IKEv2, no reauthentication, rekeying every 10260s\n  local:  127.0.0.1\n  remote: 198.51.100.251\n  local pre-shared key authentication:\n    id: moon\n  remote pre-shared key authentication:\n    id: sun\n  net-net: TUNNEL, rekeying every 3060s\n    local:  10.1.0.0/16\n    remote: 10.2.0.0/16\n"
    );
    let o = d.swanctl(&["--list-sas"]);
    assert!(o.status.success());
    assert_eq!(text(&o), "", "no IKE_SA yet");

    let o = d.swanctl(&["--initiate", "--child", "nosuch"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("initiate failed: CHILD_SA config 'nosuch' not found"),
        "{}",
        text(&o)
    );
    let o = d.swanctl(&["--terminate", "--ike", "net-net"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("terminate failed: no matching SAs to terminate found"),
        "{}",
        text(&o)
    );
    let o = d.swanctl(&["--reload-settings"]);
    assert!(o.status.success(), "{}", text(&o));
    // A command iked does not know (list-policies): CMD_UNKNOWN, swanctl says so.
    let o = d.swanctl(&["--list-pols"]);
    assert!(!o.status.success());
    // strongSwan's commands iked does not do: a clear errmsg (charon
    // answers "no matching SAs to redirect found" here).
    let o = d.swanctl(&["--redirect", "--ike", "net-net", "--gateway", "192.0.2.5"]);
    assert!(!o.status.success());
    assert_eq!(
        text(&o),
        "redirect failed: 'redirect' is not supported by iked (no RFC 5685 redirection)\n"
    );
    let o = d.swanctl(&["--rekey", "--ike", "net-net"]);
    assert!(!o.status.success());
    assert_eq!(text(&o), "rekey failed: no matching SAs to rekey found\n");
    let o = d.swanctl(&["--rekey", "--ike", "net-net", "--reauth"]);
    assert_eq!(
        text(&o),
        "rekey failed: reauthentication is not supported by iked (it rekeys IKE_SAs in place)\n"
    );
    // swanctl --load-all without files: nothing loaded over VICI, as charon.
    let o = d.swanctl(&["--load-all", "--file", "/nonexistent/swanctl.conf", "--raw"]);
    let t = text(&o);
    assert!(t.contains("get-keys reply {keys=[]}"), "{t}");
    assert!(t.contains("get-authorities reply {authorities=[]}"), "{t}");
    // The conn's pool, nothing leased. (swanctl's table finds the values by
    // a dotted path, so a pool named by its address shows only the name;
    // the raw answer has them.)
    let o = d.swanctl(&["--list-pools", "--raw"]);
    eprintln!("swanctl --list-pools --raw:\n{}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o),
        "get-pools reply {10.3.0.0/28 {base=10.3.0.0 size=14 online=0 offline=0}}\n"
    );
    // Certificates iked loads from its ipsec.d (made here with openssl).
    let ipsec_d = d.dir.join("ipsec.d");
    for sub in ["cacerts", "certs"] {
        std::fs::create_dir_all(ipsec_d.join(sub)).unwrap();
    }
    let o = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(ipsec_d.join("ca.key"))
        .arg("-out")
        .arg(ipsec_d.join("cacerts/ca.pem"))
        .args(["-days", "2", "-subj", "/C=CH/O=iked lab/CN=iked lab CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // An end-entity certificate whose key ipsec.secrets names (after a
    // reload): has_privkey.
    std::fs::create_dir_all(ipsec_d.join("private")).unwrap();
    let o = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes"])
        .arg("-keyout")
        .arg(ipsec_d.join("private/moon.key"))
        .arg("-out")
        .arg(ipsec_d.join("certs/moon.pem"))
        .args(["-days", "2", "-subj", "/C=CH/O=iked lab/CN=moon"])
        .args(["-addext", "basicConstraints=CA:FALSE"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(
        d.dir.join("ipsec.secrets"),
        "moon sun : PSK \"vici-never-printed\"\n: ECDSA moon.key\n",
    )
    .unwrap();
    let o = d.swanctl(&["--reload-settings"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.swanctl(&["--list-certs", "--raw"]);
    let raw = text(&o);
    let events: Vec<&str> = raw
        .lines()
        .filter(|l| l.starts_with("list-cert event"))
        .collect();
    assert_eq!(events.len(), 2, "{raw}");
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("list-cert event {type=X509 flag=CA data=")),
        "{raw}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("list-cert event {type=X509 flag=NONE has_privkey=yes data=")),
        "{raw}"
    );
    let o = d.swanctl(&["--list-certs"]);
    let certs = text(&o);
    eprintln!("swanctl --list-certs:\n{certs}");
    assert!(o.status.success(), "{certs}");
    assert!(certs.contains("List of X.509 CA Certificates"), "{certs}");
    assert!(
        certs.contains("  subject:  \"C=CH, O=iked lab, CN=iked lab CA\""),
        "{certs}"
    );
    assert!(
        certs.contains("List of X.509 End Entity Certificates"),
        "{certs}"
    );
    assert!(
        certs.contains("  subject:  \"C=CH, O=iked lab, CN=moon\""),
        "{certs}"
    );
    assert!(
        certs.contains("  pubkey:    ECDSA 256 bits, has private key\n"),
        "{certs}"
    );
    assert_eq!(
        certs.matches("has private key").count(),
        1,
        "not the CA's: {certs}"
    );

    // A malformed packet ends that client, not the daemon.
    let mut s = std::os::unix::net::UnixStream::connect(d.vici()).unwrap();
    s.write_all(&[0, 0, 0, 3, 0, 9, b'x']).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 8];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection closed without an answer");
    let mut s = std::os::unix::net::UnixStream::connect(d.vici()).unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "an oversized length is refused");
    assert!(d.swanctl(&["--stats"]).status.success());
    let log = d.log();
    assert!(
        log.contains("vici client dropped: malformed packet"),
        "{log}"
    );
    assert!(
        !log.contains("vici-never-printed"),
        "the PSK is never logged"
    );
}

#[test]
fn swanctl_shows_an_iked_ike_sa() {
    if !have_swanctl() {
        return;
    }
    if !is_root() {
        assert!(!ci(), "network namespaces need root");
        eprintln!("SKIPPED: not root");
        return;
    }
    let ns = Netns::new("sa");
    let secrets = "moon sun : PSK \"vici-lab-secret-0815\"\n";
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let a = Iked::start(
        tmp.join(format!("iked-vici-a-{pid}")),
        Some(&ns.names[0]),
        &conf(
            "192.0.2.1",
            "192.0.2.2",
            "moon",
            "sun",
            "10.1.0.0/16",
            "10.2.0.0/16",
        ),
        secrets,
        (500, 4500),
    );
    let b = Iked::start(
        tmp.join(format!("iked-vici-b-{pid}")),
        Some(&ns.names[1]),
        &conf(
            "192.0.2.2",
            "192.0.2.1",
            "sun",
            "moon",
            "10.2.0.0/16",
            "10.1.0.0/16",
        ),
        secrets,
        (500, 4500),
    );
    let o = a.swanctl(&["--initiate", "--child", "gw", "--timeout", "20"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", a.log());
    assert!(out.contains("initiate completed successfully"), "{out}");

    let sas = text(&a.swanctl(&["--list-sas"]));
    eprintln!("swanctl --initiate --child gw:\n{out}\nswanctl --list-sas (initiator):\n{sas}");
    let lines: Vec<&str> = sas.lines().collect();
    // gw: #1, ESTABLISHED, IKEv2, 0dcfa4e9bf4f0700_i* 85f9d7fc498e8bb3_r
    let head = lines[0];
    assert!(head.starts_with("gw: #1, ESTABLISHED, IKEv2, "), "{sas}");
    let spis: Vec<&str> = head["gw: #1, ESTABLISHED, IKEv2, ".len()..]
        .split(' ')
        .collect();
    assert!(spis[0].ends_with("_i*"), "initiator marked: {sas}");
    assert!(spis[1].ends_with("_r"), "{sas}");
    assert_eq!(spis[0].len(), 16 + 3, "{sas}");
    assert_eq!(lines[1], "  local  'moon' @ 192.0.2.1[500]", "{sas}");
    assert_eq!(lines[2], "  remote 'sun' @ 192.0.2.2[500]", "{sas}");
    assert_eq!(
        lines[3], "  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
        "{sas}"
    );
    assert!(lines[4].starts_with("  established "), "{sas}");
    assert!(lines[4].contains("s ago, rekeying in "), "{sas}");

    // The responder's view: same SPIs, not the initiator.
    let rsas = text(&b.swanctl(&["--list-sas"]));
    eprintln!("swanctl --list-sas (responder):\n{rsas}");
    let rhead = rsas.lines().next().unwrap_or_default();
    let i_spi = spis[0].trim_end_matches('*');
    assert!(
        rhead.contains(&format!("{i_spi} {}", spis[1].replace("_r", "_r*"))),
        "{rsas}"
    );
    assert!(rsas.contains("  local  'sun' @ 192.0.2.2[500]"), "{rsas}");
    // filters: by name and unique id
    // (The times, "established Ns ago", may tick between the two calls.)
    let untimed = |s: &str| {
        s.lines()
            .filter(|l| !l.contains(" ago") && !l.contains(" in "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        untimed(&text(&a.swanctl(&["--list-sas", "--ike", "gw"]))),
        untimed(&sas)
    );
    assert_eq!(text(&a.swanctl(&["--list-sas", "--ike", "other"])), "");
    let st = text(&a.swanctl(&["--stats"]));
    assert!(st.contains("IKE_SAs: 1 total, 0 half-open"), "{st}");

    // swanctl --rekey --ike: a real IKE_SA rekey (CREATE_CHILD_SA): both
    // ends show the new SPIs. (A peer refuses a rekey in an IKE_SA's first 2 s.)
    std::thread::sleep(Duration::from_millis(2_100));
    let o = a.swanctl(&["--rekey", "--ike", "gw"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}\n{}", a.log());
    assert_eq!(out, "rekey completed successfully\n");
    let spi_pair = |sas: &str| {
        let head = sas.lines().next().unwrap_or_default().to_owned();
        head.split(", ").last().unwrap_or_default().replace('*', "")
    };
    let old = spi_pair(&sas);
    let t = Instant::now();
    let mut now_a = old.clone();
    while t.elapsed() < Duration::from_secs(10) && now_a == old {
        std::thread::sleep(Duration::from_millis(100));
        now_a = spi_pair(&text(&a.swanctl(&["--list-sas"])));
    }
    let now_b = spi_pair(&text(&b.swanctl(&["--list-sas"])));
    eprintln!(
        "swanctl --rekey --ike gw: {out}IKE SPIs before: {old}\n after (initiator): {now_a}\n after (responder): {now_b}"
    );
    assert_ne!(now_a, old, "new IKE SPIs after the rekey\n{}", a.log());
    assert_eq!(now_a, now_b, "both ends agree");
    assert!(a.log().contains("rekeying IKE_SA gw["), "{}", a.log());
    let st = text(&a.swanctl(&["--stats"]));
    assert!(
        st.contains("IKE_SAs: 1 total, 0 half-open"),
        "the old one is gone: {st}"
    );
    // No CHILD_SA on the host kernel (no ESP): nothing to rekey there.
    let o = a.swanctl(&["--rekey", "--child", "gw"]);
    assert_eq!(text(&o), "rekey failed: no matching SAs to rekey found\n");

    let o = a.swanctl(&["--terminate", "--ike", "gw", "--timeout", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("terminate completed successfully"),
        "{}",
        text(&o)
    );
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) && !text(&b.swanctl(&["--list-sas"])).is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(text(&a.swanctl(&["--list-sas"])), "");
    assert_eq!(
        text(&b.swanctl(&["--list-sas"])),
        "",
        "the peer deleted it too"
    );
    drop(a);
    drop(b);
    drop(ns);
}
