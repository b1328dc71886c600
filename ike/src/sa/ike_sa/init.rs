//! IKE_SA_INIT (RFC 7296 §1.2): proposals, key exchange, nonces, NAT
//! detection, COOKIE and INVALID_KE_PAYLOAD retries, fragmentation and
//! signature-hash support.

use super::window::{PendingKind, find_notify, notify};
use super::{Fresh, IKE_PORT, IkeSa, NATT_PORT, State, describe_offer, find_payload, first_error};
use crate::crypto::registry::Protocol as RegProto;
use crate::crypto::{DhGroup, SecretBytes, auth};
use crate::sa::api::{InitiateError, Transmit};
use crate::sa::cookie::Cookies;
use crate::sa::ctx::{Ctx, NONCE_LEN};
use crate::sa::error::ExchangeError;
use crate::sa::proposal::{select, suite_name};
use crate::sa::select::{Query, rank};
use crate::wire::{
    ExchangeType, Flags, Header, KePayload, Message, NotifyType, Payload, SaPayload,
};
use conf::conn::{Conn, Fragmentation, Side};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// RFC 7427 hash algorithms, as strongSwan advertises: SHA2-256/384/512.
const HASHES: [u8; 6] = [0, 2, 0, 3, 0, 4];

fn nat_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: &SocketAddr) -> Vec<u8> {
    auth::nat_detection_hash(spi_i, spi_r, addr.ip(), addr.port()).to_vec()
}

impl IkeSa {
    /// A new initiating IKE_SA for `conn`, its IKE_SA_INIT request sent.
    pub(in crate::sa) fn start_initiator(
        ctx: &mut Ctx,
        now: Instant,
        conn: Arc<Conn>,
        side: Side,
        local: IpAddr,
        remote: IpAddr,
    ) -> Result<IkeSa, InitiateError> {
        let group = conn
            .ike
            .effective()
            .iter()
            .find_map(|p| p.dh.first().and_then(|t| ctx.provider.group(t.id)))
            .ok_or_else(|| InitiateError::NoGroup(conn.name.clone()))?;
        let local_id = super::auth::local_identification(ctx, &conn, side, local);
        let id = ctx.next_ike_id();
        let spi_i = ctx.new_ike_spi();
        let mut sa = IkeSa::new(Fresh {
            id,
            conn: conn.clone(),
            side,
            initiator: true,
            spi_i,
            spi_r: [0; 8],
            local: SocketAddr::new(local, IKE_PORT),
            remote: SocketAddr::new(remote, IKE_PORT),
            state: State::Dead,
            local_id,
            now,
        });
        sa.ni = ctx.random_bytes(NONCE_LEN);
        info!(target: "ike", "initiating IKE_SA {} to {}", sa.name(), remote);
        sa.send_init(ctx, now, group, None)
            .map_err(|why| InitiateError::Build {
                conn: conn.name.clone(),
                why,
            })?;
        Ok(sa)
    }

