//! What the VICI tests share: Debian's `swanctl`, an iked with its own
//! folder (maybe in a network namespace), two namespaces on a veth pair.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Skips (or fails under CI) without swanctl.
pub fn have_swanctl() -> bool {
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

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    })
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One iked with its own folder (configuration, sockets, log), maybe in a
/// network namespace.
pub struct Iked {
    pub dir: PathBuf,
    pub ns: Option<String>,
    pub child: Option<Child>,
}

impl Iked {
    pub fn start(
        dir: PathBuf,
        ns: Option<&str>,
        conf: &str,
        secrets: &str,
        ports: (u16, u16),
    ) -> Iked {
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
        // its own (empty) ipsec.d, not the host's /etc/ipsec.d
        c.env("IKED_IPSEC_D", dir.join("ipsec.d"));
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

    pub fn vici(&self) -> PathBuf {
        self.dir.join("vici")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("iked.log")).unwrap_or_default()
    }

    /// `swanctl COMMAND --uri unix://<this iked's socket> ARGS` (the
    /// command option first, as swanctl wants it).
    pub fn swanctl(&self, args: &[&str]) -> Output {
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

    pub fn stop(&mut self) {
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

/// Two namespaces joined by a veth pair, deleted on drop.
pub struct Netns {
    pub names: [String; 2],
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
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

pub fn conf(left: &str, right: &str, lid: &str, rid: &str, lnet: &str, rnet: &str) -> String {
    format!(
        "conn gw\n  left={left}\n  leftsubnet={lnet}\n  leftid={lid}\n  right={right}\n  rightsubnet={rnet}\n  rightid={rid}\n  authby=psk\n  ike=aes256-sha256-modp2048!\n  esp=aes128-sha256!\n  auto=add\n"
    )
}
