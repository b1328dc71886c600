//! Lab driver: installs SAs and policies ONLY through the `xfrm` crate, reads counters,
//! waits for kernel events and benchmarks bulk installation. Run inside a network
//! namespace (`ip netns exec NS xfrm-lab ...`); used by interop-tests/lab/guest-xfrm.sh.
//!
//! ```text
//! xfrm-lab tunnel   CASE SIDE        install SAs + in/out/fwd policies for one side
//! xfrm-lab counters CASE SIDE MIN    inbound SA counters; exit 1 if packets < MIN
//! xfrm-lab show     CASE SIDE        both SAs and the policies, as the crate reads them
//! xfrm-lab flush                     delete all SAs and policies
//! xfrm-lab encap-socket PORT SECS    hold a UDP socket with UDP_ENCAP_ESPINUDP
//! xfrm-lab alloc-spi CASE SIDE       ALLOCSPI for this side's inbound SA; prints it
//! xfrm-lab child CASE SIDE OUT IN    update_sa (completes the larval inbound SA IN),
//!                                    add_sa (outbound OUT), policies
//! xfrm-lab sa-counters DST SPI MIN   counters of any ESP SA; exit 1 if packets < MIN
//! xfrm-lab resport  CASE SIDE SPORT  update_sa: the outbound SA's UDP source port
//! xfrm-lab mapping-watch SECS        wait for a MAPPING event (4500 -> 4501)
//! xfrm-lab acquire                   trap policy + one packet -> ACQUIRE event
//! xfrm-lab expire                    short-lifetime SA -> EXPIRE soft, then hard
//! xfrm-lab bench PAIRS POLICIES MODE install PAIRS SA pairs + POLICIES policies;
//!                                    MODE = batch (pipelined) | serial
//! xfrm-lab bench-file PAIRS POLICIES FILE   the same objects as an `ip -batch` file
//! ```
//! CASE: gcm (AES-128-GCM), cbc (AES-256-CBC + HMAC-SHA2-256, ESN, window 128),
//! chacha (ChaCha20-Poly1305), ah (AH HMAC-SHA2-256), v6, encap (UDP 4500), vti (mark 6), xfrmi (if_id 42).
//! SIDE: left right.