    fn send_init(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        group: DhGroup,
        cookie: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let dh = group.generate(&mut *ctx.rng).map_err(|e| e.to_string())?;
        let offer = ctx
            .provider
            .offer(&self.conn.ike.effective(), &[])
            .map_err(|e| {
                format!(
                    "ike= proposal not supported: {}",
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
        let mut payloads = Vec::new();
        if let Some(c) = &cookie {
            payloads.push(notify(NotifyType::COOKIE, c.clone()));
        }
        payloads.push(Payload::Sa(offer));
        payloads.push(Payload::Ke(KePayload {
            group: group.iana_id(),
            data: dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(self.ni.clone()));
        payloads.extend(self.nat_notifies(ctx));
        if self.conn.fragmentation != Fragmentation::No {
            payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        if ctx.settings.signature_authentication {
            payloads.push(notify(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                HASHES.to_vec(),
            ));
        }
        let mut msg = Message::new(self.header(ExchangeType::IKE_SA_INIT, false, 0));
        msg.payloads = payloads;
        let packet = msg.encode().map_err(|e| e.to_string())?;
        self.state = State::InitSent { dh, cookie };
        self.init_req = packet.clone();
        self.window.next_out = 1;
        self.send_request(ctx, now, 0, vec![packet], PendingKind::Init);
        Ok(())
    }

    fn nat_notifies(&self, ctx: &mut Ctx) -> Vec<Payload> {
        let src = if self.conn.forceencaps {
            // A made-up source hash makes the peer believe we are behind a NAT,
            // so both sides use UDP encapsulation (strongSwan's forceencaps).
            ctx.random_bytes(20)
        } else {
            nat_hash(&self.spi_i, &self.spi_r, &self.local)
        };
        vec![
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, src),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(&self.spi_i, &self.spi_r, &self.remote),
            ),
        ]
    }

    fn detect_nat(&mut self, payloads: &[Payload]) {
        let src = find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP);
        let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
        if let (Some(src), Some(dst)) = (src, dst) {
            // For IKE_SA_INIT requests the responder SPI in the hash is zero.
            let spi_r = if self.initiator { self.spi_r } else { [0; 8] };
            self.nat_local = dst.data != nat_hash(&self.spi_i, &spi_r, &self.local);
            self.nat_remote = src.data != nat_hash(&self.spi_i, &spi_r, &self.remote);
            if self.nat_local || self.nat_remote {
                let at = |b: bool| if b { "behind NAT" } else { "not behind NAT" };
                info!(target: "ike", "NAT detected: local {}, remote {}{}", at(self.nat_local), at(self.nat_remote), if self.conn.forceencaps { " (forceencaps)" } else { "" });
            }
        }
    }

    /// The responder's IKE_SA_INIT answer: retry with a COOKIE or another
    /// group, or derive the keys and send IKE_AUTH.
    pub(super) fn on_init_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        data: &[u8],
        msg: &Message,
    ) -> Result<(), ExchangeError> {
        let payloads = &msg.payloads;
        let State::InitSent { dh, cookie } = &self.state else {
            return Err(ExchangeError::drop(
                "IKE_SA_INIT response in the wrong state",
            ));
        };
        let tried = dh.group();
        if let Some(c) = find_notify(payloads, NotifyType::COOKIE) {
            info!(target: "ike", "received COOKIE from {}, retrying", self.remote.ip());
            let c = c.data.clone();
            self.window.answered();
            return self
                .send_init(ctx, now, tried, Some(c))
                .map_err(ExchangeError::Fatal);
        }
        if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let ok = wanted.and_then(|w| ctx.provider.group(w)).filter(|g| {
                self.conn
                    .ike
                    .effective()
                    .iter()
                    .any(|p| p.dh.iter().any(|t| t.id == g.iana_id()))
            });
            return match ok {
                Some(g) if g != tried => {
                    info!(target: "ike", "peer {} wants key exchange group {} (INVALID_KE_PAYLOAD), retrying", self.remote.ip(), g.iana_id());
                    self.window.answered();
                    let cookie = cookie.clone();
                    self.send_init(ctx, now, g, cookie)
                        .map_err(ExchangeError::Fatal)
                }
                _ => Err(ExchangeError::fatal(format!(
                    "peer {} wants key exchange group {wanted:?}, which conn '{}' does not allow (INVALID_KE_PAYLOAD)",
                    self.remote.ip(),
                    self.conn.name
                ))),
            };
        }
        self.window.answered();
        if let Some(e) = first_error(payloads) {
            return Err(ExchangeError::fatal(format!(
                "IKE_SA_INIT failed: peer {} answered {e}",
                self.remote.ip()
            )));
        }
        let sa_p = find_payload!(payloads, Sa);
        let ke = find_payload!(payloads, Ke);
        let nonce = find_payload!(payloads, Nonce);
        let (Some(sa_p), Some(ke), Some(nonce)) = (sa_p, ke, nonce) else {
            return Err(ExchangeError::fatal(
                "IKE_SA_INIT response lacks SA, KE or Nonce",
            ));
        };
        // The responder must pick exactly one of our proposals.
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &ctx.provider,
                &self.conn.ike.effective(),
                std::slice::from_ref(one),
                RegProto::Ike,
            ),
            _ => None,
        };
        let Some((chosen, suite)) = picked else {
            return Err(ExchangeError::fatal(format!(
                "peer {} chose a proposal we did not offer",
                self.remote.ip()
            )));
        };
        if suite.dh != Some(tried) || ke.group != tried.iana_id() {
            return Err(ExchangeError::fatal(format!(
                "peer {} answered with key exchange group {}, not {}",
                self.remote.ip(),
                ke.group,
                tried.iana_id()
            )));
        }
        let State::InitSent { dh, .. } = std::mem::replace(&mut self.state, State::Dead) else {
            return Err(ExchangeError::fatal("state changed"));
        };
        let shared = dh.compute_shared(&ke.data).map_err(|e| {
            ExchangeError::fatal(format!("invalid KE value from {}: {e}", self.remote.ip()))
        })?;
        self.spi_r = msg.header.spi_r;
        self.nr = nonce.clone();
        self.init_resp = data.to_vec();
        self.suite = Some(suite);
        self.ike_proposal = Some(chosen);
        self.frag_supported =
            find_notify(payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        self.detect_nat(payloads);
        self.peer_hashes = super::peer_hashes(payloads);
        self.certreq_received = payloads.iter().any(|p| matches!(p, Payload::CertReq(_)));
        self.derive_keys(&shared)
            .map_err(|e| ExchangeError::fatal(format!("key derivation failed: {e}")))?;
        if self.encap() {
            self.local.set_port(NATT_PORT);
            self.remote.set_port(NATT_PORT);
        }
        self.send_auth(ctx, now)
    }
}

