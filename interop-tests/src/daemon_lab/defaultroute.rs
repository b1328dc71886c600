//! `left=%defaultroute`, `auto=start`, two CHILD_SAs (net1, net2) through
//! `also=base`, on a host whose first address is a dummy's (198.51.100.77,
//! made before the veth): iked must initiate from the default route's source
//! 192.0.2.1 (one IKE_SA on both sides), both CHILD_SAs INSTALLED and
//! carrying traffic (inbound counters of each SA, found through its policy's
//! reqid, on both sides). strongSwan's starter answers.

use std::time::Duration;

use super::{children, empty, guest, ike_established, log_has, note_kernel, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Host, Side, Topology};
use crate::{Result, lab_err};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-defaultroute",
        "left=%defaultroute from 192.0.2.1 with a dummy address first, auto=start, two CHILD_SAs on one IKE_SA",
        defaultroute,
    )]
}

/// Inbound packets of the SA behind the `in` policy `src -> dst` (by reqid).
fn in_packets_sel(topo: &Topology, h: &Host, src: &str, dst: &str) -> u64 {
    let Ok((sas, pols)) = kernel(topo, h) else {
        return 0;
    };
    let Some(reqid) = pols
        .iter()
        .find(|p| p.dir == "in" && p.src == src && p.dst == dst)
        .and_then(|p| p.reqid)
    else {
        return 0;
    };
    sas.iter()
        .filter(|s| s.reqid == reqid && s.dst == h.outer4)
        .map(|s| s.packets)
        .sum()
}

