//! Running a scenario's `.dat` files as strongSwan's `do-tests` runs them:
//! pre- and posttest commands on their hosts (output to the console log,
//! never judged), each evaltest line's command on its host with its output
//! grepped here (`grep "PATTERN"`, the pattern in double quotes as do-tests
//! quotes it) and judged by YES / NO / a line count; `tcpdump` checks read
//! the host's capture, stopped at its first check; after the posttest,
//! every IPsec host must have no IPsec SA (IPComp's `proto 4` aside) and no
//! policy left in the kernel.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dat::DatLine;
use super::host::Host;
use crate::cmd::{run, wait_bounded};
use crate::{Result, lab_err};

/// How long an IPsec host may take to clear its SAs after the posttest.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Bound on one command of a `.dat` file.
const CMD_TIMEOUT: Duration = Duration::from_secs(90);

/// One judged check.
#[derive(Debug, Clone)]
pub struct Check {
    /// The line as written (or a description of the final state check).
    pub what: String,
    /// Did it pass.
    pub pass: bool,
    /// What grep returned, and on failure the head of the command's output.
    pub shown: String,
    /// Not judged, and why: the check failed for a reason that is the
    /// emulated guest's and strongSwan's, never iked's (see
    /// [`clean_state`]); it counts neither as passed nor as failed.
    pub excused: Option<String>,
}

/// A running tcpdump (`init-test`'s, on eth0).
#[derive(Debug)]
pub struct Capture {
    child: Option<std::process::Child>,
    /// Its output (the `/tmp/tcpdump.log` of do-tests).
    pub log: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `host`'s eth0, as strongSwan's init-test does, and
    /// waits (bounded) until it listens.
    pub fn start(host: &Host) -> Result<Capture> {
        let log = host.dir.join("tcpdump.log");
        let err = host.dir.join("tcpdump.err");
        let child = host.spawn(
            &[
                "tcpdump",
                "-l",
                "--immediate-mode",
                "-i",
                "eth0",
                "not",
                "port",
                "ssh",
                "and",
                "not",
                "port",
                "domain",
            ],
            &log,
            &err,
        )?;
        let listening = crate::cmd::poll(Duration::from_secs(15), || {
            std::fs::read_to_string(&err)
                .ok()
                .filter(|s| s.contains("listening on"))
        });
        if listening.is_none() {
            return Err(lab_err!(
                "tcpdump on {} did not start listening: {}",
                host.name,
                std::fs::read_to_string(&err).unwrap_or_default().trim()
            ));
        }
        Ok(Capture {
            child: Some(child),
            log,
        })
    }

    /// Stops it (after a moment for the last packets), by PID.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            std::thread::sleep(Duration::from_millis(500));
            crate::cmd::signal(c.id(), "TERM");
            if wait_bounded(&mut c, Duration::from_secs(5)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The console log of a scenario (do-tests' console.log; each command's
/// line carries the seconds since the start, as `do-tests -t` does).
#[derive(Debug)]
pub struct Console {
    /// Its text.
    pub text: String,
    start: std::time::Instant,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            text: String::new(),
            start: std::time::Instant::now(),
        }
    }
}

impl Console {
    fn stamp(&self) -> String {
        format!("{:6.1}s ~ ", self.start.elapsed().as_secs_f64())
    }

    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }
}

/// How much longer a pre/posttest `sleep N` waits here: it gives a daemon
/// time to act (e.g. net2net-start's `auto=start` IKE_SA), which takes
/// several times longer in the emulated guest than on strongSwan's KVM.
pub const SLEEP_FACTOR: u32 = 4;

/// A pre/posttest command that is exactly `sleep N` (whole seconds), with
/// N scaled by [`SLEEP_FACTOR`]; any other command unchanged.
pub fn emulated_sleep(command: &str) -> String {
    let t = command.trim();
    match t.strip_prefix("sleep ").map(|n| n.trim().parse::<u32>()) {
        Some(Ok(n)) => format!("sleep {}", n.saturating_mul(SLEEP_FACTOR)),
        _ => command.to_owned(),
    }
}

