//! The endpoint's services, lent to one IKE_SA at a time: configuration,
//! credentials, the crypto provider, randomness, SPIs, routes, pools, id
//! counters, and the queues of output (datagrams, events, and actions that
//! touch other IKE_SAs, which the endpoint applies afterwards).

use super::api::*;
use super::ike_sa::IkeSa;
use super::vip::Pools;
use crate::crypto::Provider;
use conf::conn::{Conn, Side};
use conf::values::{IfId, MarkValue};
use rand_core::CryptoRngCore;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A kernel mark: (value, mask).
pub(super) type Mark = (u32, u32);

/// Length of our nonces.
pub(super) const NONCE_LEN: usize = 32;

/// What an IKE_SA asks of the endpoint beyond itself.
#[derive(Debug)]
pub(super) enum Action {
    /// A rekeyed IKE_SA takes its place in the table.
    Insert(Box<IkeSa>),
    /// An IKE_SA rekey collision: the surviving new IKE_SA `to` takes the
    /// CHILD_SAs and virtual IPs that the redundant one `from` holds.
    Adopt { from: u32, to: u32 },
    /// `uniqueids`: delete the other IKE_SAs of the same peer on the same conn.
    ReplaceDuplicates { ike_id: u32 },
    /// `dpdaction`/`closeaction=restart`: initiate these conns again.
    Restart(Vec<String>),
}

/// Counters of what was dropped or refused (shown by the daemon).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams dropped before reaching an exchange (malformed, unknown SPI, ...).
    pub dropped: u64,
    /// Requests answered with an error notify.
    pub refused: u64,
    /// IKE_SAs killed by an exchange error.
    pub failed: u64,
    /// COOKIEs demanded from initiators (RFC 7296 §2.6).
    pub cookies_sent: u64,
    /// IKE_SA_INITs dropped by the half-open limits (global or per source).
    pub init_dropped: u64,
    /// EAP authentications that failed (wrong password, unknown or waiting identity).
    pub eap_failed: u64,
}

/// (exchange, is a response, the payloads inside SK) -> rewritten in place.
#[cfg(feature = "testing")]
pub type Rewrite =
    Box<dyn FnMut(crate::wire::ExchangeType, bool, &mut Vec<crate::wire::Payload>) + Send>;

pub(super) struct Ctx {
    pub config: Arc<conf::Config>,
    pub conns: Vec<Arc<Conn>>,
    pub local_addrs: Vec<IpAddr>,
    pub provider: Provider,
    pub rng: Box<dyn CryptoRngCore + Send>,
    pub spis: Box<dyn SpiAllocator + Send>,
    pub routes: Box<dyn RouteLookup + Send>,
    pub creds: Arc<crate::creds::Credentials>,
    pub pools: Pools,
    /// Key work handed out to workers (`key_jobs.rs`).
    pub jobs: super::key_jobs::KeyJobs,
    /// Every CHILD_SA's selectors and peer (`claims.rs`).
    pub claims: super::claims::Claims,
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub actions: Vec<Action>,
    pub counters: Counters,
    pub settings: CoreSettings,
    pub eap_guard: super::eap_guard::EapGuard,
    /// Test seam: rewrites the payloads of every encrypted message before
    /// it is protected, to emulate peers that behave otherwise.
    #[cfg(feature = "testing")]
    pub rewrite: Option<Rewrite>,
    next_ike_id: u32,
    next_child_id: u32,
    reqids: HashMap<String, u32>,
    next_reqid: u32,
    next_unique: u32,
}

impl Ctx {
    pub fn new(
        config: Arc<conf::Config>,
        local_addrs: Vec<IpAddr>,
        provider: Provider,
        rng: Box<dyn CryptoRngCore + Send>,
        spis: Box<dyn SpiAllocator + Send>,
    ) -> Ctx {
        Ctx {
            conns: config.conns.iter().cloned().map(Arc::new).collect(),
            config,
            local_addrs,
            provider,
            rng,
            spis,
            routes: Box::new(NoRoutes),
            creds: Arc::new(crate::creds::Credentials::default()),
            pools: Pools::default(),
            claims: Default::default(),
            jobs: Default::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            actions: Vec::new(),
            counters: Counters::default(),
            settings: CoreSettings::default(),
            eap_guard: Default::default(),
            #[cfg(feature = "testing")]
            rewrite: None,
            next_ike_id: 1,
            next_child_id: 1,
            reqids: HashMap::new(),
            next_reqid: 1,
            next_unique: 0,
        }
    }

    pub fn conn(&self, name: &str) -> Option<Arc<Conn>> {
        self.conns.iter().find(|c| c.name == name).cloned()
    }

    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// A fresh IKE SPI (never zero).
    pub fn new_ike_spi(&mut self) -> [u8; 8] {
        loop {
            let mut s = [0u8; 8];
            self.rng.fill_bytes(&mut s);
            if s != [0; 8] {
                return s;
            }
        }
    }

