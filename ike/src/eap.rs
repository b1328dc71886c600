//! EAP (RFC 3748) and EAP-MSCHAPv2 as the authenticator (the gateway side of
//! road warriors: macOS/iOS/Windows native clients, strongSwan's
//! `eap-mschapv2`), and EAP-MD5 ([`md5`]). Sans-IO: EAP packets in, EAP
//! packets out, and the MSK (if the method makes one) for the IKE AUTH
//! payload (RFC 7296 §2.16) at the end; [`Server`] is either method.
//!
//! MS-CHAPv2 computations follow RFC 2759 §8; the keys follow RFC 3079 §3;
//! the MSK is MasterReceiveKey | MasterSendKey (+ 32 zero octets) as
//! [MS-CHAP] §3.1.5.1 defines it for the authenticator.

use crate::crypto::SecretBytes;
use des::cipher::{BlockEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

pub mod client;
pub mod md5;

pub const CODE_REQUEST: u8 = 1;
pub const CODE_RESPONSE: u8 = 2;
pub const CODE_SUCCESS: u8 = 3;
pub const CODE_FAILURE: u8 = 4;
pub const TYPE_IDENTITY: u8 = 1;
pub const TYPE_NAK: u8 = 3;
pub const TYPE_MD5: u8 = 4;
pub const TYPE_MSCHAPV2: u8 = 26;

pub(crate) const OP_CHALLENGE: u8 = 1;
pub(crate) const OP_RESPONSE: u8 = 2;
pub(crate) const OP_SUCCESS: u8 = 3;
pub(crate) const OP_FAILURE: u8 = 4;

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password.
pub fn nt_password_hash(password: &[u8]) -> Zeroizing<[u8; 16]> {
    let text = String::from_utf8_lossy(password);
    let mut unicode = Zeroizing::new(Vec::with_capacity(text.len() * 2));
    for u in text.encode_utf16() {
        unicode.extend_from_slice(&u.to_le_bytes());
    }
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&Md4::digest(&*unicode));
    out
}

fn md4_16(data: &[u8]) -> Zeroizing<[u8; 16]> {
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&Md4::digest(data));
    out
}

/// ChallengeHash (RFC 2759 §8.2): first 8 octets of SHA1(PeerChallenge | AuthenticatorChallenge | UserName).
pub fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let d = Sha1::new()
        .chain_update(peer)
        .chain_update(auth)
        .chain_update(user)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// A 7-octet key spread over 8 DES key octets (parity bits ignored by DES).
fn des_key(k7: &[u8]) -> [u8; 8] {
    let mut k = [0u8; 8];
    let bits = k7.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    for (i, out) in k.iter_mut().enumerate() {
        *out = (((bits >> (49 - 7 * i)) & 0x7f) as u8) << 1;
    }
    k
}

/// ChallengeResponse (RFC 2759 §8.5): three DES encryptions of the challenge.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = Zeroizing::new([0u8; 21]);
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        let key = des_key(&z[7 * i..7 * i + 7]);
        let cipher = des::Des::new(&key.into());
        let mut block = (*challenge).into();
        cipher.encrypt_block(&mut block);
        out[8 * i..8 * i + 8].copy_from_slice(&block);
    }
    out
}

/// GenerateNTResponse (RFC 2759 §8.1).
pub fn nt_response(auth: &[u8; 16], peer: &[u8; 16], user: &[u8], password: &[u8]) -> [u8; 24] {
    let ch = challenge_hash(peer, auth, user);
    challenge_response(&ch, &nt_password_hash(password))
}

const MAGIC1: &[u8] = b"Magic server to client signing constant";
const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";

