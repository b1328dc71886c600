//! Running `leftupdown=` scripts: `/bin/sh -c SCRIPT` once per local/remote
//! selector pair with strongSwan's `PLUTO_*` environment (built by
//! [`crate::updown`]), after the CHILD_SA is in the kernel (up) and after it
//! left it (down). Scripts run in order on a background thread; their output
//! and exit status are logged.

use crate::crypto::SecretBytes;
use crate::sa::{ChildSaInstall, EspKeys};
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

/// CHILD_SAs with an updown script, by child id. Scripts run one after the
/// other, in the order of the events (an `up` before its `down`), on one
/// background thread, so the daemon's loop never waits for them.
#[derive(Debug, Default)]
pub struct Updown {
    kept: HashMap<u32, Kept>,
    worker: Option<std::sync::mpsc::Sender<Job>>,
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

/// The environment of every run (one per selector pair).
pub fn envs(
    verb: Verb,
    c: &ChildSaInstall,
    my_id: &str,
    peer_id: &str,
    interface: &str,
) -> Vec<Vec<(String, String)>> {
    let x = Extra {
        interface,
        my_id,
        peer_id,
        my_sourceip: &c.my_sourceips,
        peer_sourceip: &c.peer_sourceips,
        host_access: c.host_access,
    };
    let mut out = Vec::new();
    for l in &c.ts_local {
        for r in &c.ts_remote {
            if l.start.is_ipv4() == r.start.is_ipv4() {
                out.push(env(verb, c, l, r, &x));
            }
        }
    }
    out
}

/// One script run.
struct Job {
    script: String,
    conn: String,
    vars: Vec<(String, String)>,
}

/// Runs one script to its end; its output is logged line by line (like
/// strongSwan's `updown:` lines), a failure is logged, never fatal.
fn run(job: Job) {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&job.script)
        .envs(job.vars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let (script, conn) = (&job.script, &job.conn);
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
                debug!(target: "chd", "updown '{script}' for '{conn}' done");
            } else {
                warn!(target: "chd", "updown '{script}' for '{conn}' failed ({})", o.status);
            }
        }
        Err(e) => warn!(target: "chd", "unable to run updown '{script}' for '{conn}': {e}"),
    }
}

impl Updown {
    fn spawn(&mut self, script: &str, conn: &str, vars: Vec<(String, String)>) {
        let mut job = Job {
            script: script.to_owned(),
            conn: conn.to_owned(),
            vars,
        };
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

    /// After a CHILD_SA was installed.
    pub fn up(&mut self, c: &ChildSaInstall, my_id: &str, peer_id: &str) {
        let Some(script) = c.updown.clone() else {
            return;
        };
        let iface = interface_of(c.local);
        for vars in envs(Verb::Up, c, my_id, peer_id, &iface) {
            self.spawn(&script, &c.conn, vars);
        }
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

    /// After a CHILD_SA left the kernel.
    pub fn down(&mut self, child_id: u32) {
        let Some(k) = self.kept.remove(&child_id) else {
            return;
        };
        let Some(script) = k.child.updown.clone() else {
            return;
        };
        let iface = interface_of(k.child.local);
        for vars in envs(Verb::Down, &k.child, &k.my_id, &k.peer_id, &iface) {
            self.spawn(&script, &k.child.conn, vars);
        }
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
}
