//! The command line: `idsync [--config FILE] <command>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Manage the inbound SCIM endpoint's bearer token.
    #[command(subcommand)]
    ScimToken(ScimTokenCommand),
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
