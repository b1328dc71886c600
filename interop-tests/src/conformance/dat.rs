//! The scenario files of strongSwan's test suite, read as its harness reads
//! them: `test.conf` (shell variable assignments: VIRTHOSTS, IPSECHOSTS,
//! TCPDUMPHOSTS, RADIUSHOSTS, DBHOSTS, IPV6, SWANCTL), the `.dat` files (one
//! command or check a line, fields separated by `::`, as `awk -F "::"`
//! splits them: `host::command[::pattern::hit]`, `#` lines are comments) and
//! the address placeholders (`PH_IP_MOON`, `PH_IP6_MOON1`, ...).

use std::collections::BTreeMap;

/// The hosts' addresses as strongSwan's `testing.conf` lists them:
/// (placeholder suffix, IPv4, IPv6). Longer names first, so `PH_IP_MOON1`
/// is replaced before `PH_IP_MOON`.
pub const ADDRESSES: &[(&str, &str, &str)] = &[
    ("MOON1", "10.1.0.1", "fec1::1"),
    ("MOON", "192.168.0.1", "fec0::1"),
    ("SUN1", "10.2.0.1", "fec2::1"),
    ("SUN", "192.168.0.2", "fec0::2"),
    ("ALICE1", "192.168.0.50", "fec0::5"),
    ("ALICE", "10.1.0.10", "fec1::10"),
    ("VENUS", "10.1.0.20", "fec1::20"),
    ("BOB", "10.2.0.10", "fec2::10"),
    ("CAROL1", "10.3.0.1", "fec3::1"),
    ("CAROL", "192.168.0.100", "fec0::10"),
    ("DAVE1", "10.3.0.2", "fec3::2"),
    ("DAVE", "192.168.0.200", "fec0::20"),
    ("WINNETOU", "192.168.0.150", "fec0::15"),
];

/// Replaces every address placeholder in `text`: `PH_IP_<HOST>` by the
/// host's IPv4 address, `PH_IP6_<HOST>` by its IPv6 address (and bob's
/// `PH_IPV6_BOB`, the spelling strongSwan's own script uses for him).
pub fn substitute(text: &str) -> String {
    let mut s = text.to_owned();
    for (name, v4, v6) in ADDRESSES {
        s = s.replace(&format!("PH_IP_{name}"), v4);
        s = s.replace(&format!("PH_IP6_{name}"), v6);
    }
    s.replace("PH_IPV6_BOB", "fec2::10")
}

/// A scenario's `test.conf`: its variables, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestConf {
    vars: BTreeMap<String, String>,
}

impl TestConf {
    /// Parses `NAME="value"` / `NAME=value` lines; comments and anything
    /// else are ignored (the file is a shell fragment of assignments).
    pub fn parse(text: &str) -> TestConf {
        let mut vars = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                continue;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            vars.insert(k.to_owned(), v.to_owned());
        }
        TestConf { vars }
    }

    /// A variable's value ("" when unset).
    pub fn get(&self, name: &str) -> &str {
        self.vars.get(name).map(String::as_str).unwrap_or("")
    }

    /// A space-separated host list variable.
    pub fn hosts(&self, name: &str) -> Vec<String> {
        self.get(name)
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// VIRTHOSTS: every host the scenario needs.
    pub fn virthosts(&self) -> Vec<String> {
        self.hosts("VIRTHOSTS")
    }

    /// IPSECHOSTS: the hosts that run IKE.
    pub fn ipsec_hosts(&self) -> Vec<String> {
        self.hosts("IPSECHOSTS")
    }

    /// TCPDUMPHOSTS: where tcpdump captures on eth0.
    pub fn tcpdump_hosts(&self) -> Vec<String> {
        self.hosts("TCPDUMPHOSTS")
    }
}

/// What a check expects of grep's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// `YES`: grep finds the pattern.
    Yes,
    /// `NO`: grep does not find it.
    No,
    /// `N`: grep's result has N lines (as `echo "$res" | wc -l` counts:
    /// an empty result counts 1).
    Count(usize),
    /// Anything else (a typo such as `ESP`): do-tests' shell tests compare it
    /// with YES and NO only, so the check never fails.
    Other,
}

impl Hit {
    fn parse(s: &str) -> Hit {
        match s {
            "YES" => Hit::Yes,
            "NO" => Hit::No,
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse().map(Hit::Count).unwrap_or(Hit::Other)
            }
            _ => Hit::Other,
        }
    }

    /// Did a grep with this exit status and output pass?
    pub fn judge(self, grep_found: bool, grep_output: &str) -> bool {
        match self {
            Hit::Yes => grep_found,
            Hit::No => !grep_found,
            Hit::Count(n) => {
                let res = grep_output.strip_suffix('\n').unwrap_or(grep_output);
                let lines = if res.is_empty() {
                    1
                } else {
                    res.split('\n').count()
                };
                lines == n
            }
            Hit::Other => true,
        }
    }
}

