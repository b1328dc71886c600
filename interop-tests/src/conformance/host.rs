//! One test host: a process holding the host's mount and UTS namespaces
//! inside its network namespace, where the host's files stand over `/etc`
//! (an overlay on the guest's /etc, or a copy of it where overlayfs is
//! refused), a private `/run` (not `/tmp`: the run folder may be there), its own `/var/log` (a folder of
//! the run, so the logs outlive it) and its own `/dev/log`, a syslog
//! listener of this lab (`interop-lab conformance-syslogd`) writing
//! `daemon.log` and `auth.log` there as strongSwan's rsyslog.conf does.
//! On the iked host, iked's `ipsec` is bind-mounted over `/usr/sbin/ipsec`.
//!
//! Commands run in all three namespaces (`nsenter -t HOLDER -n -m -u`),
//! under bash as ssh would run them, with their output in files (a command
//! that starts a daemon, like `ipsec start`, leaves it running without
//! holding a pipe open). [`Host::drop`] ends every process of the host's
//! mount namespace by PID.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::cmd::{Daemon, pid_alive, poll, signal, wait_bounded};
use crate::{Error, Result, lab_err, write_file};

/// The environment every command of a host gets.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the host runs IKE with.
#[derive(Debug, Clone)]
pub enum Ike {
    /// strongSwan's starter (Debian's `ipsec`), or no IKE at all.
    StrongSwan,
    /// iked: its `ipsec` over `/usr/sbin/ipsec`, `IKED_BIN` its daemon.
    Iked {
        /// iked's `ipsec` program.
        ipsec: PathBuf,
        /// The `iked` daemon.
        iked: PathBuf,
    },
}

/// A running host.
#[derive(Debug)]
pub struct Host {
    /// Its name (moon, sun, ...).
    pub name: String,
    /// Its folder in the run (etc/, log/, command outputs).
    pub dir: PathBuf,
    holder: Daemon,
    mnt: String,
    env: Vec<(String, String)>,
    seq: std::cell::Cell<u32>,
}

/// What a command printed.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Exit status (`None`: killed after its time bound).
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

