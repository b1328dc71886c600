//! strongSwan run from a literal `ipsec.conf` / `ipsec.secrets` by
//! strongswan-starter (`ipsec start`), so a configuration written for
//! strongSwan (or for iked) runs unchanged on the strongSwan side.
//!
//! The starter and stroke use fixed paths (`/etc/ipsec.conf`,
//! `/var/run/charon.ctl`, ...). Each instance therefore gets a private mount
//! namespace inside its network namespace (`ip netns exec` first, then
//! `unshare -m`): a tmpfs on `/run` and the instance's files bind-mounted over
//! `/etc/ipsec.conf`, `/etc/ipsec.secrets` and `/etc/strongswan.conf`.
//! `ipsec status` is run in that same mount namespace with `nsenter -t PID`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CONN, Peer, Tunnel};
use crate::cmd::{Daemon, have, poll, run, run_ok};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err, write_file};

/// What a starter instance may need beyond [`Starter::start`]'s defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct StarterOpts<'a> {
    /// The conn to wait for (default [`CONN`]).
    pub conn: Option<&'a str>,
    /// A folder bind-mounted over `/etc/ipsec.d/cacerts` (trusted CAs).
    pub cacerts: Option<&'a Path>,
    /// A folder bind-mounted over the whole `/etc/ipsec.d` (a gateway's
    /// certificate and key, its CAs); `cacerts` goes over it.
    pub ipsec_d: Option<&'a Path>,
    /// A road-warrior client: EAP plugins, and virtual IPs installed.
    pub road_warrior: bool,
    /// strongswan.conf lines added to the `charon` section.
    pub charon_extra: &'a str,
}

/// strongSwan under strongswan-starter, in a private mount namespace.
#[derive(Debug)]
pub struct Starter {
    side: Side,
    dir: PathBuf,
    daemon: Daemon,
}

impl Starter {
    /// Ends charon and the starter with SIGKILL, by PID (the starter first,
    /// so that it cannot start charon again): a client that vanishes without
    /// a DELETE, as a phone that loses its network or a crashed laptop.
    pub fn kill_hard(&mut self) {
        crate::cmd::signal(self.daemon.pid(), "KILL");
        for &p in &self.daemon.extra_pids {
            crate::cmd::signal(p, "KILL");
        }
    }

    /// Starts `ipsec start --nofork` with `ipsec_conf` and `ipsec_secrets`
    /// (used literally) in the side's namespace; waits (bounded) until charon
    /// answers on stroke and the conns are loaded.
    pub fn start(
        topo: &Topology,
        side: Side,
        t: &Tunnel,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        dir: &Path,
    ) -> Result<Starter> {
        Self::start_opts(
            topo,
            side,
            t,
            ipsec_conf,
            ipsec_secrets,
            dir,
            &StarterOpts::default(),
        )
    }

    /// [`Starter::start`] with `charon_extra` (strongswan.conf lines, e.g.
    /// `signature_authentication = no`) added to the `charon` section.
    pub fn start_with(
        topo: &Topology,
        side: Side,
        t: &Tunnel,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        charon_extra: &str,
        dir: &Path,
    ) -> Result<Starter> {
        let opts = StarterOpts {
            charon_extra,
            ..StarterOpts::default()
        };
        Self::start_opts(topo, side, t, ipsec_conf, ipsec_secrets, dir, &opts)
    }

