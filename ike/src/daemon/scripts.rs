//! Running `leftupdown=` scripts — `/bin/sh -c SCRIPT` once per local/remote
//! selector pair with strongSwan's `PLUTO_*` environment (built by
//! [`crate::updown`]) — and the `leftfirewall=yes` rules
//! ([`crate::updown::firewall`]), after the CHILD_SA is in the kernel (up)
//! and after it left it (down). A rekey continues the tunnel: the new
//! CHILD_SA takes the old one's place without a run, and `down` comes when
//! the last CHILD_SA of the line goes (as strongSwan runs updown only on
//! `child_updown`, never on a rekey). Runs happen in order on a background
//! thread; their output and exit status are logged.

use crate::crypto::SecretBytes;
use crate::sa::{ChildSaInstall, EspKeys};
use crate::updown::firewall::{self, Rule};

use crate::updown::{Extra, Verb, env};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use tracing::{debug, info, warn};

/// What a `down` run needs, kept from the `up` (keys stripped).
#[derive(Debug, Clone)]
struct Kept {
    child: Box<ChildSaInstall>,
    my_id: String,
    peer_id: String,
}

/// CHILD_SAs with an updown script or firewall rules. A "line" is a CHILD_SA
/// and its rekeyed successors, named by the first one's child id. Runs are
/// in the order of the events (an `up` before its `down`), on one background
/// thread, so the daemon's loop never waits for them.
#[derive(Debug, Default)]
pub struct Updown {
    /// By line: the newest CHILD_SA's data.
    kept: HashMap<u32, Kept>,
    /// Child id -> its line.
    lines: HashMap<u32, u32>,
    worker: Option<std::sync::mpsc::Sender<Job>>,
}

/// One script run.
struct Job {
    script: String,
    conn: String,
    vars: Vec<(String, String)>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({}, {})", self.script, self.conn)
    }
}

fn interface_of(addr: std::net::IpAddr) -> String {
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|l| l.into_iter().find(|i| i.ip() == addr).map(|i| i.name))
        .unwrap_or_default()
}

fn extra<'a>(c: &'a ChildSaInstall, my_id: &'a str, peer_id: &'a str, iface: &'a str) -> Extra<'a> {
    Extra {
        interface: iface,
        my_id,
        peer_id,
        my_sourceip: &c.my_sourceips,
        peer_sourceip: &c.peer_sourceips,
        host_access: c.host_access,
    }
}

/// The local/remote selector pairs of one family each.
fn pairs(c: &ChildSaInstall) -> impl Iterator<Item = (&crate::sa::Selector, &crate::sa::Selector)> {
    c.ts_local.iter().flat_map(move |l| {
        c.ts_remote
            .iter()
            .filter(move |r| l.start.is_ipv4() == r.start.is_ipv4())
            .map(move |r| (l, r))
    })
}

/// The environment of every run (one per selector pair).
pub fn envs(
    verb: Verb,
    c: &ChildSaInstall,
    my_id: &str,
    peer_id: &str,
    interface: &str,
) -> Vec<Vec<(String, String)>> {
    let x = extra(c, my_id, peer_id, interface);
    pairs(c).map(|(l, r)| env(verb, c, l, r, &x)).collect()
}

/// The firewall rules of a CHILD_SA (every selector pair).
fn rules(c: &ChildSaInstall, interface: &str) -> Vec<Rule> {
    let x = extra(c, "", "", interface);
    pairs(c)
        .flat_map(|(l, r)| firewall::rules(c, l, r, &x))
        .collect()
}

/// Where `iptables` / `ip6tables` live (the daemon's PATH may lack sbin).
fn tool(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| name.to_owned())
}