/// Runs pre- or posttest lines; their output goes to the console only.
pub fn script(hosts: &BTreeMap<String, Host>, lines: &[DatLine], console: &mut Console) {
    for l in lines {
        script_line(hosts, l, console);
    }
}

/// Runs posttest lines as [`script`] does; after a host's `ipsec stop`,
/// waits (at most [`DRAIN_BOUND`]) until the IPsec hosts still running hold
/// no SA with that host's addresses any more. On strongSwan's KVM hosts a
/// peer has handled the stopped daemon's DELETE long before do-tests' next
/// ssh command stops it too; in the emulated guest charon can still be in
/// the DELETE's updown runs when its own `ipsec stop` comes, and the
/// starter's stop then kills it with its SAs still in the kernel (seen in
/// CI: protoport-dual's carol, both CHILD_SAs left). Both passes wait
/// alike; a peer that got no DELETE keeps its SAs past the bound, and its
/// own stop and the final kernel check judge it as before.
pub fn posttest(
    hosts: &BTreeMap<String, Host>,
    ipsec_hosts: &[String],
    lines: &[DatLine],
    console: &mut Console,
) {
    let mut stopped: Vec<&str> = Vec::new();
    for l in lines {
        script_line(hosts, l, console);
        let DatLine::Cmd { host, command, .. } = l else {
            continue;
        };
        if command.trim() != "ipsec stop" {
            continue;
        }
        stopped.push(host);
        let Some(h) = hosts.get(host) else {
            continue;
        };
        let running: Vec<&Host> = ipsec_hosts
            .iter()
            .filter(|n| !stopped.contains(&n.as_str()))
            .filter_map(|n| hosts.get(n))
            .collect();
        drain(h, running, console);
    }
}

/// How long the peers of a stopped host may take to handle its DELETEs.
pub const DRAIN_BOUND: Duration = Duration::from_secs(12);

/// Waits until no host in `running` has an SA from or to `stopped`'s
/// addresses (bounded by [`DRAIN_BOUND`]); notes the wait on the console.
fn drain(stopped: &Host, running: Vec<&Host>, console: &mut Console) {
    let addrs = host_addresses(stopped);
    if addrs.is_empty() {
        return;
    }
    let holds = |h: &&Host| {
        h.exec("ip xfrm state", Duration::from_secs(20))
            .is_ok_and(|e| {
                ipsec_sas(&e.stdout).any(|(src, dst)| addrs.iter().any(|a| a == src || a == dst))
            })
    };
    if let Some((waited, left)) = wait_while(running, DRAIN_BOUND, holds) {
        console.line(&format!(
            "(emulated guest: waited {:.1}s for the peers of {} to handle its DELETEs{})\n",
            waited.as_secs_f64(),
            stopped.name,
            still(&left, "; SAs with it still on ")
        ));
    }
}

/// A host's global addresses (`ip -o addr`, loopback and link-local aside).
fn host_addresses(h: &Host) -> Vec<String> {
    let out = h
        .exec("ip -o addr show", Duration::from_secs(20))
        .map(|e| e.stdout)
        .unwrap_or_default();
    parse_addresses(&out)
}

fn parse_addresses(ip_o_addr: &str) -> Vec<String> {
    ip_o_addr
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.find(|t| *t == "inet" || *t == "inet6")?;
            let a = w.next()?.split('/').next()?;
            let local = a.starts_with("127.") || a == "::1" || a.starts_with("fe80:");
            (!local).then(|| a.to_owned())
        })
        .collect()
}

