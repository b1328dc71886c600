//! `deb-systemd` (issue 17): iked's Debian package on a Debian
//! system whose PID 1 is systemd, as a user installs it.
//!
//! The guest has no systemd (virtme-ng's init), so the system is a
//! container: `interop-tests/lab/setup-systemd.sh` makes a minimal Debian 12
//! tree, and `systemd-nspawn --boot` starts it with systemd as its PID 1 in
//! the lab's left namespace, on the guest's real kernel (ESP, XFRM). In it:
//! `apt-get install ./iked_*.deb` (the postinst enables and starts the
//! unit), `/etc/ipsec.conf` and `ipsec.secrets` written as a user edits
//! them, `systemctl reload iked`, `ipsec up`, traffic through the tunnel to
//! strongSwan's starter in the right namespace (kernel counters), the
//! strongswan-starter.service alias, journald's structured fields, a second
//! change applied by `systemctl reload`, then `apt-get remove` leaving no SA
//! or policy. Build the package first: `packaging/build-deb.sh`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd::{Daemon, poll, run};
use crate::peer::{self, CONN, PeerKind, Tunnel};
use crate::probe::{PingSpec, in_packets, kernel, ping};
use crate::scenario::{Ctx, Place, Scenario};
use crate::topology::{Plumbing, Side, Topology};
use crate::{Result, lab_err};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "deb-systemd",
        place: Place::Guest,
        about: "iked's .deb in a Debian system booted with systemd (systemd-nspawn --boot in the left namespace, the guest's kernel): apt-get install, systemctl start/reload/status, a tunnel to strongSwan's starter with traffic, journald fields, the strongswan-starter alias, apt-get remove leaves the kernel clean (needs lab/setup-systemd.sh and packaging/build-deb.sh)",
        suite: true,
        run: deb_systemd,
    }]
}

/// The Debian tree `setup-systemd.sh` makes.
fn sysroot() -> PathBuf {
    std::env::var_os("LAB_SYSROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/iked-lab/sysroot"))
}

/// The newest `target/deb/iked_*.deb`, which must not be older than the
/// iked it would be tested in place of.
fn package() -> Result<PathBuf> {
    let dir = crate::repo_root().join("target/deb");
    let newest = std::fs::read_dir(&dir)
        .map_err(|e| lab_err!("no {}: {e} (run packaging/build-deb.sh)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("iked_") && n.ends_with(".deb"))
        })
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .ok_or_else(|| {
            lab_err!(
                "no iked_*.deb in {} (run packaging/build-deb.sh)",
                dir.display()
            )
        })?;
    if let Ok(bin) = crate::peer::Iked::binary() {
        let built = std::fs::metadata(&bin).and_then(|m| m.modified());
        if built.is_ok_and(|b| b > newest.0) {
            return Err(lab_err!(
                "{} is older than {}: rebuild it (packaging/build-deb.sh)",
                newest.1.display(),
                bin.display()
            ));
        }
    }
    Ok(newest.1)
}

/// systemd wants the unified cgroup hierarchy; the guest's init mounts none.
fn cgroup2() -> Result<()> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Ok(());
    }
    run(
        &["mount", "-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"],
        Duration::from_secs(10),
    )?
    .ok()?;
    Ok(())
}

/// The booted container: systemd-nspawn (ended by its PID) and the PID of
/// the container's systemd.
struct Container {
    nspawn: Daemon,
    leader: u32,
}

impl Container {
    /// `sh -c script` inside the container (all its namespaces):
    /// (exit status 0, stdout + stderr).
    fn sh(&self, script: &str, timeout: Duration) -> Result<(bool, String)> {
        let pid = self.leader.to_string();
        let out = run(
            &[
                "nsenter", "-t", &pid, "-m", "-u", "-i", "-n", "-p", "--", "/bin/sh", "-c", script,
            ],
            timeout,
        )?;
        Ok((
            out.status.success(),
            format!("{}{}", out.stdout, out.stderr),
        ))
    }

