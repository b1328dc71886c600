//! strongSwan's testing network, as network namespaces inside the guest:
//! one namespace per host with its interfaces named and addressed as in
//! `hosts/<host>/etc/network/interfaces` (eth0, eth1), a "switch" namespace
//! holding one bridge per network (192.168.0.0/24, 10.1.0.0/16,
//! 10.2.0.0/16), each host's interface a veth pair whose other end is a
//! bridge port, default routes as in the interfaces files, forwarding on as
//! the hosts' sysctl.d sets it. These addresses exist only inside the QEMU
//! guest (the switch has no address and no link out).
//!
//! Every name carries the run's id; [`Net::drop`] deletes the namespaces.

use std::time::Duration;

use crate::cmd::{run, run_input};
use crate::{Result, lab_err};

/// The networks: (bridge name, IPv4 prefix length, IPv6 prefix length).
const NETS: &[(&str, u8, u8)] = &[("br0", 24, 16), ("br1", 16, 16), ("br2", 16, 16)];

/// One interface of a host: (name, network index into [`NETS`], IPv4, IPv6).
type Iface = (&'static str, usize, &'static str, &'static str);

/// A host of the testing network: its interfaces and its default gateway.
#[derive(Debug, Clone, Copy)]
pub struct HostSpec {
    /// Host name (moon, sun, ...).
    pub name: &'static str,
    /// Its interfaces ("auto" ones only: alice's eth1 is not up by default).
    pub ifaces: &'static [Iface],
    /// The default gateway of its interfaces file.
    pub gateway: &'static str,
}

/// The hosts, as strongSwan's `hosts/*/etc/network/interfaces` define them.
pub const HOSTS: &[HostSpec] = &[
    HostSpec {
        name: "moon",
        ifaces: &[
            ("eth0", 0, "192.168.0.1", "fec0::1"),
            ("eth1", 1, "10.1.0.1", "fec1::1"),
        ],
        gateway: "192.168.0.254",
    },
    HostSpec {
        name: "sun",
        ifaces: &[
            ("eth0", 0, "192.168.0.2", "fec0::2"),
            ("eth1", 2, "10.2.0.1", "fec2::1"),
        ],
        gateway: "192.168.0.254",
    },
    HostSpec {
        name: "carol",
        ifaces: &[("eth0", 0, "192.168.0.100", "fec0::10")],
        gateway: "192.168.0.254",
    },
    HostSpec {
        name: "dave",
        ifaces: &[("eth0", 0, "192.168.0.200", "fec0::20")],
        gateway: "192.168.0.254",
    },
    HostSpec {
        name: "winnetou",
        ifaces: &[("eth0", 0, "192.168.0.150", "fec0::15")],
        gateway: "192.168.0.254",
    },
    HostSpec {
        name: "alice",
        ifaces: &[("eth0", 1, "10.1.0.10", "fec1::10")],
        gateway: "10.1.0.1",
    },
    HostSpec {
        name: "venus",
        ifaces: &[("eth0", 1, "10.1.0.20", "fec1::20")],
        gateway: "10.1.0.1",
    },
    HostSpec {
        name: "bob",
        ifaces: &[("eth0", 2, "10.2.0.10", "fec2::10")],
        gateway: "10.2.0.1",
    },
];

/// The spec of host `name`.
pub fn spec(name: &str) -> Option<&'static HostSpec> {
    HOSTS.iter().find(|h| h.name == name)
}

/// The namespaces of one run.
#[derive(Debug)]
pub struct Net {
    /// The switch namespace (bridges).
    pub switch: String,
    /// (host, its network namespace).
    pub hosts: Vec<(String, String)>,
}

const T: Duration = Duration::from_secs(30);

fn ip_batch(ns: Option<&str>, script: &str) -> Result<()> {
    let mut argv = vec!["ip"];
    if let Some(n) = ns {
        argv.extend(["-n", n]);
    }
    argv.extend(["-batch", "-"]);
    run_input(&argv, script, T)?.ok().map(|_| ())
}

fn sysctl(ns: &str, key: &str, val: &str) -> Result<()> {
    run(
        &[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-w",
            &format!("{key}={val}"),
        ],
        T,
    )?
    .ok()
    .map(|_| ())
}

impl Net {
    /// Builds the network for `hosts` (names from [`HOSTS`]); `id` makes
    /// the namespace names unique.
    pub fn build(id: &str, hosts: &[String]) -> Result<Net> {
        let switch = format!("cf{id}-sw");
        let mut net = Net {
            switch: switch.clone(),
            hosts: Vec::new(),
        };
        run(&["ip", "netns", "add", &switch], T)?.ok()?;
        let mut sw = String::new();
        for (br, _, _) in NETS {
            sw.push_str(&format!("link add {br} type bridge\nlink set {br} up\n"));
        }
        ip_batch(Some(&switch), &sw)?;
        for h in hosts {
            let spec = spec(h).ok_or_else(|| lab_err!("unknown test host {h}"))?;
            let ns = format!("cf{id}-{h}");
            run(&["ip", "netns", "add", &ns], T)?.ok()?;
            net.hosts.push((h.clone(), ns.clone()));
            // no DAD: the addresses are usable at once, as on a static setup
            sysctl(&ns, "net.ipv6.conf.default.accept_dad", "0")?;
            sysctl(&ns, "net.ipv6.conf.all.accept_dad", "0")?;
            // forwarding before the links come up: a router sends no router
            // solicitations (they would be noise in the captures)
            sysctl(&ns, "net.ipv4.ip_forward", "1")?;
            sysctl(&ns, "net.ipv6.conf.all.forwarding", "1")?;
            sysctl(&ns, "net.ipv6.conf.default.forwarding", "1")?;
            let mut script = String::new();
            for (i, (ifname, _, _, _)) in spec.ifaces.iter().enumerate() {
                script.push_str(&format!(
                    "link add {ifname} netns {ns} type veth peer name {h}-e{i}\n"
                ));
            }
            ip_batch(Some(&switch), &script)?;
            let mut sw = String::new();
            let mut inside = String::from("link set lo up\n");
            for (i, (ifname, netno, v4, v6)) in spec.ifaces.iter().enumerate() {
                let peer = format!("{h}-e{i}");
                let (br, p4, p6) = NETS[*netno];
                sw.push_str(&format!(
                    "link set {peer} master {br}\nlink set {peer} up\n"
                ));
                inside.push_str(&format!(
                    "link set {ifname} up\naddr add {v4}/{p4} dev {ifname}\naddr add {v6}/{p6} dev {ifname} nodad\n"
                ));
            }
            inside.push_str(&format!("route add default via {}\n", spec.gateway));
            ip_batch(Some(&switch), &sw)?;
            ip_batch(Some(&ns), &inside)?;
        }
        Ok(net)
    }

    /// The network namespace of `host`.
    pub fn ns(&self, host: &str) -> Option<&str> {
        self.hosts
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, n)| n.as_str())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (_, ns) in &self.hosts {
            let _ = run(&["ip", "netns", "del", ns], T);
        }
        let _ = run(&["ip", "netns", "del", &self.switch], T);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_the_placeholders() {
        // every host address is the one the placeholders substitute
        for h in HOSTS {
            let (_, _, v4, v6) = h.ifaces[0];
            let key = h.name.to_ascii_uppercase();
            let (_, pv4, pv6) = super::super::dat::ADDRESSES
                .iter()
                .find(|(n, _, _)| *n == key)
                .expect("placeholder");
            assert_eq!((v4, v6), (*pv4, *pv6), "{}", h.name);
        }
        assert!(spec("moon").is_some() && spec("mars").is_none());
    }
}
