//! IKE_AUTH (RFC 7296 §1.2, §2.15): identities, our AUTH (PSK or a
//! signature), the peer's AUTH, the conn the identities select, and the
//! first CHILD_SA. EAP rounds are in `eap.rs` (gateway) and
//! `eap_client.rs` (road warrior).

use super::window::{PendingKind, find_notify, notify};
use super::{IkeSa, Parked, State, find_payload, first_error};
use crate::crypto::auth;
use crate::crypto::registry::Protocol as RegProto;
use crate::sa::api::Selector;
use crate::sa::constraints::{self, PeerCreds};
use crate::sa::ctx::{Action, Ctx};
use crate::sa::error::ExchangeError;
use crate::sa::ident;
use crate::sa::key_jobs::SignWork;
use crate::sa::proposal::{for_ike_auth, select};
use crate::sa::select::{PeerAuth, Query, rank};
use crate::wire::{AuthMethod, AuthPayload, ExchangeType, Identification, NotifyType, Payload};
use conf::conn::{AuthMethod as ConfAuth, Conn, ConnType, Side};
use conf::values::Identity;
use std::net::IpAddr;
use std::time::Instant;
use tracing::{debug, info, warn};

/// The first CHILD_SA negotiated inside IKE_AUTH (initiator side, before the answer).
#[derive(Debug, Clone)]
pub(in crate::sa) struct ChildRequest {
    pub spi_in: u32,
    pub ts_local: Vec<Selector>,
    pub ts_remote: Vec<Selector>,
    pub transport: bool,
}

/// Our identity for a conn end: `leftid=`, else the subject of `leftcert=`, else the address.
pub(in crate::sa) fn local_identification(
    ctx: &Ctx,
    conn: &Conn,
    side: Side,
    addr: IpAddr,
) -> Identification {
    let (end, _) = conn.ends(side);
    if end.id.is_none() {
        if let Some(cert) = ctx.creds.end_cert(conn, side == Side::Left) {
            return Identification {
                id_type: crate::wire::IdType::DER_ASN1_DN,
                data: cert.subject_der.clone(),
            };
        }
    }
    ident::to_wire(&end.effective_id(), addr)
}

fn psk_for(
    ctx: &Ctx,
    local_id: &Identification,
    remote_id: &Identity,
) -> Option<crate::crypto::SecretBytes> {
    let local = ident::from_wire(local_id)?;
    ctx.config
        .secrets
        .find_psk(&local, remote_id)
        .map(|s| crate::crypto::SecretBytes::from_slice(s.expose()))
}

/// The signed octets of one side (RFC 7296 §2.15).
pub(super) fn octets(
    sa: &IkeSa,
    of_initiator: bool,
    id: &Identification,
) -> Result<Vec<u8>, String> {
    let prf = sa.prf().ok_or("no PRF")?;
    let keys = sa.keys.as_ref().ok_or("no keys")?;
    Ok(if of_initiator {
        auth::signed_octets(
            prf,
            &sa.init_req,
            &sa.nr,
            keys.ike.sk_pi.as_slice(),
            &id.body(),
        )
    } else {
        auth::signed_octets(
            prf,
            &sa.init_resp,
            &sa.ni,
            keys.ike.sk_pr.as_slice(),
            &id.body(),
        )
    })
}

/// Our AUTH payload, made now or to be signed (`IkeSa::plan_auth`).
pub(super) enum AuthPlan {
    Ready(AuthPayload),
    Sign(SignWork),
}

impl IkeSa {
    /// Our AUTH payload (and CERT payloads) for `octets` with the conn's
    /// local authentication, and what it was (for the log).
    pub(super) fn make_auth(
        &self,
        ctx: &Ctx,
        octets: &[u8],
        peer_id: &Identity,
    ) -> Result<(AuthPayload, Vec<Payload>, String), String> {
        let (plan, certs, what) = self.plan_auth(ctx, octets, peer_id)?;
        let auth = match plan {
            AuthPlan::Ready(a) => a,
            AuthPlan::Sign(w) => AuthPayload {
                method: AuthMethod(w.method.to_u8()),
                data: w.sign()?,
            },
        };
        Ok((auth, certs, what))
    }

