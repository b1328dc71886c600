//! An IKE_SA's deadlines: ONE `Timer` enum, the next deadline of the SA, and
//! what happens when one is due. The endpoint keeps every SA's next deadline
//! in one ordered table, so finding the next one costs O(log n), not a scan.

use super::create_child::CreateReq;
use super::{IkeSa, Queued};
use crate::sa::api::{CoreSettings, RekeyError, Transmit};
use crate::sa::child::ChildState;
use crate::sa::ctx::{Action, Ctx};
use std::time::Instant;
use tracing::{debug, info};

/// What an IKE_SA waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sa) enum Timer {
    /// Our outstanding request is due to be sent again (or given up).
    Retransmit,
    /// A responder IKE_SA that never saw IKE_AUTH is dropped.
    HalfOpen,
    RekeyIke,
    RekeyChild(u32),
    /// A rekey responder's new outbound SA waited long enough for the old one's DELETE.
    OutboundWait(u32),
    /// NAT-T keepalive (we are behind a NAT).
    Keepalive,
    /// Dead peer detection.
    Dpd,
}

impl IkeSa {
    /// Every deadline of this SA.
    fn timers(&self, s: &CoreSettings) -> Vec<(Instant, Timer)> {
        let mut v = Vec::new();
        if let Some(t) = self.window.retransmit_due() {
            v.push((t, Timer::Retransmit));
        }
        if self.is_half_open() {
            v.push((self.created + s.half_open_timeout, Timer::HalfOpen));
        }
        if self.is_established() {
            if let Some(t) = self.rekey_at {
                v.push((t, Timer::RekeyIke));
            }
            for c in &self.children {
                match c.state {
                    ChildState::Installed => {
                        if let Some(t) = c.rekey_at {
                            v.push((t, Timer::RekeyChild(c.id)));
                        }
                    }
                    ChildState::OutboundDeferred { until, .. } => {
                        v.push((until, Timer::OutboundWait(c.id)));
                    }
                    _ => {}
                }
            }
            if self.sends_keepalives() {
                v.push((self.keepalive_at.unwrap_or(self.last_in), Timer::Keepalive));
            }
            if let Some(t) = self.dpd_due() {
                if self.window.pending.is_none() {
                    v.push((t, Timer::Dpd));
                }
            }
        }
        v
    }

    /// The next deadline of this SA.
    pub(in crate::sa) fn next_timer(&self, s: &CoreSettings) -> Option<(Instant, Timer)> {
        self.timers(s).into_iter().min_by_key(|(t, _)| *t)
    }

    fn sends_keepalives(&self) -> bool {
        self.nat_local && self.local.port() == super::NATT_PORT
    }

    /// When dead peer detection is due (dpdaction != none and dpddelay > 0).
    fn dpd_due(&self) -> Option<Instant> {
        (self.conn.dpdaction != conf::conn::DpdAction::None
            && !self.conn.dpddelay.is_zero()
            && self.is_established())
        .then(|| self.last_in + self.conn.dpddelay)
    }

    /// Runs every deadline of this SA that is due at `now`.
    pub(in crate::sa) fn on_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        let due: Vec<Timer> = self
            .timers(&ctx.settings)
            .into_iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, k)| k)
            .collect();
        for timer in due {
            if self.is_dead() {
                return;
            }
            self.fire(ctx, now, timer);
        }
    }

    fn fire(&mut self, ctx: &mut Ctx, now: Instant, timer: Timer) {
        match timer {
            Timer::HalfOpen => {
                info!(target: "ike", "half-open IKE_SA {} from {} timed out waiting for IKE_AUTH", self.name(), self.remote.ip());
                self.kill(ctx, "half-open timeout");
            }
            Timer::Keepalive => {
                if self.keepalive_at.is_some() {
                    debug!(target: "net", "sending keep-alive to {}", self.remote);
                    ctx.transmits.push_back(Transmit {
                        local: self.local,
                        remote: self.remote,
                        data: vec![0xff],
                    });
                }
                self.keepalive_at = Some(now + ctx.settings.keep_alive);
            }
            Timer::Dpd => {
                if self.window.idle() {
                    debug!(target: "ike", "sending DPD to {}", self.remote.ip());
                    self.last_in = now;
                    self.queue_request(ctx, now, Queued::Liveness);
                } else {
                    // Something else is outstanding: it proves liveness too.
                    self.last_in = now;
                }
            }
            Timer::RekeyIke => {
                self.rekey_at = None;
                self.queue_request(ctx, now, Queued::RekeyIke);
            }
            Timer::RekeyChild(id) => {
                let Some(c) = self.children.iter_mut().find(|c| c.id == id) else {
                    debug!(target: "chd", "rekey timer of CHILD_SA {{{id}}}, which is gone");
                    return;
                };
                c.state = ChildState::Rekeying;
                c.rekey_at = None;
                let name = c.conn.clone();
                let conn = ctx.conn(&name).unwrap_or_else(|| self.conn.clone());
                self.queue_request(
                    ctx,
                    now,
                    Queued::CreateChild {
                        conn,
                        rekey_of: Some(id),
                    },
                );
            }
            Timer::OutboundWait(_) => self.outbound_wait_over(ctx, now),
            Timer::Retransmit => {
                if self.retransmit(ctx, now).is_err() {
                    let was_up = self.established.is_some();
                    let names = self.conn_names();
                    self.kill(ctx, "peer not responding");
                    if was_up && self.conn.dpdaction == conf::conn::DpdAction::Restart {
                        ctx.actions.push(Action::Restart(names));
                    }
                }
            }
        }
    }

    /// A rekey asked for by a command (VICI `rekey`): the rekey timer's own
    /// path, taken now. `child`: that CHILD_SA, else this IKE_SA.
    pub(in crate::sa) fn rekey_now(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        child: Option<u32>,
    ) -> Result<(), RekeyError> {
        if !self.is_established() || self.superseded.is_some() {
            return Err(RekeyError::NotEstablished);
        }
        let timer = match child {
            None => {
                let queued = self
                    .window
                    .queue
                    .iter()
                    .any(|q| matches!(q, Queued::RekeyIke));
                let out = matches!(self.create, Some(CreateReq::Ike { .. }));
                if queued || out {
                    return Err(RekeyError::InProgress);
                }
                Timer::RekeyIke
            }
            Some(id) => match self.children.iter().find(|c| c.id == id) {
                None => return Err(RekeyError::NoSuchChild(id)),
                Some(c) if c.state != ChildState::Installed => {
                    return Err(RekeyError::InProgress);
                }
                Some(_) => Timer::RekeyChild(id),
            },
        };
        self.fire(ctx, now, timer);
        Ok(())
    }

    /// The conns of this IKE_SA and its CHILD_SAs (for restarts).
    pub(in crate::sa) fn conn_names(&self) -> Vec<String> {
        let mut names = vec![self.conn.name.clone()];
        for c in &self.children {
            if !names.contains(&c.conn) {
                names.push(c.conn.clone());
            }
        }
        names
    }
}
