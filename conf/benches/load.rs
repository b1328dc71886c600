//! Loads a generated ipsec.conf with 10,000 conns and reports the time.
//! Run: `cargo bench -p conf --bench load`.

use std::time::Instant;

fn generate(n: usize) -> String {
    let mut s = String::from(
        "config setup\n  charondebug=\"ike 1, knl 1, cfg 1\"\n  uniqueids=no\n\nconn %default\n  keyexchange=ikev2\n  ike=aes256gcm16-prfsha384-ecp384!\n  esp=aes256gcm16-ecp384!\n  ikelifetime=60m\n  keylife=20m\n  rekeymargin=3m\n  keyingtries=%forever\n  authby=psk\n\nconn base\n  left=192.0.2.1\n  leftsubnet=10.0.0.0/16\n  mobike=no\n  auto=ignore\n\n",
    );
    for i in 0..n {
        let (a, b) = (i / 250, i % 250);
        s.push_str(&format!(
            "conn site-{i}\n  also=base\n  right=198.51.{a}.{b}\n  rightsubnet=10.{a}.{b}.0/24,2001:db8:{i:x}::/48\n  rightid=@site-{i}.example.org\n  mark={m}\n  auto=route\n\n",
            m = i + 1
        ));
    }
    s
}

fn main() {
    let n = 10_000;
    let text = generate(n);
    let secrets = ": PSK \"bench-secret\"\n";
    let dir = std::env::temp_dir().join(format!("iked-conf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("ipsec.conf");
    let sec = dir.join("ipsec.secrets");
    std::fs::write(&conf, &text).expect("write conf");
    std::fs::write(&sec, secrets).expect("write secrets");
    let mut best = f64::MAX;
    for round in 0..5 {
        let t = Instant::now();
        let cfg = conf::load(&conf, Some(&sec)).expect("generated config loads");
        let el = t.elapsed().as_secs_f64();
        assert_eq!(cfg.conns.len(), n + 1);
        best = best.min(el);
        println!(
            "round {round}: {n} conns ({} bytes) loaded in {:.1} ms",
            text.len(),
            el * 1e3
        );
    }
    println!(
        "best: {:.1} ms for {n} conns ({:.1} us/conn)",
        best * 1e3,
        best * 1e6 / n as f64
    );
    // Memory: RSS grows by what a loaded Config keeps, and by a second copy
    // of its conns (what each Conn costs, %default and also= parts included).
    let before = rss_kb();
    let cfg = conf::load(&conf, Some(&sec)).expect("generated config loads");
    let loaded = rss_kb();
    let copy = cfg.conns.clone();
    let copied = rss_kb();
    println!(
        "RSS: +{} KB for a loaded Config ({:.2} KB/conn, the parse's transient memory included); +{} KB for a copy of its conns ({:.2} KB/conn); size_of::<Conn>() = {} bytes",
        loaded - before,
        (loaded - before) as f64 / n as f64,
        copied - loaded,
        (copied - loaded) as f64 / copy.len() as f64,
        std::mem::size_of::<conf::Conn>()
    );
    drop(copy);
    let _ = std::fs::remove_dir_all(&dir);
}

/// VmRSS of this process in KB (0 when /proc is not there).
fn rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
