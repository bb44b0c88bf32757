//! Provision on demand: one user, looked up by the connector, shown step by step (scope,
//! matcher, plan) and applied through the same pipeline as any run, without moving the
//! connector's cursor.

use std::sync::Mutex;

use async_trait::async_trait;
use idsync_source::{Batch, ChangeSet, FetchRequest, Fetched, Progress, Source, SourceError, UserRecord};

use crate::local::LocalState;
use crate::matcher::{Incoming, MatchOutcome, Matcher};

/// A source that hands out one prepared batch: the on-demand user.
pub struct Prepared {
    name: String,
    batch: Mutex<Option<Batch>>,
}

impl Prepared {
    /// The batch for one looked-up user: an upsert when in scope, a removal when not.
    pub fn for_user(name: &str, record: UserRecord, in_scope: bool) -> Prepared {
        let changes = if in_scope {
            ChangeSet {
                users: vec![record],
                ..ChangeSet::default()
            }
        } else {
            ChangeSet {
                removed_users: vec![record.external_id],
                ..ChangeSet::default()
            }
        };
        Prepared {
            name: name.to_owned(),
            batch: Mutex::new(Some(Batch {
                data: Fetched::Changes(changes),
                cursor: None,
            })),
        }
    }

    /// A second copy, for applying after a dry run.
    pub fn again(&self) -> Prepared {
        let batch = self.batch.lock().map(|b| b.clone()).unwrap_or(None);
        Prepared {
            name: self.name.clone(),
            batch: Mutex::new(batch),
        }
    }
}

#[async_trait]
impl Source for Prepared {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, _request: &FetchRequest, progress: &dyn Progress) -> Result<Batch, SourceError> {
        progress.fetched("users", 1);
        self.batch
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .ok_or_else(|| SourceError::Config("the on-demand batch was already used".into()))
    }
}

/// What the matcher makes of the record, in words.
pub fn explain_match(source: &str, record: &UserRecord, local: &LocalState) -> String {
    let matcher = Matcher::new(&local.users, &local.links).kept_apart(&local.kept_apart);
    let incoming = Incoming::from_record(source, record);
    match matcher.find(&incoming, &|link| link.removed_at.is_none()) {
        MatchOutcome::Found { user, by } => {
            let u = &local.users[user];
            let owner = match u.source.as_deref() {
                Some(s) if s == source => format!("owned by {s}"),
                Some(s) => format!("owned by {s}; {source} would link to it, not take it over"),
                None => format!("created by the application; {source} would adopt it"),
            };
            format!(
                "matcher: local user #{} ({}) by {}, {owner}",
                u.id,
                u.upn,
                by.as_str()
            )
        }
        MatchOutcome::New => "matcher: no local user matches; a new user would be created".to_owned(),
        MatchOutcome::Conflict(c) => format!("matcher: CONFLICT ({}): {}", c.reason.as_str(), c.detail),
    }
}
