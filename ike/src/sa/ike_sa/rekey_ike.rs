//! IKE_SA rekeying with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18): the new
//! IKE_SA takes over the CHILD_SAs and the virtual IPs; the old one is deleted
//! by the side that initiated the rekey. When both sides rekey at once
//! (RFC 7296 §2.8.2), `collision.rs` says which new IKE_SA stays.

use super::{Fresh, IkeSa, Keys, Queued, REKEY_RETRY, State, find_payload, first_error};
use crate::crypto::registry::Protocol as RegProto;
use crate::crypto::{DhSecret, IkeSaKeys, SecretBytes, SkCrypto, Suite, kdf};
use crate::sa::api::Event;
use crate::sa::collision::{lowest_nonce, ours_is_redundant};
use crate::sa::ctx::{Action, Ctx, NONCE_LEN};
use crate::sa::error::ExchangeError;
use crate::sa::proposal::{select, suite_name};
use crate::wire::{ExchangeType, KePayload, NotifyType, Payload, SaPayload};
use std::time::Instant;
use tracing::{info, warn};

/// This IKE_SA was rekeyed by the peer.
pub(in crate::sa) struct Superseded {
    /// The new IKE_SA the peer's exchange made (it holds the CHILD_SAs).
    pub by: u32,
    /// Our own rekey of this IKE_SA was outstanding when the peer's came (a
    /// collision): the lowest nonce of the peer's exchange.
    pub collision: Option<Vec<u8>>,
}

/// Which side initiated the exchange that made a new IKE_SA, and what this
/// old IKE_SA then does.
enum Maker {
    /// The peer's rekey, which we answered.
    Peer,
    /// Our rekey, the only one.
    Us,
    /// Our rekey, and the peer's rekey of the same IKE_SA made `theirs` too;
    /// `redundant`: ours has the lowest nonce and goes.
    UsInCollision { theirs: u32, redundant: bool },
}

