//! The inbound SCIM 2.0 path (RFC 7643/7644). For now its filter and PATCH path grammar,
//! which the endpoint evaluates in the store.

pub mod filter;
