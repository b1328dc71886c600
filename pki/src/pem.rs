//! PEM block splitting (RFC 7468, plus the RFC 1421 headers OpenSSL writes
//! into legacy encrypted keys). Decoded contents live in zeroizing buffers:
//! they may be private keys.

use base64::Engine;
use zeroize::Zeroizing;

/// One `-----BEGIN LABEL-----` block.
pub(crate) struct Block {
    pub label: String,
    /// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`).
    pub headers: Vec<(String, String)>,
    pub contents: Zeroizing<Vec<u8>>,
}

/// True if the input looks like PEM (a BEGIN line somewhere).
pub(crate) fn is_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// All PEM blocks in `input`, in order. Text outside blocks is ignored (as
/// OpenSSL does: `openssl x509 -text` output keeps working).
pub(crate) fn parse_blocks(input: &[u8]) -> Result<Vec<Block>, String> {
    // A copy (lossy UTF-8) that may hold key text: zeroized when done.
    let text = Zeroizing::new(String::from_utf8_lossy(input).into_owned());
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = Zeroizing::new(String::new());
        let mut headers = Vec::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.starts_with("-----") {
                return Err(format!("PEM block '{label}' not closed before '{l}'"));
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
                continue;
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(format!("PEM block '{label}' has no END line"));
        }
        let mut contents = Zeroizing::new(Vec::new());
        base64::engine::general_purpose::STANDARD
            .decode_vec(b64.as_bytes(), &mut contents)
            .map_err(|e| format!("PEM block '{label}': bad base64: {e}"))?;
        out.push(Block {
            label: label.to_owned(),
            headers,
            contents,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_headers() {
        let t = b"junk\n-----BEGIN A-----\nAQID\n-----END A-----\n\
            -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nBA==\n-----END RSA PRIVATE KEY-----\n";
        assert!(is_pem(t));
        let b = parse_blocks(t).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].label.as_str(), b[0].contents.as_slice()),
            ("A", &[1u8, 2, 3][..])
        );
        assert_eq!(b[1].headers[0].1, "4,ENCRYPTED");
        assert!(parse_blocks(b"-----BEGIN A-----\nAQID\n").is_err());
        assert!(parse_blocks(b"-----BEGIN A-----\n!!\n-----END A-----").is_err());
    }
}
