//! MOBIKE (RFC 4555): a client that moves (a phone from Wi-Fi to LTE, a
//! laptop to another network) keeps its IKE_SA and its CHILD_SAs.
//!
//! - In IKE_AUTH the initiator announces MOBIKE_SUPPORTED (when its conn
//!   has `mobike=yes`, the default) and the responder answers it when its
//!   conn allows MOBIKE; the IKE_SA is then a MOBIKE one, in the role it was
//!   made in (kept across IKE_SA rekeys, whoever rekeys).
//! - Responder: the peer's address changes only by an authenticated
//!   INFORMATIONAL request with UPDATE_SA_ADDRESSES (§3.5): the IKE_SA takes
//!   the request's addresses, NAT detection is done anew with its
//!   NAT_DETECTION_* payloads (UDP encapsulation iff a NAT is in the way or
//!   `forceencaps=yes`), the answer carries our NAT_DETECTION_* and echoes a
//!   COOKIE2 (§3.6), and every CHILD_SA follows ([`Event::PeerMigrated`]).
//!   Any other message from a new address moves nothing (§3.5), though a
//!   changed port alone (a NAT's new mapping) is still followed.
//!   A gateway never moves on its own; it announces its other addresses
//!   (`mobike_addrs.rs`).
//! - Initiator: when this host's addresses change and the route towards the
//!   peer now leaves from another address (the old one is gone, or another
//!   interface took the default route), the IKE_SA moves there and sends
//!   UPDATE_SA_ADDRESSES with NAT_DETECTION_* from it; its answer's NAT
//!   detection decides UDP encapsulation (a NAT found on the new path moves
//!   IKE to port 4500 and the update is sent once more from there), and the
//!   CHILD_SAs follow ([`Event::PeerMigrated`]). The update carries a fresh
//!   COOKIE2 (§3.6); an answer that does not echo it ends the IKE_SA.
//!   Requests that were already outstanding are retransmitted over the new
//!   path. When the peer stops answering at its address, retransmits also
//!   probe the addresses it announced (`mobike_addrs.rs`).

use super::window::Queued;
use super::{IkeSa, NATT_PORT};
use crate::sa::api::Event;
use crate::sa::ctx::Ctx;
use crate::sa::error::ExchangeError;
use crate::wire::{NotifyType, Payload};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{debug, info, warn};

use super::window::{find_notify, notify};
use crate::crypto::auth::nat_detection_hash;

/// Whether an IKE_SA uses MOBIKE, and in which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(in crate::sa) enum Mobike {
    #[default]
    Off,
    /// We made the IKE_SA as responder: the peer moves, we follow.
    Responder,
    /// We made it as initiator: we move and tell the peer.
    Initiator,
}

impl IkeSa {
    /// The NAT_DETECTION_* hash of `a` for this IKE_SA (RFC 7296 §2.23).
    fn natd(&self, a: SocketAddr) -> Vec<u8> {
        nat_detection_hash(&self.spi_i, &self.spi_r, a.ip(), a.port()).to_vec()
    }

    /// Initiator, IKE_AUTH: our MOBIKE_SUPPORTED and address list when the
    /// conn allows MOBIKE.
    pub(super) fn mobike_offer(&mut self, ctx: &Ctx) -> Vec<Payload> {
        if !self.conn.mobike {
            return Vec::new();
        }
        let mut v = vec![notify(NotifyType::MOBIKE_SUPPORTED, Vec::new())];
        v.extend(self.address_list(ctx));
        v
    }

    /// Initiator, the last IKE_AUTH answer: MOBIKE is on when we offered it
    /// and the responder answered MOBIKE_SUPPORTED; its address list is kept.
    pub(super) fn mobike_answered(&mut self, ctx: &Ctx, answer: &[Payload]) {
        if self.conn.mobike && find_notify(answer, NotifyType::MOBIKE_SUPPORTED).is_some() {
            self.mobike = Mobike::Initiator;
            info!(target: "ike", "{}: peer supports MOBIKE", self.name());
            self.take_peer_addresses(ctx, answer);
        }
    }

    /// Responder, IKE_AUTH: our MOBIKE_SUPPORTED and address list when the
    /// peer sent MOBIKE_SUPPORTED and the conn allows MOBIKE; the IKE_SA is
    /// a MOBIKE one from then on.
    pub(super) fn mobike_answer(&mut self, ctx: &Ctx, request: &[Payload]) -> Vec<Payload> {
        let asked = find_notify(request, NotifyType::MOBIKE_SUPPORTED).is_some();
        if !asked {
            return Vec::new();
        }
        if !self.conn.mobike {
            debug!(target: "ike", "{}: peer supports MOBIKE, conn '{}' has mobike=no", self.name(), self.conn.name);
            return Vec::new();
        }
        self.mobike = Mobike::Responder;
        info!(target: "ike", "{}: peer supports MOBIKE", self.name());
        self.take_peer_addresses(ctx, request);
        let mut v = vec![notify(NotifyType::MOBIKE_SUPPORTED, Vec::new())];
        v.extend(self.address_list(ctx));
        v
    }

