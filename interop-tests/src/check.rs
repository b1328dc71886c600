//! Proof that a tunnel carries traffic. A ping between the namespaces passes
//! in clear text when there is no tunnel at all, so a ping alone proves
//! nothing: [`prove_tunnel`] requires both peers' own status to show the SAs,
//! the kernel to hold the ESP SAs and policies (with the scenario's mark or
//! if_id), and the inbound ESP packet counters on BOTH sides to rise by at
//! least the number of pings answered.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::peer::{Peer, Tunnel};
use crate::topology::{Family, Host, Plumbing, Topology};
use crate::{Result, lab_err};

/// One SA from `ip -s xfrm state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XfrmSa {
    /// Outer source address.
    pub src: String,
    /// Outer destination address.
    pub dst: String,
    /// `esp`, `ah`, ...
    pub proto: String,
    /// SPI as printed (`0x...`).
    pub spi: String,
    /// `mark 0x6/0xffffffff` value, if any.
    pub mark: Option<u32>,
    /// `if_id 0x2a`, if any.
    pub if_id: Option<u32>,
    /// Bytes counted (`lifetime current`).
    pub bytes: u64,
    /// Packets counted.
    pub packets: u64,
    /// `mode tunnel` / `mode transport`.
    pub mode: String,
    /// `reqid N`.
    pub reqid: u32,
    /// UDP encapsulation `(sport, dport)` (`encap type espinudp ...`).
    pub encap: Option<(u16, u16)>,
}

/// One policy from `ip xfrm policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XfrmPolicy {
    /// Selector source.
    pub src: String,
    /// Selector destination.
    pub dst: String,
    /// `in`, `out` or `fwd`.
    pub dir: String,
    /// Mark value, if any.
    pub mark: Option<u32>,
    /// if_id, if any.
    pub if_id: Option<u32>,
    /// Has an ESP template.
    pub esp_tmpl: bool,
    /// `action block` (else allow).
    pub block: bool,
    /// The selector's upper-layer protocol (`proto gre`), if any.
    pub proto: Option<String>,
    /// The template's reqid, if any.
    pub reqid: Option<u32>,
}

fn hex(s: &str) -> Option<u32> {
    let v = s.split('/').next()?;
    u32::from_str_radix(v.trim_start_matches("0x"), 16).ok()
}

fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("src ") {
            out.push(vec![line]);
        } else if let Some(b) = out.last_mut() {
            b.push(line);
        }
    }
    out
}

fn after<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == key)
        .and_then(|i| words.get(i + 1).copied())
}

/// Parses `ip -s xfrm state`.
pub fn parse_states(text: &str) -> Vec<XfrmSa> {
    blocks(text)
        .into_iter()
        .map(|b| {
            let head: Vec<&str> = b[0].split_whitespace().collect();
            let mut sa = XfrmSa {
                src: after(&head, "src").unwrap_or("").to_owned(),
                dst: after(&head, "dst").unwrap_or("").to_owned(),
                ..XfrmSa::default()
            };
            let mut current = false;
            for line in &b[1..] {
                let w: Vec<&str> = line.split_whitespace().collect();
                match w.first().copied() {
                    Some("encap") => {
                        let port = |k| after(&w, k).and_then(|p| p.parse().ok());
                        sa.encap = port("sport").zip(port("dport"));
                    }
                    Some("proto") => {
                        sa.mode = after(&w, "mode").unwrap_or("").to_owned();
                        sa.reqid = after(&w, "reqid")
                            .and_then(|r| r.split('(').next())
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0);
                        sa.proto = after(&w, "proto").unwrap_or("").to_owned();
                        sa.spi = after(&w, "spi")
                            .unwrap_or("")
                            .split('(')
                            .next()
                            .unwrap_or("")
                            .to_owned();
                    }
                    Some("mark") => sa.mark = after(&w, "mark").and_then(hex),
                    Some("if_id") => sa.if_id = after(&w, "if_id").and_then(hex),
                    Some("lifetime") => current = line.contains("current"),
                    Some(first) if current && first.ends_with("(bytes),") => {
                        sa.bytes = first.trim_end_matches("(bytes),").parse().unwrap_or(0);
                        sa.packets = w
                            .get(1)
                            .map(|p| p.trim_end_matches("(packets)"))
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0);
                        current = false;
                    }
                    _ => {}
                }
            }
            sa
        })
        .collect()
}