/// One line of a `.dat` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatLine {
    /// A `#` line (do-tests echoes it to the console log).
    Comment(String),
    /// A command on a host, and for evaltest a pattern and what is expected.
    Cmd {
        /// 1-based line number in the file.
        line: usize,
        /// The host (first field).
        host: String,
        /// The command, as written (second field; `tcpdump` means "the
        /// host's capture").
        command: String,
        /// The grep pattern (third field; empty in pre/posttest).
        pattern: String,
        /// The fourth field.
        hit: Hit,
        /// The line as written (after placeholder substitution).
        raw: String,
    },
}

/// Parses a `.dat` file's text (already substituted). Lines whose command
/// field is empty are skipped, as do-tests skips them.
pub fn parse_dat(text: &str) -> Vec<DatLine> {
    let mut v = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        if raw.starts_with('#') {
            v.push(DatLine::Comment(raw.to_owned()));
            continue;
        }
        let f: Vec<&str> = raw.split("::").collect();
        let field = |n: usize| f.get(n).copied().unwrap_or("");
        if field(1).is_empty() {
            continue;
        }
        v.push(DatLine::Cmd {
            line: i + 1,
            host: field(0).trim().to_owned(),
            command: field(1).to_owned(),
            pattern: field(2).to_owned(),
            hit: Hit::parse(field(3).trim()),
            raw: raw.to_owned(),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_longest_first() {
        assert_eq!(
            substitute(
                "left=PH_IP_MOON1 right=PH_IP_MOON v6=PH_IP6_SUN1,PH_IP6_SUN bob=PH_IPV6_BOB"
            ),
            "left=10.1.0.1 right=192.168.0.1 v6=fec2::1,fec0::2 bob=fec2::10"
        );
        assert_eq!(
            substitute("PH_IP_CAROL1 PH_IP_CAROL"),
            "10.3.0.1 192.168.0.100"
        );
        assert_eq!(substitute("no placeholder"), "no placeholder");
    }

    #[test]
    fn test_conf_variables() {
        let t = TestConf::parse(
            "#!/bin/bash\n# comment\nVIRTHOSTS=\"alice moon winnetou sun bob\"\nDIAGRAM=\"a.png\"\nTCPDUMPHOSTS=\"\"\nIPSECHOSTS=\"moon sun\"\nIPV6=1\n",
        );
        assert_eq!(t.virthosts(), ["alice", "moon", "winnetou", "sun", "bob"]);
        assert_eq!(t.ipsec_hosts(), ["moon", "sun"]);
        assert!(t.tcpdump_hosts().is_empty());
        assert_eq!(t.get("IPV6"), "1");
        assert_eq!(t.get("RADIUSHOSTS"), "");
    }

    #[test]
    fn dat_lines_split_like_awk() {
        let d = parse_dat(
            "moon::ipsec status 2> /dev/null::net-net.*INSTALLED, TUNNEL::YES\n\
             sun:: ipsec status 2> /dev/null::nat-t\\[1]: ESTABLISHED::YES\n\
             # a comment\n\
             \n\
             moon::cat /var/log/daemon.log::installing::2\n\
             sun::tcpdump::IP moon.strongswan.org > sun.strongswan.org: ESP::NO\n\
             moon::ipsec start\n\
             carol::::ignored::YES\n",
        );
        assert_eq!(d.len(), 6);
        let DatLine::Cmd {
            line,
            host,
            command,
            pattern,
            hit,
            ..
        } = &d[1]
        else {
            panic!("not a command: {:?}", d[1]);
        };
        assert_eq!(
            (
                *line,
                host.as_str(),
                command.as_str(),
                pattern.as_str(),
                *hit
            ),
            (
                2,
                "sun",
                " ipsec status 2> /dev/null",
                "nat-t\\[1]: ESTABLISHED",
                Hit::Yes
            )
        );
        assert_eq!(d[2], DatLine::Comment("# a comment".into()));
        assert!(matches!(
            &d[3],
            DatLine::Cmd {
                hit: Hit::Count(2),
                ..
            }
        ));
        assert!(
            matches!(&d[4], DatLine::Cmd { command, hit: Hit::No, .. } if command == "tcpdump")
        );
        assert!(
            matches!(&d[5], DatLine::Cmd { command, pattern, .. } if command == "ipsec start" && pattern.is_empty())
        );
    }

    #[test]
    fn hits_judge_as_do_tests() {
        assert!(Hit::Yes.judge(true, "x\n"));
        assert!(!Hit::Yes.judge(false, ""));
        assert!(Hit::No.judge(false, ""));
        assert!(!Hit::No.judge(true, "x\n"));
        assert!(Hit::Count(2).judge(true, "a\nb\n"));
        assert!(!Hit::Count(2).judge(true, "a\n"));
        // `echo "" | wc -l` is 1: an empty result counts one line
        assert!(Hit::Count(1).judge(false, ""));
        assert!(!Hit::Count(0).judge(false, ""));
        assert!(Hit::Other.judge(true, "x") && Hit::Other.judge(false, ""));
        assert_eq!(Hit::parse("maybe"), Hit::Other);
    }
}
