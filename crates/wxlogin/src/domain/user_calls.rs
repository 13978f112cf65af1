//! WeChat calls made on behalf of a logged-in user with the app's managed
//! access_token: phone number, `checksession`, `resetusersessionkey`.

use std::sync::Arc;

use wechat::{OpenId, PhoneCode, PhoneInfo};

use super::login::{aad, valid_code_shape};
use super::{Core, Error};
use crate::store::UserUpsert;

impl Core {
    /// Trade a `getPhoneNumber` code for the session user's phone number.
    /// WeChat checks the code belongs to this user (openid in the body).
    pub async fn phone_number(
        self: &Arc<Self>,
        token: &str,
        expected_app: Option<&str>,
        code: &str,
    ) -> Result<PhoneInfo, Error> {
        let invalid = Error::InvalidPhoneCode {
            wechat_errcode: None,
        };
        if !valid_code_shape(code) {
            return Err(invalid);
        }
        let code = PhoneCode::parse(code).map_err(|_| invalid)?;
        let session = self.verify(token, expected_app).await?;
        let openid = OpenId::parse(&session.openid).map_err(|_| Error::Internal)?;
        let result = self
            .with_access_token(&session.appid, |access_token| {
                let (code, openid) = (&code, &openid);
                async move {
                    self.wechat
                        .get_user_phone_number(&access_token, code, Some(openid))
                        .await
                }
            })
            .await;
        let info = result.map_err(|e| match e {
            Error::InvalidCode { wechat_errcode } => Error::InvalidPhoneCode { wechat_errcode },
            other => other,
        })?;
        if info.watermark.appid != session.appid {
            return Err(Error::WatermarkMismatch);
        }
        Ok(info)
    }

    /// Ask WeChat whether the stored session_key is still the user's current one.
    pub async fn check_session_key(
        self: &Arc<Self>,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<bool, Error> {
        let session = self.verify(token, expected_app).await?;
        let openid = OpenId::parse(&session.openid).map_err(|_| Error::Internal)?;
        let keys = self.session_keys(&session.appid, &session.openid).await?;
        let current = keys.current();
        self.with_access_token(&session.appid, |access_token| {
            let openid = &openid;
            async move {
                self.wechat
                    .check_session(&access_token, openid, current)
                    .await
            }
        })
        .await
    }

    /// Make WeChat issue a new session_key for a user (admin), store it, and keep
    /// the old one for the grace period. The key itself is never returned.
    pub async fn reset_session_key(
        self: &Arc<Self>,
        appid: &str,
        openid: &str,
    ) -> Result<(), Error> {
        self.apps.get(appid).ok_or(Error::UnknownApp)?;
        let user = self
            .store
            .get_user(appid, openid)
            .await?
            .ok_or(Error::NotFound)?;
        let oid = OpenId::parse(openid).map_err(|_| Error::NotFound)?;
        let keys = self.session_keys(appid, openid).await?;
        let current = keys.current();
        let new_key = self
            .with_access_token(appid, |access_token| {
                let oid = &oid;
                async move {
                    self.wechat
                        .reset_user_session_key(&access_token, oid, current)
                        .await
                }
            })
            .await?;
        let now = self.clock.now();
        let text = new_key.expose_secret().as_bytes();
        let stored = self
            .store
            .upsert_user(&UserUpsert {
                appid: appid.to_owned(),
                openid: openid.to_owned(),
                unionid: user.unionid,
                sealed_session_key: self
                    .data_key
                    .seal(text, &aad("session_key", &[appid, openid])),
                key_fingerprint: self.data_key.fingerprint(text),
                now,
                previous_key_until: now + self.policy.key_grace,
            })
            .await;
        // Evicted also on an error, which can come after the change took effect.
        if let Some(cache) = &self.cache {
            cache.forget_user(openid);
        }
        stored.map(drop).map_err(Into::into)
    }
}
