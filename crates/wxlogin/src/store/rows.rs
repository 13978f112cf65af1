//! Row → record mapping shared by the SQL stores. The SQLite and PostgreSQL
//! rows are different types with the same columns, so one macro writes the
//! mappers for each (a generic version needs a wall of sqlx trait bounds).

macro_rules! row_mappers {
    ($row:ty) => {
        fn corrupt(e: sqlx::Error) -> $crate::store::StoreError {
            $crate::store::StoreError::Corrupt(e.to_string())
        }

        fn session_from_row(
            row: &$row,
        ) -> Result<$crate::store::SessionRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let hash: Vec<u8> = row.try_get("token_hash").map_err(corrupt)?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| {
                $crate::store::StoreError::Corrupt("token_hash is not 32 bytes".into())
            })?;
            Ok($crate::store::SessionRecord {
                id: row.try_get("id").map_err(corrupt)?,
                token_hash: $crate::domain::token::TokenHash(hash),
                appid: row.try_get("appid").map_err(corrupt)?,
                openid: row.try_get("openid").map_err(corrupt)?,
                unionid: row.try_get("unionid").map_err(corrupt)?,
                created_at: row.try_get("created_at").map_err(corrupt)?,
                expires_at: row.try_get("expires_at").map_err(corrupt)?,
                idle_expires_at: row.try_get("idle_expires_at").map_err(corrupt)?,
                revoked_at: row.try_get("revoked_at").map_err(corrupt)?,
            })
        }

        fn user_from_row(
            row: &$row,
        ) -> Result<$crate::store::UserRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::store::UserRecord {
                appid: row.try_get("appid").map_err(corrupt)?,
                openid: row.try_get("openid").map_err(corrupt)?,
                unionid: row.try_get("unionid").map_err(corrupt)?,
                sealed_session_key: row.try_get("session_key").map_err(corrupt)?,
                sealed_previous_key: row.try_get("prev_session_key").map_err(corrupt)?,
                previous_key_until: row.try_get("prev_key_until").map_err(corrupt)?,
                created_at: row.try_get("created_at").map_err(corrupt)?,
                updated_at: row.try_get("updated_at").map_err(corrupt)?,
            })
        }

        /// Interpret a claim row for the caller `owner`.
        fn claim_from_row(
            row: &$row,
            owner: &str,
        ) -> Result<$crate::store::ClaimState, $crate::store::StoreError> {
            use sqlx::Row as _;
            use $crate::store::{ClaimState, LoginRecord, StoreError};
            let state: String = row.try_get("state").map_err(corrupt)?;
            let holder: String = row.try_get("owner").map_err(corrupt)?;
            let field =
                |name: &'static str| StoreError::Corrupt(format!("done claim without {name}"));
            match state.as_str() {
                "pending" if holder == owner => Ok(ClaimState::Acquired),
                "pending" => Ok(ClaimState::Pending),
                "failed" => Ok(ClaimState::Failed(
                    row.try_get::<Option<String>, _>("error_code")
                        .map_err(corrupt)?
                        .unwrap_or_default(),
                )),
                "done" => Ok(ClaimState::Done(LoginRecord {
                    session_id: row
                        .try_get::<Option<String>, _>("session_id")
                        .map_err(corrupt)?
                        .ok_or_else(|| field("session_id"))?,
                    sealed_token: row
                        .try_get::<Option<Vec<u8>>, _>("sealed_token")
                        .map_err(corrupt)?
                        .ok_or_else(|| field("sealed_token"))?,
                    openid: row
                        .try_get::<Option<String>, _>("openid")
                        .map_err(corrupt)?
                        .ok_or_else(|| field("openid"))?,
                    unionid: row.try_get("unionid").map_err(corrupt)?,
                    new_user: row
                        .try_get::<Option<bool>, _>("new_user")
                        .map_err(corrupt)?
                        .unwrap_or(false),
                    expires_at: row
                        .try_get::<Option<i64>, _>("session_expires_at")
                        .map_err(corrupt)?
                        .ok_or_else(|| field("session_expires_at"))?,
                })),
                other => Err(StoreError::Corrupt(format!("unknown claim state {other}"))),
            }
        }

        fn token_from_row(
            row: &$row,
        ) -> Result<$crate::store::CachedToken, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::store::CachedToken {
                sealed_token: row.try_get("sealed_token").map_err(corrupt)?,
                expires_at: row.try_get("expires_at").map_err(corrupt)?,
                fence: row.try_get("fence").map_err(corrupt)?,
            })
        }
    };
}

pub(crate) use row_mappers;
