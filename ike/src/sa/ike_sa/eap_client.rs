//! EAP inside IKE_AUTH as the initiator (RFC 7296 §2.16; iked as the road
//! warrior, `leftauth=eap-mschapv2` / `eap-md5`): the first IKE_AUTH goes
//! without AUTH; the gateway's answer must carry its own AUTH, which is
//! verified before any EAP answer leaves (no password round toward an
//! unauthenticated gateway); then the EAP rounds, and our AUTH keyed with
//! the MSK (or SK_pi when the method makes none), and the gateway's last
//! AUTH, keyed the same way, with the CHILD_SA.

use super::window::PendingKind;
use super::{IkeSa, State, find_payload};
use crate::crypto::{SecretBytes, auth};
use crate::eap::client::{Client, ClientStep, Method};
use crate::sa::ctx::Ctx;
use crate::sa::error::ExchangeError;
use crate::sa::ident;
use crate::wire::{AuthMethod, AuthPayload, EapMessage, ExchangeType, Payload};
use conf::conn::{AuthMethod as ConfAuth, EapMethod};
use conf::values::Identity;
use std::time::Instant;
use tracing::info;

/// The EAP peer of one IKE_SA and where its rounds are.
pub(in crate::sa) struct EapClient {
    client: Client,
    /// The gateway's identity, once its AUTH verified.
    gateway: Option<Identity>,
    /// Set once our final AUTH is out: the key it was made with (the MSK,
    /// or `None`: SK_pi/SK_pr).
    final_key: Option<Option<SecretBytes>>,
}

impl EapClient {
    pub fn method_name(&self) -> &'static str {
        self.client.method().name()
    }
}

impl IkeSa {
    /// `leftauth=eap-*` on our end: the EAP peer with our EAP identity
    /// (`eap_identity=`, else our IKE identity) and its ipsec.secrets
    /// password; `None` for any other method.
    pub(super) fn eap_client(
        &self,
        ctx: &mut Ctx,
        gateway: &Identity,
    ) -> Result<Option<Box<EapClient>>, ExchangeError> {
        let method = match &self.conn.ends(self.side).0.auth {
            ConfAuth::Eap(EapMethod::Mschapv2 | EapMethod::Any) => Method::Mschapv2,
            ConfAuth::Eap(EapMethod::Md5) => Method::Md5,
            ConfAuth::Eap(m) => {
                return Err(ExchangeError::fatal(format!(
                    "leftauth=eap-{m:?} of conn '{}': as a client iked does EAP-MSCHAPv2 and EAP-MD5 only",
                    self.conn.name
                )));
            }
            _ => return Ok(None),
        };
        let ours = ident::from_wire(&self.local_id).unwrap_or(Identity::Any);
        let identity = match &self.conn.eap_identity {
            Some(Identity::Any) | None => ours.clone(),
            Some(Identity::Fqdn(f)) if f == "%identity" => ours.clone(),
            Some(id) => id.clone(),
        };
        let password = ctx
            .config
            .secrets
            .find_eap(&identity, gateway)
            .map(|s| SecretBytes::from_slice(s.expose()))
            .ok_or_else(|| {
                ExchangeError::fatal(format!(
                    "no EAP secret for '{identity}' in ipsec.secrets (conn '{}')",
                    self.conn.name
                ))
            })?;
        let mut peer_challenge = [0u8; 16];
        ctx.rng.fill_bytes(&mut peer_challenge);
        let name = ident::printable(identity.to_string().as_bytes());
        Ok(Some(Box::new(EapClient {
            client: Client::new(method, name.into_bytes(), password, peer_challenge),
            gateway: None,
            final_key: None,
        })))
    }

    /// An IKE_AUTH answer while our EAP rounds run.
    pub(super) fn on_eap_response(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        let mut st = match &mut self.state {
            State::AuthSent { eap, .. } => eap
                .take()
                .ok_or_else(|| ExchangeError::fatal("EAP answer without EAP"))?,
            _ => return Err(ExchangeError::fatal("EAP answer in the wrong state")),
        };
        // The gateway proves itself first.
        if st.gateway.is_none() {
            st.gateway = Some(self.verify_responder(ctx, &payloads)?);
        }
        let gateway = st.gateway.clone().unwrap_or(Identity::Any);
        if let Some(key) = st.final_key.take() {
            return self.on_final_auth(ctx, now, key, &gateway, &payloads);
        }
        let Some(eap) = find_payload!(payloads, Eap).cloned() else {
            return Err(ExchangeError::fatal(format!(
                "IKE_AUTH answer of '{gateway}' has no EAP request (we asked for {})",
                st.method_name()
            )));
        };
        let step = st.client.handle(&crate::eap::Packet {
            code: eap.code,
            identifier: eap.identifier,
            data: eap.data,
        });
        let inner = match step {
            ClientStep::Send(p) => vec![Payload::Eap(EapMessage {
                code: p.code,
                identifier: p.identifier,
                data: p.data,
            })],
            ClientStep::Done(key) => {
                info!(target: "ike", "authentication of '{}' (myself) with EAP successful ({})", self.local_name(), st.method_name());
                let prf = self.prf().ok_or_else(|| ExchangeError::fatal("no PRF"))?;
                let octets_i = super::auth::octets(self, true, &self.local_id)?;
                let k = self.eap_auth_key(key.as_ref(), true)?;
                let data = auth::shared_key_auth(prf, k, &octets_i).as_slice().to_vec();
                st.final_key = Some(key);
                vec![Payload::Auth(AuthPayload {
                    method: AuthMethod::SHARED_KEY_MIC,
                    data,
                })]
            }
            ClientStep::Failed(why) => {
                return Err(ExchangeError::fatal(format!(
                    "EAP authentication with '{gateway}' failed: {why}"
                )));
            }
        };
        let msg_id = self.window.next_out;
        let packets = self
            .protect(ctx, ExchangeType::IKE_AUTH, false, msg_id, &inner)
            .map_err(|e| ExchangeError::fatal(format!("could not build IKE_AUTH: {e}")))?;
        self.window.next_out = msg_id.wrapping_add(1);
        if let State::AuthSent { eap, .. } = &mut self.state {
            *eap = Some(st);
        }
        self.send_request(ctx, now, msg_id, packets, PendingKind::Auth);
        Ok(())
    }

    /// The gateway's last IKE_AUTH answer: its AUTH keyed like ours (RFC
    /// 7296 §2.16), then the virtual IP and the CHILD_SA.
    fn on_final_auth(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        key: Option<SecretBytes>,
        gateway: &Identity,
        payloads: &[Payload],
    ) -> Result<(), ExchangeError> {
        let Some(auth_p) = find_payload!(payloads, Auth) else {
            return Err(ExchangeError::fatal(format!(
                "the last IKE_AUTH answer of '{gateway}' has no AUTH"
            )));
        };
        let idr = self
            .remote_id
            .clone()
            .ok_or_else(|| ExchangeError::fatal("no IDr"))?;
        let prf = self.prf().ok_or_else(|| ExchangeError::fatal("no PRF"))?;
        let octets_r = super::auth::octets(self, false, &idr)?;
        let k = self.eap_auth_key(key.as_ref(), false)?;
        if !auth::verify_shared_key_auth(prf, k, &octets_r, &auth_p.data) {
            return Err(ExchangeError::fatal(format!(
                "the AUTH of '{gateway}' after EAP does not verify with the EAP key"
            )));
        }
        info!(target: "ike", "authentication of '{gateway}' with EAP successful");
        self.finish_auth(ctx, now, gateway, payloads)
    }
}
