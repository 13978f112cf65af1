//! Users and identities on every backend: linking by unionid, conflicts kept
//! apart and recorded once, merge and unlink, the audit log, refresh chains.

use super::*;
use wxlogin::store::{AuditEntry, AuditQuery, Committed, Unlinked};

static APP2: LazyLock<AppId> = LazyLock::new(|| AppId::parse("wx1111111111111111").unwrap());

/// A full login of (appid, openid) with an optional unionid at `now`.
async fn login(
    store: &Arc<dyn Store>,
    appid: &AppId,
    openid: &str,
    unionid: Option<&str>,
    now: i64,
    link: bool,
) -> (Committed, SessionRecord) {
    let key = ClaimKey::of(appid, &format!("{appid}{openid}{now}"));
    let c = Claim {
        key: &key,
        appid,
        owner: Box::leak(Box::new(owner("me"))),
        now,
        lease_until: now + 10,
        expires_at: now + 300,
    };
    assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
    let (_, mut s) = session(
        &format!("s-{appid}-{openid}-{now}"),
        openid,
        T0 + 1000,
        T0 + 1000,
    );
    s.appid = appid.clone();
    let unionid = unionid.map(|u| UnionId::parse(u).unwrap());
    s.unionid = unionid.clone();
    let u = IdentityUpsert {
        appid: appid.clone(),
        unionid,
        link_by_unionid: link,
        new_user_id: UserId::generate(),
        ..user(openid, b"k", now)
    };
    let committed = store
        .complete_login(&c, &u, &s, &record(s.id.as_str()))
        .await
        .unwrap()
        .unwrap();
    let stored = store.find_session(&s.token_hash).await.unwrap().unwrap();
    assert_eq!(
        stored.user_id, committed.user_id,
        "the session is the resolved user's"
    );
    (committed, stored)
}

async fn actions(store: &Arc<dyn Store>, user: Option<&UserId>) -> Vec<String> {
    let q = AuditQuery {
        user_id: user.cloned(),
        before: None,
        limit: 100,
    };
    let entries = store.list_audit(&q).await.unwrap();
    entries.into_iter().map(|e| e.action).collect()
}

