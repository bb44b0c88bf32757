//! Configuration: a TOML file, then `IDSYNC__SECTION__KEY` environment overrides, then typed
//! checks. Unknown keys and bad values are rejected with the key path in the error.
//!
//! The doc comments on these structs are the configuration reference (`config/README.md`
//! shows them with examples).

mod admin;
mod database;
mod overrides;
pub mod schedule;
pub mod scim_extensions;
mod stored;
pub mod webhooks;

pub use scim_extensions::ScimExtension;

use std::path::{Path, PathBuf};

use idsync_entra::EntraConfig;
use idsync_file::FileConfig;
use idsync_google::GoogleConfig;
use idsync_okta::OktaConfig;
use idsync_source::Secret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;

pub use admin::AdminConfig;
pub use database::check_writable;
pub use schedule::{Schedule, ScheduleError};
pub use stored::{connector_from_json, redacted, secret_keys, settings_kind, REDACTED};
pub use webhooks::{WebhookConfig, WebhookDeliveryConfig};

use crate::planner::{GuardSettings, PlanSettings, UserField};
use crate::store::DatabaseUrl;
use crate::tenant::TenantId;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A stored connector's settings (JSON) are wrong at `key` (empty: the whole object).
    #[error("{}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Settings { key: String, message: String },
}

/// The longest random delay before a run: an hour.
pub const MAX_JITTER_SECS: u64 = 3600;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; relative paths inside it are taken from its folder.
    pub path: PathBuf,
    pub database: DatabaseUrl,
    pub connectors: Vec<ConnectorConfig>,
    pub alerts: Option<AlertsConfig>,
    pub daemon: DaemonConfig,
    pub ops: Option<OpsConfig>,
    /// The inbound SCIM endpoint, served by `idsync run` when the section is present.
    pub scim: Option<ScimConfig>,
    /// `[admin]`: the admin API and the secrets key (all unset when the section is absent).
    pub admin: AdminConfig,
    /// `[[tenants]]`: the customer organizations declared in the file (`default` needs no
    /// entry).
    pub tenants: Vec<TenantConfig>,
    /// `[[webhooks]]`: endpoints that receive the change feed.
    pub webhooks: Vec<WebhookConfig>,
    /// `[webhook_delivery]`: retries and timeouts.
    pub webhook_delivery: WebhookDeliveryConfig,
}

/// One `[[tenants]]` entry: a customer organization whose connectors, SCIM token, data and
/// alert mail are its own. `idsync run` creates it in the database at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// A slug: 1-63 characters of `a-z`, `0-9` and `-`, not starting with `-`.
    pub id: TenantId,
    /// A name for people; the id when unset.
    pub display_name: Option<String>,
    /// The tenant's own recipients of alert mail about its connectors, added to `[alerts] to`.
    #[serde(default)]
    pub alerts_to: Vec<String>,
}

impl TenantConfig {
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(self.id.as_str())
    }
}

