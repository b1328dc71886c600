//! The EAP peer (iked as the road-warrior client, `leftauth=eap-mschapv2` /
//! `leftauth=eap-md5`): answers the gateway's EAP-Identity, EAP-MSCHAPv2
//! (RFC 2759, checking the authenticator response: mutual authentication)
//! and EAP-MD5 requests with the EAP secret of ipsec.secrets, and hands
//! the MSK (if the method makes one) to the final IKE AUTH payload.

use super::{
    CODE_FAILURE, CODE_REQUEST, CODE_RESPONSE, CODE_SUCCESS, OP_CHALLENGE, OP_FAILURE, OP_RESPONSE,
    OP_SUCCESS, Packet, TYPE_IDENTITY, TYPE_MD5, TYPE_MSCHAPV2, TYPE_NAK, authenticator_response,
    msk, nt_response,
};
use crate::crypto::{SecretBytes, ct_eq};

/// The method the conn names for our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Mschapv2,
    Md5,
}

impl Method {
    fn type_code(self) -> u8 {
        match self {
            Method::Mschapv2 => TYPE_MSCHAPV2,
            Method::Md5 => TYPE_MD5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Mschapv2 => "EAP-MSCHAPv2",
            Method::Md5 => "EAP-MD5",
        }
    }
}

/// What the peer does next.
#[derive(Debug)]
pub enum ClientStep {
    /// Send this EAP response.
    Send(Packet),
    /// EAP-Success after a completed method: the MSK (`None`: the method
    /// makes none, SK_pi/SK_pr key the AUTH payloads).
    Done(Option<SecretBytes>),
    /// The exchange failed (EAP-Failure, a bad authenticator response, a
    /// method we will not run); `why` is for the log.
    Failed(String),
}

/// Between a method's last answer and EAP-Success.
enum Progress {
    Running,
    /// MSCHAPv2: the authenticator response checked, its success acknowledged.
    Authenticated(Option<SecretBytes>),
}