use std::io::Write;
use std::net::{IpAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xfrm::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

#[derive(Clone, Copy, PartialEq)]
enum Alg {
    Gcm,
    Cbc,
    ChaCha,
    /// AH with HMAC-SHA2-256-128.
    Ah,
}

struct Case {
    name: &'static str,
    v6: bool,
    alg: Alg,
    /// ESN with this replay window (otherwise a 32-packet window, no ESN).
    esn_window: Option<u32>,
    encap: bool,
    mark: Option<Mark>,
    if_id: Option<u32>,
    reqid: u32,
    /// SPI of left->right; right->left is this + 1.
    spi: u32,
}

fn case(name: &str) -> Option<Case> {
    let base = Case {
        name: "gcm",
        v6: false,
        alg: Alg::Gcm,
        esn_window: None,
        encap: false,
        mark: None,
        if_id: None,
        reqid: 1,
        spi: 0x1000,
    };
    Some(match name {
        "gcm" => base,
        "cbc" => Case {
            name: "cbc",
            alg: Alg::Cbc,
            esn_window: Some(128),
            reqid: 2,
            spi: 0x2000,
            ..base
        },
        "chacha" => Case {
            name: "chacha",
            alg: Alg::ChaCha,
            reqid: 7,
            spi: 0x7000,
            ..base
        },
        "ah" => Case {
            name: "ah",
            alg: Alg::Ah,
            reqid: 8,
            spi: 0x8000,
            ..base
        },
        "v6" => Case {
            name: "v6",
            v6: true,
            reqid: 3,
            spi: 0x3000,
            ..base
        },
        "encap" => Case {
            name: "encap",
            encap: true,
            reqid: 4,
            spi: 0x4000,
            ..base
        },
        "vti" => Case {
            name: "vti",
            mark: Some(Mark::exact(6)),
            reqid: 5,
            spi: 0x5000,
            ..base
        },
        "xfrmi" => Case {
            name: "xfrmi",
            if_id: Some(42),
            reqid: 6,
            spi: 0x6000,
            ..base
        },
        _ => return None,
    })
}

struct Side {
    outer: IpAddr,
    inner: Prefix,
}

fn sides(c: &Case) -> (Side, Side) {
    if c.v6 {
        (
            Side {
                outer: ip("2001:db8:0:1::1"),
                inner: "2001:db8:a::/64".parse().expect("prefix"),
            },
            Side {
                outer: ip("2001:db8:0:1::2"),
                inner: "2001:db8:b::/64".parse().expect("prefix"),
            },
        )
    } else {
        (
            Side {
                outer: ip("192.0.2.1"),
                inner: "198.51.100.0/24".parse().expect("prefix"),
            },
            Side {
                outer: ip("192.0.2.2"),
                inner: "203.0.113.0/24".parse().expect("prefix"),
            },
        )
    }
}

/// Deterministic test keys (lab only), different per SA.
fn test_key(len: usize, seed: u8) -> Key {
    Key::new(
        (0..len)
            .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
            .collect(),
    )
}

fn crypto(alg: Alg, seed: u8) -> Crypto {
    match alg {
        // AES-128-GCM: 16-byte key + 4-byte salt
        Alg::Gcm => Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: test_key(20, seed),
            icv_bits: 128,
        },
        // AES-256-CBC + HMAC-SHA2-256-128
        Alg::Cbc => Crypto::EncrInteg {
            encr: EncrAlg::AesCbc,
            encr_key: test_key(32, seed),
            integ: IntegAlg::HmacSha256,
            integ_key: test_key(32, seed.wrapping_add(100)),
            trunc_bits: 128,
        },
        Alg::Ah => Crypto::Integ {
            integ: IntegAlg::HmacSha256,
            integ_key: test_key(32, seed),
            trunc_bits: 128,
        },
        // ChaCha20-Poly1305 (RFC 7634): 32-byte key + 4-byte salt
        Alg::ChaCha => Crypto::Aead {
            alg: AeadAlg::ChaCha20Poly1305,
            key: test_key(36, seed),
            icv_bits: 128,
        },
    }
}

/// The SA from `from` to `to` (SPI = case spi for left->right, +1 for right->left).
fn sa(c: &Case, from: &Side, to: &Side, left_to_right: bool) -> Sa {
    let spi = if left_to_right { c.spi } else { c.spi + 1 };
    let mut s = Sa::new(
        from.outer,
        to.outer,
        spi,
        Mode::Tunnel,
        c.reqid,
        crypto(c.alg, if left_to_right { 1 } else { 2 }),
    );
    s.replay_window = 32;
    if c.alg == Alg::Ah {
        s.protocol = Protocol::Ah;
    }
    if let Some(w) = c.esn_window {
        s.esn = true;
        s.replay_window = w;
    }
    s.mark = c.mark;
    s.if_id = c.if_id;
    if c.encap {
        s.encap = Some(UdpEncap {
            sport: 4500,
            dport: 4500,
        });
    }
    s
}

fn policies(c: &Case, me: &Side, peer: &Side) -> Vec<Policy> {
    let out_sel = Selector::new(me.inner, peer.inner);
    let in_sel = Selector::new(peer.inner, me.inner);
    let mut v = vec![
        Policy::new(
            out_sel,
            Direction::Out,
            vec![Template::tunnel(me.outer, peer.outer, c.reqid)],
        ),
        Policy::new(
            in_sel,
            Direction::In,
            vec![Template::tunnel(peer.outer, me.outer, c.reqid)],
        ),
        Policy::new(
            in_sel,
            Direction::Fwd,
            vec![Template::tunnel(peer.outer, me.outer, c.reqid)],
        ),
    ];
    for p in &mut v {
        if c.alg == Alg::Ah {
            p.templates[0].protocol = Protocol::Ah;
        }
        p.mark = c.mark;
        p.if_id = c.if_id;
        p.priority = 1000;
    }
    v
}

fn is_left(side: &str) -> Result<bool, String> {
    match side {
        "left" => Ok(true),
        "right" => Ok(false),
        _ => Err(format!("side must be left or right, not {side:?}")),
    }
}

