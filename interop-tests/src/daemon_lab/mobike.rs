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
//! - `iked-mobike-failover`: the gateway (strongSwan's starter) gets a
//!   second address and announces it (ADDITIONAL_IP4_ADDRESS), then its
//!   first stops receiving; iked, the client, probes the announced
//!   addresses (that one and the IPv6 address of IKE_AUTH's list) with its
//!   retransmits and moves the IKE_SA and the CHILD_SAs to the first that
//!   answers.

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
        guest(
            "iked-mobike-failover",
            "strongSwan's gateway announces a second address, then its first goes dark (INPUT DROP): iked's retransmits probe the announced address, strongSwan answers there, iked moves the IKE_SA and CHILD_SAs to it (UPDATE_SA_ADDRESSES) and pings pass again",
            failover,
        ),
    ]
}

/// The gateway's second address, which it announces.
const GW2: &str = "192.0.2.22";

fn failover(ctx: &Ctx) -> Result<String> {
    tunnel_then(
        ctx,
        &Tunnel::gcm(),
        PeerKind::Iked,
        PeerKind::Starter,
        |topo, client, gw| {
            let (lh, rh) = (&topo.left, &topo.right);
            let log_path = client.log();
            let iked_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            let t0 = std::time::Instant::now();
            topo.ip(rh, &["addr", "add", &format!("{GW2}/24"), "dev", rh.dev])?;
            // strongSwan tells its MOBIKE peers its new address list
            let announced = "peer's additional addresses: ";
            let knows = |log: &str| {
                log.lines()
                    .filter_map(|l| l.split_once(announced))
                    .any(|(_, list)| list.split(", ").any(|a| a == GW2))
            };
            if crate::cmd::poll(Duration::from_secs(30), || knows(&iked_log()).then_some(()))
                .is_none()
            {
                return Err(lab_err!(
                    "iked never logged '{announced}... {GW2}' within 30 s of the gateway's new address"
                ));
            }
            let learned = t0.elapsed().as_secs_f64();
            // the first uplink goes dark: nothing sent to it arrives
            topo.exec(
                rh,
                &["iptables", "-I", "INPUT", "-d", rh.outer4, "-j", "DROP"],
                Duration::from_secs(10),
            )?
            .ok()?;
            let vici = client
                .as_iked()
                .ok_or_else(|| lab_err!("left is not iked"))?
                .vici()
                .to_path_buf();
            let uri = format!("unix://{}", vici.display());
            let t1 = std::time::Instant::now();
            // a request is needed for iked to notice: rekey the CHILD_SA
            // (swanctl itself takes up to 30 s to start under emulation)
            let out = crate::cmd::run(
                &[
                    "swanctl",
                    "--rekey",
                    "--uri",
                    &uri,
                    "--child",
                    crate::peer::CONN,
                ],
                Duration::from_secs(90),
            )?;
            if !out.status.success() {
                return Err(lab_err!("swanctl --rekey: {}{}", out.stdout, out.stderr));
            }
            // the gateway announced GW2 and its IPv6 address: the first
            // probe answered wins (both are the gateway's other uplinks)
            let others = [GW2, rh.outer6];
            let dark = rh.outer4;
            let moved = crate::cmd::poll(Duration::from_secs(60), || {
                let (gw_sas, _) = kernel(topo, rh).ok()?;
                let (cl_sas, _) = kernel(topo, lh).ok()?;
                let untouched = |sas: &[crate::check::XfrmSa]| {
                    !sas.iter().any(|s| s.src == dark || s.dst == dark)
                };
                if !untouched(&gw_sas) || !untouched(&cl_sas) {
                    return None;
                }
                others.into_iter().find(|to| {
                    gw_sas.iter().any(|s| s.src == *to)
                        && gw_sas.iter().any(|s| s.dst == *to)
                        && cl_sas.iter().any(|s| s.dst == *to)
                })
            });
            let Some(to) = moved else {
                let (gw_sas, _) = kernel(topo, rh)?;
                let (cl_sas, _) = kernel(topo, lh)?;
                return Err(lab_err!(
                    "the SAs did not move from {dark} to {others:?} within 60 s: gateway {gw_sas:?}, iked {cl_sas:?}"
                ));
            };
            let log = iked_log();
            // from the rekey's first send to the accepted update, by iked's clock
            let at = |what: &str| log.lines().find(|l| l.contains(what)).and_then(log_secs);
            let took = match (
                at("rekeying CHILD_SA"),
                at("peer accepted UPDATE_SA_ADDRESSES"),
            ) {
                (Some(a), Some(b)) => format!("{:.1} s after the rekey was sent", b - a),
                _ => format!(
                    "{:.1} s after swanctl --rekey started",
                    t1.elapsed().as_secs_f64()
                ),
            };
            if !log.contains(&format!("peer answered at its additional address {to}")) {
                return Err(lab_err!(
                    "iked's log has no 'peer answered at its additional address {to}'"
                ));
            }
            let pols = topo
                .exec(rh, &["ip", "xfrm", "policy"], Duration::from_secs(10))?
                .stdout;
            let client_at = if to.contains(':') {
                lh.outer6
            } else {
                lh.outer4
            };
            if !pols.contains(&format!("tmpl src {to} dst {client_at}")) {
                return Err(lab_err!(
                    "the gateway's policies do not leave from {to}: {pols}"
                ));
            }
            let ikes = log.matches("established between").count();
            let before = in_packets(topo, rh, to)?;
            let p = ping(topo, lh, lh.inner4, rh.inner4, PingSpec::n(3))?;
            let after = in_packets(topo, rh, to)?;
            if !p.all() || after < before + 3 {
                return Err(lab_err!(
                    "after the fail-over: ping {} and the gateway's inbound ESP at {to} {before} -> {after}",
                    p.ratio()
                ));
            }
            if iked_log().matches("established between").count() != ikes {
                return Err(lab_err!(
                    "a new IKE_SA was made instead of moving the old one"
                ));
            }
            let _ = gw;
            Ok(format!(
                "gateway announced {GW2} after set-up (iked learned it in {learned:.1} s; {} in IKE_AUTH); {dark} dark; iked's retransmit probed and moved the IKE_SA and CHILD_SAs to {to} {took}; ping 3/3 (gateway's ESP in at {to} +{})",
                rh.outer6,
                after - before
            ))
        },
    )
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

/// The time of day, in seconds, of one of iked's log lines
/// (`2026-12-03T07:57:37.567490Z  INFO ...`).
fn log_secs(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?.split_once('T')?.1;
    let mut parts = t.trim_end_matches('Z').split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_times() {
        let l = "2026-12-03T07:57:37.567490Z  INFO ike_sa{name=gw id=1}: ike: retransmit 1";
        let s = super::log_secs(l).unwrap();
        assert!((s - (7.0 * 3600.0 + 57.0 * 60.0 + 37.567490)).abs() < 1e-6);
        assert_eq!(super::log_secs("garbage"), None);
    }
}