/// GenerateAuthenticatorResponse (RFC 2759 §8.7): the "S=<40 hex>" string.
pub fn authenticator_response(
    password: &[u8],
    nt_resp: &[u8; 24],
    peer: &[u8; 16],
    auth: &[u8; 16],
    user: &[u8],
) -> String {
    let hh = md4_16(&*nt_password_hash(password));
    let d = Sha1::new()
        .chain_update(*hh)
        .chain_update(nt_resp)
        .chain_update(MAGIC1)
        .finalize();
    let ch = challenge_hash(peer, auth, user);
    let d2 = Sha1::new()
        .chain_update(d)
        .chain_update(ch)
        .chain_update(MAGIC2)
        .finalize();
    format!("S={}", hex::encode_upper(d2))
}

const KEY_MAGIC1: &[u8] = b"This is the MPPE Master Key";
const KEY_MAGIC2: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
const KEY_MAGIC3: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

/// GetMasterKey (RFC 3079 §3.4).
pub fn master_key(password: &[u8], nt_resp: &[u8; 24]) -> Zeroizing<[u8; 16]> {
    let hh = md4_16(&*nt_password_hash(password));
    let d = Sha1::new()
        .chain_update(*hh)
        .chain_update(nt_resp)
        .chain_update(KEY_MAGIC1)
        .finalize();
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&d[..16]);
    out
}

/// GetAsymmetricStartKey (RFC 3079 §3.4), 16 octets.
pub fn asymmetric_start_key(
    master: &[u8; 16],
    is_send: bool,
    is_server: bool,
) -> Zeroizing<[u8; 16]> {
    let magic = if is_send == is_server {
        KEY_MAGIC3
    } else {
        KEY_MAGIC2
    };
    let d = Sha1::new()
        .chain_update(master)
        .chain_update([0u8; 40])
        .chain_update(magic)
        .chain_update([0xf2u8; 40])
        .finalize();
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&d[..16]);
    out
}

/// The MSK as the authenticator derives it: MasterReceiveKey | MasterSendKey | 32 zeros.
pub fn msk(password: &[u8], nt_resp: &[u8; 24]) -> SecretBytes {
    let mk = master_key(password, nt_resp);
    let recv = asymmetric_start_key(&mk, false, true);
    let send = asymmetric_start_key(&mk, true, true);
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&*recv);
    v.extend_from_slice(&*send);
    v.extend_from_slice(&[0u8; 32]);
    SecretBytes::new(v)
}

/// An EAP packet (RFC 3748 §4): code, identifier, type-data (type first, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub identifier: u8,
    pub data: Vec<u8>,
}