/// The (src, dst) of each SA in `ip xfrm state` output, IPComp's
/// `proto 4` SAs aside (they outlive the ESP SAs they served).
fn ipsec_sas(xfrm_state: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut lines = xfrm_state.lines().peekable();
    std::iter::from_fn(move || {
        while let Some(l) = lines.next() {
            let mut w = l.split_whitespace();
            let (Some("src"), Some(src), Some("dst"), Some(dst)) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                continue;
            };
            if !lines.peek().is_some_and(|n| n.contains("proto 4")) {
                return Some((src, dst));
            }
        }
        None
    })
}

fn script_line(hosts: &BTreeMap<String, Host>, l: &DatLine, console: &mut Console) {
    match l {
        DatLine::Comment(c) => console.line(c),
        DatLine::Cmd { host, command, .. } => {
            let st = console.stamp();
            console.line(&format!("{st}{host}# {command}"));
            let command = emulated_sleep(command);
            match hosts.get(host) {
                Some(h) => match h.exec(&command, CMD_TIMEOUT) {
                    Ok(e) => {
                        console.text.push_str(&e.stdout);
                        console.text.push_str(&e.stderr);
                        if e.status.is_none() {
                            console.line(&format!("(killed after {CMD_TIMEOUT:?})"));
                        }
                    }
                    Err(e) => console.line(&format!("({e})")),
                },
                None => console.line(&format!("(host {host} is not part of this scenario)")),
            }
            console.line("");
        }
    }
}

/// `grep "PATTERN" < file`, as do-tests greps: (found, grep's output).
fn grep(pattern: &str, file: &Path) -> Result<(bool, String)> {
    let o = run(
        &[
            "bash",
            "-c",
            &format!("grep \"{pattern}\" < \"$0\"",),
            &file.display().to_string(),
        ],
        Duration::from_secs(20),
    )?;
    Ok((o.status.success(), o.stdout))
}

fn head(s: &str, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join("\n")
}

/// Runs the evaltest lines and judges them.
pub fn evaltest(
    hosts: &BTreeMap<String, Host>,
    captures: &mut BTreeMap<String, Capture>,
    lines: &[DatLine],
    dir: &Path,
    console: &mut Console,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        let (host, command, pattern, hit, raw) = match l {
            DatLine::Comment(c) => {
                console.line(c);
                continue;
            }
            DatLine::Cmd {
                host,
                command,
                pattern,
                hit,
                raw,
                ..
            } => (host, command, pattern, *hit, raw),
        };
        let out_file = dir.join(format!("eval-{n}.out"));
        let mut err_text = String::new();
        let output: std::result::Result<String, String> = if command.trim() == "tcpdump" {
            match captures.get_mut(host) {
                Some(c) => {
                    c.stop();
                    Ok(std::fs::read_to_string(&c.log).unwrap_or_default())
                }
                None => Err(format!("no tcpdump on {host} (not in TCPDUMPHOSTS)")),
            }
        } else {
            match hosts.get(host) {
                Some(h) => match h.exec(command, CMD_TIMEOUT) {
                    Ok(e) => {
                        err_text = e.stderr;
                        if e.status.is_none() {
                            err_text.push_str(&format!("(killed after {CMD_TIMEOUT:?})\n"));
                        }
                        Ok(e.stdout)
                    }
                    Err(e) => Err(e.to_string()),
                },
                None => Err(format!("host {host} is not part of this scenario")),
            }
        };
        let (pass, res, out) = match output {
            Ok(out) => {
                let _ = std::fs::write(&out_file, &out);
                match grep(pattern, &out_file) {
                    Ok((found, res)) => (hit.judge(found, &res), res, out),
                    Err(e) => (false, format!("(grep: {e})\n"), out),
                }
            }
            Err(e) => (false, format!("({e})\n"), String::new()),
        };
        let shown_cmd = if command.trim() == "tcpdump" {
            "cat /tmp/tcpdump.log".to_owned()
        } else {
            command.trim().to_owned()
        };
        let hit_s = raw.rsplit("::").next().unwrap_or("");
        let mut shown = String::new();
        if !pass {
            console.line("~~~~~~~ FAIL ~~~~~~~");
        }
        console.line(&format!(
            "{host}# {shown_cmd} | grep '{pattern}'  [{hit_s}]"
        ));
        shown.push_str(&res);
        console.text.push_str(&res);
        console.text.push_str(&err_text);
        if !pass && !out.is_empty() {
            let h = head(&out, 10);
            let _ = writeln!(shown, "~~ output ~~~~~~~~~~\n{h}");
            console.line("~~ output ~~~~~~~~~~");
            console.line(&h);
            console.line("~~~~~~~~~~~~~~~~~~~~");
        }
        if !pass && !err_text.is_empty() {
            shown.push_str(&err_text);
        }
        console.line("");
        checks.push(Check {
            what: raw.clone(),
            pass,
            shown,
            excused: None,
        });
    }
    checks
}

