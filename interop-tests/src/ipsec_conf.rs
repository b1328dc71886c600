//! The one builder for the literal `ipsec.conf` / `ipsec.secrets` files the
//! daemon-lab scenarios hand to iked and to strongSwan's starter: a scenario
//! says what differs from a net-to-net PSK conn, never writes a whole file.
//!
//! ```
//! use interop_tests::ipsec_conf::{Conn, IpsecConf};
//! let conf = IpsecConf::new()
//!     .conn(Conn::new("net-net").set("left", "192.0.2.1").set("forceencaps", "yes"))
//!     .render();
//! assert!(conf.contains("conn net-net\n  left=192.0.2.1\n  forceencaps=yes\n"));
//! ```

use crate::topology::{Family, Topology};

/// One `conn` section: keywords in the order first set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    name: String,
    kv: Vec<(String, String)>,
}

impl Conn {
    /// An empty conn called `name`.
    pub fn new(name: &str) -> Conn {
        Conn {
            name: name.to_owned(),
            kv: Vec::new(),
        }
    }

    /// Sets `key=value` (replacing an earlier value of `key`).
    pub fn set(mut self, key: &str, value: &str) -> Conn {
        match self.kv.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = value.to_owned(),
            None => self.kv.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Removes `key`.
    pub fn unset(mut self, key: &str) -> Conn {
        self.kv.retain(|(k, _)| k != key);
        self
    }

    /// The conn's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The net-to-net PSK conn of the daemon lab between the topology's two
    /// hosts (identities `moon` left and `sun` right): `outer` is the family
    /// IKE and ESP run on, `inner` the protected subnets' one.
    pub fn net2net(
        name: &str,
        topo: &Topology,
        outer: Family,
        inner: Family,
        ike: &str,
        esp: &str,
    ) -> Conn {
        let (l, r) = (&topo.left, &topo.right);
        Conn::new(name)
            .set("left", l.outer(outer))
            .set("leftsubnet", l.net(inner))
            .set("leftid", "moon")
            .set("right", r.outer(outer))
            .set("rightsubnet", r.net(inner))
            .set("rightid", "sun")
            .set("authby", "secret")
            .set("keyexchange", "ikev2")
            .set("ike", ike)
            .set("esp", esp)
            .set("auto", "add")
    }
}

/// A whole `ipsec.conf`: `config setup` with `charondebug`, then the conns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsecConf {
    charondebug: String,
    conns: Vec<Conn>,
}

impl Default for IpsecConf {
    fn default() -> Self {
        IpsecConf::new()
    }
}

impl IpsecConf {
    /// No conns yet; `charondebug="ike 2, knl 2, chd 2, cfg 1"`.
    pub fn new() -> IpsecConf {
        IpsecConf {
            charondebug: "ike 2, knl 2, chd 2, cfg 1".into(),
            conns: Vec::new(),
        }
    }

    /// Adds a conn.
    pub fn conn(mut self, c: Conn) -> IpsecConf {
        self.conns.push(c);
        self
    }

    /// Changes the conn called `name` (no-op if there is none).
    pub fn edit(mut self, name: &str, f: impl FnOnce(Conn) -> Conn) -> IpsecConf {
        if let Some(i) = self.conns.iter().position(|c| c.name == name) {
            let c = self.conns.remove(i);
            self.conns.insert(i, f(c));
        }
        self
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# written by the iked interop lab\nconfig setup\n  charondebug=\"{}\"\n",
            self.charondebug
        );
        for c in &self.conns {
            s.push_str(&format!("\nconn {}\n", c.name));
            for (k, v) in &c.kv {
                s.push_str(&format!("  {k}={v}\n"));
            }
        }
        s
    }
}

/// `ipsec.secrets` with one PSK between `moon` and `sun`.
pub fn psk_secrets(psk: &str) -> String {
    format!("moon sun : PSK \"{psk}\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_unset_removes_and_order_is_kept() {
        let c = Conn::new("a")
            .set("left", "1")
            .set("right", "2")
            .set("left", "3")
            .unset("right")
            .set("auto", "route");
        let text = IpsecConf::new().conn(c).render();
        assert!(text.ends_with("conn a\n  left=3\n  auto=route\n"), "{text}");
        let e = IpsecConf::new()
            .conn(Conn::new("x").set("k", "1"))
            .edit("x", |c| c.set("k", "2"))
            .render();
        assert!(e.contains("  k=2\n") && !e.contains("k=1"), "{e}");
    }
}