/// The EAP peer of one IKE_SA.
pub struct Client {
    method: Method,
    identity: Vec<u8>,
    password: SecretBytes,
    peer_challenge: [u8; 16],
    /// MSCHAPv2: what the authenticator's success message must carry, and the MSK.
    expect: Option<(String, SecretBytes)>,
    progress: Progress,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("method", &self.method)
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `peer_challenge`: 16 random octets for MSCHAPv2.
    pub fn new(
        method: Method,
        identity: Vec<u8>,
        password: SecretBytes,
        peer_challenge: [u8; 16],
    ) -> Client {
        Client {
            method,
            identity,
            password,
            peer_challenge,
            expect: None,
            progress: Progress::Running,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    fn respond(p: &Packet, data: Vec<u8>) -> ClientStep {
        ClientStep::Send(Packet {
            code: CODE_RESPONSE,
            identifier: p.identifier,
            data,
        })
    }

    /// The gateway's EAP packet.
    pub fn handle(&mut self, p: &Packet) -> ClientStep {
        match p.code {
            CODE_SUCCESS => {
                return match std::mem::replace(&mut self.progress, Progress::Running) {
                    Progress::Authenticated(k) => ClientStep::Done(k),
                    // EAP-Success before the method completed: RFC 3748 §4.2
                    // lets a peer ignore it; a gateway that did not prove
                    // itself (MSCHAPv2) gets nothing.
                    Progress::Running => {
                        ClientStep::Failed("EAP-Success before the method completed".into())
                    }
                };
            }
            CODE_FAILURE => return ClientStep::Failed("received EAP-Failure".into()),
            CODE_REQUEST => {}
            c => return ClientStep::Failed(format!("unexpected EAP code {c}")),
        }
        let d = &p.data;
        match d.first().copied() {
            Some(TYPE_IDENTITY) => {
                tracing::info!(target: "ike", "server requested EAP-Identity, sending '{}'", crate::sa::printable(&self.identity));
                let mut out = vec![TYPE_IDENTITY];
                out.extend_from_slice(&self.identity);
                Self::respond(p, out)
            }
            Some(t) if t == self.method.type_code() => match self.method {
                Method::Md5 => self.md5(p),
                Method::Mschapv2 => self.mschapv2(p),
            },
            // Notification (2) and any other method: a NAK naming ours
            // (RFC 3748 §5.3.1); a NAK is never answered to a NAK.
            Some(2) => Self::respond(p, vec![2]),
            Some(t) if t >= 4 => {
                tracing::info!(target: "ike", "server requested EAP type {t}, answering with a NAK for {}", self.method.name());
                Self::respond(p, vec![TYPE_NAK, self.method.type_code()])
            }
            t => ClientStep::Failed(format!("unexpected EAP request type {t:?}")),
        }
    }

    fn md5(&mut self, p: &Packet) -> ClientStep {
        let d = &p.data;
        let size = usize::from(d.get(1).copied().unwrap_or(0));
        let Some(challenge) = d.get(2..2 + size).filter(|_| size > 0) else {
            return ClientStep::Failed("malformed EAP-MD5 request".into());
        };
        let value = super::md5::response_value(p.identifier, self.password.as_slice(), challenge);
        let mut out = vec![TYPE_MD5, 16];
        out.extend_from_slice(&value);
        self.progress = Progress::Authenticated(None);
        Self::respond(p, out)
    }

    fn mschapv2(&mut self, p: &Packet) -> ClientStep {
        let d = &p.data;
        match d.get(1).copied() {
            Some(OP_CHALLENGE) => {
                // Type, OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size(16), Challenge, Name.
                let (Some(&ms_id), Some(16), Some(ch)) = (d.get(2), d.get(5), d.get(6..22)) else {
                    return ClientStep::Failed("malformed EAP-MSCHAPv2 challenge".into());
                };
                let mut auth = [0u8; 16];
                auth.copy_from_slice(ch);
                // The challenge hash takes the user name without a domain.
                let user = match self.identity.iter().rposition(|b| *b == b'\\') {
                    Some(i) => &self.identity[i + 1..],
                    None => &self.identity[..],
                };
                let pw = self.password.as_slice();
                let nt = nt_response(&auth, &self.peer_challenge, user, pw);
                let s = authenticator_response(pw, &nt, &self.peer_challenge, &auth, user);
                self.expect = Some((s, msk(pw, &nt)));
                let ms_len = 4 + 1 + 49 + self.identity.len();
                let mut out = vec![
                    TYPE_MSCHAPV2,
                    OP_RESPONSE,
                    ms_id,
                    (ms_len >> 8) as u8,
                    ms_len as u8,
                    49,
                ];
                out.extend_from_slice(&self.peer_challenge);
                out.extend_from_slice(&[0u8; 8]);
                out.extend_from_slice(&nt);
                out.push(0);
                out.extend_from_slice(&self.identity);
                Self::respond(p, out)
            }
            Some(OP_SUCCESS) => {
                let Some((want, key)) = self.expect.take() else {
                    return ClientStep::Failed("EAP-MSCHAPv2 success before our response".into());
                };
                // "S=<40 hex> M=<message>": the authenticator proves it
                // knows the password too (RFC 2759 §5).
                let got = d.get(5..5 + want.len()).unwrap_or_default();
                if !ct_eq(got, want.as_bytes()) {
                    return ClientStep::Failed(
                        "EAP-MSCHAPv2 authenticator response does not verify: the gateway does not know our password".into(),
                    );
                }
                self.progress = Progress::Authenticated(Some(key));
                Self::respond(p, vec![TYPE_MSCHAPV2, OP_SUCCESS])
            }
            Some(OP_FAILURE) => {
                let text = crate::sa::printable(d.get(5..).unwrap_or_default());
                // RFC 2759 §6: E=691 is "authentication failure".
                let hint = if text.starts_with("E=691") {
                    " (the gateway refused our password)"
                } else {
                    ""
                };
                ClientStep::Failed(format!(
                    "EAP-MSCHAPv2 failure from the gateway: {text}{hint}"
                ))
            }
            op => ClientStep::Failed(format!("unexpected EAP-MSCHAPv2 opcode {op:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MschapV2Server, Passwords, Step, md5::Md5Server};
    use super::*;

    struct Pw(&'static [u8]);
    impl Passwords for Pw {
        fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
            (identity == b"carol").then(|| SecretBytes::new(self.0.to_vec()))
        }
    }

    /// Runs our client against our server (both RFC-vector tested on
    /// their own); returns the two MSKs or the failure.
    fn run(
        method: Method,
        client_pw: &[u8],
        server_pw: &'static [u8],
    ) -> Result<(Option<SecretBytes>, Option<SecretBytes>), String> {
        let (mut server, mut req) = match method {
            Method::Mschapv2 => {
                let (s, p) = MschapV2Server::start(None, [3; 16], 9, b"moon");
                (super::super::Server::Mschapv2(s), p)
            }
            Method::Md5 => {
                let (s, p) = Md5Server::start(None, [4; 16], 9);
                (super::super::Server::Md5(s), p)
            }
        };
        let mut c = Client::new(
            method,
            b"carol".to_vec(),
            SecretBytes::new(client_pw.to_vec()),
            [5; 16],
        );
        let mut server_msk = None;
        for _ in 0..8 {
            match c.handle(&req) {
                ClientStep::Send(r) => match server.handle(&r, &Pw(server_pw)) {
                    Step::Send(p) => req = p,
                    Step::Success { packet, msk, .. } => {
                        server_msk = Some(msk);
                        req = packet;
                    }
                    Step::Failure { packet, why } => {
                        let _ = c.handle(&packet);
                        return Err(why);
                    }
                },
                ClientStep::Done(k) => return Ok((k, server_msk.flatten())),
                ClientStep::Failed(why) => return Err(why),
            }
        }
        Err("no end".into())
    }

    #[test]
    fn both_methods_agree_with_our_server() {
        let (c, s) = run(Method::Mschapv2, b"pw-1", b"pw-1").unwrap();
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c.as_slice(), s.as_slice(), "the same MSK on both ends");
        assert_eq!(c.len(), 64);
        let (c, s) = run(Method::Md5, b"pw-1", b"pw-1").unwrap();
        assert!(c.is_none() && s.is_none());
    }

    #[test]
    fn a_wrong_password_fails_on_both_methods() {
        assert!(
            run(Method::Mschapv2, b"guess", b"pw-1")
                .unwrap_err()
                .contains("wrong password")
        );
        assert!(
            run(Method::Md5, b"guess", b"pw-1")
                .unwrap_err()
                .contains("wrong password")
        );
    }

    #[test]
    fn a_gateway_that_does_not_know_the_password_is_refused() {
        // A fake gateway answers the response with a made-up success message.
        let mut c = Client::new(
            Method::Mschapv2,
            b"carol".to_vec(),
            SecretBytes::new(b"pw".to_vec()),
            [5; 16],
        );
        let (_, ch) = MschapV2Server::start(Some(b"carol".to_vec()), [3; 16], 1, b"evil");
        let ClientStep::Send(_) = c.handle(&ch) else {
            panic!()
        };
        let mut d = vec![TYPE_MSCHAPV2, OP_SUCCESS, 1, 0, 46];
        d.extend_from_slice(format!("S={} M=hi", "0".repeat(40)).as_bytes());
        let fake = Packet {
            code: CODE_REQUEST,
            identifier: 2,
            data: d,
        };
        assert!(matches!(c.handle(&fake), ClientStep::Failed(w) if w.contains("does not verify")));
        // ... and an early EAP-Success gives it nothing either.
        let success = Packet {
            code: CODE_SUCCESS,
            identifier: 3,
            data: vec![],
        };
        assert!(matches!(c.handle(&success), ClientStep::Failed(_)));
    }

    #[test]
    fn another_method_gets_a_nak_naming_ours() {
        let mut c = Client::new(
            Method::Md5,
            b"carol".to_vec(),
            SecretBytes::new(b"pw".to_vec()),
            [5; 16],
        );
        let tls = Packet {
            code: CODE_REQUEST,
            identifier: 7,
            data: vec![13, 0x20],
        };
        let ClientStep::Send(r) = c.handle(&tls) else {
            panic!()
        };
        assert_eq!(r.data, vec![TYPE_NAK, TYPE_MD5]);
        assert_eq!(r.identifier, 7);
    }
}
