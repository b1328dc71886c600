//! Two network namespaces joined by a veth pair, on documentation prefixes.
//!
//! ```text
//!   ns <id>-l                                     ns <id>-r
//!   lo: 198.51.100.1/32, 2001:db8:a::1/128        lo: 203.0.113.1/32, 2001:db8:b::1/128
//!   vl: 192.0.2.1/24, 2001:db8:0:1::1/64  <-veth->  vr: 192.0.2.2/24, 2001:db8:0:1::2/64
//! ```
//!
//! Inner (protected) addresses live on `lo` (the development host's kernel has
//! no dummy driver); each side routes the other's inner prefix through the
//! veth. Everything is removed when the [`Topology`] is dropped, also while a
//! test unwinds from a panic. Names carry the PID and a counter, so parallel
//! runs don't clash; namespaces left behind by a killed run (whose PID is
//! gone) are removed by the next one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cmd::{pid_alive, run, run_ok};
use crate::{Result, lab_err};

const T: Duration = Duration::from_secs(10);
const PREFIX: &str = "ilab";
static SEQ: AtomicU32 = AtomicU32::new(0);

/// Which end of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// 192.0.2.1, protects 198.51.100.0/24 and 2001:db8:a::/64; initiates.
    Left,
    /// 192.0.2.2, protects 203.0.113.0/24 and 2001:db8:b::/64.
    Right,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    /// "left" or "right".
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// Outer and inner address family of a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 outer and inner addresses.
    V4,
    /// IPv6 outer and inner addresses.
    V6,
}

/// One host of the topology: its namespace and addresses.
#[derive(Debug, Clone)]
pub struct Host {
    /// Network namespace name.
    pub ns: String,
    /// The veth device inside `ns`.
    pub dev: &'static str,
    /// Outer IPv4 address (IKE and ESP run here).
    pub outer4: &'static str,
    /// Outer IPv6 address.
    pub outer6: &'static str,
    /// Inner IPv4 address (on `lo`).
    pub inner4: &'static str,
    /// Inner IPv6 address (on `lo`).
    pub inner6: &'static str,
    /// The protected IPv4 prefix.
    pub net4: &'static str,
    /// The protected IPv6 prefix.
    pub net6: &'static str,
    /// IKE identity (FQDN).
    pub id: &'static str,
}

impl Host {
    /// Outer address of `family`.
    pub fn outer(&self, family: Family) -> &'static str {
        match family {
            Family::V4 => self.outer4,
            Family::V6 => self.outer6,
        }
    }

    /// Inner address of `family`.
    pub fn inner(&self, family: Family) -> &'static str {
        match family {
            Family::V4 => self.inner4,
            Family::V6 => self.inner6,
        }
    }

    /// Protected prefix of `family`.
    pub fn net(&self, family: Family) -> &'static str {
        match family {
            Family::V4 => self.net4,
            Family::V6 => self.net6,
        }
    }
}

/// Route-based plumbing for a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plumbing {
    /// Policy-based: the clear routes through the veth stay.
    None,
    /// A VTI device `vti1` with this key (= the SAs' and policies' mark).
    Vti(u32),
    /// An XFRM interface `xfrm1` with this `if_id`.
    Xfrmi(u32),
}

/// Two namespaces and a veth pair; deleted on drop.
#[derive(Debug)]
pub struct Topology {
    /// The initiator's host.
    pub left: Host,
    /// The responder's host.
    pub right: Host,
    id: String,
    /// A namespace between the two (the NAT of [`Topology::with_nat`]).
    middle: Option<String>,
}

impl Topology {
    /// Creates both namespaces, links, addresses and routes.
    pub fn new() -> Result<Topology> {
        Self::new_with(None)
    }

