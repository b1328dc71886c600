//! The daemon's random generator: the kernel's (getrandom, as `OsRng`),
//! read ahead in blocks so that an IKE_SA does not cost a syscall per nonce,
//! key share, SPI and IV (six per IKE_SA+CHILD_SA as a responder before).
//!
//! Every byte comes from the kernel unchanged, each one is handed out once,
//! and a byte handed out is wiped from the block at once; what has not been
//! handed out yet is wiped when the generator drops. Large requests (a
//! block or more) go to the kernel directly.

use rand_core::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroize;

/// Bytes read from the kernel at a time (about 20 IKE_SAs).
const BLOCK: usize = 4096;

/// `OsRng` with a read-ahead block. One per thread (it is not shared).
pub struct OsRandom {
    block: Box<[u8; BLOCK]>,
    /// Bytes of `block` before this index were handed out (and wiped).
    used: usize,
}

impl std::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OsRandom(<redacted, {} bytes ahead>)", BLOCK - self.used)
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        OsRandom::new()
    }
}

impl OsRandom {
    /// Empty: the first request reads a block.
    pub fn new() -> Self {
        OsRandom {
            block: Box::new([0; BLOCK]),
            used: BLOCK,
        }
    }

    fn take(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        if dest.len() >= BLOCK {
            return OsRng.try_fill_bytes(dest);
        }
        let mut done = 0;
        while done < dest.len() {
            if self.used == BLOCK {
                OsRng.try_fill_bytes(&mut self.block[..])?;
                self.used = 0;
            }
            let n = (BLOCK - self.used).min(dest.len() - done);
            let src = &mut self.block[self.used..self.used + n];
            dest[done..done + n].copy_from_slice(src);
            src.zeroize();
            self.used += n;
            done += n;
        }
        Ok(())
    }
}

impl Drop for OsRandom {
    fn drop(&mut self) {
        self.block.zeroize();
    }
}

impl RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_ne_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_ne_bytes(b)
    }

    /// Panics if the kernel refuses randomness, as `OsRng` does: nothing
    /// secret can be made without it.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = self.take(dest) {
            panic!("the kernel's random generator failed: {e}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.take(dest)
    }
}

impl CryptoRng for OsRandom {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_handed_out_once_and_wiped() {
        let mut r = OsRandom::new();
        let mut a = [0u8; 32];
        r.fill_bytes(&mut a);
        assert_eq!(r.used, 32);
        assert!(
            r.block[..32].iter().all(|&b| b == 0),
            "handed-out bytes are wiped"
        );
        let mut b = [0u8; 32];
        r.fill_bytes(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn a_request_across_the_block_end_reads_a_new_block() {
        let mut r = OsRandom::new();
        let mut head = vec![0u8; BLOCK - 10];
        r.fill_bytes(&mut head);
        let mut tail = [0u8; 30];
        r.fill_bytes(&mut tail);
        assert_eq!(r.used, 20, "10 bytes from the old block, 20 from a new one");
        assert!(tail.iter().any(|&b| b != 0));
    }

    #[test]
    fn large_requests_go_to_the_kernel_directly() {
        let mut r = OsRandom::new();
        let mut big = vec![0u8; 2 * BLOCK];
        r.try_fill_bytes(&mut big).expect("getrandom");
        assert_eq!(r.used, BLOCK, "the (empty) block was not touched");
        assert!(big[BLOCK..].iter().any(|&b| b != 0));
    }

    #[test]
    fn debug_shows_no_bytes() {
        let mut r = OsRandom::new();
        r.next_u64();
        let s = format!("{r:?}");
        assert_eq!(
            s,
            format!("OsRandom(<redacted, {} bytes ahead>)", BLOCK - 8)
        );
    }
}
