//! The VICI wire format, written from strongSwan's protocol description
//! (the vici plugin's README) and checked against `swanctl` on the wire.
//!
//! ```text
//! transport: u32 length (big-endian, of the data only, at most 512 KiB), data
//! packet:    u8 type [u8 name length, name] [message]
//!            0 CMD_REQUEST (name, message)   1 CMD_RESPONSE (message)
//!            2 CMD_UNKNOWN                   3 EVENT_REGISTER (name)
//!            4 EVENT_UNREGISTER (name)       5 EVENT_CONFIRM
//!            6 EVENT_UNKNOWN                 7 EVENT (name, message)
//! message:   elements, each u8 type [u8 name length, name] [u16 value length, value]
//!            1 SECTION_START (name)  2 SECTION_END
//!            3 KEY_VALUE (name, value)
//!            4 LIST_START (name)     5 LIST_ITEM (value)   6 LIST_END
//! ```
//!
//! Sections nest (balanced), lists hold only items and do not nest. The
//! decoder is iterative (no recursion on attacker-chosen depth), checks every
//! length against what is left, and rejects anything unbalanced; it never
//! panics. Encoding a decoded message gives back the same bytes.

use thiserror::Error;

/// Longest transport segment (strongSwan's limit).
pub const MAX_SEGMENT: usize = 512 * 1024;
/// Deepest section nesting accepted (strongSwan's own messages use five).
pub const MAX_DEPTH: usize = 32;

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// Why bytes are not a VICI packet or message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("segment length {0} out of range (1..={MAX_SEGMENT})")]
    SegmentLength(usize),
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0}")]
    PacketType(u8),
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("name is not valid UTF-8")]
    Name,
    #[error("{0} bytes after a packet that carries no message")]
    Trailing(usize),
    #[error("unknown message element type {0}")]
    ElementType(u8),
    #[error("element type {0} inside a list")]
    InList(u8),
    #[error("list item outside a list")]
    ItemOutsideList,
    #[error("list end outside a list")]
    ListEndOutsideList,
    #[error("section end without a section")]
    UnbalancedSectionEnd,
    #[error("message ends inside a section or list")]
    Unclosed,
    #[error("sections nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("name of {0} bytes (at most 255)")]
    NameTooLong(usize),
    #[error("value of {0} bytes (at most 65535)")]
    ValueTooLong(usize),
    #[error("packet of {0} bytes (at most {MAX_SEGMENT})")]
    TooLarge(usize),
}

/// One entry of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Value(Vec<u8>),
    Section(Message),
    List(Vec<Vec<u8>>),
}

