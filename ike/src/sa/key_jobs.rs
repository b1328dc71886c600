//! Key exchanges off the event loop. A responder's IKE_SA_INIT costs a key
//! pair and a shared secret: the most expensive thing a peer can make us do
//! before it has proven anything. The core hands that work out as a
//! [`KeyJob`] (`Endpoint::poll_key_job`); the daemon runs it on a worker
//! thread and gives the [`KeyJobDone`] back (`Endpoint::key_job_done`), so a
//! flood of IKE_SA_INITs costs the event loop a parse and a COOKIE check per
//! datagram while established IKE_SAs keep their timers. Without offloading
//! (the default: tests, tools) the core runs each job at once, on the same
//! path.

use crate::crypto::{DhGroup, SecretBytes};
use rand_core::CryptoRngCore;
use std::collections::{HashMap, VecDeque};

type Spi = [u8; 8];

/// One responder key exchange: our key pair in `group`, and the shared
/// secret with the peer's public value.
pub struct KeyJob {
    id: u64,
    group: DhGroup,
    peer: Vec<u8>,
}

impl std::fmt::Debug for KeyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyJob")
            .field("id", &self.id)
            .field("group", &self.group.iana_id())
            .finish_non_exhaustive()
    }
}

impl KeyJob {
    /// Does the work (on any thread); `rng` makes the private key.
    pub fn run<R: CryptoRngCore + ?Sized>(self, rng: &mut R) -> KeyJobDone {
        let result = self
            .group
            .generate(rng)
            .map_err(|e| format!("key generation failed: {e}"))
            .and_then(|dh| {
                let shared = dh
                    .compute_shared(&self.peer)
                    .map_err(|e| format!("invalid KE value: {e}"))?;
                Ok((dh.public_value().to_vec(), shared))
            });
        KeyJobDone {
            id: self.id,
            result,
        }
    }
}

/// A finished [`KeyJob`]: our public value and the shared secret, or why not.
pub struct KeyJobDone {
    pub(super) id: u64,
    pub(super) result: Result<(Vec<u8>, SecretBytes), String>,
}

impl std::fmt::Debug for KeyJobDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyJobDone")
            .field("id", &self.id)
            .field("ok", &self.result.is_ok())
            .finish_non_exhaustive()
    }
}

/// The jobs handed out and not yet back, and the IKE_SA each one is for.
#[derive(Debug, Default)]
pub(super) struct KeyJobs {
    /// Hand jobs out (`poll`) instead of running them at once.
    pub offload: bool,
    queue: VecDeque<KeyJob>,
    in_flight: HashMap<u64, Spi>,
    next: u64,
}

impl KeyJobs {
    /// A job for the IKE_SA with our SPI `key`: returned to be run at once
    /// when not offloading, else queued for `poll`.
    pub fn submit(&mut self, key: Spi, group: DhGroup, peer: Vec<u8>) -> Option<KeyJob> {
        self.next += 1;
        let job = KeyJob {
            id: self.next,
            group,
            peer,
        };
        self.in_flight.insert(job.id, key);
        if self.offload {
            self.queue.push_back(job);
            None
        } else {
            Some(job)
        }
    }

    pub fn poll(&mut self) -> Option<KeyJob> {
        self.queue.pop_front()
    }

    /// The IKE_SA a finished job was for (None: unknown or already taken).
    pub fn finish(&mut self, id: u64) -> Option<Spi> {
        self.in_flight.remove(&id)
    }

    /// Jobs handed out (queued or running) and not yet back.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
