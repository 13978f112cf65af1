//! The store conformance suite: every behaviour of the store traits, written
//! once and run against every backend (`conformance!` instantiates it). Each
//! test opens its own database.

mod support;

use std::sync::{Arc, LazyLock};

use wxlogin::domain::token::SessionToken;
use wxlogin::ids::{
    AppId, ClaimKey, LockName, OpenId, Owner, Platform, Refusal, SessionId, UnionId, UserId,
};
use wxlogin::store::{
    self, CachedToken, Claim, ClaimState, IdentityUpsert, LoginRecord, SessionRecord, Store,
    StoreUrl,
};

#[path = "store_conformance/users.rs"]
mod users;
use users::*;

const T0: i64 = 1_800_000_000;

static APP: LazyLock<AppId> = LazyLock::new(|| AppId::parse("wx4f4bc4dec97d474b").unwrap());

fn app() -> AppId {
    APP.clone()
}

fn oid(s: &str) -> OpenId {
    OpenId::parse(s).unwrap()
}

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

fn owner(s: &str) -> Owner {
    Owner::from_stored(s.into())
}

fn lock() -> LockName {
    LockName::access_token(&APP)
}

fn code(text: &str) -> ClaimKey {
    ClaimKey::of(&APP, text)
}

/// The user a new identity `openid` gets in these tests: fixed per openid,
/// so a stored session can be compared with the one proposed.
fn uid(openid: &str) -> UserId {
    let n = openid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    UserId::parse(&format!(
        "00000000-0000-7000-8000-{:012x}",
        n & 0xffff_ffff_ffff
    ))
    .unwrap()
}

fn session(id: &str, openid: &str, expires_at: i64, idle: i64) -> (SessionToken, SessionRecord) {
    let token = SessionToken::generate();
    let record = SessionRecord {
        id: sid(id),
        family: sid(id),
        token_hash: token.hash(),
        user_id: uid(openid),
        appid: app(),
        openid: oid(openid),
        unionid: Some(UnionId::parse("ounion").unwrap()),
        created_at: T0,
        expires_at,
        idle_expires_at: idle,
        revoked_at: None,
    };
    (token, record)
}

fn user(openid: &str, key: &[u8], now: i64) -> IdentityUpsert {
    IdentityUpsert {
        platform: Platform::Wechat,
        appid: app(),
        openid: oid(openid),
        unionid: None,
        sealed_session_key: key.to_vec(),
        key_fingerprint: key.iter().rev().copied().collect(),
        now,
        previous_key_until: now + 600,
        key_at: now * 1000,
        new_user_id: uid(openid),
        link_by_unionid: true,
    }
}

/// A claim by `owner`; the owner is leaked so the claim can borrow it (a
/// handful per test).
fn claim<'a>(key: &'a ClaimKey, holder: &str, now: i64) -> Claim<'a> {
    Claim {
        key,
        appid: &APP,
        owner: Box::leak(Box::new(owner(holder))),
        now,
        lease_until: now + 10,
        expires_at: now + 300,
    }
}

fn record(session_id: &str) -> LoginRecord {
    LoginRecord {
        session_id: sid(session_id),
        sealed_token: vec![1, 2, 3],
        openid: oid("o1"),
        unionid: None,
        new_user: false,
        expires_at: T0 + 100,
    }
}

pub async fn sessions_are_found_by_hash_and_expire_at_the_boundary(store: Arc<dyn Store>) {
    let (token, s) = session("s1", "o1", T0 + 100, T0 + 50);
    let mut c = claim(&ClaimKey([9; 32]), "me", T0);
    assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
    c.now = T0;
    assert_eq!(
        store
            .complete_login(&c, &user("o1", b"k1", T0), &s, &record("s1"))
            .await
            .unwrap()
            .map(|c| c.new_identity),
        Some(true)
    );
    let found = store.find_session(&token.hash()).await.unwrap().unwrap();
    assert_eq!(found, s);
    assert!(found.is_active(T0 + 49));
    assert!(!found.is_active(T0 + 50), "idle boundary is exclusive");
    store.touch_session(&sid("s1"), T0 + 100).await.unwrap();
    let found = store.find_session(&token.hash()).await.unwrap().unwrap();
    assert_eq!(found.idle_expires_at, T0 + 100);
    assert!(found.is_active(T0 + 99));
    assert!(!found.is_active(T0 + 100), "absolute boundary is exclusive");
    assert!(
        store
            .find_session(&SessionToken::generate().hash())
            .await
            .unwrap()
            .is_none()
    );
    // touch never moves the deadline backwards
    store.touch_session(&sid("s1"), T0 + 10).await.unwrap();
    assert_eq!(
        store
            .find_session(&token.hash())
            .await
            .unwrap()
            .unwrap()
            .idle_expires_at,
        T0 + 100
    );
}

