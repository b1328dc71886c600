//! `leftfirewall=yes` / `lefthostaccess=yes`: the iptables rules strongSwan's
//! default updown (`ipsec _updown iptables`) inserts while a CHILD_SA is up
//! and deletes when it goes, so a host whose chains DROP by default passes
//! exactly the tunnel's traffic (matched by `-m policy`: arrived in, or
//! leaving through, an ESP SA of this reqid):
//!
//! - to or from this host itself (`up-host`): INPUT from the peer's client to
//!   us, OUTPUT from us to the peer's client;
//! - through this host (`up-client`): FORWARD both ways between our client
//!   (subnet) and the peer's; plus INPUT/OUTPUT between the peer's client and
//!   our client when our client is our virtual IP or `lefthostaccess=yes`
//!   (the gateway's own address inside its subnet).
//!
//! Pure: rules as argument lists; the daemon runs `iptables` / `ip6tables`.

use super::{Extra, client, is_host, port};
use crate::sa::{ChildSaInstall, Selector};
use std::net::IpAddr;

/// One rule: its table's tool (`ip6tables` for IPv6), chain and match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub v6: bool,
    pub chain: &'static str,
    /// Everything after the chain: matches and `-j ACCEPT`.
    pub spec: Vec<String>,
}

impl Rule {
    /// `iptables` or `ip6tables`.
    pub fn tool(&self) -> &'static str {
        if self.v6 { "ip6tables" } else { "iptables" }
    }

    /// The command (`iptables ARGS`, or a line of `iptables-restore`) that
    /// inserts the rule at the head of its chain.
    pub fn insert(&self) -> Vec<String> {
        let mut a = vec!["-I".into(), self.chain.into(), "1".into()];
        a.extend(self.spec.iter().cloned());
        a
    }

    /// The command that deletes the same rule.
    pub fn delete(&self) -> Vec<String> {
        let mut a = vec!["-D".into(), self.chain.into()];
        a.extend(self.spec.iter().cloned());
        a
    }

    /// The command line, for logs.
    pub fn show(&self, args: &[String]) -> String {
        format!("{} {}", self.tool(), args.join(" "))
    }
}

#[derive(Clone, Copy)]
enum Dir {
    In,
    Out,
}

/// `-s`/`-d` for a selector: a prefix, or an `iprange` match for a range.
fn addr(flag: &str, s: &Selector, out: &mut Vec<String>) {
    match s.as_prefix() {
        Some((a, p)) => {
            out.push(flag.into());
            out.push(format!("{a}/{p}"));
        }
        None => {
            out.push("-m".into());
            out.push("iprange".into());
            out.push(
                if flag == "-s" {
                    "--src-range"
                } else {
                    "--dst-range"
                }
                .into(),
            );
            out.push(client(s));
        }
    }
}

fn host(a: IpAddr) -> Selector {
    Selector {
        start: a,
        end: a,
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    }
}

/// A port match of a one-port selector: `--sport`/`--dport`, or for ICMP the
/// type/code the selector carries (type << 8 | code).
fn ports(flag: &str, protocol: u8, s: &Selector, out: &mut Vec<String>) {
    let p = port(s);
    if p == 0 {
        return;
    }
    match protocol {
        1 | 58 => {
            out.push(
                if protocol == 1 {
                    "--icmp-type"
                } else {
                    "--icmpv6-type"
                }
                .into(),
            );
            out.push(format!("{}/{}", p >> 8, p & 0xff));
        }
        _ => {
            out.push(flag.into());
            out.push(p.to_string());
        }
    }
}

