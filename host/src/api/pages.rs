//! The Download Center: the page, its HTMX partials and its static files. Rendered from the
//! store and the engine's memory; never a provider call.

use std::collections::BTreeMap;

use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use salvo::http::{HeaderValue, StatusCode};
use salvo::prelude::*;
use serde::Serialize;

use super::error::ApiError;
use super::input::{query_choice, query_u32};
use super::state::{AppState, state};
use crate::engine::download::Status;
use crate::view::dto::{ProviderHealthDto, QueueStatsDto, UnifiedDownload};

const QUEUE_STATUSES: &[&str] = &[
    "downloading",
    "queued",
    "pending",
    "waiting",
    "stalled",
    "paused",
];
/// Rows a page of the history, or the failed list, shows at most.
const LIST_LIMIT: usize = 500;
/// Rows the queue shows at first (in queue order), and how many more each "Show more" adds; the
/// filters reach the rest. Rows are updated in place from the live deltas; the list is
/// re-rendered when rows come or go, so it stays bounded.
const QUEUE_LIMIT: usize = 200;
const MAX_QUEUE_SHOWN: u32 = 5000;

#[derive(Serialize)]
struct ProviderChoice {
    kind: String,
    name: String,
}

#[derive(Serialize, Default)]
struct PageContext {
    stats: Option<QueueStatsDto>,
    stats_parts: Vec<String>,
    paused: bool,
    failed_count: u64,
    health: Vec<ProviderHealthDto>,
    plugins: Vec<crate::view::plugin_dto::PluginDto>,
    downloads: Vec<UnifiedDownload>,
    total: usize,
    /// Rows matching the filters (the list shows at most QUEUE_LIMIT of them).
    matching: usize,
    filtered: bool,
    filter_status: Option<String>,
    filter_provider: Option<String>,
    providers: Vec<ProviderChoice>,
    self_url: String,
    days: u32,
    /// Where a paged list starts, and the links to the pages either side of it.
    offset: usize,
    newer_url: Option<String>,
    older_url: Option<String>,
    /// The queue with more rows shown, when more match.
    more_url: Option<String>,
    oob: bool,
    insecure_notice: Option<String>,
}

fn html(res: &mut Response, result: Result<String, ApiError>) {
    match result {
        Ok(body) => {
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.body(body);
        }
        Err(e) => e.write(res),
    }
}

fn render(s: &AppState, name: &str, ctx: &PageContext) -> Result<String, ApiError> {
    s.templates
        .render(name, ctx)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn stats_context(s: &AppState, ctx: &mut PageContext) -> Result<(), ApiError> {
    let stats = QueueStatsDto::from(s.engine.stats()?);
    let parts = [
        (stats.waiting, "waiting"),
        (stats.pending, "pending"),
        (stats.queued, "queued"),
        (stats.downloading, "downloading"),
        (stats.paused, "paused"),
        (stats.stalled, "stalled"),
    ];
    ctx.stats_parts = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {label}"))
        .collect();
    ctx.stats = Some(stats);
    ctx.paused = s.engine.is_paused();
    ctx.failed_count = s.engine.store().counts()?.get(Status::Failed);
    Ok(())
}

fn health_context(s: &AppState) -> Vec<ProviderHealthDto> {
    let now = chrono::Utc::now();
    s.engine
        .health()
        .iter()
        .map(|h| ProviderHealthDto::new(h, now))
        .collect()
}

fn queue_context(req: &Request, s: &AppState, ctx: &mut PageContext) -> Result<(), ApiError> {
    let status = query_choice(req, "status", QUEUE_STATUSES)?.filter(|v| !v.is_empty());
    let kinds: Vec<String> = s.engine.provider_kinds();
    let kind_refs: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let provider = match req.query::<String>("provider").filter(|p| !p.is_empty()) {
        None => None,
        Some(p) if kind_refs.contains(&p.as_str()) => Some(p),
        Some(p) => {
            return Err(ApiError::bad_request(format!("unknown provider {p:?}"))
                .with_detail(serde_json::json!({ "accepted": kinds })));
        }
    };
    let show = query_u32(req, "show", 1..=MAX_QUEUE_SHOWN)?.map_or(QUEUE_LIMIT, |n| n as usize);
    let active = s.active_lists.current(&s.engine)?;
    ctx.total = active.downloads.len();
    let matching: Vec<_> = active
        .downloads
        .iter()
        .filter(|d| status.as_deref().is_none_or(|st| d.status == st))
        .filter(|d| provider.as_deref().is_none_or(|p| d.provider == p))
        .collect();
    ctx.matching = matching.len();
    ctx.downloads = matching.into_iter().take(show).cloned().collect();
    ctx.filtered = status.is_some() || provider.is_some();
    let mut query = BTreeMap::new();
    if let Some(st) = &status {
        query.insert("status", st.clone());
    }
    if let Some(p) = &provider {
        query.insert("provider", p.clone());
    }
    let url = |query: &BTreeMap<&str, String>| {
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "/api/downloads/manager/center/htmx/queue{}{}",
            if qs.is_empty() { "" } else { "?" },
            qs.join("&")
        )
    };
    if ctx.matching > show && show < MAX_QUEUE_SHOWN as usize {
        let mut more = query.clone();
        let next = (show + QUEUE_LIMIT).min(MAX_QUEUE_SHOWN as usize);
        more.insert("show", next.to_string());
        ctx.more_url = Some(url(&more));
    }
    if show != QUEUE_LIMIT {
        query.insert("show", show.to_string());
    }
    ctx.self_url = url(&query);
    ctx.filter_status = status;
    ctx.filter_provider = provider;
    ctx.providers = s
        .engine
        .provider_choices()
        .into_iter()
        .map(|(kind, name)| ProviderChoice { kind, name })
        .collect();
    Ok(())
}

