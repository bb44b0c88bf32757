//! The one-shot commands: `resync`, `migrate`, `status`, `approve`, `events`, `alerts test`,
//! `config check`, `scim-token`, `tenant list`, `secrets rotate-key`. The commands that read
//! or write a tenant's data take the `--tenant` of the command line and work on that tenant's
//! store only.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::connectors;
use crate::daemon::install_metrics;
use crate::reconcile::{Outcome, RunOptions, RunProgress};
use crate::store::{self, Store};
use crate::supervise::{Supervised, Supervisor};
use crate::tenant::TenantId;

/// Exit code of `resync` when the deletion guard held a run.
pub const EXIT_HELD: u8 = 3;

/// The connectors of `tenant`, in the file's order.
fn connectors_of<'a>(config: &'a Config, tenant: &TenantId) -> Vec<&'a crate::config::ConnectorConfig> {
    config.connectors.iter().filter(|c| &c.tenant == tenant).collect()
}

/// `tenant`'s connector `name`, or an error listing the ones it has.
fn connector_named<'a>(
    config: &'a Config,
    tenant: &TenantId,
    name: &str,
) -> anyhow::Result<&'a crate::config::ConnectorConfig> {
    config.connector_of(tenant, name).with_context(|| {
        let known: Vec<&str> = connectors_of(config, tenant)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let whose = if tenant.is_default() {
            String::new()
        } else {
            format!(" in tenant {tenant}")
        };
        format!(
            "no connector is named {name:?}{whose} (configured: {})",
            known.join(", ")
        )
    })
}

