//! The guest runner: boots Debian's kernel ONCE under QEMU with virtme-ng
//! (software emulation, `--disable-kvm`: the host's /dev/kvm hangs a stock
//! kernel), with the host's root shared read-only and one read-write results
//! folder (`--rwdir`), and runs every requested scenario inside that boot with
//! `interop-lab guest-inside`. Each scenario's result line, report and peer
//! logs land in the results folder; the host reads them back. A boot failure
//! or a timeout is an error that carries the console's tail.
//!
//! Only one guest runs at a time on the machine: the boot is wrapped in
//! `flock /tmp/iked-guest.lock`, and the runner first waits (bounded) for any
//! other `qemu-system` process to end (QEMU's TCG eats both cores).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd::{Daemon, have, poll, run};
use crate::scenario::{self, Outcome};
use crate::{Result, lab_err, write_file};

/// The lock every guest boot of this project takes.
pub const LOCK: &str = "/tmp/iked-guest.lock";

/// A guest run to make.
#[derive(Debug, Clone)]
pub struct GuestRun {
    /// Scenario names to run inside the guest, in order.
    pub scenarios: Vec<String>,
    /// Results folder (shared read-write with the guest).
    pub out: PathBuf,
    /// Bound on the whole guest (boot + scenarios).
    pub timeout: Duration,
    /// Bound on waiting for another QEMU / the lock.
    pub wait_other: Duration,
    /// The `interop-lab` binary (run inside the guest at its host path).
    pub lab_bin: PathBuf,
    /// Guest memory, e.g. "1G".
    pub memory: String,
    /// Also run the xfrm crate's guest suite (`lab/guest-xfrm.sh`) in the
    /// same boot, after the scenarios.
    pub xfrm_suite: Option<XfrmSuite>,
    /// How many Rust scenarios run at once inside the guest (each has its
    /// own namespaces, folders and mount namespaces); `$LAB_JOBS`, default 3.
    pub jobs: usize,
}

/// The xfrm crate's guest suite: its script and prebuilt binaries.
#[derive(Debug, Clone)]
pub struct XfrmSuite {
    /// `xfrm/examples/xfrm-lab.rs`, built (release).
    pub lab: PathBuf,
    /// The xfrm crate's netns test binary, if any.
    pub tests: Option<PathBuf>,
    /// Its scenario list (`SCENARIOS` of guest-xfrm.sh); `None`: all of them.
    pub scenarios: Option<String>,
}

/// What a guest run produced.
#[derive(Debug, Clone)]
pub struct GuestReport {
    /// Per-scenario outcomes, read from the results folder.
    pub outcomes: Vec<Outcome>,
    /// Seconds from launch to the guest's first command.
    pub boot_secs: Option<f64>,
    /// Whole run, seconds.
    pub total_secs: f64,
    /// The kernel booted.
    pub kernel: String,
    /// Results folder.
    pub out: PathBuf,
}

impl GuestRun {
    /// A run of `scenarios` with defaults: results in a fresh
    /// `/tmp/iked-lab-guest.<pid>`, 40 min bound, 2 GiB.
    pub fn new(scenarios: Vec<String>, lab_bin: PathBuf) -> GuestRun {
        GuestRun {
            scenarios,
            out: PathBuf::from(format!("/tmp/iked-lab-guest.{}", std::process::id())),
            timeout: Duration::from_secs(2400),
            wait_other: Duration::from_secs(1200),
            lab_bin,
            memory: "2G".into(),
            xfrm_suite: None,
            jobs: std::env::var("LAB_JOBS")
                .ok()
                .and_then(|j| j.parse().ok())
                .filter(|&j| j > 0)
                .unwrap_or(3),
        }
    }

