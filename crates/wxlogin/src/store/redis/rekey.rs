//! `wxlogin rekey` on Redis: `SCAN` over the identity, user, claim and access_token
//! keys (a page is one `SCAN` step, so it may hold fewer or more than asked),
//! each replacement a compare-and-set script on its hash field.

use async_trait::async_trait;

use super::RedisStore;
use crate::store::rows::Fields;
use crate::store::{
    Cursor, RekeyStore, SealedPage, SealedSlot, SealedTable, SealedValue, StoreError, sealed,
};

impl RedisStore {
    /// The hash and field a sealed value lives in.
    fn sealed_field(&self, slot: &SealedSlot) -> (String, &'static str) {
        match slot {
            SealedSlot::SessionKey { appid, openid } => {
                (self.user_key(appid, openid), "session_key")
            }
            SealedSlot::PreviousKey { appid, openid } => {
                (self.user_key(appid, openid), "prev_session_key")
            }
            SealedSlot::ReplayToken { claim, .. } => {
                (self.key("c", &hex::encode(claim.0)), "sealed_token")
            }
            SealedSlot::AccessToken { appid } => (self.key("t", appid.as_str()), "sealed_token"),
            SealedSlot::Phone { user_id } => (self.key("user", user_id.as_str()), "phone"),
            SealedSlot::SigningKey { kid } => (self.key("jk", kid), "sealed_key"),
        }
    }
}

#[async_trait]
impl RekeyStore for RedisStore {
    async fn sealed_page(
        &self,
        table: SealedTable,
        from: Option<&Cursor>,
        limit: usize,
    ) -> Result<SealedPage, StoreError> {
        let kind = match table {
            SealedTable::Identities => "u",
            SealedTable::Users => "user",
            SealedTable::SigningKeys => "jk",
            SealedTable::Claims => "c",
            SealedTable::AccessTokens => "t",
        };
        let cursor = sealed::text_start(from);
        let cursor = if cursor.is_empty() {
            "0".to_owned()
        } else {
            cursor
        };
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(self.key(kind, "*"))
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(super::unavailable)?;
        let prefix = self.key(kind, "");
        let mut values = Vec::new();
        for key in keys {
            let id = key
                .strip_prefix(&prefix)
                .unwrap_or_default()
                .as_bytes()
                .to_vec();
            match table {
                SealedTable::Identities => {
                    let fields = self
                        .hmget(
                            &key,
                            &["appid", "openid", "session_key", "prev_session_key"],
                        )
                        .await?;
                    if !fields.is_empty() {
                        values.extend(sealed::identity_values(&fields)?);
                    }
                }
                SealedTable::SigningKeys => {
                    let fields = self.hmget(&key, &["kid", "sealed_key"]).await?;
                    if fields.0.get(1).is_some_and(Option::is_some) {
                        values.push(sealed::signing_key_value(&fields)?);
                    }
                }
                SealedTable::Users => {
                    let fields = self.hmget(&key, &["user_id", "phone"]).await?;
                    if fields.0.get(1).is_some_and(Option::is_some) {
                        values.push(sealed::phone_value(&fields)?);
                    }
                }
                SealedTable::Claims => {
                    let Fields(mut f) = self.hmget(&key, &["session_id", "sealed_token"]).await?;
                    let claim = hex::decode(&id).ok();
                    if f.get(1).is_some_and(Option::is_some) {
                        f.insert(0, claim);
                        values.push(sealed::claim_value(&Fields(f))?);
                    }
                }
                SealedTable::AccessTokens => {
                    let Fields(mut f) = self.hmget(&key, &["sealed_token"]).await?;
                    if f.first().is_some_and(Option::is_some) {
                        f.insert(0, Some(id));
                        values.push(sealed::token_value(&Fields(f))?);
                    }
                }
            }
        }
        let next = (next != "0").then(|| Cursor(next.into_bytes()));
        Ok(SealedPage { values, next })
    }

    async fn reseal(&self, value: &SealedValue, new: &[u8]) -> Result<bool, StoreError> {
        let (key, field) = self.sealed_field(&value.slot);
        let done: i64 = self
            .scripts
            .reseal
            .call()
            .key("hash", key)
            .arg("field", field)
            .arg("old", value.sealed.as_slice())
            .arg("new", new)
            .run(&self.conn)
            .await?;
        Ok(done == 1)
    }
}
