#![forbid(unsafe_code)]
//! IKEv2 protocol core (sans-IO) and the iked daemon.
