//! The SQL shared by the SQLite and PostgreSQL stores. Both speak the same
//! dialect for everything we need (`$N` parameters, `ON CONFLICT … DO UPDATE
//! … WHERE`, `EXCLUDED`), so one macro writes the trait impls for each; a
//! backend module only provides `reader` (a pool for plain reads),
//! `session_inline` / `user_inline` (the request path's two lookups answered
//! without the pool, where the engine can: `None` asks the pool), `write()`
//! (a connection for everything that writes: one from the pool on PostgreSQL;
//! on SQLite the one writer connection, behind a fair lock so that writers
//! queue in process instead of sleeping in SQLite's busy handler),
//! `synced()` (called after every write that must survive a power cut, once
//! its commit returned: nothing on PostgreSQL, whose commit waits for its WAL
//! flush; on SQLite one group `fsync` of the WAL shared by every commit
//! waiting), `healthy()` (whether the store may still write at all),
//! `write_lazy()` (for writes whose loss in a crash of the machine or the
//! database server costs nothing: they do not wait for the disk),
//! `write_claim()` (which of the two a login claim takes),
//! `connect`/`migrate`, the row mappers
//! (`rows.rs`), `upsert_user_in`, whose "was it new?" differs per engine, and
//! `complete_login_in`: one statement on PostgreSQL (writable CTEs: a login's
//! commit is one round trip), one transaction of several on SQLite (no
//! writable CTEs; its statements are calls into the same process).

use super::StoreError;

/// A lookup answered without the pool: `None` means "ask the pool instead".
pub(super) type Inline<T> = Option<Result<Option<T>, StoreError>>;

/// The request path's two lookups, a session by its token's hash and a user
/// by app and openid: run by the `sql_store!` macro through sqlx, and by
/// SQLite's inline reads (`sqlite_reads.rs`), whose mappers read the columns
/// by position, in this order.
pub(super) const SESSION_BY_HASH: &str =
    "SELECT id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
     FROM sessions WHERE token_hash = $1";
pub(super) const USER_BY_KEY: &str =
    "SELECT appid, openid, unionid, session_key, prev_session_key, prev_key_until, created_at, updated_at
     FROM users WHERE appid = $1 AND openid = $2";

