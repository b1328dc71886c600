//! `ipsec leases [POOL [ADDRESS]]`: the virtual-IP pools and who holds which
//! address, in strongSwan's format:
//!
//! ```text
//! Leases in pool '10.3.0.0/28', usage: 2/14, 2 online
//!          10.3.0.1   online   'carol@strongswan.org'
//!          10.3.0.2   offline  'dave@strongswan.org'
//! ```

use super::vici::PoolView;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The text for `pools` (every conn's pool once), optionally one pool and
/// one address of it. An unknown pool is an error naming it.
pub fn format(
    pools: &[PoolView],
    pool: Option<&str>,
    addr: Option<IpAddr>,
) -> Result<String, String> {
    if pools.is_empty() {
        return Ok("no pools found\n".into());
    }
    let chosen: Vec<&PoolView> = match pool {
        Some(name) => {
            let p: Vec<&PoolView> = pools.iter().filter(|p| p.name == name).collect();
            if p.is_empty() {
                let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "pool '{name}' not found (pools: {})",
                    known.join(", ")
                ));
            }
            p
        }
        None => pools.iter().collect(),
    };
    let mut out = String::new();
    for p in chosen {
        let _ = writeln!(
            out,
            "Leases in pool '{}', usage: {}/{}, {} online",
            p.name,
            p.online + p.offline,
            p.size,
            p.online
        );
        let mut found = 0;
        for (a, id, online) in p
            .leases
            .iter()
            .filter(|(a, ..)| addr.is_none_or(|x| x == *a))
        {
            found += 1;
            let state = if *online { "online " } else { "offline" };
            let _ = writeln!(out, "  {a:>15}   {state}  '{id}'");
        }
        if found == 0 {
            out.push_str("  no matching leases found\n");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolView {
        PoolView {
            name: "10.3.0.0/28".into(),
            base: "10.3.0.0".parse().unwrap(),
            size: 14,
            online: 1,
            offline: 1,
            leases: vec![
                (
                    "10.3.0.1".parse().unwrap(),
                    "carol@strongswan.org".into(),
                    true,
                ),
                (
                    "10.3.0.2".parse().unwrap(),
                    "dave@strongswan.org".into(),
                    false,
                ),
            ],
        }
    }

    #[test]
    fn every_lease_with_usage() {
        assert_eq!(
            format(&[pool()], None, None).unwrap(),
            "Leases in pool '10.3.0.0/28', usage: 2/14, 1 online\n         10.3.0.1   online   'carol@strongswan.org'\n         10.3.0.2   offline  'dave@strongswan.org'\n"
        );
    }

    #[test]
    fn one_pool_one_address() {
        let t = format(
            &[pool()],
            Some("10.3.0.0/28"),
            Some("10.3.0.2".parse().unwrap()),
        )
        .unwrap();
        assert!(
            t.contains("dave@strongswan.org") && !t.contains("carol"),
            "{t}"
        );
        let t = format(
            &[pool()],
            Some("10.3.0.0/28"),
            Some("10.3.0.9".parse().unwrap()),
        )
        .unwrap();
        assert!(t.ends_with("  no matching leases found\n"), "{t}");
    }

    #[test]
    fn unknown_pools_and_no_pools() {
        assert_eq!(
            format(&[pool()], Some("10.4.0.0/28"), None).unwrap_err(),
            "pool '10.4.0.0/28' not found (pools: 10.3.0.0/28)"
        );
        assert_eq!(format(&[], None, None).unwrap(), "no pools found\n");
    }
}
