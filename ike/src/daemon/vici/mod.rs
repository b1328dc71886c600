//! VICI, strongSwan's control protocol, so that `swanctl`, the Prometheus
//! exporters and the `vici` client libraries talk to iked.
//!
//! - [`codec`]: packets and messages on the wire (strict, never panics).

pub mod codec;
