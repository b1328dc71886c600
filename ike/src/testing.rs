//! Deterministic stand-ins for the core's injected services, shared by the
//! tests, the fuzz targets and the benchmarks. **Not for production**: the
//! random generator is predictable by design.

use crate::sa::{SpiAllocator, SpiError};
use rand_core::{CryptoRng, RngCore};
use std::net::IpAddr;

/// Deterministic "randomness" (splitmix64) so two cores run reproducibly.
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for c in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Only so the core accepts it; it is not cryptographically secure.
impl CryptoRng for TestRng {}

/// SPIs from a counter (the kernel's ALLOCSPI in the daemon).
#[derive(Debug, Clone)]
pub struct CountingSpis(pub u32);

impl SpiAllocator for CountingSpis {
    fn alloc_spi(&mut self, _local: IpAddr, _remote: IpAddr) -> Result<u32, SpiError> {
        self.0 = self
            .0
            .checked_add(1)
            .ok_or_else(|| SpiError("SPI counter exhausted".into()))?;
        Ok(self.0)
    }
}

/// The two addresses a [`Pair`] runs between.
pub const A: &str = "192.0.2.1";
pub const B: &str = "192.0.2.2";

/// A `Config` from ipsec.conf and ipsec.secrets text (panics on errors: tests only).
pub fn config(conf_text: &str, secrets: &str) -> std::sync::Arc<conf::Config> {
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", conf_text)
        .with("/etc/ipsec.secrets", secrets);
    std::sync::Arc::new(
        conf::load_from(
            &src,
            std::path::Path::new("/etc/ipsec.conf"),
            Some(std::path::Path::new("/etc/ipsec.secrets")),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// A deterministic endpoint at `addr`.
pub fn endpoint(conf_text: &str, secrets: &str, addr: &str, seed: u64, spi: u32) -> Endpoint {
    Endpoint::new(
        config(conf_text, secrets),
        vec![addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"))],
        crate::crypto::Provider::default(),
        Box::new(TestRng(seed)),
        Box::new(CountingSpis(spi)),
    )
}

use crate::sa::{ChildSaInstall, Endpoint, Event, KernelError, Transmit};
use std::time::{Duration, Instant};

/// Two protocol cores exchanging datagrams in memory with a simulated clock
/// (quinn's `Pair`): `a` at [`A`], `b` at [`B`]. The daemon's part is played
/// too: every `InstallChild` gets the kernel's verdict.
#[derive(Debug)]
pub struct Pair {
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    /// Datagrams sent, in order: (sender, length).
    pub log: Vec<(char, usize)>,
    /// Deadlines after this are not run (rekeys recur forever).
    pub until: Instant,
    /// The "kernel" of a / b refuses every CHILD_SA.
    pub refuse_a: bool,
    pub refuse_b: bool,
    /// One-way delay of every datagram (0: delivered at once, in order).
    pub latency: Duration,
    /// Deliver each burst of datagrams in reverse order.
    pub reorder: bool,
    /// Datagrams on the way: (arrival, to a?, datagram).
    in_flight: Vec<(Instant, bool, Transmit)>,
    /// Runs the key exchanges an endpoint hands out (`offload_key_exchanges`),
    /// as the daemon's worker threads do.
    job_rng: TestRng,
}

impl Pair {
    pub fn new(conf_a: &str, sec_a: &str, conf_b: &str, sec_b: &str) -> Pair {
        Pair::seeded(conf_a, sec_a, conf_b, sec_b, (1, 2))
    }

    /// As [`Pair::new`], with the two random generators' seeds (other nonces, SPIs, keys).
    pub fn seeded(conf_a: &str, sec_a: &str, conf_b: &str, sec_b: &str, seeds: (u64, u64)) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            until: now + Duration::from_secs(600),
            a: endpoint(conf_a, sec_a, A, seeds.0, 0xc000_0000),
            b: endpoint(conf_b, sec_b, B, seeds.1, 0xd000_0000),
            a_events: Vec::new(),
            b_events: Vec::new(),
            log: Vec::new(),
            refuse_a: false,
            refuse_b: false,
            latency: Duration::ZERO,
            reorder: false,
            in_flight: Vec::new(),
            job_rng: TestRng(seeds.0 ^ 0x5eed),
        }
    }

    pub fn same(conf: &str, secrets: &str) -> Pair {
        Pair::new(conf, secrets, conf, secrets)
    }

    /// Collects both sides' events; every `InstallChild` gets the kernel's
    /// verdict (`refuse_a`/`refuse_b`: the kernel refuses it), as the daemon does.
    pub fn drain(&mut self) {
        let now = self.now;
        let verdict = |refuse: bool| {
            if refuse {
                Err(KernelError("injected kernel refusal".into()))
            } else {
                Ok(())
            }
        };
        for _ in 0..100 {
            let mut any = false;
            while let Some(j) = self.a.poll_key_job() {
                any = true;
                self.a.key_job_done(j.run(&mut self.job_rng));
            }
            while let Some(j) = self.b.poll_key_job() {
                any = true;
                self.b.key_job_done(j.run(&mut self.job_rng));
            }
            while let Some(e) = self.a.poll_event() {
                any = true;
                if let Event::InstallChild(c) = &e {
                    self.a
                        .child_installed(now, c.child_id, verdict(self.refuse_a));
                }
                self.a_events.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                any = true;
                if let Event::InstallChild(c) = &e {
                    self.b
                        .child_installed(now, c.child_id, verdict(self.refuse_b));
                }
                self.b_events.push(e);
            }
            if !any {
                return;
            }
        }
    }

    /// Delivers datagrams until quiet. `filter(from, index, &t)` returns how
    /// many copies to deliver (0 = lose it, 2 = duplicate it).
    pub fn run(&mut self, mut filter: impl FnMut(char, usize, &Transmit) -> usize) {
        let mut n = 0;
        for _ in 0..1000 {
            let mut moved = false;
            if self.latency.is_zero() && !self.reorder {
                while let Some(t) = self.a.poll_transmit() {
                    moved = true;
                    let copies = filter('a', n, &t);
                    self.log.push(('a', t.data.len()));
                    n += 1;
                    for _ in 0..copies {
                        assert_eq!(t.remote.ip().to_string(), B);
                        self.b.handle_datagram(self.now, t.remote, t.local, &t.data);
                    }
                }
                while let Some(t) = self.b.poll_transmit() {
                    moved = true;
                    let copies = filter('b', n, &t);
                    self.log.push(('b', t.data.len()));
                    n += 1;
                    for _ in 0..copies {
                        assert_eq!(t.remote.ip().to_string(), A);
                        self.a.handle_datagram(self.now, t.remote, t.local, &t.data);
                    }
                }
            } else {
                moved = self.send_delayed(&mut filter, &mut n);
            }
            self.drain();
            if !moved {
                // Advance the clock to the next deadline or arrival, if any.
                let arrival = self.in_flight.iter().map(|(t, _, _)| *t).min();
                let next = [self.a.poll_timeout(), self.b.poll_timeout(), arrival]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= self.until => {
                        self.now = t.max(self.now);
                        self.a.handle_timeout(self.now);
                        self.b.handle_timeout(self.now);
                    }
                    _ => return,
                }
            }
        }
        panic!("did not settle");
    }

    /// With latency or reordering: queue what both sides send, deliver what
    /// has arrived. True if anything was sent or delivered.
    fn send_delayed(
        &mut self,
        filter: &mut impl FnMut(char, usize, &Transmit) -> usize,
        n: &mut usize,
    ) -> bool {
        let mut moved = false;
        let mut burst = Vec::new();
        for (from, to_a) in [('a', false), ('b', true)] {
            loop {
                let t = if to_a {
                    self.b.poll_transmit()
                } else {
                    self.a.poll_transmit()
                };
                let Some(t) = t else { break };
                moved = true;
                let copies = filter(from, *n, &t);
                self.log.push((from, t.data.len()));
                *n += 1;
                for _ in 0..copies {
                    burst.push((self.now + self.latency, to_a, t.clone()));
                }
            }
        }
        if self.reorder {
            burst.reverse();
        }
        self.in_flight.extend(burst);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(t, _, _)| *t <= now);
        self.in_flight = later;
        for (_, to_a, t) in due {
            moved = true;
            let ep = if to_a { &mut self.a } else { &mut self.b };
            ep.handle_datagram(now, t.remote, t.local, &t.data);
        }
        moved
    }

    pub fn run_clean(&mut self) {
        self.run(|_, _, _| 1);
    }

    pub fn installs(ev: &[Event]) -> Vec<&ChildSaInstall> {
        ev.iter()
            .filter_map(|e| {
                if let Event::InstallChild(c) = e {
                    Some(&**c)
                } else {
                    None
                }
            })
            .collect()
    }
}
