//! Status snapshots (what `ikectl status --json` prints) and their rendering in
//! strongSwan's `ipsec status` / `ipsec statusall` format, so that scripts and
//! strongSwan's own evaltest regexes keep matching.
//!
//! The snapshot is plain data (serde), built by the daemon from the protocol
//! core's status and the kernel's counters, and rendered by the client.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Everything `status` / `statusall` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StatusReport {
    /// iked's version.
    pub version: String,
    /// Kernel release (`uname -r`).
    #[serde(default)]
    pub kernel: String,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// The daemon's process id.
    #[serde(default)]
    pub pid: u32,
    /// Addresses iked listens on.
    pub listening: Vec<IpAddr>,
    /// Loaded conns (statusall's "Connections:").
    pub conns: Vec<ConnView>,
    /// IKE_SAs.
    pub ike_sas: Vec<IkeSaView>,
    /// `type=passthrough/drop` conns with their policies in the kernel.
    #[serde(default)]
    pub shunted: Vec<ShuntView>,
    /// `auto=route` conns with trap policies in the kernel.
    #[serde(default)]
    pub routed: Vec<RoutedView>,
    /// What the core dropped, refused or throttled.
    #[serde(default)]
    pub stats: Stats,
}

/// The core's counters (statusall's "IKE_SAs:" and "dropped:" lines, the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stats {
    /// IKE_SAs not yet authenticated.
    pub half_open: u64,
    /// Datagrams dropped before reaching an exchange (malformed, unknown SPI, failed integrity).
    pub dropped: u64,
    /// Requests answered with an error notify.
    pub refused: u64,
    /// IKE_SAs ended by an exchange error.
    pub failed: u64,
    /// COOKIEs demanded from initiators.
    pub cookies_sent: u64,
    /// IKE_SA_INITs dropped by the half-open limits.
    pub init_dropped: u64,
    /// Failed EAP authentications (wrong password, unknown or throttled identity).
    pub eap_failed: u64,
}

impl Stats {
    pub fn new(c: crate::sa::Counters, half_open: usize) -> Stats {
        Stats {
            half_open: half_open as u64,
            dropped: c.dropped,
            refused: c.refused,
            failed: c.failed,
            cookies_sent: c.cookies_sent,
            init_dropped: c.init_dropped,
            eap_failed: c.eap_failed,
        }
    }
}

/// A conn whose trap policies are installed (`auto=route`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutedView {
    pub conn: String,
    /// `TUNNEL` or `TRANSPORT`.
    pub mode: String,
    pub reqid: u32,
    pub ts_local: String,
    pub ts_remote: String,
}

/// A shunt conn (`type=passthrough` / `type=drop`) whose policies are installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShuntView {
    pub conn: String,
    /// `PASS` or `DROP`.
    pub mode: String,
    pub ts_local: String,
    pub ts_remote: String,
}

/// A loaded conn, as statusall lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnView {
    pub name: String,
    /// e.g. `192.0.2.1` or `%any`.
    pub local_addrs: String,
    pub remote_addrs: String,
    pub local_id: String,
    pub remote_id: String,
    /// e.g. `pre-shared key`.
    pub local_auth: String,
    pub remote_auth: String,
    /// `10.1.0.0/16`, comma-separated when several; `dynamic` for the host itself.
    pub local_ts: String,
    pub remote_ts: String,
    /// `TUNNEL` or `TRANSPORT`.
    pub mode: String,
    /// `add`, `start`, `route`, `ignore`.
    pub auto: String,
}

/// One IKE_SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaView {
    pub conn: String,
    pub ike_id: u32,
    /// `ESTABLISHED`, `CONNECTING`, `DELETING`.
    pub state: String,
    pub initiator: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: String,
    pub remote_id: String,
    /// The identity EAP authenticated (strongSwan's "Remote EAP identity").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_eap_id: Option<String>,
    /// 16 hex digits each.
    pub spi_i: String,
    pub spi_r: String,
    pub proposal: String,
    pub established_secs_ago: Option<u64>,
    /// Seconds until the IKE_SA is rekeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    /// Virtual IPs: assigned to us by the peer, and leased to the peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_vips: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_vips: Vec<IpAddr>,
    /// This host / the peer is behind a NAT; we fake one (`forceencaps`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nat_local: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nat_remote: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nat_fake: bool,
    pub children: Vec<ChildSaView>,
}

/// One CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaView {
    pub conn: String,
    pub child_id: u32,
    pub reqid: u32,
    /// `TUNNEL` or `TRANSPORT`.
    pub mode: String,
    pub spi_in: u32,
    pub spi_out: u32,
    pub encap: bool,
    pub proposal: String,
    pub ts_local: Vec<String>,
    pub ts_remote: Vec<String>,
    pub established_secs_ago: u64,
    /// Seconds until the CHILD_SA is rekeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    /// A rekey is under way.
    #[serde(default)]
    pub rekeying: bool,
    /// Whether iked installed it into the kernel.
    #[serde(default)]
    pub installed: bool,
    /// Kernel counters (statusall only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
}