pub async fn resync(
    config: &Config,
    tenant: &TenantId,
    only: Option<&str>,
    full: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let selected: Vec<_> = match only {
        Some(name) => vec![connector_named(config, tenant, name)?],
        None => connectors_of(config, tenant),
    };
    if selected.is_empty() {
        let whose = if tenant.is_default() {
            String::new()
        } else {
            format!(" for tenant {tenant}")
        };
        bail!("no connectors are configured{whose} in {}", config.path.display());
    }
    let store = store_for(config, dry_run).await?;
    let mut code = ExitCode::SUCCESS;
    let (mut failed, mut held) = (false, false);
    install_metrics();
    let supervisor = Supervisor::new(config, store)?;
    for c in selected {
        let connector = connectors::build(c);
        let progress = if std::io::stderr().is_terminal() {
            RunProgress::terminal(&c.name)
        } else {
            RunProgress::hidden()
        };
        let supervised = supervisor
            .run(
                &connector,
                RunOptions {
                    full,
                    dry_run,
                    on_demand: false,
                },
                &progress,
            )
            .await;
        progress.finish();
        let report = match supervised {
            Supervised::Ran { report, .. } => report,
            Supervised::Skipped { reason, .. } => {
                println!("{}: skipped: {reason}", c.name);
                failed = true;
                continue;
            }
        };
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

/// The store for a command that writes: the configured database, migrated, with the
/// configuration's tenants created (as `idsync run` does).
async fn migrated(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&config.database);
    store.migrate().await?;
    crate::daemon::create_tenants(config, &store).await?;
    Ok(store)
}

/// The store for a run: migrated, or for a dry run one that changes nothing.
async fn store_for(config: &Config, dry_run: bool) -> anyhow::Result<Store> {
    if dry_run {
        Ok(Store::for_dry_run(&config.database).await?)
    } else {
        migrated(config).await
    }
}

/// [`migrated`], bound to `tenant`, which must exist (declared, `default`, or created
/// through the admin API).
async fn tenant_store(config: &Config, tenant: &TenantId) -> anyhow::Result<Store> {
    let store = migrated(config).await?;
    if store.tenant_row(tenant).await?.is_none() {
        bail!("there is no tenant {tenant} (declare it in [[tenants]] or create it through the admin API)");
    }
    Ok(store.for_tenant(tenant.clone()))
}

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let applied = Store::open(&config.database).migrate().await?;
    if applied.is_empty() {
        println!("{}: up to date", config.database.redacted());
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `idsync secrets rotate-key`.
pub async fn secrets_rotate_key(config: Config) -> anyhow::Result<ExitCode> {
    let store = migrated(&config).await?;
    let registry = crate::registry::ConnectorRegistry::new(store, std::sync::Arc::new(config))?;
    let done = registry.rotate_key().await?;
    println!(
        "re-encrypted the secrets of {} stored connector(s) and {} webhook endpoint(s) under key {}; \
         {} connector(s) carry no stored secret",
        done.connectors,
        done.webhooks,
        registry.current_key_id().unwrap_or("-"),
        done.connectors_without_secret
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(config: &Config, tenant: &TenantId, connector: &str) -> anyhow::Result<ExitCode> {
    if config.connector_of(tenant, connector).is_none() {
        bail!("no connector is named {connector:?}");
    }
    tenant_store(config, tenant)
        .await?
        .approve(connector, store::now())
        .await?;
    println!("{connector}: the next run may pass the deletion guard once");
    Ok(ExitCode::SUCCESS)
}

pub async fn status(config: &Config, tenant: &TenantId) -> anyhow::Result<ExitCode> {
    let connectors = connectors_of(config, tenant);
    let names: Vec<String> = connectors.iter().map(|c| c.name.clone()).collect();
    let report = tenant_store(config, tenant).await?.status(&names).await?;
    let now = store::now();
    let mut out = String::new();
    for (c, schedule) in report
        .connectors
        .iter()
        .zip(connectors.iter().map(|c| &c.schedule))
    {
        connector_status(&mut out, tenant, c, schedule, now);
    }
    workers_status(&mut out, &tenant_store(config, tenant).await?).await?;
    out.push_str(&format!("open conflicts: {}\n", report.conflicts.len()));
    for c in report.conflicts {
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
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Per worker process, the connectors it runs now (the leases it holds), in every tenant.
async fn workers_status(out: &mut String, store: &store::Store) -> anyhow::Result<()> {
    let leases = store.held_leases().await?;
    if leases.is_empty() {
        out.push_str("workers: none running a connector\n");
        return Ok(());
    }
    out.push_str("workers:\n");
    let mut holder = None;
    for lease in leases {
        if holder.as_ref() != Some(&lease.holder) {
            out.push_str(&format!("  {}\n", lease.holder));
            holder = Some(lease.holder.clone());
        }
        out.push_str(&format!(
            "    {}/{} (lease until {} UTC)\n",
            lease.tenant,
            lease.connector,
            lease.expires_at.format("%H:%M:%S")
        ));
    }
    Ok(())
}

/// One connector's part of `idsync status`.
fn connector_status(
    out: &mut String,
    tenant: &TenantId,
    c: &store::runs::ConnectorStatus,
    schedule: &crate::config::Schedule,
    now: chrono::NaiveDateTime,
) {
    let (name, state, recent) = (&c.name, &c.state, &c.recent);
    out.push_str(&format!("connector {name}\n"));
    match state.last_success_at {
        Some(t) => out.push_str(&format!("  last success: {t} UTC\n")),
        None => out.push_str("  last success: never\n"),
    }
    let last_error = state.last_error.as_deref().unwrap_or("");
    let next = match state.quarantined_until {
        Some(until) => {
            out.push_str(&format!(
                "  QUARANTINED until {until} UTC after {} consecutive failures; last error: {last_error}\n",
                state.consecutive_failures,
            ));
            Some(until.and_utc())
        }
        None => {
            if state.consecutive_failures > 0 {
                out.push_str(&format!(
                    "  failing: {} consecutive failures; last error: {last_error}\n",
                    state.consecutive_failures,
                ));
            }
            let from = recent.first().map(|r| r.started_at).unwrap_or(now).and_utc();
            schedule.next_after(from).map(|t| t.max(now.and_utc()))
        }
    };
    if let Some(next) = next {
        let next = next.format("%Y-%m-%d %H:%M:%S");
        out.push_str(&format!("  next run (daemon): {next} UTC\n"));
    }
    if state.guard_approved {
        out.push_str("  deletion guard: approved for the next run\n");
    }
    if recent.first().is_some_and(|r| r.status == "held") {
        // The command as it must be typed for this tenant's connector.
        let scope = if tenant.is_default() {
            String::new()
        } else {
            format!(" --tenant {tenant}")
        };
        out.push_str(&format!(
            "  HELD: run `idsync approve{scope} --connector {name}` to apply the withheld changes\n"
        ));
    }
    out.push_str(&format!("  open conflicts: {}\n", c.open_conflicts));
    for r in recent {
        out.push_str(&format!(
            "  run #{} {} {} ({}): fetched {} users, {} groups; {} created, {} updated, \
             {} deactivated, {} reactivated, {} purged, {} groups changed, +{}/-{} memberships, \
             {} conflicts{}\n",
            r.id,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.status,
            r.mode,
            r.fetched_users,
            r.fetched_groups,
            r.created,
            r.updated,
            r.deactivated,
            r.reactivated,
            r.purged,
            r.groups_changed,
            r.memberships_added,
            r.memberships_removed,
            r.conflicts,
            r.error
                .as_ref()
                .map(|e| format!("; error: {e}"))
                .unwrap_or_default()
        ));
    }
}

pub async fn alerts_test(config: &Config) -> anyhow::Result<ExitCode> {
    let supervisor = Supervisor::new(config, Store::open(&config.database))?;
    supervisor.send_test().await?;
    let to = config
        .alerts
        .as_ref()
        .map(|a| a.to.join(", "))
        .unwrap_or_default();
    println!("test mail sent to {to}");
    Ok(ExitCode::SUCCESS)
}

pub async fn events(
    config: &Config,
    tenant: &TenantId,
    connector: Option<&str>,
    user: Option<&str>,
    since: Option<&str>,
    run: Option<i64>,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    let since = since.map(parse_since).transpose()?;
    let filter = store::events::EventFilter {
        connector: connector.map(str::to_owned),
        user: user.map(str::to_owned),
        since,
        run,
        limit,
    };
    let rows = Store::open(&config.database)
        .for_tenant(tenant.clone())
        .events(filter)
        .await?;
    for e in &rows {
        println!(
            "{} run {} {} {} {} #{} {}: {}",
            e.created_at.format("%Y-%m-%d %H:%M:%S"),
            e.run_id.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            e.connector,
            e.action,
            e.object_type,
            e.object_id,
            e.object_key,
            e.detail
        );
    }
    if rows.is_empty() {
        eprintln!("no events match");
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-23`, `2026-11-23T10:00:00` (UTC), or a span back from now such as `2h` or `7d`.
fn parse_since(text: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    match crate::config::Schedule::parse_interval(text) {
        Ok(crate::config::Schedule::Every(span)) => Ok(store::now() - chrono::Duration::from_std(span)?),
        _ => bail!(
            "--since {text:?}: expected a date (2026-11-23), a time (2026-11-23T10:00:00) or a span (2h, 7d)"
        ),
    }
}

/// `idsync config check`: the configuration parsed (or we would not be here); now the database
/// and each source, without syncing.
pub async fn config_check(config: &Config) -> anyhow::Result<ExitCode> {
    // The same refusal as `idsync run` at start-up.
    crate::config::check_writable(config)?;
    println!(
        "{}: configuration is valid ({} connectors)",
        config.path.display(),
        config.connectors.len()
    );
    let mut ok = true;
    let database = match &config.database {
        // Opening a SQLite file creates it; a check changes nothing.
        store::DatabaseUrl::Sqlite(path) if !path.exists() => {
            println!(
                "database {}: does not exist yet; `idsync run` or `migrate` creates it \
                 (its directory is writable)",
                path.display()
            );
            None
        }
        url => Some(Store::open(url).has_pending_migrations().await),
    };
    match database {
        None => {}
        Some(Ok(pending)) => println!(
            "database {}: reachable{}",
            config.database.redacted(),
            if pending {
                "; migrations pending (idsync migrate, or the daemon at start-up)"
            } else {
                ""
            }
        ),
        Some(Err(e)) => {
            ok = false;
            println!("database {}: FAILED: {e}", config.database.redacted());
        }
    }
    for c in &config.connectors {
        match connectors::build(c).source.check().await {
            Ok(what) => println!("connector {}: ok: {what}", c.name),
            Err(e) => {
                ok = false;
                println!("connector {}: FAILED: {e}", c.name);
            }
        }
    }
    if let Some(alerts) = &config.alerts {
        println!(
            "alerts: mail to {} (idsync alerts test sends one)",
            alerts.to.join(", ")
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `idsync resync --user KEY --connector NAME [--dry-run]`: provision one user on demand.
pub async fn provision(
    config: &Config,
    tenant: &TenantId,
    name: &str,
    key: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let c = connector_named(config, tenant, name)?;
    let connector = connectors::build(c);
    println!("1. {name}: looking up {key}");
    let lookup = match connector.source.fetch_user(key).await {
        Ok(Some(lookup)) => lookup,
        Ok(None) => {
            println!("   {name} has no user {key}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            println!("   FAILED: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for step in &lookup.steps {
        println!("   {step}");
    }
    let mut record = lookup.record;
    record.normalize();
    println!(
        "2. scope: {}",
        if lookup.in_scope {
            "in scope"
        } else {
            "OUT of scope: a sync treats the user as removed"
        }
    );

    let store = store_for(config, dry_run).await?;
    let local = store.for_tenant(tenant.clone()).load_local(name).await?;
    let explained = crate::reconcile::on_demand::explain_match(name, &record, &local);
    drop(local);
    println!("3. {explained}");

    install_metrics();
    let supervisor = Supervisor::new(config, store)?;
    let prepared = crate::reconcile::on_demand::Prepared::for_user(name, record, lookup.in_scope);
    let apply_copy = prepared.again();
    let preview = crate::connectors::Connector {
        config: c.clone(),
        source: Box::new(prepared),
    };
    let options = RunOptions {
        full: false,
        dry_run: true,
        on_demand: true,
    };
    let plan = supervisor.run(&preview, options, &RunProgress::hidden()).await;
    let lines = match &plan {
        Supervised::Ran { report, .. } => report.plan.as_ref().map(|p| p.render()),
        Supervised::Skipped { .. } => None,
    }
    .unwrap_or_default();
    println!(
        "4. changes:{}",
        if lines.is_empty() {
            " none; the application already agrees"
        } else {
            ""
        }
    );
    for line in lines.lines() {
        println!("   {line}");
    }
    if dry_run {
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    let apply = crate::connectors::Connector {
        config: c.clone(),
        source: Box::new(apply_copy),
    };
    let options = RunOptions {
        dry_run: false,
        ..options
    };
    let supervised = supervisor.run(&apply, options, &RunProgress::hidden()).await;
    let report = match supervised {
        Supervised::Ran { report, .. } => report,
        Supervised::Skipped { reason, .. } => {
            println!("5. skipped: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("5. {}", report.summary());
    Ok(match report.outcome {
        Outcome::Failed { .. } => ExitCode::FAILURE,
        Outcome::Held { .. } => ExitCode::from(EXIT_HELD),
        _ => ExitCode::SUCCESS,
    })
}

/// `scim-token create`: a new secret, printed once; the previous one stops working.
pub async fn scim_token_create(config: &Config, tenant: &TenantId) -> anyhow::Result<ExitCode> {
    let secret = crate::scim::tokens::new_secret();
    let digest = crate::scim::tokens::digest(&secret);
    tenant_store(config, tenant)
        .await?
        .replace_scim_token(&digest, store::now())
        .await?;
    eprintln!("New SCIM bearer token (shown once; any previous token no longer works):");
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

/// `scim-token revoke [--detach-groups]`.
pub async fn scim_token_revoke(
    config: &Config,
    tenant: &TenantId,
    detach_groups: bool,
) -> anyhow::Result<ExitCode> {
    let (removed, detached) = tenant_store(config, tenant)
        .await?
        .revoke_scim_token(detach_groups, store::now())
        .await?;
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

/// `tenant list`: every tenant in the database (the declared ones are created first), with
/// its display name, its configured connectors and its number of users.
pub async fn tenant_list(config: &Config) -> anyhow::Result<ExitCode> {
    let store = migrated(config).await?;
    let mut out = format!(
        "{:<24} {:<32} {:<32} {}\n",
        "TENANT", "DISPLAY NAME", "CONNECTORS", "USERS"
    );
    for tenant in store.tenants().await? {
        let names: Vec<&str> = connectors_of(config, &tenant.id)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let users = store.for_tenant(tenant.id.clone()).user_count().await?;
        let connectors = if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(",")
        };
        out.push_str(&format!(
            "{:<24} {:<32} {:<32} {users}\n",
            tenant.id, tenant.display_name, connectors
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
