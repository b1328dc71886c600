//! Small measurements the scenarios combine: a ping that reports what was
//! lost, the kernel's SA and policy counts of a namespace (empty or not), the
//! inbound packet counter of the SAs towards an address, and a bounded wait
//! for a condition on them.

use std::time::Duration;

use crate::check::{XfrmPolicy, XfrmSa, parse_policies, parse_states};
use crate::topology::{Host, Topology};
use crate::{Result, lab_err};

/// What one `ping` run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Echo requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// ping's summary line.
    pub summary: String,
}

impl Ping {
    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }

    /// Every request answered (and at least one sent).
    pub fn all(&self) -> bool {
        self.sent > 0 && self.received == self.sent
    }

    /// `received/sent`.
    pub fn ratio(&self) -> String {
        format!("{}/{}", self.received, self.sent)
    }
}

/// How to ping: `count` requests `interval_ms` apart, `wait_s` for each reply.
#[derive(Debug, Clone, Copy)]
pub struct PingSpec {
    /// Requests.
    pub count: u32,
    /// Milliseconds between them.
    pub interval_ms: u32,
    /// Seconds to wait for each reply.
    pub wait_s: u32,
}

impl PingSpec {
    /// `count` pings 0.3 s apart, 2 s wait each.
    pub fn n(count: u32) -> PingSpec {
        PingSpec {
            count,
            interval_ms: 300,
            wait_s: 2,
        }
    }
}

/// Pings `to` from `from` in `h`'s namespace (IPv4 or IPv6 by the address).
pub fn ping(topo: &Topology, h: &Host, from: &str, to: &str, spec: PingSpec) -> Result<Ping> {
    let fam = if to.contains(':') { "-6" } else { "-4" };
    let (c, i, w) = (
        spec.count.to_string(),
        format!("{:.1}", f64::from(spec.interval_ms) / 1000.0),
        spec.wait_s.to_string(),
    );
    let mut argv = vec!["ping", fam, "-c", &c, "-i", &i, "-W", &w];
    if !from.is_empty() {
        argv.extend_from_slice(&["-I", from]);
    }
    argv.push(to);
    let bound =
        u64::from(spec.count) * u64::from(spec.interval_ms) / 1000 + u64::from(spec.wait_s) + 10;
    let out = topo.exec(h, &argv, Duration::from_secs(bound))?;
    let summary = out
        .stdout
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .to_owned();
    let field = |suffix: &str| -> u32 {
        summary
            .split(',')
            .find_map(|p| p.trim().strip_suffix(suffix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Ping {
        sent: field(" packets transmitted"),
        received: field(" received"),
        summary,
    })
}

/// The SAs and the policies of `h`'s namespace (per-socket policies left out:
/// they belong to the daemons' sockets, not to tunnels).
pub fn kernel(topo: &Topology, h: &Host) -> Result<(Vec<XfrmSa>, Vec<XfrmPolicy>)> {
    let s = topo.ip(h, &["-s", "xfrm", "state"])?;
    let p = topo.ip(h, &["xfrm", "policy"])?;
    let pols = parse_policies(&p)
        .into_iter()
        .filter(|p| !p.dir.is_empty())
        .collect();
    Ok((parse_states(&s), pols))
}

/// `(SAs, policies)` in `h`'s namespace.
pub fn kernel_counts(topo: &Topology, h: &Host) -> Result<(usize, usize)> {
    let (s, p) = kernel(topo, h)?;
    Ok((s.len(), p.len()))
}

/// Waits (at most `bound`) until `h`'s kernel holds no SA and no policy;
/// Err names what is left.
pub fn kernel_empty(topo: &Topology, h: &Host, bound: Duration) -> Result<()> {
    let mut last = (0, 0);
    let ok = crate::cmd::poll(bound, || match kernel_counts(topo, h) {
        Ok((0, 0)) => Some(()),
        Ok(c) => {
            last = c;
            None
        }
        Err(_) => None,
    });
    ok.ok_or_else(|| {
        lab_err!(
            "{}: {} SAs and {} policies left after {bound:?}",
            h.ns,
            last.0,
            last.1
        )
    })
}

/// Inbound packets of the ESP SAs with destination `dst` in `h`'s namespace.
pub fn in_packets(topo: &Topology, h: &Host, dst: &str) -> Result<u64> {
    let (sas, _) = kernel(topo, h)?;
    Ok(sas
        .iter()
        .filter(|s| s.proto == "esp" && s.dst == dst)
        .map(|s| s.packets)
        .sum())
}

/// Collects failures and notes: each check adds a reason; the scenario fails
/// with all of them at once, and its `report.txt` holds the notes (status,
/// kernel state, captures) either way.
#[derive(Debug, Default)]
pub struct Why {
    reasons: Vec<String>,
    notes: String,
}

impl Why {
    /// Adds `reason` unless `ok`.
    pub fn check(&mut self, ok: bool, reason: impl FnOnce() -> String) {
        if !ok {
            self.reasons.push(reason());
        }
    }

    /// Adds the error of `r`, if any; returns its value.
    pub fn ok<T>(&mut self, what: &str, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.reasons.push(format!("{what}: {e}"));
                None
            }
        }
    }

    /// A section of the report.
    pub fn note(&mut self, title: &str, text: &str) {
        self.notes
            .push_str(&format!("--- {title}\n{}\n", text.trim_end()));
    }

    /// Nothing failed so far.
    pub fn clean(&self) -> bool {
        self.reasons.is_empty()
    }

    /// Writes `dir/report.txt`; `Ok(pass)` when nothing failed, else Err
    /// with every reason.
    pub fn done(self, dir: &std::path::Path, pass: String) -> Result<String> {
        let verdict = if self.reasons.is_empty() {
            format!("PASS: {pass}")
        } else {
            format!("FAILED: {}", self.reasons.join("; "))
        };
        crate::write_file(
            &dir.join("report.txt"),
            &format!("{verdict}\n{}", self.notes),
        )?;
        if self.reasons.is_empty() {
            Ok(pass)
        } else {
            Err(lab_err!("{}", self.reasons.join("; ")))
        }
    }
}

