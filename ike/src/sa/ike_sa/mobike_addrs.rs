//! MOBIKE's address lists (RFC 4555 §3.4, §3.6) and the use made of them.
//!
//! - Both sides announce their other addresses, in IKE_AUTH along with
//!   MOBIKE_SUPPORTED and again in an INFORMATIONAL request when they
//!   change: one ADDITIONAL_IP4_ADDRESS / ADDITIONAL_IP6_ADDRESS per address
//!   (not the one the IKE_SA uses, nor loopback, link-local, multicast or
//!   unspecified ones, at most [`MAX_ADDRS`]), or NO_ADDITIONAL_ADDRESSES
//!   when there is none, as strongSwan does. A gateway with a second uplink
//!   thus tells its MOBIKE clients where else it can be reached.
//! - The peer's list, taken only from authenticated messages, replaces the
//!   one before (§3.6); what is malformed or could not be a peer's address
//!   (ours, loopback, multicast, ...) is left out.
//! - Initiator: when a request goes unanswered and is retransmitted, each
//!   retransmit also goes to every address the peer announced, from the
//!   address the route towards it leaves from (path probing, §3.5). An
//!   authenticated answer from one of them moves the IKE_SA there and an
//!   UPDATE_SA_ADDRESSES follows, with its COOKIE2, so a gateway whose first
//!   uplink failed keeps its clients. A responder never moves on its own.

use super::IkeSa;
use super::mobike::Mobike;
use super::window::{Queued, notify};
use crate::sa::api::Transmit;
use crate::sa::ctx::Ctx;
use crate::wire::{NotifyType, Payload};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use tracing::{debug, info};

/// The most addresses announced, and the most of the peer's kept (each one
/// costs a datagram per retransmit when probing).
pub(in crate::sa) const MAX_ADDRS: usize = 8;

/// Could `ip` be a host's address on another path? Not loopback,
/// unspecified, multicast, broadcast or link-local (which needs a scope
/// the notify cannot carry).
fn reachable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_unicast_link_local()
                || a.to_ipv4_mapped().is_some())
        }
    }
}

/// The addresses of ours to announce while the IKE_SA uses `in_use`.
pub(in crate::sa) fn announceable(ours: &[IpAddr], in_use: IpAddr) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = ours
        .iter()
        .filter(|a| **a != in_use && reachable(a))
        .copied()
        .collect();
    v.dedup();
    v.truncate(MAX_ADDRS);
    v
}

/// The notifies that carry `addrs` (NO_ADDITIONAL_ADDRESSES for none).
pub(in crate::sa) fn list_payloads(addrs: &[IpAddr]) -> Vec<Payload> {
    if addrs.is_empty() {
        return vec![notify(NotifyType::NO_ADDITIONAL_ADDRESSES, Vec::new())];
    }
    addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => notify(NotifyType::ADDITIONAL_IP4_ADDRESS, v4.octets().to_vec()),
            IpAddr::V6(v6) => notify(NotifyType::ADDITIONAL_IP6_ADDRESS, v6.octets().to_vec()),
        })
        .collect()
}

/// The peer's address list in `payloads`: None when the message carries
/// none (the list before stays), else the addresses it names that could be
/// the peer's (not `ours`), at most [`MAX_ADDRS`].
pub(in crate::sa) fn peer_list(payloads: &[Payload], ours: &[IpAddr]) -> Option<Vec<IpAddr>> {
    let mut present = false;
    let mut v = Vec::new();
    for p in payloads {
        let Payload::Notify(n) = p else { continue };
        let ip = match n.notify_type {
            NotifyType::NO_ADDITIONAL_ADDRESSES => {
                present = true;
                continue;
            }
            NotifyType::ADDITIONAL_IP4_ADDRESS => {
                present = true;
                <[u8; 4]>::try_from(n.data.as_slice())
                    .map(IpAddr::from)
                    .ok()
            }
            NotifyType::ADDITIONAL_IP6_ADDRESS => {
                present = true;
                <[u8; 16]>::try_from(n.data.as_slice())
                    .map(IpAddr::from)
                    .ok()
            }
            _ => continue,
        };
        match ip {
            Some(ip) if reachable(&ip) && !ours.contains(&ip) && !v.contains(&ip) => {
                if v.len() < MAX_ADDRS {
                    v.push(ip);
                }
            }
            Some(ip) => debug!(target: "ike", "peer's additional address {ip} left out"),
            None => {
                debug!(target: "ike", "malformed {} ({} octets) left out", n.notify_type, n.data.len())
            }
        }
    }
    present.then_some(v)
}

impl IkeSa {
    /// Our address list for a message we build now (IKE_AUTH with
    /// MOBIKE_SUPPORTED, UPDATE_SA_ADDRESSES, an address update); it is
    /// what the peer knows from then on.
    pub(super) fn address_list(&mut self, ctx: &Ctx) -> Vec<Payload> {
        self.announced = announceable(&ctx.local_addrs, self.local.ip());
        list_payloads(&self.announced)
    }

