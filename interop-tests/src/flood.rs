//! A bounded IKE_SA_INIT flood (`interop-lab flood`, run inside a namespace
//! the scenario made): well-formed requests (AES-GCM-16-128, SHA2-256,
//! Curve25519) with fresh SPIs, KE values and nonces, from many source
//! addresses of a documentation prefix that never answer a COOKIE — what a
//! spoofing attacker sends. It stops by itself after `count` requests or
//! `seconds`, whichever comes first.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ike::wire::{
    ExchangeType, Flags, Header, KePayload, Message, Payload, Proposal, ProtocolId, SaPayload,
    Transform, TransformType, transform_id,
};

use crate::{Result, lab_err};

/// What was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub requests: u64,
    pub sources: usize,
    pub elapsed: Duration,
}

/// Pseudo-random octets (splitmix64): the flood needs distinct values, not secrets.
struct Octets(u64);

impl Octets {
    fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let v = (z ^ (z >> 31)).to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// One IKE_SA_INIT request.
fn init_request(o: &mut Octets) -> Result<Vec<u8>> {
    let mut spi_i = [0u8; 8];
    o.fill(&mut spi_i);
    let (mut ke, mut nonce) = (vec![0u8; 32], vec![0u8; 32]);
    o.fill(&mut ke);
    o.fill(&mut nonce);
    let mut m = Message::new(Header {
        spi_i,
        spi_r: [0; 8],
        minor_version: 0,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags::new(true, false),
        message_id: 0,
    });
    m.payloads = vec![
        Payload::Sa(SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol_id: ProtocolId::IKE,
                spi: Vec::new(),
                transforms: vec![
                    Transform::with_key_length(
                        TransformType::ENCR,
                        transform_id::encr::AES_GCM_16,
                        128,
                    ),
                    Transform::new(TransformType::PRF, transform_id::prf::HMAC_SHA2_256),
                    Transform::new(TransformType::DH, transform_id::dh::CURVE25519),
                ],
            }],
        }),
        Payload::Ke(KePayload {
            group: transform_id::dh::CURVE25519,
            data: ke,
        }),
        Payload::Nonce(nonce),
    ];
    m.encode()
        .map_err(|e| lab_err!("encoding an IKE_SA_INIT: {e}"))
}

/// `first-last` of one /24 (e.g. `203.0.113.131-190`) or one address.
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>> {
    let bad = || lab_err!("sources: want A.B.C.D or A.B.C.D-E, got {s:?}");
    let (first, last) = s.split_once('-').unwrap_or((s, ""));
    let first: std::net::Ipv4Addr = first.parse().map_err(|_| bad())?;
    let o = first.octets();
    let end: u8 = if last.is_empty() {
        o[3]
    } else {
        last.parse().map_err(|_| bad())?
    };
    if end < o[3] {
        return Err(bad());
    }
    Ok((o[3]..=end)
        .map(|d| IpAddr::from([o[0], o[1], o[2], d]))
        .collect())
}

/// Sends up to `count` requests to `to` (port 500) from `sources`, paced
/// evenly over `seconds`, stopping at `count` or `seconds`.
pub fn run(to: IpAddr, sources: &[IpAddr], count: u64, seconds: u64) -> Result<Sent> {
    if sources.is_empty() || count == 0 || seconds == 0 {
        return Err(lab_err!("flood: nothing to send"));
    }
    let socks: Vec<UdpSocket> = sources
        .iter()
        .map(|a| {
            let s = UdpSocket::bind(SocketAddr::new(*a, 0))
                .map_err(|e| lab_err!("flood: bind {a}: {e}"))?;
            s.set_nonblocking(true)
                .map_err(|e| lab_err!("flood: {a}: {e}"))?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let dst = SocketAddr::new(to, 500);
    let mut o = Octets(0x1ced_f100d);
    let start = Instant::now();
    let limit = Duration::from_secs(seconds);
    let per = limit.as_secs_f64() / count as f64;
    let mut sent = 0u64;
    while sent < count && start.elapsed() < limit {
        let due = (start.elapsed().as_secs_f64() / per) as u64 + 1;
        while sent < due.min(count) {
            let d = init_request(&mut o)?;
            let s = &socks[(sent as usize) % socks.len()];
            // a full socket buffer loses a request, as a real flood would
            let _ = s.send_to(&d, dst);
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(Sent {
        requests: sent,
        sources: socks.len(),
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_as_ike_sa_inits_with_fresh_spis() {
        let mut o = Octets(1);
        let (a, b) = (init_request(&mut o).unwrap(), init_request(&mut o).unwrap());
        let (ma, mb) = (Message::decode(&a).unwrap(), Message::decode(&b).unwrap());
        assert_eq!(ma.header.exchange, ExchangeType::IKE_SA_INIT);
        assert_ne!(ma.header.spi_i, mb.header.spi_i);
        assert_eq!(ma.payloads.len(), 3);
    }

    #[test]
    fn sources_are_a_bounded_range() {
        assert_eq!(parse_sources("203.0.113.131-133").unwrap().len(), 3);
        assert_eq!(parse_sources("203.0.113.9").unwrap().len(), 1);
        assert!(parse_sources("203.0.113.9-3").is_err());
        assert!(parse_sources("x").is_err());
    }
}
