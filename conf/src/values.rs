//! Typed values of ipsec.conf keywords and their parsers. Each parser returns
//! `Err(message)`; the caller adds file:line and the keyword.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub type VResult<T> = Result<T, String>;

pub fn parse_bool(v: &str) -> VResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not yes or no")),
    }
}

/// Time values: `3600`, `60s`, `30m`, `1h`, `3d` (plain numbers are seconds).
pub fn parse_time(v: &str) -> VResult<Duration> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last() {
        Some((i, 's')) => (&v[..i], 1),
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 'h')) => (&v[..i], 3600),
        Some((i, 'd')) => (&v[..i], 86400),
        _ => (v, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        format!("'{v}' is not a time (a number with an optional s, m, h or d suffix, e.g. 30m)")
    })?;
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{v}' is too large"))
}

/// A number or a percentage (`rekeyfuzz=100%`).
pub fn parse_percent(v: &str) -> VResult<u32> {
    let num = v.trim().strip_suffix('%').unwrap_or(v.trim());
    num.parse()
        .map_err(|_| format!("'{v}' is not a percentage (e.g. 100%)"))
}

pub fn parse_u64(v: &str) -> VResult<u64> {
    v.trim()
        .parse()
        .map_err(|_| format!("'{v}' is not a non-negative number"))
}

/// Decimal or 0x hex.
pub fn parse_u32_any_base(v: &str) -> VResult<u32> {
    let v = v.trim();
    let r = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    r.map_err(|_| format!("'{v}' is not a 32-bit number (decimal or 0x hex)"))
}

/// An IP prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn host(addr: IpAddr) -> Self {
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(a, self.prefix) == n,
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(a, self.prefix) == n,
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

pub fn max_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

fn mask_v4(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let m = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let m = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    Ipv6Addr::from(u128::from(a) & m)
}

/// Parses `addr/prefix` or a bare address. Returns the network and whether
/// host bits had to be cleared (strongSwan masks them; we warn).
pub fn parse_net(v: &str) -> VResult<(IpNet, bool)> {
    let v = v.trim();
    let (a, p) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("'{v}' is not an IP address or subnet"))?;
    let max = max_prefix(addr);
    let prefix = match p {
        None => max,
        Some(p) => {
            let n: u8 = p
                .parse()
                .map_err(|_| format!("'{v}': prefix length '{p}' is not a number"))?;
            if n > max {
                return Err(format!("'{v}': prefix length {n} exceeds {max}"));
            }
            n
        }
    };
    let masked = match addr {
        IpAddr::V4(x) => IpAddr::V4(mask_v4(x, prefix)),
        IpAddr::V6(x) => IpAddr::V6(mask_v6(x, prefix)),
    };
    Ok((
        IpNet {
            addr: masked,
            prefix,
        },
        masked != addr,
    ))
}

/// A traffic-selector address part: a prefix or an inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsAddr {
    Net(IpNet),
    Range(IpAddr, IpAddr),
    /// `%dynamic`: the end's own (or virtual) address, known at run time.
    Dynamic,
}

impl fmt::Display for TsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsAddr::Net(n) => write!(f, "{n}"),
            TsAddr::Range(a, b) => write!(f, "{a}-{b}"),
            TsAddr::Dynamic => f.write_str("%dynamic"),
        }
    }
}

/// Protocol and port selector: `leftprotoport=tcp/22`, `gre`, `17/%any`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProtoPort {
    /// IP protocol number; 0 = any.
    pub proto: u8,
    /// Inclusive port range; (0, 65535) = any. For ICMP: type << 8 | code.
    pub port_from: u16,
    pub port_to: u16,
    /// `%opaque`: ports not determinable (RFC 7296: start 65535, end 0).
    pub opaque: bool,
}

impl ProtoPort {
    pub const ANY: ProtoPort = ProtoPort {
        proto: 0,
        port_from: 0,
        port_to: 65535,
        opaque: false,
    };
    pub fn is_any(&self) -> bool {
        *self == Self::ANY
    }
}

impl fmt::Display for ProtoPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = proto_name(self.proto)
            .map(str::to_owned)
            .unwrap_or_else(|| self.proto.to_string());
        if self.opaque {
            write!(f, "{p}/%opaque")
        } else if self.port_from == 0 && self.port_to == 65535 {
            write!(f, "{p}")
        } else if self.port_from == self.port_to {
            write!(f, "{p}/{}", self.port_from)
        } else {
            write!(f, "{p}/{}-{}", self.port_from, self.port_to)
        }
    }
}