/// What the authenticator does next.
#[derive(Debug)]
pub enum Step {
    /// Send this EAP request and wait.
    Send(Packet),
    /// Authentication succeeded: send EAP-Success; the MSK keys the AUTH
    /// payloads (`None`: the method makes none, SK_pi/SK_pr do).
    Success {
        packet: Packet,
        msk: Option<SecretBytes>,
        identity: Vec<u8>,
    },
    /// Authentication failed: send EAP-Failure; `why` is for the log.
    Failure { packet: Packet, why: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Identity,
    Challenge,
    SuccessSent,
    Done,
}

/// The password of an EAP identity (from ipsec.secrets `user : EAP "..."`).
pub trait Passwords {
    fn password(&self, identity: &[u8]) -> Option<SecretBytes>;
    /// Whether `identity` may try now (guessing throttle); Err(why) refuses
    /// the attempt before its password is checked.
    fn admit(&self, _identity: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// The EAP-Identity request (RFC 3748 §5.1).
fn identity_request(identifier: u8) -> Packet {
    Packet {
        code: CODE_REQUEST,
        identifier,
        data: vec![TYPE_IDENTITY],
    }
}

/// The identity of an EAP-Identity response, logged as strongSwan does.
fn received_identity(p: &Packet) -> Vec<u8> {
    let identity = p.data.get(1..).unwrap_or_default().to_vec();
    tracing::info!(target: "ike", "received EAP identity '{}'", crate::sa::printable(&identity));
    identity
}

/// Why `p` is not the peer's response to our request `id`, if it is not.
fn not_the_response(p: &Packet, id: u8) -> Option<String> {
    (p.code != CODE_RESPONSE || p.identifier != id).then(|| {
        format!(
            "unexpected EAP packet (code {}, id {}, expected response id {id})",
            p.code, p.identifier
        )
    })
}

/// EAP-Failure with `why` for the log.
fn failure(identifier: u8, why: String) -> Step {
    Step::Failure {
        packet: Packet {
            code: CODE_FAILURE,
            identifier,
            data: Vec::new(),
        },
        why,
    }
}

/// The authenticator of one client, for the method its conn names.
#[derive(Debug)]
pub enum Server {
    Mschapv2(MschapV2Server),
    Md5(md5::Md5Server),
}

impl Server {
    /// The method's name in log lines (`EAP-MSCHAPv2`, `EAP-MD5`).
    pub fn method_name(&self) -> &'static str {
        match self {
            Server::Mschapv2(_) => "EAP-MSCHAPv2",
            Server::Md5(_) => "EAP-MD5",
        }
    }

    /// The identity being authenticated.
    pub fn identity(&self) -> &[u8] {
        match self {
            Server::Mschapv2(s) => s.identity(),
            Server::Md5(s) => s.identity(),
        }
    }

    /// The client's EAP response.
    pub fn handle(&mut self, p: &Packet, passwords: &dyn Passwords) -> Step {
        match self {
            Server::Mschapv2(s) => s.handle(p, passwords),
            Server::Md5(s) => s.handle(p, passwords),
        }
    }
}

/// An EAP-MSCHAPv2 authenticator for one client.
pub struct MschapV2Server {
    state: State,
    id: u8,
    auth_challenge: [u8; 16],
    identity: Vec<u8>,
    server_name: Vec<u8>,
    msk: Option<SecretBytes>,
}

impl std::fmt::Debug for MschapV2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MschapV2Server")
            .field("state", &self.state)
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .finish_non_exhaustive()
    }
}

impl MschapV2Server {
    /// Starts with an EAP-Identity request when `identity` is `None`
    /// (`eap_identity=%any`), else directly with the MSCHAPv2 challenge.
    pub fn start(
        identity: Option<Vec<u8>>,
        auth_challenge: [u8; 16],
        first_id: u8,
        server_name: &[u8],
    ) -> (MschapV2Server, Packet) {
        let mut s = MschapV2Server {
            state: State::Identity,
            id: first_id,
            auth_challenge,
            identity: Vec::new(),
            server_name: server_name.to_vec(),
            msk: None,
        };
        let p = match identity {
            None => identity_request(s.id),
            Some(i) => {
                s.identity = i;
                s.challenge()
            }
        };
        (s, p)
    }

    fn challenge(&mut self) -> Packet {
        self.state = State::Challenge;
        // Type, OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size(16), Challenge, Name.
        let ms_len = 4 + 1 + 16 + self.server_name.len();
        let mut d = vec![
            TYPE_MSCHAPV2,
            OP_CHALLENGE,
            self.id,
            (ms_len >> 8) as u8,
            ms_len as u8,
            16,
        ];
        d.extend_from_slice(&self.auth_challenge);
        d.extend_from_slice(&self.server_name);
        Packet {
            code: CODE_REQUEST,
            identifier: self.id,
            data: d,
        }
    }

    fn fail(&mut self, why: String) -> Step {
        self.state = State::Done;
        failure(self.id, why)
    }

