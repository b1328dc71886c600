//! The daemon's kernel installer alone: a hand-made `ChildSaInstall` (what
//! the protocol core hands the daemon) installed through
//! `ike::daemon::kernel::Kernel`, mirrored on the two sides (`interop-lab
//! install-child CASE left|right` in each namespace). The scenario pings
//! across, requires both inbound counters >= 3, closes the drivers' standard
//! input and requires that removing left nothing in either kernel.

use std::io::Read;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use ike::crypto::{Encr, Integ, SecretBytes};
use ike::daemon::kernel::Kernel;
use ike::sa::{ChildSaInstall, EspKeys, Mode, Selector};

use super::{empty, guest, note_kernel};
use crate::cmd::{Daemon, poll};
use crate::probe::{PingSpec, Why, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Side, Topology};
use crate::{Result, lab_err};

/// The cases.
pub const CASES: &[&str] = &["gcm", "cbc", "chacha", "encap", "transport"];

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        guest(
            "install-gcm",
            "kernel installer: AES-GCM-128 tunnel SAs + policies, ping, counters, removed cleanly",
            |c| install(c, "gcm"),
        ),
        guest(
            "install-cbc",
            "kernel installer: AES-256-CBC + HMAC-SHA-256 with ESN",
            |c| install(c, "cbc"),
        ),
        guest(
            "install-chacha",
            "kernel installer: ChaCha20-Poly1305",
            |c| install(c, "chacha"),
        ),
        guest(
            "install-encap",
            "kernel installer: ESP in UDP 4500 (ESPINUDP sockets)",
            |c| install(c, "encap"),
        ),
        guest(
            "install-transport",
            "kernel installer: transport mode between the outer addresses",
            |c| install(c, "transport"),
        ),
    ]
}

fn install(ctx: &Ctx, case: &str) -> Result<String> {
    let topo = Topology::new()?;
    let exe = std::env::current_exe()
        .map_err(|e| lab_err!("own executable: {e}"))?
        .display()
        .to_string();
    let mut drivers = Vec::new();
    for side in [Side::Left, Side::Right] {
        let h = topo.host(side);
        let log = ctx.peer_dir(side).join("install-child.txt");
        crate::make_dir(&ctx.peer_dir(side))?;
        let (d, stdin) = Daemon::spawn_piped(
            &format!("install-child ({})", side.as_str()),
            &[
                "ip",
                "netns",
                "exec",
                &h.ns,
                &exe,
                "install-child",
                case,
                side.as_str(),
            ],
            &log,
        )?;
        drivers.push((d, Some(stdin), log));
    }
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut why = Why::default();
    let up = poll(Duration::from_secs(20), || {
        drivers
            .iter()
            .all(|(_, _, log)| read(log).contains("installed"))
            .then_some(())
    });
    why.check(up.is_some(), || {
        "the drivers did not both install within 20 s".into()
    });
    let (lh, rh) = (&topo.left, &topo.right);
    let p = if case == "transport" {
        ping(&topo, lh, "", rh.outer4, PingSpec::n(3))
    } else {
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3))
    };
    let p = why.ok("ping", p);
    why.check(p.as_ref().is_some_and(|p| p.all()), || {
        format!("ping {}", p.as_ref().map(|p| p.ratio()).unwrap_or_default())
    });
    note_kernel(&mut why, &topo);
    let mut ins = Vec::new();
    for (d, stdin, log) in drivers.iter_mut() {
        if let Some(mut s) = stdin.take() {
            let _ = s.flush();
        }
        let done = poll(Duration::from_secs(20), || d.exited());
        let text = read(log);
        why.note(&format!("{} output", log.display()), &text);
        why.check(done.is_some_and(|st| st.success()), || {
            format!(
                "driver: {}",
                text.lines()
                    .find(|l| l.starts_with("FAIL"))
                    .unwrap_or("did not exit 0")
            )
        });
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("counters in="))
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        ins.push(n);
        why.check(n >= 3, || format!("inbound packets {n}"));
        why.check(text.lines().any(|l| l == "removed"), || {
            "not removed".into()
        });
    }
    let t = Duration::from_secs(2);
    empty(&mut why, &topo, lh, "on the left", t);
    empty(&mut why, &topo, rh, "on the right", t);
    why.done(
        &ctx.dir,
        format!(
            "ping 3/3, inbound packets left={} right={}, removed cleanly",
            ins.first().copied().unwrap_or(0),
            ins.get(1).copied().unwrap_or(0)
        ),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
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
        firewall: false,
        replaces: None,
        defer_outbound: false,
    })
}

/// `interop-lab install-child CASE SIDE`, run by [`install`] in SIDE's
/// namespace: installs, prints `installed`, holds until standard input
/// closes, prints `counters in=P/B out=P/B`, removes, checks that nothing is
/// left and prints `removed` (exit 0), or `FAIL ...` (exit 1).
pub fn install_child_main(case: &str, side: &str) -> ExitCode {
    let Some(c) = build(case, side == "left") else {
        eprintln!("unknown case {case}");
        return ExitCode::from(2);
    };
    // The encap case needs a socket with ESPINUDP on 4500 for the kernel to decapsulate.
    let _encap_sock = if c.encap.is_some() {
        let s = std::net::UdpSocket::bind((c.local, 4500));
        match s.and_then(|s| xfrm::udp_encap::enable_espinudp(&s).map(|_| s)) {
            Ok(s) => Some(s),
            Err(e) => {
                println!("FAIL UDP 4500 with ESPINUDP: {e}");
                return ExitCode::from(1);
            }
        }
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