    /// Like [`Container::sh`], failing with the output unless it succeeds.
    fn ok(&self, what: &str, script: &str, timeout: Duration) -> Result<String> {
        let (ok, out) = self.sh(script, timeout)?;
        if ok {
            Ok(out)
        } else {
            Err(lab_err!("{what} (`{script}`) failed: {}", out.trim()))
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM makes nspawn power the container off
        self.nspawn.stop(Duration::from_secs(30));
    }
}

fn boot(topo: &Topology, lab: &Path, deb: &Path, dir: &Path) -> Result<Container> {
    let netns = format!("/run/netns/{}", topo.left.ns);
    let bind_lab = format!("{}:/root/lab", lab.display());
    let bind_deb = format!("{}:/root/{}", deb.display(), file_name(deb));
    let root = sysroot();
    let root_arg = format!("--directory={}", root.display());
    let netns_arg = format!("--network-namespace-path={netns}");
    let lab_arg = format!("--bind-ro={bind_lab}");
    let deb_arg = format!("--bind-ro={bind_deb}");
    let nspawn = Daemon::spawn(
        "systemd-nspawn",
        &[
            "systemd-nspawn",
            "--quiet",
            "--boot",
            // no systemd on the guest: no machined to register with and no
            // scope unit to ask for (both over the system bus)
            "--register=no",
            "--keep-unit",
            "--volatile=overlay",
            "--machine=iked-deb",
            "--console=passive",
            // nspawn keeps CAP_NET_ADMIN only with a network of its own
            // (--private-network); a joined namespace needs it named: the
            // unit's XFRM netlink, SPI allocation and ESP-in-UDP sockets
            "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
            &root_arg,
            &netns_arg,
            &lab_arg,
            &deb_arg,
        ],
        &[],
        &dir.join("nspawn.log"),
    )?;
    let mut c = Container { nspawn, leader: 0 };
    let parent = c.nspawn.pid();
    // the container's PID 1 is the child of nspawn that runs systemd (an
    // intermediate child forks it and exits first)
    let leader = poll(Duration::from_secs(60), || {
        let out = run(
            &["ps", "--ppid", &parent.to_string(), "-o", "pid=,comm="],
            Duration::from_secs(10),
        )
        .ok()?;
        out.stdout.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            let pid = w.next()?.parse::<u32>().ok()?;
            (w.next()? == "systemd").then_some(pid)
        })
    });
    c.nspawn.ensure_running()?;
    c.leader = leader.ok_or_else(|| lab_err!("systemd-nspawn started no container within 60 s"))?;
    // systemd as PID 1, up to its default target
    let state = poll(Duration::from_secs(180), || {
        let (_, s) = c
            .sh("systemctl is-system-running", Duration::from_secs(20))
            .ok()?;
        let s = s.trim().to_owned();
        (s == "running" || s == "degraded").then_some(s)
    });
    c.nspawn.ensure_running()?;
    let state = state
        .ok_or_else(|| lab_err!("the container's systemd did not finish booting within 180 s"))?;
    if state == "degraded" {
        let (_, failed) = c.sh("systemctl --failed --no-legend", Duration::from_secs(20))?;
        std::fs::write(dir.join("failed-units.txt"), failed).ok();
    }
    Ok(c)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("iked.deb")
        .to_owned()
}

fn deb_systemd(ctx: &Ctx) -> Result<String> {
    let root = sysroot();
    if !root.join("lib/systemd/systemd").exists() {
        return Err(lab_err!(
            "no Debian tree at {} (run interop-tests/lab/setup-systemd.sh)",
            root.display()
        ));
    }
    let deb = package()?;
    cgroup2()?;
    let t0 = Instant::now();
    let topo = Topology::new()?;
    topo.plumb(Plumbing::None)?;
    let t = Tunnel::gcm();
    let dir = ctx.peer_dir(Side::Left);
    let lab = dir.join("lab");
    std::fs::create_dir_all(&lab).map_err(|e| lab_err!("{}: {e}", lab.display()))?;
    let conf = t.ipsec_conf(&topo);
    std::fs::write(lab.join("ipsec.conf"), &conf).map_err(|e| lab_err!("{e}"))?;
    std::fs::write(lab.join("ipsec.secrets"), t.ipsec_secrets(Side::Left))
        .map_err(|e| lab_err!("{e}"))?;
    // the second change: one more conn, applied by `systemctl reload`
    let more = format!("{conf}\nconn {CONN}-added\n  also={CONN}\n  auto=add\n");
    std::fs::write(lab.join("ipsec.conf.more"), more).map_err(|e| lab_err!("{e}"))?;
    let mut gw = peer::start(
        PeerKind::Starter,
        &topo,
        Side::Right,
        &t,
        &ctx.peer_dir(Side::Right),
    )?;
    let c = boot(&topo, &lab, &deb, &dir)?;
    let booted = t0.elapsed().as_secs_f64();
    let r = user_steps(&c, &topo, gw.as_mut(), &deb, &dir, booted);
    if r.is_err() {
        // what the unit and its journal say, for the report
        if let Ok((_, j)) = c.sh(
            "systemctl status iked --no-pager -l; journalctl -b --no-pager | tail -n 200",
            Duration::from_secs(60),
        ) {
            std::fs::write(dir.join("journal-on-failure.txt"), j).ok();
        }
    }
    drop(c);
    gw.stop();
    r
}

