//! Conformance: strongSwan's own `ikev2-stroke` scenarios, run unchanged
//! against iked. The scenario folders are read from the corpus
//! (`../shared/corpus/strongswan-testing` beside the checkout, or
//! `$CONFORMANCE_CORPUS`), never copied into the repository.
//!
//! A run of one scenario (inside the QEMU guest, [`run`]): the hosts of its
//! `test.conf` as namespaces ([`topology`], [`host`]) with their files over
//! `/etc` ([`files`], [`pki`]) and their own syslog ([`syslog`]); the
//! pretest, evaltest and posttest as strongSwan's `do-tests` runs and judges
//! them ([`dat`], [`eval`]). Two passes per scenario: the reference
//! (`conformance/<scenario>@strongswan`: strongSwan on every host, proving
//! the harness) and iked on one host (`conformance/<scenario>@<host>`).
//! `interop-lab conformance` boots the guest once for all of them.

pub mod dat;
pub mod eval;
pub mod files;
pub mod host;
pub mod pki;
pub mod report;
pub mod syslog;
pub mod topology;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::scenario::Outcome;
use crate::{Result, lab_err, write_file};
use dat::{DatLine, TestConf};
use host::{Host, Ike};

/// The scenario group.
pub const GROUP: &str = "ikev2-stroke";
/// Prefix of conformance outcome names.
pub const PREFIX: &str = "conformance/";
/// The host name of the reference pass in outcome names.
pub const REFERENCE: &str = "strongswan";

/// The passes the guest suite (`tests/guest.rs`, CI) runs in its boot:
/// iked passes that pass today, so a regression fails the suite: the
/// subset issue 14 names (net-to-net with PSK, certificates and a route,
/// transport mode with iked as moon and as sun, certificate and PSK/FQDN
/// road warriors, two CHILD_SAs by protocol and port, a pool with `ipsec
/// leases`, road warriors behind a NAT with iked as sun) and EAP-MD5 (each
/// passes in 60-120 s; the whole group is `interop-lab conformance`).
pub const CI: &[&str] = &[
    "conformance/net2net-psk@moon",
    "conformance/net2net-cert@moon",
    "conformance/net2net-route@moon",
    "conformance/host2host-transport@moon",
    "conformance/host2host-transport@sun",
    "conformance/rw-cert@moon",
    "conformance/rw-psk-fqdn@moon",
    "conformance/protoport-dual@moon",
    "conformance/ip-pool@moon",
    "conformance/nat-rw@sun",
    "conformance/rw-eap-md5-rsa@moon",
];

/// [`CI`], when the corpus is there (a checkout without
/// `../shared/corpus` runs the rest of the guest suite and says so).
pub fn ci_names() -> Vec<String> {
    if group_dir().is_dir() {
        CI.iter().map(|s| (*s).to_owned()).collect()
    } else {
        eprintln!(
            "conformance: the CI subset is not run: no corpus at {} (set CONFORMANCE_CORPUS)",
            group_dir().display()
        );
        Vec::new()
    }
}

/// One pass of one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The scenario (folder name in the group).
    pub scenario: String,
    /// The host iked runs on; `None`: the reference pass.
    pub iked_host: Option<String>,
}

impl Pass {
    /// `conformance/<scenario>@<host|strongswan>`.
    pub fn name(&self) -> String {
        format!(
            "{PREFIX}{}@{}",
            self.scenario,
            self.iked_host.as_deref().unwrap_or(REFERENCE)
        )
    }

    /// Parses [`Pass::name`]'s form.
    pub fn parse(name: &str) -> Option<Pass> {
        let rest = name.strip_prefix(PREFIX)?;
        let (scenario, host) = rest.rsplit_once('@')?;
        if scenario.is_empty() || host.is_empty() {
            return None;
        }
        Some(Pass {
            scenario: scenario.to_owned(),
            iked_host: (host != REFERENCE).then(|| host.to_owned()),
        })
    }
}

