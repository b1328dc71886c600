//! iked as a lab peer: reads the same literal `ipsec.conf` / `ipsec.secrets`
//! the strongSwan starter peer uses.
//!
//! [`Iked::check_config`] runs `iked --check-config`. [`Iked::start`]
//! validates the configuration, starts `iked --ctl SOCK` in the side's
//! namespace, and waits (bounded) for its control socket and its first answer
//! to `ikectl status`; a daemon that exits instead fails the start with its
//! own words. `initiate` and `status` go through `ikectl --ctl SOCK
//! up|status|statusall` (strongSwan's `ipsec status` format).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CONN, Peer};
use crate::cmd::{Daemon, run, run_env};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err, write_file};
use ike::daemon::status::StatusReport;

/// One iked instance.
#[derive(Debug)]
pub struct Iked {
    side: Side,
    dir: PathBuf,
    ctl: PathBuf,
    vici: PathBuf,
    daemon: Daemon,
}

impl Iked {
    /// The iked binary: `$IKED_BIN`, else the newer of
    /// `target/{debug,release}/iked` of this workspace (build it with
    /// `cargo build -p ike --bin iked`): an older debug build left beside a
    /// fresh release one (or the other way round) must not be the one run.
    pub fn binary() -> Result<PathBuf> {
        if let Some(p) = std::env::var_os("IKED_BIN") {
            return Ok(PathBuf::from(p));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo_root().join("target"));
        ["debug", "release"]
            .iter()
            .map(|p| target.join(p).join("iked"))
            .filter_map(|p| {
                let t = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
                Some((t, p))
            })
            .max_by_key(|(t, _)| *t)
            .map(|(_, p)| p)
            .ok_or_else(|| {
                lab_err!(
                    "iked binary not found under {} (cargo build -p ike --bin iked, or set IKED_BIN)",
                    target.display()
                )
            })
    }

    /// `iked --check-config`: Ok(its per-conn lines) or Err(its diagnostics).
    pub fn check_config(conf: &Path, secrets: &Path) -> Result<String> {
        Self::check_config_env(conf, secrets, &[])
    }

