//! Dead peer detection on a road-warrior gateway (issue 16): iked (left,
//! `dpdaction=clear`, `dpddelay=2s`, and strongswan.conf's retransmission
//! timers shortened as an operator would for a test) hands strongSwan's
//! starter (right, `leftsourceip=%config`) an address from its pool; the
//! client is then killed with SIGKILL (no DELETE, as a phone that loses its
//! network). iked must notice within its DPD window (dpddelay plus the
//! retransmissions of its liveness check), clear the IKE_SA and its
//! CHILD_SA from the kernel and set the lease offline.

use std::time::{Duration, Instant};

use super::{both, guest, note_kernel, status};
use crate::Result;
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::{Iked, Peer, Starter, StarterOpts, Tunnel};
use crate::probe::{PingSpec, Why, kernel_counts, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Side, Topology};

const POOL: &str = "203.0.113.128/25";
/// iked's strongswan.conf: liveness retransmitted after 1 s and 1.5 s,
/// given up 2.25 s after that.
const TIMERS: &str = "  retransmit_timeout = 1\n  retransmit_base = 1.5\n  retransmit_tries = 2\n";
/// dpddelay 2 s + 1 + 1.5 + 2.25 s of retransmissions, with room for the
/// guest's emulated CPU.
const DPD_WINDOW: Duration = Duration::from_secs(15);

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-dpd",
        "iked gateway with dpdaction=clear, dpddelay=2s: a strongSwan road warrior with a pool address is killed (SIGKILL), iked clears its IKE_SA, CHILD_SA and kernel state and sets the lease offline within the DPD window",
        dpd,
    )]
}

fn dpd(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let gconf = IpsecConf::new()
        .conn(
            Conn::new("rw")
                .set("keyexchange", "ikev2")
                .set("left", lh.outer4)
                .set("leftid", "@moon.strongswan.org")
                .set("leftsubnet", "198.51.100.0/24")
                .set("right", "%any")
                .set("rightid", "@carol.strongswan.org")
                .set("rightsourceip", POOL)
                .set("authby", "psk")
                .set("dpdaction", "clear")
                .set("dpddelay", "2s")
                .set("auto", "add"),
        )
        .render();
    let cconf = IpsecConf::new()
        .conn(
            Conn::new("home")
                .set("keyexchange", "ikev2")
                .set("left", rh.outer4)
                .set("leftid", "@carol.strongswan.org")
                .set("leftsourceip", "%config")
                .set("right", lh.outer4)
                .set("rightid", "@moon.strongswan.org")
                .set("rightsubnet", "198.51.100.0/24")
                .set("authby", "psk")
                .set("auto", "add"),
        )
        .render();
    let secrets = "@moon.strongswan.org @carol.strongswan.org : PSK \"dpd-psk-0123456789abcdef\"\n";
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let t = Tunnel::gcm();
    let opts = StarterOpts {
        conn: Some("home"),
        cacerts: None,
        ipsec_d: None,
        road_warrior: true,
        charon_extra: "",
    };
    let (mut i, mut s) = both(
        || Iked::start_full(&topo, Side::Left, &gconf, secrets, &[], TIMERS, &ld),
        || Starter::start_opts(&topo, Side::Right, &t, &cconf, secrets, &rd, &opts),
    )?;
    let mut why = Why::default();
    let up = s.ipsec(&["up", "home"]).unwrap_or_else(|e| e.to_string());
    why.check(up.contains("established successfully"), || {
        "strongSwan ipsec up failed".into()
    });
    let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note("client: ipsec statusall", &st);
    let vip = super::roadwarrior::client_vip(&st, "home");
    let online = |i: &mut Iked, v: &str, state: &str| {
        i.ipsec(&["leases", POOL, v])
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{v}   {state}")))
    };
    let v = vip.clone().unwrap_or_else(|| "none".into());
    why.check(online(&mut i, &v, "online"), || {
        format!("lease {v} not online in iked's ipsec leases")
    });
    // the client's traffic keeps the IKE_SA alive: no DPD while it talks
    let p = why.ok("ping", ping(&topo, rh, &v, "198.51.100.1", PingSpec::n(3)));
    why.check(p.is_some_and(|p| p.all()), || {
        format!("ping from {v} to 198.51.100.1 failed")
    });
    let (nsa, _) = kernel_counts(&topo, lh).unwrap_or((0, 0));
    why.check(nsa == 2, || format!("iked's kernel holds {nsa} SAs, not 2"));
    note_kernel(&mut why, &topo);
    s.kill_hard();
    let killed = Instant::now();
    let cleared = crate::cmd::poll(DPD_WINDOW + Duration::from_secs(10), || {
        let r = i.report().ok()?;
        let (nsa, npol) = kernel_counts(&topo, lh).ok()?;
        (r.ike_sas.is_empty() && nsa == 0 && npol == 0).then(|| killed.elapsed())
    });
    let rep = status(&mut why, &mut i, Side::Left);
    let log = std::fs::read_to_string(i.log()).unwrap_or_default();
    why.note("iked: its log", &log);
    match cleared {
        Some(t) => why.check(t <= DPD_WINDOW, || {
            format!(
                "cleared after {:.1} s, not within {DPD_WINDOW:?}",
                t.as_secs_f64()
            )
        }),
        None => why.check(false, || {
            format!(
                "iked kept the dead client's SAs: {} IKE_SAs, kernel {:?}",
                rep.as_ref().map_or(0, |r| r.ike_sas.len()),
                kernel_counts(&topo, lh).ok()
            )
        }),
    }
    why.check(online(&mut i, &v, "offline"), || {
        format!("lease {v} not offline after DPD")
    });
    why.check(log.contains("giving up after 2 retransmits"), || {
        "iked's log does not say it gave up on the liveness check".into()
    });
    i.stop();
    s.stop();
    why.done(
        &ctx.dir,
        format!(
            "client {v} killed; iked cleared its SAs and lease in {}",
            cleared.map_or("-".into(), |t| format!("{:.1} s", t.as_secs_f64()))
        ),
    )
}