/// Parses `ip xfrm policy`.
pub fn parse_policies(text: &str) -> Vec<XfrmPolicy> {
    blocks(text)
        .into_iter()
        .map(|b| {
            let head: Vec<&str> = b[0].split_whitespace().collect();
            let mut p = XfrmPolicy {
                src: after(&head, "src").unwrap_or("").to_owned(),
                dst: after(&head, "dst").unwrap_or("").to_owned(),
                proto: after(&head, "proto").map(str::to_owned),
                ..XfrmPolicy::default()
            };
            for line in &b[1..] {
                let w: Vec<&str> = line.split_whitespace().collect();
                match w.first().copied() {
                    Some("dir") => {
                        p.dir = after(&w, "dir").unwrap_or("").to_owned();
                        p.block = after(&w, "action") == Some("block");
                    }
                    Some("mark") => p.mark = after(&w, "mark").and_then(hex),
                    Some("if_id") => p.if_id = after(&w, "if_id").and_then(hex),
                    Some("proto") if after(&w, "proto") == Some("esp") => {
                        p.esp_tmpl = true;
                        p.reqid = after(&w, "reqid").and_then(|r| r.parse().ok());
                    }
                    _ => {}
                }
            }
            p
        })
        .collect()
}

/// `ip xfrm state` output without the key material (`aead`, `enc`, `auth`,
/// `auth-trunc` lines keep the algorithm and key length).
pub fn redact_keys(s: &str) -> String {
    s.lines()
        .map(|l| {
            let t = l.trim_start();
            let algo = ["aead ", "enc ", "auth ", "auth-trunc "]
                .iter()
                .any(|k| t.starts_with(k));
            let mut w: Vec<&str> = l.split(' ').collect();
            if algo {
                if let Some(k) = w.iter_mut().find(|x| x.starts_with("0x")) {
                    *k = "<key redacted>";
                }
            }
            w.join(" ") + "\n"
        })
        .collect()
}

/// The ESP SAs and policies of one namespace.
pub fn kernel_state(topo: &Topology, h: &Host) -> Result<(Vec<XfrmSa>, Vec<XfrmPolicy>, String)> {
    let s = topo.ip(h, &["-s", "xfrm", "state"])?;
    let p = topo.ip(h, &["xfrm", "policy"])?;
    // the per-socket bypass policies (IKE sockets) are noise in reports
    let shown: String = blocks(&p)
        .into_iter()
        .filter(|b| !b.iter().any(|l| l.trim_start().starts_with("socket ")))
        .flat_map(|b| b.into_iter().map(|l| format!("{l}\n")))
        .collect();
    let raw = format!(
        "--- ip -s xfrm state ({}, keys redacted)\n{}--- ip xfrm policy ({}, per-socket policies not shown)\n{shown}",
        h.ns,
        redact_keys(&s),
        h.ns
    );
    Ok((parse_states(&s), parse_policies(&p), raw))
}

/// What [`prove_tunnel`] saw.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Ping summary line.
    pub ping: String,
    /// Inbound packets counted on the right side during the pings.
    pub right_in: u64,
    /// Inbound packets counted on the left side during the pings.
    pub left_in: u64,
    /// Where the counters came from ("kernel SA" or "peer-reported").
    pub counter_source: &'static str,
    /// Inbound SPIs seen (left, right).
    pub spis: (String, String),
    /// What tcpdump on the right side's veth saw during a second round of pings.
    pub wire: String,
    /// Both peers' status and the kernel state, for the logs.
    pub detail: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ping {}; inbound ESP packets during it ({}): left +{} (SPI {}), right +{} (SPI {}); wire: {}",
            self.ping.trim(),
            self.counter_source,
            self.left_in,
            self.spis.0,
            self.right_in,
            self.spis.1,
            self.wire
        )
    }
}

