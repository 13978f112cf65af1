//! Test isolation on the machine's PostgreSQL and Redis: each test gets its own
//! schema or key prefix and removes only what it created. Without the
//! `WXLOGIN_TEST_*_URL` variables the tests skip loudly, except in CI where a
//! missing variable is a failure.
#![allow(dead_code)]

/// The URL from `var`, or None (skip) outside CI.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} must be set in CI (.ci/run sets it)")
        }
        _ => {
            eprintln!("\n!!! SKIPPED: {var} is not set; this test needs it (see .ci/run) !!!\n");
            None
        }
    }
}

/// A fresh PostgreSQL schema; dropped (with everything in it) on drop.
pub struct PgSchema {
    pub base_url: String,
    pub schema: String,
}

impl PgSchema {
    pub async fn create() -> Option<Self> {
        let base_url = service_url("WXLOGIN_TEST_POSTGRES_URL")?;
        let schema = format!("wxt_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base_url)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        Some(Self { base_url, schema })
    }

    /// The store URL with `search_path` set to this schema.
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.schema
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.base_url.clone(), self.schema.clone());
        // Drop runs outside async; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await
                {
                    let _ =
                        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}

/// A fresh Redis key prefix; its keys are deleted on drop.
pub struct RedisPrefix {
    pub base_url: String,
    pub prefix: String,
}

impl RedisPrefix {
    pub fn create() -> Option<Self> {
        let base_url = service_url("WXLOGIN_TEST_REDIS_URL")?;
        Some(Self {
            base_url,
            prefix: format!("wxt-{}", uuid::Uuid::new_v4().simple()),
        })
    }

    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}prefix={}", self.base_url, self.prefix)
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(self.base_url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", self.prefix))
                .query(&mut conn)
                .unwrap_or_default();
            for key in keys {
                let _: Result<(), _> = redis::cmd("DEL").arg(key).query(&mut conn);
            }
        }
    }
}