    /// Is a message from `from` this IKE_SA's to read? From its peer's
    /// address; with MOBIKE from any address (RFC 4555 §3.5: the peer's
    /// UPDATE_SA_ADDRESSES comes from its new one), which moves nothing
    /// before it authenticated.
    pub(in crate::sa) fn reads_from(&self, from: SocketAddr) -> bool {
        self.mobike != Mobike::Off || from.ip() == self.remote.ip()
    }

    /// May an authenticated message from `from` move the IKE_SA there?
    /// Without MOBIKE, yes (NAT-T floating and new mappings); with MOBIKE,
    /// only a new port on the same address (a NAT's new mapping).
    pub(super) fn may_follow(&self, from: SocketAddr) -> bool {
        self.mobike == Mobike::Off || from.ip() == self.remote.ip()
    }

    /// An INFORMATIONAL request with UPDATE_SA_ADDRESSES, authenticated and
    /// received on `local` from `from`: the IKE_SA and its CHILD_SAs move
    /// there. Returns the payloads of the answer (NAT detection, COOKIE2).
    pub(super) fn update_sa_addresses(
        &mut self,
        ctx: &mut Ctx,
        (local, from): (SocketAddr, SocketAddr),
        payloads: &[Payload],
    ) -> Vec<Payload> {
        let mut answer = Vec::new();
        match self.mobike {
            Mobike::Responder => {}
            Mobike::Off => {
                info!(target: "ike", "{}: UPDATE_SA_ADDRESSES on an IKE_SA without MOBIKE, ignored", self.name());
                return answer;
            }
            Mobike::Initiator => {
                // only the initiator moves the IKE_SA (RFC 4555 §3.5)
                info!(target: "ike", "{}: UPDATE_SA_ADDRESSES from the MOBIKE responder, ignored", self.name());
                return answer;
            }
        }
        let (old_local, old_remote) = (self.local, self.remote);
        let src = find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP);
        let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        let (nat_local, nat_remote) = match (src, dst) {
            (Some(s), Some(d)) => (d.data != self.natd(local), s.data != self.natd(from)),
            // no NAT detection payloads (NO_NATS_ALLOWED peers): keep what we knew
            _ => (self.nat_local, self.nat_remote),
        };
        self.local = local;
        self.remote = from;
        self.nat_local = nat_local;
        self.nat_remote = nat_remote;
        let encap = nat_local || nat_remote || self.conn.forceencaps;
        if old_local != local || old_remote != from {
            info!(target: "ike", "{}: peer moved {old_remote} -> {from} (UPDATE_SA_ADDRESSES){}", self.name(),
                if encap { ", UDP encapsulation" } else { "" });
        } else {
            debug!(target: "ike", "{}: UPDATE_SA_ADDRESSES without a change of address", self.name());
        }
        if !self.children.is_empty() {
            ctx.events.push_back(Event::PeerMigrated {
                conn: self.conn.name.clone(),
                ike_id: self.id,
                local,
                remote: from,
                encap,
                child_ids: self.children.iter().map(|c| c.id).collect(),
            });
        }
        if src.is_some() && dst.is_some() {
            let our_src = if self.conn.forceencaps {
                ctx.random_bytes(20)
            } else {
                self.natd(local)
            };
            answer.push(notify(NotifyType::NAT_DETECTION_SOURCE_IP, our_src));
            answer.push(notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                self.natd(from),
            ));
        }
        if let Some(c) = find_notify(payloads, NotifyType::COOKIE2) {
            answer.push(notify(NotifyType::COOKIE2, c.data.clone()));
        }
        answer
    }

    /// Initiator: this host's addresses changed (`ctx.local_addrs`). Moves
    /// the IKE_SA to the address the route towards the peer now leaves from
    /// and queues UPDATE_SA_ADDRESSES; does nothing when that is the address
    /// in use, or when no address reaches the peer (until the next change).
    pub(in crate::sa) fn roam(&mut self, ctx: &mut Ctx, now: Instant) {
        if self.mobike != Mobike::Initiator || !self.is_established() {
            return;
        }
        let present = ctx.local_addrs.contains(&self.local.ip());
        let routed = ctx.routes.source_for(self.remote.ip());
        let new = match routed {
            Some(ip) if ip == self.local.ip() => return,
            Some(ip) => ip,
            None if present => return,
            None => {
                warn!(target: "ike", "{}: local address {} is gone and no other reaches {}; waiting for one", self.name(), self.local.ip(), self.remote.ip());
                return;
            }
        };
        let old = self.local;
        self.local = SocketAddr::new(new, old.port());
        info!(target: "ike", "{}: local address {} -> {} (MOBIKE), updating the peer", self.name(), old.ip(), new);
        self.queue_update(ctx, now);
    }

    /// Queues one UPDATE_SA_ADDRESSES; it is built when sent, from the
    /// addresses then in use, so one waiting is enough. One already out
    /// describes the path it was first sent on (the peer may have taken
    /// that copy, not the retransmit over the new path): another follows.
    pub(super) fn queue_update(&mut self, ctx: &mut Ctx, now: Instant) {
        if self.update_waiting() {
            return;
        }
        self.queue_request(ctx, now, Queued::UpdateAddresses);
    }

    fn update_waiting(&self) -> bool {
        self.window
            .queue
            .iter()
            .any(|q| matches!(q, Queued::UpdateAddresses))
    }

    /// Initiator: the payloads of UPDATE_SA_ADDRESSES from the current path
    /// (with our address list as it is now), and the fresh COOKIE2 among
    /// them (§3.6: the answer must echo it).
    pub(super) fn build_update(&mut self, ctx: &mut Ctx) -> (Vec<Payload>, Vec<u8>) {
        let our_src = if self.conn.forceencaps {
            ctx.random_bytes(20)
        } else {
            self.natd(self.local)
        };
        let cookie2 = ctx.random_bytes(COOKIE2_LEN);
        let mut payloads = vec![
            notify(NotifyType::UPDATE_SA_ADDRESSES, Vec::new()),
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, our_src),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                self.natd(self.remote),
            ),
            notify(NotifyType::COOKIE2, cookie2.clone()),
        ];
        payloads.extend(self.address_list(ctx));
        (payloads, cookie2)
    }

    /// Initiator: the peer answered UPDATE_SA_ADDRESSES over the current
    /// path: NAT detection anew, and the CHILD_SAs follow. An answer that
    /// does not echo our COOKIE2 ends the IKE_SA, as strongSwan does: the
    /// peer failed MOBIKE's return routability check.
    pub(super) fn on_update_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        payloads: &[Payload],
        cookie2: &[u8],
    ) -> Result<(), ExchangeError> {
        if !cookie2_echoed(cookie2, payloads) {
            return Err(ExchangeError::Fatal(
                "COOKIE2 mismatch in the UPDATE_SA_ADDRESSES answer, closing IKE_SA".into(),
            ));
        }
        if self.update_waiting() {
            // we moved again while it was out: its NAT detection is of the
            // old path, the update waiting describes the one in use
            debug!(target: "ike", "{}: UPDATE_SA_ADDRESSES answered, another follows for {}", self.name(), self.local);
            return Ok(());
        }
        let src = find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP);
        let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        if let (Some(s), Some(d)) = (src, dst) {
            self.nat_local = d.data != self.natd(self.local);
            self.nat_remote = s.data != self.natd(self.remote);
        }
        let encap = self.encap();
        if encap && self.local.port() != NATT_PORT {
            // a NAT on the new path: IKE goes to port 4500 (RFC 7296 §2.23)
            // and the peer learns the new port from one more update
            self.local.set_port(NATT_PORT);
            self.remote.set_port(NATT_PORT);
            info!(target: "ike", "{}: NAT on the new path, switching to port {NATT_PORT}", self.name());
            self.queue_update(ctx, now);
        }
        info!(target: "ike", "{}: peer accepted UPDATE_SA_ADDRESSES, IKE_SA now {} === {}{}", self.name(), self.local, self.remote,
            if encap { ", UDP encapsulation" } else { "" });
        if !self.children.is_empty() {
            ctx.events.push_back(Event::PeerMigrated {
                conn: self.conn.name.clone(),
                ike_id: self.id,
                local: self.local,
                remote: self.remote,
                encap,
                child_ids: self.children.iter().map(|c| c.id).collect(),
            });
        }
        Ok(())
    }
}

/// The length of our COOKIE2 (RFC 4555 allows 8 to 64 octets).
const COOKIE2_LEN: usize = 16;

/// Does the answer carry exactly the COOKIE2 we sent (RFC 4555 §3.6)?
fn cookie2_echoed(sent: &[u8], answer: &[Payload]) -> bool {
    find_notify(answer, NotifyType::COOKIE2).is_some_and(|c| c.data == sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cookie2_we_sent_is_taken() {
        let sent = [7u8; COOKIE2_LEN];
        let with = |data: &[u8]| vec![notify(NotifyType::COOKIE2, data.to_vec())];
        assert!(cookie2_echoed(&sent, &with(&sent)));
        assert!(!cookie2_echoed(&sent, &[]), "none echoed");
        assert!(
            !cookie2_echoed(&sent, &with(&[8u8; COOKIE2_LEN])),
            "another"
        );
        assert!(!cookie2_echoed(&sent, &with(&sent[..8])), "a part");
        assert!(!cookie2_echoed(&sent, &with(&[])), "empty");
    }
}
