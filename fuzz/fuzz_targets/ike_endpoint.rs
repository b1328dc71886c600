#![no_main]
//! The protocol core on hostile input: arbitrary datagrams (split on 0xFFFE)
//! to a responder and an initiator endpoint; nothing may panic.

use ike::sa::Endpoint;
use ike::testing::{CountingSpis, TestRng};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn endpoint(addr: &str) -> Endpoint {
    let conf = "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  leftsubnet=10.1.0.0/16\n  rightsubnet=10.2.0.0/16\n  authby=psk\n  ike=aes128gcm16-prfsha256-x25519,aes128-sha256-modp2048\n  auto=add\nconn b\n  left=192.0.2.1\n  right=%any\n  rightauth=eap-mschapv2\n  leftauth=psk\n  rightsourceip=10.3.0.0/28\n  eap_identity=%any\n  auto=add\n";
    let src = conf::MemSource::default().with("/c", conf).with("/s", ": PSK \"x\"\ncarol : EAP \"y\"\n");
    let cfg = Arc::new(conf::load_from(&src, Path::new("/c"), Some(Path::new("/s"))).expect("fuzz config"));
    Endpoint::new(cfg, vec![addr.parse().expect("addr")], ike::crypto::Provider::default(), Box::new(TestRng(7)), Box::new(CountingSpis(0)))
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
        // The kernel's verdicts: accepted or refused, by the input's parity.
        for ep in [&mut resp, &mut init] {
            while let Some(e) = ep.poll_event() {
                if let ike::sa::Event::InstallChild(c) = e {
                    let v = if i % 2 == 0 { Ok(()) } else { Err(ike::sa::KernelError("fuzz".into())) };
                    ep.child_installed(now, c.child_id, v);
                }
            }
        }
        while resp.poll_transmit().is_some() {}
        while init.poll_transmit().is_some() {}
    }
    let _ = resp.status(now);
});