    /// Like [`Starter::start`], with [`StarterOpts`].
    pub fn start_opts(
        topo: &Topology,
        side: Side,
        t: &Tunnel,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        dir: &Path,
        opts: &StarterOpts<'_>,
    ) -> Result<Starter> {
        let conn = opts.conn.unwrap_or(CONN);
        for p in ["ipsec", "/usr/lib/ipsec/starter", "unshare", "nsenter"] {
            if !have(p) {
                return Err(lab_err!(
                    "{p} not found: run interop-tests/lab/setup-peers.sh (installs strongswan-starter)"
                ));
            }
        }
        let conf = dir.join("ipsec.conf");
        let secrets = dir.join("ipsec.secrets");
        let ss = dir.join("strongswan.conf");
        write_file(&conf, ipsec_conf)?;
        write_file(&secrets, ipsec_secrets)?;
        let _ = std::fs::set_permissions(
            &secrets,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        );
        let ss_text = super::strongswan::strongswan_conf(
            t.libipsec,
            if opts.road_warrior {
                "eap-identity eap-mschapv2 eap-md5 md4 md5 des stroke"
            } else {
                "stroke"
            },
            &dir.join("charon.log"),
            None,
        )
        .replace(
            "install_virtual_ip = no",
            if opts.road_warrior {
                "install_virtual_ip = yes"
            } else {
                "install_virtual_ip = no"
            },
        )
        // a road-warrior client waits for the gateway's RSA and EAP rounds
        // as strongSwan does by default (5 tries from 4 s), not the lab's 2 from 2 s
        .replace(
            "retransmit_tries = 2\n  retransmit_timeout = 2.0",
            if opts.road_warrior {
                "retransmit_tries = 5\n  retransmit_timeout = 4.0"
            } else {
                "retransmit_tries = 2\n  retransmit_timeout = 2.0"
            },
        )
        .replacen(
            "charon {\n",
            &format!("charon {{\n{}", opts.charon_extra),
            1,
        );
        write_file(&ss, &ss_text)?;
        let ipsec_d = opts
            .ipsec_d
            .map(|d| format!("mount --bind {} /etc/ipsec.d; ", d.display()))
            .unwrap_or_default();
        let cacerts = ipsec_d
            + &opts
                .cacerts
                .map(|d| format!("mount --bind {} /etc/ipsec.d/cacerts; ", d.display()))
                .unwrap_or_default();
        let script = format!(
            "set -e; mount -t tmpfs lab-run /run; mkdir -p /run/lock; {cacerts}\
             mount --bind {} /etc/ipsec.conf; mount --bind {} /etc/ipsec.secrets; \
             mount --bind {} /etc/strongswan.conf; exec ipsec start --nofork",
            conf.display(),
            secrets.display(),
            ss.display()
        );
        let h = topo.host(side);
        let daemon = Daemon::spawn(
            &format!("ipsec starter ({})", side.as_str()),
            &[
                "ip",
                "netns",
                "exec",
                &h.ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ],
            &[],
            &dir.join("starter.stdout"),
        )?;
        let mut s = Starter {
            side,
            dir: dir.to_owned(),
            daemon,
        };
        // charon's PID, so that it is ended by PID even if the starter is killed.
        let charon = poll(super::START_BOUND, || {
            if s.daemon.exited().is_some() {
                return Some(None);
            }
            s.nsenter(&["cat", "/run/charon.pid"])
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                .map(Some)
        });
        match charon {
            Some(Some(pid)) => s.daemon.extra_pids.push(pid),
            _ => {
                s.daemon.ensure_running()?;
                return Err(lab_err!(
                    "starter ({}) did not start charon within {:?}",
                    side.as_str(),
                    super::START_BOUND
                ));
            }
        }
        let loaded = poll(super::START_BOUND, || {
            s.ipsec(&["statusall"])
                .ok()
                .filter(|o| o.contains(&format!("{conn}:")))
        });
        if loaded.is_none() {
            s.daemon.ensure_running()?;
            return Err(lab_err!(
                "starter ({}): conn '{conn}' not loaded within {:?}; log {}:\n{}",
                side.as_str(),
                super::START_BOUND,
                s.log().display(),
                crate::cmd::tail(&s.log(), 15)
            ));
        }
        Ok(s)
    }

    /// Runs a command in the starter's mount and network namespaces.
    fn nsenter(&self, argv: &[&str]) -> Result<String> {
        let pid = self.daemon.pid().to_string();
        let mut v = vec!["nsenter", "-t", pid.as_str(), "-m", "-n"];
        v.extend_from_slice(argv);
        run_ok(&v, Duration::from_secs(30))
    }

