//! `auto=route` and shunts: trap policies before any traffic, a ping that
//! triggers ACQUIRE and the tunnel, `down` keeping the trap, `unroute` /
//! `route` removing and reinstalling it; IPv6 against the starter with an
//! updown script whose `PLUTO_*` environment is checked; passthrough and
//! drop shunts beside a tunnel.

use std::time::Duration;

use super::{both, children, empty, guest, log_has, note_kernel, packets_in, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CONN, Peer, Starter, Tunnel};
use crate::probe::{Capture, PingSpec, Why, in_packets, kernel, kernel_counts, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};
use crate::{Result, lab_err, write_file};

const GCM: (&str, &str) = ("aes128gcm16-prfsha256-x25519!", "aes128gcm16!");
const N: &str = "net-net";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "iked-route",
            "iked<->iked auto=route: 3 trap policies, ping -> ACQUIRE -> tunnel, down keeps the trap, unroute/route, SIGTERM removes it",
            route,
        ),
        guest(
            "iked-shunt",
            "passthrough and drop shunts beside a tunnel: clear text untouched by the SA, dropped, listed as shunted",
            shunt,
        ),
        guest(
            "iked-route6",
            "IPv6 auto=route on iked against the starter: traps, ping -> ACQUIRE -> tunnel, updown PLUTO_* env",
            |c| route6(c, false),
        ),
        guest(
            "iked-route6-resp",
            "IPv6 auto=route on the starter: its ping triggers, iked answers; updown env",
            |c| route6(c, true),
        ),
    ]
}

/// Waits (at most 5 s) until `side` holds `want` = (SAs, policies).
fn counts_become(topo: &Topology, side: Side, want: (usize, usize)) -> (usize, usize) {
    let h = topo.host(side);
    let mut last = (usize::MAX, usize::MAX);
    let _ = crate::cmd::poll(Duration::from_secs(5), || {
        last = kernel_counts(topo, h).unwrap_or(last);
        (last == want).then_some(())
    });
    last
}

fn route(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    // an explicit reqid: the trap's template names the CHILD_SA's, so the
    // kernel's acquire state is consumed when the SA is installed
    let c = Conn::net2net(N, &topo, Family::V4, Family::V4, GCM.0, GCM.1).set("reqid", "7");
    let lconf = IpsecConf::new()
        .conn(c.clone().set("auto", "route"))
        .render();
    let rconf = IpsecConf::new().conn(c).render();
    let secrets = psk_secrets("route-psk-0123456789");
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &lconf, &secrets),
            (Side::Right, &rconf, &secrets),
        ],
    )?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    let c0 = counts_become(&topo, Side::Left, (0, 3));
    why.check(c0 == (0, 3), || {
        format!("expected 3 trap policies (out, in, fwd) and no SA before traffic, got {c0:?}")
    });
    let routed = |why: &mut Why, d: &mut crate::peer::Iked, when: &str| {
        let ok = why.ok("status", d.report()).is_some_and(|r| {
            r.routed
                .iter()
                .any(|t| t.conn == N && t.reqid == 7 && t.mode == "TUNNEL")
        });
        why.check(ok, || {
            format!("no ROUTED {N} reqid 7 TUNNEL in iked's status {when}")
        });
    };
    routed(&mut why, &mut ds[0], "before traffic");
    let _ = ping(
        &topo,
        lh,
        lh.inner4,
        rh.inner4,
        PingSpec {
            count: 8,
            interval_ms: 500,
            wait_s: 2,
        },
    );
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.is_some_and(|p| p.all()), || {
        "ping after ACQUIRE failed".into()
    });
    let mut pl = 0;
    if let Some(rep) = status(&mut why, &mut ds[0], Side::Left) {
        pl = packets_in(&rep, N);
        why.check(pl >= 3, || format!("inbound packets {pl}"));
        why.check(!children(&rep, N).is_empty(), || {
            "no INSTALLED CHILD_SA".into()
        });
    }
    why.check(log_has(&ds[0].log(), "creating acquire job", false), || {
        "no ACQUIRE log line".into()
    });
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", ds[0].ipsec(&["down", N]));
    let c1 = counts_become(&topo, Side::Left, (0, 3));
    why.check(c1 == (0, 3), || {
        format!("expected only the trap (3 policies) after down, got {c1:?}")
    });
    let un = why
        .ok("ipsec unroute", ds[0].ipsec(&["unroute", N]))
        .unwrap_or_default();
    why.check(
        un.contains(&format!("configuration '{N}' unrouted")),
        || format!("unroute answered: {}", un.trim()),
    );
    let c2 = counts_become(&topo, Side::Left, (0, 0));
    why.check(c2 == (0, 0), || format!("unroute left {c2:?}"));
    why.ok("ikectl route", ds[0].route(N));
    let c3 = counts_become(&topo, Side::Left, (0, 3));
    why.check(c3 == (0, 3), || {
        format!("route installed {c3:?}, not 3 policies")
    });
    routed(&mut why, &mut ds[0], "after route");
    why.ok("SIGTERM", ds[0].sigterm(Duration::from_secs(10)));
    let t = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on the left after SIGTERM", t);
    empty(&mut why, &topo, rh, "on the right", t);
    ds[1].stop();
    why.done(&ctx.dir, format!("trap only, ping -> ACQUIRE -> tunnel, inbound packets {pl}, down keeps the trap, unroute/route, SIGTERM removes it"))
}

