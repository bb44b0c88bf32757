//! The operator console on a running `idsync run`: a real browser (Debian's chromium, driven
//! by `tests/browser/console.mjs` through playwright-core) signs in, approves a held run and
//! watches the next run apply it, settles a conflict, finds a user's history, rotates the
//! SCIM token and has forged requests refused; this test then checks the database and the
//! admin API for each. Without a browser: the cookie's flags and the CSRF and origin checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;
use support::admin::{sections, AdminDaemon, TOKEN};
use support::tables::Tables;
use support::{export_user, file_config, idsync, text, write_export};

struct Setup {
    _dir: tempfile::TempDir,
    api: AdminDaemon,
    url: String,
    console: String,
}

fn directory(count: usize) -> Vec<Value> {
    let mut users: Vec<Value> = (1..=count)
        .map(|i| export_user(&format!("e{i}"), &format!("u{i}@example.com"), None, true))
        .collect();
    // Two records the matcher will not decide alone: a UPN and an email naming two different
    // application users, and an email two application users share.
    users.push(export_user(
        "e91",
        "pat@example.com",
        Some("pat@corp.example"),
        true,
    ));
    users.push(export_user(
        "e92",
        "rae@example.com",
        Some("team@corp.example"),
        true,
    ));
    users
}

/// A daemon whose tenant `default` has ten users synced from a file export and two open
/// conflicts.
async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    write_export(&export, &directory(10), &[]);
    let url = format!("sqlite://{}", dir.path().join("idsync.db").display());
    let config_for = |admin: u16, scim: u16| {
        let extra = format!(
            "interval = \"1h\"\n\n[daemon]\njitter_secs = 0\npoll_secs = 1\n\n{}",
            sections(admin, scim, "")
        );
        file_config(dir.path(), &url, &export, &extra)
    };
    let (admin, scim) = AdminDaemon::ports();
    let out = idsync(&config_for(admin, scim), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut tables = Tables::open(&url);
    for (upn, email) in [
        ("pat@example.com", "pat@example.com"),
        ("pat.b@example.com", "pat@corp.example"),
        ("dee@example.com", "team@corp.example"),
        ("eve@example.com", "team@corp.example"),
    ] {
        tables.execute(&format!(
            "INSERT INTO users (scim_id, upn, email, active, created_at, updated_at, upn_key, email_key) \
             VALUES ('app-{upn}', '{upn}', '{email}', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '{upn}', '{email}')"
        ));
    }
    // Tests run in parallel and pick free ports the same way: a daemon that lost its port to
    // another test's exits, and the one answering is not ours; start again on other ports.
    let (mut admin, mut scim) = (admin, scim);
    let api = loop {
        let mut api = AdminDaemon::start(&config_for(admin, scim), admin, scim).await;
        api.wait_for("/tenants/default/status", "the first run", |s| {
            s["connectors"][0]["last_run"]["status"] == "succeeded"
        })
        .await;
        if ours(&mut api).await {
            break api;
        }
        (admin, scim) = AdminDaemon::ports();
    };
    Setup {
        _dir: dir,
        console: format!("http://127.0.0.1:{admin}"),
        api,
        url,
    }
}