    /// Our AUTH, with its CERT payloads and a description: ready (PSK), or
    /// a signature still to make (`key_jobs.rs` may make it off the loop).
    pub(super) fn plan_auth(
        &self,
        ctx: &Ctx,
        octets: &[u8],
        peer_id: &Identity,
    ) -> Result<(AuthPlan, Vec<Payload>, String), String> {
        let conn = &self.conn;
        let (local_end, _) = conn.ends(self.side);
        let prf = self.prf().ok_or("no PRF")?;
        match &local_end.auth {
            ConfAuth::Psk => {
                let psk = psk_for(ctx, &self.local_id, peer_id).ok_or_else(|| {
                    format!(
                        "no PSK in ipsec.secrets for {} - {peer_id}",
                        self.local_name()
                    )
                })?;
                let a = auth::shared_key_auth(prf, psk.as_slice(), octets);
                Ok((
                    AuthPlan::Ready(AuthPayload {
                        method: AuthMethod::SHARED_KEY_MIC,
                        data: a.as_slice().to_vec(),
                    }),
                    Vec::new(),
                    "pre-shared key".into(),
                ))
            }
            ConfAuth::Pubkey { .. } => {
                let is_left = self.side == Side::Left;
                let cert = ctx.creds.end_cert(conn, is_left);
                let public = cert
                    .map(|c| &c.public_key)
                    .or_else(|| ctx.creds.end_sigkey(conn, is_left))
                    .ok_or_else(|| format!("conn '{}': no certificate (leftcert=) or key (leftsigkey=) to authenticate with", conn.name))?;
                if ctx.creds.key_for(public).is_none() {
                    return Err(format!(
                        "conn '{}': no private key in ipsec.secrets for {}",
                        conn.name,
                        public.describe()
                    ));
                }
                // No SIGNATURE_HASH_ALGORITHMS from the peer (Windows): method 1/9-11.
                let peer_hashes = self
                    .peer_hashes
                    .as_deref()
                    .filter(|_| ctx.settings.signature_authentication);
                let (method, scheme) =
                    pki::choose_scheme(public, peer_hashes, false).map_err(|e| e.to_string())?;
                let mut certs = Vec::new();
                let send = super::quirks::send_certificate(
                    local_end.sendcert,
                    self.initiator,
                    self.certreq_received,
                );
                if let (Some(c), true) = (cert, send) {
                    certs.push(Payload::Cert(crate::wire::CertPayload {
                        encoding: crate::wire::CertEncoding::X509_SIGNATURE,
                        data: c.der().to_vec(),
                    }));
                }
                debug!(target: "ike", "signing AUTH with {scheme} (method {})", method.to_u8());
                let what = match cert {
                    Some(_) => format!("{scheme} (certificate)"),
                    None => format!("{scheme} ({})", public.describe()),
                };
                Ok((
                    AuthPlan::Sign(SignWork {
                        creds: ctx.creds.clone(),
                        public: public.clone(),
                        method,
                        scheme,
                        octets: octets.to_vec(),
                    }),
                    certs,
                    what,
                ))
            }
            other => Err(format!(
                "conn '{}': local authentication {other:?} is not implemented",
                conn.name
            )),
        }
    }

