//! The console's session: a stateless, signed cookie, and the CSRF token derived from it.
//!
//! The cookie holds a random session id, its expiry and the operator's name, signed with
//! HMAC-SHA256 under a key derived from the admin token's digest: any process of a fleet
//! sharing the token accepts it, and changing the token ends every session. The CSRF token is
//! the HMAC of the session id under the same key, so it needs no storage either.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

/// The cookie's name.
pub const COOKIE: &str = "idsync_console";
/// How long a session lasts after sign-in.
pub const LIFETIME_SECS: i64 = 8 * 3600;
/// The longest operator name kept.
const MAX_OPERATOR: usize = 64;

/// The signing key of sessions and CSRF tokens.
#[derive(Clone)]
pub struct SessionKey(hmac::Key);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// 16 random bytes, hex.
    pub id: String,
    /// Unix seconds.
    pub expires: i64,
    /// Who signed in, as they named themselves (checked by [`operator_name`]).
    pub operator: String,
}

impl Session {
    /// Who this session is in the event log.
    pub fn actor(&self) -> String {
        format!("console:{}", self.operator)
    }
}

impl SessionKey {
    /// The key for the admin token whose SHA-256 is `token_digest`.
    pub fn derive(token_digest: &[u8; 32]) -> SessionKey {
        let root = hmac::Key::new(hmac::HMAC_SHA256, token_digest);
        let derived = hmac::sign(&root, b"idsync console session key v1");
        SessionKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    fn mac(&self, text: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, text.as_bytes()).as_ref())
    }

    /// A new session for `operator`, valid from `now` (unix seconds).
    pub fn start(&self, operator: &str, now: i64) -> Session {
        let id: [u8; 16] = rand::random();
        Session {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            expires: now + LIFETIME_SECS,
            operator: operator.to_owned(),
        }
    }

    /// The cookie's value for `session`.
    pub fn seal(&self, session: &Session) -> String {
        let body = format!(
            "v1.{}.{}.{}",
            session.id,
            session.expires,
            URL_SAFE_NO_PAD.encode(session.operator.as_bytes())
        );
        let mac = self.mac(&body);
        format!("{body}.{mac}")
    }

    /// The session a cookie value carries, if it is signed by this key and not expired.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let (body, mac) = value.rsplit_once('.')?;
        let expected = URL_SAFE_NO_PAD.decode(mac).ok()?;
        hmac::verify(&self.0, body.as_bytes(), &expected).ok()?;
        let mut parts = body.split('.');
        let (Some("v1"), Some(id), Some(expires), Some(operator), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expires: i64 = expires.parse().ok()?;
        let operator = String::from_utf8(URL_SAFE_NO_PAD.decode(operator).ok()?).ok()?;
        (expires > now).then(|| Session {
            id: id.to_owned(),
            expires,
            operator,
        })
    }

    /// The CSRF token of `session`: what every form and state-changing request must carry.
    pub fn csrf(&self, session: &Session) -> String {
        self.mac(&format!("csrf:{}", session.id))
    }

    /// Whether `presented` is `session`'s CSRF token (compared in constant time).
    pub fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        hmac::verify(&self.0, format!("csrf:{}", session.id).as_bytes(), &tag).is_ok()
    }
}

/// The operator's name from the sign-in form: blank is `operator`; otherwise 1-64 of
/// letters, digits and `._@-`, or an error that says so.
pub fn operator_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Ok("operator".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if name.chars().count() > MAX_OPERATOR || !name.chars().all(allowed) {
        return Err(format!(
            "the name may have up to {MAX_OPERATOR} letters, digits and . _ @ - (no spaces)"
        ));
    }
    Ok(name.to_owned())
}

/// The `Set-Cookie` value for `sealed`: `HttpOnly`, `SameSite=Strict`, `Path=/ui`, and
/// `Secure` when the console is reached over HTTPS. `sealed` empty clears the cookie.
///
/// RFC 6265 section 4.1.2 (`Secure`, `HttpOnly`); SameSite: RFC 6265bis, section 4.1.2.7.
pub fn set_cookie(sealed: &str, secure: bool) -> String {
    let max_age = if sealed.is_empty() { 0 } else { LIFETIME_SECS };
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={sealed}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The console cookie's value in a `Cookie` header, if there is one.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(token: &str) -> SessionKey {
        SessionKey::derive(&crate::admin::token_digest(token))
    }

    #[test]
    fn a_sealed_session_opens_under_its_key_only_until_it_expires() {
        let k = key("the-admin-token");
        let session = k.start("ann", 1_000);
        let sealed = k.seal(&session);
        assert_eq!(k.open(&sealed, 1_001), Some(session.clone()));
        assert_eq!(k.open(&sealed, session.expires), None, "expired");
        assert_eq!(
            key("another-token").open(&sealed, 1_001),
            None,
            "the token changed"
        );
        let forged = sealed.replacen("YW5u", "Ym9i", 1);
        assert_ne!(forged, sealed);
        assert_eq!(k.open(&forged, 1_001), None, "the operator cannot be changed");
        for junk in ["", ".", "v1.a.b.c.d", "v1.x.1.YW5u.!!", &format!("{sealed}x")] {
            assert_eq!(k.open(junk, 1_001), None, "{junk}");
        }
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let k = key("the-admin-token");
        let (a, b) = (k.start("ann", 0), k.start("ann", 0));
        assert!(k.csrf_ok(&a, &k.csrf(&a)));
        assert!(!k.csrf_ok(&b, &k.csrf(&a)));
        assert!(!k.csrf_ok(&a, ""));
        assert!(!k.csrf_ok(&a, "not base64 !"));
        assert!(!key("other").csrf_ok(&a, &k.csrf(&a)));
    }

    #[test]
    fn cookie_flags() {
        let c = set_cookie("abc", false);
        assert_eq!(
            c,
            "idsync_console=abc; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=28800"
        );
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(set_cookie("", false).contains("Max-Age=0"));
        assert_eq!(from_cookie_header("a=1; idsync_console=xyz; b=2"), Some("xyz"));
        assert_eq!(from_cookie_header("a=1"), None);
    }

    #[test]
    fn operator_names() {
        assert_eq!(operator_name("  ").as_deref(), Ok("operator"));
        assert_eq!(operator_name("ann.lee@corp").as_deref(), Ok("ann.lee@corp"));
        for bad in ["ann lee", "<script>", &"x".repeat(65), "ann\tlee"] {
            assert!(operator_name(bad).is_err(), "{bad}");
        }
    }
}
