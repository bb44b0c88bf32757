//! The test keys the fakes register for their apps (throwaway, generated for these tests),
//! and the client assertion type both token endpoints accept (RFC 7523, section 2.2).

/// `client_assertion_type` for a signed JWT (RFC 7523, section 2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An RSA 2048 key, its public key, and a self-signed certificate for it.
pub const RSA_KEY_PEM: &str = include_str!("../keys/test-key.pem");
pub const RSA_PUBKEY_PEM: &str = include_str!("../keys/test-pubkey.pem");
pub const RSA_CERT_PEM: &str = include_str!("../keys/test-cert.pem");
/// An EC P-256 key and its public key.
pub const EC_KEY_PEM: &str = include_str!("../keys/ec-key.pem");
pub const EC_PUBKEY_PEM: &str = include_str!("../keys/ec-pubkey.pem");
/// A key (and a certificate for it) that no fake registers.
pub const OTHER_KEY_PEM: &str = include_str!("../keys/other-key.pem");
pub const OTHER_CERT_PEM: &str = include_str!("../keys/other-cert.pem");
