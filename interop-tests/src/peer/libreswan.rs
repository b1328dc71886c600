//! libreswan's pluto, run from its Debian package extracted into
//! `/opt/iked-lab/libreswan` (the package conflicts with strongSwan's, so it is
//! never installed). pluto insists on `/usr/libexec/ipsec/addconn`: the
//! extracted `usr/libexec` is bind-mounted over `/usr/libexec` in pluto's own
//! mount namespace (the one `ip netns exec` makes), nowhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CONN, Peer, Tunnel};
use crate::cmd::{Daemon, have, poll, run, run_ok};
use crate::topology::{Plumbing, Side, Topology};
use crate::{Result, lab_err, write_file};

/// libreswan's spelling of the lab's proposals.
fn proposals(t: &Tunnel) -> Result<(&'static str, &'static str)> {
    let ike = match t.ike.as_str() {
        "aes128gcm16-prfsha256-x25519" => "aes_gcm128-sha2_256-dh31",
        "aes128-sha256-modp2048" => "aes128-sha2_256-modp2048",
        "aes128-sha256-x25519" => "aes128-sha2_256-dh31",
        other => return Err(lab_err!("libreswan peer: no translation for ike={other}")),
    };
    let esp = match t.esp.as_str() {
        "aes128gcm16-x25519" | "aes128gcm16" => "aes_gcm128",
        "aes128-sha256-x25519" | "aes128-sha256" => "aes128-sha2_256",
        // pluto's ESP DH group is its PFS group (used from the first rekey on)
        "aes128-sha256-modp2048" => "aes128-sha2_256-modp2048",
        other => return Err(lab_err!("libreswan peer: no translation for esp={other}")),
    };
    Ok((ike, esp))
}

/// One pluto instance.
#[derive(Debug)]
pub struct Libreswan {
    side: Side,
    dir: PathBuf,
    ctl: PathBuf,
    bin: PathBuf,
    daemon: Daemon,
}

impl Libreswan {
    /// Where libreswan's package is extracted: `$LAB_LIBRESWAN`, default
    /// `/opt/iked-lab/libreswan` (not under /var/cache or /tmp: virtme-ng
    /// hides those behind a tmpfs in the guest).
    pub fn root() -> PathBuf {
        std::env::var_os("LAB_LIBRESWAN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/iked-lab/libreswan"))
    }

    /// The extracted tree's `usr/libexec/ipsec`.
    pub fn bin_dir() -> PathBuf {
        Self::root().join("usr/libexec/ipsec")
    }

    /// Writes pluto's configuration, NSS database and secrets into `dir`,
    /// starts pluto in the side's namespace and loads the conn.
    pub fn start(topo: &Topology, side: Side, t: &Tunnel, dir: &Path) -> Result<Libreswan> {
        let bin = Self::bin_dir();
        if !bin.join("pluto").exists() {
            return Err(lab_err!(
                "{} not found: run interop-tests/lab/setup-peers.sh (extracts libreswan)",
                bin.join("pluto").display()
            ));
        }
        if !have("certutil") {
            return Err(lab_err!(
                "certutil not found: run interop-tests/lab/setup-peers.sh (libnss3-tools)"
            ));
        }
        if t.plumbing != Plumbing::None || t.libipsec {
            return Err(lab_err!(
                "libreswan peer: only policy-based kernel tunnels are wired up"
            ));
        }
        let (ike, esp) = proposals(t)?;
        let run_d = topo.run_dir(side)?.join("pluto");
        crate::make_dir(&run_d)?;
        let nss = dir.join("nss");
        crate::make_dir(&nss)?;
        if !nss.join("cert9.db").exists() {
            run_ok(
                &[
                    "certutil",
                    "-N",
                    "-d",
                    &format!("sql:{}", nss.display()),
                    "--empty-password",
                ],
                Duration::from_secs(30),
            )?;
        }
        let (me, peer, f) = (topo.host(side), topo.host(side.other()), t.family);
        let secrets = dir.join("ipsec.secrets");
        write_file(
            &secrets,
            &format!("@{} @{} : PSK \"{}\"\n", me.id, peer.id, t.psk(side)),
        )?;
        let conf = dir.join("ipsec.conf");
        write_file(
            &conf,
            &format!(
                "# libreswan configuration written by the iked interop lab\n\
                 config setup\n\
                 \tlogfile={}\n\tlogtime=yes\n\tplutodebug=none\n\
                 \tsecretsfile={}\n\tnssdir={}\n\tipsecdir={}\n\tdumpdir={}\n\tprotostack=xfrm\n\n\
                 conn {CONN}\n\
                 \tikev2=yes\n\tauthby=secret\n\
                 \tleft={}\n\tleftid=@{}\n\tleftsubnet={}\n\
                 \tright={}\n\trightid=@{}\n\trightsubnet={}\n\
                 \tike={ike}\n\tesp={esp}\n\
                 \tleftupdown=%disabled\n\tauto=add\n",
                dir.join("pluto.log").display(),
                secrets.display(),
                nss.display(),
                dir.display(),
                run_d.display(),
                me.outer(f),
                me.id,
                me.net(f),
                peer.outer(f),
                peer.id,
                peer.net(f),
            ),
        )?;
        let ctl = run_d.join("pluto.ctl");
        let _ = std::fs::remove_file(&ctl);
        let libexec = Self::root().join("usr/libexec");
        let script = format!(
            "set -e; mount --bind {} /usr/libexec; exec {} --config {} --rundir {} --nofork",
            libexec.display(),
            bin.join("pluto").display(),
            conf.display(),
            run_d.display()
        );
        let h = topo.host(side);
        let daemon = Daemon::spawn(
            &format!("pluto ({})", side.as_str()),
            &["ip", "netns", "exec", &h.ns, "sh", "-c", &script],
            &[],
            &dir.join("pluto.stdout"),
        )?;
        let mut s = Libreswan {
            side,
            dir: dir.to_owned(),
            ctl,
            bin,
            daemon,
        };
        let up = poll(super::START_BOUND, || {
            if s.daemon.exited().is_some() {
                return Some(false);
            }
            s.ctl.exists().then_some(true)
        });
        if up != Some(true) {
            s.daemon.ensure_running()?;
            return Err(lab_err!(
                "pluto ({}) made no control socket in {:?}",
                side.as_str(),
                super::START_BOUND
            ));
        }
        s.whack(&["--listen"])?;
        let ctl_s = s.ctl.display().to_string();
        let conf_s = conf.display().to_string();
        let addconn = s.bin.join("addconn").display().to_string();
        topo.exec(
            h,
            &[&addconn, "--config", &conf_s, "--ctlsocket", &ctl_s, CONN],
            Duration::from_secs(20),
        )?
        .ok()?;
        Ok(s)
    }

    /// `whack --ctlsocket SOCK ARGS...`.
    pub fn whack(&self, args: &[&str]) -> Result<String> {
        let whack = self.bin.join("whack").display().to_string();
        let ctl = self.ctl.display().to_string();
        let mut v = vec![whack.as_str(), "--ctlsocket", ctl.as_str()];
        v.extend_from_slice(args);
        run_ok(&v, Duration::from_secs(30))
    }
}

