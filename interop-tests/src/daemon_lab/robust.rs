//! What must survive: a crash, and a CHILD_SA that covers IKE itself.
//!
//! - `iked-crash`: iked (left, `auto=start`) against strongSwan's starter;
//!   a hand-made SA and block policy beside iked's tunnel; `kill -9` iked.
//!   The kernel keeps the dead tunnel; the restarted iked removes exactly
//!   its predecessor's SAs and policies (its journal), brings the tunnel
//!   back with new SPIs, and the hand-made ones survive (issue 13 item 15).
//! - `iked-transport-ike`: a host-to-host transport SA with no protoport,
//!   so its policies cover UDP 500 between the hosts, rekeyed twice (and the
//!   IKE_SA once) under a 30 s ping: the IKE sockets' bypass keeps IKE in
//!   the clear (tcpdump), no ping is lost (issue 13 item 6).

use std::time::{Duration, Instant};

use super::{both, children, guest, ike_established, note_kernel, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CONN, Iked, Peer, Starter, Tunnel};
use crate::probe::{Capture, PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};
use crate::{Result, lab_err};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "iked-crash",
            "kill -9 iked with a tunnel up: the restarted iked removes exactly its predecessor's SAs and policies, the tunnel comes back, a hand-made SA and policy survive",
            crash,
        ),
        guest(
            "iked-transport-ike",
            "a transport SA covering UDP 500 between the hosts, rekeyed under a 30 s ping: IKE stays in the clear (socket bypass), nothing lost",
            transport_ike,
        ),
    ]
}

/// Starts iked on the left and the starter on the right at once.
fn start_pair(
    ctx: &Ctx,
    topo: &Topology,
    iconf: &str,
    sconf: &str,
    secrets: &str,
) -> Result<(Iked, Starter)> {
    let sd = ctx.peer_dir(Side::Right);
    let t = Tunnel::gcm();
    let (mut i, s) = both(
        || start_ikeds(ctx, topo, &[(Side::Left, iconf, secrets)]),
        || Starter::start(topo, Side::Right, &t, sconf, secrets, &sd),
    )?;
    let i = i.pop().ok_or_else(|| lab_err!("no iked"))?;
    Ok((i, s))
}

/// Waits (bounded) until iked reports `conn` established with a CHILD_SA.
fn wait_up(i: &mut Iked, bound: Duration) -> bool {
    crate::cmd::poll(bound, || {
        let r = i.report().ok()?;
        (!ike_established(&r, CONN).is_empty() && !children(&r, CONN).is_empty()).then_some(())
    })
    .is_some()
}

const HAND_SPI: &str = "0x00001234";
const HAND_POLICY_SRC: &str = "192.0.2.100/32";