    /// Boots, runs, collects. `Err` for anything that kept the scenarios
    /// from reporting (no vng, boot failure, timeout), with the console tail.
    pub fn run(&self) -> Result<GuestReport> {
        let t0 = Instant::now();
        let vng = venv_bin().join("vng");
        if !vng.exists() {
            return Err(lab_err!(
                "{} not found: run interop-tests/lab/setup.sh (QEMU, kernel, virtme-ng)",
                vng.display()
            ));
        }
        for p in ["flock", "timeout", "qemu-system-x86_64"] {
            if !have(p) {
                return Err(lab_err!("{p} not found: run interop-tests/lab/setup.sh"));
            }
        }
        let kernel = newest_kernel()?;
        let _ = std::fs::remove_dir_all(&self.out);
        crate::make_dir(&self.out)?;
        if self
            .scenarios
            .iter()
            .any(|n| n.starts_with(crate::conformance::PREFIX))
        {
            crate::conformance::prepare(&self.out)?;
        }
        let other = poll(self.wait_other, || {
            let busy = run(&["pgrep", "-f", "qemu-system"], Duration::from_secs(5))
                .map(|o| o.status.success())
                .unwrap_or(false);
            if busy {
                std::thread::sleep(Duration::from_secs(4));
            }
            (!busy).then_some(())
        });
        if other.is_none() {
            return Err(lab_err!(
                "another qemu-system kept running for {:?}; not booting a second guest",
                self.wait_other
            ));
        }
        // The guest sees the host's root read-only, except /tmp, /var/cache and
        // friends (tmpfs there): run a copy of the lab binary from the shared
        // results folder, wherever the checkout is.
        if let Some(x) = &self.xfrm_suite {
            let dir = self.out.join("xfrm");
            crate::make_dir(&dir)?;
            let script = crate::repo_root().join("interop-tests/lab/guest-xfrm.sh");
            let mut copies = vec![
                (script, dir.join("guest-xfrm.sh")),
                (x.lab.clone(), dir.join("xfrm-lab")),
            ];
            if let Some(t) = &x.tests {
                copies.push((t.clone(), dir.join("xfrm-netns-tests")));
            }
            for (from, to) in copies {
                std::fs::copy(&from, &to).map_err(|e| {
                    lab_err!("cannot copy {} to {}: {e}", from.display(), to.display())
                })?;
            }
            if let Some(sc) = &x.scenarios {
                write_file(&dir.join("env.sh"), &format!("SCENARIOS=\"{sc}\"\n"))?;
            }
        }
        let bin = self.out.join("interop-lab");
        std::fs::copy(&self.lab_bin, &bin).map_err(|e| {
            lab_err!(
                "cannot copy {} to {}: {e}",
                self.lab_bin.display(),
                bin.display()
            )
        })?;
        // the names go in a file: the command rides on the kernel's command
        // line, which holds 2 KiB at most (a long list hung the boot)
        let names_file = self.out.join("names.txt");
        write_file(&names_file, &(self.scenarios.join("\n") + "\n"))?;
        let inside = format!(
            "env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LAB_LIBRESWAN={} {} guest-inside --jobs {} --out {} --names-file {}",
            crate::peer::Libreswan::root().display(),
            bin.display(),
            self.jobs,
            self.out.display(),
            names_file.display()
        );
        let path = format!(
            "{}:{}",
            venv_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let secs = self.timeout.as_secs().to_string();
        let wait = self.wait_other.as_secs().to_string();
        let kernel_s = kernel.display().to_string();
        let out_s = self.out.display().to_string();
        let console = self.out.join("console.log");
        let mut d = Daemon::spawn(
            "vng",
            &[
                "flock",
                "-w",
                &wait,
                LOCK,
                "timeout",
                "-k",
                "10",
                &secs,
                &vng.display().to_string(),
                "--run",
                &kernel_s,
                "--disable-kvm",
                "-m",
                &self.memory,
                "-p",
                "2",
                "--rwdir",
                &out_s,
                "--exec",
                &inside,
            ],
            &[("PATH", &path)],
            &console,
        )?;
        let status = wait_with(
            &mut d,
            self.timeout + self.wait_other + Duration::from_secs(30),
        );
        let results = std::fs::read_to_string(self.out.join("results.txt")).unwrap_or_default();
        // the guest kernel's uptime at its first command: the boot time
        let boot_secs = results
            .lines()
            .find_map(|l| l.strip_prefix("BOOTED "))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        let console_tail = crate::cmd::tail(&console, 40);
        if !results.lines().any(|l| l.starts_with("BOOTED")) {
            return Err(lab_err!(
                "the guest never ran its first command (boot failure or timeout; vng {status}). Console tail ({}):\n{console_tail}",
                console.display()
            ));
        }
        let mut outcomes = Vec::new();
        for name in &self.scenarios {
            let dir = self.out.join(name);
            let line = results
                .lines()
                .find(|l| l.starts_with(&format!("RESULT {name} ")));
            outcomes.push(match line.and_then(parse_result) {
                Some(o) => Outcome { dir, ..o },
                None => Outcome {
                    name: name.clone(),
                    pass: false,
                    detail: format!(
                        "no result from the guest (it stopped or timed out; vng {status}); guest log tail:\n{}\nconsole tail:\n{console_tail}",
                        crate::cmd::tail(&self.out.join("guest.log"), 20)
                    ),
                    secs: 0.0,
                    dir,
                },
            });
        }
        // the xfrm suite's results, folded in as "xfrm/<name>"
        for line in results.lines().filter(|l| l.starts_with("RESULT xfrm/")) {
            if let Some(o) = parse_result(line) {
                outcomes.push(Outcome {
                    dir: self.out.join("xfrm"),
                    ..o
                });
            }
        }
        if self.xfrm_suite.is_some() && !results.lines().any(|l| l.starts_with("RESULT xfrm/")) {
            outcomes.push(Outcome {
                name: "xfrm-suite".into(),
                pass: false,
                detail: format!(
                    "the xfrm suite reported nothing; its log tail:\n{}",
                    crate::cmd::tail(&self.out.join("xfrm/guest.log"), 20)
                ),
                secs: 0.0,
                dir: self.out.join("xfrm"),
            });
        }
        if !results.lines().any(|l| l == "DONE") && outcomes.iter().all(|o| o.pass) {
            return Err(lab_err!(
                "the guest did not finish (vng {status}); console tail:\n{console_tail}"
            ));
        }
        Ok(GuestReport {
            outcomes,
            boot_secs,
            total_secs: t0.elapsed().as_secs_f64(),
            kernel: kernel_s,
            out: self.out.clone(),
        })
    }
}

/// Every scenario of the default guest suite (and the conformance CI
/// subset, [`crate::conformance::CI`]); `$LAB_SCENARIOS`
/// (space-separated) selects a subset.
pub fn default_names() -> Vec<String> {
    match std::env::var("LAB_SCENARIOS") {
        Ok(s) if !s.trim().is_empty() => s.split_whitespace().map(String::from).collect(),
        _ => scenario::names(scenario::Place::Guest)
            .into_iter()
            .map(String::from)
            .chain(crate::conformance::ci_names())
            .collect(),
    }
}

/// Waits for `d` at most `bound`, then ends it by PID.
fn wait_with(d: &mut Daemon, bound: Duration) -> String {
    let t = Instant::now();
    loop {
        if let Some(st) = d.exited() {
            return st.to_string();
        }
        if t.elapsed() > bound {
            d.stop(Duration::from_secs(10));
            return "killed after the time bound".into();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Parses `RESULT name PASS|FAIL 1.23s detail`.
pub fn parse_result(line: &str) -> Option<Outcome> {
    let mut it = line.splitn(5, ' ');
    if it.next()? != "RESULT" {
        return None;
    }
    let name = it.next()?.to_owned();
    let pass = match it.next()? {
        "PASS" => true,
        "FAIL" => false,
        _ => return None,
    };
    let secs = it.next()?.trim_end_matches('s').parse().ok()?;
    let detail = it.next().unwrap_or("").to_owned();
    Some(Outcome {
        name,
        pass,
        detail,
        secs,
        dir: PathBuf::new(),
    })
}

/// The virtme-ng venv's bin folder: `$LAB_VENV/bin`, default
/// `$LAB_CACHE/venv/bin` (where `interop-tests/lab/setup.sh` puts it).
pub fn venv_bin() -> PathBuf {
    std::env::var_os("LAB_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::lab_cache().join("venv"))
        .join("bin")
}

/// The newest `/boot/vmlinuz-*`.
pub fn newest_kernel() -> Result<PathBuf> {
    let mut ks: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir("/boot")
        .map_err(|e| lab_err!("/boot: {e} (run interop-tests/lab/setup.sh)"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_owned();
            let key = ver
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            Some((key, e.path()))
        })
        .collect();
    ks.sort();
    ks.pop().map(|(_, p)| p).ok_or_else(|| {
        lab_err!("no /boot/vmlinuz-*: run interop-tests/lab/setup.sh (linux-image-amd64)")
    })
}

/// Inside the guest: runs the xfrm crate's suite from `dir` (bounded to 15
/// minutes) and copies its `RESULT` lines as `RESULT xfrm/NAME ...`.
fn run_xfrm_suite(dir: &Path, log: &mut std::fs::File, results: &mut std::fs::File) -> bool {
    let t = std::time::Instant::now();
    let (script, lab, tests) = (
        dir.join("guest-xfrm.sh").display().to_string(),
        dir.join("xfrm-lab").display().to_string(),
        dir.join("xfrm-netns-tests"),
    );
    let d = dir.display().to_string();
    let tests_s = tests.display().to_string();
    let mut argv = vec!["bash", script.as_str(), d.as_str(), lab.as_str()];
    if tests.exists() {
        argv.push(&tests_s);
    }
    let r = run(&argv, Duration::from_secs(900));
    let _ = writeln!(
        log,
        "xfrm suite: {:?} after {:?}",
        r.as_ref().map(|o| o.status),
        t.elapsed()
    );
    let theirs = std::fs::read_to_string(dir.join("results.txt")).unwrap_or_default();
    let mut ok = r.is_ok() && theirs.lines().any(|l| l == "DONE");
    for line in theirs.lines() {
        let Some(rest) = line.strip_prefix("RESULT ") else {
            continue;
        };
        let mut it = rest.splitn(2, ' ');
        let name = it.next().unwrap_or("?");
        let rest = it.next().unwrap_or("");
        let pass = rest.starts_with("PASS");
        ok &= pass;
        let detail = rest
            .trim_start_matches("PASS")
            .trim_start_matches("FAIL")
            .trim();
        let _ = writeln!(
            results,
            "RESULT xfrm/{name} {} 0.00s {}",
            if pass { "PASS" } else { "FAIL" },
            detail.replace('\n', " | ")
        );
    }
    let _ = results.flush();
    ok
}

/// Inside the guest: load the kernel modules, run `names` (`jobs` at a
/// time, each in its own namespaces and folders), append each `RESULT` line to `out/results.txt` as it comes, and end with
/// `DONE`. Everything printed also goes to `out/guest.log`.
pub fn inside(out: &Path, names: &[String], jobs: usize) -> Result<bool> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("guest.log"))
        .map_err(|source| crate::Error::Io {
            path: out.join("guest.log"),
            source,
        })?;
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let uptime = uptime.split_whitespace().next().unwrap_or("?").to_owned();
    let results_path = out.join("results.txt");
    write_file(&results_path, &format!("BOOTED {uptime}\n"))?;
    let results = std::fs::OpenOptions::new()
        .append(true)
        .open(&results_path)
        .map_err(|source| crate::Error::Io {
            path: results_path.clone(),
            source,
        })?;
    let kernel = run(&["uname", "-r"], Duration::from_secs(5))
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_default();
    let _ = writeln!(
        log,
        "guest: kernel {kernel}, uptime {uptime}s at first command, {jobs} scenario(s) at a time"
    );
    let m = run(
        &[
            "modprobe",
            "-a",
            "esp4",
            "esp6",
            "xfrm_user",
            "xfrm_interface",
            "ip_vti",
            "ip6_vti",
            "ip_gre",
            "veth",
            "dummy",
        ],
        Duration::from_secs(60),
    );
    let _ = writeln!(log, "modprobe: {m:?}");
    warm_crypto(&mut log);
    let mut all_pass = true;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let shared = std::sync::Mutex::new((log, results, true));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(name) = names.get(i) else { break };
                    let o = match scenario::find(name) {
                        Some(sc) => sc.run(out),
                        None if name.starts_with(crate::conformance::PREFIX) => {
                            crate::conformance::run(out, name)
                        }
                        None => Outcome {
                            name: name.clone(),
                            pass: false,
                            detail: "unknown scenario".into(),
                            secs: 0.0,
                            dir: out.join(name),
                        },
                    };
                    let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
                    g.2 &= o.pass;
                    let _ = writeln!(g.0, "{}", o.line());
                    let _ = writeln!(g.1, "{}", o.line());
                    let _ = g.1.flush();
                }
            });
        }
    });
    let (mut log, mut results, ours_pass) = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    all_pass &= ours_pass;
    let xdir = out.join("xfrm");
    if xdir.join("guest-xfrm.sh").exists() {
        all_pass &= run_xfrm_suite(&xdir, &mut log, &mut results);
    }
    let _ = writeln!(results, "DONE");
    let _ = results.sync_all();
    Ok(all_pass)
}

