//! The typed `charon` section, with strongSwan's documented defaults
//! (strongswan.conf(5) and its charon options list).

use super::logger::{self, Logger};
use super::syntax::Section;
use super::{Walk, keys, value};
use std::net::IpAddr;
use std::time::Duration;

/// IKEv2 retransmission (strongswan.conf(5), IKEv2 RETRANSMISSION):
/// the n-th retransmit waits `timeout * base^(n-1)`, capped at `limit`;
/// after `tries` retransmits the exchange fails. The protocol core's
/// schedule is [`Retransmit::wait`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retransmit {
    /// Seconds before the first retransmit (4.0).
    pub timeout: f64,
    /// Exponential back-off base (1.8).
    pub base: f64,
    /// Retransmits before giving up (5).
    pub tries: u32,
    /// Upper bound of one wait (`retransmit_limit`, 0 = none).
    pub limit: Option<Duration>,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            timeout: 4.0,
            base: 1.8,
            tries: 5,
            limit: None,
        }
    }
}

impl Retransmit {
    /// The longest wait (2^32 s, about 136 years): "no limit" in practice.
    pub const FOREVER: Duration = Duration::from_secs(1 << 32);

    /// The wait before retransmit number `n` (1-based); `n = tries + 1` is
    /// the wait after the last retransmit before giving up.
    /// At most [`Retransmit::FOREVER`]: a timer deadline (`Instant + wait`)
    /// must not overflow, whatever `retransmit_tries` and `base` say.
    pub fn wait(&self, n: u32) -> Duration {
        let exp = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.timeout * self.base.powi(exp);
        let d = Duration::try_from_secs_f64(secs)
            .unwrap_or(Self::FOREVER)
            .min(Self::FOREVER);
        match self.limit {
            Some(l) => d.min(l),
            None => d,
        }
    }
}

/// The `vici` plugin's socket (kept typed for a future VICI server).
pub const DEFAULT_VICI_SOCKET: &str = "unix:///var/run/charon.vici";

/// `charon { ... }` as iked reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct CharonSettings {
    pub retransmit: Retransmit,
    /// Install routes for established tunnels into `routing_table` (yes;
    /// applied by the daemon's routing, not for mark/if_id conns).
    pub install_routes: bool,
    /// Install virtual IPs a peer assigns us on the interface of our IKE
    /// address (yes), for as long as the IKE_SA lives.
    pub install_virtual_ip: bool,
    /// The routing table of those routes (220; 0: none), and the priority of
    /// the `ip rule` that sends lookups to it (220).
    pub routing_table: u32,
    pub routing_table_prio: u32,
    /// Local IKE port (500).
    pub port: u16,
    /// Local NAT-T port (4500).
    pub port_nat_t: u16,
    /// DNS servers handed to peers in CP replies (`dns1`, `dns2`).
    pub dns: Vec<IpAddr>,
    /// WINS servers handed to peers in CP replies (`nbns1`, `nbns2`).
    pub nbns: Vec<IpAddr>,
    /// Half-open IKE_SAs that make a responder demand COOKIEs (30, as
    /// strongswan.conf(5) of 5.9 documents; older charon.opt said 10).
    pub cookie_threshold: u32,
    /// Half-open IKE_SAs from one peer IP that make a responder demand COOKIEs (3).
    pub cookie_threshold_ip: u32,
    /// Half-open IKE_SAs above which IKE_SA_INIT requests are dropped (0 = no limit).
    pub init_limit_half_open: u32,
    /// Key exchanges waiting for a worker above which IKE_SA_INIT requests are dropped (0 = no limit).
    pub init_limit_job_load: u32,
    /// Half-open IKE_SAs from one peer IP above which its requests are dropped (5).
    pub block_threshold: u32,
    /// A half-open (responder) IKE_SA is deleted after this long (30 s).
    pub half_open_timeout: Duration,
    /// NAT-T keepalive interval (20 s; 0 = none).
    pub keep_alive: Duration,
    /// Largest IKE datagram before RFC 7383 fragments, as the whole IP
    /// datagram (IP and UDP headers and the non-ESP marker included; 1280;
    /// 0 = per address family: 576 for IPv4, 1280 for IPv6).
    pub fragment_size: u16,
    /// Reauthenticate make-before-break (no). Typed only: iked rekeys IKE_SAs
    /// and never reauthenticates, `yes` is warned about.
    pub make_before_break: bool,
    /// Routing tables excluded from route lookups. Typed only: iked asks the
    /// kernel's own lookup, a list is warned about.
    pub ignore_routing_tables: Vec<u32>,
    /// `filelog`, `syslog` and `journal` loggers (empty: `charondebug` applies).
    pub loggers: Vec<Logger>,
    /// `plugins.vici.socket`.
    pub vici_socket: String,
    /// `plugins.resolve.file`: where DNS servers a gateway assigns us are
    /// written (`nameserver X   # by strongSwan`), default /etc/resolv.conf.
    pub resolve_file: String,
    /// RFC 7427 signature authentication (yes): announce
    /// SIGNATURE_HASH_ALGORITHMS and sign with method 14 when the peer does.
    /// `no` behaves as a peer without RFC 7427 (Windows' native client).
    pub signature_authentication: bool,
    /// Rekey an IKE_SA with the key exchange group of the old one (yes); `no`
    /// starts from the first group of `ike=`, as Windows does.
    pub prefer_previous_dh_group: bool,
}

