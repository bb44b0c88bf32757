//! Data-driven matcher and planner cases: a local state, what the source says, and the plan
//! expected (rendered as the dry-run prints it), side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use expect_test::{expect, Expect};
use idsync::local::{Link, LocalGroup, LocalState, LocalUser};
use idsync::planner::{self, GuardSettings, PlanSettings, Verdict};
use idsync_source::{ChangeSet, Fetched, GroupChange, GroupRecord, MembersChange, Snapshot, UserRecord};

const SRC: &str = "entra";

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

fn days_ago(days: i64) -> NaiveDateTime {
    now() - chrono::Duration::days(days)
}

/// A local user owned by `source` (None: created by the application) under `ext`.
fn user(id: i64, upn: &str, email: Option<&str>, owner: Option<(&str, &str)>) -> LocalUser {
    LocalUser {
        attributes: None,
        id,
        scim_id: format!("scim-{id}"),
        external_id: owner.map(|(_, e)| e.to_owned()),
        source: owner.map(|(s, _)| s.to_owned()),
        upn: upn.to_owned(),
        email: email.map(str::to_owned),
        display_name: None,
        given_name: None,
        family_name: None,
        job_title: None,
        department: None,
        preferred_language: None,
        active: true,
        archived_at: None,
    }
}

/// The local group #10 "Eng", synced from `SRC` as g-eng.
fn synced_eng() -> LocalGroup {
    LocalGroup {
        id: 10,
        external_id: Some("g-eng".into()),
        source: Some(SRC.into()),
        display_name: "Eng".into(),
        read_only: true,
    }
}

fn archived(mut u: LocalUser, since: NaiveDateTime) -> LocalUser {
    u.active = false;
    u.archived_at = Some(since);
    u
}

fn rec(ext: &str, upn: &str, email: Option<&str>) -> UserRecord {
    UserRecord {
        attributes: None,
        external_id: ext.to_owned(),
        upn: upn.to_owned(),
        email: email.map(str::to_owned),
        display_name: None,
        given_name: None,
        family_name: None,
        job_title: None,
        department: None,
        preferred_language: None,
        enabled: true,
    }
}

fn disabled(mut r: UserRecord) -> UserRecord {
    r.enabled = false;
    r
}

/// Local state: users, and links derived from ownership plus `extra_links`.
fn state(users: Vec<LocalUser>, extra_links: Vec<Link>) -> LocalState {
    let mut links: Vec<Link> = users
        .iter()
        .filter_map(|u| {
            Some(Link {
                source: u.source.clone()?,
                external_id: u.external_id.clone()?,
                user_id: u.id,
                removed_at: u.archived_at.filter(|_| !u.active),
            })
        })
        .collect();
    links.extend(extra_links);
    LocalState {
        users,
        links,
        first_sync: false,
        ..LocalState::default()
    }
}

fn snapshot(users: Vec<UserRecord>, groups: Vec<GroupRecord>) -> Fetched {
    Fetched::Snapshot(Snapshot { users, groups })
}

