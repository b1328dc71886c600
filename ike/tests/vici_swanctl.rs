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
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Skips (or fails under CI) without swanctl.
fn have_swanctl() -> bool {
    // (swanctl --version without a daemon exits 2: only look for the binary)
    let ok = Command::new("swanctl").arg("--help").output().is_ok();
    if !ok {
        assert!(
            !ci(),
            "swanctl missing (apt-get install strongswan-swanctl)"
        );
        eprintln!("SKIPPED: swanctl missing");
    }
    ok
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    })
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One iked with its own folder (configuration, sockets, log), maybe in a
/// network namespace.
struct Iked {
    dir: PathBuf,
    ns: Option<String>,
    child: Option<Child>,
}

impl Iked {
    fn start(dir: PathBuf, ns: Option<&str>, conf: &str, secrets: &str, ports: (u16, u16)) -> Iked {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ipsec.conf"), conf).unwrap();
        std::fs::write(dir.join("ipsec.secrets"), secrets).unwrap();
        std::fs::write(
            dir.join("strongswan.conf"),
            format!(
                "charon {{\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
                dir.join("vici").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("iked.log")).unwrap();
        let mut c = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_iked")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_iked")),
        };
        c.arg("--config")
            .arg(dir.join("ipsec.conf"))
            .arg("--secrets")
            .arg(dir.join("ipsec.secrets"))
            .arg("--strongswan-conf")
            .arg(dir.join("strongswan.conf"))
            .arg("--ctl")
            .arg(dir.join("ctl"))
            .arg("--port")
            .arg(ports.0.to_string())
            .arg("--natt-port")
            .arg(ports.1.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = c.spawn().unwrap();
        let mut me = Iked {
            dir,
            ns: ns.map(str::to_owned),
            child: Some(child),
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if me.swanctl(&["--stats"]).status.success() {
                return me;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = me.log();
        me.stop();
        panic!("iked's VICI socket did not come up: {log}");
    }

    fn vici(&self) -> PathBuf {
        self.dir.join("vici")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("iked.log")).unwrap_or_default()
    }

    /// `swanctl COMMAND --uri unix://<this iked's socket> ARGS` (the
    /// command option first, as swanctl wants it).
    fn swanctl(&self, args: &[&str]) -> Output {
        let uri = format!("unix://{}", self.vici().display());
        Command::new("timeout")
            .arg("30")
            .arg("swanctl")
            .arg(args[0])
            .arg("--uri")
            .arg(&uri)
            .args(&args[1..])
            .output()
            .unwrap()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM by PID (through `ip netns exec`, which execs iked).
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Iked {
    fn drop(&mut self) {
        self.stop();
        let _ = self.ns.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LOOP_CONF: &str = "conn net-net\n  left=127.0.0.1\n  leftsubnet=10.1.0.0/16\n  leftid=moon\n  right=198.51.100.251\n  rightsubnet=10.2.0.0/16\n  rightid=sun\n  authby=psk\n  auto=add\n";

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
    // A command iked does not know: CMD_UNKNOWN, swanctl says so.
    let o = d.swanctl(&["--list-pools"]);
    assert!(!o.status.success());

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

/// Two namespaces joined by a veth pair, deleted on drop.
struct Netns {
    names: [String; 2],
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let names = [
            format!("vici-{tag}-a-{}", std::process::id()),
            format!("vici-{tag}-b-{}", std::process::id()),
        ];
        let ip = |args: &[&str]| {
            let o = Command::new("ip").args(args).output().unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", text(&o));
        };
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            ip(&["netns", "add", n]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        let me = Netns { names };
        let [a, b] = &me.names;
        ip(&[
            "link", "add", "vva", "netns", a, "type", "veth", "peer", "name", "vvb", "netns", b,
        ]);
        ip(&["-n", a, "addr", "add", "192.0.2.1/24", "dev", "vva"]);
        ip(&["-n", b, "addr", "add", "192.0.2.2/24", "dev", "vvb"]);
        ip(&["-n", a, "link", "set", "vva", "up"]);
        ip(&["-n", b, "link", "set", "vvb", "up"]);
        me
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn conf(left: &str, right: &str, lid: &str, rid: &str, lnet: &str, rnet: &str) -> String {
    format!(
        "conn gw\n  left={left}\n  leftsubnet={lnet}\n  leftid={lid}\n  right={right}\n  rightsubnet={rnet}\n  rightid={rid}\n  authby=psk\n  ike=aes256-sha256-modp2048!\n  esp=aes128-sha256!\n  auto=add\n"
    )
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
    assert_eq!(text(&a.swanctl(&["--list-sas", "--ike", "gw"])), sas);
    assert_eq!(text(&a.swanctl(&["--list-sas", "--ike", "other"])), "");
    let st = text(&a.swanctl(&["--stats"]));
    assert!(st.contains("IKE_SAs: 1 total, 0 half-open"), "{st}");

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