pub async fn a_unionid_links_apps_and_a_conflict_is_kept_apart_until_merged(store: Arc<dyn Store>) {
    let (a1, _) = login(&store, &APP, "o1", Some("U"), T0, true).await;
    assert!(a1.new_identity && !a1.linked);
    // Another app, the same unionid: the same user.
    let (a2, _) = login(&store, &APP2, "o2", Some("U"), T0 + 1, true).await;
    assert_eq!((a2.user_id.clone(), a2.linked), (a1.user_id.clone(), true));
    assert!(a2.new_identity);
    // An identity first seen without a unionid is a user of its own...
    let (b, b_session) = login(&store, &APP2, "o3", None, T0 + 2, true).await;
    assert_ne!(b.user_id, a1.user_id);
    // ...and when its login later carries the unionid, the two users are a
    // conflict: recorded once, never merged silently.
    for i in 0..2 {
        let (again, _) = login(&store, &APP2, "o3", Some("U"), T0 + 3 + i, true).await;
        assert_eq!(again.user_id, b.user_id);
        assert_eq!(again.conflict.as_ref(), Some(&a1.user_id));
    }
    let conflicts = store.list_conflicts(false, 10).await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (&conflicts[0].user_id, &conflicts[0].other_user_id),
        (&b.user_id, &a1.user_id)
    );
    assert_eq!(
        actions(&store, Some(&a1.user_id)).await,
        ["conflict", "link"]
    );
    let ids = store.identities_of(&a1.user_id).await.unwrap();
    assert_eq!(ids.len(), 2);

    // The admin merges b into a: identities and sessions move, b is gone,
    // the conflict between them is resolved.
    let entry =
        AuditEntry::new(T0 + 10, "admin:test", "merge", Some(&a1.user_id)).other(&b.user_id);
    assert!(
        store
            .merge_users(&a1.user_id, &b.user_id, &entry)
            .await
            .unwrap()
    );
    assert_eq!(store.identities_of(&a1.user_id).await.unwrap().len(), 3);
    assert!(store.get_user(&b.user_id).await.unwrap().is_none());
    let moved = store
        .find_session(&b_session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.user_id, a1.user_id);
    assert!(store.list_conflicts(false, 10).await.unwrap().is_empty());
    let all = store.list_conflicts(true, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].resolved_at.is_some());
    assert!(
        !store
            .merge_users(&a1.user_id, &b.user_id, &entry)
            .await
            .unwrap(),
        "b is gone"
    );
    assert!(
        !store
            .merge_users(&a1.user_id, &a1.user_id, &entry)
            .await
            .unwrap()
    );

    // Unlink o3 again: a new user with its sessions; the only identity of a
    // user cannot be unlinked; an unknown one is unknown.
    let to = UserId::generate();
    let unlink = AuditEntry::new(T0 + 20, "admin:test", "unlink", None);
    assert_eq!(
        store
            .unlink_identity(&APP2, &oid("o3"), &to, &unlink)
            .await
            .unwrap(),
        Unlinked::Done {
            from: a1.user_id.clone()
        }
    );
    let split = store
        .find_session(&b_session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(split.user_id, to);
    assert_eq!(store.identities_of(&to).await.unwrap().len(), 1);
    assert!(store.get_user(&to).await.unwrap().is_some());
    assert_eq!(
        store
            .unlink_identity(&APP2, &oid("o3"), &UserId::generate(), &unlink)
            .await
            .unwrap(),
        Unlinked::OnlyIdentity
    );
    assert_eq!(
        store
            .unlink_identity(&APP2, &oid("nobody"), &UserId::generate(), &unlink)
            .await
            .unwrap(),
        Unlinked::UnknownIdentity
    );
    assert_eq!(actions(&store, Some(&to)).await, ["unlink"]);
    assert_eq!(
        actions(&store, None).await,
        ["unlink", "merge", "conflict", "link"],
        "every entry, newest first"
    );
}

