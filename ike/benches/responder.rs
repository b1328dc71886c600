//! The protocol core's cost per IKE_SA as a responder, as the number of
//! established IKE_SAs grows: one responder endpoint (the `bench/run.sh`
//! responder conn, `right=%any`, PSK, uniqueids at its default) and one
//! initiator endpoint with N conns of distinct identities and inner
//! addresses (road warriors: `leftsubnet=2001:db8:1::N/128` each, so no two
//! CHILD_SAs claim the same traffic), in memory (no
//! sockets, no kernel: every CHILD_SA install is accepted, as the daemon
//! reports a kernel's verdict). The IKE_SAs stay up, so the responder's
//! tables hold up to N of them.
//!
//! Only the time inside the responder's calls is counted (datagrams in,
//! key exchanges, kernel verdicts, timers): per IKE_SA, for the IKE_SAs
//! set up while the table held 0-1,000 / 4,000-5,000 / 9,000-10,000 others.
//! A flat core gives the same figure in every column.
//!
//! Run: `cargo bench -p ike --bench responder` (`RESPONDER_N=10000`, the
//! default; prints a table). Timing is printed, never asserted.

use ike::sa::{Endpoint, Event};
use ike::testing::endpoint;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const PSK: &str = "iked-bench-psk-not-secret-0123456789";
const PROPOSAL: &str = "aes128gcm16-prfsha256-x25519";
/// IKE_SAs started at once: below the responder's COOKIE threshold (10 half-open).
const WAVE: usize = 8;

fn responder_conf() -> String {
    format!(
        "conn bench\n  keyexchange=ikev2\n  left=192.0.2.2\n  leftid=@responder.bench.example\n  leftsubnet=2001:db8:ffff::/48\n  right=%any\n  rightid=%any\n  rightsubnet=2001:db8:1::/48\n  authby=secret\n  ike={PROPOSAL}!\n  esp=aes128gcm16!\n  auto=add\n"
    )
}

fn initiator_conf(n: usize) -> String {
    let mut s = format!(
        "conn %default\n  keyexchange=ikev2\n  left=192.0.2.1\n  right=192.0.2.2\n  rightid=@responder.bench.example\n  rightsubnet=2001:db8:ffff::/48\n  authby=secret\n  ike={PROPOSAL}!\n  esp=aes128gcm16!\n  auto=add\n"
    );
    for i in 1..=n {
        let _ = write!(
            s,
            "conn b{i}\n  leftid=@i{i}.bench.example\n  leftsubnet=2001:db8:1::{i:x}/128\n"
        );
    }
    s
}

/// Both sides' events: every CHILD_SA install is accepted.
fn settle(ep: &mut Endpoint, now: Instant) -> usize {
    let mut installed = 0;
    // Bounded: each round handles what the previous one queued.
    for _ in 0..100 {
        let mut any = false;
        while let Some(j) = ep.poll_key_job() {
            any = true;
            ep.key_job_done(j.run(&mut rand_core::OsRng));
        }
        while let Some(e) = ep.poll_event() {
            any = true;
            if let Event::InstallChild(c) = &e {
                ep.child_installed(now, c.child_id, Ok(()));
                installed += 1;
            }
        }
        if !any {
            break;
        }
    }
    installed
}

fn main() {
    let n: usize = std::env::var("RESPONDER_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let secrets = format!(": PSK \"{PSK}\"\n");
    let mut a = endpoint(&initiator_conf(n), &secrets, "192.0.2.1", 1, 0xc000_0000);
    let mut b = endpoint(&responder_conf(), &secrets, "192.0.2.2", 2, 0xd000_0000);
    let now = Instant::now();
    // Responder time per IKE_SA index bucket (1,000 IKE_SAs each).
    let buckets = n.div_ceil(1000);
    let mut spent = vec![Duration::ZERO; buckets];
    let mut up = vec![0usize; buckets];
    let mut started = 0;
    let wall = Instant::now();
    while started < n {
        let wave_end = (started + WAVE).min(n);
        for i in started..wave_end {
            if let Err(e) = a.initiate(now, &format!("b{}", i + 1)) {
                eprintln!("initiate b{}: {e}", i + 1);
            }
        }
        let bucket = started / 1000;
        started = wave_end;
        // Bounded: an IKE_SA takes two exchanges.
        for _ in 0..50 {
            settle(&mut a, now);
            let mut moved = false;
            while let Some(t) = a.poll_transmit() {
                moved = true;
                let t0 = Instant::now();
                b.handle_datagram(now, t.remote, t.local, &t.data);
                up[bucket] += settle(&mut b, now);
                spent[bucket] += t0.elapsed();
            }
            while let Some(t) = b.poll_transmit() {
                moved = true;
                a.handle_datagram(now, t.remote, t.local, &t.data);
            }
            if !moved {
                break;
            }
        }
    }
    let wall = wall.elapsed();
    let sas = b.status(now);
    let established = sas
        .iter()
        .filter(|s| matches!(s.state, ike::sa::IkeState::Established))
        .count();
    let children: usize = sas.iter().map(|s| s.children.len()).sum();
    println!(
        "responder core, {PROPOSAL}, PSK, {n} IKE_SAs in waves of {WAVE} (in memory, no kernel)"
    );
    println!(
        "established at the responder: {established} IKE_SAs, {children} CHILD_SAs; wall {:.2} s (both sides)",
        wall.as_secs_f64()
    );
    println!();
    println!(
        "| IKE_SAs already up | IKE_SAs | CHILD_SAs installed | responder time per IKE_SA (us) |"
    );
    println!("| --- | --- | --- | --- |");
    for (i, (d, c)) in spent.iter().zip(&up).enumerate() {
        let lo = i * 1000;
        let count = (n - lo).min(1000);
        println!(
            "| {lo}-{} | {count} | {c} | {:.1} |",
            lo + count,
            d.as_secs_f64() * 1e6 / count as f64
        );
    }
    let first = spent[0].as_secs_f64() / n.min(1000) as f64;
    let last_n = n - (buckets - 1) * 1000;
    let last = spent[buckets - 1].as_secs_f64() / last_n as f64;
    println!();
    println!("last / first: {:.2}x", last / first);
}
