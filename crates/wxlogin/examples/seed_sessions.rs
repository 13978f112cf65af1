//! Fill a store with N live sessions for `bench/run`'s scaling measurement:
//! verify p99 with 1,000 vs 1,000,000 stored sessions.
//!
//! Redis goes through the store traits (one claim and one `complete_login`
//! each, as a real login commits: ~25,000/s). On SQLite and PostgreSQL that
//! path runs at ~1,200-2,200/s here (one fsync'd transaction per session), so
//! they get the same rows written straight into the `sessions` table (verify
//! reads nothing else), 2,000 per statement, after the store's own migrations.
//!
//! ```sh
//! cargo run --release -p wxlogin --example seed_sessions -- \
//!     STORE_URL COUNT SAMPLE_FILE [SAMPLE_SIZE] [CONCURRENCY]
//! ```
//!
//! Writes SAMPLE_SIZE of the tokens (spread evenly over the whole range) to
//! SAMPLE_FILE, one per line, for the load generator to pick from. The tokens
//! are real bearer tokens of real sessions: keep the file in a temporary
//! directory and delete it with the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wxlogin::clock::{Clock, SystemClock};
use wxlogin::domain::token::{SessionToken, claim_key};
use wxlogin::store::{self, Claim, ClaimState, LoginRecord, SessionRecord, Store, UserUpsert};

const APPID: &str = "wx4f4bc4dec97d474b";

fn usage() -> ! {
    eprintln!("usage: seed_sessions STORE_URL COUNT SAMPLE_FILE [SAMPLE_SIZE] [CONCURRENCY]");
    std::process::exit(2)
}

fn session(run: &str, i: usize, now: i64) -> (SessionToken, SessionRecord) {
    let token = SessionToken::generate();
    let record = SessionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        token_hash: token.hash(),
        appid: APPID.into(),
        openid: format!("o-seed-{run}-{i:08}"),
        unionid: None,
        created_at: now,
        expires_at: now + 30 * 86_400,
        idle_expires_at: now + 7 * 86_400,
        revoked_at: None,
    };
    (token, record)
}

/// Bulk insert into a SQL store's `sessions` table; returns the sampled tokens.
async fn seed_sql<DB>(
    url: &str,
    run: &str,
    count: usize,
    every: usize,
    now: i64,
) -> Result<Vec<String>, String>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    use sqlx::Connection as _;
    let mut conn = DB::Connection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let mut sampled = Vec::new();
    let mut i = 0;
    while i < count {
        let rows: Vec<_> = (i..count.min(i + 2_000))
            .map(|j| (j, session(run, j, now)))
            .collect();
        i += rows.len();
        let mut insert = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at) ",
        );
        insert.push_values(&rows, |mut b, (_, (_, s))| {
            b.push_bind(s.id.clone())
                .push_bind(s.token_hash.0.to_vec())
                .push_bind(s.appid.clone())
                .push_bind(s.openid.clone())
                .push_bind(s.unionid.clone())
                .push_bind(s.created_at)
                .push_bind(s.expires_at)
                .push_bind(s.idle_expires_at);
        });
        insert
            .build()
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        for (j, (token, _)) in rows {
            if j % every == 0 {
                sampled.push(token.expose_secret().to_owned());
            }
        }
        if i % 100_000 == 0 {
            eprintln!("  seeded {i} sessions");
        }
    }
    Ok(sampled)
}

async fn seed_one(
    store: &dyn Store,
    run: &str,
    i: usize,
    now: i64,
) -> Result<SessionToken, String> {
    let key = claim_key(APPID, &format!("seed-{run}-{i}"));
    let claim = Claim {
        key: &key,
        appid: APPID,
        owner: "seed",
        now,
        lease_until: now + 10,
        expires_at: now + 300,
    };
    match store.claim(&claim).await.map_err(|e| e.to_string())? {
        ClaimState::Acquired => {}
        other => return Err(format!("claim {i} not acquired: {other:?}")),
    }
    let (token, session) = session(run, i, now);
    let openid = session.openid.clone();
    // Opaque bytes where a login stores sealed secrets: verify never opens them.
    let user = UserUpsert {
        appid: APPID.into(),
        openid: openid.clone(),
        unionid: None,
        sealed_session_key: vec![0; 52],
        key_fingerprint: i.to_le_bytes().to_vec(),
        now,
        previous_key_until: now + 600,
    };
    let record = LoginRecord {
        session_id: session.id.clone(),
        sealed_token: vec![0; 75],
        openid,
        unionid: None,
        new_user: true,
        expires_at: session.expires_at,
    };
    store
        .complete_login(&claim, &user, &session, &record)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("claim {i} lost"))?;
    Ok(token)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(count), Some(sample_file)) = (args.first(), args.get(1), args.get(2))
    else {
        usage()
    };
    let count: usize = count.parse().unwrap_or_else(|_| usage());
    let sample: usize = args
        .get(3)
        .map_or(Ok(10_000), |s| s.parse())
        .unwrap_or_else(|_| usage());
    let concurrency: usize = args
        .get(4)
        .map_or(Ok(32), |s| s.parse())
        .unwrap_or_else(|_| usage());
    let store = match store::open(url, true).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot open the store: {e}");
            std::process::exit(1)
        }
    };
    let every = (count / sample.clamp(1, count.max(1))).max(1);
    let now = SystemClock.now();
    // Several seedings may fill one store: claim keys and openids must not meet.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let bulk = if url.starts_with("sqlite:") {
        Some(seed_sql::<sqlx::Sqlite>(url, &run, count, every, now).await)
    } else if url.starts_with("postgres") {
        Some(seed_sql::<sqlx::Postgres>(url, &run, count, every, now).await)
    } else {
        None
    };
    if let Some(bulk) = bulk {
        let tokens = bulk.unwrap_or_else(|e| {
            eprintln!("seeding failed: {e}");
            std::process::exit(1)
        });
        finish(sample_file, count, &tokens, started);
        return;
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next, run) = (Arc::clone(&store), Arc::clone(&next), run.clone());
        workers.spawn(async move {
            let mut sampled = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, String>(sampled);
                }
                let token = seed_one(store.as_ref(), &run, i, now).await?;
                if i % every == 0 {
                    sampled.push(token.expose_secret().to_owned());
                }
                if i > 0 && i % 100_000 == 0 {
                    eprintln!("  seeded {i} sessions in {:.0?}", started.elapsed());
                }
            }
        });
    }
    let mut tokens = Vec::new();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(Ok(sampled)) => tokens.extend(sampled),
            Ok(Err(e)) => {
                eprintln!("seeding failed: {e}");
                std::process::exit(1)
            }
            Err(e) => {
                eprintln!("a seeding task panicked: {e}");
                std::process::exit(1)
            }
        }
    }
    finish(sample_file, count, &tokens, started);
}

fn finish(sample_file: &str, count: usize, tokens: &[String], started: Instant) {
    let elapsed = started.elapsed();
    if let Err(e) = std::fs::write(sample_file, tokens.join("\n") + "\n") {
        eprintln!("cannot write {sample_file}: {e}");
        std::process::exit(1)
    }
    println!(
        "seeded {count} sessions in {:.1} s ({:.0}/s); {} sample tokens in {sample_file}",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        tokens.len()
    );
}
