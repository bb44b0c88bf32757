//! The `idsync` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use idsync::cli::{
    AlertsCommand, Cli, Command, ConfigCommand, LogFormat, ScimTokenCommand, SecretsCommand, TenantCommand,
};
use idsync::config::Config;
use idsync::{commands, daemon};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config).context(
        "loading the configuration (give --config FILE or IDSYNC_CONFIG; config/demo.toml runs the demo)",
    )?;
    let tenant = &cli.tenant;
    match cli.command {
        Command::Run => {
            let store = idsync::store::Store::with_options(&config.database, daemon::store_options(&config));
            daemon::run(config, store, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resync {
            connector,
            full,
            dry_run,
            user: None,
        } => commands::resync(&config, tenant, connector.as_deref(), full, dry_run).await,
        Command::Resync {
            connector: Some(connector),
            user: Some(user),
            dry_run,
            ..
        } => commands::provision(&config, tenant, &connector, &user, dry_run).await,
        Command::Resync {
            connector: None,
            user: Some(_),
            ..
        } => {
            anyhow::bail!("--user needs --connector NAME")
        }
        Command::Migrate => commands::migrate(&config).await,
        Command::Status => commands::status(&config, tenant).await,
        Command::Approve { connector } => commands::approve(&config, tenant, &connector).await,
        Command::ScimToken(ScimTokenCommand::Create) => commands::scim_token_create(&config, tenant).await,
        Command::ScimToken(ScimTokenCommand::Revoke { detach_groups }) => {
            commands::scim_token_revoke(&config, tenant, detach_groups).await
        }
        Command::Secrets(SecretsCommand::RotateKey) => commands::secrets_rotate_key(config).await,
        Command::Tenant(TenantCommand::List) => commands::tenant_list(&config).await,
        Command::Alerts {
            command: AlertsCommand::Test,
        } => commands::alerts_test(&config).await,
        Command::Config {
            command: ConfigCommand::Check,
        } => commands::config_check(&config).await,
        Command::Events {
            connector,
            user,
            since,
            run,
            limit,
        } => {
            commands::events(
                &config,
                tenant,
                connector.as_deref(),
                user.as_deref(),
                since.as_deref(),
                run,
                limit,
            )
            .await
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
