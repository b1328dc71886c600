//! Interop lab: network namespaces, real peers, QEMU guest runner.
