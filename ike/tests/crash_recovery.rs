//! After `kill -9`, the next iked removes exactly what its predecessor
//! installed (its journal beside the control socket) and nothing else: in a
//! network namespace this test creates, iked's `auto=route` trap policies
//! (the host kernel has no ESP, but policies it has) outlive a killed iked,
//! a restarted iked removes them, and a hand-made `ip xfrm` policy survives
//! both.
//!
//! Needs root; without it the test is skipped (and fails under `CI`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    })
}

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The namespace and folder of the test, removed however it ends.
struct Lab {
    ns: String,
    dir: PathBuf,
    daemon: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn policies(&self) -> String {
        ip(&["-n", &self.ns, "xfrm", "policy", "list"])
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("iked.log")).unwrap_or_default()
    }

    /// Starts iked in the namespace with `auto` for its one conn; waits for its control socket.
    fn start(&mut self, auto: &str) {
        std::fs::write(
            self.dir.join("ipsec.conf"),
            format!(
                "conn net\n  left=192.0.2.1\n  leftsubnet=10.1.0.0/16\n  right=192.0.2.2\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  auto={auto}\n"
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("iked.log"))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_iked")])
            .arg("--config")
            .arg(self.dir.join("ipsec.conf"))
            .arg("--secrets")
            .arg(self.dir.join("ipsec.secrets"))
            .arg("--strongswan-conf")
            .arg(self.dir.join("strongswan.conf"))
            .arg("--ctl")
            .arg(self.dir.join("ctl"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let ok = Command::new(env!("CARGO_BIN_EXE_ikectl"))
                .arg("--ctl")
                .arg(self.dir.join("ctl"))
                .arg("status")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("iked did not come up: {}", self.log());
    }

    /// Waits (bounded) until the policy list satisfies `f`.
    fn wait_policies(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let p = self.policies();
            if f(&p) {
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}:\n{}\niked's log:\n{}", self.policies(), self.log());
    }

    fn kill9(&mut self) {
        let mut c = self.daemon.take().unwrap();
        Command::new("kill")
            .args(["-9", &c.id().to_string()])
            .status()
            .unwrap();
        c.wait().unwrap();
    }

    fn sigterm(&mut self) {
        let mut c = self.daemon.take().unwrap();
        Command::new("kill")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if c.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!("iked did not stop: {}", self.log());
    }
}

#[test]
fn a_killed_ikeds_kernel_state_is_removed_by_the_next_and_nothing_else() {
    if !is_root() {
        assert!(!ci(), "needs root");
        eprintln!("SKIPPED: needs root");
        return;
    }
    let ns = format!("iked-crash-{}", std::process::id());
    let dir = std::env::temp_dir().join(&ns);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut lab = Lab {
        ns: ns.clone(),
        dir: dir.clone(),
        daemon: None,
    };
    ip(&["netns", "add", &ns]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    ip(&["-n", &ns, "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    std::fs::write(dir.join("ipsec.secrets"), ": PSK \"crash-test-psk\"\n").unwrap();
    std::fs::write(
        dir.join("strongswan.conf"),
        format!(
            "charon {{\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
            dir.join("vici").display()
        ),
    )
    .unwrap();
    // The administrator's own policy.
    ip(&[
        "-n",
        &ns,
        "xfrm",
        "policy",
        "add",
        "src",
        "198.51.100.77/32",
        "dst",
        "203.0.113.77/32",
        "dir",
        "out",
        "action",
        "allow",
    ]);
    let ours = |p: &str| p.contains("src 10.1.0.0/16 dst 10.2.0.0/16");
    let admins = |p: &str| p.contains("src 198.51.100.77/32 dst 203.0.113.77/32");

    lab.start("route");
    lab.wait_policies("iked's trap policies", |p| ours(p) && admins(p));
    lab.kill9();
    let after_kill = lab.policies();
    assert!(
        ours(&after_kill),
        "a killed iked leaves its policies: {after_kill}"
    );
    assert!(dir.join("ctl.xfrm").exists());

    // The next iked has no routed conn: it must remove its predecessor's traps.
    lab.start("add");
    let p = lab.wait_policies("the old traps removed", |p| !ours(p));
    assert!(admins(&p), "the administrator's policy stays: {p}");
    assert!(
        lab.log()
            .contains("policies a previous iked left in the kernel"),
        "{}",
        lab.log()
    );
    // A clean stop leaves nothing behind, the journal included.
    lab.sigterm();
    assert!(!dir.join("ctl.xfrm").exists());
    assert!(admins(&lab.policies()));

    // auto=route after a crash: the traps come back, once.
    lab.start("route");
    lab.wait_policies("traps installed", ours);
    lab.kill9();
    lab.start("route");
    let p = lab.wait_policies("traps again after the restart", ours);
    assert_eq!(
        p.matches("src 10.1.0.0/16 dst 10.2.0.0/16").count(),
        after_kill
            .matches("src 10.1.0.0/16 dst 10.2.0.0/16")
            .count(),
        "{p}"
    );
    lab.sigterm();
}
