//! QQ mini programs (PLATFORMS.md §3) speak WeChat's protocol: the same
//! `sns/jscode2session` query, `errcode`/`errmsg` errors (-1 busy, 40029
//! invalid code, 45011 at 100 calls per user per minute), a 16-byte
//! `session_key` and WeChat's open-data scheme, at QQ's host. A
//! `wechat::Client` built with this base URL is the QQ client. QQ documents
//! no phone-number route, so wxlogin offers none for QQ.

/// QQ's API host.
pub const BASE_URL: &str = "https://api.q.qq.com/";