const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("ipip", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("icmp6", 58),
    ("ospf", 89),
    ("pim", 103),
    ("l2tp", 115),
    ("sctp", 132),
];

const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("isakmp", 500),
    ("syslog", 514),
    ("ldaps", 636),
    ("l2tp", 1701),
    ("radius", 1812),
    ("ipsec-nat-t", 4500),
];

pub fn proto_name(n: u8) -> Option<&'static str> {
    PROTOCOLS.iter().find(|(_, p)| *p == n).map(|(s, _)| *s)
}

pub fn parse_proto(p: &str) -> VResult<u8> {
    let p = p.trim();
    if p == "%any" || p.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = p.parse::<u8>() {
        return Ok(n);
    }
    let l = p.to_ascii_lowercase();
    PROTOCOLS
        .iter()
        .find(|(s, _)| *s == l)
        .map(|(_, n)| *n)
        .ok_or_else(|| {
            format!(
                "unknown protocol '{p}'{}",
                crate::util::did_you_mean(&l, PROTOCOLS.iter().map(|(s, _)| *s))
            )
        })
}

fn parse_port(p: &str) -> VResult<u16> {
    if let Ok(n) = p.parse::<u16>() {
        return Ok(n);
    }
    let l = p.to_ascii_lowercase();
    SERVICES
        .iter()
        .find(|(s, _)| *s == l)
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("unknown port or service '{p}'"))
}

/// `proto[/port]` with port a number, service name, `%any`, `%opaque` or `a-b`.
pub fn parse_protoport(v: &str) -> VResult<ProtoPort> {
    let v = v.trim();
    let (p, port) = match v.split_once('/') {
        Some((p, port)) => (p, Some(port.trim())),
        None => (v, None),
    };
    let proto = parse_proto(p)?;
    let mut pp = ProtoPort {
        proto,
        ..ProtoPort::ANY
    };
    match port {
        None | Some("%any") | Some("") => {}
        Some("%opaque") => pp.opaque = true,
        Some(port) => {
            let (a, b) = match port.split_once('-') {
                Some((a, b)) => (parse_port(a.trim())?, parse_port(b.trim())?),
                None => {
                    let n = parse_port(port)?;
                    (n, n)
                }
            };
            if a > b {
                return Err(format!("port range '{port}' is reversed"));
            }
            if proto == 0 {
                return Err(format!(
                    "'{v}': a port needs a protocol (e.g. tcp/{port}), not %any"
                ));
            }
            pp.port_from = a;
            pp.port_to = b;
        }
    }
    Ok(pp)
}

/// One element of `leftsubnet=`: address part plus optional `[proto/port]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    pub addr: TsAddr,
    pub protoport: Option<ProtoPort>,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(pp) = &self.protoport {
            write!(f, "[{pp}]")?;
        }
        Ok(())
    }
}

/// Parses a comma list of subnets; returns them and warnings (masked host bits).
pub fn parse_subnets(v: &str) -> VResult<(Vec<Subnet>, Vec<String>)> {
    let mut out = Vec::new();
    let mut warns = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty element in subnet list '{v}'"));
        }
        let (a, pp) = match item.split_once('[') {
            Some((a, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("'{item}': missing ']'"))?;
                (a.trim(), Some(parse_protoport(inner)?))
            }
            None => (item, None),
        };
        let addr = if a == "%dynamic" {
            TsAddr::Dynamic
        } else if let Some((x, y)) = a.split_once('-').filter(|_| !a.contains('/')) {
            let x: IpAddr = x
                .trim()
                .parse()
                .map_err(|_| format!("'{a}' is not an address range"))?;
            let y: IpAddr = y
                .trim()
                .parse()
                .map_err(|_| format!("'{a}' is not an address range"))?;
            if x.is_ipv4() != y.is_ipv4() {
                return Err(format!("range '{a}' mixes IPv4 and IPv6"));
            }
            if x > y {
                return Err(format!("range '{a}' is reversed"));
            }
            TsAddr::Range(x, y)
        } else {
            let (net, masked) = parse_net(a)?;
            if masked {
                warns.push(format!(
                    "'{a}' has host bits set; using the network {net} (as strongSwan does)"
                ));
            }
            TsAddr::Net(net)
        };
        out.push(Subnet {
            addr,
            protoport: pp,
        });
    }
    Ok((out, warns))
}