fn defaultroute(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new_with(Some(
        "link add dummy0 type dummy\naddr add 198.51.100.77/32 dev dummy0\nlink set dummy0 up\n",
    ))?;
    let (lh, rh) = (&topo.left, &topo.right);
    topo.ip_batch(
        lh,
        "addr add 198.51.100.129/32 dev lo\nroute add default via 192.0.2.2 dev vl src 192.0.2.1\n\
         route add 203.0.113.0/25 via 192.0.2.2 src 198.51.100.1\n\
         route add 203.0.113.128/25 via 192.0.2.2 src 198.51.100.129\n",
    )?;
    topo.ip_batch(
        rh,
        "addr add 203.0.113.129/32 dev lo\nroute add 198.51.100.0/25 via 192.0.2.1 src 203.0.113.1\n\
         route add 198.51.100.128/25 via 192.0.2.1 src 203.0.113.129\n",
    )?;
    let mut why = Why::default();
    why.note(
        "left: ip -o addr (kernel order)",
        &topo.ip(lh, &["-4", "-o", "addr"]).unwrap_or_default(),
    );
    let base = |me: &str, my_id: &str, peer: &str, peer_id: &str| {
        Conn::new("base")
            .set("left", me)
            .set("leftid", my_id)
            .set("right", peer)
            .set("rightid", peer_id)
            .set("authby", "secret")
            .set("keyexchange", "ikev2")
            .set("ike", "aes128gcm16-prfsha256-x25519!")
            .set("esp", "aes128gcm16!")
    };
    let net = |name: &str, l: &str, r: &str, auto: &str| {
        Conn::new(name)
            .set("also", "base")
            .set("leftsubnet", l)
            .set("rightsubnet", r)
            .set("auto", auto)
    };
    let (n1, n2) = (
        ("198.51.100.0/25", "203.0.113.0/25"),
        ("198.51.100.128/25", "203.0.113.128/25"),
    );
    let iconf = IpsecConf::new()
        .conn(base("%defaultroute", "moon", "192.0.2.2", "sun"))
        .conn(net("net1", n1.0, n1.1, "start"))
        .conn(net("net2", n2.0, n2.1, "start"))
        .render();
    let sconf = IpsecConf::new()
        .conn(base("192.0.2.2", "sun", "192.0.2.1", "moon"))
        .conn(net("net1", n1.1, n1.0, "add"))
        .conn(net("net2", n2.1, n2.0, "add"))
        .render();
    let secrets = psk_secrets("defroute-psk-0123456789abcdef");
    // the starter first: iked initiates as soon as it runs (auto=start)
    let opts = StarterOpts {
        conn: Some("net2"),
        ..StarterOpts::default()
    };
    let mut s = Starter::start_opts(
        &topo,
        Side::Right,
        &Tunnel::gcm(),
        &sconf,
        &secrets,
        &ctx.peer_dir(Side::Right),
        &opts,
    )?;
    let mut i = start_ikeds(ctx, &topo, &[(Side::Left, &iconf, &secrets)])?
        .pop()
        .ok_or_else(|| lab_err!("no iked"))?;
    let both = crate::cmd::poll(Duration::from_secs(30), || {
        let r = i.report().ok()?;
        (!children(&r, "net1").is_empty() && !children(&r, "net2").is_empty()).then_some(())
    });
    why.check(both.is_some(), || {
        "net1 and net2 not both INSTALLED within 30 s".into()
    });
    if let Some(rep) = status(&mut why, &mut i, Side::Left) {
        let ikes: Vec<_> = ["base", "net1", "net2"]
            .iter()
            .flat_map(|c| ike_established(&rep, c))
            .collect();
        why.check(ikes.len() == 1, || {
            format!("iked: {} IKE_SAs ESTABLISHED, not 1", ikes.len())
        });
        for sa in &ikes {
            why.check(
                sa.local.ip().to_string() == "192.0.2.1"
                    && sa.remote.ip().to_string() == "192.0.2.2",
                || {
                    format!(
                        "iked's IKE_SA runs {} -> {}, not 192.0.2.1 -> 192.0.2.2",
                        sa.local, sa.remote
                    )
                },
            );
            why.check(sa.local_id == "moon" && sa.remote_id == "sun", || {
                "iked's IKE_SA ids not moon/sun".into()
            });
        }
        for n in ["net1", "net2"] {
            why.check(children(&rep, n).iter().any(|c| c.mode == "TUNNEL"), || {
                format!("iked: {n} not INSTALLED, TUNNEL")
            });
        }
    }
    why.check(!log_has(&i.log(), "error sending", false), || {
        "iked logged 'error sending'".into()
    });
    let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note("right: ipsec statusall (strongSwan)", &st);
    let sike = st.lines().filter(|l| l.contains("]: ESTABLISHED")).count();
    why.check(sike == 1, || {
        format!("strongSwan: {sike} IKE_SAs ESTABLISHED, not 1")
    });
    for n in ["net1", "net2"] {
        why.check(
            st.lines()
                .any(|l| l.contains(&format!("{n}{{")) && l.contains("INSTALLED, TUNNEL")),
            || format!("strongSwan: {n} not INSTALLED"),
        );
    }
    let mut counts = Vec::new();
    for (n, (from, to), (ls, rs)) in [
        ("net1", ("198.51.100.1", "203.0.113.1"), n1),
        ("net2", ("198.51.100.129", "203.0.113.129"), n2),
    ] {
        let b1 = in_packets_sel(&topo, lh, rs, ls);
        let b2 = in_packets_sel(&topo, rh, ls, rs);
        let p = why.ok("ping", ping(&topo, lh, from, to, PingSpec::n(3)));
        let a1 = in_packets_sel(&topo, lh, rs, ls);
        let a2 = in_packets_sel(&topo, rh, ls, rs);
        why.check(p.is_some_and(|p| p.all()), || {
            format!("{n}: ping {from} -> {to} failed")
        });
        why.check(a1 >= b1 + 3 && a2 >= b2 + 3, || {
            format!("{n}: inbound counters did not grow by 3 (left {b1}->{a1}, right {b2}->{a2})")
        });
        counts.push(format!(
            "{n} in +{}/+{}",
            a1.saturating_sub(b1),
            a2.saturating_sub(b2)
        ));
    }
    note_kernel(&mut why, &topo);
    why.ok("SIGTERM", i.sigterm(Duration::from_secs(10)));
    empty(
        &mut why,
        &topo,
        lh,
        "on iked's side after SIGTERM",
        Duration::from_secs(5),
    );
    s.stop();
    why.done(
        &ctx.dir,
        format!("left=%defaultroute from 192.0.2.1 (dummy0 198.51.100.77 first), 1 IKE_SA on both sides, {}", counts.join(", ")),
    )
}