/// `[scim]`: the inbound SCIM 2.0 endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// Address and port to listen on, e.g. `127.0.0.1:8080` (TLS: `tls_cert_path`, or a
    /// reverse proxy).
    pub listen: std::net::SocketAddr,
    /// Requests with a larger body get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// What DELETE does to a user: archive it like a pull-side removal, or remove the row now.
    #[serde(default)]
    pub delete: ScimDelete,
    /// Largest page a list answers (`count` above this is lowered to it).
    #[serde(default = "default_max_results")]
    pub max_results: usize,
    /// Database connections kept open for SCIM requests.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Write requests (POST, PUT, PATCH, DELETE) in flight at once on PostgreSQL, each in its
    /// own transaction; the others wait their turn in arrival order. Every write ends by
    /// taking the change feed's counter, whose lock is held through the commit, so more
    /// writers at once mostly wait on each other (see the README's figures). SQLite always
    /// takes one writer at a time.
    #[serde(default = "default_concurrent_writes")]
    pub concurrent_writes: usize,
    /// Purge users archived through SCIM (DELETE, `active: false` and gone) for this many days,
    /// at housekeeping time; unset keeps them forever.
    pub delete_archived_after_days: Option<u32>,
    /// The endpoint's URL as clients know it, e.g. `https://idsync.example.com/scim/v2`, for
    /// `Location` and `meta.location`. Unset: built from the request's `Host` header.
    pub public_url: Option<String>,
    /// Peers (reverse proxies) whose `X-Forwarded-Host` and `X-Forwarded-Proto` are believed
    /// when `public_url` is unset; from anyone else those headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections served at once; more wait in the kernel's accept queue (keep it below the
    /// service's `LimitNOFILE`).
    #[serde(default = "default_scim_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a complete request header (also the longest wait for the
    /// next request on a kept-alive connection).
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Seconds without a byte moving on a connection before it is closed.
    #[serde(default = "default_scim_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds the whole request body may take to arrive after the header; slower gets 408.
    #[serde(default = "default_scim_body_timeout_secs")]
    pub body_timeout_secs: u64,
    /// Accept the token as an `access_token` query parameter (RFC 6750 section 2.3) on GET
    /// requests, for testing the endpoint from a browser. Off by default: a URL is easier to
    /// leak than a header. The parameter never reaches a log line.
    #[serde(default)]
    pub allow_access_token_query: bool,
    /// A PEM certificate chain; with `tls_key_path`, the listener speaks TLS (1.2 and 1.3)
    /// only, for deployments without a reverse proxy. Both files are read again on SIGHUP
    /// and when they change. Relative to the configuration file's folder.
    pub tls_cert_path: Option<PathBuf>,
    /// The PEM private key of `tls_cert_path`.
    pub tls_key_path: Option<PathBuf>,
    /// Custom extension schemas (`[[scim.extensions]]`).
    #[serde(default)]
    pub extensions: Vec<ScimExtension>,
}

impl ScimConfig {
    /// The TLS files, when both are set.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        match (&self.tls_cert_path, &self.tls_key_path) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// The limits of the SCIM listener.
    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        limits(
            self.max_connections,
            self.header_timeout_secs,
            self.idle_timeout_secs,
            self.body_timeout_secs,
        )
    }
}

fn limits(connections: usize, header: u64, idle: u64, body: u64) -> crate::listener::ListenerLimits {
    use std::time::Duration;
    crate::listener::ListenerLimits {
        max_connections: connections,
        header_timeout: Duration::from_secs(header),
        idle_timeout: Duration::from_secs(idle),
        body_timeout: Duration::from_secs(body),
    }
}

fn default_scim_max_connections() -> usize {
    1024
}

fn default_header_timeout_secs() -> u64 {
    10
}

fn default_scim_idle_timeout_secs() -> u64 {
    60
}

fn default_scim_body_timeout_secs() -> u64 {
    30
}

/// `scim.delete`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScimDelete {
    /// Archive (deactivate) the user and keep the row until retention purges it.
    #[default]
    Archive,
    /// Delete the row immediately.
    Hard,
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_max_results() -> usize {
    1000
}

fn default_concurrent_writes() -> usize {
    2
}

fn default_pool_size() -> usize {
    8
}

/// `[database]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    /// `sqlite://PATH` (the embedded default) or `postgres://user@host/db`.
    url: String,
}

