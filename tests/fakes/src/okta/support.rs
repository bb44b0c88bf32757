//! Shared helpers of the Okta tests: connector configuration for the fake, a small org, and
//! the org's ground truth to compare a [`Mirror`](crate::mirror::Mirror) with.
#![allow(clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use idsync_okta::{OktaConfig, OktaSource};
use serde_json::{Map, Value as Json};

use super::{profile, FakeOkta, API_TOKEN};

/// Fast retries, no overlap (the fake and the connector share a clock), no periodic full
/// reconcile within a test.
pub const TEST_KEYS: &str = "retry.initial_backoff_secs = 0.01\nretry.max_backoff_secs = 0.05";

pub fn parse_config(text: &str) -> OktaConfig {
    let mut config: OktaConfig = idsync_source::test_support::parse_toml(text).unwrap();
    config.check(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    config
}

/// Connector keys for the fake with its API token; `extra` is appended TOML.
pub fn config_text(fake: &FakeOkta, extra: &str) -> String {
    let overlap = if extra.contains("overlap_secs") {
        ""
    } else {
        "overlap_secs = 0"
    };
    format!(
        "org_url = \"{}\"\napi_token = \"{API_TOKEN}\"\n{TEST_KEYS}\n{overlap}\n{extra}\n",
        fake.org_url()
    )
}

pub fn source(fake: &FakeOkta, extra: &str) -> OktaSource {
    OktaSource::new("okta", parse_config(&config_text(fake, extra)))
}

/// What the application should hold: active users (in scope, not DEPROVISIONED or SUSPENDED)
/// as id -> login, and the synced groups (OKTA_GROUP, APP_GROUP, or those listed in
/// `listed`) with their in-scope members.
pub fn truth(
    fake: &FakeOkta,
    listed: &[&str],
    in_scope: impl Fn(&str, &str, &Map<String, Json>) -> bool,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, (String, BTreeSet<String>)>,
) {
    let users = fake.users();
    let groups: BTreeMap<String, (String, String, BTreeSet<String>)> = fake
        .groups()
        .into_iter()
        .filter(|(id, (kind, name, _))| {
            let is_listed = listed.iter().any(|l| l == id || l.eq_ignore_ascii_case(name));
            match kind.as_str() {
                "OKTA_GROUP" | "APP_GROUP" => listed.is_empty() || is_listed,
                _ => is_listed,
            }
        })
        .collect();
    let scope: BTreeSet<&String> = users
        .iter()
        .filter(|(id, (status, p))| in_scope(id, status, p))
        .filter(|(id, _)| listed.is_empty() || groups.values().any(|g| g.2.contains(*id)))
        .map(|(id, _)| id)
        .collect();
    let active = users
        .iter()
        .filter(|(id, (status, _))| scope.contains(id) && status != "DEPROVISIONED" && status != "SUSPENDED")
        .map(|(id, (_, p))| (id.clone(), p["login"].as_str().unwrap().to_owned()))
        .collect();
    let groups = groups
        .into_iter()
        .map(|(id, (_, name, members))| {
            (
                id,
                (name, members.into_iter().filter(|m| scope.contains(m)).collect()),
            )
        })
        .collect();
    (active, groups)
}

/// A fake started and seeded with the small directory of [`seed`].
pub async fn seeded() -> FakeOkta {
    let fake = FakeOkta::start().await;
    seed(&fake);
    fake
}

/// A small org: six people in several statuses, two OKTA_GROUPs and an APP_GROUP, besides
/// Everyone.
pub fn seed(fake: &FakeOkta) {
    for (id, status, login, first, last) in [
        ("00uann", "ACTIVE", "ann@example.com", "Ann", "Archer"),
        ("00ubob", "ACTIVE", "bob@example.com", "Bob", "Baker"),
        ("00ucid", "PROVISIONED", "cid@example.com", "Cid", "Cole"),
        ("00udee", "DEPROVISIONED", "dee@example.com", "Dee", "Dunn"),
        ("00ueve", "STAGED", "eve@example.com", "Eve", "Evans"),
        ("00ufay", "LOCKED_OUT", "fay@example.com", "Fay", "Fox"),
    ] {
        fake.add_user(id, status, profile(login, first, last));
    }
    fake.update_profile(
        "00uann",
        serde_json::json!({"department": "R&D", "title": "Engineer", "preferredLanguage": "en-US",
                           "displayName": "Ann A."}),
    );
    fake.add_group("00geng", "Engineering", "OKTA_GROUP");
    fake.add_group("00gops", "Operations", "OKTA_GROUP");
    fake.add_group("00gad", "AD Staff", "APP_GROUP");
    for (g, u) in [
        ("00geng", "00uann"),
        ("00geng", "00ubob"),
        ("00geng", "00udee"),
        ("00gops", "00ucid"),
        ("00gad", "00ufay"),
        ("00gad", "00uann"),
    ] {
        fake.add_member(g, u);
    }
}
