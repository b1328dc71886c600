//! The pure half of CHILD_SA installation: the protocol core's
//! [`ChildSaInstall`] (and conns' traps and shunts) translated into the
//! `xfrm` crate's SAs and policies, with strongSwan's priorities, and the
//! SAs after a NAT mapping change. No kernel is touched here
//! (`kernel.rs` installs what these build).

use crate::crypto::{Encr, Integ};
use crate::sa::{ChildSaInstall, EspKeys, Mode, Selector};
use std::net::IpAddr;
use std::time::Duration;
use xfrm::{
    Action, AeadAlg, Crypto, Direction, EncrAlg, IntegAlg, Key, Lifetime, Limits, Mark, Policy,
    Prefix, Sa, SaFlags, Template, UdpEncap,
};

/// strongSwan-like policy priorities: a base for IPsec policies, minus the
/// selector's specificity (longer prefixes, a protocol, ports win). For the
/// usual subnet-to-subnet policy this gives strongSwan's own numbers
/// (10.1.0.0/24 === 10.2.0.0/24: 375423, as its charon installs them).
const PRIO_BASE: u32 = 400_000;

/// The priority of a policy with this kernel selector: lower is preferred.
pub fn priority(sel: &xfrm::Selector) -> u32 {
    let mut p = PRIO_BASE - 1;
    p -= 512 * (u32::from(sel.src.len) + u32::from(sel.dst.len));
    if sel.proto != 0 {
        p -= 256;
    }
    if sel.sport.is_some() {
        p -= 64;
    }
    if sel.dport.is_some() {
        p -= 64;
    }
    p
}

/// The kernel transform for a negotiated ESP transform and one direction's keys.
pub fn crypto(encr: Encr, integ: Option<Integ>, keys: &EspKeys) -> Result<Crypto, String> {
    let key = |b: &crate::crypto::SecretBytes| Key::from_slice(b.as_slice());
    Ok(match encr {
        Encr::AesGcm { icv_len, .. } => Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: key(&keys.encr),
            icv_bits: u32::from(icv_len) * 8,
        },
        Encr::ChaCha20Poly1305 => Crypto::Aead {
            alg: AeadAlg::ChaCha20Poly1305,
            key: key(&keys.encr),
            icv_bits: 128,
        },
        Encr::AesCbc { .. } => {
            let Some(i) = integ else {
                return Err("AES-CBC without an integrity algorithm".into());
            };
            let (alg, trunc_bits) = match i {
                Integ::HmacSha1_96 => (IntegAlg::HmacSha1, 96),
                Integ::AesXcbc96 => (IntegAlg::Named("xcbc(aes)".into()), 96),
                Integ::HmacSha256_128 => (IntegAlg::HmacSha256, 128),
                Integ::HmacSha384_192 => (IntegAlg::HmacSha384, 192),
                Integ::HmacSha512_256 => (IntegAlg::HmacSha512, 256),
            };
            Crypto::EncrInteg {
                encr: EncrAlg::AesCbc,
                encr_key: key(&keys.encr),
                integ: alg,
                integ_key: key(&keys.integ),
                trunc_bits,
            }
        }
    })
}

/// Splits an address range into the prefixes that cover exactly it.
pub fn range_prefixes(start: IpAddr, end: IpAddr) -> Vec<Prefix> {
    crate::ts::range_prefixes(start, end)
        .into_iter()
        .map(|(a, len)| Prefix::new(a, len))
        .collect()
}

