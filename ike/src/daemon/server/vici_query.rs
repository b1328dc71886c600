//! A VICI client's questions to the daemon loop: control requests (the
//! control socket's path) and snapshots (status with kernel counters, the
//! configuration, the virtual-IP pools) and rekeys.

use super::Daemon;
use crate::daemon::core::Core;
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

impl<C: Core> Daemon<C> {
    /// A VICI client's query: control requests take the control socket's
    /// path; a snapshot is the status (with counters) and the configuration.
    pub(super) fn on_vici(&mut self, now: Instant, q: crate::daemon::vici::Query) {
        match q {
            crate::daemon::vici::Query::Control(req, tx) => self.on_request(now, req, tx),
            crate::daemon::vici::Query::Snapshot(tx) => {
                let s = crate::daemon::vici::Snapshot {
                    report: self.report(now, true),
                    config: self.config.clone(),
                    addrs: self.addrs.clone(),
                    scheduled: self.waiters.len() + self.retries.len(),
                    pools: self.pools(),
                    key_publics: Arc::new(self.core.key_publics()),
                };
                let _ = tx.send(s);
            }
            crate::daemon::vici::Query::Rekey(targets, tx) => {
                let r = targets.into_iter().map(|t| self.rekey(now, t)).collect();
                let _ = tx.send(r);
            }
        }
    }

    /// Starts the rekey of one SA (VICI `rekey`); Err: why not.
    fn rekey(&mut self, now: Instant, t: crate::daemon::vici::rekey::Target) -> Result<(), String> {
        use crate::daemon::vici::rekey::Target;
        let what = match t {
            Target::Ike(id) => format!("IKE_SA [{id}]"),
            Target::Child(id) => format!("CHILD_SA {{{id}}}"),
        };
        // Logged first: the core's own "rekeying ..." line follows.
        info!(target: "cfg", "rekey of {what} requested over VICI");
        let r = match t {
            Target::Ike(id) => self.core.rekey_ike(now, id),
            Target::Child(id) => self.core.rekey_child(now, id),
        };
        r.map_err(|e| {
            let e = format!("{what} not rekeyed: {e}");
            info!(target: "cfg", "{e}");
            e
        })
    }

    /// The conns' virtual-IP pools (each once) with their leases.
    pub(super) fn pools(&self) -> Vec<crate::daemon::vici::PoolView> {
        let mut v: Vec<crate::daemon::vici::PoolView> = Vec::new();
        let ends = self.config.conns.iter().flat_map(|c| [&c.left, &c.right]);
        for src in ends.flat_map(|e| e.sourceip.iter()) {
            let conf::conn::SourceIp::Pool(p) = src else {
                continue;
            };
            let base = match p {
                conf::values::TsAddr::Net(n) => n.addr,
                conf::values::TsAddr::Range(a, _) => *a,
                conf::values::TsAddr::Dynamic => continue,
            };
            let name = p.to_string();
            if v.iter().any(|x| x.name == name) {
                continue;
            }
            let (size, online, offline) = self.core.pool_stats(&name, p);
            let leases = self.core.pool_leases(&name);
            v.push(crate::daemon::vici::PoolView {
                name,
                base,
                size,
                online,
                offline,
                leases,
            });
        }
        v
    }
}
