//! Established IKE_SAs by peer, for uniqueids: a new IKE_SA of a peer looks
//! at that peer's few IKE_SAs, not at every IKE_SA (a scan per IKE_AUTH made
//! setting up 10,000 IKE_SAs quadratic). Keyed by a hash of (conn, local
//! identity, peer identity); the caller checks the candidates in full.

use crate::wire::Identification;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

type Spi = [u8; 8];

/// The key of an IKE_SA: its conn, local identity and peer (`IkeSa::peer_key`).
pub(super) fn peer_hash(conn: &str, local_id: &Identification, peer: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (conn, &local_id.data, peer).hash(&mut h);
    h.finish()
}

#[derive(Debug, Default)]
pub(super) struct Peers {
    by_peer: HashMap<u64, Vec<Spi>>,
    peer_of: HashMap<Spi, u64>,
}

impl Peers {
    pub fn contains(&self, key: &Spi) -> bool {
        self.peer_of.contains_key(key)
    }

    pub fn insert(&mut self, key: Spi, h: u64) {
        if self.peer_of.insert(key, h).is_none() {
            self.by_peer.entry(h).or_default().push(key);
        }
    }

    pub fn remove(&mut self, key: &Spi) {
        let Some(h) = self.peer_of.remove(key) else {
            return;
        };
        if let Some(v) = self.by_peer.get_mut(&h) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_peer.remove(&h);
            }
        }
    }

    /// The IKE_SAs filed under `h` (a superset of that peer's).
    pub fn get(&self, h: u64) -> &[Spi] {
        self.by_peer.get(&h).map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filed_and_forgotten() {
        let mut p = Peers::default();
        p.insert([1; 8], 7);
        p.insert([2; 8], 7);
        p.insert([2; 8], 7);
        p.insert([3; 8], 9);
        assert_eq!(p.get(7), &[[1; 8], [2; 8]]);
        p.remove(&[1; 8]);
        assert_eq!(p.get(7), &[[2; 8]]);
        p.remove(&[2; 8]);
        assert!(p.get(7).is_empty() && !p.contains(&[2; 8]) && p.contains(&[3; 8]));
    }
}
