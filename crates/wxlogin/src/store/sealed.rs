//! The sealed values of every backend as `wxlogin rekey` walks them: rows
//! (or hashes) decoded into slots, and the cursor that says where the next
//! page starts. Shared by the three backends, like `rows.rs`.

use super::rows::{Columns, corrupt};
use super::{Cursor, SealedPage, SealedSlot, SealedValue, StoreError};
use crate::ids::{AppId, ClaimKey, OpenId, SessionId, UserId};

fn appid(text: Option<String>) -> Result<AppId, StoreError> {
    AppId::parse(&text.unwrap_or_default()).map_err(|_| corrupt("appid is malformed"))
}

fn openid(text: Option<String>) -> Result<OpenId, StoreError> {
    OpenId::parse(&text.unwrap_or_default()).map_err(|_| corrupt("openid is malformed"))
}

/// appid, openid, session_key, prev_session_key.
pub(super) fn identity_values(row: &impl Columns) -> Result<Vec<SealedValue>, StoreError> {
    let (app, user) = (appid(row.text(0)?)?, openid(row.text(1)?)?);
    let mut out = Vec::with_capacity(2);
    if let Some(sealed) = row.bytes(3)? {
        let slot = SealedSlot::PreviousKey {
            appid: app.clone(),
            openid: user.clone(),
        };
        out.push(SealedValue { slot, sealed });
    }
    let sealed = row
        .bytes(2)?
        .ok_or_else(|| corrupt("session_key is missing"))?;
    let slot = SealedSlot::SessionKey {
        appid: app,
        openid: user,
    };
    // The current key last: the cursor is taken from the last value.
    out.push(SealedValue { slot, sealed });
    Ok(out)
}

/// claim_key, session_id, sealed_token.
pub(super) fn claim_value(row: &impl Columns) -> Result<SealedValue, StoreError> {
    let key: [u8; 32] = row
        .bytes(0)?
        .unwrap_or_default()
        .try_into()
        .map_err(|_| corrupt("claim_key is not 32 bytes"))?;
    let session_id = SessionId::parse(&row.text(1)?.unwrap_or_default())
        .ok_or_else(|| corrupt("session id is malformed"))?;
    let sealed = row
        .bytes(2)?
        .ok_or_else(|| corrupt("sealed_token is missing"))?;
    let slot = SealedSlot::ReplayToken {
        claim: ClaimKey(key),
        session_id,
    };
    Ok(SealedValue { slot, sealed })
}

/// appid, sealed_token.
pub(super) fn token_value(row: &impl Columns) -> Result<SealedValue, StoreError> {
    let slot = SealedSlot::AccessToken {
        appid: appid(row.text(0)?)?,
    };
    let sealed = row
        .bytes(1)?
        .ok_or_else(|| corrupt("sealed_token is missing"))?;
    Ok(SealedValue { slot, sealed })
}

/// user_id, phone.
pub(super) fn phone_value(row: &impl Columns) -> Result<SealedValue, StoreError> {
    let user_id = UserId::parse(&row.text(0)?.unwrap_or_default())
        .ok_or_else(|| corrupt("user id is malformed"))?;
    let sealed = row.bytes(1)?.ok_or_else(|| corrupt("phone is missing"))?;
    Ok(SealedValue {
        slot: SealedSlot::Phone { user_id },
        sealed,
    })
}

/// kid, sealed_key.
pub(super) fn signing_key_value(row: &impl Columns) -> Result<SealedValue, StoreError> {
    let kid = row.text(0)?.ok_or_else(|| corrupt("kid is missing"))?;
    let sealed = row
        .bytes(1)?
        .ok_or_else(|| corrupt("sealed_key is missing"))?;
    Ok(SealedValue {
        slot: SealedSlot::SigningKey { kid },
        sealed,
    })
}

/// A page of SQL rows: full means there may be more after its last value.
pub(super) fn page(values: Vec<SealedValue>, rows: usize, limit: usize) -> SealedPage {
    let next = (rows >= limit).then(|| values.last().map(cursor)).flatten();
    SealedPage { values, next }
}

/// Where the page after `value` starts, in its table's key order.
fn cursor(value: &SealedValue) -> Cursor {
    match &value.slot {
        SealedSlot::SessionKey { appid, openid } | SealedSlot::PreviousKey { appid, openid } => {
            Cursor(format!("{appid}\n{openid}").into_bytes())
        }
        SealedSlot::ReplayToken { claim, .. } => Cursor(claim.0.to_vec()),
        SealedSlot::AccessToken { appid } => Cursor(appid.as_str().as_bytes().to_vec()),
        SealedSlot::Phone { user_id } => Cursor(user_id.as_str().as_bytes().to_vec()),
        SealedSlot::SigningKey { kid } => Cursor(kid.as_bytes().to_vec()),
    }
}

/// The (appid, openid) an identities page starts after ("", "" from the start).
pub(super) fn identity_start(from: Option<&Cursor>) -> (String, String) {
    let text = from.map(|c| String::from_utf8_lossy(&c.0).into_owned());
    match text.as_deref().and_then(|t| t.split_once('\n')) {
        Some((appid, openid)) => (appid.to_owned(), openid.to_owned()),
        None => (String::new(), String::new()),
    }
}

pub(super) fn text_start(from: Option<&Cursor>) -> String {
    from.map(|c| String::from_utf8_lossy(&c.0).into_owned())
        .unwrap_or_default()
}

pub(super) fn bytes_start(from: Option<&Cursor>) -> Vec<u8> {
    from.map(|c| c.0.clone()).unwrap_or_default()
}
