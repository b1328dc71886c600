//! CHILD_SAs: their states, their key material (RFC 7296 §2.17) and what the
//! kernel is asked to install or remove for them.

use super::api::*;
use super::ctx::Ctx;
use super::ike_sa::IkeSa;
use super::proposal::suite_name;
use crate::crypto::{ChildKeys, Suite};
use conf::conn::Conn;
use std::time::Instant;
use tracing::{info, warn};

/// Where a CHILD_SA is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChildState {
    /// Handed to the kernel; a responder's answer waits for its verdict.
    Installing,
    Installed,
    /// Our CREATE_CHILD_SA to rekey it is out (or queued).
    Rekeying,
    /// We answered the peer's rekey of CHILD_SA `replaces`: the inbound SA is
    /// installed, the outbound SA waits for the peer's DELETE of the old one
    /// (or `until`), so the peer has its new inbound SA before we use it.
    OutboundDeferred {
        replaces: u32,
        until: Instant,
    },
    /// Replaced by our rekey: our DELETE of it is out (or queued).
    Retiring,
}

#[derive(Debug, Clone)]
pub(super) struct ChildSa {
    pub id: u32,
    pub conn: String,
    pub reqid: u32,
    pub mode: Mode,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: Suite,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    pub established: Instant,
    pub rekey_at: Option<Instant>,
    pub state: ChildState,
    /// Made by a rekey: (the CHILD_SA it replaces, the lowest nonce of its
    /// exchange), to resolve simultaneous rekeys (RFC 7296 §2.8.1).
    pub rekey_of: Option<(u32, Vec<u8>)>,
}

impl ChildSa {
    pub fn status(&self, now: Instant, encap: bool) -> ChildStatus {
        ChildStatus {
            conn: self.conn.clone(),
            child_id: self.id,
            reqid: self.reqid,
            mode: self.mode,
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            encap,
            proposal: suite_name(&self.suite),
            ts_local: self.ts_local.clone(),
            ts_remote: self.ts_remote.clone(),
            established_secs_ago: now.saturating_duration_since(self.established).as_secs(),
            rekey_in_secs: self
                .rekey_at
                .filter(|_| self.state != ChildState::Rekeying)
                .map(|t| t.saturating_duration_since(now).as_secs()),
            rekeying: self.state == ChildState::Rekeying,
        }
    }
}

/// What a new CHILD_SA is made of.
pub(super) struct NewChild<'a> {
    pub conn: &'a Conn,
    pub suite: Suite,
    pub spi_in: u32,
    pub spi_out: u32,
    pub mode: Mode,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub shared: Option<&'a [u8]>,
    /// We initiated the exchange that creates the CHILD_SA (key order, RFC 7296 §2.17).
    pub we_initiated: bool,
    /// The CHILD_SA this one rekeys; as the responder the outbound SA waits.
    pub replaces: Option<u32>,
}

