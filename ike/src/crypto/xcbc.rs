//! AES-XCBC-MAC (RFC 3566) and AES-XCBC-PRF-128 (RFC 4434), built on the
//! `aes` block cipher (only the mode is written here, not the cipher), and
//! AES-CMAC-PRF-128 (RFC 4615) on the `cmac` crate.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use zeroize::Zeroizing;

/// AES-XCBC-MAC-128 with a 16-octet key: the full 128-bit MAC.
pub(crate) fn xcbc_mac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 16] {
    let k = Aes128::new(GenericArray::from_slice(key));
    let derive = |c: u8| {
        let mut b = GenericArray::clone_from_slice(&[c; 16]);
        k.encrypt_block(&mut b);
        Zeroizing::new(<[u8; 16]>::from(b))
    };
    let k1 = derive(0x01);
    let k2 = derive(0x02);
    let k3 = derive(0x03);
    let c1 = Aes128::new(GenericArray::from_slice(&k1[..]));

    // Gather the message (parts are small: PRF inputs).
    let msg: Zeroizing<Vec<u8>> = Zeroizing::new(parts.concat());
    let mut e = [0u8; 16];
    let n = msg.len();
    // Number of blocks, the last one possibly partial; at least one block.
    let blocks = n.div_ceil(16).max(1);
    for (i, chunk) in msg.chunks(16).enumerate() {
        if i + 1 == blocks {
            break;
        }
        for (x, m) in e.iter_mut().zip(chunk) {
            *x ^= m;
        }
        let mut b = GenericArray::from(e);
        c1.encrypt_block(&mut b);
        e = b.into();
    }
    let last = msg.get((blocks - 1) * 16..).unwrap_or_default();
    let mut m = [0u8; 16];
    let kx: &[u8; 16] = if last.len() == 16 {
        m.copy_from_slice(last);
        &k2
    } else {
        m[..last.len()].copy_from_slice(last);
        m[last.len()] = 0x80;
        &k3
    };
    for ((x, a), b) in e.iter_mut().zip(m.iter()).zip(kx.iter()) {
        *x ^= a ^ b;
    }
    let mut b = GenericArray::from(e);
    c1.encrypt_block(&mut b);
    b.into()
}

/// AES-XCBC-PRF-128 (RFC 4434): keys of any length.
pub(crate) fn xcbc_prf(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut k = Zeroizing::new([0u8; 16]);
    match key.len() {
        16 => k.copy_from_slice(key),
        n if n < 16 => k[..n].copy_from_slice(key),
        _ => *k = xcbc_mac(&[0u8; 16], &[key]),
    }
    xcbc_mac(&k, parts)
}

/// AES-CMAC (RFC 4493) with a 16-octet key.
pub(crate) fn cmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 16] {
    use cmac::Mac;
    let mut m = <cmac::Cmac<Aes128> as cmac::digest::KeyInit>::new(GenericArray::from_slice(key));
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// AES-CMAC-PRF-128 (RFC 4615): a key of any length other than 16 octets is
/// first reduced with AES-CMAC under the all-zero key.
pub(crate) fn cmac_prf(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut k = Zeroizing::new([0u8; 16]);
    match <[u8; 16]>::try_from(key) {
        Ok(a) => *k = a,
        Err(_) => *k = cmac(&[0u8; 16], &[key]),
    }
    cmac(&k, parts)
}