/// How long the IKE_SAs a pretest started may take to finish connecting
/// (see [`settle`]).
pub const SETTLE_BOUND: Duration = Duration::from_secs(20);

/// After the pretest: waits (at most [`SETTLE_BOUND`]) until no IPsec host
/// shows an IKE_SA `CONNECTING` in its `ipsec status`. On strongSwan's KVM
/// hosts an exchange the pretest started (a trap's acquire from a ping,
/// `auto=start`) is done before the evaltest looks; in the emulated guest
/// an RSA signature alone can take seconds (net2net-route's evaltest found
/// the IKE_SA still connecting). Both passes wait alike; a connection that
/// never completes is still judged by the evaltest, after the bound.
pub fn settle(hosts: &BTreeMap<String, Host>, ipsec_hosts: &[String], console: &mut Console) {
    let connecting = |h: &&Host| {
        h.exec("ipsec status 2> /dev/null", Duration::from_secs(20))
            .is_ok_and(|e| e.stdout.contains(": CONNECTING"))
    };
    let all: Vec<&Host> = ipsec_hosts.iter().filter_map(|n| hosts.get(n)).collect();
    if let Some((waited, left)) = wait_while(all, SETTLE_BOUND, connecting) {
        console.line(&format!(
            "(emulated guest: waited {:.1}s for IKE_SAs still connecting{})\n",
            waited.as_secs_f64(),
            still(&left, "; still connecting on ")
        ));
    }
}

/// Polls `busy` on `items` every 500 ms, dropping those that are done,
/// until none is busy or `bound` has passed. `None` when none was busy at
/// the start (no wait); else how long it waited and what was still busy.
fn wait_while<'a>(
    mut items: Vec<&'a Host>,
    bound: Duration,
    busy: impl Fn(&&'a Host) -> bool,
) -> Option<(Duration, Vec<&'a Host>)> {
    let t = std::time::Instant::now();
    items.retain(&busy);
    if items.is_empty() {
        return None;
    }
    while !items.is_empty() && t.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(500));
        items.retain(&busy);
    }
    Some((t.elapsed(), items))
}

/// `prefix` and the hosts' names, or nothing when there are none.
fn still(hosts: &[&Host], prefix: &str) -> String {
    if hosts.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    format!("{prefix}{}", names.join(", "))
}

/// strongSwan's starter's line when its charon outlived the starter's
/// stop bound (about 8 s) and was killed with its SAs still installed.
const STARTER_KILLED_CHARON: &str = "charon does not respond, sending KILL";

