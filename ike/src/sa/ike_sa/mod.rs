//! One IKE_SA: its state, its request window, its CHILD_SAs, and the
//! dispatch of requests and responses to the exchange that handles them
//! (one file per exchange, see `sa/mod.rs`).

mod auth;
mod child_payloads;
mod create_child;
mod eap;
mod eap_client;
mod informational;
mod init;
mod mobike;
mod mobike_addrs;
mod quirks;
mod rekey_ike;
mod timer;
mod window;

pub(super) use init::on_init_request;
pub(super) use mobike::Mobike;
pub(super) use window::{Queued, is_init_request};

use super::api::*;
use super::child::ChildSa;
use super::ctx::Ctx;
use super::error::ExchangeError;
use super::ident;
use super::proposal::suite_name;
use super::vip::Vips;
use crate::crypto::{DhSecret, IkeSaKeys, Prf, SkCrypto, Suite};
use crate::wire::{ExchangeType, Flags, Header, Identification, Message, NotifyType, Payload};
use conf::conn::{Conn, Side};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};
use window::Window;

/// The first payload of a kind: `find_payload!(payloads, Sa)` -> `Option<&SaPayload>`.
macro_rules! find_payload {
    ($payloads:expr, $kind:ident) => {
        $payloads.iter().find_map(|p| match p {
            crate::wire::Payload::$kind(x) => Some(x),
            _ => None,
        })
    };
}
pub(crate) use find_payload;

pub(super) const IKE_PORT: u16 = 500;
/// A failed rekey (of the IKE_SA or a CHILD_SA) is tried again after this long.
pub(super) const REKEY_RETRY: std::time::Duration = std::time::Duration::from_secs(30);
pub(super) const NATT_PORT: u16 = 4500;

/// Where an IKE_SA is; each state holds only its own data.
pub(super) enum State {
    /// Initiator: IKE_SA_INIT sent; our key exchange secret waits for the answer.
    InitSent {
        dh: DhSecret,
        cookie: Option<Vec<u8>>,
    },
    /// Initiator: IKE_AUTH sent, with the first CHILD_SA's request; with
    /// `leftauth=eap-*`, the EAP rounds that follow it.
    AuthSent {
        child: Option<auth::ChildRequest>,
        eap: Option<Box<eap_client::EapClient>>,
    },
    /// Responder: IKE_SA_INIT accepted, its key exchange running (`key_jobs.rs`).
    InitComputing,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    InitDone,
    /// Responder: authenticating the peer with EAP, between IKE_AUTH rounds.
    Eap(Box<eap::EapState>),
    Established,
    /// Our DELETE of the IKE_SA is out.
    Deleting,
    Dead,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::InitSent { .. } => "INIT_SENT",
            State::AuthSent { .. } => "AUTH_SENT",
            State::InitComputing => "INIT_COMPUTING",
            State::InitDone => "INIT_DONE",
            State::Eap(_) => "EAP",
            State::Established => "ESTABLISHED",
            State::Deleting => "DELETING",
            State::Dead => "DEAD",
        }
    }
}

/// IKE_SA keys: SK_d and the SK payload protection of both directions.
pub(super) struct Keys {
    pub ike: IkeSaKeys,
    pub out: SkCrypto,
    pub inn: SkCrypto,
}

/// A responder's answer that waits for the kernel to accept the CHILD_SA it
/// carries (`Endpoint::child_installed`).
pub(super) struct Parked {
    pub child_id: u32,
    pub exchange: ExchangeType,
    pub msg_id: u32,
    /// The answer when the kernel accepted the CHILD_SA.
    pub ok: Vec<Payload>,
    /// The answer when it refused (the CHILD_SA's payloads replaced by a notify).
    pub refused: Vec<Payload>,
}

