#![no_main]
//! The protocol core on hostile input: arbitrary datagrams (split on 0xFFFE)
//! to a responder and an initiator endpoint; nothing may panic.

use ike::sa::{Endpoint, SpiAllocator};
use libfuzzer_sys::fuzz_target;
use rand_core::{CryptoRng, RngCore};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct R(u64);
impl RngCore for R {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        self.0 >> 11
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for R {}
struct S(u32);
impl SpiAllocator for S {
    fn alloc_spi(&mut self, _: IpAddr, _: IpAddr) -> Result<u32, String> {
        self.0 += 1;
        Ok(self.0)
    }
}

fn endpoint(addr: &str) -> Endpoint {
    let conf = "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519,aes128-sha256-modp2048\n  auto=add\nconn b\n  left=192.0.2.1\n  right=%any\n  rightauth=eap-mschapv2\n  leftauth=psk\n  rightsourceip=10.3.0.0/28\n  eap_identity=%any\n  auto=add\n";
    let src = conf::MemSource::default().with("/c", conf).with("/s", ": PSK \"x\"\ncarol : EAP \"y\"\n");
    let cfg = Arc::new(conf::load_from(&src, Path::new("/c"), Some(Path::new("/s"))).expect("fuzz config"));
    Endpoint::new(cfg, vec![addr.parse().expect("addr")], ike::crypto::Provider::default(), Box::new(R(7)), Box::new(S(0)))
}

fuzz_target!(|data: &[u8]| {
    let mut resp = endpoint("192.0.2.1");
    let mut init = endpoint("192.0.2.2");
    let now = Instant::now();
    let _ = init.initiate(now, "a");
    while init.poll_transmit().is_some() {}
    let l = "192.0.2.1:500".parse().expect("l");
    let r = "192.0.2.2:500".parse().expect("r");
    for (i, chunk) in data.split(|b| *b == 0xfe).enumerate() {
        resp.handle_datagram(now, l, r, chunk);
        init.handle_datagram(now, r, l, chunk);
        if i % 4 == 3 {
            resp.handle_timeout(now + Duration::from_secs(i as u64 * 10));
            init.handle_timeout(now + Duration::from_secs(i as u64 * 10));
        }
        while resp.poll_transmit().is_some() {}
        while init.poll_transmit().is_some() {}
    }
    let _ = resp.status(now);
});