/// A section (the message itself is the implicit root section): its entries
/// in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub items: Vec<(String, Item)>,
}

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    /// Appends `key = value`.
    pub fn kv(&mut self, key: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.items
            .push((key.to_owned(), Item::Value(value.as_ref().to_vec())));
        self
    }

    /// Appends a sub-section.
    pub fn section(&mut self, key: &str, s: Message) -> &mut Self {
        self.items.push((key.to_owned(), Item::Section(s)));
        self
    }

    /// Appends a list.
    pub fn list<I, V>(&mut self, key: &str, items: I) -> &mut Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let l = items.into_iter().map(|v| v.as_ref().to_vec()).collect();
        self.items.push((key.to_owned(), Item::List(l)));
        self
    }

    /// The first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` as text (None if absent, not a value, or not UTF-8).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Item::Value(v) => std::str::from_utf8(v).ok(),
            _ => None,
        }
    }

    /// The sub-section `key`.
    pub fn get_section(&self, key: &str) -> Option<&Message> {
        match self.get(key)? {
            Item::Section(s) => Some(s),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (k, v) in &self.items {
            match v {
                Item::Value(val) => {
                    out.push(KEY_VALUE);
                    put_name(out, k)?;
                    put_value(out, val)?;
                }
                Item::Section(s) => {
                    out.push(SECTION_START);
                    put_name(out, k)?;
                    s.encode_into(out)?;
                    out.push(SECTION_END);
                }
                Item::List(l) => {
                    out.push(LIST_START);
                    put_name(out, k)?;
                    for i in l {
                        out.push(LIST_ITEM);
                        put_value(out, i)?;
                    }
                    out.push(LIST_END);
                }
            }
        }
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes a whole message (all of `b`).
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader(b);
        // Open sections: (name, entries so far); the root has no name.
        let mut stack: Vec<(String, Message)> = vec![(String::new(), Message::new())];
        let mut list: Option<(String, Vec<Vec<u8>>)> = None;
        while let Some(t) = r.u8() {
            if let Some((_, items)) = list.as_mut() {
                match t {
                    LIST_ITEM => items.push(r.value("list item")?),
                    LIST_END => {
                        let (name, items) = list.take().unwrap_or_default();
                        top(&mut stack).items.push((name, Item::List(items)));
                    }
                    other => return Err(DecodeError::InList(other)),
                }
                continue;
            }
            match t {
                SECTION_START => {
                    let name = r.name("section name")?;
                    if stack.len() > MAX_DEPTH {
                        return Err(DecodeError::TooDeep);
                    }
                    stack.push((name, Message::new()));
                }
                SECTION_END => {
                    if stack.len() < 2 {
                        return Err(DecodeError::UnbalancedSectionEnd);
                    }
                    if let Some((name, s)) = stack.pop() {
                        top(&mut stack).items.push((name, Item::Section(s)));
                    }
                }
                KEY_VALUE => {
                    let name = r.name("key name")?;
                    let v = r.value("value")?;
                    top(&mut stack).items.push((name, Item::Value(v)));
                }
                LIST_START => list = Some((r.name("list name")?, Vec::new())),
                LIST_ITEM => return Err(DecodeError::ItemOutsideList),
                LIST_END => return Err(DecodeError::ListEndOutsideList),
                other => return Err(DecodeError::ElementType(other)),
            }
        }
        if list.is_some() || stack.len() != 1 {
            return Err(DecodeError::Unclosed);
        }
        Ok(stack.pop().map(|(_, m)| m).unwrap_or_default())
    }
}

fn top(stack: &mut Vec<(String, Message)>) -> &mut Message {
    if stack.is_empty() {
        stack.push((String::new(), Message::new()));
    }
    let n = stack.len() - 1;
    &mut stack[n].1
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), EncodeError> {
    let n = u8::try_from(name.len()).map_err(|_| EncodeError::NameTooLong(name.len()))?;
    out.push(n);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, v: &[u8]) -> Result<(), EncodeError> {
    let n = u16::try_from(v.len()).map_err(|_| EncodeError::ValueTooLong(v.len()))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(v);
    Ok(())
}

/// A cursor that never reads past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError::Truncated(what));
        }
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(a)
    }
    fn name(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = self.u8().ok_or(DecodeError::Truncated(what))?;
        let b = self.take(usize::from(n), what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Name)
    }
    fn value(&mut self, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let l = self.take(2, what)?;
        let n = u16::from_be_bytes([l[0], l[1]]);
        Ok(self.take(usize::from(n), what)?.to_vec())
    }
}

/// One packet (the contents of one transport segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    CmdRequest { command: String, message: Message },
    CmdResponse(Message),
    CmdUnknown,
    EventRegister(String),
    EventUnregister(String),
    EventConfirm,
    EventUnknown,
    Event { name: String, message: Message },
}

impl Packet {
    fn type_code(&self) -> u8 {
        match self {
            Packet::CmdRequest { .. } => 0,
            Packet::CmdResponse(_) => 1,
            Packet::CmdUnknown => 2,
            Packet::EventRegister(_) => 3,
            Packet::EventUnregister(_) => 4,
            Packet::EventConfirm => 5,
            Packet::EventUnknown => 6,
            Packet::Event { .. } => 7,
        }
    }