/// One ACCEPT rule from `src` to `dst` on `iface` (in: `-i`, out: `-o`),
/// for packets of this CHILD_SA's reqid.
fn rule(
    chain: &'static str,
    dir: Dir,
    c: &ChildSaInstall,
    iface: &str,
    (src, src_ports): (&Selector, &Selector),
    (dst, dst_ports): (&Selector, &Selector),
    protocol: u8,
) -> Rule {
    let mut a: Vec<String> = Vec::new();
    if !iface.is_empty() {
        a.push(
            match dir {
                Dir::In => "-i",
                Dir::Out => "-o",
            }
            .into(),
        );
        a.push(iface.into());
    }
    a.push("-p".into());
    a.push(protocol.to_string());
    addr("-s", src, &mut a);
    ports("--sport", protocol, src_ports, &mut a);
    addr("-d", dst, &mut a);
    // ICMP carries one type match, already given with the source.
    if !matches!(protocol, 1 | 58) {
        ports("--dport", protocol, dst_ports, &mut a);
    }
    for x in [
        "-m",
        "policy",
        "--pol",
        "ipsec",
        "--proto",
        "esp",
        "--reqid",
        &c.reqid.to_string(),
        "--dir",
        match dir {
            Dir::In => "in",
            Dir::Out => "out",
        },
        "-j",
        "ACCEPT",
    ] {
        a.push(x.into());
    }
    Rule {
        v6: src.start.is_ipv6(),
        chain,
        spec: a,
    }
}

