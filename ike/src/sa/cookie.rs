//! COOKIEs (RFC 7296 §2.6): under load a responder answers IKE_SA_INIT with a
//! stateless COOKIE and spends a key exchange only on initiators that echo it.
//! The secret is rotated (hourly, or after 10,000 cookies), the previous one
//! still accepted, both zeroized, and cookies compared in constant time.

use crate::wire::{NotifyType, Payload};
use rand_core::CryptoRngCore;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const ROTATE_AFTER: Duration = Duration::from_secs(3600);
const ROTATE_USES: u32 = 10_000;

struct Secret {
    version: u8,
    key: Zeroizing<[u8; 32]>,
    made: Instant,
    uses: u32,
}

#[derive(Default)]
pub(super) struct Cookies {
    current: Option<Secret>,
    previous: Option<Secret>,
}

impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cookies(<secrets redacted>)")
    }
}

/// Cookie = 0 0 0 version | SHA-256(Ni | IPi | SPIi | secret).
fn cookie(s: &Secret, ni: &[u8], remote: SocketAddr, spi_i: &[u8; 8]) -> Vec<u8> {
    use sha2::Digest as _;
    let ip = match remote.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let h = sha2::Sha256::new()
        .chain_update(ni)
        .chain_update(&ip)
        .chain_update(spi_i)
        .chain_update(*s.key)
        .finalize();
    let mut c = vec![0u8, 0, 0, s.version];
    c.extend_from_slice(&h);
    c
}

impl Cookies {
    /// Makes a new secret when there is none or the current one is due.
    fn rotate_if_due(&mut self, rng: &mut dyn CryptoRngCore, now: Instant) {
        let due = self.current.as_ref().is_none_or(|s| {
            now.saturating_duration_since(s.made) >= ROTATE_AFTER || s.uses >= ROTATE_USES
        });
        if due {
            let mut key = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut *key);
            let version = self
                .current
                .as_ref()
                .map_or(1, |s| s.version.wrapping_add(1));
            self.previous = self.current.take();
            self.current = Some(Secret {
                version,
                key,
                made: now,
                uses: 0,
            });
        }
    }

    /// With `half_open` at or over `threshold`, the request must start with a
    /// COOKIE of ours (current or previous secret): Err(the cookie to demand).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        rng: &mut dyn CryptoRngCore,
        now: Instant,
        half_open: usize,
        threshold: usize,
        ni: &[u8],
        remote: SocketAddr,
        spi_i: &[u8; 8],
        payloads: &[Payload],
    ) -> Result<(), Vec<u8>> {
        if half_open < threshold {
            return Ok(());
        }
        let got = payloads.first().and_then(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(n.data.as_slice()),
            _ => None,
        });
        self.rotate_if_due(rng, now);
        let Some(cur) = self.current.as_ref() else {
            return Err(Vec::new());
        };
        let expect = cookie(cur, ni, remote, spi_i);
        if let Some(g) = got {
            let ok = crate::crypto::ct_eq(g, &expect)
                || self
                    .previous
                    .as_ref()
                    .is_some_and(|p| crate::crypto::ct_eq(g, &cookie(p, ni, remote, spi_i)));
            if ok {
                return Ok(());
            }
        }
        if let Some(c) = self.current.as_mut() {
            c.uses += 1;
        }
        Err(expect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRng;

    #[test]
    fn cookies_rotate_and_the_previous_secret_still_counts() {
        let mut c = Cookies::default();
        let mut rng = TestRng(3);
        let t0 = Instant::now();
        let remote: SocketAddr = "192.0.2.9:500".parse().unwrap();
        let (ni, spi) = (vec![7u8; 32], [1u8; 8]);
        let demand = c
            .check(&mut rng, t0, 10, 10, &ni, remote, &spi, &[])
            .unwrap_err();
        let with = |k: &[u8]| {
            vec![Payload::Notify(crate::wire::Notify::new(
                NotifyType::COOKIE,
                k.to_vec(),
            ))]
        };
        assert!(
            c.check(&mut rng, t0, 10, 10, &ni, remote, &spi, &with(&demand))
                .is_ok()
        );
        // Another source or SPI does not get in with it.
        let other: SocketAddr = "192.0.2.10:500".parse().unwrap();
        assert!(
            c.check(&mut rng, t0, 10, 10, &ni, other, &spi, &with(&demand))
                .is_err()
        );
        // An hour later a new secret; the old cookie still works once rotated...
        let t1 = t0 + ROTATE_AFTER;
        let fresh = c
            .check(&mut rng, t1, 10, 10, &ni, remote, &spi, &[])
            .unwrap_err();
        assert_ne!(fresh[3], demand[3], "new version");
        assert!(
            c.check(&mut rng, t1, 10, 10, &ni, remote, &spi, &with(&demand))
                .is_ok()
        );
        // ...but not after the next rotation.
        let t2 = t1 + ROTATE_AFTER;
        let _ = c.check(&mut rng, t2, 10, 10, &ni, remote, &spi, &[]);
        assert!(
            c.check(&mut rng, t2, 10, 10, &ni, remote, &spi, &with(&demand))
                .is_err()
        );
        // Below the threshold nothing is demanded.
        assert!(c.check(&mut rng, t2, 9, 10, &ni, remote, &spi, &[]).is_ok());
    }
}