/// What a user does in the booted system, step by step.
fn user_steps(
    c: &Container,
    topo: &Topology,
    gw: &mut dyn peer::Peer,
    deb: &Path,
    dir: &Path,
    booted: f64,
) -> Result<String> {
    let note = |name: &str, text: &str| std::fs::write(dir.join(name), text).ok();
    let long = Duration::from_secs(120);

    // 1. the package, as a user installs it: the postinst starts the unit
    let deb_in = format!("/root/{}", file_name(deb));
    let install = c.ok(
        "apt-get install",
        &format!("DEBIAN_FRONTEND=noninteractive apt-get install -y {deb_in} 2>&1"),
        Duration::from_secs(300),
    )?;
    note("apt-install.txt", &install);
    let active = c.sh("systemctl is-active iked", long)?.1;
    if active.trim() != "active" {
        let (_, st) = c.sh(
            "systemctl status iked --no-pager -l; journalctl -u iked --no-pager | tail -n 30",
            long,
        )?;
        return Err(lab_err!(
            "after apt-get install iked is '{}': {st}",
            active.trim()
        ));
    }
    // 2. the user's configuration, then `systemctl reload`
    c.ok(
        "writing the configuration",
        "cp /root/lab/ipsec.conf /etc/ipsec.conf && install -m 600 /root/lab/ipsec.secrets /etc/ipsec.secrets",
        long,
    )?;
    c.ok("systemctl reload iked", "systemctl reload iked", long)?;
    let up = c.ok("ipsec up", &format!("ipsec up {CONN}"), long)?;
    note("ipsec-up.txt", &up);
    let status = c.ok("ipsec status", "ipsec status", long)?;
    if !status.contains("ESTABLISHED") || !status.contains("INSTALLED") {
        return Err(lab_err!("ipsec status after ipsec up: {status}"));
    }
    let (lh, rh) = (&topo.left, &topo.right);
    let before = in_packets(topo, lh, lh.outer4)?;
    let p = ping(topo, lh, lh.inner4, rh.inner4, PingSpec::n(3))?;
    let after = in_packets(topo, lh, lh.outer4)?;
    if !p.all() || after < before + 3 {
        return Err(lab_err!(
            "through the tunnel: ping {} and iked's inbound ESP {before} -> {after}",
            p.ratio()
        ));
    }
    gw.check_established()?;
    // 3. what the unit and the journal show
    let (_, unit_status) = c.sh("systemctl status iked --no-pager -l", long)?;
    note("systemctl-status.txt", &unit_status);
    if !unit_status.contains("Active: active (running)") || !unit_status.contains("Status: ") {
        return Err(lab_err!("systemctl status iked: {unit_status}"));
    }
    let alias = c.ok(
        "the alias",
        "systemctl show -p Id --value strongswan-starter.service ipsec.service",
        long,
    )?;
    if alias.lines().filter(|l| l.trim() == "iked.service").count() != 2 {
        return Err(lab_err!(
            "strongswan-starter.service / ipsec.service are not iked.service: {alias}"
        ));
    }
    let verbose = c.ok(
        "journalctl",
        &format!("journalctl -u iked -o verbose --no-pager IKE_SA_NAME={CONN} | tail -n 40"),
        long,
    )?;
    note("journal-verbose.txt", &verbose);
    for field in [
        format!("IKE_SA_NAME={CONN}"),
        "IKE_SA_UNIQUE_ID=".to_owned(),
        "SYSLOG_IDENTIFIER=iked".to_owned(),
        "PRIORITY=".to_owned(),
        "_SYSTEMD_UNIT=iked.service".to_owned(),
    ] {
        if !verbose.contains(&field) {
            return Err(lab_err!(
                "journalctl -o verbose IKE_SA_NAME={CONN}: no {field}: {verbose}"
            ));
        }
    }
    // 4. a changed configuration applied by `systemctl reload`, the tunnel kept
    c.ok(
        "changing the configuration",
        "cp /root/lab/ipsec.conf.more /etc/ipsec.conf && systemctl reload iked",
        long,
    )?;
    let reloaded = poll(Duration::from_secs(30), || {
        let (_, s) = c.sh("ipsec statusall", Duration::from_secs(20)).ok()?;
        s.contains(&format!("{CONN}-added:")).then_some(s)
    })
    .ok_or_else(|| lab_err!("after the second reload ipsec statusall lists no {CONN}-added"))?;
    note("statusall-after-reload.txt", &reloaded);
    if !reloaded.contains("ESTABLISHED") {
        return Err(lab_err!("the reload dropped the IKE_SA: {reloaded}"));
    }
    // 5. removing the package stops iked, which leaves nothing in the kernel
    let remove = c.ok(
        "apt-get remove",
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y iked 2>&1",
        Duration::from_secs(300),
    )?;
    note("apt-remove.txt", &remove);
    let (sas, pols) = kernel(topo, lh)?;
    if !sas.is_empty() || !pols.is_empty() {
        return Err(lab_err!(
            "after apt-get remove the kernel still holds {sas:?} / {pols:?}"
        ));
    }
    let gone = c.sh("systemctl is-active iked", long)?.1;
    let main_line = unit_status
        .lines()
        .find(|l| l.contains("Main PID"))
        .unwrap_or("")
        .trim()
        .to_owned();
    Ok(format!(
        "systemd up in the container {booted:.1} s after the start; apt-get install started iked ({main_line}); reload + ipsec up: ESTABLISHED, ping {} (iked's inbound ESP +{}); strongswan-starter.service and ipsec.service = iked.service; journal fields IKE_SA_NAME/IKE_SA_UNIQUE_ID/SYSLOG_IDENTIFIER; a second reload added {CONN}-added with the IKE_SA kept; apt-get remove: iked {}, no SA or policy left",
        p.ratio(),
        after - before,
        gone.trim()
    ))
}
