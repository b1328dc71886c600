//! CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1, §2.8): new ones and
//! rekeys, both roles, and the first CHILD_SA of IKE_AUTH as responder.
//! IKE_SA rekeying (the same exchange) is in `rekey_ike.rs`.

use super::child_payloads::{check_answer, child_payloads, selectors_allowed, show};
use super::window::{Queued, find_notify, notify};
use super::{IkeSa, Parked, describe_offer, find_payload, first_error, spi32};
use crate::crypto::registry::Protocol as RegProto;
use crate::crypto::{DhSecret, SecretBytes};
use crate::sa::api::{Mode, Selector};
use crate::sa::child::{ChildState, NewChild};
use crate::sa::collision::ours_is_redundant;
use crate::sa::ctx::{Ctx, NONCE_LEN};
use crate::sa::error::ExchangeError;
use crate::sa::ident;
use crate::sa::proposal::{for_ike_auth, select, strip_dh};
use crate::sa::select::{Query, rank, same_peer};
use crate::wire::{ExchangeType, Notify, NotifyType, Payload, ProtocolId, SaPayload};
use conf::conn::{Conn, ConnType};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// An outstanding CREATE_CHILD_SA request of ours.
pub(in crate::sa) enum CreateReq {
    Child {
        conn: Arc<Conn>,
        spi_in: u32,
        dh: Option<DhSecret>,
        ni: Vec<u8>,
        ts_local: Vec<Selector>,
        ts_remote: Vec<Selector>,
        transport: bool,
        rekey_of: Option<u32>,
    },
    Ike {
        spi: [u8; 8],
        dh: DhSecret,
        ni: Vec<u8>,
    },
}

impl CreateReq {
    /// The request will not complete: its kernel SPI goes back.
    pub fn release(self, ctx: &mut Ctx, local: IpAddr) {
        if let CreateReq::Child { spi_in, .. } = self {
            ctx.release_spi(local, spi_in);
        }
    }
}

/// A CHILD_SA the responder created, and the payloads that describe it.
pub(super) struct ChildAnswer {
    pub child_id: u32,
    /// CP reply (virtual IPs), IKE_AUTH only.
    pub cp: Option<Payload>,
    pub payloads: Vec<Payload>,
}