fn tunnel(c: &Case, left: bool) -> Result<(), Error> {
    let (l, r) = sides(c);
    let mut x = Xfrm::open()?;
    x.add_sa(&sa(c, &l, &r, true))?;
    x.add_sa(&sa(c, &r, &l, false))?;
    let (me, peer) = if left { (&l, &r) } else { (&r, &l) };
    for p in policies(c, me, peer) {
        x.add_policy(&p)?;
    }
    println!(
        "{}: installed 2 SAs + 3 policies on the {} side",
        c.name,
        if left { "left" } else { "right" }
    );
    Ok(())
}

/// The daemon's sequence: this side's inbound SPI from ALLOCSPI (done earlier by
/// `alloc-spi`), the inbound SA completing that larval SA with `update_sa`, the
/// outbound SA with the peer's allocated SPI, then the policies.
fn alloc_spi(c: &Case, left: bool) -> Result<(), Error> {
    let (l, r) = sides(c);
    let (me, peer) = if left { (&l, &r) } else { (&r, &l) };
    let mut req = SpiRequest::new(peer.outer, me.outer, c.reqid);
    req.mark = c.mark;
    req.if_id = c.if_id;
    let spi = Xfrm::open()?.alloc_spi(&req)?;
    println!("0x{spi:08x}");
    Ok(())
}

fn child(c: &Case, left: bool, out_spi: u32, in_spi: u32) -> Result<(), Error> {
    let (l, r) = sides(c);
    let (me, peer) = if left { (&l, &r) } else { (&r, &l) };
    let mut x = Xfrm::open()?;
    let mut inbound = sa(c, peer, me, !left);
    inbound.spi = in_spi;
    x.update_sa(&inbound)?;
    let mut outbound = sa(c, me, peer, left);
    outbound.spi = out_spi;
    x.add_sa(&outbound)?;
    for p in policies(c, me, peer) {
        x.add_policy(&p)?;
    }
    let got = x.get_sa(&inbound.id())?;
    println!(
        "{}: inbound SA spi 0x{:08x} completed from the larval SA (reqid {}, {:?}), outbound spi 0x{out_spi:08x} added",
        c.name, got.spi, got.reqid, got.aead
    );
    Ok(())
}

fn sa_counters(dst: IpAddr, spi: u32, min: u64) -> Result<bool, Error> {
    let id = SaId {
        dst,
        spi,
        protocol: Protocol::Esp,
        mark: None,
    };
    let info = Xfrm::open()?.get_sa(&id)?;
    println!(
        "inbound SA spi 0x{:08x} {} -> {}: {} packets, {} bytes",
        info.spi, info.src, info.dst, info.current.packets, info.current.bytes
    );
    Ok(info.current.packets >= min)
}

fn inbound_id(c: &Case, left: bool) -> SaId {
    let (l, r) = sides(c);
    if left {
        sa(c, &r, &l, false).id()
    } else {
        sa(c, &l, &r, true).id()
    }
}

fn counters(c: &Case, left: bool, min: u64) -> Result<bool, Error> {
    let mut x = Xfrm::open()?;
    let info = x.get_sa(&inbound_id(c, left))?;
    let esn = info.flags.0 & 128 != 0;
    println!(
        "{}: inbound SA spi 0x{:08x} {} -> {}: {} packets, {} bytes, replay/integrity drops {}/{}, window {}{}",
        c.name,
        info.spi,
        info.src,
        info.dst,
        info.current.packets,
        info.current.bytes,
        info.stats.replay,
        info.stats.integrity_failed,
        info.replay_window,
        if esn { " esn" } else { "" }
    );
    let want_window = c.esn_window.unwrap_or(32);
    Ok(info.current.packets >= min
        && info.replay_window == want_window
        && esn == c.esn_window.is_some())
}

fn show(c: &Case, left: bool) -> Result<(), Error> {
    let (l, r) = sides(c);
    let mut x = Xfrm::open()?;
    for id in [sa(c, &l, &r, true).id(), sa(c, &r, &l, false).id()] {
        println!("{:#?}", x.get_sa(&id)?);
    }
    let (me, peer) = if left { (&l, &r) } else { (&r, &l) };
    for p in policies(c, me, peer) {
        let got = x.get_policy(&p.id())?;
        println!(
            "policy {} index {} prio {} templates {:?} mark {:?} if_id {:?}",
            got.policy.id(),
            got.policy.index,
            got.policy.priority,
            got.policy.templates,
            got.policy.mark,
            got.policy.if_id
        );
    }
    Ok(())
}

