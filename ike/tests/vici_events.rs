//! Debian's `swanctl` against iked's VICI events, between two iked in two
//! network namespaces this test creates: `--initiate` prints iked's log
//! lines (control-log), `--monitor-sa` sees the IKE_SAs come and go
//! (ike-updown), `--log` sees every line (log), and `--terminate --ike-id`
//! closes one IKE_SA of a conn and leaves the other (the host kernel has no
//! ESP: CHILD_SAs are not installed, the IKE_SAs still come up).
//!
//! Needs `swanctl` and root; missing either skips, and fails under `CI`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod vici_lab;

use vici_lab::*;

/// A `swanctl` that runs until killed (by PID), its output in a file.
struct Watcher {
    child: Option<Child>,
    out: std::path::PathBuf,
}

impl Watcher {
    fn start(d: &Iked, cmd: &str) -> Watcher {
        let out = d.dir.join(format!("{}.out", cmd.trim_start_matches('-')));
        let f = std::fs::File::create(&out).unwrap();
        let uri = format!("unix://{}", d.vici().display());
        // line-buffered: swanctl's stdout into a file is block-buffered
        let child = Command::new("stdbuf")
            .args(["-oL", "swanctl", cmd, "--uri", &uri])
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Watcher {
            child: Some(child),
            out,
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits (bounded) until the output contains `what`.
    fn wait_for(&self, what: &str, d: &Iked) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let s = self.text();
            if s.contains(what) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "'{what}' not seen:\n{}\niked's log:\n{}",
            self.text(),
            d.log()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (bounded) until the VICI socket has registered clients: swanctl
/// registers right after it connects.
fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn swanctl_sees_iked_events() {
    if !have_swanctl() {
        return;
    }
    if !is_root() {
        assert!(!ci(), "network namespaces need root");
        eprintln!("SKIPPED: not root");
        return;
    }
    let ns = Netns::new("ev");
    // Two conns to one peer with their own identities: two IKE_SAs.
    let secrets = "moon sun : PSK \"vici-events-secret-4711\"\nmoon2 sun2 : PSK \"vici-events-secret-4712\"\n";
    let two = |l: &str, r: &str, lid: &str, rid: &str, flip: bool| {
        let (n1, n2, n3, n4) = if flip {
            ("10.2.0.0/16", "10.1.0.0/16", "10.4.0.0/16", "10.3.0.0/16")
        } else {
            ("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16")
        };
        format!(
            "{}{}",
            conf(l, r, lid, rid, n1, n2),
            conf(l, r, &format!("{lid}2"), &format!("{rid}2"), n3, n4)
                .replace("conn gw", "conn gw2")
        )
    };
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let a = Iked::start(
        tmp.join(format!("iked-vici-ev-a-{pid}")),
        Some(&ns.names[0]),
        &two("192.0.2.1", "192.0.2.2", "moon", "sun", false),
        secrets,
        (500, 4500),
    );
    let b = Iked::start(
        tmp.join(format!("iked-vici-ev-b-{pid}")),
        Some(&ns.names[1]),
        &two("192.0.2.2", "192.0.2.1", "sun", "moon", true),
        secrets,
        (500, 4500),
    );
    let monitor = Watcher::start(&a, "--monitor-sa");
    let log = Watcher::start(&a, "--log");
    let bmon = Watcher::start(&b, "--monitor-sa");
    settle();

    // control-log: swanctl prints iked's lines of gw while it comes up.
    let o = a.swanctl(&["--initiate", "--ike", "gw", "--timeout", "20"]);
    let out = text(&o);
    eprintln!("swanctl --initiate --ike gw:\n{out}");
    assert!(o.status.success(), "{out}\n{}", a.log());
    assert!(
        out.contains("[IKE] initiating IKE_SA gw[1] to 192.0.2.2"),
        "{out}"
    );
    assert!(
        out.contains("[IKE] IKE_SA gw[1] established between"),
        "{out}"
    );
    assert!(out.ends_with("initiate completed successfully\n"), "{out}");

    // ike-updown on both sides.
    let m = monitor.wait_for("gw: #1, ESTABLISHED, IKEv2", &a);
    eprintln!("swanctl --monitor-sa (initiator):\n{m}");
    let bm = bmon.wait_for("gw: #1, ESTABLISHED, IKEv2", &b);
    eprintln!("swanctl --monitor-sa (responder):\n{bm}");
    assert!(m.contains("  local  'moon' @ 192.0.2.1[500]"), "{m}");
    // log: every line, with its group.
    let l = log.wait_for("IKE_SA gw[1] established between", &a);
    assert!(
        l.contains("[IKE] initiating IKE_SA gw[1] to 192.0.2.2"),
        "{l}"
    );
    assert!(!l.contains("vici-events-secret"), "no secret in the log");

    // A second IKE_SA (another conn to the same peer), then terminate only
    // the first by its unique id.
    let o = a.swanctl(&["--initiate", "--ike", "gw2", "--timeout", "20"]);
    assert!(o.status.success(), "{}", text(&o));
    monitor.wait_for("gw2: #2, ESTABLISHED, IKEv2", &a);
    let sas = text(&a.swanctl(&["--list-sas"]));
    assert!(
        sas.contains("gw: #1, ESTABLISHED") && sas.contains("gw2: #2, ESTABLISHED"),
        "{sas}"
    );

    let o = a.swanctl(&["--terminate", "--ike-id", "1", "--timeout", "20"]);
    let out = text(&o);
    eprintln!("swanctl --terminate --ike-id 1:\n{out}");
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[IKE] deleting IKE_SA gw[1] between 192.0.2.1...192.0.2.2"),
        "{out}"
    );
    assert!(out.ends_with("terminate completed successfully\n"), "{out}");
    let sas = text(&a.swanctl(&["--list-sas"]));
    eprintln!("swanctl --list-sas after terminating #1:\n{sas}");
    assert!(!sas.contains("gw: #1,"), "{sas}");
    assert!(
        sas.contains("gw2: #2, ESTABLISHED"),
        "the other IKE_SA stays: {sas}"
    );
    let m = monitor.wait_for("gw: #1, DELETING", &a);
    eprintln!("swanctl --monitor-sa after the terminate:\n{m}");
    // the responder saw the peer's DELETE
    bmon.wait_for("gw: #1, DELETING", &b);

    // Unknown ids and a CHILD_SA that is not installed (no ESP here).
    let o = a.swanctl(&["--terminate", "--ike-id", "1"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no matching SAs to terminate found"),
        "{}",
        text(&o)
    );
    let o = a.swanctl(&["--terminate", "--child-id", "77"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no matching SAs to terminate found"),
        "{}",
        text(&o)
    );

    // ikectl's strongSwan syntax: gw2[2] closes the last one; gw[2] is no such SA.
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.names[0], env!("CARGO_BIN_EXE_ikectl")])
        .arg("--ctl")
        .arg(a.dir.join("ctl"))
        .args(["down", "gw[2]"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(text(&o), "no IKE_SA gw[2] found\n");
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.names[0], env!("CARGO_BIN_EXE_ikectl")])
        .arg("--ctl")
        .arg(a.dir.join("ctl"))
        .args(["down", "gw2[2]"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), "IKE_SA gw2[2] closed successfully\n");
    monitor.wait_for("gw2: #2, DELETING", &a);
    assert_eq!(text(&a.swanctl(&["--list-sas"])), "");

    drop(monitor);
    drop(log);
    drop(bmon);
    drop(a);
    drop(b);
    drop(ns);
}