pub(super) struct IkeSa {
    pub id: u32,
    pub conn: Arc<Conn>,
    /// This host's end of `conn`, resolved once.
    pub side: Side,
    pub initiator: bool,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: State,
    pub suite: Option<Suite>,
    /// The IKE proposal both sides agreed on (as on the wire).
    pub ike_proposal: Option<crate::wire::Proposal>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// Raw IKE_SA_INIT request and response (the signed octets' first part),
    /// until the IKE_SA is established.
    pub init_req: Vec<u8>,
    pub init_resp: Vec<u8>,
    pub keys: Option<Keys>,
    pub window: Window,
    /// Our outstanding CREATE_CHILD_SA request.
    pub create: Option<create_child::CreateReq>,
    pub rekey_at: Option<Instant>,
    /// The peer rekeyed this IKE_SA (RFC 7296 §2.8): it only waits for its DELETE.
    pub superseded: Option<rekey_ike::Superseded>,
    /// Conns to add as CHILD_SAs once this (initiating) IKE_SA is up.
    pub deferred: Vec<Arc<Conn>>,
    pub children: Vec<ChildSa>,
    pub parked: Option<Parked>,
    /// An answer that waits for our AUTH signature (`key_jobs.rs`).
    pub signing: Option<eap::Signing>,
    pub local_id: Identification,
    pub remote_id: Option<Identification>,
    /// The identity EAP authenticated (responder), which keys pools and uniqueids.
    pub eap_id: Option<conf::values::Identity>,
    pub nat_local: bool,
    pub nat_remote: bool,
    pub frag_supported: bool,
    /// MOBIKE (RFC 4555), and our role in it: addresses change only by
    /// UPDATE_SA_ADDRESSES (`mobike.rs`).
    pub mobike: mobike::Mobike,
    /// The peer's other addresses (ADDITIONAL_*_ADDRESS, `mobike_addrs.rs`)
    /// and ours as we last announced them.
    pub peer_addrs: Vec<IpAddr>,
    pub announced: Vec<IpAddr>,
    /// Where the answer to the request being handled goes: the request's own
    /// addresses (RFC 7296 §2.11), which a MOBIKE IKE_SA may not follow.
    pub answer_to: Option<(SocketAddr, SocketAddr)>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427) and whether it sent a CERTREQ.
    pub peer_hashes: Option<Vec<pki::Hash>>,
    pub certreq_received: bool,
    pub vips: Vips,
    /// The packet that triggered the kernel ACQUIRE (auto=route): its addresses
    /// are proposed first in TSi/TSr (RFC 7296 §2.9).
    pub acquire: Option<(IpAddr, IpAddr)>,
    /// Next NAT-T keepalive (we are behind a NAT).
    pub keepalive_at: Option<Instant>,
    /// When the peer was last heard from (dead peer detection).
    pub last_in: Instant,
    pub created: Instant,
    pub established: Option<Instant>,
}

impl std::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSa")
            .field("id", &self.id)
            .field("conn", &self.conn.name)
            .field("state", &self.state.name())
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// What every new IKE_SA starts from (initiator, responder, rekeyed).
pub(super) struct Fresh {
    pub id: u32,
    pub conn: Arc<Conn>,
    pub side: Side,
    pub initiator: bool,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: State,
    pub local_id: Identification,
    pub now: Instant,
}

impl IkeSa {
    pub fn new(f: Fresh) -> IkeSa {
        IkeSa {
            id: f.id,
            conn: f.conn,
            side: f.side,
            initiator: f.initiator,
            spi_i: f.spi_i,
            spi_r: f.spi_r,
            local: f.local,
            remote: f.remote,
            state: f.state,
            suite: None,
            ike_proposal: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_req: Vec::new(),
            init_resp: Vec::new(),
            keys: None,
            window: Window::default(),
            create: None,
            rekey_at: None,
            superseded: None,
            deferred: Vec::new(),
            children: Vec::new(),
            parked: None,
            signing: None,
            local_id: f.local_id,
            remote_id: None,
            eap_id: None,
            nat_local: false,
            nat_remote: false,
            frag_supported: false,
            mobike: mobike::Mobike::Off,
            peer_addrs: Vec::new(),
            announced: Vec::new(),
            answer_to: None,
            peer_hashes: None,
            certreq_received: false,
            vips: Vips::default(),
            acquire: None,
            keepalive_at: None,
            last_in: f.now,
            created: f.now,
            established: None,
        }
    }

    /// `name[id]`, as strongSwan's logs and status name an IKE_SA.
    pub fn name(&self) -> String {
        format!("{}[{}]", self.conn.name, self.id)
    }

    pub fn our_spi(&self) -> [u8; 8] {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub fn header(&self, exchange: ExchangeType, response: bool, msg_id: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange,
            flags: Flags::new(self.initiator, response),
            message_id: msg_id,
        }
    }

    pub fn encap(&self) -> bool {
        self.nat_local || self.nat_remote || self.conn.forceencaps
    }

