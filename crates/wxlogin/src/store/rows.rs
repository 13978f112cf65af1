//! One codec from stored columns to records, for every backend: a SQL row
//! (rusqlite or tokio-postgres) and a Redis hash read with `HMGET` in a fixed
//! field order all answer "the value at position i" through [`Columns`], and
//! the mappers below read the positions that the SELECTs in `sql.rs` and the
//! field lists in `redis/` name, in the same order.

use crate::ids::{AppId, OpenId, Owner, Platform, Refusal, SessionId, TokenHash, UnionId, UserId};

use super::{
    AuditEntry, CachedToken, ClaimState, ConflictRecord, IdentityRecord, LoginRecord,
    SessionRecord, StoreError, UserRecord,
};

/// The value at a position of a row, `None` for NULL (or a missing field).
pub(super) trait Columns {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
    fn flag(&self, i: usize) -> Result<Option<bool>, StoreError>;
}

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(format_args!("{name} is missing")))
}

fn appid(row: &impl Columns, i: usize) -> Result<AppId, StoreError> {
    let text = required(row.text(i)?, "appid")?;
    AppId::parse(&text).map_err(|_| corrupt("appid is malformed"))
}

fn openid(row: &impl Columns, i: usize) -> Result<OpenId, StoreError> {
    let text = required(row.text(i)?, "openid")?;
    OpenId::parse(&text).map_err(|_| corrupt("openid is malformed"))
}

fn unionid(row: &impl Columns, i: usize) -> Result<Option<UnionId>, StoreError> {
    row.text(i)?
        .filter(|u| !u.is_empty())
        .map(|u| UnionId::parse(&u).map_err(|_| corrupt("unionid is malformed")))
        .transpose()
}

fn session_id(row: &impl Columns, i: usize) -> Result<SessionId, StoreError> {
    let text = required(row.text(i)?, "session id")?;
    SessionId::parse(&text).ok_or_else(|| corrupt("session id is malformed"))
}

pub(super) fn user_id(row: &impl Columns, i: usize) -> Result<UserId, StoreError> {
    let text = required(row.text(i)?, "user id")?;
    UserId::parse(&text).ok_or_else(|| corrupt("user id is malformed"))
}

fn optional_user_id(row: &impl Columns, i: usize) -> Result<Option<UserId>, StoreError> {
    row.text(i)?
        .map(|t| UserId::parse(&t).ok_or_else(|| corrupt("user id is malformed")))
        .transpose()
}

fn platform(row: &impl Columns, i: usize) -> Result<Platform, StoreError> {
    let text = required(row.text(i)?, "platform")?;
    Platform::parse(&text).ok_or_else(|| corrupt("unknown platform"))
}

/// id, token_hash, user_id, family, appid, openid, unionid, created_at,
/// expires_at, idle_expires_at, revoked_at.
pub(super) fn session(row: &impl Columns) -> Result<SessionRecord, StoreError> {
    let hash: [u8; 32] = required(row.bytes(1)?, "token_hash")?
        .try_into()
        .map_err(|_| corrupt("token_hash is not 32 bytes"))?;
    Ok(SessionRecord {
        id: session_id(row, 0)?,
        token_hash: TokenHash(hash),
        user_id: user_id(row, 2)?,
        family: session_id(row, 3)?,
        appid: appid(row, 4)?,
        openid: openid(row, 5)?,
        unionid: unionid(row, 6)?,
        created_at: required(row.int(7)?, "created_at")?,
        expires_at: required(row.int(8)?, "expires_at")?,
        idle_expires_at: required(row.int(9)?, "idle_expires_at")?,
        revoked_at: row.int(10)?,
    })
}

/// platform, user_id, appid, openid, unionid, session_key,
/// prev_session_key, prev_key_until, created_at, updated_at.
pub(super) fn identity(row: &impl Columns) -> Result<IdentityRecord, StoreError> {
    Ok(IdentityRecord {
        platform: platform(row, 0)?,
        user_id: user_id(row, 1)?,
        appid: appid(row, 2)?,
        openid: openid(row, 3)?,
        unionid: unionid(row, 4)?,
        sealed_session_key: required(row.bytes(5)?, "session_key")?,
        sealed_previous_key: row.bytes(6)?,
        previous_key_until: row.int(7)?,
        created_at: required(row.int(8)?, "created_at")?,
        updated_at: required(row.int(9)?, "updated_at")?,
    })
}

/// user_id, created_at, phone, phone_at.
pub(super) fn user(row: &impl Columns) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user_id: user_id(row, 0)?,
        created_at: required(row.int(1)?, "created_at")?,
        sealed_phone: row.bytes(2)?,
        phone_at: row.int(3)?,
    })
}

/// id, at, platform, unionid, appid, openid, user_id, other_user_id,
/// resolved_at.
pub(super) fn conflict(row: &impl Columns) -> Result<ConflictRecord, StoreError> {
    Ok(ConflictRecord {
        id: required(row.text(0)?, "conflict id")?,
        at: required(row.int(1)?, "at")?,
        platform: platform(row, 2)?,
        unionid: unionid(row, 3)?.ok_or_else(|| corrupt("unionid is missing"))?,
        appid: appid(row, 4)?,
        openid: openid(row, 5)?,
        user_id: user_id(row, 6)?,
        other_user_id: user_id(row, 7)?,
        resolved_at: row.int(8)?,
    })
}

/// id, at, actor, action, user_id, other_user_id, appid, openid, detail.
pub(super) fn audit(row: &impl Columns) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: required(row.text(0)?, "audit id")?,
        at: required(row.int(1)?, "at")?,
        actor: required(row.text(2)?, "actor")?,
        action: required(row.text(3)?, "action")?,
        user_id: optional_user_id(row, 4)?,
        other_user_id: optional_user_id(row, 5)?,
        appid: row.text(6)?.map(|_| appid(row, 6)).transpose()?,
        openid: row.text(7)?.map(|_| openid(row, 7)).transpose()?,
        detail: row.text(8)?,
    })
}

