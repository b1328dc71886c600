//! The scenario list. A scenario is a function that builds its topology,
//! starts its peers, establishes its tunnel and proves it (or, for the
//! negative ones, proves that a broken tunnel fails the check). Host
//! scenarios run on any kernel (ESP in userspace via strongSwan's
//! kernel-libipsec); guest scenarios need a kernel with ESP, VTI and XFRM
//! interfaces and run in the QEMU guest ([`crate::guest`]).
//!
//! To add one: write a `fn(&Ctx) -> Result<String>` (usually a call of
//! [`tunnel`] with a [`Tunnel`] and two [`PeerKind`]s) and list it in [`all`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::check::{self, prove_tunnel};
use crate::peer::{self, Peer, PeerKind, Tunnel};
use crate::topology::{Family, Plumbing, Side, Topology, require_root};
use crate::{Result, lab_err, write_file};

/// Where a scenario can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Any Linux kernel with namespaces (ESP in userspace or none needed).
    Host,
    /// Needs kernel ESP/VTI/XFRM interfaces: the QEMU guest.
    Guest,
}

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Short unique name.
    pub name: &'static str,
    /// Host or guest.
    pub place: Place,
    /// One line: what it proves.
    pub about: &'static str,
    /// Part of the default host/guest suites (test-all.sh); `false`: run on
    /// demand only (`interop-lab run|guest NAME`).
    pub suite: bool,
    pub(crate) run: fn(&Ctx) -> Result<String>,
}

/// What a scenario gets: its own folder for configs, logs and its report.
#[derive(Debug)]
pub struct Ctx {
    /// The scenario's folder.
    pub dir: PathBuf,
}