    /// The client's EAP response.
    /// The identity being authenticated (the MS-CHAPv2 Name once received).
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    pub fn handle(&mut self, p: &Packet, passwords: &dyn Passwords) -> Step {
        if let Some(why) = not_the_response(p, self.id) {
            return self.fail(why);
        }
        self.id = self.id.wrapping_add(1);
        let ty = p.data.first().copied();
        match (self.state, ty) {
            (State::Identity, Some(TYPE_IDENTITY)) => {
                self.identity = received_identity(p);
                Step::Send(self.challenge())
            }
            (State::Challenge, Some(TYPE_NAK)) => {
                self.fail("client refused EAP-MSCHAPv2 (NAK)".into())
            }
            (State::Challenge, Some(TYPE_MSCHAPV2)) => self.on_response(&p.data, passwords),
            (State::SuccessSent, Some(TYPE_MSCHAPV2)) if p.data.get(1) == Some(&OP_SUCCESS) => {
                self.state = State::Done;
                match self.msk.take() {
                    Some(msk) => Step::Success {
                        packet: Packet {
                            code: CODE_SUCCESS,
                            identifier: p.identifier,
                            data: Vec::new(),
                        },
                        msk: Some(msk),
                        identity: self.identity.clone(),
                    },
                    None => self.fail("internal: no MSK".into()),
                }
            }
            (State::SuccessSent, Some(TYPE_MSCHAPV2)) if p.data.get(1) == Some(&OP_FAILURE) => {
                self.fail("client rejected our authenticator response".into())
            }
            (s, t) => self.fail(format!("unexpected EAP type {t:?} in state {s:?}")),
        }
    }