    fn check_config_env(conf: &Path, secrets: &Path, env: &[(&str, &str)]) -> Result<String> {
        let bin = Self::binary()?.display().to_string();
        let out = run_env(
            &[
                &bin,
                "--check-config",
                "--config",
                &conf.display().to_string(),
                "--secrets",
                &secrets.display().to_string(),
            ],
            env,
            // seconds on the host; under the guest's emulation with other scenarios beside it, more
            Duration::from_secs(60),
        )?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(lab_err!(
                "iked --check-config rejected {}: {}{}",
                conf.display(),
                out.stdout,
                out.stderr
            ))
        }
    }

    /// Validates, then starts the daemon in the side's namespace.
    pub fn start(
        topo: &Topology,
        side: Side,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        dir: &Path,
    ) -> Result<Iked> {
        Self::start_with_env(topo, side, ipsec_conf, ipsec_secrets, &[], dir)
    }

    /// [`Iked::start`] with extra environment for the daemon (e.g.
    /// `IKED_IPSEC_D`, where its certificates and keys are).
    pub fn start_with_env(
        topo: &Topology,
        side: Side,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Result<Iked> {
        Self::start_full(topo, side, ipsec_conf, ipsec_secrets, env, "", dir)
    }

    /// [`Iked::start_with_env`] with `charon_extra`: strongswan.conf lines
    /// added to its `charon` section (e.g. retransmission timers).
    pub fn start_full(
        topo: &Topology,
        side: Side,
        ipsec_conf: &str,
        ipsec_secrets: &str,
        env: &[(&str, &str)],
        charon_extra: &str,
        dir: &Path,
    ) -> Result<Iked> {
        let conf = dir.join("ipsec.conf");
        let secrets = dir.join("ipsec.secrets");
        write_file(&conf, ipsec_conf)?;
        write_file(&secrets, ipsec_secrets)?;
        let _ = std::fs::set_permissions(
            &secrets,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        );
        write_file(
            &dir.join("check-config.txt"),
            &Self::check_config_env(&conf, &secrets, env)?,
        )?;
        // its own strongswan.conf: the guest's /etc/strongswan.conf belongs to
        // whichever strongSwan peer wrote it last, and its own VICI socket:
        // the default /var/run/charon.vici would be one for every iked that
        // runs at the same time in the guest
        let run_dir = topo.run_dir(side)?;
        let vici = run_dir.join("iked.vici");
        let swconf = dir.join("strongswan.conf");
        write_file(
            &swconf,
            &format!(
                "# iked in the lab: its own VICI socket\ncharon {{\n{charon_extra}\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
                vici.display()
            ),
        )?;
        let bin = Self::binary()?.display().to_string();
        let h = topo.host(side);
        let ctl = run_dir.join("iked.ctl");
        let ctl_s = ctl.display().to_string();
        let daemon = Daemon::spawn(
            &format!("iked ({})", side.as_str()),
            &[
                "ip",
                "netns",
                "exec",
                &h.ns,
                &bin,
                "--config",
                &conf.display().to_string(),
                "--secrets",
                &secrets.display().to_string(),
                "--ctl",
                &ctl_s,
                "--strongswan-conf",
                &swconf.display().to_string(),
            ],
            env,
            &dir.join("iked.log"),
        )?;
        let mut s = Iked {
            side,
            dir: dir.to_owned(),
            ctl,
            vici,
            daemon,
        };
        let up = crate::cmd::poll(super::START_BOUND, || {
            if s.daemon.exited().is_some() {
                return Some(false);
            }
            s.ctl.exists().then_some(true)
        });
        if up != Some(true) {
            s.daemon.ensure_running()?;
            return Err(lab_err!(
                "iked ({}) made no control socket {} within {:?}",
                side.as_str(),
                s.ctl.display(),
                super::START_BOUND
            ));
        }
        // The control socket is bound before the IKE sockets: a peer that
        // initiates right away may meet a closed UDP port (ICMP unreachable,
        // then a retransmission). The daemon answers `ikectl status` only once
        // its loop runs, after every socket is bound.
        let ready = crate::cmd::poll(super::START_BOUND, || {
            if s.daemon.exited().is_some() {
                return Some(false);
            }
            s.ikectl(&["status"], Duration::from_secs(10))
                .is_ok()
                .then_some(true)
        });
        if ready != Some(true) {
            s.daemon.ensure_running()?;
            return Err(lab_err!(
                "iked ({}) did not answer `ikectl status` within {:?}",
                side.as_str(),
                super::START_BOUND
            ));
        }
        Ok(s)
    }

    /// Its VICI socket (`charon.plugins.vici.socket` of its strongswan.conf).
    pub fn vici(&self) -> &Path {
        &self.vici
    }

    /// Its `ipsec.conf` (rewrite it, then `reload`, to change the conns).
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("ipsec.conf")
    }

    /// `ikectl --ctl SOCK ARGS...` (ikectl sits beside the iked binary);
    /// exit status 0 required, returns what it printed.
    pub fn ikectl(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let bin = Self::binary()?.with_file_name("ikectl");
        let bin = bin.display().to_string();
        let ctl = self.ctl.display().to_string();
        let mut v = vec![bin.as_str(), "--ctl", ctl.as_str()];
        v.extend_from_slice(args);
        let out = run(&v, timeout)?;
        let text = format!("{}{}", out.stdout, out.stderr);
        if out.status.success() {
            Ok(text)
        } else {
            Err(lab_err!(
                "`ikectl {}` failed ({}): {}",
                args.join(" "),
                out.status,
                text.trim()
            ))
        }
    }
}

impl Iked {
    /// iked's status through its own types (`ikectl statusall --json`, with
    /// the kernel counters of every CHILD_SA).
    pub fn report(&mut self) -> Result<StatusReport> {
        self.daemon.ensure_running()?;
        let text = self.ikectl(&["statusall", "--json"], Duration::from_secs(30))?;
        serde_json::from_str(&text)
            .map_err(|e| lab_err!("ikectl statusall --json: {e}; it printed:\n{text}"))
    }

