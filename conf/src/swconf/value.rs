//! strongswan.conf value types (strongswan.conf(5): integers in decimal or
//! `0x` hex, booleans as yes/no, true/false, enabled/disabled, on/off, 1/0,
//! times with an optional s/m/h/d suffix). Each parser returns `Err(message)`;
//! the caller adds file:line:col and the key.

use std::net::IpAddr;
use std::time::Duration;

pub type VResult<T> = Result<T, String>;

pub fn boolean(v: &str) -> VResult<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "enabled" | "on" | "1" => Ok(true),
        "no" | "false" | "disabled" | "off" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not a boolean (yes or no)")),
    }
}

/// A signed integer, decimal or `0x` hex.
pub fn int(v: &str) -> VResult<i64> {
    let t = v.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) if !h.is_empty() => i64::from_str_radix(h, 16),
        _ if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => body.parse(),
        _ => return Err(format!("'{v}' is not a number (decimal or 0x hex)")),
    }
    .map_err(|_| format!("'{v}' is too large"))?;
    Ok(if neg { -n } else { n })
}

/// An integer in `lo..=hi`.
pub fn int_in(v: &str, lo: i64, hi: i64) -> VResult<i64> {
    let n = int(v)?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range ({lo} to {hi})"))
    }
}

pub fn u32_(v: &str) -> VResult<u32> {
    int_in(v, 0, i64::from(u32::MAX)).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A non-negative decimal number (`4.0`, `1.8`, `2`).
pub fn number(v: &str) -> VResult<f64> {
    let t = v.trim();
    let ok = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|&b| b == b'.').count() <= 1
        && t != ".";
    let n: f64 = if ok { t.parse().ok() } else { None }
        .ok_or_else(|| format!("'{v}' is not a non-negative number (e.g. 4.0)"))?;
    if n.is_finite() && n < 1e9 {
        Ok(n)
    } else {
        Err(format!("'{v}' is too large"))
    }
}

/// A time: `20`, `20s`, `5m`, `1h`, `1d` (plain numbers are seconds).
pub fn time(v: &str) -> VResult<Duration> {
    let t = v.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86400),
        _ => (t, 1),
    };
    let n = int(num.trim())
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            format!("'{v}' is not a time (a number with an optional s, m, h or d suffix, e.g. 20s)")
        })?;
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{v}' is too large"))
}

pub fn ip(v: &str) -> VResult<IpAddr> {
    v.trim()
        .parse()
        .map_err(|_| format!("'{v}' is not an IPv4 or IPv6 address"))
}

/// A UDP port iked can bind (1-65535; strongSwan's 0 = "random port" is not
/// supported: peers must know where to send IKE).
pub fn port(v: &str) -> VResult<u16> {
    let n = int(v)?;
    match u16::try_from(n) {
        Ok(0) => Err("port 0 (a random port) is not supported by iked: set a fixed port".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{n} is not a UDP port (1 to 65535)")),
    }
}

/// A log level, -1 (silent) to 4 (private).
pub fn level(v: &str) -> VResult<i8> {
    int_in(v, -1, 4)
        .map(|n| i8::try_from(n).unwrap_or(1))
        .map_err(|e| format!("{e}: a log level is -1 (silent) to 4 (private data)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("disabled"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(int("0x1F"), Ok(31));
        assert_eq!(int("-1"), Ok(-1));
        assert!(int("12abc").is_err());
        assert!(int("0x").is_err());
        assert!(int("").is_err());
        assert_eq!(number("4.0"), Ok(4.0));
        assert_eq!(number("1"), Ok(1.0));
        assert!(number("-1").is_err());
        assert!(number("1.2.3").is_err());
        assert!(number("nan").is_err());
        assert_eq!(time("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(time("30"), Ok(Duration::from_secs(30)));
        assert!(time("-5s").is_err());
        assert!(time("soon").is_err());
        assert_eq!(port("4500"), Ok(4500));
        assert!(port("0").unwrap_err().contains("random port"));
        assert!(port("70000").is_err());
        assert_eq!(level("-1"), Ok(-1));
        assert!(level("5").is_err());
        assert!(ip("192.0.2.1").is_ok() && ip("2001:db8::1").is_ok() && ip("PH_IP_MOON").is_err());
    }
}