impl Ctx {
    /// Folder of one side's peer.
    pub fn peer_dir(&self, side: Side) -> PathBuf {
        self.dir.join(side.as_str())
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario name.
    pub name: String,
    /// Did it pass.
    pub pass: bool,
    /// One line: evidence or the failure.
    pub detail: String,
    /// Wall time.
    pub secs: f64,
    /// Its folder (report.txt and the peers' logs).
    pub dir: PathBuf,
}

impl Outcome {
    /// `RESULT name PASS|FAIL 1.23s detail` (one line).
    pub fn line(&self) -> String {
        format!(
            "RESULT {} {} {:.2}s {}",
            self.name,
            if self.pass { "PASS" } else { "FAIL" },
            self.secs,
            self.detail.replace('\n', " | ")
        )
    }
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    use Place::*;
    let mut v = vec![
        Scenario {
            name: "host-libipsec-gcm",
            place: Host,
            suite: true,
            about: "strongSwan<->strongSwan (swanctl), AES-GCM, ESP in userspace (kernel-libipsec)",
            run: |c| {
                tunnel(
                    c,
                    &Tunnel {
                        libipsec: true,
                        ..Tunnel::gcm()
                    },
                    PeerKind::Swanctl,
                    PeerKind::Swanctl,
                )
            },
        },
        Scenario {
            name: "host-libipsec-cbc",
            place: Host,
            suite: true,
            about: "strongSwan<->strongSwan (swanctl), AES-CBC + HMAC-SHA-256, kernel-libipsec",
            run: |c| tunnel(c, &cbc(true), PeerKind::Swanctl, PeerKind::Swanctl),
        },
        Scenario {
            name: "host-starter-libipsec",
            place: Host,
            suite: true,
            about: "strongSwan from a literal ipsec.conf on both sides (ipsec start), kernel-libipsec",
            run: |c| {
                tunnel(
                    c,
                    &Tunnel {
                        libipsec: true,
                        ..Tunnel::gcm()
                    },
                    PeerKind::Starter,
                    PeerKind::Starter,
                )
            },
        },
        Scenario {
            name: "host-neg-wrong-psk",
            place: Host,
            suite: true,
            about: "negative: mismatched PSKs must fail the check",
            run: neg_wrong_psk,
        },
        Scenario {
            name: "host-neg-cleartext",
            place: Host,
            suite: true,
            about: "negative: tunnel up but traffic routed around it (pings pass in clear) must fail",
            run: neg_cleartext,
        },
        Scenario {
            name: "host-iked-check-config",
            place: Host,
            suite: true,
            about: "iked --check-config accepts the lab's ipsec.conf (the one strongSwan runs)",
            run: iked_check_config,
        },
        Scenario {
            name: "gcm",
            place: Guest,
            suite: true,
            about: "strongSwan<->strongSwan policy-based, AES-GCM-128, kernel ESP",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Swanctl, PeerKind::Swanctl),
        },
        Scenario {
            name: "cbc",
            place: Guest,
            suite: true,
            about: "strongSwan<->strongSwan policy-based, AES-CBC-128 + HMAC-SHA-256, kernel ESP",
            run: |c| tunnel(c, &cbc(false), PeerKind::Swanctl, PeerKind::Swanctl),
        },
        Scenario {
            name: "vti",
            place: Guest,
            suite: true,
            about: "strongSwan<->strongSwan route-based over VTI (key/mark 6)",
            run: |c| {
                tunnel(
                    c,
                    &Tunnel {
                        plumbing: Plumbing::Vti(6),
                        ..Tunnel::gcm()
                    },
                    PeerKind::Swanctl,
                    PeerKind::Swanctl,
                )
            },
        },
        Scenario {
            name: "xfrmi",
            place: Guest,
            suite: true,
            about: "strongSwan<->strongSwan route-based over an XFRM interface (if_id 42)",
            run: |c| {
                tunnel(
                    c,
                    &Tunnel {
                        plumbing: Plumbing::Xfrmi(42),
                        ..Tunnel::gcm()
                    },
                    PeerKind::Swanctl,
                    PeerKind::Swanctl,
                )
            },
        },
        Scenario {
            name: "ipv6",
            place: Guest,
            suite: true,
            about: "strongSwan<->strongSwan policy-based over IPv6 (2001:db8::/32), AES-GCM",
            run: |c| {
                tunnel(
                    c,
                    &Tunnel {
                        family: Family::V6,
                        ..Tunnel::gcm()
                    },
                    PeerKind::Swanctl,
                    PeerKind::Swanctl,
                )
            },
        },
        Scenario {
            name: "libreswan",
            place: Guest,
            suite: true,
            about: "strongSwan (initiator) <-> libreswan pluto, AES-GCM, kernel ESP",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Swanctl, PeerKind::Libreswan),
        },
        Scenario {
            name: "starter",
            place: Guest,
            suite: true,
            about: "the demo: strongSwan from one literal ipsec.conf on both sides, `ipsec status`, kernel ESP",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Starter, PeerKind::Starter),
        },
        // iked's daemon against real strongSwan, both roles, in the default suite.
        Scenario {
            name: "iked-swanctl",
            place: Guest,
            suite: true,
            about: "iked (initiator, from ipsec.conf) <-> strongSwan (swanctl), AES-GCM, kernel ESP",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Iked, PeerKind::Swanctl),
        },
        Scenario {
            name: "iked-starter",
            place: Guest,
            suite: true,
            about: "the demo with iked: iked (left) <-> strongSwan starter (right), one literal ipsec.conf",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Iked, PeerKind::Starter),
        },
        Scenario {
            name: "iked-responder-cbc",
            place: Guest,
            suite: true,
            about: "strongSwan (swanctl, initiator) -> iked (responder), AES-256-CBC + HMAC-SHA-256, MODP2048, kernel ESP",
            run: |c| {
                let t = Tunnel {
                    ike: "aes256-sha256-modp2048".into(),
                    esp: "aes256-sha256-modp2048".into(),
                    ..Tunnel::gcm()
                };
                tunnel(c, &t, PeerKind::Swanctl, PeerKind::Iked)
            },
        },
        // iked against libreswan's pluto, both roles, in the default suite.
        Scenario {
            name: "iked-libreswan",
            place: Guest,
            suite: true,
            about: "iked (initiator, from ipsec.conf) <-> libreswan pluto (responder), AES-GCM-128, X25519, kernel ESP",
            run: |c| tunnel(c, &Tunnel::gcm(), PeerKind::Iked, PeerKind::Libreswan),
        },
        Scenario {
            name: "libreswan-iked",
            place: Guest,
            suite: true,
            about: "libreswan pluto (initiator) -> iked (responder), AES-128-CBC + HMAC-SHA-256, MODP2048, kernel ESP",
            run: |c| {
                let t = Tunnel {
                    ike: "aes128-sha256-modp2048".into(),
                    esp: "aes128-sha256-modp2048".into(),
                    ..Tunnel::gcm()
                };
                tunnel(c, &t, PeerKind::Libreswan, PeerKind::Iked)
            },
        },
        Scenario {
            name: "neg-no-sa",
            place: Guest,
            suite: true,
            about: "negative: tunnel up, then kernel SAs/policies flushed (pings pass in clear) must fail",
            run: neg_no_sa,
        },
    ];
    // iked's daemon lab right after the host scenarios: its long scenarios
    // start first in the guest
    let guest_at = v.iter().position(|s| s.place == Guest).unwrap_or(v.len());
    v.splice(guest_at..guest_at, crate::daemon_lab::all());
    v
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// Names of the default-suite scenarios at `place`.
pub fn names(place: Place) -> Vec<&'static str> {
    all()
        .into_iter()
        .filter(|s| s.place == place && s.suite)
        .map(|s| s.name)
        .collect()
}

