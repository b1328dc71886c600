//! iked as a road-warrior client (`leftsourceip=%config`) of an iked gateway
//! (a pool), in a real kernel: the client puts the assigned virtual IP on its
//! interface and a route in table 220 with that source, so a plain `ping`
//! (no source address given) leaves with the virtual IP, through the tunnel;
//! the gateway routes to the client's address from its own inner address.
//! `ipsec down` takes the address and the routes away again, and stopping
//! iked its `ip rule`.

use std::time::Duration;

use super::{empty, guest, log_has, start_ikeds};
use crate::Result;
use crate::ipsec_conf::{Conn, IpsecConf};
use crate::peer::Peer;
use crate::probe::{PingSpec, Why, in_packets, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Host, Side, Topology};

const N: &str = "rw";
const POOL: &str = "198.51.100.128/25";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-vip-client",
        "iked client (leftsourceip=%config) of an iked gateway: the virtual IP on the client's interface, table 220 routes with src on both, a ping without -I goes through the tunnel; down removes address and routes, stop the rule",
        vip_client,
    )]
}

fn ip(topo: &Topology, h: &Host, args: &[&str]) -> String {
    topo.ip(h, args).unwrap_or_else(|e| e.to_string())
}

fn vip_client(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let (lh, rh) = (&topo.left, &topo.right);
    let proposals = |c: Conn| {
        c.set("keyexchange", "ikev2")
            .set("ike", "aes128gcm16-prfsha256-x25519!")
            .set("esp", "aes128gcm16!")
            .set("authby", "secret")
            .set("auto", "add")
    };
    let client = IpsecConf::new()
        .conn(proposals(
            Conn::new(N)
                .set("left", lh.outer4)
                .set("leftid", "@carol")
                .set("leftsourceip", "%config")
                .set("right", rh.outer4)
                .set("rightid", "@moon")
                .set("rightsubnet", rh.net4),
        ))
        .render();
    let gateway = IpsecConf::new()
        .conn(proposals(
            Conn::new(N)
                .set("left", rh.outer4)
                .set("leftid", "@moon")
                .set("leftsubnet", rh.net4)
                .set("right", "%any")
                .set("rightid", "@carol")
                .set("rightsourceip", POOL),
        ))
        .render();
    let secrets = "@carol @moon : PSK \"lab-psk-vip-0123456789\"\n";
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &client, secrets),
            (Side::Right, &gateway, secrets),
        ],
    )?;
    let (l, r) = ds.split_at_mut(1);
    let (l, r) = (&mut l[0], &mut r[0]);
    let mut why = Why::default();
    why.ok("ipsec up", l.ipsec(&["up", N]));
    let addrs = ip(&topo, lh, &["-4", "addr", "show", "dev", lh.dev]);
    why.note("client addresses", &addrs);
    let words: Vec<&str> = addrs.split_whitespace().collect();
    let vip = words
        .windows(2)
        .filter(|w| w[0] == "inet")
        .filter_map(|w| w[1].strip_suffix("/32"))
        .find(|a| a.starts_with("198.51.100."))
        .map(str::to_owned);
    why.check(vip.is_some(), || {
        format!(
            "no virtual IP from {POOL} on the client's {}: {addrs}",
            lh.dev
        )
    });
    let vip = vip.unwrap_or_else(|| "none".into());
    let t220 = ip(&topo, lh, &["-4", "route", "show", "table", "220"]);
    why.note("client table 220", &t220);
    why.check(
        t220.lines()
            .any(|l| l.starts_with(rh.net4) && l.contains(&format!("src {vip}"))),
        || {
            format!(
                "client: no route to {} with src {vip} in table 220: {t220}",
                rh.net4
            )
        },
    );
    let rules = ip(&topo, lh, &["-4", "rule"]);
    why.check(
        rules
            .lines()
            .any(|l| l.starts_with("220:") && l.contains("lookup 220")),
        || format!("client: no rule 220: {rules}"),
    );
    let g220 = ip(&topo, rh, &["-4", "route", "show", "table", "220"]);
    why.note("gateway table 220", &g220);
    why.check(
        g220.lines()
            .any(|l| l.starts_with(&vip) && l.contains(&format!("src {}", rh.inner4))),
        || {
            format!(
                "gateway: no route to {vip} with src {} in table 220: {g220}",
                rh.inner4
            )
        },
    );
    // no -I: the source comes from table 220
    let before = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    let p = why.ok("ping", ping(&topo, lh, "", rh.inner4, PingSpec::n(3)));
    let after = in_packets(&topo, rh, rh.outer4).unwrap_or(0);
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!(
            "ping {} without a source: {}",
            rh.inner4,
            p.as_ref().map(|p| p.ratio()).unwrap_or_default()
        )
    });
    why.check(after >= before + 3, || {
        format!("the gateway's inbound ESP counter did not grow by 3 ({before} -> {after}): the ping went around the tunnel")
    });
    why.check(
        log_has(&l.log(), "installing new virtual IP", false),
        || "no 'installing new virtual IP' line on the client".into(),
    );
    why.ok("ipsec down", l.ipsec(&["down", N]));
    let t = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on the client after down", t);
    empty(&mut why, &topo, rh, "on the gateway after down (DELETE)", t);
    let addrs = ip(&topo, lh, &["-4", "addr", "show", "dev", lh.dev]);
    why.check(!addrs.contains(&format!("inet {vip}/32")), || {
        format!("client: {vip} still on {} after down", lh.dev)
    });
    let t220 = ip(&topo, lh, &["-4", "route", "show", "table", "220"]);
    why.check(t220.trim().is_empty(), || {
        format!("client: table 220 not empty after down: {t220}")
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut g220 = String::new();
    while std::time::Instant::now() < deadline {
        g220 = ip(&topo, rh, &["-4", "route", "show", "table", "220"]);
        if g220.trim().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    why.check(g220.trim().is_empty(), || {
        format!("gateway: table 220 not empty after down: {g220}")
    });
    why.ok("SIGTERM", l.sigterm(Duration::from_secs(10)));
    let rules = ip(&topo, lh, &["-4", "rule"]);
    why.check(!rules.lines().any(|l| l.starts_with("220:")), || {
        format!("client: rule 220 left after stop: {rules}")
    });
    r.stop();
    why.done(
        &ctx.dir,
        format!(
            "client got {vip} on {}, table 220 routes with src on both sides, 3/3 pings without -I through the tunnel (gateway ESP in +{}); down removed address and routes, stop the rule",
            lh.dev,
            after.saturating_sub(before)
        ),
    )
}
