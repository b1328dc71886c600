//! Route-based tunnels and GRE over IPsec: ONE ipsec.conf
//! (aes256gcm16-prfsha384-ecp384!, keyingtries=%forever, mobike=no) for iked
//! (left) and its peer (right): a VTI (mark 6, 0.0.0.0/0), a vti6 (mark 6,
//! ::/0, IPv6 outside), an XFRM interface (if_id 42; iked <-> iked, and iked
//! <-> swanctl: Debian's starter lacks if_id_in/out) and GRE over a
//! transport-mode SA (leftprotoport=gre). The peer initiates in the `-resp`
//! variants. Pings across the interface must raise both inbound SA counters
//! by 5, the policies and SAs carry the mark (policies and the outbound SA,
//! as strongSwan), the if_id or the GRE selectors, iked's status counts the
//! traffic; for GRE, a plain ping between the outer addresses leaves the SA
//! alone.

use std::time::Duration;

use super::{children, empty, guest, note_kernel, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CHILD, CONN, Iked, Peer, Starter, StrongSwan, Tunnel};
use crate::probe::{PingSpec, Why, in_packets, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Host, Plumbing, Side, Topology};
use crate::{Result, lab_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vti,
    Vti6,
    Xfrmi,
    Gre,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Right {
    Starter,
    Iked,
    Swanctl,
}

pub(super) fn scenarios() -> Vec<Scenario> {
    use Kind::*;
    vec![
        guest(
            "iked-vti",
            "iked <-> starter over a VTI (mark 6, 0.0.0.0/0): ping 5 across, counters +5, marks as strongSwan's",
            |c| routed(c, Vti, Right::Starter, false),
        ),
        guest("iked-vti-resp", "as iked-vti, strongSwan initiates", |c| {
            routed(c, Vti, Right::Starter, true)
        }),
        guest(
            "iked-vti6",
            "iked <-> starter over vti6 (mark 6, ::/0, IPv6 outside)",
            |c| routed(c, Vti6, Right::Starter, false),
        ),
        guest(
            "iked-vti6-resp",
            "as iked-vti6, strongSwan initiates",
            |c| routed(c, Vti6, Right::Starter, true),
        ),
        guest(
            "iked-xfrmi",
            "iked <-> iked over an XFRM interface (if_id 42)",
            |c| routed(c, Xfrmi, Right::Iked, false),
        ),
        guest(
            "iked-xfrmi-swan",
            "iked <-> strongSwan (swanctl, if_id_in/out 42) over an XFRM interface",
            |c| routed(c, Xfrmi, Right::Swanctl, false),
        ),
        guest(
            "iked-xfrmi-swan-resp",
            "as iked-xfrmi-swan, strongSwan initiates",
            |c| routed(c, Xfrmi, Right::Swanctl, true),
        ),
        guest(
            "iked-gre",
            "iked <-> starter: GRE over a transport-mode SA (leftprotoport=gre); a non-GRE ping leaves the SA alone",
            |c| routed(c, Gre, Right::Starter, false),
        ),
        guest("iked-gre-resp", "as iked-gre, strongSwan initiates", |c| {
            routed(c, Gre, Right::Starter, true)
        }),
    ]
}

fn outer(k: Kind) -> Family {
    if k == Kind::Vti6 {
        Family::V6
    } else {
        Family::V4
    }
}

/// The interface on both sides and the other side's inner prefix through it.
fn links(topo: &Topology, k: Kind) -> Result<&'static str> {
    match k {
        Kind::Vti => {
            topo.plumb(Plumbing::Vti(6))?;
            return Ok("vti1");
        }
        Kind::Xfrmi => {
            topo.plumb(Plumbing::Xfrmi(42))?;
            return Ok("xfrm1");
        }
        Kind::Vti6 | Kind::Gre => {}
    }
    let f = outer(k);
    let inner = if k == Kind::Vti6 {
        Family::V6
    } else {
        Family::V4
    };
    for (h, o) in [(&topo.left, &topo.right), (&topo.right, &topo.left)] {
        let (lo, ro) = (h.outer(f), o.outer(f));
        let (add, dev, sysctl): (Vec<&str>, _, _) = match k {
            Kind::Vti6 => (
                vec![
                    "-6", "tunnel", "add", "vti6x", "mode", "vti6", "local", lo, "remote", ro,
                    "key", "6",
                ],
                "vti6x",
                "net.ipv6.conf.vti6x.disable_policy=1",
            ),
            _ => (
                vec![
                    "tunnel", "add", "gre1", "mode", "gre", "local", lo, "remote", ro,
                ],
                "gre1",
                // no IPv6 on gre1: its router solicitations would be GRE noise in the SA
                "net.ipv6.conf.gre1.disable_ipv6=1",
            ),
        };
        topo.ip(h, &add)?;
        topo.exec(h, &["sysctl", "-qw", sysctl], Duration::from_secs(10))?
            .ok()?;
        topo.ip_batch(
            h,
            &format!(
                "link set {dev} up\nroute replace {} dev {dev} src {}\n",
                o.net(inner),
                h.inner(inner)
            ),
        )?;
    }
    Ok(if k == Kind::Vti6 { "vti6x" } else { "gre1" })
}

