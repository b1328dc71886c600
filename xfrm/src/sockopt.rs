//! setsockopt(2) with an int value: the one C call behind this crate's
//! socket options (ESP-in-UDP, receive buffer).

use std::io;
use std::os::fd::AsRawFd;

/// Sets an int-valued socket option.
pub(crate) fn set_int(
    sock: &impl AsRawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` comes from a live socket borrowed for the duration of the call;
    // `optval` points to a c_int on our stack that outlives the call and `optlen` is
    // exactly its size; the kernel only reads `optlen` bytes from it.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&val as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
