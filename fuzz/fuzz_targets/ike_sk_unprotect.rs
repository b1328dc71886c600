//! Fuzz SK/SKF unprotection: a datagram under fixed keys, for each cipher
//! suite, must be refused or decrypted without panic. The first octet picks
//! the suite; a valid protected message is also mutated from the input so
//! the fuzzer reaches the code after the integrity check.
#![no_main]

use ike::crypto::{Encr, IkeSaKeys, Integ, KeyLengths, Prf, SkCrypto, kdf};
use ike::wire::{ExchangeType, Flags, Header, Message, Payload};
use libfuzzer_sys::fuzz_target;
use rand_core::{CryptoRng, RngCore};

const SUITES: [(Encr, Option<Integ>); 6] = [
    (Encr::AesCbc { key_bits: 128 }, Some(Integ::HmacSha1_96)),
    (Encr::AesCbc { key_bits: 256 }, Some(Integ::HmacSha256_128)),
    (Encr::AesGcm { key_bits: 128, icv_len: 8 }, None),
    (Encr::AesGcm { key_bits: 256, icv_len: 16 }, None),
    (Encr::ChaCha20Poly1305, None),
    (Encr::AesCbc { key_bits: 192 }, Some(Integ::AesXcbc96)),
];

/// Deterministic "randomness" so runs are reproducible.
struct Counter(u8);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1);
        u32::from(self.0)
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

fn sk(encr: Encr, integ: Option<Integ>) -> (SkCrypto, SkCrypto) {
    let prf = Prf::HmacSha256;
    let seed = kdf::skeyseed(prf, &[1; 16], &[2; 16], b"fuzz");
    let lens = KeyLengths {
        prf_key: prf.key_len(),
        integ_key: integ.map_or(0, Integ::key_len),
        encr_key: encr.key_len(),
    };
    let keys = IkeSaKeys::derive(prf, seed.as_slice(), &[1; 16], &[2; 16], &[3; 8], &[4; 8], lens)
        .expect("keys");
    let (out, _) = SkCrypto::pair(encr, integ, &keys, true).expect("pair");
    let (_, inb) = SkCrypto::pair(encr, integ, &keys, false).expect("pair");
    (out, inb)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let (encr, integ) = SUITES[usize::from(sel) % SUITES.len()];
    let (out, inb) = sk(encr, integ);
    // 1. The input as a datagram.
    if let Ok(m) = Message::decode(rest) {
        let _ = inb.decrypt(rest, &m);
        let _ = inb.unprotect(rest, &m);
    }
    // 2. The input as the inner plaintext of a valid message: protect a
    //    vendor ID payload holding it, then decrypt and decode.
    let header = Header {
        spi_i: [3; 8],
        spi_r: [4; 8],
        minor_version: 0,
        exchange: ExchangeType::IKE_AUTH,
        flags: Flags::new(true, false),
        message_id: 1,
    };
    let inner = [Payload::VendorId(rest.to_vec())];
    if let Ok(bytes) = out.protect(&header, &[], &inner, &mut Counter(sel)) {
        let m = Message::decode(&bytes).expect("own message decodes");
        let chain = inb.unprotect(&bytes, &m).expect("own message opens");
        assert_eq!(chain.payloads, inner);
    }
});