fn conf(topo: &Topology, k: Kind) -> String {
    let f = outer(k);
    let mut c = Conn::new(CONN)
        .set("left", topo.left.outer(f))
        .set("leftid", "moon")
        .set("right", topo.right.outer(f))
        .set("rightid", "sun");
    c = match k {
        Kind::Vti => c
            .set("leftsubnet", "0.0.0.0/0")
            .set("rightsubnet", "0.0.0.0/0")
            .set("mark", "6"),
        Kind::Vti6 => c
            .set("leftsubnet", "::/0")
            .set("rightsubnet", "::/0")
            .set("mark", "6"),
        Kind::Xfrmi => c
            .set("leftsubnet", "0.0.0.0/0")
            .set("rightsubnet", "0.0.0.0/0")
            .set("if_id_in", "42")
            .set("if_id_out", "42"),
        Kind::Gre => c
            .set("type", "transport")
            .set("leftprotoport", "gre")
            .set("rightprotoport", "gre"),
    };
    let c = c
        .set("authby", "secret")
        .set("keyexchange", "ikev2")
        .set("ike", "aes256gcm16-prfsha384-ecp384!")
        .set("esp", "aes256gcm16-ecp384!")
        .set("keyingtries", "%forever")
        .set("mobike", "no")
        .set("auto", "add");
    IpsecConf::new().conn(c).render()
}

fn swanctl(topo: &Topology, psk: &str) -> String {
    format!(
        "connections {{\n  {CONN} {{\n    local_addrs = {}\n    remote_addrs = {}\n    proposals = aes256gcm16-prfsha384-ecp384\n    mobike = no\n    keyingtries = 0\n    local {{\n      auth = psk\n      id = sun\n    }}\n    remote {{\n      auth = psk\n      id = moon\n    }}\n    children {{\n      {CHILD} {{\n        local_ts = 0.0.0.0/0\n        remote_ts = 0.0.0.0/0\n        esp_proposals = aes256gcm16-ecp384\n        if_id_in = 42\n        if_id_out = 42\n        start_action = none\n      }}\n    }}\n  }}\n}}\nsecrets {{\n  ike-1 {{\n    id-1 = moon\n    id-2 = sun\n    secret = \"{psk}\"\n  }}\n}}\n",
        topo.right.outer4, topo.left.outer4
    )
}

