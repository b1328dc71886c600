//! EAP inside IKE_AUTH (RFC 7296 §2.16), responder side: we authenticate
//! with our own credential, run EAP-MSCHAPv2 or EAP-MD5 over further IKE_AUTH rounds,
//! check the EAP identity against the conn (switching conn when another one
//! fits it, like strongSwan), and finish with AUTH payloads keyed by the MSK.

use super::auth::AuthPlan;
use super::window::find_notify;
use super::{IkeSa, State, find_payload};
use crate::crypto::{SecretBytes, auth};
use crate::sa::ctx::Ctx;
use crate::sa::error::ExchangeError;
use crate::sa::ident;
use crate::sa::key_jobs::Work;
use crate::sa::select::{PeerAuth, Query, eap_identity_ok};
use crate::wire::{AuthMethod, AuthPayload, ExchangeType, Identification, NotifyType, Payload};
use conf::values::Identity;
use std::time::Instant;
use tracing::{debug, info, warn};

/// A peer authenticating with EAP, between IKE_AUTH rounds.
pub(in crate::sa) struct EapState {
    server: crate::eap::Server,
    /// The peer's IDi and the first IKE_AUTH request's payloads (SA, TS, ... for the CHILD_SA).
    idi: Identification,
    first: Vec<Payload>,
    /// Set once EAP succeeded: the MSK, or `None` when the method makes
    /// none (EAP-MD5: the AUTH payloads are keyed with SK_pi / SK_pr).
    succeeded: Option<Option<SecretBytes>>,
}

/// EAP secrets from ipsec.secrets for the EAP server, behind the guessing
/// throttle.
struct EapPasswords<'a> {
    secrets: &'a conf::Secrets,
    local: Identity,
    guard: &'a crate::sa::eap_guard::EapGuard,
    now: Instant,
    source: std::net::IpAddr,
}

impl crate::eap::Passwords for EapPasswords<'_> {
    fn admit(&self, identity: &[u8]) -> Result<(), String> {
        match self.guard.refuse(self.now, identity, self.source) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
        let text = String::from_utf8_lossy(identity);
        let id = conf::values::parse_identity(&text).ok()?;
        self.secrets
            .find_eap(&self.local, &id)
            .map(|s| SecretBytes::from_slice(s.expose()))
    }
}

fn to_wire(p: crate::eap::Packet) -> Payload {
    Payload::Eap(crate::wire::EapMessage {
        code: p.code,
        identifier: p.identifier,
        data: p.data,
    })
}

/// The first EAP answer (IDr, CERTs, AUTH, EAP request) while its AUTH is
/// being signed: the payloads around the AUTH.
pub(in crate::sa) struct Signing {
    pub msg_id: u32,
    pub method: AuthMethod,
    pub before: Vec<Payload>,
    pub after: Vec<Payload>,
}