pub async fn without_linking_every_identity_is_a_user_of_its_own(store: Arc<dyn Store>) {
    let (a, _) = login(&store, &APP, "o1", Some("U"), T0, false).await;
    let (b, _) = login(&store, &APP2, "o2", Some("U"), T0 + 1, false).await;
    assert_ne!(a.user_id, b.user_id);
    assert!(!b.linked && b.conflict.is_none());
    assert!(actions(&store, None).await.is_empty());
    // The unionid is kept on the identity all the same.
    let i = store
        .get_identity(&APP2, &oid("o2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.unionid.unwrap().as_str(), "U");
    assert_eq!(i.user_id, b.user_id);
}

pub async fn a_refresh_chain_is_revoked_together(store: Arc<dyn Store>) {
    let (c, first) = login(&store, &APP, "o1", None, T0, true).await;
    // Two refreshes: each new session joins the chain.
    let mut current = first.clone();
    for i in 0..2 {
        let (_, mut next) = session(&format!("next{i}"), "o1", T0 + 1000, T0 + 1000);
        next.user_id = c.user_id.clone();
        next.family = first.family.clone();
        assert!(
            store
                .replace_session(&current.id, &next, T0 + 1 + i)
                .await
                .unwrap()
        );
        current = next;
    }
    // Another chain of the same user stays.
    let (_, other) = login(&store, &APP, "o1", None, T0 + 5, true).await;
    assert_eq!(store.revoke_family(&first, T0 + 10).await.unwrap(), 1);
    let live = store
        .list_sessions(&APP, &oid("o1"), T0 + 10)
        .await
        .unwrap();
    assert_eq!(live.iter().map(|s| &s.id).collect::<Vec<_>>(), [&other.id]);
}

pub async fn the_audit_log_pages_newest_first(store: Arc<dyn Store>) {
    let (u, v) = (UserId::generate(), UserId::generate());
    for i in 0..5 {
        let who = if i % 2 == 0 { &u } else { &v };
        let e = AuditEntry::new(T0 + i, "admin:test", &format!("a{i}"), Some(who));
        store.append_audit(&e).await.unwrap();
    }
    let page = |user: Option<&UserId>, before: Option<String>| {
        let store = Arc::clone(&store);
        let q = AuditQuery {
            user_id: user.cloned(),
            before,
            limit: 2,
        };
        async move { store.list_audit(&q).await.unwrap() }
    };
    let first = page(None, None).await;
    assert_eq!(
        first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["a4", "a3"]
    );
    let second = page(None, Some(first[1].id.clone())).await;
    assert_eq!(
        second.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    let mine = page(Some(&u), None).await;
    assert_eq!(
        mine.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["a4", "a2"]
    );
    assert_eq!(mine[0].actor, "admin:test");
    assert_eq!(mine[0].at, T0 + 4);
}

pub async fn a_proved_phone_is_kept_on_the_user(store: Arc<dyn Store>) {
    let (c, _) = login(&store, &APP, "o1", None, T0, true).await;
    let user = store.get_user(&c.user_id).await.unwrap().unwrap();
    assert_eq!((user.sealed_phone, user.created_at), (None, T0));
    assert!(
        store
            .set_phone(&c.user_id, b"sealed", T0 + 5)
            .await
            .unwrap()
    );
    let user = store.get_user(&c.user_id).await.unwrap().unwrap();
    assert_eq!(user.sealed_phone.as_deref(), Some(&b"sealed"[..]));
    assert_eq!(user.phone_at, Some(T0 + 5));
    assert!(
        !store
            .set_phone(&UserId::generate(), b"x", T0)
            .await
            .unwrap()
    );
}

pub async fn signing_keys_and_sessions_by_id(store: Arc<dyn Store>) {
    use wxlogin::store::SigningKeyRecord;
    assert!(store.signing_keys().await.unwrap().is_empty());
    let key = |kid: &str, at: i64| SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        sealed_key: vec![1, 2, 3],
        created_at: at,
    };
    store.add_signing_key(&key("k2", T0 + 1)).await.unwrap();
    store.add_signing_key(&key("k1", T0)).await.unwrap();
    let kids: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k1", "k2"], "oldest first");
    store.delete_signing_key("k1").await.unwrap();
    assert_eq!(store.signing_keys().await.unwrap(), [key("k2", T0 + 1)]);
    // A session is found by its id too (a signed token names it in `sid`).
    let (_, s) = login(&store, &APP, "o1", None, T0, true).await;
    assert_eq!(store.get_session(&s.id).await.unwrap(), Some(s));
    assert_eq!(store.get_session(&sid("nope")).await.unwrap(), None);
}

/// A unionid means something only within its platform: the same text on a
/// Douyin identity and a WeChat one links nothing.
pub async fn unionids_link_only_within_one_platform(store: Arc<dyn Store>) {
    let (wechat, _) = login(&store, &APP, "o1", Some("U"), T0, true).await;
    let tt = AppId::parse("tt07e3715e98c9aac0").unwrap();
    let key = ClaimKey::of(&tt, "douyin-code");
    let c = Claim {
        key: &key,
        appid: &tt,
        owner: Box::leak(Box::new(owner("me"))),
        now: T0,
        lease_until: T0 + 10,
        expires_at: T0 + 300,
    };
    assert_eq!(store.claim(&c).await.unwrap(), ClaimState::Acquired);
    let (_, mut s) = session("s-douyin", "d1", T0 + 1000, T0 + 1000);
    s.appid = tt.clone();
    let u = IdentityUpsert {
        platform: Platform::Douyin,
        appid: tt.clone(),
        unionid: Some(UnionId::parse("U").unwrap()),
        new_user_id: UserId::generate(),
        ..user("d1", b"k", T0)
    };
    let douyin = store
        .complete_login(&c, &u, &s, &record(s.id.as_str()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(douyin.user_id, wechat.user_id);
    assert!(!douyin.linked && douyin.conflict.is_none());
    let identity = store.get_identity(&tt, &oid("d1")).await.unwrap().unwrap();
    assert_eq!(identity.platform, Platform::Douyin);
}
