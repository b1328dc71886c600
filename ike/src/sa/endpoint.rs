//! The endpoint: owns the services (`Ctx`) and the IKE_SA tables, routes
//! datagrams to IKE_SAs by SPI, runs commands, keeps every IKE_SA's next
//! deadline in one ordered timer table, and applies what an IKE_SA asks of
//! the others (rekeyed successors, uniqueids, restarts).

use super::api::*;
use super::cookie::Cookies;
use super::ctx::{Action, Counters, Ctx};
use super::half_open::HalfOpen;
use super::ike_sa::{IkeSa, NATT_PORT, Queued, on_init_request};
use super::key_jobs::{KeyJob, KeyJobDone, Work};
use super::peers::{Peers, peer_hash};
use crate::crypto::Provider;
use crate::wire::{Message, RawHeader};
use rand_core::CryptoRngCore;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

type Spi = [u8; 8];

/// The sans-IO IKEv2 endpoint.
pub struct Endpoint {
    ctx: Ctx,
    /// IKE_SAs by our SPI.
    /// Boxed: a table of ~1.5 KB values wastes a third of its slots' size
    /// between doublings; a table of pointers wastes 8 bytes a slot.
    sas: HashMap<Spi, Box<IkeSa>>,
    /// IKE_SA unique id -> our SPI.
    by_id: HashMap<u32, Spi>,
    /// CHILD_SA unique id -> the IKE_SA unique id that owns it.
    child_owner: HashMap<u32, u32>,
    /// Responder half-open IKE_SAs, counted in all and per source.
    half_open: HalfOpen,
    /// Every IKE_SA's next deadline, ordered; `deadline` is its index.
    timers: BTreeSet<(Instant, Spi)>,
    deadline: HashMap<Spi, Instant>,
    cookies: Cookies,
    /// Established IKE_SAs by peer (uniqueids).
    peers: Peers,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("conns", &self.ctx.conns.len())
            .field("sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub fn new(
        config: Arc<conf::Config>,
        local_addrs: Vec<IpAddr>,
        provider: Provider,
        rng: Box<dyn CryptoRngCore + Send>,
        spis: Box<dyn SpiAllocator + Send>,
    ) -> Endpoint {
        let mut ctx = Ctx::new(config, local_addrs, provider, rng, spis);
        ctx.pools.announce(&ctx.conns);
        Endpoint {
            ctx,
            sas: HashMap::new(),
            by_id: HashMap::new(),
            child_owner: HashMap::new(),
            half_open: HalfOpen::default(),
            timers: BTreeSet::new(),
            deadline: HashMap::new(),
            cookies: Cookies::default(),
            peers: Peers::default(),
        }
    }

    /// Certificates, keys and CAs for public-key authentication (the daemon loads them).
    pub fn set_credentials(&mut self, creds: Arc<crate::creds::Credentials>) {
        self.ctx.creds = creds;
    }

    /// The credentials in use (for status: which certificates have keys).
    pub fn credentials(&self) -> &Arc<crate::creds::Credentials> {
        &self.ctx.creds
    }

    /// The kernel's routing table, for conns with an unspecified local address.
    pub fn set_routes(&mut self, routes: Box<dyn RouteLookup + Send>) {
        self.ctx.routes = routes;
    }

    /// strongswan.conf's `charon.*` tunables.
    pub fn set_settings(&mut self, s: CoreSettings) {
        self.ctx.settings = s;
    }

    /// How many half-open IKE_SAs before COOKIEs are demanded (strongSwan's default: 10).
    pub fn set_cookie_threshold(&mut self, n: usize) {
        self.ctx.settings.cookie_threshold = n;
    }

    /// New configuration (reload): existing SAs keep the conn they were made with.
    pub fn set_config(&mut self, config: Arc<conf::Config>) {
        self.ctx.conns = config.conns.iter().cloned().map(Arc::new).collect();
        self.ctx.config = config;
        self.ctx.pools.announce(&self.ctx.conns);
    }

    /// Test seam (feature `testing`): `f(exchange, response, payloads)`
    /// rewrites the payloads of every encrypted message this endpoint sends,
    /// before protection, to emulate a peer's quirks (a client that sends
    /// no CERTREQ, proposes other selectors on rekey, ...).
    #[cfg(feature = "testing")]
    pub fn set_rewrite(
        &mut self,
        f: impl FnMut(crate::wire::ExchangeType, bool, &mut Vec<crate::wire::Payload>) + Send + 'static,
    ) {
        self.ctx.rewrite = Some(Box::new(f));
    }