/// state, owner, error_code, session_id, sealed_token, openid, unionid,
/// new_user, session_expires_at; read for the caller `owner`.
pub(super) fn claim(row: &impl Columns, owner: &Owner) -> Result<ClaimState, StoreError> {
    let state = required(row.text(0)?, "claim state")?;
    let holder = required(row.text(1)?, "claim owner")?;
    match state.as_str() {
        "pending" if holder == owner.as_str() => Ok(ClaimState::Acquired),
        "pending" => Ok(ClaimState::Pending),
        "failed" => {
            let code = row.text(2)?.unwrap_or_default();
            Refusal::parse(&code)
                .map(ClaimState::Failed)
                .ok_or_else(|| corrupt("unknown refusal on a failed claim"))
        }
        "done" => Ok(ClaimState::Done(LoginRecord {
            session_id: session_id(row, 3)?,
            sealed_token: required(row.bytes(4)?, "sealed_token")?,
            openid: openid(row, 5)?,
            unionid: unionid(row, 6)?,
            new_user: row.flag(7)?.unwrap_or(false),
            expires_at: required(row.int(8)?, "session_expires_at")?,
        })),
        _ => Err(corrupt("unknown claim state")),
    }
}

/// kid, alg, sealed_key, created_at.
pub(super) fn signing_key(row: &impl Columns) -> Result<super::SigningKeyRecord, StoreError> {
    Ok(super::SigningKeyRecord {
        kid: required(row.text(0)?, "kid")?,
        alg: required(row.text(1)?, "alg")?,
        sealed_key: required(row.bytes(2)?, "sealed_key")?,
        created_at: required(row.int(3)?, "created_at")?,
    })
}

/// sealed_token, expires_at, fence.
pub(super) fn token(row: &impl Columns) -> Result<CachedToken, StoreError> {
    Ok(CachedToken {
        sealed_token: required(row.bytes(0)?, "sealed_token")?,
        expires_at: required(row.int(1)?, "expires_at")?,
        fence: required(row.int(2)?, "fence")?,
    })
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(corrupt)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(corrupt)
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(i).map_err(corrupt)
    }
    fn flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        self.get(i).map_err(corrupt)
    }
}

impl Columns for tokio_postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(corrupt)
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(corrupt)
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(i).map_err(corrupt)
    }
    fn flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        self.try_get(i).map_err(corrupt)
    }
}

/// A Redis hash read with `HMGET`: the values in the order of the field list
/// asked for. Numbers are decimal text, flags `1`/`0`.
pub(super) struct Fields(pub Vec<Option<Vec<u8>>>);

impl Fields {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

impl Columns for Fields {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.bytes(i)?
            .map(|b| String::from_utf8(b).map_err(|_| corrupt("a text field is not UTF-8")))
            .transpose()
    }
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.text(i)?
            .map(|t| {
                t.parse()
                    .map_err(|_| corrupt("a number field is not a number"))
            })
            .transpose()
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(i).cloned().flatten())
    }
    fn flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.text(i)?.map(|t| t == "1"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(values: &[Option<&str>]) -> Fields {
        Fields(
            values
                .iter()
                .map(|v| v.map(|s| s.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn a_redis_session_hash_decodes_like_a_row() {
        let hash = "h".repeat(32);
        let row = fields(&[
            Some("0190f0e4-aaaa-7bbb-8ccc-123456789abc"),
            Some(&hash),
            Some("0190f0e4-aaaa-7bbb-8ccc-123456789abd"),
            Some("0190f0e4-aaaa-7bbb-8ccc-123456789abc"),
            Some("wx4f4bc4dec97d474b"),
            Some("o1"),
            None,
            Some("10"),
            Some("20"),
            Some("15"),
            None,
        ]);
        let s = session(&row).unwrap();
        assert_eq!(s.token_hash.0, [b'h'; 32]);
        assert_eq!(
            (s.created_at, s.expires_at, s.idle_expires_at),
            (10, 20, 15)
        );
        assert_eq!((s.unionid, s.revoked_at), (None, None));
    }

    #[test]
    fn bad_fields_are_corrupt_not_panics() {
        let mut values = vec![Some("x"); 11];
        values[1] = Some("short");
        assert!(matches!(
            session(&fields(&values)),
            Err(StoreError::Corrupt(_))
        ));
        let token_row = fields(&[Some("t"), Some("soon"), Some("1")]);
        assert!(matches!(token(&token_row), Err(StoreError::Corrupt(_))));
        let claim_row = fields(&[Some("failed"), Some("me"), Some("bogus")]);
        let me = Owner::from_stored("me".into());
        assert!(matches!(
            claim(&claim_row, &me),
            Err(StoreError::Corrupt(_))
        ));
        let empty = fields(&[None, None]);
        assert!(empty.is_empty());
    }

    #[test]
    fn a_claim_reads_for_its_caller() {
        let me = Owner::from_stored("me".into());
        let pending = |holder| fields(&[Some("pending"), Some(holder)]);
        assert_eq!(claim(&pending("me"), &me).unwrap(), ClaimState::Acquired);
        assert_eq!(claim(&pending("you"), &me).unwrap(), ClaimState::Pending);
        let failed = fields(&[Some("failed"), Some("you"), Some("code_used")]);
        assert_eq!(
            claim(&failed, &me).unwrap(),
            ClaimState::Failed(Refusal::CodeUsed)
        );
    }
}