/// The ESP transforms the scenarios use, as `ip xfrm state add` arguments.
const WARM_TRANSFORMS: &[&str] = &[
    "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff auth-trunc 'hmac(sha256)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 128",
    "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff auth-trunc 'hmac(sha1)' 0x00112233445566778899aabbccddeeff00112233 96",
    "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff auth-trunc 'hmac(sha384)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 192",
    "enc 'cbc(des3_ede)' 0x00112233445566778899aabbccddeeff0011223344556677 auth-trunc 'hmac(sha1)' 0x00112233445566778899aabbccddeeff00112233 96",
    "aead 'rfc4106(gcm(aes))' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233 128",
    "aead 'rfc4106(gcm(aes))' 0x00112233445566778899aabbccddeeff00112233 128",
];

/// Instantiates the kernel's ESP transforms once, in a namespace made and
/// deleted here, before any scenario runs: under emulation the first SA
/// with a transform pays for its instantiation and the crypto manager's
/// self-tests (seen: strongSwan's first CHILD_SA install after boot took
/// 17 s, and its peer gave up on the IKE_AUTH), which then fell on
/// whichever scenarios came first.
fn warm_crypto(log: &mut impl std::io::Write) {
    let t = std::time::Instant::now();
    let ns = format!("iked-warm-{}", std::process::id());
    let mut script = format!("set -u; ip netns add {ns} || exit 1; n=0\n");
    for (i, x) in WARM_TRANSFORMS.iter().enumerate() {
        script.push_str(&format!(
            "ip -n {ns} xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi {} mode tunnel {x} && n=$((n+1))\n",
            0x100 + i
        ));
    }
    script.push_str(&format!(
        "ip -n {ns} xfrm state flush; ip netns del {ns}; echo $n\n"
    ));
    let r = run(&["bash", "-c", &script], Duration::from_secs(300));
    let _ = writeln!(
        log,
        "guest: ESP transforms warmed in {:.1}s ({} of {} installed)",
        t.elapsed().as_secs_f64(),
        r.as_ref()
            .map(|o| o.stdout.trim().to_owned())
            .unwrap_or_else(|e| e.to_string()),
        WARM_TRANSFORMS.len()
    );
}

#[cfg(test)]
mod tests {
    use super::parse_result;

    #[test]
    fn parses_result_lines() {
        let o = parse_result("RESULT gcm PASS 12.50s left +3, right +3").expect("line");
        assert_eq!(o.name, "gcm");
        assert!(o.pass);
        assert_eq!(o.secs, 12.5);
        assert_eq!(o.detail, "left +3, right +3");
        let o = parse_result("RESULT vti FAIL 3.00s no inbound ESP SA").expect("line");
        assert!(!o.pass);
        assert!(parse_result("RESULT vti MAYBE 3.00s x").is_none());
        assert!(parse_result("BOOTED 12.3").is_none());
    }
}
