//! Fuzz the IKEv2 message decoder: any datagram must decode or fail with an
//! error, never panic; whatever decodes must encode again, and decoding the
//! encoding must give the same message (the codec is canonical on its
//! image). Inner payload chains are fuzzed with every first-payload type.
#![no_main]

use ike::wire::{Message, PayloadType, RawHeader, decode_payloads, encode_payloads};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RawHeader::peek(data);
    if let Ok(m) = Message::decode(data) {
        let bytes = m.encode().expect("a decoded message encodes");
        let again = Message::decode(&bytes).expect("an encoded message decodes");
        // Unknown payloads are dropped on decode, so compare the known ones.
        assert_eq!(again.payloads, m.payloads);
        assert_eq!(again.header, m.header);
    }
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(chain) = decode_payloads(PayloadType(first), rest, 0) {
            let (t, bytes) = encode_payloads(&chain.payloads).expect("re-encode");
            let again = decode_payloads(t, &bytes, 0).expect("re-decode");
            assert_eq!(again.payloads, chain.payloads);
        }
    }
});
