//! The daemon lab: iked's own guest scenarios, under the names of the shell
//! lab they replaced (so results line up with that history). Each builds its
//! topology, writes its files with [`crate::ipsec_conf`], drives iked through
//! [`Iked`]'s controls (or its VICI socket) and reads iked's state through its
//! own status types (`ike::daemon::status`) or VICI messages
//! ([`crate::vici`], iked's own codec), the kernel's through [`crate::probe`].
//!
//! - [`basic`]: iked <-> iked net-to-net (GCM, CBC/MODP2048, wrong PSK,
//!   forceencaps, IPv6, 4in6, 6in4) and iked <-> strongSwan (swanctl, starter)
//!   in both roles with iked's `down`.
//! - [`install`]: the daemon's kernel installer alone (`interop-lab install-child`).
//! - [`routed`]: VTI, vti6, XFRM interface and GRE-over-transport against the
//!   starter, iked and swanctl, both roles.
//! - [`traps`]: `auto=route` (IPv4 iked<->iked, IPv6 against the starter with
//!   an updown script) and passthrough/drop shunts.
//! - [`nat`]: forceencaps with tcpdump proof, and a real NAT with a mapping change.
//! - [`rekey`]: CHILD_SA and IKE_SA rekeys under a 45 s ping, none lost.
//! - [`vici`]: strongSwan's `swanctl` and the lab's VICI listener against
//!   iked (strongSwan as the peer): counters, events, terminate, rekeys.
//! - [`roadwarrior`]: a certificate + EAP-MSCHAPv2 gateway with per-user conns.
//! - [`rw_clients`]: the gateway against Windows-, Android- and iOS-like clients.
//! - [`rw_users`]: seed 003's gateway with two users at once, an impersonation, DPD.
//! - [`defaultroute`]: `left=%defaultroute` on a host with a dummy address first.
//! - [`robust`]: `kill -9` and restart; a transport SA that covers IKE itself.
//! - [`firewall`]: `leftfirewall=yes` / `lefthostaccess=yes` on DROP chains.
//! - [`mobike`]: a strongSwan client moves; iked follows its UPDATE_SA_ADDRESSES.
//! - [`vip`]: iked as a `leftsourceip=%config` client: its virtual IP and table 220.
//! - [`eap_client`]: iked as the EAP-MSCHAPv2 road warrior of a strongSwan gateway.
//! - [`flood`]: an IKE_SA_INIT flood on an iked gateway serving a strongSwan client.
//! - [`dpd`]: a killed road warrior cleared by DPD.
//! - [`systemd`]: iked's .deb under systemd in a container (on demand).

mod basic;
mod defaultroute;
mod dpd;
mod eap_client;
mod firewall;
mod flood;
pub mod install;
mod mobike;
mod nat;
#[cfg(test)]
mod readme_example;
mod rekey;
mod roadwarrior;
mod robust;
mod routed;
mod rw_clients;
mod rw_users;
mod systemd;
mod traps;
mod vici;
mod vip;

use std::path::Path;
use std::time::Duration;

use ike::daemon::status::{ChildSaView, IkeSaView, StatusReport};

use crate::peer::Iked;
use crate::probe::Why;
use crate::scenario::{Ctx, Place, Scenario};
use crate::topology::{Host, Side, Topology};
use crate::{Result, lab_err};

/// Every daemon-lab scenario.
pub fn all() -> Vec<Scenario> {
    // the long ones first: in the guest they overlap the many short ones
    let mut v = rekey::scenarios();
    v.extend(flood::scenarios());
    v.extend(robust::scenarios());
    v.extend(vici::scenarios());
    v.extend(nat::scenarios());
    v.extend(roadwarrior::scenarios());
    v.extend(rw_clients::scenarios());
    v.extend(rw_users::scenarios());
    v.extend(routed::scenarios());
    v.extend(traps::scenarios());
    v.extend(basic::scenarios());
    v.extend(firewall::scenarios());
    v.extend(vip::scenarios());
    v.extend(eap_client::scenarios());
    v.extend(mobike::scenarios());
    v.extend(dpd::scenarios());
    v.extend(defaultroute::scenarios());
    v.extend(install::scenarios());
    v.extend(systemd::scenarios());
    v
}

