//! Authorization over real HTTP: the token sources, the 401/403 matrix,
//! HS256/RS256/ES256, forged and `alg: none` tokens, public topics, and a
//! stream that ends when its token expires.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{start, Server};
use futures_util::StreamExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ssehub::{Hub, TopicPattern};
use ssehub_core::{EventStream, Item};
use ssehub_server::{Auth, Config};

const SECRET: &[u8] = b"test secret, long enough for HS256";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(publish: &[&str], subscribe: &[&str], exp: Option<u64>) -> Value {
    let mut c = json!({"ssehub": {"publish": publish, "subscribe": subscribe}});
    if let Some(exp) = exp {
        c["exp"] = json!(exp);
    }
    c
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn hub_with(auth: Auth) -> Server {
    let config = Config {
        auth: Some(Arc::new(auth)),
        ..Config::default()
    };
    start(Hub::new(), config).await
}

async fn secret_hub() -> Server {
    let public = vec![TopicPattern::new("public/*")];
    hub_with(Auth::new(Some(SECRET), None, public).unwrap()).await
}

/// Status and error code of a subscribe request.
async fn subscribe_status(s: &Server, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(format!("{}/events?{query}", s.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        return (200, Value::Null);
    }
    (status, res.json::<Value>().await.unwrap()["error"].clone())
}

async fn publish_status(s: &Server, topic: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}/publish", s.base))
        .json(&json!({"topic": topic, "data": "x"}));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (
        status,
        if status == 200 {
            Value::Null
        } else {
            body["error"].clone()
        },
    )
}

#[tokio::test]
async fn the_authorization_matrix() {
    let s = secret_hub().await;
    let reader = hs256(&claims(&[], &["chat/*"], Some(now() + 600)));
    let writer = hs256(&claims(&["news", "chat/**"], &[], None));
    let expired = hs256(&claims(&["**"], &["**"], Some(now() - 10)));
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(&["**"], &["**"], None),
        &EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    // `alg: none`: a header, a payload, and no signature.
    let none = {
        let b64 = |v: &Value| base64url(v.to_string().as_bytes());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims(&["**"], &["**"], None))
        )
    };
    let missing = json!("missing_token");
    let invalid = json!("invalid_token");
    let forbidden = json!("forbidden");

    for (query, token, expected) in [
        ("topic=chat/1", None, (401, missing.clone())),
        (
            "topic=chat/1",
            Some(expired.as_str()),
            (401, invalid.clone()),
        ),
        (
            "topic=chat/1",
            Some(forged.as_str()),
            (401, invalid.clone()),
        ),
        ("topic=chat/1", Some(none.as_str()), (401, invalid.clone())),
        ("topic=chat/1", Some("garbage"), (401, invalid.clone())),
        ("topic=chat/1", Some(reader.as_str()), (200, Value::Null)),
        (
            "topic=chat/1/x",
            Some(reader.as_str()),
            (403, forbidden.clone()),
        ),
        (
            "topic=news",
            Some(reader.as_str()),
            (403, forbidden.clone()),
        ),
        (
            "topic=chat/1&topic=news",
            Some(reader.as_str()),
            (403, forbidden.clone()),
        ),
        ("topic=public/a", None, (200, Value::Null)),
        (
            "topic=public/a&topic=chat/2",
            Some(reader.as_str()),
            (200, Value::Null),
        ),
        ("topic=public/a&topic=chat/2", None, (401, missing.clone())),
        (
            "topic=chat/1",
            Some(writer.as_str()),
            (403, forbidden.clone()),
        ),
        // Pattern subscriptions: granted only when the grant covers them.
        ("topic=chat/*", Some(reader.as_str()), (200, Value::Null)),
        (
            "topic=chat/**",
            Some(reader.as_str()),
            (403, forbidden.clone()),
        ),
        ("topic=public/*", None, (200, Value::Null)),
        ("topic=public/**", None, (401, missing.clone())),
    ] {
        assert_eq!(
            subscribe_status(&s, query, token).await,
            expected,
            "{query} with {token:?}"
        );
    }
    for (topic, token, expected) in [
        ("news", None, (401, missing.clone())),
        ("news", Some(expired.as_str()), (401, invalid.clone())),
        ("news", Some(forged.as_str()), (401, invalid.clone())),
        ("news", Some(reader.as_str()), (403, forbidden.clone())),
        ("public/a", None, (401, missing.clone())), // public is for reading only
        ("news", Some(writer.as_str()), (200, Value::Null)),
        ("chat/1/x", Some(writer.as_str()), (200, Value::Null)),
        ("sports", Some(writer.as_str()), (403, forbidden.clone())),
    ] {
        assert_eq!(
            publish_status(&s, topic, token).await,
            expected,
            "{topic} with {token:?}"
        );
    }
    assert_eq!(
        s.hub.stats().events_published,
        2,
        "only the granted publishes"
    );
}