    /// Verifies the peer's AUTH over `octets` for `conn`: PSK, or a signature
    /// with a raw key, a configured certificate, or a chain from its CERT
    /// payloads to our CAs. Ok(what authenticated it, and for a signature the
    /// credentials behind it, for the conn's constraints).
    #[allow(clippy::too_many_arguments)]
    fn check_auth(
        &self,
        ctx: &Ctx,
        id: &Identification,
        peer_id: &Identity,
        auth_p: &AuthPayload,
        payloads: &[Payload],
        octets: &[u8],
    ) -> Result<(String, Option<PeerCreds>), String> {
        let conn = &self.conn;
        let (_, remote_end) = conn.ends(self.side);
        let prf = self.prf().ok_or("no PRF")?;
        let wants_psk = matches!(remote_end.auth, ConfAuth::Psk);
        let wants_pk = matches!(remote_end.auth, ConfAuth::Pubkey { .. });
        let any = matches!(remote_end.auth, ConfAuth::Any);
        if auth_p.method == AuthMethod::SHARED_KEY_MIC {
            if !(wants_psk || any) {
                return Err(format!(
                    "peer '{peer_id}' used a pre-shared key, conn '{}' expects {:?}",
                    conn.name, remote_end.auth
                ));
            }
            let psk = psk_for(ctx, &self.local_id, peer_id)
                .ok_or_else(|| format!("no PSK in ipsec.secrets for '{peer_id}'"))?;
            return if auth::verify_shared_key_auth(prf, psk.as_slice(), octets, &auth_p.data) {
                Ok(("pre-shared key".into(), None))
            } else {
                Err(format!(
                    "authentication of '{peer_id}' with pre-shared key failed (PSK mismatch?)"
                ))
            };
        }
        if !(wants_pk || any) {
            return Err(format!(
                "peer '{peer_id}' used a signature (method {}), conn '{}' expects {:?}",
                auth_p.method, conn.name, remote_end.auth
            ));
        }
        let is_left = self.side != Side::Left;
        let pid = pki::Identity::from_wire(id.id_type.0, &id.data).map_err(|e| e.to_string())?;
        let policy = pki::Policy {
            strict_crl: ctx.creds.crl_policy,
            required_eku: None,
        };
        let (key, what, chain) = if let Some(k) = ctx.creds.end_sigkey(conn, is_left) {
            (k.clone(), format!("raw {} key", k.describe()), Vec::new())
        } else {
            let received: Vec<pki::Certificate> = payloads
                .iter()
                .filter_map(|p| match p {
                    Payload::Cert(c) if c.encoding == crate::wire::CertEncoding::X509_SIGNATURE => {
                        pki::Certificate::from_der(&c.data).ok()
                    }
                    _ => None,
                })
                .collect();
            let intermediates = received.get(1..).unwrap_or_default();
            let chain = match ctx.creds.end_cert(conn, is_left) {
                // rightcert= pins the peer's certificate: trusted as it is;
                // its chain (if it has one here) only feeds rightca=.
                Some(pinned) => ctx
                    .creds
                    .trust
                    .verify(pinned, intermediates, (ctx.creds.clock)(), &policy)
                    .map(|c| c.certs)
                    .unwrap_or_else(|_| vec![pinned.clone()]),
                None => {
                    let end = received.first().ok_or_else(|| {
                        format!(
                            "peer '{peer_id}' sent no certificate and conn '{}' has no rightcert=",
                            conn.name
                        )
                    })?;
                    ctx.creds
                        .trust
                        .verify(end, intermediates, (ctx.creds.clock)(), &policy)
                        .map_err(|e| format!("certificate of '{peer_id}' rejected: {e}"))?
                        .certs
                }
            };
            let end = chain.first().ok_or("empty certificate chain")?;
            pid.check_cert_received(end)
                .map_err(|e| format!("certificate of '{peer_id}' rejected: {e}"))?;
            let subject = end.subject.to_string();
            (
                end.public_key.clone(),
                format!("certificate \"{subject}\""),
                chain,
            )
        };
        let scheme =
            pki::verify_auth(&key, auth_p.method.0, &auth_p.data, octets).map_err(|e| {
                format!("signature of '{peer_id}' does not verify with its {what}: {e}")
            })?;
        let what = format!("{scheme} (method {}, {what})", auth_p.method.0);
        Ok((what, Some(PeerCreds { key, scheme, chain })))
    }

    /// Whether this IKE_SA's conn pins the peer's key or certificate
    /// (`rightsigkey=`, `rightcert=`): then its credentials are its own.
    fn pins_peer_creds(ctx: &Ctx, conn: &Conn, side: Side) -> bool {
        let is_left = side != Side::Left;
        ctx.creds.end_sigkey(conn, is_left).is_some() || ctx.creds.end_cert(conn, is_left).is_some()
    }