fn setup_script(name: &str, dir: &Path, lab_bin: &Path, ike: &Ike, sshd: Option<&Path>) -> String {
    let d = dir.display();
    let mut s = format!(
        r#"set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/.etc/upper /run/.etc/work
if ! mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.etc/upper,workdir=/run/.etc/work /etc 2>{d}/overlay.err; then
  mkdir -p /run/.etc/copy
  cp -a /etc/. /run/.etc/copy/
  mount --bind /run/.etc/copy /etc
fi
# a symlinked resolv.conf or hosts (systemd-resolved) must not be written through
rm -f /etc/resolv.conf /etc/hosts
cp -r {d}/etc/. /etc/
[ ! -f /etc/ipsec.secrets ] || chmod 600 /etc/ipsec.secrets
[ ! -d /etc/ipsec.d/private ] || chmod -R go-rwx /etc/ipsec.d/private
mount --bind {d}/log /var/log
{lab} conformance-syslogd --socket /run/log.sock --dir /var/log --host {name} >{d}/syslogd.out 2>&1 &
i=0
while [ ! -S /run/log.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount --bind /run/log.sock /dev/log
"#,
        lab = lab_bin.display(),
    );
    if let Ike::Iked { ipsec, .. } = ike {
        s.push_str(&format!(
            "mount --bind {} /usr/sbin/ipsec\n",
            ipsec.display()
        ));
    }
    if let Some(o) = sshd {
        s.push_str(&sshd_script(dir, o));
    }
    s.push_str(&format!(
        "hostname {name}\ntouch {d}/ready\nexec sleep 2147483647\n"
    ));
    s
}

/// sshd as strongSwan's testing hosts run it, for a scenario that reaches
/// a host by ssh (protoport-dual's `ssh PH_IP_ALICE hostname`): the
/// corpus's `sshd_config` (root, an empty password, no PAM) and root's ssh
/// `config` (no host key checking) are in `dir` (`etc/ssh`, `root/.ssh`);
/// root's password is emptied and the privilege separation user added in
/// this host's /etc only (its overlay); `/root` gets an overlay of its own.
/// An ECDSA host key is made here (the config's RSA key is left out: its
/// generation costs seconds in the emulated guest, and sshd runs on one).
/// sshd is `openssh`'s extracted one (`LAB_OPENSSH`); it ends with the
/// host (every process of its mount namespace).
fn sshd_script(dir: &Path, openssh: &Path) -> String {
    let (d, o) = (dir.display(), openssh.display());
    format!(
        r#"mkdir -p /run/sshd /run/.root/upper /run/.root/work
grep -q '^sshd:' /etc/passwd || echo 'sshd:x:105:65534::/run/sshd:/usr/sbin/nologin' >> /etc/passwd
sed -i 's/^root:[^:]*:/root::/' /etc/shadow
mount -t overlay overlay -o lowerdir=/root,upperdir=/run/.root/upper,workdir=/run/.root/work /root 2>>{d}/overlay.err || mount -t tmpfs -o mode=700 tmpfs /root
mkdir -p /root/.ssh
cp {d}/root/.ssh/config /root/.ssh/config
ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key
ip link set lo up
LD_LIBRARY_PATH={o}/usr/lib/x86_64-linux-gnu {o}/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config >{d}/sshd.log 2>&1 &
"#
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

impl Host {
    /// Starts the host `name` in network namespace `ns`: `dir/etc` holds
    /// its files (placed over /etc), `dir/log` becomes its /var/log, `bin`
    /// comes first on its PATH (the testing hosts' helper commands); with
    /// `sshd` (OpenSSH's extracted files) it runs an sshd ([`sshd_script`]).
    pub fn start(
        name: &str,
        ns: &str,
        dir: &Path,
        lab_bin: &Path,
        bin: &Path,
        ike: &Ike,
        sshd: Option<&Path>,
    ) -> Result<Host> {
        crate::make_dir(&dir.join("log"))?;
        let script = dir.join("setup.sh");
        write_file(&script, &setup_script(name, dir, lab_bin, ike, sshd))?;
        let script_s = script.display().to_string();
        let holder = Daemon::spawn(
            &format!("host {name}"),
            &[
                "ip",
                "netns",
                "exec",
                ns,
                "unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
                "bash",
                &script_s,
            ],
            &[],
            &dir.join("setup.log"),
        )?;
        let mut env = vec![
            ("PATH".to_owned(), format!("{}:{PATH}", bin.display())),
            ("HOME".to_owned(), "/root".to_owned()),
            ("LANG".to_owned(), "C".to_owned()),
            ("TERM".to_owned(), "dumb".to_owned()),
            // strongSwan's testing builds name /etc/strongswan.conf.testing
            // as the configuration (it includes the scenario's strongswan.conf)
            (
                "STRONGSWAN_CONF".to_owned(),
                "/etc/strongswan.conf.testing".to_owned(),
            ),
        ];
        if let Ike::Iked { iked, .. } = ike {
            env.push(("IKED_BIN".to_owned(), iked.display().to_string()));
        }
        let mut h = Host {
            name: name.to_owned(),
            dir: dir.to_owned(),
            holder,
            mnt: String::new(),
            env,
            seq: std::cell::Cell::new(0),
        };
        let ready = dir.join("ready");
        let up = poll(Duration::from_secs(60), || {
            if ready.exists() {
                return Some(true);
            }
            h.holder.exited().map(|_| false)
        });
        if up != Some(true) {
            return Err(lab_err!(
                "host {name} did not come up; {}:\n{}",
                dir.join("setup.log").display(),
                crate::cmd::tail(&dir.join("setup.log"), 15)
            ));
        }
        h.mnt = std::fs::read_link(format!("/proc/{}/ns/mnt", h.holder.pid()))
            .map(|p| p.display().to_string())
            .map_err(|e| lab_err!("host {name}: its mount namespace: {e}"))?;
        Ok(h)
    }

    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.pid().to_string())
            .args(["-n", "-m", "-u", "--wd=/"])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `command` under bash on the host, at most `timeout`.
    pub fn exec(&self, command: &str, timeout: Duration) -> Result<Exec> {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        let out_p = self.dir.join(format!("cmd/{n}.out"));
        let err_p = self.dir.join(format!("cmd/{n}.err"));
        crate::make_dir(&self.dir.join("cmd"))?;
        let out = File::create(&out_p).map_err(io(&out_p))?;
        let err = File::create(&err_p).map_err(io(&err_p))?;
        let mut child = self
            .nsenter()
            .args(["bash", "-c", command])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| lab_err!("{}: cannot run `{command}`: {e}", self.name))?;
        let status = wait_bounded(&mut child, timeout);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let read = |p: &Path| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Ok(Exec {
            status,
            stdout: read(&out_p),
            stderr: read(&err_p),
        })
    }

    /// Starts `argv` on the host as a daemon, stdout to `out`, stderr to
    /// `err`; ended by PID (`nsenter` execs it: the PID is the program's).
    pub fn spawn(&self, argv: &[&str], out: &Path, err: &Path) -> Result<std::process::Child> {
        let o = File::create(out).map_err(io(out))?;
        let e = File::create(err).map_err(io(err))?;
        self.nsenter()
            .args(argv)
            .stdin(Stdio::null())
            .stdout(o)
            .stderr(e)
            .spawn()
            .map_err(|e| lab_err!("{}: cannot start {argv:?}: {e}", self.name))
    }

    /// The PIDs of every process in this host's mount namespace but the
    /// holder.
    fn members(&self) -> Vec<u32> {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&p| p != self.holder.pid())
            .filter(|p| {
                std::fs::read_link(format!("/proc/{p}/ns/mnt"))
                    .map(|l| l.display().to_string() == self.mnt)
                    .unwrap_or(false)
            })
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if !self.mnt.is_empty() {
            let pids = self.members();
            for &p in &pids {
                signal(p, "TERM");
            }
            let _ = poll(Duration::from_secs(5), || {
                pids.iter().all(|&p| !pid_alive(p)).then_some(())
            });
            for &p in &pids {
                if pid_alive(p) {
                    signal(p, "KILL");
                }
            }
        }
        self.holder.stop(Duration::from_secs(2));
    }
}
