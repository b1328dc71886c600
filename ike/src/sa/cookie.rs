//! COOKIEs (RFC 7296 §2.6): under load a responder answers IKE_SA_INIT with a
//! stateless COOKIE and spends a key exchange only on initiators that echo it.

use crate::wire::{NotifyType, Payload};
use rand_core::CryptoRngCore;
use std::net::{IpAddr, SocketAddr};

#[derive(Default)]
pub(super) struct Cookies {
    secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cookies(<secret redacted>)")
    }
}

impl Cookies {
    /// Cookie = version | SHA-256(Ni | IPi | SPIi | secret).
    fn make(
        &mut self,
        rng: &mut dyn CryptoRngCore,
        ni: &[u8],
        remote: SocketAddr,
        spi_i: &[u8; 8],
    ) -> Vec<u8> {
        use sha2::Digest as _;
        let secret = *self.secret.get_or_insert_with(|| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        });
        let ip = match remote.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let h = sha2::Sha256::new()
            .chain_update(ni)
            .chain_update(&ip)
            .chain_update(spi_i)
            .chain_update(secret)
            .finalize();
        let mut c = vec![0u8, 0, 0, 1];
        c.extend_from_slice(&h);
        c
    }

    /// With `half_open` at or over `threshold`, the request must start with our
    /// COOKIE: Err(the cookie to demand) when it does not.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        rng: &mut dyn CryptoRngCore,
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
        let expect = self.make(rng, ni, remote, spi_i);
        let got = payloads.first().and_then(|p| match p {
            Payload::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(n.data.as_slice()),
            _ => None,
        });
        if got.is_some_and(|g| crate::crypto::ct_eq(g, &expect)) {
            Ok(())
        } else {
            Err(expect)
        }
    }
}