/// The Download Center page (also at `/` and `/download-center`).
#[handler]
pub async fn center(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let mut ctx = PageContext {
            health: health_context(&s),
            insecure_notice: s.insecure_notice.clone(),
            ..PageContext::default()
        };
        stats_context(&s, &mut ctx)?;
        queue_context(req, &s, &mut ctx)?;
        render(&s, "center.html", &ctx)
    })();
    html(res, result);
}

#[handler]
pub async fn active_list(depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let ctx = PageContext {
            downloads: s.active_lists.current(&s.engine)?.downloads.clone(),
            ..PageContext::default()
        };
        render(&s, "partials/active_list.html", &ctx)
    })();
    html(res, result);
}

#[handler]
pub async fn stats_bar(depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let mut ctx = PageContext {
            oob: true,
            ..PageContext::default()
        };
        stats_context(&s, &mut ctx)?;
        render(&s, "partials/stats_bar.html", &ctx)
    })();
    html(res, result);
}

/// The providers' health, as `/health` reports it: a provider not synced yet is pinged.
async fn pinged_health(s: &AppState) -> Vec<ProviderHealthDto> {
    super::manager_routes::health_of(s).await.providers
}

#[handler]
pub async fn provider_health(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            let health = pinged_health(&s).await;
            render(
                &s,
                "partials/provider_health.html",
                &PageContext {
                    health,
                    ..PageContext::default()
                },
            )
        }
        Err(e) => Err(e),
    };
    html(res, result);
}

/// The Plugins card: each plugin's state, version and calls, and a reload button.
#[handler]
pub async fn plugins(depot: &mut Depot, res: &mut Response) {
    let result = state(depot).and_then(|s| {
        let listed = s
            .plugins
            .list()
            .iter()
            .map(crate::view::plugin_dto::PluginDto::from)
            .collect();
        render(
            &s,
            "partials/plugins.html",
            &PageContext {
                plugins: listed,
                ..PageContext::default()
            },
        )
    });
    html(res, result);
}

#[handler]
pub async fn provider_health_mini(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            let health = pinged_health(&s).await;
            render(
                &s,
                "partials/provider_health_mini.html",
                &PageContext {
                    health,
                    ..PageContext::default()
                },
            )
        }
        Err(e) => Err(e),
    };
    html(res, result);
}

#[handler]
pub async fn queue(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let mut ctx = PageContext::default();
        queue_context(req, &s, &mut ctx)?;
        render(&s, "partials/queue.html", &ctx)
    })();
    html(res, result);
}

#[handler]
pub async fn history(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        // days=0 would be an empty window: refused rather than silently widened.
        let days = query_u32(req, "days", 1..=super::manager_routes::MAX_DAYS)?.unwrap_or(7);
        let offset = query_u32(req, "offset", 0..=u32::MAX)?.unwrap_or(0) as usize;
        let s = state(depot)?;
        let since = chrono::Utc::now() - chrono::TimeDelta::days(i64::from(days));
        let (page, total) = s
            .engine
            .newest_since(Status::Completed, since, offset, LIST_LIMIT)?;
        let url = |offset: usize| {
            format!("/api/downloads/manager/center/htmx/history?days={days}&offset={offset}")
        };
        let shown_to = offset + page.len();
        let ctx = PageContext {
            downloads: page.iter().map(UnifiedDownload::from).collect(),
            total,
            days,
            offset,
            newer_url: (offset > 0).then(|| url(offset.saturating_sub(LIST_LIMIT))),
            older_url: (shown_to < total).then(|| url(shown_to)),
            self_url: url(offset),
            ..PageContext::default()
        };
        render(&s, "partials/history.html", &ctx)
    })();
    html(res, result);
}

#[handler]
pub async fn failed(depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let downloads = s
            .engine
            .newest(Status::Failed, LIST_LIMIT)?
            .iter()
            .map(UnifiedDownload::from)
            .collect();
        render(
            &s,
            "partials/failed.html",
            &PageContext {
                downloads,
                ..PageContext::default()
            },
        )
    })();
    html(res, result);
}

/// The only files served under `/static/`: our own, and the front-end packages installed from
/// the npm registry by `cargo xtask build-assets`.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    ("center.css", "static/center.css", "text/css; charset=utf-8"),
    (
        "center.js",
        "static/center.js",
        "text/javascript; charset=utf-8",
    ),
    ("favicon.svg", "static/favicon.svg", "image/svg+xml"),
    (
        "vendor/htmx.min.js",
        "node_modules/htmx.org/dist/htmx.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "vendor/sse.js",
        "node_modules/htmx-ext-sse/sse.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "vendor/json-enc.js",
        "node_modules/htmx-ext-json-enc/json-enc.js",
        "text/javascript; charset=utf-8",
    ),
];

#[handler]
pub async fn static_file(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let path = req.param::<String>("path").unwrap_or_default();
    let Some((_, file, mime)) = STATIC_FILES.iter().find(|(name, _, _)| *name == path) else {
        return ApiError::not_found(format!("no static file {path:?}")).write(res);
    };
    let s = match state(depot) {
        Ok(s) => s,
        Err(e) => return e.write(res),
    };
    match tokio::fs::read(s.templates.dir().join(file)).await {
        Ok(bytes) => {
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
            res.headers_mut().insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            res.body(bytes);
        }
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{path} is not installed ({e}); run `cargo xtask build-assets`"),
        )
        .write(res),
    }
}

/// Browsers ask for /favicon.ico whatever the page says.
#[handler]
pub async fn favicon(res: &mut Response) {
    res.render(Redirect::permanent("/static/favicon.svg"));
}