impl Default for CharonSettings {
    fn default() -> Self {
        CharonSettings {
            retransmit: Retransmit::default(),
            install_routes: true,
            install_virtual_ip: true,
            routing_table: 220,
            routing_table_prio: 220,
            port: 500,
            port_nat_t: 4500,
            dns: Vec::new(),
            nbns: Vec::new(),
            cookie_threshold: 30,
            cookie_threshold_ip: 3,
            init_limit_half_open: 0,
            init_limit_job_load: 0,
            block_threshold: 5,
            half_open_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(20),
            fragment_size: 1280,
            make_before_break: false,
            ignore_routing_tables: Vec::new(),
            loggers: Vec::new(),
            vici_socket: DEFAULT_VICI_SOCKET.to_owned(),
            resolve_file: "/etc/resolv.conf".to_owned(),
            signature_authentication: true,
            prefer_previous_dh_group: true,
        }
    }
}

/// Reads `charon` (named `ns`) into typed settings; reports every other key once.
pub(super) fn read(w: &mut Walk<'_>, charon: &Section, ns: &str) -> CharonSettings {
    let mut c = CharonSettings::default();
    let mut dns: [Option<IpAddr>; 2] = [None, None];
    let mut nbns: [Option<IpAddr>; 2] = [None, None];
    for (k, v) in &charon.values {
        let full = format!("{ns}.{k}");
        // An empty value clears the key: its default applies.
        if v.text.is_empty() {
            continue;
        }
        let t = v.text.as_str();
        macro_rules! set {
            ($field:expr, $parse:expr) => {
                match $parse(t) {
                    Ok(x) => $field = x,
                    Err(e) => w.err(&v.value_loc, &full, e),
                }
            };
        }
        match k.as_str() {
            "retransmit_timeout" => set!(c.retransmit.timeout, positive),
            "retransmit_base" => set!(c.retransmit.base, positive),
            "retransmit_tries" => set!(c.retransmit.tries, value::u32_),
            "retransmit_limit" => set!(c.retransmit.limit, |t| value::number(t)
                .map(|n| (n > 0.0).then(|| Duration::from_secs_f64(n)))),
            "install_routes" => set!(c.install_routes, value::boolean),
            "install_virtual_ip" => set!(c.install_virtual_ip, value::boolean),
            "routing_table" => set!(c.routing_table, value::u32_),
            "routing_table_prio" => set!(c.routing_table_prio, value::u32_),
            "port" => set!(c.port, value::port),
            "port_nat_t" => set!(c.port_nat_t, value::port),
            "dns1" => set!(dns[0], |t| value::ip(t).map(Some)),
            "dns2" => set!(dns[1], |t| value::ip(t).map(Some)),
            "nbns1" => set!(nbns[0], |t| value::ip(t).map(Some)),
            "nbns2" => set!(nbns[1], |t| value::ip(t).map(Some)),
            "cookie_threshold" => set!(c.cookie_threshold, value::u32_),
            "cookie_threshold_ip" => set!(c.cookie_threshold_ip, value::u32_),
            "init_limit_half_open" => set!(c.init_limit_half_open, value::u32_),
            "init_limit_job_load" => set!(c.init_limit_job_load, value::u32_),
            "block_threshold" => set!(c.block_threshold, value::u32_),
            "half_open_timeout" => set!(c.half_open_timeout, |t| match value::time(t)? {
                d if d.is_zero() => Err(
                    "0 would drop every responder IKE_SA at once: give a time, e.g. 30s".to_owned()
                ),
                d => Ok(d),
            }),
            "keep_alive" => set!(c.keep_alive, value::time),
            "fragment_size" => set!(c.fragment_size, |t| match value::int_in(t, 0, 65535)? {
                1..512 => Err(format!(
                    "{t} is too small for an IKE fragment (0 for the default, or 512 to 65535)"
                )),
                n => Ok(u16::try_from(n).unwrap_or(1280)),
            }),
            "make_before_break" => set!(c.make_before_break, value::boolean),
            "signature_authentication" => set!(c.signature_authentication, value::boolean),
            "prefer_previous_dh_group" => set!(c.prefer_previous_dh_group, value::boolean),
            "ignore_routing_tables" => set!(c.ignore_routing_tables, |t: &str| t
                .split_whitespace()
                .map(value::u32_)
                .collect::<Result<Vec<u32>, String>>()),
            k if keys::PLUGIN_LOADING.contains(&k) => w.plugin_loading(&v.key_loc, &full),
            k if keys::KNOWN.contains(&k) => w.not_implemented(&v.key_loc, &full, ""),
            k => {
                let cands = keys::IMPLEMENTED
                    .iter()
                    .chain(keys::KNOWN)
                    .chain(keys::IMPLEMENTED_SECTIONS)
                    .chain(keys::KNOWN_SECTIONS)
                    .copied()
                    .collect::<Vec<_>>();
                w.unknown(&v.key_loc, &full, k, &cands);
            }
        }
    }
    if c.port == c.port_nat_t {
        if let Some(v) = charon.value("port_nat_t").or_else(|| charon.value("port")) {
            w.err(
                &v.value_loc,
                &format!("{ns}.port_nat_t"),
                format!("port and port_nat_t are both {}: they must differ", c.port),
            );
        }
    }
    c.dns = dns.into_iter().flatten().collect();
    c.nbns = nbns.into_iter().flatten().collect();
    not_applied(w, charon, ns);
    c.loggers = logger::loggers(w, charon, ns);
    for s in &charon.sections {
        let path = format!("{ns}.{}", s.name);
        match s.name.as_str() {
            "plugins" => plugins(w, s, &mut c, &path),
            "filelog" | "syslog" | "journal" => {}
            n if keys::KNOWN_SECTIONS.contains(&n) => w.ignore_tree(s, &path),
            n => {
                let cands: Vec<&str> = keys::IMPLEMENTED_SECTIONS
                    .iter()
                    .chain(keys::KNOWN_SECTIONS)
                    .copied()
                    .collect();
                // reported as a whole (not key by key), and only if it sets something
                if let (true, Some(loc)) = (s.has_values(), &s.loc) {
                    w.unknown(loc, &path, n, &cands);
                }
            }
        }
    }
    c
}

