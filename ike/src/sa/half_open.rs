//! The responder's half-open IKE_SAs (IKE_SA_INIT answered, no IKE_AUTH yet):
//! found by the initiator's address and SPI (retransmitted IKE_SA_INITs),
//! counted in all and per source address, all in O(1).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

type Spi = [u8; 8];

#[derive(Debug, Default)]
pub(super) struct HalfOpen {
    /// (initiator address, initiator SPI) -> our SPI.
    by_init: HashMap<(SocketAddr, Spi), Spi>,
    /// Our SPI -> (initiator address, initiator SPI).
    by_ours: HashMap<Spi, (SocketAddr, Spi)>,
    per_ip: HashMap<IpAddr, usize>,
}

impl HalfOpen {
    pub fn insert(&mut self, remote: SocketAddr, spi_i: Spi, ours: Spi) {
        if self.by_ours.contains_key(&ours) {
            return;
        }
        self.by_init.insert((remote, spi_i), ours);
        self.by_ours.insert(ours, (remote, spi_i));
        *self.per_ip.entry(remote.ip()).or_default() += 1;
    }

    /// Our IKE_SA `ours` is no longer half-open (established or gone).
    pub fn remove(&mut self, ours: &Spi) {
        let Some(k) = self.by_ours.remove(ours) else {
            return;
        };
        self.by_init.remove(&k);
        if let Some(n) = self.per_ip.get_mut(&k.0.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&k.0.ip());
            }
        }
    }

    pub fn get(&self, remote: SocketAddr, spi_i: Spi) -> Option<Spi> {
        self.by_init.get(&(remote, spi_i)).copied()
    }

    pub fn len(&self) -> usize {
        self.by_ours.len()
    }

    pub fn count_from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_inserts_and_removals() {
        let mut h = HalfOpen::default();
        let a: SocketAddr = "192.0.2.7:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.7:4500".parse().unwrap();
        h.insert(a, [1; 8], [9; 8]);
        h.insert(b, [2; 8], [8; 8]);
        h.insert(b, [2; 8], [8; 8]);
        assert_eq!((h.len(), h.count_from(a.ip())), (2, 2));
        assert_eq!(h.get(a, [1; 8]), Some([9; 8]));
        h.remove(&[9; 8]);
        h.remove(&[9; 8]);
        assert_eq!((h.len(), h.count_from(a.ip())), (1, 1));
        h.remove(&[8; 8]);
        assert_eq!((h.len(), h.count_from(a.ip())), (0, 0));
        assert!(h.get(a, [1; 8]).is_none());
    }
}
