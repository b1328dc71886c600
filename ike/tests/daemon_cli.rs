//! iked + ikectl + ipsec on the host, without tunnels: the control socket,
//! status output, reload (good and broken), a second daemon refused, garbage
//! datagrams survived, `stop` and SIGTERM.

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Lab {
    dir: PathBuf,
    port: u16,
    daemon: Option<Child>,
}

const CONF: &str = "config setup\n  charondebug=\"ike 2, cfg 2\"\n\
conn net-net\n  left=127.0.0.1\n  leftsubnet=10.1.0.0/16\n  leftid=moon\n  right=198.51.100.251\n  rightsubnet=10.2.0.0/16\n  rightid=sun\n  authby=psk\n  auto=add\n";

impl Lab {
    fn new(tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("iked-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ipsec.conf"), CONF).unwrap();
        std::fs::write(
            dir.join("ipsec.secrets"),
            "moon sun : PSK \"never-printed-4711\"\n",
        )
        .unwrap();
        // VICI in the lab's folder, never on the host's /var/run/charon.vici.
        std::fs::write(
            dir.join("strongswan.conf"),
            format!(
                "charon {{\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
                dir.join("vici").display()
            ),
        )
        .unwrap();
        // Unprivileged-looking ports, different per test process and test.
        // Two ports per lab (IKE, NAT-T), three labs per process: 20000..=37999.
        let port = 20_000
            + (std::process::id() % 3_000) as u16 * 6
            + match tag {
                "a" => 0,
                "b" => 2,
                _ => 4,
            };
        Lab {
            dir,
            port,
            daemon: None,
        }
    }
    fn ctl(&self) -> PathBuf {
        self.dir.join("ctl")
    }
    fn iked_cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iked"));
        c.arg("--config")
            .arg(self.dir.join("ipsec.conf"))
            .arg("--secrets")
            .arg(self.dir.join("ipsec.secrets"))
            .arg("--strongswan-conf")
            .arg(self.dir.join("strongswan.conf"))
            .arg("--ctl")
            .arg(self.ctl())
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--natt-port")
            .arg((self.port + 1).to_string());
        c
    }
    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join("iked.log")).unwrap();
        let child = self
            .iked_cmd()
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.ikectl(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("iked did not come up: {}", self.log());
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("iked.log")).unwrap_or_default()
    }
    fn ikectl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ikectl"))
            .arg("--ctl")
            .arg(self.ctl())
            .args(args)
            .output()
            .unwrap()
    }
    fn ipsec(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ipsec"))
            .env("IKED_CTL", self.ctl())
            .args(args)
            .output()
            .unwrap()
    }
    fn wait_exit(&mut self) -> i32 {
        let mut c = self.daemon.take().unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!("iked did not exit");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A daemon started by `ipsec start` is not our child: ask it to stop.
        if self.ctl().exists() {
            let _ = self.ikectl(&["stop"]);
        }
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn control_status_reload_and_stop() {
    let mut lab = Lab::new("a");
    lab.start();
    assert_eq!(mode(&lab.ctl()), 0o600, "control socket must be root-only");
    // Ports other than 500/4500 are said to serve answers only.
    assert!(
        lab.log()
            .contains("initiating from other ports than 500/4500 is not implemented"),
        "{}",
        lab.log()
    );

    let (out, _) = text(&lab.ikectl(&["status"]));
    assert_eq!(out, "Security Associations (0 up, 0 connecting):\n  none\n");
    let (out, _) = text(&lab.ipsec(&["status"]));
    assert_eq!(out, "Security Associations (0 up, 0 connecting):\n  none\n");
    let (out, _) = text(&lab.ipsec(&["statusall"]));
    assert!(
        out.contains("     net-net:   local:  [moon] uses pre-shared key authentication"),
        "{out}"
    );
    assert!(
        out.contains("     net-net:   child:  10.1.0.0/16 === 10.2.0.0/16 TUNNEL"),
        "{out}"
    );
    let o = lab.ikectl(&["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["conns"][0]["name"], "net-net");
    assert_eq!(j["ike_sas"].as_array().unwrap().len(), 0);

    // A second daemon on the same control socket is refused.
    let second = lab.iked_cmd().output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        text(&second).1.contains("another iked is running"),
        "{:?}",
        text(&second)
    );

    // Unknown conn.
    let o = lab.ikectl(&["up", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("no config named 'nosuch'"));
    let o = lab.ipsec(&["down", "net-net"]);
    assert_eq!(o.status.code(), Some(1));

    // Garbage on the IKE and NAT-T ports: logged drops, the daemon goes on.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in [
        &b""[..],
        b"x",
        &[0u8; 27],
        &[0xffu8; 28],
        &[0u8; 200],
        b"\x01\x02\x03\x04\x05\x06\x07\x08\0\0\0\0\0\0\0\0\x21\x20\x22\x08\0\0\0\0\0\0\0\x1c",
    ] {
        s.send_to(d, ("127.0.0.1", lab.port)).unwrap();
        s.send_to(d, ("127.0.0.1", lab.port + 1)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.ikectl(&["status"]).status.success());

    // A broken reload keeps the old configuration and lists every error.
    let conf = lab.dir.join("ipsec.conf");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .unwrap()
        .write_all(b"conn broken\n  lefsubnet=10.0.0.0/8\n  auto=sometimes\n")
        .unwrap();
    let o = lab.ipsec(&["reload"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("reload failed (2 errors), the old configuration stays in use"),
        "{err}"
    );
    assert!(err.contains("lefsubnet: unknown keyword"), "{err}");
    assert!(err.contains("auto: 'sometimes'"), "{err}");
    let (out, _) = text(&lab.ikectl(&["statusall"]));
    assert!(
        out.contains("net-net:  127.0.0.1...198.51.100.251"),
        "{out}"
    );
    assert!(!out.contains("broken"), "{out}");

    // A good reload.
    std::fs::write(
        &conf,
        format!("{CONF}conn second\n  also=net-net\n  rightsubnet=10.3.0.0/16\n"),
    )
    .unwrap();
    let o = lab.ikectl(&["reload"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(text(&o).0, "configuration reloaded: 2 conns\n");
    let (out, _) = text(&lab.ikectl(&["statusall"]));
    assert!(
        out.contains("      second:   child:  10.1.0.0/16 === 10.3.0.0/16 TUNNEL"),
        "{out}"
    );

    let (v, _) = text(&lab.ipsec(&["version"]));
    assert!(v.starts_with("Linux iked U"), "{v}");

    // stop: the daemon exits 0 and removes its socket.
    let o = lab.ipsec(&["stop"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(lab.wait_exit(), 0);
    assert!(!lab.ctl().exists());
    let log = lab.log();
    assert!(log.contains("iked stopped"), "{log}");
    assert!(!log.contains("never-printed"), "the PSK was logged:\n{log}");
    assert!(lab.ikectl(&["status"]).status.code() == Some(2));
}

#[test]
fn sigterm_stops_cleanly() {
    let mut lab = Lab::new("b");
    lab.start();
    let pid = lab.daemon.as_ref().unwrap().id();
    let k = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    assert_eq!(lab.wait_exit(), 0);
    assert!(!lab.ctl().exists());
    assert!(
        lab.log().contains("SIGTERM received, shutting down"),
        "{}",
        lab.log()
    );
}

#[test]
fn ipsec_start_restart_stop() {
    let lab = Lab::new("c");
    let env = |c: &mut Command| {
        c.env("IKED_BIN", env!("CARGO_BIN_EXE_iked"))
            .env("IKED_CTL", lab.ctl())
            .env("IKED_CONFIG", lab.dir.join("ipsec.conf"))
            .env("IKED_SECRETS", lab.dir.join("ipsec.secrets"))
            .env("STRONGSWAN_CONF", lab.dir.join("strongswan.conf"))
            .env("IKED_LOGFILE", lab.dir.join("iked.log"))
            .env(
                "IKED_ARGS",
                format!("--port {} --natt-port {}", lab.port, lab.port + 1),
            );
    };
    let ipsec = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ipsec"));
        env(&mut c);
        c.args(args).output().unwrap()
    };
    let o = ipsec(&["start"]);
    assert!(o.status.success(), "{:?} {}", text(&o), lab.log());
    assert!(text(&o).0.starts_with("Starting iked"));
    let again = ipsec(&["start"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).1.contains("already running"));
    let (out, _) = text(&ipsec(&["status"]));
    assert!(
        out.starts_with("Security Associations (0 up, 0 connecting):"),
        "{out}"
    );
    let o = ipsec(&["restart"]);
    assert!(o.status.success(), "{:?} {}", text(&o), lab.log());
    assert!(ipsec(&["status"]).status.success());
    let o = ipsec(&["stop"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(!lab.ctl().exists());
    let o = ipsec(&["stop"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("not running"));
    // A broken configuration: start fails and shows why.
    std::fs::write(lab.dir.join("ipsec.conf"), "conn a\n  auto=sometimes\n").unwrap();
    let o = ipsec(&["start"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("auto: 'sometimes'"), "{:?}", text(&o));
    assert!(!ipsec(&["bogus"]).status.success());
}
