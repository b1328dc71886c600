//! Key work off the event loop: what a peer can make us do before it has
//! proven anything. A responder's IKE_SA_INIT costs a key pair and a shared
//! secret; a certificate + EAP gateway signs its AUTH in its first IKE_AUTH
//! answer, before the client has authenticated. The core hands that work
//! out as a [`KeyJob`] (`Endpoint::poll_key_job`); the daemon runs it on a
//! worker thread and gives the [`KeyJobDone`] back (`Endpoint::key_job_done`),
//! so a flood costs the event loop a parse and a COOKIE check per datagram
//! while established IKE_SAs keep their timers. Without offloading (the
//! default: tests, tools) the core runs each job at once, on the same path.

use crate::creds::Credentials;
use crate::crypto::{DhGroup, SecretBytes};
use rand_core::CryptoRngCore;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

type Spi = [u8; 8];

/// What a job does.
pub(super) enum Work {
    /// A responder's key exchange: our key pair in `group`, and the shared
    /// secret with the peer's public value.
    Kex { group: DhGroup, peer: Vec<u8> },
    /// Our AUTH signature over `octets` with the private key of `public`.
    Sign(SignWork),
}

/// A signature to make (`creds` holds the private key of `public`).
pub(super) struct SignWork {
    pub creds: Arc<Credentials>,
    pub public: pki::PublicKey,
    pub method: pki::AuthMethod,
    pub scheme: pki::Scheme,
    pub octets: Vec<u8>,
}

impl SignWork {
    /// The AUTH data (the one place our AUTH signatures are made).
    pub fn sign(&self) -> Result<Vec<u8>, String> {
        let key = self
            .creds
            .key_for(&self.public)
            .ok_or_else(|| format!("no private key for {}", self.public.describe()))?;
        pki::sign_auth(key, self.method, self.scheme, &self.octets).map_err(|e| e.to_string())
    }
}

/// One job for a worker.
pub struct KeyJob {
    id: u64,
    work: Work,
}

impl std::fmt::Debug for KeyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.work {
            Work::Kex { group, .. } => format!("key exchange, group {}", group.iana_id()),
            Work::Sign(s) => format!("signature, {}", s.scheme),
        };
        f.debug_struct("KeyJob")
            .field("id", &self.id)
            .field("work", &what)
            .finish_non_exhaustive()
    }
}

/// What a job produced.
pub(super) enum Output {
    /// Our public value and the shared secret.
    Kex(Result<(Vec<u8>, SecretBytes), String>),
    /// The AUTH data.
    Sign(Result<Vec<u8>, String>),
}

impl KeyJob {
    /// Does the work (on any thread); `rng` makes a key exchange's private key.
    pub fn run<R: CryptoRngCore + ?Sized>(self, rng: &mut R) -> KeyJobDone {
        let output = match self.work {
            Work::Kex { group, peer } => Output::Kex(
                group
                    .generate(rng)
                    .map_err(|e| format!("key generation failed: {e}"))
                    .and_then(|dh| {
                        let shared = dh
                            .compute_shared(&peer)
                            .map_err(|e| format!("invalid KE value: {e}"))?;
                        Ok((dh.public_value().to_vec(), shared))
                    }),
            ),
            Work::Sign(s) => Output::Sign(s.sign()),
        };
        KeyJobDone {
            id: self.id,
            output,
        }
    }
}

/// A finished [`KeyJob`].
pub struct KeyJobDone {
    pub(super) id: u64,
    pub(super) output: Output,
}

impl std::fmt::Debug for KeyJobDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ok = match &self.output {
            Output::Kex(r) => r.is_ok(),
            Output::Sign(r) => r.is_ok(),
        };
        f.debug_struct("KeyJobDone")
            .field("id", &self.id)
            .field("ok", &ok)
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
    pub fn submit(&mut self, key: Spi, work: Work) -> Option<KeyJob> {
        self.next += 1;
        let job = KeyJob {
            id: self.next,
            work,
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
