//! A minimal, panic-free DER reader and writer for the few structures the
//! parsing crates don't cover (RFC 7427 AlgorithmIdentifiers, RSA-PSS
//! parameters, RFC 3110 keys re-encoded as RSAPublicKey).

/// One TLV: tag byte, contents, and the remaining input after it.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers: not used here
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (lb, rest) = rest.split_at(n);
        let mut len = 0usize;
        for &b in lb {
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        if len < 0x80 {
            return None; // non-minimal length: not DER
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// Reads a TLV and requires its tag.
pub(crate) fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, c, r) = read_tlv(input)?;
    (t == tag).then_some((c, r))
}

/// The whole encoding of the first TLV (tag, length and contents).
pub(crate) fn first_tlv(input: &[u8]) -> Option<&[u8]> {
    let (_, _, rest) = read_tlv(input)?;
    input.get(..input.len() - rest.len())
}

pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let lb = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | lb.len() as u8);
        out.extend_from_slice(lb);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    encode(0x30, &parts.concat())
}

/// An unsigned INTEGER from big-endian magnitude bytes.
pub(crate) fn uint(mag: &[u8]) -> Vec<u8> {
    let skip = mag.iter().take_while(|&&b| b == 0).count();
    let mag = mag.get(skip..).unwrap_or_default();
    let mut c = Vec::with_capacity(mag.len() + 1);
    if mag.first().is_none_or(|&b| b & 0x80 != 0) {
        c.push(0);
    }
    c.extend_from_slice(mag);
    encode(0x02, &c)
}

/// The magnitude of a non-negative INTEGER's contents (leading zeros removed).
pub(crate) fn uint_magnitude(content: &[u8]) -> Option<&[u8]> {
    if content.first().is_some_and(|&b| b & 0x80 != 0) {
        return None;
    }
    let skip = content.iter().take_while(|&&b| b == 0).count();
    content.get(skip..)
}

/// Dotted OID text to DER contents.
pub(crate) fn oid_contents(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|s| s.parse().ok()).collect();
    let mut out = Vec::new();
    let (Some(&a), Some(&b)) = (arcs.first(), arcs.get(1)) else {
        return out;
    };
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        out.extend_from_slice(&tmp);
    };
    push(a * 40 + b);
    for &v in arcs.iter().skip(2) {
        push(v);
    }
    out
}

/// DER OID contents to dotted text.
pub(crate) fn oid_to_string(c: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in c.iter().enumerate() {
        v = v.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i + 1 == c.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    encode(0x06, &oid_contents(dotted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        for o in [
            "1.2.840.113549.1.1.10",
            "2.16.840.1.101.3.4.2.1",
            "1.3.101.112",
        ] {
            assert_eq!(oid_to_string(&oid_contents(o)).as_deref(), Some(o));
        }
        assert_eq!(
            oid("1.2.840.113549.1.1.11"),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 0x0b]
        );
    }

    #[test]
    fn tlv_rejects_truncation_and_long_form_abuse() {
        assert!(read_tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(read_tlv(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5]).is_none()); // non-minimal
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        let big = encode(0x04, &[7u8; 300]);
        let (t, c, r) = read_tlv(&big).unwrap();
        assert_eq!((t, c.len(), r.len()), (4, 300, 0));
        assert_eq!(uint(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), [2, 1, 5]);
    }
}
