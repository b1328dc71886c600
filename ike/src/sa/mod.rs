//! The IKEv2 protocol core, sans-IO (see DESIGN.md): an [`Endpoint`] routes
//! datagrams to IKE_SAs by SPI, drives them with time and commands, and is
//! drained of datagrams to send, the next deadline, and kernel actions.

mod api;
mod endpoint;
mod ident;
mod proposal;

pub use api::*;
pub use endpoint::Endpoint;
pub use proposal::suite_name;
