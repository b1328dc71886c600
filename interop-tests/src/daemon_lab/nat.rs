//! UDP encapsulation against strongSwan's starter: `forceencaps` with
//! MODP1024 (SAs encap espinudp 4500/4500; on the wire only UDP 4500, no ESP,
//! no clear ICMP), and a real NAT (iptables MASQUERADE) whose mapping changes
//! (other port range, `conntrack -F`): the kernel reports the new port
//! (XFRM_MSG_MAPPING), the SAs (and, iked responding, its IKE_SA) move there
//! and traffic keeps flowing; iked behind the NAT sends NAT-T keepalives.

use std::time::Duration;

use super::{
    both, children, empty, guest, ike_established, log_has, note_kernel, start_ikeds, status,
};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CONN, Iked, Peer, Starter, Tunnel};
use crate::probe::{Capture, PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};
use crate::{Result, lab_err};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "iked-encaps",
            "iked -> starter, forceencaps, aes256-sha2_256-modp1024: SAs espinudp 4500/4500, wire only UDP 4500",
            |c| encaps(c, false),
        ),
        guest(
            "iked-encaps-resp",
            "as iked-encaps, strongSwan initiates",
            |c| encaps(c, true),
        ),
        guest(
            "iked-nat",
            "iked behind a MASQUERADE NAT initiates to the starter: keepalives; the mapping changes, the SAs follow",
            |c| nat(c, false),
        ),
        guest(
            "iked-nat-resp",
            "the starter behind the NAT initiates to iked: the mapping changes, iked moves its SAs and IKE_SA",
            |c| nat(c, true),
        ),
    ]
}

/// iked on `iked_side`, the starter on the other, at once.
fn start_pair(
    ctx: &Ctx,
    topo: &Topology,
    iked_side: Side,
    (iked_conf, swan_conf): (&str, &str),
    secrets: &str,
) -> Result<(Iked, Starter)> {
    let sd = ctx.peer_dir(iked_side.other());
    let t = Tunnel::gcm();
    let (mut i, s) = both(
        || start_ikeds(ctx, topo, &[(iked_side, iked_conf, secrets)]),
        || Starter::start(topo, iked_side.other(), &t, swan_conf, secrets, &sd),
    )?;
    Ok((i.pop().ok_or_else(|| lab_err!("no iked"))?, s))
}