fn group(ext: &str, name: &str, members: &[&str]) -> GroupRecord {
    GroupRecord {
        external_id: ext.into(),
        display_name: name.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn check(local: &LocalState, fetched: &Fetched, expected: Expect) {
    check_with(local, fetched, &PlanSettings::default(), expected)
}

fn check_with(local: &LocalState, fetched: &Fetched, settings: &PlanSettings, expected: Expect) {
    let mut fetched = fetched.clone();
    fetched.normalize();
    let plan = planner::plan(SRC, fetched, local, settings, now());
    let verdict = planner::judge(&plan, local, &GuardSettings::default(), false);
    let mut out = plan.render();
    if !matches!(verdict, Verdict::Pass) {
        out.push_str(&format!("guard: {verdict:?}\n"));
    }
    expected.assert_eq(&out);
}

#[test]
fn first_sync_creates_everyone_and_links_local_users_by_upn_and_email() {
    let mut local = state(
        vec![
            user(1, "Ann@Example.com", Some("ann@example.com"), None),
            user(2, "bob.old@example.com", Some("bob@example.com"), None),
        ],
        vec![],
    );
    local.first_sync = true;
    check(
        &local,
        &snapshot(
            vec![
                rec("e-ann", "ann@example.com ", Some("ANN@example.com")),
                rec("e-bob", "bob@example.com", Some("bob@example.com")),
                rec("e-cid", "cid@example.com", None),
            ],
            vec![],
        ),
        expect![[r#"
            create user cid@example.com
            adopt local user Ann@Example.com (#1) as e-ann by upn
            adopt local user bob.old@example.com (#2) as e-bob by email
            update user Ann@Example.com (#1): upn: "Ann@Example.com" -> "ann@example.com", email: "ann@example.com" -> "ANN@example.com"
            update user bob.old@example.com (#2): upn: "bob.old@example.com" -> "bob@example.com"
            guard: FirstSync
        "#]],
    );
}

#[test]
fn rerun_with_nothing_changed_is_an_empty_plan() {
    let local = state(
        vec![user(
            1,
            "ann@example.com",
            Some("ann@example.com"),
            Some((SRC, "e-ann")),
        )],
        vec![],
    );
    check(
        &local,
        &snapshot(
            vec![rec("e-ann", "ann@example.com", Some("ann@example.com"))],
            vec![],
        ),
        expect![[r#""#]],
    );
}

#[test]
fn upn_rename_and_email_change_update_in_place() {
    let local = state(
        vec![
            user(
                1,
                "ann@example.com",
                Some("ann@example.com"),
                Some((SRC, "e-ann")),
            ),
            user(
                2,
                "bob@example.com",
                Some("bob@example.com"),
                Some((SRC, "e-bob")),
            ),
        ],
        vec![],
    );
    check(
        &local,
        &snapshot(
            vec![
                rec("e-ann", "ann.smith@example.com", Some("ann@example.com")),
                rec("e-bob", "bob@example.com", Some("robert@example.com")),
            ],
            vec![],
        ),
        expect![[r#"
            update user ann@example.com (#1): upn: "ann@example.com" -> "ann.smith@example.com"
            update user bob@example.com (#2): email: "bob@example.com" -> "robert@example.com"
        "#]],
    );
}

#[test]
fn create_only_fields_are_set_on_create_and_never_updated() {
    let local = state(
        vec![user(
            1,
            "ann@example.com",
            Some("ann@example.com"),
            Some((SRC, "e-ann")),
        )],
        vec![],
    );
    let settings = PlanSettings {
        create_only: vec![planner::UserField::Email],
        ..PlanSettings::default()
    };
    check_with(
        &local,
        &snapshot(
            vec![
                rec("e-ann", "ann.smith@example.com", Some("changed@example.com")),
                rec("e-bob", "bob@example.com", Some("bob@example.com")),
            ],
            vec![],
        ),
        &settings,
        expect![[r#"
            create user bob@example.com
            update user ann@example.com (#1): upn: "ann@example.com" -> "ann.smith@example.com"
        "#]],
    );
}

#[test]
fn a_upn_reused_by_a_new_person_after_the_old_one_left_is_a_new_user() {
    let local = state(
        vec![archived(
            user(
                1,
                "kim@example.com",
                Some("kim@example.com"),
                Some((SRC, "e-kim-1")),
            ),
            days_ago(40),
        )],
        vec![],
    );
    check(
        &local,
        &snapshot(
            vec![rec("e-kim-2", "kim@example.com", Some("kim@example.com"))],
            vec![],
        ),
        expect![[r#"
        create user kim@example.com
    "#]],
    );
}

#[test]
fn a_upn_held_by_a_live_identity_of_the_same_source_is_a_conflict() {
    let local = state(
        vec![user(
            1,
            "kim@example.com",
            Some("kim@example.com"),
            Some((SRC, "e-kim-1")),
        )],
        vec![],
    );
    check(
        &local,
        &snapshot(
            vec![
                rec("e-kim-1", "kim.old@example.com", Some("kim@example.com")),
                rec("e-kim-2", "kim@example.com", None),
            ],
            vec![],
        ),
        expect![[r#"
            update user kim@example.com (#1): upn: "kim@example.com" -> "kim.old@example.com"
            conflict kim@example.com (e-kim-2): linked_to_other: local user kim@example.com (#1) is already linked to entra identity e-kim-1
        "#]],
    );
}

#[test]
fn upn_and_email_pointing_at_two_people_is_a_conflict() {
    let local = state(
        vec![
            user(1, "ann@example.com", Some("ann@example.com"), None),
            user(2, "bob@example.com", Some("bob@example.com"), None),
        ],
        vec![],
    );
    check(
        &local,
        &snapshot(
            vec![rec("e-x", "ann@example.com", Some("bob@example.com"))],
            vec![],
        ),
        expect![[r#"
        conflict ann@example.com (e-x): upn_email_mismatch: upn ann@example.com matches local user #1 but email bob@example.com matches local user #2 (bob@example.com)
    "#]],
    );
}

#[test]
fn duplicate_records_in_one_snapshot() {
    let local = state(vec![], vec![]);
    let mut changed = rec("e-dup", "dup@example.com", None);
    changed.department = Some("Sales".into());
    check(
        &local,
        &snapshot(
            vec![
                rec("e-same", "same@example.com", None),
                rec("e-same", "same@example.com", None),
                rec("e-dup", "dup@example.com", None),
                changed,
                rec("e-a", "shared@example.com", None),
                rec("e-b", "Shared@Example.com", None),
            ],
            vec![],
        ),
        expect![[r#"
            create user same@example.com
            conflict dup@example.com (e-dup): duplicate_record: the source sent different records for external id e-dup
            conflict shared@example.com (e-a): upn_taken: upn shared@example.com is claimed by several records of this run
            conflict Shared@Example.com (e-b): upn_taken: upn shared@example.com is claimed by several records of this run
        "#]],
    );
}

#[test]
fn a_user_in_two_sources_is_linked_not_duplicated_and_stays_owned_by_the_first() {
    let local = state(
        vec![user(
            1,
            "ann@example.com",
            Some("ann@example.com"),
            Some(("okta", "00u-ann")),
        )],
        vec![],
    );
    let mut record = rec("e-ann", "ann@example.com", Some("ann@example.com"));
    record.department = Some("Engineering".into());
    check(
        &local,
        &snapshot(vec![record], vec![]),
        expect![[r#"
        link user ann@example.com (#1) as e-ann by upn
    "#]],
    );
}

#[test]
fn disabled_removed_restored_and_purged_users() {
    let local = state(
        vec![
            user(1, "on@example.com", None, Some((SRC, "e-on"))),
            user(2, "gone@example.com", None, Some((SRC, "e-gone"))),
            archived(
                user(3, "back@example.com", None, Some((SRC, "e-back"))),
                days_ago(3),
            ),
            archived(
                user(4, "old@example.com", None, Some((SRC, "e-old"))),
                days_ago(100),
            ),
            user(5, "local@example.com", None, None),
        ],
        vec![],
    );
    let settings = PlanSettings {
        delete_archived_after_days: Some(90),
        ..PlanSettings::default()
    };
    check_with(
        &local,
        &snapshot(
            vec![
                disabled(rec("e-on", "on@example.com", None)),
                rec("e-back", "back@example.com", None),
            ],
            vec![],
        ),
        &settings,
        expect![[r#"
            deactivate user on@example.com (#1): disabled upstream
            deactivate user gone@example.com (#2): removed upstream
            reactivate user back@example.com (#3)
            purge user old@example.com (#4): archived since 2026-08-15
            guard: Hold { reason: "would deactivate or delete 3 of 4 users (75.0%), more than max_deactivation_percent = 20" }
        "#]],
    );
}

#[test]
fn memberships_follow_the_source_but_are_kept_while_archived() {
    let mut local = state(
        vec![
            user(1, "ann@example.com", None, Some((SRC, "e-ann"))),
            user(2, "bob@example.com", None, Some((SRC, "e-bob"))),
            archived(
                user(3, "cid@example.com", None, Some((SRC, "e-cid"))),
                days_ago(2),
            ),
        ],
        vec![],
    );
    local.groups = vec![synced_eng()];
    local.members = HashMap::from([(10, HashSet::from([1, 2, 3]))]);
    check(
        &local,
        &snapshot(
            vec![
                rec("e-ann", "ann@example.com", None),
                rec("e-bob", "bob@example.com", None),
                rec("e-dan", "dan@example.com", None),
            ],
            vec![
                group("g-eng", "Engineering", &["e-ann", "e-dan"]),
                group("g-new", "New", &["e-bob"]),
            ],
        ),
        expect![[r#"
            create user dan@example.com
            create group New
            rename group #10: Eng -> Engineering
            add dan@example.com to Engineering
            remove bob@example.com from Engineering
            add bob@example.com to New
        "#]],
    );
}

#[test]
fn groups_match_local_ones_by_name_only_when_configured() {
    let mut local = state(vec![], vec![]);
    local.groups = vec![LocalGroup {
        id: 7,
        external_id: None,
        source: None,
        display_name: "Sales".into(),
        read_only: false,
    }];
    let fetched = snapshot(vec![], vec![group("g-sales", "sales", &[])]);
    check(
        &local,
        &fetched,
        expect![[r#"
        create group sales
    "#]],
    );
    let settings = PlanSettings {
        match_groups_by_name: true,
        ..PlanSettings::default()
    };
    check_with(
        &local,
        &fetched,
        &settings,
        expect![[r#"
        adopt local group Sales (#7) as g-sales
    "#]],
    );
}

#[test]
fn change_sets_never_read_absence_as_removal() {
    let mut local = state(
        vec![
            user(1, "ann@example.com", None, Some((SRC, "e-ann"))),
            user(2, "bob@example.com", None, Some((SRC, "e-bob"))),
            user(3, "cid@example.com", None, Some((SRC, "e-cid"))),
        ],
        vec![],
    );
    local.groups = vec![synced_eng()];
    local.members = HashMap::from([(10, HashSet::from([1, 2]))]);
    let changes = Fetched::Changes(ChangeSet {
        users: vec![rec("e-dan", "dan@example.com", None)],
        removed_users: vec!["e-cid".into(), "e-unknown".into()],
        groups: vec![GroupChange {
            external_id: "g-eng".into(),
            display_name: None,
            members: MembersChange::Delta {
                added: vec!["e-dan".into()],
                removed: vec!["e-bob".into()],
            },
        }],
        removed_groups: vec![],
    });
    check(
        &local,
        &changes,
        expect![[r#"
        create user dan@example.com
        deactivate user cid@example.com (#3): removed upstream
        add dan@example.com to Eng
        remove bob@example.com from Eng
        guard: Hold { reason: "would deactivate or delete 1 of 3 users (33.3%), more than max_deactivation_percent = 20" }
    "#]],
    );
}

#[test]
fn the_guard_holds_mass_removals_but_not_a_first_sync() {
    let users: Vec<LocalUser> = (1..=10)
        .map(|i| {
            user(
                i,
                &format!("u{i}@example.com"),
                None,
                Some((SRC, &format!("e-{i}"))),
            )
        })
        .collect();
    let local = state(users, vec![]);
    let keep: Vec<UserRecord> = (1..=7)
        .map(|i| rec(&format!("e-{i}"), &format!("u{i}@example.com"), None))
        .collect();
    check(
        &local,
        &snapshot(keep, vec![]),
        expect![[r#"
        deactivate user u8@example.com (#8): removed upstream
        deactivate user u9@example.com (#9): removed upstream
        deactivate user u10@example.com (#10): removed upstream
        guard: Hold { reason: "would deactivate or delete 3 of 10 users (30.0%), more than max_deactivation_percent = 20" }
    "#]],
    );

    let mut first = local.clone();
    first.first_sync = true;
    let plan = planner::plan(
        SRC,
        snapshot(vec![], vec![]),
        &first,
        &PlanSettings::default(),
        now(),
    );
    assert_eq!(plan.deactivations.len(), 10);
    assert_eq!(
        planner::judge(&plan, &first, &GuardSettings::default(), false),
        Verdict::FirstSync
    );
    let approved = planner::judge(&plan, &local, &GuardSettings::default(), true);
    assert!(matches!(approved, Verdict::Approved { .. }), "{approved:?}");
    let loose = GuardSettings {
        max_deactivations: 500,
        max_deactivation_percent: 100.0,
    };
    // An answer without any of the source's active users is held even by loose thresholds.
    assert_eq!(
        planner::judge(&plan, &local, &loose, false),
        Verdict::Hold {
            reason: "the source no longer lists any of its 10 active users: an empty or partial \
                     answer is held whatever the thresholds"
                .into()
        }
    );
    let one_left = planner::plan(
        SRC,
        snapshot(vec![rec("e-1", "u1@example.com", None)], vec![]),
        &local,
        &PlanSettings::default(),
        now(),
    );
    assert_eq!(one_left.deactivations.len(), 9);
    assert_eq!(planner::judge(&one_left, &local, &loose, false), Verdict::Pass);
    let (safe, held) = planner::withhold_destructive(&plan);
    assert!(safe.deactivations.is_empty() && safe.links_removed.is_empty());
    assert_eq!(held.deactivations.len(), 10);
}

/// A record an operator kept apart from the two users sharing its email (a conflict resolved
/// `keep_separate`) is offered neither of them: with its sign-in name free it becomes a user
/// of its own, where before it was an ambiguous conflict.
#[test]
fn a_record_kept_apart_becomes_its_own_user() {
    let users = vec![
        user(1, "dee@x.com", Some("team@x.com"), None),
        user(2, "eve@x.com", Some("team@x.com"), None),
    ];
    let fetched = snapshot(vec![rec("e10", "rae@x.com", Some("team@x.com"))], vec![]);
    let mut local = state(users, vec![]);
    let plan = planner::plan(SRC, fetched.clone(), &local, &PlanSettings::default(), now());
    assert_eq!(plan.conflicts.len(), 1, "{}", plan.render());
    local.kept_apart = HashMap::from([("e10".to_owned(), HashSet::from([1, 2]))]);
    check(
        &local,
        &fetched,
        expect![[r#"
            create user rae@x.com
        "#]],
    );
}
