//! WeChat calls made on behalf of a logged-in user with the app's managed
//! access_token: phone number, `checksession`, `resetusersessionkey`,
//! `checkencryptedmsg`.

use std::sync::Arc;

use wechat::{EncryptedMsgCheck, PhoneCode, PhoneInfo};

use super::login::{aad, valid_code_shape_for};
use super::open_data::Decrypted;
use super::user_limits::UserCall;
use super::{Core, Error};
use crate::ids::Platform;
use crate::store::{AuditEntry, IdentityUpsert};

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
        let session = self.verified(token, expected_app).await?;
        let platform = self.apps.platform_of(session.appid.as_str());
        if !valid_code_shape_for(platform, code) {
            return Err(invalid);
        }
        let info = match platform {
            Platform::Wechat => self.wechat_phone(&session, code).await?,
            Platform::Douyin => {
                let app = self
                    .apps
                    .get(session.appid.as_str())
                    .ok_or(Error::UnknownApp)?;
                self.user_limits
                    .check(UserCall::Phone, &session.appid, &session.openid)?;
                self.douyin_phone(app, code).await?
            }
            other => return Err(Error::NotSupported(other)),
        };
        if info.watermark.appid != session.appid.as_str() {
            return Err(Error::WatermarkMismatch);
        }
        if self.identity.store_phone {
            let phone = info.phone_number.as_bytes();
            let sealed = self
                .data_key
                .seal(phone, &aad("phone", &[session.user_id.as_str()]));
            let kept = self
                .store
                .set_phone(&session.user_id, &sealed, self.clock.now())
                .await;
            // The number is the caller's either way; keeping it is a service.
            if let Err(e) = kept {
                tracing::warn!(error = %e, "cannot keep the proved phone number on the user");
            }
        }
        Ok(info)
    }

    /// WeChat's `getuserphonenumber` with the app's access_token; WeChat
    /// checks the code belongs to this user (openid in the body).
    async fn wechat_phone(
        self: &Arc<Self>,
        session: &crate::store::SessionRecord,
        code: &str,
    ) -> Result<PhoneInfo, Error> {
        let invalid = Error::InvalidPhoneCode {
            wechat_errcode: None,
        };
        let code = PhoneCode::parse(code).map_err(|_| invalid)?;
        self.user_limits
            .check(UserCall::Phone, &session.appid, &session.openid)?;
        let wechat_openid = wechat_openid(&session.openid)?;
        let result = self
            .with_access_token(session.appid.as_str(), |access_token| {
                let (code, openid) = (&code, &wechat_openid);
                async move {
                    self.wechat
                        .get_user_phone_number(&access_token, code, Some(openid))
                        .await
                }
            })
            .await;
        result.map_err(|e| match e {
            Error::InvalidCode { wechat_errcode } => Error::InvalidPhoneCode { wechat_errcode },
            other => other,
        })
    }

    /// Ask WeChat whether it issued the `encrypted_data` that `decrypted` was
    /// opened from (`checkencryptedmsg`; see `wechat::Client::check_encrypted_msg`
    /// for what is uncertain about it). Counted in the user's limits: it
    /// spends the app's quota. `open_data_not_authentic` when WeChat says no.
    pub async fn check_open_data(
        self: &Arc<Self>,
        decrypted: &Decrypted,
        encrypted_data: &str,
    ) -> Result<EncryptedMsgCheck, Error> {
        self.wechat_only(&decrypted.appid)?;
        self.user_limits
            .check(UserCall::OpenDataCheck, &decrypted.appid, &decrypted.openid)?;
        let check = self
            .with_access_token(decrypted.appid.as_str(), |access_token| async move {
                self.wechat
                    .check_encrypted_msg(&access_token, encrypted_data)
                    .await
            })
            .await?;
        if !check.valid {
            return Err(Error::InvalidOpenData {
                code: "open_data_not_authentic",
                detail: "WeChat does not vouch for this encrypted_data: altered, \
                         older than WeChat keeps, or issued to another app"
                    .into(),
            });
        }
        Ok(check)
    }

    /// Ask WeChat whether the stored session_key is still the user's current one.
    pub async fn check_session_key(
        self: &Arc<Self>,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<bool, Error> {
        let session = self.verified(token, expected_app).await?;
        self.wechat_only(&session.appid)?;
        self.user_limits
            .check(UserCall::CheckSession, &session.appid, &session.openid)?;
        let keys = self.session_keys(&session.appid, &session.openid).await?;
        let current = &keys.current_wechat()?;
        let wechat_openid = wechat_openid(&session.openid)?;
        self.with_access_token(session.appid.as_str(), |access_token| {
            let openid = &wechat_openid;
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
        actor: &str,
    ) -> Result<(), Error> {
        let (app, oid) = self.admin_user(appid, openid)?;
        self.wechat_only(&app)?;
        let user = self
            .store
            .get_identity(&app, &oid)
            .await?
            .ok_or(Error::NotFound)?;
        let keys = self.session_keys(&app, &oid).await?;
        let current = &keys.current_wechat()?;
        let wechat_oid = wechat_openid(&oid)?;
        let new_key = self
            .with_access_token(app.as_str(), |access_token| {
                let oid = &wechat_oid;
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
            .upsert_identity(&IdentityUpsert {
                platform: user.platform,
                appid: app.clone(),
                openid: oid.clone(),
                unionid: user.unionid,
                sealed_session_key: self
                    .data_key
                    .seal(text, &aad("session_key", &[app.as_str(), oid.as_str()])),
                key_fingerprint: self.data_key.fingerprint(text),
                now,
                previous_key_until: now + self.policy.key_grace,
                key_at: self.clock.now_millis(),
                new_user_id: user.user_id.clone(),
                link_by_unionid: self.identity.link_by_unionid,
            })
            .await;
        // Evicted also on an error, which can come after the change took effect.
        if let Some(cache) = &self.cache {
            cache.forget_user(oid.as_str());
        }
        stored?;
        let entry = AuditEntry::new(now, actor, "reset_session_key", Some(&user.user_id))
            .identity(&app, &oid);
        self.store.append_audit(&entry).await?;
        Ok(())
    }
}

impl Core {
    /// WeChat's user-scoped APIs (phone by code, checksession, reset,
    /// checkencryptedmsg) exist for WeChat apps only.
    fn wechat_only(&self, appid: &crate::ids::AppId) -> Result<(), Error> {
        match self.apps.platform_of(appid.as_str()) {
            crate::ids::Platform::Wechat => Ok(()),
            other => Err(Error::NotSupported(other)),
        }
    }
}

/// A WeChat user's openid as WeChat's type (it came from WeChat).
fn wechat_openid(openid: &crate::ids::OpenId) -> Result<wechat::OpenId, Error> {
    wechat::OpenId::parse(openid.as_str()).map_err(|_| Error::Internal)
}
