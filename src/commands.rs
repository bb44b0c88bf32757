//! The one-shot commands: `resync`, `migrate`, `status`, `approve`, `scim-token`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::connectors;
use crate::reconcile::{self, Outcome, RunOptions, RunProgress};
use crate::store::{self, runs, DatabaseUrl, Db};

/// Exit code of `resync` when the deletion guard held a run.
pub const EXIT_HELD: u8 = 3;

pub async fn resync(
    config: &Config,
    only: Option<&str>,
    full: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let selected: Vec<_> = match only {
        Some(name) => vec![config.connector(name).with_context(|| {
            let known: Vec<&str> = config.connectors.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no connector is named {name:?} (configured: {})",
                known.join(", ")
            )
        })?],
        None => config.connectors.iter().collect(),
    };
    if selected.is_empty() {
        bail!("no connectors are configured in {}", config.path.display());
    }
    if !dry_run {
        migrate_quietly(&config.database).await?;
    }
    let mut code = ExitCode::SUCCESS;
    let (mut failed, mut held) = (false, false);
    for c in selected {
        let connector = connectors::build(c);
        let progress = if std::io::stderr().is_terminal() {
            RunProgress::terminal(&c.name)
        } else {
            RunProgress::hidden()
        };
        let report = reconcile::run_once(
            &config.database,
            &connector,
            RunOptions { full, dry_run },
            &progress,
        )
        .await;
        progress.finish();
        if let Some(plan) = &report.plan {
            print!("{}", plan.render());
            if let Some(verdict) = &report.verdict {
                println!("deletion guard: {verdict:?}");
            }
        }
        println!("{}", report.summary());
        match report.outcome {
            Outcome::Failed { .. } => failed = true,
            Outcome::Held { .. } => held = true,
            _ => {}
        }
    }
    if failed {
        code = ExitCode::FAILURE;
    } else if held {
        code = ExitCode::from(EXIT_HELD);
    }
    Ok(code)
}

async fn migrate_quietly(url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    let url = url.clone();
    Ok(tokio::task::spawn_blocking(move || Db::open(&url)?.migrate()).await??)
}

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let applied = migrate_quietly(&config.database).await?;
    if applied.is_empty() {
        println!("{}: up to date", config.database.redacted());
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(config: &Config, connector: &str) -> anyhow::Result<ExitCode> {
    if config.connector(connector).is_none() {
        bail!("no connector is named {connector:?}");
    }
    let url = config.database.clone();
    let name = connector.to_owned();
    tokio::task::spawn_blocking(move || -> Result<(), store::StoreError> {
        let mut db = Db::open(&url)?;
        db.migrate()?;
        runs::approve(&mut db, &name, store::now())
    })
    .await??;
    println!("{connector}: the next run may pass the deletion guard once");
    Ok(ExitCode::SUCCESS)
}

pub async fn status(config: &Config) -> anyhow::Result<ExitCode> {
    let url = config.database.clone();
    let names: Vec<String> = config.connectors.iter().map(|c| c.name.clone()).collect();
    let text = tokio::task::spawn_blocking(move || -> Result<String, store::StoreError> {
        let mut db = Db::open(&url)?;
        db.migrate()?;
        let mut out = String::new();
        for name in &names {
            let state = runs::sync_state(&mut db, name)?;
            let recent = runs::recent_runs(&mut db, name, 5)?;
            out.push_str(&format!("connector {name}\n"));
            match state.last_success_at {
                Some(t) => out.push_str(&format!("  last success: {t} UTC\n")),
                None => out.push_str("  last success: never\n"),
            }
            if state.guard_approved {
                out.push_str("  deletion guard: approved for the next run\n");
            }
            if recent.first().is_some_and(|r| r.status == "held") {
                out.push_str(&format!("  HELD: run `idsync approve --connector {name}` to apply the withheld changes\n"));
            }
            for r in &recent {
                out.push_str(&format!(
                    "  run #{} {} {} ({}): {} created, {} updated, {} deactivated, {} reactivated, {} purged, {} conflicts{}\n",
                    r.id,
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    r.status,
                    r.mode,
                    r.created,
                    r.updated,
                    r.deactivated,
                    r.reactivated,
                    r.purged,
                    r.conflicts,
                    r.error.as_ref().map(|e| format!("; error: {e}")).unwrap_or_default()
                ));
            }
        }
        let conflicts = runs::open_conflicts(&mut db)?;
        out.push_str(&format!("open conflicts: {}\n", conflicts.len()));
        for c in conflicts {
            out.push_str(&format!(
                "  #{} {} {} ({}): {}: {}\n",
                c.id,
                c.connector,
                c.upn.unwrap_or_default(),
                c.external_id,
                c.reason,
                c.detail
            ));
        }
        Ok(out)
    })
    .await??;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `scim-token create`: a new secret, printed once; the previous one stops working.
pub async fn scim_token_create(config: &Config) -> anyhow::Result<ExitCode> {
    let url = config.database.clone();
    let secret = crate::scim::tokens::new_secret();
    let digest = crate::scim::tokens::digest(&secret);
    tokio::task::spawn_blocking(move || -> Result<(), store::StoreError> {
        let mut db = Db::open(&url)?;
        db.migrate()?;
        store::scim::replace_token(&mut db, &digest, store::now())
    })
    .await??;
    eprintln!("New SCIM bearer token (shown once; any previous token no longer works):");
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

/// `scim-token revoke [--detach-groups]`.
pub async fn scim_token_revoke(config: &Config, detach_groups: bool) -> anyhow::Result<ExitCode> {
    let url = config.database.clone();
    let (removed, detached) =
        tokio::task::spawn_blocking(move || -> Result<(usize, usize), store::StoreError> {
            let mut db = Db::open(&url)?;
            db.migrate()?;
            store::scim::revoke_token(&mut db, detach_groups, store::now())
        })
        .await??;
    if removed == 0 {
        println!("no SCIM token was active");
    } else {
        println!("SCIM token revoked");
    }
    if detach_groups {
        println!("{detached} SCIM groups detached (now ordinary local groups)");
    }
    Ok(ExitCode::SUCCESS)
}