fn encap_socket(port: u16, secs: u64) -> Result<(), String> {
    let s = UdpSocket::bind(("0.0.0.0", port)).map_err(|e| e.to_string())?;
    xfrm::udp_encap::enable_espinudp(&s).map_err(|e| e.to_string())?;
    println!("encap socket on udp/{port} for {secs} s");
    std::thread::sleep(Duration::from_secs(secs));
    Ok(())
}

/// Changes the UDP source port of this side's outbound SA in place (XFRM_MSG_UPDSA),
/// as a NAT rebinding would from the peer's point of view.
fn resport(c: &Case, left: bool, sport: u16) -> Result<(), Error> {
    let (l, r) = sides(c);
    let mut out = if left {
        sa(c, &l, &r, true)
    } else {
        sa(c, &r, &l, false)
    };
    let Some(e) = out.encap.as_mut() else {
        return Err(Error::Invalid(format!(
            "case {} has no UDP encapsulation",
            c.name
        )));
    };
    e.sport = sport;
    let mut x = Xfrm::open()?;
    x.update_sa(&out)?;
    let got = x.get_sa(&out.id())?;
    println!(
        "outbound SA spi 0x{:08x} updated: encap {:?}",
        got.spi, got.encap
    );
    Ok(())
}

fn mapping_watch(secs: u64) -> Result<bool, Error> {
    rt().block_on(async {
        let mut ev = EventStream::open()?;
        println!("listening");
        let _ = std::io::stdout().flush();
        let got = wait_for(&mut ev, secs, |e| matches!(e, Event::Mapping(_))).await;
        let Some(Event::Mapping(m)) = got else {
            println!("no MAPPING within {secs} s");
            return Ok(false);
        };
        println!(
            "MAPPING: SA spi 0x{:08x} dst {} reqid {}: peer {}:{} -> {}:{}",
            m.spi, m.dst, m.reqid, m.old_src, m.old_sport, m.new_src, m.new_sport
        );
        Ok(m.old_sport == 4500 && m.new_sport == 4501)
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn wait_for<F: FnMut(&Event) -> bool>(
    ev: &mut EventStream,
    secs: u64,
    mut want: F,
) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, ev.next()).await {
            Ok(Ok(e)) if want(&e) => return Some(e),
            Ok(Ok(e)) => println!("(other event: {e:?})"),
            Ok(Err(e)) => println!("(event error: {e})"),
            Err(_) => return None,
        }
    }
}

fn acquire() -> Result<bool, Error> {
    rt().block_on(async {
        let mut ev = EventStream::open()?;
        let mut x = Xfrm::open()?;
        let sel = Selector::new("198.51.100.1/32".parse()?, "203.0.113.0/24".parse()?);
        let mut trap = Policy::new(
            sel,
            Direction::Out,
            vec![Template::tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 99)],
        );
        trap.priority = 10;
        x.add_policy(&trap)?;
        let index = x.get_policy(&trap.id())?.policy.index;
        let s = UdpSocket::bind("198.51.100.1:0")?;
        let sent = s.send_to(b"trigger", "203.0.113.1:9");
        println!("trap policy index {index} installed; one UDP packet sent ({sent:?})");
        let got = wait_for(&mut ev, 30, |e| matches!(e, Event::Acquire(_))).await;
        x.delete_policy(&trap.id())?;
        let Some(Event::Acquire(a)) = got else {
            println!("no ACQUIRE within 30 s");
            return Ok(false);
        };
        println!(
            "ACQUIRE: packet {}; policy index {} dir {:?}; wanted SA {} -> {} {:?}; templates {:?}",
            a.selector, a.policy_index, a.policy_dir, a.src, a.dst, a.protocol, a.templates
        );
        Ok(a.policy_index == index
            && a.selector.src == Prefix::host(ip("198.51.100.1"))
            && a.selector.dst == Prefix::host(ip("203.0.113.1"))
            && a.selector.proto == 17
            && a.selector.dport == Some(9)
            && a.dst == ip("192.0.2.2")
            && a.templates.first().map(|t| t.0.reqid) == Some(99))
    })
}