fn cbc(libipsec: bool) -> Tunnel {
    Tunnel {
        ike: "aes128-sha256-x25519".into(),
        esp: "aes128-sha256-x25519".into(),
        libipsec,
        ..Tunnel::gcm()
    }
}

impl Scenario {
    /// Runs it with its folder `root/NAME` (recreated); never panics.
    pub fn run(&self, root: &Path) -> Outcome {
        let dir = root.join(self.name);
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        let r = crate::make_dir(&dir)
            .and_then(|_| require_root())
            .and_then(|_| {
                let ctx = Ctx { dir: dir.clone() };
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.run)(&ctx)))
                    .unwrap_or_else(|p| {
                        Err(lab_err!(
                            "panicked: {}",
                            p.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default()
                        ))
                    })
            });
        let secs = t.elapsed().as_secs_f64();
        let (pass, detail) = match r {
            Ok(d) => (true, d),
            Err(e) => (false, e.to_string()),
        };
        let _ = write_file(
            &dir.join("result.txt"),
            &format!("{}\n{}\n", if pass { "PASS" } else { "FAIL" }, detail),
        );
        Outcome {
            name: self.name.to_owned(),
            pass,
            detail,
            secs,
            dir,
        }
    }
}

/// The generic tunnel scenario: topology, `left` initiates to `right`, and
/// [`prove_tunnel`] with 3 pings. Writes `report.txt` (peers, status of both
/// sides, kernel state) into the scenario's folder.
pub fn tunnel(ctx: &Ctx, t: &Tunnel, left: PeerKind, right: PeerKind) -> Result<String> {
    tunnel_then(ctx, t, left, right, |_, _, _| Ok(String::new()))
}

/// [`tunnel`], then `after` on the proven tunnel (before the peers stop); its
/// answer joins the evidence.
pub fn tunnel_then(
    ctx: &Ctx,
    t: &Tunnel,
    left: PeerKind,
    right: PeerKind,
    after: impl Fn(&Topology, &mut dyn Peer, &mut dyn Peer) -> Result<String>,
) -> Result<String> {
    let (ev, setup, labels, phases, extra) =
        establish_and_prove(ctx, t, left, right, |_, _, _| Ok(()), after)?;
    let extra = if extra.is_empty() {
        extra
    } else {
        format!("; {extra}")
    };
    Ok(format!(
        "{labels}; {ev}{extra}; IKE+CHILD up in {setup:.2}s; phases: {phases}"
    ))
}