/// After the posttest: no IPsec SA and no policy left on `host`.
/// A daemon still shutting down (deleting its SAs, running updown for each)
/// is given up to [`SHUTDOWN_GRACE`]: in the emulated guest that takes
/// seconds, where strongSwan's KVM hosts are done before do-tests looks.
/// On a strongSwan host (`strongswan`) whose starter killed charon
/// mid-shutdown ([`STARTER_KILLED_CHARON`] in its log: the updown runs for
/// its CHILD_SAs took longer than the starter waits, which happens only
/// under emulation), what is left is strongSwan's, whatever the other
/// hosts run: the check is shown with its leftovers but not judged.
pub fn clean_state(host: &Host, strongswan: bool, console: &mut Console) -> Check {
    let look = || {
        let state = host
            .exec("ip xfrm state", Duration::from_secs(20))
            .map(|e| e.stdout)
            .unwrap_or_else(|e| format!("({e})"));
        let policy = host
            .exec("ip xfrm policy", Duration::from_secs(20))
            .map(|e| e.stdout)
            .unwrap_or_else(|e| format!("({e})"));
        let pass = ipsec_sas(&state).next().is_none() && policy.trim().is_empty();
        (pass, state, policy)
    };
    let t = std::time::Instant::now();
    let (pass, state, policy) = loop {
        let r = look();
        if r.0 || t.elapsed() > SHUTDOWN_GRACE {
            break r;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let mut shown = String::new();
    if !pass {
        let _ = write!(
            shown,
            "{0}# ip xfrm state [NO]\n{state}\n{0}# ip xfrm policy [NO]\n{policy}",
            host.name
        );
        console.text.push('\n');
        console.text.push_str(&shown);
    }
    let killed = !pass && strongswan && starter_killed_charon(host);
    let excused = killed.then(|| {
        let why = format!(
            "not judged: {}'s strongSwan starter killed charon during its shutdown (\"{STARTER_KILLED_CHARON}\")",
            host.name
        );
        console.line(&format!("({why})"));
        why
    });
    Check {
        what: format!(
            "{}::ip xfrm state; ip xfrm policy::(empty after the posttest)",
            host.name
        ),
        pass,
        shown,
        excused,
    }
}

/// Did the host's strongSwan starter log that it killed charon?
fn starter_killed_charon(host: &Host) -> bool {
    ["daemon.log", "auth.log"].iter().any(|f| {
        std::fs::read_to_string(host.dir.join("log").join(f))
            .is_ok_and(|t| t.contains(STARTER_KILLED_CHARON))
    })
}

#[cfg(test)]
mod tests {
    use super::{emulated_sleep, ipsec_sas, parse_addresses};

    #[test]
    fn addresses_and_sas_with_a_stopped_host() {
        let addrs = parse_addresses(
            "1: lo    inet 127.0.0.1/8 scope host lo\n\
             2: eth0    inet 192.168.0.1/24 brd 192.168.0.255 scope global eth0\n\
             2: eth0    inet6 fec0::1/16 scope site\n\
             2: eth0    inet6 fe80::1/64 scope link\n",
        );
        assert_eq!(addrs, ["192.168.0.1", "fec0::1"]);
        let carol =
            "src 192.168.0.100 dst 192.168.0.1\n\tproto esp spi 0xc4a58dac reqid 2 mode tunnel\n";
        let sa_with = |out: &str, addrs: &[String]| {
            ipsec_sas(out).any(|(s, d)| addrs.iter().any(|a| a == s || a == d))
        };
        assert!(sa_with(carol, &addrs));
        let other = "src 192.168.0.100 dst 192.168.0.2\n\tproto esp spi 0x1 reqid 1 mode tunnel\n";
        assert!(!sa_with(other, &addrs));
        let ipcomp =
            "src 192.168.0.100 dst 192.168.0.1\n\tproto 4 spi 0xc0a86464 reqid 0 mode tunnel\n";
        assert!(!sa_with(ipcomp, &addrs));
        assert!(!sa_with("", &addrs));
    }

    #[test]
    fn only_plain_sleeps_are_stretched() {
        assert_eq!(emulated_sleep("sleep 1"), "sleep 4");
        assert_eq!(emulated_sleep(" sleep 2 "), "sleep 8");
        assert_eq!(emulated_sleep("sleep 0.5"), "sleep 0.5");
        assert_eq!(emulated_sleep("ipsec start"), "ipsec start");
    }
}