/// The corpus: `$CONFORMANCE_CORPUS`, else `../shared/corpus/strongswan-testing`
/// from the repository's root.
pub fn corpus() -> PathBuf {
    std::env::var_os("CONFORMANCE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("../shared/corpus/strongswan-testing"))
}

/// The group's folder in the corpus.
pub fn group_dir() -> PathBuf {
    corpus().join("tests").join(GROUP)
}

/// Every scenario of the group, sorted.
pub fn list() -> Result<Vec<String>> {
    let dir = group_dir();
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| lab_err!("{}: {e} (the strongSwan testing corpus)", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("test.conf").exists())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    v.sort();
    Ok(v)
}

/// A scenario's test.conf.
pub fn test_conf(scenario: &str) -> Result<TestConf> {
    let p = group_dir().join(scenario).join("test.conf");
    let text = std::fs::read_to_string(&p).map_err(|e| lab_err!("{}: {e}", p.display()))?;
    Ok(TestConf::parse(&text))
}

/// Why a scenario is out of scope, if it is.
pub fn skip_reason(scenario: &str, tc: &TestConf) -> Option<String> {
    let by_name: &[(&str, &str)] = &[
        (
            "eap-sim",
            "EAP-SIM: out of scope (the triplets plugin's peers)",
        ),
        ("eap-aka", "EAP-AKA: Debian's 5.9.8 lacks eap-aka-3gpp2"),
        ("eap-peap", "EAP-PEAP: out of scope"),
        ("eap-ttls", "EAP-TTLS: out of scope"),
        ("eap-tls", "EAP-TLS: out of scope"),
        ("net2net-pgp", "OpenPGP certificates: out of scope"),
    ];
    for (k, why) in by_name {
        if scenario.contains(k) {
            return Some((*why).into());
        }
    }
    if !tc.get("DBHOSTS").is_empty() || scenario.ends_with("-db") {
        return Some("an SQLite pool (-db): out of scope".into());
    }
    if !tc.get("RADIUSHOSTS").is_empty() {
        return Some("a FreeRADIUS server (md5-radius): out of scope".into());
    }
    if !tc.get("SWANCTL").is_empty() {
        return Some("swanctl, not ipsec.conf".into());
    }
    None
}

/// The host iked replaces by default: the gateway moon where it is an IPsec
/// host, else sun, else the first IPsec host.
pub fn default_iked_host(tc: &TestConf) -> Option<String> {
    let ipsec = tc.ipsec_hosts();
    ["moon", "sun"]
        .iter()
        .find(|h| ipsec.iter().any(|i| i == *h))
        .map(|h| (*h).to_owned())
        .or_else(|| ipsec.first().cloned())
}

/// Folder names under the results folder: where the PKI is made.
pub fn pki_dir(out: &Path) -> PathBuf {
    out.join("conformance-pki")
}

/// Makes what the guest needs before the boot (the PKI, on the host: it is
/// much faster there than emulated), and copies iked's programs into the
/// results folder: a rebuild while the guest runs (cargo rewrites
/// target/) must not change, or tear, the programs of a running pass.
pub fn prepare(out: &Path) -> Result<()> {
    pki::ensure(&pki_dir(out))?;
    if let Ok((ipsec, iked)) = built_binaries() {
        let dst = out.join("iked-bin");
        crate::make_dir(&dst)?;
        for src in [&iked, &ipsec, &iked.with_file_name("ikectl")] {
            if let Some(name) = src.file_name().filter(|_| src.exists()) {
                std::fs::copy(src, dst.join(name))
                    .map_err(|e| lab_err!("{} -> {}: {e}", src.display(), dst.display()))?;
            }
        }
    }
    Ok(())
}

/// iked and its `ipsec` as cargo built them.
fn built_binaries() -> Result<(PathBuf, PathBuf)> {
    let iked = crate::peer::Iked::binary()?;
    let ipsec = iked.with_file_name("ipsec");
    if !ipsec.exists() {
        return Err(lab_err!(
            "{} not found (cargo build -p ike --bins)",
            ipsec.display()
        ));
    }
    Ok((ipsec, iked))
}

/// The `ipsec` and `iked` a pass runs: the copies [`prepare`] made, else
/// cargo's.
fn iked_binaries(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = out.join("iked-bin");
    let (ipsec, iked) = (dir.join("ipsec"), dir.join("iked"));
    if ipsec.exists() && iked.exists() {
        return Ok((ipsec, iked));
    }
    built_binaries()
}

static RUN_ID: AtomicU32 = AtomicU32::new(0);

/// The guard: these strongSwan testing addresses are only ever used inside
/// the QEMU guest (virtme-ng's kernel command line names itself).
fn in_guest() -> Result<()> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if cmdline.contains("virtme") {
        Ok(())
    } else {
        Err(lab_err!(
            "conformance scenarios run only inside the QEMU guest (`interop-lab conformance`): they use strongSwan's testing addresses"
        ))
    }
}