    pub fn prf(&self) -> Option<Prf> {
        self.suite.and_then(|s| s.prf)
    }

    /// A job of this IKE_SA is done (`key_jobs.rs`).
    pub(in crate::sa) fn job_done(&mut self, ctx: &mut Ctx, out: super::key_jobs::Output) {
        match out {
            super::key_jobs::Output::Kex(r) => self.answer_init(ctx, r),
            super::key_jobs::Output::Sign(r) => self.signed(ctx, r),
        }
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    pub fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead)
    }

    /// Half-open: a responder IKE_SA that has not seen IKE_AUTH yet.
    pub fn is_half_open(&self) -> bool {
        matches!(self.state, State::InitComputing | State::InitDone)
    }

    pub fn local_name(&self) -> String {
        ident::from_wire(&self.local_id)
            .map(|i| i.to_string())
            .unwrap_or_default()
    }

    /// The peer's IKE identity (IDi/IDr), printable.
    pub fn remote_name(&self) -> String {
        self.remote_id
            .as_ref()
            .and_then(ident::from_wire)
            .map(|i| ident::printable(i.to_string().as_bytes()))
            .unwrap_or_else(|| "%any".into())
    }

    /// Who the peer is for uniqueids and address pools: the identity EAP
    /// authenticated if there was EAP, else its authenticated IKE identity.
    pub fn peer_key(&self) -> String {
        match &self.eap_id {
            Some(e) => ident::printable(e.to_string().as_bytes()),
            None => self.remote_name(),
        }
    }

    /// The peer's message: a request or a response of this IKE_SA.
    /// The peer's message, received on `local` from `from`: a request or a
    /// response of this IKE_SA.
    pub fn handle(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        (local, from): (SocketAddr, SocketAddr),
        data: &[u8],
        msg: Message,
    ) {
        if msg.header.flags.response() {
            self.on_response(ctx, now, (local, from), data, msg);
        } else {
            self.on_request(ctx, now, (local, from), data, msg);
        }
    }

    /// A message that authenticated came from `from` to `local`: follow the
    /// peer to port 4500 (NAT-T floating) or to a new NAT mapping. Only ever
    /// after the integrity check (RFC 7296 §2.23): the SPIs travel in clear.
    fn follow(&mut self, ctx: &mut Ctx, (local, from): (SocketAddr, SocketAddr)) {
        if local.port() == NATT_PORT && self.local.port() != NATT_PORT {
            self.local = local;
            self.remote = from;
        } else if self.remote != from && self.local.port() == NATT_PORT {
            if self.may_follow(from) {
                self.move_peer(ctx, from);
            } else {
                tracing::debug!(target: "ike", "{}: message from {from}, not moving without UPDATE_SA_ADDRESSES (MOBIKE)", self.name());
            }
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        path: (SocketAddr, SocketAddr),
        data: &[u8],
        msg: Message,
    ) {
        let id = msg.header.message_id;
        let exchange = msg.header.exchange;
        let Some(chain) = self.accept_request(ctx, now, path, data, &msg) else {
            return;
        };
        self.follow(ctx, path);
        self.answer_to = Some(path);
        let r = match exchange {
            ExchangeType::IKE_AUTH if matches!(self.state, State::InitDone) => {
                self.on_auth_request(ctx, now, id, chain.payloads)
            }
            ExchangeType::IKE_AUTH if matches!(self.state, State::Eap(_)) => {
                self.on_eap_round(ctx, now, id, chain.payloads)
            }
            ExchangeType::INFORMATIONAL => {
                self.on_informational_request(ctx, now, path, id, chain.payloads)
            }
            ExchangeType::CREATE_CHILD_SA => self.on_create_request(ctx, now, id, chain.payloads),
            other => Err(ExchangeError::drop(format!(
                "ignoring {other} request in state {}",
                self.state.name()
            ))),
        };
        if let Err(e) = r {
            self.fail(ctx, e, Some((exchange, id)));
        }
        self.answer_to = None;
    }

    fn on_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        path: (SocketAddr, SocketAddr),
        data: &[u8],
        msg: Message,
    ) {
        let Some(kind) = self.window.expects(&msg) else {
            return;
        };
        let r = if kind == window::PendingKind::Init {
            if msg.header.exchange != ExchangeType::IKE_SA_INIT {
                return;
            }
            self.on_init_response(ctx, now, data, &msg)
        } else {
            let chain = match self.open(data, &msg) {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    ctx.counters.dropped += 1;
                    info!(target: "enc", "dropped response of {}: {e}", self.name());
                    return;
                }
            };
            self.window.answered();
            self.last_in = now;
            self.follow(ctx, path);
            self.path_answered(ctx, now, path);
            let r = match kind {
                window::PendingKind::Auth => self.on_auth_response(ctx, now, chain.payloads),
                window::PendingKind::DeleteIke => {
                    info!(target: "ike", "IKE_SA {} deleted", self.name());
                    self.kill(ctx, "deleted");
                    Ok(())
                }
                window::PendingKind::DeleteChild(spis) => {
                    self.children_deleted(ctx, &spis);
                    Ok(())
                }
                window::PendingKind::Create => self.on_create_response(ctx, now, chain.payloads),
                window::PendingKind::Liveness => {
                    tracing::debug!(target: "ike", "peer {} is alive", self.remote.ip());
                    Ok(())
                }
                window::PendingKind::UpdateAddresses(cookie2) => {
                    self.on_update_response(ctx, now, &chain.payloads, &cookie2)
                }
                window::PendingKind::Init => Ok(()),
            };
            if !self.is_dead() {
                self.send_queued(ctx, now);
            }
            r
        };
        if let Err(e) = r {
            self.fail(ctx, e, None);
        }
    }

    /// The one place an exchange error becomes a log line, a counter, a
    /// notify and, when it must, the end of the IKE_SA. `request` is the
    /// peer's request being answered (None: a response of the peer failed).
    pub fn fail(&mut self, ctx: &mut Ctx, e: ExchangeError, request: Option<(ExchangeType, u32)>) {
        match e {
            ExchangeError::Drop(why) => {
                ctx.counters.dropped += 1;
                info!(target: "ike", "{}: {why}", self.name());
            }
            ExchangeError::Refuse { notify, data, why } => {
                ctx.counters.refused += 1;
                warn!(target: "ike", "{}: {why}: answering {notify}", self.name());
                if let Some((exchange, msg_id)) = request {
                    self.reply(ctx, exchange, msg_id, vec![window::notify(notify, data)]);
                }
            }
            ExchangeError::RefuseAndKill { notify, why } => {
                ctx.counters.refused += 1;
                ctx.counters.failed += 1;
                warn!(target: "ike", "{}: {why}: answering {notify}", self.name());
                if let Some((exchange, msg_id)) = request {
                    self.reply(
                        ctx,
                        exchange,
                        msg_id,
                        vec![window::notify(notify, Vec::new())],
                    );
                }
                self.kill(ctx, &why);
            }
            ExchangeError::Fatal(why) => {
                ctx.counters.failed += 1;
                warn!(target: "ike", "{}: {why}", self.name());
                self.kill(ctx, &why);
            }
        }
    }

    /// Drops this IKE_SA locally: its CHILD_SAs and itself are reported gone,
    /// its SPIs and virtual IPs released.
    pub fn kill(&mut self, ctx: &mut Ctx, reason: &str) {
        self.report_children_gone(ctx);
        if let State::AuthSent { child: Some(c), .. } = &self.state {
            ctx.release_spi(self.local.ip(), c.spi_in);
        }
        if let Some(c) = self.create.take() {
            c.release(ctx, self.local.ip());
        }
        ctx.pools.release(&mut self.vips);
        if !self.is_dead() {
            self.state = State::Dead;
            ctx.events.push_back(Event::IkeDown {
                conn: self.conn.name.clone(),
                ike_id: self.id,
                reason: reason.to_owned(),
            });
        }
    }

    /// Sends our DELETE for this IKE_SA (or drops it at once if not established).
    pub fn delete(&mut self, ctx: &mut Ctx, now: Instant, why: &str) {
        if self.is_established() {
            info!(target: "ike", "deleting IKE_SA {} between {}...{} ({why})", self.name(), self.local.ip(), self.remote.ip());
            self.report_children_gone(ctx);
            self.state = State::Deleting;
            self.window.reset();
            if let Some(c) = self.create.take() {
                c.release(ctx, self.local.ip());
            }
            self.queue_request(ctx, now, Queued::DeleteIke);
        } else if !self.is_dead() {
            self.kill(ctx, why);
        }
    }

    /// The peer (behind a NAT) is now at `remote` (same address, new port).
    pub fn move_peer(&mut self, ctx: &mut Ctx, remote: SocketAddr) {
        info!(target: "ike", "{}: NAT mapping of the peer changed, {} -> {remote}", self.name(), self.remote);
        self.remote = remote;
        if !self.children.is_empty() {
            ctx.events.push_back(Event::PeerMoved {
                conn: self.conn.name.clone(),
                ike_id: self.id,
                remote,
                child_ids: self.children.iter().map(|c| c.id).collect(),
            });
        }
    }

    /// Marks the IKE_SA established and schedules its rekey.
    fn established(&mut self, ctx: &mut Ctx, now: Instant, peer: &str) {
        self.state = State::Established;
        self.established = Some(now);
        // The IKE_SA_INIT messages went into the AUTH payloads (RFC 7296
        // §2.15: both sides' are computed and checked before this point) and
        // into nothing else: about 0.7 KB per IKE_SA not kept for its life.
        self.init_req = Vec::new();
        self.init_resp = Vec::new();
        let c = self.conn.clone();
        self.rekey_at = c
            .rekey
            .then(|| now + ctx.rekey_delay(c.ikelifetime, c.margintime, c.rekeyfuzz));
        info!(target: "ike", "IKE_SA {} established between {}[{}]...{}[{peer}]", self.name(), self.local.ip(), self.local_name(), self.remote.ip());
        ctx.events.push_back(Event::IkeUp {
            conn: c.name.clone(),
            ike_id: self.id,
        });
    }

    /// Keys from the IKE_SA_INIT shared secret (RFC 7296 §2.14).
    fn derive_keys(&mut self, shared: &crate::crypto::SecretBytes) -> Result<(), String> {
        let suite = self.suite.ok_or("no suite")?;
        let prf = suite.prf.ok_or("no PRF")?;
        let lens = suite.ike_key_lengths().ok_or("no key lengths")?;
        let seed = crate::crypto::kdf::skeyseed(prf, &self.ni, &self.nr, shared.as_slice());
        let ike = IkeSaKeys::derive(
            prf,
            seed.as_slice(),
            &self.ni,
            &self.nr,
            &self.spi_i,
            &self.spi_r,
            lens,
        )
        .map_err(|e| e.to_string())?;
        let (out, inn) = SkCrypto::pair(suite.encr, suite.integ, &ike, self.initiator)
            .map_err(|e| e.to_string())?;
        self.keys = Some(Keys { ike, out, inn });
        Ok(())
    }

    pub fn status(&self, now: Instant) -> IkeStatus {
        IkeStatus {
            conn: self.conn.name.clone(),
            ike_id: self.id,
            state: match self.state {
                State::Established => IkeState::Established,
                State::Deleting | State::Dead => IkeState::Deleting,
                _ => IkeState::Connecting,
            },
            initiator: self.initiator,
            local: self.local,
            remote: self.remote,
            local_id: self.local_name(),
            remote_id: self.remote_name(),
            remote_eap_id: self
                .eap_id
                .as_ref()
                .map(|e| ident::printable(e.to_string().as_bytes())),
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            proposal: self.suite.map(|s| suite_name(&s)).unwrap_or_default(),
            established_secs_ago: self
                .established
                .map(|t| now.saturating_duration_since(t).as_secs()),
            rekey_in_secs: self
                .rekey_at
                .filter(|_| self.is_established())
                .map(|t| t.saturating_duration_since(now).as_secs()),
            nat_local: self.nat_local,
            nat_remote: self.nat_remote,
            nat_fake: self.conn.forceencaps,
            children: self
                .children
                .iter()
                .map(|c| c.status(now, self.encap()))
                .collect(),
        }
    }
}

/// The peer's RFC 7427 hash algorithms (SIGNATURE_HASH_ALGORITHMS), if announced.
fn peer_hashes(payloads: &[Payload]) -> Option<Vec<pki::Hash>> {
    window::find_notify(payloads, NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .and_then(|n| pki::auth::decode_hash_algorithms(&n.data).ok())
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}

fn describe_offer(p: &[crate::wire::Proposal]) -> String {
    p.iter()
        .map(|p| {
            p.transforms
                .iter()
                .map(|t| format!("{}:{}", t.transform_type, t.id))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn spi32(spi: &[u8]) -> Option<u32> {
    spi.get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
