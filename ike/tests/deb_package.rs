//! packaging/build-deb.sh builds a .deb from the binaries cargo built: the
//! test builds it and reads it back with dpkg (contents, owners, modes,
//! conffiles, control fields, the man pages) and, when lintian is
//! installed, requires lintian to find no error and no warning.

use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn build_deb_makes_an_installable_package() {
    for tool in ["dpkg-deb", "dpkg-shlibdeps", "fakeroot", "strip"] {
        if !have(tool) {
            eprintln!("SKIPPED build_deb_makes_an_installable_package: {tool} not installed");
            return;
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bins = Path::new(env!("CARGO_BIN_EXE_iked")).parent().unwrap();
    assert!(Path::new(env!("CARGO_BIN_EXE_iked-gen-docs")).starts_with(bins));
    let out = std::env::temp_dir().join(format!("iked-deb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let printed = run(Command::new("bash")
        .arg(repo.join("packaging/build-deb.sh"))
        .arg("--bin-dir")
        .arg(bins)
        .arg("--out")
        .arg(&out));
    let deb = PathBuf::from(printed.trim());
    assert!(deb.starts_with(&out) && deb.exists(), "{printed}");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("iked_0.1.0-1_") && name.ends_with(".deb"),
        "{name}"
    );

    // Contents: (mode, owner) of each path, as dpkg -c lists them.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let entry = |path: &str| -> (String, String) {
        let l = listing
            .lines()
            .find(|l| l.split_whitespace().nth(5) == Some(path))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{listing}"));
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[0].to_owned(), f[1].to_owned())
    };
    for (path, mode) in [
        ("./usr/sbin/iked", "-rwxr-xr-x"),
        ("./usr/sbin/ikectl", "-rwxr-xr-x"),
        ("./usr/sbin/ipsec", "-rwxr-xr-x"),
        ("./lib/systemd/system/iked.service", "-rw-r--r--"),
        ("./etc/ipsec.conf", "-rw-r--r--"),
        ("./etc/ipsec.secrets", "-rw-------"),
        ("./etc/ipsec.d/private/", "drwx------"),
        ("./etc/ipsec.d/cacerts/", "drwxr-xr-x"),
        ("./etc/ipsec.d/certs/", "drwxr-xr-x"),
        ("./etc/ipsec.d/crls/", "drwxr-xr-x"),
        ("./usr/share/man/man8/iked.8.gz", "-rw-r--r--"),
        ("./usr/share/man/man8/ikectl.8.gz", "-rw-r--r--"),
        ("./usr/share/man/man8/ikectl-status.8.gz", "-rw-r--r--"),
        ("./usr/share/man/man8/ipsec.8.gz", "-rw-r--r--"),
        (
            "./usr/share/bash-completion/completions/ikectl",
            "-rw-r--r--",
        ),
        ("./usr/share/zsh/vendor-completions/_ikectl", "-rw-r--r--"),
        (
            "./usr/share/fish/vendor_completions.d/ikectl.fish",
            "-rw-r--r--",
        ),
        ("./usr/share/doc/iked/copyright", "-rw-r--r--"),
        ("./usr/share/doc/iked/changelog.Debian.gz", "-rw-r--r--"),
    ] {
        assert_eq!(
            entry(path),
            (mode.to_owned(), "root/root".to_owned()),
            "{path}"
        );
    }
    assert!(
        !listing.contains("iked-gen-docs"),
        "the generator is not shipped"
    );

    // Control: dependencies found by dpkg-shlibdeps, strongSwan's daemons out.
    let field = |f: &str| run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    assert!(
        field("Depends").contains("libc6 (>="),
        "{}",
        field("Depends")
    );
    let conflicts = field("Conflicts");
    for p in ["strongswan-starter", "charon-systemd"] {
        assert!(conflicts.contains(p), "{conflicts}");
    }
    assert!(field("Replaces").contains("strongswan-starter"));

    // Conffiles and maintainer scripts.
    let ctl = out.join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctl));
    assert_eq!(
        std::fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/ipsec.conf\n/etc/ipsec.secrets\n"
    );
    use std::os::unix::fs::PermissionsExt;
    for s in ["postinst", "prerm", "postrm"] {
        let m = std::fs::metadata(ctl.join(s)).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o755, "{s}");
        run(Command::new("sh").arg("-n").arg(ctl.join(s)));
    }

    // The man pages come from the clap definitions: iked's options are there.
    let root = out.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let page = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man8/iked.8.gz")));
    for want in [
        ".TH iked 8",
        "check\\-config",
        "strongswan\\-conf",
        "IPSEC.CONF DIFFERENCES",
    ] {
        assert!(page.contains(want), "{want} not in iked.8:\n{page}");
    }
    let ctl_page = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man8/ikectl.8.gz")));
    assert!(ctl_page.contains("statusall"), "{ctl_page}");
    // The unit as shipped is the repository's.
    assert_eq!(
        std::fs::read(root.join("lib/systemd/system/iked.service")).unwrap(),
        std::fs::read(repo.join("packaging/systemd/iked.service")).unwrap()
    );

    if have("lintian") {
        let o = Command::new("lintian")
            .args(["--fail-on", "error,warning"])
            .arg(&deb)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "lintian:\n{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("W:") || l.starts_with("E:")),
            "{text}"
        );
    } else {
        eprintln!("lintian not installed: lintian not run");
    }
    std::fs::remove_dir_all(&out).unwrap();
}