/// A tcpdump capture into a pcap file, in one namespace, counted afterwards
/// with filters (`tcpdump -r FILE FILTER`).
#[derive(Debug)]
pub struct Capture {
    file: std::path::PathBuf,
    daemon: Option<crate::cmd::Daemon>,
}

impl Capture {
    /// Starts `tcpdump -n -U -w FILE -i DEV ARGS...` in namespace `ns` (e.g.
    /// `-Q out` and a filter in `args`); waits (bounded) until it listens.
    pub fn start(ns: &str, dev: &str, args: &[&str], file: &std::path::Path) -> Result<Capture> {
        let f = file.display().to_string();
        let mut argv = vec![
            "ip", "netns", "exec", ns, "tcpdump", "-n", "-U", "-w", &f, "-i", dev,
        ];
        argv.extend_from_slice(args);
        let log = file.with_extension("log");
        let mut d = crate::cmd::Daemon::spawn("tcpdump", &argv, &[], &log)?;
        let ready = crate::cmd::poll(Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .ok()
                .filter(|s| s.contains("listening on"))
                .map(|_| ())
        });
        if ready.is_none() {
            d.ensure_running()?;
            return Err(lab_err!(
                "tcpdump in {ns} did not start listening within 30 s"
            ));
        }
        Ok(Capture {
            file: file.to_owned(),
            daemon: Some(d),
        })
    }

    /// Stops the capture (SIGTERM: tcpdump flushes the file).
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(5));
        }
    }

    /// Packets in the file that match `filter`.
    pub fn count(&mut self, filter: &str) -> Result<usize> {
        self.stop();
        Ok(self.lines(filter)?.lines().count())
    }

    /// `tcpdump -n -r FILE FILTER`'s output.
    pub fn lines(&mut self, filter: &str) -> Result<String> {
        self.stop();
        let f = self.file.display().to_string();
        let mut argv = vec!["tcpdump", "-n", "-r", &f];
        if !filter.is_empty() {
            argv.push(filter);
        }
        Ok(crate::cmd::run(&argv, Duration::from_secs(30))?.stdout)
    }
}