    /// This host's addresses (the daemon watches them). A MOBIKE IKE_SA we
    /// initiated whose route towards the peer now leaves from another
    /// address moves there and tells the peer (RFC 4555, `mobike.rs`).
    pub fn set_local_addrs(&mut self, now: Instant, addrs: Vec<IpAddr>) {
        let changed = self.ctx.local_addrs != addrs;
        self.ctx.local_addrs = addrs;
        // the IKE_SAs that move on their own; MOBIKE responders (which tell
        // their peers their new address list) only when the addresses
        // changed (a gateway with many SAs and churning routes does not
        // visit each of them)
        use super::ike_sa::Mobike;
        let keys: Vec<(Spi, Mobike)> = self
            .sas
            .iter()
            .filter(|(_, sa)| {
                sa.mobike == Mobike::Initiator || (changed && sa.mobike == Mobike::Responder)
            })
            .map(|(k, sa)| (*k, sa.mobike))
            .collect();
        for (key, role) in keys {
            if role == Mobike::Initiator {
                self.with_sa(key, |sa, ctx| sa.roam(ctx, now));
            } else {
                self.with_sa(key, |sa, ctx| sa.addresses_changed(ctx, now));
            }
        }
    }

    /// Hand responder key exchanges out (`poll_key_job`) instead of doing
    /// them inside `handle_datagram` (the daemon's worker threads run them).
    pub fn offload_key_exchanges(&mut self, on: bool) {
        self.ctx.jobs.offload = on;
    }

    /// The next key exchange to run (with `offload_key_exchanges`).
    pub fn poll_key_job(&mut self) -> Option<KeyJob> {
        self.ctx.jobs.poll()
    }

