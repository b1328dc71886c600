//! `iked --check-config`: exit 0 with a line per conn, or exit 1 with every error.

use std::process::Command;

fn run(conf_text: &str, secrets: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "iked-check-{}-{}",
        std::process::id(),
        conf_text.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("ipsec.conf");
    let s = dir.join("ipsec.secrets");
    std::fs::write(&c, conf_text).unwrap();
    std::fs::write(&s, secrets).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iked"))
        .args(["--check-config", "--config"])
        .arg(&c)
        .arg("--secrets")
        .arg(&s)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn valid_config_exits_0_with_summary() {
    let (code, out, _) = run(
        "conn one\n  left=192.0.2.1\n  right=192.0.2.2\n  authby=psk\n  auto=add\nconn two\n  also=one\n  rightsubnet=10.2.0.0/16\n",
        ": PSK \"never-printed\"\n",
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with(
        "one: 192.0.2.1[192.0.2.1] (host) ... 192.0.2.2[192.0.2.2] (host), type=tunnel, auto=add"
    ));
    assert!(lines[1].contains("10.2.0.0/16"));
    assert!(lines[2].starts_with("configuration OK: 2 conns, 0 ca sections, 1 secret"));
    assert!(!out.contains("never-printed"));
}

#[test]
fn errors_exit_1_and_are_all_listed() {
    let (code, out, err) = run(
        "conn a\n  auto=sometimes\n  esp=aes256\n",
        ": PSK \"never-printed\"\n",
    );
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("2 errors in the configuration:\n"), "{err}");
    assert!(err.contains(":2:8: auto: 'sometimes'"));
    assert!(err.contains(":3:7: esp: 'aes256' has no integrity"));
    assert!(!err.contains("never-printed"));
}
