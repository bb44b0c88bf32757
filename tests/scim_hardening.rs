//! The SCIM endpoint against hostile input: request counters with a closed set of labels,
//! `If-Match` that cannot be read, forwarded headers, attribute limits, media types,
//! authentication before routing, and member lists beyond the database's variable limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};

use serde_json::{json, Value};
use support::scim::Server;

/// The process's Prometheus recorder, installed once for this test binary.
fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap()
    })
}

#[tokio::test]
async fn request_counters_take_no_label_from_the_request() {
    let handle = metrics();
    let s = Server::sqlite().await;
    for i in 0..3 {
        let method = Method::from_bytes(format!("RANDOM{i}{}", "X".repeat(200)).as_bytes()).unwrap();
        let r = s
            .client
            .request(method, format!("{}/Users", s.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let (st, _) = s.get("/Users").await;
    assert_eq!(st, StatusCode::OK);
    let text = handle.render();
    assert!(!text.contains("RANDOM"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(text.contains("method=\"GET\""), "{text}");
}

/// A request with raw header bytes and a JSON body.
async fn send_with(
    s: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(&s.token);
    for (name, value) in headers {
        req = req.header(*name, reqwest::header::HeaderValue::from_bytes(value).unwrap());
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_unreadable_if_match_matches_no_version() {
    let s = Server::sqlite().await;
    let (st, u) = s.post("/Users", &json!({ "userName": "im@x.example" })).await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let (st, g) = s.post("/Groups", &json!({ "displayName": "IM" })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let group = format!("/Groups/{}", g["id"].as_str().unwrap());
    let unreadable: &[u8] = b"W/\"\xff\xfe\"";
    let rename = json!({ "Operations": [{ "op": "replace", "path": "displayName", "value": "Changed" }] });
    for target in [&path, &group] {
        let (st, _, e) = send_with(
            &s,
            Method::PATCH,
            target,
            &[("if-match", unreadable)],
            Some(&rename),
        )
        .await;
        assert_eq!(st, StatusCode::PRECONDITION_FAILED, "{target}: {e}");
    }
    let (_, u) = s.get(&path).await;
    assert!(u.get("displayName").is_none(), "{u}");
    let (_, g) = s.get(&group).await;
    assert_eq!(g["displayName"], "IM");
}

/// What the endpoint logs, for the tests that read the log lines.
fn log_lines() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static std::sync::Mutex<Vec<u8>> = Box::leak(Box::default());
        let writer = move || Capture(log);
        let _ = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .try_init();
        log
    })
}

struct Capture(&'static std::sync::Mutex<Vec<u8>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn authentication_comes_before_routing_and_logs_the_whole_path() {
    let log = log_lines();
    let s = Server::sqlite().await;
    for path in ["/NoSuchThing", "/Users/x/y/z", "/Users"] {
        let r = s.client.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = s
        .client
        .delete(format!("{}/Schemas", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an unauthenticated 405");
    // With the token, the same paths are 404.
    let (st, _) = s.get("/NoSuchThing").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let r = s.client.get(format!("{}/health", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("SCIM authentication failed"))
        .collect();
    assert!(
        failures.iter().any(|l| l.contains("path=/scim/v2/NoSuchThing")),
        "{text}"
    );
    assert!(
        failures.iter().any(|l| l.contains("path=/scim/v2/Users ")),
        "{text}"
    );
}

/// POST /Users with `content_type` (raw bytes) and a body naming `user_name`.
async fn post_as(s: &Server, content_type: &[u8], user_name: &str) -> (StatusCode, Value) {
    let r = s
        .client
        .post(format!("{}/Users", s.base))
        .bearer_auth(&s.token)
        .header(
            "content-type",
            reqwest::header::HeaderValue::from_bytes(content_type).unwrap(),
        )
        .body(json!({ "userName": user_name }).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// RFC 7644 sections 3.1 and 8.1: `application/scim+json`, or `application/json`, with
/// optional parameters.
#[tokio::test]
async fn only_the_json_media_types_are_accepted() {
    let s = Server::sqlite().await;
    let refused: [&[u8]; 7] = [
        b"text/plain",
        b"application/jsonp",
        b"application/json-patch+json",
        b"text/json",
        b"*/*",
        b"application/x-www-form-urlencoded; json",
        b"application/scim+json\xff",
    ];
    for (i, ct) in refused.iter().enumerate() {
        let (st, e) = post_as(&s, ct, &format!("refused{i}@x.example")).await;
        assert_eq!(
            st,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{}: {e}",
            String::from_utf8_lossy(ct)
        );
        assert_eq!(e["status"], "415");
    }
    let accepted: [&[u8]; 4] = [
        b"application/scim+json",
        b"application/scim+json; charset=utf-8",
        b"Application/JSON",
        b"application/json;charset=UTF-8",
    ];
    for (i, ct) in accepted.iter().enumerate() {
        let (st, e) = post_as(&s, ct, &format!("accepted{i}@x.example")).await;
        assert_eq!(st, StatusCode::CREATED, "{}: {e}", String::from_utf8_lossy(ct));
    }
}

/// Asserts a 400 `invalidValue` whose detail names `attr`.
fn refused(answer: (StatusCode, Value), attr: &str) {
    let (st, e) = answer;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{attr}: {e}");
    assert_eq!(e["scimType"], "invalidValue", "{e}");
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.starts_with(attr), "{attr}: {detail}");
    assert!(detail.len() < 300, "the detail does not echo the value: {detail}");
}

#[tokio::test]
async fn strings_have_limits_and_no_control_characters() {
    let s = Server::sqlite().await;
    let long_upn = format!("{}@x.example", "a".repeat(60 * 1024));
    refused(
        s.post("/Users", &json!({ "userName": long_upn })).await,
        "userName",
    );
    refused(
        s.post("/Users", &json!({ "userName": "nul\u{0}@x.example" }))
            .await,
        "userName",
    );
    refused(
        s.post(
            "/Users",
            &json!({ "userName": "ok@x.example", "externalId": "e\n1" }),
        )
        .await,
        "externalId",
    );
    let user = |extra: Value| {
        let mut body = json!({ "userName": "limits@x.example" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    refused(
        s.post("/Users", &user(json!({ "displayName": "x".repeat(1025) })))
            .await,
        "displayName",
    );
    refused(s.post("/Users", &user(json!({ "title": "a\tb" }))).await, "title");
    refused(
        s.post("/Users", &user(json!({ "name": { "givenName": "\u{1b}[31m" } })))
            .await,
        "name.givenName",
    );
    refused(
        s.post(
            "/Users",
            &user(json!({ "emails": [{ "value": format!("{}@x", "e".repeat(300)) }] })),
        )
        .await,
        "emails.value",
    );
    // At the limits, accepted.
    let at_limit = format!("{}@x.example", "a".repeat(256 - "@x.example".len()));
    let (st, u) = s
        .post(
            "/Users",
            &json!({ "userName": at_limit, "displayName": "é".repeat(1024), "externalId": "lim" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    // PUT and PATCH are held to the same limits.
    refused(
        s.put(&path, &json!({ "userName": "a\u{7f}@x.example" })).await,
        "userName",
    );
    let patch = json!({ "Operations": [{ "op": "replace", "path": "displayName", "value": "a\u{0}" }] });
    refused(s.patch(&path, &patch).await, "displayName");
    let (_, u) = s.get(&path).await;
    assert_eq!(u["displayName"], "é".repeat(1024));

    // Groups: displayName, externalId and member ids.
    refused(
        s.post("/Groups", &json!({ "displayName": "G\u{0}" })).await,
        "displayName",
    );
    refused(
        s.post(
            "/Groups",
            &json!({ "displayName": "G", "externalId": "x".repeat(257) }),
        )
        .await,
        "externalId",
    );
    refused(
        s.post(
            "/Groups",
            &json!({ "displayName": "G", "members": [{ "value": "m".repeat(300) }] }),
        )
        .await,
        "members[0].value",
    );
    let (st, g) = s.post("/Groups", &json!({ "displayName": "G" })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let group = format!("/Groups/{}", g["id"].as_str().unwrap());
    let rename = json!({ "Operations": [{ "op": "replace", "value": { "displayName": "x".repeat(2000) } }] });
    refused(s.patch(&group, &rename).await, "displayName");
}

/// POST /Users with `headers`: the `Location` header and `meta.location`.
async fn locations(s: &Server, name: &str, headers: &[(&str, &[u8])]) -> (String, String) {
    let body = json!({ "userName": name });
    let (st, h, u) = send_with(s, Method::POST, "/Users", headers, Some(&body)).await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let location = h["location"].to_str().unwrap().to_owned();
    (location, u["meta"]["location"].as_str().unwrap().to_owned())
}

const EVIL: &[(&str, &[u8])] = &[
    ("x-forwarded-host", b"evil.example\"><script>"),
    ("x-forwarded-proto", b"javascript"),
];
const PROXIED: &[(&str, &[u8])] = &[
    ("x-forwarded-host", b"idp.example.com"),
    ("x-forwarded-proto", b"https"),
];

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // Nobody trusted: the headers are ignored, the URL is the one the client reached.
    let s = Server::sqlite().await;
    let id_of = |l: &str| l.rsplit('/').next().unwrap().to_owned();
    for (i, headers) in [EVIL, PROXIED].into_iter().enumerate() {
        let (location, meta) = locations(&s, &format!("fw{i}@x.example"), headers).await;
        assert_eq!(location, format!("{}/Users/{}", s.base, id_of(&location)));
        assert_eq!(meta, location);
    }
    // Loopback trusted: a plain host and scheme are believed, markup still is not.
    let mut config = support::scim::config(idsync::config::ScimDelete::Archive);
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let s = Server::sqlite_config(config).await;
    let (location, meta) = locations(&s, "proxied@x.example", PROXIED).await;
    assert!(
        location.starts_with("https://idp.example.com/scim/v2/Users/"),
        "{location}"
    );
    assert_eq!(meta, location);
    let (location, meta) = locations(&s, "evil@x.example", EVIL).await;
    assert!(location.starts_with(&format!("{}/Users/", s.base)), "{location}");
    assert!(!meta.contains("evil") && !meta.contains("javascript"), "{meta}");
}

#[tokio::test]
async fn a_public_url_is_the_base_of_every_location() {
    let mut config = support::scim::config(idsync::config::ScimDelete::Archive);
    config.public_url = Some("https://scim.example.com/tenant-a/scim/v2/".into());
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let s = Server::sqlite_config(config).await;
    let (location, meta) = locations(&s, "public@x.example", PROXIED).await;
    assert!(
        location.starts_with("https://scim.example.com/tenant-a/scim/v2/Users/"),
        "{location}"
    );
    assert_eq!(meta, location);
    let (_, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(
        spc["meta"]["location"],
        "https://scim.example.com/tenant-a/scim/v2/ServiceProviderConfig"
    );
}

/// Inserts `n` users that SCIM wrote (each with its `scim` link) straight into the database,
/// and returns their SCIM ids.
async fn seed_scim_users(s: &Server, n: usize) -> Vec<String> {
    s.db(move |db| {
        use diesel::prelude::*;
        use idsync::store::schema::{user_links, users};
        let now = idsync::store::now();
        let ids: Vec<String> = (0..n).map(|i| format!("seed-{i:06}")).collect();
        with_tables!(db, c => {
            for chunk in ids.chunks(1000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|id| {
                        (
                            users::scim_id.eq(id.clone()),
                            users::external_id.eq(Some(format!("key-{id}"))),
                            users::source.eq(Some("scim")),
                            users::upn.eq(format!("{id}@x.example")),
                            users::active.eq(true),
                            users::created_at.eq(now),
                            users::updated_at.eq(now),
                        )
                    })
                    .collect();
                diesel::insert_into(users::table).values(&rows).execute(c).unwrap();
            }
            let rows: Vec<(i64, String)> = users::table
                .filter(users::scim_id.like("seed-%"))
                .select((users::id, users::scim_id))
                .load(c)
                .unwrap();
            for chunk in rows.chunks(1000) {
                let links: Vec<_> = chunk
                    .iter()
                    .map(|(id, scim_id)| {
                        (
                            user_links::source.eq("scim"),
                            user_links::external_id.eq(format!("key-{scim_id}")),
                            user_links::user_id.eq(*id),
                            user_links::linked_at.eq(now),
                        )
                    })
                    .collect();
                diesel::insert_into(user_links::table).values(&links).execute(c).unwrap();
            }
        });
        ids
    })
    .await
}

/// More member ids than SQLite's 32,766 bound parameters in one PATCH (SQLite's
/// SQLITE_MAX_VARIABLE_NUMBER): the lookups are chunked.
#[tokio::test]
async fn a_patch_adds_forty_thousand_members() {
    let mut config = support::scim::config(idsync::config::ScimDelete::Archive);
    config.max_body_bytes = 8 * 1024 * 1024;
    let s = Server::sqlite_config(config).await;
    let ids = seed_scim_users(&s, 40_000).await;
    let (st, g) = s.post("/Groups", &json!({ "displayName": "Everyone" })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let path = format!("/Groups/{}", g["id"].as_str().unwrap());
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let add = json!({ "Operations": [{ "op": "add", "path": "members", "value": members }] });
    let (st, e) = s.patch(&path, &add).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    let (st, g) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(g["members"].as_array().unwrap().len(), 40_000);
    let remove: Vec<Value> = ids[..35_000].iter().map(|id| json!({ "value": id })).collect();
    let remove = json!({ "Operations": [{ "op": "remove", "path": "members", "value": remove }] });
    let (st, e) = s.patch(&path, &remove).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    let (_, g) = s.get(&path).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 5_000);
}
