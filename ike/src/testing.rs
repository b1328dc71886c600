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