impl IkeSa {
    pub(super) fn build_create_child(
        &mut self,
        ctx: &mut Ctx,
        conn: Arc<Conn>,
        rekey_of: Option<u32>,
    ) -> Result<Vec<Payload>, String> {
        let side = self.side_for(ctx, &conn);
        let (local_end, remote_end) = conn.ends(side);
        let old = match rekey_of {
            Some(id) => Some(
                self.children
                    .iter()
                    .find(|c| c.id == id)
                    .cloned()
                    .ok_or("the CHILD_SA to rekey is gone")?,
            ),
            None => None,
        };
        let (ts_local, ts_remote, transport) = match &old {
            Some(o) => (
                o.ts_local.clone(),
                o.ts_remote.clone(),
                o.mode == Mode::Transport,
            ),
            None => (
                self.own_selectors(local_end),
                self.peer_selectors(remote_end),
                conn.conn_type == ConnType::Transport,
            ),
        };
        let esp = conn.esp.effective();
        let group = esp
            .first()
            .and_then(|p| p.dh.first())
            .and_then(|t| ctx.provider.group(t.id));
        let dh = match group {
            Some(g) => Some(
                g.generate(&mut *ctx.rng)
                    .map_err(|e| format!("key generation failed: {e}"))?,
            ),
            None => None,
        };
        let spi_in = ctx
            .alloc_spi(self.local.ip(), self.remote.ip())
            .map_err(|e| e.to_string())?;
        let offer = match ctx.provider.offer(&esp, &spi_in.to_be_bytes()) {
            Ok(o) => o,
            Err(e) => {
                ctx.release_spi(self.local.ip(), spi_in);
                return Err(format!(
                    "esp= not supported: {}",
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        };
        let ni = ctx.random_bytes(NONCE_LEN);
        let mut p = Vec::new();
        if let Some(o) = &old {
            p.push(Payload::Notify(Notify {
                protocol_id: ProtocolId::ESP,
                spi: o.spi_in.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }));
        }
        p.extend(child_payloads(
            transport,
            offer,
            Some(&ni),
            dh.as_ref(),
            &ts_local,
            &ts_remote,
        ));
        match &old {
            Some(o) => info!(target: "chd", "rekeying CHILD_SA {}{{{}}}", o.conn, o.id),
            None => {
                info!(target: "chd", "establishing CHILD_SA {} on IKE_SA {}", conn.name, self.name())
            }
        }
        self.create = Some(CreateReq::Child {
            conn,
            spi_in,
            dh,
            ni,
            ts_local,
            ts_remote,
            transport,
            rekey_of,
        });
        Ok(p)
    }

    /// What the peer's end of a CHILD_SA may cover: `rightsubnet=`, else the
    /// virtual IPs leased to it, else its outer address (never its outer
    /// address when it has a virtual IP: that may be a shared, NATed one).
    pub(super) fn peer_selectors(&self, remote_end: &conf::conn::End) -> Vec<Selector> {
        let leased: Vec<IpAddr> = self.vips.leases.iter().map(|(_, a)| *a).collect();
        Self::selectors(remote_end, &leased, self.remote.ip())
    }

    /// Our end of a CHILD_SA: `leftsubnet=`, else the virtual IPs we were
    /// given, else our outer address.
    pub(super) fn own_selectors(&self, local_end: &conf::conn::End) -> Vec<Selector> {
        Self::selectors(local_end, &self.vips.local, self.local.ip())
    }

    fn selectors(end: &conf::conn::End, vips: &[IpAddr], outer: IpAddr) -> Vec<Selector> {
        if end.subnets.is_empty() && !vips.is_empty() {
            return vips
                .iter()
                .map(|a| Selector {
                    start: *a,
                    end: *a,
                    protocol: end.protoport.proto,
                    start_port: end.protoport.port_from,
                    end_port: end.protoport.port_to,
                })
                .collect();
        }
        crate::ts::configured(&end.subnets, &end.protoport, outer)
    }

    /// This host's side of a conn carried by this IKE_SA.
    fn side_for(&self, ctx: &Ctx, conn: &Conn) -> conf::conn::Side {
        if conn.name == self.conn.name {
            self.side
        } else {
            conn.local_side(&ctx.local_addrs)
        }
    }

    /// The peer's answer to our CREATE_CHILD_SA.
    pub(super) fn on_create_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        match self.create.take() {
            None => Err(ExchangeError::drop(
                "CREATE_CHILD_SA response without a request",
            )),
            Some(CreateReq::Ike { spi, dh, ni }) => {
                self.on_rekey_ike_response(ctx, now, spi, dh, ni, &payloads);
                Ok(())
            }
            Some(CreateReq::Child {
                conn,
                spi_in,
                dh,
                ni,
                ts_local,
                ts_remote,
                transport,
                rekey_of,
            }) => {
                let r = self.initiated_child(
                    ctx, now, &conn, spi_in, dh, &ni, &ts_local, &ts_remote, transport, rekey_of,
                    &payloads,
                );
                if let Err(why) = r {
                    warn!(target: "chd", "{}: CREATE_CHILD_SA for {} failed: {why}", self.name(), conn.name);
                    ctx.release_spi(self.local.ip(), spi_in);
                    self.child_request_failed(ctx, now, rekey_of);
                }
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn initiated_child(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        conn: &Conn,
        spi_in: u32,
        dh: Option<DhSecret>,
        ni: &[u8],
        ts_local: &[Selector],
        ts_remote: &[Selector],
        transport: bool,
        rekey_of: Option<u32>,
        payloads: &[Payload],
    ) -> Result<(), String> {
        if let Some(e) = first_error(payloads) {
            return Err(format!("peer answered {e}"));
        }
        let nr = find_payload!(payloads, Nonce).ok_or("response lacks a Nonce")?;
        let sa_p = find_payload!(payloads, Sa).ok_or("response lacks an SA")?;
        let ke = find_payload!(payloads, Ke);
        let tsi = find_payload!(payloads, TsI)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let tsr = find_payload!(payloads, TsR)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &ctx.provider,
                &conn.esp.effective(),
                std::slice::from_ref(one),
                RegProto::Esp,
            ),
            _ => None,
        };
        let (chosen, suite) = picked.ok_or("peer chose an ESP proposal we did not offer")?;
        let shared = match (&dh, ke, suite.dh) {
            (Some(d), Some(k), Some(g)) if d.group() == g && k.group == g.iana_id() => Some(
                d.compute_shared(&k.data)
                    .map_err(|e| format!("invalid KE in CREATE_CHILD_SA response: {e}"))?,
            ),
            (_, _, None) => None,
            _ => return Err("key exchange does not match the chosen proposal".into()),
        };
        let spi_out = spi32(&chosen.spi).ok_or("peer's ESP SPI is malformed")?;
        let mode = check_answer(ts_local, ts_remote, transport, &tsi, &tsr, payloads)?;
        let new_id = self.install_child(
            ctx,
            NewChild {
                conn,
                suite,
                spi_in,
                spi_out,
                mode,
                ts_local: tsi,
                ts_remote: tsr,
                ni,
                nr,
                shared: shared.as_ref().map(SecretBytes::as_slice),
                we_initiated: true,
                replaces: rekey_of,
            },
            now,
        )?;
        if let Some(old_id) = rekey_of {
            self.rekeyed(ctx, now, old_id, new_id);
        }
        Ok(())
    }

    /// Our rekey of CHILD_SA `old_id` produced `new_id`: delete the old one,
    /// unless the peer rekeyed it at the same time (RFC 7296 §2.8.1): then the
    /// SA of the exchange with the lowest nonce is redundant, and whoever made
    /// it deletes it; the maker of the survivor deletes the old one.
    fn rekeyed(&mut self, ctx: &mut Ctx, now: Instant, old_id: u32, new_id: u32) {
        let find = |s: &Self, id: u32| s.children.iter().find(|c| c.id == id).cloned();
        let ours = find(self, new_id).and_then(|c| c.rekey_of).map(|(_, n)| n);
        let theirs = self
            .children
            .iter()
            .find(|c| c.id != new_id && c.rekey_of.as_ref().is_some_and(|(o, _)| *o == old_id))
            .and_then(|c| c.rekey_of.clone())
            .map(|(_, n)| n);
        let new_spi = find(self, new_id).map(|c| c.spi_in);
        match (find(self, old_id), theirs) {
            (None, _) => {
                // The peer rekeyed (and deleted) it first: ours is redundant.
                if let Some(spi) = new_spi {
                    info!(target: "chd", "CHILD_SA rekey collision: deleting our redundant CHILD_SA");
                    self.queue_request(ctx, now, Queued::DeleteChild(vec![spi]));
                }
            }
            (Some(_), Some(t)) if ours.as_ref().is_some_and(|o| ours_is_redundant(o, &t)) => {
                info!(target: "chd", "CHILD_SA rekey collision: ours has the lower nonce and goes, the peer deletes the old one");
                if let Some(spi) = new_spi {
                    self.queue_request(ctx, now, Queued::DeleteChild(vec![spi]));
                }
            }
            (Some(old), theirs) => {
                if theirs.is_some() {
                    info!(target: "chd", "CHILD_SA rekey collision: ours survives, the peer deletes its redundant one");
                }
                if let Some(c) = self.children.iter_mut().find(|c| c.id == old_id) {
                    c.state = ChildState::Retiring;
                }
                self.queue_request(ctx, now, Queued::DeleteChild(vec![old.spi_in]));
            }
        }
    }

    /// The peer's CREATE_CHILD_SA request.
    pub(super) fn on_create_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        if !self.is_established() {
            return Err(ExchangeError::refuse(
                NotifyType::TEMPORARY_FAILURE,
                "CREATE_CHILD_SA before the IKE_SA is up",
            ));
        }
        let sa_p = find_payload!(payloads, Sa).cloned();
        let ni = find_payload!(payloads, Nonce).cloned();
        let (Some(sa_p), Some(ni)) = (sa_p, ni) else {
            return Err(ExchangeError::refuse(
                NotifyType::INVALID_SYNTAX,
                "CREATE_CHILD_SA without SA or Nonce",
            ));
        };
        let nr = ctx.random_bytes(NONCE_LEN);
        if sa_p
            .proposals
            .first()
            .is_some_and(|p| p.protocol_id == ProtocolId::IKE)
        {
            return self.on_rekey_ike_request(ctx, now, msg_id, &sa_p, &ni, &nr, &payloads);
        }
        let a = self.create_child_responder(ctx, now, &sa_p, &ni, &nr, &payloads)?;
        self.parked = Some(Parked {
            child_id: a.child_id,
            exchange: ExchangeType::CREATE_CHILD_SA,
            msg_id,
            ok: a.payloads,
            refused: vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())],
        });
        Ok(())
    }