/// The kernel must hold, in `h`'s namespace, ESP SAs both ways between the
/// outer addresses and in/out policies for the inner prefixes, carrying the
/// scenario's mark or if_id. Returns the inbound SPI.
pub fn check_kernel(
    h: &Host,
    peer: &Host,
    t: &Tunnel,
    (sas, pols, raw): &(Vec<XfrmSa>, Vec<XfrmPolicy>, String),
) -> Result<String> {
    let f = t.family;
    let (mark, if_id) = match t.plumbing {
        Plumbing::None => (None, None),
        Plumbing::Vti(m) => (Some(m), None),
        Plumbing::Xfrmi(i) => (None, Some(i)),
    };
    // strongSwan sets mark_in on the inbound policy only (mark_in_sa = no):
    // an inbound SA without a mark matches any mark.
    let sa_ok = |s: &XfrmSa, src: &str, dst: &str, inbound: bool| {
        s.proto == "esp"
            && s.src == src
            && s.dst == dst
            && (s.mark == mark || (inbound && s.mark.is_none()))
            && s.if_id == if_id
    };
    let inbound = sas
        .iter()
        .find(|s| sa_ok(s, peer.outer(f), h.outer(f), true))
        .ok_or_else(|| {
            lab_err!(
                "{}: no inbound ESP SA {} -> {} (mark {mark:?}, if_id {if_id:?}) in the kernel:\n{raw}",
                h.ns,
                peer.outer(f),
                h.outer(f)
            )
        })?;
    if !sas
        .iter()
        .any(|s| sa_ok(s, h.outer(f), peer.outer(f), false))
    {
        return Err(lab_err!(
            "{}: no outbound ESP SA {} -> {} (mark {mark:?}, if_id {if_id:?}):\n{raw}",
            h.ns,
            h.outer(f),
            peer.outer(f)
        ));
    }
    for (dir, src, dst) in [
        ("out", h.net(f), peer.net(f)),
        ("in", peer.net(f), h.net(f)),
    ] {
        if !pols.iter().any(|p| {
            p.dir == dir
                && p.src == src
                && p.dst == dst
                && p.esp_tmpl
                && p.mark == mark
                && p.if_id == if_id
        }) {
            return Err(lab_err!(
                "{}: no '{dir}' policy {src} -> {dst} with an ESP template (mark {mark:?}, if_id {if_id:?}):\n{raw}",
                h.ns
            ));
        }
    }
    Ok(inbound.spi.clone())
}

/// Packets of the ESP SAs that arrive at `h` from `from`.
fn inbound_of(sas: &[XfrmSa], h: &Host, from: &Host, f: Family) -> u64 {
    sas.iter()
        .filter(|s| s.proto == "esp" && s.dst == h.outer(f) && s.src == from.outer(f))
        .map(|s| s.packets)
        .sum()
}

