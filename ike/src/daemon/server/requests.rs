//! Control requests (from the control socket and from VICI): `up`, `down` by
//! conn, by IKE_SA unique id (`name[N]`) or by CHILD_SA unique id
//! (`name{N}`), `route`, `unroute`, `reload`, `stop`; and the waiters that
//! answer `up` / `down` once the core reports the outcome.

use super::super::control::{Request, Response};
use super::Daemon;
use crate::daemon::core::Core;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::{error, info};

pub(crate) type Reply = oneshot::Sender<Response>;

/// How long `up` / `down` wait for the outcome.
pub(crate) const UP_WAIT: Duration = Duration::from_secs(60);
pub(crate) const DOWN_WAIT: Duration = Duration::from_secs(15);

/// A request waiting for the core's outcome.
pub(crate) struct Waiter {
    what: Wait,
    tx: Reply,
    deadline: Instant,
}

enum Wait {
    /// `up`: the IKE_SA `ike_id` of `conn` comes up (or fails).
    Up { ike_id: u32, conn: String },
    /// `down NAME`: `remaining` IKE_SAs of `conn` still to go.
    Down { conn: String, remaining: usize },
    /// `down name[N]`: one IKE_SA (`name` is `conn[N]`).
    DownIke { ike_id: u32, name: String },
    /// `down name{N}`: one CHILD_SA (`name` is `conn{N}`).
    DownChild { child_id: u32, name: String },
}

impl Waiter {
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn into_reply(self) -> Reply {
        self.tx
    }

    /// The answer when the deadline passed.
    fn timed_out(&self) -> Response {
        Response::err(match &self.what {
            Wait::Up { conn, .. } => format!(
                "connection '{conn}' not established after {}s (still trying)",
                UP_WAIT.as_secs()
            ),
            Wait::Down { conn, .. } => {
                format!(
                    "connection '{conn}' not closed after {}s",
                    DOWN_WAIT.as_secs()
                )
            }
            Wait::DownIke { name, .. } => {
                format!("IKE_SA {name} not closed after {}s", DOWN_WAIT.as_secs())
            }
            Wait::DownChild { name, .. } => {
                format!("CHILD_SA {name} not closed after {}s", DOWN_WAIT.as_secs())
            }
        })
    }
}

impl<C: Core> Daemon<C> {
    pub(super) fn on_request(&mut self, now: Instant, req: Request, tx: Reply) {
        match req {
            Request::Status | Request::Statusall => {
                let all = matches!(req, Request::Statusall);
                let r = Response {
                    ok: true,
                    status: Some(Box::new(self.report(now, all))),
                    ..Default::default()
                };
                let _ = tx.send(r);
            }
            Request::Up { conn } => {
                if self.config.conn(&conn).is_none() {
                    let _ = tx.send(Response::err(format!("no config named '{conn}'")));
                    return;
                }
                match self.initiate(now, &conn) {
                    Ok(ike_id) => self.wait(now, Wait::Up { ike_id, conn }, tx),
                    Err(e) => {
                        let _ = tx.send(Response::err(format!("unable to initiate '{conn}': {e}")));
                    }
                }
            }
            Request::Down { conn } => {
                // A conn taken down is not retried.
                self.retries.retain(|(_, c)| *c != conn);
                self.attempts.remove(&conn);
                let n = self.core.terminate(now, &conn);
                if n == 0 {
                    let _ = tx.send(Response::err(format!("no IKE_SA named '{conn}' found")));
                } else {
                    info!(target: "cfg", "closing {n} IKE_SA{} of '{conn}'", if n == 1 { "" } else { "s" });
                    self.wait(now, Wait::Down { conn, remaining: n }, tx);
                }
            }
            Request::DownIke { ike_id, conn } => self.down_ike(now, ike_id, conn, tx),
            Request::DownChild { child_id, conn } => self.down_child(now, child_id, conn, tx),
            Request::Route { conn } => {
                let r = self.route(&conn);
                let _ = tx.send(r);
            }
            Request::Unroute { conn } => {
                self.manual_routes.retain(|n| *n != conn);
                let n =
                    self.kernel.remove_traps(Some(&conn)) + self.kernel.remove_shunts(Some(&conn));
                let r = if n == 0 {
                    Response::err(format!("configuration '{conn}' not found"))
                } else {
                    info!(target: "cfg", "'{conn}' unrouted: {n} policies removed");
                    Response::ok(format!("configuration '{conn}' unrouted"))
                };
                let _ = tx.send(r);
            }
            Request::Reload => {
                let r = self.reload(now);
                let _ = tx.send(r);
            }
            Request::Stop => {
                self.stopping = true;
                let _ = tx.send(Response::ok("stopping"));
            }
            Request::Leases { pool, addr } => {
                let r = match crate::daemon::leases::format(&self.pools(), pool.as_deref(), addr) {
                    Ok(text) => Response::ok(text.trim_end()),
                    Err(e) => Response::err(e),
                };
                let _ = tx.send(r);
            }
        }
    }

    fn wait(&mut self, now: Instant, what: Wait, tx: Reply) {
        let deadline = now
            + match what {
                Wait::Up { .. } => UP_WAIT,
                _ => DOWN_WAIT,
            };
        self.waiters.push(Waiter { what, tx, deadline });
    }

    fn route(&mut self, conn: &str) -> Response {
        let Some(c) = self.config.conn(conn).cloned() else {
            return Response::err(format!("no config named '{conn}'"));
        };
        if self.kernel.routed_conns().contains(&conn) || self.kernel.shunted_conns().contains(&conn)
        {
            return Response::ok(format!("'{conn}' already routed"));
        }
        match self.route_one(&c) {
            Ok(m) => {
                info!(target: "cfg", "{m}");
                if !self.manual_routes.iter().any(|n| n == conn) {
                    self.manual_routes.push(conn.to_owned());
                }
                Response::ok(format!("'{conn}' routed"))
            }
            Err(e) => {
                error!(target: "knl", "{e}");
                Response::err(e)
            }
        }
    }

