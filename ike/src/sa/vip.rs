//! Virtual IPs: `rightsourceip=` pools and static addresses (responder), and
//! the CP payloads that ask for and hand out addresses (RFC 7296 §3.15).

use crate::wire::{CfgAttribute as A, CfgType, ConfigPayload, Payload};
use conf::conn::End;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use tracing::{info, warn};

/// The leases of `rightsourceip=%config` conns (addresses peers chose).
const CONFIG_POOL: &str = "%config";

/// The specific addresses a CP request asks for, of `fam` if given.
fn asked(req: &ConfigPayload, fam: Option<conf::values::AddrFamily>) -> Vec<IpAddr> {
    use conf::values::AddrFamily;
    req.attributes
        .iter()
        .filter_map(|a| match a {
            A::InternalIp4Address(Some(ip))
                if !ip.is_unspecified() && fam != Some(AddrFamily::V6) =>
            {
                Some(IpAddr::V4(*ip))
            }
            A::InternalIp6Address(Some((ip, _)))
                if !ip.is_unspecified() && fam != Some(AddrFamily::V4) =>
            {
                Some(IpAddr::V6(*ip))
            }
            _ => None,
        })
        .collect()
}

/// One pool: which identity had which address, which addresses are online.
#[derive(Debug, Default)]
struct Pool {
    leases: HashMap<String, IpAddr>,
    online: HashMap<IpAddr, String>,
}

/// Every pool of the endpoint, by its `rightsourceip=` text.
#[derive(Debug, Default)]
pub(super) struct Pools {
    pools: HashMap<String, Pool>,
}

/// The addresses an IKE_SA holds: assigned to us (initiator) or leased to the
/// peer (responder). It moves with the IKE_SA when that is rekeyed.
#[derive(Debug, Default, Clone)]
pub(super) struct Vips {
    /// Initiator: asking for a virtual IP (Some(is IPv6)).
    pub want: Option<bool>,
    pub local: Vec<IpAddr>,
    /// (pool, address) leased to the peer.
    pub leases: Vec<(String, IpAddr)>,
    /// Initiator: the DNS servers the peer's CP reply named.
    pub dns: Vec<IpAddr>,
}

impl Pools {
    /// Creates the pools the conns name (`rightsourceip=` subnets and
    /// ranges), each announced once with strongSwan's line ("adding virtual
    /// IP address pool ..."), which operators and evaltests grep.
    pub fn announce(&mut self, conns: &[std::sync::Arc<conf::Conn>]) {
        for c in conns {
            for end in [&c.left, &c.right] {
                for src in &end.sourceip {
                    if let conf::conn::SourceIp::Pool(p) = src {
                        if let std::collections::hash_map::Entry::Vacant(v) =
                            self.pools.entry(p.to_string())
                        {
                            info!(target: "cfg", "adding virtual IP address pool {}", v.key());
                            v.insert(Pool::default());
                        }
                    }
                }
            }
        }
    }

    /// Gives the addresses of an IKE_SA back to their pools.
    pub fn release(&mut self, vips: &mut Vips) {
        for (pool, ip) in vips.leases.drain(..) {
            if let Some(p) = self.pools.get_mut(&pool) {
                p.online.remove(&ip);
                info!(target: "cfg", "virtual IP {ip} of pool {pool} released");
            }
        }
    }

    /// Addresses online in a pool (for tests and status).
    pub fn online(&self, pool: &str) -> usize {
        self.pools.get(pool).map_or(0, |p| p.online.len())
    }

    /// A pool's addresses for status (VICI `get-pools`): how many it hands
    /// out, how many are leased now, and how many were leased and are free.
    pub fn stats(&self, key: &str, p: &conf::values::TsAddr) -> (usize, usize, usize) {
        let size = pool_addrs(p).len();
        self.pools.get(key).map_or((size, 0, 0), |pool| {
            let offline = pool
                .leases
                .values()
                .filter(|a| !pool.online.contains_key(a))
                .count();
            (size, pool.online.len(), offline)
        })
    }

    /// A pool's leases for status (VICI `get-pools leases`): (address,
    /// identity, online), by address.
    pub fn leases(&self, key: &str) -> Vec<(IpAddr, String, bool)> {
        let Some(pool) = self.pools.get(key) else {
            return Vec::new();
        };
        let mut v: Vec<(IpAddr, String, bool)> = pool
            .leases
            .iter()
            .map(|(id, a)| (*a, id.clone(), pool.online.contains_key(a)))
            .collect();
        v.sort();
        v
    }

