//! The one matcher: finds the local user an incoming identity belongs to, or says why it
//! cannot tell. Pull connectors and the SCIM endpoint both go through it.
//!
//! Order: the existing link (same source and external id) or the SCIM id, then the external
//! provider id, then the UPN, then the email. It never merges two people: a candidate already
//! linked to a different live identity of the same source, or a UPN and an email that point at
//! two different users, is a [`Conflict`] for a person to settle.

mod normalize;

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

pub use normalize::identity_key;

use crate::local::{Link, LocalUser};

/// The identity looking for its local user.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub source: &'a str,
    pub external_id: Option<&'a str>,
    /// The id the SCIM endpoint served for this user, when the client names it.
    pub scim_id: Option<&'a str>,
    pub upn: &'a str,
    pub email: Option<&'a str>,
}

impl<'a> Incoming<'a> {
    /// A pulled record, known by its external id.
    pub fn from_record(source: &'a str, record: &'a idsync_source::UserRecord) -> Incoming<'a> {
        Incoming {
            source,
            external_id: Some(&record.external_id),
            scim_id: None,
            upn: &record.upn,
            email: record.email.as_deref(),
        }
    }
}

/// How a match was found, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchedBy {
    Link,
    ScimId,
    ExternalId,
    Upn,
    Email,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Link => "link",
            MatchedBy::ScimId => "scim id",
            MatchedBy::ExternalId => "external id",
            MatchedBy::Upn => "upn",
            MatchedBy::Email => "email",
        }
    }
}

/// Why the matcher refused to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictReason {
    /// The candidate is already linked to another identity of the same source that still exists.
    LinkedToOther,
    /// The UPN and the email point at two different local users.
    UpnEmailMismatch,
    /// Several local users share the key and none is clearly the one.
    Ambiguous,
    /// The source sent two different records under one external id.
    DuplicateRecord,
    /// Applying the record would give a sign-in name to two live users.
    UpnTaken,
}

impl ConflictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::LinkedToOther => "linked_to_other",
            ConflictReason::UpnEmailMismatch => "upn_email_mismatch",
            ConflictReason::Ambiguous => "ambiguous",
            ConflictReason::DuplicateRecord => "duplicate_record",
            ConflictReason::UpnTaken => "upn_taken",
        }
    }
}

/// A refusal, with both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub reason: ConflictReason,
    /// The local user the record came closest to.
    pub local_user: Option<i64>,
    /// The other party: a second local user, or none.
    pub other_user: Option<i64>,
    pub detail: String,
}

/// The matcher's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// The index of the user in the matcher's user slice.
    Found {
        user: usize,
        by: MatchedBy,
    },
    New,
    Conflict(Conflict),
}

/// Indexes over the local users, built once per run.
#[derive(Debug)]
pub struct Matcher<'a> {
    users: &'a [LocalUser],
    by_id: HashMap<i64, usize>,
    by_link: HashMap<(&'a str, &'a str), usize>,
    by_scim_id: HashMap<&'a str, usize>,
    by_external_id: HashMap<&'a str, Vec<usize>>,
    /// Built on first use: a steady-state run finds everyone by link and never needs them.
    by_upn: OnceCell<HashMap<String, Vec<usize>>>,
    by_email: OnceCell<HashMap<String, Vec<usize>>>,
    links_by_user: HashMap<i64, Vec<&'a Link>>,
    /// External ids an operator kept apart from these local users (a conflict resolved
    /// `keep_separate`): never a candidate for them.
    kept_apart: Option<&'a HashMap<String, HashSet<i64>>>,
}

/// Whether a candidate can take the incoming identity.
enum Fit {
    Free,
    /// Linked to a live identity of the same source: taking it would merge two people.
    Blocked(String),
    /// Linked to an identity of the same source that no longer exists: a former person whose
    /// name is being reused. Not a match, and not a conflict.
    Former,
}