    /// Like [`Topology::new`], running `left_first` (`ip -batch` lines) in
    /// the left namespace before anything else is made there (a device made
    /// then comes first in the kernel's address order).
    pub fn new_with(left_first: Option<&str>) -> Result<Topology> {
        remove_stale();
        let id = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let left = Host {
            ns: format!("{id}-l"),
            dev: "vl",
            outer4: "192.0.2.1",
            outer6: "2001:db8:0:1::1",
            inner4: "198.51.100.1",
            inner6: "2001:db8:a::1",
            net4: "198.51.100.0/24",
            net6: "2001:db8:a::/64",
            id: "left.example.org",
        };
        let right = Host {
            ns: format!("{id}-r"),
            dev: "vr",
            outer4: "192.0.2.2",
            outer6: "2001:db8:0:1::2",
            inner4: "203.0.113.1",
            inner6: "2001:db8:b::1",
            net4: "203.0.113.0/24",
            net6: "2001:db8:b::/64",
            id: "right.example.org",
        };
        // From here on, Drop cleans up whatever was made.
        let topo = Topology {
            left,
            right,
            id,
            middle: None,
        };
        for h in [&topo.left, &topo.right] {
            run_ok(&["ip", "netns", "add", &h.ns], T)?;
        }
        if let Some(batch) = left_first {
            topo.ip_batch(&topo.left, batch)?;
        }
        run_ok(
            &[
                "ip",
                "link",
                "add",
                topo.left.dev,
                "netns",
                &topo.left.ns,
                "type",
                "veth",
                "peer",
                "name",
                topo.right.dev,
                "netns",
                &topo.right.ns,
            ],
            T,
        )?;
        // one `ip -batch` per namespace: every process costs a lot under QEMU TCG
        for (h, o) in [(&topo.left, &topo.right), (&topo.right, &topo.left)] {
            let batch = format!(
                "link set lo up\n\
                 addr add {o4}/24 dev {dev}\n\
                 addr add {o6}/64 dev {dev} nodad\n\
                 link set {dev} up\n\
                 addr add {i4}/32 dev lo\n\
                 addr add {i6}/128 dev lo nodad\n\
                 route add {pn4} via {po4} src {i4}\n\
                 route add {pn6} via {po6} src {i6}\n",
                o4 = h.outer4,
                o6 = h.outer6,
                dev = h.dev,
                i4 = h.inner4,
                i6 = h.inner6,
                pn4 = o.net4,
                po4 = o.outer4,
                pn6 = o.net6,
                po6 = o.outer6,
            );
            topo.ip_batch(h, &batch)?;
        }
        Ok(topo)
    }

