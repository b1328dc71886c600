//! The request window of an IKE_SA (RFC 7296 §2.3): message IDs, our one
//! outstanding request and its retransmission, the queue behind it, the
//! response cache for retransmitted requests, SK protection and RFC 7383
//! fragments.

use super::IkeSa;
use crate::crypto::sk::Reassembly;
use crate::sa::api::Transmit;
use crate::sa::ctx::Ctx;
use crate::wire::{Delete, ExchangeType, Message, Notify, NotifyType, Payload, ProtocolId};
use conf::conn::{Conn, Fragmentation};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

pub(in crate::sa) fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify::new(t, data))
}

pub(in crate::sa) fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// A request of ours that waits for its response.
#[derive(Debug)]
pub(in crate::sa) struct Pending {
    pub msg_id: u32,
    /// The datagram(s) of the request (several when fragmented, RFC 7383).
    pub packets: Vec<Vec<u8>>,
    pub tries: u32,
    pub next: Instant,
    pub kind: PendingKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::sa) enum PendingKind {
    Init,
    Auth,
    DeleteIke,
    /// DELETE of CHILD_SAs (our inbound SPIs).
    DeleteChild(Vec<u32>),
    /// CREATE_CHILD_SA for a new or rekeyed CHILD_SA, or an IKE_SA rekey (see `IkeSa::create`).
    Create,
    /// Empty INFORMATIONAL (dead peer detection).
    Liveness,
    /// MOBIKE's UPDATE_SA_ADDRESSES (we moved), with the COOKIE2 it
    /// carries (its answer must echo it).
    UpdateAddresses(Vec<u8>),
}

/// Requests waiting for the window (one outstanding request at a time).
#[derive(Debug, Clone)]
pub(in crate::sa) enum Queued {
    DeleteIke,
    DeleteChild(Vec<u32>),
    CreateChild {
        conn: Arc<Conn>,
        rekey_of: Option<u32>,
    },
    RekeyIke,
    Liveness,
    UpdateAddresses,
    /// Our new address list (MOBIKE responder, `mobike_addrs.rs`).
    Addresses,
}

#[derive(Debug, Default)]
pub(in crate::sa) struct Window {
    /// Message ID of our next request / of the peer's next request.
    pub next_out: u32,
    pub next_in: u32,
    pub pending: Option<Pending>,
    pub queue: VecDeque<Queued>,
    /// Our last response (msg id, packets), for retransmitted requests.
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    /// RFC 7383 reassembly of the message being received (message ID, is-response).
    reassembly: Option<(u32, bool, Reassembly)>,
}

impl Window {
    /// The kind of our outstanding request if `msg` answers it.
    pub fn expects(&self, msg: &Message) -> Option<PendingKind> {
        let Some(p) = self.pending.as_ref() else {
            debug!(target: "ike", "ignoring unexpected response (message ID {})", msg.header.message_id);
            return None;
        };
        if p.msg_id != msg.header.message_id {
            debug!(target: "ike", "ignoring response with message ID {}, expected {}", msg.header.message_id, p.msg_id);
            return None;
        }
        Some(p.kind.clone())
    }

    pub fn answered(&mut self) {
        self.pending = None;
    }

    /// Forgets what we were asking (the IKE_SA is being deleted).
    pub fn reset(&mut self) {
        self.pending = None;
        self.queue.clear();
    }

    pub fn idle(&self) -> bool {
        self.pending.is_none() && self.queue.is_empty()
    }

    pub fn retransmit_due(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.next)
    }
}