impl Peer for Libreswan {
    fn label(&self) -> String {
        format!("libreswan pluto 4.x, extracted (pid {})", self.daemon.pid())
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
        let whack = self.bin.join("whack").display().to_string();
        let ctl = self.ctl.display().to_string();
        let out = run(
            &[&whack, "--ctlsocket", &ctl, "--name", CONN, "--initiate"],
            timeout,
        )?;
        let text = format!("{}{}", out.stdout, out.stderr);
        write_file(&self.dir.join("initiate.txt"), &text)?;
        if out.status.success() && text.contains("established Child SA") {
            Ok(text.lines().last().unwrap_or("").to_owned())
        } else {
            Err(lab_err!(
                "whack --initiate failed ({}): {}",
                out.status,
                text.trim()
            ))
        }
    }
    fn status_command(&self) -> &'static str {
        "whack --showstates; whack --trafficstatus"
    }
    fn status(&mut self) -> Result<String> {
        self.daemon.ensure_running()?;
        Ok(format!(
            "{}{}",
            self.whack(&["--showstates"])?,
            self.whack(&["--trafficstatus"])?
        ))
    }
    fn check_established(&mut self) -> Result<String> {
        let s = self.status()?;
        let conn = format!("\"{CONN}\"");
        let has = |state: &str| s.lines().any(|l| l.contains(&conn) && l.contains(state));
        if !has("STATE_V2_ESTABLISHED_IKE_SA")
            || !has("STATE_V2_ESTABLISHED_CHILD_SA")
            || !has("type=ESP")
        {
            return Err(lab_err!(
                "pluto ({}) shows no established IKE SA + ESP Child SA for '{CONN}': {s}",
                self.side.as_str()
            ));
        }
        Ok(s)
    }
    fn reported_in_packets(&mut self) -> Result<Option<u64>> {
        // pluto reports bytes only (inBytes=...); the kernel's counters are used.
        Ok(None)
    }
    fn stop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
    }
    fn log(&self) -> PathBuf {
        self.dir.join("pluto.log")
    }
}