/// `[alerts]`: failure mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `smtp://host:25`, `smtp://host:587?tls=required` or `smtps://host:465`; a secret, as
    /// it may carry credentials.
    pub smtp_url: Secret,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The sender, e.g. `idsync <idsync@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Repeat a mail about a condition that is still raised after this long (`24h`).
    #[serde(default = "default_reminder")]
    pub reminder_after: String,
}

fn default_reminder() -> String {
    "24h".into()
}

/// `[daemon]`: how `idsync run` supervises its connectors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Consecutive failed runs that put a connector in quarantine (credential errors do at once).
    pub quarantine_after_failures: u32,
    /// How long a run's lease lasts without renewal; a crashed process's connectors are taken
    /// over by another process after this long.
    pub lease_secs: u64,
    /// Up to this many seconds of random delay before a scheduled run, and at most a tenth
    /// of the gap between the connector's slots; at most [`MAX_JITTER_SECS`].
    pub jitter_secs: u64,
    /// When housekeeping prunes old history (a crontab expression or shortcut).
    pub housekeeping_schedule: String,
    /// Runs and events older than this many days are pruned; 0 keeps them forever.
    pub keep_history_days: u32,
    /// Seconds between two looks at the connectors stored in the database: a new, changed or
    /// removed one is started, restarted or stopped within this long. On PostgreSQL, also
    /// how often a worker claims due connectors (and at once when one of its runs ends).
    pub poll_secs: u64,
    /// How many runs one `idsync run` process runs at once on PostgreSQL, where the
    /// schedules are shared by every process on the database (each run holds a slot).
    pub max_concurrent_runs: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            quarantine_after_failures: 3,
            lease_secs: 120,
            jitter_secs: 30,
            housekeeping_schedule: "@daily".into(),
            keep_history_days: 180,
            poll_secs: 5,
            max_concurrent_runs: 4,
        }
    }
}

/// `[ops]`: the operational endpoints (`/healthz`, `/metrics`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Address to serve them on, e.g. `127.0.0.1:9090`.
    pub listen: std::net::SocketAddr,
    /// Connections served at once; more wait in the kernel's accept queue.
    #[serde(default = "default_ops_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a complete request header.
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// Seconds without a byte moving on a connection before it is closed.
    #[serde(default = "default_ops_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take to arrive after the header; slower gets 408.
    #[serde(default = "default_ops_timeout_secs")]
    pub body_timeout_secs: u64,
}

impl OpsConfig {
    /// The limits of the ops listener.
    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        limits(
            self.max_connections,
            self.header_timeout_secs,
            self.idle_timeout_secs,
            self.body_timeout_secs,
        )
    }
}

fn default_ops_max_connections() -> usize {
    64
}

fn default_ops_timeout_secs() -> u64 {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    database: DatabaseSection,
    alerts: Option<AlertsConfig>,
    #[serde(default)]
    daemon: DaemonConfig,
    ops: Option<OpsConfig>,
    #[serde(default)]
    connectors: Vec<toml::Table>,
    scim: Option<ScimConfig>,
    #[serde(default)]
    admin: AdminConfig,
    #[serde(default)]
    tenants: Vec<TenantConfig>,
    #[serde(default)]
    webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    webhook_delivery: WebhookDeliveryConfig,
}

/// Keys every `[[connectors]]` entry has, whatever its kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonKeys {
    /// Unique; it becomes the `source` column of everything the connector owns. Changing it
    /// makes the connector a stranger to its own users.
    name: String,
    /// `file`, `entra`, `okta` or `google`.
    kind: String,
    /// The tenant whose data the connector syncs: `default`, or an id declared in
    /// `[[tenants]]`. Names are unique per tenant.
    tenant: Option<TenantId>,
    /// A crontab expression (`*/40 * * * *`, `0 6 * * 1-5`, `@hourly`, or 6-7 fields with
    /// seconds). Give this or `interval`; the default is every 40 minutes.
    schedule: Option<String>,
    /// A fixed interval such as `40m` or `1h30m`.
    interval: Option<String>,
    /// Deletion guard: hold a run that would deactivate or purge more users than this (500).
    max_deactivations: Option<u64>,
    /// Deletion guard: ... or more than this percentage of the source's users (20).
    max_deactivation_percent: Option<f64>,
    /// Purge users archived and gone upstream for this many days; unset keeps them forever.
    delete_archived_after_days: Option<u32>,
    /// Adopt an existing local group with the same name instead of creating a second one.
    #[serde(default)]
    match_groups_by_name: bool,
}

const COMMON_KEYS: [&str; 9] = [
    "name",
    "kind",
    "tenant",
    "schedule",
    "interval",
    "max_deactivations",
    "max_deactivation_percent",
    "delete_archived_after_days",
    "match_groups_by_name",
];

/// One `[[connectors]]` entry.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    pub name: String,
    /// The tenant it syncs (`tenant`; `default` when unset).
    pub tenant: TenantId,
    pub schedule: Schedule,
    pub guard: GuardSettings,
    pub plan: PlanSettings,
    pub kind: ConnectorKind,
}

impl ConnectorConfig {
    /// How logs, metrics, `/healthz` and mail name the connector: its name, prefixed with
    /// its tenant (`acme/entra`) unless that is `default`, so one-tenant set-ups read as before.
    pub fn label(&self) -> String {
        if self.tenant.is_default() {
            self.name.clone()
        } else {
            format!("{}/{}", self.tenant, self.name)
        }
    }
}

/// The kind-specific part of a connector.
#[derive(Debug, Clone)]
pub enum ConnectorKind {
    File(FileConfig),
    Entra(Box<EntraConfig>),
    Okta(Box<OktaConfig>),
    Google(Box<GoogleConfig>),
}

impl Config {
    /// Reads and checks a configuration file, applying `IDSYNC__...` environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, path, std::env::vars())
    }

    /// Parses configuration text; `env` supplies the overrides (tests pass their own).
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: origin.clone(),
            message: if key.is_empty() {
                message
            } else {
                format!("{key}: {message}")
            },
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| invalid(String::new(), e.to_string()))?;
        overrides::apply(&mut table, env).map_err(|e| invalid(String::new(), e.to_string()))?;

        let shape: FileShape = typed(toml::Value::Table(table)).map_err(|(k, m)| invalid(k, m))?;
        let database = DatabaseUrl::parse(&shape.database.url)
            .map_err(|m| invalid("database.url".into(), m.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        check_tenants(&shape.tenants).map_err(|(k, m)| invalid(k, m))?;
        let mut connectors: Vec<ConnectorConfig> = Vec::new();
        for (i, table) in shape.connectors.into_iter().enumerate() {
            let at = |key: &str| {
                if key.is_empty() {
                    format!("connectors[{i}]")
                } else {
                    format!("connectors[{i}].{key}")
                }
            };
            // The connector's name ends the message, so an operator knows which one it is.
            let name = table.get("name").and_then(toml::Value::as_str).map(str::to_owned);
            let named = |m: String| match &name {
                Some(n) => format!("{m} (connector {n:?})"),
                None => m,
            };
            let connector = connector(table, base).map_err(|(k, m)| invalid(at(&k), named(m)))?;
            check_tenant(&connector, &shape.tenants, &connectors).map_err(|(k, m)| invalid(at(&k), m))?;
            connectors.push(connector);
        }
        if let Some(alerts) = &shape.alerts {
            Schedule::parse_interval(&alerts.reminder_after)
                .map_err(|m| invalid("alerts.reminder_after".into(), m.to_string()))?;
        }
        Schedule::parse_cron(&shape.daemon.housekeeping_schedule)
            .map_err(|m| invalid("daemon.housekeeping_schedule".into(), m.to_string()))?;
        if shape.daemon.jitter_secs > MAX_JITTER_SECS {
            return Err(invalid(
                "daemon.jitter_secs".into(),
                format!(
                    "{} is more than the maximum, {MAX_JITTER_SECS} (an hour)",
                    shape.daemon.jitter_secs
                ),
            ));
        }
        if shape.daemon.poll_secs == 0 {
            return Err(invalid("daemon.poll_secs".into(), "must be at least 1".into()));
        }
        if shape.daemon.max_concurrent_runs == 0 {
            return Err(invalid(
                "daemon.max_concurrent_runs".into(),
                "must be at least 1".into(),
            ));
        }
        shape
            .admin
            .check()
            .map_err(|(k, m)| invalid(format!("admin.{k}"), m))?;
        if shape.daemon.quarantine_after_failures == 0 {
            return Err(invalid(
                "daemon.quarantine_after_failures".into(),
                "must be at least 1".into(),
            ));
        }
        webhooks::check(&shape.webhooks, &shape.webhook_delivery).map_err(|(k, m)| invalid(k, m))?;
        for (i, hook) in shape.webhooks.iter().enumerate() {
            let declared = hook.tenant.is_default() || shape.tenants.iter().any(|t| t.id == hook.tenant);
            if !declared {
                return Err(invalid(
                    format!("webhooks[{i}].tenant"),
                    format!("{:?} is not declared in [[tenants]]", hook.tenant.as_str()),
                ));
            }
        }
        let mut scim = shape.scim;
        if let Some(scim) = &mut scim {
            scim_extensions::check(&scim.extensions).map_err(|(k, m)| invalid(k, m))?;
            if scim.tls_cert_path.is_some() != scim.tls_key_path.is_some() {
                return Err(invalid(
                    "scim".into(),
                    "tls_cert_path and tls_key_path go together: set both or neither".into(),
                ));
            }
            for path in [&mut scim.tls_cert_path, &mut scim.tls_key_path]
                .into_iter()
                .flatten()
            {
                *path = base.join(&*path);
            }
        }
        Ok(Config {
            path: path.to_owned(),
            database,
            connectors,
            alerts: shape.alerts,
            daemon: shape.daemon,
            ops: shape.ops,
            scim,
            admin: shape.admin,
            tenants: shape.tenants,
            webhooks: shape.webhooks,
            webhook_delivery: shape.webhook_delivery,
        })
    }

    /// The `default` tenant's connector called `name`.
    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connector_of(&TenantId::default_tenant(), name)
    }

    /// `tenant`'s connector called `name`.
    pub fn connector_of(&self, tenant: &TenantId, name: &str) -> Option<&ConnectorConfig> {
        self.connectors
            .iter()
            .find(|c| &c.tenant == tenant && c.name == name)
    }

    /// The tenants the configuration knows: `default` first, then the declared ones.
    pub fn tenant_ids(&self) -> Vec<TenantId> {
        let mut ids = vec![TenantId::default_tenant()];
        ids.extend(
            self.tenants
                .iter()
                .map(|t| t.id.clone())
                .filter(|t| !t.is_default()),
        );
        ids
    }

    /// The declared entry of `tenant`, if any.
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| &t.id == tenant)
    }
}

/// A connector's tenant must be `default` or declared, and its name free within the tenant.
fn check_tenant(
    connector: &ConnectorConfig,
    declared: &[TenantConfig],
    earlier: &[ConnectorConfig],
) -> Result<(), (String, String)> {
    let tenant = &connector.tenant;
    if !tenant.is_default() && !declared.iter().any(|t| &t.id == tenant) {
        return Err((
            "tenant".into(),
            format!(
                "tenant \"{tenant}\" is not declared in [[tenants]] (connector {:?})",
                connector.name
            ),
        ));
    }
    if earlier
        .iter()
        .any(|c| &c.tenant == tenant && c.name == connector.name)
    {
        let whose = if tenant.is_default() {
            String::new()
        } else {
            format!(" of tenant \"{tenant}\"")
        };
        return Err((
            "name".into(),
            format!("another connector{whose} is already named {:?}", connector.name),
        ));
    }
    Ok(())
}

/// Each tenant is declared once.
fn check_tenants(declared: &[TenantConfig]) -> Result<(), (String, String)> {
    for (i, t) in declared.iter().enumerate() {
        if declared[..i].iter().any(|earlier| earlier.id == t.id) {
            return Err((
                format!("tenants[{i}].id"),
                format!("tenant {} is declared twice", t.id),
            ));
        }
    }
    Ok(())
}

fn connector(mut table: toml::Table, base: &Path) -> Result<ConnectorConfig, (String, String)> {
    let mut common = toml::Table::new();
    for key in COMMON_KEYS {
        if let Some(v) = table.remove(key) {
            common.insert(key.to_owned(), v);
        }
    }
    let common: CommonKeys = typed(toml::Value::Table(common))?;
    check_name(&common.name)?;
    let schedule = schedule_of(&common)?;
    let guard = guard_of(&common)?;
    let (kind, create_only) = kind_of(&common.kind, table, base)?;
    let plan = PlanSettings {
        match_groups_by_name: common.match_groups_by_name,
        delete_archived_after_days: common.delete_archived_after_days,
        create_only,
    };
    Ok(ConnectorConfig {
        name: common.name,
        tenant: common.tenant.unwrap_or_default(),
        schedule,
        guard,
        plan,
        kind,
    })
}

/// A connector's name becomes the `source` of everything it owns: one word, not `scim`.
fn check_name(name: &str) -> Result<(), (String, String)> {
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        return Err((
            "name".into(),
            "must be a non-empty word (it is stored as the users' source)".into(),
        ));
    }
    if name == "scim" {
        return Err((
            "name".into(),
            "\"scim\" is reserved for the inbound SCIM endpoint".into(),
        ));
    }
    Ok(())
}

fn schedule_of(common: &CommonKeys) -> Result<Schedule, (String, String)> {
    match (&common.schedule, &common.interval) {
        (Some(_), Some(_)) => Err((
            "interval".into(),
            "give `schedule` or `interval`, not both".into(),
        )),
        (Some(expr), None) => Schedule::parse_cron(expr).map_err(|m| ("schedule".to_owned(), m.to_string())),
        (None, Some(text)) => {
            Schedule::parse_interval(text).map_err(|m| ("interval".to_owned(), m.to_string()))
        }
        (None, None) => Ok(Schedule::default()),
    }
}

fn guard_of(common: &CommonKeys) -> Result<GuardSettings, (String, String)> {
    let mut guard = GuardSettings::default();
    if let Some(v) = common.max_deactivations {
        guard.max_deactivations = v;
    }
    if let Some(v) = common.max_deactivation_percent {
        if !(0.0..=100.0).contains(&v) {
            return Err((
                "max_deactivation_percent".into(),
                format!("{v} is not a percentage (0-100)"),
            ));
        }
        guard.max_deactivation_percent = v;
    }
    Ok(guard)
}

/// The kind's own keys, checked, and the user fields its mapping sets only on create.
fn kind_of(
    kind: &str,
    table: toml::Table,
    base: &Path,
) -> Result<(ConnectorKind, Vec<UserField>), (String, String)> {
    let value = toml::Value::Table(table);
    Ok(match kind {
        "file" => {
            let mut file: FileConfig = typed(value)?;
            if file.path.is_relative() {
                file.path = base.join(&file.path);
            }
            (ConnectorKind::File(file), Vec::new())
        }
        "entra" => {
            let mut entra: EntraConfig = typed(value)?;
            entra.check(base).map_err(|p| (p.key, p.message))?;
            let create_only = user_fields(entra.create_only_fields());
            (ConnectorKind::Entra(Box::new(entra)), create_only)
        }
        "okta" => {
            let mut okta: OktaConfig = typed(value)?;
            okta.check(base).map_err(|p| (p.key, p.message))?;
            let create_only = user_fields(okta.create_only_fields());
            (ConnectorKind::Okta(Box::new(okta)), create_only)
        }
        "google" => {
            let mut google: GoogleConfig = typed(value)?;
            google.check(base).map_err(|p| (p.key, p.message))?;
            let create_only = user_fields(google.create_only_fields());
            (ConnectorKind::Google(Box::new(google)), create_only)
        }
        other => {
            return Err((
                "kind".into(),
                format!("unknown connector kind {other:?} (known: file, entra, okta, google)"),
            ))
        }
    })
}

/// The user fields named by a mapping's target columns.
fn user_fields(targets: impl IntoIterator<Item = &'static str>) -> Vec<UserField> {
    targets
        .into_iter()
        .filter_map(|target| UserField::ALL.into_iter().find(|f| f.column() == target))
        .collect()
}

/// Deserializes with the failing key's path kept for the error.
fn typed<T: DeserializeOwned>(value: toml::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests;
