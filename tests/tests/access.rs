//! Access control end to end: every route × {no key, read-only key, admin key, a key used from
//! a disallowed address, a cross-site request, a foreign Host name}, plus DNS rebinding without
//! keys, the browser login and security headers.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tributary::config::{ApiKeyConfig, KeyRole};
use tributary_tests::{TestApp, fast_emulator};

const ADMIN: &str = "admin-key-0123456789abcdef";
const READER: &str = "reader-key-0123456789abcdef";
const ELSEWHERE: &str = "elsewhere-key-0123456789abcdef";

fn keys() -> Vec<ApiKeyConfig> {
    vec![
        ApiKeyConfig {
            name: "admin".into(),
            key: ADMIN.into(),
            role: KeyRole::Admin,
            cidrs: vec!["127.0.0.0/8".into(), "::1".into()],
        },
        ApiKeyConfig {
            name: "reader".into(),
            key: READER.into(),
            role: KeyRole::Readonly,
            cidrs: vec![],
        },
        ApiKeyConfig {
            name: "elsewhere".into(),
            key: ELSEWHERE.into(),
            role: KeyRole::Admin,
            cidrs: vec!["10.0.0.0/8".into()],
        },
    ]
}

#[tokio::test]
async fn each_route_answers_each_caller_as_it_should() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| {
        c.auth.keys = keys();
        c.metrics.enabled = true;
    })
    .await;
    let zero = "00000000-0000-0000-0000-000000000000";
    let m = "/api/downloads/manager";
    // (method, path, JSON body): every route of the API and the pages.
    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("{m}/active"), None),
        (Method::GET, format!("{m}/stats"), None),
        (Method::GET, format!("{m}/health"), None),
        (Method::GET, format!("{m}/export?format=csv"), None),
        (Method::GET, format!("{m}/events"), None),
        (Method::GET, format!("{m}/htmx/active-list"), None),
        (Method::GET, format!("{m}/htmx/stats-bar"), None),
        (Method::GET, format!("{m}/htmx/provider-health"), None),
        (Method::GET, format!("{m}/htmx/provider-health-mini"), None),
        (Method::GET, format!("{m}/htmx/plugins"), None),
        (Method::GET, "/api/plugins".into(), None),
        (Method::GET, "/api/plugins/slskd".into(), None),
        (Method::GET, format!("{m}/center"), None),
        (Method::GET, format!("{m}/center/htmx/queue"), None),
        (Method::GET, format!("{m}/center/htmx/history?days=7"), None),
        (Method::GET, format!("{m}/center/htmx/failed"), None),
        (Method::GET, format!("/api/downloads/{zero}"), None),
        (Method::GET, "/api/openapi.json".into(), None),
        (Method::GET, "/metrics".into(), None),
        (
            Method::POST,
            "/api/downloads".into(),
            Some(json!({"artist": "A", "title": "B"})),
        ),
        (Method::POST, format!("{m}/retry-all-failed"), None),
        (Method::POST, format!("{m}/providers/slskd/reconnect"), None),
        (Method::POST, "/api/plugins/reload".into(), None),
        (Method::DELETE, format!("{m}/clear-failed"), None),
        (Method::DELETE, format!("{m}/history/clear?days=30"), None),
        (Method::POST, format!("/api/downloads/{zero}/cancel"), None),
        (Method::POST, format!("/api/downloads/{zero}/retry"), None),
        (Method::POST, format!("/api/downloads/{zero}/pause"), None),
        (Method::POST, format!("/api/downloads/{zero}/resume"), None),
        (
            Method::PATCH,
            format!("/api/downloads/{zero}/priority"),
            Some(json!({"priority": 1})),
        ),
        (
            Method::POST,
            "/api/downloads/batch-action".into(),
            Some(json!({"action": "cancel", "download_ids": [zero]})),
        ),
        (Method::POST, "/api/downloads/pause".into(), None),
        (Method::POST, "/api/downloads/resume".into(), None),
    ];
    for (method, path, body) in &routes {
        let send_as = |key: Option<&str>, cross_site: bool, host: Option<&str>| {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(h) = host {
                req = req.header("host", h);
            }
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            if cross_site {
                req = req
                    .header("origin", "http://evil.example")
                    .header("sec-fetch-site", "cross-site");
            }
            req.send()
        };
        let send = |key: Option<&str>, cross_site: bool| send_as(key, cross_site, None);
        let writes = *method != Method::GET;
        let status = |r: reqwest::Response| r.status();
        let none = status(send(None, false).await.unwrap());
        assert_eq!(
            none,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        let reader = status(send(Some(READER), false).await.unwrap());
        if writes {
            assert_eq!(
                reader,
                StatusCode::FORBIDDEN,
                "{method} {path} with a read-only key"
            );
        } else {
            let allowed = reader != StatusCode::UNAUTHORIZED
                && reader != StatusCode::FORBIDDEN
                && !reader.is_server_error();
            assert!(allowed, "{method} {path} with a read-only key: {reader}");
        }
        let admin = status(send(Some(ADMIN), false).await.unwrap());
        assert!(
            admin != StatusCode::UNAUTHORIZED
                && admin != StatusCode::FORBIDDEN
                && !admin.is_server_error(),
            "{method} {path} admin: {admin}"
        );
        let elsewhere = status(send(Some(ELSEWHERE), false).await.unwrap());
        assert_eq!(
            elsewhere,
            StatusCode::FORBIDDEN,
            "{method} {path} from a disallowed address"
        );
        let unknown = status(send(Some("not-a-key-at-all-000000"), false).await.unwrap());
        assert_eq!(
            unknown,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an unknown key"
        );
        if writes {
            let cross = status(send(Some(ADMIN), true).await.unwrap());
            assert_eq!(cross, StatusCode::FORBIDDEN, "{method} {path} cross-site");
        }
        // A rebinding page sends a foreign name and holds no key: refused before the key check.
        let port = app.app.addr.port();
        let foreign = format!("evil.example:{port}");
        let rebound = status(send_as(None, false, Some(&foreign)).await.unwrap());
        assert_eq!(
            rebound,
            StatusCode::MISDIRECTED_REQUEST,
            "{method} {path} for a foreign name"
        );
        if writes {
            // Even with a key, a browser page of a foreign name is not ours: the Origin is
            // compared with the allowed names, not with the Host it chose.
            let mut req = app
                .client
                .request(method.clone(), app.url(path))
                .header("host", &foreign)
                .header("x-api-key", ADMIN)
                .header("origin", format!("http://{foreign}"))
                .header("sec-fetch-site", "same-origin");
            if let Some(b) = body {
                req = req.json(b);
            }
            let status = req.send().await.unwrap().status();
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} from a page of a foreign name"
            );
        }
        // A script holding a valid key may use a name that is not listed.
        let scripted = status(send_as(Some(ADMIN), false, Some(&foreign)).await.unwrap());
        assert_eq!(
            scripted, admin,
            "{method} {path} for a foreign name with the admin key"
        );
    }
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_browser_logs_in_once_and_gets_a_strict_cookie() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| c.auth.keys = keys()).await;
    let client = tributary_tests::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login");
    let wrong = client
        .post(app.url("/login"))
        .form(&[("key", "wrong-key-000000000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("not valid"));
    let ok = client
        .post(app.url("/login"))
        .form(&[("key", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let created = client
        .post(app.url("/api/downloads"))
        .header("origin", &app.base)
        .json(&json!({"artist": "A", "title": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "the session cookie works for the API"
    );
    let logout = client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        client
            .get(app.url("/api/downloads/manager/stats"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_cross_site_forms_are_refused_without_keys_too() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let before = app.get_json("/api/downloads/manager/stats").await.1;
    let forged = app
        .client
        .delete(app.url("/api/downloads/manager/clear-failed"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged = app
        .client
        .post(app.url("/api/downloads"))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/json")
        .body(r#"{"artist":"A","title":"B"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_json("/api/downloads/manager/stats").await.1, before);
    let same = app
        .client
        .post(app.url("/api/downloads"))
        .header("origin", &app.base)
        .json(&json!({"artist": "A", "title": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::CREATED);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_network_bind_without_keys_is_refused_unless_explicitly_allowed() {
    let emulator = fast_emulator().await;
    let mut config = tributary::config::Config::default();
    config.server.bind = "0.0.0.0:0".parse().unwrap();
    config.server.templates_dir = tributary_tests::repo_root().join("templates");
    let dir = tempfile::tempdir().unwrap();
    config.storage.path = dir.path().join("t.redb");
    config.plugins.dir = dir.path().join("no-plugins");
    let err = tributary::app::App::start(&config)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("allow_unauthenticated_remote"),
        "{err}"
    );
    config.auth.allow_unauthenticated_remote = true;
    let app = tributary::app::App::start(&config)
        .await
        .expect("allowed when the operator says so");
    let page = tributary_tests::http_client_builder()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}/", app.addr.port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("without an API key"), "the page says so");
    app.shutdown().await;
    emulator.shutdown().await;
}

/// What a browser sends once an attacker's name has been rebound to 127.0.0.1: the attacker's
/// name in `Host` and `Origin`, and `Sec-Fetch-Site: same-origin`.
fn rebound(req: reqwest::RequestBuilder, port: u16) -> reqwest::RequestBuilder {
    req.header("host", format!("evil.example:{port}"))
        .header("origin", format!("http://evil.example:{port}"))
        .header("sec-fetch-site", "same-origin")
}

#[tokio::test]
async fn without_keys_a_rebinding_page_can_neither_read_nor_drive_the_queue() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| {
        c.server.allowed_hosts = vec!["music.example.com".into(), "*.lan".into()];
    })
    .await;
    let port = app.app.addr.port();
    // Nothing is dispatched, so the store changes only through the requests below.
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let (_, seeded) = app
        .send_json(
            Method::POST,
            "/api/downloads",
            json!({"artist": "Seed", "title": "Record"}),
        )
        .await;
    let id = seeded["id"].as_str().unwrap().to_owned();
    let export =
        || async { app.get_json("/api/downloads/manager/export").await.1["downloads"].clone() };
    let before = export().await;
    let m = "/api/downloads/manager";
    // One route of every family: JSON reads and writes, SSE, pages, partials, export, login,
    // static files and the API document.
    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("{m}/active"), None),
        (Method::GET, format!("{m}/stats"), None),
        (Method::GET, format!("{m}/events"), None),
        (Method::GET, "/".into(), None),
        (Method::GET, format!("{m}/center"), None),
        (Method::GET, format!("{m}/htmx/active-list"), None),
        (Method::GET, format!("{m}/center/htmx/queue"), None),
        (Method::GET, format!("{m}/export?format=csv"), None),
        (Method::GET, format!("{m}/export?format=json"), None),
        (Method::GET, "/login".into(), None),
        (Method::GET, "/static/center.js".into(), None),
        (Method::GET, "/api/openapi.json".into(), None),
        (Method::GET, format!("/api/downloads/{id}"), None),
        (
            Method::POST,
            "/api/downloads".into(),
            Some(json!({"artist": "Evil", "title": "Page"})),
        ),
        (Method::POST, format!("/api/downloads/{id}/cancel"), None),
        (Method::POST, "/api/downloads/resume".into(), None),
        (Method::DELETE, format!("{m}/history/clear?days=0"), None),
        (Method::POST, "/login".into(), None),
    ];
    for (method, path, body) in &routes {
        let mut req = rebound(app.client.request(method.clone(), app.url(path)), port);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::MISDIRECTED_REQUEST,
            "{method} {path} for a rebound name: {text}"
        );
        assert!(
            text.contains("server.allowed_hosts"),
            "{method} {path}: the refusal says what to do: {text}"
        );
        // The same request by an allowed name is served (reads), so the refusal is the name's.
        if *method == Method::GET {
            for host in [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                "music.example.com".to_owned(),
                format!("nas.lan:{port}"),
            ] {
                let ok = app
                    .client
                    .get(app.url(path))
                    .header("host", &host)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(
                    ok.is_success() || ok.is_redirection(),
                    "{path} by {host}: {ok}"
                );
            }
        }
    }
    assert_eq!(
        export().await,
        before,
        "a refused request changed the store"
    );

    // Origins are compared with the allowed names, not with the request's own Host.
    let create = |host: String, origin: String| {
        app.client
            .post(app.url("/api/downloads"))
            .header("host", host)
            .header("origin", origin)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"artist": "A", "title": "Origin check"}))
            .send()
    };
    for (host, origin, want) in [
        // A page of another program on this machine is another origin.
        (
            format!("127.0.0.1:{port}"),
            "http://127.0.0.1:3000".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("127.0.0.1:{port}"),
            format!("http://evil.example:{port}"),
            StatusCode::FORBIDDEN,
        ),
        (
            format!("localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
            StatusCode::FORBIDDEN,
        ),
        // Behind a reverse proxy: the listed name, with the proxy's scheme and port, whether
        // the proxy forwards the Host or rewrites it to ours.
        (
            "music.example.com".to_owned(),
            "https://music.example.com".to_owned(),
            StatusCode::CREATED,
        ),
        (
            format!("127.0.0.1:{port}"),
            "https://music.example.com".to_owned(),
            StatusCode::CREATED,
        ),
        (
            format!("127.0.0.1:{port}"),
            format!("http://127.0.0.1:{port}"),
            StatusCode::CREATED,
        ),
    ] {
        let status = create(host.clone(), origin.clone()).await.unwrap().status();
        assert_eq!(status, want, "Host {host}, Origin {origin}");
    }
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn allowed_hosts_entries_are_checked_at_start() {
    let emulator = fast_emulator().await;
    let mut config = tributary::config::Config::default();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.server.templates_dir = tributary_tests::repo_root().join("templates");
    let dir = tempfile::tempdir().unwrap();
    config.storage.path = dir.path().join("t.redb");
    config.plugins.dir = dir.path().join("no-plugins");
    config.server.allowed_hosts = vec!["https://music.example.com".into()];
    let err = tributary::app::App::start(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("allowed_hosts"), "{err}");
    emulator.shutdown().await;
}
