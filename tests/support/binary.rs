//! The release path harness for the connector tests: a temporary SQLite file and a
//! configuration with one connector, `idsync` runs against it, and the application tables
//! read back to compare with a fake's ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use idsync::store::{self, DatabaseUrl};

/// Active users (external id -> upn) and groups (external id -> (name, member ids)).
pub type Truth = (
    BTreeMap<String, String>,
    BTreeMap<String, (String, BTreeSet<String>)>,
);

/// The application tables of one connector.
#[derive(Debug, PartialEq, Eq)]
pub struct Tables {
    /// Active, unarchived users: external id -> upn.
    pub active: BTreeMap<String, String>,
    /// Every user's job title.
    pub titles: BTreeMap<String, Option<String>>,
    /// The connector's groups: external id -> (name, member external ids).
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
}

/// A configuration with one connector (named after its kind) on a fresh SQLite file.
pub struct Binary {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    connector: String,
    /// The environment every run gets (secrets the configuration reads with `{ env = .. }`).
    env: Vec<(String, String)>,
}

impl Binary {
    /// Writes the configuration: `kind`'s connector with `keys` (TOML), and `env` for runs.
    pub fn new(kind: &str, keys: &str, env: &[(&str, &str)]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("idsync.db");
        let config = dir.path().join("idsync.toml");
        let text = format!(
            "[database]\nurl = \"sqlite://{}\"\n\n\
             [[connectors]]\nname = \"{kind}\"\nkind = \"{kind}\"\n{keys}\n",
            db.display()
        );
        std::fs::write(&config, text).unwrap();
        Binary {
            _dir: dir,
            config,
            db,
            connector: kind.to_owned(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Runs `idsync --config <config> <args>` with the runs' environment, then `env`, and
    /// `RUST_LOG=<log>`.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)], log: &str) -> std::process::Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_idsync"));
        command.arg("--config").arg(&self.config).args(args);
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.envs(env.iter().copied()).env("RUST_LOG", log);
        command.output().await.unwrap()
    }

    /// The temporary directory that holds the configuration (files it names by a relative
    /// path go here) and the database.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Runs `idsync --config <config> <args>` with warnings logged; returns the exit code and
    /// the combined output.
    pub async fn run_text(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args, &[], "warn").await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Runs `idsync resync` on the connector; returns the exit code and the combined output.
    pub async fn resync(&self, full: bool) -> (i32, String) {
        let mut args = vec!["resync", "--connector", &self.connector];
        if full {
            args.push("--full");
        }
        self.run_text(&args).await
    }

    /// The application tables as the connector's runs left them.
    pub async fn tables(&self) -> Tables {
        load_tables(&DatabaseUrl::Sqlite(self.db.clone()), &self.connector).await
    }

    /// The tables must hold the directory's truth: active users, and each group's live,
    /// active members.
    pub async fn assert_tables_match(&self, (users, groups): Truth, step: &str) {
        let Tables {
            active,
            groups: mut table_groups,
            ..
        } = self.tables().await;
        assert_eq!(active, users, "{step}: users");
        // Archived users keep their memberships; the application sees only active ones.
        for (_, members) in table_groups.values_mut() {
            members.retain(|m| active.contains_key(m));
        }
        let expected: BTreeMap<_, _> = groups
            .into_iter()
            .map(|(id, (name, members))| {
                let members = members.into_iter().filter(|m| active.contains_key(m)).collect();
                (id, (name, members))
            })
            .collect();
        assert_eq!(table_groups, expected, "{step}: groups");
    }
}

/// The application tables of `connector` in the database at `url`.
pub async fn load_tables(url: &DatabaseUrl, connector: &str) -> Tables {
    let local = store::Store::open(url).load_local(connector).await.unwrap();
    let ext: BTreeMap<i64, String> = local
        .users
        .iter()
        .filter_map(|u| u.external_id.clone().map(|e| (u.id, e)))
        .collect();
    let active = local
        .users
        .iter()
        .filter(|u| u.active && u.archived_at.is_none())
        .map(|u| (u.external_id.clone().unwrap(), u.upn.clone()))
        .collect();
    let titles = local
        .users
        .iter()
        .map(|u| (u.external_id.clone().unwrap(), u.job_title.clone()))
        .collect();
    let groups = local
        .groups
        .iter()
        .filter(|g| g.source.as_deref() == Some(connector))
        .map(|g| {
            let members = local
                .members
                .get(&g.id)
                .map(|m| m.iter().map(|u| ext[u].clone()).collect())
                .unwrap_or_default();
            (g.external_id.clone().unwrap(), (g.display_name.clone(), members))
        })
        .collect();
    Tables {
        active,
        titles,
        groups,
    }
}
