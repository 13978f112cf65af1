//! Fill a store with N live sessions for `bench/run`'s scaling measurement:
//! verify p99 with 1,000 vs 1,000,000 stored sessions. Every session goes
//! through the store traits, one claim and one `complete_login` each, as a
//! real login commits (concurrent writers share commits on SQLite).
//!
//! ```sh
//! cargo run --release -p wxlogin-bench-tools --bin seed_sessions -- \
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
use wxlogin::domain::token::SessionToken;
use wxlogin::ids::{AppId, ClaimKey, OpenId, Owner, Platform, SessionId, UserId};
use wxlogin::store::{
    self, Claim, ClaimState, IdentityUpsert, LoginRecord, SessionRecord, Store, StoreUrl,
};

const APPID: &str = "wx4f4bc4dec97d474b";

fn appid() -> AppId {
    AppId::parse(APPID).expect("appid")
}

fn usage() -> ! {
    eprintln!("usage: seed_sessions STORE_URL COUNT SAMPLE_FILE [SAMPLE_SIZE] [CONCURRENCY]");
    std::process::exit(2)
}

fn session(run: &str, i: usize, now: i64) -> (SessionToken, SessionRecord) {
    let token = SessionToken::generate();
    let id = SessionId::generate();
    let record = SessionRecord {
        family: id.clone(),
        id,
        token_hash: token.hash(),
        user_id: UserId::generate(),
        appid: appid(),
        openid: OpenId::parse(&format!("o-seed-{run}-{i:08}")).expect("openid"),
        unionid: None,
        created_at: now,
        expires_at: now + 30 * 86_400,
        idle_expires_at: now + 7 * 86_400,
        revoked_at: None,
    };
    (token, record)
}

async fn seed_one(
    store: &dyn Store,
    run: &str,
    i: usize,
    now: i64,
) -> Result<SessionToken, String> {
    let (app, owner) = (appid(), Owner::generate());
    let key = ClaimKey::of(&app, &format!("seed-{run}-{i}"));
    let claim = Claim {
        key: &key,
        appid: &app,
        owner: &owner,
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
    let user = IdentityUpsert {
        platform: Platform::Wechat,
        appid: appid(),
        openid: openid.clone(),
        unionid: None,
        sealed_session_key: vec![0; 52],
        key_fingerprint: i.to_le_bytes().to_vec(),
        now,
        previous_key_until: now + 600,
        key_at: now * 1000,
        new_user_id: session.user_id.clone(),
        link_by_unionid: true,
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
    let url = StoreUrl::parse(url).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let store = match store::open(&url, true).await {
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
