//! Throttling of EAP password guessing: failures are counted per EAP
//! identity (the name whose password was checked) and per source address,
//! and after them the next attempt waits — the wait doubles with every
//! failure, up to [`MAX_LOCK`]. While an identity or source waits, its
//! attempts are refused before any password is checked, so guessing during
//! the wait learns nothing. A success clears the identity's count. The
//! tables are bounded ([`MAX_ENTRIES`] each; the stalest entries go first).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The longest wait.
pub(crate) const MAX_LOCK: Duration = Duration::from_secs(300);
/// Failures of one source allowed before it waits too (offices behind one
/// NAT share an address).
pub(crate) const SOURCE_FREE_FAILURES: u32 = 5;
/// A count is forgotten after this long without a failure.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Entries per table.
pub(crate) const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    until: Instant,
}

#[derive(Debug)]
struct Table<K> {
    free: u32,
    map: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(free: u32) -> Self {
        Table {
            free,
            map: HashMap::new(),
        }
    }

    fn wait(&self, now: Instant, k: &K) -> Option<Duration> {
        let e = self.map.get(k)?;
        (e.until > now).then(|| e.until - now)
    }

    fn fail(&mut self, now: Instant, k: &K) {
        if self.map.len() >= MAX_ENTRIES && !self.map.contains_key(k) {
            self.map
                .retain(|_, e| now.saturating_duration_since(e.last) < FORGET_AFTER);
            if self.map.len() >= MAX_ENTRIES {
                if let Some(oldest) = self
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone())
                {
                    self.map.remove(&oldest);
                }
            }
        }
        let e = self.map.entry(k.clone()).or_insert(Entry {
            failures: 0,
            last: now,
            until: now,
        });
        if now.saturating_duration_since(e.last) >= FORGET_AFTER {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if let Some(n) = e.failures.checked_sub(self.free).filter(|n| *n > 0) {
            let secs = 1u64 << (n - 1).min(16);
            e.until = now + Duration::from_secs(secs).min(MAX_LOCK);
        }
    }
}

/// The endpoint's record of failed EAP attempts.
#[derive(Debug)]
pub(crate) struct EapGuard {
    ids: Table<Vec<u8>>,
    sources: Table<IpAddr>,
}

impl Default for EapGuard {
    fn default() -> Self {
        EapGuard {
            ids: Table::new(0),
            sources: Table::new(SOURCE_FREE_FAILURES),
        }
    }
}

impl EapGuard {
    /// Whether an attempt for `identity` from `source` must wait, and why.
    pub fn refuse(&self, now: Instant, identity: &[u8], source: IpAddr) -> Option<String> {
        if let Some(w) = self.ids.wait(now, &identity.to_vec()) {
            return Some(format!(
                "too many failed EAP attempts for '{}': next one allowed in {} s",
                super::printable(identity),
                w.as_secs().max(1)
            ));
        }
        self.sources.wait(now, &source).map(|w| {
            format!(
                "too many failed EAP attempts from {source}: next one allowed in {} s",
                w.as_secs().max(1)
            )
        })
    }

    pub fn failed(&mut self, now: Instant, identity: &[u8], source: IpAddr) {
        if !identity.is_empty() {
            self.ids.fail(now, &identity.to_vec());
        }
        self.sources.fail(now, &source);
    }

    pub fn succeeded(&mut self, identity: &[u8]) {
        self.ids.map.remove(identity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_doubles_the_identitys_wait_up_to_the_cap() {
        let mut g = EapGuard::default();
        let src: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        assert!(g.refuse(t0, b"bob", src).is_none());
        g.failed(t0, b"bob", src);
        assert!(g.refuse(t0, b"bob", src).unwrap().contains("'bob'"));
        assert!(g.refuse(t0 + Duration::from_secs(1), b"bob", src).is_none());
        // Other users are not held up by bob's failures.
        assert!(g.refuse(t0, b"alice", src).is_none());
        // Twenty failures from twenty sources: bob waits the longest.
        let mut t = t0;
        for i in 0..20u8 {
            t += MAX_LOCK;
            g.failed(t, b"bob", IpAddr::from([192, 0, 2, 100 + i]));
        }
        assert!(
            g.refuse(t + MAX_LOCK - Duration::from_secs(1), b"bob", src)
                .is_some()
        );
        assert!(g.refuse(t + MAX_LOCK, b"bob", src).is_none());
        // A success clears bob's count: his next failure costs 1 s again.
        g.succeeded(b"bob");
        g.failed(t + MAX_LOCK, b"bob", src);
        assert!(g.refuse(t + MAX_LOCK, b"bob", src).is_some());
        assert!(
            g.refuse(t + MAX_LOCK + Duration::from_secs(1), b"bob", src)
                .is_none()
        );
    }

    #[test]
    fn a_source_trying_many_names_waits_after_its_free_failures() {
        let mut g = EapGuard::default();
        let src: IpAddr = "198.51.100.7".parse().unwrap();
        let t = Instant::now();
        for i in 0..SOURCE_FREE_FAILURES {
            g.failed(t, format!("user{i}").as_bytes(), src);
        }
        assert!(g.refuse(t, b"fresh", src).is_none());
        g.failed(t, b"user-last", src);
        assert!(g.refuse(t, b"fresh", src).unwrap().contains("198.51.100.7"));
        // Another source is not affected.
        assert!(
            g.refuse(t, b"fresh", "198.51.100.8".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut g = EapGuard::default();
        let t = Instant::now();
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            let src = IpAddr::from((0xc633_6400u32 + (i % 256)).to_be_bytes());
            g.failed(t, &i.to_be_bytes(), src);
        }
        assert!(g.ids.map.len() <= MAX_ENTRIES);
        assert!(g.sources.map.len() <= MAX_ENTRIES);
    }
}