    /// `down name[N]`: one IKE_SA by its unique id (not re-initiated by
    /// `keyingtries`; the conn's other IKE_SAs stay).
    fn down_ike(&mut self, now: Instant, ike_id: u32, conn: Option<String>, tx: Reply) {
        let owner = self
            .core
            .status(now)
            .into_iter()
            .find(|s| s.ike_id == ike_id)
            .map(|s| s.conn);
        let name = format!("{}[{ike_id}]", conn.as_deref().unwrap_or(""));
        let Some(owner) = owner.filter(|o| conn.as_ref().is_none_or(|c| c == o)) else {
            let _ = tx.send(Response::err(format!("no IKE_SA {name} found")));
            return;
        };
        self.pending.remove(&ike_id);
        if !self.core.terminate_ike(now, ike_id) {
            let _ = tx.send(Response::err(format!("no IKE_SA {name} found")));
            return;
        }
        let name = format!("{owner}[{ike_id}]");
        info!(target: "cfg", "closing IKE_SA {name}");
        self.wait(now, Wait::DownIke { ike_id, name }, tx);
    }

    /// `down name{N}`: one CHILD_SA by its unique id (its IKE_SA stays).
    fn down_child(&mut self, now: Instant, child_id: u32, conn: Option<String>, tx: Reply) {
        let owner = self
            .core
            .status(now)
            .into_iter()
            .flat_map(|s| s.children)
            .find(|c| c.child_id == child_id)
            .map(|c| c.conn);
        let name = format!("{}{{{child_id}}}", conn.as_deref().unwrap_or(""));
        let Some(owner) = owner.filter(|o| conn.as_ref().is_none_or(|c| c == o)) else {
            let _ = tx.send(Response::err(format!("no CHILD_SA {name} found")));
            return;
        };
        let name = format!("{owner}{{{child_id}}}");
        if !self.core.terminate_child(now, child_id) {
            let _ = tx.send(Response::err(format!(
                "CHILD_SA {name} cannot be closed now (its IKE_SA is not established, or it is closing)"
            )));
            return;
        }
        self.wait(now, Wait::DownChild { child_id, name }, tx);
    }

    /// The IKE_SA `ike_id` of `conn` is up (`ok`) or failed: answers its `up`.
    pub(super) fn finish_up(&mut self, ike_id: u32, conn: &str, ok: bool, reason: &str) {
        self.answer(|w| match w {
            Wait::Up {
                ike_id: id,
                conn: c,
            } if *id == ike_id && c == conn => Some(if ok {
                Response::ok(format!("connection '{conn}' established successfully"))
            } else {
                Response::err(format!("establishing connection '{conn}' failed: {reason}"))
            }),
            _ => None,
        });
    }

    /// The IKE_SA `ike_id` is up: an `up` waiting for it is answered now,
    /// unless its CHILD_SA is still on the way into the kernel (then the
    /// answer comes with the install, after the firewall rules and the
    /// updown script, as strongSwan's `ipsec up` returns after the CHILD_SA).
    pub(super) fn ike_up_answers(&mut self, now: Instant, ike_id: u32, conn: &str) {
        let waited = self
            .waiters
            .iter()
            .any(|w| matches!(&w.what, Wait::Up { ike_id: id, .. } if *id == ike_id));
        if !waited {
            return;
        }
        let pending = self
            .core
            .status(now)
            .into_iter()
            .find(|s| s.ike_id == ike_id)
            .is_some_and(|s| {
                s.children
                    .iter()
                    .any(|c| self.kernel.installed(c.child_id).is_none())
            });
        if !pending {
            self.finish_up(ike_id, conn, true, "");
        }
    }

    /// The IKE_SA `ike_id` of `conn` is gone: counts it off its `down`s.
    pub(super) fn finish_down(&mut self, ike_id: u32, conn: &str) {
        self.answer(|w| match w {
            Wait::Down { conn: c, remaining } if c == conn => {
                *remaining = remaining.saturating_sub(1);
                (*remaining == 0)
                    .then(|| Response::ok(format!("connection '{conn}' closed successfully")))
            }
            Wait::DownIke { ike_id: id, name } if *id == ike_id => {
                Some(Response::ok(format!("IKE_SA {name} closed successfully")))
            }
            _ => None,
        });
    }

    /// The CHILD_SA `child_id` is gone.
    pub(super) fn finish_down_child(&mut self, child_id: u32) {
        self.answer(|w| match w {
            Wait::DownChild { child_id: id, name } if *id == child_id => {
                Some(Response::ok(format!("CHILD_SA {name} closed successfully")))
            }
            _ => None,
        });
    }

    /// Sends the answer `f` gives a waiter (and drops that waiter).
    fn answer(&mut self, mut f: impl FnMut(&mut Wait) -> Option<Response>) {
        let mut i = 0;
        while i < self.waiters.len() {
            match f(&mut self.waiters[i].what) {
                Some(r) => {
                    let _ = self.waiters.swap_remove(i).tx.send(r);
                }
                None => i += 1,
            }
        }
    }

    /// Answers the waiters whose deadline passed.
    pub(super) fn expire_waiters(&mut self, now: Instant) {
        let (due, keep): (Vec<Waiter>, Vec<Waiter>) =
            self.waiters.drain(..).partition(|w| w.deadline <= now);
        self.waiters = keep;
        for w in due {
            let r = w.timed_out();
            let _ = w.tx.send(r);
        }
    }
}
