//! strongSwan's charon-systemd with a per-instance `STRONGSWAN_CONF` and vici
//! socket, driven by `swanctl`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CHILD, CONN, Peer, Tunnel, swanctl_in_packets};
use crate::cmd::{Daemon, have, poll, run, run_ok};
use crate::topology::{Plumbing, Side, Topology};
use crate::{Result, lab_err, write_file};

const CHARON: &str = "/usr/sbin/charon-systemd";

/// One charon-systemd starts at a time in this process: in the guest, with
/// scenarios running side by side, instances started at the same moment by
/// different scenarios sat after "spawning 16 worker threads" and never
/// answered on vici (seen three times out of three); one after the other they
/// all come up.
static START: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The plugin list every lab charon loads (no `stroke`: its socket is shared).
pub(crate) fn plugins(libipsec: bool, control: &str) -> String {
    let kernel = if libipsec {
        "kernel-libipsec kernel-netlink"
    } else {
        "kernel-netlink"
    };
    format!(
        "random nonce aes sha1 sha2 hmac gcm kdf openssl curve25519 gmp pem pkcs1 x509 pubkey {kernel} socket-default {control}"
    )
}

/// A `strongswan.conf` for one lab instance: explicit plugins, own log,
/// own control socket, nothing read from `/etc/strongswan.d`.
pub(crate) fn strongswan_conf(
    libipsec: bool,
    control: &str,
    log: &Path,
    vici: Option<&Path>,
) -> String {
    let vici = vici
        .map(|s| {
            format!(
                "    vici {{\n      socket = unix://{}\n    }}\n",
                s.display()
            )
        })
        .unwrap_or_default();
    format!(
        "# written by the iked interop lab; used via STRONGSWAN_CONF or a private bind mount\n\
         charon {{\n\
         \x20 load = {}\n\
         \x20 install_routes = {}\n\
         \x20 install_virtual_ip = no\n\
         \x20 retransmit_tries = 2\n\
         \x20 retransmit_timeout = 2.0\n\
         \x20 filelog {{\n\
         \x20   lab {{\n\
         \x20     path = {}\n\
         \x20     time_format = %T\n\
         \x20     default = 1\n\
         \x20     ike = 2\n\
         \x20     knl = 2\n\
         \x20     flush_line = yes\n\
         \x20   }}\n\
         \x20 }}\n\
         \x20 plugins {{\n{vici}\
         \x20   kernel-libipsec {{\n      allow_peer_ts = yes\n    }}\n\
         \x20 }}\n\
         }}\n\
         starter {{\n  load_warning = no\n}}\n",
        plugins(libipsec, control),
        if libipsec { "yes" } else { "no" },
        log.display(),
    )
}

/// Where each thread of `pid` waits (`/proc/PID/task/*/wchan`), for reports.
fn threads(pid: u32) -> String {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let p = t.path();
            let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            out.push(format!("{}:{}", comm.trim(), wchan.trim()));
        }
    }
    out.join(" ")
}

/// A swanctl.conf for `side`.
pub fn swanctl_conf(topo: &Topology, side: Side, t: &Tunnel) -> String {
    let (me, peer, f) = (topo.host(side), topo.host(side.other()), t.family);
    let child_extra = match t.plumbing {
        Plumbing::None => String::new(),
        Plumbing::Vti(m) => format!("        mark_in = {m}\n        mark_out = {m}\n"),
        Plumbing::Xfrmi(id) => format!("        if_id_in = {id}\n        if_id_out = {id}\n"),
    };
    format!(
        "# written by the iked interop lab\n\
         connections {{\n\
         \x20 {CONN} {{\n\
         \x20   version = 2\n\
         \x20   local_addrs = {}\n\
         \x20   remote_addrs = {}\n\
         \x20   proposals = {}\n\
         \x20   rekey_time = 0\n\
         \x20   local {{\n        auth = psk\n        id = {}\n      }}\n\
         \x20   remote {{\n        auth = psk\n        id = {}\n      }}\n\
         \x20   children {{\n\
         \x20     {CHILD} {{\n\
         \x20       local_ts = {}\n\
         \x20       remote_ts = {}\n\
         \x20       esp_proposals = {}\n\
         \x20       start_action = none\n{child_extra}\
         \x20     }}\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n\
         secrets {{\n\
         \x20 ike-lab {{\n    id-a = {}\n    id-b = {}\n    secret = \"{}\"\n  }}\n\
         }}\n",
        me.outer(f),
        peer.outer(f),
        t.ike,
        me.id,
        peer.id,
        me.net(f),
        peer.net(f),
        t.esp,
        me.id,
        peer.id,
        t.psk(side),
    )
}