fn expire() -> Result<bool, Error> {
    rt().block_on(async {
        let mut ev = EventStream::open()?;
        let mut x = Xfrm::open()?;
        let mut s = Sa::new(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x7777,
            Mode::Tunnel,
            77,
            crypto(Alg::Gcm, 7),
        );
        s.lifetime.soft.add_seconds = Some(2);
        s.lifetime.hard.add_seconds = Some(4);
        x.add_sa(&s)?;
        let t0 = Instant::now();
        println!("SA spi 0x7777 installed with soft 2 s / hard 4 s lifetime");
        let mine = |e: &Event| matches!(e, Event::Expire(x) if x.id.spi == 0x7777);
        let soft = wait_for(&mut ev, 60, mine).await;
        println!("after {:.1} s: {soft:?}", t0.elapsed().as_secs_f64());
        let hard = wait_for(&mut ev, 60, mine).await;
        println!("after {:.1} s: {hard:?}", t0.elapsed().as_secs_f64());
        let gone = x.get_sa(&s.id()).err().is_some_and(|e| e.is_not_found());
        println!("SA gone after hard expiry: {gone}");
        Ok(matches!(soft, Some(Event::Expire(ref e)) if !e.hard)
            && matches!(hard, Some(Event::Expire(ref e)) if e.hard)
            && gone)
    })
}

/// The benchmark's objects: PAIRS SA pairs (distinct SPIs and reqids) and POLICIES
/// policies (host-to-host selectors over 198.51.100.0/24 x 203.0.113.0/24, out/in/fwd).
fn bench_objects(pairs: u32, policies: u32) -> (Vec<Sa>, Vec<Policy>) {
    let (l, r) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut sas = Vec::with_capacity(2 * pairs as usize);
    for i in 0..pairs {
        let reqid = 1000 + i;
        let mut a = Sa::new(
            l,
            r,
            0x10_0000 + i,
            Mode::Tunnel,
            reqid,
            crypto(Alg::Gcm, 1),
        );
        a.replay_window = 32;
        let mut b = Sa::new(
            r,
            l,
            0x20_0000 + i,
            Mode::Tunnel,
            reqid,
            crypto(Alg::Gcm, 2),
        );
        b.replay_window = 32;
        sas.push(a);
        sas.push(b);
    }
    let mut pols = Vec::with_capacity(policies as usize);
    let dirs = [Direction::Out, Direction::In, Direction::Fwd];
    for i in 0..policies {
        let k = i / 3;
        let (a, b) = ((k / 250) as u8, (k % 250) as u8);
        let (src, dst) = (
            IpAddr::from([198, 51, 100, a]),
            IpAddr::from([203, 0, 113, b]),
        );
        let dir = dirs[(i % 3) as usize];
        let reqid = 1000 + k;
        let (sel, tmpl) = if dir == Direction::Out {
            (
                Selector::new(Prefix::host(src), Prefix::host(dst)),
                Template::tunnel(l, r, reqid),
            )
        } else {
            (
                Selector::new(Prefix::host(dst), Prefix::host(src)),
                Template::tunnel(r, l, reqid),
            )
        };
        pols.push(Policy::new(sel, dir, vec![tmpl]));
    }
    (sas, pols)
}

fn hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn bench_file(pairs: u32, policies: u32, path: &str) -> Result<(), String> {
    let (sas, pols) = bench_objects(pairs, policies);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    for s in &sas {
        // the same deterministic keys as crypto(Alg::Gcm, seed)
        let seed = if s.spi >= 0x20_0000 { 2 } else { 1 };
        let key: Vec<u8> = (0..20u8)
            .map(|i| (seed as u8).wrapping_mul(31).wrapping_add(i))
            .collect();
        writeln!(
            f,
            "xfrm state add src {} dst {} proto esp spi 0x{:08x} reqid {} mode tunnel replay-window 32 aead rfc4106(gcm(aes)) 0x{} 128",
            s.src,
            s.dst,
            s.spi,
            s.reqid,
            hex(&key)
        )
        .map_err(|e| e.to_string())?;
    }
    for p in &pols {
        let t = p.templates[0];
        writeln!(
            f,
            "xfrm policy add src {} dst {} dir {} tmpl src {} dst {} proto esp reqid {} mode tunnel",
            p.selector.src,
            p.selector.dst,
            p.dir,
            t.src.expect("tunnel"),
            t.dst.expect("tunnel"),
            t.reqid
        )
        .map_err(|e| e.to_string())?;
    }
    f.flush().map_err(|e| e.to_string())
}