fn encaps(ctx: &Ctx, resp: bool) -> Result<String> {
    let topo = Topology::new()?;
    let conf = IpsecConf::new()
        .conn(
            Conn::net2net(
                CONN,
                &topo,
                Family::V4,
                Family::V4,
                "aes256-sha2_256-modp1024!",
                "aes256-sha2_256!",
            )
            .set("forceencaps", "yes"),
        )
        .render();
    let secrets = psk_secrets("encaps-psk-0123456789abcdef");
    let (mut i, mut s) = start_pair(ctx, &topo, Side::Left, (&conf, &conf), &secrets)?;
    let mut why = Why::default();
    let up = if resp {
        s.initiate(Duration::from_secs(40))
    } else {
        i.up(CONN)
    };
    why.ok("initiate", up);
    std::thread::sleep(Duration::from_millis(500));
    // what each side sends (-Q out: the receiver also shows decapsulated copies)
    let (lh, rh) = (&topo.left, &topo.right);
    let mut caps = Vec::new();
    for h in [lh, rh] {
        let f = topo
            .run_dir(if h.ns == lh.ns {
                Side::Left
            } else {
                Side::Right
            })?
            .join("encaps.pcap");
        caps.extend(why.ok("tcpdump", Capture::start(&h.ns, h.dev, &["-Q", "out"], &f)));
    }
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(5)),
    );
    why.check(p.is_some_and(|p| p.all()), || "ping failed".into());
    std::thread::sleep(Duration::from_secs(1));
    let (mut udp, mut esp, mut clear) = (0, 0, 0);
    for c in caps.iter_mut() {
        udp += c.count("udp port 4500 and greater 100").unwrap_or(0);
        esp += c.count("ip proto 50").unwrap_or(0);
        clear += c.count("icmp").unwrap_or(0);
        let all = c.lines("").unwrap_or_default();
        why.note(
            "tcpdump -Q out",
            &all.lines().take(8).collect::<Vec<_>>().join("\n"),
        );
    }
    why.check(
        caps.len() == 2 && udp >= 10 && esp == 0 && clear == 0,
        || format!("wire: udp4500={udp} esp={esp} icmp={clear}"),
    );
    for h in [lh, rh] {
        let sas = why
            .ok("kernel", kernel(&topo, h))
            .map(|k| k.0)
            .unwrap_or_default();
        let n = sas.iter().filter(|s| s.encap == Some((4500, 4500))).count();
        why.check(n == 2, || {
            format!("{}: {n} SAs UDP-encapsulated on 4500, not 2", h.ns)
        });
    }
    let raw = topo.ip(lh, &["xfrm", "state"]).unwrap_or_default();
    why.check(
        raw.contains("enc cbc(aes)") && raw.contains("auth-trunc hmac(sha256)"),
        || "SAs not aes256-cbc + hmac-sha256".into(),
    );
    let pl = crate::probe::in_packets(&topo, lh, lh.outer4).unwrap_or(0);
    why.check(pl >= 3, || format!("iked inbound packets {pl}"));
    if let Some(rep) = status(&mut why, &mut i, Side::Left) {
        why.check(children(&rep, CONN).iter().any(|c| c.encap), || {
            "iked: CHILD_SA not ESP in UDP".into()
        });
        why.check(
            ike_established(&rep, CONN)
                .iter()
                .any(|sa| sa.proposal.contains("MODP_1024")),
            || "iked: IKE_SA not MODP_1024".into(),
        );
    }
    let st = why
        .ok("starter statusall", s.ipsec(&["statusall"]))
        .unwrap_or_default();
    why.note("right: ipsec statusall (strongSwan)", &st);
    why.check(
        st.lines()
            .any(|l| l.contains("INSTALLED, TUNNEL") && l.contains("ESP in UDP SPIs")),
        || "strongSwan: no ESP in UDP line".into(),
    );
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", i.ipsec(&["down", CONN]));
    empty(
        &mut why,
        &topo,
        lh,
        "on iked's side after down",
        Duration::from_secs(5),
    );
    i.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!("forceencaps, aes256-sha2_256-modp1024: SAs encap espinudp 4500/4500 on both, wire: {udp} UDP-4500 / {esp} ESP / {clear} clear, ping 5/5"),
    )
}

/// The source port of the inbound ESP-in-UDP SA in `h`'s kernel and the
/// destination port of its outbound one.
fn nat_ports(topo: &Topology, side: Side) -> (Option<u16>, Option<u16>) {
    let h = topo.host(side);
    let sas = kernel(topo, h).map(|k| k.0).unwrap_or_default();
    let inbound = sas
        .iter()
        .find(|s| s.dst == h.outer4)
        .and_then(|s| s.encap)
        .map(|e| e.0);
    let outbound = sas
        .iter()
        .find(|s| s.src == h.outer4)
        .and_then(|s| s.encap)
        .map(|e| e.1);
    (inbound, outbound)
}