fn reply_plain(ctx: &mut Ctx, local: SocketAddr, remote: SocketAddr, spi_i: [u8; 8], p: Payload) {
    let mut m = Message::new(Header {
        spi_i,
        spi_r: [0; 8],
        minor_version: 0,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags::new(false, true),
        message_id: 0,
    });
    m.payloads = vec![p];
    match m.encode() {
        Ok(data) => ctx.transmits.push_back(Transmit {
            local,
            remote,
            data,
        }),
        Err(e) => warn!(target: "enc", "could not encode IKE_SA_INIT answer: {e}"),
    }
}

/// A new peer's IKE_SA_INIT request: the responder IKE_SA it creates (after
/// a COOKIE round trip under load), waiting for its key exchange (group,
/// the peer's public value; see `key_jobs.rs`), or None when refused with a
/// notify.
#[allow(clippy::too_many_arguments)]
pub(in crate::sa) fn on_init_request(
    ctx: &mut Ctx,
    cookies: &mut Cookies,
    (half_open, from_ip): (usize, usize),
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    data: &[u8],
    msg: Message,
) -> Option<(IkeSa, DhGroup, Vec<u8>)> {
    let spi_i = msg.header.spi_i;
    let refuse = |ctx: &mut Ctx, t: NotifyType, data: Vec<u8>| {
        ctx.counters.refused += 1;
        reply_plain(ctx, local, remote, spi_i, notify(t, data));
        None
    };
    if let Some(t) = msg.unsupported_critical {
        info!(target: "ike", "IKE_SA_INIT from {remote} carries unsupported critical payload {t}");
        return refuse(ctx, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0]);
    }
    let sa_p = find_payload!(msg.payloads, Sa);
    let ke = find_payload!(msg.payloads, Ke);
    let nonce = find_payload!(msg.payloads, Nonce);
    let (Some(sa_p), Some(ke), Some(nonce)) = (sa_p, ke, nonce) else {
        info!(target: "ike", "IKE_SA_INIT from {remote} lacks SA, KE or Nonce: answering INVALID_SYNTAX");
        return refuse(ctx, NotifyType::INVALID_SYNTAX, Vec::new());
    };
    // Under load, in all or from this address, demand a COOKIE before
    // spending a key exchange (RFC 7296 §2.6; cookie_threshold(_ip)).
    let s = ctx.settings;
    let loaded = half_open >= s.cookie_threshold || from_ip >= s.cookie_threshold_ip;
    if let Err(c) = cookies.check(
        &mut *ctx.rng,
        now,
        usize::from(loaded),
        1,
        nonce,
        remote,
        &spi_i,
        &msg.payloads,
    ) {
        ctx.counters.cookies_sent += 1;
        debug!(target: "ike", "{half_open} half-open IKE_SAs ({from_ip} from {}): asking {remote} for a COOKIE", remote.ip());
        reply_plain(ctx, local, remote, spi_i, notify(NotifyType::COOKIE, c));
        return None;
    }
    // The conns this request may be for, best address match first; the first
    // that accepts one of the proposals wins (IKE_AUTH may still switch).
    let q = Query::addresses(local.ip(), remote.ip());
    let candidates = rank(&ctx.conns, &ctx.local_addrs, &q, |_, _| None);
    if candidates.is_empty() {
        info!(target: "cfg", "no conn matches {}...{}: answering NO_PROPOSAL_CHOSEN", local.ip(), remote.ip());
        return refuse(ctx, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
    }
    let chosen = candidates.into_iter().find_map(|c| {
        select(
            &ctx.provider,
            &c.conn.ike.effective(),
            &sa_p.proposals,
            RegProto::Ike,
        )
        .map(|p| (c, p))
    });
    let Some((choice, (proposal, suite))) = chosen else {
        info!(target: "ike", "no acceptable IKE proposal from {remote} (offered: {}): answering NO_PROPOSAL_CHOSEN", describe_offer(&sa_p.proposals));
        return refuse(ctx, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
    };
    let Some(group) = suite.dh else {
        info!(target: "ike", "proposal from {remote} has no key exchange: answering NO_PROPOSAL_CHOSEN");
        return refuse(ctx, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
    };
    if ke.group != group.iana_id() {
        info!(target: "ike", "peer {remote} used key exchange group {}, we want {}: answering INVALID_KE_PAYLOAD", ke.group, group.iana_id());
        return refuse(
            ctx,
            NotifyType::INVALID_KE_PAYLOAD,
            group.iana_id().to_be_bytes().to_vec(),
        );
    }
    let conn = choice.conn;
    let local_id = super::auth::local_identification(ctx, &conn, choice.side, local.ip());
    let id = ctx.next_ike_id();
    let spi_r = ctx.new_ike_spi();
    let mut sa = IkeSa::new(Fresh {
        id,
        conn: conn.clone(),
        side: choice.side,
        initiator: false,
        spi_i,
        spi_r,
        local,
        remote,
        state: State::InitComputing,
        local_id,
        now,
    });
    sa.suite = Some(suite);
    sa.ike_proposal = Some(proposal.clone());
    sa.ni = nonce.clone();
    sa.nr = ctx.random_bytes(NONCE_LEN);
    sa.init_req = data.to_vec();
    sa.window.next_in = 1;
    sa.frag_supported =
        find_notify(&msg.payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
    sa.detect_nat(&msg.payloads);
    sa.peer_hashes = super::peer_hashes(&msg.payloads);
    info!(target: "ike", "{} is initiating an IKE_SA for {} ({})", remote.ip(), sa.name(), suite_name(&suite));
    Some((sa, group, ke.data.clone()))
}

impl IkeSa {
    /// The responder's key exchange is done (`key_jobs.rs`): derive the
    /// keys and send the IKE_SA_INIT response. On an error the peer gets
    /// INVALID_SYNTAX (its KE value) or nothing, and this IKE_SA dies.
    pub(in crate::sa) fn answer_init(
        &mut self,
        ctx: &mut Ctx,
        done: Result<(Vec<u8>, SecretBytes), String>,
    ) {
        if !matches!(self.state, State::InitComputing) {
            debug!(target: "ike", "{}: key exchange result in state {}: ignored", self.name(), self.state.name());
            return;
        }
        self.state = State::Dead;
        let (public, shared) = match done {
            Ok(d) => d,
            Err(e) => {
                info!(target: "ike", "IKE_SA_INIT from {}: {e}: answering INVALID_SYNTAX", self.remote);
                ctx.counters.refused += 1;
                let n = notify(NotifyType::INVALID_SYNTAX, Vec::new());
                reply_plain(ctx, self.local, self.remote, self.spi_i, n);
                return;
            }
        };
        match self.init_response(ctx, &public) {
            Ok(packet) => {
                if let Err(e) = self.derive_keys(&shared) {
                    warn!(target: "enc", "key derivation failed: {e}");
                    return;
                }
                self.init_resp = packet.clone();
                self.state = State::InitDone;
                ctx.transmits.push_back(Transmit {
                    local: self.local,
                    remote: self.remote,
                    data: packet,
                });
            }
            Err(e) => warn!(target: "enc", "could not encode IKE_SA_INIT response: {e}"),
        }
    }

    /// The IKE_SA_INIT response's octets, with our public value `public`.
    fn init_response(&mut self, ctx: &mut Ctx, public: &[u8]) -> Result<Vec<u8>, String> {
        let (Some(proposal), Some(group)) =
            (self.ike_proposal.clone(), self.suite.and_then(|s| s.dh))
        else {
            return Err("no proposal chosen".into());
        };
        let conn = self.conn.clone();
        let sa = self;
        let mut payloads = vec![
            Payload::Sa(SaPayload {
                proposals: vec![proposal],
            }),
            Payload::Ke(KePayload {
                group: group.iana_id(),
                data: public.to_vec(),
            }),
            Payload::Nonce(sa.nr.clone()),
        ];
        payloads.extend(sa.nat_notifies(ctx));
        if conn.fragmentation != Fragmentation::No {
            payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        if ctx.settings.signature_authentication {
            payloads.push(notify(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                HASHES.to_vec(),
            ));
        }
        // Ask for the peer's certificate when the conn authenticates it by public key.
        let (_, re) = conn.ends(sa.side);
        payloads.extend(super::auth::certreq(ctx, re));
        let mut m = Message::new(sa.header(ExchangeType::IKE_SA_INIT, true, 0));
        m.payloads = payloads;
        m.encode().map_err(|e| e.to_string())
    }
}