    /// A key exchange is done: its IKE_SA answers the IKE_SA_INIT.
    pub fn key_job_done(&mut self, done: KeyJobDone) {
        let Some(key) = self.ctx.jobs.finish(done.id) else {
            debug!(target: "ike", "key exchange result {} for no IKE_SA: ignored", done.id);
            return;
        };
        if self
            .with_sa(key, |sa, ctx| sa.job_done(ctx, done.output))
            .is_none()
        {
            debug!(target: "ike", "key exchange result for a gone IKE_SA: ignored");
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ctx.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.ctx.events.pop_front()
    }

    /// The next deadline of any IKE_SA: the head of the timer table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// What was dropped, refused or failed so far.
    pub fn counters(&self) -> Counters {
        self.ctx.counters
    }

    /// IKE_SAs not yet authenticated (the half-open table).
    pub fn half_open(&self) -> usize {
        self.half_open.len()
    }

    // ------------------------------------------------------------------
    // The table

    /// Runs `f` on the IKE_SA with our SPI `key`, then settles the table.
    fn with_sa<R>(&mut self, key: Spi, f: impl FnOnce(&mut IkeSa, &mut Ctx) -> R) -> Option<R> {
        let mark = self.ctx.events.len();
        let sa = self.sas.get_mut(&key)?;
        // Names the IKE_SA in the lines logged meanwhile (daemon::logging).
        let _span =
            tracing::error_span!(target: "iked_sa", "ike_sa", name = %sa.conn.name, id = sa.id)
                .entered();
        let r = f(sa, &mut self.ctx);
        self.settle(key, mark);
        Some(r)
    }

    fn key_of_id(&self, ike_id: u32) -> Option<Spi> {
        self.by_id.get(&ike_id).copied()
    }

    fn insert(&mut self, sa: IkeSa) {
        let key = sa.our_spi();
        if self.sas.contains_key(&key) {
            warn!(target: "ike", "IKE SPI {} already in use: dropping {}", hex::encode(key), sa.name());
            return;
        }
        if sa.is_half_open() {
            self.half_open.insert(sa.remote, sa.spi_i, key);
        }
        self.by_id.insert(sa.id, key);
        for c in &sa.children {
            self.child_owner.insert(c.id, sa.id);
        }
        self.sas.insert(key, Box::new(sa));
        self.index_peer(key);
        self.reschedule(key);
    }

    /// Files an established IKE_SA under its peer (once).
    fn index_peer(&mut self, key: Spi) {
        if self.peers.contains(&key) {
            return;
        }
        if let Some(sa) = self.sas.get(&key).filter(|sa| sa.is_established()) {
            let h = peer_hash(&sa.conn.name, &sa.local_id, &sa.peer_key());
            self.peers.insert(key, h);
        }
    }

    fn remove(&mut self, key: Spi) -> Option<IkeSa> {
        let sa = *self.sas.remove(&key)?;
        self.by_id.remove(&sa.id);
        self.half_open.remove(&key);
        if let Some(t) = self.deadline.remove(&key) {
            self.timers.remove(&(t, key));
        }
        self.peers.remove(&key);
        Some(sa)
    }

    fn reschedule(&mut self, key: Spi) {
        if let Some(t) = self.deadline.remove(&key) {
            self.timers.remove(&(t, key));
        }
        let next = self
            .sas
            .get(&key)
            .and_then(|sa| sa.next_timer(&self.ctx.settings));
        if let Some((t, _)) = next {
            self.timers.insert((t, key));
            self.deadline.insert(key, t);
        }
    }

    /// After an IKE_SA ran: index its new CHILD_SAs, drop it if dead,
    /// re-file its deadline, and apply what it asked of the endpoint.
    fn settle(&mut self, key: Spi, mark: usize) {
        self.index_events(mark);
        match self.sas.get(&key) {
            Some(sa) if sa.is_dead() => {
                self.remove(key);
            }
            Some(sa) => {
                if !sa.is_half_open() {
                    self.half_open.remove(&key);
                }
                self.index_peer(key);
                self.reschedule(key);
            }
            None => {}
        }
        self.apply_actions();
    }

    /// Which IKE_SA owns which CHILD_SA, from the events since `mark`.
    fn index_events(&mut self, mark: usize) {
        for e in self.ctx.events.iter().skip(mark) {
            match e {
                Event::InstallChild(c) => {
                    self.child_owner.insert(c.child_id, c.ike_id);
                }
                Event::DeleteChild { child_id, .. } => {
                    self.child_owner.remove(child_id);
                    self.ctx.claims.remove(*child_id);
                }
                _ => {}
            }
        }
    }

    fn apply_actions(&mut self) {
        // Bounded: an action may cause others (a restart deletes, ...).
        for _ in 0..64 {
            let actions = std::mem::take(&mut self.ctx.actions);
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Insert(sa) => {
                        for c in &sa.children {
                            self.child_owner.insert(c.id, sa.id);
                        }
                        self.insert(*sa);
                    }
                    Action::Adopt { from, to } => self.adopt(from, to),
                    Action::ReplaceDuplicates { ike_id } => self.replace_duplicates(ike_id),
                    Action::Restart(names) => {
                        for n in names {
                            info!(target: "ike", "restarting conn '{n}'");
                            if let Err(e) = self.initiate(Instant::now(), &n) {
                                warn!(target: "ike", "restart of '{n}' failed: {e}");
                            }
                        }
                    }
                }
            }
        }
        warn!(target: "ike", "too many follow-up actions; the rest is dropped");
        self.ctx.actions.clear();
    }

    /// A rekey collision's survivor `to` takes the CHILD_SAs and virtual IPs
    /// of the redundant new IKE_SA `from` (RFC 7296 §2.8.2).
    fn adopt(&mut self, from: u32, to: u32) {
        let (Some(kf), Some(kt)) = (self.key_of_id(from), self.key_of_id(to)) else {
            warn!(target: "ike", "IKE_SA rekey collision: #{from} or #{to} is gone; its CHILD_SAs cannot move");
            return;
        };
        let Some(src) = self.sas.get_mut(&kf) else {
            return;
        };
        let children = std::mem::take(&mut src.children);
        let vips = std::mem::take(&mut src.vips);
        let Some(dst) = self.sas.get_mut(&kt) else {
            warn!(target: "ike", "IKE_SA rekey collision: #{to} is gone; the CHILD_SAs stay on #{from}");
            if let Some(src) = self.sas.get_mut(&kf) {
                src.children = children;
                src.vips = vips;
            }
            return;
        };
        info!(target: "ike", "IKE_SA rekey collision: {} CHILD_SA(s) move from #{from} to {}", children.len(), dst.name());
        for c in &children {
            self.child_owner.insert(c.id, to);
        }
        dst.children.extend(children);
        dst.vips = vips;
        self.reschedule(kf);
        self.reschedule(kt);
    }

    /// `uniqueids`: a new IKE_SA of a peer identity replaces its older ones on the same conn.
    fn replace_duplicates(&mut self, ike_id: u32) {
        let Some(new) = self.key_of_id(ike_id).and_then(|k| self.sas.get(&k)) else {
            return;
        };
        // The same peer: the same authenticated identity (the EAP identity
        // after EAP, never an unauthenticated IDi beside it).
        let (conn, local_id, peer) = (new.conn.name.clone(), new.local_id.clone(), new.peer_key());
        // Only the IKE_SAs filed under this peer (a hash: checked in full).
        let old: Vec<Spi> = self
            .peers
            .get(peer_hash(&conn, &local_id, &peer))
            .iter()
            .copied()
            .filter(|k| {
                self.sas.get(k).is_some_and(|o| {
                    o.id != ike_id
                        && o.is_established()
                        && o.peer_key() == peer
                        && o.local_id == local_id
                        && o.conn.name == conn
                })
            })
            .collect();
        let now = Instant::now();
        for k in old {
            self.with_sa(k, |o, ctx| {
                info!(target: "ike", "deleting duplicate IKE_SA {} of the same peer (uniqueids)", o.name());
                o.delete(ctx, now, "replaced by a new IKE_SA (uniqueids)");
            });
        }
    }

    // ------------------------------------------------------------------
    // Commands

    /// A kernel ACQUIRE for a trap policy of `conn` (auto=route): initiates
    /// the conn, proposing the triggering packet's addresses first.
    pub fn acquire(
        &mut self,
        now: Instant,
        conn_name: &str,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<u32, InitiateError> {
        let id = self.initiate(now, conn_name)?;
        if let Some(sa) = self.key_of_id(id).and_then(|k| self.sas.get_mut(&k)) {
            if matches!(sa.state, super::ike_sa::State::InitSent { .. }) {
                sa.acquire = Some((src, dst));
            }
        }
        Ok(id)
    }

    /// Starts an IKE_SA (with its first CHILD_SA) for a configured conn; a
    /// conn to a peer we already have an IKE_SA with gets a CHILD_SA on it.
    pub fn initiate(&mut self, now: Instant, conn_name: &str) -> Result<u32, InitiateError> {
        let conn = self
            .ctx
            .conn(conn_name)
            .ok_or_else(|| InitiateError::NoSuchConn(conn_name.to_owned()))?;
        if conn.is_shunt() {
            let kind = match conn.conn_type {
                conf::conn::ConnType::Drop => "drop",
                _ => "passthrough",
            };
            return Err(InitiateError::Shunt(conn_name.to_owned(), kind));
        }
        let side = conn.local_side(&self.ctx.local_addrs);
        let (_, remote_end) = conn.ends(side);
        let remote_ip = remote_end
            .addrs()
            .next()
            .ok_or_else(|| InitiateError::NoPeerAddress(conn_name.to_owned()))?;
        let local_ip = self
            .ctx
            .local_addr_for(&conn, side, remote_ip)
            .ok_or_else(|| InitiateError::NoLocalAddress(conn_name.to_owned()))?;
        // Two conns to the same peer share one IKE_SA, as strongSwan does, when
        // the peer authenticates the same way for both.
        let existing = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.initiator || sa.is_established())
            .find(|(_, sa)| {
                sa.remote.ip() == remote_ip
                    && sa.local.ip() == local_ip
                    && matches!(
                        sa.state,
                        super::ike_sa::State::Established
                            | super::ike_sa::State::InitSent { .. }
                            | super::ike_sa::State::AuthSent { .. }
                    )
                    && (sa.conn.name == conn.name
                        || (super::select::same_peer(&sa.conn, sa.side, &conn, side)
                            && sa.ike_allowed_by(&self.ctx, &conn)))
            })
            .map(|(k, _)| *k);
        if let Some(k) = existing {
            let r = self.with_sa(k, |sa, ctx| {
                let id = sa.id;
                if sa.children.iter().any(|c| c.conn == conn.name)
                    || sa.deferred.iter().any(|c| c.name == conn.name)
                    || (sa.conn.name == conn.name && !sa.is_established())
                {
                    return id;
                }
                info!(target: "ike", "adding CHILD_SA {} to IKE_SA {}", conn.name, sa.name());
                if sa.is_established() {
                    sa.queue_request(
                        ctx,
                        now,
                        Queued::CreateChild {
                            conn: conn.clone(),
                            rekey_of: None,
                        },
                    );
                } else {
                    sa.deferred.push(conn.clone());
                }
                id
            });
            if let Some(id) = r {
                return Ok(id);
            }
        }
        let mark = self.ctx.events.len();
        let sa = IkeSa::start_initiator(&mut self.ctx, now, conn, side, local_ip, remote_ip)?;
        let (id, key) = (sa.id, sa.our_spi());
        self.insert(sa);
        self.settle(key, mark);
        Ok(id)
    }

    /// The daemon's answer to [`Event::InstallChild`]: the kernel accepted the
    /// CHILD_SA, or refused it. A responder's answer goes out only now.
    pub fn child_installed(
        &mut self,
        now: Instant,
        child_id: u32,
        result: Result<(), KernelError>,
    ) {
        let Some(key) = self
            .child_owner
            .get(&child_id)
            .and_then(|id| self.key_of_id(*id))
        else {
            debug!(target: "chd", "kernel verdict for unknown CHILD_SA {{{child_id}}}");
            return;
        };
        self.with_sa(key, |sa, ctx| {
            sa.child_installed(ctx, now, child_id, result)
        });
    }

    /// The kernel refused a CHILD_SA after all: forget it and tell the peer.
    pub fn child_failed(&mut self, now: Instant, child_id: u32) {
        self.child_installed(
            now,
            child_id,
            Err(KernelError("the kernel refused the CHILD_SA".into())),
        );
    }

    /// The kernel saw ESP of CHILD_SA `child_id` arrive from `remote`, a new
    /// NAT mapping of the peer (XFRM_MSG_MAPPING). The owning IKE_SA follows it
    /// (keepalives, DPD and requests go to the new port) and a
    /// [`Event::PeerMoved`] asks the daemon to move every CHILD_SA's UDP
    /// encapsulation. Only the port may change (no MOBIKE): a new address, a
    /// non-NAT-T IKE_SA or an unknown child returns false and changes nothing.
    pub fn peer_moved(&mut self, child_id: u32, remote: SocketAddr) -> bool {
        let Some(key) = self
            .child_owner
            .get(&child_id)
            .and_then(|id| self.key_of_id(*id))
        else {
            return false;
        };
        self.with_sa(key, |sa, ctx| {
            let ok = sa.local.port() == NATT_PORT && sa.remote.ip() == remote.ip();
            if ok && sa.remote != remote {
                sa.move_peer(ctx, remote);
            }
            ok
        })
        .unwrap_or(false)
    }

    /// The reqid a conn's CHILD_SAs use (`reqid=`, else the one assigned on first use).
    pub fn reqid(&mut self, conn_name: &str) -> Option<u32> {
        let conn = self.ctx.conn(conn_name)?;
        Some(self.ctx.reqid_for(&conn))
    }

    /// Deletes every IKE_SA of a conn (INFORMATIONAL with DELETE). Returns how many.
    pub fn terminate(&mut self, now: Instant, conn_name: &str) -> usize {
        let keys: Vec<Spi> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.conn.name == conn_name && !sa.is_dead())
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            self.with_sa(*k, |sa, ctx| sa.delete(ctx, now, "deleted by command"));
        }
        keys.len()
    }

    /// Deletes one IKE_SA by its unique id (`name[N]`; VICI `terminate
    /// ike-id`). False if there is no such IKE_SA.
    pub fn terminate_ike(&mut self, now: Instant, ike_id: u32) -> bool {
        let Some(k) = self.key_of_id(ike_id) else {
            return false;
        };
        self.with_sa(k, |sa, ctx| sa.delete(ctx, now, "deleted by command"))
            .is_some()
    }

    /// Deletes one CHILD_SA by its unique id (`name{N}`) with an
    /// INFORMATIONAL DELETE; the IKE_SA stays. False if there is no such CHILD_SA.
    pub fn terminate_child(&mut self, now: Instant, child_id: u32) -> bool {
        let Some(k) = self
            .child_owner
            .get(&child_id)
            .and_then(|id| self.key_of_id(*id))
        else {
            return false;
        };
        self.with_sa(k, |sa, ctx| sa.delete_child(ctx, now, child_id))
            .unwrap_or(false)
    }

    /// Rekeys one IKE_SA now (VICI `rekey ike-id`), as its rekey timer
    /// would: a CREATE_CHILD_SA with new SPIs and keys; its CHILD_SAs move over.
    pub fn rekey_ike(&mut self, now: Instant, ike_id: u32) -> Result<(), RekeyError> {
        let k = self
            .key_of_id(ike_id)
            .ok_or(RekeyError::NoSuchIke(ike_id))?;
        self.with_sa(k, |sa, ctx| sa.rekey_now(ctx, now, None))
            .unwrap_or(Err(RekeyError::NoSuchIke(ike_id)))
    }

    /// Rekeys one CHILD_SA now (VICI `rekey child-id`), as its rekey timer would.
    pub fn rekey_child(&mut self, now: Instant, child_id: u32) -> Result<(), RekeyError> {
        let k = self
            .child_owner
            .get(&child_id)
            .and_then(|id| self.key_of_id(*id))
            .ok_or(RekeyError::NoSuchChild(child_id))?;
        self.with_sa(k, |sa, ctx| sa.rekey_now(ctx, now, Some(child_id)))
            .unwrap_or(Err(RekeyError::NoSuchChild(child_id)))
    }

    /// Deletes every IKE_SA (DELETE sent once, no waiting) and reports every CHILD_SA gone.
    pub fn shutdown(&mut self, now: Instant) {
        let keys: Vec<Spi> = self.sas.keys().copied().collect();
        for k in &keys {
            self.with_sa(*k, |sa, ctx| sa.delete(ctx, now, "shutting down"));
        }
        let keys: Vec<Spi> = self.sas.keys().copied().collect();
        for k in keys {
            self.with_sa(k, |sa, ctx| sa.kill(ctx, "shutting down"));
        }
        self.ctx.actions.clear();
    }

    /// Runs every deadline that is due: only the IKE_SAs at the head of the
    /// timer table are visited.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Bounded by the number of SAs: each is visited at most once per call.
        for _ in 0..=self.sas.len() {
            let Some(&(t, key)) = self.timers.first() else {
                return;
            };
            if t > now {
                return;
            }
            self.timers.remove(&(t, key));
            self.deadline.remove(&key);
            self.with_sa(key, |sa, ctx| sa.on_timeout(ctx, now));
        }
    }

    // ------------------------------------------------------------------
    // Receiving

    /// A datagram from the network (without the non-ESP marker).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        let raw = match RawHeader::peek(data) {
            Ok(r) => r,
            Err(e) => {
                self.ctx.counters.dropped += 1;
                info!(target: "net", "dropped {}-octet datagram from {remote}: {e}", data.len());
                return;
            }
        };
        if raw.major_version != 2 {
            self.ctx.counters.dropped += 1;
            info!(target: "net", "dropped IKEv{} message from {remote}: only IKEv2 is supported", raw.major_version);
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.ctx.counters.dropped += 1;
                info!(target: "net", "dropped malformed message from {remote}: {e}");
                return;
            }
        };
        let h = msg.header;
        if super::ike_sa::is_init_request(&msg) {
            self.on_init_request(now, local, remote, data, msg);
            return;
        }
        // Our SPI is the initiator's SPI if the peer says we are the initiator.
        let ours = if h.flags.initiator() {
            h.spi_r
        } else {
            h.spi_i
        };
        let response = h.flags.response();
        let Some(sa) = self.sas.get(&ours) else {
            self.ctx.counters.dropped += 1;
            info!(target: "net", "dropped {} {} from {remote}: no IKE_SA with SPI {}", h.exchange, if response { "response" } else { "request" }, hex::encode(ours));
            return;
        };
        // Another address only for a MOBIKE IKE_SA (RFC 4555: its messages
        // may come from any address; the move happens inside, once the
        // message authenticated).
        if !sa.reads_from(remote) {
            self.ctx.counters.dropped += 1;
            info!(target: "net", "dropped message for {} from unexpected address {remote}", sa.name());
            return;
        }
        // Port floating and NAT mapping changes are followed inside, once the
        // message authenticated.
        self.with_sa(ours, |sa, ctx| {
            sa.handle(ctx, now, (local, remote), data, msg)
        });
    }

    fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        msg: Message,
    ) {
        // A retransmitted IKE_SA_INIT: answer from the cache.
        if let Some(ours) = self.half_open.get(remote, msg.header.spi_i) {
            if let Some(sa) = self.sas.get(&ours) {
                if sa.init_resp.is_empty() {
                    debug!(target: "net", "retransmitted IKE_SA_INIT from {remote}: its key exchange is still running");
                } else if sa.init_req == data {
                    debug!(target: "net", "retransmitted IKE_SA_INIT from {remote}: answering from cache");
                    self.ctx.transmits.push_back(Transmit {
                        local: sa.local,
                        remote: sa.remote,
                        data: sa.init_resp.clone(),
                    });
                }
            }
            return;
        }
        // Pre-authentication limits (strongSwan's init_limit_half_open and
        // block_threshold): over them an IKE_SA_INIT costs nothing.
        let s = self.ctx.settings;
        let (all, from_ip) = (self.half_open.len(), self.half_open.count_from(remote.ip()));
        if (s.init_limit_half_open > 0 && all >= s.init_limit_half_open)
            || from_ip >= s.block_threshold
        {
            self.ctx.counters.init_dropped += 1;
            debug!(target: "ike", "dropped IKE_SA_INIT from {remote}: {all} half-open IKE_SAs, {from_ip} from this address");
            return;
        }
        let jobs = self.ctx.jobs.in_flight();
        if s.init_limit_job_load > 0 && jobs >= s.init_limit_job_load {
            self.ctx.counters.init_dropped += 1;
            debug!(target: "ike", "dropped IKE_SA_INIT from {remote}: {jobs} key exchanges waiting (init_limit_job_load)");
            return;
        }
        if let Some((sa, group, peer)) = on_init_request(
            &mut self.ctx,
            &mut self.cookies,
            (all, from_ip),
            now,
            local,
            remote,
            data,
            msg,
        ) {
            let key = sa.our_spi();
            self.insert(sa);
            if !self.sas.contains_key(&key) {
                return;
            }
            if let Some(job) = self.ctx.jobs.submit(key, Work::Kex { group, peer }) {
                let done = job.run(&mut *self.ctx.rng);
                self.key_job_done(done);
            }
        }
    }

    // ------------------------------------------------------------------
    // Status

    /// Virtual IPs of an IKE_SA: (assigned to us, leased to the peer).
    pub fn virtual_ips(&self, ike_id: u32) -> (Vec<IpAddr>, Vec<IpAddr>) {
        self.key_of_id(ike_id)
            .and_then(|k| self.sas.get(&k))
            .filter(|sa| !sa.is_dead())
            .map(|sa| {
                (
                    sa.vips.local.clone(),
                    sa.vips.leases.iter().map(|(_, a)| *a).collect(),
                )
            })
            .unwrap_or_default()
    }

    /// DNS servers the peer assigned an IKE_SA of ours (CP reply).
    pub fn dns_servers(&self, ike_id: u32) -> Vec<IpAddr> {
        self.key_of_id(ike_id)
            .and_then(|k| self.sas.get(&k))
            .filter(|sa| !sa.is_dead())
            .map(|sa| sa.vips.dns.clone())
            .unwrap_or_default()
    }

    /// Addresses of a pool (`rightsourceip=` text) leased to peers online now.
    pub fn pool_online(&self, pool: &str) -> usize {
        self.ctx.pools.online(pool)
    }

    /// A pool (`rightsourceip=` text and range): (size, online, offline).
    pub fn pool_stats(&self, pool: &str, range: &conf::values::TsAddr) -> (usize, usize, usize) {
        self.ctx.pools.stats(pool, range)
    }

    /// A pool's leases (`rightsourceip=` text): (address, identity, online), by address.
    pub fn pool_leases(&self, pool: &str) -> Vec<(IpAddr, String, bool)> {
        self.ctx.pools.leases(pool)
    }

    /// IKE_SAs (not dead) and how many of them are established.
    pub fn sa_counts(&self) -> (usize, usize) {
        self.sas
            .values()
            .filter(|sa| !sa.is_dead())
            .fold((0, 0), |(n, up), sa| {
                (n + 1, up + usize::from(sa.is_established()))
            })
    }

    /// One IKE_SA's status, found by its unique id.
    pub fn status_of(&self, now: Instant, ike_id: u32) -> Option<IkeStatus> {
        self.key_of_id(ike_id)
            .and_then(|k| self.sas.get(&k))
            .filter(|sa| !sa.is_dead())
            .map(|sa| sa.status(now))
    }

    pub fn status(&self, now: Instant) -> Vec<IkeStatus> {
        let mut v: Vec<IkeStatus> = self
            .sas
            .values()
            .filter(|sa| !sa.is_dead())
            .map(|sa| sa.status(now))
            .collect();
        v.sort_by_key(|s| s.ike_id);
        v
    }
}
