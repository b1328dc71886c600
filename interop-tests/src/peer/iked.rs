//! iked as a lab peer: reads the same literal `ipsec.conf` / `ipsec.secrets`
//! the strongSwan starter peer uses.
//!
//! Today only `iked --check-config` exists: [`Iked::check_config`] works,
//! [`Iked::start`] validates the configuration, starts the daemon in its
//! namespace and fails with the daemon's own words when it exits at once (as
//! this version's does: "the daemon is not implemented yet"). When the daemon
//! and `ikectl` exist, `initiate`/`status` below are where they plug in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CONN, Peer};
use crate::cmd::{Daemon, run, run_ok};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err, write_file};

/// One iked instance.
#[derive(Debug)]
pub struct Iked {
    side: Side,
    dir: PathBuf,
    ns: String,
    daemon: Daemon,
}

impl Iked {
    /// The iked binary: `$IKED_BIN`, else `target/{debug,release}/iked` of
    /// this workspace (build it with `cargo build -p ike --bin iked`).
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
            .find(|p| p.exists())
            .ok_or_else(|| {
                lab_err!(
                    "iked binary not found under {} (cargo build -p ike --bin iked, or set IKED_BIN)",
                    target.display()
                )
            })
    }

    /// `iked --check-config`: Ok(its per-conn lines) or Err(its diagnostics).
    pub fn check_config(conf: &Path, secrets: &Path) -> Result<String> {
        let bin = Self::binary()?.display().to_string();
        let out = run(
            &[
                &bin,
                "--check-config",
                "--config",
                &conf.display().to_string(),
                "--secrets",
                &secrets.display().to_string(),
            ],
            Duration::from_secs(20),
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
            &Self::check_config(&conf, &secrets)?,
        )?;
        let bin = Self::binary()?.display().to_string();
        let h = topo.host(side);
        let mut daemon = Daemon::spawn(
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
            ],
            &[],
            &dir.join("iked.log"),
        )?;
        std::thread::sleep(Duration::from_millis(500));
        daemon.ensure_running()?;
        Ok(Iked {
            side,
            dir: dir.to_owned(),
            ns: h.ns.clone(),
            daemon,
        })
    }

    fn ikectl(&self, args: &[&str]) -> Result<String> {
        let mut v = vec!["ip", "netns", "exec", self.ns.as_str(), "ikectl"];
        v.extend_from_slice(args);
        run_ok(&v, Duration::from_secs(30))
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
    fn initiate(&mut self, _timeout: Duration) -> Result<String> {
        self.daemon.ensure_running()?;
        self.ikectl(&["up", CONN])
    }
    fn status_command(&self) -> &'static str {
        "ikectl status"
    }
    fn status(&mut self) -> Result<String> {
        self.daemon.ensure_running()?;
        self.ikectl(&["status"])
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
        Ok(None)
    }
    fn stop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
    }
    fn log(&self) -> PathBuf {
        self.dir.join("iked.log")
    }
}
