//! `leftfirewall=yes` / `lefthostaccess=yes` in a real kernel: both hosts'
//! iptables chains DROP everything but IKE and ESP (strongSwan's testing
//! hosts' `iptables.rules`), so only the rules iked inserts for the
//! CHILD_SA's lifetime let the tunnel's traffic through; clear text to the
//! same address stays dropped, and the rules go with the CHILD_SA.

use std::time::Duration;

use super::{empty, guest, log_has, start_ikeds};
use crate::Result;
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::peer::Peer;
use crate::probe::{PingSpec, Why, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Host, Side, Topology};

const N: &str = "net-net";

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-firewall",
        "iked<->iked leftfirewall=yes + lefthostaccess=yes on DROP chains: the tunnel passes through the rules iked inserts (reqid-bound policy matches), clear text does not, ipsec down removes them",
        firewall,
    )]
}

/// strongSwan's testing hosts' rules: DROP, but IKE and ESP on the link.
fn drop_rules(dev: &str) -> String {
    format!(
        "*filter\n-P INPUT DROP\n-P OUTPUT DROP\n-P FORWARD DROP\n\
         -A INPUT -i {dev} -p 50 -j ACCEPT\n-A OUTPUT -o {dev} -p 50 -j ACCEPT\n\
         -A INPUT -i {dev} -p udp --sport 500 --dport 500 -j ACCEPT\n-A OUTPUT -o {dev} -p udp --dport 500 --sport 500 -j ACCEPT\n\
         -A INPUT -i {dev} -p udp --sport 4500 --dport 4500 -j ACCEPT\n-A OUTPUT -o {dev} -p udp --dport 4500 --sport 4500 -j ACCEPT\n\
         COMMIT\n"
    )
}

/// The rules of `h`'s INPUT/OUTPUT/FORWARD chains that are iked's (policy matches).
fn ipsec_rules(topo: &Topology, h: &Host) -> Result<Vec<String>> {
    let out = topo
        .exec(h, &["iptables", "-S"], Duration::from_secs(10))?
        .ok()?;
    Ok(out
        .stdout
        .lines()
        .filter(|l| l.contains("--pol ipsec"))
        .map(str::to_owned)
        .collect())
}

fn firewall(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let conf = IpsecConf::new()
        .conn(
            Conn::net2net(
                N,
                &topo,
                Family::V4,
                Family::V4,
                "aes128gcm16-prfsha256-x25519!",
                "aes128gcm16!",
            )
            .set("leftfirewall", "yes")
            .set("rightfirewall", "yes")
            .set("lefthostaccess", "yes")
            .set("righthostaccess", "yes"),
        )
        .render();
    let (lh, rh) = (&topo.left, &topo.right);
    for h in [lh, rh] {
        crate::cmd::run_input(
            &["ip", "netns", "exec", h.ns.as_str(), "iptables-restore"],
            &drop_rules(h.dev),
            Duration::from_secs(20),
        )?
        .ok()?;
    }
    let secrets = psk_secrets("lab-psk-firewall-0123456789");
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &conf, &secrets),
            (Side::Right, &conf, &secrets),
        ],
    )?;
    let (l, r) = ds.split_at_mut(1);
    let (l, r) = (&mut l[0], &mut r[0]);
    let mut why = Why::default();
    // before any tunnel: the DROP chains stop the inner traffic
    let before = why.ok(
        "ping before",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(1)),
    );
    why.check(before.as_ref().is_some_and(|p| p.received == 0), || {
        "a ping passed the DROP chains before the tunnel".into()
    });
    why.ok("ikectl up", l.up(N));
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!(
            "ping through the tunnel {}",
            p.as_ref().map(|p| p.ratio()).unwrap_or_default()
        )
    });
    let mut shown = Vec::new();
    for (side, h) in [(Side::Left, lh), (Side::Right, rh)] {
        let rules = why
            .ok("iptables -S", ipsec_rules(&topo, h))
            .unwrap_or_default();
        // hostaccess on a subnet tunnel: FORWARD both ways + INPUT + OUTPUT
        let chains = ["FORWARD", "FORWARD", "INPUT", "OUTPUT"];
        let mut got: Vec<&str> = rules
            .iter()
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        got.sort_unstable();
        let mut want = chains.to_vec();
        want.sort_unstable();
        why.check(got == want, || {
            format!("{}: iked's rules {rules:?}", side.as_str())
        });
        why.check(rules.iter().all(|l| l.contains("--reqid 1 ")), || {
            format!("{}: rules not bound to reqid 1: {rules:?}", side.as_str())
        });
        shown.push(format!("{}: {}", side.as_str(), rules.len()));
    }
    // clear text from the peer's outer address to our inner one: no SA, no rule
    let clear = why.ok(
        "clear ping",
        ping(&topo, rh, rh.outer4, lh.inner4, PingSpec::n(2)),
    );
    why.check(clear.as_ref().is_some_and(|p| p.received == 0), || {
        "clear text passed the firewall beside the tunnel".into()
    });
    why.check(
        log_has(&l.log(), "firewall rules (leftfirewall=yes)", false),
        || "no firewall log line on the left".into(),
    );
    why.ok("ipsec down", l.ipsec(&["down", N]));
    let t = Duration::from_secs(5);
    empty(&mut why, &topo, lh, "on the left after down", t);
    empty(&mut why, &topo, rh, "on the right after down (DELETE)", t);
    for (side, h) in [(Side::Left, lh), (Side::Right, rh)] {
        // the updown thread runs the deletions just after the DELETE
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut left_over = Vec::new();
        while std::time::Instant::now() < deadline {
            left_over = ipsec_rules(&topo, h).unwrap_or_default();
            if left_over.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        why.check(left_over.is_empty(), || {
            format!("{}: rules left after down: {left_over:?}", side.as_str())
        });
    }
    l.stop();
    r.stop();
    why.done(
        &ctx.dir,
        format!(
            "DROP chains: no ping before the tunnel; 3/3 through it with iked's reqid-bound rules ({}); clear text dropped; no rule left after down",
            shown.join(", ")
        ),
    )
}