    fn on_response(&mut self, d: &[u8], passwords: &dyn Passwords) -> Step {
        // Type, OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size(49),
        // Peer-Challenge(16), Reserved(8), NT-Response(24), Flags(1), Name.
        if d.get(1) != Some(&OP_RESPONSE) || d.get(5) != Some(&49) || d.len() < 6 + 49 {
            return self.fail("malformed MSCHAPv2 response".into());
        }
        let mut peer = [0u8; 16];
        peer.copy_from_slice(&d[6..22]);
        let mut nt = [0u8; 24];
        nt.copy_from_slice(&d[30..54]);
        let name = &d[55..];
        // The challenge hash uses the user name without a domain prefix.
        let user = match name.iter().rposition(|b| *b == b'\\') {
            Some(i) => &name[i + 1..],
            None => name,
        };
        // Exactly one identity is authenticated, and it is the one recorded:
        // the MS-CHAPv2 Name whose password is checked (as strongSwan does),
        // never an EAP-Identity or IDi claimed beside it.
        let claimed = std::mem::replace(&mut self.identity, name.to_vec());
        if claimed != name && !claimed.is_empty() {
            tracing::info!(target: "ike", "EAP-MSCHAPv2 name '{}' differs from the EAP identity '{}': authenticating '{}'",
                crate::sa::printable(name), crate::sa::printable(&claimed), crate::sa::printable(name));
        }
        if let Err(why) = passwords.admit(name) {
            return self.fail(why);
        }
        let Some(pw) = passwords.password(name) else {
            let who = crate::sa::printable(name);
            return self.fail(format!("no EAP secret for '{who}' in ipsec.secrets"));
        };
        let expect = nt_response(&self.auth_challenge, &peer, user, pw.as_slice());
        if !crate::crypto::ct_eq(&expect, &nt) {
            let who = crate::sa::printable(&self.identity);
            return self.fail(format!(
                "EAP-MSCHAPv2 verification of '{who}' failed: wrong password"
            ));
        }
        let msg = authenticator_response(pw.as_slice(), &nt, &peer, &self.auth_challenge, user);
        let text = format!("{msg} M=Welcome2iked");
        let ms_len = 4 + text.len();
        let ms_id = d.get(2).copied().unwrap_or(0);
        let mut out = vec![
            TYPE_MSCHAPV2,
            OP_SUCCESS,
            ms_id,
            (ms_len >> 8) as u8,
            ms_len as u8,
        ];
        out.extend_from_slice(text.as_bytes());
        self.msk = Some(msk(pw.as_slice(), &nt));
        self.state = State::SuccessSent;
        Step::Send(Packet {
            code: CODE_REQUEST,
            identifier: self.id,
            data: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }
    fn a16(s: &str) -> [u8; 16] {
        h(s).try_into().unwrap()
    }

    // RFC 2759 §9.2 example.
    const AUTH_CH: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
    const PEER_CH: &str = "21402324255E262A28295F2B3A337C7E";

    #[test]
    fn rfc2759_vectors() {
        let pw = b"clientPass";
        assert_eq!(
            &nt_password_hash(pw)[..],
            &h("44EBBA8D5312B8D611474411F56989AE")[..]
        );
        assert_eq!(
            &md4_16(&*nt_password_hash(pw))[..],
            &h("41C00C584BD2D91C4017A2A12FA59F3F")[..]
        );
        let ch = challenge_hash(&a16(PEER_CH), &a16(AUTH_CH), b"User");
        assert_eq!(ch.to_vec(), h("D02E4386BCE91226"));
        let nt = nt_response(&a16(AUTH_CH), &a16(PEER_CH), b"User", pw);
        assert_eq!(
            nt.to_vec(),
            h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        assert_eq!(
            authenticator_response(pw, &nt, &a16(PEER_CH), &a16(AUTH_CH), b"User"),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        // RFC 3079 §3.5.3: the master key of the same exchange.
        assert_eq!(
            &master_key(pw, &nt)[..],
            &h("FDECE3717A8C838CB388E527AE3CDD31")[..]
        );
    }

    struct Pw;
    impl Passwords for Pw {
        fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
            (identity == b"User").then(|| SecretBytes::new(b"clientPass".to_vec()))
        }
    }

    /// A client built from the same RFC functions, driving the server.
    fn client_response(req: &Packet, pw: &[u8]) -> Packet {
        let auth: [u8; 16] = req.data[6..22].try_into().unwrap();
        let peer = a16(PEER_CH);
        let nt = nt_response(&auth, &peer, b"User", pw);
        let mut d = vec![TYPE_MSCHAPV2, OP_RESPONSE, req.data[2], 0, 0, 49];
        d.extend_from_slice(&peer);
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&nt);
        d.push(0);
        d.extend_from_slice(b"User");
        Packet {
            code: CODE_RESPONSE,
            identifier: req.identifier,
            data: d,
        }
    }

    #[test]
    fn full_exchange_and_wrong_password() {
        for (pw, ok) in [(&b"clientPass"[..], true), (&b"wrong"[..], false)] {
            let (mut s, p) = MschapV2Server::start(None, a16(AUTH_CH), 7, b"iked");
            assert_eq!(p.data, vec![TYPE_IDENTITY]);
            let step = s.handle(
                &Packet {
                    code: CODE_RESPONSE,
                    identifier: 7,
                    data: [&[TYPE_IDENTITY][..], b"User"].concat(),
                },
                &Pw,
            );
            let Step::Send(challenge) = step else {
                panic!("{step:?}")
            };
            assert_eq!(challenge.data[1], OP_CHALLENGE);
            let step = s.handle(&client_response(&challenge, pw), &Pw);
            if !ok {
                assert!(
                    matches!(step, Step::Failure { ref why, .. } if why.contains("wrong password")),
                    "{step:?}"
                );
                continue;
            }
            let Step::Send(success) = step else {
                panic!("{step:?}")
            };
            assert!(
                String::from_utf8_lossy(&success.data[5..])
                    .starts_with("S=407A5589115FD0D6209F510FE9C04566932CDA56")
            );
            let ack = Packet {
                code: CODE_RESPONSE,
                identifier: success.identifier,
                data: vec![TYPE_MSCHAPV2, OP_SUCCESS],
            };
            let Step::Success {
                packet,
                msk,
                identity,
            } = s.handle(&ack, &Pw)
            else {
                panic!()
            };
            assert_eq!(packet.code, CODE_SUCCESS);
            assert_eq!(identity, b"User");
            let msk = msk.expect("EAP-MSCHAPv2 makes an MSK");
            assert_eq!(msk.len(), 64);
            let mk = master_key(
                b"clientPass",
                &nt_response(&a16(AUTH_CH), &a16(PEER_CH), b"User", b"clientPass"),
            );
            // Server receive key = client send key (Magic2); server send key = client receive key.
            assert_eq!(
                &msk.as_slice()[..16],
                &asymmetric_start_key(&mk, true, false)[..]
            );
            assert_eq!(
                &msk.as_slice()[16..32],
                &asymmetric_start_key(&mk, false, false)[..]
            );
        }
    }

    /// A client that claims one identity and answers with another's name.
    fn response_as(req: &Packet, name: &[u8], pw: &[u8]) -> Packet {
        let auth: [u8; 16] = req.data[6..22].try_into().unwrap();
        let peer = a16(PEER_CH);
        let nt = nt_response(&auth, &peer, name, pw);
        let mut d = vec![TYPE_MSCHAPV2, OP_RESPONSE, req.data[2], 0, 0, 49];
        d.extend_from_slice(&peer);
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&nt);
        d.push(0);
        d.extend_from_slice(name);
        Packet {
            code: CODE_RESPONSE,
            identifier: req.identifier,
            data: d,
        }
    }

    #[test]
    fn own_password_never_authenticates_another_identity() {
        // The client claims "victim" (no EAP secret) and answers as "User" with
        // User's password: it is authenticated as User, never as victim.
        let (mut s, challenge) =
            MschapV2Server::start(Some(b"victim".to_vec()), a16(AUTH_CH), 3, b"iked");
        let Step::Send(success) = s.handle(&response_as(&challenge, b"User", b"clientPass"), &Pw)
        else {
            panic!("User's own password is fine")
        };
        let ack = Packet {
            code: CODE_RESPONSE,
            identifier: success.identifier,
            data: vec![TYPE_MSCHAPV2, OP_SUCCESS],
        };
        let Step::Success { identity, .. } = s.handle(&ack, &Pw) else {
            panic!()
        };
        assert_eq!(
            identity, b"User",
            "the identity recorded is the one authenticated"
        );
        // Claiming User with another name that has no secret fails.
        let (mut s, challenge) =
            MschapV2Server::start(Some(b"User".to_vec()), a16(AUTH_CH), 3, b"iked");
        let step = s.handle(&response_as(&challenge, b"mallory", b"clientPass"), &Pw);
        assert!(
            matches!(step, Step::Failure { ref why, .. } if why.contains("no EAP secret for 'mallory'")),
            "{step:?}"
        );
    }

    #[test]
    fn garbage_fails_cleanly() {
        let (mut s, _) = MschapV2Server::start(Some(b"User".to_vec()), [1; 16], 1, b"iked");
        for data in [
            vec![],
            vec![TYPE_MSCHAPV2],
            vec![TYPE_MSCHAPV2, OP_RESPONSE, 0, 0, 0, 49, 1, 2],
        ] {
            let (mut s2, _) = MschapV2Server::start(Some(b"User".to_vec()), [1; 16], 1, b"iked");
            assert!(matches!(
                s2.handle(
                    &Packet {
                        code: CODE_RESPONSE,
                        identifier: 1,
                        data
                    },
                    &Pw
                ),
                Step::Failure { .. }
            ));
        }
        assert!(matches!(
            s.handle(
                &Packet {
                    code: CODE_REQUEST,
                    identifier: 1,
                    data: vec![]
                },
                &Pw
            ),
            Step::Failure { .. }
        ));
    }

    /// A password store behind a throttle that refuses `User` (as the
    /// endpoint's EAP guard does after failures).
    struct Locked;
    impl Passwords for Locked {
        fn password(&self, identity: &[u8]) -> Option<SecretBytes> {
            Pw.password(identity)
        }
        fn admit(&self, _identity: &[u8]) -> Result<(), String> {
            Err("too many failed EAP attempts for 'User'".into())
        }
    }

    #[test]
    fn a_throttled_identity_is_refused_even_with_the_right_password() {
        let (mut s, challenge) =
            MschapV2Server::start(Some(b"User".to_vec()), a16(AUTH_CH), 7, b"iked");
        let step = s.handle(&client_response(&challenge, b"clientPass"), &Locked);
        assert!(
            matches!(step, Step::Failure { ref why, .. } if why.contains("too many failed EAP attempts")),
            "{step:?}"
        );
        assert_eq!(s.identity(), b"User");
    }
}