    pub fn next_ike_id(&mut self) -> u32 {
        let id = self.next_ike_id;
        self.next_ike_id += 1;
        id
    }

    pub fn next_child_id(&mut self) -> u32 {
        let id = self.next_child_id;
        self.next_child_id += 1;
        id
    }

    /// The reqid a conn's CHILD_SAs use (`reqid=`, else the one assigned on first use).
    pub fn reqid_for(&mut self, conn: &Conn) -> u32 {
        if let Some(r) = conn.reqid {
            return r;
        }
        if let Some(r) = self.reqids.get(&conn.name) {
            return *r;
        }
        let r = self.next_reqid;
        self.next_reqid += 1;
        self.reqids.insert(conn.name.clone(), r);
        r
    }

    /// The reqid of a new CHILD_SA of `conn` with these selectors: `reqid=`
    /// if set, else one per set of selectors (`claims.rs`), the conn's own
    /// (its traps') first.
    pub fn child_reqid(&mut self, conn: &Conn, local: &[Selector], remote: &[Selector]) -> u32 {
        let base = self.reqid_for(conn);
        if conn.reqid.is_some() {
            return base;
        }
        self.claims
            .reqid_for(&conn.name, base, local, remote)
            .unwrap_or_else(|| {
                let r = self.next_reqid;
                self.next_reqid += 1;
                r
            })
    }

    /// Marks of a new CHILD_SA (in, out). `%unique` gives one fresh value used
    /// in both directions; `%unique-dir` a fresh value per direction.
    pub fn marks(&mut self, conn: &Conn) -> (Option<Mark>, Option<Mark>) {
        let shared = self.unique_if(
            [conn.mark_in, conn.mark_out]
                .iter()
                .flatten()
                .any(|m| m.value == MarkValue::Unique),
        );
        let mut one = |m: Option<conf::values::Mark>| {
            m.map(|m| match m.value {
                MarkValue::Fixed(v) => (v, m.mask),
                MarkValue::Unique => (shared & m.mask, m.mask),
                MarkValue::UniqueDir => (self.unique() & m.mask, m.mask),
            })
        };
        (one(conn.mark_in), one(conn.mark_out))
    }

    /// Interface ids of a new CHILD_SA (in, out), `%unique` like [`Ctx::marks`].
    pub fn if_ids(&mut self, conn: &Conn) -> (Option<u32>, Option<u32>) {
        let shared = self.unique_if(
            [conn.if_id_in, conn.if_id_out]
                .iter()
                .flatten()
                .any(|i| *i == IfId::Unique),
        );
        let mut one = |i: Option<IfId>| {
            i.map(|i| match i {
                IfId::Fixed(v) => v,
                IfId::Unique => shared,
                IfId::UniqueDir => self.unique(),
            })
        };
        (one(conn.if_id_in), one(conn.if_id_out))
    }

    fn unique(&mut self) -> u32 {
        self.next_unique += 1;
        self.next_unique
    }

    fn unique_if(&mut self, needed: bool) -> u32 {
        if needed { self.unique() } else { 0 }
    }

    /// lifetime - margin - random(0 .. margin * fuzz%), as strongSwan schedules rekeys.
    pub fn rekey_delay(&mut self, lifetime: Duration, margin: Duration, fuzz: u32) -> Duration {
        let span = margin.as_millis() as u64 * u64::from(fuzz) / 100;
        let r = if span == 0 {
            0
        } else {
            self.rng.next_u64() % span
        };
        lifetime
            .saturating_sub(margin)
            .saturating_sub(Duration::from_millis(r))
            .max(Duration::from_secs(1))
    }

    /// An inbound SPI from the kernel for SAs `remote` -> `local`.
    pub fn alloc_spi(&mut self, local: IpAddr, remote: IpAddr) -> Result<u32, SpiError> {
        self.spis.alloc_spi(local, remote)
    }

    /// An allocated SPI will not be used: the daemon removes its larval SA.
    pub fn release_spi(&mut self, local: IpAddr, spi: u32) {
        self.events.push_back(Event::ReleaseSpi { local, spi });
    }

    /// Our address for a conn towards `remote`: the conn's own address if it
    /// has one of ours, else the source of the kernel's route to the peer
    /// (`%any`, `%defaultroute`), else a local address the conn allows.
    pub fn local_addr_for(&self, conn: &Conn, side: Side, remote: IpAddr) -> Option<IpAddr> {
        let (local, _) = conn.ends(side);
        let family = |a: &IpAddr| a.is_ipv4() == remote.is_ipv4();
        local
            .addrs()
            .find(|a| family(a) && self.local_addrs.contains(a))
            .or_else(|| local.addrs().find(family))
            .or_else(|| {
                self.routes
                    .source_for(remote)
                    .filter(|a| family(a) && super::select::addr_in_hosts(*a, &local.hosts))
            })
            .or_else(|| {
                self.local_addrs
                    .iter()
                    .copied()
                    .find(|a| family(a) && super::select::addr_in_hosts(*a, &local.hosts))
            })
    }
}
