//! `iked-flood`: an iked road-warrior gateway (right) under a bounded
//! IKE_SA_INIT flood from a third namespace (900 requests in 12 s from 60
//! addresses of 203.0.113.128/26 that never answer a COOKIE, as spoofed
//! sources cannot), while a real strongSwan client (left, the starter)
//! keeps an established tunnel and brings up a second IKE_SA. Required:
//! COOKIEs engage, the half-open table stays bounded, the second IKE_SA is
//! up within 5 s, the established tunnel loses no ping and answers every
//! DPD during the flood, and iked's counters show it.

use std::time::{Duration, Instant};

use super::{both, children, guest, ike_established, note_kernel, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{CONN, Peer, Starter, Tunnel};
use crate::probe::{PingSpec, Why, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err};

/// 75/s: what iked under the guest's emulation (TCG, 10-50x slower than the
/// host) answers while the other scenarios run beside it; more starves them.
const COUNT: u64 = 900;
const SECONDS: u64 = 12;
/// The gateway's `cookie_threshold` default (10), the second IKE_SA and slack
/// for one sample taken between a half-open SA's birth and its COOKIE peers.
const HALF_OPEN_BOUND: u64 = 12;

/// On request only (`LAB_SCENARIOS=iked-flood`): beside the other scenarios
/// in one emulated guest, the flood's CPU starves them (a 20 s `iked
/// --check-config`, charon not answering) and they starve its pings.
pub(super) fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        suite: false,
        ..guest(
            "iked-flood",
            "IKE_SA_INIT flood (900 in 12 s, 60 spoofed sources) on an iked gateway: COOKIEs, half-open bounded, a new client up in <= 5 s, the established tunnel passes pings and DPD",
            flood,
        )
    }]
}

fn conf(topo: &Topology, gateway: bool) -> String {
    let (l, r) = (&topo.left, &topo.right);
    let base = |name: &str, id: &str, sub: &str| {
        let c = Conn::new(name)
            .set("left", l.outer4)
            .set("leftid", id)
            .set("leftsubnet", sub)
            .set("right", if gateway { "%any" } else { r.outer4 })
            .set("rightid", "gw.example.org")
            .set("rightsubnet", &format!("{}/32", r.inner4))
            .set("authby", "secret")
            .set("keyexchange", "ikev2")
            .set("ike", "aes128gcm16-prfsha256-x25519!")
            .set("esp", "aes128gcm16!")
            .set("auto", "add");
        if gateway {
            c
        } else {
            c.set("dpddelay", "1s").set("dpdaction", "clear")
        }
    };
    if gateway {
        // one conn for every client: the gateway is the "right" of the client's view
        let c = Conn::new(CONN)
            .set("left", r.outer4)
            .set("leftid", "gw.example.org")
            .set("leftsubnet", &format!("{}/32", r.inner4))
            .set("right", "%any")
            .set("rightid", "%any")
            .set("rightsubnet", l.net4)
            .set("authby", "secret")
            .set("keyexchange", "ikev2")
            .set("ike", "aes128gcm16-prfsha256-x25519!")
            .set("esp", "aes128gcm16!")
            .set("auto", "add");
        IpsecConf::new().conn(c).render()
    } else {
        IpsecConf::new()
            .conn(base(CONN, "est.example.org", &format!("{}/32", l.inner4)))
            .conn(base("late", "late.example.org", "198.51.100.2/32"))
            .render()
    }
}

