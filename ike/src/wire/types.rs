//! Protocol numbers from the IANA "Internet Key Exchange Version 2 (IKEv2)
//! Parameters" registry, as open newtypes: unknown values are kept, known
//! ones have names.

use std::fmt;

macro_rules! named_number {
    (
        $(#[$m:meta])*
        $name:ident($ty:ty) {
            $( $(#[$cm:meta])* $c:ident = $v:literal ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $ty);

        impl $name {
            $( $(#[$cm])* pub const $c: Self = Self($v); )*

            /// The IANA name of this value, if it is one this crate knows.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $v => Some(stringify!($c)), )*
                    _ => None,
                }
            }

            /// Every value with a name, in registry order.
            pub const KNOWN: &'static [Self] = &[ $( Self($v) ),* ];
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                Self(v)
            }
        }
    };
}

named_number! {
    /// Payload type (RFC 7296 section 3.2, RFC 7383).
    PayloadType(u8) {
        /// No next payload.
        NONE = 0,
        /// Security Association.
        SA = 33,
        /// Key Exchange.
        KE = 34,
        /// Identification - Initiator.
        IDI = 35,
        /// Identification - Responder.
        IDR = 36,
        /// Certificate.
        CERT = 37,
        /// Certificate Request.
        CERTREQ = 38,
        /// Authentication.
        AUTH = 39,
        /// Nonce (Ni, Nr).
        NONCE = 40,
        /// Notify.
        NOTIFY = 41,
        /// Delete.
        DELETE = 42,
        /// Vendor ID.
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator.
        TSI = 44,
        /// Traffic Selector - Responder.
        TSR = 45,
        /// Encrypted and Authenticated.
        SK = 46,
        /// Configuration.
        CP = 47,
        /// Extensible Authentication.
        EAP = 48,
        /// Encrypted and Authenticated Fragment (RFC 7383).
        SKF = 53,
    }
}

named_number! {
    /// Exchange type (RFC 7296 section 3.1, RFC 9242).
    ExchangeType(u8) {
        /// IKE_SA_INIT.
        IKE_SA_INIT = 34,
        /// IKE_AUTH.
        IKE_AUTH = 35,
        /// CREATE_CHILD_SA.
        CREATE_CHILD_SA = 36,
        /// INFORMATIONAL.
        INFORMATIONAL = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IKE_SESSION_RESUME = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IKE_INTERMEDIATE = 43,
    }
}

named_number! {
    /// Security protocol identifier (RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        /// Not applicable (e.g. a notify about no SA).
        NONE = 0,
        /// IKE.
        IKE = 1,
        /// AH.
        AH = 2,
        /// ESP.
        ESP = 3,
    }
}

named_number! {
    /// Transform type (RFC 7296 section 3.3.2).
    TransformType(u8) {
        /// Encryption algorithm.
        ENCR = 1,
        /// Pseudorandom function.
        PRF = 2,
        /// Integrity algorithm.
        INTEG = 3,
        /// Diffie-Hellman group / key exchange method.
        DH = 4,
        /// Extended sequence numbers.
        ESN = 5,
    }
}

/// Transform IDs (IANA registry, the values iked implements or names).
pub mod transform_id {
    /// Transform type 1 (encryption).
    pub mod encr {
        /// ENCR_3DES (not implemented; named for diagnostics).
        pub const DES3: u16 = 3;
        /// ENCR_NULL.
        pub const NULL: u16 = 11;
        /// ENCR_AES_CBC (RFC 3602), key length attribute required.
        pub const AES_CBC: u16 = 12;
        /// ENCR_AES_CTR (RFC 5930).
        pub const AES_CTR: u16 = 13;
        /// ENCR_AES_CCM_8.
        pub const AES_CCM_8: u16 = 14;
        /// ENCR_AES_GCM_8 (RFC 4106/5282).
        pub const AES_GCM_8: u16 = 18;
        /// ENCR_AES_GCM_12.
        pub const AES_GCM_12: u16 = 19;
        /// ENCR_AES_GCM_16.
        pub const AES_GCM_16: u16 = 20;
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        pub const CHACHA20_POLY1305: u16 = 28;
    }
    /// Transform type 2 (PRF).
    pub mod prf {
        /// PRF_HMAC_MD5 (not implemented).
        pub const HMAC_MD5: u16 = 1;
        /// PRF_HMAC_SHA1 (RFC 2104).
        pub const HMAC_SHA1: u16 = 2;
        /// PRF_AES128_XCBC (RFC 4434).
        pub const AES128_XCBC: u16 = 4;
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        pub const HMAC_SHA2_256: u16 = 5;
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        pub const HMAC_SHA2_384: u16 = 6;
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        pub const HMAC_SHA2_512: u16 = 7;
        /// PRF_AES128_CMAC (RFC 4615).
        pub const AES128_CMAC: u16 = 8;
    }
    /// Transform type 3 (integrity).
    pub mod integ {
        /// NONE (with AEAD ciphers).
        pub const NONE: u16 = 0;
        /// AUTH_HMAC_MD5_96 (not implemented).
        pub const HMAC_MD5_96: u16 = 1;
        /// AUTH_HMAC_SHA1_96 (RFC 2404).
        pub const HMAC_SHA1_96: u16 = 2;
        /// AUTH_AES_XCBC_96 (RFC 3566).
        pub const AES_XCBC_96: u16 = 5;
        /// AUTH_AES_CMAC_96 (RFC 4494, not implemented).
        pub const AES_CMAC_96: u16 = 8;
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        pub const HMAC_SHA2_256_128: u16 = 12;
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        pub const HMAC_SHA2_384_192: u16 = 13;
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        pub const HMAC_SHA2_512_256: u16 = 14;
    }
    /// Transform type 4 (Diffie-Hellman group).
    pub mod dh {
        /// NONE.
        pub const NONE: u16 = 0;
        /// 1024-bit MODP (RFC 2409 group 2).
        pub const MODP_1024: u16 = 2;
        /// 1536-bit MODP (RFC 3526).
        pub const MODP_1536: u16 = 5;
        /// 2048-bit MODP (RFC 3526).
        pub const MODP_2048: u16 = 14;
        /// 3072-bit MODP (RFC 3526).
        pub const MODP_3072: u16 = 15;
        /// 4096-bit MODP (RFC 3526).
        pub const MODP_4096: u16 = 16;
        /// 6144-bit MODP (RFC 3526).
        pub const MODP_6144: u16 = 17;
        /// 8192-bit MODP (RFC 3526).
        pub const MODP_8192: u16 = 18;
        /// 256-bit random ECP (RFC 5903).
        pub const ECP_256: u16 = 19;
        /// 384-bit random ECP (RFC 5903).
        pub const ECP_384: u16 = 20;
        /// 521-bit random ECP (RFC 5903).
        pub const ECP_521: u16 = 21;
        /// Curve25519 (RFC 8031).
        pub const CURVE25519: u16 = 31;
        /// Curve448 (RFC 8031, not implemented).
        pub const CURVE448: u16 = 32;
    }
    /// Transform type 5 (extended sequence numbers).
    pub mod esn {
        /// No extended sequence numbers.
        pub const NO: u16 = 0;
        /// Extended sequence numbers.
        pub const YES: u16 = 1;
    }
}

named_number! {
    /// Notify message type (RFC 7296 section 3.10.1 and the IANA registry).
    NotifyType(u16) {
        /// UNSUPPORTED_CRITICAL_PAYLOAD.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// INVALID_IKE_SPI.
        INVALID_IKE_SPI = 4,
        /// INVALID_MAJOR_VERSION.
        INVALID_MAJOR_VERSION = 5,
        /// INVALID_SYNTAX.
        INVALID_SYNTAX = 7,
        /// INVALID_MESSAGE_ID.
        INVALID_MESSAGE_ID = 9,
        /// INVALID_SPI.
        INVALID_SPI = 11,
        /// NO_PROPOSAL_CHOSEN.
        NO_PROPOSAL_CHOSEN = 14,
        /// INVALID_KE_PAYLOAD.
        INVALID_KE_PAYLOAD = 17,
        /// AUTHENTICATION_FAILED.
        AUTHENTICATION_FAILED = 24,
        /// SINGLE_PAIR_REQUIRED.
        SINGLE_PAIR_REQUIRED = 34,
        /// NO_ADDITIONAL_SAS.
        NO_ADDITIONAL_SAS = 35,
        /// INTERNAL_ADDRESS_FAILURE.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// FAILED_CP_REQUIRED.
        FAILED_CP_REQUIRED = 37,
        /// TS_UNACCEPTABLE.
        TS_UNACCEPTABLE = 38,
        /// INVALID_SELECTORS.
        INVALID_SELECTORS = 39,
        /// UNACCEPTABLE_ADDRESSES (RFC 4555).
        UNACCEPTABLE_ADDRESSES = 40,
        /// UNEXPECTED_NAT_DETECTED (RFC 4555).
        UNEXPECTED_NAT_DETECTED = 41,
        /// USE_ASSIGNED_HoA (RFC 5026).
        USE_ASSIGNED_HOA = 42,
        /// TEMPORARY_FAILURE.
        TEMPORARY_FAILURE = 43,
        /// CHILD_SA_NOT_FOUND.
        CHILD_SA_NOT_FOUND = 44,
        /// INVALID_GROUP_ID (RFC 9838 / G-IKEv2).
        INVALID_GROUP_ID = 45,
        /// AUTHORIZATION_FAILED.
        AUTHORIZATION_FAILED = 46,
        /// INITIAL_CONTACT.
        INITIAL_CONTACT = 16384,
        /// SET_WINDOW_SIZE.
        SET_WINDOW_SIZE = 16385,
        /// ADDITIONAL_TS_POSSIBLE.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// IPCOMP_SUPPORTED.
        IPCOMP_SUPPORTED = 16387,
        /// NAT_DETECTION_SOURCE_IP.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// NAT_DETECTION_DESTINATION_IP.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// COOKIE.
        COOKIE = 16390,
        /// USE_TRANSPORT_MODE.
        USE_TRANSPORT_MODE = 16391,
        /// HTTP_CERT_LOOKUP_SUPPORTED.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// REKEY_SA.
        REKEY_SA = 16393,
        /// ESP_TFC_PADDING_NOT_SUPPORTED.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// NON_FIRST_FRAGMENTS_ALSO.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// MOBIKE_SUPPORTED (RFC 4555).
        MOBIKE_SUPPORTED = 16396,
        /// ADDITIONAL_IP4_ADDRESS (RFC 4555).
        ADDITIONAL_IP4_ADDRESS = 16397,
        /// ADDITIONAL_IP6_ADDRESS (RFC 4555).
        ADDITIONAL_IP6_ADDRESS = 16398,
        /// NO_ADDITIONAL_ADDRESSES (RFC 4555).
        NO_ADDITIONAL_ADDRESSES = 16399,
        /// UPDATE_SA_ADDRESSES (RFC 4555).
        UPDATE_SA_ADDRESSES = 16400,
        /// COOKIE2 (RFC 4555).
        COOKIE2 = 16401,
        /// NO_NATS_ALLOWED (RFC 4555).
        NO_NATS_ALLOWED = 16402,
        /// AUTH_LIFETIME (RFC 4478).
        AUTH_LIFETIME = 16403,
        /// MULTIPLE_AUTH_SUPPORTED (RFC 4739).
        MULTIPLE_AUTH_SUPPORTED = 16404,
        /// ANOTHER_AUTH_FOLLOWS (RFC 4739).
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// REDIRECT_SUPPORTED (RFC 5685).
        REDIRECT_SUPPORTED = 16406,
        /// REDIRECT (RFC 5685).
        REDIRECT = 16407,
        /// REDIRECTED_FROM (RFC 5685).
        REDIRECTED_FROM = 16408,
        /// EAP_ONLY_AUTHENTICATION (RFC 5998).
        EAP_ONLY_AUTHENTICATION = 16417,
        /// CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// SIGNATURE_HASH_ALGORITHMS (RFC 7427).
        SIGNATURE_HASH_ALGORITHMS = 16431,
        /// INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242).
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
    }
}

impl NotifyType {
    /// Error types are below 16384 (RFC 7296 section 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

named_number! {
    /// Identification type (RFC 7296 section 3.5).
    IdType(u8) {
        /// ID_IPV4_ADDR.
        IPV4_ADDR = 1,
        /// ID_FQDN.
        FQDN = 2,
        /// ID_RFC822_ADDR.
        RFC822_ADDR = 3,
        /// ID_IPV6_ADDR.
        IPV6_ADDR = 5,
        /// ID_DER_ASN1_DN.
        DER_ASN1_DN = 9,
        /// ID_DER_ASN1_GN.
        DER_ASN1_GN = 10,
        /// ID_KEY_ID.
        KEY_ID = 11,
    }
}

named_number! {
    /// Certificate encoding (RFC 7296 section 3.6).
    CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7_X509 = 1,
        /// X.509 Certificate - Signature.
        X509_SIGNATURE = 4,
        /// Certificate Revocation List (CRL).
        CRL = 7,
        /// Raw RSA Key (deprecated).
        RAW_RSA_KEY = 11,
        /// Hash and URL of X.509 certificate.
        HASH_URL_X509_CERT = 12,
        /// Hash and URL of X.509 bundle.
        HASH_URL_X509_BUNDLE = 13,
        /// Raw Public Key (RFC 7670).
        RAW_PUBLIC_KEY = 15,
    }
}

named_number! {
    /// Authentication method (RFC 7296 section 3.8, RFC 7427).
    AuthMethod(u8) {
        /// RSA Digital Signature (PKCS#1 v1.5, SHA-1).
        RSA_SIG = 1,
        /// Shared Key Message Integrity Code.
        SHARED_KEY_MIC = 2,
        /// DSS Digital Signature.
        DSS_SIG = 3,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        ECDSA_SHA256_P256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        ECDSA_SHA384_P384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        ECDSA_SHA512_P521 = 11,
        /// Generic Secure Password Authentication Method (RFC 6467).
        GSPAM = 12,
        /// NULL Authentication (RFC 7619).
        NULL = 13,
        /// Digital Signature (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

named_number! {
    /// Traffic selector type (RFC 7296 section 3.13.1).
    TsType(u8) {
        /// TS_IPV4_ADDR_RANGE.
        IPV4_ADDR_RANGE = 7,
        /// TS_IPV6_ADDR_RANGE.
        IPV6_ADDR_RANGE = 8,
    }
}

named_number! {
    /// Configuration payload type (RFC 7296 section 3.15).
    CfgType(u8) {
        /// CFG_REQUEST.
        REQUEST = 1,
        /// CFG_REPLY.
        REPLY = 2,
        /// CFG_SET.
        SET = 3,
        /// CFG_ACK.
        ACK = 4,
    }
}

/// Configuration attribute types (RFC 7296 section 3.15.1).
pub mod cfg_attr {
    /// INTERNAL_IP4_ADDRESS.
    pub const INTERNAL_IP4_ADDRESS: u16 = 1;
    /// INTERNAL_IP4_NETMASK.
    pub const INTERNAL_IP4_NETMASK: u16 = 2;
    /// INTERNAL_IP4_DNS.
    pub const INTERNAL_IP4_DNS: u16 = 3;
    /// INTERNAL_IP4_NBNS.
    pub const INTERNAL_IP4_NBNS: u16 = 4;
    /// INTERNAL_IP4_DHCP.
    pub const INTERNAL_IP4_DHCP: u16 = 6;
    /// APPLICATION_VERSION.
    pub const APPLICATION_VERSION: u16 = 7;
    /// INTERNAL_IP6_ADDRESS.
    pub const INTERNAL_IP6_ADDRESS: u16 = 8;
    /// INTERNAL_IP6_DNS.
    pub const INTERNAL_IP6_DNS: u16 = 10;
    /// INTERNAL_IP6_DHCP.
    pub const INTERNAL_IP6_DHCP: u16 = 12;
    /// INTERNAL_IP4_SUBNET.
    pub const INTERNAL_IP4_SUBNET: u16 = 13;
    /// SUPPORTED_ATTRIBUTES.
    pub const SUPPORTED_ATTRIBUTES: u16 = 14;
    /// INTERNAL_IP6_SUBNET.
    pub const INTERNAL_IP6_SUBNET: u16 = 15;
}

/// IKE header flags (RFC 7296 section 3.1). Unknown bits are kept as received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// The sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// This message is a response.
    pub const RESPONSE: u8 = 0x20;

    /// The I(nitiator) bit.
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }
    /// The R(esponse) bit.
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
    /// The V(ersion) bit.
    pub fn version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
    /// Builds flags from the two meaningful bits.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR;
        }
        if response {
            f |= Self::RESPONSE;
        }
        Flags(f)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x}", self.0)?;
        if self.initiator() {
            f.write_str(" I")?;
        }
        if self.version() {
            f.write_str(" V")?;
        }
        if self.response() {
            f.write_str(" R")?;
        }
        f.write_str(")")
    }
}
