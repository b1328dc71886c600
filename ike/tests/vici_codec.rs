//! VICI codec: encode/decode round trips of arbitrary messages and packets,
//! arbitrary bytes never panic, and whatever decodes encodes back to the
//! same bytes.

use ike::daemon::vici::codec::{Item, MAX_DEPTH, Message, Packet, segment_len};
use proptest::collection::vec;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{0,12}"
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}

fn message() -> impl Strategy<Value = Message> {
    let leaf = vec(
        (
            name(),
            prop_oneof![
                value().prop_map(Item::Value),
                vec(value(), 0..4).prop_map(Item::List)
            ],
        ),
        0..5,
    )
    .prop_map(|items| Message { items });
    leaf.prop_recursive(4, 64, 6, |inner| {
        vec(
            (
                name(),
                prop_oneof![
                    value().prop_map(Item::Value),
                    vec(value(), 0..4).prop_map(Item::List),
                    inner.prop_map(Item::Section),
                ],
            ),
            0..6,
        )
        .prop_map(|items| Message { items })
    })
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (name(), message()).prop_map(|(command, message)| Packet::CmdRequest { command, message }),
        message().prop_map(Packet::CmdResponse),
        Just(Packet::CmdUnknown),
        name().prop_map(Packet::EventRegister),
        name().prop_map(Packet::EventUnregister),
        Just(Packet::EventConfirm),
        Just(Packet::EventUnknown),
        (name(), message()).prop_map(|(name, message)| Packet::Event { name, message }),
    ]
}

proptest! {
    #[test]
    fn message_round_trip(m in message()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn packet_round_trip(p in packet()) {
        let f = p.frame().unwrap();
        let n = segment_len([f[0], f[1], f[2], f[3]]).unwrap();
        prop_assert_eq!(n, f.len() - 4);
        prop_assert_eq!(Packet::decode(&f[4..]).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..300)) {
        if let Ok(p) = Packet::decode(&b) {
            prop_assert_eq!(p.encode().unwrap(), b.clone());
        }
        if let Ok(m) = Message::decode(&b) {
            prop_assert_eq!(m.encode().unwrap(), b);
        }
    }

    /// Bytes that look like messages (only element types, short names):
    /// decoding explores the nesting rules, not only the first byte.
    #[test]
    fn element_soup_never_panics(b in vec(prop_oneof![1u8..=6, 0u8..=3, any::<u8>()], 0..200)) {
        if let Ok(m) = Message::decode(&b) {
            prop_assert_eq!(m.encode().unwrap(), b);
        }
    }
}

#[test]
fn depth_is_bounded_without_recursion() {
    // a segment's worth of SECTION_STARTs: refused, no stack overflow
    let b: Vec<u8> = std::iter::repeat_n([1u8, 0], 200_000).flatten().collect();
    assert!(Message::decode(&b).is_err());
    let mut m = Message::new();
    for _ in 0..MAX_DEPTH {
        let mut outer = Message::new();
        outer.section("s", m);
        m = outer;
    }
    assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
}