/// Runs one pass (`name` as [`Pass::name`] writes it) with its folder
/// under `out`; never panics.
pub fn run(out: &Path, name: &str) -> Outcome {
    let t = Instant::now();
    let dir = out.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_pass(out, name, &dir)))
        .unwrap_or_else(|_| Err(lab_err!("panicked")));
    let (pass, detail) = match r {
        Ok(checks) => {
            let (excused, judged): (Vec<_>, Vec<_>) =
                checks.iter().partition(|c| c.excused.is_some());
            let ok = judged.iter().filter(|c| c.pass).count();
            let failed: Vec<&str> = judged
                .iter()
                .filter(|c| !c.pass)
                .map(|c| c.what.as_str())
                .collect();
            let pass = !judged.is_empty() && failed.is_empty();
            let mut d = format!("{ok}/{} checks", judged.len());
            if !failed.is_empty() {
                d.push_str(&format!("; failed: {}", failed.join(" || ")));
            }
            for c in &excused {
                d.push_str(&format!(
                    "; {} ({})",
                    c.what,
                    c.excused.as_deref().unwrap_or_default()
                ));
            }
            (pass, d)
        }
        Err(e) => (false, format!("0/0 checks; harness error: {e}")),
    };
    let _ = write_file(
        &dir.join("result.txt"),
        &format!("{}\n{detail}\n", if pass { "PASS" } else { "FAIL" }),
    );
    Outcome {
        name: name.to_owned(),
        pass,
        detail,
        secs: t.elapsed().as_secs_f64(),
        dir,
    }
}

/// The testing hosts' helper commands the `.dat` files call, written into
/// `out/conformance-bin`: `expect-connection CONN [SECS]` waits until
/// `ipsec statusall` lists the conn. Its default wait is 30 s, not the
/// testing hosts' 5 s: the guest is emulated, a daemon starts slowly there.
fn helpers(out: &Path) -> Result<PathBuf> {
    let bin = out.join("conformance-bin");
    let p = bin.join("expect-connection");
    write_file(
        &p,
        r#"#!/bin/bash
# expect-connection CONN [SECONDS]: succeeds once `ipsec statusall` lists CONN
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: expect-connection CONN [SECONDS]"; exit 1; }
limit=$(( ${2:-30} * 10 ))
n=0
while [ $n -lt $limit ]; do
  if ipsec statusall 2>&1 | grep -q "^[[:space:]]*$1:"; then exit 0; fi
  sleep 0.1
  n=$((n + 1))
done
echo "Connection '$1' not available after ${2:-30} second(s)"
exit 1
"#,
    )?;
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| lab_err!("{}: {e}", p.display()))?;
    Ok(bin)
}

/// Does a .dat file run `ssh` (a host reached by ssh, as protoport-dual's
/// evaltest does)?
fn uses_ssh(lines: &[DatLine]) -> bool {
    lines.iter().any(|l| match l {
        DatLine::Cmd { command, .. } => command.split_whitespace().next() == Some("ssh"),
        DatLine::Comment(_) => false,
    })
}

/// OpenSSH's server files, extracted by `interop-tests/lab/setup-peers.sh`
/// (`LAB_OPENSSH`, default /opt/iked-lab/openssh).
fn openssh() -> Result<PathBuf> {
    let d = std::env::var_os("LAB_OPENSSH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/iked-lab/openssh"));
    if d.join("usr/sbin/sshd").is_file() {
        Ok(d)
    } else {
        Err(lab_err!(
            "{}: no sshd (the scenario reaches a host by ssh): run interop-tests/lab/setup-peers.sh",
            d.display()
        ))
    }
}

fn read_dat(dir: &Path, file: &str) -> Result<Vec<DatLine>> {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).map_err(|e| lab_err!("{}: {e}", p.display()))?;
    Ok(dat::parse_dat(&dat::substitute(&text)))
}