/// `left=`/`right=`: one or more hosts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `%any` (either family), `%any4`, `%any6`; also `%defaultroute`.
    Any(Option<AddrFamily>),
    Addr(IpAddr),
    /// A subnet or range: matches peers as responder (strongSwan 5.x).
    Net(IpNet),
    Range(IpAddr, IpAddr),
    /// A DNS name, resolved at run time (`%` prefix allowed: `%moon.example.org`).
    Name(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrFamily {
    V4,
    V6,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any(None) => f.write_str("%any"),
            Host::Any(Some(AddrFamily::V4)) => f.write_str("%any4"),
            Host::Any(Some(AddrFamily::V6)) => f.write_str("%any6"),
            Host::Addr(a) => write!(f, "{a}"),
            Host::Net(n) => write!(f, "{n}"),
            Host::Range(a, b) => write!(f, "{a}-{b}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

pub fn parse_hosts(v: &str) -> VResult<Vec<Host>> {
    let mut out = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        let h = match item {
            "" => return Err(format!("empty element in host list '{v}'")),
            "%any" | "%defaultroute" | "%default" => Host::Any(None),
            "%any4" => Host::Any(Some(AddrFamily::V4)),
            "%any6" => Host::Any(Some(AddrFamily::V6)),
            "%opportunistic" | "%group" | "%opportunisticgroup" => {
                return Err(format!(
                    "'{item}' (opportunistic encryption) is not supported"
                ));
            }
            _ => {
                if let Ok(a) = item.parse::<IpAddr>() {
                    Host::Addr(a)
                } else if item.contains('/') {
                    Host::Net(parse_net(item)?.0)
                } else if let Some((x, y)) = item
                    .split_once('-')
                    .filter(|(x, _)| x.parse::<IpAddr>().is_ok())
                {
                    let (Ok(x), Ok(y)) = (x.parse::<IpAddr>(), y.parse::<IpAddr>()) else {
                        return Err(format!("'{item}' is not an address range"));
                    };
                    Host::Range(x, y)
                } else {
                    let name = item.strip_prefix('%').unwrap_or(item);
                    if !valid_dns_name(name) {
                        return Err(format!(
                            "'{item}' is neither an IP address, %any, nor a valid DNS name"
                        ));
                    }
                    Host::Name(name.to_owned())
                }
            }
        };
        out.push(h);
    }
    Ok(out)
}

fn valid_dns_name(s: &str) -> bool {
    // A numeric last label is a mistyped address, not a name.
    let numeric_tld = s
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
    !numeric_tld
        && !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// IKE identities (RFC 7296 §3.5), with strongSwan's string syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `%any`: matches every identity.
    Any,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// `@fqdn` or a plain host name. May hold `*` wildcards.
    Fqdn(String),
    /// `user@fqdn` (RFC822). May hold `*` wildcards.
    UserFqdn(String),
    /// A distinguished name, in strongSwan's syntax (`C=CH, O=strongSwan, CN=moon`).
    Dn(String),
    /// `@#hex`: KEY_ID.
    KeyId(Vec<u8>),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Any => f.write_str("%any"),
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) | Identity::UserFqdn(s) | Identity::Dn(s) => f.write_str(s),
            Identity::KeyId(k) => write!(f, "@#{}", hex::encode(k)),
        }
    }
}

impl Identity {
    /// The IKEv2 ID type number (RFC 7296 §3.5); `None` for `%any`.
    pub fn id_type(&self) -> Option<u8> {
        Some(match self {
            Identity::Any => return None,
            Identity::Ipv4(_) => 1,
            Identity::Fqdn(_) => 2,
            Identity::UserFqdn(_) => 3,
            Identity::Ipv6(_) => 5,
            Identity::Dn(_) => 9,
            Identity::KeyId(_) => 11,
        })
    }

    pub fn from_addr(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        }
    }

    pub fn has_wildcard(&self) -> bool {
        match self {
            Identity::Any => true,
            Identity::Fqdn(s) | Identity::UserFqdn(s) | Identity::Dn(s) => s.contains('*'),
            _ => false,
        }
    }
}