fn nat(ctx: &Ctx, resp: bool) -> Result<String> {
    let topo = Topology::with_nat()?;
    let nat_ns = topo.middle().unwrap_or_default().to_owned();
    let conf = |left: &str| {
        IpsecConf::new()
            .conn(
                Conn::net2net(
                    CONN,
                    &topo,
                    Family::V4,
                    Family::V4,
                    "aes128gcm16-prfsha256-ecp256!",
                    "aes128gcm16!",
                )
                .set("left", left),
            )
            .render()
    };
    let (behind, open) = (conf("192.0.2.1"), conf("%any"));
    let secrets = psk_secrets("nat-psk-0123456789abcdef");
    // init: iked behind the NAT (left); resp: iked open (right), the starter behind it
    let iked_side = if resp { Side::Right } else { Side::Left };
    let confs = if resp {
        (open.as_str(), behind.as_str())
    } else {
        (behind.as_str(), open.as_str())
    };
    let (mut i, mut s) = start_pair(ctx, &topo, iked_side, confs, &secrets)?;
    let mut why = Why::default();
    let up = if resp {
        s.initiate(Duration::from_secs(40))
    } else {
        i.up(CONN)
    };
    why.ok("initiate", up);
    let (lh, rh) = (&topo.left, &topo.right);
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.is_some_and(|p| p.all()), || {
        "ping through the NAT failed".into()
    });
    let (p1, _) = nat_ports(&topo, Side::Right);
    why.check(p1.is_some_and(|p| (40000..=40099).contains(&p)), || {
        format!("right's inbound SA not from the NAT's port range ({p1:?})")
    });
    let lsas = kernel(&topo, lh).map(|k| k.0).unwrap_or_default();
    why.check(lsas.iter().any(|s| s.encap == Some((4500, 4500))), || {
        "left: SA not UDP-encapsulated".into()
    });
    if let Some(rep) = status(&mut why, &mut i, iked_side) {
        why.check(children(&rep, CONN).iter().any(|c| c.encap), || {
            "iked: CHILD_SA not ESP in UDP".into()
        });
    }
    let mut ka = None;
    if !resp {
        // iked behind the NAT keeps the mapping alive (one 0xff octet, every 20 s)
        let f = topo.run_dir(Side::Left)?.join("keepalive.pcap");
        let c = Capture::start(
            &nat_ns,
            "nl",
            &["udp and src host 192.0.2.1 and dst port 4500"],
            &f,
        );
        if let Some(mut c) = why.ok("tcpdump in the NAT", c) {
            std::thread::sleep(Duration::from_secs(25));
            let n = c.count("udp[4:2] = 9 and udp[8] = 0xff").unwrap_or(0);
            why.check(n >= 1, || "no NAT-T keepalive from iked in 25 s".into());
            ka = Some(n);
        }
    }
    // the NAT's mapping changes
    let x = |argv: &[&str]| {
        let mut v = vec!["ip", "netns", "exec", nat_ns.as_str()];
        v.extend_from_slice(argv);
        crate::cmd::run_ok(&v, Duration::from_secs(10))
    };
    why.ok(
        "iptables",
        x(&[
            "iptables",
            "-t",
            "nat",
            "-R",
            "POSTROUTING",
            "1",
            "-o",
            "nr",
            "-p",
            "udp",
            "-j",
            "MASQUERADE",
            "--to-ports",
            "41000-41099",
        ]),
    );
    why.ok("conntrack -F", x(&["conntrack", "-F"]));
    let _ = ping(
        &topo,
        lh,
        lh.inner4,
        rh.inner4,
        PingSpec {
            count: 4,
            interval_ms: 500,
            wait_s: 2,
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.is_some_and(|p| p.all()), || {
        "ping after the mapping change failed".into()
    });
    let (p2, o2) = nat_ports(&topo, Side::Right);
    why.check(p2.is_some_and(|p| (41000..=41099).contains(&p)), || {
        format!("right's inbound SA did not move to the new port ({p2:?})")
    });
    why.check(o2 == p2, || {
        format!("right's outbound SA not moved ({o2:?} vs {p2:?})")
    });
    if resp {
        let log = i.log();
        why.check(log_has(&log, "NAT mappings of ESP CHILD_SA", false), || {
            "iked: no MAPPING log line".into()
        });
        why.check(
            log_has(&log, "NAT mapping of the peer changed", false),
            || "iked: IKE_SA did not follow the mapping".into(),
        );
        if let Some(rep) = status(&mut why, &mut i, iked_side) {
            let remote = ike_established(&rep, CONN).first().map(|sa| sa.remote);
            why.check(remote.map(|r| r.port()) == p2, || {
                format!("iked's IKE_SA remote is not the new port ({remote:?})")
            });
        }
    }
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", i.ipsec(&["down", CONN]));
    empty(
        &mut why,
        &topo,
        topo.host(iked_side),
        "on iked's side after down",
        Duration::from_secs(5),
    );
    i.stop();
    s.stop();
    let p1 = p1.map(|p| p.to_string()).unwrap_or_default();
    let p2 = p2.map(|p| p.to_string()).unwrap_or_default();
    let ka = ka
        .map(|n| format!(" {n} keepalive(s) in 25 s;"))
        .unwrap_or_default();
    why.done(
        &ctx.dir,
        format!("through MASQUERADE: peer at 192.0.2.129:{p1}, ping 3/3;{ka} mapping changed -> 192.0.2.129:{p2}, SAs moved, ping 3/3"),
    )
}