/// Keys that are typed and checked but whose behaviour iked lacks: one
/// warning each when set to ask for that behaviour (their other value is what
/// iked does anyway, so it is honoured).
fn not_applied(w: &mut Walk<'_>, charon: &Section, ns: &str) {
    fn yes(t: &str) -> bool {
        value::boolean(t) == Ok(true)
    }
    fn tables(t: &str) -> bool {
        !t.trim().is_empty()
    }
    type Asks = fn(&str) -> bool;
    let asked: [(&str, Asks, &str); 2] = [
        (
            "make_before_break",
            yes,
            "iked never reauthenticates an IKE_SA (it rekeys it in place, RFC 7296 section 2.8), so there is no reauthentication to make before break",
        ),
        (
            "ignore_routing_tables",
            tables,
            "iked's route lookups are the kernel's own, over every table its rules name: the tables listed are not skipped",
        ),
    ];
    for (key, asks, why) in asked {
        if let Some(v) = charon.value(key).filter(|v| asks(&v.text)) {
            w.not_implemented(&v.key_loc, &format!("{ns}.{key}"), why);
        }
    }
}

fn positive(t: &str) -> Result<f64, String> {
    match value::number(t)? {
        n if n > 0.0 => Ok(n),
        _ => Err(format!("'{t}' must be greater than 0")),
    }
}

/// `charon.plugins.*`: `load` settings get one note, `vici.socket` is read,
/// everything else gets one warning per key.
fn plugins(w: &mut Walk<'_>, sec: &Section, c: &mut CharonSettings, path: &str) {
    for (k, v) in &sec.values {
        w.not_implemented(&v.key_loc, &format!("{path}.{k}"), "not a plugin section");
    }
    for p in &sec.sections {
        let ppath = format!("{path}.{}", p.name);
        for (k, v) in &p.values {
            let full = format!("{ppath}.{k}");
            if keys::PLUGIN_LOADING.contains(&k.as_str()) {
                w.plugin_loading(&v.key_loc, &full);
            } else if p.name == "vici" && k == "socket" {
                if v.text.is_empty() {
                    continue;
                }
                if v.text.starts_with("unix://") || v.text.starts_with("tcp://") {
                    c.vici_socket = v.text.clone();
                } else {
                    w.err(
                        &v.value_loc,
                        &full,
                        format!(
                            "'{}' is not a socket URI (unix:///PATH or tcp://ADDRESS:PORT)",
                            v.text
                        ),
                    );
                }
            } else if p.name == "resolve" && k == "file" {
                if v.text.starts_with('/') {
                    c.resolve_file = v.text.clone();
                } else {
                    w.err(
                        &v.value_loc,
                        &full,
                        format!("'{}' is not an absolute path", v.text),
                    );
                }
            } else {
                w.not_implemented(&v.key_loc, &full, "");
            }
        }
        for s in &p.sections {
            w.ignore_tree(s, &format!("{ppath}.{}", s.name));
        }
    }
}
