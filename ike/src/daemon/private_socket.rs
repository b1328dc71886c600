//! A Unix socket that is root-only from the moment it has a name: bound
//! inside a fresh 0700 directory beside its final path, made 0600 there and
//! only then renamed into place. Nobody can connect in between, even when the
//! socket's directory is shared (`--ctl /tmp/...`), and no process-wide umask
//! is touched (other threads may be creating files meanwhile).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The private directory, removed however binding ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Binds a listening socket at `path` with mode 0600 (the caller has removed
/// a stale one). Must run inside the tokio runtime.
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("socket path has no file name"))?;
    let staging = Staging(dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )));
    let _ = std::fs::remove_dir_all(&staging.0);
    std::fs::DirBuilder::new().mode(0o700).create(&staging.0)?;
    let tmp = staging.0.join("s");
    let l = std::os::unix::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    l.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn the_socket_is_0600_at_its_path_and_answers_there() {
        let d = std::env::temp_dir().join(format!("iked-privsock-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // A world-writable shared directory, as /tmp is.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let p = d.join("ctl");
        let l = bind(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        // Nothing is left beside it.
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ctl")]);
        let c = tokio::net::UnixStream::connect(&p).await.unwrap();
        let (_s, _) = l.accept().await.unwrap();
        drop(c);
        let _ = std::fs::remove_dir_all(&d);
    }
}