pub fn parse_identity(v: &str) -> VResult<Identity> {
    let v = v.trim();
    if v.is_empty() {
        return Err("empty identity".into());
    }
    if v == "%any" || v == "%any6" || v == "*" {
        return Ok(Identity::Any);
    }
    // Explicit type prefixes (strongSwan: "fqdn:", "email:", ...).
    if let Some((ty, rest)) = v.split_once(':') {
        let rest = rest.to_owned();
        match ty.to_ascii_lowercase().as_str() {
            "ipv4" | "ipv4_addr" => {
                return rest
                    .parse()
                    .map(Identity::Ipv4)
                    .map_err(|_| format!("'{rest}' is not an IPv4 address"));
            }
            "ipv6" | "ipv6_addr" => {
                return rest
                    .parse()
                    .map(Identity::Ipv6)
                    .map_err(|_| format!("'{rest}' is not an IPv6 address"));
            }
            "fqdn" => return Ok(Identity::Fqdn(rest)),
            "email" | "rfc822" | "userfqdn" | "user_fqdn" => return Ok(Identity::UserFqdn(rest)),
            "asn1dn" | "dn" | "der_asn1_dn" => return Ok(Identity::Dn(normalize_dn(&rest)?)),
            "keyid" | "key_id" => {
                let h = rest.strip_prefix('#').unwrap_or(&rest);
                return hex::decode(h)
                    .map(Identity::KeyId)
                    .map_err(|_| format!("keyid '{rest}' is not hex"));
            }
            _ => {}
        }
    }
    if let Ok(a) = v.parse::<IpAddr>() {
        return Ok(Identity::from_addr(a));
    }
    if let Some(h) = v.strip_prefix("@#") {
        let h: String = h.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        return hex::decode(&h)
            .map(Identity::KeyId)
            .map_err(|_| format!("'{v}': KEY_ID after @# must be hex"));
    }
    if let Some(f) = v.strip_prefix("@@") {
        return Ok(Identity::UserFqdn(f.to_owned()));
    }
    if let Some(f) = v.strip_prefix('@') {
        if f.is_empty() {
            return Err("'@' needs a name after it".into());
        }
        return Ok(Identity::Fqdn(f.to_owned()));
    }
    if v.contains('=') {
        return Ok(Identity::Dn(normalize_dn(v)?));
    }
    if v.contains('@') {
        return Ok(Identity::UserFqdn(v.to_owned()));
    }
    Ok(Identity::Fqdn(v.to_owned()))
}

/// Checks a DN string (`C=CH, O=x, CN=y`; `/` or `,` separated) and puts it in
/// strongSwan's display form: `C=CH, O=x, CN=y`.
pub fn normalize_dn(v: &str) -> VResult<String> {
    let sep = if v.starts_with('/') { '/' } else { ',' };
    let mut parts = Vec::new();
    for rdn in v.split(sep) {
        let rdn = rdn.trim();
        if rdn.is_empty() {
            if sep == '/' {
                continue;
            }
            return Err(format!("DN '{v}' has an empty component"));
        }
        let Some((k, val)) = rdn.split_once('=') else {
            return Err(format!(
                "DN component '{rdn}' lacks '=' (expected e.g. CN=name)"
            ));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return Err(format!(
                "DN component '{rdn}' has an invalid attribute name"
            ));
        }
        parts.push(format!("{k}={}", val.trim()));
    }
    if parts.is_empty() {
        return Err(format!("DN '{v}' is empty"));
    }
    Ok(parts.join(", "))
}

/// `mark=value[/mask]`, `%unique`, `%unique-dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mark {
    pub value: MarkValue,
    pub mask: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarkValue {
    Fixed(u32),
    /// A unique value per CHILD_SA (both directions share it).
    Unique,
    /// A unique value per CHILD_SA and direction.
    UniqueDir,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            MarkValue::Fixed(v) => write!(f, "{v:#x}/{:#x}", self.mask),
            MarkValue::Unique => write!(f, "%unique/{:#x}", self.mask),
            MarkValue::UniqueDir => write!(f, "%unique-dir/{:#x}", self.mask),
        }
    }
}

pub fn parse_mark(v: &str) -> VResult<Mark> {
    let (val, mask) = match v.split_once('/') {
        Some((a, m)) => (a.trim(), Some(m.trim())),
        None => (v.trim(), None),
    };
    let value = match val {
        "%unique" => MarkValue::Unique,
        "%unique-dir" => MarkValue::UniqueDir,
        _ => MarkValue::Fixed(parse_u32_any_base(val).map_err(|e| format!("mark value: {e}"))?),
    };
    let mask = match mask {
        None => u32::MAX,
        Some(m) => parse_u32_any_base(m).map_err(|e| format!("mark mask: {e}"))?,
    };
    if let MarkValue::Fixed(x) = value {
        if x & !mask != 0 {
            return Err(format!(
                "mark value {x:#x} has bits outside the mask {mask:#x}"
            ));
        }
    }
    Ok(Mark { value, mask })
}

/// `if_id_in` / `if_id_out`: a number, `%unique`, `%unique-dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IfId {
    Fixed(u32),
    Unique,
    UniqueDir,
}