/// One charon-systemd instance.
#[derive(Debug)]
pub struct StrongSwan {
    side: Side,
    dir: PathBuf,
    vici: PathBuf,
    daemon: Daemon,
}

impl StrongSwan {
    /// Writes its configuration into `dir`, starts charon-systemd in the
    /// side's namespace, waits (bounded) for its vici socket and loads the
    /// tunnel with `swanctl --load-all`.
    pub fn start(topo: &Topology, side: Side, t: &Tunnel, dir: &Path) -> Result<StrongSwan> {
        Self::start_with(topo, side, t, &swanctl_conf(topo, side, t), dir)
    }

    /// [`StrongSwan::start`] with a swanctl.conf of the caller's (e.g. with
    /// certificates by absolute path, or options the lab's tunnel lacks).
    pub fn start_with(
        topo: &Topology,
        side: Side,
        t: &Tunnel,
        swanctl: &str,
        dir: &Path,
    ) -> Result<StrongSwan> {
        for p in [CHARON, "swanctl"] {
            if !have(p) {
                return Err(lab_err!(
                    "{p} not found: run interop-tests/lab/setup-peers.sh (installs strongSwan)"
                ));
            }
        }
        let run = topo.run_dir(side)?;
        let vici = run.join("charon.vici");
        let _ = std::fs::remove_file(&vici);
        let conf = dir.join("strongswan.conf");
        write_file(
            &conf,
            &strongswan_conf(t.libipsec, "vici", &dir.join("charon.log"), Some(&vici)),
        )?;
        write_file(&dir.join("swanctl.conf"), swanctl)?;
        let h = topo.host(side);
        let conf_s = conf.display().to_string();
        let one_at_a_time = START.lock().unwrap_or_else(|p| p.into_inner());
        // Seen in the guest now and then: charon-systemd idle (its threads
        // in futex/poll waits), its vici socket there, and swanctl never
        // answered. A bounded second start follows such a first one.
        let mut failures = Vec::new();
        let mut started = None;
        for attempt in 1..=2 {
            let _ = std::fs::remove_file(&vici);
            // charon-systemd says READY=1 (sd_notify) once its threads run:
            // swanctl only talks to it after that
            let notify_path = run.join(format!("notify.{attempt}"));
            let _ = std::fs::remove_file(&notify_path);
            let notify = std::os::unix::net::UnixDatagram::bind(&notify_path)
                .map_err(|e| lab_err!("{}: {e}", notify_path.display()))?;
            let _ = notify.set_read_timeout(Some(Duration::from_millis(500)));
            let notify_env = notify_path.display().to_string();
            let daemon = Daemon::spawn(
                &format!("charon-systemd ({})", side.as_str()),
                &[
                    "ip",
                    "netns",
                    "exec",
                    &h.ns,
                    "env",
                    &format!("STRONGSWAN_CONF={conf_s}"),
                    CHARON,
                ],
                &[("NOTIFY_SOCKET", &notify_env)],
                &dir.join(format!("charon.stdout.{attempt}")),
            )?;
            let mut s = StrongSwan {
                side,
                dir: dir.to_owned(),
                vici: vici.clone(),
                daemon,
            };
            let mut buf = [0u8; 512];
            let ready = poll(Duration::from_secs(20), || {
                if s.daemon.exited().is_some() {
                    return Some(false);
                }
                match notify.recv(&mut buf) {
                    Ok(n) => String::from_utf8_lossy(&buf[..n])
                        .contains("READY=1")
                        .then_some(true),
                    Err(_) => None,
                }
            });
            let _ = std::fs::remove_file(&notify_path);
            if ready != Some(true) {
                s.daemon.ensure_running()?;
            }
            let mut last = String::new();
            let up = poll(super::START_BOUND, || {
                if s.daemon.exited().is_some() {
                    return Some(false);
                }
                match s.swanctl_within(&["--stats"], Duration::from_secs(30)) {
                    Ok(_) => Some(true),
                    Err(e) => {
                        last = e.to_string();
                        None
                    }
                }
            });
            if up == Some(true) {
                started = Some(s);
                break;
            }
            s.daemon.ensure_running()?;
            failures.push(format!(
                "start {attempt}: READY=1 {}, no answer on {} within {:?} (socket {}; swanctl: {}); its threads: {}",
                if ready == Some(true) { "seen" } else { "not seen" },
                s.vici.display(),
                super::START_BOUND,
                if s.vici.exists() { "exists" } else { "missing" },
                last.trim(),
                threads(s.daemon.pid())
            ));
            s.daemon.stop(Duration::from_secs(5));
        }
        write_file(&dir.join("start-failures.txt"), &failures.join("\n"))?;
        let Some(s) = started else {
            return Err(lab_err!(
                "charon ({}) did not answer twice: {}",
                side.as_str(),
                failures.join(" | ")
            ));
        };
        drop(one_at_a_time);
        let file = s.dir.join("swanctl.conf").display().to_string();
        let out = s.swanctl(&["--load-all", "--clear", "--file", &file])?;
        write_file(&s.dir.join("load.txt"), &out)?;
        Ok(s)
    }