    /// The conn's demands on the peer's credentials (rightca=, rightauth=
    /// key types/strengths/hashes, rightcertpolicy=), checked after AUTH
    /// verified. A responder whose conn is not met moves to the best other
    /// candidate conn the same credentials meet (one that pins no other key
    /// or certificate); `q` is the query the conn was chosen with.
    fn meet_constraints(
        &mut self,
        ctx: &Ctx,
        q: Option<&Query<'_>>,
        creds: Option<&PeerCreds>,
    ) -> Result<(), String> {
        let (_, remote_end) = self.conn.ends(self.side);
        let why = match creds {
            Some(c) => match constraints::check(remote_end, c) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
            None if constraints::demands_certificate(remote_end) => format!(
                "constraint check failed: conn '{}' demands a certificate (rightca=/rightcertpolicy=)",
                self.conn.name
            ),
            None => return Ok(()),
        };
        let (Some(q), Some(creds), false) =
            (q, creds, Self::pins_peer_creds(ctx, &self.conn, self.side))
        else {
            return Err(format!("conn '{}': {why}", self.conn.name));
        };
        let local = self.local.ip();
        let next = rank(&ctx.conns, &ctx.local_addrs, q, |c, side| {
            ident::from_wire(&local_identification(ctx, c, side, local))
        })
        .into_iter()
        .filter(|c| c.conn.name != self.conn.name && self.ike_allowed_by(ctx, &c.conn))
        .find(|c| {
            !Self::pins_peer_creds(ctx, &c.conn, c.side)
                && constraints::check(c.conn.ends(c.side).1, creds).is_ok()
        });
        let Some(next) = next else {
            return Err(format!("conn '{}': {why}", self.conn.name));
        };
        info!(target: "cfg", "{}: selected conn '{}' unacceptable: {why}; switching to conn '{}'",
            self.name(), self.conn.name, next.conn.name);
        self.conn = next.conn;
        self.side = next.side;
        self.local_id = local_identification(ctx, &self.conn, self.side, local);
        Ok(())
    }

