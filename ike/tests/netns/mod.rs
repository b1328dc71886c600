//! Tests that need the real kernel in a network namespace of their own: the
//! test re-runs itself inside one (`ip netns exec`), which is deleted after.

use std::process::Command;

/// Runs `inner` here when this is the re-run inside the namespace (`env` is
/// set); otherwise makes a namespace, re-runs test `name` of this binary in
/// it, deletes it and fails when the re-run failed. Without root the test is
/// skipped (and fails under `CI`).
pub fn run_inside(env: &str, name: &str, inner: impl FnOnce()) {
    if std::env::var_os(env).is_some() {
        inner();
        return;
    }
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !root {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty() || v == "false"),
            "needs root"
        );
        eprintln!("SKIPPED: needs root");
        return;
    }
    let ns = format!("iked-t{}-{}", std::process::id(), name.len());
    let st = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(st.success(), "ip netns add {ns}");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(env, "1")
        .output()
        .unwrap();
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    eprintln!("{text}");
}
