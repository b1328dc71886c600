//! Traffic selectors: from configuration, narrowing (RFC 7296 §2.9), and kernel prefixes.

use crate::sa::Selector;
use crate::wire::TrafficSelector;
use conf::values::{ProtoPort, Subnet, TsAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The largest prefix covering exactly `start..=end`, if the range is a prefix.
pub fn range_to_prefix(start: IpAddr, end: IpAddr) -> Option<(IpAddr, u8)> {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            let (s, e) = (u32::from(s), u32::from(e));
            let host = s ^ e;
            if host.count_ones() != host.trailing_ones() || s & host != 0 || s > e {
                return None;
            }
            Some((start, u8::try_from(32 - host.count_ones()).ok()?))
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => {
            let (s, e) = (u128::from(s), u128::from(e));
            let host = s ^ e;
            if host.count_ones() != host.trailing_ones() || s & host != 0 || s > e {
                return None;
            }
            Some((start, u8::try_from(128 - host.count_ones()).ok()?))
        }
        _ => None,
    }
}

/// First and last address of a prefix.
pub fn prefix_range(addr: IpAddr, prefix: u8) -> (IpAddr, IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            let a = u32::from(a);
            let host = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
            (
                IpAddr::V4(Ipv4Addr::from(a & !host)),
                IpAddr::V4(Ipv4Addr::from(a | host)),
            )
        }
        IpAddr::V6(a) => {
            let a = u128::from(a);
            let host = if prefix >= 128 {
                0
            } else {
                u128::MAX >> prefix
            };
            (
                IpAddr::V6(Ipv6Addr::from(a & !host)),
                IpAddr::V6(Ipv6Addr::from(a | host)),
            )
        }
    }
}

fn with_pp(start: IpAddr, end: IpAddr, pp: &ProtoPort) -> Selector {
    let (sp, ep) = if pp.opaque {
        (65535, 0)
    } else {
        (pp.port_from, pp.port_to)
    };
    Selector {
        start,
        end,
        protocol: pp.proto,
        start_port: sp,
        end_port: ep,
    }
}

/// The selectors an end proposes: its subnets (or its own address when it
/// has none, or for `%dynamic`), with `leftprotoport`.
pub fn configured(subnets: &[Subnet], protoport: &ProtoPort, host: IpAddr) -> Vec<Selector> {
    if subnets.is_empty() {
        return vec![with_pp(host, host, protoport)];
    }
    subnets
        .iter()
        .map(|s| {
            let pp = s.protoport.as_ref().unwrap_or(protoport);
            match s.addr {
                TsAddr::Net(n) => {
                    let (a, b) = prefix_range(n.addr, n.prefix);
                    with_pp(a, b, pp)
                }
                TsAddr::Range(a, b) => with_pp(a, b, pp),
                TsAddr::Dynamic => with_pp(host, host, pp),
            }
        })
        .collect()
}

pub fn to_wire(s: &Selector) -> TrafficSelector {
    match (s.start, s.end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => TrafficSelector::Ipv4 {
            ip_protocol: s.protocol,
            start_port: s.start_port,
            end_port: s.end_port,
            start: a,
            end: b,
        },
        (IpAddr::V6(a), IpAddr::V6(b)) => TrafficSelector::Ipv6 {
            ip_protocol: s.protocol,
            start_port: s.start_port,
            end_port: s.end_port,
            start: a,
            end: b,
        },
        // Mixed families never come out of `configured`; encode the start's family.
        (IpAddr::V4(a), IpAddr::V6(_)) => TrafficSelector::Ipv4 {
            ip_protocol: s.protocol,
            start_port: s.start_port,
            end_port: s.end_port,
            start: a,
            end: a,
        },
        (IpAddr::V6(a), IpAddr::V4(_)) => TrafficSelector::Ipv6 {
            ip_protocol: s.protocol,
            start_port: s.start_port,
            end_port: s.end_port,
            start: a,
            end: a,
        },
    }
}

/// Wire selectors we understand (unknown types are skipped).
pub fn from_wire(ts: &[TrafficSelector]) -> Vec<Selector> {
    ts.iter()
        .filter_map(|t| match t {
            TrafficSelector::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => Some(Selector {
                start: IpAddr::V4(*start),
                end: IpAddr::V4(*end),
                protocol: *ip_protocol,
                start_port: *start_port,
                end_port: *end_port,
            }),
            TrafficSelector::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => Some(Selector {
                start: IpAddr::V6(*start),
                end: IpAddr::V6(*end),
                protocol: *ip_protocol,
                start_port: *start_port,
                end_port: *end_port,
            }),
            TrafficSelector::Other { .. } => None,
        })
        .collect()
}