impl<'a> Matcher<'a> {
    pub fn new(users: &'a [LocalUser], links: &'a [Link]) -> Self {
        let mut by_id = HashMap::with_capacity(users.len());
        let mut by_scim_id = HashMap::with_capacity(users.len());
        let mut by_external_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, user) in users.iter().enumerate() {
            by_id.insert(user.id, i);
            by_scim_id.insert(user.scim_id.as_str(), i);
            if let Some(ext) = &user.external_id {
                by_external_id.entry(ext.as_str()).or_default().push(i);
            }
        }
        let mut by_link = HashMap::with_capacity(links.len());
        let mut links_by_user: HashMap<i64, Vec<&Link>> = HashMap::with_capacity(links.len());
        for link in links {
            if let Some(&i) = by_id.get(&link.user_id) {
                by_link.insert((link.source.as_str(), link.external_id.as_str()), i);
                links_by_user.entry(link.user_id).or_default().push(link);
            }
        }
        Matcher {
            users,
            by_id,
            by_link,
            by_scim_id,
            by_external_id,
            by_upn: OnceCell::new(),
            by_email: OnceCell::new(),
            links_by_user,
            kept_apart: None,
        }
    }

    /// Never offers a user to an external id an operator kept apart from it.
    pub fn kept_apart(mut self, kept_apart: &'a HashMap<String, HashSet<i64>>) -> Self {
        self.kept_apart = Some(kept_apart);
        self
    }

    fn upn_index(&self) -> &HashMap<String, Vec<usize>> {
        self.by_upn
            .get_or_init(|| key_index(self.users, |u| Some(u.upn.as_str())))
    }

    fn email_index(&self) -> &HashMap<String, Vec<usize>> {
        self.by_email
            .get_or_init(|| key_index(self.users, |u| u.email.as_deref()))
    }

    pub fn users(&self) -> &'a [LocalUser] {
        self.users
    }

    pub fn index_of(&self, user_id: i64) -> Option<usize> {
        self.by_id.get(&user_id).copied()
    }

    /// The user holding the link (source, external id), if any.
    pub fn linked(&self, source: &str, external_id: &str) -> Option<usize> {
        self.by_link.get(&(source, external_id)).copied()
    }

    /// Indexes of the users whose UPN has this comparison key.
    pub fn users_with_key(&self, key: &str) -> Vec<usize> {
        self.upn_index().get(key).cloned().unwrap_or_default()
    }

    /// The links a user holds.
    pub fn links_of(&self, user_id: i64) -> &[&'a Link] {
        self.links_by_user.get(&user_id).map_or(&[], Vec::as_slice)
    }

    /// Finds the local user for `incoming`. `is_live(link)` says whether another identity of
    /// the same source still exists upstream; it decides between a conflict and a former
    /// person whose UPN or email is being reused.
    pub fn find(&self, incoming: &Incoming<'_>, is_live: &dyn Fn(&Link) -> bool) -> MatchOutcome {
        if let Some(ext) = incoming.external_id {
            if let Some(user) = self.linked(incoming.source, ext) {
                return MatchOutcome::Found {
                    user,
                    by: MatchedBy::Link,
                };
            }
        }
        if let Some(user) = incoming.scim_id.and_then(|id| self.by_scim_id.get(id)) {
            return MatchOutcome::Found {
                user: *user,
                by: MatchedBy::ScimId,
            };
        }
        if let Some(outcome) = incoming
            .external_id
            .and_then(|ext| self.by_external_id(ext, incoming, is_live))
        {
            return outcome;
        }
        self.by_upn_and_email(incoming, is_live)
    }

    /// A free local user carrying the record's external id (one: found; several: ambiguous).
    fn by_external_id(
        &self,
        ext: &str,
        incoming: &Incoming<'_>,
        is_live: &dyn Fn(&Link) -> bool,
    ) -> Option<MatchOutcome> {
        let candidates = self.by_external_id.get(ext).map_or(&[][..], Vec::as_slice);
        let free: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| matches!(self.fit(i, incoming, is_live), Fit::Free))
            .collect();
        match free.as_slice() {
            [user] => Some(MatchOutcome::Found {
                user: *user,
                by: MatchedBy::ExternalId,
            }),
            [first, second, ..] => Some(MatchOutcome::Conflict(Conflict {
                reason: ConflictReason::Ambiguous,
                local_user: Some(self.users[*first].id),
                other_user: Some(self.users[*second].id),
                detail: format!("{} local users carry external id {ext}", free.len()),
            })),
            [] => None,
        }
    }

    /// Matching by UPN and email, which must agree; a user linked to another identity of the
    /// source is a conflict, no candidate a new user.
    fn by_upn_and_email(&self, incoming: &Incoming<'_>, is_live: &dyn Fn(&Link) -> bool) -> MatchOutcome {
        let by_upn = self.candidates(self.upn_index(), incoming.upn, incoming, is_live);
        let by_email = match incoming.email {
            Some(email) if !email.trim().is_empty() => {
                self.candidates(self.email_index(), email, incoming, is_live)
            }
            _ => Candidates::default(),
        };

        if by_upn.free.len() > 1 {
            return self.ambiguous(&by_upn.free, "upn", incoming.upn);
        }
        let upn_user = by_upn.free.first().copied();
        let email_user = match (upn_user, by_email.free.as_slice()) {
            (Some(u), free) if free.contains(&u) => Some(u),
            (_, [one]) => Some(*one),
            (None, [_, _, ..]) => {
                return self.ambiguous(&by_email.free, "email", incoming.email.unwrap_or(""))
            }
            _ => None,
        };

        match (upn_user, email_user) {
            (Some(u), Some(e)) if u != e => {
                return MatchOutcome::Conflict(self.mismatch(u, e, incoming));
            }
            (Some(u), None) => {
                if let Some((blocked, _)) = by_email.blocked.iter().find(|(b, _)| *b != u) {
                    return MatchOutcome::Conflict(self.mismatch(u, *blocked, incoming));
                }
                return MatchOutcome::Found {
                    user: u,
                    by: MatchedBy::Upn,
                };
            }
            (None, Some(e)) => {
                if let Some((blocked, _)) = by_upn.blocked.iter().find(|(b, _)| *b != e) {
                    return MatchOutcome::Conflict(self.mismatch(*blocked, e, incoming));
                }
                return MatchOutcome::Found {
                    user: e,
                    by: MatchedBy::Email,
                };
            }
            (Some(u), Some(_)) => {
                return MatchOutcome::Found {
                    user: u,
                    by: MatchedBy::Upn,
                }
            }
            (None, None) => {}
        }

        if let Some((user, other_ext)) = by_upn.blocked.first().or(by_email.blocked.first()) {
            let local = &self.users[*user];
            return MatchOutcome::Conflict(Conflict {
                reason: ConflictReason::LinkedToOther,
                local_user: Some(local.id),
                other_user: None,
                detail: format!(
                    "local user {} (#{}) is already linked to {} identity {other_ext}",
                    local.upn, local.id, incoming.source
                ),
            });
        }
        MatchOutcome::New
    }

    fn candidates(
        &self,
        index: &HashMap<String, Vec<usize>>,
        value: &str,
        incoming: &Incoming<'_>,
        is_live: &dyn Fn(&Link) -> bool,
    ) -> Candidates {
        let mut out = Candidates::default();
        for &i in index.get(&identity_key(value)).map_or(&[][..], Vec::as_slice) {
            match self.fit(i, incoming, is_live) {
                Fit::Free => out.free.push(i),
                Fit::Blocked(other) => out.blocked.push((i, other)),
                Fit::Former => {}
            }
        }
        // A live user is a better candidate than archived ones sharing the key.
        if out.free.len() > 1 && out.free.iter().any(|&i| !self.users[i].is_archived()) {
            out.free.retain(|&i| !self.users[i].is_archived());
        }
        out
    }

    fn fit(&self, user: usize, incoming: &Incoming<'_>, is_live: &dyn Fn(&Link) -> bool) -> Fit {
        let local = &self.users[user];
        let kept_apart = incoming
            .external_id
            .and_then(|ext| self.kept_apart?.get(ext))
            .is_some_and(|users| users.contains(&local.id));
        if kept_apart {
            // Decided by a person: not this user, and not a conflict either.
            return Fit::Former;
        }
        let same_source = self
            .links_of(local.id)
            .iter()
            .filter(|l| l.source == incoming.source);
        let mut former = false;
        for link in same_source {
            if Some(link.external_id.as_str()) == incoming.external_id {
                return Fit::Free;
            }
            if is_live(link) {
                return Fit::Blocked(link.external_id.clone());
            }
            former = true;
        }
        if former {
            Fit::Former
        } else {
            Fit::Free
        }
    }

    fn ambiguous(&self, users: &[usize], what: &str, value: &str) -> MatchOutcome {
        MatchOutcome::Conflict(Conflict {
            reason: ConflictReason::Ambiguous,
            local_user: users.first().map(|&i| self.users[i].id),
            other_user: users.get(1).map(|&i| self.users[i].id),
            detail: format!("{} local users share the {what} {value}", users.len()),
        })
    }

    fn mismatch(&self, by_upn: usize, by_email: usize, incoming: &Incoming<'_>) -> Conflict {
        let (u, e) = (&self.users[by_upn], &self.users[by_email]);
        Conflict {
            reason: ConflictReason::UpnEmailMismatch,
            local_user: Some(u.id),
            other_user: Some(e.id),
            detail: format!(
                "upn {} matches local user #{} but email {} matches local user #{} ({})",
                incoming.upn,
                u.id,
                incoming.email.unwrap_or(""),
                e.id,
                e.upn
            ),
        }
    }
}

fn key_index(users: &[LocalUser], value: impl Fn(&LocalUser) -> Option<&str>) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::with_capacity(users.len());
    for (i, user) in users.iter().enumerate() {
        if let Some(v) = value(user) {
            index.entry(identity_key(v)).or_default().push(i);
        }
    }
    index
}

#[derive(Default)]
struct Candidates {
    free: Vec<usize>,
    blocked: Vec<(usize, String)>,
}