    /// Answers a CP(CFG_REQUEST) of peer `who` from the conn's `rightsourceip=`
    /// and `rightdns=` and strongswan.conf's `dns1/2`, `nbns1/2` (`global`):
    /// the CP reply and the addresses (recorded in `vips`).
    #[allow(clippy::too_many_arguments)]
    pub fn assign(
        &mut self,
        conn_name: &str,
        remote_end: &End,
        global: &conf::swconf::CharonSettings,
        who: &str,
        payloads: &[Payload],
        vips: &mut Vips,
    ) -> (Option<Payload>, Vec<IpAddr>) {
        let Some(req) = payloads.iter().find_map(|p| match p {
            Payload::Cp(c) if c.cfg_type == CfgType::REQUEST => Some(c),
            _ => None,
        }) else {
            return (None, Vec::new());
        };
        let want4 = req
            .attributes
            .iter()
            .any(|a| matches!(a, A::InternalIp4Address(_)));
        let want6 = req
            .attributes
            .iter()
            .any(|a| matches!(a, A::InternalIp6Address(_)));
        for a in &req.attributes {
            let shown = match a {
                A::InternalIp4Address(Some(ip)) if !ip.is_unspecified() => ip.to_string(),
                A::InternalIp4Address(_) => "%any".into(),
                A::InternalIp6Address(Some((ip, _))) if !ip.is_unspecified() => ip.to_string(),
                A::InternalIp6Address(_) => "%any6".into(),
                _ => continue,
            };
            info!(target: "cfg", "peer requested virtual IP {shown}");
        }
        let mut got = Vec::new();
        for src in &remote_end.sourceip {
            let (key, cands) = match src {
                conf::conn::SourceIp::Pool(p) => (p.to_string(), pool_addrs(p)),
                conf::conn::SourceIp::Addr(a) => (a.to_string(), vec![*a]),
                conf::conn::SourceIp::Named(n) => {
                    warn!(target: "cfg", "named pool %{n} needs an attribute provider, which iked does not have yet");
                    continue;
                }
                // rightsourceip=%config: the address the peer asks for, as
                // strongSwan grants it, but never one that is online for
                // another peer.
                conf::conn::SourceIp::Config(fam) => (CONFIG_POOL.to_owned(), asked(req, *fam)),
            };
            let Some(first) = cands.first() else { continue };
            let v4 = first.is_ipv4();
            if (v4 && !want4) || (!v4 && !want6) || got.iter().any(|x: &IpAddr| x.is_ipv4() == v4) {
                continue;
            }
            let pool = self.pools.entry(key.clone()).or_default();
            let previous = pool
                .leases
                .get(who)
                .copied()
                .filter(|a| !pool.online.contains_key(a) && cands.contains(a));
            let leased: HashSet<IpAddr> = pool.leases.values().copied().collect();
            let pick = previous
                .or_else(|| {
                    cands
                        .iter()
                        .copied()
                        .find(|a| !pool.online.contains_key(a) && !leased.contains(a))
                })
                .or_else(|| cands.iter().copied().find(|a| !pool.online.contains_key(a)));
            match pick {
                Some(a) => {
                    if previous == Some(a) {
                        info!(target: "cfg", "reassigning offline lease to '{who}'");
                    } else {
                        info!(target: "cfg", "assigning new lease {a} to '{who}'");
                    }
                    pool.leases.retain(|_, v| *v != a);
                    pool.leases.insert(who.to_owned(), a);
                    pool.online.insert(a, who.to_owned());
                    vips.leases.push((key.clone(), a));
                    info!(target: "cfg", "assigning virtual IP {a} to peer '{who}' (pool {key})");
                    got.push(a);
                }
                None if key == CONFIG_POOL => {
                    warn!(target: "cfg", "virtual IP {first} requested by '{who}' is online for another peer: not assigned")
                }
                None => warn!(target: "cfg", "pool {key} is exhausted: no virtual IP for '{who}'"),
            }
        }
        if got.is_empty() {
            warn!(target: "cfg", "peer '{who}' asked for a virtual IP, but conn '{conn_name}' has none to give");
            return (None, Vec::new());
        }
        let mut attrs = Vec::new();
        for a in &got {
            match a {
                IpAddr::V4(x) => attrs.push(A::InternalIp4Address(Some(*x))),
                IpAddr::V6(x) => attrs.push(A::InternalIp6Address(Some((*x, 128)))),
            }
        }
        // The conn's rightdns=, then strongswan.conf's charon.dns1/dns2 (each once).
        let mut dns: Vec<IpAddr> = remote_end
            .dns
            .iter()
            .filter_map(|d| match d {
                conf::conn::DnsServer::Addr(a) => Some(*a),
                conf::conn::DnsServer::Config(_) => None,
            })
            .collect();
        for a in &global.dns {
            if !dns.contains(a) {
                dns.push(*a);
            }
        }
        for a in dns {
            match a {
                IpAddr::V4(x) => attrs.push(A::InternalIp4Dns(Some(x))),
                IpAddr::V6(x) => attrs.push(A::InternalIp6Dns(Some(x))),
            }
        }
        // WINS (charon.nbns1/nbns2): IPv4 only in IKEv2 (RFC 7296 §3.15.1).
        for a in &global.nbns {
            if let IpAddr::V4(x) = a {
                attrs.push(A::InternalIp4Nbns(Some(*x)));
            }
        }
        (
            Some(Payload::Cp(ConfigPayload {
                cfg_type: CfgType::REPLY,
                attributes: attrs,
            })),
            got,
        )
    }
}