fn routed(ctx: &Ctx, k: Kind, right: Right, resp: bool) -> Result<String> {
    let topo = Topology::new()?;
    let dev = links(&topo, k)?;
    let f = outer(k);
    let inner = if k == Kind::Vti6 {
        Family::V6
    } else {
        Family::V4
    };
    let conf = conf(&topo, k);
    let psk = format!("rb-{k:?}-psk-0123456789abcdef");
    let secrets = psk_secrets(&psk);
    let t = Tunnel::gcm();
    let rd = ctx.peer_dir(Side::Right);
    // both daemons start at once
    let (l, r) = std::thread::scope(|s| {
        let lh = s.spawn(|| start_ikeds(ctx, &topo, &[(Side::Left, &conf, &secrets)]));
        let rh = s.spawn(|| -> Result<Box<dyn Peer>> {
            Ok(match right {
                Right::Iked => Box::new(Iked::start(&topo, Side::Right, &conf, &secrets, &rd)?),
                Right::Starter => Box::new(Starter::start(
                    &topo,
                    Side::Right,
                    &t,
                    &conf,
                    &secrets,
                    &rd,
                )?),
                Right::Swanctl => Box::new(StrongSwan::start_with(
                    &topo,
                    Side::Right,
                    &t,
                    &swanctl(&topo, &psk),
                    &rd,
                )?),
            })
        });
        (
            lh.join()
                .unwrap_or_else(|_| Err(lab_err!("left start panicked"))),
            rh.join()
                .unwrap_or_else(|_| Err(lab_err!("right start panicked"))),
        )
    });
    let mut l = l?.pop().ok_or_else(|| lab_err!("no left iked"))?;
    let mut r = r?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    let up = if resp {
        r.initiate(Duration::from_secs(40))
    } else {
        l.up(CONN)
    };
    why.ok("initiate", up);
    std::thread::sleep(Duration::from_millis(500));
    let counts = |why: &mut Why| -> (u64, u64) {
        (
            why.ok("left counters", in_packets(&topo, lh, lh.outer(f)))
                .unwrap_or(0),
            why.ok("right counters", in_packets(&topo, rh, rh.outer(f)))
                .unwrap_or(0),
        )
    };
    let (bl, br) = counts(&mut why);
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner(inner), rh.inner(inner), PingSpec::n(5)),
    );
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!(
            "ping across {dev}: {}",
            p.as_ref().map(|p| p.ratio()).unwrap_or_default()
        )
    });
    let (al, ar) = counts(&mut why);
    why.check(al >= bl + 5, || {
        format!("left inbound counter {bl} -> {al}, not +5")
    });
    why.check(ar >= br + 5, || {
        format!("right inbound counter {br} -> {ar}, not +5")
    });
    for h in [lh, rh] {
        check_marks(&mut why, &topo, h, k);
    }
    if k == Kind::Gre {
        // traffic outside GRE is not protected: a direct ping leaves the counters alone
        let b2 = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
        let p = why.ok("clear ping", ping(&topo, lh, "", rh.outer4, PingSpec::n(3)));
        why.check(p.is_some_and(|p| p.all()), || "clear ping failed".into());
        let a2 = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
        why.check(a2 == b2, || {
            format!("non-GRE ping went through the SA ({b2} -> {a2})")
        });
    }
    if let Some(rep) = status(&mut why, &mut l, Side::Left) {
        let mode = if k == Kind::Gre {
            "TRANSPORT"
        } else {
            "TUNNEL"
        };
        let kids = children(&rep, CONN);
        why.check(kids.len() == 1 && kids[0].mode == mode, || {
            format!("iked: not one installed {mode} CHILD_SA")
        });
        why.check(
            kids.iter().any(|c| {
                c.counters
                    .is_some_and(|k| k.bytes_in > 0 && k.packets_in >= 5)
            }),
            || "iked's status: no byte/packet counters of the pings".into(),
        );
    }
    let st = r.status().unwrap_or_else(|e| e.to_string());
    why.note(
        &format!("right: {} ({})", r.status_command(), r.label()),
        &st,
    );
    why.ok("right's own status", r.check_established());
    note_kernel(&mut why, &topo);
    why.ok("ipsec down (iked)", l.ipsec(&["down", CONN]));
    let bound = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on iked's side after down", bound);
    if right == Right::Iked {
        empty(&mut why, &topo, rh, "on the right iked after down", bound);
    }
    l.stop();
    r.stop();
    let peer = match right {
        Right::Starter => "starter",
        Right::Iked => "iked",
        Right::Swanctl => "swanctl",
    };
    why.done(
        &ctx.dir,
        format!("iked <-> {peer}, ping 5/5 over {dev}, inbound packets left {bl}->{al} right {br}->{ar}, policies as strongSwan's, iked's status counters"),
    )
}

/// The marks, if_ids or GRE selectors on `h`'s policies and SAs.
fn check_marks(why: &mut Why, topo: &Topology, h: &Host, k: Kind) {
    let Some((sas, pols)) = why.ok("kernel", kernel(topo, h)) else {
        return;
    };
    let ns = &h.ns;
    match k {
        Kind::Vti | Kind::Vti6 => {
            let p = pols.iter().filter(|p| p.mark == Some(6)).count();
            let s = sas.iter().filter(|s| s.mark == Some(6)).count();
            why.check(p == 3, || {
                format!("{ns}: {p} policies with mark 6, not 3 (in, fwd, out)")
            });
            why.check(s == 1, || {
                format!("{ns}: {s} SAs with mark 6, not just the outbound one")
            });
        }
        Kind::Xfrmi => {
            let p = pols.iter().filter(|p| p.if_id == Some(42)).count();
            let s = sas.iter().filter(|s| s.if_id == Some(42)).count();
            why.check(p >= 2, || format!("{ns}: {p} policies with if_id 42"));
            why.check(s >= 2, || format!("{ns}: {s} SAs with if_id 42"));
        }
        Kind::Gre => {
            let p = pols
                .iter()
                .filter(|p| p.proto.as_deref() == Some("gre"))
                .count();
            why.check(p >= 2, || {
                format!("{ns}: {p} policies with proto gre selectors")
            });
            why.check(sas.iter().any(|s| s.mode == "transport"), || {
                format!("{ns}: no transport-mode SA")
            });
        }
    }
}
