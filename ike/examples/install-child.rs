//! Lab driver for the daemon's kernel installer: installs a hand-made
//! `ChildSaInstall` (the same thing the protocol core hands the daemon)
//! through `ike::daemon::kernel::Kernel`, mirrored on the two sides, holds it
//! until standard input closes, then prints the CHILD_SA's kernel counters,
//! removes what it installed and checks that nothing of it is left.
//!
//! ```text
//! ip netns exec left  install-child CASE left   < fifo   # CASE: gcm cbc chacha encap transport
//! ip netns exec right install-child CASE right  < fifo
//! ```
//! Prints `installed`, then `counters in=P/B out=P/B`, then `removed` (exit 0),
//! or `FAIL ...` (exit 1).

use ike::crypto::{Encr, Integ, SecretBytes};
use ike::daemon::kernel::Kernel;
use ike::sa::{ChildSaInstall, EspKeys, Mode, Selector};
use std::io::Read;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

fn host_sel(a: &str) -> Selector {
    let a = ip(a);
    Selector {
        start: a,
        end: a,
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    }
}

fn net_sel(a: &str, b: &str) -> Selector {
    Selector {
        start: ip(a),
        end: ip(b),
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    }
}

/// Deterministic lab keys, different per direction (left->right = 1, right->left = 2).
fn keys(dir: u8, encr_len: usize, integ_len: usize) -> EspKeys {
    let k = |n: usize, salt: u8| {
        SecretBytes::new(
            (0..n)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(dir * 31 + salt))
                .collect(),
        )
    };
    EspKeys {
        encr: k(encr_len, 0),
        integ: k(integ_len, 100),
    }
}

fn build(case: &str, left: bool) -> Option<ChildSaInstall> {
    let (encr, integ, el, il) = match case {
        "gcm" | "encap" | "transport" => (
            Encr::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
            20,
            0,
        ),
        "cbc" => (
            Encr::AesCbc { key_bits: 256 },
            Some(Integ::HmacSha256_128),
            32,
            32,
        ),
        "chacha" => (Encr::ChaCha20Poly1305, None, 36, 0),
        _ => return None,
    };
    let transport = case == "transport";
    let (l_outer, r_outer) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let (l_ts, r_ts) = if transport {
        (host_sel("192.0.2.1"), host_sel("192.0.2.2"))
    } else {
        (
            net_sel("198.51.100.0", "198.51.100.255"),
            net_sel("203.0.113.0", "203.0.113.255"),
        )
    };
    // SPIs: left->right 0xc0001000, right->left 0xc0001001 (per case offset).
    let base = 0xc000_1000
        + 0x100
            * match case {
                "gcm" => 0,
                "cbc" => 1,
                "chacha" => 2,
                "encap" => 3,
                _ => 4,
            };
    let (l2r, r2l) = (keys(1, el, il), keys(2, el, il));
    let (local, remote, spi_in, spi_out, keys_in, keys_out, ts_local, ts_remote) = if left {
        (l_outer, r_outer, base + 1, base, r2l, l2r, l_ts, r_ts)
    } else {
        (r_outer, l_outer, base, base + 1, l2r, r2l, r_ts, l_ts)
    };
    Some(ChildSaInstall {
        conn: format!("lab-{case}"),
        ike_id: 1,
        child_id: 1,
        reqid: 40 + (base & 0xf00) / 0x100,
        mode: if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        },
        local,
        remote,
        encap: (case == "encap").then_some((4500, 4500)),
        spi_in,
        spi_out,
        encr,
        integ,
        esn: case == "cbc",
        keys_in,
        keys_out,
        ts_local: vec![ts_local],
        ts_remote: vec![ts_remote],
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        soft_lifetime: Duration::from_secs(3000),
        hard_lifetime: Duration::from_secs(3600),
        replay_window: 32,
        install_policy: true,
        updown: None,
        my_sourceips: Vec::new(),
        peer_sourceips: Vec::new(),
        host_access: false,
        defer_outbound: false,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(case), Some(side)) = (args.first(), args.get(1)) else {
        eprintln!("usage: install-child CASE left|right");
        return ExitCode::from(2);
    };
    let Some(c) = build(case, side == "left") else {
        eprintln!("unknown case {case}");
        return ExitCode::from(2);
    };
    // The encap case needs a socket with ESPINUDP on 4500 for the kernel to decapsulate.
    let _encap_sock = if c.encap.is_some() {
        let s = std::net::UdpSocket::bind((c.local, 4500)).expect("bind 4500");
        xfrm::udp_encap::enable_espinudp(&s).expect("ESPINUDP");
        Some(s)
    } else {
        None
    };
    let mut k = Kernel::open();
    if let Err(e) = k.install(&c) {
        println!("FAIL install: {e}");
        return ExitCode::from(1);
    }
    println!("installed");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    match k.counters(c.child_id) {
        Some((i, o)) => println!(
            "counters in={}/{} out={}/{}",
            i.packets, i.bytes, o.packets, o.bytes
        ),
        None => println!("FAIL no counters"),
    }
    k.remove_all();
    let mut x = match xfrm::Xfrm::open() {
        Ok(x) => x,
        Err(e) => {
            println!("FAIL xfrm: {e}");
            return ExitCode::from(1);
        }
    };
    let sas = x.list_sas().unwrap_or_default();
    let pols = x.list_policies().unwrap_or_default();
    let left_sas = sas
        .iter()
        .filter(|s| s.spi == c.spi_in || s.spi == c.spi_out)
        .count();
    let left_pols = pols
        .iter()
        .filter(|p| p.policy.templates.iter().any(|t| t.reqid == c.reqid))
        .count();
    if left_sas + left_pols > 0 {
        println!("FAIL left behind: {left_sas} SAs, {left_pols} policies");
        return ExitCode::from(1);
    }
    println!("removed");
    ExitCode::SUCCESS
}
