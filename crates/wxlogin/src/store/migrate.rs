//! Schema migrations: numbered SQL files per engine (`migrations/sqlite`,
//! `migrations/postgres`), embedded in the binary and applied in order, each
//! once, recorded in `wxlogin_migrations`. Databases created by releases that
//! migrated with sqlx carry its `_sqlx_migrations` table instead: the
//! versions it records as applied are adopted, so such a database upgrades
//! in place with every user and session kept.
//!
//! Adding a migration: a new file in both folders with the next number, and
//! one line in each list below.

use super::StoreError;

pub(super) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(super) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "access tokens",
        sql: include_str!("../../migrations/sqlite/0002_access_tokens.sql"),
    },
    Migration {
        version: 3,
        name: "claim session expiry",
        sql: include_str!("../../migrations/sqlite/0003_claim_session_expiry.sql"),
    },
    Migration {
        version: 4,
        name: "user key_at",
        sql: include_str!("../../migrations/sqlite/0004_user_key_at.sql"),
    },
    Migration {
        version: 5,
        name: "users and identities",
        sql: include_str!("../../migrations/sqlite/0005_users_and_identities.sql"),
    },
    Migration {
        version: 6,
        name: "signing keys",
        sql: include_str!("../../migrations/sqlite/0006_signing_keys.sql"),
    },
];

pub(super) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "access tokens",
        sql: include_str!("../../migrations/postgres/0002_access_tokens.sql"),
    },
    Migration {
        version: 3,
        name: "claim session expiry",
        sql: include_str!("../../migrations/postgres/0003_claim_session_expiry.sql"),
    },
    Migration {
        version: 4,
        name: "user key_at",
        sql: include_str!("../../migrations/postgres/0004_user_key_at.sql"),
    },
    Migration {
        version: 5,
        name: "users and identities",
        sql: include_str!("../../migrations/postgres/0005_users_and_identities.sql"),
    },
    Migration {
        version: 6,
        name: "signing keys",
        sql: include_str!("../../migrations/postgres/0006_signing_keys.sql"),
    },
];

pub(super) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS wxlogin_migrations (
       version    BIGINT PRIMARY KEY,
       name       TEXT   NOT NULL,
       applied_at BIGINT NOT NULL
     )";

/// Copies what sqlx recorded as applied; run only when its table exists.
pub(super) const ADOPT_SQLX: &str = "INSERT INTO wxlogin_migrations (version, name, applied_at)
     SELECT version, description, 0 FROM _sqlx_migrations WHERE success
     ON CONFLICT (version) DO NOTHING";

pub(super) const APPLIED: &str = "SELECT version FROM wxlogin_migrations ORDER BY version";

/// $1 version, $2 name, $3 now.
pub(super) const RECORD: &str =
    "INSERT INTO wxlogin_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

/// The migrations still to apply, given the versions already applied; an
/// error when the database is newer than this release.
pub(super) fn pending<'a>(
    all: &'a [Migration],
    applied: &[i64],
) -> Result<Vec<&'a Migration>, StoreError> {
    let known = all.last().map_or(0, |m| m.version);
    if let Some(newer) = applied.iter().find(|v| **v > known) {
        return Err(StoreError::Config(format!(
            "the database has schema version {newer}, newer than this release knows ({known}): \
             run the release that wrote it, or a later one"
        )));
    }
    Ok(all
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_numbered_migrations() {
        let versions =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        for (i, m) in SQLITE.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "numbered from 1 without gaps");
        }
    }

    #[test]
    fn a_newer_database_is_refused_and_applied_ones_are_skipped() {
        assert_eq!(pending(SQLITE, &[1, 2]).unwrap().len(), SQLITE.len() - 2);
        assert!(pending(SQLITE, &[1, 99]).is_err());
    }
}
