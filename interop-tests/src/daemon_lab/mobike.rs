//! MOBIKE (RFC 4555) in both roles. The client (left) builds the tunnel,
//! then its address goes away and another comes (Wi-Fi to LTE, in one
//! namespace); the client roams and sends UPDATE_SA_ADDRESSES from the new
//! address; the gateway must move the IKE_SA and its kernel SAs and
//! policies there, and the tunnel carries traffic again without a new
//! IKE_SA.
//! - `iked-mobike`: strongSwan's starter (MOBIKE on, as phones and laptops
//!   have it) is the client, iked the gateway that follows.
//! - `iked-mobike-client`: iked is the client that moves (it notices the
//!   address change, finds the new route's source and updates the peer),
//!   strongSwan's starter the gateway.

use std::time::Duration;

use super::guest;
use crate::peer::{PeerKind, Tunnel};
use crate::probe::{PingSpec, in_packets, kernel, ping};
use crate::scenario::{Ctx, Scenario, tunnel_then};
use crate::{Result, lab_err};

/// The client's address after the move.
const MOVED: &str = "192.0.2.11";

pub(super) fn scenarios() -> Vec<Scenario> {
    // A retransmitted request is answered over the path the retransmit
    // came on (RFC 4555 §3.5): the client's address-list INFORMATIONAL,
    // sent from the old address just before it goes, is retransmitted from
    // the new one.
    vec![
        guest(
            "iked-mobike",
            "strongSwan's starter (MOBIKE) moves to a new address after the tunnel is up: iked follows its UPDATE_SA_ADDRESSES (kernel SAs with their sequence numbers and policy templates to the new address), pings pass through the same CHILD_SA",
            |c| mobike(c, false),
        ),
        guest(
            "iked-mobike-client",
            "iked (MOBIKE) moves to a new address after the tunnel is up: it sends UPDATE_SA_ADDRESSES from there and moves its own SAs, strongSwan's starter follows, pings pass through the same CHILD_SA",
            |c| mobike(c, true),
        ),
    ]
}

/// `iked_moves`: iked is the client (left) that moves, else strongSwan is.
fn mobike(ctx: &Ctx, iked_moves: bool) -> Result<String> {
    let (client, gateway) = if iked_moves {
        (PeerKind::Iked, PeerKind::Starter)
    } else {
        (PeerKind::Starter, PeerKind::Iked)
    };
    tunnel_then(ctx, &Tunnel::gcm(), client, gateway, |topo, client, gw| {
        let iked_log = || {
            let iked = if iked_moves { client.log() } else { gw.log() };
            std::fs::read_to_string(iked).unwrap_or_default()
        };
        let (lh, rh) = (&topo.left, &topo.right);
        // the new address is a secondary one of the same subnet: keep it
        // when the primary goes
        let key = format!("net.ipv4.conf.{}.promote_secondaries=1", lh.dev);
        topo.exec(lh, &["sysctl", "-qw", &key], Duration::from_secs(10))?
            .ok()?;
        topo.ip(lh, &["addr", "add", &format!("{MOVED}/24"), "dev", lh.dev])?;
        topo.ip(
            lh,
            &["addr", "del", &format!("{}/24", lh.outer4), "dev", lh.dev],
        )?;
        // the gateway's outbound SA goes to the new address
        let moved = crate::cmd::poll(Duration::from_secs(40), || {
            let (sas, _) = kernel(topo, rh).ok()?;
            let sa = sas.iter().any(|s| s.src == rh.outer4 && s.dst == MOVED);
            let old = sas.iter().any(|s| s.dst == lh.outer4);
            let pols = topo
                .exec(rh, &["ip", "xfrm", "policy"], Duration::from_secs(10))
                .ok()?
                .stdout;
            let pol = pols.contains(&format!("tmpl src {} dst {MOVED}", rh.outer4))
                && pols.contains(&format!("tmpl src {MOVED} dst {}", rh.outer4));
            (sa && !old && pol).then_some(())
        });
        if moved.is_none() {
            let (sas, _) = kernel(topo, rh)?;
            let pols = topo
                .exec(rh, &["ip", "xfrm", "policy"], Duration::from_secs(10))?
                .stdout;
            return Err(lab_err!(
                "the gateway's kernel did not follow the client to {MOVED} within 40 s: SAs {sas:?}, policies {pols}"
            ));
        }
        if iked_moves {
            // and the client's own SAs leave from there
            let (sas, _) = kernel(topo, lh)?;
            if !sas.iter().any(|s| s.src == MOVED && s.dst == rh.outer4)
                || sas.iter().any(|s| s.src == lh.outer4 || s.dst == lh.outer4)
            {
                return Err(lab_err!("iked's own SAs are not at {MOVED}: {sas:?}"));
            }
        }
        if !iked_log().contains("UPDATE_SA_ADDRESSES") {
            return Err(lab_err!("iked's log has no UPDATE_SA_ADDRESSES line"));
        }
        // the return routability check (RFC 4555 §3.6), as strongSwan logs
        // the exchange: the update carries a COOKIE2, the answer echoes it
        let swan = if iked_moves { gw.log() } else { client.log() };
        let swan = std::fs::read_to_string(swan).unwrap_or_default();
        let req = swan.lines().any(|l| {
            l.contains("INFORMATIONAL request")
                && l.contains("UPD_SA_ADDR")
                && l.contains("COOKIE2")
        });
        let resp = swan
            .lines()
            .any(|l| l.contains("INFORMATIONAL response") && l.contains("COOKIE2"));
        if !req || !resp {
            return Err(lab_err!(
                "strongSwan's log shows no COOKIE2 in UPDATE_SA_ADDRESSES (request {req}, answer {resp})"
            ));
        }
        let ikes = iked_log().matches("established between").count();
        let before = in_packets(topo, rh, rh.outer4)?;
        let p = ping(topo, lh, lh.inner4, rh.inner4, PingSpec::n(3))?;
        let after = in_packets(topo, rh, rh.outer4)?;
        if !p.all() || after < before + 3 {
            return Err(lab_err!(
                "after the move: ping {} and the gateway's inbound ESP {before} -> {after}",
                p.ratio()
            ));
        }
        if iked_log().matches("established between").count() != ikes {
            return Err(lab_err!(
                "a new IKE_SA was made instead of moving the old one"
            ));
        }
        let who = if iked_moves {
            "iked sent UPDATE_SA_ADDRESSES, strongSwan followed"
        } else {
            "iked followed its UPDATE_SA_ADDRESSES"
        };
        Ok(format!(
            "client moved {} -> {MOVED}; {who} (SAs and policies at {MOVED}), ping 3/3 through the same CHILD_SA (gateway's ESP in +{})",
            lh.outer4,
            after - before
        ))
    })
}
