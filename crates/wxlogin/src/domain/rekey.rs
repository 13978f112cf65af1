//! Rotating the data key without logging anyone out: with a new key first in
//! the ring and the old one still in it, `rekey` opens every stored sealed
//! value and seals it again under the new key, page by page, while the
//! service runs. Each replacement is a compare-and-set: a value a login wrote
//! meanwhile (already under the new key) is left alone. When it reports no
//! value left under an old key, the old key can leave the ring.

use super::login::aad;
use super::{Core, Error};
use crate::store::{SealedSlot, SealedTable};

/// What a run did, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Sealed again under the sealing key.
    pub resealed: u64,
    /// Already under the sealing key.
    pub current: u64,
    /// Changed by the service between our read and our write (it wrote a
    /// value under the sealing key itself).
    pub changed: u64,
    /// Opened by no key of the ring: the key that sealed them is missing.
    pub unopenable: u64,
}

/// The associated data a slot's value was sealed with.
fn aad_of(slot: &SealedSlot) -> Vec<u8> {
    match slot {
        SealedSlot::SessionKey { appid, openid } | SealedSlot::PreviousKey { appid, openid } => {
            aad("session_key", &[appid.as_str(), openid.as_str()])
        }
        SealedSlot::ReplayToken { session_id, .. } => aad("token", &[session_id.as_str()]),
        SealedSlot::AccessToken { appid } => aad("access_token", &[appid.as_str()]),
        SealedSlot::Phone { user_id } => aad("phone", &[user_id.as_str()]),
        SealedSlot::SigningKey { kid } => aad("signing_key", &[kid.as_str()]),
    }
}

impl Core {
    /// Re-seal every stored value under the ring's first key, `page` values
    /// at a time; `progress` hears after each page.
    pub async fn rekey(
        &self,
        page: usize,
        mut progress: impl FnMut(SealedTable, &RekeyReport),
    ) -> Result<RekeyReport, Error> {
        let mut report = RekeyReport::default();
        for table in [
            SealedTable::Identities,
            SealedTable::Users,
            SealedTable::Claims,
            SealedTable::AccessTokens,
            SealedTable::SigningKeys,
        ] {
            let mut from = None;
            loop {
                let found = self.store.sealed_page(table, from.as_ref(), page).await?;
                for value in &found.values {
                    if self.data_key.is_current(&value.sealed) {
                        report.current += 1;
                        continue;
                    }
                    let aad = aad_of(&value.slot);
                    let Ok(plain) = self.data_key.open(&value.sealed, &aad) else {
                        tracing::warn!(?table, "a sealed value opens under no key of the ring");
                        report.unopenable += 1;
                        continue;
                    };
                    let plain = zeroize::Zeroizing::new(plain);
                    let new = self.data_key.seal(&plain, &aad);
                    if self.store.reseal(value, &new).await? {
                        report.resealed += 1;
                    } else {
                        report.changed += 1;
                    }
                }
                progress(table, &report);
                match found.next {
                    Some(next) => from = Some(next),
                    None => break,
                }
                // Bounded batches: let the service's own work run between them.
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }
}