/// The CP(CFG_REQUEST) an initiator sends for a virtual IP.
pub(super) fn request(v6: bool) -> Payload {
    let attributes = if v6 {
        vec![A::InternalIp6Address(None), A::InternalIp6Dns(None)]
    } else {
        vec![A::InternalIp4Address(None), A::InternalIp4Dns(None)]
    };
    Payload::Cp(ConfigPayload {
        cfg_type: CfgType::REQUEST,
        attributes,
    })
}

/// The addresses a CP(CFG_REPLY) assigns us.
pub(super) fn assigned(payloads: &[Payload]) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for p in payloads {
        if let Payload::Cp(c) = p {
            for a in &c.attributes {
                match a {
                    A::InternalIp4Address(Some(x)) => v.push(IpAddr::V4(*x)),
                    A::InternalIp6Address(Some((x, _))) => v.push(IpAddr::V6(*x)),
                    _ => {}
                }
            }
        }
    }
    v
}

/// The DNS servers of a CP reply.
pub(super) fn dns_servers(payloads: &[Payload]) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for p in payloads {
        if let Payload::Cp(c) = p {
            for a in &c.attributes {
                match a {
                    A::InternalIp4Dns(Some(x)) => v.push(IpAddr::V4(*x)),
                    A::InternalIp6Dns(Some(x)) => v.push(IpAddr::V6(*x)),
                    _ => {}
                }
            }
        }
    }
    v
}