fn run_pass(out: &Path, name: &str, dir: &Path) -> Result<Vec<eval::Check>> {
    in_guest()?;
    crate::topology::require_root()?;
    let p = Pass::parse(name).ok_or_else(|| lab_err!("not a conformance pass name: {name}"))?;
    let sdir = group_dir().join(&p.scenario);
    let tc = test_conf(&p.scenario)?;
    if let Some(why) = skip_reason(&p.scenario, &tc) {
        return Err(lab_err!("SKIP ({why})"));
    }
    let ipsec_hosts = tc.ipsec_hosts();
    if let Some(h) = &p.iked_host {
        if !ipsec_hosts.contains(h) {
            return Err(lab_err!("{h} is not an IPsec host of {}", p.scenario));
        }
    }
    let pre = read_dat(&sdir, "pretest.dat")?;
    let evalt = read_dat(&sdir, "evaltest.dat")?;
    let post = read_dat(&sdir, "posttest.dat")?;
    let sshd = if [&pre, &evalt, &post].into_iter().any(|d| uses_ssh(d)) {
        Some(openssh()?)
    } else {
        None
    };
    let pki = pki::ensure(&pki_dir(out))?;
    let corpus = corpus();
    let lab_bin = std::env::current_exe().map_err(|e| lab_err!("interop-lab's own path: {e}"))?;
    let iked = match &p.iked_host {
        Some(_) => Some(iked_binaries(out)?),
        None => None,
    };
    crate::make_dir(dir)?;
    // every host binds its own syslog socket over /dev/log: the mount
    // point must exist in the guest
    if !Path::new("/dev/log").exists() {
        std::fs::File::create("/dev/log").map_err(|e| lab_err!("/dev/log: {e}"))?;
    }
    let id = format!(
        "{}{}",
        std::process::id() % 10000,
        RUN_ID.fetch_add(1, Ordering::SeqCst)
    );
    let bin = helpers(out)?;
    let virthosts = tc.virthosts();
    let t_setup = Instant::now();
    let mut console = eval::Console::default();
    let net = topology::Net::build(&id, &virthosts)?;
    let mut hosts: BTreeMap<String, Host> = BTreeMap::new();
    for h in &virthosts {
        let hdir = dir.join(h);
        files::host_etc(&corpus, &sdir, &pki, h, &hdir.join("etc"))?;
        if sshd.is_some() {
            files::ssh_files(&corpus, &hdir)?;
        }
        let ike = match (&p.iked_host, &iked) {
            (Some(ih), Some((ipsec, iked))) if ih == h => Ike::Iked {
                ipsec: ipsec.clone(),
                iked: iked.clone(),
            },
            _ => Ike::StrongSwan,
        };
        let ns = net.ns(h).ok_or_else(|| lab_err!("no namespace for {h}"))?;
        hosts.insert(
            h.clone(),
            Host::start(h, ns, &hdir, &lab_bin, &bin, &ike, sshd.as_deref())?,
        );
    }
    // winnetou serves the CRL at its distribution point
    let mut servers = Vec::new();
    if let Some(w) = hosts.get("winnetou") {
        let crl = pki.join("crl").display().to_string();
        servers.push(w.spawn(
            &[
                "python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                "192.168.0.150",
                "-d",
                &crl,
            ],
            &w.dir.join("http.out"),
            &w.dir.join("http.err"),
        )?);
    }

    console.text.push_str(&format!(
        "(hosts {} up after {:.1}s)\n",
        virthosts.join(" "),
        t_setup.elapsed().as_secs_f64()
    ));
    let mut captures = BTreeMap::new();
    for h in tc.tcpdump_hosts() {
        if let Some(host) = hosts.get(&h) {
            captures.insert(h.clone(), eval::Capture::start(host)?);
        }
    }
    console.text.push_str("PRE-TEST\n\n");
    eval::script(&hosts, &pre, &mut console);
    eval::settle(&hosts, &ipsec_hosts, &mut console);
    console.text.push_str("\nTEST\n\n");
    let mut checks = eval::evaltest(&hosts, &mut captures, &evalt, dir, &mut console);
    console.text.push_str("\nPOST-TEST\n\n");
    eval::posttest(&hosts, &ipsec_hosts, &post, &mut console);
    for h in &ipsec_hosts {
        match hosts.get(h) {
            Some(host) => {
                let strongswan = p.iked_host.as_deref() != Some(h.as_str());
                checks.push(eval::clean_state(host, strongswan, &mut console));
            }
            None => {
                return Err(lab_err!("IPsec host {h} is not in VIRTHOSTS"));
            }
        }
    }
    drop(captures);
    for mut s in servers {
        crate::cmd::signal(s.id(), "TERM");
        if crate::cmd::wait_bounded(&mut s, Duration::from_secs(5)).is_none() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
    write_file(&dir.join("console.log"), &console.text)?;
    let mut fails = String::new();
    for c in checks.iter().filter(|c| !c.pass) {
        let why = c
            .excused
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        fails.push_str(&format!("{}{why}\n{}\n", c.what, c.shown));
    }
    write_file(&dir.join("failures.txt"), &fails)?;
    drop(hosts);
    drop(net);
    Ok(checks)
}