/// The largest half-open count iked reported while `until` has not passed.
fn sample_half_open(i: &mut crate::peer::Iked, until: Instant) -> (u64, usize) {
    let (mut peak, mut n) = (0, 0);
    while Instant::now() < until && n < 100 {
        if let Ok(r) = i.report() {
            peak = peak.max(r.stats.half_open);
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    (peak, n)
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

fn flood(ctx: &Ctx) -> Result<String> {
    let mut topo = Topology::new()?;
    let fns = topo.add_flooder()?;
    let secrets = ": PSK \"flood-psk-0123456789abcdef\"\n".to_string();
    let (gconf, cconf) = (conf(&topo, true), conf(&topo, false));
    let sd = ctx.peer_dir(Side::Left);
    let t = Tunnel::gcm();
    let (mut i, mut s) = both(
        || start_ikeds(ctx, &topo, &[(Side::Right, &gconf, &secrets)]),
        || Starter::start(&topo, Side::Left, &t, &cconf, &secrets, &sd),
    )?;
    let mut i = i.pop().ok_or_else(|| lab_err!("no iked"))?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    why.ok(
        "initiate the established tunnel",
        s.initiate(Duration::from_secs(40)),
    );
    let before = ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3));
    why.check(before.as_ref().is_ok_and(|p| p.all()), || {
        "no traffic through the tunnel before the flood".into()
    });
    let log_before = std::fs::read_to_string(s.log()).unwrap_or_default().len();
    let exe = std::env::current_exe()
        .map_err(|e| lab_err!("own executable: {e}"))?
        .display()
        .to_string();
    let (count, secs) = (COUNT.to_string(), SECONDS.to_string());
    let flood_start = Instant::now();
    let until = flood_start + Duration::from_secs(SECONDS);
    let ir = &mut i;
    let (flooded, (peak, samples), pinged, late) = std::thread::scope(|sc| {
        let f = sc.spawn(|| {
            crate::cmd::run(
                &[
                    "ip",
                    "netns",
                    "exec",
                    &fns,
                    &exe,
                    "flood",
                    "--to",
                    rh.outer4,
                    "--sources",
                    "203.0.113.131-190",
                    "--count",
                    &count,
                    "--seconds",
                    &secs,
                ],
                Duration::from_secs(SECONDS + 30),
            )
        });
        let h = sc.spawn(move || sample_half_open(ir, until));
        std::thread::sleep(Duration::from_secs(2));
        // during the flood: pings on the established tunnel, a new IKE_SA
        let p = sc.spawn(|| {
            ping(
                &topo,
                lh,
                lh.inner4,
                rh.inner4,
                PingSpec {
                    count: 20,
                    interval_ms: 200,
                    wait_s: 1,
                },
            )
        });
        let t0 = Instant::now();
        let up = s.ipsec(&["up", "late"]);
        let up_secs = t0.elapsed().as_secs_f64();
        (
            f.join().unwrap_or_else(|_| Err(lab_err!("flood panicked"))),
            h.join().unwrap_or((0, 0)),
            p.join().unwrap_or_else(|_| Err(lab_err!("ping panicked"))),
            (up, up_secs),
        )
    });
    let flood_line = match flooded {
        Ok(o) => o.stdout.trim().to_string(),
        Err(e) => {
            why.check(false, || format!("flood: {e}"));
            String::new()
        }
    };
    let sent: u64 = flood_line
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    why.check(sent >= COUNT * 95 / 100, || {
        format!("the flood sent {sent} of {COUNT} requests: {flood_line}")
    });
    let (up, up_secs) = late;
    let up_ok = up
        .as_ref()
        .is_ok_and(|o| o.contains("established successfully"));
    why.check(up_ok && up_secs <= 5.0, || {
        format!("second IKE_SA during the flood: up {up_ok} in {up_secs:.1}s (want <= 5 s): {up:?}")
    });
    let lost = pinged.as_ref().map(|p| p.lost()).unwrap_or(20);
    why.check(pinged.as_ref().is_ok_and(|p| p.all()), || {
        format!("the established tunnel lost {lost} of 20 pings during the flood")
    });
    why.check(samples > 0 && peak <= HALF_OPEN_BOUND, || {
        format!("half-open peak {peak} over {samples} samples (bound {HALF_OPEN_BOUND})")
    });
    // DPD during the flood: strongSwan (dpddelay=1s) asks when idle; iked answers each
    std::thread::sleep(Duration::from_secs(2));
    let log = std::fs::read_to_string(s.log()).unwrap_or_default();
    let during = log.get(log_before..).unwrap_or_default();
    let dpd_sent = count_lines(during, "sending DPD request");
    let dpd_answered = count_lines(during, "parsed INFORMATIONAL response");
    why.check(dpd_sent >= 2 && dpd_answered + 1 >= dpd_sent, || {
        format!("DPD during the flood: {dpd_sent} requests, {dpd_answered} answers")
    });
    let rep = status(&mut why, &mut i, Side::Right);
    let mut figures = String::new();
    if let Some(r) = &rep {
        let st = &r.stats;
        why.check(st.cookies_sent >= sent * 9 / 10, || {
            format!("COOKIEs sent {} for {sent} requests", st.cookies_sent)
        });
        let n = ike_established(r, CONN).len();
        why.check(n == 2, || format!("iked: {n} established IKE_SAs, want 2"));
        why.check(children(r, CONN).len() == 2, || {
            format!("iked: {} CHILD_SAs, want 2", children(r, CONN).len())
        });
        figures = format!(
            "cookies sent {}, INIT dropped {}, datagrams dropped {}, half-open peak {peak} ({samples} samples)",
            st.cookies_sent, st.init_dropped, st.dropped
        );
    }
    why.ok("strongSwan's status", s.check_established());
    note_kernel(&mut why, &topo);
    i.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!(
            "{flood_line} ({:.0}/s offered); {figures}; second IKE_SA up in {up_secs:.1}s; 20 pings on the established tunnel, {lost} lost; DPD {dpd_sent} asked, {dpd_answered} answered",
            COUNT as f64 / SECONDS as f64
        ),
    )
}