    /// `ikectl up CONN`: Ok once the CHILD_SA is up, Err with iked's words.
    pub fn up(&mut self, conn: &str) -> Result<String> {
        self.daemon.ensure_running()?;
        self.ikectl(&["up", conn], Duration::from_secs(40))
    }

    /// `ikectl down CONN`.
    pub fn down(&mut self, conn: &str) -> Result<String> {
        self.ikectl(&["down", conn], Duration::from_secs(30))
    }

    /// `ikectl route CONN` (trap or shunt policies in).
    pub fn route(&mut self, conn: &str) -> Result<String> {
        self.ikectl(&["route", conn], Duration::from_secs(30))
    }

    /// `ikectl unroute CONN`.
    pub fn unroute(&mut self, conn: &str) -> Result<String> {
        self.ikectl(&["unroute", conn], Duration::from_secs(30))
    }

    /// `ikectl reload` (re-reads ipsec.conf and ipsec.secrets).
    pub fn reload(&mut self) -> Result<String> {
        self.ikectl(&["reload"], Duration::from_secs(30))
    }

    /// `ipsec CMD...` (iked's strongSwan-style front) against this daemon.
    pub fn ipsec(&self, args: &[&str]) -> Result<String> {
        let bin = Self::binary()?
            .with_file_name("ipsec")
            .display()
            .to_string();
        let mut v = vec![bin.as_str()];
        v.extend_from_slice(args);
        let ctl = self.ctl.display().to_string();
        let out = crate::cmd::run_env(&v, &[("IKED_CTL", &ctl)], Duration::from_secs(30))?;
        let text = format!("{}{}", out.stdout, out.stderr);
        if out.status.success() {
            Ok(text)
        } else {
            Err(lab_err!(
                "`ipsec {}` failed ({}): {}",
                args.join(" "),
                out.status,
                text.trim()
            ))
        }
    }

    /// SIGTERM, and the daemon must exit within `bound` by itself (it
    /// deletes its SAs and policies first); Err if it had to be killed.
    pub fn sigterm(&mut self, bound: Duration) -> Result<()> {
        crate::cmd::signal(self.daemon.pid(), "TERM");
        let gone = crate::cmd::poll(bound, || self.daemon.exited().map(|_| ()));
        if gone.is_none() {
            self.daemon.stop(Duration::from_secs(1));
            return Err(lab_err!(
                "iked ({}) did not exit within {bound:?} of SIGTERM",
                self.side.as_str()
            ));
        }
        Ok(())
    }
}

impl Peer for Iked {
    fn label(&self) -> String {
        format!("iked (pid {})", self.daemon.pid())
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
        let out = self
            .ikectl(&["up", CONN], timeout)
            .map(|t| t.trim().lines().last().unwrap_or("").to_owned());
        write_file(
            &self.dir.join("initiate.txt"),
            &match &out {
                Ok(t) => t.clone(),
                Err(e) => e.to_string(),
            },
        )?;
        out
    }
    fn status_command(&self) -> &'static str {
        "ikectl status"
    }
    fn status(&mut self) -> Result<String> {
        self.daemon.ensure_running()?;
        self.ikectl(&["status"], Duration::from_secs(30))
    }
    fn check_established(&mut self) -> Result<String> {
        let s = self.status()?;
        if s.contains("ESTABLISHED") && s.contains("INSTALLED") {
            Ok(s)
        } else {
            Err(lab_err!("ikectl status shows no established tunnel:\n{s}"))
        }
    }
    fn reported_in_packets(&mut self) -> Result<Option<u64>> {
        // `ikectl statusall` follows `ipsec statusall`: "... bytes_i (N pkts, ...)"
        let s = self.ikectl(&["statusall"], Duration::from_secs(30))?;
        Ok(super::starter::stroke_in_packets(&s))
    }
    fn stop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
    }
    fn log(&self) -> PathBuf {
        self.dir.join("iked.log")
    }
    fn as_iked(&mut self) -> Option<&mut Iked> {
        Some(self)
    }
}
