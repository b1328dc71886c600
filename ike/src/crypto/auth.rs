//! AUTH payload octets (RFC 7296 section 2.15) and NAT detection hashes
//! (RFC 7296 section 2.23). Signatures themselves belong to the `pki` crate;
//! this module builds what is signed or MACed.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use super::{Prf, SecretBytes, ct_eq};

/// The key pad of the shared-key AUTH method.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The octets a side signs or MACs: its own first message (as sent), the
/// peer's nonce data, and prf(SK_px, RestOfIDPayload), where
/// `id_body` is the sender's ID payload body (type, 3 reserved, data);
/// `sk_p` is SK_pi for the initiator, SK_pr for the responder.
pub fn signed_octets(
    prf: Prf,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.compute(sk_p, &[id_body]);
    let mut out = Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len());
    out.extend_from_slice(real_message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(maced_id.as_slice());
    out
}

/// AUTH data of the shared key method: prf(prf(secret, KEY_PAD), octets).
/// EAP methods that produce an MSK use it as `secret` (section 2.16).
pub fn shared_key_auth(prf: Prf, secret: &[u8], octets: &[u8]) -> SecretBytes {
    let key = prf.compute(secret, &[KEY_PAD]);
    prf.compute(key.as_slice(), &[octets])
}

/// Checks a received shared-key AUTH value in constant time.
pub fn verify_shared_key_auth(prf: Prf, secret: &[u8], octets: &[u8], received: &[u8]) -> bool {
    let expect = shared_key_auth(prf, secret, octets);
    expect.len() == received.len() && ct_eq(expect.as_slice(), received)
}

/// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP address | port).
pub fn nat_detection_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(spi_i);
    h.update(spi_r);
    match ip {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(port.to_be_bytes());
    h.finalize().into()
}