/// Candidate addresses of a pool (network and broadcast of IPv4 prefixes excluded), bounded.
fn pool_addrs(p: &conf::values::TsAddr) -> Vec<IpAddr> {
    const MAX: u128 = 65_536;
    let (a, b) = match p {
        conf::values::TsAddr::Net(n) => {
            let (a, b) = crate::ts::prefix_range(n.addr, n.prefix);
            match (a, b) {
                (IpAddr::V4(x), IpAddr::V4(y)) if n.prefix < 31 => (
                    IpAddr::V4((u32::from(x) + 1).into()),
                    IpAddr::V4((u32::from(y) - 1).into()),
                ),
                (IpAddr::V6(x), y) if n.prefix < 128 => (IpAddr::V6((u128::from(x) + 1).into()), y),
                other => other,
            }
        }
        conf::values::TsAddr::Range(a, b) => (*a, *b),
        conf::values::TsAddr::Dynamic => return Vec::new(),
    };
    let to = |x: IpAddr| match x {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    };
    let (lo, hi) = (to(a), to(b));
    if hi < lo {
        return Vec::new();
    }
    let hi = hi.min(lo.saturating_add(MAX - 1));
    (lo..=hi)
        .map(|v| match a {
            IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(v.into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::values::{TsAddr, parse_net};

    #[test]
    fn cp_reply_carries_the_conns_and_strongswan_confs_servers() {
        let end = End {
            sourceip: vec![conf::conn::SourceIp::Pool(TsAddr::Net(
                parse_net("10.3.0.0/28").unwrap().0,
            ))],
            dns: vec![conf::conn::DnsServer::Addr(
                "198.51.100.53".parse().unwrap(),
            )],
            ..End::default()
        };
        let global = conf::swconf::CharonSettings {
            dns: vec![
                "198.51.100.53".parse().unwrap(),
                "2001:db8::53".parse().unwrap(),
            ],
            nbns: vec!["198.51.100.137".parse().unwrap()],
            ..Default::default()
        };
        let req = vec![request(false)];
        let mut vips = Vips::default();
        let mut pools = Pools::default();
        let (cp, got) = pools.assign("rw", &end, &global, "carol", &req, &mut vips);
        assert_eq!(got, vec!["10.3.0.1".parse::<IpAddr>().unwrap()]);
        let Some(Payload::Cp(cp)) = cp else {
            panic!("no CP reply")
        };
        let dns: Vec<_> = cp
            .attributes
            .iter()
            .filter(|a| matches!(a, A::InternalIp4Dns(_) | A::InternalIp6Dns(_)))
            .collect();
        assert_eq!(
            dns.len(),
            2,
            "rightdns and dns1 are the same server: once; plus dns2"
        );
        assert!(
            cp.attributes
                .contains(&A::InternalIp4Nbns(Some("198.51.100.137".parse().unwrap())))
        );
        assert_eq!(pools.online("10.3.0.0/28"), 1);
        let carol = |online| vec![("10.3.0.1".parse().unwrap(), "carol".to_string(), online)];
        assert_eq!(pools.leases("10.3.0.0/28"), carol(true));
        pools.release(&mut vips);
        assert_eq!(pools.online("10.3.0.0/28"), 0);
        assert_eq!(
            pools.leases("10.3.0.0/28"),
            carol(false),
            "kept for carol, offline"
        );
        assert!(pools.leases("10.9.0.0/28").is_empty());
    }

    /// `rightsourceip=%config`: each peer gets the address it asked for,
    /// but nobody gets an address online for another peer, and asking for
    /// nothing gets nothing.
    #[test]
    fn config_grants_the_asked_address_unless_another_peer_holds_it() {
        let end = End {
            sourceip: vec![conf::conn::SourceIp::Config(None)],
            ..End::default()
        };
        let global = conf::swconf::CharonSettings::default();
        let ask = |ip: &str| {
            vec![Payload::Cp(ConfigPayload {
                cfg_type: CfgType::REQUEST,
                attributes: vec![A::InternalIp4Address(Some(ip.parse().unwrap()))],
            })]
        };
        let mut pools = Pools::default();
        let (mut carol, mut dave) = (Vips::default(), Vips::default());
        let (cp, got) = pools.assign("rw", &end, &global, "carol", &ask("10.3.0.1"), &mut carol);
        assert_eq!(got, vec!["10.3.0.1".parse::<IpAddr>().unwrap()]);
        assert!(cp.is_some());
        // dave asks for carol's address while she is online: refused.
        let (cp, got) = pools.assign("rw", &end, &global, "dave", &ask("10.3.0.1"), &mut dave);
        assert!(got.is_empty() && cp.is_none(), "{got:?}");
        let (_, got) = pools.assign("rw", &end, &global, "dave", &ask("10.3.0.2"), &mut dave);
        assert_eq!(got, vec!["10.3.0.2".parse::<IpAddr>().unwrap()]);
        // %any: nothing specific asked, nothing to grant.
        let (_, got) = pools.assign(
            "rw",
            &end,
            &global,
            "eve",
            &[request(false)],
            &mut Vips::default(),
        );
        assert!(got.is_empty());
        // Once carol is gone, her address may go to whoever asks.
        pools.release(&mut carol);
        let (_, got) = pools.assign(
            "rw",
            &end,
            &global,
            "eve",
            &ask("10.3.0.1"),
            &mut Vips::default(),
        );
        assert_eq!(got, vec!["10.3.0.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn pools_exclude_network_and_broadcast_and_never_overflow() {
        let p = |s: &str| TsAddr::Net(parse_net(s).unwrap().0);
        let v = pool_addrs(&p("10.3.0.0/28"));
        assert_eq!(v.len(), 14);
        assert_eq!(v[0].to_string(), "10.3.0.1");
        assert_eq!(v[13].to_string(), "10.3.0.14");
        assert_eq!(pool_addrs(&p("10.3.0.7/32")).len(), 1);
        assert_eq!(pool_addrs(&p("255.255.255.252/30")).len(), 2);
        // Top of the IPv6 space, and a huge pool: bounded, no overflow.
        assert_eq!(
            pool_addrs(&p("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120")).len(),
            255
        );
        assert_eq!(pool_addrs(&p("2001:db8::/64")).len(), 65_536);
        let r = TsAddr::Range("192.0.2.10".parse().unwrap(), "192.0.2.12".parse().unwrap());
        assert_eq!(pool_addrs(&r).len(), 3);
    }
}
