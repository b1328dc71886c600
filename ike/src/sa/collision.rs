//! Simultaneous rekeys (RFC 7296 §2.8.1 for CHILD_SAs, §2.8.2 for IKE_SAs):
//! when both ends rekey the same SA at once, two new SAs exist. The one made
//! by the exchange that carried the lowest of the four nonces is redundant:
//! whoever initiated that exchange deletes it, and whoever initiated the
//! surviving one deletes the old SA. This is the one place that rule lives.

/// The lowest nonce of one exchange (what the rule compares).
pub(super) fn lowest_nonce(ni: &[u8], nr: &[u8]) -> Vec<u8> {
    ni.min(nr).to_vec()
}

/// True when our exchange's SA is the redundant one: its lowest nonce is
/// lower than the lowest of the peer's exchange (octet by octet).
pub(super) fn ours_is_redundant(ours_lowest: &[u8], theirs_lowest: &[u8]) -> bool {
    ours_lowest < theirs_lowest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_with_the_lowest_of_four_nonces_loses() {
        let ours = lowest_nonce(&[9, 9], &[3, 1]);
        let theirs = lowest_nonce(&[4, 0], &[7, 7]);
        assert_eq!(ours, vec![3, 1]);
        assert!(ours_is_redundant(&ours, &theirs));
        assert!(!ours_is_redundant(&theirs, &ours));
        // Equal lowest nonces: neither side calls its own redundant twice.
        assert!(!ours_is_redundant(&ours, &ours));
    }
}
