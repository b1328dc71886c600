//! Rekeying under traffic against strongSwan's starter: lifetime=20s,
//! ikelifetime=40s, rekeyfuzz=0%; a ping every 0.2 s for 45 s must lose
//! nothing while the CHILD_SA is rekeyed (at least twice) and the IKE_SA
//! once. The initiator's side rekeys first (margintime 8 s against the
//! other's 4 s): iked in `iked-rekey`, strongSwan in `iked-rekey-resp`.

use std::time::Duration;

use super::{both, children, empty, guest, ike_established, note_kernel, start_ikeds, status};
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::{CONN, Peer, Starter, Tunnel};
use crate::probe::{PingSpec, Why, kernel_counts, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};
use crate::{Result, lab_err};
use ike::daemon::status::StatusReport;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "iked-rekey",
            "iked initiates and rekeys first: 225 pings over 45 s, none lost, CHILD_SA rekeyed >= 2 times, IKE_SA once",
            |c| rekey(c, false),
        ),
        guest(
            "iked-rekey-resp",
            "as iked-rekey, strongSwan initiates and rekeys first",
            |c| rekey(c, true),
        ),
    ]
}

fn rekey(ctx: &Ctx, resp: bool) -> Result<String> {
    let topo = Topology::new()?;
    let c = Conn::net2net(
        CONN,
        &topo,
        Family::V4,
        Family::V4,
        "aes128gcm16-prfsha256-x25519!",
        "aes128gcm16-x25519!",
    )
    .set("ikelifetime", "40s")
    .set("lifetime", "20s")
    .set("margintime", "8s")
    .set("rekeyfuzz", "0%")
    .set("reauth", "no");
    // the side that must not rekey first waits longer (its margin is shorter)
    let later = c.clone().set("margintime", "4s");
    let (iconf, sconf) = if resp { (later, c) } else { (c, later) };
    let (iconf, sconf) = (
        IpsecConf::new().conn(iconf).render(),
        IpsecConf::new().conn(sconf).render(),
    );
    let secrets = psk_secrets("rekey-psk-0123456789abcdef");
    let sd = ctx.peer_dir(Side::Right);
    let t = Tunnel::gcm();
    let (mut i, mut s) = both(
        || start_ikeds(ctx, &topo, &[(Side::Left, &iconf, &secrets)]),
        || Starter::start(&topo, Side::Right, &t, &sconf, &secrets, &sd),
    )?;
    let mut i = i.pop().ok_or_else(|| lab_err!("no iked"))?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default();
    let up = if resp {
        s.initiate(Duration::from_secs(40))
    } else {
        i.up(CONN)
    };
    why.ok("initiate", up);
    let spec = PingSpec {
        count: 225,
        interval_ms: 200,
        wait_s: 1,
    };
    let p = why.ok("ping", ping(&topo, lh, lh.inner4, rh.inner4, spec));
    let lost = p.as_ref().map(|p| p.lost()).unwrap_or(225);
    why.check(p.as_ref().is_some_and(|p| p.sent == 225 && p.all()), || {
        format!(
            "packets lost during rekeying ({} of 225 received, {lost} lost)",
            p.as_ref().map(|p| p.received).unwrap_or(0)
        )
    });
    let mut rep = status(&mut why, &mut i, Side::Left);
    // A CHILD_SA rekeyed right after the last ping has carried nothing yet,
    // and a rekey can fall into the extra pings too (the pings leave on the
    // old SA, which is then deleted): ping again, a bounded number of times,
    // until one CHILD_SA shows both directions used in the last seconds.
    let recent_use = |r: &StatusReport| {
        children(r, CONN).iter().any(|c| {
            c.counters.is_some_and(|k| {
                k.idle_in_secs.is_some_and(|s| s <= 3) && k.idle_out_secs.is_some_and(|s| s <= 3)
            })
        })
    };
    for _ in 0..3 {
        if rep.as_ref().is_none_or(recent_use) {
            break;
        }
        let _ = ping(
            &topo,
            lh,
            lh.inner4,
            rh.inner4,
            PingSpec {
                count: 3,
                interval_ms: 200,
                wait_s: 1,
            },
        );
        rep = status(&mut why, &mut i, Side::Left);
    }
    if let Some(rep) = &rep {
        // right after the pings: the LAST use (not the first) of both SAs is seconds ago
        why.check(recent_use(rep), || {
            "iked's status: last use not 0-3 s ago".into()
        });
        let n = ike_established(rep, CONN).len();
        why.check(n == 1, || format!("iked: {n} IKE_SAs, not exactly one"));
    }
    let log = std::fs::read_to_string(i.log()).unwrap_or_default();
    let nchild = log
        .lines()
        .filter(|l| {
            l.contains(&format!("CHILD_SA {CONN}{{")) && l.contains("} installed in the kernel")
        })
        .count();
    let nike = log
        .lines()
        .map(str::to_lowercase)
        .filter(|l| l.contains("ike_sa") && l.contains("rekeyed"))
        .count();
    why.check(nchild >= 3, || {
        format!("CHILD_SA rekeyed fewer than 2 times ({nchild} installs)")
    });
    why.check(nike >= 1, || "IKE_SA not rekeyed".into());
    let st = s.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note("right: ipsec statusall (strongSwan)", &st);
    // a CHILD_SA rekey may be under way right now (REKEYING): look again,
    // bounded, until strongSwan shows an INSTALLED one
    let mut last = s.check_established();
    for _ in 0..20 {
        if last.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        last = s.check_established();
    }
    why.ok("strongSwan's status", last);
    let (nsa, _) = kernel_counts(&topo, lh).unwrap_or((usize::MAX, 0));
    why.check(nsa <= 4, || {
        format!("old SAs left behind in iked's kernel ({nsa})")
    });
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
        format!("225 pings over 45 s, {lost} lost; {nchild} CHILD_SAs installed by iked, IKE_SA rekeyed {nike} time(s)"),
    )
}