fn show(v: &[Selector]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl IkeSa {
    /// Derives a new CHILD_SA's keys, records it and asks the daemon to install
    /// it (`Event::InstallChild`); returns its unique id.
    pub(super) fn install_child(
        &mut self,
        ctx: &mut Ctx,
        c: NewChild<'_>,
        now: Instant,
    ) -> Result<u32, String> {
        let prf = self.prf().ok_or("no PRF")?;
        let keys = self.keys.as_ref().ok_or("no keys")?;
        let suite = c.suite;
        let conn = c.conn;
        let integ_len = suite.integ.map_or(0, |i| i.key_len());
        let ck = ChildKeys::derive(
            prf,
            keys.ike.sk_d.as_slice(),
            c.shared,
            c.ni,
            c.nr,
            suite.encr.key_len(),
            integ_len,
        )
        .map_err(|e| format!("CHILD_SA key derivation failed: {e}"))?;
        // Keys for data from the exchange's initiator come first (RFC 7296 §2.17).
        let (enc_out, int_out, enc_in, int_in) = if c.we_initiated {
            (ck.encr_i, ck.integ_i, ck.encr_r, ck.integ_r)
        } else {
            (ck.encr_r, ck.integ_r, ck.encr_i, ck.integ_i)
        };
        let reqid = ctx.child_reqid(conn, &c.ts_local, &c.ts_remote);
        let child_id = ctx.next_child_id();
        let (local_end, _) = conn.ends(self.side);
        let soft = conn.lifetime.saturating_sub(conn.margintime);
        let (mark_in, mark_out) = ctx.marks(conn);
        let (if_id_in, if_id_out) = ctx.if_ids(conn);
        ctx.claims.add(
            child_id,
            self.peer_key(),
            (&conn.name, reqid),
            format!("{}{{{child_id}}}", conn.name),
            (mark_out, if_id_out),
            &c.ts_local,
            &c.ts_remote,
        );
        let install = ChildSaInstall {
            conn: conn.name.clone(),
            ike_id: self.id,
            child_id,
            reqid,
            mode: c.mode,
            local: self.local.ip(),
            remote: self.remote.ip(),
            encap: self
                .encap()
                .then(|| (self.local.port(), self.remote.port())),
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            encr: suite.encr,
            integ: suite.integ,
            esn: suite.esn,
            keys_in: EspKeys {
                encr: enc_in,
                integ: int_in,
            },
            keys_out: EspKeys {
                encr: enc_out,
                integ: int_out,
            },
            ts_local: c.ts_local.clone(),
            ts_remote: c.ts_remote.clone(),
            mark_in,
            mark_out,
            if_id_in,
            if_id_out,
            // The core rekeys on its own timer; the kernel's soft limit is a backstop.
            soft_lifetime: if conn.rekey {
                soft + (conn.lifetime - soft) / 2
            } else {
                conn.lifetime
            },
            hard_lifetime: conn.lifetime,
            replay_window: conn.replay_window.unwrap_or(32),
            install_policy: conn.installpolicy,
            updown: local_end.updown.clone(),
            my_sourceips: self.vips.local.clone(),
            peer_sourceips: self.vips.leases.iter().map(|(_, ip)| *ip).collect(),
            host_access: local_end.hostaccess,
            firewall: local_end.firewall && local_end.updown.is_none(),
            replaces: c.replaces,
            defer_outbound: c.replaces.is_some() && !c.we_initiated,
        };
        info!(target: "chd", "CHILD_SA {}{{{}}} established with SPIs {:08x}_i {:08x}_o and TS {} === {}", conn.name, child_id, c.spi_in, c.spi_out, show(&c.ts_local), show(&c.ts_remote));
        let rekey_at = conn
            .rekey
            .then(|| now + ctx.rekey_delay(conn.lifetime, conn.margintime, conn.rekeyfuzz));
        let state = match c.replaces {
            Some(old) if !c.we_initiated => ChildState::OutboundDeferred {
                replaces: old,
                until: now + ctx.settings.rekey_outbound_wait,
            },
            _ => ChildState::Installing,
        };
        let rekey_of = c
            .replaces
            .map(|old| (old, super::collision::lowest_nonce(c.ni, c.nr)));
        // most IKE_SAs hold one or two: grow one at a time (a first push
        // would make room for four)
        self.children.reserve_exact(1);
        self.children.push(ChildSa {
            id: child_id,
            conn: conn.name.clone(),
            reqid,
            mode: c.mode,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            suite,
            ts_local: c.ts_local,
            ts_remote: c.ts_remote,
            established: now,
            rekey_at,
            state,
            rekey_of,
        });
        ctx.events.push_back(Event::InstallChild(Box::new(install)));
        Ok(child_id)
    }

    /// The kernel's verdict on a CHILD_SA of ours. A parked responder answer
    /// goes out now: with the CHILD_SA, or without it (a notify) when the
    /// kernel refused. A refused CHILD_SA we initiated is deleted on the peer.
    pub(super) fn child_installed(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        child_id: u32,
        result: Result<(), KernelError>,
    ) {
        let parked = self.parked.take_if(|p| p.child_id == child_id);
        match result {
            Ok(()) => {
                if let Some(c) = self.children.iter_mut().find(|c| c.id == child_id) {
                    if c.state == ChildState::Installing {
                        c.state = ChildState::Installed;
                    }
                }
                if let Some(p) = parked {
                    self.reply(ctx, p.exchange, p.msg_id, p.ok);
                }
            }
            Err(e) => {
                let Some(pos) = self.children.iter().position(|c| c.id == child_id) else {
                    tracing::debug!(target: "chd", "kernel refused CHILD_SA {{{child_id}}}, which is gone already ({e})");
                    return;
                };
                let c = self.children.remove(pos);
                ctx.claims.remove(c.id);
                ctx.release_spi(self.local.ip(), c.spi_in);
                match parked {
                    Some(p) => {
                        warn!(target: "chd", "CHILD_SA {}{{{}}} refused by the kernel ({e}): answering without it", c.conn, c.id);
                        if let Some(old) = replaced(&c) {
                            // The peer keeps using the old CHILD_SA; we keep it too.
                            if let Some(o) = self.children.iter_mut().find(|o| o.id == old) {
                                o.state = ChildState::Installed;
                            }
                        }
                        if p.exchange == crate::wire::ExchangeType::IKE_AUTH {
                            ctx.pools.release(&mut self.vips);
                        }
                        self.reply(ctx, p.exchange, p.msg_id, p.refused);
                    }
                    None => {
                        warn!(target: "chd", "CHILD_SA {}{{{}}} could not be installed ({e}): deleting it on the peer too", c.conn, c.id);
                        self.queue_request(
                            ctx,
                            now,
                            super::ike_sa::Queued::DeleteChild(vec![c.spi_in]),
                        );
                    }
                }
            }
        }
    }

    /// Our DELETE of one CHILD_SA (a command); false if it is not ours or
    /// already going.
    pub(super) fn delete_child(&mut self, ctx: &mut Ctx, now: Instant, child_id: u32) -> bool {
        if !self.is_established() {
            return false;
        }
        let Some(c) = self
            .children
            .iter_mut()
            .find(|c| c.id == child_id && c.state != ChildState::Retiring)
        else {
            return false;
        };
        info!(target: "chd", "closing CHILD_SA {}{{{}}} (command)", c.conn, c.id);
        c.state = ChildState::Retiring;
        let spi = c.spi_in;
        self.queue_request(ctx, now, super::ike_sa::Queued::DeleteChild(vec![spi]));
        true
    }

    /// Reports all CHILD_SAs of this IKE_SA gone (their kernel state removed).
    pub(super) fn report_children_gone(&mut self, ctx: &mut Ctx) {
        for c in std::mem::take(&mut self.children) {
            info!(target: "chd", "CHILD_SA {}{{{}}} closed, SPIs {:08x}_i {:08x}_o", c.conn, c.id, c.spi_in, c.spi_out);
            self.push_delete(ctx, c);
        }
    }

    /// Our DELETE of these CHILD_SAs (inbound SPIs) was answered.
    pub(super) fn children_deleted(&mut self, ctx: &mut Ctx, spis: &[u32]) {
        let (gone, keep): (Vec<ChildSa>, Vec<ChildSa>) = std::mem::take(&mut self.children)
            .into_iter()
            .partition(|c| spis.contains(&c.spi_in));
        self.children = keep;
        for c in gone {
            info!(target: "chd", "CHILD_SA {}{{{}}} deleted", c.conn, c.id);
            self.push_delete(ctx, c);
        }
    }

    /// The peer deleted the CHILD_SA whose outbound SPI is `spi_out`: a
    /// successor waiting for that starts sending first, then it goes.
    pub(super) fn child_deleted_by_peer(&mut self, ctx: &mut Ctx, spi_out: u32) -> Option<u32> {
        let pos = self.children.iter().position(|c| c.spi_out == spi_out)?;
        let c = self.children.remove(pos);
        info!(target: "chd", "received DELETE for CHILD_SA {}{{{}}} with SPI {:08x}", c.conn, c.id, spi_out);
        for n in self.children.iter_mut() {
            if matches!(n.state, ChildState::OutboundDeferred { replaces, .. } if replaces == c.id)
            {
                n.state = ChildState::Installed;
                ctx.events.push_back(Event::InstallOutbound {
                    conn: n.conn.clone(),
                    child_id: n.id,
                });
            }
        }
        let spi_in = c.spi_in;
        self.push_delete(ctx, c);
        Some(spi_in)
    }

    /// Outbound SAs whose wait for the peer's DELETE is over.
    pub(super) fn outbound_wait_over(&mut self, ctx: &mut Ctx, now: Instant) {
        for n in self.children.iter_mut() {
            if let ChildState::OutboundDeferred { until, .. } = n.state {
                if now >= until {
                    info!(target: "chd", "CHILD_SA {}{{{}}}: the old CHILD_SA was not deleted by the peer, sending on the new one", n.conn, n.id);
                    n.state = ChildState::Installed;
                    ctx.events.push_back(Event::InstallOutbound {
                        conn: n.conn.clone(),
                        child_id: n.id,
                    });
                }
            }
        }
    }

    fn push_delete(&self, ctx: &mut Ctx, c: ChildSa) {
        ctx.events.push_back(Event::DeleteChild {
            conn: c.conn,
            child_id: c.id,
            reqid: c.reqid,
            local: self.local.ip(),
            remote: self.remote.ip(),
            spi_in: c.spi_in,
            spi_out: c.spi_out,
        });
    }

    /// A CREATE_CHILD_SA of ours could not be sent or was refused: a rekey is
    /// retried later (the CHILD_SA is usable meanwhile).
    pub(super) fn child_request_failed(
        &mut self,
        _ctx: &mut Ctx,
        now: Instant,
        rekey_of: Option<u32>,
    ) {
        if let Some(c) = rekey_of.and_then(|id| self.children.iter_mut().find(|c| c.id == id)) {
            c.state = ChildState::Installed;
            c.rekey_at = Some(now + super::ike_sa::REKEY_RETRY);
        }
    }
}

fn replaced(c: &ChildSa) -> Option<u32> {
    match c.state {
        ChildState::OutboundDeferred { replaces, .. } => Some(replaces),
        _ => None,
    }
}