    /// The peer's address list, from a message that authenticated.
    pub(super) fn take_peer_addresses(&mut self, ctx: &Ctx, payloads: &[Payload]) {
        let Some(list) = peer_list(payloads, &ctx.local_addrs) else {
            return;
        };
        if list != self.peer_addrs {
            info!(target: "ike", "{}: peer's additional addresses: {}", self.name(),
            if list.is_empty() { "none".to_string() } else {
                list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            });
        }
        self.peer_addrs = list;
    }

    /// Initiator, retransmitting `packets`: they also go to every address
    /// the peer announced, over the route towards each.
    pub(super) fn probe_paths(&self, ctx: &mut Ctx, packets: &[Vec<u8>]) {
        if self.mobike != Mobike::Initiator {
            return;
        }
        for ip in &self.peer_addrs {
            if *ip == self.remote.ip() {
                continue;
            }
            let Some(src) = ctx.routes.source_for(*ip) else {
                debug!(target: "ike", "{}: no route towards the peer's address {ip}, not probed", self.name());
                continue;
            };
            let remote = SocketAddr::new(*ip, self.remote.port());
            debug!(target: "ike", "{}: probing {remote} from {src}", self.name());
            for data in packets {
                ctx.transmits.push_back(Transmit {
                    local: SocketAddr::new(src, self.local.port()),
                    remote,
                    data: data.clone(),
                });
            }
        }
    }

    /// Initiator: an authenticated answer came over `path` from another
    /// address the peer announced (a probe got through): the IKE_SA moves
    /// to that path and tells the peer.
    pub(super) fn path_answered(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        path: (SocketAddr, SocketAddr),
    ) {
        let (local, from) = path;
        if self.mobike != Mobike::Initiator || from.ip() == self.remote.ip() {
            return;
        }
        if !self.peer_addrs.contains(&from.ip()) {
            debug!(target: "ike", "{}: answer from {from}, which the peer did not announce: not moving", self.name());
            return;
        }
        info!(target: "ike", "{}: peer answered at its additional address {} ({} did not), moving the IKE_SA (MOBIKE)", self.name(), from.ip(), self.remote.ip());
        self.local = local;
        self.remote = from;
        self.queue_update(ctx, now);
    }

    /// Our addresses changed: a MOBIKE responder tells the peer its new
    /// list when it differs from the one announced.
    pub(in crate::sa) fn addresses_changed(&mut self, ctx: &mut Ctx, now: Instant) {
        if self.mobike != Mobike::Responder || !self.is_established() {
            return;
        }
        if announceable(&ctx.local_addrs, self.local.ip()) == self.announced {
            return;
        }
        let queued = self
            .window
            .queue
            .iter()
            .any(|q| matches!(q, Queued::Addresses));
        if !queued {
            info!(target: "ike", "{}: our addresses changed, sending the peer the new list (MOBIKE)", self.name());
            self.queue_request(ctx, now, Queued::Addresses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_other_reachable_addresses_are_announced() {
        let ours = [
            "192.0.2.1",
            "127.0.0.1",
            "198.51.100.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "2001:db8::1",
            "0.0.0.0",
            "::ffff:192.0.2.9",
        ]
        .map(ip);
        assert_eq!(
            announceable(&ours, ip("192.0.2.1")),
            vec![ip("198.51.100.1"), ip("2001:db8::1")]
        );
        let many: Vec<IpAddr> = (1..=20).map(|i| ip(&format!("203.0.113.{i}"))).collect();
        assert_eq!(announceable(&many, ip("192.0.2.1")).len(), MAX_ADDRS);
        assert_eq!(
            list_payloads(&[]),
            vec![notify(NotifyType::NO_ADDITIONAL_ADDRESSES, Vec::new())]
        );
    }

    #[test]
    fn the_peers_list_keeps_only_what_could_be_its_address() {
        let ours = [ip("192.0.2.1")];
        let sent = list_payloads(&[ip("198.51.100.7"), ip("2001:db8::7")]);
        assert_eq!(
            peer_list(&sent, &ours),
            Some(vec![ip("198.51.100.7"), ip("2001:db8::7")])
        );
        // no list: the one before stays; NO_ADDITIONAL_ADDRESSES: empty
        assert_eq!(peer_list(&[], &ours), None);
        assert_eq!(peer_list(&list_payloads(&[]), &ours), Some(vec![]));
        // ours, loopback, multicast, a bad length, duplicates: left out
        let mut bad = list_payloads(&[
            ip("192.0.2.1"),
            ip("127.0.0.1"),
            ip("224.0.0.1"),
            ip("198.51.100.7"),
            ip("198.51.100.7"),
        ]);
        bad.push(notify(NotifyType::ADDITIONAL_IP4_ADDRESS, vec![1, 2, 3]));
        bad.push(notify(NotifyType::ADDITIONAL_IP6_ADDRESS, vec![0; 4]));
        assert_eq!(peer_list(&bad, &ours), Some(vec![ip("198.51.100.7")]));
        let many: Vec<IpAddr> = (1..=20).map(|i| ip(&format!("203.0.113.{i}"))).collect();
        assert_eq!(
            peer_list(&list_payloads(&many), &ours).unwrap().len(),
            MAX_ADDRS
        );
    }
}
