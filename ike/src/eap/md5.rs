//! EAP-MD5-Challenge (RFC 3748 §5.4) as the authenticator: a challenge,
//! and the response MD5(Identifier | secret | challenge) (the CHAP rule of
//! RFC 1994 §4.1). It derives no key: the IKE AUTH payloads after it are
//! keyed with SK_pi / SK_pr (RFC 7296 §2.16).

use super::{
    CODE_REQUEST, CODE_SUCCESS, Packet, Passwords, Step, TYPE_IDENTITY, TYPE_MD5, TYPE_NAK,
    failure, identity_request, not_the_response, received_identity,
};
use ::md5::{Digest, Md5};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Identity,
    Challenge,
    Done,
}

/// An EAP-MD5 authenticator for one client.
pub struct Md5Server {
    state: State,
    id: u8,
    challenge: [u8; 16],
    identity: Vec<u8>,
}

impl std::fmt::Debug for Md5Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Md5Server")
            .field("state", &self.state)
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .finish_non_exhaustive()
    }
}

/// The MD5-Challenge response value for a request's identifier.
pub fn response_value(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update([identifier])
        .chain_update(secret)
        .chain_update(challenge)
        .finalize()
        .into()
}

impl Md5Server {
    /// Starts with an EAP-Identity request when `identity` is `None`
    /// (`eap_identity=%any`), else directly with the challenge.
    pub fn start(
        identity: Option<Vec<u8>>,
        challenge: [u8; 16],
        first_id: u8,
    ) -> (Md5Server, Packet) {
        let mut s = Md5Server {
            state: State::Identity,
            id: first_id,
            challenge,
            identity: Vec::new(),
        };
        let p = match identity {
            None => identity_request(s.id),
            Some(i) => {
                s.identity = i;
                s.challenge_packet()
            }
        };
        (s, p)
    }

    fn challenge_packet(&mut self) -> Packet {
        self.state = State::Challenge;
        // Type, Value-Size, Value (no Name).
        let mut data = vec![TYPE_MD5, 16];
        data.extend_from_slice(&self.challenge);
        Packet {
            code: CODE_REQUEST,
            identifier: self.id,
            data,
        }
    }

    fn fail(&mut self, why: String) -> Step {
        self.state = State::Done;
        failure(self.id, why)
    }

    /// The identity being authenticated.
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    /// The client's EAP response.
    pub fn handle(&mut self, p: &Packet, passwords: &dyn Passwords) -> Step {
        if let Some(why) = not_the_response(p, self.id) {
            return self.fail(why);
        }
        let answered = self.id;
        self.id = self.id.wrapping_add(1);
        match (self.state, p.data.first().copied()) {
            (State::Identity, Some(TYPE_IDENTITY)) => {
                self.identity = received_identity(p);
                Step::Send(self.challenge_packet())
            }
            (State::Challenge, Some(TYPE_NAK)) => self.fail("client refused EAP-MD5 (NAK)".into()),
            (State::Challenge, Some(TYPE_MD5)) => {
                let value = match (p.data.get(1), p.data.get(2..18)) {
                    (Some(16), Some(v)) => v,
                    _ => return self.fail("malformed EAP-MD5 response".into()),
                };
                let name = self.identity.clone();
                if let Err(why) = passwords.admit(&name) {
                    return self.fail(why);
                }
                let who = crate::sa::printable(&name);
                let Some(pw) = passwords.password(&name) else {
                    return self.fail(format!("no EAP secret for '{who}' in ipsec.secrets"));
                };
                let expect = response_value(answered, pw.as_slice(), &self.challenge);
                if !crate::crypto::ct_eq(&expect, value) {
                    return self.fail(format!(
                        "EAP-MD5 verification of '{who}' failed: wrong password"
                    ));
                }
                self.state = State::Done;
                Step::Success {
                    packet: Packet {
                        code: CODE_SUCCESS,
                        identifier: answered,
                        data: Vec::new(),
                    },
                    msk: None,
                    identity: name,
                }
            }
            (s, t) => self.fail(format!("unexpected EAP type {t:?} in state {s:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretBytes;
    use crate::eap::CODE_RESPONSE;

    struct Pw;
    impl Passwords for Pw {
        fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
            (identity == b"carol").then(|| SecretBytes::new(b"Ar3etTnp".to_vec()))
        }
    }

    fn respond(req: &Packet, secret: &[u8]) -> Packet {
        let mut data = vec![TYPE_MD5, 16];
        data.extend_from_slice(&response_value(req.identifier, secret, &req.data[2..18]));
        Packet {
            code: CODE_RESPONSE,
            identifier: req.identifier,
            data,
        }
    }

    #[test]
    fn rfc1994_rule() {
        // MD5(0x01 | "secret" | 16 zero octets), computed independently:
        // python3 -c 'import hashlib;print(hashlib.md5(b"\x01secret"+bytes(16)).hexdigest())'
        assert_eq!(
            hex::encode(response_value(1, b"secret", &[0; 16])),
            "7570c653cdf4755ccffcaa80f29268d1"
        );
    }

    #[test]
    fn identity_then_challenge_then_success() {
        let (mut s, req) = Md5Server::start(None, [7; 16], 200);
        assert_eq!(req.data, vec![TYPE_IDENTITY]);
        let mut id = vec![TYPE_IDENTITY];
        id.extend_from_slice(b"carol");
        let step = s.handle(
            &Packet {
                code: CODE_RESPONSE,
                identifier: 200,
                data: id,
            },
            &Pw,
        );
        let Step::Send(ch) = step else {
            panic!("{step:?}")
        };
        assert_eq!(ch.identifier, 201);
        match s.handle(&respond(&ch, b"Ar3etTnp"), &Pw) {
            Step::Success {
                packet,
                msk,
                identity,
            } => {
                assert_eq!(packet.code, CODE_SUCCESS);
                assert_eq!(packet.identifier, 201);
                assert!(msk.is_none(), "EAP-MD5 makes no MSK");
                assert_eq!(identity, b"carol");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_password_unknown_user_and_replayed_id_fail() {
        let (mut s, ch) = Md5Server::start(Some(b"carol".to_vec()), [9; 16], 5);
        assert!(matches!(
            s.handle(&respond(&ch, b"guess"), &Pw),
            Step::Failure { .. }
        ));
        let (mut s, ch) = Md5Server::start(Some(b"mallory".to_vec()), [9; 16], 5);
        assert!(matches!(
            s.handle(&respond(&ch, b"Ar3etTnp"), &Pw),
            Step::Failure { .. }
        ));
        // A response computed for another identifier does not verify.
        let (mut s, ch) = Md5Server::start(Some(b"carol".to_vec()), [9; 16], 5);
        let mut r = respond(&ch, b"Ar3etTnp");
        r.data[2..18].copy_from_slice(&response_value(6, b"Ar3etTnp", &[9; 16]));
        assert!(matches!(s.handle(&r, &Pw), Step::Failure { .. }));
        // Truncated.
        let (mut s, ch) = Md5Server::start(Some(b"carol".to_vec()), [9; 16], 5);
        let mut r = respond(&ch, b"Ar3etTnp");
        r.data.truncate(10);
        assert!(matches!(s.handle(&r, &Pw), Step::Failure { .. }));
    }
}