    /// Its VICI socket.
    pub fn vici(&self) -> &Path {
        &self.vici
    }

    /// `swanctl CMD --uri unix://SOCK ARGS...` (the command option first).
    pub fn swanctl(&self, args: &[&str]) -> Result<String> {
        self.swanctl_within(args, Duration::from_secs(30))
    }

    fn swanctl_within(&self, args: &[&str], bound: Duration) -> Result<String> {
        let uri = format!("unix://{}", self.vici.display());
        let mut argv = vec!["swanctl", args[0], "--uri", uri.as_str()];
        argv.extend_from_slice(&args[1..]);
        run_ok(&argv, bound)
    }
}

impl Peer for StrongSwan {
    fn label(&self) -> String {
        format!(
            "strongSwan charon-systemd/swanctl (pid {})",
            self.daemon.pid()
        )
    }
    fn side(&self) -> Side {
        self.side
    }
    fn pid(&self) -> u32 {
        self.daemon.pid()
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn initiate(&mut self, timeout: Duration) -> Result<String> {
        self.daemon.ensure_running()?;
        let secs = timeout.as_secs().max(1).to_string();
        let uri = format!("unix://{}", self.vici.display());
        let out = run(
            &[
                "swanctl",
                "--initiate",
                "--uri",
                &uri,
                "--child",
                CHILD,
                "--timeout",
                &secs,
            ],
            timeout + Duration::from_secs(5),
        )?;
        let text = format!("{}{}", out.stdout, out.stderr);
        write_file(&self.dir.join("initiate.txt"), &text)?;
        if out.status.success() {
            Ok(text.lines().last().unwrap_or("").to_owned())
        } else {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            Err(lab_err!(
                "swanctl --initiate failed ({}); last lines: {}",
                out.status,
                lines[lines.len().saturating_sub(6)..].join(" / ")
            ))
        }
    }
    fn status_command(&self) -> &'static str {
        "swanctl --list-sas"
    }
    fn status(&mut self) -> Result<String> {
        self.daemon.ensure_running()?;
        self.swanctl(&["--list-sas"])
    }
    fn check_established(&mut self) -> Result<String> {
        let s = self.status()?;
        if !s.contains("ESTABLISHED") {
            return Err(lab_err!(
                "strongSwan ({}) shows no ESTABLISHED IKE_SA:\n{s}",
                self.side.as_str()
            ));
        }
        if !s.contains("INSTALLED") {
            return Err(lab_err!(
                "strongSwan ({}) shows no INSTALLED CHILD_SA:\n{s}",
                self.side.as_str()
            ));
        }
        Ok(s)
    }
    fn reported_in_packets(&mut self) -> Result<Option<u64>> {
        Ok(swanctl_in_packets(&self.status()?))
    }
    fn stop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
    }
    fn log(&self) -> PathBuf {
        self.dir.join("charon.log")
    }
}
