//! The example of `interop-tests/README.md` ("Adding a scenario"), compiled
//! with the tests; a test keeps the README's text identical to it.

// README-BEGIN
use std::time::Duration;

use super::{children, empty, guest, packets_in, start_ikeds, status};
use crate::Result;
use crate::ipsec_conf::{Conn, IpsecConf, psk_secrets};
use crate::probe::{PingSpec, Why, kernel, ping};
use crate::scenario::{Ctx, Scenario};
use crate::topology::{Family, Side, Topology};

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![guest(
        "iked-natt-example",
        "iked<->iked forceencaps: ESP in UDP 4500/4500 in iked's status and both kernels",
        natt_example,
    )]
}

fn natt_example(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?; // two namespaces, removed on drop
    let conn = Conn::net2net(
        "net-net",
        &topo,
        Family::V4,
        Family::V4,
        "aes128gcm16-prfsha256-x25519!",
        "aes128gcm16!",
    )
    .set("forceencaps", "yes");
    let conf = IpsecConf::new().conn(conn).render(); // one file: each iked finds its end
    let secrets = psk_secrets("example-psk-0123456789");
    let mut ds = start_ikeds(
        ctx,
        &topo,
        &[
            (Side::Left, &conf, &secrets),
            (Side::Right, &conf, &secrets),
        ],
    )?;
    let (lh, rh) = (&topo.left, &topo.right);
    let mut why = Why::default(); // collects every failed check
    why.ok("ikectl up", ds[0].up("net-net"));
    let p = why.ok(
        "ping",
        ping(&topo, lh, lh.inner4, rh.inner4, PingSpec::n(3)),
    );
    why.check(p.is_some_and(|p| p.all()), || "ping failed".into());
    for (i, side) in [Side::Left, Side::Right].into_iter().enumerate() {
        // iked's own status type (ikectl statusall --json), with kernel counters
        if let Some(rep) = status(&mut why, &mut ds[i], side) {
            why.check(packets_in(&rep, "net-net") >= 3, || {
                format!("{side:?}: fewer than 3 packets in")
            });
            why.check(children(&rep, "net-net").iter().all(|c| c.encap), || {
                format!("{side:?}: not ESP in UDP")
            });
        }
        let sas = why
            .ok("kernel", kernel(&topo, topo.host(side)))
            .map(|k| k.0);
        why.check(
            sas.is_some_and(|s| s.len() == 2 && s.iter().all(|s| s.encap == Some((4500, 4500)))),
            || format!("{side:?}: SAs not UDP-encapsulated 4500/4500"),
        );
    }
    why.ok("ikectl down", ds[0].down("net-net"));
    empty(&mut why, &topo, lh, "after down", Duration::from_secs(5));
    empty(&mut why, &topo, rh, "after down", Duration::from_secs(5));
    why.done(
        &ctx.dir,
        "ping 3/3, ESP in UDP 4500/4500 on both, down empties both kernels".into(),
    )
}
// README-END

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_shows_this_example() {
        let src = include_str!("readme_example.rs");
        let readme = include_str!("../../README.md");
        let begin = src.find("// README-BEGIN\n").map(|i| i + 16);
        let end = src.find("// README-END");
        let (Some(b), Some(e)) = (begin, end) else {
            panic!("markers missing");
        };
        assert!(
            readme.contains(&src[b..e]),
            "interop-tests/README.md must show src/daemon_lab/readme_example.rs between its markers, verbatim"
        );
    }

    #[test]
    fn the_example_is_a_guest_scenario() {
        let s = super::scenarios();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "iked-natt-example");
        assert_eq!(s[0].place, crate::scenario::Place::Guest);
    }
}
