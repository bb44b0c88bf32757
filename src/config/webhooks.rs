//! `[[webhooks]]` (endpoints defined in the file, beside those put through the admin API) and
//! `[webhook_delivery]` (how every endpoint is delivered to).

use idsync_source::Secret;
use serde::Deserialize;

use crate::tenant::TenantId;

/// One `[[webhooks]]` entry: an endpoint that receives the tenant's changes, signed as the
/// Standard Webhooks specification says (README, "Webhooks").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The tenant whose changes it receives (default `default`).
    #[serde(default = "TenantId::default_tenant")]
    pub tenant: TenantId,
    /// Unique per tenant, among the file's and the API's endpoints.
    pub name: String,
    /// `https://...` (or `http://` for a receiver on the same host).
    pub url: String,
    /// The signing secret: `whsec_` and 24 to 64 bytes of base64. Not stored in the database.
    pub secret: Secret,
    /// The change types it wants (`user.created`, ...); empty or absent: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Changes per request: 1 (the default) sends each change as its own message; more sends
    /// a `batch` message of up to this many (at most 1000).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
}

fn default_batch_size() -> u32 {
    1
}

/// `[webhook_delivery]`: retries and timeouts of every endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDeliveryConfig {
    /// The waits before each attempt at a change, in seconds: the first is the first
    /// attempt's, each failure moves to the next; a failure after the last disables the
    /// endpoint (and sends the failure mail). Default: the Standard Webhooks example,
    /// immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_schedule_secs: Vec<u64>,
    /// How long one request may take (connect, send, answer) before it counts as failed.
    pub timeout_secs: u64,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        WebhookDeliveryConfig {
            retry_schedule_secs: vec![0, 5, 300, 1800, 7200, 18000, 36000, 36000],
            timeout_secs: 15,
        }
    }
}

/// Checks the entries; the error names the key at fault.
pub fn check(hooks: &[WebhookConfig], delivery: &WebhookDeliveryConfig) -> Result<(), (String, String)> {
    let mut seen = std::collections::HashSet::new();
    for (i, hook) in hooks.iter().enumerate() {
        let at = |key: &str| format!("webhooks[{i}].{key}");
        if !seen.insert((hook.tenant.clone(), hook.name.clone())) {
            return Err((
                at("name"),
                format!("{:?} is defined twice for its tenant", hook.name),
            ));
        }
        crate::webhooks::check_name(&hook.name).map_err(|m| (at("name"), m))?;
        crate::webhooks::check_url(&hook.url).map_err(|m| (at("url"), m))?;
        crate::webhooks::SigningSecret::parse(hook.secret.expose())
            .map_err(|e| (at("secret"), e.to_string()))?;
        crate::webhooks::check_types(&hook.types).map_err(|m| (at("types"), m))?;
        if !(1..=1000).contains(&hook.batch_size) {
            return Err((at("batch_size"), "expected 1 to 1000".into()));
        }
    }
    if delivery.retry_schedule_secs.is_empty() {
        return Err((
            "webhook_delivery.retry_schedule_secs".into(),
            "give at least one wait (0: at once)".into(),
        ));
    }
    if delivery.timeout_secs == 0 {
        return Err((
            "webhook_delivery.timeout_secs".into(),
            "must be at least 1".into(),
        ));
    }
    Ok(())
}
