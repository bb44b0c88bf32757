//! The service account key file and the JWT that asks for an access token on a user's behalf.
//!
//! Google's "Using OAuth 2.0 for Server to Server Applications"
//! (<https://developers.google.com/identity/protocols/oauth2/service-account>, "Preparing to
//! make an authorized API call" and "Delegating domain-wide authority"): the JWT is signed
//! RS256 with the key file's `private_key`, `kid` = `private_key_id`; `iss` = `client_email`,
//! `sub` = the user to impersonate, `scope` = the scopes separated by spaces, `aud` = the key
//! file's `token_uri`, `iat` now and `exp` at most an hour later.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use idsync_source::assertion::{self, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The grant type of the token request.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest lifetime Google accepts for the assertion.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// A service account key file, as the Google Cloud console issues it (only what is used).
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: String,
    private_key: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// A key file ready to sign: the parsed file and its RSA key.
#[derive(Clone)]
pub struct Signer {
    pub key: ServiceAccountKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.key.fmt(f)
    }
}

impl ServiceAccountKey {
    /// Parses key file JSON; `what` names the file in messages.
    pub fn parse(text: &[u8], what: &str) -> Result<ServiceAccountKey, String> {
        let key: ServiceAccountKey = serde_json::from_slice(text)
            .map_err(|e| format!("{what} is not a service account key file: {e}"))?;
        if key.client_email.trim().is_empty() || key.token_uri.trim().is_empty() {
            return Err(format!("{what}: client_email and token_uri must not be empty"));
        }
        Ok(key)
    }

    /// Loads the private key (PKCS#8 PEM, RSA).
    pub fn signer(&self) -> Result<Signer, String> {
        let (encoding, alg) = assertion::load_private_key(self.private_key.as_bytes(), "private_key")?;
        if alg != Algorithm::RS256 {
            return Err("private_key: a service account key is RSA".to_owned());
        }
        Ok(Signer {
            key: self.clone(),
            encoding,
        })
    }
}

impl Signer {
    /// A JWT asking for `scope` on behalf of `subject`, valid from now for an hour.
    pub fn assertion(&self, subject: &str, scope: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("system clock before 1970: {e}"))?
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key.private_key_id.clone());
        let claims = Claims {
            iss: &self.key.client_email,
            sub: subject,
            scope,
            aud: &self.key.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| format!("cannot sign the JWT: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assertion_carries_the_documented_claims() {
        let pem = include_str!("../../../tests/fakes/keys/test-key.pem");
        let text = serde_json::json!({
            "type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key_id": "abc", "private_key": pem, "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string();
        let signer = ServiceAccountKey::parse(text.as_bytes(), "key")
            .unwrap()
            .signer()
            .unwrap();
        let jwt = signer.assertion("admin@example.com", "s1 s2").unwrap();
        let public = include_str!("../../../tests/fakes/keys/test-pubkey.pem");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("abc"));
        let c = data.claims;
        assert_eq!(c["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(c["sub"], "admin@example.com");
        assert_eq!(c["scope"], "s1 s2");
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 3600);
        assert!(format!("{signer:?}").contains("sa@p") && !format!("{signer:?}").contains("PRIVATE"));
    }
}