/// Pings left -> right `count` times and requires every reply, both peers'
/// status to show the tunnel, the kernel to hold its SAs and policies (unless
/// ESP runs in userspace), and the inbound packet counters on both sides to
/// rise by at least `count`.
pub fn prove_tunnel(
    topo: &Topology,
    t: &Tunnel,
    left: &mut dyn Peer,
    right: &mut dyn Peer,
    count: u32,
) -> Result<Evidence> {
    let f = t.family;
    let (l, r) = (&topo.left, &topo.right);
    let n = u64::from(count);
    let l_status = left.check_established()?;
    let r_status = right.check_established()?;
    let mut detail = format!(
        "--- left: `{}` ({}, netns {})\n{}\n--- right: `{}` ({}, netns {})\n{}\n",
        left.status_command(),
        left.label(),
        l.ns,
        l_status.trim_end(),
        right.status_command(),
        right.label(),
        r.ns,
        r_status.trim_end()
    );
    let (spis, counter_source, (l0, r0)) = if t.libipsec {
        let get = |p: &mut dyn Peer| -> Result<u64> {
            p.reported_in_packets()?
                .ok_or_else(|| lab_err!("{} reports no inbound packet counter", p.label()))
        };
        (
            ("(userspace)".to_owned(), "(userspace)".to_owned()),
            "peer-reported, kernel-libipsec",
            (get(left)?, get(right)?),
        )
    } else {
        let (ks_l, ks_r) = (kernel_state(topo, l)?, kernel_state(topo, r)?);
        (
            (check_kernel(l, r, t, &ks_l)?, check_kernel(r, l, t, &ks_r)?),
            "kernel SA counters",
            (inbound_of(&ks_l.0, l, r, f), inbound_of(&ks_r.0, r, l, f)),
        )
    };
    let (received, ping) = topo.ping(f, count)?;
    // bounded: userspace counters may lag a moment behind the replies
    let mut after = (0, 0);
    for attempt in 0..6 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250));
        }
        if t.libipsec {
            after = (
                left.reported_in_packets()?.unwrap_or(0),
                right.reported_in_packets()?.unwrap_or(0),
            );
        } else {
            let (ks_l, ks_r) = (kernel_state(topo, l)?, kernel_state(topo, r)?);
            after = (inbound_of(&ks_l.0, l, r, f), inbound_of(&ks_r.0, r, l, f));
            if attempt == 0 {
                detail.push_str(&ks_l.2);
                detail.push_str(&ks_r.2);
            }
        }
        if after.0 >= l0 + n && after.1 >= r0 + n {
            break;
        }
    }
    let mut ev = Evidence {
        ping,
        right_in: after.1.saturating_sub(r0),
        left_in: after.0.saturating_sub(l0),
        counter_source,
        spis,
        wire: String::from("(not captured)"),
        detail,
    };
    if received < count {
        return Err(lab_err!(
            "only {received} of {count} pings answered through the tunnel ({ev})"
        ));
    }
    if ev.right_in < n || ev.left_in < n {
        return Err(lab_err!(
            "the pings were answered but did not all cross the SAs ({ev}): traffic went around the tunnel"
        ));
    }
    let (wire, capture) = wire_check(topo, f, count)?;
    ev.wire = wire;
    ev.detail.push_str(&capture);
    // the peers' own view after the traffic (pluto's byte counters, ...)
    let after_status = |p: &mut dyn Peer, out: &mut String| {
        let s = p.status().unwrap_or_else(|e| e.to_string());
        let _ = writeln!(
            out,
            "--- {} after the pings: `{}` ({})\n{}",
            p.side().as_str(),
            p.status_command(),
            p.label(),
            s.trim_end()
        );
    };
    after_status(left, &mut ev.detail);
    after_status(right, &mut ev.detail);
    Ok(ev)
}