macro_rules! sql_store {
    ($store:ty, $conn:ty, $db:ty) => {
        type BoundQuery<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

        /// Bind a user's seven fields, in `user_on_conflict!`'s order.
        fn bind_user<'q>(query: BoundQuery<'q>, u: &'q UserUpsert) -> BoundQuery<'q> {
            query
                .bind(&u.appid)
                .bind(&u.openid)
                .bind(&u.unionid)
                .bind(&u.sealed_session_key)
                .bind(&u.key_fingerprint)
                .bind(u.now)
                .bind(u.previous_key_until)
        }

        /// Bind a session's eight columns, in the `sessions` table's order.
        fn bind_session<'q>(query: BoundQuery<'q>, s: &'q SessionRecord) -> BoundQuery<'q> {
            query
                .bind(&s.id)
                .bind(&s.token_hash.0[..])
                .bind(&s.appid)
                .bind(&s.openid)
                .bind(&s.unionid)
                .bind(s.created_at)
                .bind(s.expires_at)
                .bind(s.idle_expires_at)
        }

        /// The parameters of both engines' `COMPLETE_LOGIN`: $1..$7 the user,
        /// $8 / $9 the claim's key and owner, $10..$17 the session, $18..$22
        /// the answer kept for replays (session id, sealed token, openid,
        /// unionid, session expiry).
        fn bind_login<'q>(
            query: BoundQuery<'q>,
            c: &'q Claim<'_>,
            user: &'q UserUpsert,
            s: &'q SessionRecord,
            record: &'q LoginRecord,
        ) -> BoundQuery<'q> {
            bind_session(bind_user(query, user).bind(&c.key[..]).bind(c.owner), s)
                .bind(&record.session_id)
                .bind(&record.sealed_token)
                .bind(&record.openid)
                .bind(&record.unionid)
                .bind(record.expires_at)
        }

        async fn insert_session_in(conn: &mut $conn, s: &SessionRecord) -> Result<(), StoreError> {
            bind_session(
                sqlx::query(
                    "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                ),
                s,
            )
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
            Ok(())
        }

        #[async_trait]
        impl UserStore for $store {
            async fn upsert_user(&self, user: &UserUpsert) -> Result<bool, StoreError> {
                let mut w = self.write().await?;
                let mut tx = sqlx::Connection::begin(&mut *w).await.map_err(unavailable)?;
                let new = upsert_user_in(&mut tx, user).await?;
                tx.commit().await.map_err(unavailable)?;
                drop(w);
                self.synced().await?;
                Ok(new)
            }

            async fn get_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError> {
                if let Some(answer) = self.user_inline(appid, openid) {
                    return answer;
                }
                sqlx::query(super::sql::USER_BY_KEY)
                .bind(appid)
                .bind(openid)
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(user_from_row)
                .transpose()
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
                if let Some(answer) = self.session_inline(hash) {
                    return answer;
                }
                sqlx::query(super::sql::SESSION_BY_HASH)
                .bind(&hash.0[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(unavailable)?
                .as_ref()
                .map(session_from_row)
                .transpose()
            }

            async fn touch_session(&self, id: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
                // Lazy: a touch lost with the machine only lets the session
                // idle out up to `touch_interval` sooner, and a burst of
                // returning users must not be a burst of `fsync`s.
                sqlx::query(
                    "UPDATE sessions SET idle_expires_at = $2
                     WHERE id = $1 AND revoked_at IS NULL AND idle_expires_at < $2",
                )
                .bind(id)
                .bind(idle_expires_at)
                .execute(&mut *self.write_lazy().await?)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn revoke_session(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.write().await?)
                        .await
                        .map_err(unavailable)?;
                self.synced().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn replace_session(
                &self,
                old_id: &str,
                new: &SessionRecord,
                now: UnixTime,
            ) -> Result<bool, StoreError> {
                let mut w = self.write().await?;
                let mut tx = sqlx::Connection::begin(&mut *w).await.map_err(unavailable)?;
                let revoked = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2
                     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2",
                )
                .bind(old_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
                if revoked.rows_affected() != 1 {
                    // Roll back now rather than leave it to the dropped transaction
                    // (on PostgreSQL that waits until the connection is next used,
                    // holding locks until then).
                    tx.rollback().await.map_err(unavailable)?;
                    return Ok(false);
                }
                insert_session_in(&mut tx, new).await?;
                tx.commit().await.map_err(unavailable)?;
                drop(w);
                self.synced().await?;
                Ok(true)
            }

            async fn list_sessions(
                &self,
                appid: &str,
                openid: &str,
                now: UnixTime,
            ) -> Result<Vec<SessionRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
                     FROM sessions
                     WHERE appid = $1 AND openid = $2 AND revoked_at IS NULL
                       AND expires_at > $3 AND idle_expires_at > $3
                     ORDER BY created_at, id",
                )
                .bind(appid)
                .bind(openid)
                .bind(now)
                .fetch_all(&self.reader)
                .await
                .map_err(unavailable)?;
                rows.iter().map(session_from_row).collect()
            }

            async fn revoke_all(
                &self,
                appid: &str,
                openid: &str,
                now: UnixTime,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $3
                     WHERE appid = $1 AND openid = $2 AND revoked_at IS NULL
                       AND expires_at > $3 AND idle_expires_at > $3",
                )
                .bind(appid)
                .bind(openid)
                .bind(now)
                .execute(&mut *self.write().await?)
                .await
                .map_err(unavailable)?;
                self.synced().await?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait]
        impl ClaimStore for $store {
            async fn claim(&self, c: &Claim<'_>) -> Result<ClaimState, StoreError> {
                // Take the claim if free, forgotten or abandoned (ON CONFLICT serialises
                // concurrent claimers across instances). A row comes back only when
                // this statement wrote it, i.e. we hold the claim: the usual case
                // costs one round trip. Otherwise read the row as it stands in a
                // second statement: a CTE would read an older snapshot and miss a
                // row another instance committed meanwhile.
                //
                // Through `write_claim()`: lazy where the database dies with this
                // process (SQLite), durable where it can crash and come back
                // while the holder's upstream call runs (PostgreSQL).
                let taken = sqlx::query(
                    "INSERT INTO login_claims (claim_key, appid, state, owner, lease_until, expires_at)
                     VALUES ($1, $2, 'pending', $3, $4, $5)
                     ON CONFLICT (claim_key) DO UPDATE SET
                       state = 'pending', owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                       expires_at = EXCLUDED.expires_at, error_code = NULL, session_id = NULL,
                       sealed_token = NULL, openid = NULL, unionid = NULL, new_user = NULL
                     WHERE login_claims.expires_at <= $6
                        OR (login_claims.state = 'pending' AND login_claims.lease_until <= $6)
                     RETURNING owner",
                )
                .bind(&c.key[..])
                .bind(c.appid)
                .bind(c.owner)
                .bind(c.lease_until)
                .bind(c.expires_at)
                .bind(c.now)
                .fetch_optional(&mut *self.write_claim().await?)
                .await
                .map_err(unavailable)?;
                if taken.is_some() {
                    return Ok(ClaimState::Acquired);
                }
                let row = sqlx::query(
                    "SELECT state, owner, error_code, session_id, sealed_token, openid, unionid, new_user, session_expires_at
                     FROM login_claims WHERE claim_key = $1",
                )
                .bind(&c.key[..])
                .fetch_optional(&mut *self.write_claim().await?)
                .await
                .map_err(unavailable)?;
                match row {
                    Some(row) => {
                        let state = claim_from_row(&row, c.owner)?;
                        if matches!(state, ClaimState::Done(_)) {
                            // Its login may have been cancelled between its
                            // commit and its `synced()`: a replayed token is
                            // handed out only once it is on disk.
                            self.synced().await?;
                        }
                        Ok(state)
                    }
                    // Released by its holder between our two statements: ask again.
                    None => Ok(ClaimState::Pending),
                }
            }

            async fn complete_login(
                &self,
                c: &Claim<'_>,
                user: &UserUpsert,
                session: &SessionRecord,
                record: &LoginRecord,
            ) -> Result<Option<bool>, StoreError> {
                let done =
                    complete_login_in(&mut *self.write().await?, c, user, session, record).await?;
                if done.is_some() {
                    self.synced().await?;
                }
                Ok(done)
            }

            async fn fail_claim(
                &self,
                key: &[u8; 32],
                owner: &str,
                error_code: &str,
            ) -> Result<(), StoreError> {
                // Through `write_claim()`, as the claim itself: lost with it.
                sqlx::query(
                    "UPDATE login_claims SET state = 'failed', error_code = $3
                     WHERE claim_key = $1 AND owner = $2 AND state = 'pending'",
                )
                .bind(&key[..])
                .bind(owner)
                .bind(error_code)
                .execute(&mut *self.write_claim().await?)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn release_claim(&self, key: &[u8; 32], owner: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "DELETE FROM login_claims WHERE claim_key = $1 AND owner = $2 AND state = 'pending'",
                )
                .bind(&key[..])
                .bind(owner)
                .execute(&mut *self.write_claim().await?)
                .await
                .map_err(unavailable)?;
                Ok(())
            }
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn get_access_token(&self, appid: &str) -> Result<Option<CachedToken>, StoreError> {
                sqlx::query("SELECT sealed_token, expires_at, fence FROM access_tokens WHERE appid = $1")
                    .bind(appid)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(unavailable)?
                    .as_ref()
                    .map(token_from_row)
                    .transpose()
            }

            async fn put_access_token(&self, appid: &str, token: &CachedToken) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO access_tokens (appid, sealed_token, expires_at, fence) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (appid) DO UPDATE SET
                       sealed_token = EXCLUDED.sealed_token, expires_at = EXCLUDED.expires_at, fence = EXCLUDED.fence
                     WHERE access_tokens.fence <= EXCLUDED.fence",
                )
                .bind(appid)
                .bind(&token.sealed_token)
                .bind(token.expires_at)
                .bind(token.fence)
                .execute(&mut *self.write().await?)
                .await
                .map_err(unavailable)?;
                self.synced().await?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl LockStore for $store {
            async fn try_lock(
                &self,
                name: &str,
                owner: &str,
                now: UnixTime,
                lease_until: UnixTime,
            ) -> Result<Option<i64>, StoreError> {
                let row = sqlx::query(
                    "INSERT INTO locks (name, owner, lease_until, fence) VALUES ($1, $2, $3, 1)
                     ON CONFLICT (name) DO UPDATE SET
                       owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
                       fence = CASE WHEN locks.owner = EXCLUDED.owner AND locks.lease_until > $4
                                    THEN locks.fence ELSE locks.fence + 1 END
                     WHERE locks.lease_until <= $4 OR locks.owner = EXCLUDED.owner
                     RETURNING fence",
                )
                .bind(name)
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&mut *self.write().await?)
                .await
                .map_err(unavailable)?;
                if row.is_some() {
                    self.synced().await?;
                }
                row.map(|r| r.try_get::<i64, _>("fence").map_err(corrupt))
                    .transpose()
            }

            async fn unlock(&self, name: &str, owner: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE locks SET lease_until = 0 WHERE name = $1 AND owner = $2")
                    .bind(name)
                    .bind(owner)
                    .execute(&mut *self.write().await?)
                    .await
                    .map_err(unavailable)?;
                self.synced().await
            }
        }

        #[async_trait]
        impl Store for $store {
            fn alive(&self) -> Result<(), StoreError> {
                self.healthy()
            }

            async fn ping(&self) -> Result<(), StoreError> {
                self.healthy()?;
                sqlx::query("SELECT 1")
                    .execute(&self.reader)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
                // Lazy: a purge lost with the machine is redone by the next one.
                let claims = sqlx::query("DELETE FROM login_claims WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *self.write_lazy().await?)
                    .await
                    .map_err(unavailable)?;
                let sessions = sqlx::query(
                    "DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1 OR revoked_at <= $1",
                )
                .bind(now - 86_400)
                .execute(&mut *self.write_lazy().await?)
                .await
                .map_err(unavailable)?;
                Ok(claims.rows_affected() + sessions.rows_affected())
            }
        }
    };
}