/// The intersection of two selectors, if not empty.
pub fn intersect(a: &Selector, b: &Selector) -> Option<Selector> {
    if a.start.is_ipv4() != b.start.is_ipv4() {
        return None;
    }
    let start = a.start.max(b.start);
    let end = a.end.min(b.end);
    if start > end {
        return None;
    }
    let protocol = match (a.protocol, b.protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    // Opaque ports (start 65535, end 0) match only "any" ranges; keep the opaque side.
    let opaque = |s: &Selector| s.start_port > s.end_port;
    let (start_port, end_port) = match (opaque(a), opaque(b)) {
        (true, true) => (a.start_port, a.end_port),
        (true, false) if b.start_port == 0 && b.end_port == 65535 => (a.start_port, a.end_port),
        (false, true) if a.start_port == 0 && a.end_port == 65535 => (b.start_port, b.end_port),
        (false, false) => {
            let s = a.start_port.max(b.start_port);
            let e = a.end_port.min(b.end_port);
            if s > e {
                return None;
            }
            (s, e)
        }
        _ => return None,
    };
    Some(Selector {
        start,
        end,
        protocol,
        start_port,
        end_port,
    })
}

/// Responder narrowing: every non-empty intersection of proposed x configured, deduplicated.
pub fn narrow(proposed: &[Selector], configured: &[Selector]) -> Vec<Selector> {
    let mut out: Vec<Selector> = Vec::new();
    for p in proposed {
        for c in configured {
            if let Some(i) = intersect(p, c) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    // Like strongSwan, drop selectors another one covers: an initiator that
    // proposes the triggering packet first (TSi = 10.1.0.5/32[tcp/80], then
    // 10.1.0.0/16) gets the whole subnet, not one SA per flow.
    let all = out.clone();
    out.retain(|s| {
        !all.iter()
            .any(|o| o != s && intersect(s, o).as_ref() == Some(s))
    });
    out
}

/// Splits an address range into the prefixes that cover exactly it (kernel
/// selectors are prefixes): (network address, prefix length), at most
/// 2 * address bits of them.
pub fn range_prefixes(start: IpAddr, end: IpAddr) -> Vec<(IpAddr, u8)> {
    let (s, e, bits, v6) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (
            u128::from(u32::from(s)),
            u128::from(u32::from(e)),
            32u32,
            false,
        ),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128u32, true),
        _ => return Vec::new(),
    };
    let mk = |a: u128, len: u32| {
        let addr = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::from(a))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::from(a as u32))
        };
        (addr, len as u8)
    };
    let mut out = Vec::new();
    let mut cur = s;
    // At most 2 * bits prefixes; bounded loop.
    for _ in 0..(2 * bits + 2) {
        if cur > e {
            break;
        }
        // Largest block aligned at `cur` that fits in [cur, e].
        let mut size_bits = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        loop {
            let last = if size_bits >= 128 {
                u128::MAX
            } else {
                cur + ((1u128 << size_bits) - 1)
            };
            if last <= e {
                out.push(mk(cur, bits - size_bits));
                if last == u128::MAX || (!v6 && last >= u128::from(u32::MAX)) {
                    return out;
                }
                cur = last + 1;
                break;
            }
            if size_bits == 0 {
                return out;
            }
            size_bits -= 1;
        }
    }
    out
}

/// How many kernel selector pairs (each one IN, OUT and FWD policy) a
/// CHILD_SA with these selectors needs: every same-family local x remote
/// pair of their prefixes.
pub fn kernel_pairs(local: &[Selector], remote: &[Selector]) -> usize {
    let mut n = 0usize;
    for l in local {
        let pl = range_prefixes(l.start, l.end).len();
        for r in remote
            .iter()
            .filter(|r| r.start.is_ipv4() == l.start.is_ipv4())
        {
            n = n.saturating_add(pl.saturating_mul(range_prefixes(r.start, r.end).len()));
        }
    }
    n
}

/// Is `inner` entirely within one of `outer` (initiator's check of the responder's choice)?
pub fn is_subset(inner: &Selector, outer: &[Selector]) -> bool {
    outer
        .iter()
        .any(|o| intersect(inner, o).as_ref() == Some(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(a: &str, b: &str) -> Selector {
        Selector {
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            range_to_prefix("10.1.0.0".parse().unwrap(), "10.1.255.255".parse().unwrap()),
            Some(("10.1.0.0".parse().unwrap(), 16))
        );
        assert_eq!(
            range_to_prefix("10.1.0.1".parse().unwrap(), "10.1.0.1".parse().unwrap())
                .unwrap()
                .1,
            32
        );
        assert_eq!(
            range_to_prefix("10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()),
            None
        );
        assert_eq!(
            range_to_prefix(
                "::".parse().unwrap(),
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()
            )
            .unwrap()
            .1,
            0
        );
        let (a, b) = prefix_range("2001:db8::".parse().unwrap(), 32);
        assert_eq!(
            (a.to_string(), b.to_string()),
            (
                "2001:db8::".into(),
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".into()
            )
        );
    }

    #[test]
    fn narrowing() {
        let conf = vec![sel("10.1.0.0", "10.1.255.255")];
        let prop = vec![
            sel("0.0.0.0", "255.255.255.255"),
            sel("2001:db8::", "2001:db8::ffff"),
        ];
        assert_eq!(narrow(&prop, &conf), conf);
        assert!(narrow(&[sel("10.2.0.0", "10.2.0.255")], &conf).is_empty());
        let mut tcp = sel("10.1.0.5", "10.1.0.5");
        tcp.protocol = 6;
        tcp.start_port = 22;
        tcp.end_port = 22;
        assert_eq!(narrow(&[tcp], &conf), vec![tcp]);
        // the triggering packet first, then the subnet (auto=route initiators, RFC 7296
        // §2.9): strongSwan answers with the subnet alone, so does iked
        assert_eq!(narrow(&[tcp, sel("10.1.0.0", "10.1.255.255")], &conf), conf);
        assert!(is_subset(&tcp, &conf));
        assert!(!is_subset(&sel("10.0.0.0", "10.255.255.255"), &conf));
        let mut gre = sel("10.1.0.5", "10.1.0.5");
        gre.protocol = 47;
        assert!(intersect(&gre, &tcp).is_none());
    }
}