/// Captures what each side SENDS on its veth (`tcpdump -Q out`: on the
/// receiving side, tcpdump would also show the decrypted copies of inbound
/// tunnel-mode packets) while pinging `count` more times: every echo request
/// (left) and reply (right) must be on the wire as ESP (or ESP-in-UDP on port
/// 4500), none as clear ICMP. Returns a summary and the captures.
pub fn wire_check(topo: &Topology, f: Family, count: u32) -> Result<(String, String)> {
    use crate::topology::Side;
    let filter = "esp or udp port 4500 or icmp or (icmp6 and (ip6[40] == 128 or ip6[40] == 129))";
    let mut caps = Vec::new();
    for side in [Side::Left, Side::Right] {
        let h = topo.host(side);
        let log = topo.run_dir(side)?.join("tcpdump.txt");
        let d = crate::cmd::Daemon::spawn(
            "tcpdump",
            &[
                "ip", "netns", "exec", &h.ns, "tcpdump", "-l", "-n", "-Q", "out", "-i", h.dev,
                filter,
            ],
            &[],
            &log,
        )?;
        caps.push((h, log, d));
    }
    for (h, log, d) in caps.iter_mut() {
        let ready = crate::cmd::poll(Duration::from_secs(30), || {
            std::fs::read_to_string(&*log)
                .ok()
                .filter(|s| s.contains("listening on"))
                .map(|_| ())
        });
        if ready.is_none() {
            d.ensure_running()?;
            return Err(lab_err!(
                "tcpdump in {} did not start listening within 30 s",
                h.ns
            ));
        }
    }
    let (received, _) = topo.ping(f, count)?;
    std::thread::sleep(Duration::from_millis(500));
    let mut summary = Vec::new();
    let mut capture = String::new();
    let mut ok = received == count;
    for (h, log, d) in caps.iter_mut() {
        d.stop(Duration::from_secs(5));
        let text = std::fs::read_to_string(&*log).unwrap_or_default();
        let esp = text.lines().filter(|l| l.contains("ESP(spi=")).count();
        let clear = text
            .lines()
            .filter(|l| l.contains("ICMP echo") || l.contains("ICMP6, echo"))
            .count();
        ok &= clear == 0 && esp >= count as usize;
        summary.push(format!("{} sent {esp} ESP, {clear} clear", h.dev));
        capture.push_str(&format!(
            "--- tcpdump -n -Q out -i {} ({})\n{text}",
            h.dev, h.ns
        ));
    }
    let summary = format!(
        "tcpdump: {} for {received}/{count} pings",
        summary.join(", ")
    );
    if !ok {
        return Err(lab_err!("wire check failed: {summary}\n{capture}"));
    }
    Ok((summary, capture))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_in_reports() {
        let s = "\taead rfc4106(gcm(aes)) 0xa1ae54c6a871 (160 bits) 128\n\tenc cbc(aes) 0x0011\n\tauth-trunc hmac(sha256) 0x2233 128\n\tproto esp spi 0xc4a1b2c3(1) reqid 1\n";
        let r = redact_keys(s);
        assert!(
            !r.contains("0xa1ae") && !r.contains("0x0011") && !r.contains("0x2233"),
            "{r}"
        );
        assert!(
            r.contains("aead rfc4106(gcm(aes)) <key redacted> (160 bits) 128"),
            "{r}"
        );
        assert!(r.contains("spi 0xc4a1b2c3(1)"), "{r}");
    }

    const STATE: &str = "src 192.0.2.2 dst 192.0.2.1
\tproto esp spi 0xc4a1b2c3(3298931395) reqid 1(0x00000001) mode tunnel
\treplay-window 0 seq 0x00000000 flag af-unspec (0x00100000)
\tmark 0x6/0xffffffff
\taead rfc4106(gcm(aes)) 0x00 (160 bits) 128
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\t  limit: soft (INF)(packets), hard (INF)(packets)
\tlifetime current:
\t  252(bytes), 3(packets)
\t  add 2026-11-23 13:00:00 use 2026-11-23 13:00:01
\tstats:
\t  replay-window 0 replay 0 failed 0
src 192.0.2.1 dst 192.0.2.2
\tproto esp spi 0xc9000001(3372220417) reqid 1(0x00000001) mode tunnel
\tif_id 0x2a
\tencap type espinudp sport 4500 dport 40012 addr 0.0.0.0
\tlifetime current:
\t  0(bytes), 0(packets)
";

    const POLICY: &str = "src 203.0.113.0/24 dst 198.51.100.0/24
\tdir in priority 375423 ptype main
\tmark 0x6/0xffffffff
\ttmpl src 192.0.2.2 dst 192.0.2.1
\t\tproto esp reqid 1 mode tunnel
src 198.51.100.0/24 dst 203.0.113.0/24
\tdir out priority 375423 ptype main
\tif_id 0x2a
\ttmpl src 192.0.2.1 dst 192.0.2.2
\t\tproto esp spi 0xc9000001 reqid 1 mode tunnel
src 0.0.0.0/0 dst 0.0.0.0/0
\tsocket in priority 0 ptype main
";

    #[test]
    fn parses_states_with_counters_mark_and_if_id() {
        let s = parse_states(STATE);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].src, "192.0.2.2");
        assert_eq!(s[0].dst, "192.0.2.1");
        assert_eq!(s[0].proto, "esp");
        assert_eq!(s[0].spi, "0xc4a1b2c3");
        assert_eq!(s[0].mark, Some(6));
        assert_eq!(s[0].if_id, None);
        assert_eq!((s[0].bytes, s[0].packets), (252, 3));
        assert_eq!(s[1].if_id, Some(42));
        assert_eq!(s[1].packets, 0);
        assert_eq!((s[0].mode.as_str(), s[0].reqid), ("tunnel", 1));
        assert_eq!(s[0].encap, None);
        assert_eq!(s[1].encap, Some((4500, 40012)));
    }

    #[test]
    fn parses_policies() {
        let p = parse_policies(POLICY);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].dir, "in");
        assert_eq!(p[0].mark, Some(6));
        assert!(p[0].esp_tmpl);
        assert_eq!(p[1].dir, "out");
        assert_eq!(p[1].if_id, Some(42));
        assert_eq!(p[1].reqid, Some(1));
        assert!(!p[2].esp_tmpl);
        let b = parse_policies(
            "src 198.51.100.0/24 dst 203.0.113.3/32 proto gre\n\tdir out action block priority 1 ptype main\n",
        );
        assert!(b[0].block);
        assert_eq!(b[0].proto.as_deref(), Some("gre"));
    }
}