fn crash(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let c = Conn::net2net(
        CONN,
        &topo,
        Family::V4,
        Family::V4,
        "aes128gcm16-prfsha256-x25519!",
        "aes128gcm16!",
    );
    let iconf = IpsecConf::new()
        .conn(c.clone().set("auto", "start"))
        .render();
    let sconf = IpsecConf::new().conn(c).render();
    let secrets = psk_secrets("crash-psk-0123456789abcdef");
    let (mut i, mut s) = start_pair(ctx, &topo, &iconf, &sconf, &secrets)?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    why.check(wait_up(&mut i, Duration::from_secs(60)), || {
        "auto=start: no tunnel within 60 s".into()
    });
    let p = ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3));
    why.check(p.as_ref().is_ok_and(|p| p.all()), || {
        "no traffic before the crash".into()
    });
    // the administrator's own SA and policy, which no iked may touch
    why.ok(
        "hand-made SA",
        topo.ip(
            lh,
            &[
                "xfrm",
                "state",
                "add",
                "src",
                lh.outer4,
                "dst",
                "192.0.2.9",
                "proto",
                "esp",
                "spi",
                HAND_SPI,
                "reqid",
                "777",
                "mode",
                "tunnel",
                "aead",
                "rfc4106(gcm(aes))",
                "0x0102030405060708090a0b0c0d0e0f1011121314",
                "128",
            ],
        ),
    );
    why.ok(
        "hand-made policy",
        topo.ip(
            lh,
            &[
                "xfrm",
                "policy",
                "add",
                "src",
                HAND_POLICY_SRC,
                "dst",
                "192.0.2.200/32",
                "dir",
                "out",
                "priority",
                "5000",
                "action",
                "block",
            ],
        ),
    );
    let (old_sas, _) = kernel(&topo, lh).unwrap_or_default();
    let old_spis: Vec<String> = old_sas
        .iter()
        .filter(|a| a.spi != HAND_SPI)
        .map(|a| a.spi.clone())
        .collect();
    why.check(old_spis.len() == 2, || {
        format!("iked's tunnel: {} SAs, want 2", old_spis.len())
    });
    let pid = i.pid();
    crate::cmd::signal(pid, "KILL");
    let gone = crate::cmd::poll(Duration::from_secs(10), || {
        (!crate::cmd::pid_alive(pid)).then_some(())
    });
    why.check(gone.is_some(), || {
        format!("iked (pid {pid}) survived kill -9")
    });
    let (dirty, _) = kernel(&topo, lh).unwrap_or_default();
    let left = dirty.iter().filter(|a| old_spis.contains(&a.spi)).count();
    why.check(left == 2, || {
        format!("after kill -9 the kernel should still hold the dead tunnel's 2 SAs, holds {left}")
    });
    let t0 = Instant::now();
    let restarted = Iked::start(
        &topo,
        Side::Left,
        &iconf,
        &secrets,
        &ctx.peer_dir(Side::Left),
    );
    let Some(mut i2) = why.ok("restart iked", restarted) else {
        s.stop();
        return why.done(&ctx.dir, String::new());
    };
    why.check(wait_up(&mut i2, Duration::from_secs(60)), || {
        "after the restart: no tunnel within 60 s".into()
    });
    let back = t0.elapsed().as_secs_f64();
    let p = ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3));
    why.check(p.as_ref().is_ok_and(|p| p.all()), || {
        "no traffic after the restart".into()
    });
    let (sas, pols) = kernel(&topo, lh).unwrap_or_default();
    let stale = sas.iter().filter(|a| old_spis.contains(&a.spi)).count();
    let hand_sa = sas.iter().any(|a| a.spi == HAND_SPI);
    let hand_pol = pols.iter().any(|p| p.src == HAND_POLICY_SRC && p.block);
    let tunnel = sas.iter().filter(|a| a.spi != HAND_SPI).count();
    let tunnel_pols = pols.iter().filter(|p| p.esp_tmpl).count();
    why.check(stale == 0, || {
        format!("{stale} of the dead iked's SAs are still in the kernel")
    });
    why.check(tunnel == 2 && tunnel_pols == 3, || {
        format!(
            "after the restart: {tunnel} tunnel SAs and {tunnel_pols} tunnel policies, want 2 and 3"
        )
    });
    why.check(hand_sa && hand_pol, || {
        format!("the hand-made SA ({hand_sa}) and policy ({hand_pol}) must survive")
    });
    let log = std::fs::read_to_string(i2.log()).unwrap_or_default();
    why.note(
        "restarted iked: journal lines",
        &log.lines()
            .filter(|l| l.contains("journal") || l.contains("predecessor"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let _ = status(&mut why, &mut i2, Side::Left);
    why.ok("strongSwan's status", s.check_established());
    note_kernel(&mut why, &topo);
    i2.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!("kill -9 left 2 SAs; the restarted iked removed them, tunnel back in {back:.1}s with new SPIs; hand-made SA and policy kept"),
    )
}

fn transport_ike(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (l, r) = (&topo.left, &topo.right);
    let c = Conn::new(CONN)
        .set("left", l.outer4)
        .set("leftid", "moon")
        .set("right", r.outer4)
        .set("rightid", "sun")
        .set("authby", "secret")
        .set("keyexchange", "ikev2")
        .set("type", "transport")
        .set("ike", "aes128gcm16-prfsha256-x25519!")
        .set("esp", "aes128gcm16!")
        .set("ikelifetime", "30s")
        .set("lifetime", "15s")
        .set("margintime", "6s")
        .set("rekeyfuzz", "0%")
        .set("reauth", "no")
        .set("auto", "add");
    let iconf = IpsecConf::new().conn(c.clone()).render();
    let sconf = IpsecConf::new().conn(c.set("margintime", "3s")).render();
    let secrets = psk_secrets("transport-psk-0123456789abcdef");
    let (mut i, mut s) = start_pair(ctx, &topo, &iconf, &sconf, &secrets)?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    why.ok("initiate", i.up(CONN));
    let f = ctx.dir.join("left-out.pcap");
    let mut cap = why.ok(
        "tcpdump",
        Capture::start(&lh.ns, lh.dev, &["-Q", "out"], &f),
    );
    let spec = PingSpec {
        count: 150,
        interval_ms: 200,
        wait_s: 1,
    };
    let p = why.ok("ping", ping(&topo, lh, lh.outer4, rh.outer4, spec));
    let lost = p.as_ref().map(|p| p.lost()).unwrap_or(150);
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!("{lost} of 150 pings lost while the transport SA covering IKE was rekeyed")
    });
    let (ike_clear, esp) = match cap.as_mut() {
        Some(c) => (
            c.count("udp port 500").unwrap_or(0),
            c.count("ip proto 50").unwrap_or(0),
        ),
        None => (0, 0),
    };
    let log = std::fs::read_to_string(i.log()).unwrap_or_default();
    let installs = log
        .lines()
        .filter(|l| {
            l.contains(&format!("CHILD_SA {CONN}{{")) && l.contains("} installed in the kernel")
        })
        .count();
    let ike_rekeys = log
        .lines()
        .map(str::to_lowercase)
        .filter(|l| l.contains("ike_sa") && l.contains("rekeyed"))
        .count();
    why.check(installs >= 3, || {
        format!("CHILD_SA rekeyed fewer than 2 times ({installs} installs)")
    });
    why.check(ike_rekeys >= 1, || "IKE_SA not rekeyed".into());
    // every rekey in the window (3 or more in 30 s) is IKE on UDP 500 in the
    // clear; wrapped into the transport SA it would count as ESP beyond the pings
    why.check(ike_clear >= 6, || {
        format!("IKE in the clear: {ike_clear} datagrams from iked in 30 s of rekeys (want >= 6)")
    });
    why.check((140..=150).contains(&esp), || {
        format!("{esp} ESP packets out for 150 pings: more means IKE went into the SA, fewer that pings left in the clear")
    });
    if let Some(r) = status(&mut why, &mut i, Side::Left) {
        let n = ike_established(&r, CONN).len();
        why.check(n == 1, || format!("iked: {n} IKE_SAs, not exactly one"));
    }
    why.ok("strongSwan's status", s.check_established());
    note_kernel(&mut why, &topo);
    i.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!("150 pings host-to-host, {lost} lost; {installs} CHILD_SAs installed, IKE_SA rekeyed {ike_rekeys}x; {ike_clear} IKE datagrams out in the clear, {esp} ESP"),
    )
}
