//! strongswan.conf's loggers write what charon's would: a `filelog` file
//! (time_format, append = no, ike_name, per-subsystem levels), a `syslog`
//! facility (a datagram to the syslog socket) and the journal (systemd's
//! native protocol with charon-systemd's fields), and under systemd without
//! loggers the journal is the default. The test plays syslogd and journald
//! (datagram sockets handed to iked by IKED_SYSLOG_SOCKET /
//! IKED_JOURNAL_SOCKET); iked runs in a network namespace of its own
//! (`unshare -n`, loopback only) and initiates towards 127.0.0.2, where
//! nobody answers.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    dir: PathBuf,
    child: std::process::Child,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts iked with `sw` as strongswan.conf, brings up `net-net` towards a
/// peer that never answers (two quick retransmits) and waits for the outcome.
fn run(tag: &str, sw: &str, setup: impl FnOnce(&Path, &mut Command)) -> Run {
    let dir = std::env::temp_dir().join(format!("iked-loggers-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ipsec.conf"),
        "conn net-net\n  left=127.0.0.1\n  right=127.0.0.2\n  leftid=moon\n  rightid=sun\n  authby=psk\n  auto=add\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ipsec.secrets"),
        "moon sun : PSK \"never-printed\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("strongswan.conf"),
        sw.replace("DIR", dir.to_str().unwrap()),
    )
    .unwrap();
    // Its own network namespace: ports 500/4500 on a loopback of its own.
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(dir.join("ipsec.conf"))
        .arg("--secrets")
        .arg(dir.join("ipsec.secrets"))
        .arg("--strongswan-conf")
        .arg(dir.join("strongswan.conf"))
        .arg("--ctl")
        .arg(dir.join("ctl"))
        .env("IKED_IPSEC_D", dir.join("ipsec.d"))
        .env_remove("JOURNAL_STREAM")
        .env_remove("IKED_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    setup(&dir, &mut cmd);
    let child = cmd.spawn().unwrap();
    let r = Run { dir, child };
    let t = Instant::now();
    while !r.dir.join("ctl").exists() {
        assert!(t.elapsed() < Duration::from_secs(15), "iked did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let up = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("--ctl")
        .arg(r.dir.join("ctl"))
        .args(["up", "net-net"])
        .output()
        .unwrap();
    assert!(!up.status.success(), "nobody answers: {up:?}");
    r
}

/// Every datagram on `sock` until it is quiet for a second.
fn datagrams(sock: &UnixDatagram) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while out.len() < 10_000 {
        match sock.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

const SW: &str = "charon {
  plugins {
    vici {
      socket = unix://DIR/vici
    }
  }
  retransmit_timeout = 0.2
  retransmit_base = 1
  retransmit_tries = 2
  filelog {
    iked {
      path = DIR/iked.log
      time_format = %T
      append = no
      ike_name = yes
      default = 1
      cfg = -1
    }
  }
  syslog {
    daemon {
      ike_name = yes
      default = 0
      ike = 1
    }
  }
  journal {
    default = 1
    ike = 2
  }
}
";

#[test]
fn filelog_syslog_and_journal_write_what_their_levels_let_through() {
    let mut socks = None;
    let r = run("all", SW, |dir, cmd| {
        std::fs::write(dir.join("iked.log"), "OLD LINE\n").unwrap();
        let j = UnixDatagram::bind(dir.join("journal")).unwrap();
        let s = UnixDatagram::bind(dir.join("syslog")).unwrap();
        cmd.env("IKED_JOURNAL_SOCKET", dir.join("journal"))
            .env("IKED_SYSLOG_SOCKET", dir.join("syslog"))
            .stderr(Stdio::null());
        socks = Some((j, s));
    });
    let (j, s) = socks.unwrap();
    let (journal, syslog) = (datagrams(&j), datagrams(&s));
    let file = std::fs::read_to_string(r.dir.join("iked.log")).unwrap();

    // filelog: truncated (append = no), "HH:MM:SS NN[IKE] <net-net|1> ...".
    assert!(!file.contains("OLD LINE"), "{file}");
    let retransmit = file
        .lines()
        .find(|l| l.contains("[IKE] <net-net|1> retransmit 1 of request with message ID 0"))
        .unwrap_or_else(|| panic!("{file}"));
    let (time, _) = retransmit.split_once(' ').unwrap();
    assert!(
        time.len() == 8 && time.as_bytes()[2] == b':',
        "{retransmit}"
    );
    assert!(!file.contains("[CFG]"), "cfg = -1 silences it: {file}");
    assert!(!file.contains("never-printed"), "{file}");

    // The journal: charon-systemd's fields; ike = 2 lets debug lines through.
    let line = journal
        .iter()
        .find(|d| d.contains("MESSAGE=retransmit 1 of request"))
        .unwrap_or_else(|| panic!("{journal:#?}"));
    for f in [
        "PRIORITY=6\n",
        "LEVEL=1\n",
        "GROUP=IKE\n",
        "IKE_SA_NAME=net-net\n",
        "IKE_SA_UNIQUE_ID=1\n",
        "SYSLOG_IDENTIFIER=iked\n",
    ] {
        assert!(line.contains(f), "{f} not in {line}");
    }
    assert!(
        journal.iter().any(|d| d.contains("GROUP=CFG\n")),
        "{journal:#?}"
    );
    assert!(
        journal
            .iter()
            .any(|d| d.contains("PRIORITY=7\n") && d.contains("LEVEL=2\n")),
        "ike = 2: debug lines, priority debug: {journal:#?}"
    );
    assert!(!file.contains("LEVEL=2"));

    // syslog: daemon.info (3 * 8 + 6), "iked[PID]: NN[IKE] <net-net|1> ...";
    // default = 0 keeps cfg's info lines out.
    let pid = r.child.id();
    let sl = syslog
        .iter()
        .find(|d| d.contains("retransmit 1 of request"))
        .unwrap_or_else(|| panic!("{syslog:#?}"));
    assert!(sl.starts_with("<30>"), "{sl}");
    assert!(sl.contains(&format!(" iked[{pid}]: ")), "{sl}");
    assert!(sl.contains("[IKE] <net-net|1> retransmit 1"), "{sl}");
    // default = 0: cfg's warnings (level 0) pass, its info lines do not.
    assert!(
        syslog
            .iter()
            .any(|d| d.contains("[CFG] ") && d.contains("chmod 600")),
        "{syslog:#?}"
    );
    assert!(
        !syslog.iter().any(|d| d.contains("loaded 0 CA certificate")),
        "{syslog:#?}"
    );
    assert!(
        journal
            .iter()
            .any(|d| d.contains("loaded 0 CA certificate")),
        "{journal:#?}"
    );
    assert!(
        journal
            .iter()
            .chain(&syslog)
            .all(|d| !d.contains("never-printed"))
    );
}

#[test]
fn under_systemd_the_journal_is_the_default_logger() {
    let mut sock = None;
    let r = run(
        "systemd",
        "charon {\n  plugins {\n    vici {\n      socket = unix://DIR/vici\n    }\n  }\n  retransmit_timeout = 0.2\n  retransmit_base = 1\n  retransmit_tries = 2\n}\n",
        |dir, cmd| {
            use std::os::unix::fs::MetadataExt;
            let err = std::fs::File::create(dir.join("stderr")).unwrap();
            let m = err.metadata().unwrap();
            sock = Some(UnixDatagram::bind(dir.join("journal")).unwrap());
            // systemd names the stream it connected to stderr.
            cmd.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
                .env("IKED_JOURNAL_SOCKET", dir.join("journal"))
                .stderr(err);
        },
    );
    let journal = datagrams(sock.as_ref().unwrap());
    let line = journal
        .iter()
        .find(|d| d.contains("MESSAGE=retransmit 1 of request"))
        .unwrap_or_else(|| panic!("{journal:#?}"));
    assert!(line.contains("IKE_SA_NAME=net-net\n"), "{line}");
    let stderr = std::fs::read_to_string(r.dir.join("stderr")).unwrap();
    assert!(
        !stderr.contains("retransmit 1 of request"),
        "the lines go to the journal only, not twice: {stderr}"
    );
}