/// Kernel byte/packet counters of a CHILD_SA's two SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counters {
    pub bytes_in: u64,
    pub packets_in: u64,
    /// Seconds since the last use (None: never used).
    pub idle_in_secs: Option<u64>,
    pub bytes_out: u64,
    pub packets_out: u64,
    pub idle_out_secs: Option<u64>,
}

/// strongSwan's relative times: "5 seconds", "3 minutes", "4 hours", "2 days".
pub fn time_delta(secs: u64) -> String {
    let (n, unit) = if secs > 2 * 86_400 {
        (secs / 86_400, "day")
    } else if secs > 2 * 3_600 {
        (secs / 3_600, "hour")
    } else if secs > 2 * 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The conn name as strongSwan prints it: right-aligned in 12 columns.
fn name_col(name: &str) -> String {
    format!("{name:>12}")
}

fn ike_prefix(sa: &IkeSaView) -> String {
    format!("{}[{}]", name_col(&sa.conn), sa.ike_id)
}

fn child_prefix(c: &ChildSaView) -> String {
    format!("{}{{{}}}", name_col(&c.conn), c.child_id)
}

fn ike_line(out: &mut String, sa: &IkeSaView) {
    let p = ike_prefix(sa);
    match (sa.state.as_str(), sa.established_secs_ago) {
        ("ESTABLISHED", Some(ago)) => {
            let _ = write!(out, "{p}: ESTABLISHED {} ago", time_delta(ago));
        }
        (state, _) => {
            let _ = write!(out, "{p}: {state}");
        }
    }
    let _ = writeln!(
        out,
        ", {}[{}]...{}[{}]",
        sa.local.ip(),
        sa.local_id,
        sa.remote.ip(),
        sa.remote_id
    );
}

fn child_lines(out: &mut String, c: &ChildSaView, all: bool) {
    let p = child_prefix(c);
    let _ = writeln!(
        out,
        "{p}:  {}, {}, reqid {}, {} SPIs: {:08x}_i {:08x}_o",
        // strongSwan's CHILD_SA states: INSTALLED once in the kernel, CREATED before
        // (here: when the kernel refused it).
        if c.installed { "INSTALLED" } else { "CREATED" },
        c.mode,
        c.reqid,
        if c.encap { "ESP in UDP" } else { "ESP" },
        c.spi_in,
        c.spi_out
    );
    if all {
        let _ = write!(out, "{p}:  {}", c.proposal);
        if let Some(k) = c.counters {
            let dir = |bytes: u64, pkts: u64, idle: Option<u64>, d: char| {
                let mut s = format!("{bytes} bytes_{d}");
                if pkts > 0 {
                    s += &format!(" ({pkts} pkt{}", if pkts == 1 { "" } else { "s" });
                    if let Some(i) = idle {
                        s += &format!(", {i}s ago");
                    }
                    s += ")";
                }
                s
            };
            let _ = write!(
                out,
                ", {}, {}",
                dir(k.bytes_in, k.packets_in, k.idle_in_secs, 'i'),
                dir(k.bytes_out, k.packets_out, k.idle_out_secs, 'o')
            );
        }
        // strongSwan's three cases
        match (c.rekeying, c.rekey_in_secs) {
            (true, _) => {
                let _ = writeln!(out, ", rekeying active");
            }
            (false, Some(s)) => {
                let _ = writeln!(out, ", rekeying in {}", time_delta(s));
            }
            (false, None) => {
                let _ = writeln!(out, ", rekeying disabled");
            }
        }
    }
    let _ = writeln!(
        out,
        "{p}:   {} === {}",
        c.ts_local.join(" "),
        c.ts_remote.join(" ")
    );
}

fn sas_section(out: &mut String, r: &StatusReport, all: bool) {
    let up = r
        .ike_sas
        .iter()
        .filter(|s| s.state == "ESTABLISHED")
        .count();
    let connecting = r.ike_sas.iter().filter(|s| s.state == "CONNECTING").count();
    let _ = writeln!(
        out,
        "Security Associations ({up} up, {connecting} connecting):"
    );
    if r.ike_sas.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for sa in &r.ike_sas {
        ike_line(out, sa);
        if all {
            let p = ike_prefix(sa);
            let (mi, mr) = if sa.initiator { ("*", "") } else { ("", "*") };
            let _ = writeln!(
                out,
                "{p}: IKEv2 SPIs: {}_i{mi} {}_r{mr}{}",
                sa.spi_i,
                sa.spi_r,
                sa.rekey_in_secs
                    .map(|s| format!(", rekeying in {}", time_delta(s)))
                    .unwrap_or_default()
            );
            if !sa.proposal.is_empty() {
                let _ = writeln!(out, "{p}: IKE proposal: {}", sa.proposal);
                if let Some(e) = &sa.remote_eap_id {
                    let _ = writeln!(out, "{p}: Remote EAP identity: {e}");
                }
            }
        }
        for c in &sa.children {
            child_lines(out, c, all);
        }
    }
}

/// strongSwan's `Shunted Connections:` (`name:  ts === ts PASS`).
fn shunted_section(out: &mut String, r: &StatusReport) {
    if r.shunted.is_empty() {
        return;
    }
    let _ = writeln!(out, "Shunted Connections:");
    for c in &r.shunted {
        let _ = writeln!(
            out,
            "{}:  {} === {} {}",
            name_col(&c.conn),
            c.ts_local,
            c.ts_remote,
            c.mode
        );
    }
}

fn routed_section(out: &mut String, r: &StatusReport) {
    if r.routed.is_empty() {
        return;
    }
    let _ = writeln!(out, "Routed Connections:");
    for c in &r.routed {
        let p = format!("{}{{{}}}", name_col(&c.conn), c.reqid);
        let _ = writeln!(out, "{p}:  ROUTED, {}, reqid {}", c.mode, c.reqid);
        let _ = writeln!(out, "{p}:   {} === {}", c.ts_local, c.ts_remote);
    }
}

/// `ipsec status`.
pub fn format_status(r: &StatusReport) -> String {
    let mut out = String::new();
    shunted_section(&mut out, r);
    routed_section(&mut out, r);
    sas_section(&mut out, r, false);
    out
}

/// `ipsec statusall`: daemon, addresses, conns, then SAs with counters.
pub fn format_statusall(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Status of IKE charon daemon (iked {}, Linux {}):",
        r.version, r.kernel
    );
    let _ = writeln!(
        out,
        "  uptime: {}, pid {}",
        time_delta(r.uptime_secs),
        r.pid
    );
    let st = &r.stats;
    let _ = writeln!(
        out,
        "  IKE_SAs: {} total, {} half-open",
        r.ike_sas.len(),
        st.half_open
    );
    let _ = writeln!(
        out,
        "  dropped: {} datagrams, {} IKE_SA_INITs (half-open limits); cookies sent: {}; refused requests: {}; failed IKE_SAs: {}; failed EAP: {}",
        st.dropped, st.init_dropped, st.cookies_sent, st.refused, st.failed, st.eap_failed
    );
    let _ = writeln!(out, "Listening IP addresses:");
    for a in &r.listening {
        let _ = writeln!(out, "  {a}");
    }
    let _ = writeln!(out, "Connections:");
    for c in &r.conns {
        let n = name_col(&c.name);
        let _ = writeln!(
            out,
            "{n}:  {}...{}  IKEv2, auto={}",
            c.local_addrs, c.remote_addrs, c.auto
        );
        let _ = writeln!(
            out,
            "{n}:   local:  [{}] uses {} authentication",
            c.local_id, c.local_auth
        );
        let _ = writeln!(
            out,
            "{n}:   remote: [{}] uses {} authentication",
            c.remote_id, c.remote_auth
        );
        let _ = writeln!(
            out,
            "{n}:   child:  {} === {} {}",
            c.local_ts, c.remote_ts, c.mode
        );
    }
    shunted_section(&mut out, r);
    routed_section(&mut out, r);
    sas_section(&mut out, r, true);
    out
}

/// A traffic selector as strongSwan prints it: `192.0.2.1/32[gre]`,
/// `10.0.0.0/8[tcp/443]` (protocol by name where /etc/protocols has one).
pub fn ts_string(s: &crate::sa::Selector) -> String {
    let d = s.to_string();
    let Some((net, rest)) = d.split_once('[') else {
        return d;
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (num, tail) = rest.split_at(end);
    match num.parse::<u8>().ok().and_then(proto_name) {
        Some(name) => format!("{net}[{name}{tail}"),
        None => d,
    }
}

/// A conn end's `leftprotoport=` as strongSwan appends it to a selector:
/// `""` for any, `[gre]`, `[tcp/443]`, `[udp/500-501]`.
pub fn protoport_suffix(proto: u8, from: u16, to: u16) -> String {
    if proto == 0 && from == 0 && to == 65535 {
        return String::new();
    }
    let p = proto_name(proto).map_or_else(|| proto.to_string(), str::to_owned);
    if from == 0 && to == 65535 {
        format!("[{p}]")
    } else if from == to {
        format!("[{p}/{from}]")
    } else {
        format!("[{p}/{from}-{to}]")
    }
}

fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