fn shunt(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    topo.ip_batch(
        rh,
        "addr add 203.0.113.2/32 dev lo\naddr add 203.0.113.3/32 dev lo\n",
    )?;
    let sh = |name: &str, dst: &str, ty: &str| {
        Conn::new(name)
            .set("left", lh.outer4)
            .set("leftsubnet", lh.net4)
            .set("right", rh.outer4)
            .set("rightsubnet", dst)
            .set("authby", "never")
            .set("type", ty)
            .set("auto", "route")
    };
    let conf = IpsecConf::new()
        .conn(Conn::net2net(
            N,
            &topo,
            Family::V4,
            Family::V4,
            GCM.0,
            GCM.1,
        ))
        .conn(sh("pass", "203.0.113.2/32", "passthrough"))
        .conn(sh("block", "203.0.113.3/32", "drop"))
        .render();
    let secrets = psk_secrets("shunt-psk-0123456789abcdef");
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &conf, &secrets),
            (Side::Right, &conf, &secrets),
        ],
    )?;
    let mut why = Why::default();
    why.ok("ikectl up", ds[0].up(N));
    let pols = why
        .ok("kernel", kernel(&topo, lh))
        .map(|k| k.1)
        .unwrap_or_default();
    let blocks = pols.iter().filter(|p| p.block).count();
    why.check(blocks == 3, || {
        format!("left: {blocks} block policies, not 3")
    });
    if let Some(rep) = status(&mut why, &mut ds[0], Side::Left) {
        let has = |c: &str, mode: &str, dst: &str| {
            rep.shunted.iter().any(|s| {
                s.conn == c
                    && s.mode == mode
                    && s.ts_local == "198.51.100.0/24"
                    && s.ts_remote == dst
            })
        };
        why.check(has("pass", "PASS", "203.0.113.2/32"), || {
            "no PASS shunt in iked's status".into()
        });
        why.check(has("block", "DROP", "203.0.113.3/32"), || {
            "no DROP shunt in iked's status".into()
        });
    }
    let text = ds[0].ipsec(&["status"]).unwrap_or_default();
    why.check(
        text.lines().any(|l| l.starts_with("Shunted Connections:")),
        || "no Shunted Connections section".into(),
    );
    let f = topo.run_dir(Side::Left)?.join("shunt.pcap");
    let mut cap = why.ok(
        "tcpdump",
        Capture::start(&lh.ns, lh.dev, &["-Q", "out"], &f),
    );
    let b = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    let p1 = ping(&topo, lh, lh.inner4, "203.0.113.1", PingSpec::n(3)).ok();
    let a = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    let p2 = ping(&topo, lh, lh.inner4, "203.0.113.2", PingSpec::n(3)).ok();
    let a2 = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    let p3 = ping(
        &topo,
        lh,
        lh.inner4,
        "203.0.113.3",
        PingSpec {
            count: 3,
            interval_ms: 300,
            wait_s: 1,
        },
    )
    .ok();
    std::thread::sleep(Duration::from_millis(500));
    why.check(p1.as_ref().is_some_and(|p| p.all()), || {
        "tunnel ping failed".into()
    });
    why.check(a >= b + 3, || {
        format!("tunnel ping did not use the SA ({b} -> {a})")
    });
    why.check(p2.as_ref().is_some_and(|p| p.all()), || {
        "passthrough ping failed".into()
    });
    why.check(a2 == a, || {
        format!("passthrough ping went through the SA ({a} -> {a2})")
    });
    why.check(
        p3.as_ref().is_some_and(|p| p.sent == 3 && p.received == 0),
        || "ping into the drop shunt was not dropped".into(),
    );
    let (mut c2, mut c3, mut esp) = (0, usize::MAX, 0);
    if let Some(c) = cap.as_mut() {
        c2 = c.count("icmp and dst host 203.0.113.2").unwrap_or(0);
        c3 = c.count("dst host 203.0.113.3").unwrap_or(usize::MAX);
        esp = c.count("ip proto 50").unwrap_or(0);
    }
    why.check(c2 == 3 && c3 == 0 && esp >= 3, || {
        format!("wire: esp={esp} clear-to-.2={c2} to-.3={c3}")
    });
    note_kernel(&mut why, &topo);
    let t = Duration::from_secs(5);
    for d in ds.iter_mut() {
        why.ok("SIGTERM", d.sigterm(Duration::from_secs(10)));
    }
    empty(&mut why, &topo, lh, "on the left after SIGTERM", t);
    empty(&mut why, &topo, rh, "on the right after SIGTERM", t);
    why.done(&ctx.dir, format!("tunnel via ESP +{}, passthrough 3/3 in clear with the SA untouched, drop 0/3 and nothing sent, shunts in iked's status, SIGTERM leaves nothing", a.saturating_sub(b)))
}

