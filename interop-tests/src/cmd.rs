//! Running commands with a bound on their time, and daemons ended by PID.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result, lab_err};

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Fails unless the command exited 0; the error shows what it printed.
    pub fn ok(self) -> Result<Output> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(lab_err!(
                "`{}` failed ({}): {}{}",
                self.cmdline,
                self.status,
                self.stderr.trim(),
                if self.stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!(" | stdout: {}", self.stdout.trim())
                }
            ))
        }
    }
}

fn cmdline(argv: &[&str]) -> String {
    argv.join(" ")
}

/// Runs `argv` to its end, killing it (by PID) after `timeout`.
pub fn run(argv: &[&str], timeout: Duration) -> Result<Output> {
    run_env(argv, &[], timeout)
}

/// Like [`run`], with extra environment variables.
pub fn run_env(argv: &[&str], env: &[(&str, &str)], timeout: Duration) -> Result<Output> {
    run_full(argv, env, None, timeout)
}

/// Like [`run`], feeding `input` on standard input (e.g. `ip -batch -`).
pub fn run_input(argv: &[&str], input: &str, timeout: Duration) -> Result<Output> {
    run_full(argv, &[], Some(input), timeout)
}

fn run_full(
    argv: &[&str],
    env: &[(&str, &str)],
    input: Option<&str>,
    timeout: Duration,
) -> Result<Output> {
    let line = cmdline(argv);
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| lab_err!("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .envs(env.iter().copied())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| lab_err!("cannot start `{line}`: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_owned();
        thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let status = wait_bounded(&mut child, timeout);
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = t_out.join().unwrap_or_default();
            return Err(lab_err!(
                "`{line}` did not finish within {timeout:?} (killed); it printed: {}",
                stdout.trim()
            ));
        }
    };
    Ok(Output {
        cmdline: line,
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}

/// Runs `argv` and requires exit status 0.
pub fn run_ok(argv: &[&str], timeout: Duration) -> Result<String> {
    Ok(run(argv, timeout)?.ok()?.stdout)
}

/// Waits for `child` at most `timeout`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns `Some`, at most `timeout` (every 100 ms).
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// True if `pid` is a live process (not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Sends `signal` (e.g. "TERM") to one process, by PID.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A long-running process (a daemon) started by the lab, ended by its PID.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    pid: u32,
    /// Other PIDs to end with it (e.g. the charon a starter forked).
    pub extra_pids: Vec<u32>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `argv`; stdout and stderr go to `log`.
    pub fn spawn(name: &str, argv: &[&str], env: &[(&str, &str)], log: &Path) -> Result<Daemon> {
        Self::spawn_full(name, argv, env, log, false)
    }

    /// Like [`Daemon::spawn`], with a pipe on its standard input (dropping the
    /// returned end closes it).
    pub fn spawn_piped(
        name: &str,
        argv: &[&str],
        log: &Path,
    ) -> Result<(Daemon, std::process::ChildStdin)> {
        let mut d = Self::spawn_full(name, argv, &[], log, true)?;
        let stdin = d
            .child
            .as_mut()
            .and_then(|c| c.stdin.take())
            .ok_or_else(|| lab_err!("{name}: no stdin pipe"))?;
        Ok((d, stdin))
    }

    fn spawn_full(
        name: &str,
        argv: &[&str],
        env: &[(&str, &str)],
        log: &Path,
        piped: bool,
    ) -> Result<Daemon> {
        let line = cmdline(argv);
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| lab_err!("empty command"))?;
        let f = File::create(log).map_err(|source| Error::Io {
            path: log.to_owned(),
            source,
        })?;
        let f2 = f.try_clone().map_err(|source| Error::Io {
            path: log.to_owned(),
            source,
        })?;
        let child = Command::new(prog)
            .args(args)
            .envs(env.iter().copied())
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(f)
            .stderr(f2)
            .spawn()
            .map_err(|e| lab_err!("cannot start {name} (`{line}`): {e}"))?;
        let pid = child.id();
        Ok(Daemon {
            name: name.to_owned(),
            child: Some(child),
            pid,
            extra_pids: Vec::new(),
            log: log.to_owned(),
        })
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where its stdout/stderr go.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(status)` if the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Fails, with the tail of its log, if the daemon has died.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(st) => Err(lab_err!(
                "{} (pid {}) exited ({st}); log {}:\n{}",
                self.name,
                self.pid,
                self.log.display(),
                tail(&self.log, 15)
            )),
        }
    }

    /// Ends the daemon: SIGTERM to its PID, up to `grace` to exit, then SIGKILL.
    /// The extra PIDs get the same treatment. Returns how long it took.
    pub fn stop(&mut self, grace: Duration) -> Duration {
        let t = Instant::now();
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                signal(self.pid, "TERM");
                if wait_bounded(&mut child, grace).is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        for &p in &self.extra_pids {
            if pid_alive(p) {
                signal(p, "TERM");
                if poll(grace, || (!pid_alive(p)).then_some(())).is_none() {
                    signal(p, "KILL");
                }
            }
        }
        t.elapsed()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// True if `prog` is found on PATH (or is an existing path).
pub fn have(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}
