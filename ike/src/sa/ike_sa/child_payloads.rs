//! The payloads and selector checks of one CHILD_SA, shared by IKE_AUTH and
//! CREATE_CHILD_SA: the payload set in strongSwan's order, the initiator's
//! check of the answer, and the cap on the kernel work its selectors cost.

use super::window::{find_notify, notify};
use crate::crypto::DhSecret;
use crate::sa::api::{Mode, Selector};
use crate::sa::ctx::Ctx;
use crate::wire::{KePayload, NotifyType, Payload, SaPayload};

/// What a responder checks of a CHILD_SA's narrowed selectors (the one
/// place both responders, IKE_AUTH and CREATE_CHILD_SA, ask): the cap on the
/// kernel work they cost, and that they take no traffic from another peer's
/// CHILD_SA (`claims.rs`).
pub(super) fn selectors_allowed(
    ctx: &Ctx,
    owner: &str,
    conn: &conf::conn::Conn,
    local: &[Selector],
    remote: &[Selector],
) -> Result<(), String> {
    let pairs = crate::ts::kernel_pairs(local, remote);
    if pairs > ctx.settings.max_selector_pairs {
        return Err(format!(
            "traffic selectors {} === {} need {pairs} kernel selector pairs, more than the {} allowed",
            show(local),
            show(remote),
            ctx.settings.max_selector_pairs
        ));
    }
    let Some(scope) = crate::sa::claims::fixed_scope(conn) else {
        return Ok(());
    };
    if let Some((name, other)) = ctx.claims.conflict(owner, scope, local, remote) {
        return Err(format!(
            "traffic selectors {} === {} overlap those of CHILD_SA {name} of another peer ('{}'): its traffic is not '{}''s",
            show(local),
            show(remote),
            crate::sa::printable(other.as_bytes()),
            crate::sa::printable(owner.as_bytes()),
        ));
    }
    Ok(())
}

pub(super) fn show(v: &[Selector]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The payloads that describe a CHILD_SA in a request or an answer, in
/// strongSwan's order: [USE_TRANSPORT_MODE], SA, [Nonce], [KE], TSi, TSr.
pub(super) fn child_payloads(
    transport: bool,
    sa: SaPayload,
    nonce: Option<&[u8]>,
    ke: Option<&DhSecret>,
    tsi: &[Selector],
    tsr: &[Selector],
) -> Vec<Payload> {
    let mut p = Vec::new();
    if transport {
        p.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
    }
    p.push(Payload::Sa(sa));
    if let Some(n) = nonce {
        p.push(Payload::Nonce(n.to_vec()));
    }
    if let Some(d) = ke {
        p.push(Payload::Ke(KePayload {
            group: d.group().iana_id(),
            data: d.public_value().to_vec(),
        }));
    }
    p.push(Payload::TsI(tsi.iter().map(crate::ts::to_wire).collect()));
    p.push(Payload::TsR(tsr.iter().map(crate::ts::to_wire).collect()));
    p
}

/// Initiator: the peer's traffic selectors must lie within ours, and the mode
/// must be the one asked for; Ok(the mode).
pub(super) fn check_answer(
    ts_local: &[Selector],
    ts_remote: &[Selector],
    transport: bool,
    tsi: &[Selector],
    tsr: &[Selector],
    payloads: &[Payload],
) -> Result<Mode, String> {
    if tsi.is_empty()
        || tsr.is_empty()
        || !tsi.iter().all(|t| crate::ts::is_subset(t, ts_local))
        || !tsr.iter().all(|t| crate::ts::is_subset(t, ts_remote))
    {
        return Err("peer's traffic selectors are not within ours".into());
    }
    let got_transport = find_notify(payloads, NotifyType::USE_TRANSPORT_MODE).is_some();
    if transport && !got_transport {
        return Err("peer refused transport mode".into());
    }
    if got_transport && !transport {
        return Err("peer answered transport mode, which we did not ask for".into());
    }
    Ok(if got_transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    })
}
