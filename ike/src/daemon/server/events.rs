//! The core's events (CHILD_SAs to install or delete, IKE_SAs up or down, a
//! peer that moved) and the kernel's (ACQUIRE, EXPIRE, MAPPING), turned into
//! kernel calls, updown runs and firewall rules, routes and virtual IPs,
//! VICI events and the answers to waiting `up`/`down` requests.

use super::*;

impl<C: Core> Daemon<C> {
    /// A kernel event: ACQUIRE on a trap policy starts its conn.
    pub(super) fn on_kernel_event(&mut self, now: Instant, ev: xfrm::Event) {
        match ev {
            xfrm::Event::Acquire(a) => {
                let Some(conn) = self.kernel.trap_conn(&a).map(str::to_owned) else {
                    debug!(target: "knl", "ACQUIRE for a policy iked did not install ({} -> {})", a.selector.src, a.selector.dst);
                    return;
                };
                if self.pending.values().any(|c| *c == conn) {
                    debug!(target: "knl", "ACQUIRE for '{conn}' while it is being established");
                    return;
                }
                info!(target: "knl", "creating acquire job for policy {} === {} (conn '{conn}')", a.selector.src, a.selector.dst);
                match self
                    .core
                    .acquire(now, &conn, a.selector.src.addr, a.selector.dst.addr)
                {
                    Ok(id) => {
                        self.pending.insert(id, conn);
                    }
                    Err(e) => error!(target: "cfg", "unable to initiate '{conn}' on ACQUIRE: {e}"),
                }
            }
            xfrm::Event::Mapping(m) => match self.kernel.on_mapping(&m) {
                None => {
                    debug!(target: "knl", "NAT mappings changed for an SA iked did not install (SPI {:08x})", m.spi)
                }
                Some(Ok((conn, child))) => {
                    info!(target: "knl",
                        "NAT mappings of ESP CHILD_SA with SPI {:08x} and reqid {{{}}} changed, {}{{{}}} now at {}:{} (was {}:{}): SAs updated",
                        m.spi, m.reqid, conn, child, m.new_src, m.new_sport, m.old_src, m.old_sport);
                    // the IKE_SA follows (keepalives, DPD) and its other CHILD_SAs too
                    let to = std::net::SocketAddr::new(m.new_src, m.new_sport);
                    if !self.core.peer_moved(child, to) {
                        debug!(target: "ike", "IKE_SA of {conn}{{{child}}} not moved to {to}");
                    }
                }
                Some(Err(e)) => {
                    warn!(target: "knl", "NAT mapping change of SPI {:08x} not applied: {e}", m.spi)
                }
            },
            xfrm::Event::Expire(e) if e.hard => {
                debug!(target: "knl", "kernel deleted {} (hard lifetime)", e.id);
            }
            other => debug!(target: "knl", "kernel event {other:?}"),
        }
    }

    /// A datagram from a socket, with `queued` more waiting behind it: its
    /// key exchange (if it starts one) goes to a worker when the loop is busy.
    pub fn take_datagram(&mut self, d: Datagram, queued: usize) {
        let offload = self.key_workers.as_ref().is_some_and(|w| w.offload(queued));
        self.core.offload_key_exchanges(offload);
        self.on_datagram(Instant::now(), d);
    }

    /// A key exchange's result from a worker.
    pub fn take_key_job_done(&mut self, done: crate::sa::KeyJobDone) {
        if let Some(w) = &mut self.key_workers {
            w.finished();
        }
        self.core.key_job_done(done);
    }

