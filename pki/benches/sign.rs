//! Signature throughput of the chosen backend (aws-lc-rs) through this
//! crate's API, next to `openssl speed` on the same machine in the same run.
//!
//! `cargo bench -p pki --bench sign` (set PKI_BENCH_SECS to change the
//! per-row time, default 1).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair};
use pki::{Hash, PrivateKey, Scheme};

fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget || n < 3 {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// (sign/s, verify/s) from `openssl speed` for one algorithm name.
fn openssl_speed(alg: &str, secs: u64) -> Option<(f64, f64)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", &secs.to_string(), alg])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last()?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    let v = nums.len();
    Some((*nums.get(v.checked_sub(2)?)?, *nums.get(v - 1)?))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::var("PKI_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let budget = Duration::from_secs(secs);
    let rng = SystemRandom::new();
    let pkcs8 = |d: &[u8]| PrivateKey::from_der(d, None);
    let rsa = |bits| -> Result<PrivateKey, Box<dyn std::error::Error>> {
        let k = aws_lc_rs::rsa::KeyPair::generate(bits).map_err(|_| "rsa keygen")?;
        let der = k.as_der().map_err(|_| "rsa der")?;
        Ok(pkcs8(der.as_ref())?)
    };
    let ec = |alg| -> Result<PrivateKey, Box<dyn std::error::Error>> {
        let d = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| "ec keygen")?;
        Ok(pkcs8(d.as_ref())?)
    };
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "ed keygen")?;
    let rows: Vec<(&str, PrivateKey, Scheme, &str)> = vec![
        (
            "RSA-2048 PKCS#1 SHA-256",
            rsa(aws_lc_rs::rsa::KeySize::Rsa2048)?,
            Scheme::RsaPkcs1(Hash::Sha256),
            "rsa2048",
        ),
        (
            "RSA-4096 PKCS#1 SHA-256",
            rsa(aws_lc_rs::rsa::KeySize::Rsa4096)?,
            Scheme::RsaPkcs1(Hash::Sha256),
            "rsa4096",
        ),
        (
            "ECDSA P-256 SHA-256",
            ec(&sig::ECDSA_P256_SHA256_ASN1_SIGNING)?,
            Scheme::Ecdsa {
                hash: Hash::Sha256,
                der: true,
            },
            "ecdsap256",
        ),
        (
            "ECDSA P-384 SHA-384",
            ec(&sig::ECDSA_P384_SHA384_ASN1_SIGNING)?,
            Scheme::Ecdsa {
                hash: Hash::Sha384,
                der: true,
            },
            "ecdsap384",
        ),
        ("Ed25519", pkcs8(ed.as_ref())?, Scheme::Ed25519, "ed25519"),
    ];
    // About the size of real IKE_AUTH signed octets (IKE_SA_INIT message + nonce + MAC).
    let octets = vec![0x5au8; 600];
    println!(
        "| algorithm (AUTH octets 600 B) | sign/s | verify/s | openssl speed sign/s | verify/s | sign ratio | verify ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, key, scheme, ossl) in rows {
        let sig = key.sign(scheme, &octets)?;
        let public = key.public_key().clone();
        public.verify(scheme, &octets, &sig)?;
        let s = rate(budget, || {
            black_box(key.sign(scheme, black_box(&octets)).ok());
        });
        let v = rate(budget, || {
            black_box(public.verify(scheme, black_box(&octets), &sig).is_ok());
        });
        match openssl_speed(ossl, secs) {
            Some((os, ov)) => println!(
                "| {name} | {s:.0} | {v:.0} | {os:.0} | {ov:.0} | {:.2} | {:.2} |",
                s / os,
                v / ov
            ),
            None => println!("| {name} | {s:.0} | {v:.0} | - | - | - | - |"),
        }
    }
    Ok(())
}