async fn seed_sessions(
    store: &Arc<dyn Store>,
    openid: &str,
    n: usize,
) -> Vec<(SessionToken, SessionRecord)> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = code(&format!("{openid}{i}"));
        let owner = format!("owner{i}");
        let c = claim(&key, &owner, T0);
        assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
        let (token, s) = session(&format!("{openid}-{i}"), openid, T0 + 1000, T0 + 1000);
        store
            .complete_login(&c, &user(openid, b"key", T0), &s, &record(s.id.as_str()))
            .await
            .unwrap()
            .unwrap();
        out.push((token, s));
    }
    out
}

pub async fn revoke_one_and_revoke_all_leave_others_alone(store: Arc<dyn Store>) {
    let mine = seed_sessions(&store, "o1", 3).await;
    let theirs = seed_sessions(&store, "o2", 1).await;
    assert!(store.revoke_session(&mine[0].1.id, T0 + 1).await.unwrap());
    assert!(
        !store.revoke_session(&mine[0].1.id, T0 + 2).await.unwrap(),
        "second revoke is a no-op"
    );
    assert_eq!(
        store
            .list_sessions(&app(), &oid("o1"), T0 + 3)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.revoke_all(&app(), &oid("o1"), T0 + 3).await.unwrap(),
        2
    );
    for (token, _) in &mine {
        let s = store.find_session(&token.hash()).await.unwrap().unwrap();
        assert!(!s.is_active(T0 + 4));
    }
    assert!(
        store
            .list_sessions(&app(), &oid("o1"), T0 + 4)
            .await
            .unwrap()
            .is_empty()
    );
    let other = store
        .find_session(&theirs[0].0.hash())
        .await
        .unwrap()
        .unwrap();
    assert!(other.is_active(T0 + 4));
}

pub async fn replace_session_is_atomic_and_refuses_a_dead_session(store: Arc<dyn Store>) {
    let seeded = seed_sessions(&store, "o1", 1).await;
    let (new_token, new) = session("s-new", "o1", T0 + 2000, T0 + 2000);
    assert!(
        store
            .replace_session(&seeded[0].1.id, &new, T0 + 5)
            .await
            .unwrap()
    );
    assert!(
        !store
            .find_session(&seeded[0].0.hash())
            .await
            .unwrap()
            .unwrap()
            .is_active(T0 + 6)
    );
    assert!(
        store
            .find_session(&new_token.hash())
            .await
            .unwrap()
            .unwrap()
            .is_active(T0 + 6)
    );
    let (again_token, again) = session("s-again", "o1", T0 + 2000, T0 + 2000);
    assert!(
        !store
            .replace_session(&seeded[0].1.id, &again, T0 + 7)
            .await
            .unwrap()
    );
    assert!(
        store
            .find_session(&again_token.hash())
            .await
            .unwrap()
            .is_none(),
        "nothing created"
    );
}