type Hook<'a> = dyn Fn(&Topology, &mut dyn Peer, &mut dyn Peer) -> Result<()> + 'a;
type After<'a> = dyn Fn(&Topology, &mut dyn Peer, &mut dyn Peer) -> Result<String> + 'a;

fn establish_and_prove(
    ctx: &Ctx,
    t: &Tunnel,
    left: PeerKind,
    right: PeerKind,
    before_check: impl Fn(&Topology, &mut dyn Peer, &mut dyn Peer) -> Result<()>,
    after_check: impl Fn(&Topology, &mut dyn Peer, &mut dyn Peer) -> Result<String>,
) -> Result<(check::Evidence, f64, String, String, String)> {
    let hook: &Hook<'_> = &before_check;
    let after: &After<'_> = &after_check;
    let t_start = Instant::now();
    let mut phases: Vec<String> = Vec::new();
    let mut mark = |what: &str| {
        phases.push(format!("{what} {:.2}s", t_start.elapsed().as_secs_f64()));
        phases.join(", ")
    };
    let topo = Topology::new()?;
    topo.plumb(t.plumbing)?;
    mark("topology");
    let mut report = String::new();
    // both daemons start at once (each start is seconds under QEMU TCG)
    let (ld, rd) = (ctx.peer_dir(Side::Left), ctx.peer_dir(Side::Right));
    let (l, r) = std::thread::scope(|s| {
        let lh = s.spawn(|| peer::start(left, &topo, Side::Left, t, &ld));
        let rh = s.spawn(|| peer::start(right, &topo, Side::Right, t, &rd));
        (
            lh.join()
                .unwrap_or_else(|_| Err(lab_err!("left peer start panicked"))),
            rh.join()
                .unwrap_or_else(|_| Err(lab_err!("right peer start panicked"))),
        )
    });
    let (mut l, mut r) = (l?, r?);
    mark("peers up");
    let labels = format!("left: {}, right: {}", l.label(), r.label());
    let _ = writeln!(
        report,
        "topology {} ({:?}, {:?})\n{labels}",
        topo.id(),
        t.family,
        t.plumbing
    );
    let t0 = Instant::now();
    let init = l.initiate(Duration::from_secs(30));
    let setup = t0.elapsed().as_secs_f64();
    mark("initiated");
    let result = init.and_then(|msg| {
        let _ = writeln!(report, "initiate: {msg} ({setup:.2}s)");
        hook(&topo, &mut *l, &mut *r)?;
        let ev = prove_tunnel(&topo, t, &mut *l, &mut *r, 3)?;
        let extra = after(&topo, &mut *l, &mut *r)?;
        Ok((ev, extra))
    });
    mark("checked");
    match &result {
        Ok((ev, extra)) => {
            let _ = writeln!(report, "PROVEN: {ev}\n{extra}\n{}", ev.detail);
        }
        Err(e) => {
            let _ = writeln!(report, "FAILED: {e}");
            for p in [&mut l, &mut r] {
                let _ = writeln!(
                    report,
                    "--- {} log tail ({})\n{}",
                    p.label(),
                    p.log().display(),
                    crate::cmd::tail(&p.log(), 25)
                );
            }
        }
    }
    std::thread::scope(|s| {
        s.spawn(|| l.stop());
        s.spawn(|| r.stop());
    });
    drop(topo);
    let phases = mark("stopped+cleaned");
    let _ = writeln!(report, "phases (cumulative): {phases}");
    write_file(&ctx.dir.join("report.txt"), &report)?;
    let (ev, extra) = result?;
    Ok((ev, setup, labels, phases, extra))
}