/// Kernel selectors for one (local, remote) traffic-selector pair, in the
/// outbound direction (src = local). Port ranges the kernel cannot express
/// (neither one port nor all) are refused.
fn kernel_selectors(l: &Selector, r: &Selector) -> Result<Vec<xfrm::Selector>, String> {
    if l.start.is_ipv4() != r.start.is_ipv4() {
        return Ok(Vec::new());
    }
    if l.protocol != r.protocol && l.protocol != 0 && r.protocol != 0 {
        return Ok(Vec::new());
    }
    let port = |s: &Selector| -> Result<Option<u16>, String> {
        if s.start_port == 0 && s.end_port == 65535 {
            Ok(None)
        } else if s.start_port == s.end_port {
            Ok(Some(s.start_port))
        } else {
            Err(format!(
                "port range {}-{} cannot be expressed as a kernel selector",
                s.start_port, s.end_port
            ))
        }
    };
    let (sport, dport) = (port(l)?, port(r)?);
    let proto = l.protocol.max(r.protocol);
    let mut out = Vec::new();
    for src in range_prefixes(l.start, l.end) {
        for dst in range_prefixes(r.start, r.end) {
            let mut sel = xfrm::Selector::new(src, dst);
            sel.proto = proto;
            sel.sport = sport;
            sel.dport = dport;
            out.push(sel);
        }
    }
    Ok(out)
}

fn reverse(sel: &xfrm::Selector) -> xfrm::Selector {
    let mut r = xfrm::Selector::new(sel.dst, sel.src);
    r.proto = sel.proto;
    r.sport = sel.dport;
    r.dport = sel.sport;
    r
}

fn mark(m: Option<(u32, u32)>) -> Option<Mark> {
    m.map(|(value, mask)| Mark { value, mask })
}

fn xmode(m: Mode) -> xfrm::Mode {
    match m {
        Mode::Tunnel => xfrm::Mode::Tunnel,
        Mode::Transport => xfrm::Mode::Transport,
    }
}

fn lifetime(c: &ChildSaInstall) -> Lifetime {
    let secs = |d: Duration| (!d.is_zero()).then(|| d.as_secs().max(1));
    Lifetime {
        soft: Limits {
            add_seconds: secs(c.soft_lifetime),
            ..Limits::default()
        },
        hard: Limits {
            add_seconds: secs(c.hard_lifetime),
            ..Limits::default()
        },
    }
}

/// The two SAs of a CHILD_SA (inbound, outbound).
pub fn sas(c: &ChildSaInstall) -> Result<(Sa, Sa), String> {
    let mode = xmode(c.mode);
    let mut sa_in = Sa::new(
        c.remote,
        c.local,
        c.spi_in,
        mode,
        c.reqid,
        crypto(c.encr, c.integ, &c.keys_in)?,
    );
    let mut sa_out = Sa::new(
        c.local,
        c.remote,
        c.spi_out,
        mode,
        c.reqid,
        crypto(c.encr, c.integ, &c.keys_out)?,
    );
    sa_in.replay_window = c.replay_window;
    sa_out.replay_window = if c.esn { c.replay_window.max(1) } else { 0 };
    // Like strongSwan (its `mark_in_sa` defaults to no, and ipsec.conf cannot
    // set it), mark_in goes on the inbound policies only, not on the inbound SA:
    // a VTI's i_key still matches it, and ESP that reaches the SA by another path
    // (no tunnel mark) is not dropped. if_id_in does go on the inbound SA.
    for (sa, m, i) in [
        (&mut sa_in, None, c.if_id_in),
        (&mut sa_out, c.mark_out, c.if_id_out),
    ] {
        sa.esn = c.esn;
        if c.mode == Mode::Tunnel {
            // like strongSwan: either inner family (4in6, 6in4)
            sa.flags = sa.flags | SaFlags::AF_UNSPEC;
        }
        sa.mark = mark(m);
        sa.if_id = i;
        sa.lifetime = lifetime(c);
    }
    if let Some((lport, rport)) = c.encap {
        sa_in.encap = Some(UdpEncap {
            sport: rport,
            dport: lport,
        });
        sa_out.encap = Some(UdpEncap {
            sport: lport,
            dport: rport,
        });
    }
    Ok((sa_in, sa_out))
}