/// The rules for one local/remote selector pair of a CHILD_SA.
pub fn rules(c: &ChildSaInstall, local: &Selector, remote: &Selector, x: &Extra<'_>) -> Vec<Rule> {
    let protocol = local.protocol.max(remote.protocol);
    let iface = x.interface;
    let mut out = Vec::new();
    if is_host(c, local) {
        let me = host(c.local);
        out.push(rule(
            "INPUT",
            Dir::In,
            c,
            iface,
            (remote, remote),
            (&me, local),
            protocol,
        ));
        out.push(rule(
            "OUTPUT",
            Dir::Out,
            c,
            iface,
            (&me, local),
            (remote, remote),
            protocol,
        ));
        return out;
    }
    let vip = x
        .my_sourceip
        .iter()
        .find(|a| a.is_ipv4() == local.start.is_ipv4());
    // The peer's client being our own virtual IP: nothing to forward.
    let to_own_vip = vip.is_some_and(|v| remote.start == *v && remote.end == *v);
    if !to_own_vip {
        out.push(rule(
            "FORWARD",
            Dir::Out,
            c,
            iface,
            (local, local),
            (remote, remote),
            protocol,
        ));
        out.push(rule(
            "FORWARD",
            Dir::In,
            c,
            iface,
            (remote, remote),
            (local, local),
            protocol,
        ));
    }
    if vip.is_some() || x.host_access {
        out.push(rule(
            "INPUT",
            Dir::In,
            c,
            iface,
            (remote, remote),
            (local, local),
            protocol,
        ));
        out.push(rule(
            "OUTPUT",
            Dir::Out,
            c,
            iface,
            (local, local),
            (remote, remote),
            protocol,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sa::Mode;

    fn sel(a: &str, b: &str) -> Selector {
        Selector {
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    fn install() -> ChildSaInstall {
        let mut c = crate::daemon::xfrm_build::tests::install(
            Mode::Tunnel,
            crate::crypto::Encr::ChaCha20Poly1305,
            None,
        );
        c.local = "192.0.2.1".parse().unwrap();
        c.remote = "192.0.2.2".parse().unwrap();
        c.reqid = 4;
        c
    }

    fn x<'a>(vip: &'a [IpAddr], host_access: bool) -> Extra<'a> {
        Extra {
            interface: "eth0",
            my_sourceip: vip,
            host_access,
            ..Extra::default()
        }
    }

    fn lines(r: &[Rule]) -> Vec<String> {
        r.iter().map(|r| r.show(&r.insert())).collect()
    }

    #[test]
    fn a_gateway_forwards_between_the_subnets_only() {
        let c = install();
        let r = rules(
            &c,
            &sel("10.1.0.0", "10.1.255.255"),
            &sel("10.2.0.0", "10.2.255.255"),
            &x(&[], false),
        );
        assert_eq!(
            lines(&r),
            [
                "iptables -I FORWARD 1 -o eth0 -p 0 -s 10.1.0.0/16 -d 10.2.0.0/16 -m policy --pol ipsec --proto esp --reqid 4 --dir out -j ACCEPT",
                "iptables -I FORWARD 1 -i eth0 -p 0 -s 10.2.0.0/16 -d 10.1.0.0/16 -m policy --pol ipsec --proto esp --reqid 4 --dir in -j ACCEPT",
            ]
        );
        // deleting names the same rule
        assert_eq!(
            r[0].show(&r[0].delete()),
            "iptables -D FORWARD -o eth0 -p 0 -s 10.1.0.0/16 -d 10.2.0.0/16 -m policy --pol ipsec --proto esp --reqid 4 --dir out -j ACCEPT"
        );
    }

    #[test]
    fn host_access_adds_input_and_output_for_the_subnet() {
        let c = install();
        let r = rules(
            &c,
            &sel("10.1.0.0", "10.1.255.255"),
            &sel("10.3.0.1", "10.3.0.1"),
            &x(&[], true),
        );
        let l = lines(&r);
        assert_eq!(l.len(), 4);
        assert!(
            l[2].starts_with("iptables -I INPUT 1 -i eth0 -p 0 -s 10.3.0.1/32 -d 10.1.0.0/16 ")
        );
        assert!(
            l[3].starts_with("iptables -I OUTPUT 1 -o eth0 -p 0 -s 10.1.0.0/16 -d 10.3.0.1/32 ")
        );
    }

    #[test]
    fn a_host_to_host_tunnel_opens_input_and_output_for_this_host_only() {
        let mut c = install();
        c.mode = Mode::Transport;
        let mut me = sel("192.0.2.1", "192.0.2.1");
        me.protocol = 47;
        let mut peer = sel("192.0.2.2", "192.0.2.2");
        peer.protocol = 47;
        let r = rules(&c, &me, &peer, &x(&[], false));
        assert_eq!(
            lines(&r),
            [
                "iptables -I INPUT 1 -i eth0 -p 47 -s 192.0.2.2/32 -d 192.0.2.1/32 -m policy --pol ipsec --proto esp --reqid 4 --dir in -j ACCEPT",
                "iptables -I OUTPUT 1 -o eth0 -p 47 -s 192.0.2.1/32 -d 192.0.2.2/32 -m policy --pol ipsec --proto esp --reqid 4 --dir out -j ACCEPT",
            ]
        );
    }

    #[test]
    fn a_road_warrior_with_a_virtual_ip_gets_input_and_output() {
        let c = install();
        let vip: Vec<IpAddr> = vec!["10.3.0.1".parse().unwrap()];
        let r = rules(
            &c,
            &sel("10.3.0.1", "10.3.0.1"),
            &sel("10.1.0.0", "10.1.255.255"),
            &x(&vip, false),
        );
        let l = lines(&r);
        assert_eq!(l.len(), 4, "{l:?}");
        assert!(l[2].contains("INPUT 1 -i eth0 -p 0 -s 10.1.0.0/16 -d 10.3.0.1/32"));
        assert!(l[3].contains("OUTPUT 1 -o eth0 -p 0 -s 10.3.0.1/32 -d 10.1.0.0/16"));
    }

    #[test]
    fn ports_ranges_and_ipv6() {
        let c = install();
        let mut l = sel("2001:db8:1::", "2001:db8:1::ffff");
        l.protocol = 6;
        l.start_port = 80;
        l.end_port = 80;
        let mut r = sel("2001:db8:2::", "2001:db8:2::5");
        r.protocol = 6;
        let rs = rules(&c, &l, &r, &x(&[], false));
        assert_eq!(rs[0].tool(), "ip6tables");
        assert_eq!(
            rs[0].spec.join(" "),
            "-o eth0 -p 6 -s 2001:db8:1::/112 --sport 80 -m iprange --dst-range 2001:db8:2::-2001:db8:2::5 -m policy --pol ipsec --proto esp --reqid 4 --dir out -j ACCEPT"
        );
        let mut icmp = sel("10.1.0.0", "10.1.255.255");
        icmp.protocol = 1;
        icmp.start_port = 8 << 8;
        icmp.end_port = 8 << 8;
        let rs = rules(&c, &icmp, &sel("10.2.0.0", "10.2.255.255"), &x(&[], false));
        assert!(
            rs[0]
                .spec
                .join(" ")
                .contains("-p 1 -s 10.1.0.0/16 --icmp-type 8/0 -d 10.2.0.0/16 -m policy"),
            "{:?}",
            rs[0]
        );
    }
}