    /// `ipsec ARGS...` (stroke) against this instance.
    pub fn ipsec(&self, args: &[&str]) -> Result<String> {
        let mut v = vec!["ipsec"];
        v.extend_from_slice(args);
        self.nsenter(&v)
    }

    /// `stroke ARGS...` against this instance: the commands its `ipsec`
    /// script does not pass on (`rekey NAME{*}`).
    pub fn stroke(&self, args: &[&str]) -> Result<String> {
        let mut v = vec!["/usr/lib/ipsec/stroke"];
        v.extend_from_slice(args);
        self.nsenter(&v)
    }
}

/// Inbound packets from `ipsec statusall`:
/// `gw{1}:  AES_GCM_16_128, 252 bytes_i (3 pkts, 1s ago), ...`
/// (no parenthesis while the count is 0).
pub(crate) fn stroke_in_packets(statusall: &str) -> Option<u64> {
    statusall.lines().find_map(|l| {
        let i = l.find(" bytes_i")?;
        let rest = &l[i + " bytes_i".len()..];
        match rest.strip_prefix(" (") {
            Some(r) => r.split_whitespace().next()?.parse().ok(),
            None => Some(0),
        }
    })
}

impl Peer for Starter {
    fn label(&self) -> String {
        format!(
            "strongSwan starter from ipsec.conf (starter pid {}, charon pid {})",
            self.daemon.pid(),
            self.daemon
                .extra_pids
                .first()
                .map(|p| p.to_string())
                .unwrap_or_default()
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
        let pid = self.daemon.pid().to_string();
        let out = run(
            &["nsenter", "-t", &pid, "-m", "-n", "ipsec", "up", CONN],
            timeout,
        )?;
        let text = format!("{}{}", out.stdout, out.stderr);
        write_file(&self.dir.join("initiate.txt"), &text)?;
        if out.status.success() && text.contains("established successfully") {
            Ok(text
                .lines()
                .rfind(|l| l.contains("established successfully"))
                .unwrap_or("")
                .to_owned())
        } else {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            Err(lab_err!(
                "ipsec up {CONN} failed ({}); last lines: {}",
                out.status,
                lines[lines.len().saturating_sub(6)..].join(" / ")
            ))
        }
    }
    fn status_command(&self) -> &'static str {
        "ipsec status"
    }
    fn status(&mut self) -> Result<String> {
        self.daemon.ensure_running()?;
        self.ipsec(&["status"])
    }
    fn check_established(&mut self) -> Result<String> {
        let s = self.status()?;
        if !s.contains("ESTABLISHED") || !s.contains("INSTALLED") {
            return Err(lab_err!(
                "ipsec status ({}) shows no ESTABLISHED IKE_SA with an INSTALLED CHILD_SA:\n{s}",
                self.side.as_str()
            ));
        }
        Ok(s)
    }
    fn reported_in_packets(&mut self) -> Result<Option<u64>> {
        Ok(stroke_in_packets(&self.ipsec(&["statusall"])?))
    }
    fn stop(&mut self) {
        self.daemon.stop(Duration::from_secs(8));
    }
    fn log(&self) -> PathBuf {
        self.dir.join("charon.log")
    }
}

#[cfg(test)]
mod tests {
    use super::stroke_in_packets;

    #[test]
    fn stroke_counters_parse() {
        assert_eq!(
            stroke_in_packets(
                "          gw{1}:  AES_GCM_16_128, 252 bytes_i (3 pkts, 1s ago), 252 bytes_o (3 pkts, 1s ago), rekeying disabled\n"
            ),
            Some(3)
        );
        assert_eq!(
            stroke_in_packets(
                "   gw{1}:  AES_GCM_16_128, 0 bytes_i, 0 bytes_o, rekeying disabled\n"
            ),
            Some(0)
        );
        assert_eq!(
            stroke_in_packets("Security Associations (0 up, 0 connecting):\n  none\n"),
            None
        );
    }
}