    /// The packet without the transport length.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![self.type_code()];
        match self {
            Packet::CmdRequest {
                command: n,
                message,
            }
            | Packet::Event {
                name: n, message, ..
            } => {
                put_name(&mut out, n)?;
                message.encode_into(&mut out)?;
            }
            Packet::EventRegister(n) | Packet::EventUnregister(n) => put_name(&mut out, n)?,
            Packet::CmdResponse(m) => m.encode_into(&mut out)?,
            Packet::CmdUnknown | Packet::EventConfirm | Packet::EventUnknown => {}
        }
        if out.len() > MAX_SEGMENT {
            return Err(EncodeError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// The packet as one transport segment: length, then the packet.
    pub fn frame(&self) -> Result<Vec<u8>, EncodeError> {
        let p = self.encode()?;
        let mut out = Vec::with_capacity(p.len() + 4);
        // encode() bounds the length by MAX_SEGMENT, well inside u32.
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&p);
        Ok(out)
    }

    /// Decodes one packet (one whole segment, without its length).
    pub fn decode(b: &[u8]) -> Result<Packet, DecodeError> {
        if b.len() > MAX_SEGMENT {
            return Err(DecodeError::SegmentLength(b.len()));
        }
        let mut r = Reader(b);
        let t = r.u8().ok_or(DecodeError::Empty)?;
        let no_more = |r: &Reader| match r.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        };
        Ok(match t {
            0 | 7 => {
                let name = r.name("packet name")?;
                let message = Message::decode(r.0)?;
                if t == 0 {
                    Packet::CmdRequest {
                        command: name,
                        message,
                    }
                } else {
                    Packet::Event { name, message }
                }
            }
            1 => Packet::CmdResponse(Message::decode(r.0)?),
            3 | 4 => {
                let name = r.name("event name")?;
                no_more(&r)?;
                if t == 3 {
                    Packet::EventRegister(name)
                } else {
                    Packet::EventUnregister(name)
                }
            }
            2 | 5 | 6 => {
                no_more(&r)?;
                match t {
                    2 => Packet::CmdUnknown,
                    5 => Packet::EventConfirm,
                    _ => Packet::EventUnknown,
                }
            }
            other => return Err(DecodeError::PacketType(other)),
        })
    }
}

