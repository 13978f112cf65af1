//! Micro-benchmarks of the open-data crypto: TV1 decryption (with watermark
//! check) and the login-state HMAC signature.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wechat::crypto::{decrypt_open_data, login_state_signature, raw_data_signature};
use wechat::{AppId, SessionKey};

const K1: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV1: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const TV1_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

fn crypto(c: &mut Criterion) {
    let key = SessionKey::parse(K1).expect("K1 is valid");
    let appid = AppId::parse("wx4f4bc4dec97d474b").expect("valid appid");
    c.bench_function("decrypt_open_data TV1 (400 B, watermark checked)", |b| {
        b.iter(|| decrypt_open_data(black_box(&key), black_box(IV1), black_box(TV1_DATA), &appid))
    });
    c.bench_function("login_state_signature HMAC-SHA256 (empty message)", |b| {
        b.iter(|| login_state_signature(black_box(&key), black_box(b"")))
    });
    c.bench_function("raw_data_signature SHA-1 (TV1 size)", |b| {
        b.iter(|| raw_data_signature(black_box(TV1_DATA), black_box(&key)))
    });
}

criterion_group!(benches, crypto);
criterion_main!(benches);