#[tokio::test]
async fn the_token_may_come_as_cookie_or_query_parameter() {
    let s = secret_hub().await;
    let reader = hs256(&claims(&[], &["t"], None));
    let by_cookie = s
        .http
        .get(format!("{}/events?topic=t", s.base))
        .header("cookie", format!("theme=dark; ssehub_token={reader}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let by_query = s
        .http
        .get(format!("{}/events?topic=t&token={reader}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
}

#[tokio::test]
async fn signals_need_grants_too() {
    let s = secret_hub().await;
    let writer = hs256(&claims(&["cfg"], &[], None));
    let reader = hs256(&claims(&[], &["cfg"], None));
    let url = format!("{}/signals/cfg", s.base);
    let put = |token: Option<&str>| {
        let mut req = s.http.put(&url).json(&json!({"a": 1}));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(put(None).await.unwrap().status(), 401);
    assert_eq!(put(Some(&reader)).await.unwrap().status(), 403);
    assert_eq!(put(Some(&writer)).await.unwrap().status(), 200);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        s.http
            .get(&url)
            .bearer_auth(&writer)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.http
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn rs256_and_es256_public_keys() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let read = |name: &str| std::fs::read(format!("{fixtures}{name}")).unwrap();
    for (alg, private, public) in [
        (Algorithm::RS256, "rsa-private.pem", "rsa-public.pem"),
        (Algorithm::ES256, "ec-private.pem", "ec-public.pem"),
    ] {
        let public_pem = read(public);
        let s = hub_with(Auth::new(None, Some(&public_pem), vec![]).unwrap()).await;
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&read(private)).unwrap(),
            _ => EncodingKey::from_ec_pem(&read(private)).unwrap(),
        };
        let token = encode(&Header::new(alg), &claims(&[], &["t"], None), &key).unwrap();
        assert_eq!(
            subscribe_status(&s, "topic=t", Some(&token)).await.0,
            200,
            "{alg:?}"
        );
        // The classic confusion: an HS256 token "signed" with the public key.
        let confused = encode(
            &Header::new(Algorithm::HS256),
            &claims(&[], &["t"], None),
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert_eq!(
            subscribe_status(&s, "topic=t", Some(&confused)).await.0,
            401,
            "{alg:?}"
        );
    }
    assert!(Auth::new(None, Some(b"not a key"), vec![]).is_err());
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let s = secret_hub().await;
    let token = hs256(&claims(&[], &["t"], Some(now() + 2)));
    let res = s
        .http
        .get(format!("{}/events?topic=t", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut items = EventStream::new(res.bytes_stream());
    s.publish_ok_with("t", "before", &hs256(&claims(&["t"], &[], None)))
        .await;
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), items.next())
            .await
            .expect("the event within 10 s")
    };
    // The retry hint in the event's block, then the event.
    assert!(matches!(next().await, Some(Ok(Item::Retry(2000)))));
    assert!(matches!(next().await, Some(Ok(Item::Event(_)))));
    // Nothing more is published: the stream must end by itself at `exp`.
    let ended = tokio::time::timeout(Duration::from_secs(10), items.next()).await;
    assert!(
        matches!(ended, Ok(None)),
        "the stream ended at exp: {ended:?}"
    );
}

/// Unpadded base64url, enough to forge an `alg: none` token by hand.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}