/// The segment length announced by a transport header, checked.
pub fn segment_len(header: [u8; 4]) -> Result<usize, DecodeError> {
    let n = usize::try_from(u32::from_be_bytes(header)).unwrap_or(usize::MAX);
    if n == 0 || n > MAX_SEGMENT {
        return Err(DecodeError::SegmentLength(n));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's encoding example, byte for byte.
    const EXAMPLE: &[u8] = &[
        3, 4, b'k', b'e', b'y', b'1', 0, 6, b'v', b'a', b'l', b'u', b'e', b'1', //
        1, 8, b's', b'e', b'c', b't', b'i', b'o', b'n', b'1', //
        1, 11, b's', b'u', b'b', b'-', b's', b'e', b'c', b't', b'i', b'o', b'n', //
        3, 4, b'k', b'e', b'y', b'2', 0, 6, b'v', b'a', b'l', b'u', b'e', b'2', //
        2,    //
        4, 5, b'l', b'i', b's', b't', b'1', //
        5, 0, 5, b'i', b't', b'e', b'm', b'1', //
        5, 0, 5, b'i', b't', b'e', b'm', b'2', //
        6, 2,
    ];

    fn example() -> Message {
        let mut sub = Message::new();
        sub.kv("key2", "value2");
        let mut s1 = Message::new();
        s1.section("sub-section", sub)
            .list("list1", ["item1", "item2"]);
        let mut m = Message::new();
        m.kv("key1", "value1").section("section1", s1);
        m
    }

    #[test]
    fn documented_example() {
        assert_eq!(Message::decode(EXAMPLE).unwrap(), example());
        assert_eq!(example().encode().unwrap(), EXAMPLE);
        let m = example();
        assert_eq!(m.get_str("key1"), Some("value1"));
        let s = m.get_section("section1").unwrap();
        assert_eq!(
            s.get_section("sub-section").unwrap().get_str("key2"),
            Some("value2")
        );
        assert_eq!(
            s.get("list1"),
            Some(&Item::List(vec![b"item1".to_vec(), b"item2".to_vec()]))
        );
        assert_eq!(s.get_str("list1"), None);
    }

    #[test]
    fn packets() {
        let req = Packet::CmdRequest {
            command: "version".into(),
            message: Message::new(),
        };
        assert_eq!(
            req.frame().unwrap(),
            [0, 0, 0, 9, 0, 7, b'v', b'e', b'r', b's', b'i', b'o', b'n']
        );
        assert_eq!(Packet::decode(&req.encode().unwrap()).unwrap(), req);
        assert_eq!(Packet::CmdUnknown.frame().unwrap(), [0, 0, 0, 1, 2]);
        let reg = Packet::EventRegister("list-sa".into());
        assert_eq!(reg.encode().unwrap(), b"\x03\x07list-sa");
        assert_eq!(Packet::decode(b"\x03\x07list-sa").unwrap(), reg);
        assert_eq!(
            Packet::decode(b"\x04\x03log").unwrap(),
            Packet::EventUnregister("log".into())
        );
        let ev = Packet::Event {
            name: "list-sa".into(),
            message: example(),
        };
        assert_eq!(Packet::decode(&ev.encode().unwrap()).unwrap(), ev);
        assert_eq!(
            Packet::decode(b"\x05").unwrap(),
            Packet::EventConfirm,
            "no message"
        );
        assert_eq!(Packet::decode(b"\x06").unwrap(), Packet::EventUnknown);
        let resp = Packet::CmdResponse(example());
        assert_eq!(Packet::decode(&resp.encode().unwrap()).unwrap(), resp);
    }

    #[test]
    fn malformed_packets() {
        use DecodeError::*;
        let cases: &[(&[u8], DecodeError)] = &[
            (b"", Empty),
            (b"\x08", PacketType(8)),
            (b"\xff", PacketType(255)),
            (b"\x00", Truncated("packet name")),
            (b"\x00\x05ver", Truncated("packet name")),
            (b"\x03\x02ab!", Trailing(1)),
            (b"\x02\x00", Trailing(1)),
            (b"\x00\x02\xff\xfe", Name),
            (b"\x01\x03\x02ab\x00", Truncated("value")),
            (b"\x01\x03\x02ab\x00\x05abc", Truncated("value")),
            (b"\x01\x03", Truncated("key name")),
            (b"\x01\x02", UnbalancedSectionEnd),
            (b"\x01\x01\x01s", Unclosed),
            (b"\x01\x04\x01l", Unclosed),
            (b"\x01\x04\x01l\x03\x01k\x00\x00\x06", InList(3)),
            (b"\x01\x04\x01l\x01\x01s\x02\x06", InList(1)),
            (b"\x01\x04\x01l\x04\x01m\x06", InList(4)),
            (b"\x01\x05\x00\x00", ItemOutsideList),
            (b"\x01\x06", ListEndOutsideList),
            (b"\x01\x07", ElementType(7)),
            (b"\x01\x00", ElementType(0)),
        ];
        for (b, e) in cases {
            assert_eq!(Packet::decode(b).as_ref(), Err(e), "{b:?}");
        }
        let mut deep = vec![1u8];
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(b"\x01\x01s");
        }
        assert_eq!(Packet::decode(&deep), Err(TooDeep));
        let mut ok = vec![1u8];
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(b"\x01\x01s");
        }
        ok.extend(std::iter::repeat_n(2u8, MAX_DEPTH));
        assert!(Packet::decode(&ok).is_ok());
        assert_eq!(
            Packet::decode(&vec![1u8; MAX_SEGMENT + 1]),
            Err(SegmentLength(MAX_SEGMENT + 1))
        );
    }

    #[test]
    fn segment_lengths() {
        assert_eq!(segment_len([0, 0, 0, 1]), Ok(1));
        assert_eq!(segment_len([0, 8, 0, 0]), Ok(MAX_SEGMENT));
        assert_eq!(
            segment_len([0, 8, 0, 1]),
            Err(DecodeError::SegmentLength(MAX_SEGMENT + 1))
        );
        assert_eq!(segment_len([0; 4]), Err(DecodeError::SegmentLength(0)));
        assert!(segment_len([0xff; 4]).is_err());
    }

    #[test]
    fn encode_limits() {
        let mut m = Message::new();
        m.kv(&"k".repeat(256), "v");
        assert_eq!(m.encode(), Err(EncodeError::NameTooLong(256)));
        let mut m = Message::new();
        m.list("l", [vec![0u8; 65_536]]);
        assert_eq!(m.encode(), Err(EncodeError::ValueTooLong(65_536)));
        let mut m = Message::new();
        for i in 0..9 {
            m.kv(&format!("k{i}"), vec![0u8; 65_535]);
        }
        assert!(matches!(
            Packet::CmdResponse(m).encode(),
            Err(EncodeError::TooLarge(_))
        ));
        // the largest name and value are fine
        let mut m = Message::new();
        m.kv(&"k".repeat(255), vec![7u8; 65_535]);
        let b = m.encode().unwrap();
        assert_eq!(Message::decode(&b).unwrap(), m);
    }
}