    /// The conns a CHILD_SA request on this IKE_SA may be for: its own conn
    /// and conns with the same peer authentication (the selection rule, then
    /// `same_peer`), best first.
    fn child_candidates(&self, ctx: &Ctx) -> Vec<(Arc<Conn>, conf::conn::Side)> {
        let peer = self.remote_id.as_ref().and_then(ident::from_wire);
        let ours = ident::from_wire(&self.local_id);
        let q = Query {
            local: self.local.ip(),
            remote: self.remote.ip(),
            peer_id: peer.as_ref(),
            our_id: None,
            auth: None,
            eap_id: None,
        };
        let mut v = vec![(self.conn.clone(), self.side)];
        let local = self.local.ip();
        for c in rank(&ctx.conns, &ctx.local_addrs, &q, |c, side| {
            ident::from_wire(&super::auth::local_identification(ctx, c, side, local))
        }) {
            if c.conn.name != self.conn.name
                && same_peer(&self.conn, self.side, &c.conn, c.side)
                && self.ike_allowed_by(ctx, &c.conn)
                && ours.is_some()
            {
                v.push((c.conn, c.side));
            }
        }
        v
    }

    fn create_child_responder(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        sa_p: &SaPayload,
        ni: &[u8],
        nr: &[u8],
        payloads: &[Payload],
    ) -> Result<ChildAnswer, ExchangeError> {
        let rekey = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => spi32(&n.spi),
            _ => None,
        });
        let tsi = find_payload!(payloads, TsI)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let tsr = find_payload!(payloads, TsR)
            .map(|t| crate::ts::from_wire(t))
            .unwrap_or_default();
        let old = rekey.and_then(|spi| self.children.iter().find(|c| c.spi_out == spi).cloned());
        if rekey.is_some() && old.is_none() {
            return Err(ExchangeError::refuse(
                NotifyType::CHILD_SA_NOT_FOUND,
                "peer wants to rekey a CHILD_SA we do not have",
            ));
        }
        if old
            .as_ref()
            .is_some_and(|o| o.state == ChildState::Retiring)
        {
            return Err(ExchangeError::refuse(
                NotifyType::TEMPORARY_FAILURE,
                "peer wants to rekey a CHILD_SA we are deleting",
            ));
        }
        let carried = self
            .children
            .iter()
            .filter(|c| c.state != ChildState::Retiring)
            .count();
        if old.is_none() && carried >= ctx.settings.max_child_sas {
            return Err(ExchangeError::refuse(
                NotifyType::NO_ADDITIONAL_SAS,
                format!(
                    "peer asks for another CHILD_SA; this IKE_SA carries {carried}, the most allowed"
                ),
            ));
        }
        let candidates: Vec<(Arc<Conn>, conf::conn::Side)> = match &old {
            // A rekey keeps the conn the CHILD_SA was made for.
            Some(o) => {
                let c = ctx.conn(&o.conn).unwrap_or_else(|| self.conn.clone());
                let side = self.side_for(ctx, &c);
                vec![(c, side)]
            }
            None => self.child_candidates(ctx),
        };
        let ke = find_payload!(payloads, Ke);
        let mut last = ExchangeError::refuse(
            NotifyType::TS_UNACCEPTABLE,
            format!(
                "CREATE_CHILD_SA for {} === {}: no conn of this IKE_SA accepts it",
                show(&tsr),
                show(&tsi)
            ),
        );
        for (conn, side) in candidates {
            let (local_end, remote_end) = conn.ends(side);
            let (ts_remote, ts_local) = match &old {
                // Windows proposes a supernet when it rekeys.
                Some(o) => (
                    super::quirks::rekey_selectors(&tsi, &o.ts_remote),
                    super::quirks::rekey_selectors(&tsr, &o.ts_local),
                ),
                None => (
                    crate::ts::narrow(&tsi, &self.peer_selectors(remote_end)),
                    crate::ts::narrow(&tsr, &self.own_selectors(local_end)),
                ),
            };
            if ts_remote.is_empty() || ts_local.is_empty() {
                continue;
            }
            if let Err(why) = selectors_allowed(ctx, &self.peer_key(), &conn, &ts_local, &ts_remote)
            {
                last = ExchangeError::refuse(NotifyType::TS_UNACCEPTABLE, why);
                continue;
            }
            let Some((mut chosen, suite)) = select(
                &ctx.provider,
                &conn.esp.effective(),
                &sa_p.proposals,
                RegProto::Esp,
            ) else {
                last = ExchangeError::refuse(
                    NotifyType::NO_PROPOSAL_CHOSEN,
                    format!(
                        "no acceptable ESP proposal for conn '{}' (offered: {})",
                        conn.name,
                        describe_offer(&sa_p.proposals)
                    ),
                );
                continue;
            };
            let shared = match suite.dh {
                None => None,
                Some(g) => match ke {
                    Some(k) if k.group == g.iana_id() => {
                        let dh = g.generate(&mut *ctx.rng).map_err(|e| {
                            ExchangeError::refuse(
                                NotifyType::NO_PROPOSAL_CHOSEN,
                                format!("key generation failed: {e}"),
                            )
                        })?;
                        let sh = dh.compute_shared(&k.data).map_err(|e| {
                            ExchangeError::refuse(
                                NotifyType::INVALID_SYNTAX,
                                format!("invalid KE: {e}"),
                            )
                        })?;
                        Some((dh, sh))
                    }
                    _ => {
                        return Err(ExchangeError::Refuse {
                            notify: NotifyType::INVALID_KE_PAYLOAD,
                            data: g.iana_id().to_be_bytes().to_vec(),
                            why: format!("CREATE_CHILD_SA: peer's KE is not group {}", g.iana_id()),
                        });
                    }
                },
            };
            let spi_out = spi32(&chosen.spi).ok_or_else(|| {
                ExchangeError::refuse(NotifyType::INVALID_SYNTAX, "malformed ESP SPI")
            })?;
            let wants_transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
            let transport = wants_transport && conn.conn_type == ConnType::Transport;
            if conn.conn_type == ConnType::Transport && !wants_transport {
                last = ExchangeError::refuse(
                    NotifyType::NO_PROPOSAL_CHOSEN,
                    format!(
                        "conn '{}' is type=transport but the peer wants tunnel mode",
                        conn.name
                    ),
                );
                continue;
            }
            let spi_in = ctx.alloc_spi(self.local.ip(), self.remote.ip())?;
            chosen.spi = spi_in.to_be_bytes().to_vec();
            if let Some(o) = &old {
                if let Some(c) = self.children.iter_mut().find(|c| c.id == o.id) {
                    // The peer rekeys it: we will not (and it will delete the old one).
                    c.rekey_at = None;
                }
            }
            let mode = if transport {
                Mode::Transport
            } else {
                Mode::Tunnel
            };
            let child_id = self
                .install_child(
                    ctx,
                    NewChild {
                        conn: &conn,
                        suite,
                        spi_in,
                        spi_out,
                        mode,
                        ts_local: ts_local.clone(),
                        ts_remote: ts_remote.clone(),
                        ni,
                        nr,
                        shared: shared.as_ref().map(|(_, s)| s.as_slice()),
                        we_initiated: false,
                        replaces: old.as_ref().map(|o| o.id),
                    },
                    now,
                )
                .inspect_err(|_| ctx.release_spi(self.local.ip(), spi_in))?;
            let out = child_payloads(
                transport,
                SaPayload {
                    proposals: vec![chosen],
                },
                Some(nr),
                shared.as_ref().map(|(dh, _)| dh),
                &ts_remote,
                &ts_local,
            );
            return Ok(ChildAnswer {
                child_id,
                cp: None,
                payloads: out,
            });
        }
        Err(last)
    }

    /// The first CHILD_SA as IKE_AUTH responder: Ok(None) without a CHILD_SA
    /// request, Err(notify) when refused.
    pub(super) fn responder_child(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        payloads: &[Payload],
    ) -> Result<Option<ChildAnswer>, Payload> {
        let sa_p = find_payload!(payloads, Sa);
        let tsi = find_payload!(payloads, TsI).map(|t| crate::ts::from_wire(t));
        let tsr = find_payload!(payloads, TsR).map(|t| crate::ts::from_wire(t));
        let (Some(sa_p), Some(tsi), Some(tsr)) = (sa_p, tsi, tsr) else {
            info!(target: "chd", "IKE_AUTH without SA/TSi/TSr: IKE_SA only");
            return Ok(None);
        };
        let conn = self.conn.clone();
        let (local_end, remote_end) = conn.ends(self.side);
        let refuse = |t: NotifyType| notify(t, Vec::new());
        let esp = for_ike_auth(&conn.esp.effective());
        let theirs: Vec<crate::wire::Proposal> = sa_p.proposals.iter().map(strip_dh).collect();
        let Some((mut chosen, suite)) = select(&ctx.provider, &esp, &theirs, RegProto::Esp) else {
            warn!(target: "chd", "no acceptable ESP proposal for conn '{}' (offered: {}): NO_PROPOSAL_CHOSEN", conn.name, describe_offer(&sa_p.proposals));
            return Err(refuse(NotifyType::NO_PROPOSAL_CHOSEN));
        };
        let Some(spi_out) = spi32(&chosen.spi) else {
            return Err(refuse(NotifyType::INVALID_SYNTAX));
        };
        let who = self.peer_key();
        // The addresses are recorded in self.vips (peer_selectors uses them).
        let (cp, _) = ctx.pools.assign(
            &conn.name,
            remote_end,
            &ctx.config.strongswan.charon,
            &who,
            payloads,
            &mut self.vips,
        );
        let conf_remote = self.peer_selectors(remote_end);
        let conf_local = self.own_selectors(local_end);
        let ts_remote = crate::ts::narrow(&tsi, &conf_remote);
        let ts_local = crate::ts::narrow(&tsr, &conf_local);
        let release = |sa: &mut IkeSa, ctx: &mut Ctx| ctx.pools.release(&mut sa.vips);
        if ts_remote.is_empty() || ts_local.is_empty() {
            warn!(target: "chd", "traffic selectors {} === {} unacceptable for conn '{}' ({} === {}): TS_UNACCEPTABLE", show(&tsr), show(&tsi), conn.name, show(&conf_local), show(&conf_remote));
            release(self, ctx);
            return Err(refuse(NotifyType::TS_UNACCEPTABLE));
        }
        if let Err(why) = selectors_allowed(ctx, &who, &conn, &ts_local, &ts_remote) {
            warn!(target: "chd", "conn '{}': {why}: TS_UNACCEPTABLE", conn.name);
            release(self, ctx);
            return Err(refuse(NotifyType::TS_UNACCEPTABLE));
        }
        let wants_transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
        let transport = wants_transport && conn.conn_type == ConnType::Transport;
        if conn.conn_type == ConnType::Transport && !wants_transport {
            warn!(target: "chd", "conn '{}' is type=transport but the peer wants tunnel mode: NO_PROPOSAL_CHOSEN", conn.name);
            release(self, ctx);
            return Err(refuse(NotifyType::NO_PROPOSAL_CHOSEN));
        }
        let spi_in = match ctx.alloc_spi(self.local.ip(), self.remote.ip()) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "knl", "{e}");
                release(self, ctx);
                return Err(refuse(NotifyType::TEMPORARY_FAILURE));
            }
        };
        chosen.spi = spi_in.to_be_bytes().to_vec();
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let (ni, nr) = (self.ni.clone(), self.nr.clone());
        let child_id = match self.install_child(
            ctx,
            NewChild {
                conn: &conn,
                suite,
                spi_in,
                spi_out,
                mode,
                ts_local: ts_local.clone(),
                ts_remote: ts_remote.clone(),
                ni: &ni,
                nr: &nr,
                shared: None,
                we_initiated: false,
                replaces: None,
            },
            now,
        ) {
            Ok(id) => id,
            Err(e) => {
                warn!(target: "chd", "{}: {e}", self.name());
                ctx.release_spi(self.local.ip(), spi_in);
                release(self, ctx);
                return Err(refuse(NotifyType::NO_PROPOSAL_CHOSEN));
            }
        };
        let out = child_payloads(
            transport,
            SaPayload {
                proposals: vec![chosen],
            },
            None,
            None,
            &ts_remote,
            &ts_local,
        );
        Ok(Some(ChildAnswer {
            child_id,
            cp,
            payloads: out,
        }))
    }
}