pub async fn a_key_rotation_keeps_the_previous_key_with_its_grace(store: Arc<dyn Store>) {
    assert!(
        store
            .upsert_identity(&user("o1", b"k1", T0))
            .await
            .unwrap()
            .new_identity
    );
    let u = store
        .get_identity(&app(), &oid("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.sealed_session_key, b"k1");
    assert_eq!(u.sealed_previous_key, None);
    // Same key again (same fingerprint): nothing rotates.
    assert!(
        !store
            .upsert_identity(&user("o1", b"k1", T0 + 10))
            .await
            .unwrap()
            .new_identity
    );
    assert_eq!(
        store
            .get_identity(&app(), &oid("o1"))
            .await
            .unwrap()
            .unwrap()
            .sealed_previous_key,
        None
    );
    assert!(
        !store
            .upsert_identity(&user("o1", b"k2", T0 + 20))
            .await
            .unwrap()
            .new_identity
    );
    assert_rotated_from_k1_to_k2_at_t0_plus_20(&store).await;
    assert!(
        store
            .get_identity(&app(), &oid("nobody"))
            .await
            .unwrap()
            .is_none()
    );
}

/// The same rotation when it comes with a login (the path every real
/// rotation takes): the answer says "not new", the old key stays as the
/// previous one with its grace, the session is stored.
pub async fn a_login_rotates_the_key_like_an_upsert(store: Arc<dyn Store>) {
    for (i, (key, new_user)) in [(&b"k1"[..], true), (&b"k2"[..], false)]
        .into_iter()
        .enumerate()
    {
        let code = code(&format!("rotate{i}"));
        let now = T0 + 20 * i as i64;
        let c = claim(&code, "me", now);
        assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
        let (token, s) = session(&format!("r{i}"), "o1", T0 + 1000, T0 + 1000);
        let u = IdentityUpsert {
            unionid: Some(UnionId::parse("ounion").unwrap()),
            ..user("o1", key, now)
        };
        let answer = LoginRecord {
            unionid: u.unionid.clone(),
            new_user,
            // As the domain makes it: the answer expires with its session.
            expires_at: s.expires_at,
            ..record(s.id.as_str())
        };
        assert_eq!(
            store
                .complete_login(&c, &u, &s, &answer)
                .await
                .unwrap()
                .map(|c| c.new_identity),
            Some(new_user)
        );
        assert_eq!(store.find_session(&token.hash()).await.unwrap(), Some(s));
        // The same code again is answered from the claim, unionid included.
        assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Done(answer));
    }
    assert_rotated_from_k1_to_k2_at_t0_plus_20(&store).await;
    let u = store.get_identity(&app(), &oid("o1")).await.unwrap();
    assert_eq!(u.unwrap().unionid.unwrap().as_str(), "ounion");
}

/// User o1, created at T0 with key k1, got k2 at T0 + 20: k1 stays usable
/// as the previous key for the 600 s grace of `user()`.
async fn assert_rotated_from_k1_to_k2_at_t0_plus_20(store: &Arc<dyn Store>) {
    let u = store
        .get_identity(&app(), &oid("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.sealed_session_key, b"k2");
    assert_eq!(u.sealed_previous_key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(u.previous_key_until, Some(T0 + 20 + 600));
    assert_eq!(u.created_at, T0);
    assert_eq!(u.updated_at, T0 + 20);
}

pub async fn a_claim_is_single_flight_replayable_and_fenced(store: Arc<dyn Store>) {
    let key = code("code1");
    let a = claim(&key, "a", T0);
    assert_eq!(store.claim(&a).await.unwrap(), ClaimState::Acquired);
    assert_eq!(
        store.claim(&a).await.unwrap(),
        ClaimState::Acquired,
        "re-entrant for its owner"
    );
    let b = claim(&key, "b", T0 + 1);
    assert_eq!(store.claim(&b).await.unwrap(), ClaimState::Pending);
    // a's lease (10 s) runs out: b takes over; a's late commit is fenced off.
    let b_late = claim(&key, "b", T0 + 10);
    assert_eq!(store.claim(&b_late).await.unwrap(), ClaimState::Acquired);
    let (_, sa) = session("sa", "o1", T0 + 100, T0 + 100);
    assert_eq!(
        store
            .complete_login(&a, &user("o1", b"k", T0), &sa, &record("sa"))
            .await
            .unwrap()
            .map(|c| c.new_identity),
        None
    );
    assert!(
        store.find_session(&sa.token_hash).await.unwrap().is_none(),
        "fenced write left nothing"
    );
    assert!(
        store
            .get_identity(&app(), &oid("o1"))
            .await
            .unwrap()
            .is_none()
    );
    let (_, sb) = session("sb", "o1", T0 + 100, T0 + 100);
    assert_eq!(
        store
            .complete_login(&b_late, &user("o1", b"k", T0), &sb, &record("sb"))
            .await
            .unwrap()
            .map(|c| c.new_identity),
        Some(true)
    );
    let c = claim(&key, "c", T0 + 20);
    match store.claim(&c).await.unwrap() {
        ClaimState::Done(r) => {
            assert_eq!(r.session_id.as_str(), "sb");
            assert_eq!(r.sealed_token, vec![1, 2, 3]);
            assert_eq!(
                r.expires_at,
                T0 + 100,
                "the session's expiry, not the claim's"
            );
            assert!(r.new_user);
        }
        other => panic!("expected Done, got {other:?}"),
    }
    // After the replay window the claim is forgotten and can be taken anew.
    let d = claim(&key, "d", T0 + 10 + 300);
    assert_eq!(store.claim(&d).await.unwrap(), ClaimState::Acquired);
}

pub async fn failed_and_released_claims(store: Arc<dyn Store>) {
    let key = code("code2");
    let a = claim(&key, "a", T0);
    assert_eq!(store.claim(&a).await.unwrap(), ClaimState::Acquired);
    store
        .fail_claim(&key, &owner("not-a"), Refusal::InvalidCode)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&claim(&key, "b", T0)).await.unwrap(),
        ClaimState::Pending,
        "fail is fenced"
    );
    store
        .fail_claim(&key, &owner("a"), Refusal::InvalidCode)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&claim(&key, "b", T0 + 1)).await.unwrap(),
        ClaimState::Failed(Refusal::InvalidCode)
    );
    let key2 = code("code3");
    assert_eq!(
        store.claim(&claim(&key2, "a", T0)).await.unwrap(),
        ClaimState::Acquired
    );
    store.release_claim(&key2, &owner("a")).await.unwrap();
    assert_eq!(
        store.claim(&claim(&key2, "b", T0)).await.unwrap(),
        ClaimState::Acquired
    );
}