/// The policies of a CHILD_SA: out, in, and (tunnel mode) fwd per selector pair.
pub fn policies(c: &ChildSaInstall) -> Result<Vec<Policy>, String> {
    let mut out = Vec::new();
    for l in &c.ts_local {
        for r in &c.ts_remote {
            for sel in kernel_selectors(l, r)? {
                let (t_out, t_in) = match c.mode {
                    Mode::Tunnel => (
                        Template::tunnel(c.local, c.remote, c.reqid),
                        Template::tunnel(c.remote, c.local, c.reqid),
                    ),
                    Mode::Transport => (Template::transport(c.reqid), Template::transport(c.reqid)),
                };
                let rsel = reverse(&sel);
                let mut dirs = vec![
                    (sel, Direction::Out, t_out, c.mark_out, c.if_id_out),
                    (rsel, Direction::In, t_in, c.mark_in, c.if_id_in),
                ];
                if c.mode == Mode::Tunnel {
                    dirs.push((rsel, Direction::Fwd, t_in, c.mark_in, c.if_id_in));
                }
                for (s, d, t, m, i) in dirs {
                    let mut p = Policy::new(s, d, vec![t]);
                    p.priority = priority(&s);
                    p.mark = mark(m);
                    p.if_id = i;
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The trap policies of an `auto=route` conn (out, in, and fwd in tunnel
/// mode, like strongSwan's), from its configuration.
/// `reqid`: the one the core gives the conn's CHILD_SAs, so an ACQUIRE's
/// larval state is the one the CHILD_SA later completes.
pub fn trap_policies(
    c: &conf::Conn,
    local_addrs: &[IpAddr],
    reqid: Option<u32>,
) -> Result<Vec<Policy>, String> {
    let (l, r) = c.ends(c.local_side(local_addrs));
    let (Some(lh), Some(rh)) = (
        l.addrs()
            .find(|a| local_addrs.contains(a))
            .or_else(|| l.addrs().next()),
        r.addrs().next(),
    ) else {
        return Err("auto=route needs concrete left= and right= addresses".into());
    };
    let fixed_mark = |m: Option<conf::values::Mark>| match m {
        None => Ok(None),
        Some(conf::values::Mark {
            value: conf::values::MarkValue::Fixed(v),
            mask,
        }) => Ok(Some(Mark { value: v, mask })),
        Some(_) => Err("auto=route with a unique mark is not supported".to_owned()),
    };
    let fixed_if_id = |i: Option<conf::values::IfId>| match i {
        None => Ok(None),
        Some(conf::values::IfId::Fixed(v)) => Ok(Some(v)),
        Some(_) => Err("auto=route with a unique if_id is not supported".to_owned()),
    };
    let (mark_out, mark_in) = (fixed_mark(c.mark_out)?, fixed_mark(c.mark_in)?);
    let (if_id_out, if_id_in) = (fixed_if_id(c.if_id_out)?, fixed_if_id(c.if_id_in)?);
    let reqid = reqid.or(c.reqid).unwrap_or(0);
    let tunnel = !matches!(
        c.conn_type,
        conf::conn::ConnType::Transport | conf::conn::ConnType::TransportProxy
    );
    let (t_out, t_in) = if tunnel {
        (
            Template::tunnel(lh, rh, reqid),
            Template::tunnel(rh, lh, reqid),
        )
    } else {
        (Template::transport(reqid), Template::transport(reqid))
    };
    let ls = crate::ts::configured(&l.subnets, &l.protoport, lh);
    let rs = crate::ts::configured(&r.subnets, &r.protoport, rh);
    let mut out = Vec::new();
    for a in &ls {
        for b in &rs {
            for sel in kernel_selectors(a, b)? {
                // out (triggers ACQUIREs), and like strongSwan in and (tunnel) fwd:
                // cleartext from the peer's side is dropped until the tunnel is up
                let rsel = reverse(&sel);
                let mut dirs = vec![
                    (sel, Direction::Out, t_out, mark_out, if_id_out),
                    (rsel, Direction::In, t_in, mark_in, if_id_in),
                ];
                if tunnel {
                    dirs.push((rsel, Direction::Fwd, t_in, mark_in, if_id_in));
                }
                for (s, d, t, m, i) in dirs {
                    let mut p = Policy::new(s, d, vec![t]);
                    p.priority = priority(&s);
                    p.mark = m;
                    p.if_id = i;
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// The policies of a shunt conn (`type=passthrough` / `type=drop`, installed
/// at start like a route): out, in and fwd without templates, `allow` (a
/// bypass) or `block`, at priorities that win over every IPsec policy
/// (strongSwan's `PASS`/`DROP` policies).
pub fn shunt_policies(c: &conf::Conn, local_addrs: &[IpAddr]) -> Result<Vec<Policy>, String> {
    let action = match c.conn_type {
        conf::conn::ConnType::Passthrough => Action::Allow,
        conf::conn::ConnType::Drop => Action::Block,
        _ => return Err("not a type=passthrough/drop conn".into()),
    };
    let (l, r) = c.ends(c.local_side(local_addrs));
    let host = |e: &conf::conn::End, v6: bool| {
        e.addrs()
            .find(|a| local_addrs.contains(a))
            .or_else(|| e.addrs().next())
            .unwrap_or(if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            })
    };
    let ls = crate::ts::configured(&l.subnets, &l.protoport, host(l, false));
    let rs = crate::ts::configured(&r.subnets, &r.protoport, host(r, false));
    let mut out = Vec::new();
    for a in &ls {
        for b in &rs {
            if a.start.is_ipv4() != b.start.is_ipv4()
                || a.start.is_unspecified() && a.end.is_unspecified()
            {
                continue;
            }
            for sel in kernel_selectors(a, b)? {
                let rsel = reverse(&sel);
                for (s, d) in [
                    (sel, Direction::Out),
                    (rsel, Direction::In),
                    (rsel, Direction::Fwd),
                ] {
                    let mut p = Policy::new(s, d, vec![]);
                    p.action = action;
                    p.priority = priority(&s) - SHUNT_PRIO_OFFSET;
                    out.push(p);
                }
            }
        }
    }
    if out.is_empty() {
        return Err("no traffic selectors (leftsubnet=/rightsubnet= of one address family)".into());
    }
    Ok(out)
}

/// Shunt policies sit this much below (= before) the IPsec policies' priorities.
const SHUNT_PRIO_OFFSET: u32 = 200_000;

/// The pair of SAs after a NAT mapping change: the peer's new port becomes the
/// inbound SA's encap source port and the outbound SA's encap destination port.
/// A changed peer address is refused (it needs new SA ids and policy templates:
/// MOBIKE-style address updates are the IKE_SA's business).
pub fn remap(sa_in: &Sa, sa_out: &Sa, m: &xfrm::Mapping) -> Result<(Sa, Sa), String> {
    let (Some(ei), Some(eo)) = (sa_in.encap, sa_out.encap) else {
        return Err(format!(
            "MAPPING for SPI {:08x}, which is not UDP-encapsulated",
            m.spi
        ));
    };
    if m.new_src != sa_in.src {
        return Err(format!(
            "NAT mapping of SPI {:08x} moved the peer from {} to {}: address changes are not supported",
            m.spi, sa_in.src, m.new_src
        ));
    }
    let mut i = sa_in.clone();
    let mut o = sa_out.clone();
    i.encap = Some(UdpEncap {
        sport: m.new_sport,
        dport: ei.dport,
    });
    o.encap = Some(UdpEncap {
        sport: eo.sport,
        dport: m.new_sport,
    });
    Ok((i, o))
}

/// A CHILD_SA's SAs after its IKE_SA moved (MOBIKE, RFC 4555): the outer
/// addresses become `local` / `remote`, UDP encapsulation on the IKE_SA's
/// ports when a NAT is in the way (`encap`), none when not. Tunnel mode only:
/// a transport SA's selectors are the old addresses themselves.
pub fn moved(
    sa_in: &Sa,
    sa_out: &Sa,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    encap: bool,
) -> Result<(Sa, Sa), String> {
    if sa_in.mode != xfrm::Mode::Tunnel {
        return Err(format!(
            "the transport-mode CHILD_SA with SPI {:08x} cannot follow an address change (its selectors are the old addresses)",
            sa_in.spi
        ));
    }
    let mut i = sa_in.clone();
    let mut o = sa_out.clone();
    (i.src, i.dst) = (remote.ip(), local.ip());
    (o.src, o.dst) = (local.ip(), remote.ip());
    if encap {
        i.encap = Some(UdpEncap {
            sport: remote.port(),
            dport: local.port(),
        });
        o.encap = Some(UdpEncap {
            sport: local.port(),
            dport: remote.port(),
        });
    } else {
        i.encap = None;
        o.encap = None;
    }
    Ok((i, o))
}

/// A CHILD_SA's policy after its IKE_SA moved: tunnel templates between the
/// new addresses (out: local to remote; in and fwd: remote to local).
pub fn moved_policy(p: &Policy, local: IpAddr, remote: IpAddr) -> Policy {
    let mut p = p.clone();
    let (src, dst) = match p.dir {
        Direction::Out => (local, remote),
        _ => (remote, local),
    };
    for t in &mut p.templates {
        if t.mode == xfrm::Mode::Tunnel {
            t.src = Some(src);
            t.dst = Some(dst);
        }
    }
    p
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::SecretBytes;

    fn sel(net: &str, len: u8) -> Selector {
        let a: IpAddr = net.parse().unwrap();
        let (start, end) = crate::ts::prefix_range(a, len);
        Selector {
            start,
            end,
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    pub(crate) fn install(mode: Mode, encr: Encr, integ: Option<Integ>) -> ChildSaInstall {
        let keys = |n: u8, el: usize, il: usize| EspKeys {
            encr: SecretBytes::new(vec![n; el]),
            integ: SecretBytes::new(vec![n + 1; il]),
        };
        let (el, il) = match (encr, integ) {
            (Encr::AesGcm { key_bits, .. }, _) => (usize::from(key_bits) / 8 + 4, 0),
            (Encr::ChaCha20Poly1305, _) => (36, 0),
            (Encr::AesCbc { key_bits }, _) => (usize::from(key_bits) / 8, 32),
        };
        ChildSaInstall {
            conn: "net-net".into(),
            ike_id: 1,
            child_id: 1,
            reqid: 7,
            mode,
            local: "192.0.2.1".parse().unwrap(),
            remote: "192.0.2.2".parse().unwrap(),
            encap: None,
            spi_in: 0xc000_0001,
            spi_out: 0xc000_0002,
            encr,
            integ,
            esn: false,
            keys_in: keys(1, el, il),
            keys_out: keys(3, el, il),
            ts_local: vec![sel("198.51.100.0", 24)],
            ts_remote: vec![sel("203.0.113.0", 24)],
            mark_in: None,
            mark_out: None,
            if_id_in: None,
            if_id_out: None,
            soft_lifetime: Duration::from_secs(3000),
            hard_lifetime: Duration::from_secs(3600),
            replay_window: 32,
            install_policy: true,
            updown: None,
            my_sourceips: Vec::new(),
            peer_sourceips: Vec::new(),
            host_access: false,
            firewall: false,
            replaces: None,
            defer_outbound: false,
        }
    }

    #[test]
    fn a_mobike_move_changes_addresses_encapsulation_and_templates_not_keys() {
        let gcm = Encr::AesGcm {
            key_bits: 128,
            icv_len: 16,
        };
        let c = install(Mode::Tunnel, gcm, None);
        let (i, o) = sas(&c).unwrap();
        let local: std::net::SocketAddr = (c.local, 4500).into();
        let remote: std::net::SocketAddr = "192.0.2.99:34567".parse().unwrap();
        // behind a NAT now: encapsulated on the IKE_SA's ports
        let (i2, o2) = moved(&i, &o, local, remote, true).unwrap();
        assert_eq!((i2.src, i2.dst), (remote.ip(), c.local));
        assert_eq!((o2.src, o2.dst), (c.local, remote.ip()));
        assert_eq!(
            i2.encap,
            Some(UdpEncap {
                sport: 34567,
                dport: 4500
            })
        );
        assert_eq!(
            o2.encap,
            Some(UdpEncap {
                sport: 4500,
                dport: 34567
            })
        );
        assert_eq!((i2.spi, o2.spi), (i.spi, o.spi));
        assert_eq!((&i2.crypto, &o2.crypto), (&i.crypto, &o.crypto));
        // the inbound SA keeps its id (our address), the outbound one does not
        assert_eq!(i2.id(), i.id());
        assert_ne!(o2.id(), o.id());
        // no NAT: no encapsulation
        let (i3, o3) = moved(&i2, &o2, local, remote, false).unwrap();
        assert_eq!((i3.encap, o3.encap), (None, None));
        // templates follow, by direction
        for p in policies(&c).unwrap() {
            let q = moved_policy(&p, c.local, remote.ip());
            let t = &q.templates[0];
            let want = match p.dir {
                Direction::Out => (Some(c.local), Some(remote.ip())),
                _ => (Some(remote.ip()), Some(c.local)),
            };
            assert_eq!((t.src, t.dst), want, "{:?}", p.dir);
            assert_eq!(q.selector, p.selector);
        }
        // transport mode cannot follow
        let t = install(Mode::Transport, gcm, None);
        let (ti, to) = sas(&t).unwrap();
        assert!(
            moved(&ti, &to, local, remote, false)
                .unwrap_err()
                .contains("transport")
        );
    }

    #[test]
    fn mapping_moves_the_peer_port_on_both_sas() {
        let mut c = install(
            Mode::Tunnel,
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
        );
        c.encap = Some((4500, 4500));
        let (i, o) = sas(&c).unwrap();
        let m = xfrm::Mapping {
            dst: c.local,
            spi: c.spi_in,
            protocol: xfrm::Protocol::Esp,
            reqid: 7,
            old_src: c.remote,
            old_sport: 4500,
            new_src: c.remote,
            new_sport: 31337,
        };
        let (i2, o2) = remap(&i, &o, &m).unwrap();
        assert_eq!(
            i2.encap,
            Some(UdpEncap {
                sport: 31337,
                dport: 4500
            })
        );
        assert_eq!(
            o2.encap,
            Some(UdpEncap {
                sport: 4500,
                dport: 31337
            })
        );
        // Only the ports change: same ids, same keys.
        assert_eq!((i2.id(), o2.id()), (i.id(), o.id()));
        assert_eq!((&i2.crypto, &o2.crypto), (&i.crypto, &o.crypto));
        // A new peer address is not a port update.
        let moved = xfrm::Mapping {
            new_src: "192.0.2.99".parse().unwrap(),
            ..m.clone()
        };
        assert!(remap(&i, &o, &moved).unwrap_err().contains("192.0.2.99"));
        // Without UDP encapsulation there is nothing to remap.
        c.encap = None;
        let (pi, po) = sas(&c).unwrap();
        assert!(remap(&pi, &po, &m).is_err());
    }

    #[test]
    fn gcm_tunnel_sas_and_policies() {
        let mut c = install(
            Mode::Tunnel,
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
        );
        c.mark_in = Some((6, 0xffff_ffff));
        c.if_id_out = Some(42);
        c.encap = Some((4500, 4501));
        let (i, o) = sas(&c).unwrap();
        assert_eq!(
            (i.src, i.dst, i.spi, i.reqid),
            (c.remote, c.local, 0xc000_0001, 7)
        );
        assert_eq!((o.src, o.dst, o.spi), (c.local, c.remote, 0xc000_0002));
        assert!(
            matches!(&i.crypto, Crypto::Aead { alg: AeadAlg::AesGcm, key, icv_bits: 128 } if key.len() == 20)
        );
        assert_eq!(i.replay_window, 32);
        assert_eq!(o.replay_window, 0);
        // mark_in is for the inbound policies only (strongSwan's mark_in_sa=no).
        assert_eq!(i.mark, None);
        assert_eq!(o.mark, None);
        assert_eq!((i.if_id, o.if_id), (None, Some(42)));
        assert_eq!(
            i.encap,
            Some(UdpEncap {
                sport: 4501,
                dport: 4500
            })
        );
        assert_eq!(
            o.encap,
            Some(UdpEncap {
                sport: 4500,
                dport: 4501
            })
        );
        assert_eq!(i.lifetime.hard.add_seconds, Some(3600));
        assert_eq!(i.lifetime.soft.add_seconds, Some(3000));

        let p = policies(&c).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].dir, Direction::Out);
        assert_eq!(p[0].selector.src.to_string(), "198.51.100.0/24");
        assert_eq!(p[0].selector.dst.to_string(), "203.0.113.0/24");
        assert_eq!(p[0].templates[0], Template::tunnel(c.local, c.remote, 7));
        assert_eq!(p[0].if_id, Some(42));
        assert_eq!(p[1].dir, Direction::In);
        assert_eq!(p[1].selector.src.to_string(), "203.0.113.0/24");
        assert_eq!(p[1].templates[0], Template::tunnel(c.remote, c.local, 7));
        assert_eq!(p[1].mark, Some(Mark::exact(6)));
        assert_eq!(p[2].dir, Direction::Fwd);
        assert_eq!(p[0].priority, 375_423);
    }

    #[test]
    fn cbc_transport_no_fwd_and_installpolicy_no() {
        let mut c = install(
            Mode::Transport,
            Encr::AesCbc { key_bits: 256 },
            Some(Integ::HmacSha256_128),
        );
        let (i, _) = sas(&c).unwrap();
        assert!(matches!(
            &i.crypto,
            Crypto::EncrInteg { encr: EncrAlg::AesCbc, integ: IntegAlg::HmacSha256, trunc_bits: 128, encr_key, integ_key }
                if encr_key.len() == 32 && integ_key.len() == 32
        ));
        assert_eq!(i.mode, xfrm::Mode::Transport);
        let p = policies(&c).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].templates[0], Template::transport(7));
        c.integ = None;
        assert!(sas(&c).is_err());
        c.integ = Some(Integ::HmacSha1_96);
        assert!(matches!(
            sas(&c).unwrap().0.crypto,
            Crypto::EncrInteg { trunc_bits: 96, .. }
        ));
        let cc = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        assert!(matches!(
            sas(&cc).unwrap().0.crypto,
            Crypto::Aead {
                alg: AeadAlg::ChaCha20Poly1305,
                icv_bits: 128,
                ..
            }
        ));
    }

    #[test]
    fn several_subnets_and_families() {
        let mut c = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        c.ts_local.push(sel("2001:db8:a::", 64));
        c.ts_remote.push(sel("10.0.0.0", 8));
        c.ts_remote.push(sel("2001:db8:b::", 64));
        // v4 local x 2 v4 remote, v6 local x 1 v6 remote: 3 pairs x 3 directions
        assert_eq!(policies(&c).unwrap().len(), 9);
    }

    #[test]
    fn ports_and_protocols() {
        let mut c = install(Mode::Tunnel, Encr::ChaCha20Poly1305, None);
        c.ts_local[0].protocol = 6;
        c.ts_local[0].start_port = 22;
        c.ts_local[0].end_port = 22;
        let p = policies(&c).unwrap();
        assert_eq!(
            (
                p[0].selector.proto,
                p[0].selector.sport,
                p[0].selector.dport
            ),
            (6, Some(22), None)
        );
        assert_eq!((p[1].selector.sport, p[1].selector.dport), (None, Some(22)));
        assert!(p[0].priority < 375_423);
        c.ts_local[0].end_port = 80;
        assert!(policies(&c).is_err());
    }

    #[test]
    fn trap_policies_from_conf() {
        let src = conf::MemSource::default().with(
            "/c",
            "conn r\n  left=192.0.2.1\n  leftsubnet=198.51.100.0/24\n  right=192.0.2.2\n  rightsubnet=203.0.113.0/24,10.0.0.0/8\n  authby=psk\n  mark_out=6\n  auto=route\nconn any\n  left=%any\n  right=192.0.2.9\n  authby=psk\n  auto=route\n",
        );
        let cfg = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
        let local = [ip_of("192.0.2.1")];
        let all = trap_policies(cfg.conn("r").unwrap(), &local, None).unwrap();
        assert_eq!(all.len(), 6, "out, in, fwd for each of 2 selector pairs");
        assert!(
            all.iter()
                .filter(|p| p.dir != Direction::Out)
                .all(|p| p.mark.is_none()
                    && p.templates[0] == Template::tunnel(ip_of("192.0.2.2"), local[0], 0))
        );
        let p: Vec<_> = all
            .into_iter()
            .filter(|p| p.dir == Direction::Out)
            .collect();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.mark == Some(Mark::exact(6))));
        assert_eq!(
            p[0].templates[0],
            Template::tunnel(local[0], ip_of("192.0.2.2"), 0)
        );
        assert_eq!(p[1].selector.dst.to_string(), "10.0.0.0/8");
        // Swapped: the same conn seen from the right host.
        let p = trap_policies(cfg.conn("r").unwrap(), &[ip_of("192.0.2.2")], None).unwrap();
        assert_eq!(p[0].selector.src.to_string(), "203.0.113.0/24");
        assert_eq!(p[0].dir, Direction::Out);
        assert!(trap_policies(cfg.conn("any").unwrap(), &local, None).is_err());
    }

    #[test]
    fn shunt_policies_pass_and_drop() {
        let src = conf::MemSource::default().with(
            "/c",
            "conn local-net\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.1.0.0/16\n  authby=never\n  type=passthrough\n  auto=route\nconn block\n  left=192.0.2.1\n  leftsubnet=198.51.100.0/24\n  rightsubnet=203.0.113.3/32\n  type=drop\n  auto=route\nconn tun\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=route\n",
        );
        let cfg = conf::load_from(&src, std::path::Path::new("/c"), None).unwrap();
        let local = [ip_of("192.0.2.1")];
        let p = shunt_policies(cfg.conn("local-net").unwrap(), &local).unwrap();
        assert_eq!(p.len(), 3);
        assert!(
            p.iter()
                .all(|p| p.action == Action::Allow && p.templates.is_empty())
        );
        let dirs: Vec<_> = p.iter().map(|p| p.dir).collect();
        assert_eq!(dirs, [Direction::Out, Direction::In, Direction::Fwd]);
        let trap = trap_policies(cfg.conn("tun").unwrap(), &local, None).unwrap();
        // a shunt wins over any IPsec policy, even a /32 one
        assert!(p[0].priority < trap[0].priority);
        let d = shunt_policies(cfg.conn("block").unwrap(), &local).unwrap();
        assert!(d.iter().all(|p| p.action == Action::Block));
        assert_eq!(d[0].selector.dst.to_string(), "203.0.113.3/32");
        assert!(shunt_policies(cfg.conn("tun").unwrap(), &local).is_err());
    }

    fn ip_of(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_become_prefixes() {
        let p = |a: &str, b: &str| {
            range_prefixes(a.parse().unwrap(), b.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(p("10.0.0.0", "10.0.255.255"), ["10.0.0.0/16"]);
        assert_eq!(
            p("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(p("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(p("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(
            p("255.255.255.255", "255.255.255.255"),
            ["255.255.255.255/32"]
        );
        assert_eq!(p("2001:db8::", "2001:db8::1"), ["2001:db8::/127"]);
        assert!(p("10.0.0.2", "10.0.0.1").is_empty());
        assert!(p("10.0.0.2", "::1").is_empty());
    }
}
