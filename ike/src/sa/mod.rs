//! The IKEv2 protocol core, sans-IO (see DESIGN.md): an [`Endpoint`] routes
//! datagrams to IKE_SAs by SPI, drives them with time and commands, and is
//! drained of datagrams to send, the next deadline, and kernel actions.
//!
//! Where things happen:
//!
//! | what                                   | file                          |
//! |----------------------------------------|-------------------------------|
//! | the border: Transmit, Event, ids, errors | `api.rs`                    |
//! | services lent to an IKE_SA             | `ctx.rs`                      |
//! | SA tables, routing by SPI, timer table | `endpoint.rs`                 |
//! | the ONE rule that picks a conn         | `select.rs`                   |
//! | what a conn demands of peer credentials | `constraints.rs`             |
//! | exchange errors -> log, notify, kill   | `error.rs`, `IkeSa::fail`     |
//! | COOKIEs                                | `cookie.rs`                   |
//! | EAP password-guessing throttle         | `eap_guard.rs`                |
//! | half-open IKE_SAs and their limits     | `half_open.rs`, `endpoint.rs` |
//! | key exchanges off the event loop       | `key_jobs.rs`                 |
//! | virtual-IP pools, CP payloads          | `vip.rs`                      |
//! | CHILD_SA states, keys, kernel verdicts | `child.rs`                    |
//! | simultaneous rekeys: who deletes what  | `collision.rs`                |
//! | which peer's CHILD_SA owns which traffic | `claims.rs`                 |
//! | established IKE_SAs by peer (uniqueids)  | `peers.rs`, `endpoint.rs`  |
//! | IkeSa, its State, dispatch             | `ike_sa/mod.rs`               |
//! | message IDs, retransmits, fragments    | `ike_sa/window.rs`            |
//! | deadlines (one Timer enum)             | `ike_sa/timer.rs`             |
//! | IKE_SA_INIT                            | `ike_sa/init.rs`              |
//! | IKE_AUTH                               | `ike_sa/auth.rs`              |
//! | EAP rounds of IKE_AUTH                 | `ike_sa/eap.rs`               |
//! | CREATE_CHILD_SA (CHILD_SAs)            | `ike_sa/create_child.rs`      |
//! | a CHILD_SA's payloads, selector checks | `ike_sa/child_payloads.rs`    |
//! | CREATE_CHILD_SA (IKE_SA rekey)         | `ike_sa/rekey_ike.rs`         |
//! | INFORMATIONAL (DELETE, liveness)       | `ike_sa/informational.rs`     |

mod api;
mod child;
mod claims;
mod collision;
mod constraints;
mod cookie;
mod ctx;
mod eap_guard;
mod endpoint;
mod error;
mod half_open;
mod ident;
mod ike_sa;
mod key_jobs;
mod peers;
mod proposal;
mod select;
mod vip;

pub use api::*;
pub use ctx::Counters;
pub use endpoint::Endpoint;
pub use ident::printable;
pub use key_jobs::{KeyJob, KeyJobDone};
pub use proposal::suite_name;