/// A scenario of the default guest suite.
pub(crate) fn guest(
    name: &'static str,
    about: &'static str,
    run: fn(&Ctx) -> Result<String>,
) -> Scenario {
    Scenario {
        name,
        place: Place::Guest,
        about,
        suite: true,
        run,
    }
}

/// Runs two starts at once (each is seconds under QEMU's emulation); a
/// daemon that did start is ended (dropped) when the other failed.
pub(crate) fn both<A: Send, B: Send>(
    a: impl FnOnce() -> Result<A> + Send,
    b: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    let (a, b) = std::thread::scope(|s| {
        let (ha, hb) = (s.spawn(a), s.spawn(b));
        (
            ha.join()
                .unwrap_or_else(|_| Err(lab_err!("the first start panicked"))),
            hb.join()
                .unwrap_or_else(|_| Err(lab_err!("the second start panicked"))),
        )
    });
    Ok((a?, b?))
}

/// Starts iked on each `(side, ipsec.conf, ipsec.secrets)` at once (each start
/// is seconds under QEMU's emulation), in `ctx`'s side folders.
pub(crate) fn start_ikeds(
    ctx: &Ctx,
    topo: &Topology,
    sides: &[(Side, &str, &str)],
) -> Result<Vec<Iked>> {
    let started: Vec<Result<Iked>> = std::thread::scope(|s| {
        let hs: Vec<_> = sides
            .iter()
            .map(|&(side, conf, secrets)| {
                let dir = ctx.peer_dir(side);
                s.spawn(move || Iked::start(topo, side, conf, secrets, &dir))
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(lab_err!("iked start panicked")))
            })
            .collect()
    });
    started.into_iter().collect()
}

/// The IKE_SAs of `conn` in state ESTABLISHED.
pub(crate) fn ike_established<'a>(rep: &'a StatusReport, conn: &str) -> Vec<&'a IkeSaView> {
    rep.ike_sas
        .iter()
        .filter(|sa| sa.conn == conn && sa.state == "ESTABLISHED")
        .collect()
}

/// The installed CHILD_SAs of `conn` (on any IKE_SA).
pub(crate) fn children<'a>(rep: &'a StatusReport, conn: &str) -> Vec<&'a ChildSaView> {
    rep.ike_sas
        .iter()
        .flat_map(|sa| sa.children.iter())
        .filter(|c| c.conn == conn && c.installed)
        .collect()
}

/// Inbound packets of `conn`'s installed CHILD_SAs, as iked reports the
/// kernel's counters.
pub(crate) fn packets_in(rep: &StatusReport, conn: &str) -> u64 {
    children(rep, conn)
        .iter()
        .filter_map(|c| c.counters.map(|k| k.packets_in))
        .sum()
}

/// The kernel state of both sides (keys redacted) into the report.
pub(crate) fn note_kernel(why: &mut Why, topo: &Topology) {
    for h in [&topo.left, &topo.right] {
        match crate::check::kernel_state(topo, h) {
            Ok((_, _, raw)) => why.note(&format!("kernel of {}", h.ns), &raw),
            Err(e) => why.note(&format!("kernel of {}", h.ns), &e.to_string()),
        }
    }
}

/// iked's status in the report (`ipsec statusall` text) and its typed
/// snapshot for the checks.
pub(crate) fn status(why: &mut Why, iked: &mut Iked, side: Side) -> Option<StatusReport> {
    // the snapshot first: checks on "last used N s ago" want it fresh
    let rep = why.ok(&format!("{} status", side.as_str()), iked.report());
    let text = iked.ipsec(&["statusall"]).unwrap_or_else(|e| e.to_string());
    why.note(&format!("{}: ipsec statusall (iked)", side.as_str()), &text);
    rep
}

/// Requires `h`'s kernel to be empty within `bound`.
pub(crate) fn empty(why: &mut Why, topo: &Topology, h: &Host, when: &str, bound: Duration) {
    let r = crate::probe::kernel_empty(topo, h, bound);
    why.ok(&format!("kernel not empty {when}"), r);
}

/// Does `log` contain `needle` (case-insensitive when `nocase`)?
pub(crate) fn log_has(log: &Path, needle: &str, nocase: bool) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if nocase {
        text.to_lowercase().contains(&needle.to_lowercase())
    } else {
        text.contains(needle)
    }
}