impl IkeSa {
    pub(in crate::sa) fn send_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        packets: Vec<Vec<u8>>,
        kind: PendingKind,
    ) {
        for data in &packets {
            ctx.transmits.push_back(Transmit {
                local: self.local,
                remote: self.remote,
                data: data.clone(),
            });
        }
        self.window.pending = Some(Pending {
            msg_id,
            packets,
            tries: 0,
            next: now + ctx.settings.retransmit.wait(1),
            kind,
        });
    }

    pub(in crate::sa) fn send_response(
        &mut self,
        ctx: &mut Ctx,
        msg_id: u32,
        packets: Vec<Vec<u8>>,
    ) {
        let (local, remote) = self.answer_to.unwrap_or((self.local, self.remote));
        for data in &packets {
            ctx.transmits.push_back(Transmit {
                local,
                remote,
                data: data.clone(),
            });
        }
        self.window.last_response = Some((msg_id, packets));
    }

    /// Builds an encrypted message of this SA: one datagram, or RFC 7383
    /// fragments when both sides support them and it exceeds the fragment size.
    pub(in crate::sa) fn protect(
        &self,
        ctx: &mut Ctx,
        exchange: ExchangeType,
        response: bool,
        msg_id: u32,
        inner: &[Payload],
    ) -> Result<Vec<Vec<u8>>, String> {
        #[cfg(feature = "testing")]
        let rewritten = ctx.rewrite.as_mut().map(|f| {
            let mut v = inner.to_vec();
            f(exchange, response, &mut v);
            v
        });
        #[cfg(feature = "testing")]
        let inner = rewritten.as_deref().unwrap_or(inner);
        let sk = &self.keys.as_ref().ok_or("no keys yet")?.out;
        let header = self.header(exchange, response, msg_id);
        let whole = sk
            .protect(&header, &[], inner, &mut *ctx.rng)
            .map_err(|e| format!("could not protect {exchange} message: {e}"))?;
        let max = ike_message_budget(
            ctx.settings.fragment_size,
            self.remote,
            self.local.port() == super::NATT_PORT,
        );
        let may_fragment = self.frag_supported && self.conn.fragmentation != Fragmentation::No;
        if !may_fragment || whole.len() <= max {
            return Ok(vec![whole]);
        }
        match sk.protect_fragments(&header, inner, max, &mut *ctx.rng) {
            Ok(f) => {
                debug!(target: "enc", "{exchange} message of {} octets sent in {} fragments", whole.len(), f.len());
                Ok(f)
            }
            Err(e) => {
                warn!(target: "enc", "could not fragment {exchange} message: {e}");
                Ok(vec![whole])
            }
        }
    }

    /// Protects and sends a response (and keeps it for retransmitted requests).
    pub(in crate::sa) fn reply(
        &mut self,
        ctx: &mut Ctx,
        exchange: ExchangeType,
        msg_id: u32,
        inner: Vec<Payload>,
    ) {
        match self.protect(ctx, exchange, true, msg_id, &inner) {
            Ok(p) => self.send_response(ctx, msg_id, p),
            Err(e) => warn!(target: "enc", "{}: {e}", self.name()),
        }
    }

    /// Queues a request; sends it now if nothing is outstanding (window size 1).
    pub(in crate::sa) fn queue_request(&mut self, ctx: &mut Ctx, now: Instant, q: Queued) {
        self.window.queue.push_back(q);
        self.send_queued(ctx, now);
    }

    pub(in crate::sa) fn send_queued(&mut self, ctx: &mut Ctx, now: Instant) {
        while self.window.pending.is_none() {
            let Some(q) = self.window.queue.pop_front() else {
                return;
            };
            let msg_id = self.window.next_out;
            let (exchange, inner, kind) = match q {
                Queued::DeleteIke => (
                    ExchangeType::INFORMATIONAL,
                    vec![Payload::Delete(Delete {
                        protocol_id: ProtocolId::IKE,
                        spi_size: 0,
                        spis: Vec::new(),
                    })],
                    PendingKind::DeleteIke,
                ),
                Queued::DeleteChild(spis) => (
                    ExchangeType::INFORMATIONAL,
                    vec![Payload::Delete(Delete {
                        protocol_id: ProtocolId::ESP,
                        spi_size: 4,
                        spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
                    })],
                    PendingKind::DeleteChild(spis),
                ),
                Queued::CreateChild { conn, rekey_of } => {
                    match self.build_create_child(ctx, conn.clone(), rekey_of) {
                        Ok(p) => (ExchangeType::CREATE_CHILD_SA, p, PendingKind::Create),
                        Err(e) => {
                            warn!(target: "chd", "{}: CREATE_CHILD_SA for {} not sent: {e}", self.name(), conn.name);
                            self.child_request_failed(ctx, now, rekey_of);
                            continue;
                        }
                    }
                }
                Queued::Liveness => (
                    ExchangeType::INFORMATIONAL,
                    Vec::new(),
                    PendingKind::Liveness,
                ),
                Queued::Addresses => (
                    ExchangeType::INFORMATIONAL,
                    self.address_list(ctx),
                    PendingKind::Liveness,
                ),
                Queued::UpdateAddresses => {
                    let (payloads, cookie2) = self.build_update(ctx);
                    (
                        ExchangeType::INFORMATIONAL,
                        payloads,
                        PendingKind::UpdateAddresses(cookie2),
                    )
                }
                Queued::RekeyIke => match self.build_rekey_ike(ctx) {
                    Ok(p) => (ExchangeType::CREATE_CHILD_SA, p, PendingKind::Create),
                    Err(e) if self.superseded.is_some() => {
                        info!(target: "ike", "{}: IKE_SA rekey not sent: {e}", self.name());
                        continue;
                    }
                    Err(e) => {
                        warn!(target: "ike", "{}: IKE_SA rekey not sent: {e}; retrying later", self.name());
                        self.rekey_at = Some(now + super::REKEY_RETRY);
                        continue;
                    }
                },
            };
            let packets = match self.protect(ctx, exchange, false, msg_id, &inner) {
                Ok(p) => p,
                Err(e) => {
                    warn!(target: "enc", "{}: {e}", self.name());
                    if let Some(c) = self.create.take() {
                        c.release(ctx, self.local.ip());
                    }
                    continue;
                }
            };
            self.window.next_out += 1;
            self.send_request(ctx, now, msg_id, packets, kind);
        }
    }

    /// Retransmits the outstanding request if due; Err when the peer has not
    /// answered the last try (the caller kills the IKE_SA).
    pub(in crate::sa) fn retransmit(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), ()> {
        let s = ctx.settings;
        let name = self.name();
        let Some(p) = self.window.pending.as_mut() else {
            return Ok(());
        };
        if now < p.next {
            return Ok(());
        }
        if p.tries >= s.retransmit.tries {
            warn!(target: "ike", "giving up after {} retransmits: peer {} does not answer ({name})", s.retransmit.tries, self.remote.ip());
            return Err(());
        }
        p.tries += 1;
        p.next = now + s.retransmit.wait(p.tries + 1);
        info!(target: "ike", "retransmit {} of request with message ID {} ({name})", p.tries, p.msg_id);
        for data in &p.packets {
            ctx.transmits.push_back(Transmit {
                local: self.local,
                remote: self.remote,
                data: data.clone(),
            });
        }
        if !self.peer_addrs.is_empty() {
            let packets = p.packets.clone();
            self.probe_paths(ctx, &packets);
        }
        Ok(())
    }

    /// A request of the peer that came over `path` (our address, its
    /// address): answered from the cache when retransmitted, dropped when out
    /// of order, else decrypted (or reassembled) and returned; an unsupported
    /// critical payload is answered here.
    ///
    /// A cached answer goes back over the path the retransmit came on, as
    /// every response does (RFC 7296 §2.11, RFC 4555 §3.5): a MOBIKE peer
    /// retransmits from its new address once its old one is gone. Over a
    /// path that is not the IKE_SA's, the retransmit must pass the integrity
    /// check first: the SPIs and message ID travel in clear, and a forged
    /// "retransmit" from a spoofed source would reflect our (possibly large)
    /// answer at whoever that source is.
    pub(in crate::sa) fn accept_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        path: (SocketAddr, SocketAddr),
        data: &[u8],
        msg: &Message,
    ) -> Option<crate::wire::Chain> {
        let id = msg.header.message_id;
        if let Some((last_id, packets)) = &self.window.last_response {
            let first_fragment = match msg.payloads.last() {
                Some(Payload::Skf(f)) => f.number == 1,
                _ => true,
            };
            if *last_id == id && first_fragment {
                if path != (self.local, self.remote) {
                    let genuine = self
                        .keys
                        .as_ref()
                        .is_some_and(|k| k.inn.decrypt(data, msg).is_ok());
                    if !genuine {
                        ctx.counters.dropped += 1;
                        info!(target: "enc", "dropped retransmit of request with ID {id} of {} from {}: integrity check failed", self.name(), path.1);
                        return None;
                    }
                }
                info!(target: "ike", "received retransmit of request with ID {id} of {} from {}, retransmitting response", self.name(), path.1);
                let (local, remote) = path;
                for data in packets {
                    ctx.transmits.push_back(Transmit {
                        local,
                        remote,
                        data: data.clone(),
                    });
                }
                return None;
            }
        }
        if id != self.window.next_in {
            let why = if self.parked.is_some() && id + 1 == self.window.next_in {
                "its answer waits for the kernel"
            } else if self.signing.is_some() && id + 1 == self.window.next_in {
                "its answer waits for our signature"
            } else {
                "out of order"
            };
            ctx.counters.dropped += 1;
            info!(target: "ike", "dropped request with message ID {id} (expected {}) for {}: {why}", self.window.next_in, self.name());
            return None;
        }
        let chain = match self.open(data, msg) {
            Ok(Some(c)) => c,
            Ok(None) => return None,
            Err(e) => {
                ctx.counters.dropped += 1;
                info!(target: "enc", "dropped request of {}: {e}", self.name());
                return None;
            }
        };
        self.window.next_in += 1;
        self.last_in = now;
        if let Some(t) = chain.unsupported_critical.or(msg.unsupported_critical) {
            info!(target: "ike", "request carries unsupported critical payload {t}: answering UNSUPPORTED_CRITICAL_PAYLOAD");
            let inner = vec![notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])];
            self.reply(ctx, msg.header.exchange, id, inner);
            return None;
        }
        Some(chain)
    }

    /// Decrypts an SK message, or adds an SKF fragment (RFC 7383): `Ok(None)`
    /// while fragments are missing.
    pub(in crate::sa) fn open(
        &mut self,
        data: &[u8],
        msg: &Message,
    ) -> Result<Option<crate::wire::Chain>, String> {
        let sk = &self.keys.as_ref().ok_or("no keys yet")?.inn;
        match msg.payloads.last() {
            Some(Payload::Skf(_)) => {
                let key = (msg.header.message_id, msg.header.flags.response());
                let w = &mut self.window;
                let fresh = !matches!(&w.reassembly, Some((id, r, _)) if (*id, *r) == key);
                if fresh {
                    w.reassembly = Some((key.0, key.1, Reassembly::new()));
                }
                let Some((_, _, buf)) = w.reassembly.as_mut() else {
                    return Ok(None);
                };
                match buf.add(sk, data, msg) {
                    Ok(Some(chain)) => {
                        w.reassembly = None;
                        Ok(Some(chain))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            }
            _ => sk.unprotect(data, msg).map(Some).map_err(|e| e.to_string()),
        }
    }
}

/// Whether the datagram is an IKE_SA_INIT request opening a new IKE_SA.
pub(in crate::sa) fn is_init_request(msg: &Message) -> bool {
    let h = &msg.header;
    h.exchange == ExchangeType::IKE_SA_INIT
        && !h.flags.response()
        && h.message_id == 0
        && h.spi_r == [0; 8]
}

/// The largest IKE message (the UDP payload, without the non-ESP marker)
/// whose IP datagram stays within `fragment_size`: strongSwan counts the
/// whole datagram (IP and UDP headers, and the 4-octet marker on the NAT-T
/// port). 0 is its per-family default: 576 for IPv4, 1280 for IPv6.
fn ike_message_budget(fragment_size: usize, remote: SocketAddr, marker: bool) -> usize {
    let (ip_header, default) = if remote.is_ipv4() {
        (20, 576)
    } else {
        (40, 1280)
    };
    let datagram = if fragment_size == 0 {
        default
    } else {
        fragment_size
    };
    datagram.saturating_sub(ip_header + 8 + if marker { 4 } else { 0 })
}
