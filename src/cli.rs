//! The command line: `idsync [--config FILE] <command>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::tenant::TenantId;

#[derive(Debug, Parser)]
#[command(
    name = "idsync",
    version,
    about = "Keeps an application's users and groups in line with the customer's identity provider."
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "IDSYNC_CONFIG",
        default_value = "config/idsync.toml"
    )]
    pub config: PathBuf,

    /// The tenant whose data `resync`, `status`, `approve`, `events` and `scim-token` work on.
    #[arg(long, global = true, env = "IDSYNC_TENANT", default_value = "default", value_parser = TenantId::parse)]
    pub tenant: TenantId,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: sync every connector at start-up, then on its schedule.
    Run,
    /// Reconcile now, once, and print a summary (exit 1 when a run failed, 3 when held).
    Resync {
        /// Only this connector (default: all).
        #[arg(long)]
        connector: Option<String>,
        /// Ignore stored cursors and fetch everything.
        #[arg(long)]
        full: bool,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Provision one user on demand (a UPN or the source's id; needs --connector): shows
        /// the scope decision, the matcher's finding and the plan, then applies it.
        #[arg(long, requires = "connector")]
        user: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Show the last runs, held connectors and open conflicts.
    Status,
    /// Let the next run of a connector through the deletion guard.
    Approve {
        #[arg(long)]
        connector: String,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage the inbound SCIM endpoint's bearer token.
    #[command(subcommand)]
    ScimToken(ScimTokenCommand),
    /// The connector secrets stored in the database.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Failure alerts.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// The tenants: those declared in the configuration and those in the database.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print the event log (the provisioning log), newest last.
    Events {
        /// Only this connector's events.
        #[arg(long)]
        connector: Option<String>,
        /// Only events about this user (UPN, case-insensitive) or user id.
        #[arg(long)]
        user: Option<String>,
        /// Only events since this time (`2026-11-23`, `2026-11-23T10:00:00`) or for this long (`2h`, `7d`).
        #[arg(long)]
        since: Option<String>,
        /// Only this run's events.
        #[arg(long)]
        run: Option<i64>,
        /// At most this many events (the newest).
        #[arg(long, default_value_t = 200)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a new token, print it once (alone on the last line) and void the previous one.
    Create,
    /// Remove the token: SCIM clients are refused until a new one is created.
    Revoke {
        /// Also turn the groups SCIM created into ordinary local groups (no longer read-only).
        #[arg(long)]
        detach_groups: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every stored connector secret under `[admin] secrets_key` (the old key
    /// listed in `previous_secrets_keys`), in one transaction; prints the counts.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Print each tenant's id, display name, connectors and number of users.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration, reach the database and each source's token endpoint,
    /// without syncing.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test mail through the configured SMTP server.
    Test,
}
