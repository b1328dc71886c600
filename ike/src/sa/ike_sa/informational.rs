//! INFORMATIONAL requests of the peer (RFC 7296 §1.4): DELETE of CHILD_SAs
//! or of the IKE_SA, liveness checks, and MOBIKE's UPDATE_SA_ADDRESSES
//! (`mobike.rs`).

use super::IkeSa;
use crate::sa::ctx::{Action, Ctx};
use crate::sa::error::ExchangeError;
use crate::wire::{Delete, ExchangeType, Payload, ProtocolId};
use std::time::Instant;
use tracing::{debug, info};

impl IkeSa {
    pub(super) fn on_informational_request(
        &mut self,
        ctx: &mut Ctx,
        _now: Instant,
        path: (std::net::SocketAddr, std::net::SocketAddr),
        msg_id: u32,
        payloads: Vec<Payload>,
    ) -> Result<(), ExchangeError> {
        let mut inner = Vec::new();
        if self.mobike != super::Mobike::Off {
            self.take_peer_addresses(ctx, &payloads);
        }
        if super::window::find_notify(&payloads, crate::wire::NotifyType::UPDATE_SA_ADDRESSES)
            .is_some()
        {
            inner = self.update_sa_addresses(ctx, path, &payloads);
        }
        let mut delete_ike = false;
        for p in &payloads {
            let Payload::Delete(d) = p else { continue };
            if d.protocol_id == ProtocolId::IKE {
                delete_ike = true;
            } else if d.protocol_id == ProtocolId::ESP {
                let mut ours = Vec::new();
                for spi in &d.spis {
                    let Some(s) = super::spi32(spi) else {
                        debug!(target: "chd", "{}: ignoring malformed SPI in DELETE", self.name());
                        continue;
                    };
                    match self.child_deleted_by_peer(ctx, s) {
                        Some(spi_in) => ours.push(spi_in.to_be_bytes().to_vec()),
                        None => {
                            debug!(target: "chd", "{}: DELETE for unknown CHILD_SA SPI {s:08x}", self.name())
                        }
                    }
                }
                if !ours.is_empty() {
                    inner.push(Payload::Delete(Delete {
                        protocol_id: ProtocolId::ESP,
                        spi_size: 4,
                        spis: ours,
                    }));
                }
            }
        }
        if delete_ike {
            info!(target: "ike", "received DELETE for IKE_SA {}", self.name());
            inner.clear();
        } else if payloads.is_empty() {
            debug!(target: "ike", "liveness check from {} answered", self.remote.ip());
        }
        self.reply(ctx, ExchangeType::INFORMATIONAL, msg_id, inner);
        if delete_ike {
            let names = self.conn_names();
            self.kill(ctx, "deleted by peer");
            if self.conn.closeaction == conf::conn::DpdAction::Restart {
                ctx.actions.push(Action::Restart(names));
            }
        }
        Ok(())
    }
}