fn bench(pairs: u32, policies: u32, mode: &str) -> Result<bool, Error> {
    let (sas, pols) = bench_objects(pairs, policies);
    let mut x = Xfrm::open()?;
    let t0 = Instant::now();
    let mut failures = 0usize;
    let mut first_err = None;
    match mode {
        "batch" => {
            let mut b = Batch::new();
            for s in &sas {
                b.add_sa(s)?;
            }
            for p in &pols {
                b.add_policy(p)?;
            }
            for r in x.execute(&b) {
                if let Err(e) = r {
                    failures += 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        "serial" => {
            for s in &sas {
                if let Err(e) = x.add_sa(s) {
                    failures += 1;
                    first_err.get_or_insert(e);
                }
            }
            for p in &pols {
                if let Err(e) = x.add_policy(p) {
                    failures += 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        _ => return Err(Error::Invalid(format!("bench mode {mode:?}"))),
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "BENCH crate-{mode}: {} SAs + {} policies in {dt:.3} s ({failures} failures{})",
        sas.len(),
        pols.len(),
        first_err
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    Ok(failures == 0)
}

fn run(args: &[String]) -> Result<bool, String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let get_case = |n: &str| case(n).ok_or_else(|| format!("unknown case {n:?}"));
    let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    let e = |e: Error| e.to_string();
    let hexnum = |s: &str| {
        u32::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s:?}: {e}"))
    };
    match a.as_slice() {
        ["tunnel", c, side] => tunnel(&get_case(c)?, is_left(side)?)
            .map(|_| true)
            .map_err(e),
        ["counters", c, side, min] => counters(&get_case(c)?, is_left(side)?, num(min)?).map_err(e),
        ["show", c, side] => show(&get_case(c)?, is_left(side)?).map(|_| true).map_err(e),
        ["flush"] => {
            let mut x = Xfrm::open().map_err(e)?;
            x.flush_policies().map_err(e)?;
            x.flush_sas(None).map_err(e)?;
            Ok(true)
        }
        ["encap-socket", port, secs] => encap_socket(num(port)? as u16, num(secs)?).map(|_| true),
        ["alloc-spi", c, side] => alloc_spi(&get_case(c)?, is_left(side)?)
            .map(|_| true)
            .map_err(e),
        ["child", c, side, out_spi, in_spi] => child(
            &get_case(c)?,
            is_left(side)?,
            hexnum(out_spi)?,
            hexnum(in_spi)?,
        )
        .map(|_| true)
        .map_err(e),
        ["sa-counters", dst, spi, min] => {
            let dst: IpAddr = dst.parse().map_err(|_| format!("bad address {dst:?}"))?;
            sa_counters(dst, hexnum(spi)?, num(min)?).map_err(e)
        }
        ["resport", c, side, port] => resport(&get_case(c)?, is_left(side)?, num(port)? as u16)
            .map(|_| true)
            .map_err(e),
        ["mapping-watch", secs] => mapping_watch(num(secs)?).map_err(e),
        ["acquire"] => acquire().map_err(e),
        ["expire"] => expire().map_err(e),
        ["bench", pairs, pols, mode] => {
            bench(num(pairs)? as u32, num(pols)? as u32, mode).map_err(e)
        }
        ["bench-file", pairs, pols, path] => {
            bench_file(num(pairs)? as u32, num(pols)? as u32, path).map(|_| true)
        }
        _ => Err("usage: see the header of xfrm/examples/xfrm-lab.rs".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("xfrm-lab {}: check failed", args.join(" "));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xfrm-lab {}: {e}", args.join(" "));
            ExitCode::from(2)
        }
    }
}