    /// A real NAT between the sides: left -- nat (iptables MASQUERADE, UDP
    /// source ports 40000-40099) -- right. left 192.0.2.1/25 (the private
    /// side, default route via the NAT), nat 192.0.2.126/25 and
    /// 192.0.2.129/25, right 192.0.2.130/25 with no route to 192.0.2.0/25: it
    /// sees only the NAT's address. Inner addresses on `lo` as in
    /// [`Topology::new`] (IPv4 only).
    pub fn with_nat() -> Result<Topology> {
        let mut topo = Topology::new()?;
        topo.right.outer4 = "192.0.2.130";
        let nat = format!("{}-n", topo.id);
        topo.middle = Some(nat.clone());
        run_ok(&["ip", "netns", "add", &nat], T)?;
        // the veth pair of `new` goes (and its routes with it)
        run_ok(
            &["ip", "-n", &topo.left.ns, "link", "del", topo.left.dev],
            T,
        )?;
        let (l, r) = (&topo.left, &topo.right);
        for (dev, ns, peer) in [(l.dev, &l.ns, "nl"), (r.dev, &r.ns, "nr")] {
            run_ok(
                &[
                    "ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer,
                    "netns", &nat,
                ],
                T,
            )?;
        }
        topo.ip_batch(
            l,
            "addr add 192.0.2.1/25 dev vl
link set vl up
route add default via 192.0.2.126
             route add 203.0.113.0/24 via 192.0.2.126 src 198.51.100.1
",
        )?;
        topo.ip_batch(
            r,
            "addr add 192.0.2.130/25 dev vr
link set vr up
             route add 198.51.100.0/24 via 192.0.2.129 src 203.0.113.1
",
        )?;
        crate::cmd::run_input(
            &["ip", "-n", &nat, "-batch", "-"],
            "link set lo up
addr add 192.0.2.126/25 dev nl
link set nl up
             addr add 192.0.2.129/25 dev nr
link set nr up
",
            T,
        )?
        .ok()?;
        let x = |argv: &[&str]| -> Result<()> {
            let mut v = vec!["ip", "netns", "exec", nat.as_str()];
            v.extend_from_slice(argv);
            run_ok(&v, T).map(|_| ())
        };
        x(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        x(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "nr",
            "-p",
            "udp",
            "-j",
            "MASQUERADE",
            "--to-ports",
            "40000-40099",
        ])?;
        x(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "nr",
            "-j",
            "MASQUERADE",
        ])?;
        Ok(topo)
    }

    /// A third namespace beside the right host (`<id>-f`, deleted with the
    /// topology): veth `flf` with 203.0.113.130/26 and the extra addresses
    /// 203.0.113.131-190 (an attacker's many sources), `vf` 203.0.113.129/26
    /// on the right host, the default route through it. Returns its name.
    pub fn add_flooder(&mut self) -> Result<String> {
        if self.middle.is_some() {
            return Err(crate::lab_err!(
                "the topology has a third namespace already"
            ));
        }
        let ns = format!("{}-f", self.id);
        run_ok(&["ip", "netns", "add", &ns], T)?;
        self.middle = Some(ns.clone());
        run_ok(
            &[
                "ip",
                "link",
                "add",
                "name",
                "flr",
                "netns",
                &self.right.ns,
                "type",
                "veth",
                "peer",
                "name",
                "flf",
                "netns",
                &ns,
            ],
            T,
        )?;
        self.ip_batch(
            &self.right,
            "addr add 203.0.113.129/26 dev flr\nlink set flr up\n",
        )?;
        let mut batch = String::from("link set lo up\naddr add 203.0.113.130/26 dev flf\n");
        for d in 131..=190 {
            batch.push_str(&format!("addr add 203.0.113.{d}/26 dev flf\n"));
        }
        batch.push_str("link set flf up\nroute add default via 203.0.113.129\n");
        crate::cmd::run_input(&["ip", "-n", &ns, "-batch", "-"], &batch, T)?.ok()?;
        Ok(ns)
    }

    /// The namespace between the sides (the NAT), if any.
    pub fn middle(&self) -> Option<&str> {
        self.middle.as_deref()
    }

    /// A short folder for one side's sockets (unix socket paths are limited
    /// to 108 bytes, and a guest's results folder is a 9p share); removed
    /// with the topology.
    pub fn run_dir(&self, side: Side) -> Result<std::path::PathBuf> {
        let d = self.run_dir_path(side);
        crate::make_dir(&d)?;
        Ok(d)
    }

    fn run_dir_path(&self, side: Side) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/tmp/{}-{}", self.id, side.as_str()))
    }

    /// The unique prefix of this topology's names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host on `side`.
    pub fn host(&self, side: Side) -> &Host {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// `ip -n NS ARGS...`, exit status 0 required; returns stdout.
    pub fn ip(&self, h: &Host, args: &[&str]) -> Result<String> {
        let mut argv = vec!["ip", "-n", h.ns.as_str()];
        argv.extend_from_slice(args);
        run_ok(&argv, T)
    }

    /// `ip -n NS -batch -` with `commands` (one per line), all must succeed.
    pub fn ip_batch(&self, h: &Host, commands: &str) -> Result<()> {
        crate::cmd::run_input(&["ip", "-n", h.ns.as_str(), "-batch", "-"], commands, T)?
            .ok()
            .map(|_| ())
    }

    /// `ip netns exec NS ARGV...` with a time bound.
    pub fn exec(&self, h: &Host, argv: &[&str], timeout: Duration) -> Result<crate::cmd::Output> {
        let mut v = vec!["ip", "netns", "exec", h.ns.as_str()];
        v.extend_from_slice(argv);
        run(&v, timeout)
    }

    /// Adds a VTI or XFRM interface on both sides and routes the other
    /// side's inner prefixes through it (needs a kernel with those drivers).
    pub fn plumb(&self, p: Plumbing) -> Result<()> {
        for (h, o) in [(&self.left, &self.right), (&self.right, &self.left)] {
            let (dev, add) = match p {
                Plumbing::None => return Ok(()),
                Plumbing::Vti(key) => (
                    "vti1",
                    format!(
                        "link add vti1 type vti local {} remote {} key {key}",
                        h.outer4, o.outer4
                    ),
                ),
                Plumbing::Xfrmi(if_id) => (
                    "xfrm1",
                    format!("link add xfrm1 type xfrm dev {} if_id {if_id}", h.dev),
                ),
            };
            self.ip_batch(
                h,
                &format!(
                    "{add}\nlink set {dev} up\nroute replace {} dev {dev} src {}\n",
                    o.net4, h.inner4
                ),
            )?;
            if dev == "vti1" {
                self.exec(
                    h,
                    &["sysctl", "-qw", "net.ipv4.conf.vti1.disable_policy=1"],
                    T,
                )?
                .ok()?;
            }
        }
        Ok(())
    }

    /// Pings the right side's inner address from the left's, `count` times
    /// (0.2 s apart, 2 s wait each); returns how many replies came back.
    pub fn ping(&self, family: Family, count: u32) -> Result<(u32, String)> {
        let c = count.to_string();
        let fam = match family {
            Family::V4 => "-4",
            Family::V6 => "-6",
        };
        let out = self.exec(
            &self.left,
            &[
                "ping",
                fam,
                "-c",
                &c,
                "-i",
                "0.2",
                "-W",
                "2",
                "-I",
                self.left.inner(family),
                self.right.inner(family),
            ],
            Duration::from_secs(5 + 3 * u64::from(count)),
        )?;
        let summary = out
            .stdout
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("")
            .to_owned();
        let received = summary
            .split(',')
            .find_map(|p| p.trim().strip_suffix(" received"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        Ok((received, summary))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for h in [&self.left, &self.right] {
            let _ = run(&["ip", "netns", "del", &h.ns], T);
        }
        if let Some(m) = &self.middle {
            let _ = run(&["ip", "netns", "del", m], T);
        }
        for side in [Side::Left, Side::Right] {
            let _ = std::fs::remove_dir_all(self.run_dir_path(side));
        }
    }
}

/// Deletes `ilab-<pid>-*` namespaces whose PID no longer exists.
fn remove_stale() {
    let Ok(list) = run_ok(&["ip", "netns", "list"], T) else {
        return;
    };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let mut parts = name.splitn(3, '-');
        if parts.next() != Some(PREFIX) {
            continue;
        }
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            let _ = run(&["ip", "netns", "del", name], T);
        }
    }
}

/// Does the running kernel have ESP (tunnel-mode AES-GCM SAs)? Tried in a
/// throw-away namespace. `Err` carries the kernel's answer when it does not.
pub fn kernel_has_esp() -> std::result::Result<(), String> {
    let ns = format!(
        "{PREFIX}-{}-{}-esp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    run_ok(&["ip", "netns", "add", &ns], T).map_err(|e| e.to_string())?;
    let _ = run(&["modprobe", "-q", "esp4"], T);
    let r = run(
        &[
            "ip",
            "-n",
            &ns,
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x1000",
            "mode",
            "tunnel",
            "aead",
            "rfc4106(gcm(aes))",
            "0x0102030405060708090a0b0c0d0e0f1011121314",
            "128",
        ],
        T,
    );
    let _ = run(&["ip", "netns", "del", &ns], T);
    match r {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(o.stderr.trim().to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Fails with a clear message unless the lab can make namespaces here.
pub fn require_root() -> Result<()> {
    if crate::is_root() {
        Ok(())
    } else {
        Err(lab_err!(
            "the lab needs root (network namespaces, XFRM); run as root, e.g. ./scripts/test-all.sh"
        ))
    }
}
