#![no_main]
//! ipsec.conf parser: any bytes, including includes of itself and other files.

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Split the input into a main file and one included file.
    let (main, inc) = text.split_once('\u{0}').unwrap_or((&text, ""));
    let src = conf::MemSource::default()
        .with("/etc/ipsec.conf", main)
        .with("/etc/ipsec.d/x.conf", inc);
    let _ = conf::load_from(&src, Path::new("/etc/ipsec.conf"), None);
});