/// An updown script that appends its `PLUTO_*` environment to `env` and
/// prints one line (iked logs it as "updown: ...").
fn write_updown(script: &std::path::Path, env: &std::path::Path) -> Result<()> {
    write_file(
        script,
        &format!(
            "#!/bin/sh\n{{ echo \"== $PLUTO_VERB\"; env | grep '^PLUTO_' | sort; }} >>{}\necho \"$PLUTO_VERB $PLUTO_CONNECTION $PLUTO_MY_CLIENT === $PLUTO_PEER_CLIENT\"\n",
            env.display()
        ),
    )?;
    std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| lab_err!("chmod {}: {e}", script.display()))
}

fn route6(ctx: &Ctx, resp: bool) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let ld = ctx.peer_dir(Side::Left);
    crate::make_dir(&ld)?;
    let (script, env) = (ld.join("updown.sh"), ld.join("updown.env"));
    write_updown(&script, &env)?;
    let c = Conn::net2net(
        CONN,
        &topo,
        Family::V6,
        Family::V6,
        "aes256gcm16-prfsha384-ecp384!",
        "aes256gcm16!",
    )
    .set("leftupdown", &script.display().to_string());
    let (iked_auto, swan_auto) = if resp {
        ("add", "route")
    } else {
        ("route", "add")
    };
    let iconf = IpsecConf::new()
        .conn(c.clone().set("auto", iked_auto))
        .render();
    let sconf = IpsecConf::new().conn(c.set("auto", swan_auto)).render();
    let secrets = psk_secrets("route6-psk-0123456789abcdef");
    let sd = ctx.peer_dir(Side::Right);
    let t = Tunnel::gcm();
    let (mut i, mut s) = both(
        || start_ikeds(ctx, &topo, &[(Side::Left, &iconf, &secrets)]),
        || Starter::start(&topo, Side::Right, &t, &sconf, &secrets, &sd),
    )?;
    let mut i = i.pop().ok_or_else(|| lab_err!("no iked"))?;
    let mut why = Why::default();
    let (trig, from, to) = if resp {
        (rh, rh.inner6, lh.inner6)
    } else {
        (lh, lh.inner6, rh.inner6)
    };
    let trig_side = if resp { Side::Right } else { Side::Left };
    let _ = crate::cmd::poll(Duration::from_secs(10), || {
        kernel(&topo, trig)
            .ok()
            .filter(|k| k.1.iter().filter(|p| p.esp_tmpl).count() == 3)
            .map(|_| ())
    });
    let (sas, pols) = why.ok("kernel", kernel(&topo, trig)).unwrap_or_default();
    let traps = pols.iter().filter(|p| p.esp_tmpl).count();
    why.check(traps == 3 && sas.is_empty(), || {
        format!(
            "{}: expected 3 trap policies and no SA before traffic, got {traps}/{}",
            trig.ns,
            sas.len()
        )
    });
    if resp {
        let st = s.ipsec(&["status"]).unwrap_or_default();
        why.check(
            st.lines()
                .any(|l| l.contains("gw{") && l.contains("ROUTED, TUNNEL")),
            || "strongSwan: no ROUTED line".into(),
        );
    } else {
        let ok = why.ok("status", i.report()).is_some_and(|r| {
            r.routed
                .iter()
                .any(|t| t.conn == CONN && t.reqid == 1 && t.mode == "TUNNEL")
        });
        why.check(ok, || "iked: no ROUTED gw reqid 1 TUNNEL".into());
    }
    let _ = ping(
        &topo,
        trig,
        from,
        to,
        PingSpec {
            count: 6,
            interval_ms: 500,
            wait_s: 2,
        },
    );
    let p = why.ok("ping", ping(&topo, trig, from, to, PingSpec::n(3)));
    why.check(p.is_some_and(|p| p.all()), || {
        "ping after ACQUIRE failed".into()
    });
    let pl = in_packets(&topo, lh, lh.outer6).unwrap_or(0);
    let pr = in_packets(&topo, rh, rh.outer6).unwrap_or(0);
    why.check(pl >= 3 && pr >= 3, || {
        format!("inbound packets left={pl} right={pr}")
    });
    if let Some(rep) = status(&mut why, &mut i, Side::Left) {
        // the packet's /128 is proposed first, the subnets are what both settle on
        let ok = children(&rep, CONN).iter().any(|c| {
            c.mode == "TUNNEL"
                && c.ts_local == ["2001:db8:a::/64"]
                && c.ts_remote == ["2001:db8:b::/64"]
        });
        why.check(ok, || {
            "iked: no INSTALLED TUNNEL CHILD_SA 2001:db8:a::/64 === 2001:db8:b::/64".into()
        });
    }
    why.ok("strongSwan's status", s.check_established());
    if !resp {
        why.check(log_has(&i.log(), "creating acquire job", false), || {
            "iked: no ACQUIRE log line".into()
        });
    }
    note_kernel(&mut why, &topo);
    why.ok("ipsec down", i.ipsec(&["down", CONN]));
    let want = if resp { (0, 0) } else { (0, 3) };
    let c = counts_become(&topo, Side::Left, want);
    why.check(c == want, || {
        format!("iked after down: {c:?}, expected {want:?} (SAs, policies)")
    });
    why.ok("SIGTERM", i.sigterm(Duration::from_secs(10)));
    empty(
        &mut why,
        &topo,
        lh,
        "on iked's side after SIGTERM",
        Duration::from_secs(5),
    );
    s.stop();
    let e = std::fs::read_to_string(&env).unwrap_or_default();
    why.note("updown environment", &e);
    why.check(e.lines().any(|l| l.starts_with("== up-client")), || {
        "updown: no up-client run".into()
    });
    why.check(e.lines().any(|l| l.starts_with("== down-client")), || {
        "updown: no down-client run".into()
    });
    for v in [
        "PLUTO_CONNECTION=gw",
        "PLUTO_ME=2001:db8:0:1::1",
        "PLUTO_PEER=2001:db8:0:1::2",
        "PLUTO_MY_ID=moon",
        "PLUTO_PEER_ID=sun",
        "PLUTO_MY_CLIENT=2001:db8:a::",
        "PLUTO_PEER_CLIENT=2001:db8:b::",
        "PLUTO_REQID=",
        "PLUTO_UNIQUEID=",
        "PLUTO_PROTO=esp",
    ] {
        why.check(e.lines().any(|l| l.starts_with(v)), || {
            format!("updown: no {v}")
        });
    }
    why.check(log_has(&i.log(), "updown: up-client-v6 gw", false), || {
        "iked did not log the script's output".into()
    });
    why.done(&ctx.dir, format!("IPv6, trap policies before traffic on {}, ping -> ACQUIRE -> tunnel, inbound packets left={pl} right={pr}, updown up/down with PLUTO_* env", trig_side.as_str()))
}
