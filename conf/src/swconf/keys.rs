//! The names strongSwan documents (strongswan.conf(5), charon.opt), so iked
//! can tell "a strongSwan setting iked does not implement" from "a typo".

/// Logging subsystems (strongswan.conf(5), LOGGER CONFIGURATION).
pub const SUBSYSTEMS: &[&str] = &[
    "dmn", "mgr", "ike", "chd", "job", "cfg", "knl", "net", "asn", "enc", "tnc", "imc", "imv",
    "pts", "tls", "esp", "lib", "app",
];

/// `charon.*` keys iked reads (see [`super::CharonSettings`]).
pub const IMPLEMENTED: &[&str] = &[
    "retransmit_timeout",
    "retransmit_base",
    "retransmit_tries",
    "retransmit_limit",
    "install_routes",
    "install_virtual_ip",
    "port",
    "port_nat_t",
    "dns1",
    "dns2",
    "nbns1",
    "nbns2",
    "cookie_threshold",
    "cookie_threshold_ip",
    "init_limit_half_open",
    "init_limit_job_load",
    "block_threshold",
    "half_open_timeout",
    "keep_alive",
    "fragment_size",
    "make_before_break",
    "ignore_routing_tables",
    "routing_table",
    "routing_table_prio",
    "signature_authentication",
    "prefer_previous_dh_group",
];

/// `charon.*` subsections iked reads.
pub const IMPLEMENTED_SECTIONS: &[&str] = &["plugins", "filelog", "syslog", "journal"];

/// Other documented `charon.*` keys: accepted, one "not implemented" warning each.
pub const KNOWN: &[&str] = &[
    "accept_private_algs",
    "accept_unencrypted_mainmode_messages",
    "cache_crls",
    "cert_cache",
    "check_current_path",
    "cisco_unity",
    "close_ike_on_child_failure",
    "delete_rekeyed",
    "delete_rekeyed_delay",
    "dh_exponent_ansi_x9_42",
    "dlopen_use_rtld_now",
    "dos_protection",
    "ecp_x_coordinate_only",
    "flush_auth_cfg",
    "follow_redirects",
    "force_eap_only_authentication",
    "group",
    "hash_and_url",
    "i_dont_care_about_security_and_use_aggressive_mode_psk",
    "ignore_acquire_ts",
    "ikesa_limit",
    "ikesa_table_segments",
    "ikesa_table_size",
    "inactivity_close_ike",
    "initiator_only",
    "install_virtual_ip_on",
    "integrity_test",
    "interfaces_ignore",
    "interfaces_use",
    "keep_alive_dpd_margin",
    "max_ikev1_exchanges",
    "max_packet",
    "multiple_authentication",
    "pid_file",
    "prefer_best_path",
    "prefer_configured_proposals",
    "prefer_temporary_addrs",
    "process_route",
    "rdn_matching",
    "receive_delay",
    "receive_delay_request",
    "receive_delay_response",
    "receive_delay_type",
    "replay_window",
    "retransmit_jitter",
    "retry_initiate_interval",
    "reuse_ikesa",
    "rsa_pss",
    "send_cisco_flexvpn_vendor_id",
    "send_delay",
    "send_delay_request",
    "send_delay_response",
    "send_delay_type",
    "send_vendor_id",
    "signature_authentication_constraints",
    "spi_label",
    "spi_mask",
    "spi_max",
    "spi_min",
    "threads",
    "user",
];

/// Other documented `charon.*` subsections: every key in them gets one warning.
pub const KNOWN_SECTIONS: &[&str] = &[
    "crypto_test",
    "host_resolver",
    "leak_detective",
    "processor",
    "start-scripts",
    "stop-scripts",
    "tls",
    "tnc",
    "x509",
];

/// Plugin-list keys: accepted and ignored with one note (iked has no plugins).
pub const PLUGIN_LOADING: &[&str] = &["load", "load_modular"];
