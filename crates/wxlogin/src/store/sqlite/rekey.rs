//! `wxlogin rekey` on SQLite: pages of sealed values read like any read, each
//! replacement a compare-and-set through the writer (durable, like the
//! login that could otherwise have written the value).

use async_trait::async_trait;
use rusqlite::ToSql;

use super::writer::Durability;
use super::{SqliteStore, execute, query_each};
use crate::store::{
    Cursor, RekeyStore, SealedPage, SealedSlot, SealedTable, SealedValue, StoreError, sealed, sql,
};

#[async_trait]
impl RekeyStore for SqliteStore {
    async fn sealed_page(
        &self,
        table: SealedTable,
        from: Option<&Cursor>,
        limit: usize,
    ) -> Result<SealedPage, StoreError> {
        let from = from.cloned();
        self.read(move |conn| {
            let (mut values, mut rows, size) = (Vec::new(), 0, limit as i64);
            match table {
                SealedTable::Identities => {
                    let (appid, openid) = sealed::identity_start(from.as_ref());
                    let params: [&dyn ToSql; 3] = [&appid, &openid, &size];
                    query_each(conn, sql::SEALED_IDENTITIES, &params, |row| {
                        rows += 1;
                        values.extend(sealed::identity_values(row)?);
                        Ok(())
                    })?;
                }
                SealedTable::Users => {
                    let start = sealed::text_start(from.as_ref());
                    query_each(conn, sql::SEALED_PHONES, &[&start, &size], |row| {
                        rows += 1;
                        values.push(sealed::phone_value(row)?);
                        Ok(())
                    })?;
                }
                SealedTable::Claims => {
                    let start = sealed::bytes_start(from.as_ref());
                    query_each(conn, sql::SEALED_CLAIMS, &[&start, &size], |row| {
                        rows += 1;
                        values.push(sealed::claim_value(row)?);
                        Ok(())
                    })?;
                }
                SealedTable::AccessTokens => {
                    let start = sealed::text_start(from.as_ref());
                    query_each(conn, sql::SEALED_TOKENS, &[&start, &size], |row| {
                        rows += 1;
                        values.push(sealed::token_value(row)?);
                        Ok(())
                    })?;
                }
                SealedTable::SigningKeys => {
                    let start = sealed::text_start(from.as_ref());
                    query_each(conn, sql::SEALED_SIGNING_KEYS, &[&start, &size], |row| {
                        rows += 1;
                        values.push(sealed::signing_key_value(row)?);
                        Ok(())
                    })?;
                }
            }
            Ok(sealed::page(values, rows, limit))
        })
        .await
    }

    async fn reseal(&self, value: &SealedValue, new: &[u8]) -> Result<bool, StoreError> {
        let (value, new) = (value.clone(), new.to_vec());
        self.writer
            .write(Durability::Durable, move |conn| {
                let old = &value.sealed;
                let changed = match &value.slot {
                    SealedSlot::SessionKey { appid, openid } => {
                        let params: [&dyn ToSql; 4] =
                            [&appid.as_str(), &openid.as_str(), &new, old];
                        execute(conn, sql::RESEAL_KEY, &params)?
                    }
                    SealedSlot::PreviousKey { appid, openid } => {
                        let params: [&dyn ToSql; 4] =
                            [&appid.as_str(), &openid.as_str(), &new, old];
                        execute(conn, sql::RESEAL_PREVIOUS, &params)?
                    }
                    SealedSlot::ReplayToken { claim, .. } => {
                        execute(conn, sql::RESEAL_CLAIM, &[&&claim.0[..], &new, old])?
                    }
                    SealedSlot::AccessToken { appid } => {
                        execute(conn, sql::RESEAL_TOKEN, &[&appid.as_str(), &new, old])?
                    }
                    SealedSlot::Phone { user_id } => {
                        execute(conn, sql::RESEAL_PHONE, &[&user_id.as_str(), &new, old])?
                    }
                    SealedSlot::SigningKey { kid } => {
                        execute(conn, sql::RESEAL_SIGNING_KEY, &[kid, &new, old])?
                    }
                };
                Ok(changed == 1)
            })
            .await
    }
}