impl IkeSa {
    pub(super) fn build_rekey_ike(&mut self, ctx: &mut Ctx) -> Result<Vec<Payload>, String> {
        if let Some(s) = &self.superseded {
            return Err(format!("the peer rekeyed it already (as #{})", s.by));
        }
        let previous = self.suite.and_then(|s| s.dh);
        let first = || {
            let ike = self.conn.ike.effective();
            let id = ike.first().and_then(|p| p.dh.first()).map(|t| t.id)?;
            ctx.provider.group(id)
        };
        let group = previous
            .filter(|_| ctx.settings.prefer_previous_dh_group)
            .or_else(first)
            .or(previous)
            .ok_or("the IKE_SA has no key exchange group")?;
        let spi = ctx.new_ike_spi();
        let offer = ctx
            .provider
            .offer(&self.conn.ike.effective(), &spi)
            .map_err(|_| "ike= proposal not supported".to_string())?;
        let dh = group
            .generate(&mut *ctx.rng)
            .map_err(|e| format!("key generation failed: {e}"))?;
        let ni = ctx.random_bytes(NONCE_LEN);
        let p = vec![
            Payload::Sa(offer),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KePayload {
                group: group.iana_id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        info!(target: "ike", "rekeying IKE_SA {}", self.name());
        self.create = Some(super::create_child::CreateReq::Ike { spi, dh, ni });
        Ok(p)
    }

    /// The answer to our IKE_SA rekey; a failure is retried later.
    pub(super) fn on_rekey_ike_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        spi: [u8; 8],
        dh: DhSecret,
        ni: Vec<u8>,
        payloads: &[Payload],
    ) {
        let r = self.rekey_ike_answer(ctx, now, spi, dh, &ni, payloads);
        if let (Err(why), Some(s)) = (&r, &self.superseded) {
            info!(target: "ike", "IKE_SA rekey collision: our rekey of {} failed ({why}); the peer's IKE_SA #{} stays", self.name(), s.by);
        } else if let Err(why) = r {
            warn!(target: "ike", "IKE_SA rekey of {} failed: {why}; retrying in {}s", self.name(), REKEY_RETRY.as_secs());
            self.rekey_at = Some(now + REKEY_RETRY);
        }
    }

    fn rekey_ike_answer(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        spi: [u8; 8],
        dh: DhSecret,
        ni: &[u8],
        payloads: &[Payload],
    ) -> Result<(), String> {
        if let Some(e) = first_error(payloads) {
            return Err(format!("peer answered {e}"));
        }
        let nr = find_payload!(payloads, Nonce).ok_or("no Nonce")?;
        let sa_p = find_payload!(payloads, Sa).ok_or("no SA")?;
        let ke = find_payload!(payloads, Ke).ok_or("no KE")?;
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &ctx.provider,
                &self.conn.ike.effective(),
                std::slice::from_ref(one),
                RegProto::Ike,
            ),
            _ => None,
        };
        let (chosen, suite) = picked.ok_or("peer chose a proposal we did not offer")?;
        let spi_r = <[u8; 8]>::try_from(chosen.spi.as_slice()).map_err(|_| "malformed SPI")?;
        if suite.dh != Some(dh.group()) || ke.group != dh.group().iana_id() {
            return Err("key exchange group mismatch".into());
        }
        let shared = dh
            .compute_shared(&ke.data)
            .map_err(|e| format!("invalid KE: {e}"))?;
        let made = match &self.superseded {
            None => Maker::Us,
            Some(s) => Maker::UsInCollision {
                theirs: s.by,
                redundant: s
                    .collision
                    .as_ref()
                    .is_none_or(|t| ours_is_redundant(&lowest_nonce(ni, nr), t)),
            },
        };
        self.finish_ike_rekey(ctx, now, suite, chosen, (spi, spi_r), made, ni, nr, &shared)
            .map(|_| ())
    }

    /// The peer rekeys this IKE_SA: answer on the old SA, then switch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_rekey_ike_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        sa_p: &SaPayload,
        ni: &[u8],
        nr: &[u8],
        payloads: &[Payload],
    ) -> Result<(), ExchangeError> {
        if let Some(s) = &self.superseded {
            return Err(ExchangeError::refuse(
                NotifyType::TEMPORARY_FAILURE,
                format!(
                    "peer rekeys the IKE_SA again, after #{}: TEMPORARY_FAILURE",
                    s.by
                ),
            ));
        }
        if let Some(at) = self.established {
            let age = now.saturating_duration_since(at);
            if age < ctx.settings.min_ike_rekey_interval {
                return Err(ExchangeError::refuse(
                    NotifyType::TEMPORARY_FAILURE,
                    format!(
                        "peer rekeys the IKE_SA {} ms after it was established: too soon, TEMPORARY_FAILURE",
                        age.as_millis()
                    ),
                ));
            }
        }
        let Some((mut chosen, suite)) = select(
            &ctx.provider,
            &self.conn.ike.effective(),
            &sa_p.proposals,
            RegProto::Ike,
        ) else {
            return Err(ExchangeError::refuse(
                NotifyType::NO_PROPOSAL_CHOSEN,
                "IKE_SA rekey: no acceptable proposal",
            ));
        };
        let ke = find_payload!(payloads, Ke);
        let (Some(group), Some(ke)) = (suite.dh, ke) else {
            return Err(ExchangeError::refuse(
                NotifyType::INVALID_SYNTAX,
                "IKE_SA rekey without KE",
            ));
        };
        if ke.group != group.iana_id() {
            return Err(ExchangeError::Refuse {
                notify: NotifyType::INVALID_KE_PAYLOAD,
                data: group.iana_id().to_be_bytes().to_vec(),
                why: format!("IKE_SA rekey: peer's KE is not group {}", group.iana_id()),
            });
        }
        let spi_i = <[u8; 8]>::try_from(chosen.spi.as_slice()).map_err(|_| {
            ExchangeError::refuse(NotifyType::INVALID_SYNTAX, "IKE_SA rekey: malformed SPI")
        })?;
        let dh = group.generate(&mut *ctx.rng).map_err(|e| {
            ExchangeError::refuse(
                NotifyType::NO_PROPOSAL_CHOSEN,
                format!("key generation failed: {e}"),
            )
        })?;
        let shared = dh.compute_shared(&ke.data).map_err(|e| {
            ExchangeError::refuse(NotifyType::INVALID_SYNTAX, format!("invalid KE: {e}"))
        })?;
        let spi_r = ctx.new_ike_spi();
        chosen.spi = spi_r.to_vec();
        let inner = vec![
            Payload::Sa(SaPayload {
                proposals: vec![chosen.clone()],
            }),
            Payload::Nonce(nr.to_vec()),
            Payload::Ke(KePayload {
                group: group.iana_id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        self.reply(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, inner);
        let ours_out = matches!(
            self.create,
            Some(super::create_child::CreateReq::Ike { .. })
        );
        let by = self
            .finish_ike_rekey(
                ctx,
                now,
                suite,
                chosen,
                (spi_i, spi_r),
                Maker::Peer,
                ni,
                nr,
                &shared,
            )
            .map_err(ExchangeError::Fatal)?;
        if ours_out {
            info!(target: "ike", "IKE_SA rekey collision: the peer rekeys {} too; the lowest nonce decides which new IKE_SA stays", self.name());
        }
        self.superseded = Some(Superseded {
            by,
            collision: ours_out.then(|| lowest_nonce(ni, nr)),
        });
        Ok(())
    }

    /// Derives the new IKE_SA, moves this one's CHILD_SAs and virtual IPs to
    /// it, hands it to the endpoint, and retires this one; returns its id.
    /// In a collision the redundant new IKE_SA deletes itself, and the
    /// survivor takes the CHILD_SAs from the peer's one.
    #[allow(clippy::too_many_arguments)]
    fn finish_ike_rekey(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        suite: Suite,
        proposal: crate::wire::Proposal,
        (spi_i, spi_r): ([u8; 8], [u8; 8]),
        made: Maker,
        ni: &[u8],
        nr: &[u8],
        shared: &SecretBytes,
    ) -> Result<u32, String> {
        let we_initiated = !matches!(made, Maker::Peer);
        let old_prf = self.prf().ok_or("no PRF")?;
        let old_keys = self.keys.as_ref().ok_or("no keys")?;
        let prf = suite.prf.ok_or("no PRF in the new proposal")?;
        let lens = suite.ike_key_lengths().ok_or("no key lengths")?;
        let seed = kdf::skeyseed_rekey(
            old_prf,
            old_keys.ike.sk_d.as_slice(),
            shared.as_slice(),
            ni,
            nr,
        );
        let ike = IkeSaKeys::derive(prf, seed.as_slice(), ni, nr, &spi_i, &spi_r, lens)
            .map_err(|e| e.to_string())?;
        let (out, inn) = SkCrypto::pair(suite.encr, suite.integ, &ike, we_initiated)
            .map_err(|e| e.to_string())?;
        let id = ctx.next_ike_id();
        let mut new = IkeSa::new(Fresh {
            id,
            conn: self.conn.clone(),
            side: self.side,
            initiator: we_initiated,
            spi_i,
            spi_r,
            local: self.local,
            remote: self.remote,
            state: State::Established,
            local_id: self.local_id.clone(),
            now,
        });
        new.suite = Some(suite);
        new.ike_proposal = Some(proposal);
        new.ni = ni.to_vec();
        new.nr = nr.to_vec();
        new.keys = Some(Keys { ike, out, inn });
        new.children = std::mem::take(&mut self.children);
        new.vips = std::mem::take(&mut self.vips);
        new.remote_id = self.remote_id.clone();
        new.nat_local = self.nat_local;
        new.nat_remote = self.nat_remote;
        new.frag_supported = self.frag_supported;
        new.mobike = self.mobike;
        new.peer_addrs = self.peer_addrs.clone();
        new.announced = self.announced.clone();
        new.peer_hashes = self.peer_hashes.clone();
        new.certreq_received = self.certreq_received;
        new.established = Some(now);
        let c = self.conn.clone();
        new.rekey_at = c
            .rekey
            .then(|| now + ctx.rekey_delay(c.ikelifetime, c.margintime, c.rekeyfuzz));
        info!(target: "ike", "IKE_SA {} rekeyed as {} ({})", self.name(), new.name(), suite_name(&suite));
        ctx.events.push_back(Event::IkeUp {
            conn: c.name.clone(),
            ike_id: id,
        });
        self.rekey_at = None;
        match made {
            Maker::Peer => ctx.actions.push(Action::Insert(Box::new(new))),
            Maker::Us => {
                ctx.actions.push(Action::Insert(Box::new(new)));
                self.queue_request(ctx, now, Queued::DeleteIke);
                self.state = State::Deleting;
            }
            Maker::UsInCollision {
                theirs,
                redundant: true,
            } => {
                info!(target: "ike", "IKE_SA rekey collision: ours ({}) has the lowest nonce and is deleted; the peer's #{theirs} stays and the peer deletes {}", new.name(), self.name());
                new.rekey_at = None;
                new.queue_request(ctx, now, Queued::DeleteIke);
                new.state = State::Deleting;
                ctx.actions.push(Action::Insert(Box::new(new)));
            }
            Maker::UsInCollision {
                theirs,
                redundant: false,
            } => {
                info!(target: "ike", "IKE_SA rekey collision: ours ({}) stays and takes the CHILD_SAs; the peer deletes its #{theirs}, we delete {}", new.name(), self.name());
                ctx.actions.push(Action::Insert(Box::new(new)));
                ctx.actions.push(Action::Adopt {
                    from: theirs,
                    to: id,
                });
                self.queue_request(ctx, now, Queued::DeleteIke);
                self.state = State::Deleting;
            }
        }
        Ok(id)
    }
}
