//! MOBIKE (RFC 4555), the responder's part: a client that moves (a phone
//! from Wi-Fi to LTE, a laptop to another network) keeps its IKE_SA and its
//! CHILD_SAs.
//!
//! - In IKE_AUTH the peer announces MOBIKE_SUPPORTED; we answer it when the
//!   conn allows MOBIKE (`mobike=yes`, the default) and the IKE_SA is then a
//!   MOBIKE one (kept across IKE_SA rekeys).
//! - On a MOBIKE IKE_SA the peer's address changes only by an authenticated
//!   INFORMATIONAL request with UPDATE_SA_ADDRESSES (§3.5): the IKE_SA takes
//!   the request's addresses, NAT detection is done anew with its
//!   NAT_DETECTION_* payloads (UDP encapsulation iff a NAT is in the way or
//!   `forceencaps=yes`), the answer carries our NAT_DETECTION_* and echoes a
//!   COOKIE2 (§3.6), and every CHILD_SA follows ([`Event::PeerMigrated`]).
//!   Any other message from a new address moves nothing (§3.5), though a
//!   changed port alone (a NAT's new mapping) is still followed.
//! - ADDITIONAL_*_ADDRESS / NO_ADDITIONAL_ADDRESSES are accepted and not
//!   used: we never move on our own (we are the gateway).

use super::IkeSa;
use crate::sa::api::Event;
use crate::sa::ctx::Ctx;
use crate::wire::{NotifyType, Payload};
use std::net::SocketAddr;
use tracing::{debug, info};

use super::window::{find_notify, notify};
use crate::crypto::auth::nat_detection_hash;

impl IkeSa {
    /// Responder, IKE_AUTH: our MOBIKE_SUPPORTED when the peer sent one
    /// and the conn allows MOBIKE; the IKE_SA is a MOBIKE one from then on.
    pub(super) fn mobike_answer(&mut self, request: &[Payload]) -> Option<Payload> {
        let asked = find_notify(request, NotifyType::MOBIKE_SUPPORTED).is_some();
        if !asked {
            return None;
        }
        if !self.conn.mobike {
            debug!(target: "ike", "{}: peer supports MOBIKE, conn '{}' has mobike=no", self.name(), self.conn.name);
            return None;
        }
        self.mobike = true;
        info!(target: "ike", "{}: peer supports MOBIKE", self.name());
        Some(notify(NotifyType::MOBIKE_SUPPORTED, Vec::new()))
    }

    /// Is a message from `from` this IKE_SA's to read? From its peer's
    /// address; with MOBIKE from any address (RFC 4555 §3.5: the peer's
    /// UPDATE_SA_ADDRESSES comes from its new one), which moves nothing
    /// before it authenticated.
    pub(in crate::sa) fn reads_from(&self, from: SocketAddr) -> bool {
        self.mobike || from.ip() == self.remote.ip()
    }

    /// May an authenticated message from `from` move the IKE_SA there?
    /// Without MOBIKE, yes (NAT-T floating and new mappings); with MOBIKE,
    /// only a new port on the same address (a NAT's new mapping).
    pub(super) fn may_follow(&self, from: SocketAddr) -> bool {
        !self.mobike || from.ip() == self.remote.ip()
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
        if !self.mobike {
            info!(target: "ike", "{}: UPDATE_SA_ADDRESSES on an IKE_SA without MOBIKE, ignored", self.name());
            return answer;
        }
        let (old_local, old_remote) = (self.local, self.remote);
        let src = find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP);
        let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        let hash =
            |a: SocketAddr| nat_detection_hash(&self.spi_i, &self.spi_r, a.ip(), a.port()).to_vec();
        let (nat_local, nat_remote) = match (src, dst) {
            (Some(s), Some(d)) => (d.data != hash(local), s.data != hash(from)),
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
                hash(local)
            };
            answer.push(notify(NotifyType::NAT_DETECTION_SOURCE_IP, our_src));
            answer.push(notify(NotifyType::NAT_DETECTION_DESTINATION_IP, hash(from)));
        }
        if let Some(c) = find_notify(payloads, NotifyType::COOKIE2) {
            answer.push(notify(NotifyType::COOKIE2, c.data.clone()));
        }
        answer
    }
}