pub(crate) use sql_store;

/// What an upsert does to an existing user, for both engines, with $1..$7 =
/// appid, openid, unionid, sealed session_key, its fingerprint, now,
/// previous_key_until: a new key moves the old one to `prev_*` with its grace
/// deadline. (A macro, not a const: `concat!` needs a literal, and sqlx takes
/// only `&'static str` SQL.)
macro_rules! user_on_conflict {
    () => {
        "ON CONFLICT (appid, openid) DO UPDATE SET
           unionid = COALESCE(excluded.unionid, users.unionid),
           prev_session_key = CASE WHEN users.key_fp <> excluded.key_fp
                                   THEN users.session_key ELSE users.prev_session_key END,
           prev_key_until   = CASE WHEN users.key_fp <> excluded.key_fp
                                   THEN $7 ELSE users.prev_key_until END,
           session_key = excluded.session_key,
           key_fp = excluded.key_fp,
           updated_at = excluded.updated_at"
    };
}
pub(crate) use user_on_conflict;

/// A connection used this recently is handed out without a ping.
const TRUSTED_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Pool settings of both SQL stores. By default sqlx pings every idle
/// connection before handing it out: a whole extra round trip (a worker
/// hand-off on SQLite) in front of every query, a third of a cache-off
/// verify. Here a connection used in the last second is trusted, and one idle
/// longer is still pinged, so a database that restarted during a quiet spell
/// costs no failed request. (sqlx also pings on every release; that one is not
/// configurable, but it runs after the answer, off the request's path.)
pub(super) fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= TRUSTED_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}