pub async fn purge_removes_only_what_is_dead(store: Arc<dyn Store>) {
    let seeded = seed_sessions(&store, "o1", 2).await;
    store.revoke_session(&seeded[0].1.id, T0 + 1).await.unwrap();
    store.ping().await.unwrap();
    // SQL stores delete rows dead for a day; Redis lets TTLs do it (purge is a
    // no-op there). Either way the dead session never comes back to life and the
    // live one stays.
    store.purge_expired(T0 + 1 + 86_400 + 1).await.unwrap();
    let dead = store.find_session(&seeded[0].0.hash()).await.unwrap();
    assert!(dead.is_none_or(|s| !s.is_active(T0 + 2)));
    let live = store.find_session(&seeded[1].0.hash()).await.unwrap();
    assert!(live.is_some_and(|s| s.is_active(T0 + 2)));
}

pub async fn a_lock_expires_and_fences_a_late_holder(store: Arc<dyn Store>) {
    let a = store
        .try_lock(&lock(), &owner("a"), T0, T0 + 10)
        .await
        .unwrap()
        .expect("free lock");
    assert_eq!(
        store
            .try_lock(&lock(), &owner("b"), T0 + 5, T0 + 15)
            .await
            .unwrap(),
        None,
        "held"
    );
    assert_eq!(
        store
            .try_lock(&lock(), &owner("a"), T0 + 6, T0 + 16)
            .await
            .unwrap(),
        Some(a),
        "re-entrant, same fence"
    );
    // a crashes (stops renewing): after its lease b takes over with a newer fence.
    let b = store
        .try_lock(&lock(), &owner("b"), T0 + 16, T0 + 26)
        .await
        .unwrap()
        .expect("expired lease");
    assert!(b > a);
    let newer = CachedToken {
        sealed_token: b"from-b".to_vec(),
        expires_at: T0 + 7200,
        fence: b,
    };
    assert!(store.put_access_token(&app(), &newer).await.unwrap());
    let late = CachedToken {
        sealed_token: b"from-a".to_vec(),
        expires_at: T0 + 7200,
        fence: a,
    };
    assert!(
        !store.put_access_token(&app(), &late).await.unwrap(),
        "fenced"
    );
    assert_eq!(store.get_access_token(&app()).await.unwrap(), Some(newer));
    store.unlock(&lock(), &owner("a")).await.unwrap();
    assert_eq!(
        store
            .try_lock(&lock(), &owner("c"), T0 + 17, T0 + 27)
            .await
            .unwrap(),
        None,
        "a cannot unlock b's lease"
    );
    store.unlock(&lock(), &owner("b")).await.unwrap();
    let c = store
        .try_lock(&lock(), &owner("c"), T0 + 18, T0 + 28)
        .await
        .unwrap()
        .expect("released");
    assert!(c > b, "fences only grow");
    assert!(
        store
            .get_access_token(&AppId::parse("wx0000000000000000").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// Two logins of one user commit out of order: the key WeChat answered
/// last stays current, whichever commits last; the older one changes no key.
pub async fn the_newer_key_wins_whatever_order_logins_commit_in(store: Arc<dyn Store>) {
    let commit = async |code_text: &str, key: &[u8], key_at: i64| {
        let code = code(code_text);
        let c = claim(&code, "me", T0);
        assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
        let (_, s) = session(code_text, "o1", T0 + 1000, T0 + 1000);
        let u = IdentityUpsert {
            key_at,
            ..user("o1", key, T0)
        };
        store
            .complete_login(&c, &u, &s, &record(s.id.as_str()))
            .await
            .unwrap()
            .unwrap();
    };
    commit("first", b"k1", T0 * 1000).await;
    // The newer login (answered at +20 ms) commits before the older one (+10 ms).
    commit("newer", b"k3", T0 * 1000 + 20).await;
    commit("older", b"k2", T0 * 1000 + 10).await;
    let u = store
        .get_identity(&app(), &oid("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.sealed_session_key, b"k3", "the newer key stays current");
    assert_eq!(u.sealed_previous_key.as_deref(), Some(&b"k1"[..]));
    // An admin reset (an upsert) follows the same rule.
    let stale = IdentityUpsert {
        key_at: T0 * 1000 + 5,
        ..user("o1", b"k4", T0)
    };
    store.upsert_identity(&stale).await.unwrap();
    let u = store
        .get_identity(&app(), &oid("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.sealed_session_key, b"k3");
    let fresh = IdentityUpsert {
        key_at: T0 * 1000 + 30,
        ..user("o1", b"k5", T0 + 1)
    };
    store.upsert_identity(&fresh).await.unwrap();
    let u = store
        .get_identity(&app(), &oid("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.sealed_session_key, b"k5");
    assert_eq!(u.sealed_previous_key.as_deref(), Some(&b"k3"[..]));
}

macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;
            conformance!(@tests $open;
                sessions_are_found_by_hash_and_expire_at_the_boundary,
                revoke_one_and_revoke_all_leave_others_alone,
                replace_session_is_atomic_and_refuses_a_dead_session,
                a_key_rotation_keeps_the_previous_key_with_its_grace,
                a_login_rotates_the_key_like_an_upsert,
                a_claim_is_single_flight_replayable_and_fenced,
                failed_and_released_claims,
                purge_removes_only_what_is_dead,
                a_lock_expires_and_fences_a_late_holder,
                the_newer_key_wins_whatever_order_logins_commit_in,
                a_unionid_links_apps_and_a_conflict_is_kept_apart_until_merged,
                without_linking_every_identity_is_a_user_of_its_own,
                a_refresh_chain_is_revoked_together,
                the_audit_log_pages_newest_first,
                a_proved_phone_is_kept_on_the_user,
                signing_keys_and_sessions_by_id,
                unionids_link_only_within_one_platform,
            );
        }
    };
    (@tests $open:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, _guard)) = $open.await else {
                    return;
                };
                super::$name(store).await;
            }
        )*
    };
}

async fn sqlite_file() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    Some((
        store::open(&StoreUrl::parse(&url).unwrap(), true)
            .await
            .unwrap(),
        dir,
    ))
}

async fn sqlite_memory() -> Option<(Arc<dyn Store>, ())> {
    let url = StoreUrl::parse("sqlite::memory:").unwrap();
    Some((store::open(&url, true).await.unwrap(), ()))
}

async fn postgres() -> Option<(Arc<dyn Store>, support::PgSchema)> {
    let schema = support::PgSchema::create().await?;
    let store = store::open(&StoreUrl::parse(&schema.url()).unwrap(), true)
        .await
        .unwrap();
    Some((store, schema))
}

async fn redis() -> Option<(Arc<dyn Store>, support::RedisPrefix)> {
    let prefix = support::RedisPrefix::create()?;
    let store = store::open(&StoreUrl::parse(&prefix.url()).unwrap(), true)
        .await
        .unwrap();
    Some((store, prefix))
}

conformance!(sqlite_file_store, sqlite_file());
conformance!(sqlite_memory_store, sqlite_memory());
conformance!(postgres_store, postgres());
conformance!(redis_store, redis());