/// Logs a finished command's output line by line (like strongSwan's
/// `updown:` lines) and its failure; a failure is never fatal.
fn report(what: &str, conn: &str, out: std::io::Result<std::process::Output>) {
    match out {
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
                .filter(|l| !l.trim().is_empty())
            {
                info!(target: "chd", "updown: {line}");
            }
            if o.status.success() {
                debug!(target: "chd", "updown '{what}' for '{conn}' done");
            } else {
                warn!(target: "chd", "updown '{what}' for '{conn}' failed ({})", o.status);
            }
        }
        Err(e) => warn!(target: "chd", "unable to run updown '{what}' for '{conn}': {e}"),
    }
}

/// Runs one script to its end.
fn run(job: Job) {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&job.script)
        .envs(job.vars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    report(&job.script, &job.conn, out);
}

/// Inserts (up) or deletes (down) a CHILD_SA's firewall rules, each family
/// in one `iptables-restore --noflush` transaction, and waits for it: the
/// rules are in before the IKE_AUTH response leaves (responder) and before
/// `ipsec up` returns (initiator), as strongSwan's updown runs before both.
fn apply(verb: Verb, conn: &str, rules: &[Rule]) {
    for v6 in [false, true] {
        let mine: Vec<&Rule> = rules.iter().filter(|r| r.v6 == v6).collect();
        let Some(first) = mine.first() else {
            continue;
        };
        let mut input = String::from("*filter\n");
        for r in &mine {
            let args = match verb {
                Verb::Up => r.insert(),
                Verb::Down => r.delete(),
            };
            let line = args.join(" ");
            debug!(target: "chd", "{} {line}", r.tool());
            input.push_str(&line);
            input.push('\n');
        }
        input.push_str("COMMIT\n");
        let restore = format!("{}-restore", first.tool());
        let out = Command::new(tool(&restore))
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    use std::io::Write;
                    stdin.write_all(input.as_bytes())?;
                }
                child.wait_with_output()
            });
        report(&restore, conn, out);
    }
}

impl Updown {
    fn spawn(&mut self, mut job: Job) {
        if let Some(tx) = &self.worker {
            match tx.send(job) {
                Ok(()) => return,
                Err(e) => job = e.0, // the worker is gone: start another
            }
        }
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("updown".into())
            .spawn(move || {
                for j in rx {
                    run(j);
                }
            });
        match started {
            Ok(_) => {
                let _ = tx.send(job);
                self.worker = Some(tx);
            }
            Err(e) => warn!(target: "chd", "unable to start the updown thread: {e}"),
        }
    }

    /// The script runs, or firewall rules, of a CHILD_SA for one verb.
    fn jobs(&mut self, verb: Verb, c: &ChildSaInstall, my_id: &str, peer_id: &str) {
        let iface = interface_of(c.local);
        if let Some(script) = &c.updown {
            for vars in envs(verb, c, my_id, peer_id, &iface) {
                self.spawn(Job {
                    script: script.clone(),
                    conn: c.conn.clone(),
                    vars,
                });
            }
        }
        if c.firewall {
            let rules = rules(c, &iface);
            let what = match verb {
                Verb::Up => "inserting",
                Verb::Down => "deleting",
            };
            info!(target: "chd", "CHILD_SA {}{{{}}}: {what} {} firewall rules (leftfirewall=yes)", c.conn, c.child_id, rules.len());
            apply(verb, &c.conn, &rules);
        }
    }

    /// After a CHILD_SA was installed. A rekey's CHILD_SA continues its
    /// predecessor's line without a run.
    pub fn up(&mut self, c: &ChildSaInstall, my_id: &str, peer_id: &str) {
        if c.updown.is_none() && !c.firewall {
            return;
        }
        if let Some(line) = c.replaces.and_then(|old| self.lines.get(&old).copied()) {
            debug!(target: "chd", "CHILD_SA {}{{{}}} continues a rekeyed tunnel: no updown run", c.conn, c.child_id);
            self.lines.insert(c.child_id, line);
            return;
        }
        self.jobs(Verb::Up, c, my_id, peer_id);
        self.lines.insert(c.child_id, c.child_id);
        // The line keeps what its `up` ran with, so `down` undoes exactly that.
        let mut child = Box::new(c.clone());
        let empty = || EspKeys {
            encr: SecretBytes::new(Vec::new()),
            integ: SecretBytes::new(Vec::new()),
        };
        child.keys_in = empty();
        child.keys_out = empty();
        self.kept.insert(
            c.child_id,
            Kept {
                child,
                my_id: my_id.to_owned(),
                peer_id: peer_id.to_owned(),
            },
        );
    }

