//! The mini programs this service logs users into, with their platforms and
//! secrets.

use std::collections::HashMap;

use super::Error;
use super::providers::Provider;
use crate::ids::{AppId, Platform};

#[derive(Debug, Clone)]
pub struct App {
    pub appid: AppId,
    pub platform: Platform,
    /// The platform's credentials and client.
    pub provider: Provider,
}

impl App {
    /// A WeChat app (the service's `wechat` client).
    pub fn wechat(appid: wechat::AppId, secret: wechat::AppSecret) -> Self {
        Self {
            appid: AppId::from(&appid),
            platform: Platform::Wechat,
            provider: Provider::Wechat { appid, secret },
        }
    }
}

/// The configured apps. With a single app, requests may omit the appid.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    by_id: HashMap<String, App>,
}

impl Apps {
    pub fn new(apps: impl IntoIterator<Item = App>) -> Self {
        Self {
            by_id: apps
                .into_iter()
                .map(|a| (a.appid.as_str().to_owned(), a))
                .collect(),
        }
    }

    pub fn get(&self, appid: &str) -> Option<&App> {
        self.by_id.get(appid)
    }

    /// The platform of a configured app; a session of an app since removed
    /// from the configuration is taken as WeChat's (the only platform
    /// before platforms were configurable).
    pub fn platform_of(&self, appid: &str) -> Platform {
        self.get(appid).map_or(Platform::Wechat, |a| a.platform)
    }

    pub fn iter(&self) -> impl Iterator<Item = &App> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The app a request names, or the only app when it names none.
    pub fn resolve(&self, appid: Option<&str>) -> Result<&App, Error> {
        match appid {
            Some(id) => self.get(id).ok_or(Error::UnknownApp),
            None if self.by_id.len() == 1 => self.by_id.values().next().ok_or(Error::UnknownApp),
            None => Err(Error::InvalidRequest(
                "several apps are configured: `appid` is required".into(),
            )),
        }
    }
}
