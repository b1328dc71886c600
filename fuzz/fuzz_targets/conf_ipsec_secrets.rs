#![no_main]
//! ipsec.secrets parser: any bytes.

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", "")
        .with("/etc/ipsec.secrets", &text);
    let _ = conf::load_from(&src, Path::new("/etc/ipsec.conf"), Some(Path::new("/etc/ipsec.secrets")));
});