fn neg_wrong_psk(ctx: &Ctx) -> Result<String> {
    let t = Tunnel {
        psk_right: "a-different-psk-9876543210".into(),
        libipsec: true,
        ..Tunnel::gcm()
    };
    match tunnel(ctx, &t, PeerKind::Swanctl, PeerKind::Swanctl) {
        Ok(ev) => Err(lab_err!(
            "a tunnel with mismatched PSKs passed the check: {ev}"
        )),
        Err(e) => {
            // it must fail for the right reason: the responder rejected our AUTH
            let init = std::fs::read_to_string(ctx.peer_dir(Side::Left).join("initiate.txt"))
                .unwrap_or_default();
            if init.contains("AUTHENTICATION_FAILED") {
                Ok(format!(
                    "failed as it must (initiator received AUTHENTICATION_FAILED): {}",
                    first_line(&e.to_string())
                ))
            } else {
                Err(lab_err!("failed, but not with AUTHENTICATION_FAILED: {e}"))
            }
        }
    }
}

fn neg_cleartext(ctx: &Ctx) -> Result<String> {
    let t = Tunnel {
        libipsec: true,
        ..Tunnel::gcm()
    };
    // kernel-libipsec routes the tunnel through TUN in table 220: removing
    // those routes sends the pings in clear text through the veth, while both
    // peers still show the CHILD_SA INSTALLED.
    let r = establish_and_prove(
        ctx,
        &t,
        PeerKind::Swanctl,
        PeerKind::Swanctl,
        |topo, _, _| {
            for h in [&topo.left, &topo.right] {
                topo.ip(h, &["route", "flush", "table", "220"])?;
            }
            Ok(())
        },
        |_, _, _| Ok(String::new()),
    );
    match r {
        Ok((ev, ..)) => Err(lab_err!("clear-text pings passed the check: {ev}")),
        Err(e) if e.to_string().contains("did not all cross the SAs") => {
            Ok(format!("failed as it must: {e}"))
        }
        Err(e) => Err(lab_err!("failed, but not at the counter check: {e}")),
    }
}

fn neg_no_sa(ctx: &Ctx) -> Result<String> {
    let r = establish_and_prove(
        ctx,
        &Tunnel::gcm(),
        PeerKind::Swanctl,
        PeerKind::Swanctl,
        |topo, _, _| {
            for h in [&topo.left, &topo.right] {
                topo.ip(h, &["xfrm", "state", "flush"])?;
                topo.ip(h, &["xfrm", "policy", "flush"])?;
            }
            let (received, ping) = topo.ping(Family::V4, 3)?;
            if received != 3 {
                return Err(lab_err!(
                    "setup: the clear-text ping should pass without SAs: {ping}"
                ));
            }
            Ok(())
        },
        |_, _, _| Ok(String::new()),
    );
    match r {
        Ok((ev, ..)) => Err(lab_err!("pings without SAs passed the check: {ev}")),
        Err(e) if e.to_string().contains("no inbound ESP SA") => Ok(format!(
            "clear-text ping 3/3, and the check failed as it must: {}",
            first_line(&e.to_string())
        )),
        Err(e) => Err(lab_err!("failed, but not at the SA check: {e}")),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn iked_check_config(ctx: &Ctx) -> Result<String> {
    let topo = Topology::new()?;
    let t = Tunnel::gcm();
    let conf = ctx.dir.join("ipsec.conf");
    let secrets = ctx.dir.join("ipsec.secrets");
    write_file(&conf, &t.ipsec_conf(&topo))?;
    write_file(&secrets, &t.ipsec_secrets(Side::Left))?;
    let _ = std::fs::set_permissions(
        &secrets,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    );
    let out = peer::Iked::check_config(&conf, &secrets)?;
    Ok(format!(
        "iked --check-config: {}",
        out.trim().replace('\n', "; ")
    ))
}
