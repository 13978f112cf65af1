//! `wxlogin rekey` on PostgreSQL: pages of sealed values in primary-key
//! order, each replacement a compare-and-set on its row.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, execute, unavailable};
use crate::store::{
    Cursor, RekeyStore, SealedPage, SealedSlot, SealedTable, SealedValue, StoreError, sealed, sql,
};

#[async_trait]
impl RekeyStore for PostgresStore {
    async fn sealed_page(
        &self,
        table: SealedTable,
        from: Option<&Cursor>,
        limit: usize,
    ) -> Result<SealedPage, StoreError> {
        let conn = self.conn().await?;
        let size = limit as i64;
        let query = async |text: &str, params: &[&(dyn ToSql + Sync)]| {
            let stmt = conn.prepare_cached(text).await.map_err(unavailable)?;
            conn.query(&stmt, params).await.map_err(unavailable)
        };
        let mut values = Vec::new();
        let found = match table {
            SealedTable::Identities => {
                let (appid, openid) = sealed::identity_start(from);
                let found = query(sql::SEALED_IDENTITIES, &[&appid, &openid, &size]).await?;
                for row in &found {
                    values.extend(sealed::identity_values(row)?);
                }
                found.len()
            }
            SealedTable::Users => {
                let start = sealed::text_start(from);
                let found = query(sql::SEALED_PHONES, &[&start, &size]).await?;
                for row in &found {
                    values.push(sealed::phone_value(row)?);
                }
                found.len()
            }
            SealedTable::Claims => {
                let start = sealed::bytes_start(from);
                let found = query(sql::SEALED_CLAIMS, &[&start, &size]).await?;
                for row in &found {
                    values.push(sealed::claim_value(row)?);
                }
                found.len()
            }
            SealedTable::AccessTokens => {
                let start = sealed::text_start(from);
                let found = query(sql::SEALED_TOKENS, &[&start, &size]).await?;
                for row in &found {
                    values.push(sealed::token_value(row)?);
                }
                found.len()
            }
            SealedTable::SigningKeys => {
                let start = sealed::text_start(from);
                let found = query(sql::SEALED_SIGNING_KEYS, &[&start, &size]).await?;
                for row in &found {
                    values.push(sealed::signing_key_value(row)?);
                }
                found.len()
            }
        };
        Ok(sealed::page(values, found, limit))
    }

    async fn reseal(&self, value: &SealedValue, new: &[u8]) -> Result<bool, StoreError> {
        let conn = self.conn().await?;
        let old = &value.sealed;
        let changed = match &value.slot {
            SealedSlot::SessionKey { appid, openid } => {
                let params: [&(dyn ToSql + Sync); 4] =
                    [&appid.as_str(), &openid.as_str(), &new, old];
                execute(&conn, sql::RESEAL_KEY, &params).await?
            }
            SealedSlot::PreviousKey { appid, openid } => {
                let params: [&(dyn ToSql + Sync); 4] =
                    [&appid.as_str(), &openid.as_str(), &new, old];
                execute(&conn, sql::RESEAL_PREVIOUS, &params).await?
            }
            SealedSlot::ReplayToken { claim, .. } => {
                execute(&conn, sql::RESEAL_CLAIM, &[&&claim.0[..], &new, old]).await?
            }
            SealedSlot::AccessToken { appid } => {
                execute(&conn, sql::RESEAL_TOKEN, &[&appid.as_str(), &new, old]).await?
            }
            SealedSlot::Phone { user_id } => {
                execute(&conn, sql::RESEAL_PHONE, &[&user_id.as_str(), &new, old]).await?
            }
            SealedSlot::SigningKey { kid } => {
                execute(&conn, sql::RESEAL_SIGNING_KEY, &[kid, &new, old]).await?
            }
        };
        Ok(changed == 1)
    }
}