    /// After a CHILD_SA left the kernel: `down` when it was the last of its line.
    pub fn down(&mut self, child_id: u32) {
        let Some(line) = self.lines.remove(&child_id) else {
            return;
        };
        if self.lines.values().any(|l| *l == line) {
            return;
        }
        let Some(k) = self.kept.remove(&line) else {
            return;
        };
        self.jobs(Verb::Down, &k.child, &k.my_id, &k.peer_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_and_down_run_the_script_with_pluto_variables() {
        let dir = std::env::temp_dir().join(format!("iked-updown-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let mut c = crate::daemon::xfrm_build::tests::install(
            crate::sa::Mode::Tunnel,
            crate::crypto::Encr::ChaCha20Poly1305,
            None,
        );
        c.peer_sourceips = vec!["203.0.113.77".parse().unwrap()];
        c.updown = Some(format!(
            "echo \"$PLUTO_VERB $PLUTO_CONNECTION $PLUTO_MY_CLIENT $PLUTO_PEER_CLIENT $PLUTO_MY_ID $PLUTO_PEER_SOURCEIP ${{PLUTO_MY_SOURCEIP:-none}}\" >> {}",
            out.display()
        ));
        let mut u = Updown::default();
        u.up(&c, "moon", "sun");
        u.down(c.child_id);
        u.down(c.child_id); // once only
        let t = std::time::Instant::now();
        let mut text = String::new();
        while t.elapsed() < std::time::Duration::from_secs(10) {
            text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // in order: up before down
        assert_eq!(
            lines,
            [
                "up-client net-net 198.51.100.0/24 203.0.113.0/24 moon 203.0.113.77 none",
                "down-client net-net 198.51.100.0/24 203.0.113.0/24 moon 203.0.113.77 none"
            ]
        );
    }

    /// A rekey (and a rekey collision: two successors of one CHILD_SA, one
    /// deleted) runs nothing; `down` comes with the line's last CHILD_SA. On
    /// the old code a rekey ran up (new) then down (old): a VTI updown script
    /// deleted its interface on every rekey.
    #[test]
    fn rekeys_continue_the_tunnel_without_a_run() {
        let dir = std::env::temp_dir().join(format!("iked-updown-rk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let mut c = crate::daemon::xfrm_build::tests::install(
            crate::sa::Mode::Tunnel,
            crate::crypto::Encr::ChaCha20Poly1305,
            None,
        );
        c.updown = Some(format!("echo \"$PLUTO_VERB\" >> {}", out.display()));
        let first = c.child_id;
        let mut u = Updown::default();
        u.up(&c, "moon", "sun");
        // two successors of the first (a collision), then the loser goes
        let (mut a, mut b) = (c.clone(), c.clone());
        (a.child_id, a.replaces) = (first + 1, Some(first));
        (b.child_id, b.replaces) = (first + 2, Some(first));
        u.up(&a, "moon", "sun");
        u.up(&b, "moon", "sun");
        u.down(a.child_id);
        u.down(first);
        // a rekey of the survivor
        let mut d = c.clone();
        (d.child_id, d.replaces) = (first + 3, Some(b.child_id));
        u.up(&d, "moon", "sun");
        u.down(b.child_id);
        let before_end = std::fs::read_to_string(&out).unwrap_or_default();
        u.down(d.child_id);
        let t = std::time::Instant::now();
        let mut text = String::new();
        while t.elapsed() < std::time::Duration::from_secs(10) {
            text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let text = std::fs::read_to_string(&out).unwrap_or(text);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!before_end.contains("down"), "{before_end}");
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            ["up-client", "down-client"]
        );
    }
}