    /// Drains the core: kernel actions first (so SAs exist before the message
    /// that completes them leaves), then datagrams.
    pub fn drain(&mut self, now: Instant) {
        while let Some(job) = self.core.poll_key_job() {
            let job = match &mut self.key_workers {
                Some(w) => match w.submit(job) {
                    Ok(()) => continue,
                    Err(job) => job,
                },
                None => job,
            };
            error!(target: "dmn", "the key exchange workers are gone: the event loop does key exchanges itself");
            self.key_workers = None;
            self.core.offload_key_exchanges(false);
            self.core.key_job_done(job.run(&mut rand_core::OsRng));
        }
        while let Some(ev) = self.core.poll_event() {
            self.on_event(now, ev);
        }
        while let Some(t) = self.core.poll_transmit() {
            self.sockets.send(t.local, t.remote, &t.data);
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::InstallChild(c) => {
                let verdict = self.kernel.install(&c);
                match &verdict {
                    Ok(()) => info!(target: "knl",
                        "CHILD_SA {}{{{}}} installed in the kernel: SPIs {:08x}_i {:08x}_o{}, TS {}",
                        c.conn, c.child_id, c.spi_in, c.spi_out,
                        if c.defer_outbound { " (outbound SA after the old CHILD_SA is deleted)" } else { "" },
                        ts_line(&c)),
                    Err(e) => {
                        error!(target: "knl", "{e}; CHILD_SA {}{{{}}} not installed", c.conn, c.child_id)
                    }
                }
                self.core
                    .child_installed(now, c.child_id, verdict.map_err(crate::sa::KernelError));
                if (c.updown.is_some() || c.firewall) && self.kernel.installed(c.child_id).is_some()
                {
                    let ids = self
                        .core
                        .status_of(now, c.ike_id)
                        .map(|s| (s.local_id, s.remote_id))
                        .unwrap_or_default();
                    self.updown.up(&c, &ids.0, &ids.1);
                }
                if self.kernel.installed(c.child_id).is_some() {
                    self.routing.child_up(self.routing_settings(), &c);
                    self.publish_child_up(now, &c);
                }
                self.finish_up(c.ike_id, &c.conn, true, "");
            }
            Event::InstallOutbound { conn, child_id } => {
                match self.kernel.install_outbound(child_id) {
                    Ok(true) => {
                        info!(target: "knl", "CHILD_SA {conn}{{{child_id}}}: outbound SA installed")
                    }
                    Ok(false) => {
                        debug!(target: "knl", "CHILD_SA {conn}{{{child_id}}}: no outbound SA waiting")
                    }
                    Err(e) => error!(target: "knl", "CHILD_SA {conn}{{{child_id}}}: {e}"),
                }
            }
            Event::ReleaseSpi { local, spi } => {
                if self.kernel.release_spi(local, spi) {
                    debug!(target: "knl", "removed unused SPI {spi:08x} from the kernel");
                }
            }
            Event::DeleteChild {
                conn,
                child_id,
                spi_in,
                spi_out,
                ..
            } => {
                self.publish_child_down(now, &conn, child_id);
                let removed = self.kernel.remove(child_id);
                self.updown.down(child_id);
                self.routing.child_down(child_id);
                self.finish_down_child(child_id);
                if removed {
                    info!(target: "chd", "CHILD_SA {conn}{{{child_id}}} closed, SPIs {spi_in:08x}_i {spi_out:08x}_o removed from the kernel");
                } else {
                    debug!(target: "chd", "CHILD_SA {conn}{{{child_id}}} closed (nothing installed)");
                }
            }
            Event::PeerMoved {
                conn,
                ike_id,
                remote,
                child_ids,
            } => {
                for id in child_ids {
                    match self.kernel.move_peer(id, remote) {
                        Ok(true) => info!(target: "knl",
                            "{conn}[{ike_id}]: UDP encapsulation of CHILD_SA {conn}{{{id}}} moved to {remote}"),
                        Ok(false) => {}
                        Err(e) => warn!(target: "knl",
                            "{conn}[{ike_id}]: CHILD_SA {conn}{{{id}}} not moved to {remote}: {e}"),
                    }
                }
            }
            Event::PeerMigrated {
                conn,
                ike_id,
                local,
                remote,
                encap,
                child_ids,
            } => {
                for id in child_ids {
                    match self.kernel.migrate(id, local, remote, encap) {
                        Ok(true) => info!(target: "knl",
                            "{conn}[{ike_id}]: CHILD_SA {conn}{{{id}}} moved to {local} === {remote}{}",
                            if encap { " (UDP-encapsulated)" } else { "" }),
                        Ok(false) => {}
                        Err(e) => warn!(target: "knl",
                            "{conn}[{ike_id}]: CHILD_SA {conn}{{{id}}} not moved to {remote}: {e}"),
                    }
                }
            }
            Event::IkeUp { conn, ike_id } => {
                debug!(target: "ike", "IKE_SA {conn}[{ike_id}] established");
                let vips = self.core.virtual_ips(ike_id).0;
                if !vips.is_empty() {
                    let local = self.core.status_of(now, ike_id);
                    if let Some(local) = local.map(|s| s.local.ip()) {
                        self.routing
                            .ike_up(self.routing_settings(), ike_id, local, &vips);
                    }
                }
                let dns = self.core.dns_servers(ike_id);
                if !dns.is_empty() {
                    let file = self.config.strongswan.charon.resolve_file.clone();
                    self.resolv
                        .ike_up(std::path::Path::new(&file), ike_id, &dns);
                }
                self.pending.remove(&ike_id);
                self.attempts.remove(&conn);
                self.ike_up_answers(now, ike_id, &conn);
                self.publish_ike_up(now, ike_id);
            }
            Event::IkeDown {
                conn,
                ike_id,
                reason,
            } => {
                debug!(target: "ike", "IKE_SA {conn}[{ike_id}] down: {reason}");
                self.finish_up(ike_id, &conn, false, &reason);
                self.finish_down(ike_id, &conn);
                self.routing.ike_down(ike_id);
                self.resolv.ike_down(ike_id);
                self.publish_ike_down(now, ike_id, &conn);
                if self.pending.remove(&ike_id).is_some() && !self.stopping {
                    self.schedule_retry(now, &conn, &reason);
                }
            }
        }
    }

    pub(super) fn routing_settings(&self) -> crate::daemon::routing::Settings {
        crate::daemon::routing::Settings::of(&self.config.strongswan.charon)
    }

    fn schedule_retry(&mut self, now: Instant, conn: &str, reason: &str) {
        let Some(tries) = self.keyingtries(conn) else {
            return;
        };
        let n = self.attempts.entry(conn.to_owned()).or_insert(0);
        *n += 1;
        let more = match tries {
            conf::conn::KeyingTries::Forever => true,
            conf::conn::KeyingTries::Count(k) => *n < k,
        };
        if more {
            let delay = Duration::from_secs((1u64 << (*n).min(6)).min(60));
            info!(target: "mgr", "'{conn}' failed ({reason}); retrying in {}s (attempt {} of {})",
                delay.as_secs(), *n + 1,
                match tries { conf::conn::KeyingTries::Forever => "%forever".to_owned(), conf::conn::KeyingTries::Count(k) => k.to_string() });
            self.retries.push((now + delay, conn.to_owned()));
        } else {
            warn!(target: "mgr", "'{conn}' failed ({reason}); giving up after {} attempt{}", *n, if *n == 1 { "" } else { "s" });
            self.attempts.remove(conn);
        }
    }
}
