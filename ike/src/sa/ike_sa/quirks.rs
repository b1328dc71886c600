//! What the road-warrior clients people carry do differently from strongSwan,
//! and how a gateway copes: each quirk named, in one place.
//!
//! - **Windows, no RFC 7427**: it sends no SIGNATURE_HASH_ALGORITHMS, so an
//!   RSA gateway signs AUTH with method 1 (RSA PKCS#1 v1.5 with SHA-1):
//!   `pki::choose_scheme` with `None` (auth.rs), signed by `pki`.
//! - **Windows, modp1024 on rekey**: even when its IKE_SA_INIT used
//!   modp2048 (the registry switch), its IKE_SA rekey offers and uses
//!   modp1024 only. The rekey responder therefore selects from the conn's
//!   `ike=` (rekey_ike.rs), never insists on the old IKE_SA's group: the
//!   downgrade is accepted exactly when the conn allows modp1024.
//! - **Windows, supernet selectors on rekey**: its CHILD_SA rekey proposes
//!   0.0.0.0/0 (or what it first asked for), not the narrowed selectors of
//!   the SA it rekeys: [`rekey_selectors`].
//! - **macOS/iOS, no CERTREQ**: they send none, yet need the gateway's
//!   certificate: [`send_certificate`].
//! - **iOS PFS, others none**: iOS proposes a key exchange for CHILD_SA
//!   rekeys, Windows, macOS and Android do not. A responder whose `esp=`
//!   lists a proposal with a group and one without (`esp=aes256-sha256-
//!   modp2048,aes256-sha256`) accepts both: the proposal selection treats a
//!   missing group as the transform NONE (proposal.rs), and the KE is
//!   demanded only when the selected proposal has a group (create_child.rs).

use crate::sa::Selector;
use conf::conn::SendCert;

/// Whether our AUTH goes with our certificate. `leftsendcert=ifasked` (the
/// default) sends it to a peer that asked (CERTREQ); as responder it is sent
/// also to an initiator that sent no CERTREQ at all, as macOS and iOS do:
/// they have no other way to get it (RFC 7296 section 3.6: certificates
/// SHOULD be sent when available). `never` stays never.
pub(super) fn send_certificate(
    sendcert: SendCert,
    initiator: bool,
    certreq_received: bool,
) -> bool {
    match sendcert {
        SendCert::Always => true,
        SendCert::Never => false,
        SendCert::IfAsked => certreq_received || !initiator,
    }
}

/// The selectors of a CHILD_SA that rekeys `old`: what the peer proposes,
/// narrowed to the selectors the rekeyed SA has (a Windows client proposes
/// a supernet, e.g. 0.0.0.0/0, on rekey). A rekey never widens a CHILD_SA;
/// empty when the proposal and the old SA do not meet.
pub(super) fn rekey_selectors(proposed: &[Selector], old: &[Selector]) -> Vec<Selector> {
    crate::ts::narrow(proposed, old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(a: &str, b: &str) -> Selector {
        Selector {
            start: a.parse().unwrap(),
            end: b.parse().unwrap(),
            protocol: 0,
            start_port: 0,
            end_port: 65535,
        }
    }

    #[test]
    fn certificates_for_clients_that_ask_for_none() {
        // responder: a macOS/iOS client (no CERTREQ) gets it
        assert!(send_certificate(SendCert::IfAsked, false, false));
        assert!(send_certificate(SendCert::IfAsked, false, true));
        // initiator: only when the responder asked
        assert!(!send_certificate(SendCert::IfAsked, true, false));
        assert!(send_certificate(SendCert::IfAsked, true, true));
        assert!(!send_certificate(SendCert::Never, false, false));
        assert!(send_certificate(SendCert::Always, true, false));
    }

    #[test]
    fn a_supernet_rekey_is_narrowed_to_the_old_selectors() {
        let any = [sel("0.0.0.0", "255.255.255.255")];
        let old = [sel("10.1.0.0", "10.1.255.255")];
        assert_eq!(rekey_selectors(&any, &old), old);
        // a narrower proposal stays narrower; a disjoint one meets nothing
        let part = [sel("10.1.2.0", "10.1.2.255")];
        assert_eq!(rekey_selectors(&part, &old), part);
        assert!(rekey_selectors(&[sel("10.2.0.0", "10.2.255.255")], &old).is_empty());
    }
}