impl IkeSa {
    /// IKE_AUTH without AUTH from the peer: we authenticate ourselves and start EAP.
    pub(super) fn start_eap(
        &mut self,
        ctx: &mut Ctx,
        msg_id: u32,
        idi: Identification,
        peer_id: Identity,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        let fail = |why: String| ExchangeError::kill(NotifyType::AUTHENTICATION_FAILED, why);
        let md5 = match crate::sa::select::eap_method(&self.conn, self.side) {
            Some(conf::conn::EapMethod::Mschapv2 | conf::conn::EapMethod::Any) => false,
            Some(conf::conn::EapMethod::Md5) => true,
            _ => {
                return Err(fail(format!(
                    "conn '{}' wants {:?} from '{peer_id}'; only EAP-MSCHAPv2 and EAP-MD5 are implemented",
                    self.conn.name,
                    self.conn.ends(self.side).1.auth
                )));
            }
        };
        let octets_r = super::auth::octets(self, false, &self.local_id)?;
        // Signed before the client has proven anything: off the loop when we can.
        let (plan, our_certs, _) = self
            .plan_auth(ctx, &octets_r, &peer_id)
            .map_err(|e| fail(format!("cannot authenticate ourselves: {e}")))?;
        // eap_identity set: ask the client for its EAP identity; else EAP authenticates IDi.
        let first_identity = match &self.conn.eap_identity {
            None => Some(idi.data.clone()),
            Some(_) => None,
        };
        let mut challenge = [0u8; 16];
        ctx.rng.fill_bytes(&mut challenge);
        let first_id = (ctx.rng.next_u32() & 0xff) as u8;
        let name = self.local_name();
        let (server, packet) = if md5 {
            let (s, p) = crate::eap::md5::Md5Server::start(first_identity, challenge, first_id);
            (crate::eap::Server::Md5(s), p)
        } else {
            let (s, p) = crate::eap::MschapV2Server::start(
                first_identity,
                challenge,
                first_id,
                name.as_bytes(),
            );
            (crate::eap::Server::Mschapv2(s), p)
        };
        info!(target: "ike", "authenticating '{peer_id}' with {} ({})", server.method_name(), self.name());
        self.remote_id = Some(idi.clone());
        self.state = State::Eap(Box::new(EapState {
            server,
            idi,
            first: payloads,
            succeeded: None,
        }));
        let mut before = vec![Payload::IdR(self.local_id.clone())];
        before.extend(our_certs);
        let after = vec![to_wire(packet)];
        match plan {
            AuthPlan::Ready(a) => {
                before.push(Payload::Auth(a));
                before.extend(after);
                self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, before);
            }
            AuthPlan::Sign(w) => {
                let method = AuthMethod(w.method.to_u8());
                self.signing = Some(Signing {
                    msg_id,
                    method,
                    before,
                    after,
                });
                if let Some(job) = ctx.jobs.submit(self.our_spi(), Work::Sign(w)) {
                    let done = job.run(&mut *ctx.rng);
                    self.job_done(ctx, done.output);
                }
            }
        }
        Ok(())
    }

    /// Our AUTH signature for the answer that waits in `signing` is made.
    pub(super) fn signed(&mut self, ctx: &mut Ctx, r: Result<Vec<u8>, String>) {
        let Some(s) = self.signing.take() else {
            debug!(target: "ike", "{}: a signature nobody waits for: ignored", self.name());
            return;
        };
        match r {
            Ok(data) => {
                let mut inner = s.before;
                inner.push(Payload::Auth(AuthPayload {
                    method: s.method,
                    data,
                }));
                inner.extend(s.after);
                self.reply(ctx, ExchangeType::IKE_AUTH, s.msg_id, inner);
            }
            Err(e) => {
                let why = format!("cannot authenticate ourselves: {e}");
                self.fail(
                    ctx,
                    ExchangeError::kill(NotifyType::AUTHENTICATION_FAILED, why),
                    Some((ExchangeType::IKE_AUTH, s.msg_id)),
                );
            }
        }
    }

    /// A further IKE_AUTH round of an EAP authentication: an EAP response, or the final AUTH.
    pub(super) fn on_eap_round(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        msg_id: u32,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        let State::Eap(mut st) = std::mem::replace(&mut self.state, State::InitDone) else {
            return Err(ExchangeError::drop("EAP round in the wrong state"));
        };
        let eap = find_payload!(payloads, Eap).cloned();
        let auth_p = find_payload!(payloads, Auth).cloned();
        let who = ident::from_wire(&st.idi)
            .map(|i| i.to_string())
            .unwrap_or_default();
        if let Some(e) = eap {
            let local = ident::from_wire(&self.local_id).unwrap_or(Identity::Any);
            let source = self.remote.ip();
            let pw = EapPasswords {
                secrets: &ctx.config.secrets,
                local,
                guard: &ctx.eap_guard,
                now,
                source,
            };
            let step = st.server.handle(
                &crate::eap::Packet {
                    code: e.code,
                    identifier: e.identifier,
                    data: e.data,
                },
                &pw,
            );
            match step {
                crate::eap::Step::Send(p) => {
                    self.state = State::Eap(st);
                    self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, vec![to_wire(p)]);
                }
                crate::eap::Step::Success {
                    packet,
                    msk,
                    identity,
                } => {
                    let eap_id = String::from_utf8_lossy(&identity).into_owned();
                    if let Err(why) = self.accept_eap_identity(ctx, &st.idi, &eap_id) {
                        let failure = crate::eap::Packet {
                            code: crate::eap::CODE_FAILURE,
                            identifier: packet.identifier,
                            data: Vec::new(),
                        };
                        warn!(target: "ike", "{}: {why}: EAP-Failure", self.name());
                        self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, vec![to_wire(failure)]);
                        self.kill(ctx, "EAP identity mismatch");
                        return Ok(());
                    }
                    info!(target: "ike", "{} authentication of '{eap_id}' ({who}) successful", st.server.method_name());
                    ctx.eap_guard.succeeded(&identity);
                    st.succeeded = Some(msk);
                    self.state = State::Eap(st);
                    self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, vec![to_wire(packet)]);
                }
                crate::eap::Step::Failure { packet, why } => {
                    warn!(target: "ike", "EAP authentication of '{who}' failed: {why}");
                    // A refusal while the identity waits counts against the
                    // source only (else anyone could lock a user out longer).
                    let name = st.server.identity().to_vec();
                    let waiting = ctx.eap_guard.refuse(now, &name, source).is_some();
                    ctx.eap_guard
                        .failed(now, if waiting { &[] } else { &name[..] }, source);
                    ctx.counters.eap_failed += 1;
                    self.reply(ctx, ExchangeType::IKE_AUTH, msg_id, vec![to_wire(packet)]);
                    self.kill(ctx, "EAP authentication failed");
                }
            }
            return Ok(());
        }
        let fail = |why: String| ExchangeError::kill(NotifyType::AUTHENTICATION_FAILED, why);
        let (Some(auth_p), Some(msk)) = (auth_p, st.succeeded.as_ref()) else {
            return Err(fail(format!(
                "IKE_AUTH round of '{who}' has neither EAP nor AUTH after EAP success"
            )));
        };
        let prf = self.prf().ok_or_else(|| ExchangeError::fatal("no PRF"))?;
        let (key_i, key_r) = (
            self.eap_auth_key(msk.as_ref(), true)?,
            self.eap_auth_key(msk.as_ref(), false)?,
        );
        let octets_i = super::auth::octets(self, true, &st.idi)?;
        if !auth::verify_shared_key_auth(prf, key_i, &octets_i, &auth_p.data) {
            return Err(fail(format!(
                "AUTH of '{who}' after EAP does not verify with the EAP key"
            )));
        }
        let octets_r = super::auth::octets(self, false, &self.local_id)?;
        let our_auth = auth::shared_key_auth(prf, key_r, &octets_r);
        // strongSwan's line, which operators grep, names the peer's IKE
        // identity (IDi), as its test suite checks: 'carol@strongswan.org'
        // with eap_identity=carol, '192.168.0.100' for an IP IDi; the EAP
        // identity has its own 'received EAP identity' line.
        info!(target: "ike", "authentication of '{who}' with EAP successful");
        let initial_contact = find_notify(&st.first, NotifyType::INITIAL_CONTACT).is_some();
        self.authenticated(ctx, now, initial_contact, &who);
        let mut base = vec![Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: our_auth.as_slice().to_vec(),
        })];
        base.extend(self.mobike_answer(ctx, &st.first));
        self.answer_with_child(ctx, now, msg_id, base, &st.first);
        Ok(())
    }

    /// The key of an AUTH payload after EAP (RFC 7296 §2.16), the
    /// initiator's or the responder's: the MSK, or SK_pi / SK_pr when the
    /// method makes none (EAP-MD5). Gateway and road warrior both use it.
    pub(super) fn eap_auth_key<'a>(
        &'a self,
        msk: Option<&'a SecretBytes>,
        of_initiator: bool,
    ) -> Result<&'a [u8], ExchangeError> {
        if let Some(m) = msk {
            return Ok(m.as_slice());
        }
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| ExchangeError::fatal("no keys"))?;
        Ok(if of_initiator {
            keys.ike.sk_pi.as_slice()
        } else {
            keys.ike.sk_pr.as_slice()
        })
    }

    /// The EAP identity must satisfy the conn's `eap_identity=`; when it does
    /// not, the best other conn with the same local side that it satisfies is
    /// taken (the selection rule with the EAP identity), else it is refused.
    fn accept_eap_identity(
        &mut self,
        ctx: &Ctx,
        idi: &Identification,
        eap_id: &str,
    ) -> Result<(), String> {
        let got = conf::values::parse_identity(eap_id)
            .map_err(|e| format!("EAP identity '{eap_id}' unreadable: {e}"))?;
        let peer = ident::from_wire(idi);
        let ours = ident::from_wire(&self.local_id);
        if eap_identity_ok(&self.conn, &got, peer.as_ref()) {
            self.eap_id = Some(got);
            return Ok(());
        }
        let q = Query {
            local: self.local.ip(),
            remote: self.remote.ip(),
            peer_id: peer.as_ref(),
            our_id: ours.as_ref(),
            auth: Some(PeerAuth::Eap),
            eap_id: Some(&got),
        };
        // Our AUTH is already sent: only a conn where we are the same will do.
        let choice = self.choose(ctx, &q).ok_or_else(|| {
            format!(
                "EAP identity '{eap_id}' does not match eap_identity={} of conn '{}', nor any other conn",
                self.conn
                    .eap_identity
                    .as_ref()
                    .map_or_else(|| "(the IDi)".to_string(), ToString::to_string),
                self.conn.name
            )
        })?;
        info!(target: "cfg", "{}: EAP identity '{eap_id}' selects conn '{}'", self.name(), choice.conn.name);
        self.conn = choice.conn;
        self.side = choice.side;
        self.eap_id = Some(got);
        Ok(())
    }
}
