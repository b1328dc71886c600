//! Fuzz the VICI codec: any segment must decode as a packet or fail with an
//! error, never panic; whatever decodes must encode to the same bytes (the
//! codec is canonical), and the same for a bare message and the transport
//! length header.
#![no_main]

use ike::daemon::vici::codec::{Message, Packet, segment_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(h) = data.get(..4) {
        let _ = segment_len([h[0], h[1], h[2], h[3]]);
    }
    if let Ok(p) = Packet::decode(data) {
        let bytes = p.encode().expect("a decoded packet encodes");
        assert_eq!(bytes, data);
        let framed = p.frame().expect("a decoded packet frames");
        assert_eq!(&framed[4..], data);
    }
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode().expect("a decoded message encodes"), data);
    }
});