pub fn parse_if_id(v: &str) -> VResult<IfId> {
    match v.trim() {
        "%unique" => Ok(IfId::Unique),
        "%unique-dir" => Ok(IfId::UniqueDir),
        x => parse_u32_any_base(x).map(IfId::Fixed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("3600").unwrap().as_secs(), 3600);
        assert_eq!(parse_time("60s").unwrap().as_secs(), 60);
        assert_eq!(parse_time("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_time("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_time("3d").unwrap().as_secs(), 259200);
        assert!(parse_time("1w").is_err());
        assert!(parse_time("m").is_err());
        assert!(parse_time("99999999999999999999d").is_err());
        assert_eq!(parse_percent("100%").unwrap(), 100);
    }

    #[test]
    fn nets() {
        let (n, masked) = parse_net("10.0.0.1/16").unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/16");
        assert!(masked);
        let (n, masked) = parse_net("::/0").unwrap();
        assert_eq!(n.to_string(), "::/0");
        assert!(!masked);
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("10.0.0/8").is_err());
        let (s, w) =
            parse_subnets("10.1.0.0/16, fec1::/16,10.9.0.1-10.9.0.9,%dynamic[tcp/http]").unwrap();
        assert_eq!(s.len(), 4);
        assert!(w.is_empty());
        assert_eq!(s[3].protoport.unwrap().port_from, 80);
    }

    #[test]
    fn protoports() {
        assert_eq!(parse_protoport("gre").unwrap().proto, 47);
        let p = parse_protoport("tcp/22").unwrap();
        assert_eq!((p.proto, p.port_from, p.port_to), (6, 22, 22));
        let p = parse_protoport("17/%any").unwrap();
        assert_eq!((p.proto, p.port_from, p.port_to), (17, 0, 65535));
        assert_eq!(parse_protoport("tcp/ssh").unwrap().port_from, 22);
        assert!(
            parse_protoport("tcpp/22")
                .unwrap_err()
                .contains("did you mean 'tcp'")
        );
        assert!(parse_protoport("%any/22").is_err());
    }

    #[test]
    fn identities() {
        assert_eq!(
            parse_identity("@moon.strongswan.org").unwrap(),
            Identity::Fqdn("moon.strongswan.org".into())
        );
        assert_eq!(
            parse_identity("carol@strongswan.org").unwrap(),
            Identity::UserFqdn("carol@strongswan.org".into())
        );
        assert_eq!(
            parse_identity("192.0.2.1").unwrap(),
            Identity::Ipv4("192.0.2.1".parse().unwrap())
        );
        assert_eq!(parse_identity("2001:db8::1").unwrap().id_type(), Some(5));
        assert_eq!(
            parse_identity("C=CH,O=strongSwan,   CN=moon").unwrap(),
            Identity::Dn("C=CH, O=strongSwan, CN=moon".into())
        );
        assert_eq!(
            parse_identity("@#0a0b").unwrap(),
            Identity::KeyId(vec![10, 11])
        );
        assert_eq!(parse_identity("%any").unwrap(), Identity::Any);
        assert!(parse_identity("*@strongswan.org").unwrap().has_wildcard());
        assert_eq!(
            parse_identity("client_a").unwrap(),
            Identity::Fqdn("client_a".into())
        );
        assert!(parse_identity("@#zz").is_err());
    }

    #[test]
    fn marks() {
        let m = parse_mark("6").unwrap();
        assert_eq!((m.value, m.mask), (MarkValue::Fixed(6), 0xffff_ffff));
        let m = parse_mark("0x10/0xff0").unwrap();
        assert_eq!((m.value, m.mask), (MarkValue::Fixed(16), 0xff0));
        assert_eq!(parse_mark("%unique").unwrap().value, MarkValue::Unique);
        assert!(parse_mark("0x11/0x10").is_err());
        assert!(parse_mark("x").is_err());
        assert_eq!(parse_if_id("42").unwrap(), IfId::Fixed(42));
    }

    #[test]
    fn hosts() {
        let h = parse_hosts("%any").unwrap();
        assert_eq!(h, vec![Host::Any(None)]);
        let h = parse_hosts("192.0.2.1, 2001:db8::1").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(
            parse_hosts("moon.strongswan.org").unwrap(),
            vec![Host::Name("moon.strongswan.org".into())]
        );
        assert!(parse_hosts("10.0.0.300").is_err());
        assert!(parse_hosts("not a host").is_err());
    }
}
