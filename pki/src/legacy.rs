//! OpenSSL's legacy PEM encryption (RFC 1421 headers `Proc-Type: 4,ENCRYPTED`
//! and `DEK-Info: ALG,IV`), as written by `openssl genrsa -aes256` before
//! OpenSSL 3 and found in many existing `ipsec.d/private` directories.
//! Key derivation is OpenSSL's EVP_BytesToKey with MD5, one iteration, the
//! first 8 IV bytes as salt.

use aes::{Aes128, Aes192, Aes256};
use cbc::Decryptor;
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use des::TdesEde3;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::error::Error;

fn bytes_to_key(pass: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    while out.len() < len {
        let mut h = Md5::new();
        h.update(prev.as_slice());
        h.update(pass);
        h.update(salt);
        *prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

fn run<C: BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Result<usize, Error> {
    let dec = Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| Error::BadKey("DEK-Info: bad key or IV length".into()))?;
    dec.decrypt_padded_mut::<Pkcs7>(buf)
        .map(|p| p.len())
        .map_err(|_| Error::BadPassphrase)
}

/// Decrypts a legacy-encrypted PEM body given its `DEK-Info` header value.
pub(crate) fn decrypt(
    dek_info: &str,
    pass: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (alg, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| Error::BadKey("DEK-Info without IV".into()))?;
    let iv =
        hex::decode(iv_hex.trim()).map_err(|_| Error::BadKey("DEK-Info IV is not hex".into()))?;
    let alg = alg.trim();
    let (key_len, block) = match alg {
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        "DES-EDE3-CBC" => (24, 8),
        other => {
            return Err(Error::Unsupported(format!(
                "legacy PEM encryption {other}; convert with `openssl pkcs8 -topk8 -v2 aes256`"
            )));
        }
    };
    if iv.len() != block || data.is_empty() || data.len() % block != 0 {
        return Err(Error::BadKey(
            "legacy encrypted PEM: bad IV or data length".into(),
        ));
    }
    let salt = iv.get(..8).unwrap_or_default();
    let key = bytes_to_key(pass, salt, key_len);
    let mut buf = Zeroizing::new(data.to_vec());
    let n = match alg {
        "AES-128-CBC" => run::<Aes128>(&key, &iv, &mut buf)?,
        "AES-192-CBC" => run::<Aes192>(&key, &iv, &mut buf)?,
        "AES-256-CBC" => run::<Aes256>(&key, &iv, &mut buf)?,
        _ => run::<TdesEde3>(&key, &iv, &mut buf)?,
    };
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EVP_BytesToKey(MD5, 1 iteration): the first block is MD5(pass | salt).
    #[test]
    fn key_derivation() {
        let k = bytes_to_key(b"pass", b"saltsalt", 32);
        let mut h = Md5::new();
        h.update(b"passsaltsalt");
        let d1 = h.finalize();
        assert_eq!(&k[..16], d1.as_slice());
        let mut h = Md5::new();
        h.update(d1);
        h.update(b"passsaltsalt");
        assert_eq!(&k[16..], h.finalize().as_slice());
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(decrypt("AES-128-CBC", b"p", &[0; 16]).is_err());
        assert!(decrypt("AES-128-CBC,zz", b"p", &[0; 16]).is_err());
        assert!(
            decrypt(
                "AES-128-CBC,00112233445566778899aabbccddeeff",
                b"p",
                &[0; 15]
            )
            .is_err()
        );
        assert!(matches!(
            decrypt("BF-CBC,0011223344556677", b"p", &[0; 8]),
            Err(Error::Unsupported(_))
        ));
    }
}