/// Whether the daemon answering is this one: it logged its admin listener and still runs.
async fn ours(api: &mut AdminDaemon) -> bool {
    for _ in 0..100 {
        if !matches!(api.daemon.try_wait(), Ok(None)) {
            return false;
        }
        if api.log_text().contains("admin API listening") {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Runs the connector now through the API and waits for the run's end; its answer.
async fn run_now(api: &AdminDaemon) -> Value {
    // The previous run's row says it ended a moment before its lease is given back: a 409
    // then is the lease, asked again.
    let mut tries = 0;
    let started = loop {
        let (status, started) = api.post("/tenants/default/connectors/hr/runs", "{}").await;
        if status != StatusCode::CONFLICT || tries == 50 {
            assert_eq!(status, StatusCode::ACCEPTED, "{started}");
            break started;
        }
        tries += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let id = started["run_id"].as_i64().unwrap();
    api.wait_for(&format!("/tenants/default/runs/{id}"), "the run", |r| {
        r["status"] != "running"
    })
    .await
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_through_the_console_in_a_browser() {
    let modules = browser_dir().join("node_modules/playwright-core");
    assert!(
        modules.exists(),
        "the browser test needs playwright-core: run `npm ci --prefix tests/browser` (.ci/run does)"
    );
    let setup = start().await;
    let api = &setup.api;
    let (status, old) = api.post("/tenants/default/scim-token", "").await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    let old_token = old["token"].as_str().unwrap().to_owned();

    // Two more runs for the history, then ten of the twelve users vanish from the export:
    // the deletion guard holds the run.
    let export = setup._dir.path().join("export.json");
    for count in [11, 12] {
        write_export(&export, &directory(count), &[]);
        assert_eq!(run_now(api).await["status"], "succeeded");
    }
    write_export(&export, &directory(2), &[]);
    let held = run_now(api).await;
    assert_eq!(held["status"], "held", "{held}");
    let (_, conflicts) = api.get("/tenants/default/conflicts").await;
    assert_eq!(conflicts["conflicts"].as_array().unwrap().len(), 2, "{conflicts}");

    let result_file = setup._dir.path().join("browser.json");
    let shots = std::env::var("IDSYNC_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| setup._dir.path().to_owned());
    let out = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .env("CONSOLE_URL", &setup.console)
        .env("ADMIN_TOKEN", TOKEN)
        .env("TENANT", "default")
        .env("HISTORY_USER", "u3@example.com")
        .env("RESULT_FILE", &result_file)
        .env("SCREENSHOTS", &shots)
        .output()
        .expect("node runs (install nodejs)");
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}\ndaemon log:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        api.log_text()
    );
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&result_file).unwrap()).unwrap();
    check_results(&setup, &result, held["run_id"].as_i64().unwrap(), &old_token).await;
}

/// What the browser did, as the database and the admin API see it.
async fn check_results(setup: &Setup, result: &Value, held: i64, old_token: &str) {
    let api = &setup.api;
    let mut tables = Tables::open(&setup.url);
    // The approval: recorded with the operator, and the next run applied what was held.
    assert_eq!(result["held_run"], held, "{result}");
    let applied = result["applied_run"].as_i64().unwrap();
    let (_, run) = api.get(&format!("/tenants/default/runs/{applied}")).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["deactivated"], 10, "{run}");
    assert_eq!(
        tables.count("SELECT count(*) AS n FROM users WHERE source = 'hr' AND active"),
        2
    );
    let by_ann = |action: &str| {
        format!("SELECT count(*) AS n FROM events WHERE action = '{action}' AND detail LIKE '%\"by\":\"console:ann\"%'")
    };
    assert_eq!(tables.count(&by_ann("guard_approved")), 1);
    let (status, body) = api.post("/tenants/default/connectors/hr/reject", "").await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing is held any more: {body}");
    assert_eq!(tables.count(&by_ann("run_requested")), 1);
    // The conflict: settled as kept separate, by the operator; the other stays open.
    let resolved = result["resolved_conflict"].as_i64().unwrap();
    let open = result["open_conflict"].as_i64().unwrap();
    let status_of = |id: i64| format!("SELECT status AS line FROM conflicts WHERE id = {id}");
    assert_eq!(tables.lines(&status_of(resolved)), ["kept_separate"]);
    assert_eq!(
        tables.lines(&status_of(open)),
        ["open"],
        "a forged dismissal changed nothing"
    );
    assert_eq!(tables.count(&by_ann("conflict_resolved")), 1);
    let (_, list) = api.get("/tenants/default/conflicts").await;
    let ids: Vec<i64> = list["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [open], "{list}");
    // The SCIM token: the one shown works, the one before does not, and the forged
    // rotations made no other.
    let token = result["scim_token"].as_str().unwrap();
    api.wait_scim(token, StatusCode::OK).await;
    api.wait_scim(old_token, StatusCode::UNAUTHORIZED).await;
    assert_eq!(tables.count(&by_ann("scim_token_created")), 1);
    for (name, status) in result["forged"].as_object().unwrap() {
        assert_eq!(status, 403, "{name}");
    }
    assert_eq!(
        tables.count("SELECT count(*) AS n FROM events WHERE detail LIKE '%console:%' AND action = 'conflict_resolved'"),
        1
    );
}

/// Extra request headers, by name.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// The `name=value` of a `Set-Cookie` header, and the header itself.
fn cookie_of(response: &reqwest::Response) -> Option<(String, String)> {
    let header = response.headers().get(SET_COOKIE)?.to_str().ok()?.to_owned();
    let pair = header.split(';').next()?.to_owned();
    Some((pair, header))
}

fn csrf_in(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with the CSRF field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_and_csrf_without_a_browser() {
    let setup = start().await;
    let base = &setup.console;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let anonymous = http.get(format!("{base}/ui/")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/ui/login");

    let login = |token: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let mut request = http
            .post(format!("{base}/ui/login"))
            .form(&[("token", token), ("operator", "bob")]);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let wrong = login("wrong", vec![]).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_of(&wrong).is_none());
    let foreign = login(TOKEN, vec![("origin", "http://evil.example")])
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(cookie_of(&foreign).is_none());
    let proxied = login(TOKEN, vec![("x-forwarded-proto", "https")]).await.unwrap();
    let (_, header) = cookie_of(&proxied).unwrap();
    assert!(header.ends_with("; Secure"), "{header}");

    let signed = login(TOKEN, vec![]).await.unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let (cookie, header) = cookie_of(&signed).unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(header.split("; ").any(|f| f == flag), "{flag} in {header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP: {header}");
    assert!(!header.contains(TOKEN));

    let tenant = http
        .get(format!("{base}/ui/tenants/default"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(tenant.status(), StatusCode::OK);
    let csp = tenant.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = tenant.text().await.unwrap();
    assert!(!page.contains(TOKEN), "the admin token is never in a page");
    let csrf = csrf_in(&page);

    let rotate = format!("{base}/ui/tenants/default/scim-token/rotate");
    let mut tables = Tables::open(&setup.url);
    let tokens = "SELECT count(*) AS n FROM scim_tokens";
    let attempts: [(Headers, &[(&str, &str)]); 4] = [
        (vec![], &[]),
        (vec![], &[("csrf", "d3Jvbmc")]),
        (
            vec![("origin", "http://evil.example")],
            &[("csrf", csrf.as_str())],
        ),
        (vec![("sec-fetch-site", "cross-site")], &[("csrf", csrf.as_str())]),
    ];
    for (headers, form) in attempts {
        let mut request = http.post(&rotate).header(COOKIE, &cookie).form(form);
        for (k, v) in &headers {
            request = request.header(*k, *v);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{headers:?} {form:?}");
        assert_eq!(tables.count(tokens), 0, "a refused request changes nothing");
    }
    let no_session = http
        .post(&rotate)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), StatusCode::FORBIDDEN);
    // A cookie signed with another key (a forged or stale session).
    let forged = http
        .post(&rotate)
        .header(COOKIE, format!("{cookie}x"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(tables.count(tokens), 0);

    let ok = http
        .post(&rotate)
        .header(COOKIE, &cookie)
        .header("origin", base.as_str())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("id=\"new-token\""));
    assert_eq!(tables.count(tokens), 1);
    let by_bob = "SELECT count(*) AS n FROM events WHERE action = 'scim_token_created' \
                  AND detail LIKE '%\"by\":\"console:bob\"%'";
    assert_eq!(tables.count(by_bob), 1);
}

/// The overview's one query and the held-run decisions on one backend: health figures per
/// tenant, search, sort, paging; approve and reject recorded with the actor.
async fn overview_and_decisions(url: &str) {
    use idsync::store::overview::{OverviewQuery, OverviewSort};
    use idsync::store::runs::{RunEnd, RunStatus};
    use idsync::store::{DatabaseUrl, Store};
    use idsync::tenant::TenantId;

    let store = Store::open(&DatabaseUrl::parse(url).unwrap());
    store.migrate().await.unwrap();
    let now = idsync::store::now();
    for (id, name) in [
        ("acme", "Acme Corp"),
        ("beta", "Beta Ltd"),
        ("gamma", "Gamma Acme"),
    ] {
        store
            .put_tenant(&TenantId::parse(id).unwrap(), name, now)
            .await
            .unwrap();
    }
    let beta = store.for_tenant(TenantId::parse("beta").unwrap());
    let run = beta.start_run("hr", "scheduled", now).await.unwrap();
    let end = |status| RunEnd {
        id: run,
        status,
        fetched_users: 1,
        fetched_groups: 0,
        counts: Default::default(),
        error: None,
        held_changes: Some("deactivate user a@example.com (#1): removed upstream".into()),
    };
    beta.end_run(end(RunStatus::Held), now).await.unwrap();
    let mut tables = Tables::open(url);
    tables.execute(
        "INSERT INTO conflicts (tenant_id, connector, external_id, reason, detail, record, status, first_seen_at, last_seen_at) \
         VALUES ('gamma', 'hr', 'x1', 'ambiguous', 'd', '{}', 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    );
    let page = |search: &str, sort, limit, offset| OverviewQuery {
        search: search.into(),
        sort,
        limit,
        offset,
    };
    let (all, _) = store.overview(page("", OverviewSort::Id, 50, 0)).await.unwrap();
    let ids: Vec<&str> = all.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["acme", "beta", "default", "gamma"], "{url}");
    assert_eq!(all.total, 4);
    let row = |id: &str| all.rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!((row("beta").held, row("beta").conflicts_open), (1, 0));
    assert_eq!((row("gamma").held, row("gamma").conflicts_open), (0, 1));
    assert_eq!((row("acme").held, row("acme").conflicts_open), (0, 0));
    let (worst, _) = store
        .overview(page("", OverviewSort::Health, 2, 0))
        .await
        .unwrap();
    let ids: Vec<&str> = worst.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["beta", "gamma"], "needs attention first");
    assert_eq!(worst.total, 4, "the total counts every match, not the page");
    let (second, _) = store.overview(page("", OverviewSort::Id, 2, 2)).await.unwrap();
    assert_eq!(
        second.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["default", "gamma"]
    );
    let (found, _) = store
        .overview(page("ACME", OverviewSort::Name, 50, 0))
        .await
        .unwrap();
    let ids: Vec<&str> = found.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["acme", "gamma"], "by id or name, any case");
    let (none, _) = store
        .overview(page("100%", OverviewSort::Id, 50, 0))
        .await
        .unwrap();
    assert_eq!(none.total, 0, "LIKE wildcards are text");

    // Rejecting: only a held run, only in its tenant; recorded with who decided.
    let acme = store.for_tenant(TenantId::parse("acme").unwrap());
    assert_eq!(acme.reject_held("hr", "console:ann").await.unwrap(), None);
    assert_eq!(beta.approve_as("hr", "console:ann").await.unwrap(), Some(run));
    assert!(beta.sync_state("hr").await.unwrap().guard_approved);
    assert_eq!(beta.reject_held("hr", "console:bob").await.unwrap(), Some(run));
    assert!(
        !beta.sync_state("hr").await.unwrap().guard_approved,
        "the approval is withdrawn"
    );
    assert_eq!(beta.run(run).await.unwrap().unwrap().status, "rejected");
    assert_eq!(beta.reject_held("hr", "console:bob").await.unwrap(), None, "once");
    let decided =
        tables.lines("SELECT action || ' ' || tenant_id || ' ' || detail AS line FROM events ORDER BY id");
    assert_eq!(
        decided,
        [
            r#"guard_approved beta {"by":"console:ann"}"#,
            r#"held_run_rejected beta {"by":"console:bob"}"#,
        ],
        "{url}"
    );
    let (after, _) = store
        .overview(page("beta", OverviewSort::Id, 50, 0))
        .await
        .unwrap();
    assert_eq!(after.rows[0].held, 0, "a rejected run is no longer held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_and_decisions_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    overview_and_decisions(&format!("sqlite://{}", dir.path().join("o.db").display())).await;
    let pg = support::postgres::TestDatabase::create();
    overview_and_decisions(&pg.url).await;
}
