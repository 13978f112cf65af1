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

/// A client to `url` (its connection driven by a task of its own).
pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Run SQL (several statements allowed) on a fresh connection to `url`.
pub async fn pg_exec(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    result
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
        pg_exec(&base_url, &format!("CREATE SCHEMA {schema}"))
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
                let _ = pg_exec(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;
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

impl RedisPrefix {
    /// Every key under this prefix. SCAN in large steps, not KEYS: KEYS walks
    /// the whole keyspace in one blocking call, and timed out on a Redis that
    /// held millions of other keys (a benchmark's, being cleaned up).
    pub async fn keys(&self, conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .scan_step(cursor)
                .query_async(conn)
                .await
                .expect("SCAN");
            out.extend(batch);
            if next == 0 {
                return out;
            }
            cursor = next;
        }
    }

    fn scan_step(&self, cursor: u64) -> redis::Cmd {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:*", self.prefix))
            .arg("COUNT")
            .arg(10_000);
        cmd
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.base_url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let mut cursor = 0u64;
        while let Ok((next, keys)) = self
            .scan_step(cursor)
            .query::<(u64, Vec<String>)>(&mut conn)
        {
            for key in keys {
                let _: Result<(), _> = redis::cmd("DEL").arg(key).query(&mut conn);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}