    /// Initiator: IKE_AUTH with our AUTH and the first CHILD_SA's request.
    pub(super) fn send_auth(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), ExchangeError> {
        let conn = self.conn.clone();
        let (local_end, remote_end) = conn.ends(self.side);
        let remote_conf_id = remote_end
            .id
            .clone()
            .unwrap_or_else(|| remote_end.effective_id());
        // leftauth=eap-*: no AUTH (RFC 7296 §2.16), EAP rounds follow.
        let eap = self.eap_client(ctx, &remote_conf_id)?;
        let (auth_payload, cert_payloads, how) = match &eap {
            Some(e) => (None, Vec::new(), e.method_name().to_string()),
            None => {
                let signed = octets(self, true, &self.local_id)?;
                let (a, certs, how) = self
                    .make_auth(ctx, &signed, &remote_conf_id)
                    .map_err(|e| ExchangeError::fatal(format!("cannot authenticate: {e}")))?;
                (Some(a), certs, how)
            }
        };
        // The first CHILD_SA.
        let esp = for_ike_auth(&conn.esp.effective());
        let offer_for = |ctx: &mut Ctx, spi: u32| {
            ctx.provider.offer(&esp, &spi.to_be_bytes()).map_err(|e| {
                format!(
                    "esp= proposal not supported: {}",
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
        };
        let spi_in = ctx
            .alloc_spi(self.local.ip(), self.remote.ip())
            .map_err(|e| ExchangeError::fatal(e.to_string()))?;
        let offer = match offer_for(ctx, spi_in) {
            Ok(o) => o,
            Err(e) => {
                ctx.release_spi(self.local.ip(), spi_in);
                return Err(ExchangeError::fatal(e));
            }
        };
        let mut ts_local = self.own_selectors(local_end);
        let mut ts_remote = self.peer_selectors(remote_end);
        // Asking for a virtual IP: propose any address as TSi, the peer narrows it.
        let want_vip = local_end.sourceip.iter().find_map(|s| match s {
            conf::conn::SourceIp::Config(f) => Some(*f),
            _ => None,
        });
        if let Some(fam) = want_vip {
            let v6 = match fam {
                Some(conf::values::AddrFamily::V6) => true,
                Some(conf::values::AddrFamily::V4) => false,
                None => {
                    self.remote.ip().is_ipv6()
                        && ts_remote.first().is_none_or(|t| t.start.is_ipv6())
                }
            };
            if local_end.subnets.is_empty() {
                let any = if v6 {
                    ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                } else {
                    ("0.0.0.0", "255.255.255.255")
                };
                if let (Ok(a), Ok(b)) = (any.0.parse(), any.1.parse()) {
                    ts_local = vec![Selector {
                        start: a,
                        end: b,
                        protocol: local_end.protoport.proto,
                        start_port: local_end.protoport.port_from,
                        end_port: local_end.protoport.port_to,
                    }];
                }
            }
            self.vips.want = Some(v6);
        }
        if let Some((src, dst)) = self.acquire {
            let host = |a: IpAddr, like: &[Selector]| Selector {
                start: a,
                end: a,
                protocol: like.first().map_or(0, |s| s.protocol),
                start_port: 0,
                end_port: 65535,
            };
            // Only if the packet is within what the conn protects.
            let (hs, hd) = (host(src, &ts_local), host(dst, &ts_remote));
            if crate::ts::is_subset(&hs, &ts_local) && crate::ts::is_subset(&hd, &ts_remote) {
                ts_local.insert(0, hs);
                ts_remote.insert(0, hd);
            }
        }
        let transport = conn.conn_type == ConnType::Transport;
        let mut inner = vec![Payload::IdI(self.local_id.clone())];
        inner.extend(cert_payloads);
        inner.extend(certreq(ctx, remote_end));
        if let Some(id) = &remote_end.id {
            if !ident::has_wildcard(id) {
                inner.push(Payload::IdR(ident::to_wire(id, self.remote.ip())));
            }
        }
        inner.extend(auth_payload.map(Payload::Auth));
        if transport {
            inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        if let Some(v6) = self.vips.want {
            inner.push(crate::sa::vip::request(v6));
        }
        inner.extend(self.mobike_offer(ctx));
        inner.push(Payload::Sa(offer));
        inner.push(Payload::TsI(
            ts_local.iter().map(crate::ts::to_wire).collect(),
        ));
        inner.push(Payload::TsR(
            ts_remote.iter().map(crate::ts::to_wire).collect(),
        ));
        let packets = match self.protect(ctx, ExchangeType::IKE_AUTH, false, 1, &inner) {
            Ok(p) => p,
            Err(e) => {
                ctx.release_spi(self.local.ip(), spi_in);
                return Err(ExchangeError::fatal(format!(
                    "could not build IKE_AUTH: {e}"
                )));
            }
        };
        self.state = State::AuthSent {
            child: Some(ChildRequest {
                spi_in,
                ts_local,
                ts_remote,
                transport,
            }),
            eap,
        };
        self.window.next_out = 2;
        info!(target: "ike", "authenticating {} with {how} as {}", self.name(), self.local_name());
        self.send_request(ctx, now, 1, packets, PendingKind::Auth);
        Ok(())
    }

    /// Initiator: the responder's IKE_AUTH answer.
    pub(super) fn on_auth_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        if find_notify(&payloads, NotifyType::AUTHENTICATION_FAILED).is_some() {
            return Err(ExchangeError::fatal(format!(
                "received AUTHENTICATION_FAILED from {}: authentication failed (check the PSK or certificates and the IDs on both sides)",
                self.remote.ip()
            )));
        }
        if matches!(self.state, State::AuthSent { eap: Some(_), .. }) {
            return self.on_eap_response(ctx, now, payloads);
        }
        let peer_id = self.verify_responder(ctx, &payloads)?;
        self.finish_auth(ctx, now, &peer_id, &payloads)
    }

    /// Initiator: the responder's IDr and AUTH (signature or PSK) in its
    /// IKE_AUTH answer, checked against the conn; the identity it proved.
    pub(super) fn verify_responder(
        &mut self,
        ctx: &mut Ctx,
        payloads: &[Payload],
    ) -> Result<Identity, ExchangeError> {
        let idr = find_payload!(payloads, IdR).cloned();
        let auth_p = find_payload!(payloads, Auth).cloned();
        let (Some(idr), Some(auth_p)) = (idr, auth_p) else {
            let e = first_error(payloads)
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no IDr/AUTH".into());
            return Err(ExchangeError::fatal(format!("IKE_AUTH failed: {e}")));
        };
        let Some(peer_id) = ident::from_wire(&idr) else {
            return Err(ExchangeError::fatal(format!(
                "peer {} sent an ID of type {} we cannot read",
                self.remote.ip(),
                idr.id_type
            )));
        };
        let want = crate::sa::select::peer_pattern(&self.conn, self.side);
        if !ident::id_matches(&want, &peer_id) {
            return Err(ExchangeError::fatal(format!(
                "peer identity '{peer_id}' does not match rightid '{want}' of conn '{}'",
                self.conn.name
            )));
        }
        let signed = octets(self, false, &idr)?;
        let (how, creds) = self
            .check_auth(ctx, &idr, &peer_id, &auth_p, payloads, &signed)
            .map_err(|e| ExchangeError::fatal(format!("peer AUTH invalid: {e}")))?;
        self.meet_constraints(ctx, None, creds.as_ref())
            .map_err(|e| ExchangeError::fatal(format!("peer '{peer_id}' refused: {e}")))?;
        info!(target: "ike", "authentication of '{peer_id}' with {how} successful");
        self.remote_id = Some(idr);
        Ok(peer_id)
    }

    /// Initiator: both ends are authenticated; the last IKE_AUTH answer
    /// carries the virtual IP and the first CHILD_SA.
    pub(super) fn finish_auth(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        peer_id: &Identity,
        payloads: &[Payload],
    ) -> Result<(), ExchangeError> {
        for ip in crate::sa::vip::assigned(payloads) {
            info!(target: "ike", "installing new virtual IP {ip}");
            self.vips.local.push(ip);
        }
        if self.vips.want.is_some() && self.vips.local.is_empty() {
            warn!(target: "ike", "asked for a virtual IP, but the peer assigned none");
        }
        if self.vips.want.is_some() {
            self.vips.dns = crate::sa::vip::dns_servers(payloads);
        }
        self.mobike_answered(ctx, payloads);
        let State::AuthSent { child, .. } = std::mem::replace(&mut self.state, State::Dead) else {
            return Err(ExchangeError::fatal("IKE_AUTH response in the wrong state"));
        };
        self.established(ctx, now, &peer_id.to_string());
        for conn in std::mem::take(&mut self.deferred) {
            self.queue_request(
                ctx,
                now,
                super::Queued::CreateChild {
                    conn,
                    rekey_of: None,
                },
            );
        }
        if let Some(req) = child {
            let spi = req.spi_in;
            if let Err(why) = self.initiator_child(ctx, now, req, payloads) {
                warn!(target: "chd", "{}: {why}: no CHILD_SA", self.name());
                ctx.release_spi(self.local.ip(), spi);
            }
        }
        Ok(())
    }

    /// Initiator: the CHILD_SA in the IKE_AUTH answer.
    fn initiator_child(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        req: ChildRequest,
        payloads: &[Payload],
    ) -> Result<(), String> {
        if let Some(e) = first_error(payloads) {
            return Err(format!(
                "CHILD_SA of {} not established: peer answered {e}",
                self.conn.name
            ));
        }
        let sa_p = find_payload!(payloads, Sa);
        let tsi = find_payload!(payloads, TsI).map(|t| crate::ts::from_wire(t));
        let tsr = find_payload!(payloads, TsR).map(|t| crate::ts::from_wire(t));
        let (Some(sa_p), Some(tsi), Some(tsr)) = (sa_p, tsi, tsr) else {
            return Err("IKE_AUTH response lacks SA/TSi/TSr".into());
        };
        let conn = self.conn.clone();
        let esp = for_ike_auth(&conn.esp.effective());
        let picked = match sa_p.proposals.as_slice() {
            [one] => select(
                &ctx.provider,
                &esp,
                std::slice::from_ref(one),
                RegProto::Esp,
            ),
            _ => None,
        };
        let (chosen, suite) = picked.ok_or("peer chose an ESP proposal we did not offer")?;
        let spi_out = super::spi32(&chosen.spi).ok_or("peer's ESP SPI is malformed")?;
        let transport = super::child_payloads::check_answer(
            &req.ts_local,
            &req.ts_remote,
            req.transport,
            &tsi,
            &tsr,
            payloads,
        )?;
        let (ni, nr) = (self.ni.clone(), self.nr.clone());
        self.install_child(
            ctx,
            crate::sa::child::NewChild {
                conn: &conn,
                suite,
                spi_in: req.spi_in,
                spi_out,
                mode: transport,
                ts_local: tsi,
                ts_remote: tsr,
                ni: &ni,
                nr: &nr,
                shared: None,
                we_initiated: true,
                replaces: None,
            },
            now,
        )?;
        Ok(())
    }

    /// Responder: the peer's first IKE_AUTH request.
    pub(super) fn on_auth_request(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        let fail = |why: String| ExchangeError::kill(NotifyType::AUTHENTICATION_FAILED, why);
        let idi = find_payload!(payloads, IdI).cloned();
        let idr_req = find_payload!(payloads, IdR).cloned();
        let auth_p = find_payload!(payloads, Auth).cloned();
        let Some(idi) = idi else {
            return Err(ExchangeError::kill(
                NotifyType::INVALID_SYNTAX,
                format!("IKE_AUTH from {} has no IDi", self.remote.ip()),
            ));
        };
        let Some(peer_id) = ident::from_wire(&idi) else {
            return Err(fail("unreadable peer ID".into()));
        };
        if payloads.iter().any(|p| matches!(p, Payload::CertReq(_))) {
            self.certreq_received = true;
        }
        // The conn: the identities and how the peer authenticates decide.
        let how = match &auth_p {
            None => PeerAuth::Eap,
            Some(a) if a.method == AuthMethod::SHARED_KEY_MIC => PeerAuth::Psk,
            Some(_) => PeerAuth::Pubkey,
        };
        let wanted_local = idr_req.as_ref().and_then(ident::from_wire);
        let q = Query {
            local: self.local.ip(),
            remote: self.remote.ip(),
            peer_id: Some(&peer_id),
            our_id: wanted_local.as_ref(),
            auth: Some(how),
            eap_id: None,
        };
        let choice = self.choose(ctx, &q).ok_or_else(|| {
            fail(format!(
                "no conn for peer identity '{peer_id}' from {}",
                self.remote.ip()
            ))
        })?;
        if choice.conn.name != self.conn.name {
            info!(target: "cfg", "{}: peer '{peer_id}' selects conn '{}'", self.name(), choice.conn.name);
        }
        self.conn = choice.conn;
        self.side = choice.side;
        self.local_id = local_identification(ctx, &self.conn, self.side, self.local.ip());
        let Some(auth_p) = auth_p else {
            return self.start_eap(ctx, msg_id, idi, peer_id, payloads);
        };
        let signed_i = octets(self, true, &idi)?;
        let (how, creds) = self
            .check_auth(ctx, &idi, &peer_id, &auth_p, &payloads, &signed_i)
            .map_err(fail)?;
        self.meet_constraints(ctx, Some(&q), creds.as_ref())
            .map_err(fail)?;
        info!(target: "ike", "authentication of '{peer_id}' with {how} successful");
        let signed_r = octets(self, false, &self.local_id)?;
        let (our_auth, our_certs, _) = self
            .make_auth(ctx, &signed_r, &peer_id)
            .map_err(|e| fail(format!("cannot authenticate ourselves: {e}")))?;
        self.remote_id = Some(idi);
        let initial_contact = find_notify(&payloads, NotifyType::INITIAL_CONTACT).is_some();
        self.authenticated(ctx, now, initial_contact, &peer_id.to_string());
        let mut base = vec![Payload::IdR(self.local_id.clone())];
        base.extend(our_certs);
        base.push(Payload::Auth(our_auth));
        base.extend(self.mobike_answer(ctx, &payloads));
        self.answer_with_child(ctx, now, msg_id, base, &payloads);
        Ok(())
    }

    /// The best conn for what is known now, among those whose IKE proposal
    /// allows what IKE_SA_INIT negotiated.
    pub(super) fn choose(&self, ctx: &Ctx, q: &Query<'_>) -> Option<crate::sa::select::Choice> {
        let local = self.local.ip();
        rank(&ctx.conns, &ctx.local_addrs, q, |c, side| {
            ident::from_wire(&local_identification(ctx, c, side, local))
        })
        .into_iter()
        .find(|c| self.ike_allowed_by(ctx, &c.conn))
    }

    /// Whether `conn`'s `ike=` accepts the proposal this IKE_SA negotiated
    /// (true while nothing is negotiated yet).
    pub(in crate::sa) fn ike_allowed_by(&self, ctx: &Ctx, conn: &Conn) -> bool {
        let (Some(suite), Some(proposal)) = (self.suite, self.ike_proposal.as_ref()) else {
            return true;
        };
        select(
            &ctx.provider,
            &conn.ike.effective(),
            std::slice::from_ref(proposal),
            RegProto::Ike,
        )
        .is_some_and(|(_, s)| s == suite)
    }

    /// Responder: the peer is authenticated (after AUTH or EAP).
    pub(super) fn authenticated(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        initial_contact: bool,
        peer: &str,
    ) {
        use conf::setup::UniqueIds;
        let replace = match ctx.config.setup.uniqueids {
            UniqueIds::Yes | UniqueIds::Replace => true,
            UniqueIds::No => initial_contact,
            UniqueIds::Never | UniqueIds::Keep => false,
        };
        if replace {
            ctx.actions
                .push(Action::ReplaceDuplicates { ike_id: self.id });
        }
        self.established(ctx, now, peer);
    }

    /// Responder: answers IKE_AUTH with `base` (IDr, AUTH, ...) and the first
    /// CHILD_SA; when there is one, the answer waits for the kernel.
    pub(super) fn answer_with_child(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        base: Vec<Payload>,
        request: &[Payload],
    ) {
        match self.responder_child(ctx, now, request) {
            Ok(Some(a)) => {
                let mut ok = base.clone();
                ok.extend(a.cp);
                ok.extend(a.payloads);
                let mut refused = base;
                refused.push(notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()));
                self.parked = Some(Parked {
                    child_id: a.child_id,
                    exchange: ExchangeType::IKE_AUTH,
                    msg_id,
                    ok,
                    refused,
                });
            }
            Ok(None) => self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, base),
            Err(n) => {
                let mut inner = base;
                inner.push(n);
                self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, inner);
            }
        }
    }
}

/// Our CERTREQ (the one rule both roles use): when the conn authenticates
/// the peer by public key and we trust some CA, the CAs we trust, narrowed
/// to the conn's `rightca=` when that names one of them.
pub(super) fn certreq(ctx: &Ctx, remote_end: &conf::conn::End) -> Option<Payload> {
    if !matches!(remote_end.auth, ConfAuth::Pubkey { .. }) || ctx.creds.trust.anchors.is_empty() {
        return None;
    }
    let ca = remote_end
        .ca
        .as_deref()
        .and_then(|c| pki::Dn::parse(c).ok());
    Some(Payload::CertReq(crate::wire::CertPayload {
        encoding: crate::wire::CertEncoding::X509_SIGNATURE,
        data: pki::certreq::certreq_data_for(&ctx.creds.trust, ca.as_ref()),
    }))
}
